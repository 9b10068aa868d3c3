/*
 * lsn_ryw.c - routing plugin: read-your-writes.  A session that has written
 * reads only from replicas that have replayed its last commit, else from
 * the primary; a session that never wrote reads from any replica within the
 * lag bounds.
 *
 * For a read-only-eligible transaction of a session whose last_commit_lsn
 * is L (not 0), a replica is eligible only if its own replay_lsn >= L.  Each
 * replica is compared with L on every call: one replica having caught up
 * says nothing about another.  The core's replay_lsn is the last value its
 * monitor read from the replica (reference/replication.md 2.1): replay only
 * moves forward, so the replica has replayed at least that much when the
 * transaction starts there, and every snapshot it takes sees the write.
 * Right after a write no probe has seen it replayed yet, so the session's
 * reads go to the primary until one does (within a monitor interval or two
 * when the replicas keep up).
 *
 * Options (all optional):
 *   max_lag_bytes=N  replicas more than N bytes of WAL behind the primary
 *                    serve nobody (default 0 = no bound)
 *   max_lag_ms=N     replicas more than N ms behind serve nobody; with a
 *                    bound, a replica whose lag in ms is unknown is
 *                    excluded too (default 0 = no bound)
 *   ryw_window_ms=N  a session's last write is forgotten N ms after its
 *                    commit: from then on it reads like a session that
 *                    never wrote (default 0 = never forgotten)
 *   max_wait_ms=N    when no replica has replayed a writing session's LSN
 *                    yet, answer POOLER_WAIT (ABI 1.1) with this budget:
 *                    the core parks the read without a server and asks
 *                    again as the monitor posts replica positions; when
 *                    the budget is spent the read runs on the primary.
 *                    0 (default) = no waiting: the primary at once.  On a
 *                    1.0 core the option is refused at init.
 * A session that never wrote (or whose write was forgotten) is served by a
 * replica whose lag in bytes is known, as with leastlag; one that wrote
 * needs a replica whose replay_lsn is known and >= its LSN.  The hint
 * lagoon:replica ("stale reads are fine") makes a session read like one
 * that never wrote.  POOLER_SESS_LSN_PENDING (the core does not know the
 * session's LSN yet: a write under its shared key is still fetching it, or
 * the primary changed) means the primary, or with max_wait_ms POOLER_WAIT
 * (the core re-asks when the LSN is in).
 *
 * Among the eligible replicas the one with the fewest active server
 * connections wins, ties in turn.  None eligible: with max_wait_ms and a
 * usable replica that may still catch up, POOLER_WAIT; else the primary,
 * with the reason "no replica has replayed X/Y" (or "no replica within
 * bounds").
 *
 * State: the options and the last pick, allocated in init; route() makes
 * one pass over the candidates, allocates nothing, and formats the LSN of
 * its reason by hand.
 */
#include "pooler_plugin.h"
#include "../common/plugin_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ryw_state {
	uint64_t max_lag_bytes;   /* 0 = no bound */
	uint64_t max_lag_ms;      /* 0 = no bound */
	uint64_t ryw_window_ns;   /* 0 = remember a session's write forever */
	uint64_t max_wait_ms;     /* POOLER_WAIT budget; 0 = never wait */
	const pooler_host *host;  /* for now_ns() when ryw_window_ms is set */
	int32_t  last_id;         /* the last pick, for "in turn" among ties */
} ryw_state;

static const char *const known_keys[] = {
	"max_lag_bytes", "max_lag_ms", "ryw_window_ms", "max_wait_ms", NULL
};

static int ryw_init(const pooler_host *host, void **state, char *err, size_t errlen)
{
	ryw_state cfg = { .last_id = -1, .host = host };
	uint64_t window_ms;
	ryw_state *st;

	if (plugin_check_keys(host, known_keys, err, errlen) != 0 ||
	    plugin_get_u64(host, "max_lag_bytes", &cfg.max_lag_bytes, err, errlen) != 0 ||
	    plugin_get_u64(host, "max_lag_ms", &cfg.max_lag_ms, err, errlen) != 0 ||
	    plugin_get_u64(host, "ryw_window_ms", &window_ms, err, errlen) != 0 ||
	    plugin_get_u64(host, "max_wait_ms", &cfg.max_wait_ms, err, errlen) != 0)
		return 1;
	if (cfg.max_wait_ms && host->abi_minor < 1) {
		snprintf(err, errlen, "max_wait_ms needs ABI 1.1 (POOLER_WAIT); this core speaks %u.%u",
		         host->abi_major, host->abi_minor);
		return 1;
	}
	if (cfg.max_wait_ms > 10000) {
		snprintf(err, errlen, "max_wait_ms: %llu is more than 10000",
		         (unsigned long long)cfg.max_wait_ms);
		return 1;
	}
	if (window_ms > UINT64_MAX / 1000000) {
		snprintf(err, errlen, "ryw_window_ms: %llu is too large", (unsigned long long)window_ms);
		return 1;
	}
	cfg.ryw_window_ns = window_ms * 1000000;
	st = malloc(sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return 1;
	}
	*st = cfg;
	*state = st;
	host->log(host->ctx, POOLER_LOG_INFO, "max_lag_bytes=%llu max_lag_ms=%llu ryw_window_ms=%llu "
	          "max_wait_ms=%llu", (unsigned long long)st->max_lag_bytes,
	          (unsigned long long)st->max_lag_ms, (unsigned long long)window_ms,
	          (unsigned long long)st->max_wait_ms);
	return 0;
}

