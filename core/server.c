/*
 * server.c - the server-side protocol state machine.
 *
 *   server_launch -> SV_LOGIN: connect, SSLRequest and TLS handshake
 *   (server_tls_sslmode, TCP only), StartupMessage, authentication as
 *   the pool's user (trust, cleartext, md5, SCRAM-SHA-256), ParameterStatus
 *   captured for the pool's welcome, optional connect_query -> SV_IDLE.
 *
 * While linked (SV_ACTIVE) replies are forwarded unparsed except for the
 * few a decision needs: ReadyForQuery (transaction status and the count
 * of outstanding requests), ParameterStatus (the client's parameters),
 * Copy responses.  When the last ReadyForQuery says 'I', nothing is
 * outstanding and every byte has reached the client, the server is
 * released back to the pool (transaction/statement mode).  Queries lagoon
 * sends itself (SET for a client's parameters, reset and check queries)
 * count in swallow_rfq and their replies never reach a client.
 */
#include "autoconf.h"

#include "server.h"
#include "client.h"
#include "objects.h"
#include "log.h"
#include "monitor.h"
#include "routing.h"
#include "authq.h"
#include "dns.h"
#include "prepare.h"
#include "wire.h"
#include "tls.h"

#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#define SERVER_MSG_MAX (1024 * 1024)   /* messages we must inspect whole */

static SBufAction server_proto(SBuf *sb, const SBufMsg *msg);
static void server_event(SBuf *sb, SBufEvent ev);

/* ---- addresses ------------------------------------------------------- */

/* The address of backend be into ss: a Unix socket, an IP literal, or
 * address number idx of a host name from the DNS cache (dns.c). */
static bool server_address(const Backend *be, int idx, struct sockaddr_storage *ss, int *salen)
{
	int port = be->port > 0 ? be->port : 5432;
	const char *host = be->host;
	char portstr[16];
	struct addrinfo hints, *res = NULL;

	memset(ss, 0, sizeof(*ss));
	if (!host[0] || host[0] == '/') {
		struct sockaddr_un *un = (struct sockaddr_un *)ss;
		const char *dir = host[0] ? host : "/var/run/postgresql";
		un->sun_family = AF_UNIX;
		if ((size_t)snprintf(un->sun_path, sizeof(un->sun_path), "%s/.s.PGSQL.%d", dir, port) >=
		    sizeof(un->sun_path))
			return false;
		*salen = sizeof(*un);
		return true;
	}
	if (dns_is_name(host))
		return dns_addr(host, idx, port, ss, salen);
	/* an IP literal: AI_NUMERICHOST never blocks */
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST;
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (getaddrinfo(host, portstr, &hints, &res) != 0 || !res)
		return false;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*salen = (int)res->ai_addrlen;
	freeaddrinfo(res);
	return true;
}

/* ---- lifecycle ------------------------------------------------------- */

static void server_login_failed_state(Server *s, const char *why, const char *sqlstate)
{
	Pool *p = s->pool;
	ListNode *n, *t;

	snprintf(p->last_login_sqlstate, sizeof(p->last_login_sqlstate), "%s", sqlstate);
	p->be[s->backend->index].last_connect_failed = lg.now ? lg.now : 1;
	snprintf(p->last_login_error, sizeof(p->last_login_error), "%s", why);
	monitor_connect_failed(s->backend, why);
	/* clients that wait for their first login cannot be welcomed */
	if (pool_server_count(p) <= 1 && !p->welcome_ok) {
		list_for_each_safe(n, t, &p->login_wait_clients)
			client_login_done(list_entry(n, Client, node), why);
	}
	authq_pool_failed(p);
}

static void server_login_failed(Server *s, const char *why)
{
	server_login_failed_state(s, why, "08006");
}

/* Connect to address s->addr_index of the backend.  false = s closed. */
static bool server_connect(Server *s)
{
	Backend *be = s->backend;

	s->addr_tries++;
	if (!server_address(be, s->addr_index, &s->sa, &s->salen)) {
		server_login_failed(s, "could not resolve the server address");
		server_close(s, "cannot resolve host \"%s\"", be->host);
		return false;
	}
	if (be->host[0] && be->host[0] != '/') {
		char a[INET6_ADDRSTRLEN] = "?";
		if (s->sa.ss_family == AF_INET)
			inet_ntop(AF_INET, &((struct sockaddr_in *)&s->sa)->sin_addr, a, sizeof(a));
		else if (s->sa.ss_family == AF_INET6)
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&s->sa)->sin6_addr, a, sizeof(a));
		snprintf(s->addr, sizeof(s->addr), "%s", a);
	} else {
		snprintf(s->addr, sizeof(s->addr), "%.63s", be->host[0] ? be->host : "/var/run/postgresql");
	}
	if (!sbuf_connect(&s->sbuf, (struct sockaddr *)&s->sa, s->salen, lg.base)) {
		server_login_failed(s, "could not connect to the server");
		server_close(s, "connect failed: %m");
		return false;
	}
	slog_msg(LOG_LVL_DEBUG, s, "new connection to server");
	return true;
}

/* The backend's host name was resolved (or not) while s waited. */
static void server_dns_done(DnsWait *w, bool ok, const char *err)
{
	Server *s = (Server *)((char *)w - offsetof(Server, dns_wait));

	lg.now = get_time_usec();
	if (!ok) {
		server_login_failed(s, err);
		server_close(s, "%s", err);
		return;
	}
	s->addr_index = dns_next_index(s->backend->host);
	(void)server_connect(s);
}

/* A connect failed: a host name with more addresses tries the next one. */
static bool server_try_next_address(Server *s)
{
	const char *host = s->backend->host;
	int n = dns_is_name(host) ? dns_addr_count(host) : 0;

	if (s->addr_tries >= n)
		return false;
	slog_msg(LOG_LVL_LOG, s, "connect to %s failed (%m); trying the next address of \"%s\"",
	         s->addr, host);
	sbuf_close(&s->sbuf);
	sbuf_init(&s->sbuf, server_proto, server_event);
	s->addr_index++;
	(void)server_connect(s);
	return true;
}

