/*
 * monitor.c - the cluster monitor (see monitor.h for the behaviour).
 *
 * Each backend has one MonitorBackend: a libpq connection driven
 * non-blockingly on lg.base (PQconnectStartParams / PQconnectPoll, then
 * PQsendQuery / PQconsumeInput / PQgetResult), one I/O event re-created
 * whenever the wanted readiness or the socket changes, and one timer that
 * bounds a probe (connect + query) by monitor_connect_timeout.  The
 * connection stays open between probes; a probe on a reused connection
 * that finds it broken reconnects once within the same probe.
 *
 * Each database has one MonitorDb: the round state and the history of
 * (monotonic time, primary position) samples for lag_ms.  A round probes
 * every backend except the known primary in parallel (phase 1), then the
 * primary (phase 2), then computes lags and decides the primary.  Rounds
 * carry a generation number: removing a backend mid-round aborts the
 * round, and answers of an aborted round only update their own backend.
 *
 * Ownership: MonitorBackend is owned by this file and hangs off
 * Backend.mon; MonitorDb hangs off Database.mon.  Both also sit on a
 * file-global list so that monitor_stop() and monitor_db_removed() find
 * them without walking objects that may be going away.  Events belong to
 * their MonitorBackend and are freed with it, so no callback can run for
 * a freed backend.
 */
#include "monitor.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define MONITOR_HISTORY 120
#define MONITOR_SPLIT_LOG_USEC (10 * 1000000LL)
#define MONITOR_DEFAULT_SOCKDIR "/var/run/postgresql"

static const char mon_probe_sql[] =
	"SELECT pg_is_in_recovery(), "
	"CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
	"ELSE pg_current_wal_insert_lsn() END, "
	"current_setting('wal_block_size')::int, "
	"pg_size_bytes(current_setting('wal_segment_size'))";

typedef enum MonConnState {
	MON_CLOSED = 0,           /* no connection */
	MON_CONNECTING,           /* PQconnectPoll in progress */
	MON_QUERY,                /* probe query sent, reading the answer */
	MON_IDLE,                 /* connected, nothing outstanding */
} MonConnState;

typedef struct MonitorBackend {
	ListNode node;            /* mon_backends */
	Backend *be;              /* not owned */
	struct MonitorDb *md;     /* the database's state (not owned) */
	PGconn *conn;             /* owned; NULL when closed */
	struct event *io;         /* owned; on PQsocket(conn), or NULL */
	struct event *timer;      /* owned; probe timeout / deferred failure */
	MonConnState cstate;
	bool busy;                /* a probe is outstanding */
	bool reused;              /* this probe runs on a kept connection */
	bool retried;             /* ...and already reconnected once */
	char pending_err[160];    /* failure to report from the timer ("" = none) */
	uint64_t round;           /* the round this backend's probe belongs to */
	usec_t next_due;          /* backoff: no probe before this; 0 = any time */

	/* the answer of the last good probe of `round` */
	bool got;
	bool in_recovery;
	uint64_t lsn;             /* replay LSN, or normalised insert LSN */
	usec_t answered_at;
	char errbuf[160];         /* error collected while reading results */
} MonitorBackend;

typedef struct MonitorDb {
	ListNode node;            /* mon_dbs */
	Database *db;             /* not owned */
	uint64_t round;           /* generation of the current/last round */
	int phase;                /* 0 = no round running, 1 = replicas, 2 = primary */
	MonitorBackend *last;     /* phase 2 backend (the known primary) or NULL */
	Backend *hist_be;         /* backend whose positions are in the history */
	usec_t times[MONITOR_HISTORY];
	uint64_t lsns[MONITOR_HISTORY];
	int nhist;
	usec_t split_logged_at;   /* rate limit of the split-brain error */
	struct event *fast;       /* owned; extra replica probes while reads wait (NULL until used) */
	usec_t round_started;     /* when the last round began (0 = never) */
} MonitorDb;

/* A database with one host routes nothing by lag or LSN and always uses
 * that host: probing it once a second (or at monitor_interval if longer)
 * is enough for SHOW BACKENDS, instead of 50 round trips a second. */
#define MON_SINGLE_HOST_MS 1000

static List mon_backends;         /* every MonitorBackend */
static List mon_dbs;              /* every MonitorDb */
static bool mon_lists_ready;
static struct event *mon_tick_ev; /* owned; persistent timer */
static int mon_tick_ms;           /* interval the timer is armed with */

static void mon_io_cb(evutil_socket_t fd, short what, void *arg);
static void mon_timer_cb(evutil_socket_t fd, short what, void *arg);
static void mon_round_step(MonitorDb *md);
static void mon_fast_probe(MonitorDb *md);

/* ---- pure helpers ---------------------------------------------------- */

