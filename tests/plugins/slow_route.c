/*
 * slow_route.c - broken test plugin: route() busy-loops for about 2 ms
 * (on the host's clock, no sleeping) and then answers the primary.  The
 * core's route() time statistics must show it.
 */
#include "test_plugin.h"

static int t_init(const pooler_host *h, void **state, char *err, size_t errlen)
{
	(void)err; (void)errlen;
	*state = (void *)h;   /* the host table lives until fini */
	return 0;
}

static int t_route(void *state, const pooler_txn *txn, pooler_session *s,
                   const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	const pooler_host *h = state;
	uint64_t until = h->now_ns(h->ctx) + 2000000U;

	(void)txn; (void)s; (void)cand; (void)ncand;
	while (h->now_ns(h->ctx) < until)
		;
	out->verdict = POOLER_ROUTE_PRIMARY;
	return 0;
}

static const pooler_plugin desc = {
	POOLER_PLUGIN_HEADER("slow_route", "0"),
	.init = t_init,
	.route = t_route,
};

TEST_PLUGIN_ENTRY(desc)
