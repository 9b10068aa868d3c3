/*
 * test_router.c - unit tests for core/router.c, the plugin loader and the
 * safety net around route().
 *
 * Each deliberately broken plugin of tests/plugins/ is loaded from the
 * build tree and the test checks the outcome and the message text: bad
 * magic, missing entry symbol, ABI major + 1, a too-small descriptor, no
 * route callback, init failing with its own message, bad option strings.
 * Then, through router_route() against simulated backends: answers naming
 * an unknown, out-of-range or DOWN backend are overruled to the primary and
 * counted (and their log lines rate-limited); a plugin answering "replica"
 * for everything still never gets a write (and is not even asked); a slow
 * route() shows in the p50/p99 statistics; a plugin returning errors trips
 * the circuit breaker, which then keeps everything on the primary.
 */
#include "router.h"
#include "tap/tap.h"

#include <time.h>
#include "plugin_path.h"

#include <stdio.h>
#include <string.h>

#define TESTDIR "tests/plugins"

static pooler_backend cands[3];
static pooler_txn ro_txn, rw_txn;
static pooler_session sess;
static void *slot;

/* primary (id 0) and two replicas (ids 1, 2), all up */
static void setup_views(void)
{
	static const char *const names[] = { "pg0:5432", "pg1:5432", "pg2:5432" };

	for (int i = 0; i < 3; i++) {
		router_backend_init(&cands[i]);
		cands[i].id = i;
		cands[i].name = names[i];
		cands[i].role = i == 0 ? POOLER_ROLE_PRIMARY : POOLER_ROLE_REPLICA;
		cands[i].health = POOLER_HEALTH_UP;
		cands[i].lag_bytes = 0;
		cands[i].lag_ms = 0;
	}
	router_txn_init(&ro_txn);
	ro_txn.flags = POOLER_TXN_READ_ONLY;
	ro_txn.keyword = "SELECT";
	ro_txn.keyword_len = 6;
	ro_txn.text = "SELECT 1";
	ro_txn.text_len = 8;
	router_txn_init(&rw_txn);
	rw_txn.keyword = "INSERT";
	rw_txn.keyword_len = 6;
	router_session_init(&sess, &slot);
	sess.id = 1;
	sess.user = "app";
	sess.database = "db";
}

/* Load `name` from tests/plugins expecting failure; return the message. */
static const char *load_fails(const char *name, const char *options)
{
	static char err[512];
	router_instance *inst;

	err[0] = '\0';
	inst = router_load(plugin_build_dir(TESTDIR), name, options, err, sizeof(err));
	if (inst) {
		router_unload(inst);
		return "(loaded)";
	}
	diag("loader said: %s", err);
	return err;
}

static router_instance *load_ok(const char *name, const char *options)
{
	char err[512] = "";
	router_instance *inst = router_load(plugin_build_dir(TESTDIR), name, options, err, sizeof(err));

	if (!inst)
		diag("unexpected: %s", err);
	return inst;
}

static bool contains(const char *hay, const char *needle)
{
	return strstr(hay, needle) != NULL;
}

/* "<dir>/<name>.so: <rest>" */
static bool names_file(const char *msg, const char *name)
{
	char want[128];

	snprintf(want, sizeof(want), "/.libs/%s.so: ", name);
	return contains(msg, want);
}