uint64_t monitor_normalise_insert_lsn(uint64_t lsn, uint32_t block_size, uint32_t segment_size)
{
	uint64_t off, hdr;

	if (block_size == 0 || segment_size == 0)
		return lsn;
	off = lsn % block_size;
	hdr = (lsn % segment_size < block_size) ? 40 : 24;
	/* no record ends inside a page header: such a position is the page start */
	if (off != 0 && off <= hdr)
		lsn -= off;
	return lsn;
}

int64_t monitor_lag_ms(const usec_t *times, const uint64_t *lsns, int n, uint64_t replay_lsn, usec_t now)
{
	for (int i = 0; i < n; i++) {
		if (lsns[i] > replay_lsn) {
			usec_t d = now - times[i];
			return d > 0 ? d / 1000 : 0;
		}
	}
	return 0;
}

/* 1..8 hex digits ending at stop (or NUL); *end after them. */
static bool mon_parse_hex32(const char *s, char stop, uint32_t *out, const char **end)
{
	uint32_t v = 0;
	int n = 0;

	for (; *s && *s != stop; s++, n++) {
		int d;
		if (*s >= '0' && *s <= '9')
			d = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			d = *s - 'a' + 10;
		else if (*s >= 'A' && *s <= 'F')
			d = *s - 'A' + 10;
		else
			return false;
		if (n >= 8)
			return false;
		v = (v << 4) | (uint32_t)d;
	}
	if (n == 0)
		return false;
	*out = v;
	*end = s;
	return true;
}

bool monitor_parse_lsn(const char *s, uint64_t *out)
{
	uint32_t hi, lo;
	const char *p;

	if (!s || !mon_parse_hex32(s, '/', &hi, &p) || *p != '/')
		return false;
	if (!mon_parse_hex32(p + 1, '\0', &lo, &p) || *p != '\0')
		return false;
	*out = ((uint64_t)hi << 32) | lo;
	return true;
}

/* ---- small utilities ------------------------------------------------- */

static void mon_lists_init(void)
{
	if (!mon_lists_ready) {
		list_init(&mon_backends);
		list_init(&mon_dbs);
		mon_lists_ready = true;
	}
}

/* Copy a libpq message into dst on one line (newlines, tabs -> spaces). */
static void mon_flatten(char *dst, size_t len, const char *msg)
{
	size_t j = 0;
	bool space = false;

	for (const char *s = msg ? msg : "unknown error"; *s && j + 1 < len; s++) {
		bool ws = (*s == '\n' || *s == '\t' || *s == '\r' || *s == ' ');
		if (ws) {
			space = j > 0;
			continue;
		}
		if (space && j + 2 < len)
			dst[j++] = ' ';
		space = false;
		dst[j++] = *s;
	}
	dst[j] = '\0';
}

static const char *mon_health_name(BackendHealth h)
{
	return h == BE_HEALTH_UP ? "up" : h == BE_HEALTH_DOWN ? "down" : "unknown";
}

static const char *mon_host(const Backend *be)
{
	return be->host[0] ? be->host : MONITOR_DEFAULT_SOCKDIR;
}

static MonitorDb *mon_db_get(Database *db)
{
	MonitorDb *md = db->mon;

	if (md)
		return md;
	md = calloc(1, sizeof(*md));
	if (!md) {
		log_error("monitor: out of memory for database %s", db->name);
		return NULL;
	}
	md->db = db;
	list_append(&mon_dbs, &md->node);
	db->mon = md;
	return md;
}

/* ---- connection handling -------------------------------------------- */

/* Close the probe connection (PQfinish does not block on a non-blocking
 * socket: it only queues a Terminate message). */
static void mon_conn_close(MonitorBackend *mb)
{
	if (mb->io) {
		event_free(mb->io);
		mb->io = NULL;
	}
	if (mb->conn) {
		PQfinish(mb->conn);
		mb->conn = NULL;
	}
	mb->cstate = MON_CLOSED;
}

/* Wait for `what` on the connection's current socket (it may change
 * while connecting, so the event is re-created every time). */
static bool mon_watch(MonitorBackend *mb, short what)
{
	int sock = PQsocket(mb->conn);

	if (mb->io) {
		event_free(mb->io);
		mb->io = NULL;
	}
	if (sock < 0)
		return false;
	mb->io = event_new(lg.base, sock, what, mon_io_cb, mb);
	if (!mb->io)
		return false;
	if (event_add(mb->io, NULL) != 0) {
		event_free(mb->io);
		mb->io = NULL;
		return false;
	}
	return true;
}

/* User name of the probe: monitor_user, else the line's user, else postgres. */
static const char *mon_user(const Database *db)
{
	if (lg.cfg->monitor_user && lg.cfg->monitor_user[0])
		return lg.cfg->monitor_user;
	return db->def.user[0] ? db->def.user : "postgres";
}

/* Password: monitor_password, else the line's (for the line's user), else
 * a plaintext auth_file secret, else none (NULL). */
