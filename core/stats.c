/*
 * stats.c - counters, stats_period averages and histograms (see stats.h).
 */
#ifdef HAVE_CONFIG_H
#include "autoconf.h"
#endif

#include <event2/event_struct.h>  /* sbuf.h embeds struct event */

#include "stats.h"
#include "lagoon.h"
#include "log.h"

#include <string.h>

/* 100 us .. 30 s, roughly 1-2.5-5 per decade */
const uint64_t stats_hist_bounds_us[STATS_HIST_BOUNDS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000,
	250000, 500000, 1000000, 2500000, 10000000, 30000000,
};

/* When the two snapshots of every pool were taken (0 = not yet). */
static usec_t stats_newer_at, stats_older_at;

void stats_hist_add(StatsHist *h, uint64_t us)
{
	int i = 0;

	while (i < STATS_HIST_BOUNDS && us > stats_hist_bounds_us[i])
		i++;
	h->count[i]++;
	h->sum_us += us;
}

uint64_t stats_hist_total(const StatsHist *h)
{
	uint64_t n = 0;

	for (int i = 0; i <= STATS_HIST_BOUNDS; i++)
		n += h->count[i];
	return n;
}

uint64_t stats_hist_percentile(const StatsHist *h, unsigned pct)
{
	uint64_t total = stats_hist_total(h), want, seen = 0;

	if (total == 0)
		return 0;
	want = (total * pct + 99) / 100;
	for (int i = 0; i < STATS_HIST_BOUNDS; i++) {
		seen += h->count[i];
		if (seen >= want)
			return stats_hist_bounds_us[i];
	}
	return UINT64_MAX;
}

void stats_assigned(Pool *p, uint64_t wait_us)
{
	p->stat_assign_count++;
	p->stat_wait_time_us += wait_us;
	stats_hist_add(&p->db->hist[STATS_H_WAIT], wait_us);
}

void stats_xact_done(Pool *p, uint64_t us)
{
	p->stat_xact_time_us += us;
	stats_hist_add(&p->db->hist[STATS_H_XACT], us);
}

void stats_query_done(Pool *p, uint64_t us, bool xact_end)
{
	p->stat_query_count++;
	if (xact_end)
		p->stat_xact_count++;
	p->stat_query_time_us += us;
	stats_hist_add(&p->db->hist[STATS_H_QUERY], us);
}

void stats_pool_totals(const Pool *p, StatsTotals *out)
{
	out->assign = p->stat_assign_count;
	out->xact = p->stat_xact_count;
	out->query = p->stat_query_count;
	out->recv = p->stat_bytes_in;
	out->sent = p->stat_bytes_out;
	out->xact_time = p->stat_xact_time_us;
	out->query_time = p->stat_query_time_us;
	out->wait_time = p->stat_wait_time_us;
	out->client_parse = p->stat_client_parse;
	out->server_parse = p->stat_server_parse;
	out->bind = p->stat_bind;
}

static void stats_add(StatsTotals *a, const StatsTotals *b)
{
	a->assign += b->assign;
	a->xact += b->xact;
	a->query += b->query;
	a->recv += b->recv;
	a->sent += b->sent;
	a->xact_time += b->xact_time;
	a->query_time += b->query_time;
	a->wait_time += b->wait_time;
	a->client_parse += b->client_parse;
	a->server_parse += b->server_parse;
	a->bind += b->bind;
}

static uint64_t stats_delta(uint64_t cur, uint64_t old)
{
	return cur > old ? cur - old : 0;
}

/* Per second over dur (us), rounded down. */
static uint64_t stats_rate(uint64_t cur, uint64_t old, usec_t dur)
{
	return (uint64_t)((double)stats_delta(cur, old) * 1e6 / (double)dur);
}

static uint64_t stats_per(uint64_t time_cur, uint64_t time_old, uint64_t n_cur, uint64_t n_old)
{
	uint64_t n = stats_delta(n_cur, n_old);

	return n ? stats_delta(time_cur, time_old) / n : 0;
}

/* The averages between two snapshots taken dur microseconds apart:
 * counts and bytes per second; times per transaction, per query and per
 * server assignment.  All zero before the first period has passed. */
static void stats_average(const StatsTotals *cur, const StatsTotals *old, usec_t dur,
                          StatsTotals *avg)
{
	memset(avg, 0, sizeof(*avg));
	if (dur <= 0)
		return;
	avg->assign = stats_rate(cur->assign, old->assign, dur);
	avg->xact = stats_rate(cur->xact, old->xact, dur);
	avg->query = stats_rate(cur->query, old->query, dur);
	avg->recv = stats_rate(cur->recv, old->recv, dur);
	avg->sent = stats_rate(cur->sent, old->sent, dur);
	avg->xact_time = stats_per(cur->xact_time, old->xact_time, cur->xact, old->xact);
	avg->query_time = stats_per(cur->query_time, old->query_time, cur->query, old->query);
	avg->wait_time = stats_per(cur->wait_time, old->wait_time, cur->assign, old->assign);
	avg->client_parse = stats_rate(cur->client_parse, old->client_parse, dur);
	avg->server_parse = stats_rate(cur->server_parse, old->server_parse, dur);
	avg->bind = stats_rate(cur->bind, old->bind, dur);
}

void stats_of_db(const Database *db, StatsTotals *total, StatsTotals *avg)
{
	StatsTotals newer, older, t;
	const ListNode *n;

	memset(total, 0, sizeof(*total));
	memset(&newer, 0, sizeof(newer));
	memset(&older, 0, sizeof(older));
	list_for_each(n, &lg.pools) {
		const Pool *p = list_entry(n, Pool, node);
		if (db && p->db != db)
			continue;
		stats_pool_totals(p, &t);
		stats_add(total, &t);
		stats_add(&newer, &p->stat_newer);
		stats_add(&older, &p->stat_older);
	}
	if (avg)
		stats_average(&newer, &older, stats_older_at ? stats_newer_at - stats_older_at : 0, avg);
}

void stats_refresh(void)
{
	StatsTotals tot, avg;
	ListNode *n;

	if (!stats_newer_at) {          /* the start of the first period */
		stats_newer_at = lg.now;
		return;
	}
	if (lg.cfg->stats_period <= 0 || lg.now - stats_newer_at < lg.cfg->stats_period)
		return;
	list_for_each(n, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		p->stat_older = p->stat_newer;
		stats_pool_totals(p, &p->stat_newer);
	}
	stats_older_at = stats_newer_at;
	stats_newer_at = lg.now;
	if (!lg.cfg->log_stats)
		return;
	stats_of_db(NULL, &tot, &avg);
	log_info("stats: %llu xacts/s, %llu queries/s, in %llu B/s, out %llu B/s, "
	         "xact %llu us, query %llu us, wait %llu us",
	         (unsigned long long)avg.xact, (unsigned long long)avg.query,
	         (unsigned long long)avg.recv, (unsigned long long)avg.sent,
	         (unsigned long long)avg.xact_time, (unsigned long long)avg.query_time,
	         (unsigned long long)avg.wait_time);
}
