/*
 * varcache.c - the session parameters that follow a client between
 * server connections.
 *
 * Each client and server carries a VarCache holding its copy of the
 * tracked parameters (the GUC_REPORT ones a client can observe).  When a
 * client is linked to a server whose values differ, varcache_diff_sql()
 * produces the SET statements that bring the server in line.  Values are
 * strpool references owned by the cache (shared with every other cache
 * holding the same value); names are matched
 * case-insensitively, as PostgreSQL does, and written back in the
 * spelling PostgreSQL uses in ParameterStatus.
 */
#include "varcache.h"
#include "strpool.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const var_names[VAR_COUNT] = {
	[VAR_CLIENT_ENCODING] = "client_encoding",
	[VAR_DATESTYLE] = "DateStyle",
	[VAR_TIMEZONE] = "TimeZone",
	[VAR_INTERVALSTYLE] = "IntervalStyle",
	[VAR_STD_STRINGS] = "standard_conforming_strings",
	[VAR_APPLICATION_NAME] = "application_name",
	[VAR_SEARCH_PATH] = "search_path",
};

VarId varcache_lookup(const char *name)
{
	if (!name)
		return VAR_COUNT;
	for (int i = 0; i < VAR_COUNT; i++) {
		if (strcasecmp(var_names[i], name) == 0)
			return (VarId)i;
	}
	return VAR_COUNT;
}

const char *varcache_name(VarId id)
{
	if ((int)id < 0 || id >= VAR_COUNT)
		return NULL;
	return var_names[id];
}

bool varcache_set(VarCache *vc, VarId id, const char *value)
{
	const char *copy = NULL;

	if ((int)id < 0 || id >= VAR_COUNT)
		return false;
	if (value == vc->val[id])
		return true;
	if (value) {
		copy = strpool_get(value);
		if (!copy)
			return false;
	}
	strpool_put(vc->val[id]);
	vc->val[id] = copy;
	return true;
}

bool varcache_set_by_name(VarCache *vc, const char *name, const char *value)
{
	VarId id = varcache_lookup(name);

	if (id == VAR_COUNT)
		return false;
	return varcache_set(vc, id, value);
}

void varcache_clear(VarCache *vc)
{
	for (int i = 0; i < VAR_COUNT; i++) {
		strpool_put(vc->val[i]);
		vc->val[i] = NULL;
	}
}

/* Shares src's pooled values: no allocation. */
void varcache_copy(VarCache *dst, const VarCache *src)
{
	if (dst == src)
		return;
	for (int i = 0; i < VAR_COUNT; i++) {
		if (dst->val[i] == src->val[i])
			continue;
		strpool_put(dst->val[i]);
		dst->val[i] = strpool_ref(src->val[i]);
	}
}

/* ---- building the SET statements -------------------------------------- */

typedef struct SqlOut {
	char *buf;
	size_t cap;      /* usable bytes, excluding the final NUL */
	size_t pos;
	bool overflow;
} SqlOut;

static void out_char(SqlOut *o, char c)
{
	if (o->pos >= o->cap) {
		o->overflow = true;
		return;
	}
	o->buf[o->pos++] = c;
}

static void out_str(SqlOut *o, const char *s)
{
	while (*s && !o->overflow)
		out_char(o, *s++);
}

/* A SQL string literal; E'' with doubled backslashes if one occurs, so
 * the result means the same whatever standard_conforming_strings is. */
static void out_literal(SqlOut *o, const char *v)
{
	bool esc = strchr(v, '\\') != NULL;

	if (esc)
		out_char(o, 'E');
	out_char(o, '\'');
	for (; *v && !o->overflow; v++) {
		if (*v == '\'' || (esc && *v == '\\'))
			out_char(o, *v);
		out_char(o, *v);
	}
	out_char(o, '\'');
}

/* Pooled values: equal strings are the same pointer. */
static bool var_differs(const char *client, const char *server)
{
	return client && client != server;
}

int varcache_diff_sql(const VarCache *client, const VarCache *server, char *buf, size_t len)
{
	SqlOut o;

	if (!buf)
		len = 0;
	o.buf = buf;
	o.cap = len ? len - 1 : 0;
	if (o.cap > INT_MAX)
		o.cap = INT_MAX;
	o.pos = 0;
	o.overflow = false;
	for (int i = 0; i < VAR_COUNT && !o.overflow; i++) {
		if (!var_differs(client->val[i], server->val[i]))
			continue;
		out_str(&o, "SET ");
		out_str(&o, var_names[i]);
		out_char(&o, '=');
		out_literal(&o, client->val[i]);
		out_char(&o, ';');
	}
	if (len == 0)
		return o.overflow ? -1 : 0;
	if (o.overflow) {
		buf[0] = '\0';
		return -1;
	}
	buf[o.pos] = '\0';
	return (int)o.pos;
}
