/*
 * classify.c - the SQL classifier (rules and limits in classify.h).
 *
 * Two layers.  The lexer turns bytes into tokens -- words, ';', '(', ')',
 * ',' and "other" (literals, quoted identifiers, parameters, operators) --
 * skipping whitespace and comments and noting hint comments on the way.
 * Each statement then runs a small state machine chosen by its leading
 * keyword (the table kw_table): most statements are decided by that word
 * alone, a few (SELECT/WITH, EXPLAIN, BEGIN, SET, COPY, ...) watch the
 * later words that can change the verdict.  EXPLAIN ANALYZE feeds the
 * explained statement back through the same dispatch.
 *
 * Every read is bounded by the end pointer; dollar-quote and comment ends
 * are searched with loops that stop at the first mismatching byte, so the
 * whole pass is linear in the input whatever it holds.
 */
#include "classify.h"

#include <stdbool.h>
#include <string.h>

/* ---- the lexer ---------------------------------------------------------- */

enum {
	TOK_EOF,
	TOK_WORD,
	TOK_SEMI,
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_COMMA,
	TOK_OTHER
};

typedef struct Lexer {
	const unsigned char *p;
	const unsigned char *end;
	uint32_t hints;                /* CLS_F_HINT_* seen in comments */
	const char *ryw_key;           /* first lagoon:ryw_key=VALUE, or NULL */
	uint32_t ryw_key_len;
} Lexer;

typedef struct Token {
	int type;
	const unsigned char *s;
	size_t n;
} Token;

/* Character classes, as PostgreSQL's scanner sees bytes. */
#define C_START 1   /* starts an identifier: letter, '_', any byte >= 0x80 */
#define C_CONT  2   /* continues one: the above, digits, '$' */
#define C_SPACE 4
#define C_DIGIT 8

static const unsigned char cclass[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 4, 4, 4, 4, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	4, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 0, 0, 0, 0, 0, 0,
	0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 3,
	0, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0, 0, 0, 0,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
	3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
};

static inline bool is_space(unsigned char c)
{
	return cclass[c] & C_SPACE;
}

static inline bool is_digit(unsigned char c)
{
	return cclass[c] & C_DIGIT;
}

static inline bool is_ident_start(unsigned char c)
{
	return cclass[c] & C_START;
}

static inline bool is_ident_cont(unsigned char c)
{
	return cclass[c] & C_CONT;
}

/* Does [p, end) start with the lower-case word lc, case-insensitively? */
static bool prefix_ci(const unsigned char *p, const unsigned char *end, const char *lc)
{
	for (; *lc; p++, lc++) {
		if (p >= end || (*p | 0x20) != (unsigned char)*lc)
			return false;
	}
	return true;
}

/* A hint "lagoon:primary" / "lagoon:replica" at p, as a whole word. */
static uint32_t hint_at(const unsigned char *p, const unsigned char *end)
{
	static const char tag[] = "lagoon:";
	const unsigned char *q = p + sizeof(tag) - 1;
	uint32_t flag;

	if (!prefix_ci(p, end, tag))
		return 0;
	if (prefix_ci(q, end, "primary"))
		flag = CLS_F_HINT_PRIMARY;
	else if (prefix_ci(q, end, "replica"))
		flag = CLS_F_HINT_REPLICA;
	else
		return 0;
	q += 7;
	return (q >= end || !is_ident_cont(*q)) ? flag : 0;
}

static bool is_key_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '_' || c == '.' || c == ':' || c == '@' || c == '-';
}

/* "lagoon:ryw_key=VALUE" at p: note the first one. */
static void ryw_key_at(Lexer *lx, const unsigned char *p, const unsigned char *end)
{
	/* "lagoon:ryw" "_" "key=": prefix_ci() folds case, which '_' does not survive */
	const unsigned char *v = p + 15, *q;

	if (lx->ryw_key || !prefix_ci(p, end, "lagoon:ryw") || p + 10 >= end || p[10] != '_' ||
	    !prefix_ci(p + 11, end, "key="))
		return;
	for (q = v; q < end && is_key_char(*q); q++)
		;
	/* the value ends at a blank, the comment's end or the text's end */
	if (q == v || q - v > CLASSIFY_RYW_KEY_MAX ||
	    (q < end && *q != ' ' && *q != '\t' && *q != '\n' && *q != '\r' && *q != '*'))
		return;
	lx->ryw_key = (const char *)v;
	lx->ryw_key_len = (uint32_t)(q - v);
}

