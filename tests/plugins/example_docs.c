/*
 * sticky.c - an example lagoon routing plugin (docs/plugins.md).
 *
 * Read-only transactions of sessions whose application_name starts with
 * the option `apps` (default: every session) go to a replica, and each
 * session sticks to the replica it got first as long as that replica is
 * up, so its reads never go back in time.  A new session takes the UP
 * replica with the fewest active connections.  Other sessions: no opinion.
 *
 * Options: apps=PREFIX
 *
 * (Compiled by make check as tests/plugins/example_docs.c so the example in
 * the documentation keeps building and working.)
 */
#include <pooler_plugin.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sticky {
	char apps[64];                 /* application_name prefix, "" = all */
};

static int sticky_init(const pooler_host *host, void **state, char *err, size_t errlen)
{
	const char *apps = host->option(host->ctx, "apps");
	const char *key;
	struct sticky *st;

	for (uint32_t i = 0; (key = host->option_key(host->ctx, i)) != NULL; i++) {
		if (strcmp(key, "apps") != 0) {
			snprintf(err, errlen, "unknown option \"%s\"", key);
			return 1;
		}
	}
	if (apps && strlen(apps) >= sizeof(st->apps)) {
		snprintf(err, errlen, "apps: longer than %zu bytes", sizeof(st->apps) - 1);
		return 1;
	}
	st = calloc(1, sizeof(*st));
	if (!st) {
		snprintf(err, errlen, "out of memory");
		return 1;
	}
	if (apps)
		strcpy(st->apps, apps);
	host->log(host->ctx, POOLER_LOG_INFO, "sticky routing for apps \"%s*\"", st->apps);
	*state = st;
	return 0;
}

static int usable(const pooler_backend *b)
{
	return b->role == POOLER_ROLE_REPLICA && b->health == POOLER_HEALTH_UP && b->weight > 0;
}

static int sticky_route(void *state, const pooler_txn *txn, pooler_session *s,
                        const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out)
{
	struct sticky *st = state;
	/* the slot holds (replica id + 1), cast: no allocation, nothing to free */
	intptr_t mine = (intptr_t)*s->plugin_slot - 1;
	const pooler_backend *best = NULL;

	(void)txn;
	if (strncmp(s->application_name, st->apps, strlen(st->apps)) != 0)
		return 0;                          /* POOLER_NO_OPINION */
	for (uint32_t i = 0; i < ncand; i++) {
		if (!usable(cand[i]))
			continue;
		if (cand[i]->id == mine) {
			best = cand[i];
			break;
		}
		if (!best || cand[i]->active < best->active)
			best = cand[i];
	}
	if (!best) {
		out->verdict = POOLER_ROUTE_PRIMARY;
		strcpy(out->reason, "no replica up");
		return 0;
	}
	*s->plugin_slot = (void *)(intptr_t)(best->id + 1);
	out->verdict = POOLER_ROUTE_BACKEND;
	out->backend_id = best->id;
	strcpy(out->reason, best->id == mine ? "sticky" : "new session");
	return 0;
}

static void sticky_observe(void *state, pooler_session *s, const pooler_event *ev)
{
	(void)state;
	if (ev->kind == POOLER_EV_SESSION_END)
		*s->plugin_slot = NULL;            /* nothing was allocated */
}

static void sticky_fini(void *state)
{
	free(state);
}

static const pooler_plugin sticky = {
	POOLER_PLUGIN_HEADER("sticky", "1.0"),
	.init = sticky_init,
	.route = sticky_route,
	.observe = sticky_observe,
	.fini = sticky_fini,
};

POOLER_PLUGIN_ENTRY
{
	(void)host_major;
	(void)host_minor;
	return &sticky;
}
