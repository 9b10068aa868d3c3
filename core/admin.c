/*
 * admin.c - the admin console.
 *
 * A client that connects to the virtual database "pgbouncer" (or "lagoon")
 * never gets a server: each simple Query it sends lands here.  The text is
 * split by a small tokenizer (words, 'quoted strings', "quoted names", "=",
 * an optional trailing ";"), the first word picks an entry in a dispatch
 * table, and the entry's handler writes its whole answer -- RowDescription,
 * DataRows, CommandComplete -- into one PktBuf that starts on the stack.
 * The dispatcher then appends the single ReadyForQuery and sends it all at
 * once; a handler that fails leaves an error text instead, and the
 * dispatcher sends ErrorResponse + ReadyForQuery.  So every query gets
 * exactly one ReadyForQuery whatever happens.
 *
 * The SHOW commands print PgBouncer 1.25's column names in PgBouncer's
 * order, so exporters and dashboards written for PgBouncer keep working.
 * Counts come straight from the lengths of the state lists (lagoon.h).
 *
 * PAUSE, WAIT_CLOSE and SUSPEND answer only once what they wait for has
 * happened: the handler sets ctx->wait, the client stops being read
 * (Client.admin_wait), and admin_run_waits(), called by the main loop
 * after every turn, sends CommandComplete + ReadyForQuery when the
 * condition holds.
 *
 * Access: admin_users may run everything; stats_users only SHOW (and the
 * harmless SET/SHOW that drivers send when they connect).  The input is
 * untrusted: every copy is bounded and over-long words are refused.
 */
#ifdef HAVE_CONFIG_H
#include "autoconf.h"
#endif

#include <event2/event_struct.h>  /* sbuf.h embeds struct event */

#include "admin.h"
#include "client.h"
#include "objects.h"
#include "log.h"
#include "prepare.h"
#include "tls.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/un.h>
#include <time.h>

#ifndef PACKAGE_NAME
#define PACKAGE_NAME "lagoon"
#endif
#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0.0.0"
#endif

#define ADMIN_MAX_TOKENS 8       /* words kept from one query */
#define ADMIN_TOKEN_MAX  1024    /* longest word (a SET value) */
#define ADMIN_MAX_COLS   32
#define ADMIN_CELL       80      /* scratch text per cell */
#define ADMIN_ERR_MAX    512
#define ADMIN_ECHO_MAX   80      /* query text quoted back in errors */
#define ADMIN_OUT_STACK  8192

#define T_TEXT 25
#define T_INT4 23
#define T_INT8 20

typedef struct AdminCtx AdminCtx;

/* Commands that answer only once something has happened; the admin client
 * stops being read meanwhile (Client.admin_wait). */
typedef enum AdminWait {
	ADMIN_WAIT_NONE = 0,
	ADMIN_WAIT_PAUSE,        /* every server of the database(s) released and closed */
	ADMIN_WAIT_CLOSE,        /* no server with close_needed left */
	ADMIN_WAIT_SUSPEND,      /* buffers flushed, or suspend_timeout */
} AdminWait;

static const char *const admin_wait_tags[] = { "", "PAUSE", "WAIT_CLOSE", "SUSPEND" };

/* Admin clients with admin_wait set: admin_run_waits() does nothing at 0. */
static int admin_waiters;
typedef bool (*AdminHandler)(AdminCtx *ctx);

/* One word of the query; s is NUL-terminated inside the context. */
typedef struct AdminTok {
	char s[ADMIN_TOKEN_MAX];
	bool quoted;
} AdminTok;

/* Everything one query needs; lives on admin_handle_query()'s stack. */
struct AdminCtx {
	Client *c;
	const char *sql;
	int ntok;                         /* words stored in tok[] */
	int ntok_total;                   /* words seen (may exceed ntok) */
	bool too_long;                    /* a word was longer than ADMIN_TOKEN_MAX */
	bool bad_syntax;                  /* unterminated quote, text after ';' */
	AdminTok tok[ADMIN_MAX_TOKENS];
	PktBuf *out;                      /* the answer being built */
	char sqlstate[6];
	char err[ADMIN_ERR_MAX];
	bool replied;                     /* handler already answered (or closed) */
	bool do_shutdown;                 /* after the answer is out */
	AdminWait wait;                   /* the command completes later (admin_run_waits) */
	const char *wait_db;              /* its database ("" = all) */
	ShutdownMode shutdown_mode;
	usec_t wall_offset;               /* realtime usec - monotonic usec */
};

/* A dispatch table entry: first word of the command. */
typedef struct AdminCmd {
	const char *name;
	AdminHandler handler;
	bool needs_admin;
	int min_words, max_words;         /* counting the command word */
} AdminCmd;

/* A SHOW subcommand. */
typedef struct AdminShow {
	const char *name;
	AdminHandler handler;
} AdminShow;

typedef struct AdminCol {
	const char *name;
	uint32_t type;
} AdminCol;

/* Cells of one DataRow being built. */
typedef struct AdminRow {
	int n;
	const char *vals[ADMIN_MAX_COLS];
	char scratch[ADMIN_MAX_COLS][ADMIN_CELL];
} AdminRow;

/* A client or server seen through SHOW CLIENTS / SHOW SERVERS. */
typedef struct AdminSock {
	const char *type, *user, *database, *state, *addr, *appname;
	const char *tls;              /* tls_info() of the socket */
	int port, fd, default_local_port;
	usec_t connect_time, request_time, wait;
	bool close_needed;
	const void *ptr, *link;
	uint32_t remote_pid;
	uint64_t id;
	const SBuf *sb;                   /* the buffers, for SHOW SOCKETS */
	bool bufs;                        /* add SHOW SOCKETS' buffer columns */
	uint32_t prepared;                /* prepared_statements */
} AdminSock;

#define NCOLS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- small helpers ----------------------------------------------------- */

bool admin_is_admin_db(const char *name)
{
	return name && (strcmp(name, "pgbouncer") == 0 || strcmp(name, "lagoon") == 0);
}