/* Look for hints in a comment's body [p, end). */
static void scan_hints(Lexer *lx, const unsigned char *p, const unsigned char *end)
{
	const unsigned char *start = p;

	for (; p < end; p++) {
		if ((*p | 0x20) != 'l' || (p > start && is_ident_cont(p[-1])))
			continue;
		lx->hints |= hint_at(p, end);
		ryw_key_at(lx, p, end);
	}
}

/* "--" up to the end of the line. */
static void skip_line_comment(Lexer *lx)
{
	const unsigned char *body = lx->p + 2;
	const unsigned char *p = body;

	while (p < lx->end && *p != '\n' && *p != '\r')
		p++;
	scan_hints(lx, body, p);
	lx->p = p;
}

/* A block comment; they nest.  Unterminated: to the end of the text. */
static void skip_block_comment(Lexer *lx)
{
	const unsigned char *body = lx->p + 2;
	const unsigned char *p = body;
	int depth = 1;

	while (p < lx->end) {
		if (p + 1 < lx->end && p[0] == '/' && p[1] == '*') {
			depth++;
			p += 2;
		} else if (p + 1 < lx->end && p[0] == '*' && p[1] == '/') {
			p += 2;
			if (--depth == 0)
				break;
		} else {
			p++;
		}
	}
	scan_hints(lx, body, p);
	lx->p = p;
}

/* Skip whitespace and comments. */
static void skip_blanks(Lexer *lx)
{
	while (lx->p < lx->end) {
		const unsigned char *p = lx->p;
		bool two = p + 1 < lx->end;

		if (is_space(*p))
			lx->p++;
		else if (two && p[0] == '-' && p[1] == '-')
			skip_line_comment(lx);
		else if (two && p[0] == '/' && p[1] == '*')
			skip_block_comment(lx);
		else
			break;
	}
}

/*
 * A literal closed by `quote` (doubled to escape it), starting at the
 * opening quote; with `backslash` a backslash escapes the next byte (E'').
 */
static void skip_quoted(Lexer *lx, unsigned char quote, bool backslash)
{
	const unsigned char *p = lx->p + 1;

	while (p < lx->end) {
		if (backslash && *p == '\\') {
			p += (p + 1 < lx->end) ? 2 : 1;
		} else if (*p == quote) {
			if (p + 1 < lx->end && p[1] == quote) {
				p += 2;
			} else {
				p++;
				break;
			}
		} else {
			p++;
		}
	}
	lx->p = p;
}

/* Length of the dollar-quote delimiter ($$ or $tag$) at p, 0 if none. */
static size_t dollar_tag_len(const unsigned char *p, const unsigned char *end)
{
	const unsigned char *q = p + 1;

	if (q < end && *q != '$') {
		if (!is_ident_start(*q))
			return 0;
		while (q < end && (is_ident_start(*q) || is_digit(*q)))
			q++;
	}
	return (q < end && *q == '$') ? (size_t)(q - p) + 1 : 0;
}

/* Does [p, end) start with the n bytes of tag?  Stops at a mismatch. */
static bool tag_at(const unsigned char *p, const unsigned char *end,
                   const unsigned char *tag, size_t n)
{
	size_t i;

	if ((size_t)(end - p) < n)
		return false;
	for (i = 0; i < n; i++) {
		if (p[i] != tag[i])
			return false;
	}
	return true;
}

/*
 * '$' at lx->p: a parameter ($1), a dollar-quoted string, or a lone '$'.
 * The closing tag is searched only at '$' bytes; a tag holds no '$', so a
 * failed comparison never overlaps the next candidate: linear time.
 */
