/*
 * client.h - the client-side protocol state machine: startup,
 * authentication, welcome, and forwarding transactions to a linked server.
 */
#ifndef LAGOON_CLIENT_H
#define LAGOON_CLIENT_H

#include "lagoon.h"

/* Take ownership of an accepted socket. */
Client *client_accept(int fd, const struct sockaddr *sa, socklen_t salen, bool is_unix);

/* Free a closed (CL_FREE) client and all it owns (objects_reap). */
void client_free(Client *c);

/* Close a client: log the reason, unlink its server (closing the server if
 * it is mid-transaction), move to JUSTFREE.  Sends nothing. */
void client_close(Client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send FATAL ErrorResponse with sqlstate, then close. */
void client_fatal(Client *c, const char *sqlstate, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Send a message built in p to the client.  false if the client failed. */
bool client_send_pkt(Client *c, PktBuf *p);
/* Send ERROR (not fatal) + ReadyForQuery: the session continues. */
void client_send_error_ready(Client *c, const char *sqlstate, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Get a server for a query being replayed on the primary (retry_send). */
void client_retry_link(Client *c);
/* A batch held behind a replica read goes on once that read answered
 * (its server released or its ReadyForQuery forwarded). */
void client_pipeline_resume(Client *c);
/* Forget a kept retry copy and held replies. */
void client_drop_retry(Client *c);

/* The pool linked server s to waiting client c: resume its traffic. */
void client_link(Client *c, Server *s);
/* A waiting-for-login client can now be welcomed (pool has parameters),
 * or login failed (error != NULL). */
void client_login_done(Client *c, const char *error);
/* auth_query answered for c (AUTH_STEP_QUERY): go on with the password
 * exchange; secret NULL = not found (the exchange then fails like a wrong
 * password). */
void client_auth_with_secret(Client *c, const char *secret);

#endif
