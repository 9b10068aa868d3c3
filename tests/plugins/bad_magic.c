/*
 * bad_magic.c - broken test plugin: the descriptor's magic is wrong.
 * The loader must refuse it as "not a lagoon plugin (bad magic ...)".
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
	POOLER_PLUGIN_HEADER("bad_magic", "0"),
	.init = t_init,
	.route = t_route,
};

POOLER_PLUGIN_ENTRY
{
	static pooler_plugin copy;

	(void)host_major; (void)host_minor;
	copy = desc;
	copy.magic = 0xdeadbeefU;
	return &copy;
}
