/*
 * test_monitor.c - unit tests for the pure helpers of core/monitor.c.
 *
 * Covered: monitor_parse_lsn on good input (both halves, upper/lower case,
 * 8-digit halves, zero) and bad input (empty halves, no slash, 9 digits,
 * junk, signs, spaces, trailing text, NULL); monitor_normalise_insert_lsn
 * at page starts (unchanged), inside and at the end of a page header (24
 * bytes on an ordinary page, 40 at a segment start), just after a header,
 * and with zero sizes; monitor_lag_ms on an idle primary (a caught-up
 * replica is 0 however old the history), a paused replica (now - the
 * first sample beyond its position), a history shorter than the lag (now -
 * the oldest sample), an empty history, and a replica ahead of the history.
 */
#include "monitor.h"
#include "tap/tap.h"

#include <stdint.h>
#include <stdio.h>

#define MS 1000LL
#define BLK 8192u
#define SEG (16u * 1024 * 1024)

static void test_parse_good(void)
{
	uint64_t v = 1;

	ok(monitor_parse_lsn("16/B374D848", &v) && v == ((uint64_t)0x16 << 32 | 0xB374D848u),
	   "16/B374D848");
	ok(monitor_parse_lsn("0/0", &v) && v == 0, "0/0");
	ok(monitor_parse_lsn("0/3000060", &v) && v == 0x3000060u, "0/3000060");
	ok(monitor_parse_lsn("FFFFFFFF/FFFFFFFF", &v) && v == UINT64_MAX, "FFFFFFFF/FFFFFFFF");
	ok(monitor_parse_lsn("abcdef01/00000001", &v) && v == ((uint64_t)0xabcdef01u << 32 | 1),
	   "lower case, leading zeros");
}

static void test_parse_bad(void)
{
	static const char *const bad[] = {
		"", "/", "0/", "/0", "16B374D848", "1/2/3", "123456789/0", "0/123456789",
		"g/0", "0/x", "-1/0", "+1/0", " 1/0", "1/0 ", "1 /0", "0x1/0",
	};
	uint64_t v = 42;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!monitor_parse_lsn(bad[i], &v), "rejects \"%s\"", bad[i]);
	ok(!monitor_parse_lsn("1/0\n", &v), "rejects a trailing newline");
	ok(!monitor_parse_lsn(NULL, &v), "rejects NULL");
	is_int(42, (long long)v, "output untouched on rejection");
}

static long long norm(uint64_t lsn)
{
	return (long long)monitor_normalise_insert_lsn(lsn, BLK, SEG);
}

static void test_normalise(void)
{
	uint64_t page = 5 * (uint64_t)SEG + 3 * BLK;   /* an ordinary page start */
	uint64_t seg = 7 * (uint64_t)SEG;              /* a segment start */

	is_int((long long)page, norm(page), "page start stays");
	is_int((long long)seg, norm(seg), "segment start stays");
	is_int(0, norm(0), "0 stays");
	is_int((long long)page, norm(page + 24), "page start + 24 (short header) -> page start");
	is_int((long long)page, norm(page + 1), "inside the short header -> page start");
	is_int((long long)page + 25, norm(page + 25), "just after the short header stays");
	is_int((long long)page + 40, norm(page + 40), "page start + 40 on an ordinary page stays");
	is_int((long long)seg, norm(seg + 40), "segment start + 40 (long header) -> segment start");
	is_int((long long)seg, norm(seg + 24), "inside the long header -> segment start");
	is_int((long long)seg + 41, norm(seg + 41), "just after the long header stays");
	is_int((long long)seg + BLK, norm(seg + BLK + 24), "second page of a segment: 24");
	is_int((long long)seg + BLK + 40, norm(seg + BLK + 40), "second page of a segment: 40 stays");
	is_int((long long)page + 5000, norm(page + 5000), "middle of a page stays");
	is_int((long long)page - 1, norm(page - 1), "end of the previous page stays");
	is_int(12345, (long long)monitor_normalise_insert_lsn(12345, 0, SEG), "zero block size: unchanged");
	is_int(12345, (long long)monitor_normalise_insert_lsn(12345, BLK, 0), "zero segment size: unchanged");
}

static void test_lag(void)
{
	usec_t t[5] = { 1000 * MS, 1250 * MS, 1500 * MS, 1750 * MS, 2000 * MS };
	uint64_t idle[5] = { 500, 500, 500, 500, 500 };
	uint64_t busy[5] = { 100, 200, 300, 400, 500 };

	/* idle primary, caught-up replica: 0 no matter how old the samples */
	is_int(0, monitor_lag_ms(t, idle, 5, 500, 900000 * MS), "idle primary, caught up: 0");
	is_int(0, monitor_lag_ms(t, busy, 5, 500, 2000 * MS), "caught up with a busy primary: 0");
	is_int(0, monitor_lag_ms(t, busy, 5, 600, 2000 * MS), "replica ahead of the history: 0");
	/* paused at 250: the primary was first past it at t[2] */
	is_int(500, monitor_lag_ms(t, busy, 5, 250, 2000 * MS), "paused at 250: now - t[2]");
	is_int(1500, monitor_lag_ms(t, busy, 5, 250, 3000 * MS), "paused: grows with now");
	is_int(500, monitor_lag_ms(t, busy, 5, 200, 2000 * MS), "exactly at a sample: the next one counts");
	/* history shorter than the lag: now - the oldest sample */
	is_int(1000, monitor_lag_ms(t, busy, 5, 50, 2000 * MS), "older than the history: now - oldest");
	is_int(0, monitor_lag_ms(t, busy, 0, 50, 2000 * MS), "empty history: 0");
	is_int(0, monitor_lag_ms(t, busy, 5, 50, 500 * MS), "now before the samples: not negative");
	is_int(0, monitor_lag_ms(t, busy, 5, 0, 1000 * MS + 999), "sub-millisecond: 0");
}

int main(void)
{
	plan_lazy();
	test_parse_good();
	test_parse_bad();
	test_normalise();
	test_lag();
	return exit_status();
}
