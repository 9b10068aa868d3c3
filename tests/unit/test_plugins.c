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
 * the lesser load and then alternate, tie_bytes, bad options.  lsn_ryw: a
 * session that never wrote reads from any replica; one that wrote only from
 * replicas whose replay_lsn reached its LSN (each replica checked on every
 * call), else from the primary with the LSN in the reason; DOWN replicas,
 * unknown replay LSNs, POOLER_SESS_LSN_PENDING (core and plugin), the
 * lagoon:replica hint, ryw_window_ms, the lag bounds, options.  Writes never
 * reach a replica.  Ends with a micro-benchmark (a diag line, no assertion)
 * of router_route() calls per second.
 */
#include "router.h"
#include "tap/tap.h"
#include "plugin_path.h"

#include <dlfcn.h>
#include <stdarg.h>
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

/* lsn_ryw's route() called directly (not through router_route(), which
 * sends POOLER_SESS_LSN_PENDING sessions to the primary before asking): the
 * plugin on its own must answer the primary for them too. */
static void t_log(void *ctx, uint32_t lvl, const char *fmt, ...)
{
	(void)ctx; (void)lvl; (void)fmt;
}
static uint64_t t_now(void *ctx) { (void)ctx; return router_now_ns(); }
static const char *t_opt(void *ctx, const char *k) { (void)ctx; (void)k; return NULL; }
static const char *t_key(void *ctx, uint32_t i) { (void)ctx; (void)i; return NULL; }

static void test_lsn_ryw_direct(void)
{
	char path[4200];
	void *dl;
	pooler_entry_fn entry = NULL;
	const pooler_plugin *p;
	pooler_host host = { .struct_size = sizeof(host), .abi_major = POOLER_ABI_MAJOR,
	                     .abi_minor = POOLER_ABI_MINOR, .instance = "test", .log = t_log,
	                     .now_ns = t_now, .option = t_opt, .option_key = t_key };
	const pooler_backend *ptrs[3] = { &cands[0], &cands[1], &cands[2] };
	pooler_decision out;
	void *state = NULL;
	char err[256] = "";

	snprintf(path, sizeof(path), "%s/lsn_ryw.so", plugin_build_dir("plugins/lsn_ryw"));
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (dl)
		*(void **)&entry = dlsym(dl, POOLER_ENTRY_SYMBOL);
	p = entry ? entry(POOLER_ABI_MAJOR, POOLER_ABI_MINOR) : NULL;
	ok(p && p->init(&host, &state, err, sizeof(err)) == 0, "lsn_ryw: dlopen'd and initialised directly %s", err);
	if (!p || !state)
		return;
	reset_backends();
	cands[1].replay_lsn = cands[2].replay_lsn = 0x5000;
	sess.last_commit_lsn = 0x1000;
	sess.flags = POOLER_SESS_LSN_PENDING;
	memset(&out, 0, sizeof(out));
	out.struct_size = sizeof(out);
	p->route(state, &ro_txn, &sess, ptrs, 3, &out);
	ok(out.verdict == POOLER_ROUTE_PRIMARY && !strcmp(out.reason, "commit LSN pending"),
	   "lsn_ryw on its own: LSN pending -> the primary though both replicas are past it (%u, %s)",
	   out.verdict, out.reason);
	sess.flags = 0;
	memset(&out, 0, sizeof(out));
	out.struct_size = sizeof(out);
	p->route(state, &ro_txn, &sess, ptrs, 0, &out);
	ok(out.verdict == POOLER_ROUTE_PRIMARY, "lsn_ryw on its own: no candidates -> the primary");
	p->fini(state);
	sess.last_commit_lsn = 0;
	/* never dlclosed, like the core */
}

