/*
 * client.c - the client-side protocol state machine.
 *
 *   accept -> CL_LOGIN: startup packet (SSLRequest answered 'S' and the
 *   TLS handshake run when client TLS is on, else 'N'; GSSENCRequest
 *   answered 'N'; CancelRequest forwarded), authentication against the
 *   auth_file or the client certificate
 *   -> CL_WAITING_LOGIN until the pool knows the server parameters
 *   -> welcome (AuthenticationOk, ParameterStatus, BackendKeyData,
 *   ReadyForQuery) -> CL_ACTIVE.
 *
 * In CL_ACTIVE the first message of a transaction takes a server from the
 * pool (or parks the client in CL_WAITING with its bytes unread); every
 * message is forwarded after the server side has noted what reply it
 * expects.  The server side decides when the transaction is over and
 * releases the link (server.c).
 */
#include "autoconf.h"

#include "client.h"
#include "server.h"
#include "objects.h"
#include "admin.h"
#include "routing.h"
#include "authq.h"
#include "hba.h"
#include "prepare.h"
#include "log.h"
#include "tls.h"
#include "strpool.h"

#include <pwd.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#define STARTUP_MAX_LEN 10000
#define ADMIN_QUERY_MAX (64 * 1024)
#define AUTH_MSG_MAX 8192

static SBufAction client_proto(SBuf *sb, const SBufMsg *msg);
static void client_event(SBuf *sb, SBufEvent ev);

/* ---- output helpers -------------------------------------------------- */

bool client_send_pkt(Client *c, PktBuf *p)
{
	if (p->failed) {
		client_close(c, "out of memory building a reply");
		return false;
	}
	if (!sbuf_send_local(&c->sbuf, p->buf, p->len)) {
		client_close(c, "write to client failed");
		return false;
	}
	return true;
}

static void client_vfatal(Client *c, const char *sqlstate, const char *fmt, va_list ap)
{
	char msg[512];
	uint8_t stack[600];
	PktBuf p;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	pkt_init(&p, stack, sizeof(stack));
	pkt_error(&p, "FATAL", sqlstate, "%s", msg);
	if (!p.failed)
		(void)sbuf_send_local(&c->sbuf, p.buf, p.len);
	pkt_free(&p);
	client_close(c, "%s", msg);
}

void client_fatal(Client *c, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;

	if (c->state == CL_JUSTFREE)
		return;
	va_start(ap, fmt);
	client_vfatal(c, sqlstate, fmt, ap);
	va_end(ap);
}

void client_send_error_ready(Client *c, const char *sqlstate, const char *fmt, ...)
{
	char msg[512];
	uint8_t stack[600];
	PktBuf p;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pkt_init(&p, stack, sizeof(stack));
	pkt_error(&p, "ERROR", sqlstate, "%s", msg);
	pkt_ready(&p, 'I');
	(void)client_send_pkt(c, &p);
	pkt_free(&p);
}

/* ---- lifecycle ------------------------------------------------------- */

/* Login-time state (Client.login): made at accept, freed at the welcome
 * (client_login_free), so an idle client does not carry it. */
typedef struct ClientLogin ClientLogin;

struct ClientLogin {
	struct sockaddr_storage peer; /* TCP peer address (for hba) */
	uint32_t peer_uid;            /* Unix socket peer (SO_PEERCRED) */
	AuthStep auth_step;
	int auth_method;              /* how this client authenticates (CM_*) */
	uint8_t md5_salt[4];
	ScramServer *scram;           /* during SCRAM only (malloc'd) */
	char *auth_secret;            /* secret being verified (malloc'd) */
	char *tls_peer_cn;            /* CN of its verified certificate (malloc'd), NULL = none */
};

/* Wipe and free the SCRAM state and the secret being verified. */
static void client_login_forget_secrets(ClientLogin *l)
{
	if (l->scram)
		explicit_bzero(l->scram, sizeof(*l->scram));
	free(l->scram);
	l->scram = NULL;
	if (l->auth_secret)
		explicit_bzero(l->auth_secret, strlen(l->auth_secret));
	free(l->auth_secret);
	l->auth_secret = NULL;
}

static void client_login_free(Client *c)
{
	ClientLogin *l = c->login;

	if (!l)
		return;
	client_login_forget_secrets(l);
	free(l->tls_peer_cn);
	free(l);
	c->login = NULL;
}

/* The peer address as text (pooled: clients from one host share it). */
static const char *client_addr_text(Client *c, const struct sockaddr *sa)
{
	char buf[INET6_ADDRSTRLEN];

	c->port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
		if (!inet_ntop(AF_INET, &in->sin_addr, buf, sizeof(buf)))
			buf[0] = '\0';
		c->port = ntohs(in->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
		if (!inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof(buf)))
			buf[0] = '\0';
		c->port = ntohs(in6->sin6_port);
	} else {
		snprintf(buf, sizeof(buf), "unix");
	}
	return strpool_get(buf);
}

/* Free a closed client (objects_reap, after its JUSTFREE turn). */
void client_free(Client *c)
{
	varcache_clear(&c->vars);
	client_login_free(c);
	strpool_put(c->username);
	strpool_put(c->dbname);
	strpool_put(c->addr);
	strpool_put(c->ryw_key);
	free(c->txn_key);
	free(c);
}

