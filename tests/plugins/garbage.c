/*
 * garbage.c - broken test plugin: every answer of route() is garbage, in
 * turn: an unknown verdict, a backend id out of range, a negative id, an
 * id that is no candidate, an error code, a reason without its NUL, and a
 * decision whose struct_size and reserved field were scribbled over.  Used
 * under load (tests/integration/190_bad_plugin.sh): the core must overrule
 * every answer to the primary, never send a write anywhere else, and open
 * the circuit breaker.
 */
#include "test_plugin.h"

#include <string.h>

typedef struct st { uint32_t n; } st;

static st one;   /* route() must not allocate: one counter per process */

static int t_init(const pooler_host *h, void **state, char *err, size_t errlen)
{
	(void)h; (void)err; (void)errlen;
	*state = &one;
	return 0;
}

static int t_route(void *state, const pooler_txn *txn, pooler_session *s,
                   const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	st *g = state;
	uint32_t k = g->n++ % 7;

	(void)txn; (void)s; (void)cand;
	memset(out->reason, 0xA5, sizeof(out->reason));    /* never terminated */
	switch (k) {
	case 0:
		out->verdict = 0xDEADBEEFU;
		return 0;
	case 1:
		out->verdict = POOLER_ROUTE_BACKEND;
		out->backend_id = 0x7FFFFFFF;
		return 0;
	case 2:
		out->verdict = POOLER_ROUTE_BACKEND;
		out->backend_id = -2147483647 - 1;
		return 0;
	case 3:
		out->verdict = POOLER_ROUTE_BACKEND;
		out->backend_id = (int32_t)ncand + 3;        /* in range, no candidate */
		return 0;
	case 4:
		out->verdict = POOLER_ROUTE_BACKEND;
		return -1;
	case 5:
		out->struct_size = 0xFFFFFFFFU;
		out->reserved0 = 0xFFFFFFFFU;
		out->verdict = 0x7FFFFFFFU;                   /* no such verdict */
		return 0;
	default:
		out->verdict = POOLER_ROUTE_BACKEND;
		out->backend_id = -1;
		return 12345;
	}
}

static const pooler_plugin desc = {
	POOLER_PLUGIN_HEADER("garbage", "0"),
	.init = t_init,
	.route = t_route,
};

TEST_PLUGIN_ENTRY(desc)
