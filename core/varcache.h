/*
 * varcache.h - client-visible session parameters.
 *
 * A client moves between server connections in transaction mode; the
 * parameters it set (at startup or with SET) must follow it.  Each client
 * and server keeps the values it has; when they differ at link time the
 * core sends one SET query to the server and swallows its replies.
 * Values are strpool strings (strpool.h): one reference per cache slot,
 * so the many clients that inherit their pool's values share one copy.
 */
#ifndef LAGOON_VARCACHE_H
#define LAGOON_VARCACHE_H

#include <stdbool.h>
#include <stddef.h>

typedef enum VarId {
	VAR_CLIENT_ENCODING = 0,
	VAR_DATESTYLE,
	VAR_TIMEZONE,
	VAR_INTERVALSTYLE,
	VAR_STD_STRINGS,
	VAR_APPLICATION_NAME,
	VAR_SEARCH_PATH,
	VAR_COUNT
} VarId;

typedef struct VarCache {
	const char *val[VAR_COUNT];  /* pooled (strpool.h); NULL = unknown / not set */
} VarCache;

/* VAR_COUNT if the name is not tracked (case-insensitive). */
VarId varcache_lookup(const char *name);
const char *varcache_name(VarId id);
/* Set (copies value).  false on allocation failure. */
bool varcache_set(VarCache *vc, VarId id, const char *value);
/* Set by name; true if the name is tracked (and was set). */
bool varcache_set_by_name(VarCache *vc, const char *name, const char *value);
void varcache_clear(VarCache *vc);
void varcache_copy(VarCache *dst, const VarCache *src);
/* Build "SET a='x';SET b='y';" for every value the client has that the
 * server lacks or has differently.  Returns the length written (0 = none
 * needed); -1 if buf is too small. */
int varcache_diff_sql(const VarCache *client, const VarCache *server, char *buf, size_t len);

#endif