Client *client_accept(int fd, const struct sockaddr *sa, socklen_t salen, bool is_unix)
{
	Client *c = calloc(1, sizeof(*c));
	const char *addr;

	if (c)
		c->login = calloc(1, sizeof(*c->login));
	addr = c && c->login ? client_addr_text(c, sa) : NULL;
	if (!addr) {
		if (c)
			free(c->login);
		free(c);
		close(fd);
		return NULL;
	}
	sbuf_init(&c->sbuf, client_proto, client_event);
	c->sbuf.startup = true;
	list_node_init(&c->node);
	list_node_init(&c->cancel_node);
	c->id = lg.next_client_id++;
	c->is_unix = is_unix;
	c->addr = addr;
	c->username = c->dbname = c->ryw_key = strpool_empty;
	if (!is_unix && salen > 0 && (size_t)salen <= sizeof(c->login->peer))
		memcpy(&c->login->peer, sa, (size_t)salen);
	if (is_unix) {
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0)
			c->login->peer_uid = cred.uid;
		else
			c->login->peer_uid = (uint32_t)-1;
	}
	c->connect_time = c->request_time = lg.now;
	client_change_state(c, CL_LOGIN);
	lg.client_count++;
	if (!sbuf_accept(&c->sbuf, fd, !is_unix, lg.base)) {
		close(fd);
		c->sbuf.fd = -1;
		client_close(c, "cannot watch the socket");
		return NULL;
	}
	return c;
}

/* The client leaves while linked: keep the server only if it is clean. */
static void client_unlink_server(Client *c)
{
	Server *s = c->link;

	if (!s)
		return;
	if (sbuf_forward_pending(&c->sbuf)) {
		/* part of a message already went to the server: its stream is cut */
		s->dirty_close = true;
		server_close(s, "client disconnected in the middle of a message");
	} else if (server_is_clean(s) && s->swallow_rfq == 0) {
		server_release(s);
	} else if (server_is_clean(s)) {
		/* only lagoon's own query (commit LSN, SET) runs: let it finish */
		server_detach(s);
	} else {
		s->dirty_close = true;
		server_close(s, "client disconnected in a transaction or with a query running");
	}
}

void client_close(Client *c, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	Pool *p = c->pool;

	if (c->state == CL_JUSTFREE)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (c->welcomed ? lg.cfg->log_disconnections : lg.cfg->log_pooler_errors)
		clog_msg(LOG_LVL_LOG, c, "closing because: %s (age=%llds)", reason,
		         (long long)((lg.now - c->connect_time) / 1000000));
	client_unlink_server(c);
	prep_client_free(c);
	client_drop_retry(c);
	if (c->admin)
		admin_client_gone(c);
	routing_unpark(c);
	routing_session_end(c);
	cancel_unregister(c);
	authq_client_gone(c);
	if (c->db && c->db->client_count > 0 && c->welcomed)
		c->db->client_count--;
	if (c->user && c->user->client_count > 0 && c->welcomed)
		c->user->client_count--;
	sbuf_close(&c->sbuf);
	lg.client_count--;
	client_change_state(c, CL_JUSTFREE);
	client_login_free(c);
	if (p)
		pool_activate_later(p);
}

static void client_event(SBuf *sb, SBufEvent ev)
{
	Client *c = (Client *)sb;

	switch (ev) {
	case SBUF_EV_EOF:
		client_close(c, c->sbuf.startup ? "client closed the connection during startup"
		                                 : "client closed the connection");
		break;
	case SBUF_EV_SEND_FAILED:
		client_close(c, "sending to the client failed");
		break;
	case SBUF_EV_TLS_READY: {
		char *cn = tls_peer_cn(c->sbuf.tls);
		c->tls_active = true;
		if (lg.cfg->log_connections)
			clog_msg(LOG_LVL_DEBUG, c, "TLS established: %s%s%s", tls_info(c->sbuf.tls),
			         cn ? ", certificate CN=" : "", cn ? cn : "");
		if (c->login) {
			free(c->login->tls_peer_cn);
			c->login->tls_peer_cn = cn;
		} else {
			free(cn);
		}
		break;
	}
	case SBUF_EV_TLS_FAILED:
		client_close(c, "%s", tls_error(c->sbuf.tls));
		break;
	default:
		break;
	}
}

/* ---- welcome --------------------------------------------------------- */

static void client_send_welcome(Client *c)
{
	uint8_t stack[2048];
	PktBuf p;
	Pool *pool = c->pool;

	pkt_init(&p, stack, sizeof(stack));
	pkt_auth_request(&p, AUTH_REQ_OK, NULL, 0);
	if (c->admin) {
		pkt_param_status(&p, "server_version", "15.0 (" PACKAGE_NAME " " PACKAGE_VERSION ")");
		pkt_param_status(&p, "client_encoding", c->vars.val[VAR_CLIENT_ENCODING] ? c->vars.val[VAR_CLIENT_ENCODING] : "UTF8");
		pkt_param_status(&p, "server_encoding", "UTF8");
		pkt_param_status(&p, "DateStyle", "ISO, MDY");
		pkt_param_status(&p, "standard_conforming_strings", "on");
		pkt_param_status(&p, "integer_datetimes", "on");
		pkt_param_status(&p, "TimeZone", "UTC");
	} else {
		/* the pool's parameters, with the client's own values on top */
		for (int i = 0; i < VAR_COUNT; i++) {
			if (!c->vars.val[i] && pool->server_params.val[i])
				(void)varcache_set(&c->vars, (VarId)i, pool->server_params.val[i]);
		}
		pkt_put_bytes(&p, pool->welcome.buf, pool->welcome.len);
		for (int i = 0; i < VAR_COUNT; i++) {
			if (c->vars.val[i] && (!pool->server_params.val[i] ||
			                       strcmp(c->vars.val[i], pool->server_params.val[i]) != 0))
				pkt_param_status(&p, varcache_name((VarId)i), c->vars.val[i]);
		}
	}
	pkt_backend_key(&p, c->cancel_pid, c->cancel_key);
	pkt_ready(&p, 'I');
	if (!c->admin && !prep_client_start(c)) {
		pkt_free(&p);
		client_fatal(c, "53200", "out of memory");
		return;
	}
	if (!client_send_pkt(c, &p)) {
		pkt_free(&p);
		return;
	}
	pkt_free(&p);
	c->welcomed = true;
	client_login_free(c);
	c->db->client_count++;
	c->user->client_count++;
	c->request_time = lg.now;
	client_change_state(c, CL_ACTIVE);
	cancel_register(c);
	if (lg.cfg->log_connections)
		clog_msg(LOG_LVL_LOG, c, "login successful");
}

