/*
 * test_plugin.h - what the test plugins share, so that each file holds
 * only the one thing it gets wrong (or right) on purpose: an init for a
 * plugin that keeps no state, a route() that decides nothing (for plugins refused before they are asked), and the
 * entry function that hands out the plugin's one descriptor.  Header-only
 * (static inline): every test plugin is a .so of its own.  The descriptor
 * itself stays in each plugin, since that is what most of them test.
 */
#ifndef LAGOON_TEST_PLUGIN_H
#define LAGOON_TEST_PLUGIN_H

#include "pooler_plugin.h"

/* init: no state, never fails */
static inline int t_init_none(const pooler_host *h, void **state, char *err, size_t errlen)
{
	(void)h; (void)err; (void)errlen;
	*state = NULL;
	return 0;
}

/* route: the default decision */
static inline int t_route_none(void *state, const pooler_txn *txn, pooler_session *s,
                               const pooler_backend *const *cand, uint32_t ncand,
                               pooler_decision *out)
{
	(void)state; (void)txn; (void)s; (void)cand; (void)ncand; (void)out;
	return 0;
}

/* The entry function: returns &desc whatever the core's ABI version. */
#define TEST_PLUGIN_ENTRY(desc) \
	POOLER_PLUGIN_ENTRY \
	{ \
		(void)host_major; (void)host_minor; \
		return &(desc); \
	}

#endif