static void test_lsn_ryw(void)
{
	router_instance *inst = load("plugins/lsn_ryw", "lsn_ryw", NULL);
	router_result res;
	char err[256];
	int c[3], r1_seen;

	ok(inst != NULL, "lsn_ryw loads with no options");
	if (!inst)
		return;
	reset_backends();
	cands[0].replay_lsn = 0x3000;
	cands[1].replay_lsn = cands[2].replay_lsn = 0x1000;
	sess.last_commit_lsn = 0;
	route_n(inst, &ro_txn, 1000, c);
	ok(c[0] == 0 && c[1] == 500 && c[2] == 500,
	   "a session that never wrote: reads spread over both replicas (%d/%d/%d)", c[0], c[1], c[2]);

	sess.last_commit_lsn = 0x2000;
	sess.last_commit_ns = router_now_ns();
	route_n(inst, &ro_txn, 100, c);
	ok(c[0] == 100, "LSN 0/2000 ahead of both replicas (0/1000): primary (%d/%d/%d)", c[0], c[1], c[2]);
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	ok(res.reason == ROUTER_R_PRIMARY, "... as the plugin's verdict PRIMARY (%s)", router_reason_name(res.reason));
	is_str("no replica has replayed 0/2000", res.detail, "... reason names the LSN");

	cands[2].replay_lsn = 0x2000;   /* exactly the session's LSN: enough */
	cands[1].active = 0;
	cands[2].active = 9;            /* the lagging one is much less loaded */
	route_n(inst, &ro_txn, 1000, c);
	ok(c[2] == 1000 && c[1] == 0 && c[0] == 0,
	   "LSN reached by replica 2 only (replay == LSN): all 1000 reads there, never the lagging, less loaded replica 1 (%d/%d/%d)",
	   c[0], c[1], c[2]);
	is_str("replayed the session's write", (router_route(inst, &ro_txn, &sess, cands, 3, &res), res.detail),
	       "... reason");
	cands[1].replay_lsn = 0x1FFF;   /* one byte short */
	route_n(inst, &ro_txn, 1000, c);
	ok(c[1] == 0, "replica 1 one byte short of the LSN: still never chosen (%d/%d/%d)", c[0], c[1], c[2]);
	/* the check is per replica and per call: one caught up does not open the others */
	r1_seen = 0;
	for (int i = 0; i < 200; i++) {
		int idx;
		cands[2].replay_lsn = i % 2 ? 0x2000 : 0x1000;
		idx = router_route(inst, &ro_txn, &sess, cands, 3, &res);
		r1_seen += idx == 1;
		if (idx == 2 && cands[2].replay_lsn < 0x2000)
			r1_seen += 1000;
	}
	ok(r1_seen == 0, "replica 2's progress flickering: no read on a replica short of the LSN (%d)", r1_seen);

	cands[1].replay_lsn = cands[2].replay_lsn = 0x2500;
	cands[1].active = cands[2].active = 1;
	route_n(inst, &ro_txn, 1000, c);
	ok(c[1] == 500 && c[2] == 500, "both replicas past the LSN: spread in turn (%d/%d)", c[1], c[2]);
	cands[1].active = 0;
	route_n(inst, &ro_txn, 100, c);
	ok(c[1] == 100, "both past the LSN: the less loaded one (%d/%d)", c[1], c[2]);

	cands[1].active = cands[2].active = 0;
	cands[2].health = POOLER_HEALTH_DOWN;
	cands[1].replay_lsn = 0x1000;
	route_n(inst, &ro_txn, 100, c);
	ok(c[0] == 100, "replica 2 (caught up) DOWN, replica 1 behind: primary (%d/%d/%d)", c[0], c[1], c[2]);
	cands[1].replay_lsn = 0x2000;
	route_n(inst, &ro_txn, 100, c);
	ok(c[1] == 100, "replica 2 DOWN, replica 1 caught up: replica 1 only (%d/%d/%d)", c[0], c[1], c[2]);
	cands[2].health = POOLER_HEALTH_UP;
	cands[2].weight = 0;
	cands[2].replay_lsn = 0x9000;
	route_n(inst, &ro_txn, 100, c);
	ok(c[1] == 100, "a draining replica (weight 0) is skipped though caught up");
	cands[2].weight = 1;

	reset_backends();
	cands[1].replay_lsn = 0;        /* never sampled */
	cands[2].replay_lsn = 0x1000;
	route_n(inst, &ro_txn, 100, c);
	ok(c[0] == 100, "unknown replay LSN (0) does not count as caught up (%d/%d/%d)", c[0], c[1], c[2]);

	cands[1].replay_lsn = cands[2].replay_lsn = 0x5000;
	sess.flags = POOLER_SESS_LSN_PENDING;
	route_n(inst, &ro_txn, 100, c);
	ok(c[0] == 100, "POOLER_SESS_LSN_PENDING: primary though both replicas are far ahead");
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	ok(res.reason == ROUTER_R_WRITE && !strcmp(res.detail, "commit LSN pending"),
	   "... decided by the core before the plugin (%s: %s)", router_reason_name(res.reason), res.detail);
	sess.flags = 0;

	sess.last_commit_lsn = 0x16B3A4F5C8ULL;
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	is_str("no replica has replayed 16/B3A4F5C8", res.detail, "a 64-bit LSN in the reason as X/Y");
	sess.last_commit_lsn = 0x1000;

	ro_txn.hints = POOLER_HINT_REPLICA;
	cands[1].replay_lsn = cands[2].replay_lsn = 0x10;
	route_n(inst, &ro_txn, 100, c);
	ok(c[0] == 0, "hint lagoon:replica: stale reads accepted, replicas serve (%d/%d/%d)", c[0], c[1], c[2]);
	ro_txn.hints = POOLER_HINT_REPLICA | POOLER_HINT_FRESH;
	route_n(inst, &ro_txn, 100, c);
	ok(c[0] == 100, "hints replica + fresh: fresh wins, primary");
	ro_txn.hints = 0;

	reset_backends();
	cands[1].replay_lsn = cands[2].replay_lsn = 0x10;
	route_n(inst, &rw_txn, 1000, c);
	ok(c[0] == 1000, "1000 writes of a writer session: all on the primary");
	sess.last_commit_lsn = 0;
	route_n(inst, &rw_txn, 1000, c);
	ok(c[0] == 1000, "1000 writes of a session that never wrote: all on the primary");
	router_unload(inst);

	/* bounds: apply to every session */
	inst = load("plugins/lsn_ryw", "lsn_ryw", "max_lag_bytes=1000 max_lag_ms=2000");
	ok(inst != NULL, "lsn_ryw loads with max_lag_bytes, max_lag_ms");
	if (inst) {
		reset_backends();
		cands[1].lag_bytes = 5000;
		cands[2].lag_bytes = 10;
		route_n(inst, &ro_txn, 100, c);
		ok(c[2] == 100, "no write: replica over max_lag_bytes excluded (%d/%d/%d)", c[0], c[1], c[2]);
		cands[2].lag_ms = 2500;
		route_n(inst, &ro_txn, 100, c);
		ok(c[0] == 100, "no write: both out of bounds -> primary");
		router_route(inst, &ro_txn, &sess, cands, 3, &res);
		is_str("no replica within bounds", res.detail, "... reason");
		reset_backends();
		cands[1].lag_bytes = 5000;
		cands[1].replay_lsn = cands[2].replay_lsn = 0x2000;
		sess.last_commit_lsn = 0x1000;
		route_n(inst, &ro_txn, 100, c);
		ok(c[2] == 100, "writer: a replica past its LSN but over max_lag_bytes is excluded");
		cands[2].lag_ms = POOLER_MS_UNKNOWN;
		route_n(inst, &ro_txn, 100, c);
		ok(c[0] == 100, "writer: unknown lag_ms with max_lag_ms set excludes");
		router_unload(inst);
	}
	sess.last_commit_lsn = 0;

	/* without bounds, a never-written session still needs a known lag */
	inst = load("plugins/lsn_ryw", "lsn_ryw", "max_wait_ms=50");
	ok(inst != NULL, "max_wait_ms accepted");
	if (inst) {
		reset_backends();
		sess.last_commit_lsn = 0x2000;   /* both replicas at 0/1000: behind */
		router_route(inst, &ro_txn, &sess, cands, 3, &res);
		ok(res.reason == ROUTER_R_WAIT && res.index == -1 && res.wait_ms == 50,
		   "max_wait_ms=50, no replica past the LSN: POOLER_WAIT with a 50 ms budget (%s, %u)",
		   router_reason_name(res.reason), res.wait_ms);
		cands[2].replay_lsn = 0x2000;
		router_route(inst, &ro_txn, &sess, cands, 3, &res);
		ok(res.reason == ROUTER_R_ROUTED && res.index == 2,
		   "... asked again after replica 2 replayed it: replica 2 (%s)", router_reason_name(res.reason));
		cands[2].replay_lsn = 0x1000;
		cands[1].health = cands[2].health = POOLER_HEALTH_DOWN;
		router_route(inst, &ro_txn, &sess, cands, 3, &res);
		ok(res.reason == ROUTER_R_PRIMARY, "... no replica up to wait for: the primary at once (%s)",
		   router_reason_name(res.reason));
		sess.last_commit_lsn = 0;
		reset_backends();
		cands[1].lag_bytes = POOLER_LAG_BYTES_UNKNOWN;
		route_n(inst, &ro_txn, 100, c);
		ok(c[2] == 100, "no write: unknown lag_bytes excluded, as with leastlag");
		reset_backends();
		cands[1].lag_bytes = POOLER_LAG_BYTES_UNKNOWN;
		cands[1].replay_lsn = 0x3000;
		cands[2].replay_lsn = 0x1000;
		sess.last_commit_lsn = 0x2000;
		route_n(inst, &ro_txn, 100, c);
		ok(c[1] == 100, "writer: replay LSN known and reached is enough, lag_bytes unknown or not");
		router_unload(inst);
	}

	inst = load("plugins/lsn_ryw", "lsn_ryw", "ryw_window_ms=1000");
	ok(inst != NULL, "lsn_ryw loads with ryw_window_ms=1000");
	if (inst) {
		reset_backends();
		cands[1].replay_lsn = cands[2].replay_lsn = 0x1000;
		sess.last_commit_lsn = 0x2000;
		sess.last_commit_ns = router_now_ns();
		route_n(inst, &ro_txn, 100, c);
		ok(c[0] == 100, "ryw_window_ms: a write just now still counts -> primary");
		sess.last_commit_ns = router_now_ns() - 2000000000ULL;
		route_n(inst, &ro_txn, 100, c);
		ok(c[0] == 0 && c[1] == 50 && c[2] == 50,
		   "ryw_window_ms: a write 2 s old is forgotten -> replicas (%d/%d/%d)", c[0], c[1], c[2]);
		router_unload(inst);
	}
	sess.last_commit_lsn = 0;
	sess.last_commit_ns = 0;

	inst = router_load(plugin_build_dir("plugins/lsn_ryw"), "lsn_ryw", "max_lag=5", err, sizeof(err));
	ok(!inst && strstr(err, "init failed: unknown option \"max_lag\""), "unknown option refused: %s", err);
	inst = router_load(plugin_build_dir("plugins/lsn_ryw"), "lsn_ryw", "ryw_window_ms=x", err, sizeof(err));
	ok(!inst && strstr(err, "ryw_window_ms: \"x\" is not a non-negative integer"), "bad number refused: %s", err);
	test_lsn_ryw_direct();
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
	test_lsn_ryw();
	test_example();
	test_docs_honest();
	bench("plugins/roundrobin", "roundrobin");
	bench("plugins/leastlag", "leastlag");
	bench("plugins/lsn_ryw", "lsn_ryw");
	sess.last_commit_lsn = 0x1000;   /* a writer, both replicas at 0 */
	bench("plugins/lsn_ryw", "lsn_ryw");
	sess.last_commit_lsn = 0;
	return exit_status();
}
