/*
 * test_classify.c - unit tests for core/classify.c, the SQL classifier.
 *
 * A table-driven corpus of statements with their expected kind, flags,
 * leading keyword, statement count and (for some) reason covers every
 * statement category of classify.h, tricky quoting (semicolons and
 * keywords inside strings, E'' escapes, dollar quotes with tags, quoted
 * identifiers, nested comments), multi-statement texts, hint comments,
 * unicode, case and whitespace.  Each text is classified from an exact-size
 * heap copy (no NUL after it), so a sanitizer build catches any read past
 * the end; every prefix of every text is classified too.  Two properties
 * are checked over the corpus (a trailing DELETE makes it a write; a
 * leading SELECT changes nothing), then 100k random and mutated inputs
 * must keep the result's invariants.  A throughput figure is printed as a
 * diagnostic only.
 */
#include "classify.h"
#include "tap/tap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define R CLS_READ
#define W CLS_WRITE
#define TB CLS_F_TXN_BEGIN
#define RO CLS_F_TXN_READ_ONLY
#define TE CLS_F_TXN_END
#define HP CLS_F_HINT_PRIMARY
#define HR CLS_F_HINT_REPLICA
#define SC CLS_F_SESSION_CHANGE

typedef struct Case {
	const char *sql;
	ClassifyKind kind;
	uint32_t flags;
	const char *keyword;
	int nstatements;
	const char *reason;    /* NULL: not checked */
	bool open;             /* ends inside a literal or comment */
} Case;

/* one statement, no flags */
#define RD(sql, kw) { sql, R, 0, kw, 1, NULL, false }
#define WR(sql, kw) { sql, W, 0, kw, 1, NULL, false }
/* one statement with flags and reason */
#define ST(sql, kind, flags, kw, reason) { sql, kind, flags, kw, 1, reason, false }
/* anything */
#define TX(sql, kind, flags, kw, n) { sql, kind, flags, kw, n, NULL, false }
/* ends inside a literal or comment */
#define OPEN(sql, kind, flags, kw, n) { sql, kind, flags, kw, n, NULL, true }

