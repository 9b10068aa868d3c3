/*
 * old_wait.c - broken test plugin: its descriptor says ABI 1.0, yet
 * route() answers verdict 3, which 1.1 names POOLER_WAIT.  A 1.0 plugin
 * cannot mean that: the core must overrule it to the primary, not park.
 */
#include "test_plugin.h"

static int t_route(void *state, const pooler_txn *txn, pooler_session *s,
                   const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	(void)state; (void)txn; (void)s; (void)cand; (void)ncand;
	out->verdict = 3U;
	return 0;
}

static const pooler_plugin desc = {
	.magic = POOLER_ABI_MAGIC,
	.abi_major = POOLER_ABI_MAJOR,
	.abi_minor = 0,
	/* a 1.0 descriptor is as large as 1.1's: nothing was appended to it */
	.struct_size = sizeof(pooler_plugin),
	.name = "old_wait",
	.version = "0",
	.init = t_init_none,
	.route = t_route,
};

TEST_PLUGIN_ENTRY(desc)