static const char *mon_password(const Database *db, const char *user)
{
	const char *secret;

	if (lg.cfg->monitor_password)
		return lg.cfg->monitor_password;
	if (db->def.user[0] && strcmp(user, db->def.user) == 0 && db->def.password[0])
		return db->def.password;
	secret = lg.authfile ? authfile_lookup(lg.authfile, user) : NULL;
	if (secret && auth_secret_kind(secret) == SECRET_PLAIN)
		return secret;
	return NULL;
}

/* The first address of be's host name from the DNS cache (a stale one
 * while it is being re-resolved); false when none is known yet. */
static bool mon_dns_addr(const Backend *be, char *out, size_t len)
{
	struct sockaddr_storage ss;
	int salen;
	char err[256];

	(void)dns_resolve(be->host, NULL, err, sizeof(err));
	if (!dns_addr(be->host, 0, be->port, &ss, &salen))
		return false;
	if (ss.ss_family == AF_INET)
		return inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)len) != NULL;
	return inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)len) != NULL;
}

static PGconn *mon_conn_start(const Backend *be)
{
	const char *kw[16], *val[16];
	int mode = lg.cfg->server_tls_sslmode;
	char port[16], addr[INET6_ADDRSTRLEN];
	int n = 0;
	const char *user = mon_user(be->db);
	const char *pw = mon_password(be->db, user);
	const char *dbname = lg.cfg->monitor_dbname && lg.cfg->monitor_dbname[0]
		? lg.cfg->monitor_dbname : "postgres";

	snprintf(port, sizeof(port), "%d", be->port);
	kw[n] = "host"; val[n++] = mon_host(be);
	if (dns_is_name(be->host)) {
		/* libpq would resolve the name itself, blocking the loop */
		if (!mon_dns_addr(be, addr, sizeof(addr)))
			return NULL;
		kw[n] = "hostaddr"; val[n++] = addr;
	}
	kw[n] = "port"; val[n++] = port;
	kw[n] = "user"; val[n++] = user;
	if (pw) {
		kw[n] = "password"; val[n++] = pw;
	}
	kw[n] = "dbname"; val[n++] = dbname;
	kw[n] = "application_name"; val[n++] = "lagoon_monitor";
	kw[n] = "gssencmode"; val[n++] = "disable";
	/* probe the way the pool connects (libpq's "allow" tries plaintext first:
	 * take prefer, as the pool does) */
	kw[n] = "sslmode"; val[n++] = mode == TLS_MODE_ALLOW ? "prefer" : config_tls_mode_name(mode);
	if (lg.cfg->server_tls_ca_file && lg.cfg->server_tls_ca_file[0]) {
		kw[n] = "sslrootcert"; val[n++] = lg.cfg->server_tls_ca_file;
	}
	if (lg.cfg->server_tls_cert_file && lg.cfg->server_tls_cert_file[0] &&
	    lg.cfg->server_tls_key_file && lg.cfg->server_tls_key_file[0]) {
		kw[n] = "sslcert"; val[n++] = lg.cfg->server_tls_cert_file;
		kw[n] = "sslkey"; val[n++] = lg.cfg->server_tls_key_file;
	}
	kw[n] = NULL; val[n] = NULL;
	return PQconnectStartParams(kw, val, 0);
}

/* Report a failure from the timer callback (never synchronously from
 * the code that started the probe: the round must not re-enter). */
static void mon_fail_later(MonitorBackend *mb, const char *why)
{
	struct timeval tv = { 0, 0 };

	mon_flatten(mb->pending_err, sizeof(mb->pending_err), why);
	mon_conn_close(mb);
	if (evtimer_add(mb->timer, &tv) != 0)
		log_error("monitor: cannot schedule the timer of %s:%d", mon_host(mb->be), mb->be->port);
}

static void mon_connect(MonitorBackend *mb)
{
	mon_conn_close(mb);
	mb->conn = mon_conn_start(mb->be);
	if (!mb->conn) {
		mon_fail_later(mb, dns_is_name(mb->be->host) && dns_addr_count(mb->be->host) == 0
		               ? "host name not resolved (yet)" : "out of memory");
		return;
	}
	if (PQstatus(mb->conn) == CONNECTION_BAD) {
		mon_fail_later(mb, PQerrorMessage(mb->conn));
		return;
	}
	if (PQsetnonblocking(mb->conn, 1) != 0) {
		mon_fail_later(mb, PQerrorMessage(mb->conn));
		return;
	}
	mb->cstate = MON_CONNECTING;
	/* libpq: start as if PQconnectPoll had returned PGRES_POLLING_WRITING */
	if (!mon_watch(mb, EV_WRITE))
		mon_fail_later(mb, "cannot watch the probe socket");
}

/* ---- health ----------------------------------------------------------- */

static void mon_set_health(Backend *be, BackendHealth h)
{
	BackendHealth old = be->health;

	if (old == h)
		return;
	be->health = h;
	if (h == BE_HEALTH_DOWN) {
		log_warning("monitor: backend %s:%d of db %s is down: %s",
			    mon_host(be), be->port, be->db->name, be->last_error);
		be->lag_ms = -1;
	} else {
		log_info("monitor: backend %s:%d of db %s is %s (was %s)",
			 mon_host(be), be->port, be->db->name, mon_health_name(h),
			 mon_health_name(old));
	}
	cluster_health_changed(be, old);
}

