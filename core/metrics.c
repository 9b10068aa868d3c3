/*
 * metrics.c - the Prometheus endpoint (see metrics.h).
 *
 * Families, all from lagoon's own object model:
 *   per pool        lagoon_clients, lagoon_servers, lagoon_pool_maxwait_seconds
 *                   (the SHOW POOLS counts: state list lengths)
 *   per database    the Pool stat_* totals summed (SHOW STATS)
 *   per backend     health, role, lag, sample age, transactions (SHOW BACKENDS)
 *   routing         Database route_counts / route_retries (SHOW ROUTING)
 */
#include "autoconf.h"

#include <event2/event_struct.h>  /* sbuf.h embeds struct event */

#include "metrics.h"
#include "lagoon.h"
#include "objects.h"
#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

static struct evhttp *metrics_http;

/* ---- exposition helpers --------------------------------------------- */

/* A label value, escaped per the text format: \\, \" and \n. */
static void metrics_label_value(struct evbuffer *out, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = *s == '\\' ? "\\\\" : *s == '"' ? "\\\"" : *s == '\n' ? "\\n" : NULL;
		if (!esc)
			continue;
		evbuffer_add(out, run, (size_t)(s - run));
		evbuffer_add(out, esc, 2);
		run = s + 1;
	}
	evbuffer_add(out, run, (size_t)(s - run));
}