Server *server_launch(Pool *p, Backend *be)
{
	Server *s = calloc(1, sizeof(*s));
	char err[256];

	if (!s)
		return NULL;
	sbuf_init(&s->sbuf, server_proto, server_event);
	list_node_init(&s->node);
	s->pool = p;
	s->backend = be;
	s->id = lg.next_server_id++;
	s->connect_time = s->request_time = lg.now;
	s->port = be->port > 0 ? be->port : 5432;
	s->dns_wait.done = server_dns_done;
	snprintf(s->addr, sizeof(s->addr), "%.63s", be->host);
	server_change_state(s, SV_LOGIN);
	p->db->server_count++;
	p->user->server_count++;
	be->server_count++;
	if (dns_is_name(be->host)) {
		switch (dns_resolve(be->host, &s->dns_wait, err, sizeof(err))) {
		case DNS_WAIT:
			return s;           /* server_dns_done connects */
		case DNS_FAILED:
			server_login_failed(s, err);
			server_close(s, "%s", err);
			return NULL;
		case DNS_READY:
			s->addr_index = dns_next_index(be->host);
			break;
		}
	}
	return server_connect(s) ? s : NULL;
}

void server_close(Server *s, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	Client *c = s->link;
	Pool *p = s->pool;

	if (s->state == SV_JUSTFREE)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	dns_cancel(&s->dns_wait);
	if (s->authq_user[0]) {
		char user[CF_NAME_MAX];
		snprintf(user, sizeof(user), "%s", s->authq_user);
		s->authq_user[0] = '\0';
		slog_msg(LOG_LVL_WARNING, s, "auth_query for \"%s\" did not finish: %s", user, reason);
		authq_done(p, user, false, NULL);
	}
	if (lg.cfg->log_disconnections || s->state == SV_LOGIN)
		slog_msg(s->state == SV_LOGIN && lg.cfg->log_pooler_errors ? LOG_LVL_WARNING : LOG_LVL_LOG,
		         s, "closing because: %s (age=%llds)", reason,
		         (long long)((lg.now - s->connect_time) / 1000000));
	if (c) {
		s->link = NULL;
		c->link = NULL;
		sbuf_set_dst(&c->sbuf, NULL);
		sbuf_set_dst(&s->sbuf, NULL);
		if (!s->dirty_close)
			client_fatal(c, "08006", "server connection closed: %s", reason);
	}
	if (s->ready && s->sbuf.fd >= 0 && !s->sbuf.closed) {
		uint8_t stack[8];
		PktBuf pb;
		pkt_init(&pb, stack, sizeof(stack));
		pkt_terminate(&pb);
		(void)sbuf_send_local(&s->sbuf, pb.buf, pb.len);
	}
	if (s->lsn_fetch) {
		routing_key_fetch_done(s);
		s->lsn_fetch = false;
	}
	sbuf_close(&s->sbuf);
	prep_server_free(s);
	p->db->server_count--;
	p->user->server_count--;
	s->backend->server_count--;
	server_change_state(s, SV_JUSTFREE);
	pool_activate_later(p);
}

static void server_fetch_commit_lsn(Server *s);
static void server_send_startup(Server *s);
static void server_connected(Server *s);
static void server_auth_fail(Server *s, const char *why);

bool server_is_clean(const Server *s)
{
	return s->tx_status == 'I' && s->pending_rfq == s->swallow_rfq && !s->unsynced &&
		!s->in_copy_in && !s->in_copy_out && prep_server_idle(s);
}

/* Everything forwarded to the client has left: lagoon's own replies go
 * out, and a finished transaction gives the server back (after learning
 * the commit LSN of a write). */
static void server_flushed(Server *s)
{
	if (s->state == SV_ACTIVE && s->link)
		prep_server_flush(s);   /* lagoon's own replies, in order */
	if (s->state != SV_ACTIVE || !s->link || !server_is_clean(s) || s->swallow_rfq > 0)
		return;
	/* only once the client's own transaction is over: lagoon's SET
	 * before its first message also ends in a ReadyForQuery 'I', and
	 * an LSN read then would be older than the write */
	if (s->link->txn_write && s->txn_done && s->backend == s->pool->db->primary)
		server_fetch_commit_lsn(s);
	else if (s->txn_done && pool_mode_of(s->pool) != POOL_MODE_SESSION &&
	         !sbuf_forward_pending(&s->link->sbuf))
		server_release(s);
}

static void server_event(SBuf *sb, SBufEvent ev)
{
	Server *s = (Server *)sb;

	lg.now = get_time_usec();
	switch (ev) {
	case SBUF_EV_CONNECTED:
		server_connected(s);
		break;
	case SBUF_EV_TLS_READY:
		slog_msg(LOG_LVL_DEBUG, s, "TLS established: %s", tls_info(s->sbuf.tls));
		server_send_startup(s);
		break;
	case SBUF_EV_TLS_FAILED: {
		char why[256];
		snprintf(why, sizeof(why), "%s", tls_error(s->sbuf.tls));
		server_login_failed(s, why);
		server_close(s, "%s", why);
		break;
	}
	case SBUF_EV_CONNECT_FAILED:
		if (server_try_next_address(s))
			break;
		server_login_failed(s, "could not connect to the server");
		server_close(s, "connect failed: %m");
		break;
	case SBUF_EV_EOF:
		if (s->state == SV_LOGIN)
			server_login_failed(s, "server closed the connection during login");
		server_close(s, "server closed the connection");
		break;
	case SBUF_EV_SEND_FAILED:
		server_close(s, "sending to the server failed");
		break;
	case SBUF_EV_FLUSH: {
		Client *c = s->state == SV_ACTIVE ? s->link : NULL;
		server_flushed(s);
		if (c && c->pipeline_held)
			client_pipeline_resume(c);
		break;
	}
	}
}

/* ---- login ----------------------------------------------------------- */

