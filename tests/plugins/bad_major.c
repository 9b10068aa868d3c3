/*
 * bad_major.c - broken test plugin: built for ABI major + 1.
 * The loader must refuse it with "ABI 2.0, core speaks 1.1".
 */
#include "test_plugin.h"

static const pooler_plugin desc = {
	.magic = POOLER_ABI_MAGIC,
	.abi_major = POOLER_ABI_MAJOR + 1,
	.abi_minor = 0,
	.struct_size = sizeof(pooler_plugin),
	.name = "bad_major",
	.version = "0",
	.init = t_init_none,
	.route = t_route_none,
};

TEST_PLUGIN_ENTRY(desc)
