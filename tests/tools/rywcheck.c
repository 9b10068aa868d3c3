/*
 * rywcheck.c - read-your-writes checker for lagoon (tests/integration/110_ryw.sh,
 * 115_ryw_lag.sh, demo/demo.sh).
 *
 * Opens N worker connections (one thread each) to a conninfo.  Each worker,
 * for a duration or a number of iterations, writes and at once reads the
 * write back in a separate single-statement transaction, which lagoon may
 * route to a replica.  The write patterns (-p), in turn by default:
 *
 *   insert  autocommit INSERT of a row with a unique key
 *   txn     BEGIN; INSERT ...; COMMIT (an explicit transaction)
 *   update  UPDATE of the worker's own row, setting its version to i
 *
 * and the read, which always returns one row:
 *
 *     SELECT inet_server_port(), pg_is_in_recovery(),
 *            (SELECT count(*) FROM <table> WHERE k = '<key>' AND v >= <version>)
 *
 * so a stale read (count 0) is told apart from an error, and the server
 * itself says who served it (not lagoon).  With -k each worker writes on
 * one connection and reads on a second one, both naming the same
 * read-your-writes key (the hint lagoon:ryw_key=<key> in each statement; -K:
 * the startup parameter lagoon.ryw_key instead).  -s makes every write
 * asynchronous (SET LOCAL synchronous_commit = off in its transaction).
 * -R adds reader-only connections that never write (their reads are not
 * checked, only counted by server).  At the end it prints one line:
 *
 *     pairs=N reads=N stale=S replica_reads=R replica_share=P% p50_ms=X p99_ms=Y
 *     writes=W errors=E stale_on_primary=P ro_reads=N ro_replica=N ports=PORT:N,...
 *     ro_ports=PORT:N,...
 *
 * (pairs = writes read back; reads = all checked reads, -r per write;
 * ports = where the checked reads ran, ro_ports = the reader-only ones;
 * latencies are of the checked reads, as the client sees them) and exits
 * 0; 3 if any read was stale (the checker failed the pooler); 1 if any
 * statement failed; 2 on bad usage or when a connection cannot be made.
 *
 * Usage: rywcheck -d CONNINFO [-c CLIENTS] [-T SECONDS | -n ITERATIONS]
 *                 [-t TABLE] [-p insert|txn|update|mix] [-r READS] [-w PAUSE_MS]
 *                 [-k | -K] [-s] [-R READERS] [-e] [-C] [-A]
 *   -c  worker connections (default 8)
 *   -T  run for this many seconds (default 5)
 *   -n  iterations per worker instead of a duration
 *   -t  table (default rywcheck): (k text primary key, v bigint)
 *   -p  write pattern (default mix: insert, txn, update in turn)
 *   -r  reads of each write (default 1): the first right after it, the
 *       others after the pause
 *   -w  pause after each read, in ms (default 0)
 *   -k  shared-key mode, key in a hint comment; -K: in the startup parameter
 *   -s  asynchronous commits (synchronous_commit = off)
 *   -R  reader-only connections (default 0)
 *   -e  extended protocol (PQexecParams) instead of simple Query messages
 *   -C  CREATE TABLE IF NOT EXISTS <table> first
 *   -A  each connection its own application_name, so that lagoon must SET
 *       it on almost every server connection it links (its own query
 *       before the client's transaction)
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
#define MAX_PORTS 8

enum { PAT_INSERT, PAT_TXN, PAT_UPDATE, PAT_MIX };

static const char *conninfo;
static const char *table = "rywcheck";
static int nclients = 8, nreaders;
static double duration_s = 5;
static long iterations;        /* per worker; 0 = use the duration */
static long pause_ms;
static long nreads = 1;
static int extended, pattern = PAT_MIX, keymode, async_commit, own_appname;
static double deadline;

