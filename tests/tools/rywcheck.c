/*
 * rywcheck.c - read-your-writes checker for lagoon (tests/integration/110_ryw.sh).
 *
 * Opens N connections (one thread each) to a conninfo; each connection, for
 * a duration or a number of iterations, INSERTs a row with a unique key
 * (autocommit: a write transaction, run on the primary) and at once reads it
 * back in a separate single-statement transaction, which lagoon may route
 * to a replica (and, with -r, reads it again R-1 more times, -w ms apart):
 *
 *     SELECT pg_is_in_recovery(), (SELECT count(*) FROM <table> WHERE k = '<key>')
 *
 * The read always returns one row, so a stale read (count 0) is told apart
 * from an error, and pg_is_in_recovery() tells who served it.  At the end
 * it prints one line
 *
 *     reads=N stale=S replica_reads=R writes=W errors=E stale_on_primary=P
 *
 * and exits 0; 1 if any statement failed (errors > 0); 2 on bad usage or
 * when a connection cannot be made.
 *
 * Usage: rywcheck -d CONNINFO [-c CLIENTS] [-T SECONDS | -n ITERATIONS]
 *                 [-t TABLE] [-r READS] [-w PAUSE_MS] [-e] [-C]
 *   -c  connections (default 8)
 *   -T  run for this many seconds (default 5)
 *   -n  iterations per connection instead of a duration
 *   -t  table (default rywcheck): (k text primary key, ...)
 *   -r  reads of each row (default 1): the first right after the write,
 *       the others after the pause
 *   -w  pause after each read, in ms (default 0): lets the replicas catch
 *       up, so that later reads of a row (and the next write's) may be
 *       served by a replica that has replayed it
 *   -e  extended protocol (PQexecParams) instead of simple Query messages
 *   -C  CREATE TABLE IF NOT EXISTS <table> (k text primary key) first
 */
#include <libpq-fe.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 256

static const char *conninfo;
static const char *table = "rywcheck";
static int nclients = 8;
static double duration_s = 5;
static long iterations;        /* per connection; 0 = use the duration */
static long pause_ms;
static long nreads = 1;
static int extended;

static atomic_long n_reads, n_stale, n_replica, n_writes, n_errors, n_stale_primary;
static atomic_int n_err_shown;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Print the first few errors, count them all. */
static void report_error(int client, const char *what, const PGresult *res, PGconn *conn)
{
	atomic_fetch_add(&n_errors, 1);
	if (atomic_fetch_add(&n_err_shown, 1) < 5)
		fprintf(stderr, "rywcheck: client %d: %s: %s", client, what,
		        res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
}

static PGresult *run(PGconn *conn, const char *sql_simple, const char *sql_params,
                     const char *key)
{
	if (extended) {
		const char *params[1] = { key };
		return PQexecParams(conn, sql_params, 1, NULL, params, NULL, NULL, 0);
	}
	return PQexec(conn, sql_simple);
}

typedef struct worker {
	int id;
	PGconn *conn;
	pthread_t thread;
} worker;

static double deadline;

static void *worker_main(void *arg)
{
	worker *w = arg;
	char key[64], ins[256], sel[512], ins_p[256], sel_p[512];
	long pid = (long)getpid();

	snprintf(ins_p, sizeof(ins_p), "INSERT INTO %s (k) VALUES ($1)", table);
	snprintf(sel_p, sizeof(sel_p),
	         "SELECT pg_is_in_recovery(), (SELECT count(*) FROM %s WHERE k = $1)", table);
	for (long i = 0; iterations ? i < iterations : now_s() < deadline; i++) {
		PGresult *res;

		/* digits and dashes only: safe as a literal */
		snprintf(key, sizeof(key), "%ld-%d-%ld", pid, w->id, i);
		snprintf(ins, sizeof(ins), "INSERT INTO %s (k) VALUES ('%s')", table, key);
		snprintf(sel, sizeof(sel),
		         "SELECT pg_is_in_recovery(), (SELECT count(*) FROM %s WHERE k = '%s')", table, key);

		res = run(w->conn, ins, ins_p, key);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			report_error(w->id, "INSERT", res, w->conn);
			PQclear(res);
			if (PQstatus(w->conn) != CONNECTION_OK)
				break;
			continue;
		}
		PQclear(res);
		atomic_fetch_add(&n_writes, 1);

		for (long r = 0; r < nreads; r++) {
			res = run(w->conn, sel, sel_p, key);
			if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 ||
			    PQnfields(res) != 2) {
				report_error(w->id, "SELECT", res, w->conn);
				PQclear(res);
				if (PQstatus(w->conn) != CONNECTION_OK)
					return NULL;
				continue;
			}
			{
				int on_replica = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
				int found = strcmp(PQgetvalue(res, 0, 1), "0") != 0;

				atomic_fetch_add(&n_reads, 1);
				if (on_replica)
					atomic_fetch_add(&n_replica, 1);
				if (!found) {
					atomic_fetch_add(&n_stale, 1);
					if (!on_replica)
						atomic_fetch_add(&n_stale_primary, 1);
				}
			}
			PQclear(res);
			if (pause_ms > 0) {
				struct timespec ts = { pause_ms / 1000, (pause_ms % 1000) * 1000000L };
				while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
					;
			}
		}
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: rywcheck -d CONNINFO [-c CLIENTS] [-T SECONDS | -n ITERATIONS] "
	        "[-t TABLE] [-r READS] [-w PAUSE_MS] [-e] [-C]\n");
	exit(2);
}