/* Delay before the next probe of a down backend. */
static usec_t mon_backoff(const Backend *be)
{
	int shift = be->fail_streak - lg.cfg->monitor_fail_count;
	int64_t ms = lg.cfg->monitor_interval;
	int64_t cap = lg.cfg->monitor_backoff_max;

	if (shift < 0)
		shift = 0;
	for (int i = 0; i < shift && ms < cap; i++)
		ms *= 2;
	if (ms > cap)
		ms = cap;
	return (usec_t)ms * 1000;
}

static void mon_count_failure(Backend *be, const char *why)
{
	be->probes++;
	be->probe_failures++;
	be->ok_streak = 0;
	be->fail_streak++;
	mon_flatten(be->last_error, sizeof(be->last_error), why);
	log_debug("monitor: probe of %s:%d (db %s) failed (%d in a row): %s",
		  mon_host(be), be->port, be->db->name, be->fail_streak, be->last_error);
	if (be->fail_streak >= lg.cfg->monitor_fail_count)
		mon_set_health(be, BE_HEALTH_DOWN);
}

static void mon_count_success(Backend *be)
{
	be->probes++;
	be->fail_streak = 0;
	be->ok_streak++;
	be->sampled_at = lg.now;
	if (be->health == BE_HEALTH_UP)
		return;
	/* the very first probe brings a backend up at once, to start quickly */
	if (be->probes == 1 || be->ok_streak >= lg.cfg->monitor_up_count) {
		mon_set_health(be, BE_HEALTH_UP);
		be->last_error[0] = '\0';   /* healthy again: the old error is history */
	}
}

void monitor_connect_failed(Backend *be, const char *why)
{
	if (!be)
		return;
	mon_count_failure(be, why ? why : "server connection failed");
}

/* ---- probes ----------------------------------------------------------- */

/* The probe is over: update health, then let the round move on. */
static void mon_probe_done(MonitorBackend *mb, bool good, const char *why)
{
	Backend *be = mb->be;
	MonitorDb *md = mb->md;

	evtimer_del(mb->timer);
	mb->busy = false;
	mb->pending_err[0] = '\0';
	if (good) {
		mb->got = true;
		mb->answered_at = lg.now;
		be->role = mb->in_recovery ? BE_ROLE_REPLICA : BE_ROLE_PRIMARY;
		be->lsn = mb->lsn;
		mon_count_success(be);
		mb->next_due = 0;
		if (mb->in_recovery && be->db && be->db->route_parked > 0)
			cluster_positions_changed(be->db);
	} else {
		mb->got = false;
		mon_count_failure(be, why);
		mb->next_due = be->health == BE_HEALTH_DOWN ? lg.now + mon_backoff(be) : 0;
	}
	if (md && md->phase != 0 && mb->round == md->round)
		mon_round_step(md);
}

static void mon_probe_fail(MonitorBackend *mb, const char *why)
{
	char msg[160];

	/* a kept connection that broke while idle: reconnect once */
	if (mb->reused && !mb->retried && mb->conn && PQstatus(mb->conn) == CONNECTION_BAD) {
		mb->retried = true;
		mb->reused = false;
		log_debug("monitor: probe connection to %s:%d broke, reconnecting",
			  mon_host(mb->be), mb->be->port);
		mon_connect(mb);
		return;
	}
	mon_flatten(msg, sizeof(msg), why);
	mon_conn_close(mb);
	mon_probe_done(mb, false, msg);
}

static void mon_send_query(MonitorBackend *mb)
{
	int r;

	if (!PQsendQuery(mb->conn, mon_probe_sql)) {
		mon_probe_fail(mb, PQerrorMessage(mb->conn));
		return;
	}
	mb->cstate = MON_QUERY;
	mb->errbuf[0] = '\0';
	mb->got = false;
	r = PQflush(mb->conn);
	if (r < 0) {
		mon_probe_fail(mb, PQerrorMessage(mb->conn));
		return;
	}
	if (!mon_watch(mb, r == 1 ? EV_READ | EV_WRITE : EV_READ))
		mon_probe_fail(mb, "cannot watch the probe socket");
}

/* libpq's non-blocking connect errors lack the "connection to server
 * failed" prefix: say it was the connect that failed. */
static void mon_connect_failed_msg(MonitorBackend *mb)
{
	char msg[200];

	snprintf(msg, sizeof(msg), "connect failed: %s", PQerrorMessage(mb->conn));
	mon_probe_fail(mb, msg);
}

