/*
 * bad_major.c - broken test plugin: built for ABI major + 1.
 * The loader must refuse it with "ABI 2.0, core speaks 1.1".
 */
#include "pooler_plugin.h"

static int t_init(const pooler_host *h, void **state, char *err, size_t errlen)
{
	(void)h; (void)err; (void)errlen;
	*state = NULL;
	return 0;
}

static int t_route(void *state, const pooler_txn *txn, pooler_session *s,
                   const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	(void)state; (void)txn; (void)s; (void)cand; (void)ncand; (void)out;
	return 0;
}

static const pooler_plugin desc = {
	.magic = POOLER_ABI_MAGIC,
	.abi_major = POOLER_ABI_MAJOR + 1,
	.abi_minor = 0,
	.struct_size = sizeof(pooler_plugin),
	.name = "bad_major",
	.version = "0",
	.init = t_init,
	.route = t_route,
};

POOLER_PLUGIN_ENTRY
{
	(void)host_major; (void)host_minor;
	return &desc;
}
