/*
 * server.h - the server-side protocol state machine: connect, startup,
 * authentication as the pool's user, reset/check queries, forwarding
 * replies to the linked client and deciding when to release.
 */
#ifndef LAGOON_SERVER_H
#define LAGOON_SERVER_H

#include "lagoon.h"

/* Open a new connection for the pool to backend be (SV_LOGIN).  NULL on failure. */
Server *server_launch(Pool *p, Backend *be);
void server_close(Server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Outside a transaction, no COPY, nothing outstanding but lagoon's own
 * queries (swallow_rfq): once those are done the server may go back to
 * the pool. */
bool server_is_clean(const Server *s);
/* Unlink from the client and return to the pool (idle, used or closed). */
void server_release(Server *s);
/* The client left while only lagoon's own query runs on s: finish it
 * unlinked (SV_TESTED), then s is idle again. */
void server_detach(Server *s);
/* Link s to c and send any SET needed for c's parameters; true if the
 * server can take client traffic right away. */
bool server_link(Server *s, Client *c);
/* Client sent something that expects replies: track it. */
void server_track_client_msg(Server *s, uint8_t type);
/* Send the CancelRequest for s on a new connection to the same address. */
void server_send_cancel(Server *s);
/* Run auth_query for user on the idle server s (authq.c). */
void server_authq_start(Server *s, const char *user);
/* Start server_check_query on an idle server (SV_USED -> SV_TESTED). */
void server_check(Server *s);

#endif
