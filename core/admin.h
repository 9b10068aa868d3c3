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
/* Answer the admin commands that wait (PAUSE, WAIT_CLOSE, SUSPEND) whose
 * condition now holds.  The main loop calls it after every turn. */
void admin_run_waits(void);
/* c is closing: forget its pending wait. */
void admin_client_gone(Client *c);

#endif
