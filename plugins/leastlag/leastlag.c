/*
 * leastlag.c - routing plugin: a read-only-eligible transaction goes to the
 * healthy replica that lags least behind the primary.
 *
 * Options (all optional, 0 = no bound):
 *   max_lag_bytes=N  replicas more than N bytes of WAL behind are excluded
 *   max_lag_ms=N     replicas more than N ms behind are excluded
 *   tie_bytes=N      replicas within N bytes of the least lag count as tied
 * A replica whose lag in bytes is unknown (not sampled yet) is excluded,
 * as is one whose lag in ms is unknown while max_lag_ms is set.  Ties go to
 * the replica with the fewest active server connections, then in turn.
 * With no replica left the answer is the primary.
 *
 * State: the options and the last pick, allocated in init; route() makes
 * two passes over the candidates and allocates nothing.
 */
#include "pooler_plugin.h"
#include "../common/plugin_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const known_keys[] = { "max_lag_bytes", "max_lag_ms", "tie_bytes", NULL };

typedef struct ll_state {
	uint64_t max_lag_bytes;  /* 0 = no bound */
	uint64_t max_lag_ms;     /* 0 = no bound */
	uint64_t tie_bytes;
	int32_t  last_id;        /* the last pick, for "in turn" among ties */
} ll_state;

static int ll_init(const pooler_host *host, void **state, char *err, size_t errlen)
{
	ll_state cfg = { .last_id = -1 };
	ll_state *st;

	if (plugin_check_keys(host, known_keys, err, errlen) != 0 ||
	    plugin_get_u64(host, "max_lag_bytes", &cfg.max_lag_bytes, err, errlen) != 0 ||
	    plugin_get_u64(host, "max_lag_ms", &cfg.max_lag_ms, err, errlen) != 0 ||
	    plugin_get_u64(host, "tie_bytes", &cfg.tie_bytes, err, errlen) != 0)
		return 1;
	st = malloc(sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return 1;
	}
	*st = cfg;
	*state = st;
	host->log(host->ctx, POOLER_LOG_INFO, "max_lag_bytes=%llu max_lag_ms=%llu tie_bytes=%llu",
	          (unsigned long long)st->max_lag_bytes, (unsigned long long)st->max_lag_ms,
	          (unsigned long long)st->tie_bytes);
	return 0;
}

static int eligible(const ll_state *st, const pooler_backend *b)
{
	if (b->role != POOLER_ROLE_REPLICA || b->health != POOLER_HEALTH_UP || b->weight == 0)
		return 0;
	if (b->lag_bytes == POOLER_LAG_BYTES_UNKNOWN)
		return 0;
	if (st->max_lag_bytes && b->lag_bytes > st->max_lag_bytes)
		return 0;
	if (st->max_lag_ms && (b->lag_ms == POOLER_MS_UNKNOWN || b->lag_ms > st->max_lag_ms))
		return 0;
	return 1;
}

static int ll_route(void *state, const pooler_txn *txn, pooler_session *session,
                    const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	ll_state *st = state;
	const pooler_backend *best = NULL;
	uint64_t least = UINT64_MAX, limit;

	(void)txn;
	(void)session;
	for (uint32_t i = 0; i < ncand; i++)
		if (eligible(st, cand[i]) && cand[i]->lag_bytes < least)
			least = cand[i]->lag_bytes;
	if (least == UINT64_MAX) {
		out->verdict = POOLER_ROUTE_PRIMARY;
		plugin_set_reason(out, "no replica within bounds");
		return 0;
	}
	limit = least + st->tie_bytes < least ? UINT64_MAX : least + st->tie_bytes;
	for (uint32_t i = 0; i < ncand; i++) {
		const pooler_backend *b = cand[i];
		if (eligible(st, b) && b->lag_bytes <= limit &&
		    (!best || plugin_better_tie(st->last_id, b, best)))
			best = b;
	}
	st->last_id = best->id;
	out->verdict = POOLER_ROUTE_BACKEND;
	out->backend_id = best->id;
	plugin_set_reason(out, "least lag");
	return 0;
}

static void ll_fini(void *state)
{
	free(state);
}

static const pooler_plugin leastlag = {
	POOLER_PLUGIN_HEADER("leastlag", "1.0"),
	.init = ll_init,
	.route = ll_route,
	.fini = ll_fini,
};

POOLER_PLUGIN_ENTRY
{
	(void)host_major;
	(void)host_minor;
	return &leastlag;
}
