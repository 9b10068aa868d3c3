/*
 * test_plugins.c - unit tests of the shipped routing plugins (roundrobin,
 * leastlag) and of the documentation's example plugin, driven through
 * router_route() against simulated backends: a primary (id 0) and two
 * replicas (ids 1, 2) whose health, weight, lag and load each test sets.
 *
 * roundrobin: an even split over 2000 reads, weights 2:1 (and smooth:
 * never three picks of the heavier in a row), a DOWN or draining replica
 * skipped, all down -> primary.  leastlag: the least lag wins, the
 * max_lag_bytes/max_lag_ms bounds exclude, unknown lag excludes, ties go to
 * the lesser load and then alternate, tie_bytes, bad options.  Writes never
 * reach a replica.  Ends with a micro-benchmark (a diag line, no assertion)
 * of router_route() calls per second.
 */
#include "router.h"
#include "tap/tap.h"
#include "plugin_path.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pooler_backend cands[3];
static pooler_txn ro_txn, rw_txn;
static pooler_session sess;
static void *slot;

static void reset_backends(void)
{
	for (int i = 0; i < 3; i++) {
		router_backend_init(&cands[i]);
		cands[i].id = i;
		cands[i].name = i == 0 ? "primary" : i == 1 ? "replica1" : "replica2";
		cands[i].role = i == 0 ? POOLER_ROLE_PRIMARY : POOLER_ROLE_REPLICA;
		cands[i].health = POOLER_HEALTH_UP;
		cands[i].lag_bytes = 0;
		cands[i].lag_ms = 0;
		cands[i].sample_age_ms = 100;
	}
}

static void setup(void)
{
	reset_backends();
	router_txn_init(&ro_txn);
	ro_txn.flags = POOLER_TXN_READ_ONLY;
	router_txn_init(&rw_txn);
	router_session_init(&sess, &slot);
	sess.application_name = "psql";
}

static router_instance *load(const char *subdir, const char *name, const char *options)
{
	char err[512] = "";
	router_instance *inst = router_load(plugin_build_dir(subdir), name, options, err, sizeof(err));

	if (!inst)
		diag("load %s: %s", name, err);
	return inst;
}

/* Route n reads; count[0] = primary, count[1], count[2] = replicas. */
static void route_n(router_instance *inst, const pooler_txn *txn, int n, int count[3])
{
	router_result res;

	count[0] = count[1] = count[2] = 0;
	for (int i = 0; i < n; i++) {
		int idx = router_route(inst, txn, &sess, cands, 3, &res);
		count[idx < 0 ? 0 : idx]++;
	}
}

static bool within(int got, int want, double frac)
{
	double d = got - want;
	return (d < 0 ? -d : d) <= want * frac;
}

static void test_roundrobin(void)
{
	router_instance *inst = load("plugins/roundrobin", "roundrobin", NULL);
	router_result res;
	int c[3], run = 0, maxrun = 0;

	ok(inst != NULL, "roundrobin loads");
	if (!inst)
		return;
	reset_backends();
	route_n(inst, &ro_txn, 2000, c);
	ok(within(c[1], 1000, 0.01) && within(c[2], 1000, 0.01) && c[0] == 0,
	   "2000 reads split evenly within 1%% (%d/%d, primary %d)", c[1], c[2], c[0]);

	cands[1].weight = 2;
	for (int i = 0; i < 3000; i++) {
		int idx = router_route(inst, &ro_txn, &sess, cands, 3, &res);
		run = idx == 1 ? run + 1 : 0;
		if (run > maxrun)
			maxrun = run;
	}
	route_n(inst, &ro_txn, 3000, c);
	ok(within(c[1], 2000, 0.01) && within(c[2], 1000, 0.01),
	   "weights 2:1 honoured within 1%% (%d/%d)", c[1], c[2]);
	ok(maxrun <= 2, "weighted turns are smooth (longest run on the heavier: %d)", maxrun);

	reset_backends();
	cands[1].health = POOLER_HEALTH_DOWN;
	route_n(inst, &ro_txn, 100, c);
	ok(c[2] == 100, "replica 1 DOWN: all 100 reads on replica 2 (%d/%d/%d)", c[0], c[1], c[2]);
	cands[1].health = POOLER_HEALTH_UP;
	route_n(inst, &ro_txn, 100, c);
	ok(c[1] == 50 && c[2] == 50, "replica 1 back: even again at once, no burst (%d/%d)", c[1], c[2]);
	cands[2].weight = 0;
	route_n(inst, &ro_txn, 100, c);
	ok(c[1] == 100, "replica 2 draining (weight 0): skipped");
	cands[2].weight = 1;
	cands[1].health = cands[2].health = POOLER_HEALTH_DOWN;
	route_n(inst, &ro_txn, 100, c);
	ok(c[0] == 100, "all replicas DOWN: primary");
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	ok(res.reason == ROUTER_R_PRIMARY && !strcmp(res.detail, "no replica up"), "... with reason \"no replica up\"");

	reset_backends();
	route_n(inst, &rw_txn, 1000, c);
	ok(c[0] == 1000, "1000 writes: all on the primary");
	router_unload(inst);

	inst = load("plugins/roundrobin", "roundrobin", "foo=1");
	ok(inst == NULL, "roundrobin refuses options");
}

