/*
 * test_stats.c - unit tests for core/stats.c: histogram buckets (bounds
 * inclusive, the overflow bucket, the sum), percentiles, and the
 * stats_period averages as SHOW STATS prints them: zero until two
 * snapshots exist, then the rates and per-event times of the last whole
 * period only, and still between snapshots.
 */
#include <event2/event_struct.h>  /* sbuf.h embeds struct event */

#include "lagoon.h"
#include "objects.h"
#include "stats.h"
#include "tap/tap.h"

#include <stdlib.h>
#include <string.h>

static void test_hist(void)
{
	StatsHist h;

	memset(&h, 0, sizeof(h));
	stats_hist_add(&h, 0);
	stats_hist_add(&h, 100);                 /* inclusive upper bound */
	stats_hist_add(&h, 101);
	stats_hist_add(&h, 30000000);
	stats_hist_add(&h, 30000001);            /* overflow */
	is_int(2, (long long)h.count[0], "0 and 100 us fall into the first bucket (le 100 us)");
	is_int(1, (long long)h.count[1], "101 us falls into the second (le 250 us)");
	is_int(1, (long long)h.count[STATS_HIST_BOUNDS - 1], "30 s falls into the last finite bucket");
	is_int(1, (long long)h.count[STATS_HIST_BOUNDS], "above 30 s goes to the overflow bucket");
	is_int(5, (long long)stats_hist_total(&h), "total counts every observation");
	is_int(60000202, (long long)h.sum_us, "the sum adds the exact values");
	is_int(100, (long long)stats_hist_percentile(&h, 40), "p40 is the first bucket's bound");
	is_int(250, (long long)stats_hist_percentile(&h, 60), "p60 is the second bucket's bound");
	ok(stats_hist_percentile(&h, 100) == UINT64_MAX, "p100 lies past the last bound");
	memset(&h, 0, sizeof(h));
	is_int(0, (long long)stats_hist_percentile(&h, 50), "an empty histogram has p50 = 0");
}

static Pool *new_pool(Database *db)
{
	Pool *p = calloc(1, sizeof(*p));

	p->db = db;
	list_append(&lg.pools, &p->node);
	return p;
}

/* One period of traffic on p: n transactions of one query each, xact_us
 * and wait_us apiece, in and out bytes. */
static void traffic(Pool *p, int n, uint64_t xact_us, uint64_t wait_us)
{
	for (int i = 0; i < n; i++) {
		stats_assigned(p, wait_us);
		stats_query_done(p, xact_us, true);
		stats_xact_done(p, xact_us);
		p->stat_bytes_in += 100;
		p->stat_bytes_out += 1000;
	}
}

static void test_averages(void)
{
	static Config cf;
	Database *db = calloc(1, sizeof(*db)), *other = calloc(1, sizeof(*other));
	Pool *p1, *p2, *p3;
	StatsTotals tot, avg;

	objects_init();
	cf.stats_period = 2000000;               /* 2 s */
	cf.log_stats = false;
	lg.cfg = &cf;
	list_append(&lg.databases, &db->node);
	list_append(&lg.databases, &other->node);
	p1 = new_pool(db);
	p2 = new_pool(db);
	p3 = new_pool(other);

	lg.now = 1000000;
	stats_refresh();                         /* the first period starts */
	traffic(p1, 30, 1000, 10);
	traffic(p2, 10, 3000, 50);
	traffic(p3, 99, 7, 7);
	stats_of_db(db, &tot, &avg);
	is_int(40, (long long)tot.xact, "totals add up both pools of the database");
	is_int(0, (long long)avg.xact, "no average before a whole period has passed");

	lg.now = 3000000;                        /* 2 s later: one period */
	stats_refresh();
	stats_of_db(db, &tot, &avg);
	is_int(20, (long long)avg.xact, "avg_xact_count = 40 transactions / 2 s");
	is_int(20, (long long)avg.query, "avg_query_count = 40 / 2 s");
	is_int(20, (long long)avg.assign, "avg_server_assignment_count = 40 / 2 s");
	is_int(2000, (long long)avg.recv, "avg_recv = 4000 B / 2 s");
	is_int(20000, (long long)avg.sent, "avg_sent = 40000 B / 2 s");
	is_int(1500, (long long)avg.xact_time, "avg_xact_time = (30*1000 + 10*3000) us / 40 transactions");
	is_int(1500, (long long)avg.query_time, "avg_query_time per query");
	is_int(20, (long long)avg.wait_time, "avg_wait_time = (30*10 + 10*50) us / 40 assignments");
	stats_of_db(other, &tot, &avg);
	is_int(7, (long long)avg.xact_time, "another database has its own averages");

	traffic(p1, 1000, 1, 1);                 /* in the current period */
	lg.now = 3500000;
	stats_refresh();                         /* not a whole period yet */
	stats_of_db(db, &tot, &avg);
	is_int(20, (long long)avg.xact, "between snapshots the average stays that of the last period");
	is_int(1040, (long long)tot.xact, "while the totals move on");

	lg.now = 5000000;
	stats_refresh();
	stats_of_db(db, &tot, &avg);
	is_int(500, (long long)avg.xact, "the next period: 1000 transactions / 2 s");
	is_int(1, (long long)avg.xact_time, "and its own time per transaction");
	lg.now = 7000000;
	stats_refresh();
	stats_of_db(db, &tot, &avg);
	is_int(0, (long long)avg.xact, "an idle period averages 0");
	stats_of_db(NULL, &tot, &avg);
	is_int(1139, (long long)tot.xact, "NULL sums every database (SHOW TOTALS)");
	is_int(1139, (long long)stats_hist_total(&db->hist[STATS_H_XACT]) +
	       (long long)stats_hist_total(&other->hist[STATS_H_XACT]),
	       "every transaction is in the histogram of its database");
	is_int(1040, (long long)stats_hist_total(&db->hist[STATS_H_WAIT]),
	       "every server assignment is in the wait histogram");
	free(p1);
	free(p2);
	free(p3);
	free(db);
	free(other);
}

int main(void)
{
	plan_lazy();
	test_hist();
	test_averages();
	return exit_status();
}