static void test_refusals(void)
{
	const char *m;

	m = load_fails("nonexistent", NULL);
	ok(names_file(m, "nonexistent") && contains(m, "cannot load"), "a missing file: cannot load, file named");
	m = load_fails("bad_magic", NULL);
	ok(names_file(m, "bad_magic") && contains(m, "not a lagoon plugin (bad magic 0xdeadbeef)"),
	   "bad magic: not a lagoon plugin");
	m = load_fails("no_entry", NULL);
	ok(names_file(m, "no_entry") && contains(m, "not a lagoon plugin (no pooler_plugin_entry symbol)"),
	   "no entry symbol: not a lagoon plugin");
	m = load_fails("bad_major", NULL);
	ok(names_file(m, "bad_major") && contains(m, ": ABI 2.0, core speaks 1.1"),
	   "major + 1: \"ABI 2.0, core speaks 1.1\"");
	m = load_fails("small_descriptor", NULL);
	ok(names_file(m, "small_descriptor") && contains(m, "descriptor too small (24 bytes"),
	   "an old 24-byte descriptor: descriptor too small");
	m = load_fails("no_route", NULL);
	ok(names_file(m, "no_route") && contains(m, "no route callback"), "NULL route: no route callback");
	m = load_fails("init_fails", "need=cake");
	ok(names_file(m, "init_fails") && contains(m, "init failed: option need=cake is not acceptable"),
	   "init failure: init's own message passed on");
	m = load_fails("init_fails", "need='a b'  other=x");
	ok(contains(m, "option need=a b is not"), "a quoted option value keeps its space");
	m = load_fails("init_fails", "need='it''s'");
	ok(contains(m, "option need=it's is not"), "'' in a quoted value is one quote");
	m = load_fails("init_fails", "need");
	ok(contains(m, "bad router options: expected key=value at \"need\""), "an option without = is refused");
	m = load_fails("init_fails", "need='open");
	ok(contains(m, "unterminated quote"), "an unterminated quote is refused");
	m = load_fails("init_fails", "a=1 a=2");
	ok(contains(m, "option a given twice"), "a repeated option is refused");
	m = load_fails("../plugins/bad_magic", NULL);
	ok(contains(m, "invalid name"), "a name with a path in it is refused");
}

static void test_overrule_unknown(void)
{
	router_instance *inst = load_ok("unknown_backend", NULL);
	router_result res;
	router_info info;

	ok(inst != NULL, "unknown_backend loads");
	if (!inst)
		return;
	router_set_breaker(inst, 1000);
	is_int(-1, router_route(inst, &ro_txn, &sess, cands, 3, &res), "id 42 (not a candidate) goes to the primary");
	is_int(ROUTER_R_OVERRULED, res.reason, "... as overruled");
	is_str("backend id 42 is not a candidate", res.detail, "... with the reason");
	for (int i = 0; i < 99; i++)
		router_route(inst, &ro_txn, &sess, cands, 3, &res);
	router_get_info(inst, &info);
	is_int(100, (long long)info.overruled, "100 overrules counted");
	is_int(100, (long long)info.calls, "100 route() calls counted");
	ok(info.log_suppressed >= 98, "overrule log lines rate-limited (%llu of 100 suppressed)",
	   (unsigned long long)info.log_suppressed);
	ok(!info.off, "breaker (set to 1000) still closed");
	router_unload(inst);

	inst = load_ok("unknown_backend", "id=-3");
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	ok(res.index == -1 && res.reason == ROUTER_R_OVERRULED &&
	   !strcmp(res.detail, "backend id -3 out of range"), "a negative id is overruled (%s)", res.detail);
	router_unload(inst);
	inst = load_ok("unknown_backend", "id=64");
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	ok(res.index == -1 && res.reason == ROUTER_R_OVERRULED &&
	   !strcmp(res.detail, "backend id 64 out of range"), "an id >= POOLER_MAX_BACKENDS is overruled");
	router_unload(inst);
	inst = load_ok("unknown_backend", "id=2");
	is_int(2, router_route(inst, &ro_txn, &sess, cands, 3, &res), "a valid replica id is accepted (index 2)");
	is_int(ROUTER_R_ROUTED, res.reason, "... as routed");
	is_int(-1, router_route(inst, &ro_txn, &sess, cands, 2, &res), "id 2 with only ids 0-1 as candidates: primary");
	is_int(ROUTER_R_OVERRULED, res.reason, "an id dropped from the candidates is overruled");
	router_unload(inst);
	inst = load_ok("unknown_backend", "id=0");
	is_int(-1, router_route(inst, &ro_txn, &sess, cands, 3, &res), "naming the primary's id gives -1");
	is_int(ROUTER_R_PRIMARY, res.reason, "... as primary");
	router_unload(inst);
}