static void test_leastlag(void)
{
	router_instance *inst = load("plugins/leastlag", "leastlag", "max_lag_bytes=1000 max_lag_ms=2000");
	router_result res;
	char err[256];
	int c[3];

	ok(inst != NULL, "leastlag loads with bounds");
	if (!inst)
		return;
	reset_backends();
	cands[1].lag_bytes = 500;
	cands[2].lag_bytes = 100;
	route_n(inst, &ro_txn, 100, c);
	ok(c[2] == 100, "least lag (100 < 500 bytes) wins (%d/%d/%d)", c[0], c[1], c[2]);
	cands[1].lag_bytes = 50;
	route_n(inst, &ro_txn, 100, c);
	ok(c[1] == 100, "... and follows the lag when it changes");
	cands[1].lag_bytes = 5000;
	cands[2].lag_bytes = 900;
	route_n(inst, &ro_txn, 100, c);
	ok(c[2] == 100, "replica over max_lag_bytes excluded");
	cands[2].lag_bytes = 1001;
	route_n(inst, &ro_txn, 100, c);
	ok(c[0] == 100, "both over max_lag_bytes: primary");
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	is_str("no replica within bounds", res.detail, "... reason");
	cands[1].lag_bytes = 10;
	cands[1].lag_ms = 2500;
	cands[2].lag_bytes = 20;
	route_n(inst, &ro_txn, 100, c);
	ok(c[2] == 100, "replica over max_lag_ms excluded though it has fewer bytes");
	cands[2].lag_ms = POOLER_MS_UNKNOWN;
	route_n(inst, &ro_txn, 100, c);
	ok(c[0] == 100, "unknown lag_ms with max_lag_ms set: excluded");
	reset_backends();
	cands[1].lag_bytes = POOLER_LAG_BYTES_UNKNOWN;
	route_n(inst, &ro_txn, 100, c);
	ok(c[2] == 100, "unknown lag_bytes: excluded");
	reset_backends();
	cands[2].health = POOLER_HEALTH_DOWN;
	cands[2].lag_bytes = 0;
	cands[1].lag_bytes = 10;
	route_n(inst, &ro_txn, 100, c);
	ok(c[1] == 100, "a DOWN replica is skipped even with less lag");

	reset_backends();
	cands[1].active = 7;
	cands[2].active = 2;
	route_n(inst, &ro_txn, 100, c);
	ok(c[2] == 100, "equal lag: the less loaded replica (2 < 7 active)");
	cands[1].active = cands[2].active = 3;
	route_n(inst, &ro_txn, 1000, c);
	ok(c[1] == 500 && c[2] == 500, "equal lag and load: in turn (%d/%d)", c[1], c[2]);
	route_n(inst, &rw_txn, 1000, c);
	ok(c[0] == 1000, "1000 writes: all on the primary");
	router_unload(inst);

	inst = load("plugins/leastlag", "leastlag", "tie_bytes=100");
	reset_backends();
	cands[1].lag_bytes = 100;
	cands[2].lag_bytes = 150;
	route_n(inst, &ro_txn, 100, c);
	ok(c[1] == 50 && c[2] == 50, "tie_bytes=100: 100 and 150 bytes are tied (%d/%d)", c[1], c[2]);
	cands[2].lag_bytes = 201;
	route_n(inst, &ro_txn, 100, c);
	ok(c[1] == 100, "tie_bytes=100: 201 bytes is not tied with 100");
	router_unload(inst);

	inst = router_load(plugin_build_dir("plugins/leastlag"), "leastlag", "max_lag=5", err, sizeof(err));
	ok(!inst && strstr(err, "init failed: unknown option \"max_lag\""), "unknown option refused: %s", err);
	inst = router_load(plugin_build_dir("plugins/leastlag"), "leastlag", "max_lag_ms=-1", err, sizeof(err));
	ok(!inst && strstr(err, "max_lag_ms: \"-1\" is not a non-negative integer"), "negative bound refused: %s", err);
}

