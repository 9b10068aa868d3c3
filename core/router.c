/*
 * router.c - the routing plugin loader and the safety net around route()
 * (see router.h for the API and include/pooler_plugin.h for the contract).
 *
 * Loading: dlopen(RTLD_NOW | RTLD_LOCAL) of <dir>/<name>.so, the entry
 * symbol, then the descriptor's magic, ABI major and size are checked in
 * that order, each with its own message; the descriptor is copied into a
 * zeroed host-sized struct; init gets a host table whose services (log,
 * clock, options) point back into the instance.
 *
 * Routing: router_route() asks the plugin only for read-only-eligible
 * transactions, times the call into a log-linear histogram, checks the
 * answer against the candidates and overrules anything unsafe to the
 * primary.  Consecutive errors or invalid answers open a circuit breaker;
 * after a cool-down the plugin is asked again (half-open: one failure
 * re-opens it for twice as long).
 * Warnings about a misbehaving plugin are rate-limited to one line a second
 * per instance.
 */
#include "autoconf.h"

#include "router.h"
#include "log.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUTER_MAX_OPTIONS 32
#define ROUTER_SLOW_NS     1000000ULL     /* warn about route() calls above 1 ms */
#define ROUTER_LOG_GAP_NS  1000000000ULL  /* rate limit: one line a second */

/* Log-linear histogram: 16 linear sub-buckets per power of two, so a
 * percentile is exact below 16 ns and within 1/16 above. */
#define HIST_SUB     16
#define HIST_BUCKETS (61 * HIST_SUB)

/* The end of the ABI 1.0 descriptor: anything shorter is not 1.x. */
#define DESC_MIN_SIZE (offsetof(pooler_plugin, fini) + sizeof(((pooler_plugin *)0)->fini))

struct router_instance {
	pooler_plugin desc;          /* host-sized, zero-filled copy of the plugin's */
	pooler_host   host;          /* lent to the plugin; points back at us */
	void         *state;         /* the plugin's, from init */
	void         *dl;            /* dlopen handle, never closed once initialised */
	char         *file;          /* owned: the path loaded */
	char         *options;       /* owned: the options string as given */
	char         *opt_buf;       /* owned: options split in place */
	const char   *opt_key[ROUTER_MAX_OPTIONS];  /* into opt_buf */
	const char   *opt_val[ROUTER_MAX_OPTIONS];
	unsigned      nopt;
	char          label[64];     /* the plugin's name[/label], for log lines */

	bool          off;           /* circuit breaker open */
	bool          half_open;     /* re-armed after a cool-down: one failure re-opens */
	unsigned      breaker;       /* threshold */
	unsigned      consec_fail;
	uint64_t      cooldown_first_ns; /* off this long after the first trip */
	uint64_t      cooldown_ns;   /* the current cool-down (doubles per failed retry) */
	uint64_t      off_until_ns;  /* while off: when to ask the plugin again */
	uint64_t      calls;
	uint64_t      by_reason[ROUTER_R_COUNT];
	uint64_t      max_ns;
	uint64_t      sum_ns;        /* all route() times added up */
	uint64_t      hist[HIST_BUCKETS];
	uint64_t      last_log_ns;   /* rate limit of warnings */
	uint64_t      pending_suppressed;
	uint64_t      log_suppressed;
};

/* ---- clock and histogram ------------------------------------------------ */

uint64_t router_now_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - 4u;
	return (msb - 3u) * HIST_SUB + (unsigned)((v >> shift) & (HIST_SUB - 1));
}

/* The largest value that falls into bucket i. */
static uint64_t hist_upper(unsigned i)
{
	unsigned msb, sub;

	if (i < HIST_SUB)
		return i;
	msb = i / HIST_SUB + 3u;
	sub = i % HIST_SUB;
	return (((uint64_t)HIST_SUB + sub) << (msb - 4u)) + (1ULL << (msb - 4u)) - 1u;
}