static void metrics_family(struct evbuffer *out, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Start of a sample line: name{ ; labels follow as pairs then NULL. */
static void metrics_sample_start(struct evbuffer *out, const char *name, const char *const *labels)
{
	evbuffer_add_printf(out, "%s", name);
	if (!labels || !labels[0])
		return;
	evbuffer_add(out, "{", 1);
	for (int i = 0; labels[i]; i += 2) {
		evbuffer_add_printf(out, "%s%s=\"", i ? "," : "", labels[i]);
		metrics_label_value(out, labels[i + 1] ? labels[i + 1] : "");
		evbuffer_add(out, "\"", 1);
	}
	evbuffer_add(out, "}", 1);
}

static void metrics_u64(struct evbuffer *out, const char *name, const char *const *labels, uint64_t v)
{
	metrics_sample_start(out, name, labels);
	evbuffer_add_printf(out, " %" PRIu64 "\n", v);
}

static void metrics_sec(struct evbuffer *out, const char *name, const char *const *labels, uint64_t us)
{
	metrics_sample_start(out, name, labels);
	evbuffer_add_printf(out, " %" PRIu64 ".%06" PRIu64 "\n", us / 1000000, us % 1000000);
}

/* One histogram sample set: name_bucket{labels,le="..."} with cumulative
 * counts cum[0..nb) at the bounds le_ns[] (nanoseconds, printed in
 * seconds), the +Inf bucket (= count), name_sum and name_count. */
static void metrics_histogram(struct evbuffer *out, const char *name, const char *const *labels,
                              const uint64_t *le_ns, const uint64_t *cum, int nb,
                              uint64_t count, uint64_t sum_ns)
{
	const char *l[16];
	char bname[128], le[32];
	int k = 0;

	while (labels && labels[k] && k < 12) {
		l[k] = labels[k];
		l[k + 1] = labels[k + 1];
		k += 2;
	}
	l[k] = "le";
	l[k + 1] = le;
	l[k + 2] = NULL;
	snprintf(bname, sizeof(bname), "%s_bucket", name);
	for (int i = 0; i <= nb; i++) {
		if (i < nb)
			snprintf(le, sizeof(le), "%g", (double)le_ns[i] / 1e9);
		else
			snprintf(le, sizeof(le), "+Inf");
		metrics_u64(out, bname, l, i < nb ? cum[i] : count);
	}
	l[k] = NULL;
	snprintf(bname, sizeof(bname), "%s_sum", name);
	metrics_sample_start(out, bname, l);
	evbuffer_add_printf(out, " %" PRIu64 ".%09" PRIu64 "\n", sum_ns / 1000000000u, sum_ns % 1000000000u);
	snprintf(bname, sizeof(bname), "%s_count", name);
	metrics_u64(out, bname, l, count);
}

static const char *metrics_role_name(const Backend *be)
{
	return be->role == BE_ROLE_PRIMARY ? "primary" : be->role == BE_ROLE_REPLICA ? "replica" : "unknown";
}

static bool metrics_backend_listed(const Database *db, int i)
{
	return i < CF_MAX_BACKENDS && db->backends[i] && !db->backends[i]->retired;
}


/* ---- families ------------------------------------------------------- */

static void metrics_pools(struct evbuffer *out)
{
	static const char *const sv_states[] = { "active", "idle", "used", "tested", "login" };
	const ListNode *n;

	metrics_family(out, "lagoon_clients", "gauge", "Client connections of a pool by state (SHOW POOLS cl_*).");
	list_for_each(n, &lg.pools) {
		const Pool *p = list_entry(n, Pool, node);
		const char *db = p->db->name, *user = p->user ? p->user->name : "";
		const char *la[] = { "database", db, "user", user, "state", "active", NULL };
		const char *lw[] = { "database", db, "user", user, "state", "waiting", NULL };
		metrics_u64(out, "lagoon_clients", la, (uint64_t)p->active_clients.count);
		metrics_u64(out, "lagoon_clients", lw,
		            (uint64_t)(p->waiting_clients.count + p->login_wait_clients.count));
	}

	metrics_family(out, "lagoon_servers", "gauge",
	               "Server connections of a pool to a backend by state (SHOW POOLS sv_*).");
	list_for_each(n, &lg.pools) {
		const Pool *p = list_entry(n, Pool, node);
		for (int i = 0; i < p->db->nbackends; i++) {
			const PoolBackend *pb = &p->be[i];
			const int counts[5] = { pb->active_servers.count, pb->idle_servers.count,
			                        pb->used_servers.count, pb->tested_servers.count,
			                        pb->login_servers.count };
			if (!metrics_backend_listed(p->db, i))
				continue;
			for (int k = 0; k < 5; k++) {
				const char *l[] = { "database", p->db->name, "user", p->user ? p->user->name : "",
				                    "backend", p->db->backends[i]->name, "state", sv_states[k], NULL };
				metrics_u64(out, "lagoon_servers", l, (uint64_t)counts[k]);
			}
		}
	}

	metrics_family(out, "lagoon_pool_maxwait_seconds", "gauge",
	               "How long the oldest waiting client of a pool has waited.");
	list_for_each(n, &lg.pools) {
		const Pool *p = list_entry(n, Pool, node);
		const char *l[] = { "database", p->db->name, "user", p->user ? p->user->name : "", NULL };
		metrics_sec(out, "lagoon_pool_maxwait_seconds", l, pool_maxwait(p));
	}
}

static void metrics_stats(struct evbuffer *out)
{
	static const struct {
		const char *name, *help;
		size_t off;
		bool seconds;
	} fams[] = {
		{ "lagoon_transactions_total", "Transactions pooled (SHOW STATS total_xact_count).",
		  offsetof(StatsTotals, xact), false },
		{ "lagoon_queries_total", "Queries pooled (SHOW STATS total_query_count).",
		  offsetof(StatsTotals, query), false },
		{ "lagoon_server_assignments_total", "Server connections given to clients (SHOW STATS total_server_assignment_count).",
		  offsetof(StatsTotals, assign), false },
		{ "lagoon_received_bytes_total", "Bytes received from clients (SHOW STATS total_received).",
		  offsetof(StatsTotals, recv), false },
		{ "lagoon_sent_bytes_total", "Bytes sent to clients (SHOW STATS total_sent).",
		  offsetof(StatsTotals, sent), false },
		{ "lagoon_transaction_time_seconds_total", "Time spent in transactions (SHOW STATS total_xact_time).",
		  offsetof(StatsTotals, xact_time), true },
		{ "lagoon_query_time_seconds_total", "Time spent in queries (SHOW STATS total_query_time).",
		  offsetof(StatsTotals, query_time), true },
		{ "lagoon_wait_time_seconds_total", "Time clients waited for a server (SHOW STATS total_wait_time).",
		  offsetof(StatsTotals, wait_time), true },
		{ "lagoon_client_parse_total", "Named Parse messages from clients (SHOW STATS total_client_parse_count).",
		  offsetof(StatsTotals, client_parse), false },
		{ "lagoon_server_parse_total", "Parse messages sent to servers (SHOW STATS total_server_parse_count).",
		  offsetof(StatsTotals, server_parse), false },
		{ "lagoon_bind_total", "Binds of named statements (SHOW STATS total_bind_count).",
		  offsetof(StatsTotals, bind), false },
	};
	const ListNode *n;
	size_t ndb = 0, i = 0;
	StatsTotals *all;

	list_for_each(n, &lg.databases)
		ndb++;
	all = calloc(ndb ? ndb : 1, sizeof(*all));
	if (!all)
		return;
	list_for_each(n, &lg.databases)
		stats_of_db(list_entry(n, Database, node), &all[i++], NULL);
	for (size_t f = 0; f < sizeof(fams) / sizeof(fams[0]); f++) {
		metrics_family(out, fams[f].name, "counter", fams[f].help);
		i = 0;
		list_for_each(n, &lg.databases) {
			const Database *db = list_entry(n, Database, node);
			const char *l[] = { "database", db->name, NULL };
			uint64_t v;
			memcpy(&v, (const char *)&all[i++] + fams[f].off, sizeof(v));
			if (fams[f].seconds)
				metrics_sec(out, fams[f].name, l, v);
			else
				metrics_u64(out, fams[f].name, l, v);
		}
	}
	free(all);
}

/* Transaction, query and wait times per database (stats.h histograms). */
static void metrics_latency(struct evbuffer *out)
{
	static const struct { const char *name, *help; } fams[STATS_H_COUNT] = {
		[STATS_H_XACT] = { "lagoon_transaction_duration_seconds",
		                   "Time from a transaction's first message to its server's release." },
		[STATS_H_QUERY] = { "lagoon_query_duration_seconds",
		                    "Time from a query to its ReadyForQuery." },
		[STATS_H_WAIT] = { "lagoon_client_wait_seconds",
		                   "Time a client waited for a server connection, per assignment (0 when none)." },
	};
	uint64_t le_ns[STATS_HIST_BOUNDS], cum[STATS_HIST_BOUNDS];
	const ListNode *n;

	for (int i = 0; i < STATS_HIST_BOUNDS; i++)
		le_ns[i] = stats_hist_bounds_us[i] * 1000;
	for (int f = 0; f < STATS_H_COUNT; f++) {
		metrics_family(out, fams[f].name, "histogram", fams[f].help);
		list_for_each(n, &lg.databases) {
			const Database *db = list_entry(n, Database, node);
			const StatsHist *h = &db->hist[f];
			const char *l[] = { "database", db->name, NULL };
			uint64_t run = 0;
			if (db->admin)
				continue;
			for (int i = 0; i < STATS_HIST_BOUNDS; i++)
				cum[i] = run += h->count[i];
			metrics_histogram(out, fams[f].name, l, le_ns, cum, STATS_HIST_BOUNDS,
			                  run + h->count[STATS_HIST_BOUNDS], h->sum_us * 1000);
		}
	}
}

/* The routing plugin of each database: route() latency and its state. */
static void metrics_plugins(struct evbuffer *out)
{
	static const uint64_t le_ns[] = { 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
	                                  100000, 1000000, 10000000 };
	enum { NB = sizeof(le_ns) / sizeof(le_ns[0]) };
	static const struct { const char *name, *type, *help; } fams[2] = {
		{ "lagoon_plugin_route_duration_seconds", "histogram",
		  "Time of the routing plugin's route() calls (buckets within 1/16)." },
		{ "lagoon_plugin_up", "gauge",
		  "1 while the routing plugin is used, 0 once its circuit breaker opened (SHOW PLUGINS state)." },
	};
	uint64_t cum[NB];
	const ListNode *n;

	for (int f = 0; f < 2; f++) {
		metrics_family(out, fams[f].name, fams[f].type, fams[f].help);
		list_for_each(n, &lg.databases) {
			const Database *db = list_entry(n, Database, node);
			const char *l[] = { "database", db->name, "plugin", db->router_name, NULL };
			router_info info;
			if (!db->router)
				continue;
			router_get_info(db->router, &info);
			if (f == 1) {
				metrics_u64(out, fams[f].name, l, !info.off);
				continue;
			}
			for (int i = 0; i < NB; i++)
				cum[i] = router_calls_le(db->router, le_ns[i]);
			metrics_histogram(out, fams[f].name, l, le_ns, cum, NB, info.calls, info.sum_ns);
		}
	}
}

/* Which per-backend family metrics_backend_value() prints. */
enum { MB_UP, MB_LAG_BYTES, MB_LAG_SEC, MB_AGE, MB_XACT, MB_PROBES, MB_PROBE_FAIL, MB_WRITE,
       MB_COUNT };

static void metrics_backend_value(struct evbuffer *out, int which, const Backend *be)
{
	const char *l[] = { "database", be->db->name, "backend", be->name, NULL, NULL, NULL };

	switch (which) {
	case MB_UP:
		l[4] = "role";
		l[5] = metrics_role_name(be);
		metrics_u64(out, "lagoon_backend_up", l, be->health == BE_HEALTH_UP);
		break;
	case MB_LAG_BYTES:
		if (be->sampled_at)
			metrics_u64(out, "lagoon_backend_lag_bytes", l, be->lag_bytes);
		break;
	case MB_LAG_SEC:
		if (be->sampled_at && be->lag_ms >= 0)
			metrics_sec(out, "lagoon_backend_lag_seconds", l, (uint64_t)be->lag_ms * 1000);
		break;
	case MB_AGE:
		if (be->sampled_at)
			metrics_sec(out, "lagoon_backend_sample_age_seconds", l,
			            lg.now > be->sampled_at ? lg.now - be->sampled_at : 0);
		break;
	case MB_XACT:
		metrics_u64(out, "lagoon_backend_transactions_total", l, be->xact_routed);
		break;
	case MB_PROBES:
		metrics_u64(out, "lagoon_backend_probes_total", l, be->probes);
		break;
	case MB_PROBE_FAIL:
		metrics_u64(out, "lagoon_backend_probe_failures_total", l, be->probe_failures);
		break;
	case MB_WRITE:
		metrics_u64(out, "lagoon_backend_write_target", l, db_write_backend(be->db) == be);
		break;
	}
}

static void metrics_backends(struct evbuffer *out)
{
	static const struct { const char *name, *type, *help; } fams[MB_COUNT] = {
		{ "lagoon_backend_up", "gauge", "1 when the monitor sees the backend healthy (SHOW BACKENDS state)." },
		{ "lagoon_backend_lag_bytes", "gauge", "Replica replay position behind the primary, in bytes." },
		{ "lagoon_backend_lag_seconds", "gauge", "How long ago the primary was at the replica's replay position." },
		{ "lagoon_backend_sample_age_seconds", "gauge", "Time since the last good probe of the backend." },
		{ "lagoon_backend_transactions_total", "counter", "Transactions that ran on the backend (SHOW BACKENDS xact_routed)." },
		{ "lagoon_backend_probes_total", "counter", "Monitor probes of the backend." },
		{ "lagoon_backend_probe_failures_total", "counter", "Monitor probes of the backend that failed (SHOW BACKENDS probe_failures)." },
		{ "lagoon_backend_write_target", "gauge", "1 for the backend writes go to now (SHOW BACKENDS is_write_target)." },
	};
	const ListNode *n;

	for (int f = 0; f < MB_COUNT; f++) {
		metrics_family(out, fams[f].name, fams[f].type, fams[f].help);
		list_for_each(n, &lg.databases) {
			const Database *db = list_entry(n, Database, node);
			for (int i = 0; i < db->nbackends; i++)
				if (metrics_backend_listed(db, i))
					metrics_backend_value(out, f, db->backends[i]);
		}
	}
}

/* The samples of one routing family for backend i of db. */
typedef void (*MetricsBackendSamples)(struct evbuffer *out, const char *family,
                                      const Database *db, int i);

/* One counter family of the routing counts: its header, then samples() for
 * each listed backend of every database but the admin one. */
static void metrics_routing_family(struct evbuffer *out, const char *family, const char *help,
                                   MetricsBackendSamples samples)
{
	const ListNode *n;

	metrics_family(out, family, "counter", help);
	list_for_each(n, &lg.databases) {
		const Database *db = list_entry(n, Database, node);
		for (int i = 0; !db->admin && i < db->nbackends; i++)
			if (metrics_backend_listed(db, i))
				samples(out, family, db, i);
	}
}

/* One sample per value of vals, labelled by the backend and label=names[j]. */
static void metrics_backend_split(struct evbuffer *out, const char *family, const Database *db,
                                  int i, const char *label, const char *const *names,
                                  const uint64_t *vals, int nvals)
{
	for (int j = 0; j < nvals; j++) {
		const char *l[] = { "database", db->name, "backend", db->backends[i]->name,
		                    label, names[j], NULL };
		metrics_u64(out, family, l, vals[j]);
	}
}

static void metrics_decisions(struct evbuffer *out, const char *family, const Database *db, int i)
{
	const char *reasons[ROUTER_R_COUNT];

	for (int k = 0; k < ROUTER_R_COUNT; k++)
		reasons[k] = router_reason_name((router_reason)k);
	metrics_backend_split(out, family, db, i, "reason", reasons, db->route_counts[i],
	                      ROUTER_R_COUNT);
}

/* Read-your-writes outcomes (the sums over reasons of SHOW ROUTING's
 * appended columns). */
static void metrics_ryw_reads(struct evbuffer *out, const char *family, const Database *db, int i)
{
	static const char *const outcomes[] = { "replica", "primary_pending", "primary_behind" };
	uint64_t v[3] = { 0, 0, 0 };

	for (int k = 0; k < ROUTER_R_COUNT; k++) {
		const struct RouteRywStats *st = &db->ryw_stats[i][k];
		v[0] += st->ryw_reads - st->ryw_pending - st->ryw_behind;
		v[1] += st->ryw_pending;
		v[2] += st->ryw_behind;
	}
	metrics_backend_split(out, family, db, i, "outcome", outcomes, v, 3);
}

/* POOLER_WAIT parks, likewise summed over reasons. */
static void metrics_waits(struct evbuffer *out, const char *family, const Database *db, int i)
{
	static const char *const waits[] = { "served", "timeout" };
	uint64_t v[2] = { 0, 0 };

	for (int k = 0; k < ROUTER_R_COUNT; k++) {
		v[0] += db->ryw_stats[i][k].waited - db->ryw_stats[i][k].wait_timeouts;
		v[1] += db->ryw_stats[i][k].wait_timeouts;
	}
	metrics_backend_split(out, family, db, i, "outcome", waits, v, 2);
}

static void metrics_retries(struct evbuffer *out, const char *family, const Database *db, int i)
{
	const char *l[] = { "database", db->name, "backend", db->backends[i]->name, NULL };

	metrics_u64(out, family, l, db->route_retries[i]);
}

static void metrics_routing(struct evbuffer *out)
{
	metrics_routing_family(out, "lagoon_routing_decisions_total",
	                       "Routing decisions per backend and reason (SHOW ROUTING).",
	                       metrics_decisions);
	metrics_routing_family(out, "lagoon_routing_ryw_reads_total",
	                       "Reads of sessions that had written, per backend: outcome replica, or the primary "
	                       "because the commit LSN was pending / no replica had replayed it.",
	                       metrics_ryw_reads);
	metrics_routing_family(out, "lagoon_routing_waits_total",
	                       "Transactions parked by the plugin's POOLER_WAIT, per backend they ran on: "
	                       "served before the budget ran out, or timeout (then the primary).",
	                       metrics_waits);
	metrics_routing_family(out, "lagoon_routing_retries_total",
	                       "Reads replayed on the primary after the backend refused them (SHOW ROUTING retried).",
	                       metrics_retries);
}

/* ---- HTTP ----------------------------------------------------------- */

static void metrics_on_request(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out;
	const char *ver[] = { "version", PACKAGE_VERSION, NULL };

	(void)arg;
	lg.now = get_time_usec();
	out = evbuffer_new();
	if (!out) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	metrics_family(out, "lagoon_up", "gauge", "1 while lagoon is running.");
	metrics_u64(out, "lagoon_up", NULL, 1);
	metrics_family(out, "lagoon_build_info", "gauge", "The lagoon version, as a label.");
	metrics_u64(out, "lagoon_build_info", ver, 1);
	metrics_pools(out);
	metrics_stats(out);
	metrics_latency(out);
	metrics_backends(out);
	metrics_routing(out);
	metrics_plugins(out);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", out);
	evbuffer_free(out);
}

static void metrics_on_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, HTTP_NOTFOUND, NULL);
}