static bool server_send_pkt(Server *s, PktBuf *p)
{
	if (p->failed || !sbuf_send_local(&s->sbuf, p->buf, p->len)) {
		server_close(s, "write to server failed");
		return false;
	}
	return true;
}

static void server_send_startup(Server *s)
{
	const DbDef *d = &s->pool->db->def;
	const char *kv[16];
	int n = 0;
	uint8_t stack[512];
	PktBuf p;

	kv[n++] = "user";
	kv[n++] = s->pool->login_user;
	kv[n++] = "database";
	kv[n++] = d->dbname[0] ? d->dbname : s->pool->db->name;
	if (d->client_encoding[0]) { kv[n++] = "client_encoding"; kv[n++] = d->client_encoding; }
	if (d->datestyle[0]) { kv[n++] = "datestyle"; kv[n++] = d->datestyle; }
	if (d->timezone[0]) { kv[n++] = "timezone"; kv[n++] = d->timezone; }
	if (d->application_name[0]) { kv[n++] = "application_name"; kv[n++] = d->application_name; }
	kv[n] = NULL;
	pkt_init(&p, stack, sizeof(stack));
	pkt_startup(&p, kv);
	(void)server_send_pkt(s, &p);
	pkt_free(&p);
}

/* TCP connected: ask for TLS first unless server_tls_sslmode = disable
 * (Unix sockets never use TLS, as with PgBouncer and libpq). */
static void server_connected(Server *s)
{
	static const uint8_t ssl_request[8] = { 0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f };
	const char *host = s->backend->host;

	if (lg.cfg->server_tls_sslmode == TLS_MODE_DISABLE || !host[0] || host[0] == '/') {
		server_send_startup(s);
		return;
	}
	s->sbuf.one_byte = true;
	if (!sbuf_send_local(&s->sbuf, ssl_request, sizeof(ssl_request)))
		server_close(s, "write to server failed");
}

/* The one-byte answer to our SSLRequest. */
static SBufAction server_ssl_answer(Server *s, const SBufMsg *msg)
{
	int mode = lg.cfg->server_tls_sslmode;

	s->sbuf.one_byte = false;
	lg.now = get_time_usec();
	if (msg->next_avail > 0) {
		server_auth_fail(s, "server sent unencrypted data after its answer to the SSL request");
	} else if (msg->type == 'S') {
		if (!sbuf_start_tls(&s->sbuf, tls_new_connect(s->sbuf.fd, s->backend->host, mode)))
			server_auth_fail(s, "could not start TLS with the server");
	} else if (msg->type == 'N' && mode < TLS_MODE_REQUIRE) {
		server_send_startup(s);
	} else if (msg->type == 'N') {
		char why[160];
		snprintf(why, sizeof(why), "server does not support TLS (server_tls_sslmode = %s)",
		         config_tls_mode_name(mode));
		server_auth_fail(s, why);
	} else {
		server_auth_fail(s, "server sent an invalid answer to the SSL request");
	}
	return s->state == SV_JUSTFREE ? SBUF_STOP : SBUF_SKIP;
}

/* The password lagoon logs in with: the db line's, else the auth_file's. */
static const char *server_secret(Server *s)
{
	const Pool *p = s->pool;

	const char *secret = NULL;
	User *u;

	if (p->db->def.password[0])
		return p->db->def.password;
	if (lg.authfile)
		secret = authfile_lookup(lg.authfile, p->login_user);
	if (!secret && (u = user_get(p->login_user)))
		secret = u->dyn_secret;   /* found by auth_query at a client's login */
	return secret;
}

static void server_auth_fail(Server *s, const char *why)
{
	server_login_failed(s, why);
	server_close(s, "%s", why);
}

static void server_auth_sasl(Server *s, uint32_t code, PktReader *r)
{
	const char *secret = server_secret(s);
	char out[1024], err[256];
	size_t outlen;
	uint8_t stack[1100];
	PktBuf p;
	size_t dlen = r->len - r->pos;
	const char *data = (const char *)pkt_get_bytes(r, dlen);

	pkt_init(&p, stack, sizeof(stack));
	if (code == AUTH_REQ_SASL) {
		User *lu = user_get(s->pool->login_user);
		bool keys = secret && auth_secret_kind(secret) == SECRET_SCRAM && lu && lu->scram_keys_ok;
		if (!secret || (auth_secret_kind(secret) != SECRET_PLAIN && !keys))
			return server_auth_fail(s, "server asked for SCRAM but no plaintext password is configured "
			                        "and no client has logged in with SCRAM yet to pass its keys through");
		s->scram = calloc(1, sizeof(*s->scram));
		if (!s->scram || !(keys ? scram_client_first_keys(s->scram, lu->scram_client_key,
		                                                   lu->scram_server_key, out, sizeof(out), &outlen)
		                        : scram_client_first(s->scram, secret, out, sizeof(out), &outlen)))
			return server_auth_fail(s, "SCRAM setup failed");
		pkt_sasl_initial(&p, "SCRAM-SHA-256", out, outlen);
	} else if (code == AUTH_REQ_SASL_CONT) {
		if (!s->scram || !data ||
		    !scram_client_final(s->scram, data, dlen, out, sizeof(out), &outlen, err, sizeof(err)))
			return server_auth_fail(s, "SCRAM exchange with the server failed");
		pkt_sasl_response(&p, out, outlen);
	} else {
		bool ok = s->scram && data && scram_client_verify(s->scram, data, dlen, err, sizeof(err));
		free(s->scram);
		s->scram = NULL;
		if (!ok)
			return server_auth_fail(s, "server's SCRAM signature did not verify");
		return;
	}
	(void)server_send_pkt(s, &p);
	pkt_free(&p);
}

