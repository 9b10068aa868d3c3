/*
 * route_error.c - broken test plugin: route() always fails with an error
 * code and a reason.  The core must route to the primary, count the
 * errors and switch the instance off after enough of them in a row.
 */
#include "test_plugin.h"

#include <string.h>

static int t_route(void *state, const pooler_txn *txn, pooler_session *s,
                   const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	(void)state; (void)txn; (void)s; (void)cand; (void)ncand;
	memcpy(out->reason, "tea leaves unreadable", sizeof("tea leaves unreadable"));
	return -5;
}

static const pooler_plugin desc = {
	POOLER_PLUGIN_HEADER("route_error", "0"),
	.init = t_init_none,
	.route = t_route,
};

TEST_PLUGIN_ENTRY(desc)
