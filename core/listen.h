/*
 * listen.h - listening sockets (TCP and the Unix socket) and accept.
 */
#ifndef LAGOON_LISTEN_H
#define LAGOON_LISTEN_H

#include "lagoon.h"

bool listen_start(const Config *cfg, char *err, size_t errlen);
/* Stop accepting on TCP (keep the Unix socket) or on all sockets. */
void listen_stop_tcp(void);
void listen_stop_all(void);
/* Temporarily stop/restart accepting (max_client_conn / pause). */
void listen_suspend(bool on);

#endif