static void server_auth_request(Server *s, const SBufMsg *msg)
{
	PktReader r;
	uint32_t code;
	const char *secret = server_secret(s);
	uint8_t stack[128];
	PktBuf p;
	char md5[36];

	pkt_reader_init(&r, msg->data + 5, msg->len - 5);
	code = pkt_get_u32(&r);
	pkt_init(&p, stack, sizeof(stack));
	switch (code) {
	case AUTH_REQ_OK:
		return;
	case AUTH_REQ_PASSWORD:
		if (!secret || auth_secret_kind(secret) != SECRET_PLAIN)
			return server_auth_fail(s, "server asked for a cleartext password but none is configured");
		pkt_password(&p, secret);
		break;
	case AUTH_REQ_MD5: {
		const uint8_t *salt = pkt_get_bytes(&r, 4);
		if (!salt || !secret || auth_secret_kind(secret) == SECRET_SCRAM)
			return server_auth_fail(s, "server asked for md5 but no usable password is configured");
		md5_response(s->pool->login_user, secret, salt, md5);
		pkt_password(&p, md5);
		break;
	}
	case AUTH_REQ_SASL:
	case AUTH_REQ_SASL_CONT:
	case AUTH_REQ_SASL_FIN:
		server_auth_sasl(s, code, &r);
		return;
	default:
		return server_auth_fail(s, "server asked for an unsupported authentication method");
	}
	(void)server_send_pkt(s, &p);
	pkt_free(&p);
}

/* ParameterStatus: remember the value (and for the pool's welcome). */
static void server_param(Server *s, const SBufMsg *msg, bool capture)
{
	PktReader r;
	const char *name, *value;

	pkt_reader_init(&r, msg->data + 5, msg->len - 5);
	name = pkt_get_str(&r);
	value = pkt_get_str(&r);
	if (!name || !value)
		return;
	(void)varcache_set_by_name(&s->vars, name, value);
	if (capture) {
		pkt_put_bytes(&s->pool->welcome, msg->data, msg->len);
		(void)varcache_set_by_name(&s->pool->server_params, name, value);
	}
	if (s->link)
		(void)varcache_set_by_name(&s->link->vars, name, value);
}

/* Login finished: run connect_query or become idle. */
static void server_login_complete(Server *s)
{
	Pool *p = s->pool;
	ListNode *n, *t;

	s->ready = true;
	s->tx_status = 'I';
	p->be[s->backend->index].last_connect_failed = 0;
	p->last_login_error[0] = '\0';
	if (!p->welcome_ok && !p->welcome.failed)
		p->welcome_ok = true;
	slog_msg(LOG_LVL_DEBUG, s, "login complete");
	server_change_state(s, SV_IDLE);
	if (p->welcome_ok) {
		list_for_each_safe(n, t, &p->login_wait_clients) {
			Client *c = list_entry(n, Client, node);
			client_login_done(c, NULL);
			if (c->state == CL_ACTIVE)
				sbuf_continue(&c->sbuf);
		}
	}
	pool_activate(p);
}

static void server_send_query(Server *s, const char *sql)
{
	uint8_t stack[512];
	PktBuf p;

	pkt_init(&p, stack, sizeof(stack));
	pkt_query(&p, sql);
	prep_server_reset_query(s, sql);
	s->swallow_rfq++;
	s->pending_rfq++;
	(void)server_send_pkt(s, &p);
	pkt_free(&p);
}

static SBufAction server_login_msg(Server *s, const SBufMsg *msg)
{
	ErrorFields ef;
	bool capture = !s->pool->welcome_ok;

	switch (msg->type) {
	case 'R':
		server_auth_request(s, msg);
		break;
	case 'S':
		if (capture && s->pool->welcome.len == 0)
			varcache_clear(&s->pool->server_params);
		server_param(s, msg, capture);
		break;
	case 'K':
		if (msg->len >= 13) {
			PktReader r;
			pkt_reader_init(&r, msg->data + 5, 8);
			s->be_pid = pkt_get_u32(&r);
			s->be_key = pkt_get_u32(&r);
		}
		break;
	case 'E':
		if (proto_parse_error(msg->data + 5, msg->len - 5, &ef)) {
			server_login_failed_state(s, ef.message, ef.sqlstate[0] ? ef.sqlstate : "08006");
			server_close(s, "server login failed: %s", ef.message);
		} else {
			server_auth_fail(s, "server login failed");
		}
		return SBUF_STOP;
	case 'N':
		break;
	case 'Z':
		if (s->swallow_rfq > 0) {
			s->swallow_rfq--;
			s->pending_rfq--;
		} else if (s->pool->db->connect_query) {
			server_send_query(s, s->pool->db->connect_query);
			break;
		}
		if (s->swallow_rfq == 0)
			server_login_complete(s);
		break;
	default:
		break;
	}
	return s->state == SV_JUSTFREE ? SBUF_STOP : SBUF_SKIP;
}

/* ---- linking and release --------------------------------------------- */

/* After the SETs in sql[0..n) the server has the client's values; the
 * parameters the server never reports (search_path) are recorded here,
 * and those the client did not set are RESET.  Returns the new length. */
static int server_sync_vars(Server *s, Client *c, char *sql, size_t size, int n)
{
	for (int i = 0; i < VAR_COUNT; i++) {
		const char *cv = c->vars.val[i], *sv = s->vars.val[i];
		if (cv && (!sv || strcmp(cv, sv) != 0)) {
			(void)varcache_set(&s->vars, (VarId)i, cv);
		} else if (!cv && sv) {
			int w = snprintf(sql + n, size - (size_t)n, "RESET %s;", varcache_name((VarId)i));
			if (w < 0 || (size_t)w >= size - (size_t)n)
				break;
			n += w;
			(void)varcache_set(&s->vars, (VarId)i, NULL);
		}
	}
	return n;
}

/* Note what a replayed batch (whole messages, back to back) expects. */
static void server_track_saved(Server *s, const uint8_t *buf, uint32_t len)
{
	uint32_t pos = 0;

	while (pos + 5 <= len) {
		uint32_t mlen = wire_be32(buf + pos + 1);
		server_track_client_msg(s, buf[pos]);
		pos += 1 + mlen;
	}
}

