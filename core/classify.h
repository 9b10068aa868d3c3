/*
 * classify.h - the SQL classifier: decides whether the text of a Query (or
 * of a Parse) may run on a read-only standby or must go to the primary.
 *
 * It is a lexer, not a parser.  It skips whitespace and comments (`--` to
 * the end of the line, nested block comments), steps over string literals
 * ('...' with '' escapes, E'...' with backslash escapes, $tag$...$tag$),
 * quoted identifiers ("...") and parameters ($1), splits statements on ';'
 * outside all of those, and looks at each statement's leading keyword plus
 * the few later keywords that change the answer.  It never allocates, runs
 * in O(len), never reads past `len` (the text need not be NUL-terminated)
 * and accepts arbitrary bytes.  Keywords are case-insensitive whole words.
 *
 * The whole text is CLS_READ only if every statement in it is; an empty
 * text (whitespace and comments only) is CLS_READ with nstatements 0.
 *
 * Read-only eligible:
 *   SELECT, VALUES, TABLE and parenthesised selects -- unless a locking
 *     clause (FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE) or INTO
 *     appears, at any parenthesis depth;
 *   WITH -- the same, and no INSERT/UPDATE/DELETE/MERGE word anywhere in it;
 *   SHOW; EXPLAIN without ANALYZE (it never executes the statement);
 *   EXPLAIN ANALYZE / EXPLAIN (ANALYZE [true|on], ...) of a read-only
 *     statement (the explained statement is classified like a top one;
 *     ANALYZE false/off counts as no ANALYZE);
 *   BEGIN / START TRANSACTION with READ ONLY, without READ WRITE and
 *     without ISOLATION LEVEL SERIALIZABLE (standbys refuse serializable);
 *   COMMIT / END / ROLLBACK / ABORT (CLS_F_TXN_END: they decide nothing),
 *     ROLLBACK TO SAVEPOINT, SAVEPOINT, RELEASE;
 *   SET LOCAL: it lasts only for the current transaction, which already
 *     lives wherever it was sent (and `SET LOCAL ...; SELECT ...` in one
 *     Query is an implicit transaction that a standby can run);
 *   COPY t TO STDOUT and COPY (query) TO STDOUT when the query has no
 *     INSERT/UPDATE/DELETE/MERGE, locking or INTO word.
 * Everything else is CLS_WRITE, in particular: plain BEGIN (a block that may
 * write), SET TRANSACTION, SET CONSTRAINTS, COMMIT/ROLLBACK PREPARED and
 * PREPARE TRANSACTION, COPY FROM and COPY TO a file or program, the cursor
 * statements (DECLARE, FETCH, MOVE, CLOSE), EXECUTE, DO, CALL, LOCK,
 * NOTIFY, all DML/DDL/maintenance, and any unknown leading word.
 * Session-changing statements are CLS_WRITE and set CLS_F_SESSION_CHANGE:
 * SET [SESSION], RESET, DISCARD, PREPARE, DEALLOCATE, LISTEN, UNLISTEN,
 * LOAD, CREATE TEMP..., DECLARE ... WITH HOLD.
 *
 * Hint comments: `lagoon:primary` or `lagoon:replica` (case-insensitive, as
 * a whole word) anywhere inside a block or line comment, in any statement:
 *     SELECT ... -- lagoon:primary        forces CLS_WRITE, reason "hint"
 *     (block form: a slash-star comment holding lagoon:primary)
 *     SELECT ... -- lagoon:replica        CLS_F_HINT_REPLICA only: the
 *                                         classification still decides
 * If both appear, primary wins.
 *     SELECT ... -- lagoon:ryw_key=cart-42   ryw_key: the read-your-writes
 *                                         key the transaction shares its
 *                                         writes and reads under (routing.c;
 *                                         either comment form)
 *
 * Known limits, all on the safe side or caught by the standby itself (a
 * write that reaches a standby fails with SQLSTATE 25006 before changing
 * anything):
 *   - plain '...' strings follow standard_conforming_strings = on (the
 *     default since 9.1): a backslash there is an ordinary character;
 *   - in a CREATE, BEGIN ATOMIC ... END (a SQL-standard function body)
 *     is one statement: as in psql, CASE ... END pairs are counted inside
 *     it and ';' splits nothing until its END (an unclosed body swallows
 *     the rest of the text, which is CLS_WRITE anyway);
 *   - a SELECT of a volatile function that writes (nextval(), set_config(),
 *     advisory locks, ...) is CLS_READ: the standby refuses the write and
 *     the core replays the transaction on the primary.
 */
#ifndef LAGOON_CLASSIFY_H
#define LAGOON_CLASSIFY_H

#include <stddef.h>
#include <stdint.h>

typedef enum ClassifyKind {
	CLS_READ = 0,   /* may run on a read-only standby */
	CLS_WRITE = 1   /* must run on the primary */
} ClassifyKind;

/* Flags are the union over all statements of the text. */
#define CLS_F_TXN_BEGIN       0x0001u  /* BEGIN / START TRANSACTION */
#define CLS_F_TXN_READ_ONLY   0x0002u  /* ... READ ONLY, not serializable */
#define CLS_F_TXN_END         0x0004u  /* COMMIT/END/ROLLBACK/ABORT, PREPARE TRANSACTION */
#define CLS_F_HINT_PRIMARY    0x0008u  /* a lagoon:primary hint comment */
#define CLS_F_HINT_REPLICA    0x0010u  /* a lagoon:replica hint comment */
#define CLS_F_SESSION_CHANGE  0x0020u  /* changes state of the server session */

#define CLASSIFY_KEYWORD_MAX 24

typedef struct ClassifyResult {
	uint32_t flags;                      /* CLS_F_* */
	char keyword[CLASSIFY_KEYWORD_MAX];  /* first statement's leading word,
	                                      * lower-case ASCII letters only;
	                                      * "" if none or not such a word */
	int nstatements;                     /* non-empty statements */
	ClassifyKind kind;                   /* for the whole text */
	const char *reason;                  /* static, never NULL: why CLS_WRITE
	                                      * (the first write statement's
	                                      * reason), "read-only" if CLS_READ */
	const char *ryw_key;                 /* the value of the first hint
	                                      * lagoon:ryw_key=VALUE (points into
	                                      * the text, ryw_key_len bytes); NULL
	                                      * if none */
	uint32_t ryw_key_len;                /* 1..CLASSIFY_RYW_KEY_MAX */
} ClassifyResult;

/* A ryw_key hint value: 1..63 bytes of [A-Za-z0-9_.:@-]; a longer one is
 * not a hint. */
#define CLASSIFY_RYW_KEY_MAX 63

void classify_sql(const char *sql, size_t len, ClassifyResult *out);

/* "read" / "write" */
const char *classify_kind_name(ClassifyKind kind);

#endif