static void mon_connect_poll(MonitorBackend *mb)
{
	switch (PQconnectPoll(mb->conn)) {
	case PGRES_POLLING_READING:
		if (!mon_watch(mb, EV_READ))
			mon_probe_fail(mb, "cannot watch the probe socket");
		break;
	case PGRES_POLLING_WRITING:
		if (!mon_watch(mb, EV_WRITE))
			mon_probe_fail(mb, "cannot watch the probe socket");
		break;
	case PGRES_POLLING_OK:
		mb->cstate = MON_IDLE;
		mon_send_query(mb);
		break;
	case PGRES_POLLING_FAILED:
	default:
		mon_connect_failed_msg(mb);
		break;
	}
}

/* Parse the probe's one row into mb; false (errbuf set) if unusable. */
static bool mon_parse_row(MonitorBackend *mb, const PGresult *res)
{
	uint64_t lsn = 0;
	long long blk, seg;

	if (PQntuples(res) != 1 || PQnfields(res) != 4) {
		snprintf(mb->errbuf, sizeof(mb->errbuf), "probe returned %d rows, %d columns",
			 PQntuples(res), PQnfields(res));
		return false;
	}
	mb->in_recovery = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	/* a replica that has replayed nothing yet says NULL: position 0 */
	if (!PQgetisnull(res, 0, 1) && !monitor_parse_lsn(PQgetvalue(res, 0, 1), &lsn)) {
		snprintf(mb->errbuf, sizeof(mb->errbuf), "bad LSN \"%.40s\"", PQgetvalue(res, 0, 1));
		return false;
	}
	blk = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	seg = strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	if (!mb->in_recovery && blk > 0 && seg > 0 && blk <= UINT32_MAX && seg <= UINT32_MAX)
		lsn = monitor_normalise_insert_lsn(lsn, (uint32_t)blk, (uint32_t)seg);
	mb->lsn = lsn;
	return true;
}

static void mon_take_result(MonitorBackend *mb, PGresult *res)
{
	if (mb->errbuf[0] || mb->got) {
		/* only the first result counts; later ones are drained */
	} else if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		mb->got = mon_parse_row(mb, res);
	} else {
		mon_flatten(mb->errbuf, sizeof(mb->errbuf), PQresultErrorMessage(res));
		if (!mb->errbuf[0])
			snprintf(mb->errbuf, sizeof(mb->errbuf), "%s", PQresStatus(PQresultStatus(res)));
	}
	PQclear(res);
}

/* Readable/writable while the probe query runs. */
static void mon_query_io(MonitorBackend *mb)
{
	PGresult *res;
	int r;

	if (!PQconsumeInput(mb->conn)) {
		mon_probe_fail(mb, PQerrorMessage(mb->conn));
		return;
	}
	r = PQflush(mb->conn);
	if (r < 0) {
		mon_probe_fail(mb, PQerrorMessage(mb->conn));
		return;
	}
	while (!PQisBusy(mb->conn)) {
		res = PQgetResult(mb->conn);
		if (!res) {
			mb->cstate = MON_IDLE;
			if (mb->io) {
				event_free(mb->io);
				mb->io = NULL;
			}
			if (mb->got)
				mon_probe_done(mb, true, NULL);
			else
				mon_probe_fail(mb, mb->errbuf[0] ? mb->errbuf : "probe returned no row");
			return;
		}
		mon_take_result(mb, res);
	}
	if (!mon_watch(mb, r == 1 ? EV_READ | EV_WRITE : EV_READ))
		mon_probe_fail(mb, "cannot watch the probe socket");
}

static void mon_io_cb(evutil_socket_t fd, short what, void *arg)
{
	MonitorBackend *mb = arg;

	(void)fd;
	(void)what;
	lg.now = get_time_usec();
	if (mb->cstate == MON_CONNECTING)
		mon_connect_poll(mb);
	else if (mb->cstate == MON_QUERY)
		mon_query_io(mb);
}

/* Probe timeout, or a failure deferred by mon_fail_later(). */
static void mon_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	MonitorBackend *mb = arg;
	char msg[200];

	(void)fd;
	(void)what;
	lg.now = get_time_usec();
	if (!mb->busy)
		return;
	if (mb->pending_err[0]) {
		snprintf(msg, sizeof(msg), "%s", mb->pending_err);
	} else {
		snprintf(msg, sizeof(msg), "timeout after %d ms (%s)", lg.cfg->monitor_connect_timeout,
			 mb->cstate == MON_CONNECTING ? "connecting" : "waiting for the probe");
	}
	mon_conn_close(mb);
	mon_probe_done(mb, false, msg);
}

/* Start a probe of mb for round `round`.  Never finishes synchronously. */
static void mon_probe_start(MonitorBackend *mb, uint64_t round)
{
	int ms = lg.cfg->monitor_connect_timeout;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	mb->busy = true;
	mb->got = false;
	mb->round = round;
	mb->retried = false;
	mb->pending_err[0] = '\0';
	if (evtimer_add(mb->timer, &tv) != 0)
		log_error("monitor: cannot arm the probe timeout of %s:%d", mon_host(mb->be), mb->be->port);
	if (mb->conn && mb->cstate == MON_IDLE && PQstatus(mb->conn) == CONNECTION_OK) {
		mb->reused = true;
		mon_send_query(mb);
	} else {
		mb->reused = false;
		mon_connect(mb);
	}
}

