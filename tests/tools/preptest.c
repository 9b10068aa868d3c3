/*
 * preptest.c - named prepared statements through lagoon with libpq
 * (tests/integration/160_prepared.sh).  Prints TAP lines ("ok N - ..." /
 * "not ok N - ...") from N = -s START, then "# next N" for the script.
 *
 * Usage: preptest -d CONNINFO -t TABLE -P PRIMARY_PORT [-s START]
 *
 * Checks, each against what PostgreSQL itself answers:
 *   - PQprepare / PQexecPrepared of a SELECT on 3 connections at once,
 *     200 rounds: every result right, all on replicas (pg_is_in_recovery),
 *     on both replica ports and on more server connections (backend pids)
 *     than client connections;
 *   - the same for an INSERT ... RETURNING: 200 rows, all on the primary;
 *   - a pipeline (PQenterPipelineMode): Parse/Bind/Execute of p1, p2, an
 *     error (division by zero) in the middle, a Parse and an Execute after
 *     it (skipped by the server), Sync; then p1 and p2 work and the Parse
 *     skipped after the error did not create p3 (26000);
 *   - two Syncs in flight in one pipeline;
 *   - re-using a name without Close: 42P05, and the connection goes on;
 *   - DEALLOCATE name, DEALLOCATE ALL, DISCARD ALL, then 26000 on use and
 *     a new PQprepare works;
 *   - a prepared SELECT nextval(): refused by the replicas, replayed on the
 *     primary, every call succeeds;
 *   - a 100 kB Parse and a 300 kB Bind parameter (pkt_buf is 4 kB);
 *   - a named Parse over lagoon's limit: the connection ends with an error
 *     that says so.
 */
#include <libpq-fe.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NCONN 3
#define ROUNDS 200

static int test_no = 1;
static int failures;

static void check(int cond, const char *fmt, ...)
{
	va_list ap;

	printf("%sok %d - ", cond ? "" : "not ", test_no++);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		failures++;
}

static void diag(const char *fmt, ...)
{
	va_list ap;

	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static const char *sqlstate(const PGresult *r)
{
	const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
	return s ? s : "";
}

static PGconn *connect_or_die(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK) {
		printf("Bail out! cannot connect: %s\n", PQerrorMessage(c));
		exit(2);
	}
	return c;
}

