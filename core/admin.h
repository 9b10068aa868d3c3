/*
 * admin.h - the admin console: the virtual database "pgbouncer" (alias
 * "lagoon") that answers PgBouncer's SHOW commands and operations over the
 * simple query protocol.
 */
#ifndef LAGOON_ADMIN_H
#define LAGOON_ADMIN_H

#include "lagoon.h"

/* true for "pgbouncer" and "lagoon" */
bool admin_is_admin_db(const char *name);
/* Handle one simple Query from an admin client: sends the results and
 * ReadyForQuery (or an error).  sql is NUL-terminated. */
void admin_handle_query(Client *c, const char *sql);

#endif