/* Account the bytes moved since the last call to the pool's totals. */
static void server_account_bytes(Server *s)
{
	s->pool->stat_bytes_in += s->sbuf.bytes_out - s->stat_out_seen;
	s->pool->stat_bytes_out += s->sbuf.bytes_in - s->stat_in_seen;
	s->stat_out_seen = s->sbuf.bytes_out;
	s->stat_in_seen = s->sbuf.bytes_in;
}

bool server_link(Server *s, Client *c)
{
	char sql[2048];
	int n;

	server_change_state(s, SV_ACTIVE);
	s->link = c;
	c->link = s;
	s->link_time = lg.now;
	s->txn_done = false;
	c->xact_start = lg.now;
	/* query_timeout counts from here: the SET sent below is pending on the
	 * client's behalf before its own message is forwarded (a fresh client's
	 * query_start was 0, an idle one's was its last query) */
	c->query_start = lg.now;
	s->backend->xact_routed++;
	s->pool->be[s->backend->index].xact_count++;
	sbuf_set_dst(&c->sbuf, &s->sbuf);
	sbuf_set_dst(&s->sbuf, &c->sbuf);
	stats_assigned(s->pool, c->wait_start ? (uint64_t)(lg.now - c->wait_start) : 0);
	c->wait_start = 0;
	n = varcache_diff_sql(&c->vars, &s->vars, sql, sizeof(sql));
	if (n < 0) {
		slog_msg(LOG_LVL_WARNING, s, "client parameters too long to apply");
		n = 0;
	}
	n = server_sync_vars(s, c, sql, sizeof(sql), n);
	c->decided = false;
	if (n > 0)
		server_send_query(s, sql);
	if (c->retry_send) {
		/* replay the batch a replica refused; the client waits meanwhile */
		uint8_t *saved = c->retry_msg;
		uint32_t saved_len = c->retry_len;
		bool ok;
		c->retry_msg = NULL;
		client_drop_retry(c);
		if (c->prep) {
			/* named statements: translated again for this server */
			uint8_t stack[1024];
			PktBuf out;
			pkt_init(&out, stack, sizeof(stack));
			ok = prep_replay(c, saved, saved_len, &out) &&
				sbuf_send_local(&s->sbuf, out.buf, out.len);
			pkt_free(&out);
		} else {
			ok = sbuf_send_local(&s->sbuf, saved, saved_len);
			if (ok)
				server_track_saved(s, saved, saved_len);
		}
		free(saved);
		if (!ok) {
			server_close(s, "write to server failed");
			return false;
		}
		return s->swallow_rfq == 0;
	}
	return n <= 0;
}

void server_release(Server *s)
{
	Client *c = s->link;
	Pool *p = s->pool;
	char sql[2048];

	server_account_bytes(s);
	prep_server_unlink(s);
	if (c) {
		routing_txn_end(c, s->backend, NULL);
		client_drop_retry(c);
		if (c->xact_start)
			stats_xact_done(p, (uint64_t)(lg.now - c->xact_start));
		c->xact_start = 0;
		c->link = NULL;
		sbuf_set_dst(&c->sbuf, NULL);
	}
	s->link = NULL;
	sbuf_set_dst(&s->sbuf, NULL);
	s->request_time = lg.now;
	if (s->close_needed || p->db->dead || s->backend->retired) {
		server_close(s, "database configuration or cluster changed");
		return;
	}
	if (lg.cfg->server_lifetime > 0 && lg.now - s->connect_time > lg.cfg->server_lifetime) {
		server_close(s, "server lifetime over");
		return;
	}
	if (lg.cfg->server_reset_query && lg.cfg->server_reset_query[0] &&
	    (pool_mode_of(p) == POOL_MODE_SESSION || lg.cfg->server_reset_query_always)) {
		server_change_state(s, SV_TESTED);
		server_send_query(s, lg.cfg->server_reset_query);
		return;
	}
	if (prep_server_trim_sql(s, sql, sizeof(sql))) {
		/* back within max_prepared_statements before the next client */
		server_change_state(s, SV_TESTED);
		server_send_query(s, sql);
		return;
	}
	server_change_state(s, SV_IDLE);
	pool_activate_later(p);
}

void server_detach(Server *s)
{
	Client *c = s->link;

	prep_server_unlink(s);
	if (c) {
		c->link = NULL;
		sbuf_set_dst(&c->sbuf, NULL);
	}
	s->link = NULL;
	sbuf_set_dst(&s->sbuf, NULL);
	server_change_state(s, SV_TESTED);
}

void server_check(Server *s)
{
	server_change_state(s, SV_TESTED);
	server_send_query(s, lg.cfg->server_check_query ? lg.cfg->server_check_query : "");
}

void server_track_client_msg(Server *s, uint8_t type)
{
	/* COPY data a client still sends after the server ended the COPY with
	 * an error does not start anything new */
	if (type != 'd' && type != 'c' && type != 'f')
		s->txn_done = false;
	switch (type) {
	case 'Q':
	case 'F':
		s->pending_rfq++;
		break;
	case 'S':
		s->pending_rfq++;
		s->unsynced = false;
		break;
	case 'P': case 'B': case 'D': case 'E': case 'C': case 'H':
		s->unsynced = true;
		break;
	case 'c': case 'f':
		s->in_copy_in = false;
		break;
	default:
		break;
	}
	s->request_time = lg.now;
}

/* ---- traffic --------------------------------------------------------- */

/* After a write committed on the primary (its ReadyForQuery has already
 * gone to the client), learn a WAL position at or past its commit record
 * before the server goes back to the pool: the insert position, which is
 * right even with synchronous_commit = off (reference: replication.md 2.3).
 * A next transaction of the same client waits for this reply (it is still
 * linked), so its reads can be routed by that LSN. */
static void server_fetch_commit_lsn(Server *s)
{
	s->link->txn_write = false;
	s->lsn_fetch = true;
	routing_key_fetch_start(s, s->link->txn_key);
	server_send_query(s, "SELECT pg_current_wal_insert_lsn(), current_setting('wal_block_size')::int, "
	                  "pg_size_bytes(current_setting('wal_segment_size'))");
}