static uint64_t hist_percentile(const router_instance *inst, unsigned pct)
{
	uint64_t total = 0, seen = 0, want;

	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		total += inst->hist[i];
	if (total == 0)
		return 0;
	want = (total * pct + 99) / 100;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += inst->hist[i];
		if (seen >= want)
			return hist_upper(i) < inst->max_ns ? hist_upper(i) : inst->max_ns;
	}
	return inst->max_ns;
}

static void hist_add(router_instance *inst, uint64_t ns)
{
	inst->hist[hist_index(ns)]++;
	inst->sum_ns += ns;
	if (ns > inst->max_ns)
		inst->max_ns = ns;
}

/* ---- logging -------------------------------------------------------------- */

/* A warning about the plugin's behaviour: at most one line a second; the
 * next line that gets through says how many were dropped. */
static void warn_limited(router_instance *inst, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn_limited(router_instance *inst, const char *fmt, ...)
{
	uint64_t now = router_now_ns();
	char msg[256];
	va_list ap;

	if (inst->last_log_ns != 0 && now - inst->last_log_ns < ROUTER_LOG_GAP_NS) {
		inst->pending_suppressed++;
		inst->log_suppressed++;
		return;
	}
	inst->last_log_ns = now;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (inst->pending_suppressed)
		log_warning("router %s: %s (%llu similar lines suppressed)", inst->label, msg,
		            (unsigned long long)inst->pending_suppressed);
	else
		log_warning("router %s: %s", inst->label, msg);
	inst->pending_suppressed = 0;
}

/* ---- host services lent to the plugin -------------------------------------- */

static void host_log(void *ctx, uint32_t level, const char *fmt, ...)
{
	router_instance *inst = ctx;
	LogLevel lvl;
	char msg[1024];
	va_list ap;

	switch (level) {
	case POOLER_LOG_ERROR: lvl = LOG_LVL_ERROR; break;
	case POOLER_LOG_WARNING: lvl = LOG_LVL_WARNING; break;
	case POOLER_LOG_INFO: lvl = LOG_LVL_LOG; break;
	default: lvl = LOG_LVL_DEBUG; break;
	}
	if (!log_enabled(lvl) || !fmt)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(lvl, "plugin %s: %s", inst->label, msg);
}

static uint64_t host_now_ns(void *ctx)
{
	(void)ctx;
	return router_now_ns();
}

static const char *host_option(void *ctx, const char *key)
{
	router_instance *inst = ctx;

	for (unsigned i = 0; key && i < inst->nopt; i++)
		if (strcmp(inst->opt_key[i], key) == 0)
			return inst->opt_val[i];
	return NULL;
}

static const char *host_option_key(void *ctx, uint32_t i)
{
	router_instance *inst = ctx;

	return i < inst->nopt ? inst->opt_key[i] : NULL;
}

/* ---- options: "key=value key='quoted value'" --------------------------------- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Split inst->opt_buf in place into keys and values. */
static bool parse_options(router_instance *inst, char *err, size_t errlen)
{
	char *p = inst->opt_buf;

	while (*p) {
		char *key, *val, *w;

		while (is_space(*p))
			p++;
		if (!*p)
			break;
		key = p;
		while (*p && *p != '=' && !is_space(*p))
			p++;
		if (*p != '=' || p == key) {
			snprintf(err, errlen, "expected key=value at \"%.20s\"", key);
			return false;
		}
		*p++ = '\0';
		val = w = p;
		if (*p == '\'') {
			/* quoted: '' is a literal quote */
			for (p++;; p++) {
				if (!*p) {
					snprintf(err, errlen, "unterminated quote in the value of %s", key);
					return false;
				}
				if (*p == '\'' && p[1] == '\'')
					p++;
				else if (*p == '\'')
					break;
				*w++ = *p;
			}
			p++;
		} else {
			while (*p && !is_space(*p))
				*w++ = *p++;
		}
		if (*p && !is_space(*p)) {
			snprintf(err, errlen, "expected a space after the value of %s", key);
			return false;
		}
		if (*p)
			p++;
		*w = '\0';
		if (inst->nopt == ROUTER_MAX_OPTIONS) {
			snprintf(err, errlen, "more than %d options", ROUTER_MAX_OPTIONS);
			return false;
		}
		if (host_option(inst, key)) {
			snprintf(err, errlen, "option %s given twice", key);
			return false;
		}
		inst->opt_key[inst->nopt] = key;
		inst->opt_val[inst->nopt] = val;
		inst->nopt++;
	}
	return true;
}

/* ---- loading -------------------------------------------------------------- */

static bool valid_name(const char *name)
{
	if (!name || !*name || strlen(name) > 48)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
			return false;
	return true;
}

static void free_instance(router_instance *inst)
{
	if (!inst)
		return;
	free(inst->file);
	free(inst->options);
	free(inst->opt_buf);
	free(inst);
}

static router_instance *new_instance(const char *dir, const char *name, const char *options,
                                     char *err, size_t errlen)
{
	router_instance *inst = calloc(1, sizeof(*inst));
	size_t flen;

	if (!inst) {
		snprintf(err, errlen, "router %s: out of memory", name);
		return NULL;
	}
	flen = strlen(dir) + strlen(name) + 5;
	inst->file = malloc(flen);
	inst->options = strdup(options ? options : "");
	inst->opt_buf = strdup(options ? options : "");
	if (!inst->file || !inst->options || !inst->opt_buf) {
		snprintf(err, errlen, "router %s: out of memory", name);
		free_instance(inst);
		return NULL;
	}
	snprintf(inst->file, flen, "%s/%s.so", dir, name);
	snprintf(inst->label, sizeof(inst->label), "%s", name);
	inst->breaker = ROUTER_BREAKER_DEFAULT;
	inst->cooldown_first_ns = ROUTER_COOLDOWN_DEFAULT_NS;
	return inst;
}

/* Find, call and check the entry function; fills inst->desc. */
static bool check_descriptor(router_instance *inst, char *err, size_t errlen)
{
	const pooler_plugin *d;
	pooler_entry_fn entry;
	void *sym;

	dlerror();
	sym = dlsym(inst->dl, POOLER_ENTRY_SYMBOL);
	if (!sym) {
		snprintf(err, errlen, "%s: not a lagoon plugin (no %s symbol)", inst->file, POOLER_ENTRY_SYMBOL);
		return false;
	}
	/* POSIX guarantees a function pointer survives the trip through void * */
	memcpy(&entry, &sym, sizeof(entry));
	d = entry(POOLER_ABI_MAJOR, POOLER_ABI_MINOR);
	if (!d) {
		snprintf(err, errlen, "%s: not a lagoon plugin (%s returned no descriptor: "
		         "it refused core ABI %u.%u)", inst->file, POOLER_ENTRY_SYMBOL,
		         POOLER_ABI_MAJOR, POOLER_ABI_MINOR);
		return false;
	}
	if (d->magic != POOLER_ABI_MAGIC) {
		snprintf(err, errlen, "%s: not a lagoon plugin (bad magic 0x%08x)", inst->file, d->magic);
		return false;
	}
	if (d->abi_major != POOLER_ABI_MAJOR) {
		snprintf(err, errlen, "%s: ABI %u.%u, core speaks %u.%u", inst->file,
		         d->abi_major, d->abi_minor, POOLER_ABI_MAJOR, POOLER_ABI_MINOR);
		return false;
	}
	if (d->struct_size < DESC_MIN_SIZE) {
		snprintf(err, errlen, "%s: descriptor too small (%u bytes, ABI %u.0 needs %zu)",
		         inst->file, d->struct_size, POOLER_ABI_MAJOR, DESC_MIN_SIZE);
		return false;
	}
	memcpy(&inst->desc, d, d->struct_size < sizeof(inst->desc) ? d->struct_size : sizeof(inst->desc));
	if (!inst->desc.route) {
		snprintf(err, errlen, "%s: no route callback", inst->file);
		return false;
	}
	if (!inst->desc.init) {
		snprintf(err, errlen, "%s: no init callback", inst->file);
		return false;
	}
	return true;
}

static void setup_host(router_instance *inst)
{
	inst->host.struct_size = sizeof(inst->host);
	inst->host.abi_major = POOLER_ABI_MAJOR;
	inst->host.abi_minor = POOLER_ABI_MINOR;
	inst->host.ctx = inst;
	inst->host.instance = inst->label;
	inst->host.log = host_log;
	inst->host.now_ns = host_now_ns;
	inst->host.option = host_option;
	inst->host.option_key = host_option_key;
}

static bool call_init(router_instance *inst, char *err, size_t errlen)
{
	char perr[256] = "";
	int rc;

	rc = inst->desc.init(&inst->host, &inst->state, perr, sizeof(perr));
	if (rc != 0) {
		perr[sizeof(perr) - 1] = '\0';
		snprintf(err, errlen, "%s: init failed: %s", inst->file,
		         perr[0] ? perr : "(no reason given)");
		return false;
	}
	return true;
}

router_instance *router_load(const char *dir, const char *name, const char *options,
                             char *err, size_t errlen)
{
	router_instance *inst;
	char perr[200];

	if (!valid_name(name)) {
		snprintf(err, errlen, "router \"%s\": invalid name (letters, digits, _ and - only)",
		         name ? name : "");
		return NULL;
	}
	if (!dir || !*dir)
		dir = ".";
	inst = new_instance(dir, name, options, err, errlen);
	if (!inst)
		return NULL;
	if (!parse_options(inst, perr, sizeof(perr))) {
		snprintf(err, errlen, "%s: bad router options: %s", inst->file, perr);
		free_instance(inst);
		return NULL;
	}
	inst->dl = dlopen(inst->file, RTLD_NOW | RTLD_LOCAL);
	if (!inst->dl) {
		const char *why = dlerror();
		snprintf(err, errlen, "%s: cannot load: %s", inst->file, why ? why : "unknown error");
		free_instance(inst);
		return NULL;
	}
	setup_host(inst);
	if (!check_descriptor(inst, err, errlen))
		goto fail;
	if (inst->desc.name && valid_name(inst->desc.name))
		snprintf(inst->label, sizeof(inst->label), "%s", inst->desc.name);
	if (!call_init(inst, err, errlen))
		goto fail;
	log_info("router %s: loaded %s (version %s, ABI %u.%u) options \"%s\"", inst->label,
	         inst->file, inst->desc.version ? inst->desc.version : "?",
	         inst->desc.abi_major, inst->desc.abi_minor, inst->options);
	return inst;
fail:
	/* nothing of the plugin ran but its entry function (and a failed init,
	 * which must have cleaned up): unmapping it now is safe */
	dlclose(inst->dl);
	free_instance(inst);
	return NULL;
}

void router_unload(router_instance *inst)
{
	if (!inst)
		return;
	if (inst->desc.fini)
		inst->desc.fini(inst->state);
	/* no dlclose: see router.h */
	free_instance(inst);
}

void router_set_label(router_instance *inst, const char *label)
{
	const char *base;

	if (!inst || !label)
		return;
	base = inst->desc.name && valid_name(inst->desc.name) ? inst->desc.name : "plugin";
	snprintf(inst->label, sizeof(inst->label), "%.40s/%.20s", base, label);
}

void router_set_breaker(router_instance *inst, unsigned threshold)
{
	if (inst)
		inst->breaker = threshold ? threshold : 1;
}

void router_set_breaker_cooldown(router_instance *inst, uint64_t first_ns)
{
	if (inst)
		inst->cooldown_first_ns = first_ns ? first_ns : 1;
}

void router_rearm(router_instance *inst)
{
	if (!inst || !inst->off)
		return;
	inst->off = inst->half_open = false;
	inst->consec_fail = 0;
	inst->cooldown_ns = 0;
	log_info("router %s: re-armed, asking the plugin again", inst->label);
}

/* The cool-down of an open breaker ran out: ask the plugin again, but a
 * single failure re-opens it (for twice as long, up to the maximum). */
static void half_open(router_instance *inst)
{
	inst->off = false;
	inst->half_open = true;
	inst->consec_fail = inst->breaker - 1;
	log_info("router %s: asking the plugin again after %llu s switched off",
	         inst->label, (unsigned long long)(inst->cooldown_ns / 1000000000ULL));
}

/* ---- views ------------------------------------------------------------------ */

void router_backend_init(pooler_backend *b)
{
	memset(b, 0, sizeof(*b));
	b->struct_size = sizeof(*b);
	b->name = "";
	b->lag_bytes = POOLER_LAG_BYTES_UNKNOWN;
	b->lag_ms = POOLER_MS_UNKNOWN;
	b->sample_age_ms = POOLER_MS_UNKNOWN;
	b->weight = 1;
}

void router_txn_init(pooler_txn *t)
{
	memset(t, 0, sizeof(*t));
	t->struct_size = sizeof(*t);
}

void router_session_init(pooler_session *s, void **slot)
{
	memset(s, 0, sizeof(*s));
	s->struct_size = sizeof(*s);
	s->user = s->database = s->application_name = s->client_addr = "";
	*slot = NULL;
	s->plugin_slot = slot;
}

void router_event_init(pooler_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->struct_size = sizeof(*ev);
	ev->backend_id = -1;
}

/* ---- routing ---------------------------------------------------------------- */

const char *router_reason_name(router_reason r)
{
	static const char *const names[ROUTER_R_COUNT] = {
		"routed", "primary", "no_opinion", "write", "overruled", "error", "off", "wait",
	};
	return (unsigned)r < ROUTER_R_COUNT ? names[r] : "?";
}

/* Copy src into dst[size], truncated, always terminated. */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = 0;

	while (n + 1 < size && src[n]) {
		dst[n] = src[n];
		n++;
	}
	dst[n] = '\0';
}