void client_login_done(Client *c, const char *error)
{
	if (error) {
		client_fatal(c, c->pool && c->pool->last_login_sqlstate[0] ? c->pool->last_login_sqlstate
		             : "08006", "%s", error);
		return;
	}
	client_send_welcome(c);
}

/* A recent login failure blocks new attempts (server_login_retry): a
 * client that needs a first login gets the error instead of waiting. */
static bool client_login_retry_pending(const Pool *p)
{
	Backend *be = db_write_backend(p->db);
	usec_t t;

	if (!be)
		return false;
	t = p->be[be->index].last_connect_failed;
	return t && lg.now - t < lg.cfg->server_login_retry;
}

/* Authentication succeeded: check access, find the pool, welcome. */
/* Keep the keys of a SCRAM login against a stored SCRAM secret, so the
 * pooler can log in to servers as this user without a password. */
static void client_keep_scram_keys(Client *c, User *u)
{
	if (!u || !c->login->scram || !c->login->scram->have_client_key || !c->login->auth_secret ||
	    !scram_secret_server_key(c->login->auth_secret, u->scram_server_key))
		return;
	memcpy(u->scram_client_key, c->login->scram->client_key, SCRAM_KEY_LEN);
	u->scram_keys_ok = true;
}

/* The admin console's peer check: over the Unix socket, from the OS user
 * lagoon runs as, under an admin name ("pgbouncer", "lagoon" or one of
 * admin_users) -- let in as admin without a password. */
static bool client_admin_peer(const Client *c)
{
	return c->admin && c->is_unix && c->login->peer_uid == (uint32_t)getuid() &&
		(config_list_contains(lg.cfg->admin_users, c->username) ||
		 strcmp(c->username, "pgbouncer") == 0 || strcmp(c->username, "lagoon") == 0);
}

/* A secret auth_query found: kept on the user, for the pooler's own
 * logins to servers as this user. */
static void client_keep_dyn_secret(Client *c, User *u)
{
	char *d;

	if (!u || !c->login->auth_secret || (lg.authfile && authfile_lookup(lg.authfile, c->username)))
		return;
	if (u->dyn_secret && strcmp(u->dyn_secret, c->login->auth_secret) == 0)
		return;
	d = strdup(c->login->auth_secret);
	if (!d)
		return;
	free(u->dyn_secret);
	u->dyn_secret = d;
}

static void client_auth_ok(Client *c)
{
	c->login->auth_step = AUTH_STEP_NONE;
	client_keep_dyn_secret(c, user_get(c->username));
	if (c->login->scram && c->login->scram->have_client_key)
		client_keep_scram_keys(c, user_get(c->username));
	client_login_forget_secrets(c->login);
	if (!c->db) {
		client_fatal(c, "3D000", "database \"%s\" does not exist", c->dbname);
		return;
	}
	if (c->admin) {
		bool su = config_list_contains(lg.cfg->admin_users, c->username) || client_admin_peer(c);
		/* auth_type=any lets every name in, as PgBouncer does: read-only
		 * unless it is one of admin_users */
		if (!su && lg.cfg->auth_type != AUTH_TYPE_ANY &&
		    !config_list_contains(lg.cfg->stats_users, c->username)) {
			client_fatal(c, "28000", "not allowed");
			return;
		}
		c->admin_superuser = su;
	}
	c->user = user_get(c->username);
	c->pool = c->user ? pool_get(c->db, c->user) : NULL;
	if (!c->pool) {
		client_fatal(c, "53200", "out of memory");
		return;
	}
	if (c->admin || c->pool->welcome_ok) {
		client_send_welcome(c);
		return;
	}
	client_change_state(c, CL_WAITING_LOGIN);
	sbuf_pause(&c->sbuf);
	pool_activate(c->pool);
	if (c->state == CL_WAITING_LOGIN && pool_server_count(c->pool) == 0 &&
	    c->pool->last_login_error[0] && client_login_retry_pending(c->pool))
		client_login_done(c, c->pool->last_login_error);
}

/* ---- login failure rate limit ------------------------------------------ */

/* Failed logins per client address in the current window: a small
 * fixed table; a full table forgets the entry whose window is oldest. */
#define FAIL_SLOTS 1024

typedef struct FailSlot {
	char addr[64];
	int count;
	usec_t since;                 /* start of the window */
} FailSlot;

static FailSlot fail_slots[FAIL_SLOTS];