static const Case corpus[] = {
	/* plain reads */
	RD("SELECT 1", "select"),
	RD("select abalance from pgbench_accounts where aid = $1", "select"),
	RD("SeLeCt * FROM t", "select"),
	RD("  \n\t\r\f SELECT 1", "select"),
	RD("SELECT count(*) FROM t GROUP BY a HAVING count(*) > 1 ORDER BY 1 LIMIT 5", "select"),
	RD("VALUES (1), (2)", "values"),
	RD("values (1, 'a') order by 1", "values"),
	RD("TABLE pgbench_branches", "table"),
	RD("SHOW search_path", "show"),
	RD("show all", "show"),
	RD("(SELECT 1) UNION (SELECT 2)", "select"),
	RD("((select 1))", "select"),
	RD("SELECT * FROM a JOIN b USING (id) WHERE a.x IN (SELECT x FROM c)", "select"),
	RD("SELECT 1.5e3, .5, 1e, 1_000, 1e-3 FROM t", "select"),
	RD("SELECT 'a' 'b'", "select"),
	RD("SELECT B'101', X'1F', N'abc'", "select"),
	RD("SELECT U&'d\\0061t\\+000061' FROM t", "select"),
	RD("SELECT U&\"d\\0061t\" FROM t", "select"),
	RD("SELECT a$b, c$$ FROM t", "select"),
	RD("SELECT x::text, y->>'k', z #> '{a}' FROM t", "select"),
	RD("SELECT 2*/*x*/3", "select"),
	RD("SELECT nextval('s')", "select"),

	/* semicolons and keywords inside literals, identifiers, comments */
	RD("SELECT * FROM t WHERE name = 'x;y'", "select"),
	RD("SELECT 'DELETE FROM t'", "select"),
	RD("SELECT 'it''s; DROP TABLE t'", "select"),
	RD("SELECT E'it\\'s; DROP TABLE t'", "select"),
	RD("SELECT e'a\\\\b\\'; INSERT'", "select"),
	TX("SELECT E'\\\\' ; SELECT 2", R, 0, "select", 2),
	TX("SELECT E'\\\\' ; DELETE FROM t", W, 0, "select", 2),
	TX("SELECT E'\\''; DELETE FROM t", W, 0, "select", 2),
	TX("SELECT e'a''b\\\\'; SELECT 1", R, 0, "select", 2),
	TX("SELECT 'a\\'; DELETE FROM t; --'", W, 0, "select", 2),
	RD("SELECT 'FOR UPDATE', 'INTO'", "select"),
	RD("SELECT $$; DELETE FROM t; $$", "select"),
	RD("SELECT $body$ it's $$ ; DELETE $ $body$", "select"),
	RD("SELECT $a$ $b$ ; insert $b$ $a$, 1", "select"),
	RD("SELECT $A$ x $a$ ; UPDATE t SET x=1; $A$", "select"),
	RD("SELECT $_1$ ; delete $_1 $_1$", "select"),
	TX("SELECT $a$x$a$; DELETE FROM t", W, 0, "select", 2),
	RD("SELECT $1, $2 FROM t WHERE a = $3", "select"),
	TX("SELECT x$$ FROM t; DELETE FROM t", W, 0, "select", 2),
	RD("SELECT \"weird;name\", \"DELETE\" FROM \"t\"\"q\"", "select"),
	RD("SELECT \"a\"\"; DELETE\" FROM t", "select"),
	RD("select 1 \"into\"", "select"),
	RD("SELECT 1 -- ; DELETE FROM t", "select"),
	RD("SELECT 1 /* ; DELETE FROM t */", "select"),
	RD("SELECT 1 /* outer /* inner */ ; DELETE FROM t */", "select"),
	TX("SELECT 1 /* a /* b /* c */ */ */; SELECT 2", R, 0, "select", 2),
	TX("SELECT 1 /* a /* b */ ; DELETE */ ; DELETE FROM t", W, 0, "select", 2),
	RD("/* comment */ SELECT 1", "select"),
	RD("-- leading\nSELECT 1", "select"),
	WR("-- leading\r\nDELETE FROM t", "delete"),
	RD("/**/SELECT/**/1", "select"),
	RD("/* multi\n line\n comment */\n\n  select 1", "select"),
	TX("SELECT 1--\n;DELETE FROM t", W, 0, "select", 2),
	TX("SELECT 1--x\r;DELETE FROM t", W, 0, "select", 2),

	/* locking clauses and INTO */
	ST("SELECT * FROM t FOR UPDATE", W, 0, "select", "for update/share"),
	WR("select * from t for update nowait", "select"),
	WR("SELECT * FROM t FOR NO KEY UPDATE", "select"),
	WR("SELECT * FROM t FOR SHARE", "select"),
	WR("SELECT * FROM t FOR KEY SHARE SKIP LOCKED", "select"),
	WR("SELECT * FROM t FOR UPDATE OF t", "select"),
	WR("SELECT * FROM (SELECT * FROM t FOR UPDATE) s", "select"),
	WR("(SELECT * FROM t FOR SHARE)", "select"),
	WR("select\n*\nfrom\nt\nfor\nupdate", "select"),
	WR("SELECT * FROM t FOR/**/UPDATE", "select"),
	WR("SELECT * FROM t FOR -- x\n UPDATE", "select"),
	WR("SELECT 1FOR UPDATE", "select"),
	RD("SELECT * FROM t WHERE x = 'FOR UPDATE'", "select"),
	RD("SELECT substring(s FOR 3) FROM t", "select"),
	RD("SELECT substring(s FROM 1 FOR 3) AS update_me FROM t", "select"),
	RD("SELECT forupdate, for_update FROM t", "select"),
	RD("SELECT * FROM t -- FOR UPDATE", "select"),
	ST("SELECT * INTO newtab FROM t", W, 0, "select", "select into"),
	WR("SELECT a, b INTO TEMP x FROM t", "select"),
	WR("select 1 into t", "select"),
	RD("SELECT 'into'", "select"),
	RD("SELECT intox, xinto FROM t", "select"),

	/* WITH */
	RD("WITH x AS (SELECT 1) SELECT * FROM x", "with"),
	RD("WITH RECURSIVE t(n) AS (VALUES (1) UNION ALL SELECT n+1 FROM t WHERE n < 10) SELECT sum(n) FROM t", "with"),
	RD("with a as (select 1), b as (select 2) table b", "with"),
	RD("WITH x AS NOT MATERIALIZED (SELECT 1) VALUES (1)", "with"),
	ST("WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", W, 0, "with", "data-modifying with"),
	WR("WITH u AS (UPDATE t SET x = 1 RETURNING x) SELECT 1", "with"),
	WR("WITH i AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT 1", "with"),
	WR("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "with"),
	WR("WITH x AS (SELECT 1) UPDATE t SET a = 1", "with"),
	WR("WITH x AS (SELECT 1) DELETE FROM t", "with"),
	WR("WITH m AS MATERIALIZED (SELECT 1) MERGE INTO t USING m ON true WHEN MATCHED THEN DELETE", "with"),
	RD("WITH x AS (SELECT 'insert; update') SELECT * FROM x", "with"),
	RD("with \"delete\" as (select 1) select * from \"delete\"", "with"),
	ST("WITH x AS (SELECT 1) SELECT * INTO y FROM x", W, 0, "with", "select into"),
	WR("WITH x AS (SELECT * FROM t FOR UPDATE) SELECT 1", "with"),

	/* EXPLAIN */
	RD("EXPLAIN SELECT 1", "explain"),
	RD("EXPLAIN DELETE FROM t", "explain"),
	RD("EXPLAIN VERBOSE INSERT INTO t VALUES (1)", "explain"),
	RD("EXPLAIN ANALYZE SELECT 1", "explain"),
	ST("EXPLAIN ANALYZE DELETE FROM t", W, 0, "explain", "data modification"),
	WR("explain analyse verbose update t set x = 1", "explain"),
	RD("EXPLAIN (ANALYZE) SELECT 1", "explain"),
	WR("EXPLAIN (ANALYZE, BUFFERS) INSERT INTO t VALUES (1)", "explain"),
	WR("EXPLAIN (FORMAT JSON, ANALYZE true) MERGE INTO t USING s ON true WHEN MATCHED THEN DELETE", "explain"),
	RD("EXPLAIN (ANALYZE false) DELETE FROM t", "explain"),
	RD("EXPLAIN (ANALYZE off, COSTS off) UPDATE t SET x = 1", "explain"),
	RD("EXPLAIN (COSTS off) UPDATE t SET x = 1", "explain"),
	WR("EXPLAIN (ANALYZE on, FORMAT yaml) SELECT * INTO x FROM t", "explain"),
	WR("EXPLAIN (ANALYZE 1) DELETE FROM t", "explain"),
	RD("EXPLAIN (ANALYZE, SETTINGS on, WAL) SELECT 1", "explain"),
	WR("EXPLAIN ANALYZE CREATE TABLE x AS SELECT 1", "explain"),
	WR("EXPLAIN ANALYZE EXECUTE q(1)", "explain"),
	RD("EXPLAIN ANALYZE WITH x AS (SELECT 1) SELECT * FROM x", "explain"),
	WR("EXPLAIN ANALYZE WITH x AS (DELETE FROM t RETURNING 1) SELECT * FROM x", "explain"),
	RD("EXPLAIN ANALYZE (SELECT 1)", "explain"),
	WR("EXPLAIN ANALYZE SELECT * FROM t FOR UPDATE", "explain"),
	RD("EXPLAIN SELECT * FROM t FOR UPDATE", "explain"),
	RD("explain analyze values (1)", "explain"),

	/* transaction control */
	ST("BEGIN", W, TB, "begin", "transaction block"),
	TX("begin;", W, TB, "begin", 1),
	TX("BEGIN WORK", W, TB, "begin", 1),
	TX("BEGIN TRANSACTION", W, TB, "begin", 1),
	ST("BEGIN READ ONLY", R, TB | RO, "begin", "read-only"),
	TX("Begin Read Only", R, TB | RO, "begin", 1),
	TX("begin transaction read only", R, TB | RO, "begin", 1),
	TX("START TRANSACTION READ ONLY", R, TB | RO, "start", 1),
	TX("START TRANSACTION", W, TB, "start", 1),
	TX("START TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", R, TB | RO, "start", 1),
	TX("BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY", R, TB | RO, "begin", 1),
	TX("BEGIN READ ONLY NOT DEFERRABLE", R, TB | RO, "begin", 1),
	ST("BEGIN READ ONLY ISOLATION LEVEL SERIALIZABLE", W, TB, "begin", "serializable transaction"),
	TX("BEGIN ISOLATION LEVEL SERIALIZABLE, READ ONLY, DEFERRABLE", W, TB, "begin", 1),
	TX("BEGIN READ WRITE", W, TB, "begin", 1),
	TX("BEGIN READ ONLY, READ WRITE", W, TB, "begin", 1),
	TX("BEGIN ISOLATION LEVEL READ UNCOMMITTED", W, TB, "begin", 1),
	ST("BEGIN READ ONLY FOOBAR", W, TB, "begin", "unknown transaction mode"),
	TX("START READ ONLY", W, TB, "start", 1),
	TX("BEGIN READ ONLY; SELECT 1; COMMIT", R, TB | RO | TE, "begin", 3),
	TX("BEGIN; SELECT 1; COMMIT;", W, TB | TE, "begin", 3),
	TX("BEGIN READ ONLY; UPDATE t SET x = 1; COMMIT", W, TB | RO | TE, "begin", 3),
	TX("COMMIT", R, TE, "commit", 1),
	TX("commit work", R, TE, "commit", 1),
	TX("END", R, TE, "end", 1),
	TX("END TRANSACTION", R, TE, "end", 1),
	TX("ROLLBACK", R, TE, "rollback", 1),
	TX("ABORT", R, TE, "abort", 1),
	TX("COMMIT AND CHAIN", R, TE, "commit", 1),
	RD("ROLLBACK TO SAVEPOINT s1", "rollback"),
	RD("ROLLBACK WORK TO s1", "rollback"),
	RD("SAVEPOINT s1", "savepoint"),
	RD("RELEASE SAVEPOINT s1", "release"),
	ST("COMMIT PREPARED 'gid'", W, 0, "commit", "two-phase commit"),
	WR("ROLLBACK PREPARED 'gid'", "rollback"),
	ST("PREPARE TRANSACTION 'gid'", W, TE, "prepare", "two-phase commit"),

	/* session state */
	ST("SET search_path TO app", W, SC, "set", "session change"),
	TX("set statement_timeout = 0", W, SC, "set", 1),
	TX("SET SESSION work_mem = '64MB'", W, SC, "set", 1),
	TX("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY", W, SC, "set", 1),
	TX("SET ROLE admin", W, SC, "set", 1),
	TX("SET TIME ZONE 'UTC'", W, SC, "set", 1),
	ST("SET LOCAL work_mem = '1GB'", R, 0, "set", "read-only"),
	TX("SET LOCAL work_mem = '1GB'; SELECT 1", R, 0, "set", 2),
	ST("SET TRANSACTION READ ONLY", W, 0, "set", "set transaction"),
	TX("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", W, 0, "set", 1),
	ST("SET CONSTRAINTS ALL DEFERRED", W, 0, "set", "set constraints"),
	TX("RESET ALL", W, SC, "reset", 1),
	TX("RESET search_path", W, SC, "reset", 1),
	TX("DISCARD ALL", W, SC, "discard", 1),
	ST("PREPARE q(int) AS SELECT $1", W, SC, "prepare", "session change"),
	TX("DEALLOCATE q", W, SC, "deallocate", 1),
	TX("DEALLOCATE ALL", W, SC, "deallocate", 1),
	TX("LISTEN chan", W, SC, "listen", 1),
	TX("UNLISTEN *", W, SC, "unlisten", 1),
	TX("LOAD 'auto_explain'", W, SC, "load", 1),
	ST("NOTIFY chan, 'payload'", W, 0, "notify", "notify"),
	ST("EXECUTE q(1)", W, 0, "execute", "execute"),
	TX("CREATE TEMP TABLE tt (a int)", W, SC, "create", 1),
	TX("CREATE TEMPORARY TABLE tt (a int)", W, SC, "create", 1),
	TX("CREATE LOCAL TEMPORARY TABLE tt (a int)", W, SC, "create", 1),
	TX("CREATE OR REPLACE TEMP VIEW v AS SELECT 1", W, SC, "create", 1),
	ST("CREATE TABLE t (a int)", W, 0, "create", "ddl"),
	WR("CREATE UNLOGGED TABLE t (temp int)", "create"),
	ST("DECLARE c CURSOR FOR SELECT 1", W, 0, "declare", "cursor"),
	TX("DECLARE c CURSOR WITH HOLD FOR SELECT 1", W, SC, "declare", 1),
	WR("DECLARE c NO SCROLL CURSOR WITHOUT HOLD FOR SELECT 1", "declare"),
	WR("FETCH 10 FROM c", "fetch"),
	WR("MOVE NEXT IN c", "move"),
	WR("CLOSE c", "close"),

	/* writes */
	ST("INSERT INTO t VALUES (1)", W, 0, "insert", "data modification"),
	WR("insert into t select * from u", "insert"),
	WR("UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2", "update"),
	WR("DELETE FROM t", "delete"),
	WR("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET x = 1", "merge"),
	WR("TRUNCATE t", "truncate"),
	WR("DROP TABLE t", "drop"),
	WR("ALTER TABLE t ADD COLUMN c int", "alter"),
	WR("GRANT SELECT ON t TO u", "grant"),
	WR("REVOKE ALL ON t FROM u", "revoke"),
	WR("COMMENT ON TABLE t IS 'x'", "comment"),
	WR("SECURITY LABEL ON TABLE t IS 'x'", "security"),
	WR("IMPORT FOREIGN SCHEMA s FROM SERVER f INTO public", "import"),
	WR("REASSIGN OWNED BY a TO b", "reassign"),
	ST("VACUUM t", W, 0, "vacuum", "maintenance"),
	WR("VACUUM (ANALYZE) t", "vacuum"),
	WR("ANALYZE t", "analyze"),
	WR("CLUSTER t", "cluster"),
	WR("REINDEX TABLE t", "reindex"),
	WR("REFRESH MATERIALIZED VIEW mv", "refresh"),
	WR("CHECKPOINT", "checkpoint"),
	ST("LOCK TABLE t IN ACCESS EXCLUSIVE MODE", W, 0, "lock", "lock"),
	ST("DO $$BEGIN PERFORM 1; END$$", W, 0, "do", "procedural code"),
	TX("DO $do$ BEGIN RAISE NOTICE 'x;y'; END $do$; SELECT 1", W, 0, "do", 2),
	WR("CALL proc(1)", "call"),
	TX("CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; "
	   "SELECT CASE WHEN true THEN 2 END; END; SELECT 3", W, 0, "create", 2),
	TX("CREATE PROCEDURE p() BEGIN ATOMIC INSERT INTO t VALUES (1); END", W, 0, "create", 1),
	TX("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT 2", W, 0, "create", 2),

	/* COPY */
	RD("COPY t TO STDOUT", "copy"),
	RD("copy t (a, b) to stdout with (format csv)", "copy"),
	RD("COPY (SELECT * FROM t WHERE x > 1) TO STDOUT WITH CSV HEADER", "copy"),
	RD("COPY BINARY t TO STDOUT", "copy"),
	ST("COPY t FROM STDIN", W, 0, "copy", "copy from"),
	ST("COPY t TO '/tmp/x'", W, 0, "copy", "copy to a file"),
	WR("COPY t TO PROGRAM 'gzip > /tmp/x'", "copy"),
	WR("COPY (DELETE FROM t RETURNING *) TO STDOUT", "copy"),
	WR("COPY (SELECT * FROM t FOR UPDATE) TO STDOUT", "copy"),
	ST("COPY t", W, 0, "copy", "copy"),

	/* several statements */
	TX("SELECT 1; SELECT 2", R, 0, "select", 2),
	TX("SELECT 1; DELETE FROM t", W, 0, "select", 2),
	TX("DELETE FROM t; SELECT 1", W, 0, "delete", 2),
	TX(";;SELECT 1;;", R, 0, "select", 1),
	TX("SHOW x; VALUES (1); TABLE t; EXPLAIN SELECT 1", R, 0, "show", 4),
	TX("SELECT 1; SET x = 1", W, SC, "select", 2),
	TX("SELECT 'ü;'; DELETE FROM t", W, 0, "select", 2),
	TX("select 1;\nselect 2;\n", R, 0, "select", 2),

	/* hint comments */
	ST("/* lagoon:primary */ SELECT 1", W, HP, "select", "hint"),
	TX("SELECT 1 -- lagoon:primary", W, HP, "select", 1),
	TX("SELECT /* app=web LAGOON:PRIMARY */ 1", W, HP, "select", 1),
	TX("/* lagoon:replica */ SELECT 1", R, HR, "select", 1),
	TX("/* lagoon:replica */ DELETE FROM t", W, HR, "delete", 1),
	TX("/* lagoon:replica lagoon:primary */ SELECT 1", W, HP | HR, "select", 1),
	TX("SELECT 'lagoon:primary'", R, 0, "select", 1),
	TX("SELECT \"lagoon:primary\"", R, 0, "select", 1),
	TX("/* xlagoon:primary */ SELECT 1", R, 0, "select", 1),
	TX("/* lagoon:primaryx */ SELECT 1", R, 0, "select", 1),
	TX("/* lagoon: primary */ SELECT 1", R, 0, "select", 1),
	TX("/* lagoon:primary*/SELECT 1", W, HP, "select", 1),
	TX("SELECT 1; /* lagoon:primary */ SELECT 2", W, HP, "select", 2),
	TX("/* outer /* lagoon:primary */ */ SELECT 1", W, HP, "select", 1),
	ST("/* lagoon:primary */ DELETE FROM t", W, HP, "delete", "data modification"),
	OPEN("SELECT 1 /* lagoon:primary", W, HP, "select", 1),

	/* unicode */
	RD("SELECT \"ñame\", été FROM données WHERE ville = 'Zürich'", "select"),
	RD("SELECT 名前 FROM テーブル", "select"),
	RD("SELECT $ü$ ; delete $ü$", "select"),
	ST("été", W, 0, "", "unknown keyword"),

	/* not a statement we know */
	ST("SELECTX 1", W, 0, "selectx", "unknown keyword"),
	WR("SELECT1", ""),
	WR("frobnicate the database", "frobnicate"),
	WR("abcdefghijklmnopqrstuvwxyz", ""),
	WR("(", ""),
	WR("( DELETE FROM t )", "delete"),
	WR(")", ""),
	WR("42", ""),
	WR("'SELECT'", ""),
	WR("$1", ""),
	WR("select_it", ""),

	/* empty and unterminated */
	TX("", R, 0, "", 0),
	TX("   \n\t ", R, 0, "", 0),
	TX("-- only a comment", R, 0, "", 0),
	TX("/* only */ /* comments */", R, 0, "", 0),
	TX(";", R, 0, "", 0),
	TX(" ; ;\n; ", R, 0, "", 0),
	OPEN("/* unterminated", R, 0, "", 0),
	OPEN("/* a /* b */ still open", R, 0, "", 0),
	OPEN("SELECT 'unterminated; DELETE FROM t", R, 0, "select", 1),
	OPEN("SELECT $$ unterminated; DELETE", R, 0, "select", 1),
	OPEN("SELECT $t$ unterminated $t ; DELETE", R, 0, "select", 1),
	OPEN("SELECT \"unterminated; DELETE", R, 0, "select", 1),
	OPEN("SELECT E'\\", R, 0, "select", 1),
	OPEN("SELECT E'", R, 0, "select", 1),
	TX("SELECT $", R, 0, "select", 1),
	TX("SELECT -", R, 0, "select", 1),
	TX("SELECT /", R, 0, "select", 1),
	TX("SELECT 1e", R, 0, "select", 1),
};

#define NCASES (sizeof(corpus) / sizeof(corpus[0]))

/* ---- helpers -------------------------------------------------------------- */

/* A printable, shortened copy of a text for test names. */
static const char *show(const char *s, size_t len)
{
	static char buf[96];
	size_t i, o = 0;

	for (i = 0; i < len && o < sizeof(buf) - 8; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	if (i < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* Classify from an exact-size heap copy: no terminator after the text. */
static void classify_exact(const char *sql, size_t len, ClassifyResult *res)
{
	char *copy = malloc(len ? len : 1);

	if (!copy)
		bail("out of memory");
	if (len)
		memcpy(copy, sql, len);
	classify_sql(copy, len, res);
	free(copy);
}

static void classify_str(const char *sql, ClassifyResult *res)
{
	classify_exact(sql, strlen(sql), res);
}

static bool keyword_sane(const char *kw)
{
	size_t i;

	for (i = 0; i < CLASSIFY_KEYWORD_MAX; i++) {
		if (kw[i] == '\0')
			return true;
		if (kw[i] < 'a' || kw[i] > 'z')
			return false;
	}
	return false;
}

static bool result_sane(const ClassifyResult *r, size_t len)
{
	const uint32_t all = TB | RO | TE | HP | HR | SC;

	return keyword_sane(r->keyword)
		&& (r->kind == CLS_READ || r->kind == CLS_WRITE)
		&& r->reason != NULL && r->reason[0] != '\0'
		&& r->nstatements >= 0 && (size_t)r->nstatements <= len
		&& (r->flags & ~all) == 0
		&& (!(r->flags & HP) || r->kind == CLS_WRITE)
		&& (!(r->flags & RO) || (r->flags & TB));
}

static bool same_result(const ClassifyResult *a, const ClassifyResult *b)
{
	return a->kind == b->kind && a->flags == b->flags
		&& a->nstatements == b->nstatements
		&& strcmp(a->keyword, b->keyword) == 0
		&& strcmp(a->reason, b->reason) == 0;
}

/* ---- the corpus ----------------------------------------------------------- */

static bool case_matches(const Case *c, const ClassifyResult *r)
{
	return r->kind == c->kind && r->flags == c->flags
		&& strcmp(r->keyword, c->keyword) == 0
		&& r->nstatements == c->nstatements
		&& (!c->reason || strcmp(r->reason, c->reason) == 0);
}

static void test_corpus(void)
{
	size_t i;

	for (i = 0; i < NCASES; i++) {
		const Case *c = &corpus[i];
		ClassifyResult r;

		classify_str(c->sql, &r);
		if (!ok(case_matches(c, &r), "%s: %s", classify_kind_name(c->kind),
		        show(c->sql, strlen(c->sql))))
			diag("  got kind %s flags 0x%x keyword '%s' nstatements %d reason '%s';"
			     " want flags 0x%x keyword '%s' nstatements %d reason '%s'",
			     classify_kind_name(r.kind), (unsigned)r.flags, r.keyword,
			     r.nstatements, r.reason, (unsigned)c->flags, c->keyword,
			     c->nstatements, c->reason ? c->reason : "(any)");
	}
	ok(NCASES >= 150, "corpus has %zu statements", NCASES);
}

/* Every prefix of every text: sane, and (ASan) in bounds. */
static void test_prefixes(void)
{
	size_t i, n, bad = 0, total = 0;

	for (i = 0; i < NCASES; i++) {
		size_t len = strlen(corpus[i].sql);

		for (n = 0; n <= len; n++) {
			ClassifyResult r;

			classify_exact(corpus[i].sql, n, &r);
			total++;
			if (!result_sane(&r, n) && bad++ < 5)
				diag("  insane result for prefix %s", show(corpus[i].sql, n));
		}
	}
	is_int(0, (long long)bad, "all %zu prefixes of the corpus give sane results", total);
}

/* Compose "<a><b>" into buf (bounded) and classify it. */
static void classify_pair(const char *a, const char *b, ClassifyResult *r)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "%s%s", a, b);
	classify_str(buf, r);
}

static void test_properties(void)
{
	size_t i, fail_tail = 0, fail_head = 0, n = 0;

	for (i = 0; i < NCASES; i++) {
		const Case *c = &corpus[i];
		ClassifyResult r;

		if (c->open)
			continue;
		n++;
		classify_pair(c->sql, "\n;DELETE FROM t", &r);
		if (r.kind != CLS_WRITE || r.nstatements != c->nstatements + 1) {
			if (fail_tail++ < 5)
				diag("  trailing DELETE missed after %s", show(c->sql, strlen(c->sql)));
		}
		classify_pair("SELECT 1;", c->sql, &r);
		if (r.kind != c->kind || r.flags != c->flags || r.nstatements != c->nstatements + 1
		    || strcmp(r.keyword, "select") != 0) {
			if (fail_head++ < 5)
				diag("  leading SELECT changed %s", show(c->sql, strlen(c->sql)));
		}
	}
	is_int(0, (long long)fail_tail, "a trailing ;DELETE makes each of %zu texts a write", n);
	is_int(0, (long long)fail_head, "a leading SELECT 1; changes none of %zu texts", n);
}

/* ---- random and mutated inputs ------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 16);
}

static const char *const fragments[] = {
	"select ", "SELECT", "with ", "insert", "update", "delete", "for", " for update",
	"into", "explain", "analyze", "(", ")", ",", ";", "'", "''", "\"", "E'", "e'\\",
	"\\", "\\'", "$$", "$a$", "$1", "$", "/*", "*/", "--", "\n", "\r", " ", "\t",
	"lagoon:primary", "lagoon:replica", "begin", "read only", "serializable",
	"commit", "copy", "to stdout", "from", "set local", "begin atomic", "end", "case",
	"1e5", "ü", "\xff", "\x80", "\0", "U&'", "create temp",
};

#define NFRAG (sizeof(fragments) / sizeof(fragments[0]))
#define FUZZ_MAX 512

/* Append a fragment (the NUL fragment is one byte). */
static size_t put_fragment(char *buf, size_t len)
{
	const char *f = fragments[rng() % NFRAG];
	size_t n = f[0] ? strlen(f) : 1;

	if (len + n > FUZZ_MAX)
		return len;
	memcpy(buf + len, f, n);
	return len + n;
}

static size_t gen_random(char *buf)
{
	size_t len = 0, parts = rng() % 40;

	while (parts--) {
		if (rng() % 4 == 0 && len < FUZZ_MAX)
			buf[len++] = (char)(rng() & 0xff);
		else
			len = put_fragment(buf, len);
	}
	return len;
}

static size_t gen_mutated(char *buf)
{
	const char *src = corpus[rng() % NCASES].sql;
	size_t len = strlen(src), edits = 1 + rng() % 4;

	memcpy(buf, src, len);
	while (edits--) {
		size_t at = len ? rng() % len : 0;

		switch (rng() % 4) {
		case 0:
			if (len)
				buf[at] = (char)(rng() & 0xff);
			break;
		case 1:
			len = at;    /* truncate */
			break;
		case 2: {        /* insert a fragment at `at` */
			char tmp[FUZZ_MAX];
			size_t n = put_fragment(tmp, 0);

			if (len + n <= FUZZ_MAX) {
				memmove(buf + at + n, buf + at, len - at);
				memcpy(buf + at, tmp, n);
				len += n;
			}
			break;
		}
		default:
			len = put_fragment(buf, len);
		}
	}
	return len;
}

static void test_fuzz(void)
{
	static const char hint[] = "/* lagoon:primary */";
	char buf[FUZZ_MAX + sizeof(hint)];
	size_t i, insane = 0, unstable = 0, unhinted = 0;
	const size_t rounds = 100000;

	for (i = 0; i < rounds; i++) {
		size_t len = (i & 1) ? gen_random(buf + sizeof(hint) - 1)
		                     : gen_mutated(buf + sizeof(hint) - 1);
		const char *text = buf + sizeof(hint) - 1;
		ClassifyResult a, b;

		classify_exact(text, len, &a);
		classify_exact(text, len, &b);
		if (!result_sane(&a, len) && insane++ < 5)
			diag("  insane result for %s", show(text, len));
		if (!same_result(&a, &b))
			unstable++;
		memcpy(buf, hint, sizeof(hint) - 1);
		classify_exact(buf, len + sizeof(hint) - 1, &a);
		if ((a.kind != CLS_WRITE || !(a.flags & HP)) && unhinted++ < 5)
			diag("  leading hint ignored before %s", show(text, len));
	}
	is_int(0, (long long)insane, "%zu random/mutated inputs: sane results, lower-case keywords", rounds);
	is_int(0, (long long)unstable, "classification is deterministic");
	is_int(0, (long long)unhinted, "a leading lagoon:primary hint always wins");
}

/* Long inputs: deep nesting, long dollar tags, many statements. */
static void test_long_inputs(void)
{
	static char buf[200000];
	ClassifyResult r;
	size_t i, n;

	/* 100k nested comment openers, never closed */
	for (i = 0; i + 1 < sizeof(buf); i += 2)
		memcpy(buf + i, "/*", 2);
	classify_exact(buf, sizeof(buf) - 1, &r);
	ok(r.kind == CLS_READ && r.nstatements == 0, "100k unclosed nested comments");

	/* a long dollar tag and a body of near-misses of it */
	n = (size_t)snprintf(buf, sizeof(buf), "SELECT $");
	memset(buf + n, 'a', 50000);
	n += 50000;
	buf[n++] = '$';
	for (i = 0; n + 60 < sizeof(buf); i++) {
		buf[n++] = '$';
		memset(buf + n, 'a', 40);
		n += 40;
	}
	classify_exact(buf, n, &r);
	ok(r.kind == CLS_READ && r.nstatements == 1, "long dollar tag, %zu near-misses", i);

	/* many statements */
	for (n = 0; n + 16 < sizeof(buf);)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "select %d;", 7);
	classify_exact(buf, n, &r);
	is_int((long long)(n / 9), r.nstatements, "%zu bytes of short selects", n);
	ok(r.kind == CLS_READ, "all of them reads");
	memcpy(buf + n, "delete", 6);
	classify_exact(buf, n + 6, &r);
	ok(r.kind == CLS_WRITE, "a write at the very end is seen");
}

