/*
 * no_route.c - broken test plugin: a valid descriptor without a route
 * callback.  The loader must refuse it with "no route callback".
 */
#include "test_plugin.h"

static const pooler_plugin desc = {
	POOLER_PLUGIN_HEADER("no_route", "0"),
	.init = t_init_none,
};

TEST_PLUGIN_ENTRY(desc)
