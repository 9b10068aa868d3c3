/*
 * init_fails.c - broken test plugin: init refuses with a message that
 * names the option it wanted.  The loader must pass the message on.
 */
#include "test_plugin.h"

#include <stdio.h>

static int t_init(const pooler_host *h, void **state, char *err, size_t errlen)
{
	const char *v = h->option(h->ctx, "need");

	*state = NULL;
	snprintf(err, errlen, "option need=%s is not acceptable", v ? v : "(missing)");
	return 1;
}

static const pooler_plugin desc = {
	POOLER_PLUGIN_HEADER("init_fails", "0"),
	.init = t_init,
	.route = t_route_none,
};

TEST_PLUGIN_ENTRY(desc)