static int prepare_ok(PGconn *c, const char *name, const char *sql, int n)
{
	PGresult *r = PQprepare(c, name, sql, n, NULL);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		diag("prepare %s: %s", name, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

/* SELECT on NCONN connections at once; INSERT likewise. */
static void test_select_insert(const char *conninfo, const char *table, int primary_port)
{
	PGconn *c[NCONN];
	char sql[256];
	int bad = 0, on_primary = 0, ports[2] = { 0, 0 }, nport = 0, npid = 0, ins_bad = 0, ins_off = 0;
	int pids[4096];

	for (int i = 0; i < NCONN; i++) {
		c[i] = connect_or_die(conninfo);
		if (!prepare_ok(c[i], "sel", "select $1::int + 1, pg_is_in_recovery(), inet_server_port(), pg_backend_pid()", 1))
			bad++;
		snprintf(sql, sizeof(sql), "insert into %s (id, v) values ($1, $2) returning inet_server_port()", table);
		if (!prepare_ok(c[i], "ins", sql, 2))
			bad++;
	}
	check(bad == 0, "PQprepare of a SELECT and an INSERT on %d connections", NCONN);
	for (int round = 0; round < ROUNDS; round++) {
		for (int i = 0; i < NCONN; i++) {
			char v[16];
			const char *pv[1] = { v };
			snprintf(v, sizeof(v), "%d", round * NCONN + i);
			if (!PQsendQueryPrepared(c[i], "sel", 1, pv, NULL, NULL, 0))
				bad++;
		}
		for (int i = 0; i < NCONN; i++) {
			PGresult *r;
			int got = 0;
			while ((r = PQgetResult(c[i])) != NULL) {
				if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
					int port = atoi(PQgetvalue(r, 0, 2)), pid = atoi(PQgetvalue(r, 0, 3)), k;
					got++;
					if (atoi(PQgetvalue(r, 0, 0)) != round * NCONN + i + 1)
						bad++;
					if (strcmp(PQgetvalue(r, 0, 1), "t") != 0)
						on_primary++;
					for (k = 0; k < nport && ports[k] != port; k++)
						;
					if (k == nport && nport < 2)
						ports[nport++] = port;
					for (k = 0; k < npid && pids[k] != pid; k++)
						;
					if (k == npid && npid < 4096)
						pids[npid++] = pid;
				} else {
					diag("sel: %s", PQresultErrorMessage(r));
					bad++;
				}
				PQclear(r);
			}
			if (got != 1)
				bad++;
		}
	}
	check(bad == 0, "%d PQexecPrepared of the SELECT, all results right", ROUNDS * NCONN);
	check(on_primary == 0, "every prepared SELECT ran on a replica (%d on the primary)", on_primary);
	check(nport == 2, "the prepared SELECTs ran on both replicas (%d ports)", nport);
	check(npid > NCONN, "on more server connections (%d backend pids) than client connections (%d)",
	      npid, NCONN);
	for (int round = 0; round < ROUNDS; round++) {
		int i = round % NCONN;
		char id[16], v[32];
		const char *pv[2] = { id, v };
		PGresult *r;
		snprintf(id, sizeof(id), "%d", round);
		snprintf(v, sizeof(v), "row %d", round);
		r = PQexecPrepared(c[i], "ins", 2, pv, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
			diag("ins: %s", PQresultErrorMessage(r));
			ins_bad++;
		} else if (atoi(PQgetvalue(r, 0, 0)) != primary_port) {
			ins_off++;
		}
		PQclear(r);
	}
	check(ins_bad == 0, "%d PQexecPrepared of the INSERT succeed", ROUNDS);
	check(ins_off == 0, "every prepared INSERT ran on the primary (%d elsewhere)", ins_off);
	for (int i = 0; i < NCONN; i++)
		PQfinish(c[i]);
}

/* Collect the results of one pipelined query: its status and SQLSTATE. */
static ExecStatusType pipe_result(PGconn *c, char *value, size_t vlen, char *state)
{
	PGresult *r = PQgetResult(c);
	ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;

	value[0] = state[0] = '\0';
	if (st == PGRES_TUPLES_OK && PQntuples(r) == 1)
		snprintf(value, vlen, "%s", PQgetvalue(r, 0, 0));
	if (r)
		snprintf(state, 6, "%s", sqlstate(r));
	PQclear(r);
	if (st != PGRES_PIPELINE_SYNC && r) {
		r = PQgetResult(c);   /* the NULL that ends this query */
		PQclear(r);
	}
	return st;
}

static void test_pipeline(const char *conninfo)
{
	PGconn *c = connect_or_die(conninfo);
	const char *five[1] = { "5" }, *zero[1] = { "0" }, *seven[1] = { "7" }, *nine[1] = { "9" },
		*four[1] = { "4" };
	char v[64], st[8];
	ExecStatusType s;
	int ok = 1;

	if (!PQenterPipelineMode(c)) {
		check(0, "enter pipeline mode");
		return;
	}
	ok &= PQsendPrepare(c, "p1", "select $1::int * 2", 1, NULL);
	ok &= PQsendQueryPrepared(c, "p1", 1, five, NULL, NULL, 0);
	ok &= PQsendPrepare(c, "p2", "select 100 / $1::int", 1, NULL);
	ok &= PQsendQueryPrepared(c, "p2", 1, zero, NULL, NULL, 0);
	ok &= PQsendPrepare(c, "p3", "select 3", 0, NULL);
	ok &= PQsendQueryPrepared(c, "p1", 1, seven, NULL, NULL, 0);
	ok &= PQpipelineSync(c);
	check(ok, "pipeline: 6 requests and a Sync sent");
	s = pipe_result(c, v, sizeof(v), st);
	check(s == PGRES_COMMAND_OK, "pipeline: Parse p1 completes");
	s = pipe_result(c, v, sizeof(v), st);
	check(s == PGRES_TUPLES_OK && strcmp(v, "10") == 0, "pipeline: p1(5) = 10 (got %s)", v);
	s = pipe_result(c, v, sizeof(v), st);
	check(s == PGRES_COMMAND_OK, "pipeline: Parse p2 completes");
	s = pipe_result(c, v, sizeof(v), st);
	check(s == PGRES_FATAL_ERROR && strcmp(st, "22012") == 0,
	      "pipeline: p2(0) fails with division by zero (22012, got %s)", st);
	s = pipe_result(c, v, sizeof(v), st);
	check(s == PGRES_PIPELINE_ABORTED, "pipeline: the Parse of p3 after the error is skipped");
	s = pipe_result(c, v, sizeof(v), st);
	check(s == PGRES_PIPELINE_ABORTED, "pipeline: p1(7) after the error is skipped");
	s = pipe_result(c, v, sizeof(v), st);
	check(s == PGRES_PIPELINE_SYNC, "pipeline: the Sync answers");

	/* two Syncs in flight: p1, p2 work; p3 does not exist */
	ok = PQsendQueryPrepared(c, "p1", 1, nine, NULL, NULL, 0);
	ok &= PQpipelineSync(c);
	ok &= PQsendQueryPrepared(c, "p2", 1, four, NULL, NULL, 0);
	ok &= PQsendQueryPrepared(c, "p3", 0, NULL, NULL, NULL, 0);
	ok &= PQpipelineSync(c);
	check(ok, "pipeline: two Syncs in flight");
	s = pipe_result(c, v, sizeof(v), st);
	check(s == PGRES_TUPLES_OK && strcmp(v, "18") == 0, "pipeline: p1(9) = 18 after the error (got %s)", v);
	s = pipe_result(c, v, sizeof(v), st);
	check(s == PGRES_PIPELINE_SYNC, "pipeline: first Sync");
	s = pipe_result(c, v, sizeof(v), st);
	check(s == PGRES_TUPLES_OK && strcmp(v, "25") == 0, "pipeline: p2(4) = 25 (got %s)", v);
	s = pipe_result(c, v, sizeof(v), st);
	check(s == PGRES_FATAL_ERROR && strcmp(st, "26000") == 0,
	      "pipeline: p3, skipped after the error, does not exist (26000, got %s)", st);
	s = pipe_result(c, v, sizeof(v), st);
	check(s == PGRES_PIPELINE_SYNC, "pipeline: second Sync");
	check(PQexitPipelineMode(c), "pipeline: leave pipeline mode");
	check(PQstatus(c) == CONNECTION_OK, "pipeline: the connection is fine");
	PQfinish(c);
}

/* Execute a one-parameter statement and compare its first value. */
static int exec_is(PGconn *c, const char *name, const char *param, const char *want, const char *want_state)
{
	const char *pv[1] = { param };
	PGresult *r = PQexecPrepared(c, name, param ? 1 : 0, param ? pv : NULL, NULL, NULL, 0);
	int ok;

	if (want_state)
		ok = PQresultStatus(r) == PGRES_FATAL_ERROR && strcmp(sqlstate(r), want_state) == 0;
	else
		ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
			strcmp(PQgetvalue(r, 0, 0), want) == 0;
	if (!ok)
		diag("exec %s: status %s %s %s", name, PQresStatus(PQresultStatus(r)), sqlstate(r),
		     PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

static int exec_sql(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		diag("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	return ok;
}

static void test_names(const char *conninfo)
{
	PGconn *c = connect_or_die(conninfo);
	PGresult *r;

	check(prepare_ok(c, "a", "select $1::int + 10", 1) && exec_is(c, "a", "1", "11", NULL),
	      "prepare a and run it");
	r = PQprepare(c, "a", "select 2", 0, NULL);
	check(PQresultStatus(r) == PGRES_FATAL_ERROR && strcmp(sqlstate(r), "42P05") == 0 &&
	      strstr(PQresultErrorMessage(r), "prepared statement \"a\" already exists") != NULL,
	      "re-using the name a without Close: 42P05 \"already exists\" (%s %s)", sqlstate(r),
	      PQresultErrorMessage(r));
	PQclear(r);
	check(PQstatus(c) == CONNECTION_OK && exec_is(c, "a", "2", "12", NULL),
	      "after 42P05 the connection goes on and a is unchanged");
	check(exec_sql(c, "DEALLOCATE a") && exec_is(c, "a", "2", NULL, "26000"),
	      "DEALLOCATE a: a no longer exists (26000)");
	check(prepare_ok(c, "a", "select $1::int + 20", 1) && exec_is(c, "a", "1", "21", NULL),
	      "after DEALLOCATE the name a can be prepared again, with new text");
	check(exec_sql(c, "BEGIN") && exec_sql(c, "DEALLOCATE \"a\"") && exec_sql(c, "COMMIT") &&
	      exec_is(c, "a", "1", NULL, "26000"), "DEALLOCATE \"a\" inside a transaction block");
	check(prepare_ok(c, "a", "select $1::int + 30", 1) && prepare_ok(c, "b", "select $1::int + 40", 1) &&
	      exec_sql(c, "DEALLOCATE ALL") && exec_is(c, "a", "1", NULL, "26000") &&
	      exec_is(c, "b", "1", NULL, "26000"), "DEALLOCATE ALL: a and b are gone");
	check(prepare_ok(c, "a", "select $1::int + 50", 1) && exec_is(c, "a", "1", "51", NULL),
	      "after DEALLOCATE ALL a is prepared again and runs");
	check(exec_sql(c, "DISCARD ALL") && exec_is(c, "a", "1", NULL, "26000"), "DISCARD ALL: a is gone");
	check(prepare_ok(c, "a", "select $1::int + 60", 1) && exec_is(c, "a", "1", "61", NULL),
	      "after DISCARD ALL a is prepared again and runs");
	PQfinish(c);
}

/* A prepared read that writes (nextval): the replica refuses it, lagoon
 * replays the batch on the primary. */
static void test_replay(const char *conninfo)
{
	PGconn *c = connect_or_die(conninfo);
	long last = -1;
	int bad = 0;

	check(prepare_ok(c, "nv", "select nextval('prep_seq')", 0), "prepare a SELECT of nextval()");
	for (int i = 0; i < 20; i++) {
		PGresult *r = PQexecPrepared(c, "nv", 0, NULL, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
			diag("nv: %s", PQresultErrorMessage(r));
			bad++;
		} else {
			long v = atol(PQgetvalue(r, 0, 0));
			if (v <= last)
				bad++;
			last = v;
		}
		PQclear(r);
	}
	check(bad == 0, "20 prepared nextval() all succeed, increasing (replicas refuse them: replayed on the primary)");
	PQfinish(c);
}

static void test_large(const char *conninfo)
{
	PGconn *c = connect_or_die(conninfo);
	size_t big = 100 * 1024, param = 300 * 1024, huge = 2 * 1024 * 1024;
	char *sql = malloc(huge + 64), *p = malloc(param + 1);
	char want[32];
	PGresult *r;

	strcpy(sql, "select length($1::text) /* ");
	memset(sql + strlen(sql), 'x', big);
	strcpy(sql + strlen("select length($1::text) /* ") + big, " */");
	memset(p, 'y', param);
	p[param] = '\0';
	snprintf(want, sizeof(want), "%zu", param);
	check(prepare_ok(c, "big", sql, 1), "a 100 kB named Parse is prepared");
	check(exec_is(c, "big", p, want, NULL), "a 300 kB Bind parameter through it: length %s", want);
	/* on another server connection as well (held by a second client) */
	{
		PGconn *c2 = connect_or_die(conninfo);
		int ok = exec_sql(c2, "BEGIN") && exec_sql(c2, "select 1");
		ok = ok && exec_is(c, "big", "abc", "3", NULL);
		exec_sql(c2, "COMMIT");
		PQfinish(c2);
		check(ok, "the 100 kB statement is prepared again where the client lands");
	}
	strcpy(sql, "select 1 /* ");
	memset(sql + strlen(sql), 'z', huge);
	strcpy(sql + strlen("select 1 /* ") + huge, " */");
	r = PQprepare(c, "huge", sql, 0, NULL);
	check(PQresultStatus(r) != PGRES_COMMAND_OK && strstr(PQerrorMessage(c), "too long") != NULL,
	      "a 2 MB named Parse gets a clear error: %s", PQerrorMessage(c));
	PQclear(r);
	free(sql);
	free(p);
	PQfinish(c);
}

int main(int argc, char **argv)
{
	const char *conninfo = NULL, *table = "prep_t";
	int primary_port = 0, opt;

	while ((opt = getopt(argc, argv, "d:t:P:s:")) != -1) {
		switch (opt) {
		case 'd': conninfo = optarg; break;
		case 't': table = optarg; break;
		case 'P': primary_port = atoi(optarg); break;
		case 's': test_no = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: preptest -d CONNINFO -t TABLE -P PRIMARY_PORT [-s START]\n");
			return 2;
		}
	}
	if (!conninfo || !primary_port) {
		fprintf(stderr, "usage: preptest -d CONNINFO -t TABLE -P PRIMARY_PORT [-s START]\n");
		return 2;
	}
	test_select_insert(conninfo, table, primary_port);
	test_pipeline(conninfo);
	test_names(conninfo);
	test_replay(conninfo);
	test_large(conninfo);
	printf("# next %d\n", test_no);
	return failures ? 1 : 0;
}