/* ---- rounds ----------------------------------------------------------- */

static bool mon_due(const MonitorBackend *mb)
{
	return !mb->busy && (mb->next_due == 0 || lg.now >= mb->next_due);
}

/* The known primary: the one backend whose role is PRIMARY, else NULL. */
static MonitorBackend *mon_known_primary(const Database *db)
{
	MonitorBackend *found = NULL;

	for (int i = 0; i < db->nbackends; i++) {
		Backend *be = db->backends[i];
		if (!be || !be->mon || be->role != BE_ROLE_PRIMARY)
			continue;
		if (found)
			return NULL;
		found = be->mon;
	}
	return found;
}

static void mon_round_start(MonitorDb *md)
{
	Database *db = md->db;

	md->round++;
	md->phase = 1;
	md->round_started = lg.now;
	md->last = mon_known_primary(db);
	for (int i = 0; i < db->nbackends; i++) {
		MonitorBackend *mb = db->backends[i] ? db->backends[i]->mon : NULL;
		if (!mb)
			continue;
		if (mb->busy && mb != md->last) {
			/* an extra probe (for waiting reads) is out: this round takes
			 * its answer, still sampled before the primary's */
			mb->round = md->round;
			continue;
		}
		mb->got = false;
		if (mb == md->last || !mon_due(mb))
			continue;
		mon_probe_start(mb, md->round);
	}
	mon_round_step(md);
}

/* Add the primary's sample; reset the history if it went backwards or
 * comes from another backend (restart, failover). */
static void mon_history_add(MonitorDb *md, Backend *pbe, uint64_t lsn, usec_t t)
{
	if (md->hist_be != pbe || (md->nhist > 0 && lsn < md->lsns[md->nhist - 1])) {
		if (md->nhist > 0)
			log_debug("monitor: db %s: primary position history reset", md->db->name);
		md->nhist = 0;
		md->hist_be = pbe;
	}
	if (md->nhist == MONITOR_HISTORY) {
		memmove(md->times, md->times + 1, sizeof(md->times[0]) * (MONITOR_HISTORY - 1));
		memmove(md->lsns, md->lsns + 1, sizeof(md->lsns[0]) * (MONITOR_HISTORY - 1));
		md->nhist--;
	}
	md->times[md->nhist] = t;
	md->lsns[md->nhist] = lsn;
	md->nhist++;
}

/* This round's primary sample: the phase-2 backend if it answered as a
 * primary, else the single backend that did; NULL if none or several. */
static MonitorBackend *mon_round_primary(const MonitorDb *md)
{
	const Database *db = md->db;
	MonitorBackend *found = NULL;

	if (md->last && md->last->got && md->last->round == md->round && !md->last->in_recovery)
		return md->last;
	for (int i = 0; i < db->nbackends; i++) {
		MonitorBackend *mb = db->backends[i] ? db->backends[i]->mon : NULL;
		if (!mb || !mb->got || mb->round != md->round || mb->in_recovery)
			continue;
		if (found)
			return NULL;
		found = mb;
	}
	return found;
}

static void mon_replica_lag(MonitorDb *md, MonitorBackend *mb, const MonitorBackend *pm)
{
	Backend *be = mb->be;

	if (!pm) {
		be->lag_ms = -1;
		return;
	}
	if (mb->lsn > pm->lsn) {
		/* e.g. after a failover to a timeline this replica is ahead on */
		log_debug("monitor: replica %s:%d of db %s is ahead of the primary (%" PRIu64 " bytes)",
			  mon_host(be), be->port, md->db->name, mb->lsn - pm->lsn);
		be->lag_bytes = 0;
	} else {
		be->lag_bytes = pm->lsn - mb->lsn;
	}
	be->lag_ms = monitor_lag_ms(md->times, md->lsns, md->nhist, mb->lsn, pm->answered_at);
}

static void mon_round_lags(MonitorDb *md)
{
	Database *db = md->db;
	MonitorBackend *pm = mon_round_primary(md);

	if (pm)
		mon_history_add(md, pm->be, pm->lsn, pm->answered_at);
	for (int i = 0; i < db->nbackends; i++) {
		MonitorBackend *mb = db->backends[i] ? db->backends[i]->mon : NULL;
		if (!mb || !mb->got || mb->round != md->round)
			continue;
		if (mb->in_recovery) {
			mon_replica_lag(md, mb, pm);
		} else {
			/* a primary (also each of a split brain) lags nothing */
			mb->be->lag_bytes = 0;
			mb->be->lag_ms = 0;
		}
	}
}

static void mon_log_split(MonitorDb *md, Backend *a, Backend *b, int n)
{
	if (md->split_logged_at && lg.now - md->split_logged_at < MONITOR_SPLIT_LOG_USEC)
		return;
	md->split_logged_at = lg.now;
	log_error("monitor: SPLIT BRAIN in db %s: %d backends claim to be the primary "
		  "(%s:%d and %s:%d%s); writes wait until only one does",
		  md->db->name, n, mon_host(a), a->port, mon_host(b), b->port, n > 2 ? " and more" : "");
}