static void skip_dollar(Lexer *lx)
{
	const unsigned char *tag = lx->p;
	const unsigned char *p;
	size_t n;

	if (tag + 1 < lx->end && is_digit(tag[1])) {
		p = tag + 1;
		while (p < lx->end && is_digit(*p))
			p++;
		lx->p = p;
		return;
	}
	n = dollar_tag_len(tag, lx->end);
	if (n == 0) {
		lx->p++;
		return;
	}
	p = tag + n;
	while (p < lx->end) {
		p = memchr(p, '$', (size_t)(lx->end - p));
		if (!p) {
			p = lx->end;
			break;
		}
		if (tag_at(p, lx->end, tag, n)) {
			p += n;
			break;
		}
		p++;
	}
	lx->p = p;
}

/* A numeric literal: digits [. digits] [e [+-] digits]. */
static void skip_number(Lexer *lx)
{
	const unsigned char *p = lx->p;
	const unsigned char *end = lx->end;

	while (p < end && (is_digit(*p) || *p == '_'))
		p++;
	if (p + 1 < end && *p == '.' && is_digit(p[1])) {
		p++;
		while (p < end && (is_digit(*p) || *p == '_'))
			p++;
	}
	if (p + 1 < end && (*p | 0x20) == 'e') {
		const unsigned char *q = p + 1;

		if ((*q == '+' || *q == '-') && q + 1 < end)
			q++;
		if (is_digit(*q)) {
			p = q;
			while (p < end && is_digit(*p))
				p++;
		}
	}
	lx->p = p;
}

/* A word, or an E'...' string when the word is a lone E before a quote. */
static int lex_word(Lexer *lx)
{
	const unsigned char *s = lx->p;
	const unsigned char *p = s + 1;

	while (p < lx->end && is_ident_cont(*p))
		p++;
	lx->p = p;
	if (p - s == 1 && (*s | 0x20) == 'e' && p < lx->end && *p == '\'') {
		lx->p = p;
		skip_quoted(lx, '\'', true);
		return TOK_OTHER;
	}
	return TOK_WORD;
}

static int lex_punct(Lexer *lx)
{
	unsigned char c = *lx->p;

	switch (c) {
	case '\'':
		skip_quoted(lx, '\'', false);
		return TOK_OTHER;
	case '"':
		skip_quoted(lx, '"', false);
		return TOK_OTHER;
	case '$':
		skip_dollar(lx);
		return TOK_OTHER;
	case ';':
		lx->p++;
		return TOK_SEMI;
	case '(':
		lx->p++;
		return TOK_LPAREN;
	case ')':
		lx->p++;
		return TOK_RPAREN;
	case ',':
		lx->p++;
		return TOK_COMMA;
	default:
		lx->p++;
		return TOK_OTHER;
	}
}

static void next_token(Lexer *lx, Token *t)
{
	skip_blanks(lx);
	t->s = lx->p;
	if (lx->p >= lx->end) {
		t->type = TOK_EOF;
		t->n = 0;
		return;
	}
	if (is_ident_start(*lx->p)) {
		t->type = lex_word(lx);
	} else if (is_digit(*lx->p)) {
		skip_number(lx);
		t->type = TOK_OTHER;
	} else {
		t->type = lex_punct(lx);
	}
	t->n = (size_t)(lx->p - t->s);
}

/* ---- words -------------------------------------------------------------- */

/* Is the token the word lc (lower-case ASCII letters), in any case? */
static bool word_eq(const Token *t, const char *lc, size_t n)
{
	size_t i;

	if (t->type != TOK_WORD || t->n != n)
		return false;
	for (i = 0; i < n; i++) {
		if ((t->s[i] | 0x20) != (unsigned char)lc[i])
			return false;
	}
	return true;
}

#define WORD_IS(t, lit) word_eq((t), (lit), sizeof(lit) - 1)

/* Is the token one of the NULL-terminated list of words? */
static bool word_in(const Token *t, const char *const *list)
{
	if (t->type != TOK_WORD)
		return false;
	for (; *list; list++) {
		if (word_eq(t, *list, strlen(*list)))
			return true;
	}
	return false;
}

