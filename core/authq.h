/*
 * authq.h - auth_user + auth_query: secrets of users not in auth_file.
 *
 * A client whose user is not in auth_file waits (CL_LOGIN, reading
 * paused) while its query runs on a server connection of the pool
 * (auth_dbname or the client's database, auth_user).  Clients waiting for
 * the same user share one run; answers (found or not) are cached for
 * auth_query_cache_ttl, so a login storm is one query.  Not found, NULL
 * and every error look the same to the client: the password exchange
 * runs against no secret and fails like a wrong password.
 */
#ifndef LAGOON_AUTHQ_H
#define LAGOON_AUTHQ_H

#include "lagoon.h"

/* auth_user is set for c's database (and c is not on the admin console
 * without an auth_dbname). */
bool authq_wanted(const Client *c);
/* Find c's secret: from the cache at once, or park c on the auth pool. */
void authq_start(Client *c);
/* c is closing: forget it. */
void authq_client_gone(Client *c);
/* Start queries on idle servers of p; count the servers still needed in
 * demand[] (pool_activate). */
void authq_pump(Pool *p, int *demand);
/* A server finished a run for user: answered = the query ran (secret is
 * then the found secret, or NULL for no such user); false = it failed. */
void authq_done(Pool *p, const char *user, bool answered, const char *secret);
/* p cannot log in to its server: its waiting clients fail. */
void authq_pool_failed(Pool *p);
/* Forget every cached secret (RELOAD). */
void authq_cache_clear(void);
/* Cached entries and queries run, for SHOW / tests. */
int authq_cache_count(void);
uint64_t authq_queries_run(void);

#endif