/* The DataRow of the LSN query: three text columns. */
static void server_take_commit_lsn(Server *s, const SBufMsg *msg)
{
	PktReader r;
	char cols[3][64];
	uint64_t lsn;
	Client *c = s->link;

	pkt_reader_init(&r, msg->data + 5, msg->len - 5);
	if (pkt_get_u16(&r) != 3)
		return;
	for (int i = 0; i < 3; i++) {
		uint32_t n = pkt_get_u32(&r);
		const uint8_t *v = n < sizeof(cols[i]) ? pkt_get_bytes(&r, n) : NULL;
		if (!v)
			return;
		memcpy(cols[i], v, n);
		cols[i][n] = '\0';
	}
	if (!monitor_parse_lsn(cols[0], &lsn))
		return;
	lsn = monitor_normalise_insert_lsn(lsn, (uint32_t)strtoul(cols[1], NULL, 10),
	                                   (uint32_t)strtoull(cols[2], NULL, 10));
	s->fetched_lsn = lsn;   /* for the key, even if the client left meanwhile */
	if (!c)
		return;
	c->last_commit_lsn = lsn;
	c->last_commit_time = lg.now;
	c->lsn_epoch = s->pool->db->primary_changes;
}

/* Replies to lagoon's own queries (SET, reset, check) are swallowed. */
static SBufAction server_swallow(Server *s, const SBufMsg *msg)
{
	ErrorFields ef;
	Client *c = s->link;

	if (!msg->complete && (msg->type == 'Z' || msg->type == 'S' || msg->type == 'E' ||
	                       (msg->type == 'D' && s->lsn_fetch)))
		return SBUF_NEED_BODY;
	if (msg->type == 'S')
		server_param(s, msg, false);
	else if (msg->type == 'D' && s->lsn_fetch)
		server_take_commit_lsn(s, msg);
	else if (msg->type == 'E' && proto_parse_error(msg->data + 5, msg->len - 5, &ef))
		slog_msg(LOG_LVL_WARNING, s, "internal query failed: %s", ef.message);
	if (msg->type != 'Z')
		return SBUF_SKIP;
	s->swallow_rfq--;
	s->pending_rfq--;
	s->tx_status = 'I';
	if (s->lsn_fetch)
		routing_key_fetch_done(s);
	s->lsn_fetch = false;
	if (s->swallow_rfq > 0)
		return SBUF_SKIP;
	if (s->state == SV_TESTED) {
		server_change_state(s, SV_IDLE);
		pool_activate_later(s->pool);
	} else if (c && c->sbuf.paused) {
		sbuf_continue(&c->sbuf);
	}
	return SBUF_SKIP;
}

static SBufAction server_ready(Server *s, const SBufMsg *msg)
{
	Client *c = s->link;

	if (msg->len != 6) {
		server_close(s, "bad ReadyForQuery length");
		return SBUF_STOP;
	}
	/* the query and transaction times end here: a fresh clock (the
	 * forwarding path does not read it per message) */
	lg.now = get_time_usec();
	s->tx_status = (char)msg->data[5];
	if (s->pending_rfq > 0)
		s->pending_rfq--;
	s->txn_done = s->tx_status == 'I' && s->pending_rfq == 0;
	s->in_copy_in = s->in_copy_out = false;
	stats_query_done(s->pool, c && c->query_start ? (uint64_t)(lg.now - c->query_start) : 0,
	                 s->tx_status == 'I');
	if (s->tx_status != 'I' && pool_mode_of(s->pool) == POOL_MODE_STATEMENT && c) {
		client_fatal(c, "08P01", "transaction blocks not allowed in statement pooling mode");
		return s->state == SV_JUSTFREE ? SBUF_STOP : SBUF_SKIP;
	}
	return SBUF_FORWARD;
}

static bool retryable_sqlstate(const char *st)
{
	/* read-only transaction / feature not supported (serializable on a
	 * standby) / conflict with recovery */
	return strcmp(st, "25006") == 0 || strcmp(st, "0A000") == 0 || strcmp(st, "40001") == 0;
}

/* The replica answered: release what was held back and stop watching. */
static bool server_retry_disarm(Server *s)
{
	Client *c = s->link;
	bool ok = true;

	if (c->held)
		ok = sbuf_send_local(&c->sbuf, c->held, c->held_len);
	client_drop_retry(c);
	if (!ok)
		client_close(c, "write to client failed");
	return ok;
}

/* ReadyForQuery after a swallowed retryable error: give the server back
 * and run the kept query on the primary. */
static SBufAction server_retry_now(Server *s, const SBufMsg *msg)
{
	Client *c = s->link;
	uint8_t *query = c->retry_msg;
	uint32_t qlen = c->retry_len;

	s->retry_swallow = false;
	s->tx_status = msg->len == 6 ? (char)msg->data[5] : 'E';
	if (s->pending_rfq > 0)
		s->pending_rfq--;
	routing_count_retry(s->pool->db, s->backend);
	slog_msg(LOG_LVL_DEBUG, s, "replica refused a read; replaying it on the primary");
	c->retry_msg = NULL;        /* keep it through the release */
	client_drop_retry(c);
	if (server_is_clean(s) && s->swallow_rfq == 0)
		server_release(s);
	else
		server_close(s, "replica connection not clean after a refused read");
	c->retry_msg = query;
	c->retry_len = qlen;
	c->retry_send = true;
	c->target = NULL;
	if (c->state == CL_ACTIVE && !c->link)
		client_retry_link(c);
	else if (c->state == CL_JUSTFREE)
		client_drop_retry(c);
	return s->state == SV_JUSTFREE ? SBUF_STOP : SBUF_SKIP;
}

/* Replies of a read routed to a replica, until its outcome is known: a
 * RowDescription is held back; a retryable error is swallowed and the
 * query replayed on the primary; anything else releases the held bytes. */
/* The replies already buffered after msg reach a row or a completion
 * before any error: nothing to replay. */