/*
 * Lower-case a word into buf if it is ASCII letters only and fits; else
 * leave buf empty.  Returns the length copied.
 */
static size_t word_lower(const Token *t, char *buf)
{
	size_t i;

	buf[0] = '\0';
	if (t->n >= CLASSIFY_KEYWORD_MAX)
		return 0;
	for (i = 0; i < t->n; i++) {
		unsigned char l = t->s[i] | 0x20;

		if (l < 'a' || l > 'z') {
			buf[0] = '\0';
			return 0;
		}
		buf[i] = (char)l;
	}
	buf[i] = '\0';
	return i;
}

/* ---- statements --------------------------------------------------------- */

enum {
	M_START,        /* before the leading keyword (or inside leading '(') */
	M_DONE,         /* decided: ignore the rest up to ';' */
	M_QUERY,        /* SELECT / VALUES / TABLE / WITH */
	M_EXPLAIN,
	M_BEGIN,        /* BEGIN / START TRANSACTION */
	M_END,          /* COMMIT / END / ROLLBACK / ABORT */
	M_SET,
	M_PREPARE,
	M_COPY,
	M_CREATE,
	M_DECLARE
};

/* EXPLAIN sub-states */
enum { EX_START, EX_OPTS, EX_OLD, EX_STMT };

typedef struct Stmt {
	int mode;
	int ntok;              /* tokens so far */
	int nword;             /* words after the leading keyword (some modes) */
	int depth;             /* parenthesis depth */
	int sub;               /* EXPLAIN sub-state */
	bool write;
	bool cte;              /* M_QUERY of a WITH: DML words are writes */
	bool inner;            /* re-dispatched by EXPLAIN ANALYZE */
	bool start_txn;        /* START: needs TRANSACTION */
	bool prev_for, prev_read, prev_with, prev_to;
	bool ro, rw, serializable, bad_mode;
	bool analyze, opt_name, opt_is_analyze;
	bool copy_ok;
	bool is_create, prev_begin;
	int atomic;            /* CREATE ... BEGIN ATOMIC nesting (CASE/END) */
	uint32_t flags;
	const char *reason;
	char keyword[CLASSIFY_KEYWORD_MAX];
} Stmt;

typedef struct Keyword {
	const char *name;
	unsigned char len;
	unsigned char mode;
	bool write;
	unsigned char opt;     /* KO_* */
	uint32_t flags;
	const char *reason;
} Keyword;

#define KO_CTE    1        /* WITH */
#define KO_START  2        /* START: TRANSACTION must follow */

#define KWO(name, mode, write, flags, reason, opt) \
	{ name, sizeof(name) - 1, mode, write, opt, flags, reason }
#define KW(name, mode, write, flags, reason) KWO(name, mode, write, flags, reason, 0)

static const char R_READ[] = "read-only";
static const char R_DML[] = "data modification";
static const char R_DDL[] = "ddl";
static const char R_MAINT[] = "maintenance";
static const char R_CURSOR[] = "cursor";
static const char R_SESSION[] = "session change";
static const char R_UNKNOWN[] = "unknown keyword";