/* Record an error for the dispatcher to send; returns false for tail calls. */
static bool admin_fail(AdminCtx *ctx, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static bool admin_fail(AdminCtx *ctx, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;

	snprintf(ctx->sqlstate, sizeof(ctx->sqlstate), "%s", sqlstate);
	va_start(ap, fmt);
	vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
	va_end(ap);
	return false;
}

/* Copy untrusted text for an error message: printable ASCII only, bounded. */
static void admin_sanitize(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	if (cap == 0)
		return;
	for (; src && *src && i + 1 < cap; src++) {
		unsigned char ch = (unsigned char)*src;
		dst[i++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
	}
	dst[i] = '\0';
}

static bool admin_unknown(AdminCtx *ctx)
{
	char echo[ADMIN_ECHO_MAX];

	admin_sanitize(echo, sizeof(echo), ctx->sql);
	return admin_fail(ctx, "42601", "unknown command: %s", echo);
}

static bool admin_word_is(const AdminCtx *ctx, int i, const char *word)
{
	return i < ctx->ntok && !ctx->tok[i].quoted && strcasecmp(ctx->tok[i].s, word) == 0;
}

static void admin_lower(char *dst, size_t cap, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < cap; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

/* Wall-clock microseconds now, for turning monotonic stamps into dates. */
static usec_t admin_realtime_usec(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return (usec_t)time(NULL) * 1000000;
	return (usec_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- tokenizer --------------------------------------------------------- */

static bool admin_is_word_char(char ch)
{
	return ch && !isspace((unsigned char)ch) && ch != '=' && ch != ';' &&
	       ch != '\'' && ch != '"' && ch != ',';
}

/* Store one character of the current word, noting overflow. */
static void admin_tok_put(AdminCtx *ctx, size_t *len, char ch)
{
	AdminTok *t;

	if (ctx->ntok_total > ADMIN_MAX_TOKENS)
		return;
	t = &ctx->tok[ctx->ntok_total - 1];
	if (*len + 1 >= sizeof(t->s)) {
		ctx->too_long = true;
		return;
	}
	t->s[(*len)++] = ch;
	t->s[*len] = '\0';
}

/* Begin a new word; returns its slot (or NULL once the table is full). */
static void admin_tok_begin(AdminCtx *ctx, bool quoted)
{
	ctx->ntok_total++;
	if (ctx->ntok_total <= ADMIN_MAX_TOKENS) {
		ctx->tok[ctx->ntok].s[0] = '\0';
		ctx->tok[ctx->ntok].quoted = quoted;
		ctx->ntok++;
	}
}

/* A quoted word: q is ' or "; a doubled quote stands for itself. */
static const char *admin_scan_quoted(AdminCtx *ctx, const char *p, char q)
{
	size_t len = 0;

	admin_tok_begin(ctx, true);
	for (p++; *p; p++) {
		if (*p == q) {
			if (p[1] != q)
				return p + 1;
			p++;
		}
		admin_tok_put(ctx, &len, *p);
	}
	ctx->bad_syntax = true;   /* unterminated */
	return p;
}

static const char *admin_scan_word(AdminCtx *ctx, const char *p)
{
	size_t len = 0;

	admin_tok_begin(ctx, false);
	if (!admin_is_word_char(*p)) {        /* "=" or "," alone */
		admin_tok_put(ctx, &len, *p);
		return p + 1;
	}
	while (admin_is_word_char(*p))
		admin_tok_put(ctx, &len, *p++);
	return p;
}

/* Split sql into words.  Only whitespace and ';' may follow a ';'. */
static void admin_tokenize(AdminCtx *ctx, const char *sql)
{
	const char *p = sql;

	while (*p) {
		if (isspace((unsigned char)*p)) {
			p++;
		} else if (*p == ';') {
			for (p++; *p; p++)
				if (!isspace((unsigned char)*p) && *p != ';')
					ctx->bad_syntax = true;
			return;
		} else if (*p == '\'' || *p == '"') {
			p = admin_scan_quoted(ctx, p, *p);
		} else {
			p = admin_scan_word(ctx, p);
		}
	}
}

/* ---- result building --------------------------------------------------- */

static void admin_describe(AdminCtx *ctx, const AdminCol *cols, int n)
{
	const char *names[ADMIN_MAX_COLS];
	uint32_t types[ADMIN_MAX_COLS];

	if (n > ADMIN_MAX_COLS)
		n = ADMIN_MAX_COLS;
	for (int i = 0; i < n; i++) {
		names[i] = cols[i].name;
		types[i] = cols[i].type;
	}
	pkt_row_description(ctx->out, n, names, types);
}

static void admin_row_init(AdminRow *r)
{
	r->n = 0;
}

static void admin_row_text(AdminRow *r, const char *s)
{
	if (r->n < ADMIN_MAX_COLS)
		r->vals[r->n++] = s;
}

static void admin_row_fmt(AdminRow *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void admin_row_fmt(AdminRow *r, const char *fmt, ...)
{
	va_list ap;

	if (r->n >= ADMIN_MAX_COLS)
		return;
	va_start(ap, fmt);
	vsnprintf(r->scratch[r->n], ADMIN_CELL, fmt, ap);
	va_end(ap);
	r->vals[r->n] = r->scratch[r->n];
	r->n++;
}

static void admin_row_int(AdminRow *r, int64_t v)
{
	admin_row_fmt(r, "%" PRId64, v);
}

static void admin_row_uint(AdminRow *r, uint64_t v)
{
	admin_row_fmt(r, "%" PRIu64, v);
}

/* A monotonic stamp as local wall time "YYYY-MM-DD HH:MM:SS TZ". */
static void admin_row_time(AdminCtx *ctx, AdminRow *r, usec_t t)
{
	struct tm tm;
	time_t secs;

	if (t <= 0 || r->n >= ADMIN_MAX_COLS) {
		admin_row_text(r, NULL);
		return;
	}
	secs = (time_t)((t + ctx->wall_offset) / 1000000);
	if (!localtime_r(&secs, &tm) ||
	    strftime(r->scratch[r->n], ADMIN_CELL, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0) {
		admin_row_text(r, NULL);
		return;
	}
	r->vals[r->n] = r->scratch[r->n];
	r->n++;
}

/* Emit the row; a column-count mismatch is a bug here, padded with NULLs. */
static void admin_row_emit(AdminCtx *ctx, AdminRow *r, int ncols)
{
	if (r->n != ncols) {
		log_error("admin: row has %d cells, expected %d", r->n, ncols);
		while (r->n < ncols && r->n < ADMIN_MAX_COLS)
			r->vals[r->n++] = NULL;
	}
	pkt_data_row(ctx->out, ncols, r->vals);
}

static bool admin_show_done(AdminCtx *ctx)
{
	pkt_command_complete(ctx->out, "SHOW");
	return true;
}

static bool admin_done(AdminCtx *ctx, const char *tag)
{
	pkt_command_complete(ctx->out, tag);
	return true;
}

/* ---- database lookup for the operations -------------------------------- */

/* An existing database by name.  Unlike db_lookup() this never creates
 * an autodb from the "*" entry: PAUSE typo must not invent a database. */
static Database *admin_lookup_db(const char *name)
{
	ListNode *n;

	if (admin_is_admin_db(name))
		return admin_db();
	list_for_each(n, &lg.databases) {
		Database *db = list_entry(n, Database, node);
		if (!db->dead && !db->admin && strcmp(db->name, name) == 0)
			return db;
	}
	return NULL;
}

/* Resolve word i as a database name; NULL with an error set if unknown. */
static Database *admin_find_db(AdminCtx *ctx, int i, bool allow_admin)
{
	char name[ADMIN_ECHO_MAX];
	Database *db;

	if (ctx->too_long || strlen(ctx->tok[i].s) >= CF_NAME_MAX) {
		admin_fail(ctx, "42622", "database name too long");
		return NULL;
	}
	db = admin_lookup_db(ctx->tok[i].s);
	if (!db) {
		admin_sanitize(name, sizeof(name), ctx->tok[i].s);
		admin_fail(ctx, "3D000", "no such database: %s", name);
		return NULL;
	}
	if (db->admin && !allow_admin) {
		admin_fail(ctx, "55000", "cannot do that to the admin database");
		return NULL;
	}
	return db;
}

/* ---- SHOW VERSION, STATE, HELP, fake parameters ------------------------ */

static bool admin_show_version(AdminCtx *ctx)
{
	static const AdminCol cols[] = { { "version", T_TEXT } };
	AdminRow r;

	admin_describe(ctx, cols, NCOLS(cols));
	admin_row_init(&r);
	admin_row_text(&r, PACKAGE_NAME " " PACKAGE_VERSION);
	admin_row_emit(ctx, &r, NCOLS(cols));
	return admin_show_done(ctx);
}

static bool admin_show_state(AdminCtx *ctx)
{
	static const AdminCol cols[] = { { "key", T_TEXT }, { "value", T_TEXT } };
	const char *rows[3][2] = {
		{ "active", (!lg.paused && !lg.suspended && lg.shutdown == SHUTDOWN_NONE) ? "yes" : "no" },
		{ "paused", lg.paused ? "yes" : "no" },
		{ "suspended", lg.suspended ? "yes" : "no" },
	};

	admin_describe(ctx, cols, NCOLS(cols));
	for (int i = 0; i < 3; i++)
		pkt_data_row(ctx->out, 2, rows[i]);
	return admin_show_done(ctx);
}

static bool admin_show_help(AdminCtx *ctx)
{
	pkt_notice(ctx->out, "00000", "Console usage\n"
		"\tSHOW HELP|CONFIG|DATABASES|POOLS|CLIENTS|SERVERS|USERS|VERSION\n"
		"\tSHOW SOCKETS|ACTIVE_SOCKETS|MEM\n"
		"\tSHOW STATS|STATS_TOTALS|STATS_AVERAGES|TOTALS|LISTS|STATE\n"
		"\tSHOW PEERS|PEER_POOLS|DNS_HOSTS|DNS_ZONES\n"
		"\tSHOW BACKENDS|PLUGINS|ROUTING|LATENCY\n"
		"\tSET key = arg\n"
		"\tRELOAD\n"
		"\tPAUSE [<db>]\n"
		"\tSUSPEND\n"
		"\tWAIT_CLOSE [<db>]\n"
		"\tRESUME [<db>]\n"
		"\tDISABLE <db>\n"
		"\tENABLE <db>\n"
		"\tRECONNECT [<db>]\n"
		"\tKILL [<db>]\n"
		"\tKILL_CLIENT <client_id>\n"
		"\tSHUTDOWN [WAIT_FOR_SERVERS|WAIT_FOR_CLIENTS]");
	return admin_show_done(ctx);
}

/* Session parameters drivers ask for on connect, answered locally. */
static const struct {
	const char *name;
	VarId var;                 /* VAR_COUNT: not tracked */
	const char *dflt;
} admin_params[] = {
	{ "client_encoding", VAR_CLIENT_ENCODING, "UTF8" },
	{ "standard_conforming_strings", VAR_STD_STRINGS, "on" },
	{ "datestyle", VAR_DATESTYLE, "ISO, MDY" },
	{ "timezone", VAR_TIMEZONE, "UTC" },
	{ "default_transaction_isolation", VAR_COUNT, "read committed" },
};

/* SHOW <parameter>; false (no error set) if name is not one of them. */
static bool admin_show_param(AdminCtx *ctx, const char *name, bool *handled)
{
	AdminCol col;
	AdminRow r;
	const char *val;

	*handled = false;
	for (size_t i = 0; i < sizeof(admin_params) / sizeof(admin_params[0]); i++) {
		if (strcasecmp(name, admin_params[i].name) != 0)
			continue;
		val = admin_params[i].dflt;
		if (admin_params[i].var != VAR_COUNT && ctx->c->vars.val[admin_params[i].var])
			val = ctx->c->vars.val[admin_params[i].var];
		col.name = admin_params[i].name;
		col.type = T_TEXT;
		admin_describe(ctx, &col, 1);
		admin_row_init(&r);
		admin_row_text(&r, val);
		admin_row_emit(ctx, &r, 1);
		*handled = true;
		return admin_show_done(ctx);
	}
	return false;
}

/* Empty tables for features lagoon does not have (peers, c-ares cache). */
static bool admin_show_empty(AdminCtx *ctx, const AdminCol *cols, int n)
{
	admin_describe(ctx, cols, n);
	return admin_show_done(ctx);
}

static bool admin_show_peers(AdminCtx *ctx)
{
	static const AdminCol cols[] = {
		{ "peer_id", T_INT4 }, { "host", T_TEXT }, { "port", T_INT4 }, { "pool_size", T_INT4 },
	};
	return admin_show_empty(ctx, cols, NCOLS(cols));
}

static bool admin_show_peer_pools(AdminCtx *ctx)
{
	static const AdminCol cols[] = {
		{ "peer_id", T_INT4 }, { "cl_active_cancel_req", T_INT8 },
		{ "cl_waiting_cancel_req", T_INT8 }, { "sv_active_cancel", T_INT8 },
		{ "sv_login", T_INT8 },
	};
	return admin_show_empty(ctx, cols, NCOLS(cols));
}

static void admin_dns_host_row(void *arg, const char *name, int64_t ttl, const char *addrs)
{
	AdminRow r;

	admin_row_init(&r);
	admin_row_text(&r, name);
	admin_row_int(&r, ttl);
	admin_row_text(&r, addrs);
	admin_row_emit(arg, &r, 3);
}

static bool admin_show_dns_hosts(AdminCtx *ctx)
{
	static const AdminCol cols[] = {
		{ "hostname", T_TEXT }, { "ttl", T_INT8 }, { "addrs", T_TEXT },
	};
	admin_describe(ctx, cols, NCOLS(cols));
	dns_foreach_host(admin_dns_host_row, ctx);
	return admin_show_done(ctx);
}

static void admin_dns_zone_row(void *arg, const char *zone, int64_t serial, int count)
{
	AdminRow r;

	admin_row_init(&r);
	admin_row_text(&r, zone);
	if (serial >= 0)
		admin_row_int(&r, serial);
	else
		admin_row_text(&r, NULL);
	admin_row_int(&r, count);
	admin_row_emit(arg, &r, 3);
}

static bool admin_show_dns_zones(AdminCtx *ctx)
{
	static const AdminCol cols[] = {
		{ "zonename", T_TEXT }, { "serial", T_TEXT }, { "count", T_INT4 },
	};
	admin_describe(ctx, cols, NCOLS(cols));
	dns_foreach_zone(admin_dns_zone_row, ctx);
	return admin_show_done(ctx);
}

/* ---- SHOW POOLS -------------------------------------------------------- */

static const AdminCol admin_pool_cols[] = {
	{ "database", T_TEXT }, { "user", T_TEXT },
	{ "cl_active", T_INT8 }, { "cl_waiting", T_INT8 },
	{ "cl_active_cancel_req", T_INT8 }, { "cl_waiting_cancel_req", T_INT8 },
	{ "sv_active", T_INT8 }, { "sv_active_cancel", T_INT8 },
	{ "sv_being_canceled", T_INT8 }, { "sv_idle", T_INT8 },
	{ "sv_used", T_INT8 }, { "sv_tested", T_INT8 }, { "sv_login", T_INT8 },
	{ "maxwait", T_INT8 }, { "maxwait_us", T_INT8 },
	{ "pool_mode", T_TEXT }, { "load_balance_hosts", T_TEXT },
	/* lagoon's own columns */
	{ "backend", T_TEXT }, { "role", T_TEXT },
};

/* Which backend a client counts under in SHOW POOLS: its server's, the one
 * it waits for, else the current primary (index), or -1. */
static int admin_client_backend(const Client *c)
{
	const Backend *be = c->link ? c->link->backend : c->target;

	if (!be && c->pool)
		be = c->pool->db->primary;
	return be ? be->index : -1;
}

static int admin_count_clients(const List *l, int bi, bool all)
{
	const ListNode *n;
	int count = 0;

	if (all)
		return l->count;
	list_for_each(n, l)
		count += admin_client_backend(list_entry(n, Client, node)) == bi;
	return count;
}

static const char *admin_role_name(const Backend *be)
{
	if (!be)
		return "unknown";
	return be->role == BE_ROLE_PRIMARY ? "primary" : be->role == BE_ROLE_REPLICA ? "replica" : "unknown";
}

static const char *admin_pool_mode_text(const Pool *p)
{
	if (p->db && p->db->admin)
		return "statement";
	return config_pool_mode_name(pool_mode_of(p));
}

/* One row of SHOW POOLS: pool p on backend index bi (-1: a pool without
 * backends, the admin console's).  A single-backend pool counts every
 * client on its one row. */
static void admin_pool_row(AdminCtx *ctx, const Pool *p, int bi)
{
	usec_t wait = pool_maxwait(p);
	bool all = bi < 0 || p->db->nbackends <= 1;
	const PoolBackend *pb = bi >= 0 ? &p->be[bi] : NULL;
	const Backend *be = bi >= 0 ? p->db->backends[bi] : NULL;
	char name[160];
	AdminRow r;

	admin_row_init(&r);
	admin_row_text(&r, p->db ? p->db->name : NULL);
	admin_row_text(&r, p->user ? p->user->name : NULL);
	admin_row_int(&r, admin_count_clients(&p->active_clients, bi, all));
	admin_row_int(&r, admin_count_clients(&p->waiting_clients, bi, all) +
	              admin_count_clients(&p->login_wait_clients, bi, all));
	admin_row_int(&r, 0);
	admin_row_int(&r, 0);
	admin_row_int(&r, pb ? pb->active_servers.count : 0);
	admin_row_int(&r, 0);
	admin_row_int(&r, 0);
	admin_row_int(&r, pb ? pb->idle_servers.count : 0);
	admin_row_int(&r, pb ? pb->used_servers.count : 0);
	admin_row_int(&r, pb ? pb->tested_servers.count : 0);
	admin_row_int(&r, pb ? pb->login_servers.count : 0);
	admin_row_int(&r, wait / 1000000);
	admin_row_int(&r, wait % 1000000);
	admin_row_text(&r, admin_pool_mode_text(p));
	admin_row_text(&r, NULL);
	if (be)
		snprintf(name, sizeof(name), "%s:%d", be->host[0] ? be->host : "unix", be->port);
	admin_row_text(&r, be ? name : NULL);
	admin_row_text(&r, be ? admin_role_name(be) : NULL);
	admin_row_emit(ctx, &r, NCOLS(admin_pool_cols));
}

static bool admin_show_pools(AdminCtx *ctx)
{
	ListNode *n;

	admin_describe(ctx, admin_pool_cols, NCOLS(admin_pool_cols));
	list_for_each(n, &lg.pools) {
		const Pool *p = list_entry(n, Pool, node);
		if (p->db->nbackends == 0)
			admin_pool_row(ctx, p, -1);
		for (int i = 0; i < p->db->nbackends; i++)
			if (p->db->backends[i] && !p->db->backends[i]->retired)
				admin_pool_row(ctx, p, i);
	}
	return admin_show_done(ctx);
}

/* ---- SHOW CLIENTS / SERVERS -------------------------------------------- */

#define ADMIN_SOCK_COLS \
	{ "type", T_TEXT }, { "user", T_TEXT }, { "database", T_TEXT }, \
	{ "replication", T_TEXT }, { "state", T_TEXT }, { "addr", T_TEXT }, \
	{ "port", T_INT4 }, { "local_addr", T_TEXT }, { "local_port", T_INT4 }, \
	{ "connect_time", T_TEXT }, { "request_time", T_TEXT }, \
	{ "wait", T_INT8 }, { "wait_us", T_INT8 }, { "close_needed", T_INT4 }, \
	{ "ptr", T_TEXT }, { "link", T_TEXT }, { "remote_pid", T_INT4 }, \
	{ "tls", T_TEXT }, { "application_name", T_TEXT }, \
	{ "prepared_statements", T_INT8 }, { "id", T_INT8 }

static const AdminCol admin_sock_cols[] = { ADMIN_SOCK_COLS };

/* SHOW SOCKETS: the same, then where each buffer stands (sbuf.h):
 * recv_pos = end of the received bytes, pkt_pos = end of the parsed ones,
 * pkt_remain = bytes of the message being forwarded still to come,
 * send_pos = end of the bytes already sent, send_remain = parsed bytes
 * not sent yet, pkt_avail = received bytes not parsed yet, send_avail =
 * bytes lagoon made itself (errors, answers) still to write. */
static const AdminCol admin_socket_cols[] = {
	ADMIN_SOCK_COLS,
	{ "recv_pos", T_INT4 }, { "pkt_pos", T_INT4 }, { "pkt_remain", T_INT4 },
	{ "send_pos", T_INT4 }, { "send_remain", T_INT4 }, { "pkt_avail", T_INT4 },
	{ "send_avail", T_INT4 },
};

/* Our end of a socket, as text; "unix" for Unix sockets. */
static void admin_local_addr(int fd, char *addr, size_t alen, int *port)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const void *ip = NULL;

	snprintf(addr, alen, "unix");
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		ip = &in->sin_addr;
		*port = ntohs(in->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		ip = &in6->sin6_addr;
		*port = ntohs(in6->sin6_port);
	}
	if (ip && !inet_ntop(ss.ss_family, ip, addr, (socklen_t)alen))
		snprintf(addr, alen, "?");
}

static void admin_sock_row(AdminCtx *ctx, const AdminSock *k)
{
	char local[INET6_ADDRSTRLEN + 8];
	int local_port = k->default_local_port;
	AdminRow r;

	admin_local_addr(k->fd, local, sizeof(local), &local_port);
	admin_row_init(&r);
	admin_row_text(&r, k->type);
	admin_row_text(&r, k->user);
	admin_row_text(&r, k->database);
	admin_row_text(&r, "none");
	admin_row_text(&r, k->state);
	admin_row_text(&r, k->addr);
	admin_row_int(&r, k->port);
	admin_row_text(&r, local);
	admin_row_int(&r, local_port);
	admin_row_time(ctx, &r, k->connect_time);
	admin_row_time(ctx, &r, k->request_time);
	admin_row_int(&r, k->wait / 1000000);
	admin_row_int(&r, k->wait % 1000000);
	admin_row_int(&r, k->close_needed ? 1 : 0);
	admin_row_fmt(&r, "%p", k->ptr);
	if (k->link)
		admin_row_fmt(&r, "%p", k->link);
	else
		admin_row_text(&r, "");
	admin_row_uint(&r, k->remote_pid);
	admin_row_text(&r, k->tls);
	admin_row_text(&r, k->appname ? k->appname : "");
	admin_row_uint(&r, k->prepared);
	admin_row_uint(&r, k->id);
	if (k->bufs) {
		const SBuf *sb = k->sb;
		admin_row_uint(&r, sb->recv);
		admin_row_uint(&r, sb->parse);
		admin_row_uint(&r, sb->pkt_remain);
		admin_row_uint(&r, sb->done);
		admin_row_uint(&r, sb->parse - sb->done);
		admin_row_uint(&r, sb->recv - sb->parse);
		admin_row_uint(&r, sb->out_len - sb->out_pos);
	}
	admin_row_emit(ctx, &r, k->bufs ? NCOLS(admin_socket_cols) : NCOLS(admin_sock_cols));
}

static const char *admin_client_state(const Client *c)
{
	switch (c->state) {
	case CL_ACTIVE:
		return (c->link || c->admin) ? "active" : "idle";
	case CL_WAITING:
	case CL_WAITING_LOGIN:
		return "waiting";
	default:
		return "login";
	}
}

static void admin_client_row(AdminCtx *ctx, const Client *c, bool bufs)
{
	AdminSock k;

	memset(&k, 0, sizeof(k));
	k.sb = &c->sbuf;
	k.bufs = bufs;
	k.type = "C";
	k.user = c->user ? c->user->name : c->username;
	k.database = c->db ? c->db->name : c->dbname;
	k.state = admin_client_state(c);
	k.addr = c->addr;
	k.port = c->port;
	if (c->is_unix && k.port == 0 && lg.cfg)
		k.port = lg.cfg->listen_port;   /* as PgBouncer shows it */
	k.fd = c->sbuf.fd;
	k.tls = tls_info(c->sbuf.tls);
	k.default_local_port = lg.cfg ? lg.cfg->listen_port : 0;
	k.connect_time = c->connect_time;
	k.request_time = c->request_time;
	if ((c->state == CL_WAITING || c->state == CL_WAITING_LOGIN) &&
	    c->wait_start > 0 && lg.now > c->wait_start)
		k.wait = lg.now - c->wait_start;
	k.ptr = c;
	k.link = c->link;
	k.appname = c->vars.val[VAR_APPLICATION_NAME];
	k.id = c->id;
	k.prepared = prep_client_count(c);
	admin_sock_row(ctx, &k);
}

/* SHOW CLIENTS: the clients of the pools (not those still logging in). */
static void admin_client_visit(Client *c, Server *s, void *arg)
{
	(void)s;
	if (c && c->state != CL_LOGIN)
		admin_client_row(arg, c, false);
}

static bool admin_show_clients(AdminCtx *ctx)
{
	admin_describe(ctx, admin_sock_cols, NCOLS(admin_sock_cols));
	objects_each_socket(true, admin_client_visit, ctx);
	return admin_show_done(ctx);
}

static const char *admin_server_state(const Server *s)
{
	switch (s->state) {
	case SV_ACTIVE:
		return "active";
	case SV_IDLE:
		return "idle";
	case SV_USED:
		return "used";
	case SV_TESTED:
		return "tested";
	case SV_LOGIN:
		return "new";
	default:
		return "closing";
	}
}

static void admin_server_row(AdminCtx *ctx, const Server *s, bool bufs)
{
	const Pool *p = s->pool;
	AdminSock k;

	memset(&k, 0, sizeof(k));
	k.sb = &s->sbuf;
	k.bufs = bufs;
	k.type = "S";
	k.user = p ? p->login_user : NULL;
	k.database = (p && p->db) ? p->db->name : NULL;
	k.state = admin_server_state(s);
	k.addr = s->addr;
	k.port = s->port;
	k.fd = s->sbuf.fd;
	k.tls = tls_info(s->sbuf.tls);
	k.default_local_port = s->port;
	k.connect_time = s->connect_time;
	k.request_time = s->request_time;
	k.close_needed = s->close_needed;
	k.ptr = s;
	k.link = s->link;
	k.remote_pid = s->be_pid;
	k.appname = s->vars.val[VAR_APPLICATION_NAME];
	k.id = s->id;
	k.prepared = prep_server_count(s);
	admin_sock_row(ctx, &k);
}

static void admin_server_visit(Client *c, Server *s, void *arg)
{
	(void)c;
	if (s)
		admin_server_row(arg, s, false);
}

static bool admin_show_servers(AdminCtx *ctx)
{
	admin_describe(ctx, admin_sock_cols, NCOLS(admin_sock_cols));
	objects_each_socket(true, admin_server_visit, ctx);
	return admin_show_done(ctx);
}

/* ---- SHOW SOCKETS / ACTIVE_SOCKETS / MEM -------------------------------- */

typedef struct AdminSockWalk {
	AdminCtx *ctx;
	bool busy_only;
	int bufs;                         /* receive buffers held */
	uint64_t buf_bytes;
} AdminSockWalk;

static void admin_socket_visit(Client *c, Server *s, void *arg)
{
	AdminSockWalk *w = arg;
	const SBuf *sb = c ? &c->sbuf : &s->sbuf;

	if (!w->ctx) {                    /* SHOW MEM: count buffers */
		w->bufs += sb->buf != NULL;
		w->buf_bytes += sb->buf ? sb->cap : 0;
	} else if (!w->busy_only || !sbuf_is_empty(sb)) {
		if (c)
			admin_client_row(w->ctx, c, true);
		else
			admin_server_row(w->ctx, s, true);
	}
}

/* Every client (those still logging in too) and server, with buffer
 * positions; busy_only: those with buffered data. */
static bool admin_show_sockets_kind(AdminCtx *ctx, bool busy_only)
{
	AdminSockWalk w = { ctx, busy_only, 0, 0 };

	admin_describe(ctx, admin_socket_cols, NCOLS(admin_socket_cols));
	objects_each_socket(true, admin_socket_visit, &w);
	return admin_show_done(ctx);
}

static bool admin_show_sockets(AdminCtx *ctx)
{
	return admin_show_sockets_kind(ctx, false);
}

static bool admin_show_active_sockets(AdminCtx *ctx)
{
	return admin_show_sockets_kind(ctx, true);
}

/* SHOW MEM: lagoon allocates objects one by one (no slabs), so "free" is
 * 0 for them; only receive buffers are cached for reuse (sbuf.c). */
static bool admin_show_mem(AdminCtx *ctx)
{
	static const AdminCol cols[] = {
		{ "name", T_TEXT }, { "size", T_INT8 }, { "used", T_INT8 }, { "free", T_INT8 },
		{ "memtotal", T_INT8 },
	};
	int used_clients = lg.login_clients.count + lg.cancel_clients.count;
	int used_servers = 0, bufs_free = 0;
	AdminSockWalk w = { NULL, false, 0, 0 };
	uint32_t bufsize = 0;
	const ListNode *n;

	list_for_each(n, &lg.pools) {
		const Pool *p = list_entry(n, Pool, node);
		used_clients += p->active_clients.count + p->waiting_clients.count +
		                p->login_wait_clients.count;
		used_servers += pool_server_count(p);
	}
	objects_each_socket(true, admin_socket_visit, &w);
	sbuf_cache_info(&bufsize, &bufs_free);
	const struct { const char *name; uint64_t size; int64_t used, free; uint64_t total; } rows[] = {
		{ "user_cache", sizeof(User), lg.users.count, 0, sizeof(User) * (uint64_t)lg.users.count },
		{ "db_cache", sizeof(Database), lg.databases.count, 0,
		  sizeof(Database) * (uint64_t)lg.databases.count },
		{ "pool_cache", sizeof(Pool), lg.pools.count, 0, sizeof(Pool) * (uint64_t)lg.pools.count },
		{ "server_cache", sizeof(Server), used_servers, lg.justfree_servers.count,
		  sizeof(Server) * (uint64_t)(used_servers + lg.justfree_servers.count) },
		{ "client_cache", sizeof(Client), used_clients, lg.justfree_clients.count,
		  sizeof(Client) * (uint64_t)(used_clients + lg.justfree_clients.count) },
		{ "iobuf_cache", bufsize, w.bufs, bufs_free, w.buf_bytes + (uint64_t)bufsize * (uint64_t)bufs_free },
	};
	admin_describe(ctx, cols, NCOLS(cols));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		AdminRow r;
		admin_row_init(&r);
		admin_row_text(&r, rows[i].name);
		admin_row_uint(&r, rows[i].size);
		admin_row_int(&r, rows[i].used);
		admin_row_int(&r, rows[i].free);
		admin_row_uint(&r, rows[i].total);
		admin_row_emit(ctx, &r, NCOLS(cols));
	}
	return admin_show_done(ctx);
}

/* ---- SHOW CONFIG ------------------------------------------------------- */

static bool admin_show_config(AdminCtx *ctx)
{
	static const AdminCol cols[] = {
		{ "key", T_TEXT }, { "value", T_TEXT }, { "default", T_TEXT },
		{ "changeable", T_TEXT },
	};
	char val[1024], def[1024];
	const ConfigKeyInfo *keys;
	size_t nkeys = 0;
	const char *row[4];

	admin_describe(ctx, cols, NCOLS(cols));
	keys = config_keys(&nkeys);
	for (size_t i = 0; keys && i < nkeys; i++) {
		if (!lg.cfg || !config_value_text(lg.cfg, keys[i].name, val, sizeof(val)))
			continue;
		if (!config_default_text(keys[i].name, def, sizeof(def)))
			def[0] = '\0';
		row[0] = keys[i].name;
		row[1] = val;
		row[2] = def;
		row[3] = keys[i].reloadable ? "yes" : "no";
		pkt_data_row(ctx->out, 4, row);
	}
	return admin_show_done(ctx);
}

/* ---- SHOW DATABASES ---------------------------------------------------- */

static const AdminCol admin_db_cols[] = {
	{ "name", T_TEXT }, { "host", T_TEXT }, { "port", T_INT4 },
	{ "database", T_TEXT }, { "force_user", T_TEXT }, { "pool_size", T_INT4 },
	{ "min_pool_size", T_INT4 }, { "reserve_pool_size", T_INT4 },
	{ "server_lifetime", T_INT8 }, { "pool_mode", T_TEXT },
	{ "load_balance_hosts", T_TEXT }, { "max_connections", T_INT4 },
	{ "current_connections", T_INT4 }, { "max_client_connections", T_INT4 },
	{ "current_client_connections", T_INT4 }, { "paused", T_INT4 },
	{ "disabled", T_INT4 },
};

/* A per-database integer, or the global value when the line left it out. */
static int admin_or(int v, int dflt)
{
	return v >= 0 ? v : dflt;
}

static void admin_admin_db_row(AdminCtx *ctx, const Database *db)
{
	const Config *cf = lg.cfg;
	AdminRow r;

	admin_row_init(&r);
	admin_row_text(&r, db->name);
	admin_row_text(&r, NULL);
	admin_row_int(&r, cf ? cf->listen_port : 0);
	admin_row_text(&r, db->name);
	admin_row_text(&r, db->name);
	admin_row_int(&r, 2);
	admin_row_int(&r, 0);
	admin_row_int(&r, 0);
	admin_row_int(&r, 0);
	admin_row_text(&r, "statement");
	admin_row_text(&r, NULL);
	admin_row_int(&r, 0);
	admin_row_int(&r, db->server_count);
	admin_row_int(&r, 0);
	admin_row_int(&r, db->client_count);
	admin_row_int(&r, 0);
	admin_row_int(&r, 0);
	admin_row_emit(ctx, &r, NCOLS(admin_db_cols));
}

static void admin_db_row(AdminCtx *ctx, const Database *db)
{
	const Config *cf = lg.cfg;
	const DbDef *d = &db->def;
	AdminRow r;

	if (db->admin || !cf) {
		admin_admin_db_row(ctx, db);
		return;
	}
	admin_row_init(&r);
	admin_row_text(&r, db->name);
	admin_row_text(&r, d->host[0] ? d->host : NULL);
	admin_row_int(&r, d->port > 0 ? d->port : 5432);
	admin_row_text(&r, d->dbname[0] ? d->dbname : db->name);
	admin_row_text(&r, d->user[0] ? d->user : NULL);
	admin_row_int(&r, admin_or(d->pool_size, cf->default_pool_size));
	admin_row_int(&r, admin_or(d->min_pool_size, cf->min_pool_size));
	admin_row_int(&r, admin_or(d->reserve_pool_size, cf->reserve_pool_size));
	admin_row_int(&r, cf->server_lifetime / 1000000);
	/* like PgBouncer: NULL unless the database line sets it */
	admin_row_text(&r, d->pool_mode != POOL_MODE_UNSET ?
	               config_pool_mode_name(d->pool_mode) : NULL);
	admin_row_text(&r, NULL);
	admin_row_int(&r, admin_or(d->max_db_connections, cf->max_db_connections));
	admin_row_int(&r, db->server_count);
	admin_row_int(&r, 0);
	admin_row_int(&r, db->client_count);
	admin_row_int(&r, db->paused ? 1 : 0);
	admin_row_int(&r, db->disabled ? 1 : 0);
	admin_row_emit(ctx, &r, NCOLS(admin_db_cols));
}

static bool admin_show_databases(AdminCtx *ctx)
{
	ListNode *n;

	admin_describe(ctx, admin_db_cols, NCOLS(admin_db_cols));
	list_for_each(n, &lg.databases)
		admin_db_row(ctx, list_entry(n, Database, node));
	return admin_show_done(ctx);
}

/* ---- SHOW USERS -------------------------------------------------------- */

static bool admin_show_users(AdminCtx *ctx)
{
	static const AdminCol cols[] = {
		{ "name", T_TEXT }, { "pool_size", T_INT4 }, { "reserve_pool_size", T_INT4 },
		{ "pool_mode", T_TEXT }, { "max_user_connections", T_INT4 },
		{ "current_connections", T_INT4 }, { "max_user_client_connections", T_INT4 },
		{ "current_client_connections", T_INT4 },
	};
	const Config *cf = lg.cfg;
	ListNode *n;
	AdminRow r;

	admin_describe(ctx, cols, NCOLS(cols));
	list_for_each(n, &lg.users) {
		const User *u = list_entry(n, User, node);
		const UserDef *ud = cf ? config_find_user(cf, u->name) : NULL;
		admin_row_init(&r);
		admin_row_text(&r, u->name);
		admin_row_int(&r, ud ? admin_or(ud->pool_size, cf->default_pool_size) :
		              (cf ? cf->default_pool_size : 0));
		admin_row_int(&r, ud ? admin_or(ud->reserve_pool_size, cf->reserve_pool_size) :
		              (cf ? cf->reserve_pool_size : 0));
		admin_row_text(&r, (ud && ud->pool_mode != POOL_MODE_UNSET) ?
		               config_pool_mode_name(ud->pool_mode) : NULL);
		admin_row_int(&r, ud ? admin_or(ud->max_user_connections, cf->max_user_connections) :
		              (cf ? cf->max_user_connections : 0));
		admin_row_int(&r, u->server_count);
		admin_row_int(&r, 0);
		admin_row_int(&r, u->client_count);
		admin_row_emit(ctx, &r, NCOLS(cols));
	}
	return admin_show_done(ctx);
}

/* ---- SHOW LISTS -------------------------------------------------------- */

/* ---- SHOW BACKENDS (lagoon) ---------------------------------------------- */

static const AdminCol admin_backend_cols[] = {
	{ "database", T_TEXT }, { "host", T_TEXT }, { "port", T_INT4 }, { "role", T_TEXT },
	{ "state", T_TEXT }, { "lsn", T_TEXT }, { "lag_bytes", T_INT8 }, { "lag_ms", T_INT8 },
	{ "sample_age_ms", T_INT8 }, { "probe_failures", T_INT8 }, { "fail_streak", T_INT8 },
	{ "sv_active", T_INT8 }, { "sv_idle", T_INT8 }, { "sv_used", T_INT8 }, { "sv_login", T_INT8 },
	{ "xact_routed", T_INT8 }, { "is_write_target", T_TEXT }, { "last_error", T_TEXT },
};

static void admin_backend_row(AdminCtx *ctx, const Backend *be)
{
	const Database *db = be->db;
	int counts[4] = { 0, 0, 0, 0 };
	char lsn[32];
	const ListNode *n;
	AdminRow r;

	list_for_each(n, &lg.pools) {
		const Pool *p = list_entry(n, Pool, node);
		const PoolBackend *pb = &p->be[be->index];
		if (p->db != db)
			continue;
		counts[0] += pb->active_servers.count;
		counts[1] += pb->idle_servers.count;
		counts[2] += pb->used_servers.count + pb->tested_servers.count;
		counts[3] += pb->login_servers.count;
	}
	snprintf(lsn, sizeof(lsn), "%X/%X", (unsigned)(be->lsn >> 32), (unsigned)be->lsn);
	admin_row_init(&r);
	admin_row_text(&r, db->name);
	admin_row_text(&r, be->host[0] ? be->host : "unix");
	admin_row_int(&r, be->port);
	admin_row_text(&r, admin_role_name(be));
	admin_row_text(&r, be->retired ? "retired" : be->health == BE_HEALTH_UP ? "up"
	               : be->health == BE_HEALTH_DOWN ? "down" : "unknown");
	admin_row_text(&r, be->sampled_at ? lsn : NULL);
	admin_row_int(&r, (int64_t)be->lag_bytes);
	admin_row_int(&r, be->lag_ms);
	admin_row_int(&r, be->sampled_at ? (lg.now - be->sampled_at) / 1000 : -1);
	admin_row_int(&r, (int64_t)be->probe_failures);
	admin_row_int(&r, be->fail_streak);
	for (int i = 0; i < 4; i++)
		admin_row_int(&r, counts[i]);
	admin_row_int(&r, (int64_t)be->xact_routed);
	admin_row_text(&r, db_write_backend(db) == be ? "yes" : "no");
	admin_row_text(&r, be->last_error[0] ? be->last_error : NULL);
	admin_row_emit(ctx, &r, NCOLS(admin_backend_cols));
}

static bool admin_show_backends(AdminCtx *ctx)
{
	const ListNode *n;

	admin_describe(ctx, admin_backend_cols, NCOLS(admin_backend_cols));
	list_for_each(n, &lg.databases) {
		const Database *db = list_entry(n, Database, node);
		for (int i = 0; i < db->nbackends; i++)
			if (db->backends[i])
				admin_backend_row(ctx, db->backends[i]);
	}
	return admin_show_done(ctx);
}

/* ---- SHOW PLUGINS / SHOW ROUTING (lagoon) ------------------------------- */

/* One row per database with a routing plugin instance (router.h). */
static bool admin_show_plugins(AdminCtx *ctx)
{
	static const AdminCol cols[] = {
		{ "database", T_TEXT }, { "plugin", T_TEXT }, { "version", T_TEXT },
		{ "file", T_TEXT }, { "options", T_TEXT }, { "abi", T_TEXT }, { "state", T_TEXT },
		{ "calls", T_INT8 }, { "routed", T_INT8 }, { "primary", T_INT8 },
		{ "no_opinion", T_INT8 }, { "write", T_INT8 }, { "overruled", T_INT8 },
		{ "errors", T_INT8 }, { "p50_ns", T_INT8 }, { "p99_ns", T_INT8 }, { "max_ns", T_INT8 },
	};
	const ListNode *n;

	admin_describe(ctx, cols, NCOLS(cols));
	list_for_each(n, &lg.databases) {
		const Database *db = list_entry(n, Database, node);
		router_info info;
		AdminRow r;

		if (!db->router)
			continue;
		router_get_info(db->router, &info);
		admin_row_init(&r);
		admin_row_text(&r, db->name);
		admin_row_text(&r, info.name ? info.name : db->router_name);
		admin_row_text(&r, info.version);
		admin_row_text(&r, info.file);
		admin_row_text(&r, info.options ? info.options : "");
		admin_row_fmt(&r, "%" PRIu32 ".%" PRIu32, info.abi_major, info.abi_minor);
		admin_row_text(&r, info.off ? "off" : "ok");
		admin_row_uint(&r, info.calls);
		admin_row_uint(&r, info.routed);
		admin_row_uint(&r, info.by_reason[ROUTER_R_PRIMARY]);
		admin_row_uint(&r, info.by_reason[ROUTER_R_NO_OPINION]);
		admin_row_uint(&r, info.by_reason[ROUTER_R_WRITE]);
		admin_row_uint(&r, info.overruled);
		admin_row_uint(&r, info.errors);
		admin_row_uint(&r, info.p50_ns);
		admin_row_uint(&r, info.p99_ns);
		admin_row_uint(&r, info.max_ns);
		admin_row_emit(ctx, &r, NCOLS(cols));
	}
	return admin_show_done(ctx);
}

static const AdminCol admin_routing_cols[] = {
	{ "database", T_TEXT }, { "plugin", T_TEXT }, { "backend", T_TEXT },
	{ "role", T_TEXT }, { "reason", T_TEXT }, { "count", T_INT8 },
	/* of count: reads of sessions that had written; of those on the primary,
	 * LSN not known yet / no replica had replayed it; parked by POOLER_WAIT
	 * first; wait budget spent */
	{ "ryw_reads", T_INT8 }, { "ryw_pending", T_INT8 }, { "ryw_behind", T_INT8 },
	{ "waited", T_INT8 }, { "wait_timeouts", T_INT8 },
};

static void admin_routing_row(AdminCtx *ctx, const Database *db, const Backend *be,
                              const char *reason, uint64_t count, const struct RouteRywStats *ryw)
{
	static const struct RouteRywStats none;
	AdminRow r;

	if (!ryw)
		ryw = &none;
	admin_row_init(&r);
	admin_row_text(&r, db->name);
	admin_row_text(&r, db->router_name);
	admin_row_fmt(&r, "%s:%d", be->host[0] ? be->host : "unix", be->port);
	admin_row_text(&r, admin_role_name(be));
	admin_row_text(&r, reason);
	admin_row_uint(&r, count);
	admin_row_uint(&r, ryw->ryw_reads);
	admin_row_uint(&r, ryw->ryw_pending);
	admin_row_uint(&r, ryw->ryw_behind);
	admin_row_uint(&r, ryw->waited);
	admin_row_uint(&r, ryw->wait_timeouts);
	admin_row_emit(ctx, &r, NCOLS(admin_routing_cols));
}

typedef void (*AdminDbRows)(AdminCtx *ctx, const Database *db);

/* A SHOW whose rows come database by database (the admin one left out):
 * the columns, rows(db) for each, CommandComplete. */
static bool admin_show_per_db(AdminCtx *ctx, const AdminCol *cols, int ncols, AdminDbRows rows)
{
	const ListNode *n;

	admin_describe(ctx, cols, ncols);
	list_for_each(n, &lg.databases) {
		const Database *db = list_entry(n, Database, node);
		if (!db->admin)
			rows(ctx, db);
	}
	return admin_show_done(ctx);
}

/* One row per (backend, reason) of db that counted anything, then the
 * reads replayed on the primary after the backend refused them. */
static void admin_routing_rows(AdminCtx *ctx, const Database *db)
{
	for (int i = 0; i < db->nbackends && i < CF_MAX_BACKENDS; i++) {
		const Backend *be = db->backends[i];
		if (!be)
			continue;
		for (int k = 0; k < ROUTER_R_COUNT; k++)
			if (db->route_counts[i][k])
				admin_routing_row(ctx, db, be, router_reason_name((router_reason)k),
				                  db->route_counts[i][k], &db->ryw_stats[i][k]);
		if (db->route_retries[i])
			admin_routing_row(ctx, db, be, "retried", db->route_retries[i], NULL);
	}
}

static bool admin_show_routing(AdminCtx *ctx)
{
	return admin_show_per_db(ctx, admin_routing_cols, NCOLS(admin_routing_cols),
	                         admin_routing_rows);
}

static bool admin_show_lists(AdminCtx *ctx)
{
	static const AdminCol cols[] = { { "list", T_TEXT }, { "items", T_INT8 } };
	int used_clients = lg.login_clients.count + lg.cancel_clients.count;
	int used_servers = 0;
	ListNode *n;

	list_for_each(n, &lg.pools) {
		const Pool *p = list_entry(n, Pool, node);
		used_clients += p->active_clients.count + p->waiting_clients.count +
		                p->login_wait_clients.count;
		used_servers += pool_server_count(p);
	}
	const struct { const char *name; int64_t v; } rows[] = {
		{ "databases", lg.databases.count }, { "users", lg.users.count },
		{ "peers", 0 }, { "pools", lg.pools.count }, { "peer_pools", 0 },
		{ "free_clients", lg.justfree_clients.count }, { "used_clients", used_clients },
		{ "login_clients", lg.login_clients.count },
		{ "free_servers", lg.justfree_servers.count }, { "used_servers", used_servers },
		{ "dns_names", dns_name_count() }, { "dns_zones", dns_zone_count_all() },
		{ "dns_queries", (int64_t)dns_query_count() }, { "dns_pending", dns_pending_count() },
	};
	admin_describe(ctx, cols, NCOLS(cols));
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		AdminRow r;
		admin_row_init(&r);
		admin_row_text(&r, rows[i].name);
		admin_row_int(&r, rows[i].v);
		admin_row_emit(ctx, &r, 2);
	}
	return admin_show_done(ctx);
}

/* ---- SHOW STATS family ------------------------------------------------- */

/* Eight numbers of a StatsTotals (totals or averages, stats.h) then the
 * three prepared-statement counters. */
static void admin_row_stats(AdminRow *r, const StatsTotals *st)
{
	admin_row_uint(r, st->assign);
	admin_row_uint(r, st->xact);
	admin_row_uint(r, st->query);
	admin_row_uint(r, st->recv);
	admin_row_uint(r, st->sent);
	admin_row_uint(r, st->xact_time);
	admin_row_uint(r, st->query_time);
	admin_row_uint(r, st->wait_time);
	admin_row_uint(r, st->client_parse);
	admin_row_uint(r, st->server_parse);
	admin_row_uint(r, st->bind);
}

#define ADMIN_STAT_COLS(pfx, rcv, snt, ppfx) \
	{ pfx "server_assignment_count", T_INT8 }, { pfx "xact_count", T_INT8 }, \
	{ pfx "query_count", T_INT8 }, { pfx rcv, T_INT8 }, { pfx snt, T_INT8 }, \
	{ pfx "xact_time", T_INT8 }, { pfx "query_time", T_INT8 }, \
	{ pfx "wait_time", T_INT8 }, { ppfx "client_parse_count", T_INT8 }, \
	{ ppfx "server_parse_count", T_INT8 }, { ppfx "bind_count", T_INT8 }

static const AdminCol admin_stats_cols[] = {
	{ "database", T_TEXT },
	ADMIN_STAT_COLS("total_", "received", "sent", "total_"),
	ADMIN_STAT_COLS("avg_", "recv", "sent", "avg_"),
};
static const AdminCol admin_totals_cols[] = {
	{ "database", T_TEXT },
	ADMIN_STAT_COLS("", "bytes_received", "bytes_sent", ""),
};
static const AdminCol admin_averages_cols[] = {
	{ "database", T_TEXT },
	ADMIN_STAT_COLS("", "bytes_received", "bytes_sent", "avg_"),
};

/* which: 0 = STATS, 1 = STATS_TOTALS, 2 = STATS_AVERAGES */
static bool admin_show_stats_kind(AdminCtx *ctx, int which)
{
	const AdminCol *cols = which == 0 ? admin_stats_cols :
	                       which == 1 ? admin_totals_cols : admin_averages_cols;
	int ncols = which == 0 ? NCOLS(admin_stats_cols) :
	            which == 1 ? NCOLS(admin_totals_cols) : NCOLS(admin_averages_cols);
	ListNode *n;
	StatsTotals tot, avg;
	AdminRow r;

	admin_describe(ctx, cols, ncols);
	list_for_each(n, &lg.databases) {
		const Database *db = list_entry(n, Database, node);
		stats_of_db(db, &tot, &avg);
		admin_row_init(&r);
		admin_row_text(&r, db->name);
		if (which != 2)
			admin_row_stats(&r, &tot);
		if (which != 1)
			admin_row_stats(&r, &avg);
		admin_row_emit(ctx, &r, ncols);
	}
	return admin_show_done(ctx);
}

static bool admin_show_stats(AdminCtx *ctx)
{
	return admin_show_stats_kind(ctx, 0);
}

static bool admin_show_stats_totals(AdminCtx *ctx)
{
	return admin_show_stats_kind(ctx, 1);
}

static bool admin_show_stats_averages(AdminCtx *ctx)
{
	return admin_show_stats_kind(ctx, 2);
}

/* SHOW TOTALS: the STATS columns summed over every database, as rows. */
static bool admin_show_totals(AdminCtx *ctx)
{
	static const AdminCol cols[] = { { "name", T_TEXT }, { "value", T_INT8 } };
	StatsTotals tot, avg;
	AdminRow vals, r;

	stats_of_db(NULL, &tot, &avg);
	admin_row_init(&vals);
	admin_row_stats(&vals, &tot);
	admin_row_stats(&vals, &avg);
	admin_describe(ctx, cols, NCOLS(cols));
	for (int i = 0; i < vals.n && i + 1 < NCOLS(admin_stats_cols); i++) {
		admin_row_init(&r);
		admin_row_text(&r, admin_stats_cols[i + 1].name);
		admin_row_text(&r, vals.vals[i]);
		admin_row_emit(ctx, &r, 2);
	}
	return admin_show_done(ctx);
}

/* SHOW LATENCY (lagoon): the histograms of stats.h per database, as counts
 * and percentiles (the upper bound of the bucket, in microseconds; NULL
 * past the last bound). */
static void admin_row_pct(AdminRow *r, uint64_t us)
{
	if (us == UINT64_MAX)
		admin_row_text(r, NULL);
	else
		admin_row_uint(r, us);
}

static const AdminCol admin_latency_cols[] = {
	{ "database", T_TEXT }, { "kind", T_TEXT }, { "count", T_INT8 }, { "avg_us", T_INT8 },
	{ "p50_us", T_INT8 }, { "p90_us", T_INT8 }, { "p99_us", T_INT8 },
};

/* One row per histogram of db. */
static void admin_latency_rows(AdminCtx *ctx, const Database *db)
{
	static const char *const kinds[STATS_H_COUNT] = { "xact", "query", "wait" };

	for (int k = 0; k < STATS_H_COUNT; k++) {
		const StatsHist *h = &db->hist[k];
		uint64_t cnt = stats_hist_total(h);
		AdminRow r;
		admin_row_init(&r);
		admin_row_text(&r, db->name);
		admin_row_text(&r, kinds[k]);
		admin_row_uint(&r, cnt);
		admin_row_uint(&r, cnt ? h->sum_us / cnt : 0);
		admin_row_pct(&r, stats_hist_percentile(h, 50));
		admin_row_pct(&r, stats_hist_percentile(h, 90));
		admin_row_pct(&r, stats_hist_percentile(h, 99));
		admin_row_emit(ctx, &r, NCOLS(admin_latency_cols));
	}
}

static bool admin_show_latency(AdminCtx *ctx)
{
	return admin_show_per_db(ctx, admin_latency_cols, NCOLS(admin_latency_cols),
	                         admin_latency_rows);
}

/* ---- SHOW dispatch ----------------------------------------------------- */

static const AdminShow admin_shows[] = {
	{ "help", admin_show_help },
	{ "version", admin_show_version },
	{ "state", admin_show_state },
	{ "pools", admin_show_pools },
	{ "clients", admin_show_clients },
	{ "servers", admin_show_servers },
	{ "sockets", admin_show_sockets },
	{ "active_sockets", admin_show_active_sockets },
	{ "mem", admin_show_mem },
	{ "backends", admin_show_backends },
	{ "plugins", admin_show_plugins },
	{ "routing", admin_show_routing },
	{ "latency", admin_show_latency },
	{ "config", admin_show_config },
	{ "databases", admin_show_databases },
	{ "users", admin_show_users },
	{ "lists", admin_show_lists },
	{ "stats", admin_show_stats },
	{ "stats_totals", admin_show_stats_totals },
	{ "stats_averages", admin_show_stats_averages },
	{ "totals", admin_show_totals },
	{ "peers", admin_show_peers },
	{ "peer_pools", admin_show_peer_pools },
	{ "dns_hosts", admin_show_dns_hosts },
	{ "dns_zones", admin_show_dns_zones },
};

static bool admin_cmd_show(AdminCtx *ctx)
{
	const char *what = ctx->tok[1].s;
	bool handled;
	bool ok;

	if (ctx->tok[1].quoted || ctx->too_long)
		return admin_unknown(ctx);
	for (size_t i = 0; i < sizeof(admin_shows) / sizeof(admin_shows[0]); i++)
		if (strcasecmp(what, admin_shows[i].name) == 0)
			return admin_shows[i].handler(ctx);
	ok = admin_show_param(ctx, what, &handled);
	return handled ? ok : admin_unknown(ctx);
}

/* ---- SET --------------------------------------------------------------- */

/* Session settings drivers send on connect besides the tracked ones
 * (varcache.h); SET of them is accepted silently. */
static const char *const admin_driver_params[] = {
	"extra_float_digits", "default_transaction_isolation", "statement_timeout",
	"lock_timeout", "idle_in_transaction_session_timeout", "bytea_output",
	"session", "local", "names", "role", "session_authorization", "transaction",
	"time", "jit", "search_path", "geqo", "work_mem",
};

static bool admin_is_driver_param(const char *name)
{
	if (varcache_lookup(name) != VAR_COUNT)
		return true;
	for (size_t i = 0; i < sizeof(admin_driver_params) / sizeof(admin_driver_params[0]); i++)
		if (strcasecmp(name, admin_driver_params[i]) == 0)
			return true;
	return false;
}

/* SET of something that is not a lagoon setting: what drivers send on
 * connect.  Tracked session parameters are remembered for SHOW; a name
 * that is neither gets a NOTICE, so a mistyped setting is not silent. */
static bool admin_fake_set(AdminCtx *ctx)
{
	char name[ADMIN_ECHO_MAX];
	int v = 2;

	if (ctx->ntok >= 3 && (admin_word_is(ctx, 2, "=") || admin_word_is(ctx, 2, "to")))
		v = 3;
	if (ctx->ntok_total == v + 1 && ctx->ntok > v && !ctx->too_long &&
	    !ctx->tok[1].quoted) {
		if (!varcache_set_by_name(&ctx->c->vars, ctx->tok[1].s, ctx->tok[v].s))
			log_debug("admin: SET %s ignored", ctx->tok[1].s);
	}
	if (ctx->ntok >= 2 && !admin_is_driver_param(ctx->tok[1].s)) {
		admin_sanitize(name, sizeof(name), ctx->tok[1].s);
		pkt_notice(ctx->out, "00000", "\"%s\" is not a lagoon setting; ignored", name);
	}
	return admin_done(ctx, "SET");
}

static bool admin_cmd_set(AdminCtx *ctx)
{
	char key[CF_NAME_MAX], probe[1024], err[ADMIN_ERR_MAX];

	if (ctx->ntok < 2 || strlen(ctx->tok[1].s) >= sizeof(key))
		return admin_fake_set(ctx);
	admin_lower(key, sizeof(key), ctx->tok[1].s);
	if (!lg.cfg || !config_value_text(lg.cfg, key, probe, sizeof(probe)))
		return admin_fake_set(ctx);
	if (!ctx->c->admin_superuser)
		return admin_fail(ctx, "42501", "admin access needed");
	if (ctx->ntok_total != 4 || !(admin_word_is(ctx, 2, "=") || admin_word_is(ctx, 2, "to")))
		return admin_fail(ctx, "42601", "syntax error: SET key = value");
	if (ctx->too_long)
		return admin_fail(ctx, "22001", "value too long");
	if (!config_set(lg.cfg, key, ctx->tok[3].s, err, sizeof(err)))
		return admin_fail(ctx, "22023", "%s", err);
	/* a TLS setting takes effect now, or not at all */
	if (strstr(key, "_tls") && !tls_setup(lg.cfg, err, sizeof(err))) {
		char ignore[ADMIN_ERR_MAX];
		if (!config_set(lg.cfg, key, probe, ignore, sizeof(ignore)))
			log_warning("SET %s: could not restore the old value: %s", key, ignore);
		return admin_fail(ctx, "22023", "%s", err);
	}
	clog_msg(LOG_LVL_LOG, ctx->c, "admin: SET %s", key);
	return admin_done(ctx, "SET");
}

/* ---- operations -------------------------------------------------------- */

static bool admin_cmd_reload(AdminCtx *ctx)
{
	char err[ADMIN_ERR_MAX];

	err[0] = '\0';
	clog_msg(LOG_LVL_LOG, ctx->c, "admin: RELOAD");
	if (!lagoon_reload(err, sizeof(err)))
		return admin_fail(ctx, "F0000", "%s", err[0] ? err : "reload failed");
	return admin_done(ctx, "RELOAD");
}

static bool admin_cmd_shutdown(AdminCtx *ctx)
{
	ShutdownMode mode = SHUTDOWN_IMMEDIATE;

	if (admin_word_is(ctx, 1, "WAIT_FOR_SERVERS"))
		mode = SHUTDOWN_WAIT_SERVERS;
	else if (admin_word_is(ctx, 1, "WAIT_FOR_CLIENTS"))
		mode = SHUTDOWN_WAIT_CLIENTS;
	else if (ctx->ntok > 1)
		return admin_unknown(ctx);
	clog_msg(LOG_LVL_LOG, ctx->c, "admin: SHUTDOWN");
	ctx->do_shutdown = true;
	ctx->shutdown_mode = mode;
	return admin_done(ctx, "SHUTDOWN");
}

/* Resolve the optional database argument of PAUSE/RESUME/KILL/RECONNECT.
 * *db = NULL means all; false if the name is bad. */
static bool admin_opt_db(AdminCtx *ctx, Database **db)
{
	*db = NULL;
	if (ctx->ntok < 2)
		return true;
	*db = admin_find_db(ctx, 1, false);
	return *db != NULL;
}

static bool admin_cmd_pause(AdminCtx *ctx)
{
	Database *db;

	if (!admin_opt_db(ctx, &db))
		return false;
	if (db ? db->paused : lg.paused)
		return admin_fail(ctx, "55000", "%s", db ? "already paused" : "already suspended/paused");
	clog_msg(LOG_LVL_LOG, ctx->c, "admin: PAUSE %s", db ? db->name : "");
	lagoon_pause(db);
	ctx->wait = ADMIN_WAIT_PAUSE;
	ctx->wait_db = db ? db->name : "";
	return true;
}

static bool admin_cmd_wait_close(AdminCtx *ctx)
{
	Database *db;

	if (!admin_opt_db(ctx, &db))
		return false;
	ctx->wait = ADMIN_WAIT_CLOSE;
	ctx->wait_db = db ? db->name : "";
	return true;
}

static bool admin_cmd_suspend(AdminCtx *ctx)
{
	if (lg.suspended)
		return admin_fail(ctx, "55000", "already suspended");
	clog_msg(LOG_LVL_LOG, ctx->c, "admin: SUSPEND");
	lagoon_suspend();
	ctx->wait = ADMIN_WAIT_SUSPEND;
	ctx->wait_db = "";
	return true;
}

/* Anything to RESUME?  PAUSE and KILL leave the global or a db flag. */
static bool admin_any_paused(void)
{
	ListNode *n;

	if (lg.paused || lg.suspended)
		return true;
	list_for_each(n, &lg.databases)
		if (list_entry(n, Database, node)->paused)
			return true;
	return false;
}

static bool admin_cmd_resume(AdminCtx *ctx)
{
	Database *db;

	if (!admin_opt_db(ctx, &db))
		return false;
	if (db && !db->paused)
		return admin_fail(ctx, "55000", "database %s is not paused", db->name);
	if (!db && !admin_any_paused())
		return admin_fail(ctx, "55000", "pooler is not paused/suspended");
	clog_msg(LOG_LVL_LOG, ctx->c, "admin: RESUME %s", db ? db->name : "");
	lagoon_resume(db);
	return admin_done(ctx, "RESUME");
}

static bool admin_cmd_kill(AdminCtx *ctx)
{
	Database *db;
	ListNode *n, *tmp;

	if (!admin_opt_db(ctx, &db))
		return false;
	clog_msg(LOG_LVL_LOG, ctx->c, "admin: KILL %s", db ? db->name : "");
	if (db) {
		lagoon_kill_db(db);
		return admin_done(ctx, "KILL");
	}
	list_for_each_safe(n, tmp, &lg.databases) {
		Database *d = list_entry(n, Database, node);
		if (!d->admin)
			lagoon_kill_db(d);
	}
	return admin_done(ctx, "KILL");
}

static bool admin_cmd_reconnect(AdminCtx *ctx)
{
	Database *db;

	if (!admin_opt_db(ctx, &db))
		return false;
	clog_msg(LOG_LVL_LOG, ctx->c, "admin: RECONNECT %s", db ? db->name : "");
	lagoon_reconnect(db);
	return admin_done(ctx, "RECONNECT");
}

static bool admin_set_disabled(AdminCtx *ctx, bool disabled, const char *tag)
{
	Database *db = admin_find_db(ctx, 1, false);

	if (!db)
		return false;
	clog_msg(LOG_LVL_LOG, ctx->c, "admin: %s %s", tag, db->name);
	db->disabled = disabled;
	return admin_done(ctx, tag);
}

static bool admin_cmd_disable(AdminCtx *ctx)
{
	return admin_set_disabled(ctx, true, "DISABLE");
}

static bool admin_cmd_enable(AdminCtx *ctx)
{
	return admin_set_disabled(ctx, false, "ENABLE");
}

/* The client with this id on any list a live client can be on. */
static Client *admin_find_client(uint64_t id)
{
	ListNode *n, *m;

	list_for_each(m, &lg.login_clients) {
		Client *c = list_entry(m, Client, node);
		if (c->id == id)
			return c;
	}
	list_for_each(n, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		List *lists[3] = { &p->active_clients, &p->waiting_clients,
		                   &p->login_wait_clients };
		for (int i = 0; i < 3; i++) {
			list_for_each(m, lists[i]) {
				Client *c = list_entry(m, Client, node);
				if (c->id == id)
					return c;
			}
		}
	}
	return NULL;
}

static bool admin_cmd_kill_client(AdminCtx *ctx)
{
	const char *s = ctx->tok[1].s;
	char *end = NULL;
	unsigned long long id;
	Client *target;

	if (ctx->too_long || !isdigit((unsigned char)s[0]))
		return admin_fail(ctx, "22023", "KILL_CLIENT needs a client id");
	errno = 0;
	id = strtoull(s, &end, 10);
	if (errno != 0 || !end || *end)
		return admin_fail(ctx, "22023", "KILL_CLIENT needs a client id");
	target = admin_find_client((uint64_t)id);
	if (!target)
		return admin_fail(ctx, "42704", "no such client: %llu", id);
	clog_msg(LOG_LVL_LOG, ctx->c, "admin: KILL_CLIENT %llu", id);
	if (target == ctx->c)
		ctx->replied = true;    /* no answer: the caller goes away */
	else
		pkt_command_complete(ctx->out, "KILL_CLIENT");
	client_fatal(target, "57P01", "client killed by admin");
	return true;
}

/* ---- commands that complete later --------------------------------------- */

/* Servers of db's pools (NULL: all) still marked close_needed. */
static int admin_close_needed(const Database *db)
{
	const ListNode *n, *m;
	int count = 0;

	list_for_each(n, &lg.pools) {
		const Pool *p = list_entry(n, Pool, node);
		if (db && p->db != db)
			continue;
		for (int b = 0; b < p->db->nbackends; b++) {
			const PoolBackend *pb = &p->be[b];
			const List *lists[5] = { &pb->active_servers, &pb->idle_servers,
			                         &pb->used_servers, &pb->tested_servers,
			                         &pb->login_servers };
			for (int i = 0; i < 5; i++)
				list_for_each(m, lists[i])
					count += list_entry(m, Server, node)->close_needed;
		}
	}
	return count;
}

/* Has the waited-for thing happened?  since: when the wait began.  An
 * error text in *err (when err is given) means it never will. */
static bool admin_wait_check(AdminWait w, const char *dbname, usec_t since, const char **err)
{
	Database *db = dbname[0] ? admin_lookup_db(dbname) : NULL;

	if (dbname[0] && !db)
		return true;                 /* the database went away: nothing to wait for */
	switch (w) {
	case ADMIN_WAIT_PAUSE:
		if (db ? !db->paused : !lg.paused) {
			if (err)
				*err = "RESUME ended the pause before all servers were released";
			return true;
		}
		return lagoon_pause_done(db);
	case ADMIN_WAIT_CLOSE:
		return admin_close_needed(db) == 0;
	case ADMIN_WAIT_SUSPEND:
		if (lagoon_suspend_flushed() || !lg.suspended)
			return true;
		if (lg.now - since >= lg.cfg->suspend_timeout) {
			log_warning("suspend: buffers not flushed after suspend_timeout");
			return true;
		}
		return false;
	default:
		return true;
	}
}

/* Client.admin_wait: what a waiting admin command waits for (malloc'd
 * when it starts waiting, freed when answered or the client goes). */
struct AdminWaitState {
	AdminWait kind;
	usec_t since;                 /* when it started waiting */
	char db[CF_NAME_MAX];         /* its database argument ("" = all) */
};

static void admin_wait_end(Client *c)
{
	if (!c->admin_wait)
		return;
	free(c->admin_wait);
	c->admin_wait = NULL;
	admin_waiters--;
}

/* Answer a waiting admin client and let it be read again. */
static void admin_wait_answer(Client *c, const char *err)
{
	uint8_t buf[128];
	AdminWait w = c->admin_wait->kind;
	PktBuf p;

	admin_wait_end(c);
	if (err) {
		client_send_error_ready(c, "57014", "%s", err);
	} else {
		pkt_init(&p, buf, sizeof(buf));
		pkt_command_complete(&p, admin_wait_tags[w]);
		pkt_ready(&p, 'I');
		if (!p.failed && !client_send_pkt(c, &p))
			log_debug("admin: client went away");
		pkt_free(&p);
	}
	if (c->state == CL_ACTIVE)
		sbuf_continue(&c->sbuf);
}

void admin_run_waits(void)
{
	Database *adb;
	ListNode *n, *m, *t;

	if (admin_waiters <= 0 || !(adb = admin_db()))
		return;
	lg.now = get_time_usec();
	list_for_each(n, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		if (p->db != adb)
			continue;
		list_for_each_safe(m, t, &p->active_clients) {
			Client *c = list_entry(m, Client, node);
			const char *err = NULL;
			if (c->admin_wait && admin_wait_check(c->admin_wait->kind, c->admin_wait->db,
			                                      c->admin_wait->since, &err))
				admin_wait_answer(c, err);
		}
		break;
	}
}

void admin_client_gone(Client *c)
{
	admin_wait_end(c);
}

/* ---- dispatcher -------------------------------------------------------- */

static const AdminCmd admin_cmds[] = {
	/* name          handler                 admin  words  */
	{ "SHOW",        admin_cmd_show,         false, 2, 2 },
	{ "SET",         admin_cmd_set,          false, 1, 1000000 },
	{ "RELOAD",      admin_cmd_reload,       true,  1, 1 },
	{ "SHUTDOWN",    admin_cmd_shutdown,     true,  1, 2 },
	{ "PAUSE",       admin_cmd_pause,        true,  1, 2 },
	{ "RESUME",      admin_cmd_resume,       true,  1, 2 },
	{ "KILL",        admin_cmd_kill,         true,  1, 2 },
	{ "RECONNECT",   admin_cmd_reconnect,    true,  1, 2 },
	{ "DISABLE",     admin_cmd_disable,      true,  2, 2 },
	{ "ENABLE",      admin_cmd_enable,       true,  2, 2 },
	{ "KILL_CLIENT", admin_cmd_kill_client,  true,  2, 2 },
	{ "WAIT_CLOSE",  admin_cmd_wait_close,   true,  1, 2 },
	{ "SUSPEND",     admin_cmd_suspend,      true,  1, 1 },
};

/* Run the command in ctx; false with ctx->err set on failure. */
static bool admin_dispatch(AdminCtx *ctx)
{
	const AdminCmd *cmd = NULL;

	if (ctx->bad_syntax || ctx->tok[0].quoted)
		return admin_unknown(ctx);
	for (size_t i = 0; i < sizeof(admin_cmds) / sizeof(admin_cmds[0]); i++) {
		if (strcasecmp(ctx->tok[0].s, admin_cmds[i].name) == 0) {
			cmd = &admin_cmds[i];
			break;
		}
	}
	if (!cmd || ctx->ntok_total < cmd->min_words || ctx->ntok_total > cmd->max_words)
		return admin_unknown(ctx);
	if (cmd->needs_admin && !ctx->c->admin_superuser)
		return admin_fail(ctx, "42501", "admin access needed");
	return cmd->handler(ctx);
}

/* Send what the handler built (or its error), then run deferred actions. */
static void admin_finish(AdminCtx *ctx, bool ok)
{
	Client *c = ctx->c;

	if (ctx->replied) {
		pkt_free(ctx->out);
		return;
	}
	if (ok && ctx->wait != ADMIN_WAIT_NONE && !admin_wait_check(ctx->wait, ctx->wait_db, lg.now, NULL)) {
		/* answered by admin_run_waits(); nothing was built yet */
		pkt_free(ctx->out);
		c->admin_wait = calloc(1, sizeof(*c->admin_wait));
		if (!c->admin_wait) {
			client_send_error_ready(c, "53200", "out of memory");
			return;
		}
		c->admin_wait->kind = ctx->wait;
		c->admin_wait->since = lg.now;
		snprintf(c->admin_wait->db, sizeof(c->admin_wait->db), "%s", ctx->wait_db);
		admin_waiters++;
		sbuf_pause(&c->sbuf);
		return;
	}
	if (ok && ctx->wait != ADMIN_WAIT_NONE)
		pkt_command_complete(ctx->out, admin_wait_tags[ctx->wait]);
	if (ok) {
		pkt_ready(ctx->out, 'I');
		if (ctx->out->failed) {
			ok = false;
			admin_fail(ctx, "53200", "out of memory");
		}
	}
	if (ok) {
		if (!client_send_pkt(c, ctx->out))
			log_debug("admin: client went away during the answer");
	} else {
		client_send_error_ready(c, ctx->sqlstate, "%s", ctx->err);
	}
	pkt_free(ctx->out);
	if (ok && ctx->do_shutdown)
		lagoon_shutdown(ctx->shutdown_mode);
}

/* Only whitespace and semicolons: PostgreSQL answers EmptyQueryResponse. */
static void admin_empty_query(Client *c)
{
	uint8_t buf[64];
	PktBuf p;

	pkt_init(&p, buf, sizeof(buf));
	pkt_empty_query(&p);
	pkt_ready(&p, 'I');
	if (!p.failed && !client_send_pkt(c, &p))
		log_debug("admin: client went away");
	pkt_free(&p);
}

void admin_handle_query(Client *c, const char *sql)
{
	uint8_t stack[ADMIN_OUT_STACK];
	AdminCtx ctx;
	PktBuf out;
	bool ok;

	if (!c)
		return;
	memset(&ctx, 0, sizeof(ctx));
	ctx.c = c;
	ctx.sql = sql ? sql : "";
	admin_tokenize(&ctx, ctx.sql);
	if (ctx.ntok_total == 0 && !ctx.bad_syntax) {
		admin_empty_query(c);
		return;
	}
	pkt_init(&out, stack, sizeof(stack));
	ctx.out = &out;
	ctx.wall_offset = admin_realtime_usec() - get_time_usec();
	ok = admin_dispatch(&ctx);
	admin_finish(&ctx, ok);
}