static bool server_retry_peek_ok(const SBufMsg *msg)
{
	const uint8_t *p = msg->next;
	uint32_t left = msg->next_avail;

	while (p && left >= 5) {
		uint32_t mlen = wire_be32(p + 1);
		if (p[0] == 'E')
			return false;
		if (p[0] && strchr("DCIsZ", p[0]))
			return true;
		if (mlen + 1 > left)
			return false;
		p += mlen + 1;
		left -= mlen + 1;
	}
	return false;
}

/* Append msg to the replies held back from the client. */
static bool server_retry_hold(Client *c, const SBufMsg *msg)
{
	uint8_t *nb;

	if (c->held_len + msg->len > ROUTING_CLASSIFY_MAX)
		return false;
	nb = realloc(c->held, c->held_len + msg->len);
	if (!nb)
		return false;
	memcpy(nb + c->held_len, msg->data, msg->len);
	c->held = nb;
	c->held_len += msg->len;
	return true;
}

static bool server_retry_watch(Server *s, const SBufMsg *msg, SBufAction *act)
{
	Client *c = s->link;
	ErrorFields ef;

	*act = SBUF_SKIP;
	if (s->retry_swallow) {
		if (msg->type == 'Z')
			*act = msg->complete ? server_retry_now(s, msg) : SBUF_NEED_BODY;
		return true;
	}
	if (msg->type && strchr("12TntE", msg->type) && !msg->complete && msg->len <= ROUTING_CLASSIFY_MAX) {
		*act = SBUF_NEED_BODY;
		return true;
	}
	if (msg->type && strchr("12Tnt", msg->type) && msg->complete) {
		/* what comes before any row: hold it until the outcome is known,
		 * unless the buffered replies after it already show no error */
		if (server_retry_peek_ok(msg))
			return server_retry_disarm(s) ? false : (*act = SBUF_STOP, true);
		if (server_retry_hold(c, msg))
			return true;
	}
	if (msg->type == 'E' && msg->complete && proto_parse_error(msg->data + 5, msg->len - 5, &ef) &&
	    retryable_sqlstate(ef.sqlstate)) {
		s->retry_swallow = true;
		return true;
	}
	if (!server_retry_disarm(s)) {
		*act = SBUF_STOP;
		return true;
	}
	return false;
}

static SBufAction server_active_msg(Server *s, const SBufMsg *msg_in)
{
	SBufMsg m = *msg_in, *msg = &m;

	if (s->swallow_rfq > 0)
		return server_swallow(s, msg);
	if (s->prep && s->link && s->link->prep) {
		SBufAction a;
		if (prep_server_msg(s, msg, &a))
			return a;
	}
	if (s->link && s->link->retry_armed) {
		SBufAction a;
		if (server_retry_watch(s, msg, &a))
			return a;
	}
	switch (msg->type) {
	case 'Z':
		if (!msg->complete)
			return SBUF_NEED_BODY;
		return server_ready(s, msg);
	case 'S':
		if (!msg->complete)
			return SBUF_NEED_BODY;
		server_param(s, msg, false);
		return SBUF_FORWARD;
	case 'G':
		s->in_copy_in = true;
		return SBUF_FORWARD;
	case 'H':
		s->in_copy_out = true;
		return SBUF_FORWARD;
	case 'c':
		s->in_copy_out = false;
		return SBUF_FORWARD;
	default:
		return SBUF_FORWARD;
	}
}

/* ---- auth_query ------------------------------------------------------- */

/* Run auth_query for user on idle server s (SV_IDLE -> SV_TESTED).  The
 * query runs inside BEGIN ... COMMIT with SET LOCAL search_path =
 * pg_catalog, pg_temp, so neither a schema the auth_user can write nor a
 * search_path left behind can change which pg_authid it reads; the user
 * name travels as parameter $1 (extended protocol), never in the SQL.
 * Everything is sent at once: three ReadyForQuery come back. */
void server_authq_start(Server *s, const char *user)
{
	const char *sql = s->pool->db->def.auth_query[0] ? s->pool->db->def.auth_query
		: lg.cfg->auth_query;
	uint8_t stack[1024];
	PktBuf p;

	server_change_state(s, SV_TESTED);
	snprintf(s->authq_user, sizeof(s->authq_user), "%s", user);
	s->authq_rfq = 3;
	s->authq_found = s->authq_failed = false;
	free(s->authq_secret);
	s->authq_secret = NULL;
	s->request_time = lg.now;
	pkt_init(&p, stack, sizeof(stack));
	pkt_query(&p, "BEGIN; SET LOCAL search_path TO pg_catalog, pg_temp");
	pkt_start(&p, 'P');
	pkt_put_str(&p, "");
	pkt_put_str(&p, sql ? sql : "");
	pkt_put_u16(&p, 0);
	pkt_finish(&p);
	pkt_start(&p, 'B');
	pkt_put_str(&p, "");
	pkt_put_str(&p, "");
	pkt_put_u16(&p, 0);             /* parameters in text */
	pkt_put_u16(&p, 1);
	pkt_put_u32(&p, (uint32_t)strlen(user));
	pkt_put_bytes(&p, user, strlen(user));
	pkt_put_u16(&p, 0);             /* results in text */
	pkt_finish(&p);
	pkt_start(&p, 'E');
	pkt_put_str(&p, "");
	pkt_put_u32(&p, 0);
	pkt_finish(&p);
	pkt_start(&p, 'S');
	pkt_finish(&p);
	pkt_query(&p, "COMMIT");
	slog_msg(LOG_LVL_DEBUG, s, "auth_query for \"%s\"", user);
	(void)server_send_pkt(s, &p);
	pkt_free(&p);
}