static int finish(router_instance *inst, router_result *res, int index, router_reason why,
                  const char *detail)
{
	res->index = index;
	res->reason = why;
	res->wait_ms = 0;
	copy_str(res->detail, sizeof(res->detail), detail);
	if (inst)
		inst->by_reason[why]++;
	return index;
}

/* Why this transaction must run on the primary without asking, or NULL. */
static const char *core_requires_primary(const router_instance *inst, const pooler_txn *txn,
                                         const pooler_session *sess)
{
	if (!txn || !(txn->flags & POOLER_TXN_READ_ONLY))
		return "not read-only eligible";
	if (txn->hints & POOLER_HINT_PRIMARY)
		return "hint: primary";
	/* a 1.1 plugin is asked, but may only answer POOLER_WAIT (see router_route) */
	if (sess && (sess->flags & POOLER_SESS_LSN_PENDING) && inst->desc.abi_minor < 1)
		return "commit LSN pending";
	return NULL;
}

/* A failure of the plugin: counts toward the breaker.  Opening it starts
 * a cool-down; each failed retry doubles it, up to ROUTER_COOLDOWN_MAX_NS. */
static void count_failure(router_instance *inst, const char *what)
{
	uint64_t cd;

	if (++inst->consec_fail < inst->breaker)
		return;
	cd = inst->half_open && inst->cooldown_ns ? inst->cooldown_ns * 2 : inst->cooldown_first_ns;
	if (cd > ROUTER_COOLDOWN_MAX_NS)
		cd = ROUTER_COOLDOWN_MAX_NS;
	inst->cooldown_ns = cd;
	inst->off_until_ns = router_now_ns() + cd;
	inst->off = true;
	inst->half_open = false;
	log_error("router %s: SWITCHED OFF after %u consecutive failures (last: %s); "
	          "every transaction now runs on the primary; the plugin is asked again in %.3g s "
	          "(or at a reload that replaces it)",
	          inst->label, inst->consec_fail, what, (double)cd / 1e9);
}

