/*
 * unknown_backend.c - broken test plugin: always answers the backend id
 * given as option id=N (default 42), whether or not it is a candidate;
 * negative and out-of-range ids are allowed on purpose.  The core must
 * overrule every such answer to the primary.
 */
#include "test_plugin.h"

#include <stdlib.h>

typedef struct st { int32_t id; } st;

static int t_init(const pooler_host *h, void **state, char *err, size_t errlen)
{
	const char *v = h->option(h->ctx, "id");
	st *s = malloc(sizeof(*s));

	(void)err; (void)errlen;
	if (!s)
		return 1;
	s->id = v ? (int32_t)strtol(v, NULL, 10) : 42;
	*state = s;
	return 0;
}

static int t_route(void *state, const pooler_txn *txn, pooler_session *s,
                   const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	(void)txn; (void)s; (void)cand; (void)ncand;
	out->verdict = POOLER_ROUTE_BACKEND;
	out->backend_id = ((st *)state)->id;
	return 0;
}

static void t_fini(void *state)
{
	free(state);
}

static const pooler_plugin desc = {
	POOLER_PLUGIN_HEADER("unknown_backend", "0"),
	.init = t_init,
	.route = t_route,
	.fini = t_fini,
};

TEST_PLUGIN_ENTRY(desc)
