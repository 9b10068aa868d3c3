/*
 * down_backend.c - broken test plugin: answers the first candidate that
 * is DOWN (the first candidate if none is).  The core must overrule a
 * DOWN answer to the primary.
 */
#include "test_plugin.h"

static int t_route(void *state, const pooler_txn *txn, pooler_session *s,
                   const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	(void)state; (void)txn; (void)s;
	if (ncand == 0)
		return 0;
	out->verdict = POOLER_ROUTE_BACKEND;
	out->backend_id = cand[0]->id;
	for (uint32_t i = 0; i < ncand; i++) {
		if (cand[i]->health == POOLER_HEALTH_DOWN) {
			out->backend_id = cand[i]->id;
			break;
		}
	}
	return 0;
}

static const pooler_plugin desc = {
	POOLER_PLUGIN_HEADER("down_backend", "0"),
	.init = t_init_none,
	.route = t_route,
};

TEST_PLUGIN_ENTRY(desc)