static void test_null_input(void)
{
	ClassifyResult r;

	classify_sql(NULL, 0, &r);
	ok(r.kind == CLS_READ && r.nstatements == 0 && r.keyword[0] == '\0',
	   "NULL text is empty");
	is_str("read", classify_kind_name(CLS_READ), "kind name read");
	is_str("write", classify_kind_name(CLS_WRITE), "kind name write");
}

/* lagoon:ryw_key=VALUE hints: the value points into the text */
static void test_ryw_key(void)
{
	static const struct { const char *sql, *key; } cases[] = {
		{ "SELECT 1 /* lagoon:ryw_key=cart-42 */", "cart-42" },
		{ "/* LAGOON:RYW_KEY=u@x.y:1 */ INSERT INTO t VALUES (1)", "u@x.y:1" },
		{ "BEGIN -- lagoon:ryw_key=a_b\nSELECT 1", "a_b" },
		{ "SELECT 1 /* lagoon:ryw_key=first */ /* lagoon:ryw_key=second */", "first" },
		{ "SELECT 'lagoon:ryw_key=in-a-string'", NULL },
		{ "SELECT 1 /* lagoon:ryw_key= */", NULL },
		{ "SELECT 1 /* lagoon:ryw_key=bad/key */", NULL },
		{ "SELECT 1 /* xlagoon:ryw_key=k */", NULL },
		{ "SELECT 1 /* lagoon:ryw_key=0123456789012345678901234567890123456789012345678901234567890123 */", NULL },
	};
	ClassifyResult r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		classify_sql(cases[i].sql, strlen(cases[i].sql), &r);
		if (!cases[i].key)
			ok(r.ryw_key == NULL, "no ryw_key in: %s", cases[i].sql);
		else
			ok(r.ryw_key && r.ryw_key_len == strlen(cases[i].key) &&
			   memcmp(r.ryw_key, cases[i].key, r.ryw_key_len) == 0,
			   "ryw_key %s in: %s", cases[i].key, cases[i].sql);
	}
	classify_sql("SELECT 1 /* lagoon:ryw_key=k1 */", 32, &r);
	ok(r.kind == CLS_READ, "a ryw_key hint does not change the classification");
}

