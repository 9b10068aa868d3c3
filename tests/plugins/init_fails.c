/*
 * init_fails.c - broken test plugin: init refuses with a message that
 * names the option it wanted.  The loader must pass the message on.
 */
#include "pooler_plugin.h"

#include <stdio.h>

static int t_init(const pooler_host *h, void **state, char *err, size_t errlen)
{
	const char *v = h->option(h->ctx, "need");

	*state = NULL;
	snprintf(err, errlen, "option need=%s is not acceptable", v ? v : "(missing)");
	return 1;
}

static int t_route(void *state, const pooler_txn *txn, pooler_session *s,
                   const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	(void)state; (void)txn; (void)s; (void)cand; (void)ncand; (void)out;
	return 0;
}

static const pooler_plugin desc = {
	POOLER_PLUGIN_HEADER("init_fails", "0"),
	.init = t_init,
	.route = t_route,
};

POOLER_PLUGIN_ENTRY
{
	(void)host_major; (void)host_minor;
	return &desc;
}