static void mon_set_primary(Database *db, Backend *p)
{
	Backend *old = db->primary;
	char was[160];

	if (p == old)
		return;
	if (old)
		snprintf(was, sizeof(was), "%s:%d", mon_host(old), old->port);
	else
		snprintf(was, sizeof(was), "none");
	db->primary = p;
	/* db->primary_changes is counted by cluster_primary_changed() (objects.c),
	 * which also runs when a reload moves the primary */
	if (p)
		log_info("primary of db %s is now %s:%d (was %s)", db->name, mon_host(p), p->port, was);
	else
		log_info("primary of db %s is now none (was %s)", db->name, was);
	cluster_primary_changed(db, old);
}

static void mon_decide_primary(MonitorDb *md)
{
	Database *db = md->db;
	Backend *first = NULL, *second = NULL;
	int n = 0;

	if (db->nbackends == 1) {
		/* single host: behaves as before whatever the monitor sees */
		db->split_brain = false;
		mon_set_primary(db, db->backends[0]);
		return;
	}
	for (int i = 0; i < db->nbackends; i++) {
		Backend *be = db->backends[i];
		if (!be || be->health != BE_HEALTH_UP || be->role != BE_ROLE_PRIMARY)
			continue;
		if (n == 0)
			first = be;
		else if (n == 1)
			second = be;
		n++;
	}
	if (n >= 2) {
		db->split_brain = true;
		mon_log_split(md, first, second, n);
		mon_set_primary(db, NULL);
		return;
	}
	if (db->split_brain)
		log_info("monitor: db %s: split brain is over", db->name);
	db->split_brain = false;
	md->split_logged_at = 0;
	mon_set_primary(db, n == 1 ? first : NULL);
}

/* Move the round on when no probe of this round is outstanding. */
static void mon_round_step(MonitorDb *md)
{
	Database *db = md->db;

	for (int i = 0; i < db->nbackends; i++) {
		MonitorBackend *mb = db->backends[i] ? db->backends[i]->mon : NULL;
		if (mb && mb->busy && mb->round == md->round)
			return;
	}
	if (md->phase == 1 && md->last) {
		md->phase = 2;
		if (mon_due(md->last)) {
			mon_probe_start(md->last, md->round);
			return;
		}
	}
	md->phase = 0;
	mon_round_lags(md);
	mon_decide_primary(md);
}

/* ---- extra probes for waiting reads ------------------------------------ */

/* Probe every healthy replica that has no probe out, on its kept
 * connection.  Not while the primary of a round is being sampled: the
 * replicas' samples of a round must be older than the primary's. */
static void mon_fast_probe(MonitorDb *md)
{
	Database *db = md->db;

	if (md->phase == 2)
		return;
	for (int i = 0; i < db->nbackends; i++) {
		Backend *be = db->backends[i];
		MonitorBackend *mb = be ? be->mon : NULL;
		if (!mb || mb->busy || be->role != BE_ROLE_REPLICA || be->health != BE_HEALTH_UP ||
		    mb->cstate != MON_IDLE || !mb->conn || PQstatus(mb->conn) != CONNECTION_OK)
			continue;
		/* part of the running round, if any, so that it waits for it */
		mon_probe_start(mb, md->phase == 1 ? md->round : 0);
	}
}

static bool mon_fast_arm(MonitorDb *md)
{
	struct timeval tv = { 0, MONITOR_WAIT_PROBE_MS * 1000 };

	return md->fast && event_add(md->fast, &tv) == 0;
}

static void mon_fast_cb(evutil_socket_t fd, short what, void *arg)
{
	MonitorDb *md = arg;

	(void)fd;
	(void)what;
	lg.now = get_time_usec();
	if (md->db->route_parked <= 0)
		return;
	mon_fast_probe(md);
	if (!mon_fast_arm(md))
		log_error("monitor: cannot arm the wait probe timer of db %s", md->db->name);
}

void monitor_want_positions(Database *db)
{
	MonitorDb *md = db->mon;

	if (!md || (md->fast && evtimer_pending(md->fast, NULL)))
		return;
	if (!md->fast && !(md->fast = evtimer_new(lg.base, mon_fast_cb, md))) {
		log_error("monitor: cannot create the wait probe timer of db %s", db->name);
		return;
	}
	mon_fast_probe(md);
	if (!mon_fast_arm(md))
		log_error("monitor: cannot arm the wait probe timer of db %s", db->name);
}

/* ---- the timer -------------------------------------------------------- */

static bool mon_arm_tick(void)
{
	int ms = lg.cfg->monitor_interval > 0 ? lg.cfg->monitor_interval : 20;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	if (event_add(mon_tick_ev, &tv) != 0) {
		log_error("monitor: cannot arm the probe timer");
		return false;
	}
	mon_tick_ms = ms;
	return true;
}