/* The first DataRow: (name, secret); a NULL secret = no password. */
static void server_authq_row(Server *s, const SBufMsg *msg)
{
	PktReader r;
	uint32_t n;
	const uint8_t *v;

	if (s->authq_found)
		return;                 /* only the first row counts */
	pkt_reader_init(&r, msg->data + 5, msg->len - 5);
	if (pkt_get_u16(&r) < 2)
		return;
	n = pkt_get_u32(&r);
	if (n != (uint32_t)-1 && !pkt_get_bytes(&r, n))
		return;
	n = pkt_get_u32(&r);
	s->authq_found = true;
	if (n == (uint32_t)-1 || r.bad || n == 0 || n >= CF_PASSWORD_MAX)
		return;
	v = pkt_get_bytes(&r, n);
	if (!v || memchr(v, '\0', n))
		return;
	s->authq_secret = malloc(n + 1);
	if (s->authq_secret) {
		memcpy(s->authq_secret, v, n);
		s->authq_secret[n] = '\0';
	}
}

static SBufAction server_authq_msg(Server *s, const SBufMsg *msg)
{
	ErrorFields ef;
	char user[CF_NAME_MAX];
	char *secret;
	bool answered;

	if (!msg->complete)
		return msg->len <= SERVER_MSG_MAX ? SBUF_NEED_BODY : (server_close(s, "auth_query reply too long"), SBUF_STOP);
	if (msg->type == 'D') {
		server_authq_row(s, msg);
	} else if (msg->type == 'E') {
		s->authq_failed = true;
		if (proto_parse_error(msg->data + 5, msg->len - 5, &ef))
			slog_msg(LOG_LVL_WARNING, s, "auth_query failed: %s", ef.message);
	} else if (msg->type == 'S') {
		server_param(s, msg, false);
	} else if (msg->type == 'Z' && --s->authq_rfq == 0) {
		s->tx_status = msg->len == 6 ? (char)msg->data[5] : 'E';
		snprintf(user, sizeof(user), "%s", s->authq_user);
		s->authq_user[0] = '\0';
		secret = s->authq_secret;
		s->authq_secret = NULL;
		answered = !s->authq_failed;   /* secret, or NULL: no such user */
		if (!answered && secret) {
			memset(secret, 0, strlen(secret));
			free(secret);
			secret = NULL;
		}
		if (s->tx_status == 'I') {
			server_change_state(s, SV_IDLE);
		} else {
			server_close(s, "auth_query left a transaction open");
		}
		authq_done(s->pool, user, answered, secret);
		if (secret) {
			memset(secret, 0, strlen(secret));
			free(secret);
		}
		return s->state == SV_JUSTFREE ? SBUF_STOP : SBUF_SKIP;
	}
	return SBUF_SKIP;
}

/* An unlinked server spoke: notices are dropped, anything else is fatal. */
static SBufAction server_idle_msg(Server *s, const SBufMsg *msg)
{
	ErrorFields ef;

	if (msg->type == 'N')
		return SBUF_SKIP;
	if (msg->type == 'S') {
		if (!msg->complete)
			return SBUF_NEED_BODY;
		server_param(s, msg, false);
		return SBUF_SKIP;
	}
	if (msg->type == 'E' && msg->complete && proto_parse_error(msg->data + 5, msg->len - 5, &ef))
		server_close(s, "server error while idle: %s", ef.message);
	else if (msg->type == 'E' && !msg->complete && msg->len <= SERVER_MSG_MAX)
		return SBUF_NEED_BODY;
	else
		server_close(s, "unexpected message '%c' from an idle server",
		             msg->type >= 32 && msg->type < 127 ? msg->type : '?');
	return SBUF_STOP;
}

static SBufAction server_proto(SBuf *sb, const SBufMsg *msg)
{
	Server *s = (Server *)sb;

	if (s->sbuf.one_byte)
		return server_ssl_answer(s, msg);
	if (msg->bad) {
		server_close(s, "invalid message length from server");
		return SBUF_STOP;
	}
	switch (s->state) {
	case SV_LOGIN:
		if (msg->len > SERVER_MSG_MAX) {
			server_close(s, "login message too long");
			return SBUF_STOP;
		}
		if (!msg->complete)
			return SBUF_NEED_BODY;
		lg.now = get_time_usec();
		return server_login_msg(s, msg);
	case SV_ACTIVE:
		return server_active_msg(s, msg);
	case SV_TESTED:
		lg.now = get_time_usec();
		if (s->authq_user[0])
			return server_authq_msg(s, msg);
		if (s->swallow_rfq > 0)
			return server_swallow(s, msg);
		return server_idle_msg(s, msg);
	default:
		lg.now = get_time_usec();
		return server_idle_msg(s, msg);
	}
}

/* ---- cancel ---------------------------------------------------------- */

/* A one-shot connection that carries a CancelRequest. */
typedef struct CancelConn {
	SBuf sbuf;
	uint8_t pkt[16];
} CancelConn;

static SBufAction cancel_proto(SBuf *sb, const SBufMsg *msg)
{
	(void)sb;
	(void)msg;
	return SBUF_SKIP;
}

static void cancel_event(SBuf *sb, SBufEvent ev)
{
	CancelConn *cc = (CancelConn *)sb;

	if (ev == SBUF_EV_CONNECTED)
		(void)sbuf_send_local(&cc->sbuf, cc->pkt, sizeof(cc->pkt));
	/* PostgreSQL closes after reading the request; we do not wait for it.
	 * The event comes from sb_connected(), which returns right after. */
	sbuf_close(&cc->sbuf);
	free(cc);
}

void server_send_cancel(Server *s)
{
	CancelConn *cc = calloc(1, sizeof(*cc));
	PktBuf p;

	if (!cc)
		return;
	sbuf_init(&cc->sbuf, cancel_proto, cancel_event);
	pkt_init(&p, cc->pkt, sizeof(cc->pkt));
	pkt_cancel_request(&p, s->be_pid, s->be_key);
	if (p.heap || p.len != sizeof(cc->pkt) || s->salen <= 0 ||
	    !sbuf_connect(&cc->sbuf, (struct sockaddr *)&s->sa, s->salen, lg.base)) {
		pkt_free(&p);
		free(cc);
		slog_msg(LOG_LVL_WARNING, s, "could not send a cancel request");
		return;
	}
	slog_msg(LOG_LVL_DEBUG, s, "cancel request sent");
}
