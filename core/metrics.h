/*
 * metrics.h - a Prometheus text-format endpoint (GET /metrics) served with
 * libevent's evhttp on lg.base, on metrics_listen_addr:metrics_listen_port.
 *
 * The numbers come from the same fields as the admin console's SHOW POOLS,
 * SHOW BACKENDS, SHOW STATS and SHOW ROUTING, so both always agree.  The
 * reply is built in one evbuffer per request; nothing blocks.
 */
#ifndef LAGOON_METRICS_H
#define LAGOON_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

/* Bind the endpoint when cfg->metrics_listen_addr is set (a no-op, true,
 * when it is unset or empty).  false with err naming the address when the
 * socket cannot be bound. */
bool metrics_start(const Config *cfg, char *err, size_t errlen);

/* Close the endpoint (safe when it never started). */
void metrics_stop(void);

#endif