bool metrics_start(const Config *cfg, char *err, size_t errlen)
{
	const char *addr = cfg->metrics_listen_addr;

	if (!addr || !*addr)
		return true;
	if (strcmp(addr, "*") == 0)
		addr = "0.0.0.0";
	metrics_http = evhttp_new(lg.base);
	if (!metrics_http) {
		snprintf(err, errlen, "metrics: cannot create the HTTP server");
		return false;
	}
	evhttp_set_allowed_methods(metrics_http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	if (evhttp_set_cb(metrics_http, "/metrics", metrics_on_request, NULL) != 0) {
		snprintf(err, errlen, "metrics: cannot register /metrics");
		metrics_stop();
		return false;
	}
	evhttp_set_gencb(metrics_http, metrics_on_other, NULL);
	if (!evhttp_bind_socket_with_handle(metrics_http, addr, (uint16_t)cfg->metrics_listen_port)) {
		snprintf(err, errlen, "metrics: cannot listen on %s:%d (metrics_listen_addr, metrics_listen_port)",
		         addr, cfg->metrics_listen_port);
		metrics_stop();
		return false;
	}
	log_info("metrics endpoint on http://%s:%d/metrics", addr, cfg->metrics_listen_port);
	return true;
}

void metrics_stop(void)
{
	if (metrics_http)
		evhttp_free(metrics_http);
	metrics_http = NULL;
}
