/*
 * plugin_util.h - small helpers shared by the routing plugins that ship
 * with lagoon.  Header-only (static inline): a plugin links against
 * nothing from the core or from another plugin, so the shared code is
 * compiled into each .so.  Only what pooler_plugin.h offers is used.
 */
#ifndef LAGOON_PLUGIN_UTIL_H
#define LAGOON_PLUGIN_UTIL_H

#include "pooler_plugin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Copy a constant reason: no formatting on the hot path. */
static inline void plugin_set_reason(pooler_decision *out, const char *why)
{
	size_t n = strlen(why);

	if (n >= sizeof(out->reason))
		n = sizeof(out->reason) - 1;
	memcpy(out->reason, why, n);
	out->reason[n] = '\0';
}

/* Parse a non-negative decimal integer option into *out (0 if absent).
 * -1 with err on anything else (sign, spaces, junk, overflow). */
static inline int plugin_get_u64(const pooler_host *host, const char *key, uint64_t *out,
                                 char *err, size_t errlen)
{
	const char *v = host->option(host->ctx, key);
	char *end;
	unsigned long long n;

	*out = 0;
	if (!v)
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || *v == '+' || *v == ' ') {
		snprintf(err, errlen, "%s: \"%s\" is not a non-negative integer", key, v);
		return -1;
	}
	*out = n;
	return 0;
}

/* Refuse option keys not in known (NULL-terminated); the message lists
 * the known ones. */
static inline int plugin_check_keys(const pooler_host *host, const char *const *known,
                                    char *err, size_t errlen)
{
	const char *key;

	for (uint32_t i = 0; (key = host->option_key(host->ctx, i)) != NULL; i++) {
		const char *const *k = known;
		size_t used;
		while (*k && strcmp(key, *k) != 0)
			k++;
		if (*k)
			continue;
		used = (size_t)snprintf(err, errlen, "unknown option \"%s\" (known:", key);
		for (k = known; *k && used < errlen; k++)
			used += (size_t)snprintf(err + used, errlen - used, "%s %s",
			                         k == known ? "" : ",", *k);
		if (used < errlen)
			snprintf(err + used, errlen - used, ")");
		return -1;
	}
	return 0;
}

/* How far after the last pick id comes, cyclically: smaller goes first. */
static inline uint32_t plugin_turn_distance(int32_t last, int32_t id)
{
	return (uint32_t)(id - last - 1 + 2 * POOLER_MAX_BACKENDS) % (2 * POOLER_MAX_BACKENDS);
}

/* Between two acceptable replicas: fewer active connections, then the
 * one whose turn comes first after last_id. */
static inline int plugin_better_tie(int32_t last_id, const pooler_backend *a, const pooler_backend *b)
{
	if (a->active != b->active)
		return a->active < b->active;
	return plugin_turn_distance(last_id, a->id) < plugin_turn_distance(last_id, b->id);
}

#endif