static atomic_long n_pairs, n_reads, n_stale, n_replica, n_writes, n_errors, n_stale_primary;
static atomic_long n_ro_reads, n_ro_replica;
static atomic_int n_err_shown, n_stale_shown;
static pthread_mutex_t port_lock = PTHREAD_MUTEX_INITIALIZER;
static int port_num[MAX_PORTS];
static long port_reads[2][MAX_PORTS];   /* [0] checked reads, [1] reader-only reads */

typedef struct worker {
	int id;
	int reader_only;
	PGconn *wconn, *rconn;     /* the same unless -k/-K */
	pthread_t thread;
	double *lat;               /* read latencies, ms (malloc'd) */
	long nlat, caplat;
	char key[64];              /* the shared key (-k/-K) */
} worker;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* Print the first few errors, count them all. */
static void report_error(int client, const char *what, const PGresult *res, PGconn *conn)
{
	atomic_fetch_add(&n_errors, 1);
	if (atomic_fetch_add(&n_err_shown, 1) < 5)
		fprintf(stderr, "rywcheck: client %d: %s: %s", client, what,
		        res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
}

/* Run sql (simple) or sql_p with $1 = key, $2 = version (extended). */
static PGresult *run(PGconn *conn, const char *sql, const char *sql_p, const char *key, long ver)
{
	if (extended && sql_p) {
		char v[32];
		const char *params[2] = { key, v };
		snprintf(v, sizeof(v), "%ld", ver);
		return PQexecParams(conn, sql_p, 2, NULL, params, NULL, NULL, 0);
	}
	return PQexec(conn, sql);
}

static int exec_ok(worker *w, PGconn *conn, const char *what, const char *sql, const char *sql_p,
                   const char *key, long ver)
{
	PGresult *res = run(conn, sql, sql_p, key, ver);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		report_error(w->id, what, res, conn);
	PQclear(res);
	return ok;
}

static void count_port(int port, int ro)
{
	pthread_mutex_lock(&port_lock);
	for (int i = 0; i < MAX_PORTS; i++) {
		if (port_num[i] == port || port_num[i] == 0) {
			port_num[i] = port;
			port_reads[ro][i]++;
			break;
		}
	}
	pthread_mutex_unlock(&port_lock);
}

static void add_latency(worker *w, double ms)
{
	if (w->nlat == w->caplat) {
		long cap = w->caplat ? w->caplat * 2 : 4096;
		double *n = realloc(w->lat, (size_t)cap * sizeof(*n));
		if (!n)
			return;
		w->lat = n;
		w->caplat = cap;
	}
	w->lat[w->nlat++] = ms;
}

/* The write of iteration i with the given pattern; key/ver: what the read
 * must then see.  1 if it committed. */
static int do_write(worker *w, int pat, long i, const char *hint, char *key, size_t keylen,
                    const char *own, long *ver)
{
	char sql[512], sql_p[512];
	const char *async = async_commit ? "SET LOCAL synchronous_commit TO off; " : "";
	PGconn *c = w->wconn;

	if (pat == PAT_UPDATE) {
		snprintf(key, keylen, "%s", own);
		*ver = i + 1;
		snprintf(sql, sizeof(sql), "%sUPDATE %s SET v = %ld WHERE k = '%s'%s", async, table, *ver,
		         key, hint);
		snprintf(sql_p, sizeof(sql_p), "UPDATE %s SET v = $2::bigint WHERE k = $1%s", table, hint);
		return exec_ok(w, c, "UPDATE", sql, async_commit ? NULL : sql_p, key, *ver);
	}
	/* digits and dashes only: safe as a literal */
	snprintf(key, keylen, "%ld-%d-%ld", (long)getpid(), w->id, i);
	*ver = 1;
	snprintf(sql, sizeof(sql), "%sINSERT INTO %s (k, v) VALUES ('%s', 1)%s", async, table, key,
	         pat == PAT_TXN ? "" : hint);
	snprintf(sql_p, sizeof(sql_p), "INSERT INTO %s (k, v) VALUES ($1, $2::bigint)%s", table,
	         pat == PAT_TXN ? "" : hint);
	if (pat == PAT_INSERT)
		return exec_ok(w, c, "INSERT", sql, async_commit ? NULL : sql_p, key, *ver);
	{
		char begin[128];
		int ok;
		/* the key hint rides on the first statement of the transaction */
		snprintf(begin, sizeof(begin), "BEGIN%s", hint);
		if (!exec_ok(w, c, "BEGIN", begin, NULL, key, 0))
			return 0;
		if (async_commit && !exec_ok(w, c, "SET LOCAL", "SET LOCAL synchronous_commit TO off", NULL, key, 0))
			return 0;
		ok = exec_ok(w, c, "INSERT (txn)", sql + strlen(async), sql_p, key, *ver);
		if (!exec_ok(w, c, ok ? "COMMIT" : "ROLLBACK", ok ? "COMMIT" : "ROLLBACK", NULL, key, 0))
			return 0;
		return ok;
	}
}

/* One read: -1 error, else 1 found / 0 stale; *on_replica, latency noted. */
static int do_read(worker *w, PGconn *conn, const char *hint, const char *key, long ver,
                   int *on_replica, int checked)
{
	char sql[512], sql_p[512];
	PGresult *res;
	double t0;
	int found;

	snprintf(sql, sizeof(sql), "SELECT inet_server_port(), pg_is_in_recovery(), "
	         "(SELECT count(*) FROM %s WHERE k = '%s' AND v >= %ld)%s", table, key, ver, hint);
	snprintf(sql_p, sizeof(sql_p), "SELECT inet_server_port(), pg_is_in_recovery(), "
	         "(SELECT count(*) FROM %s WHERE k = $1 AND v >= $2::bigint)%s", table, hint);
	t0 = now_s();
	res = run(conn, sql, sql_p, key, ver);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 3) {
		report_error(w->id, "SELECT", res, conn);
		PQclear(res);
		return -1;
	}
	if (checked)
		add_latency(w, (now_s() - t0) * 1000.0);
	count_port(atoi(PQgetvalue(res, 0, 0)), !checked);
	*on_replica = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	found = strcmp(PQgetvalue(res, 0, 2), "0") != 0;
	PQclear(res);
	return found;
}

