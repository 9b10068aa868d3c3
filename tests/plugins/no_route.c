/*
 * no_route.c - broken test plugin: a valid descriptor without a route
 * callback.  The loader must refuse it with "no route callback".
 */
#include "pooler_plugin.h"

static int t_init(const pooler_host *h, void **state, char *err, size_t errlen)
{
	(void)h; (void)err; (void)errlen;
	*state = NULL;
	return 0;
}

static const pooler_plugin desc = {
	POOLER_PLUGIN_HEADER("no_route", "0"),
	.init = t_init,
};

POOLER_PLUGIN_ENTRY
{
	(void)host_major; (void)host_minor;
	return &desc;
}
