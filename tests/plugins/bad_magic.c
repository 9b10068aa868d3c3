/*
 * bad_magic.c - broken test plugin: the descriptor's magic is wrong.
 * The loader must refuse it as "not a lagoon plugin (bad magic ...)".
 */
#include "test_plugin.h"

static const pooler_plugin desc = {
	POOLER_PLUGIN_HEADER("bad_magic", "0"),
	.init = t_init_none,
	.route = t_route_none,
};

POOLER_PLUGIN_ENTRY
{
	static pooler_plugin copy;

	(void)host_major; (void)host_minor;
	copy = desc;
	copy.magic = 0xdeadbeefU;
	return &copy;
}
