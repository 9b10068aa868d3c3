/*
 * stats.h - traffic counters, their stats_period averages, and latency
 * histograms.
 *
 * Totals (StatsTotals) are summed per pool as the traffic happens.  Every
 * stats_period stats_refresh() keeps two snapshots of each pool's totals,
 * the newer and the older one; the averages that SHOW STATS prints are
 * computed from the difference of the two, over the time between them.
 * So, as in PgBouncer, an average describes the last whole period and
 * does not move between refreshes: counts and bytes per second, and
 * times per transaction, per query and per server assignment.
 *
 * Histograms (StatsHist) count transaction times, query times and the
 * time a client waited for a server (zero when it did not wait), per
 * database, in fixed buckets for the Prometheus endpoint.
 */
#ifndef LAGOON_STATS_H
#define LAGOON_STATS_H

#include <stdbool.h>
#include <stdint.h>

struct Pool;
struct Database;

/* Totals since start; times in microseconds.  Averages use the same
 * struct: counts and bytes per second, times per event. */
typedef struct StatsTotals {
	uint64_t assign;              /* server assignments */
	uint64_t xact, query;         /* transactions, queries finished */
	uint64_t recv, sent;          /* bytes from clients, to clients */
	uint64_t xact_time;           /* time in transactions */
	uint64_t query_time;          /* time in queries */
	uint64_t wait_time;           /* time clients waited for a server */
	uint64_t client_parse;        /* named Parse messages from clients (prepare.c) */
	uint64_t server_parse;        /* Parse messages sent to servers, re-prepares included */
	uint64_t bind;                /* Binds of named statements */
} StatsTotals;

typedef enum StatsHistKind {
	STATS_H_XACT = 0,             /* transaction time */
	STATS_H_QUERY,                /* query time */
	STATS_H_WAIT,                 /* wait for a server, per assignment */
	STATS_H_COUNT,
} StatsHistKind;

#define STATS_HIST_BOUNDS 16

/* Upper bounds (inclusive, microseconds) of the finite buckets. */
extern const uint64_t stats_hist_bounds_us[STATS_HIST_BOUNDS];

/* count[i] = observations in bucket i (not cumulative); count[BOUNDS] is
 * the overflow bucket. */
typedef struct StatsHist {
	uint64_t count[STATS_HIST_BOUNDS + 1];
	uint64_t sum_us;
} StatsHist;

void stats_hist_add(StatsHist *h, uint64_t us);
uint64_t stats_hist_total(const StatsHist *h);
/* The upper bound (us) of the bucket holding the pct-th percentile; 0
 * when empty, UINT64_MAX when it lies in the overflow bucket. */
uint64_t stats_hist_percentile(const StatsHist *h, unsigned pct);

/* Traffic events: add to the pool's totals and its database's histograms. */
void stats_assigned(struct Pool *p, uint64_t wait_us);
void stats_xact_done(struct Pool *p, uint64_t us);
void stats_query_done(struct Pool *p, uint64_t us, bool xact_end);

/* A pool's totals as one struct. */
void stats_pool_totals(const struct Pool *p, StatsTotals *out);

/* Totals and last-period averages of one database's pools (NULL: all). */
void stats_of_db(const struct Database *db, StatsTotals *total, StatsTotals *avg);

/* Janitor tick: take the snapshots when a stats_period has passed and
 * write the "stats:" log line (log_stats). */
void stats_refresh(void);

#endif