static void test_overrule_down(void)
{
	router_instance *inst = load_ok("down_backend", NULL);
	router_result res;

	ok(inst != NULL, "down_backend loads");
	if (!inst)
		return;
	cands[2].health = POOLER_HEALTH_DOWN;
	is_int(-1, router_route(inst, &ro_txn, &sess, cands, 3, &res), "answer naming a DOWN replica goes to the primary");
	is_int(ROUTER_R_OVERRULED, res.reason, "... as overruled");
	is_str("backend 2 (pg2:5432) is down", res.detail, "... and says which");
	cands[2].health = POOLER_HEALTH_DEGRADED;
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	is_int(ROUTER_R_PRIMARY, res.reason, "none DOWN: its answer (the primary, id 0) stands");
	cands[0].health = 0;
	cands[2].health = 0;
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	is_int(ROUTER_R_OVERRULED, res.reason, "a backend of unknown health (0) is not routable");
	cands[0].health = cands[2].health = POOLER_HEALTH_UP;
	router_unload(inst);
}

static void test_writes_stay(void)
{
	router_instance *inst = load_ok("all_replica", NULL);
	router_result res;
	router_info info;
	int on_replica = 0;

	ok(inst != NULL, "all_replica loads");
	if (!inst)
		return;
	for (int i = 0; i < 100; i++)
		if (router_route(inst, &rw_txn, &sess, cands, 3, &res) != -1)
			on_replica++;
	is_int(0, on_replica, "100 writes: none on a replica");
	is_int(ROUTER_R_WRITE, res.reason, "... reason write");
	router_get_info(inst, &info);
	is_int(0, (long long)info.calls, "... and route() was never called for them");
	is_int(100, (long long)info.by_reason[ROUTER_R_WRITE], "... counted as write -> primary");
	is_int(1, router_route(inst, &ro_txn, &sess, cands, 3, &res), "a read goes to the replica");
	is_str("replica, always", res.detail, "... with the plugin's reason");
	ro_txn.hints = POOLER_HINT_PRIMARY;
	is_int(-1, router_route(inst, &ro_txn, &sess, cands, 3, &res), "a read with the primary hint: primary");
	ro_txn.hints = 0;
	sess.flags = POOLER_SESS_LSN_PENDING;
	is_int(-1, router_route(inst, &ro_txn, &sess, cands, 3, &res), "a read while the commit LSN is pending: primary");
	is_str("commit LSN pending", res.detail, "... says why");
	sess.flags = 0;
	is_int(-1, router_route(NULL, &ro_txn, &sess, cands, 3, &res), "no router: primary");
	is_int(ROUTER_R_OFF, res.reason, "... reason off");
	router_unload(inst);
}

static void test_slow(void)
{
	router_instance *inst = load_ok("slow_route", NULL);
	router_result res;
	router_info info;

	ok(inst != NULL, "slow_route loads");
	if (!inst)
		return;
	for (int i = 0; i < 20; i++)
		router_route(inst, &ro_txn, &sess, cands, 3, &res);
	router_get_info(inst, &info);
	diag("slow_route: p50 %llu ns, p99 %llu ns, max %llu ns", (unsigned long long)info.p50_ns,
	     (unsigned long long)info.p99_ns, (unsigned long long)info.max_ns);
	ok(info.p50_ns >= 1900000 && info.p50_ns < 1000000000, "p50 shows the ~2 ms busy loop");
	ok(info.p99_ns >= info.p50_ns && info.max_ns >= info.p99_ns, "p50 <= p99 <= max");
	is_int(-1, res.index, "the slow answer is still used (primary)");
	is_int(ROUTER_R_PRIMARY, res.reason, "... as primary");
	router_unload(inst);
}

