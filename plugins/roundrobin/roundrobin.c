/*
 * roundrobin.c - routing plugin: read-only-eligible transactions go to the
 * healthy replicas in turn, in proportion to their weights.
 *
 * The turn is a smooth weighted round robin: every eligible replica's
 * running credit grows by its weight on each pick, the replica with the
 * most credit wins and pays back the total weight.  With weights 2:1 the
 * order is A B A A B A ..., never long runs on one replica.  Replicas that
 * are DOWN or draining (weight 0) take no part; with none left the answer
 * is the primary.  Options: none.
 *
 * State: one array of credits indexed by backend id, allocated in init;
 * route() allocates nothing and makes no system calls.
 */
#include "pooler_plugin.h"
#include "../common/plugin_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct rr_state {
	int64_t credit[POOLER_MAX_BACKENDS];  /* by backend id */
} rr_state;

static int rr_init(const pooler_host *host, void **state, char *err, size_t errlen)
{
	const char *key = host->option_key(host->ctx, 0);
	rr_state *st;

	if (key) {
		snprintf(err, errlen, "unknown option \"%s\" (roundrobin takes none)", key);
		return 1;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return 1;
	}
	*state = st;
	return 0;
}

static int eligible(const pooler_backend *b)
{
	return b->role == POOLER_ROLE_REPLICA && b->health == POOLER_HEALTH_UP &&
	       b->weight > 0 && b->id >= 0 && b->id < POOLER_MAX_BACKENDS;
}

static int rr_route(void *state, const pooler_txn *txn, pooler_session *session,
                    const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	rr_state *st = state;
	const pooler_backend *best = NULL;
	int64_t total = 0;

	(void)txn;
	(void)session;
	for (uint32_t i = 0; i < ncand; i++) {
		const pooler_backend *b = cand[i];
		if (!eligible(b)) {
			/* no credit saved up while away: no burst on return */
			if (b->id >= 0 && b->id < POOLER_MAX_BACKENDS)
				st->credit[b->id] = 0;
			continue;
		}
		st->credit[b->id] += b->weight;
		total += b->weight;
		if (!best || st->credit[b->id] > st->credit[best->id])
			best = b;
	}
	if (!best) {
		out->verdict = POOLER_ROUTE_PRIMARY;
		plugin_set_reason(out, "no replica up");
		return 0;
	}
	st->credit[best->id] -= total;
	out->verdict = POOLER_ROUTE_BACKEND;
	out->backend_id = best->id;
	plugin_set_reason(out, "turn");
	return 0;
}

static void rr_fini(void *state)
{
	free(state);
}

static const pooler_plugin roundrobin = {
	POOLER_PLUGIN_HEADER("roundrobin", "1.0"),
	.init = rr_init,
	.route = rr_route,
	.fini = rr_fini,
};

POOLER_PLUGIN_ENTRY
{
	(void)host_major;
	(void)host_minor;
	return &roundrobin;
}