/* A valid answer: the failure streak ends, a half-open breaker closes. */
static void count_success(router_instance *inst)
{
	inst->consec_fail = 0;
	if (!inst->half_open)
		return;
	inst->half_open = false;
	inst->cooldown_ns = 0;
	log_info("router %s: the plugin answers again; breaker closed", inst->label);
}

static int overrule(router_instance *inst, router_result *res, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int overrule(router_instance *inst, router_result *res, const char *fmt, ...)
{
	char why[POOLER_REASON_LEN + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	warn_limited(inst, "answer overruled to the primary: %s", why);
	count_failure(inst, why);
	return finish(inst, res, -1, ROUTER_R_OVERRULED, why);
}

/* Check a POOLER_ROUTE_BACKEND answer against the candidates. */
static int check_backend(router_instance *inst, const pooler_decision *d,
                         const pooler_backend *cand, int ncand, router_result *res)
{
	int32_t id = d->backend_id;

	if (id < 0 || id >= POOLER_MAX_BACKENDS)
		return overrule(inst, res, "backend id %d out of range", (int)id);
	for (int i = 0; i < ncand; i++) {
		if (cand[i].id != id)
			continue;
		if (cand[i].health != POOLER_HEALTH_UP && cand[i].health != POOLER_HEALTH_DEGRADED)
			return overrule(inst, res, "backend %d (%s) is down", (int)id, cand[i].name);
		count_success(inst);
		if (cand[i].role == POOLER_ROLE_PRIMARY)
			return finish(inst, res, -1, ROUTER_R_PRIMARY, d->reason);
		return finish(inst, res, i, ROUTER_R_ROUTED, d->reason);
	}
	return overrule(inst, res, "backend id %d is not a candidate", (int)id);
}

static int check_answer(router_instance *inst, int rc, pooler_decision *d,
                        const pooler_backend *cand, int ncand, router_result *res)
{
	d->reason[sizeof(d->reason) - 1] = '\0';
	if (rc != 0) {
		warn_limited(inst, "route() failed (%d): %s", rc, d->reason[0] ? d->reason : "no reason");
		count_failure(inst, d->reason[0] ? d->reason : "route() returned an error");
		return finish(inst, res, -1, ROUTER_R_ERROR, d->reason[0] ? d->reason : "plugin error");
	}
	switch (d->verdict) {
	case POOLER_NO_OPINION:
		count_success(inst);
		return finish(inst, res, -1, ROUTER_R_NO_OPINION, d->reason);
	case POOLER_ROUTE_PRIMARY:
		count_success(inst);
		return finish(inst, res, -1, ROUTER_R_PRIMARY, d->reason);
	case POOLER_ROUTE_BACKEND:
		return check_backend(inst, d, cand, ncand, res);
	case POOLER_WAIT:
		/* appended in ABI 1.1: from a plugin built for 1.0 it is garbage */
		if (inst->desc.abi_minor < 1)
			return overrule(inst, res, "POOLER_WAIT from an ABI %u.%u plugin",
			                inst->desc.abi_major, inst->desc.abi_minor);
		count_success(inst);
		finish(inst, res, -1, ROUTER_R_WAIT, d->reason);
		res->wait_ms = d->wait_ms == 0 ? ROUTER_WAIT_DEFAULT_MS
			: d->wait_ms > ROUTER_WAIT_MAX_MS ? ROUTER_WAIT_MAX_MS : d->wait_ms;
		return -1;
	default:
		return overrule(inst, res, "unknown verdict %u", d->verdict);
	}
}

int router_route(router_instance *inst, const pooler_txn *txn, pooler_session *sess,
                 const pooler_backend *cand, int ncand, router_result *res)
{
	const pooler_backend *ptrs[POOLER_MAX_BACKENDS];
	pooler_decision d;
	const char *forced;
	uint64_t t0, ns;
	int rc;

	if (!inst)
		return finish(NULL, res, -1, ROUTER_R_OFF, "no router");
	forced = core_requires_primary(inst, txn, sess);
	if (forced)
		return finish(inst, res, -1, ROUTER_R_WRITE, forced);
	if (inst->off) {
		if (router_now_ns() < inst->off_until_ns)
			return finish(inst, res, -1, ROUTER_R_OFF, "plugin switched off");
		half_open(inst);
	}
	if (ncand < 0 || !cand)
		ncand = 0;
	if (ncand > POOLER_MAX_BACKENDS)
		ncand = POOLER_MAX_BACKENDS;
	for (int i = 0; i < ncand; i++)
		ptrs[i] = &cand[i];
	memset(&d, 0, sizeof(d));
	d.struct_size = sizeof(d);

	t0 = router_now_ns();
	rc = inst->desc.route(inst->state, txn, sess, ptrs, (uint32_t)ncand, &d);
	ns = router_now_ns() - t0;

	inst->calls++;
	hist_add(inst, ns);
	if (ns > ROUTER_SLOW_NS)
		warn_limited(inst, "route() took %llu us", (unsigned long long)(ns / 1000));
	rc = check_answer(inst, rc, &d, cand, ncand, res);
	if (sess && (sess->flags & POOLER_SESS_LSN_PENDING) && res->reason != ROUTER_R_WAIT &&
	    res->reason != ROUTER_R_OVERRULED && res->reason != ROUTER_R_ERROR) {
		/* the LSN is not known yet: no replica can be proven to have it */
		inst->by_reason[res->reason]--;
		return finish(inst, res, -1, ROUTER_R_WRITE, "commit LSN pending");
	}
	return rc;
}

void router_observe(router_instance *inst, pooler_session *sess, const pooler_event *ev)
{
	if (!inst || inst->off || !inst->desc.observe || !ev)
		return;
	inst->desc.observe(inst->state, sess, ev);
}

void router_session_end(router_instance *inst, pooler_session *sess)
{
	pooler_event ev;

	/* delivered even when switched off: the plugin must free the slot */
	if (!inst || !inst->desc.observe)
		return;
	router_event_init(&ev);
	ev.kind = POOLER_EV_SESSION_END;
	inst->desc.observe(inst->state, sess, &ev);
}

void router_get_info(const router_instance *inst, router_info *out)
{
	memset(out, 0, sizeof(*out));
	if (!inst)
		return;
	out->name = inst->label;
	out->version = inst->desc.version ? inst->desc.version : "";
	out->file = inst->file;
	out->options = inst->options;
	out->abi_major = inst->desc.abi_major;
	out->abi_minor = inst->desc.abi_minor;
	out->off = inst->off;
	out->calls = inst->calls;
	memcpy(out->by_reason, inst->by_reason, sizeof(out->by_reason));
	out->routed = inst->by_reason[ROUTER_R_ROUTED];
	out->overruled = inst->by_reason[ROUTER_R_OVERRULED];
	out->errors = inst->by_reason[ROUTER_R_ERROR];
	out->log_suppressed = inst->log_suppressed;
	out->p50_ns = hist_percentile(inst, 50);
	out->p99_ns = hist_percentile(inst, 99);
	out->max_ns = inst->max_ns;
	out->sum_ns = inst->sum_ns;
}

uint64_t router_calls_le(const router_instance *inst, uint64_t ns)
{
	uint64_t n = 0;

	for (unsigned i = 0; inst && i < HIST_BUCKETS && hist_upper(i) <= ns; i++)
		n += inst->hist[i];
	return n;
}