static long parse_long(const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		usage();
	return v;
}

static int valid_ident(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	static worker w[MAX_CLIENTS];
	int opt, create = 0, started = 0;

	while ((opt = getopt(argc, argv, "d:c:T:n:t:r:w:eCh")) != -1) {
		switch (opt) {
		case 'd': conninfo = optarg; break;
		case 'c': nclients = (int)parse_long(optarg, 1, MAX_CLIENTS); break;
		case 'T': duration_s = (double)parse_long(optarg, 1, 86400); break;
		case 'n': iterations = parse_long(optarg, 1, 1000000000L); break;
		case 't': table = optarg; break;
		case 'r': nreads = parse_long(optarg, 1, 1000); break;
		case 'w': pause_ms = parse_long(optarg, 0, 60000); break;
		case 'e': extended = 1; break;
		case 'C': create = 1; break;
		default: usage();
		}
	}
	if (!conninfo || optind != argc)
		usage();
	if (!valid_ident(table)) {
		fprintf(stderr, "rywcheck: table name must be [a-z0-9_.]: %s\n", table);
		return 2;
	}
	for (int i = 0; i < nclients; i++) {
		w[i].id = i;
		w[i].conn = PQconnectdb(conninfo);
		if (PQstatus(w[i].conn) != CONNECTION_OK) {
			fprintf(stderr, "rywcheck: connection %d: %s", i, PQerrorMessage(w[i].conn));
			for (int j = 0; j <= i; j++)
				PQfinish(w[j].conn);
			return 2;
		}
	}
	if (create) {
		char sql[256];
		PGresult *res;

		snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS %s (k text PRIMARY KEY)", table);
		res = PQexec(w[0].conn, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fprintf(stderr, "rywcheck: %s: %s", sql, PQresultErrorMessage(res));
			PQclear(res);
			for (int i = 0; i < nclients; i++)
				PQfinish(w[i].conn);
			return 2;
		}
		PQclear(res);
	}
	deadline = now_s() + duration_s;
	for (int i = 0; i < nclients; i++) {
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "rywcheck: cannot start thread %d\n", i);
			break;
		}
		started++;
	}
	for (int i = 0; i < started; i++)
		pthread_join(w[i].thread, NULL);
	for (int i = 0; i < nclients; i++)
		PQfinish(w[i].conn);
	printf("reads=%ld stale=%ld replica_reads=%ld writes=%ld errors=%ld stale_on_primary=%ld\n",
	       atomic_load(&n_reads), atomic_load(&n_stale), atomic_load(&n_replica),
	       atomic_load(&n_writes), atomic_load(&n_errors), atomic_load(&n_stale_primary));
	fflush(stdout);
	if (started < nclients)
		return 2;
	return atomic_load(&n_errors) > 0 ? 1 : 0;
}
