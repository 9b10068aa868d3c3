/*
 * router.h - loads routing plugins and asks them where a transaction runs.
 *
 * A router_instance is one loaded plugin with its own options, statistics
 * and circuit breaker (one per database that names a router, or one shared
 * default: the caller decides).  At each transaction start the core fills a
 * pooler_txn, its pooler_session and a pooler_backend per backend of the
 * database (all of them, the primary included, each made with
 * router_backend_init() etc. so struct_size is right) and calls
 * router_route().  The answer is a plain router_result: a candidate index or
 * -1 for the primary, a reason code and the plugin's reason text.  The core
 * needs nothing else: router_route() already enforces the safety rules of
 * pooler_plugin.h (writes stay on the primary, invalid answers are overruled,
 * a failing plugin is switched off).
 *
 * Not thread-safe: one instance belongs to one event-loop thread.
 * Instances are never dlclosed (see router_unload).
 */
#ifndef LAGOON_ROUTER_H
#define LAGOON_ROUTER_H

#include "pooler_plugin.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct router_instance router_instance;

/* Why router_route() chose what it chose. */
typedef enum router_reason {
	ROUTER_R_ROUTED = 0,   /* the plugin chose a replica */
	ROUTER_R_PRIMARY,      /* the plugin chose the primary */
	ROUTER_R_NO_OPINION,   /* the plugin had no opinion: the default, primary */
	ROUTER_R_WRITE,        /* not read-only eligible: primary, plugin not asked */
	ROUTER_R_OVERRULED,    /* invalid answer (unknown/down backend, bad verdict): primary */
	ROUTER_R_ERROR,        /* route() returned an error: primary */
	ROUTER_R_OFF,          /* no plugin, or its circuit breaker is open: primary */
	ROUTER_R_WAIT,         /* POOLER_WAIT (ABI 1.1): park, ask again later (index -1) */
	ROUTER_R_COUNT
} router_reason;

typedef struct router_result {
	int           index;       /* into the candidates given; -1 = the primary */
	router_reason reason;
	char          detail[POOLER_REASON_LEN];  /* the plugin's reason, or the core's */
	uint32_t      wait_ms;     /* ROUTER_R_WAIT: the budget asked for (capped, never 0) */
} router_result;

/* POOLER_WAIT budgets: wait_ms 0 means the default; more is capped. */
#define ROUTER_WAIT_DEFAULT_MS 100
#define ROUTER_WAIT_MAX_MS 10000

/* A snapshot for SHOW PLUGINS.  Strings point into the instance and live
 * as long as it does. */
typedef struct router_info {
	const char *name;          /* the descriptor's name, "/label" if set */
	const char *version;       /* the plugin's own version */
	const char *file;          /* the path loaded */
	const char *options;       /* the options string given at load */
	uint32_t    abi_major, abi_minor;   /* what the plugin was built with */
	bool        off;           /* circuit breaker open */
	uint64_t    calls;         /* route() calls made */
	uint64_t    by_reason[ROUTER_R_COUNT];  /* router_route() results per reason */
	uint64_t    routed;        /* = by_reason[ROUTER_R_ROUTED] */
	uint64_t    overruled;     /* = by_reason[ROUTER_R_OVERRULED] */
	uint64_t    errors;        /* = by_reason[ROUTER_R_ERROR] */
	uint64_t    log_suppressed;/* log lines dropped by the rate limit */
	uint64_t    p50_ns, p99_ns, max_ns;  /* route() time (p50/p99 within 1/16) */
	uint64_t    sum_ns;        /* route() times added up */
} router_info;

/* Default consecutive failures (errors or invalid answers) that switch an
 * instance off. */
#define ROUTER_BREAKER_DEFAULT 16
/* An open breaker asks the plugin again after a cool-down: 30 s first,
 * doubled after each failed retry, at most 10 min. */
#define ROUTER_COOLDOWN_DEFAULT_NS (30ULL * 1000000000ULL)
#define ROUTER_COOLDOWN_MAX_NS     (600ULL * 1000000000ULL)

/* Load <dir>/<name>.so, check its ABI, and init an instance with `options`
 * ("key=value key=value", values may be 'single quoted'; NULL = none).
 * NULL on failure with a one-line message naming the file in err.  The
 * instance is the caller's: give it back with router_unload(). */
router_instance *router_load(const char *dir, const char *name, const char *options,
                             char *err, size_t errlen);

/* Fill a view with zeroes and its struct_size. */
void router_backend_init(pooler_backend *b);
void router_txn_init(pooler_txn *t);
/* Also points plugin_slot at *slot, which it sets to NULL (a new session). */
void router_session_init(pooler_session *s, void **slot);
void router_event_init(pooler_event *ev);

/* Decide where txn runs.  cand[0..ncand-1] are the database's backends;
 * inst NULL means "no router" (everything to the primary).  Always fills
 * *res and returns res->index. */
int router_route(router_instance *inst, const pooler_txn *txn, pooler_session *sess,
                 const pooler_backend *cand, int ncand, router_result *res);

/* A transaction of sess ended (ev->kind POOLER_EV_TXN_END). */
void router_observe(router_instance *inst, pooler_session *sess, const pooler_event *ev);
/* sess ended: the plugin frees its slot.  Call once per session, before
 * router_unload(). */
void router_session_end(router_instance *inst, pooler_session *sess);

/* Call fini and free the instance.  The shared object stays mapped until
 * the process exits: code of a plugin is never unmapped (as PostgreSQL
 * never unloads modules), so no stale pointer into it can crash. */
void router_unload(router_instance *inst);

/* Name the instance "<plugin>/<label>" in log lines and SHOW PLUGINS
 * (the core passes the database name). */
void router_set_label(router_instance *inst, const char *label);

/* Consecutive failures before the breaker opens (>= 1). */
void router_set_breaker(router_instance *inst, unsigned threshold);
/* The first cool-down of an open breaker (> 0; tests use a short one). */
void router_set_breaker_cooldown(router_instance *inst, uint64_t first_ns);
/* Close the breaker again (an operator's reset). */
void router_rearm(router_instance *inst);

void router_get_info(const router_instance *inst, router_info *out);
/* route() calls that took at most ns (a histogram bucket for the metrics
 * endpoint; a call within 1/16 below ns may be counted in the next one). */
uint64_t router_calls_le(const router_instance *inst, uint64_t ns);
const char *router_reason_name(router_reason r);

/* The core's monotonic clock in ns (what host->now_ns returns). */
uint64_t router_now_ns(void);

#endif