static void test_example(void)
{
	router_instance *inst = load("tests/plugins", "example_docs", "apps=report");
	router_result res;
	void *slot2;
	pooler_session s2;
	int first;

	ok(inst != NULL, "the docs' example plugin loads");
	if (!inst)
		return;
	reset_backends();
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	is_int(ROUTER_R_NO_OPINION, res.reason, "example: other apps get no opinion (primary)");
	router_session_init(&s2, &slot2);
	s2.application_name = "report-daily";
	cands[1].active = 5;
	first = router_route(inst, &ro_txn, &s2, cands, 3, &res);
	is_int(2, first, "example: a new session takes the less loaded replica");
	cands[1].active = 0;
	is_int(2, router_route(inst, &ro_txn, &s2, cands, 3, &res), "example: ... and sticks to it");
	is_str("sticky", res.detail, "example: reason sticky");
	cands[2].health = POOLER_HEALTH_DOWN;
	is_int(1, router_route(inst, &ro_txn, &s2, cands, 3, &res), "example: moves when its replica goes down");
	router_session_end(inst, &s2);
	ok(slot2 == NULL, "example: the slot is cleared at session end");
	router_unload(inst);
}

/* The whole file, NUL-terminated, malloc'd (the caller frees), or NULL. */
static char *slurp(const char *rel)
{
	const char *src = getenv("LAGOON_SRC_DIR");
	char path[4096];
	char *buf = NULL;
	long len;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", src && *src ? src : ".", rel);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
	    (buf = malloc((size_t)len + 1)) != NULL) {
		if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
		} else {
			buf[len] = '\0';
		}
	}
	fclose(f);
	return buf;
}

/* docs/plugins.md must show tests/plugins/example_docs.c verbatim. */
static void test_docs_honest(void)
{
	char *doc = slurp("docs/plugins.md");
	char *code = slurp("tests/plugins/example_docs.c");

	ok(doc && code && strstr(doc, code) != NULL,
	   "docs/plugins.md contains tests/plugins/example_docs.c verbatim");
	free(doc);
	free(code);
}

static void bench(const char *subdir, const char *name)
{
	router_instance *inst = load(subdir, name, NULL);
	router_result res;
	const int n = 2000000;
	uint64_t t0, ns;
	router_info info;

	if (!inst)
		return;
	reset_backends();
	t0 = router_now_ns();
	for (int i = 0; i < n; i++)
		router_route(inst, &ro_txn, &sess, cands, 3, &res);
	ns = router_now_ns() - t0;
	router_get_info(inst, &info);
	diag("benchmark: %s, 3 candidates: %.0f router_route() calls/s (%.1f ns/call; route() alone p50 %llu ns, p99 %llu ns)",
	     name, n / (ns / 1e9), (double)ns / n, (unsigned long long)info.p50_ns,
	     (unsigned long long)info.p99_ns);
	router_unload(inst);
}

int main(void)
{
	plan_lazy();
	setup();
	test_roundrobin();
	test_leastlag();
	test_example();
	test_docs_honest();
	bench("plugins/roundrobin", "roundrobin");
	bench("plugins/leastlag", "leastlag");
	return exit_status();
}
