/*
 * monitor.h - the cluster monitor: probes every backend of every database
 * with libpq's non-blocking API on lagoon's event loop, and keeps each
 * Backend's role, health, WAL position and lag up to date.
 *
 * Every monitor_interval ms, per database: the replicas (and backends of
 * unknown role) are probed first, the primary last, so that
 *   lag_bytes = primary position - replica replay position
 * is never negative.  lag_ms comes from a short history of (monotonic
 * time, primary position) samples: how long ago the primary was first
 * seen past the replica's replay position (0 when caught up, growing with
 * wall time while replay is paused; never now() - replay timestamp).
 *
 * Health: monitor_fail_count consecutive failures (probe or server
 * connect) mark a backend down; monitor_up_count good probes bring it back;
 * a down backend is probed with exponential backoff up to
 * monitor_backoff_max.  Roles are discovered: the one healthy backend
 * that is not in recovery is the primary; two at once is split brain
 * (db->primary = NULL, writes wait) and is logged loudly.
 */
#ifndef LAGOON_MONITOR_H
#define LAGOON_MONITOR_H

#include "lagoon.h"

/* Start the probe timer on lg.base.  false on failure. */
bool monitor_start(void);
/* Close every probe connection and stop the timer. */
void monitor_stop(void);

/* Probe state for a new backend / a backend about to be freed. */
void monitor_backend_added(Backend *be);
void monitor_backend_removed(Backend *be);
void monitor_db_removed(Database *db);

/* A server connection to be failed to connect or log in: counts like a
 * failed probe (health). */
void monitor_connect_failed(Backend *be, const char *why);

/* Normalise a pg_current_wal_insert_lsn() value for the page-header quirk
 * (reference/replication.md 2.4): a position at most one page header past
 * a page start is moved back to the page start. */
uint64_t monitor_normalise_insert_lsn(uint64_t lsn, uint32_t block_size, uint32_t segment_size);

/* lag_ms from a history of (time, primary LSN) samples, oldest first:
 * now - the time of the first sample whose LSN is beyond replay_lsn;
 * 0 if no sample is beyond it; if even the oldest is beyond, now - oldest. */
int64_t monitor_lag_ms(const usec_t *times, const uint64_t *lsns, int n, uint64_t replay_lsn, usec_t now);

/* Reads are parked waiting for a replica of db to replay far enough
 * (db->route_parked > 0): probe its healthy replicas now and every
 * MONITOR_WAIT_PROBE_MS while any read still waits, besides the regular
 * rounds.  Each good replica answer calls cluster_positions_changed(). */
#define MONITOR_WAIT_PROBE_MS 2
void monitor_want_positions(Database *db);

/* "X/Y" -> LSN; false if malformed. */
bool monitor_parse_lsn(const char *s, uint64_t *out);

/* Implemented in objects.c, called by the monitor: */
/* db->primary changed from old (may be NULL) to db->primary (may be NULL). */
void cluster_primary_changed(Database *db, Backend *old);
/* be went down (or came back up). */
void cluster_health_changed(Backend *be, BackendHealth old);
/* Implemented in routing.c: a replica of db answered a probe while reads
 * of db are parked (db->route_parked > 0): ask the plugin again for them. */
void cluster_positions_changed(Database *db);

#endif