/* Most frequent first: the lookup is a linear scan. */
static const Keyword kw_table[] = {
	KW("select", M_QUERY, false, 0, R_READ),
	KW("begin", M_BEGIN, false, CLS_F_TXN_BEGIN, R_READ),
	KW("commit", M_END, false, CLS_F_TXN_END, R_READ),
	KW("insert", M_DONE, true, 0, R_DML),
	KW("update", M_DONE, true, 0, R_DML),
	KW("delete", M_DONE, true, 0, R_DML),
	KW("rollback", M_END, false, CLS_F_TXN_END, R_READ),
	KWO("with", M_QUERY, false, 0, R_READ, KO_CTE),
	KW("set", M_SET, true, CLS_F_SESSION_CHANGE, R_SESSION),
	KW("show", M_DONE, false, 0, R_READ),
	KW("values", M_QUERY, false, 0, R_READ),
	KW("table", M_QUERY, false, 0, R_READ),
	KW("explain", M_EXPLAIN, false, 0, R_READ),
	KWO("start", M_BEGIN, false, CLS_F_TXN_BEGIN, R_READ, KO_START),
	KW("end", M_END, false, CLS_F_TXN_END, R_READ),
	KW("abort", M_END, false, CLS_F_TXN_END, R_READ),
	KW("savepoint", M_DONE, false, 0, R_READ),
	KW("release", M_DONE, false, 0, R_READ),
	KW("merge", M_DONE, true, 0, R_DML),
	KW("copy", M_COPY, true, 0, "copy"),
	KW("truncate", M_DONE, true, 0, R_DML),
	KW("lock", M_DONE, true, 0, "lock"),
	KW("reset", M_DONE, true, CLS_F_SESSION_CHANGE, R_SESSION),
	KW("discard", M_DONE, true, CLS_F_SESSION_CHANGE, R_SESSION),
	KW("prepare", M_PREPARE, true, CLS_F_SESSION_CHANGE, R_SESSION),
	KW("deallocate", M_DONE, true, CLS_F_SESSION_CHANGE, R_SESSION),
	KW("listen", M_DONE, true, CLS_F_SESSION_CHANGE, R_SESSION),
	KW("unlisten", M_DONE, true, CLS_F_SESSION_CHANGE, R_SESSION),
	KW("load", M_DONE, true, CLS_F_SESSION_CHANGE, R_SESSION),
	KW("notify", M_DONE, true, 0, "notify"),
	KW("execute", M_DONE, true, 0, "execute"),
	KW("do", M_DONE, true, 0, "procedural code"),
	KW("call", M_DONE, true, 0, "procedural code"),
	KW("declare", M_DECLARE, true, 0, R_CURSOR),
	KW("fetch", M_DONE, true, 0, R_CURSOR),
	KW("move", M_DONE, true, 0, R_CURSOR),
	KW("close", M_DONE, true, 0, R_CURSOR),
	KW("create", M_CREATE, true, 0, R_DDL),
	KW("drop", M_DONE, true, 0, R_DDL),
	KW("alter", M_DONE, true, 0, R_DDL),
	KW("grant", M_DONE, true, 0, R_DDL),
	KW("revoke", M_DONE, true, 0, R_DDL),
	KW("comment", M_DONE, true, 0, R_DDL),
	KW("security", M_DONE, true, 0, R_DDL),
	KW("import", M_DONE, true, 0, R_DDL),
	KW("reassign", M_DONE, true, 0, R_DDL),
	KW("refresh", M_DONE, true, 0, R_DDL),
	KW("vacuum", M_DONE, true, 0, R_MAINT),
	KW("analyze", M_DONE, true, 0, R_MAINT),
	KW("analyse", M_DONE, true, 0, R_MAINT),
	KW("cluster", M_DONE, true, 0, R_MAINT),
	KW("reindex", M_DONE, true, 0, R_MAINT),
	KW("checkpoint", M_DONE, true, 0, R_MAINT),
};

static const Keyword kw_unknown = KW("", M_DONE, true, 0, R_UNKNOWN);

static bool same_bytes(const char *a, const char *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (a[i] != b[i])
			return false;
	}
	return true;
}

static const Keyword *kw_lookup(const char *buf, size_t n)
{
	size_t i;

	if (n == 0)
		return &kw_unknown;
	for (i = 0; i < sizeof(kw_table) / sizeof(kw_table[0]); i++) {
		const Keyword *k = &kw_table[i];

		if (k->len == n && same_bytes(k->name, buf, n))
			return k;
	}
	return &kw_unknown;
}

static void stmt_reset(Stmt *st)
{
	memset(st, 0, sizeof(*st));
	st->reason = R_READ;
}

static void set_write(Stmt *st, const char *reason)
{
	st->write = true;
	st->reason = reason;
	st->mode = M_DONE;
}

static void set_read(Stmt *st)
{
	st->write = false;
	st->reason = R_READ;
	st->mode = M_DONE;
}

