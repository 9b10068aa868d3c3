/*
 * route_error.c - broken test plugin: route() always fails with an error
 * code and a reason.  The core must route to the primary, count the
 * errors and switch the instance off after enough of them in a row.
 */
#include "pooler_plugin.h"

#include <string.h>

static int t_init(const pooler_host *h, void **state, char *err, size_t errlen)
{
	(void)h; (void)err; (void)errlen;
	*state = NULL;
	return 0;
}

static int t_route(void *state, const pooler_txn *txn, pooler_session *s,
                   const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	(void)state; (void)txn; (void)s; (void)cand; (void)ncand;
	memcpy(out->reason, "tea leaves unreadable", sizeof("tea leaves unreadable"));
	return -5;
}

static const pooler_plugin desc = {
	POOLER_PLUGIN_HEADER("route_error", "0"),
	.init = t_init,
	.route = t_route,
};

POOLER_PLUGIN_ENTRY
{
	(void)host_major; (void)host_minor;
	return &desc;
}