static int more(long i)
{
	return iterations ? i < iterations : now_s() < deadline;
}

static void *reader_main(worker *w)
{
	for (long i = 0; more(i); i++) {
		int on_replica;
		if (do_read(w, w->rconn, "", "rywcheck-none", 1, &on_replica, 0) < 0) {
			if (PQstatus(w->rconn) != CONNECTION_OK)
				break;
			continue;
		}
		atomic_fetch_add(&n_ro_reads, 1);
		if (on_replica)
			atomic_fetch_add(&n_ro_replica, 1);
		if (pause_ms > 0)
			sleep_ms(pause_ms);
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	char key[64], own[64], hint[96] = "";
	long ver;

	if (w->reader_only)
		return reader_main(w);
	if (keymode == 'k')
		snprintf(hint, sizeof(hint), " /* lagoon:ryw_key=%s */", w->key);
	snprintf(own, sizeof(own), "%ld-%d-own", (long)getpid(), w->id);
	for (long i = 0; more(i); i++) {
		int pat = pattern == PAT_MIX ? (int)(i % 3) : pattern;

		if (!do_write(w, pat, i, hint, key, sizeof(key), own, &ver)) {
			if (PQstatus(w->wconn) != CONNECTION_OK)
				break;
			continue;
		}
		atomic_fetch_add(&n_writes, 1);
		for (long r = 0; r < nreads; r++) {
			int on_replica, found = do_read(w, w->rconn, hint, key, ver, &on_replica, 1);
			if (found < 0) {
				if (PQstatus(w->rconn) != CONNECTION_OK)
					return NULL;
				continue;
			}
			if (r == 0)
				atomic_fetch_add(&n_pairs, 1);
			atomic_fetch_add(&n_reads, 1);
			if (on_replica)
				atomic_fetch_add(&n_replica, 1);
			if (!found) {
				static const char *const pat_names[] = { "insert", "txn", "update" };
				if (atomic_fetch_add(&n_stale_shown, 1) < 5)
					fprintf(stderr, "rywcheck: client %d: STALE read %ld of the %s of %s (v >= %ld) "
					        "on a %s\n", w->id, r + 1, pat_names[pat], key, ver,
					        on_replica ? "replica" : "primary");
				atomic_fetch_add(&n_stale, 1);
				if (!on_replica)
					atomic_fetch_add(&n_stale_primary, 1);
			}
			if (pause_ms > 0)
				sleep_ms(pause_ms);
		}
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: rywcheck -d CONNINFO [-c CLIENTS] [-T SECONDS | -n ITERATIONS] "
	        "[-t TABLE] [-p insert|txn|update|mix] [-r READS] [-w PAUSE_MS] [-k | -K] [-s] "
	        "[-R READERS] [-e] [-C] [-A]\n");
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

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* p-th percentile of every worker's latencies (ms); 0 if none. */
static double percentile(worker *w, int n, double p)
{
	long total = 0, k = 0;
	double *all, v;

	for (int i = 0; i < n; i++)
		total += w[i].nlat;
	if (total == 0 || !(all = malloc((size_t)total * sizeof(*all))))
		return 0;
	for (int i = 0; i < n; i++)
		for (long j = 0; j < w[i].nlat; j++)
			all[k++] = w[i].lat[j];
	qsort(all, (size_t)total, sizeof(*all), cmp_double);
	v = all[(long)((double)(total - 1) * p / 100.0 + 0.5)];
	free(all);
	return v;
}

static PGconn *connect_one(int i, const char *key)
{
	char ci[2048];
	PGconn *c;
	int n;

	n = snprintf(ci, sizeof(ci), "%s", conninfo);
	if (key && n > 0 && (size_t)n < sizeof(ci))
		n += snprintf(ci + n, sizeof(ci) - (size_t)n, " options='-c lagoon.ryw_key=%s'", key);
	if (own_appname && n > 0 && (size_t)n < sizeof(ci))
		snprintf(ci + n, sizeof(ci) - (size_t)n, " application_name=rywcheck-%d", i);
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "rywcheck: connection %d: %s", i, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	return c;
}

static int exec_setup(PGconn *c, const char *sql)
{
	PGresult *res = PQexec(c, sql);
	int ok = PQresultStatus(res) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "rywcheck: %s: %s", sql, PQresultErrorMessage(res));
	PQclear(res);
	return ok;
}

static int setup(PGconn *c, int create)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "CREATE TABLE IF NOT EXISTS %s (k text PRIMARY KEY, "
	         "v bigint NOT NULL DEFAULT 0)", table);
	if (create && !exec_setup(c, sql))
		return 0;
	/* every worker's own row, for the update pattern */
	snprintf(sql, sizeof(sql), "INSERT INTO %s (k, v) SELECT '%ld-' || g || '-own', 0 "
	         "FROM generate_series(0, %d) g ON CONFLICT (k) DO UPDATE SET v = 0",
	         table, (long)getpid(), nclients + nreaders);
	return exec_setup(c, sql);
}