/* ---- throughput (diagnostic only) ---------------------------------------- */

static double now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e9 + (double)t.tv_nsec;
}

/* Best of `rounds` runs of `iters` calls: the machine may be shared. */
static double bench_ns(const char *sql, int rounds, long iters)
{
	size_t len = strlen(sql);
	volatile int sink = 0;
	double best = 0;
	ClassifyResult r;
	long i;

	while (rounds--) {
		double t0 = now_ns(), ns;

		for (i = 0; i < iters; i++) {
			classify_sql(sql, len, &r);
			sink += r.kind;
		}
		ns = (now_ns() - t0) / (double)iters;
		if (best == 0 || ns < best)
			best = ns;
	}
	(void)sink;
	return best;
}

static void bench(void)
{
	static const char *const queries[] = {
		"SELECT abalance FROM pgbench_accounts WHERE aid = $1",
		"UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2",
		"/* app:web */ WITH x AS (SELECT a, b FROM t WHERE c = 'x;y') SELECT * FROM x ORDER BY a",
	};
	size_t i;

	for (i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
		double ns = bench_ns(queries[i], 20, 50000);

		diag("throughput: %.1f ns per classification (%.2f M/s, best of 20) of %s",
		     ns, 1e3 / ns, queries[i]);
	}
}

int main(void)
{
	plan_lazy();
	test_corpus();
	test_prefixes();
	test_properties();
	test_fuzz();
	test_long_inputs();
	test_null_input();
	test_ryw_key();
	bench();
	return exit_status();
}