/* The leading keyword (or the one EXPLAIN ANALYZE explains). */
static void dispatch(Stmt *st, const Token *t)
{
	char buf[CLASSIFY_KEYWORD_MAX];
	size_t n = word_lower(t, buf);
	const Keyword *k = kw_lookup(buf, n);

	if (!st->inner)
		memcpy(st->keyword, buf, n + 1);
	st->mode = k->mode;
	st->write = k->write;
	st->reason = k->reason;
	st->flags |= k->flags;
	st->cte = (k->opt & KO_CTE) != 0;
	st->start_txn = (k->opt & KO_START) != 0;
	st->is_create = (k->mode == M_CREATE);
	st->nword = 0;
}

static void on_start(Stmt *st, const Token *t)
{
	if (t->type == TOK_LPAREN)
		st->depth++;
	else if (t->type == TOK_WORD)
		dispatch(st, t);
	else
		set_write(st, R_UNKNOWN);
}

static void track_depth(Stmt *st, const Token *t)
{
	if (t->type == TOK_LPAREN)
		st->depth++;
	else if (t->type == TOK_RPAREN && st->depth > 0)
		st->depth--;
}

static const char *const lock_strength[] = { "update", "share", "no", "key", NULL };

/* INSERT / UPDATE / DELETE / MERGE: called on every word of a WITH. */
static bool is_dml_word(const Token *t)
{
	if (t->n == 6)
		return WORD_IS(t, "insert") || WORD_IS(t, "update") || WORD_IS(t, "delete");
	return WORD_IS(t, "merge");
}

/*
 * Words that make a query write, at any depth: a locking clause, INTO,
 * and in a WITH (or a COPY query) any data-modifying keyword.
 */
static const char *query_word(Stmt *st, const Token *t, bool dml)
{
	bool after_for = st->prev_for;

	st->prev_for = false;
	if (t->type != TOK_WORD)
		return NULL;
	if (after_for && word_in(t, lock_strength))
		return "for update/share";
	if (WORD_IS(t, "for"))
		st->prev_for = true;
	else if (WORD_IS(t, "into"))
		return "select into";
	else if (dml && is_dml_word(t))
		return "data-modifying with";
	return NULL;
}

static void on_query(Stmt *st, const Token *t)
{
	const char *why;

	track_depth(st, t);
	why = query_word(st, t, st->cte);
	if (why)
		set_write(st, why);
}

/* EXPLAIN: reached the explained statement. */
static void explain_target(Stmt *st, const Token *t)
{
	if (!st->analyze) {
		set_read(st);
		return;
	}
	st->inner = true;
	st->depth = 0;
	st->mode = M_START;
	on_start(st, t);
}

static void explain_option(Stmt *st, const Token *t)
{
	track_depth(st, t);
	if (st->depth == 0) {
		st->sub = EX_STMT;
	} else if (t->type == TOK_COMMA && st->depth == 1) {
		st->opt_name = true;
	} else if (t->type == TOK_WORD && st->opt_name) {
		st->opt_name = false;
		st->opt_is_analyze = WORD_IS(t, "analyze") || WORD_IS(t, "analyse");
		if (st->opt_is_analyze)
			st->analyze = true;
	} else if (t->type == TOK_WORD && st->opt_is_analyze) {
		if (WORD_IS(t, "false") || WORD_IS(t, "off"))
			st->analyze = false;
	}
}

static void on_explain(Stmt *st, const Token *t)
{
	bool an = WORD_IS(t, "analyze") || WORD_IS(t, "analyse");

	switch (st->sub) {
	case EX_START:
		if (t->type == TOK_LPAREN) {
			st->depth = 1;
			st->opt_name = true;
			st->sub = EX_OPTS;
			return;
		}
		/* fall through */
	case EX_OLD:
		if (an || WORD_IS(t, "verbose")) {
			st->analyze |= an;
			st->sub = EX_OLD;
			return;
		}
		/* fall through */
	case EX_STMT:
		if (t->type == TOK_WORD || t->type == TOK_LPAREN)
			explain_target(st, t);
		else
			set_read(st);
		return;
	default:
		explain_option(st, t);
	}
}