static void test_breaker(void)
{
	router_instance *inst = load_ok("route_error", NULL);
	router_result res;
	router_info info;

	ok(inst != NULL, "route_error loads");
	if (!inst)
		return;
	for (int i = 0; i < ROUTER_BREAKER_DEFAULT - 1; i++)
		router_route(inst, &ro_txn, &sess, cands, 3, &res);
	router_get_info(inst, &info);
	is_int(ROUTER_R_ERROR, res.reason, "an error answer: reason error");
	is_str("tea leaves unreadable", res.detail, "... with the plugin's reason");
	is_int(ROUTER_BREAKER_DEFAULT - 1, (long long)info.errors, "errors counted");
	ok(!info.off, "one error short of the threshold: still on");
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	router_get_info(inst, &info);
	ok(info.off, "%d consecutive errors: switched off", ROUTER_BREAKER_DEFAULT);
	is_int(-1, router_route(inst, &ro_txn, &sess, cands, 3, &res), "switched off: primary");
	is_int(ROUTER_R_OFF, res.reason, "... reason off");
	router_get_info(inst, &info);
	is_int(ROUTER_BREAKER_DEFAULT, (long long)info.calls, "... without calling route()");
	router_rearm(inst);
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	is_int(ROUTER_R_ERROR, res.reason, "re-armed: asked again");
	router_unload(inst);

	/* the cool-down: asked again once it ran out, and one failure then
	 * re-opens the breaker */
	inst = load_ok("route_error", NULL);
	if (!inst)
		return;
	router_set_breaker(inst, 2);
	router_set_breaker_cooldown(inst, 20 * 1000000ULL);
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	is_int(ROUTER_R_OFF, res.reason, "breaker 2: open after 2 errors");
	{
		struct timespec ts = { 0, 30 * 1000000L };
		nanosleep(&ts, NULL);
	}
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	is_int(ROUTER_R_ERROR, res.reason, "after the cool-down: the plugin is asked again");
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	is_int(ROUTER_R_OFF, res.reason, "one more failure re-opened the breaker");
	router_get_info(inst, &info);
	is_int(3, (long long)info.errors, "route() was called 3 times in all");
	router_unload(inst);

	inst = load_ok("unknown_backend", NULL);
	router_set_breaker(inst, 3);
	for (int i = 0; i < 3; i++)
		router_route(inst, &ro_txn, &sess, cands, 3, &res);
	router_get_info(inst, &info);
	ok(info.off, "3 invalid answers in a row trip a breaker set to 3");
	router_unload(inst);
}

static void test_newer_minor(void)
{
	router_instance *inst = load_ok("newer_minor", NULL);
	router_result res;
	router_info info;

	ok(inst != NULL, "a plugin built for ABI 1.2 (larger descriptor) loads on core 1.1");
	if (!inst)
		return;
	router_get_info(inst, &info);
	ok(info.abi_major == 1 && info.abi_minor == 2, "... and reports ABI 1.2");
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	is_int(ROUTER_R_PRIMARY, res.reason, "... and routes");
	router_unload(inst);
}

static void test_old_wait(void)
{
	router_instance *inst = load_ok("old_wait", NULL);
	router_result res;

	ok(inst != NULL, "an ABI 1.0 plugin loads on core 1.1");
	if (!inst)
		return;
	router_route(inst, &ro_txn, &sess, cands, 3, &res);
	ok(res.reason == ROUTER_R_OVERRULED && res.index == -1,
	   "... its verdict 3 (POOLER_WAIT only from 1.1) is overruled to the primary (%s: %s)",
	   router_reason_name(res.reason), res.detail);
	router_unload(inst);
}

static void test_info(void)
{
	router_instance *inst = load_ok("all_replica", "x=1");
	router_info info;

	if (!inst)
		return;
	router_get_info(inst, &info);
	is_str("all_replica", info.name, "info: name from the descriptor");
	router_set_label(inst, "appdb");
	router_get_info(inst, &info);
	is_str("all_replica/appdb", info.name, "info: name with the label the core set");
	is_str("0", info.version, "info: version");
	ok(names_file(info.file, "all_replica") || contains(info.file, "/.libs/all_replica.so"), "info: file");
	is_str("x=1", info.options, "info: options");
	ok(info.abi_major == 1 && info.abi_minor == 1, "info: ABI 1.1");
	is_str("overruled", router_reason_name(ROUTER_R_OVERRULED), "reason names");
	router_unload(inst);
}

int main(void)
{
	plan_lazy();
	setup_views();
	test_refusals();
	test_overrule_unknown();
	test_overrule_down();
	test_writes_stay();
	test_slow();
	test_breaker();
	test_newer_minor();
	test_old_wait();
	test_info();
	return exit_status();
}
