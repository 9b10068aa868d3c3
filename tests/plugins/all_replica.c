/*
 * all_replica.c - broken test plugin: answers the first replica for every
 * transaction, writes included if it were asked.  The core must keep
 * non-read-only transactions on the primary (and not even ask).
 */
#include "test_plugin.h"

#include <string.h>

static int t_route(void *state, const pooler_txn *txn, pooler_session *s,
                   const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	(void)state; (void)txn; (void)s;
	for (uint32_t i = 0; i < ncand; i++) {
		if (cand[i]->role == POOLER_ROLE_REPLICA) {
			out->verdict = POOLER_ROUTE_BACKEND;
			out->backend_id = cand[i]->id;
			memcpy(out->reason, "replica, always", sizeof("replica, always"));
			return 0;
		}
	}
	return 0;
}

static const pooler_plugin desc = {
	POOLER_PLUGIN_HEADER("all_replica", "0"),
	.init = t_init_none,
	.route = t_route,
};

TEST_PLUGIN_ENTRY(desc)