static FailSlot *client_fail_slot(const Client *c, bool create)
{
	uint32_t h = 2166136261u;
	FailSlot *oldest = NULL;

	for (const char *p = c->addr; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (int i = 0; i < 8; i++) {
		FailSlot *f = &fail_slots[(h + (uint32_t)i) % FAIL_SLOTS];
		if (f->addr[0] && strcmp(f->addr, c->addr) == 0)
			return f;
		if (!oldest || !f->addr[0] || (oldest->addr[0] && f->since < oldest->since))
			oldest = f;
	}
	if (!create)
		return NULL;
	memset(oldest, 0, sizeof(*oldest));
	snprintf(oldest->addr, sizeof(oldest->addr), "%s", c->addr);
	oldest->since = lg.now;
	return oldest;
}

/* More than auth_failure_limit failures within auth_failure_window. */
static bool client_rate_limited(const Client *c)
{
	FailSlot *f;

	if (lg.cfg->auth_failure_limit <= 0)
		return false;
	f = client_fail_slot(c, false);
	if (!f || lg.now - f->since > lg.cfg->auth_failure_window)
		return false;
	return f->count >= lg.cfg->auth_failure_limit;
}

static void client_note_failure(const Client *c)
{
	FailSlot *f;

	if (lg.cfg->auth_failure_limit <= 0)
		return;
	f = client_fail_slot(c, true);
	if (lg.now - f->since > lg.cfg->auth_failure_window) {
		f->since = lg.now;
		f->count = 0;
	}
	f->count++;
	if (f->count == lg.cfg->auth_failure_limit)
		clog_msg(LOG_LVL_WARNING, c, "%d failed logins from %s: refusing logins from it for "
		         "the rest of auth_failure_window", f->count, c->addr);
}

/* Every authentication failure ends here: one message, one SQLSTATE,
 * whatever went wrong (wrong password, unknown user, bad proof). */
static void client_auth_failed(Client *c)
{
	client_note_failure(c);
	client_fatal(c, "28P01", "password authentication failed for user \"%s\"", c->username);
}

/* A failure that names its reason (hba reject, cert, peer): the reason
 * does not depend on whether the user exists. */
static void client_auth_refused(Client *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void client_auth_refused(Client *c, const char *fmt, ...)
{
	va_list ap;

	client_note_failure(c);
	va_start(ap, fmt);
	client_vfatal(c, "28000", fmt, ap);
	va_end(ap);
}

/* ---- authentication -------------------------------------------------- */

/* How one client authenticates (Client.auth_method). */
enum {
	CM_TRUST = 0,
	CM_ANY,
	CM_REJECT,
	CM_PASSWORD,
	CM_MD5,
	CM_SCRAM,
	CM_CERT,
	CM_PEER,
};

static void client_send_auth(Client *c, uint32_t code, const void *data, size_t len)
{
	uint8_t stack[256];
	PktBuf p;

	pkt_init(&p, stack, sizeof(stack));
	pkt_auth_request(&p, code, data, len);
	(void)client_send_pkt(c, &p);
	pkt_free(&p);
}

static void client_start_scram(Client *c)
{
	static const char mechs[] = "SCRAM-SHA-256\0";

	c->login->scram = calloc(1, sizeof(*c->login->scram));
	if (!c->login->scram) {
		client_fatal(c, "53200", "out of memory");
		return;
	}
	/* a NULL secret runs a mock exchange that fails at the end */
	if (!scram_server_init(c->login->scram, c->username, c->login->auth_secret, 0)) {
		free(c->login->auth_secret);
		c->login->auth_secret = NULL;
		(void)scram_server_init(c->login->scram, c->username, NULL, 0);
	}
	c->login->auth_step = AUTH_STEP_SCRAM_FIRST;
	client_send_auth(c, AUTH_REQ_SASL, mechs, sizeof(mechs));
}

/* The method for this connection: auth_type, or the first hba rule. */
static int client_method(Client *c)
{
	HbaQuery q;
	int line = 0;

	switch (lg.cfg->auth_type) {
	case AUTH_TYPE_TRUST: return CM_TRUST;
	case AUTH_TYPE_ANY: return CM_ANY;
	case AUTH_TYPE_PLAIN: return CM_PASSWORD;
	case AUTH_TYPE_MD5: return CM_MD5;
	case AUTH_TYPE_SCRAM: return CM_SCRAM;
	case AUTH_TYPE_CERT: return CM_CERT;
	case AUTH_TYPE_HBA: break;
	default: return CM_REJECT;
	}
	memset(&q, 0, sizeof(q));
	q.addr = c->is_unix ? NULL : (const struct sockaddr *)&c->login->peer;
	q.tls = c->tls_active;
	q.database = c->dbname;
	q.user = c->username;
	if (!lg.hba) {
		/* (auth_type = hba set with SET, before a RELOAD loaded a file) */
		clog_msg(LOG_LVL_WARNING, c, "auth_type = hba but no auth_hba_file is loaded: rejected");
		return CM_REJECT;
	}
	switch (hba_match(lg.hba, &q, &line)) {
	case HBA_TRUST: return CM_TRUST;
	case HBA_PASSWORD: return CM_PASSWORD;
	case HBA_MD5: return CM_MD5;
	case HBA_SCRAM: return CM_SCRAM;
	case HBA_CERT: return CM_CERT;
	case HBA_PEER: return CM_PEER;
	case HBA_REJECT: break;
	}
	clog_msg(LOG_LVL_DEBUG, c, "hba: %s", line ? "rejected by a reject rule" : "no rule matched");
	return line ? -1 : CM_REJECT;   /* -1: an explicit reject rule */
}

/* The methods that take no password. */
static void client_auth_no_password(Client *c, int m, const char *secret)
{
	const char *enc = c->tls_active ? "TLS" : "no encryption";

	switch (m) {
	case CM_REJECT:
	case -1:
		/* (not a failed login: the rules, not a guess, refused it) */
		client_fatal(c, "28000", "%s for host \"%s\", user \"%s\", database \"%s\", %s",
		             m < 0 ? "pg_hba.conf rejects connection" : "no pg_hba.conf entry",
		             c->addr, c->username, c->dbname, enc);
		return;
	case CM_CERT:
		if (c->tls_active && c->login->tls_peer_cn && strcmp(c->login->tls_peer_cn, c->username) == 0)
			client_auth_ok(c);
		else
			client_auth_refused(c, "certificate authentication failed for user \"%s\"", c->username);
		return;
	case CM_PEER: {
		struct passwd *pw = c->is_unix ? getpwuid((uid_t)c->login->peer_uid) : NULL;
		if (pw && strcmp(pw->pw_name, c->username) == 0)
			client_auth_ok(c);
		else
			client_auth_refused(c, "peer authentication failed for user \"%s\"", c->username);
		return;
	}
	default:
		/* trust, like PgBouncer's, still needs the user in the auth_file
		 * when there is one */
		if (m == CM_ANY || !lg.authfile || secret)
			client_auth_ok(c);
		else
			client_auth_failed(c);
		return;
	}
}

/* Go on with the password exchange once the secret is known (NULL = no
 * such user: a mock exchange that fails like a wrong password). */
void client_auth_with_secret(Client *c, const char *secret)
{
	int m = c->login->auth_method;

	c->login->auth_step = AUTH_STEP_NONE;
	if (c->sbuf.paused)
		sbuf_continue(&c->sbuf);
	c->login->auth_secret = secret ? strdup(secret) : NULL;
	if (secret && !c->login->auth_secret) {
		client_fatal(c, "53200", "out of memory");
		return;
	}
	if (m == CM_SCRAM || (m == CM_MD5 && secret && auth_secret_kind(secret) == SECRET_SCRAM)) {
		client_start_scram(c);
	} else if (m == CM_MD5) {
		if (!auth_random_bytes(c->login->md5_salt, sizeof(c->login->md5_salt))) {
			client_fatal(c, "58000", "could not generate random salt");
			return;
		}
		c->login->auth_step = AUTH_STEP_MD5;
		client_send_auth(c, AUTH_REQ_MD5, c->login->md5_salt, sizeof(c->login->md5_salt));
	} else {
		c->login->auth_step = AUTH_STEP_PASSWORD;
		client_send_auth(c, AUTH_REQ_PASSWORD, NULL, 0);
	}
}

/* Decide how this client proves who it is. */
static void client_start_auth(Client *c)
{
	const char *secret = lg.authfile ? authfile_lookup(lg.authfile, c->username) : NULL;
	int m;

	if (client_admin_peer(c)) {
		client_auth_ok(c);
		return;
	}
	if (client_rate_limited(c)) {
		client_fatal(c, "28000", "too many failed login attempts from this address; try again later");
		return;
	}
	m = c->login->auth_method = client_method(c);
	if (m != CM_PASSWORD && m != CM_MD5 && m != CM_SCRAM) {
		client_auth_no_password(c, m, secret);
		return;
	}
	if (!secret && authq_wanted(c)) {
		/* the secret comes from auth_query; stop reading meanwhile */
		c->login->auth_step = AUTH_STEP_QUERY;
		sbuf_pause(&c->sbuf);
		authq_start(c);
		return;
	}
	client_auth_with_secret(c, secret);
}

static bool client_check_plain(Client *c, const char *password)
{
	char md5[36];

	if (!c->login->auth_secret)
		return false;
	switch (auth_secret_kind(c->login->auth_secret)) {
	case SECRET_PLAIN:
		return auth_str_equal(c->login->auth_secret, password);
	case SECRET_MD5:
		md5_secret(c->username, password, md5);
		return auth_str_equal(c->login->auth_secret, md5);
	default:
		return false;
	}
}

static void client_scram_step(Client *c, PktReader *r)
{
	char out[1024];
	char err[256];
	const char *data;
	size_t len;

	if (c->login->auth_step == AUTH_STEP_SCRAM_FIRST) {
		const char *mech = pkt_get_str(r);
		uint32_t dlen = pkt_get_u32(r);
		if (r->bad || !mech || strcmp(mech, "SCRAM-SHA-256") != 0) {
			client_fatal(c, "28000", "unsupported SASL mechanism");
			return;
		}
		len = r->len - r->pos;
		if (dlen != len) {
			client_fatal(c, "08P01", "malformed SASLInitialResponse");
			return;
		}
		data = (const char *)pkt_get_bytes(r, len);
		if (!data || !scram_server_first(c->login->scram, data, len, out, sizeof(out), err, sizeof(err))) {
			clog_msg(LOG_LVL_LOG, c, "SCRAM: %s", data ? err : "no data");
			client_auth_failed(c);
			return;
		}
		c->login->auth_step = AUTH_STEP_SCRAM_FINAL;
		client_send_auth(c, AUTH_REQ_SASL_CONT, out, strlen(out));
		return;
	}
	len = r->len - r->pos;
	data = (const char *)pkt_get_bytes(r, len);
	if (!data || !scram_server_final(c->login->scram, data, len, out, sizeof(out), err, sizeof(err))) {
		client_auth_failed(c);
		return;
	}
	client_send_auth(c, AUTH_REQ_SASL_FIN, out, strlen(out));
	if (c->state == CL_LOGIN)
		client_auth_ok(c);
}

/* A 'p' message during login. */
static void client_auth_message(Client *c, const SBufMsg *msg)
{
	PktReader r;
	const char *pw;

	pkt_reader_init(&r, msg->data + 5, msg->len - 5);
	switch (c->login->auth_step) {
	case AUTH_STEP_PASSWORD:
		pw = pkt_get_str(&r);
		if (pw && client_check_plain(c, pw))
			client_auth_ok(c);
		else
			client_auth_failed(c);
		break;
	case AUTH_STEP_MD5:
		pw = pkt_get_str(&r);
		if (pw && c->login->auth_secret && auth_secret_kind(c->login->auth_secret) != SECRET_SCRAM &&
		    md5_verify(c->username, c->login->auth_secret, c->login->md5_salt, pw))
			client_auth_ok(c);
		else
			client_auth_failed(c);
		break;
	case AUTH_STEP_SCRAM_FIRST:
	case AUTH_STEP_SCRAM_FINAL:
		client_scram_step(c, &r);
		break;
	default:
		client_fatal(c, "08P01", "unexpected password message");
		break;
	}
}

/* ---- startup --------------------------------------------------------- */

/* lagoon.ryw_key (a startup parameter, or -c in options): the key this
 * connection shares read-your-writes under (ryw_scope = key).  false if
 * the value is not a valid key. */
static bool client_take_ryw_key(Client *c, const char *value)
{
	const char *k;

	if (!routing_valid_key(value) || !(k = strpool_get(value)))
		return false;
	strpool_put(c->ryw_key);
	c->ryw_key = k;
	return true;
}

static bool client_option_cb(void *arg, const char *name, const char *value)
{
	Client *c = arg;

	if (strcmp(name, "lagoon.ryw_key") == 0)
		return client_take_ryw_key(c, value);
	if (varcache_set_by_name(&c->vars, name, value))
		return true;
	return config_list_contains(lg.cfg->ignore_startup_parameters, name) ||
		config_list_contains(lg.cfg->ignore_startup_parameters, "options");
}

/* Startup parameters: tracked ones go to the varcache; others must be
 * listed in ignore_startup_parameters.  false = client was closed. */
static bool client_take_params(Client *c, const StartupInfo *si)
{
	char err[256];

	for (int i = 0; i < si->nparams; i++) {
		const char *n = si->names[i], *v = si->values[i];
		if (!strcmp(n, "user") || !strcmp(n, "database"))
			continue;
		if (!strcmp(n, "options")) {
			if (!proto_parse_options(v, client_option_cb, c, err, sizeof(err))) {
				client_fatal(c, "08P01", "unsupported options startup parameter: %s", err);
				return false;
			}
			continue;
		}
		if (!strcmp(n, "lagoon.ryw_key")) {
			if (!client_take_ryw_key(c, v)) {
				client_fatal(c, "08P01", "invalid lagoon.ryw_key: 1 to 63 of A-Z a-z 0-9 _ . : @ -");
				return false;
			}
			continue;
		}
		if (!strcmp(n, "replication")) {
			client_fatal(c, "08P01", "replication connections are not supported");
			return false;
		}
		if (varcache_set_by_name(&c->vars, n, v))
			continue;
		if (config_list_contains(lg.cfg->ignore_startup_parameters, n))
			continue;
		client_fatal(c, "08P01", "unsupported startup parameter: %s", n);
		return false;
	}
	return true;
}

static void client_handle_cancel(Client *c, uint32_t pid, uint32_t key)
{
	Client *target = cancel_lookup(pid, key);

	client_change_state(c, CL_CANCEL);
	if (!target)
		clog_msg(LOG_LVL_DEBUG, c, "cancel request for an unknown key");
	else if (!target->link)
		clog_msg(LOG_LVL_DEBUG, c, "cancel request for an idle client");
	else
		server_send_cancel(target->link);
	client_close(c, "cancel request handled");
}

/* Client.username / dbname from the startup packet, cut to CF_NAME_MAX - 1
 * bytes as a name may be (a longer one is refused after).  false: out of
 * memory. */
static bool client_set_name(const char **field, const char *value)
{
	size_t len = strnlen(value, CF_NAME_MAX - 1);
	const char *v = strpool_get_len(value, len);

	if (!v)
		return false;
	strpool_put(*field);
	*field = v;
	return true;
}

static void client_startup_v3(Client *c, const StartupInfo *si)
{
	const char *dbname = si->database && si->database[0] ? si->database : si->user;

	if (!client_set_name(&c->username, si->user) || !client_set_name(&c->dbname, dbname)) {
		client_fatal(c, "53200", "out of memory");
		return;
	}
	if (strlen(si->user) >= CF_NAME_MAX || strlen(dbname) >= CF_NAME_MAX) {
		client_fatal(c, "42622", "user or database name too long");
		return;
	}
	if (!client_take_params(c, si))
		return;
	if (!c->tls_active && !c->is_unix && lg.cfg->client_tls_sslmode >= TLS_MODE_REQUIRE) {
		client_fatal(c, "28000", "SSL required: this pooler accepts only encrypted connections "
		             "(client_tls_sslmode = %s)", config_tls_mode_name(lg.cfg->client_tls_sslmode));
		return;
	}
	c->sbuf.startup = false;
	c->admin = admin_is_admin_db(c->dbname);
	c->db = db_lookup(c->dbname);
	if (c->db && c->db->disabled) {
		client_fatal(c, "08P01", "database \"%s\" does not allow connections", c->dbname);
		return;
	}
	if (!c->admin && lg.client_count > lg.cfg->max_client_conn) {
		client_fatal(c, "53300", "no more connections allowed (max_client_conn)");
		return;
	}
	if (lg.shutdown != SHUTDOWN_NONE && !c->admin) {
		client_fatal(c, "57P03", "pooler is shutting down");
		return;
	}
	if (!auth_random_bytes(&c->cancel_pid, sizeof(c->cancel_pid)) ||
	    !auth_random_bytes(&c->cancel_key, sizeof(c->cancel_key))) {
		client_fatal(c, "58000", "could not generate a cancel key");
		return;
	}
	c->cancel_pid &= 0x7fffffff;
	client_start_auth(c);
}

/* SSLRequest: 'S' and a TLS handshake when client TLS is on (never on a
 * Unix socket), else 'N' and the startup continues in plaintext. */
static SBufAction client_ssl_request(Client *c, const SBufMsg *msg)
{
	Tls *t;

	if (c->tls_active) {
		client_fatal(c, "08P01", "SSL request on an encrypted connection");
		return SBUF_STOP;
	}
	if (msg->next_avail > 0) {
		/* bytes sent before our answer would be taken as if they were encrypted */
		client_close(c, "received unencrypted data after the SSL request");
		return SBUF_STOP;
	}
	if (c->is_unix || !tls_client_enabled()) {
		if (!sbuf_send_local(&c->sbuf, "N", 1)) {
			client_close(c, "write failed");
			return SBUF_STOP;
		}
		return SBUF_SKIP;
	}
	if (!sbuf_send_local(&c->sbuf, "S", 1)) {
		client_close(c, "write failed");
		return SBUF_STOP;
	}
	t = tls_new_accept(c->sbuf.fd);
	if (!sbuf_start_tls(&c->sbuf, t)) {
		client_close(c, "could not start TLS (out of memory, or the 'S' answer did not leave at once)");
		return SBUF_STOP;
	}
	return SBUF_SKIP;
}

static SBufAction client_startup(Client *c, const SBufMsg *msg)
{
	StartupInfo si;
	char err[256];

	if (msg->bad || msg->len > STARTUP_MAX_LEN) {
		client_fatal(c, "08P01", "invalid startup packet length");
		return SBUF_STOP;
	}
	if (!msg->complete)
		return SBUF_NEED_BODY;
	switch (proto_parse_startup(msg->data, msg->len, &si, err, sizeof(err))) {
	case STARTUP_SSL:
		return client_ssl_request(c, msg);
	case STARTUP_GSSENC:
		if (!sbuf_send_local(&c->sbuf, "N", 1)) {
			client_close(c, "write failed");
			return SBUF_STOP;
		}
		return SBUF_SKIP;
	case STARTUP_CANCEL:
		client_handle_cancel(c, si.cancel_pid, si.cancel_key);
		return SBUF_STOP;
	case STARTUP_V3:
		client_startup_v3(c, &si);
		return c->state == CL_JUSTFREE ? SBUF_STOP : SBUF_SKIP;
	case STARTUP_BAD_VERSION:
		client_fatal(c, "0A000", "%s", err);
		return SBUF_STOP;
	case STARTUP_BAD:
	default:
		client_fatal(c, "08P01", "invalid startup packet: %s", err);
		return SBUF_STOP;
	}
}

/* ---- transactions ---------------------------------------------------- */

void client_link(Client *c, Server *s)
{
	bool ready;

	client_change_state(c, CL_ACTIVE);
	ready = server_link(s, c);
	if (ready)
		sbuf_continue(&c->sbuf);
}

/* First message of a transaction: get a server.  true if linked and
 * ready to forward now. */
static bool client_find_server(Client *c)
{
	Pool *p = c->pool;
	Backend *be;
	ListNode *n;

	be = client_target_backend(c);
	if (be && !lagoon_is_paused(p->db) && (n = list_first(&p->be[be->index].idle_servers)) &&
	    list_empty(&p->waiting_clients))
		return server_link(list_entry(n, Server, node), c);
	c->wait_start = lg.now;
	client_change_state(c, CL_WAITING);
	pool_activate(p);
	return c->link && c->state == CL_ACTIVE && !c->sbuf.paused;
}

void client_drop_retry(Client *c)
{
	free(c->retry_msg);
	free(c->held);
	c->retry_msg = c->held = NULL;
	c->retry_len = c->held_len = 0;
	c->retry_armed = c->retry_send = c->retry_recording = false;
}

/* Decide where the transaction starting with msg runs (c->target).  A
 * single Query routed to a replica keeps a copy, so a replica-only error
 * can be replayed on the primary before the client sees anything. */
static SBufAction client_route(Client *c, const SBufMsg *msg)
{
	RouteDecision d;
	bool whole = msg->type == 'Q' || msg->type == 'P';
	const ClassifyResult *pcr = NULL;
	const char *ptext = "";
	uint32_t ptlen = 0;
	bool need = false;

	if (whole && !msg->complete && msg->len <= ROUTING_CLASSIFY_MAX)
		return SBUF_NEED_BODY;
	whole = whole && msg->complete;
	/* a Bind / Describe of a named statement: its Parse's classification */
	if (c->prep && (pcr = prep_classification(c, msg, &ptext, &ptlen, &need)) == NULL && need)
		return SBUF_NEED_BODY;
	memset(&d, 0, sizeof(d));
	if ((msg->type == 'P' || pcr) && prep_batch_writes(c, msg)) {
		/* the implicit transaction up to Sync may write */
		ClassifyResult w;
		memset(&w, 0, sizeof(w));
		w.kind = CLS_WRITE;
		w.nstatements = 1;
		w.reason = "the batch up to Sync may write (or is not all received)";
		routing_decide_classified(c, &w, "", 0, true, &d);
	} else if (pcr) {
		routing_decide_classified(c, pcr, ptext, ptlen, true, &d);
	} else {
		routing_decide(c, msg->type, whole ? msg->data + 5 : NULL, whole ? msg->len - 5 : 0, &d);
	}
	if (d.wait) {
		routing_park(c);
		return SBUF_PAUSE;
	}
	c->target = d.backend;
	c->decided = true;
	/* a write's commit LSN matters only where reads can go to replicas */
	c->txn_write = !d.read_only && c->pool->db->router != NULL &&
		pool_mode_of(c->pool) != POOL_MODE_SESSION;
	client_drop_retry(c);
	/* a read on a replica, up to its Sync or Query: keep a copy to replay */
	if (d.backend && (whole || (pcr && msg->complete)) && !d.explicit_block) {
		c->retry_armed = true;
		c->retry_recording = true;
	}
	return SBUF_FORWARD;
}

/* Copy a message of the read's first batch for a possible replay; give up
 * (the replica's answer then goes to the client as it is) on anything
 * that is not part of a plain query batch or does not fit. */
static void client_record_retry(Client *c, const SBufMsg *msg)
{
	uint8_t *nb;

	if (!msg->type || !strchr("QPBDESCH", msg->type) || !msg->complete ||
	    c->retry_len + msg->len > ROUTING_CLASSIFY_MAX) {
		client_drop_retry(c);
		return;
	}
	nb = realloc(c->retry_msg, c->retry_len + msg->len);
	if (!nb) {
		client_drop_retry(c);
		return;
	}
	memcpy(nb + c->retry_len, msg->data, msg->len);
	c->retry_msg = nb;
	c->retry_len += msg->len;
	if (msg->type == 'Q' || msg->type == 'S')
		c->retry_recording = false;
}

void client_retry_link(Client *c)
{
	if (client_find_server(c))
		sbuf_continue(&c->sbuf);
}

static SBufAction client_admin_msg(Client *c, const SBufMsg *msg)
{
	char *sql;

	if (msg->type != 'Q') {
		client_fatal(c, "08P01", "extended query protocol not supported by admin console");
		return SBUF_STOP;
	}
	if (msg->len > ADMIN_QUERY_MAX) {
		client_fatal(c, "54000", "admin query too long");
		return SBUF_STOP;
	}
	if (!msg->complete)
		return SBUF_NEED_BODY;
	sql = malloc(msg->len - 4);
	if (!sql) {
		client_fatal(c, "53200", "out of memory");
		return SBUF_STOP;
	}
	memcpy(sql, msg->data + 5, msg->len - 5);
	sql[msg->len - 5] = '\0';
	admin_handle_query(c, sql);
	free(sql);
	return c->state == CL_JUSTFREE ? SBUF_STOP : SBUF_SKIP;
}

/* Forward msg of a linked client (named prepared statements translated),
 * noting what the server will answer. */
static SBufAction client_forward(Client *c, const SBufMsg *msg)
{
	PrepOutcome o = { SBUF_FORWARD, true, false };

	/* the client's own bytes are kept for a replay before lagoon may
	 * rewrite them in place (an incomplete message ends the recording) */
	if (c->retry_armed && c->retry_recording)
		client_record_retry(c, msg);
	else if (c->retry_armed && !c->retry_send)
		client_drop_retry(c);   /* more after the batch: too late to replay */
	if (c->prep) {
		o = prep_client_msg(c, msg);
		if (o.act == SBUF_NEED_BODY || o.act == SBUF_STOP)
			return o.act;
		if (o.act == SBUF_SKIP && !o.to_server)
			client_drop_retry(c);   /* lagoon answered it: something reached the client */
	}
	if (o.to_server)
		server_track_client_msg(c->link, msg->type);
	if (msg->type == 'Q' || msg->type == 'E' || msg->type == 'F')
		c->query_start = lg.now;
	return o.act;
}

/* The linked server is a replica and the client has sent all of the
 * routed batch (its Query, or everything up to Sync): anything more starts
 * a new transaction. */
static bool client_behind_replica_read(const Client *c)
{
	const Server *s = c->link;

	return s->backend != c->pool->db->primary && s->pending_rfq > 0 && !s->unsynced &&
		pool_mode_of(c->pool) != POOL_MODE_SESSION;
}

void client_pipeline_resume(Client *c)
{
	if (!c->pipeline_held || c->state != CL_ACTIVE)
		return;
	if (c->link && c->link->pending_rfq > 0)
		return;   /* still behind a batch on the same server */
	c->pipeline_held = false;
	sbuf_continue(&c->sbuf);
}

static SBufAction client_active_msg(Client *c, const SBufMsg *msg)
{
	if (c->close_pending) {
		/* its error was sent; what it sent after is read, now go */
		client_close(c, "closing after a fatal error");
		return SBUF_STOP;
	}
	if (msg->type == 'X') {
		client_close(c, "client close request");
		return SBUF_STOP;
	}
	if (c->admin)
		return client_admin_msg(c, msg);
	if (!c->link) {
		SBufAction a;
		if (c->retry_send)
			return SBUF_PAUSE;   /* a retried query must run first */
		if (c->prep && prep_client_unlinked(c, msg, &a))
			return a;            /* a Close or DEALLOCATE answered here */
		if (!c->decided) {
			a = client_route(c, msg);
			if (a != SBUF_FORWARD)
				return a;
		}
		if (!client_find_server(c))
			return c->state == CL_JUSTFREE ? SBUF_STOP : SBUF_PAUSE;
	}
	if (c->link->swallow_rfq > 0) {
		/* our SET for this client's parameters is still running */
		return SBUF_PAUSE;
	}
	/* a pipelined batch behind a read still running on a replica gets
	 * its own routing decision (it may write): it waits for the read's
	 * ReadyForQuery (client_pipeline_resume) */
	if ((c->pipeline_held = client_behind_replica_read(c)))
		return SBUF_PAUSE;
	if (c->link->txn_done && c->link->backend == c->pool->db->primary && c->pool->db->router &&
	    pool_mode_of(c->pool) != POOL_MODE_SESSION) {
		/* a new transaction on the primary connection the client still
		 * holds: it was not classified, so it may write; learn its
		 * commit LSN afterwards, or its reads could go to a replica
		 * that has only the previous write */
		c->txn_write = true;
	}
	c->request_time = lg.now;
	return client_forward(c, msg);
}

static SBufAction client_proto(SBuf *sb, const SBufMsg *msg)
{
	Client *c = (Client *)sb;

	lg.now = get_time_usec();
	if (c->sbuf.startup)
		return client_startup(c, msg);
	if (msg->bad) {
		client_fatal(c, "08P01", "invalid message length %u (max_packet_size is %d)",
		             msg->len - 1, lg.cfg->max_packet_size);
		return SBUF_STOP;
	}
	switch (c->state) {
	case CL_LOGIN:
		if (msg->type != 'p') {
			client_fatal(c, "08P01", "expected a password message, got '%c'",
			             msg->type >= 32 && msg->type < 127 ? msg->type : '?');
			return SBUF_STOP;
		}
		if (msg->len > AUTH_MSG_MAX) {
			client_fatal(c, "08P01", "password message too long");
			return SBUF_STOP;
		}
		if (!msg->complete)
			return SBUF_NEED_BODY;
		client_auth_message(c, msg);
		return c->state == CL_JUSTFREE ? SBUF_STOP : SBUF_SKIP;
	case CL_WAITING_LOGIN:
	case CL_WAITING:
		return SBUF_PAUSE;
	case CL_ACTIVE:
		return client_active_msg(c, msg);
	default:
		client_close(c, "message in unexpected state %d", c->state);
		return SBUF_STOP;
	}
}