static const char *const txn_words[] = {
	"work", "transaction", "isolation", "level", "repeatable", "committed",
	"uncommitted", "not", "deferrable", NULL
};

/* BEGIN / START TRANSACTION modes; the verdict comes at the end. */
static void on_begin(Stmt *st, const Token *t)
{
	bool after_read = st->prev_read;

	st->prev_read = false;
	if (st->start_txn && st->nword++ == 0 && !WORD_IS(t, "transaction"))
		st->bad_mode = true;
	if (t->type == TOK_COMMA)
		return;
	if (after_read && WORD_IS(t, "only"))
		st->ro = true;
	else if (after_read && WORD_IS(t, "write"))
		st->rw = true;
	else if (WORD_IS(t, "read"))
		st->prev_read = true;
	else if (WORD_IS(t, "serializable"))
		st->serializable = true;
	else if (!word_in(t, txn_words))
		st->bad_mode = true;
}

static void finish_begin(Stmt *st)
{
	if (st->bad_mode)
		set_write(st, "unknown transaction mode");
	else if (st->serializable)
		set_write(st, "serializable transaction");
	else if (st->rw || !st->ro)
		set_write(st, "transaction block");
	else
		st->flags |= CLS_F_TXN_READ_ONLY;
}

/* COMMIT / ROLLBACK: PREPARED is two-phase commit, TO a savepoint. */
static void on_end(Stmt *st, const Token *t)
{
	if (WORD_IS(t, "prepared")) {
		st->flags &= ~CLS_F_TXN_END;
		set_write(st, "two-phase commit");
	} else if (WORD_IS(t, "to")) {
		st->flags &= ~CLS_F_TXN_END;
		set_read(st);
	}
}

/* SET: the default (dispatch) is a session change. */
static void on_set(Stmt *st, const Token *t)
{
	st->mode = M_DONE;
	if (WORD_IS(t, "local")) {
		st->flags &= ~CLS_F_SESSION_CHANGE;
		set_read(st);
	} else if (WORD_IS(t, "transaction")) {
		st->flags &= ~CLS_F_SESSION_CHANGE;
		st->reason = "set transaction";
	} else if (WORD_IS(t, "constraints")) {
		st->flags &= ~CLS_F_SESSION_CHANGE;
		st->reason = "set constraints";
	}
}

/* PREPARE TRANSACTION ends the transaction; PREPARE name is session state. */
static void on_prepare(Stmt *st, const Token *t)
{
	st->mode = M_DONE;
	if (WORD_IS(t, "transaction")) {
		st->flags = (st->flags & ~CLS_F_SESSION_CHANGE) | CLS_F_TXN_END;
		st->reason = "two-phase commit";
	}
}

/* COPY ... TO STDOUT of a table or of a read-only query is a read. */
static void on_copy(Stmt *st, const Token *t)
{
	bool after_to = st->prev_to;
	const char *why;

	st->prev_to = false;
	track_depth(st, t);
	if (st->depth > 0 || t->type == TOK_RPAREN) {
		why = query_word(st, t, true);
		if (why)
			set_write(st, why);
	} else if (after_to) {
		if (WORD_IS(t, "stdout")) {
			st->copy_ok = true;
			set_read(st);
		} else {
			set_write(st, "copy to a file");
		}
	} else if (WORD_IS(t, "to")) {
		st->prev_to = true;
	} else if (WORD_IS(t, "from")) {
		set_write(st, "copy from");
	}
}

/* CREATE [OR REPLACE] [LOCAL|GLOBAL] TEMP...: session state too. */
static void on_create(Stmt *st, const Token *t)
{
	static const char *const skip[] = { "or", "replace", "local", "global", NULL };

	if (WORD_IS(t, "temp") || WORD_IS(t, "temporary")) {
		st->flags |= CLS_F_SESSION_CHANGE;
		st->mode = M_DONE;
	} else if (!word_in(t, skip) || ++st->nword > 3) {
		st->mode = M_DONE;
	}
}

