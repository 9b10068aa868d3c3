/*
 * newer_minor.c - test plugin built as if against a future ABI 1.2 header:
 * its descriptor is larger (one appended callback) and says minor + 1.
 * The core must accept it, ignore the part it does not know, and use it.
 */
#include "pooler_plugin.h"

typedef struct future_descriptor {
	pooler_plugin base;                 /* ABI 1.1 part, unchanged */
	void        (*reload)(void *state); /* "appended in 1.2" */
} future_descriptor;

static int t_init(const pooler_host *h, void **state, char *err, size_t errlen)
{
	(void)err; (void)errlen;
	*state = NULL;
	/* a newer plugin checks what the older core provides */
	return h->abi_minor <= POOLER_ABI_MINOR ? 0 : 1;
}

static int t_route(void *state, const pooler_txn *txn, pooler_session *s,
                   const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	(void)state; (void)txn; (void)s; (void)cand; (void)ncand;
	out->verdict = POOLER_ROUTE_PRIMARY;
	return 0;
}

static void t_reload(void *state)
{
	(void)state;
}

static const future_descriptor desc = {
	.base = {
		.magic = POOLER_ABI_MAGIC,
		.abi_major = POOLER_ABI_MAJOR,
		.abi_minor = POOLER_ABI_MINOR + 1,
		.struct_size = sizeof(future_descriptor),
		.name = "newer_minor",
		.version = "0",
		.init = t_init,
		.route = t_route,
	},
	.reload = t_reload,
};

POOLER_PLUGIN_ENTRY
{
	(void)host_major; (void)host_minor;
	return &desc.base;
}