static bool mon_round_due(const MonitorDb *md)
{
	int64_t ms = lg.cfg->monitor_interval > MON_SINGLE_HOST_MS ? lg.cfg->monitor_interval
		: MON_SINGLE_HOST_MS;

	return md->db->nbackends > 1 || !md->round_started ||
		lg.now - md->round_started >= (usec_t)ms * 1000;
}

static void mon_tick_db(Database *db)
{
	MonitorDb *md;

	if (db->admin || db->nbackends <= 0)
		return;
	for (int i = 0; i < db->nbackends; i++) {
		if (db->backends[i] && !db->backends[i]->mon)
			monitor_backend_added(db->backends[i]);
	}
	md = db->mon;
	if (md && md->phase == 0 && mon_round_due(md))
		mon_round_start(md);
}

static void mon_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	ListNode *n, *tmp;

	(void)fd;
	(void)what;
	(void)arg;
	lg.now = get_time_usec();
	if (lg.cfg->monitor_interval != mon_tick_ms && lg.cfg->monitor_interval > 0)
		(void)mon_arm_tick();
	list_for_each_safe(n, tmp, &lg.databases)
		mon_tick_db(list_entry(n, Database, node));
}

bool monitor_start(void)
{
	mon_lists_init();
	if (mon_tick_ev)
		return true;
	mon_tick_ev = event_new(lg.base, -1, EV_PERSIST, mon_tick_cb, NULL);
	if (!mon_tick_ev) {
		log_error("monitor: cannot create the probe timer");
		return false;
	}
	if (!mon_arm_tick()) {
		event_free(mon_tick_ev);
		mon_tick_ev = NULL;
		return false;
	}
	/* first round at once rather than one interval from now */
	event_active(mon_tick_ev, EV_TIMEOUT, 0);
	return true;
}

/* ---- registration ---------------------------------------------------- */

void monitor_backend_added(Backend *be)
{
	MonitorBackend *mb;
	MonitorDb *md;

	mon_lists_init();
	if (!be || be->mon)
		return;
	md = mon_db_get(be->db);
	if (!md)
		return;
	mb = calloc(1, sizeof(*mb));
	if (!mb) {
		log_error("monitor: out of memory for backend %s:%d", mon_host(be), be->port);
		return;
	}
	mb->timer = evtimer_new(lg.base, mon_timer_cb, mb);
	if (!mb->timer) {
		log_error("monitor: cannot create a timer for backend %s:%d", mon_host(be), be->port);
		free(mb);
		return;
	}
	mb->be = be;
	mb->md = md;
	be->lag_ms = -1;
	list_append(&mon_backends, &mb->node);
	be->mon = mb;
}

/* Close and free one MonitorBackend; its events go with it, so no
 * callback can run for it afterwards.  Does not touch mb->be. */
static void mon_backend_free(MonitorBackend *mb)
{
	mon_conn_close(mb);
	if (mb->timer)
		event_free(mb->timer);
	list_remove(&mon_backends, &mb->node);
	free(mb);
}

void monitor_backend_removed(Backend *be)
{
	MonitorBackend *mb;
	MonitorDb *md;

	if (!be || !be->mon)
		return;
	mb = be->mon;
	md = mb->md;
	if (md && md->phase != 0) {
		/* abort the round: answers of other backends in it no longer count */
		md->phase = 0;
		md->round++;
	}
	if (md && md->last == mb)
		md->last = NULL;
	if (md && md->hist_be == be) {
		md->hist_be = NULL;
		md->nhist = 0;
	}
	be->mon = NULL;
	mon_backend_free(mb);
}

/* Frees the database's state and any probe state of its backends still
 * registered (their Backend.mon is cleared: they must still be alive). */
void monitor_db_removed(Database *db)
{
	MonitorDb *md;
	ListNode *n, *tmp;

	if (!db || !db->mon)
		return;
	md = db->mon;
	list_for_each_safe(n, tmp, &mon_backends) {
		MonitorBackend *mb = list_entry(n, MonitorBackend, node);
		if (mb->md != md)
			continue;
		mb->be->mon = NULL;
		mon_backend_free(mb);
	}
	list_remove(&mon_dbs, &md->node);
	db->mon = NULL;
	if (md->fast)
		event_free(md->fast);
	free(md);
}

void monitor_stop(void)
{
	ListNode *n, *tmp;

	mon_lists_init();
	if (mon_tick_ev) {
		event_free(mon_tick_ev);
		mon_tick_ev = NULL;
	}
	mon_tick_ms = 0;
	list_for_each_safe(n, tmp, &mon_dbs)
		monitor_db_removed(list_entry(n, MonitorDb, node)->db);
	list_for_each_safe(n, tmp, &mon_backends) {
		MonitorBackend *mb = list_entry(n, MonitorBackend, node);
		mb->be->mon = NULL;
		mon_backend_free(mb);
	}
}