int main(int argc, char **argv)
{
	static worker w[2 * MAX_CLIENTS];
	int opt, create = 0, started = 0, total, ok = 1;
	double share;

	while ((opt = getopt(argc, argv, "d:c:T:n:t:p:r:w:kKsR:eCAh")) != -1) {
		switch (opt) {
		case 'd': conninfo = optarg; break;
		case 'c': nclients = (int)parse_long(optarg, 1, MAX_CLIENTS); break;
		case 'T': duration_s = (double)parse_long(optarg, 1, 86400); break;
		case 'n': iterations = parse_long(optarg, 1, 1000000000L); break;
		case 't': table = optarg; break;
		case 'p':
			if (!strcmp(optarg, "insert")) pattern = PAT_INSERT;
			else if (!strcmp(optarg, "txn")) pattern = PAT_TXN;
			else if (!strcmp(optarg, "update")) pattern = PAT_UPDATE;
			else if (!strcmp(optarg, "mix")) pattern = PAT_MIX;
			else usage();
			break;
		case 'r': nreads = parse_long(optarg, 1, 1000); break;
		case 'w': pause_ms = parse_long(optarg, 0, 60000); break;
		case 'k': keymode = 'k'; break;
		case 'K': keymode = 'K'; break;
		case 's': async_commit = 1; break;
		case 'R': nreaders = (int)parse_long(optarg, 0, MAX_CLIENTS); break;
		case 'e': extended = 1; break;
		case 'C': create = 1; break;
		case 'A': own_appname = 1; break;
		default: usage();
		}
	}
	if (!conninfo || optind != argc)
		usage();
	if (!valid_ident(table)) {
		fprintf(stderr, "rywcheck: table name must be [a-z0-9_.]: %s\n", table);
		return 2;
	}
	total = nclients + nreaders;
	for (int i = 0; i < total && ok; i++) {
		w[i].id = i;
		w[i].reader_only = i >= nclients;
		snprintf(w[i].key, sizeof(w[i].key), "rc-%ld-%d", (long)getpid(), i);
		w[i].wconn = connect_one(i, keymode == 'K' ? w[i].key : NULL);
		w[i].rconn = w[i].wconn;
		if (w[i].wconn && keymode && !w[i].reader_only)
			w[i].rconn = connect_one(i, keymode == 'K' ? w[i].key : NULL);
		ok = w[i].wconn && w[i].rconn;
	}
	if (ok)
		ok = setup(w[0].wconn, create);
	if (ok) {
		deadline = now_s() + duration_s;
		for (int i = 0; i < total; i++) {
			if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
				fprintf(stderr, "rywcheck: cannot start thread %d\n", i);
				break;
			}
			started++;
		}
		for (int i = 0; i < started; i++)
			pthread_join(w[i].thread, NULL);
	}
	for (int i = 0; i < total; i++) {
		if (w[i].rconn && w[i].rconn != w[i].wconn)
			PQfinish(w[i].rconn);
		if (w[i].wconn)
			PQfinish(w[i].wconn);
	}
	if (!ok)
		return 2;
	share = atomic_load(&n_reads) ? 100.0 * (double)atomic_load(&n_replica) / (double)atomic_load(&n_reads) : 0;
	printf("pairs=%ld reads=%ld stale=%ld replica_reads=%ld replica_share=%.1f%% p50_ms=%.3f "
	       "p99_ms=%.3f writes=%ld errors=%ld stale_on_primary=%ld ro_reads=%ld ro_replica=%ld ports=",
	       atomic_load(&n_pairs), atomic_load(&n_reads), atomic_load(&n_stale),
	       atomic_load(&n_replica), share, percentile(w, total, 50), percentile(w, total, 99),
	       atomic_load(&n_writes), atomic_load(&n_errors), atomic_load(&n_stale_primary),
	       atomic_load(&n_ro_reads), atomic_load(&n_ro_replica));
	for (int ro = 0; ro < 2; ro++) {
		printf("%s", ro ? " ro_ports=" : "");
		for (int i = 0, n = 0; i < MAX_PORTS && port_num[i]; i++)
			if (port_reads[ro][i])
				printf("%s%d:%ld", n++ ? "," : "", port_num[i], port_reads[ro][i]);
	}
	printf("\n");
	fflush(stdout);
	for (int i = 0; i < total; i++)
		free(w[i].lat);
	if (started < total)
		return 2;
	if (atomic_load(&n_errors) > 0)
		return 1;
	return atomic_load(&n_stale) > 0 ? 3 : 0;
}