/* DECLARE ... WITH HOLD outlives the transaction. */
static void on_declare(Stmt *st, const Token *t)
{
	bool after_with = st->prev_with;

	st->prev_with = WORD_IS(t, "with");
	if (after_with && WORD_IS(t, "hold")) {
		st->flags |= CLS_F_SESSION_CHANGE;
		st->mode = M_DONE;
	} else if (WORD_IS(t, "for")) {
		st->mode = M_DONE;
	}
}

/*
 * A SQL-standard function body (CREATE ... BEGIN ATOMIC ... END) holds bare
 * ';'.  Like psql, count CASE/END inside it; until the body's END, ';'
 * does not end the statement.
 */
static void track_atomic(Stmt *st, const Token *t)
{
	bool after_begin = st->prev_begin;

	st->prev_begin = false;
	if (t->type != TOK_WORD)
		return;
	if (st->atomic > 0) {
		if (WORD_IS(t, "case"))
			st->atomic++;
		else if (WORD_IS(t, "end"))
			st->atomic--;
	} else if (after_begin && WORD_IS(t, "atomic")) {
		st->atomic = 1;
	} else {
		st->prev_begin = WORD_IS(t, "begin");
	}
}

static void stmt_token(Stmt *st, const Token *t)
{
	st->ntok++;
	if (st->is_create)
		track_atomic(st, t);
	switch (st->mode) {
	case M_START:   on_start(st, t); break;
	case M_QUERY:   on_query(st, t); break;
	case M_EXPLAIN: on_explain(st, t); break;
	case M_BEGIN:   on_begin(st, t); break;
	case M_END:     on_end(st, t); break;
	case M_SET:     on_set(st, t); break;
	case M_PREPARE: on_prepare(st, t); break;
	case M_COPY:    on_copy(st, t); break;
	case M_CREATE:  on_create(st, t); break;
	case M_DECLARE: on_declare(st, t); break;
	default:        break;
	}
}

/* Close a statement and fold it into the result. */
static void stmt_finish(Stmt *st, ClassifyResult *out)
{
	if (st->ntok == 0)
		return;
	if (st->mode == M_START)
		set_write(st, R_UNKNOWN);
	else if (st->mode == M_BEGIN)
		finish_begin(st);
	else if (st->mode == M_COPY && !st->copy_ok)
		set_write(st, "copy");
	if (out->nstatements++ == 0)
		memcpy(out->keyword, st->keyword, sizeof(out->keyword));
	out->flags |= st->flags;
	if (st->write && out->kind == CLS_READ) {
		out->kind = CLS_WRITE;
		out->reason = st->reason;
	}
}

/* ---- entry points ------------------------------------------------------- */

void classify_sql(const char *sql, size_t len, ClassifyResult *out)
{
	Lexer lx;
	Stmt st;
	Token t;

	if (!sql) {
		sql = "";
		len = 0;
	}
	lx.p = (const unsigned char *)sql;
	lx.end = lx.p + len;
	lx.hints = 0;
	lx.ryw_key = NULL;
	lx.ryw_key_len = 0;
	memset(out, 0, sizeof(*out));
	out->kind = CLS_READ;
	out->reason = R_READ;
	stmt_reset(&st);
	for (;;) {
		next_token(&lx, &t);
		if (t.type == TOK_SEMI && st.atomic > 0)
			t.type = TOK_OTHER;
		if (t.type == TOK_EOF || t.type == TOK_SEMI) {
			stmt_finish(&st, out);
			if (t.type == TOK_EOF)
				break;
			stmt_reset(&st);
			continue;
		}
		stmt_token(&st, &t);
	}
	out->flags |= lx.hints;
	out->ryw_key = lx.ryw_key;
	out->ryw_key_len = lx.ryw_key_len;
	if ((lx.hints & CLS_F_HINT_PRIMARY) && out->kind == CLS_READ) {
		out->kind = CLS_WRITE;
		out->reason = "hint";
	}
}

const char *classify_kind_name(ClassifyKind kind)
{
	return kind == CLS_READ ? "read" : "write";
}