/* Append v in upper-case hex, no leading zeros, at *p (room for 8 digits). */
static char *put_hex32(char *p, uint32_t v)
{
	static const char digits[] = "0123456789ABCDEF";
	char tmp[8];
	int n = 0;

	do {
		tmp[n++] = digits[v & 0xf];
		v >>= 4;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* "no replica has replayed X/Y", the LSN as PostgreSQL prints it. */
static void set_lsn_reason(pooler_decision *out, pooler_lsn lsn)
{
	static const char prefix[] = "no replica has replayed ";
	char *p = out->reason;

	/* 24 + 8 + 1 + 8 + 1 = 42 <= POOLER_REASON_LEN */
	memcpy(p, prefix, sizeof(prefix) - 1);
	p += sizeof(prefix) - 1;
	p = put_hex32(p, (uint32_t)(lsn >> 32));
	*p++ = '/';
	p = put_hex32(p, (uint32_t)lsn);
	*p = '\0';
}

/* A replica that may serve some reads: up, not draining, within bounds. */
static int usable(const ryw_state *st, const pooler_backend *b)
{
	if (b->role != POOLER_ROLE_REPLICA || b->health != POOLER_HEALTH_UP || b->weight == 0 ||
	    b->id < 0 || b->id >= POOLER_MAX_BACKENDS)
		return 0;
	if (st->max_lag_bytes && (b->lag_bytes == POOLER_LAG_BYTES_UNKNOWN ||
	                          b->lag_bytes > st->max_lag_bytes))
		return 0;
	if (st->max_lag_ms && (b->lag_ms == POOLER_MS_UNKNOWN || b->lag_ms > st->max_lag_ms))
		return 0;
	return 1;
}

/* May b serve this read?  need = the session's LSN, 0 if it needs none. */
static int eligible(const ryw_state *st, const pooler_backend *b, pooler_lsn need)
{
	if (!usable(st, b))
		return 0;
	if (need)
		return b->replay_lsn != 0 && b->replay_lsn >= need;
	return b->lag_bytes != POOLER_LAG_BYTES_UNKNOWN;
}

/* The LSN this session's read must see, 0 for none. */
static pooler_lsn session_need(const ryw_state *st, const pooler_txn *txn,
                               const pooler_session *s)
{
	if (!s || !s->last_commit_lsn)
		return 0;
	if (txn && (txn->hints & POOLER_HINT_REPLICA) && !(txn->hints & POOLER_HINT_FRESH))
		return 0;
	if (st->ryw_window_ns && s->last_commit_ns) {
		uint64_t now = st->host->now_ns(st->host->ctx);
		if (now > s->last_commit_ns && now - s->last_commit_ns > st->ryw_window_ns)
			return 0;
	}
	return s->last_commit_lsn;
}

static int ryw_route(void *state, const pooler_txn *txn, pooler_session *session,
                     const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	ryw_state *st = state;
	const pooler_backend *best = NULL;
	int may_catch_up = 0;
	pooler_lsn need;

	if (session && (session->flags & POOLER_SESS_LSN_PENDING)) {
		/* wait for the LSN (a round trip) if a replica could then serve */
		for (uint32_t i = 0; i < ncand && st->max_wait_ms; i++)
			may_catch_up |= usable(st, cand[i]);
		out->verdict = may_catch_up && POOLER_HAS(out, pooler_decision, wait_ms)
			? POOLER_WAIT : POOLER_ROUTE_PRIMARY;
		if (out->verdict == POOLER_WAIT)
			out->wait_ms = (uint32_t)st->max_wait_ms;
		plugin_set_reason(out, "commit LSN pending");
		return 0;
	}
	need = session_need(st, txn, session);
	for (uint32_t i = 0; i < ncand; i++) {
		const pooler_backend *b = cand[i];
		if (eligible(st, b, need) && (!best || plugin_better_tie(st->last_id, b, best)))
			best = b;
		else if (need && usable(st, b))
			may_catch_up = 1;
	}
	if (!best && may_catch_up && st->max_wait_ms && POOLER_HAS(out, pooler_decision, wait_ms)) {
		/* a replica is up and may replay it soon: let the core park the read */
		out->verdict = POOLER_WAIT;
		out->wait_ms = (uint32_t)st->max_wait_ms;
		set_lsn_reason(out, need);
		return 0;
	}
	if (!best) {
		out->verdict = POOLER_ROUTE_PRIMARY;
		if (need)
			set_lsn_reason(out, need);
		else
			plugin_set_reason(out, "no replica within bounds");
		return 0;
	}
	st->last_id = best->id;
	out->verdict = POOLER_ROUTE_BACKEND;
	out->backend_id = best->id;
	plugin_set_reason(out, need ? "replayed the session's write" : "no write to wait for");
	return 0;
}

static void ryw_fini(void *state)
{
	free(state);
}

static const pooler_plugin lsn_ryw = {
	POOLER_PLUGIN_HEADER("lsn_ryw", "1.1"),
	.init = ryw_init,
	.route = ryw_route,
	.fini = ryw_fini,
};

POOLER_PLUGIN_ENTRY
{
	(void)host_major;
	(void)host_minor;
	return &lsn_ryw;
}
