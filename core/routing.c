/*
 * routing.c - the core's side of routing (see routing.h).
 *
 * Per transaction: classify the first statement (classify.c), build the
 * plugin's views of the transaction, the session and the backends on the
 * stack, call router_route() (router.c validates the answer), and map the
 * candidate index back to a Backend.  Nothing here allocates on that path.
 *
 * Each database owns one router instance, loaded from its router= (or the
 * global router) with its router_options.  A reload that changes them
 * loads a new instance; sessions still holding a slot of the old one end
 * it when they next route or leave, and the old instance is kept (plugins
 * are never unloaded while the process runs, see router.h).
 */
#include "autoconf.h"

#include "routing.h"
#include "classify.h"
#include "objects.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

/* ---- configuration ---------------------------------------------------- */

bool routing_configure(Database *db, const Config *cfg, char *err, size_t errlen)
{
	const char *name = db->def.router[0] ? db->def.router : (cfg->router ? cfg->router : "none");
	const char *opts = db->def.router_options;
	router_instance *inst = NULL;

	if (db->admin)
		return true;
	if (strcmp(name, db->router_name) == 0 && strcmp(opts, db->router_options) == 0 &&
	    (db->router || strcmp(name, "none") == 0))
		return true;
	if (strcmp(name, "none") != 0) {
		inst = router_load(cfg->plugin_dir ? cfg->plugin_dir : LAGOON_PLUGINDIR, name,
		                   opts[0] ? opts : NULL, err, errlen);
		if (!inst)
			return false;
		router_set_label(inst, db->name);
		log_info("database %s: routing with %s%s%s", db->name, name, opts[0] ? " " : "", opts);
	}
	/* the old instance stays loaded for the sessions that still use it */
	db->router = inst;
	snprintf(db->router_name, sizeof(db->router_name), "%s", name);
	snprintf(db->router_options, sizeof(db->router_options), "%s", opts);
	return true;
}

/* ---- the views -------------------------------------------------------- */

static uint32_t ms_u32(int64_t v)
{
	if (v < 0)
		return POOLER_MS_UNKNOWN;
	return v > (int64_t)(POOLER_MS_UNKNOWN - 1) ? POOLER_MS_UNKNOWN - 1 : (uint32_t)v;
}

/* One pooler_backend per backend of db. */
static int routing_candidates(const Client *c, pooler_backend *cand)
{
	const Database *db = c->pool->db;
	const Backend *primary = db_write_backend(db);
	int n = 0;

	for (int i = 0; i < db->nbackends; i++) {
		const Backend *be = db->backends[i];
		const PoolBackend *pb = &c->pool->be[i];
		pooler_backend *b = &cand[n];
		if (!be || be->retired)
			continue;
		router_backend_init(b);
		b->id = i;
		b->name = be->name;
		b->role = be == primary ? POOLER_ROLE_PRIMARY : POOLER_ROLE_REPLICA;
		b->health = be->health == BE_HEALTH_UP ? POOLER_HEALTH_UP : POOLER_HEALTH_DOWN;
		if (be->role != BE_ROLE_REPLICA && be != primary)
			b->health = POOLER_HEALTH_DOWN;   /* unknown role or a second primary */
		b->replay_lsn = be->lsn;
		b->lag_bytes = be->role == BE_ROLE_REPLICA || be == primary ? be->lag_bytes
			: POOLER_LAG_BYTES_UNKNOWN;
		b->lag_ms = be == primary ? 0 : ms_u32(be->lag_ms);
		b->sample_age_ms = be->sampled_at ? ms_u32((lg.now - be->sampled_at) / 1000) : POOLER_MS_UNKNOWN;
		b->active = (uint32_t)pb->active_servers.count;
		b->idle = (uint32_t)pb->idle_servers.count;
		b->waiting = 0;
		b->weight = be->weight >= 0 ? (uint32_t)be->weight : 1;
		n++;
	}
	return n;
}

static void routing_session_view(Client *c, pooler_session *s)
{
	void *saved = c->plugin_slot;

	router_session_init(s, &c->plugin_slot);
	c->plugin_slot = saved;   /* router_session_init resets the slot */
	s->id = c->id;
	s->txn_count = c->txn_count;
	s->user = c->username;
	s->database = c->dbname;
	s->application_name = c->vars.val[VAR_APPLICATION_NAME] ? c->vars.val[VAR_APPLICATION_NAME] : "";
	s->client_addr = c->addr;
	s->client_port = (uint32_t)c->port;
	if (c->last_commit_lsn && c->lsn_epoch == c->pool->db->primary_changes) {
		s->last_commit_lsn = c->last_commit_lsn;
		s->last_commit_ns = (uint64_t)c->last_commit_time * 1000;
	} else if (c->last_commit_lsn && lg.now - c->last_commit_time < lg.cfg->ryw_void_timeout) {
		/* the primary changed since this session wrote: its LSN means
		 * nothing on the new timeline; read from the primary for a while */
		s->flags |= POOLER_SESS_LSN_PENDING;
	}
}

/* The text of a Query or Parse body, or NULL. */
static const char *routing_text(uint8_t type, const uint8_t *body, uint32_t len, uint32_t *tlen)
{
	const uint8_t *end = body + len, *p = body, *z;

	if (type == 'P') {
		z = memchr(p, 0, len);        /* statement name */
		if (!z)
			return NULL;
		p = z + 1;
	}
	z = p < end ? memchr(p, 0, (size_t)(end - p)) : NULL;
	if (!z)
		return NULL;
	*tlen = (uint32_t)(z - p);
	return (const char *)p;
}

static void routing_classify_txn(uint8_t type, const uint8_t *body, uint32_t len,
                                 pooler_txn *t, char *kw, RouteDecision *out)
{
	ClassifyResult cr;
	uint32_t tlen = 0;
	const char *text = (type == 'Q' || type == 'P') && body ? routing_text(type, body, len, &tlen) : NULL;

	if (!text) {
		snprintf(out->detail, sizeof(out->detail), "%s", type == 'Q' || type == 'P' ?
		         "statement too long to classify" : "not a Query or Parse");
		return;
	}
	classify_sql(text, tlen, &cr);
	out->read_only = cr.kind == CLS_READ && cr.nstatements > 0 && !(cr.flags & CLS_F_HINT_PRIMARY) &&
		!(cr.flags & CLS_F_TXN_END);
	out->explicit_block = (cr.flags & CLS_F_TXN_BEGIN) != 0;
	for (size_t i = 0; cr.keyword[i] && i < CLASSIFY_KEYWORD_MAX - 1; i++)
		kw[i] = (char)(cr.keyword[i] - 'a' + 'A');
	t->keyword = kw;
	t->keyword_len = (uint32_t)strlen(kw);
	t->text = text;
	t->text_len = tlen;
	t->flags = (out->read_only ? POOLER_TXN_READ_ONLY : 0) |
		(out->explicit_block ? POOLER_TXN_EXPLICIT : 0) |
		(type == 'P' ? POOLER_TXN_EXTENDED : 0) | (cr.nstatements > 1 ? POOLER_TXN_MULTI : 0);
	t->hints = (cr.flags & CLS_F_HINT_PRIMARY ? POOLER_HINT_PRIMARY : 0) |
		(cr.flags & CLS_F_HINT_REPLICA ? POOLER_HINT_REPLICA : 0);
	if (!out->read_only)
		snprintf(out->detail, sizeof(out->detail), "%s", cr.reason);
}

/* Make sure c's plugin slot belongs to the database's current instance. */
static void routing_sync_instance(Client *c)
{
	router_instance *now = c->pool->db->router;

	if (c->rinst == now)
		return;
	routing_session_end(c);
	c->rinst = now;
	c->plugin_slot = NULL;
}

void routing_decide(Client *c, uint8_t type, const uint8_t *body, uint32_t len, RouteDecision *out)
{
	Database *db = c->pool->db;
	pooler_backend cand[CF_MAX_BACKENDS];
	char kw[CLASSIFY_KEYWORD_MAX] = "";
	pooler_txn txn;
	pooler_session sess;
	router_result res;
	int n, idx;

	memset(out, 0, sizeof(*out));
	c->txn_count++;
	/* in session mode the first transaction's server serves the whole
	 * session, writes included: everything stays on the primary */
	if (db->nbackends <= 1 || !db->router || pool_mode_of(c->pool) == POOL_MODE_SESSION) {
		out->reason = db->router ? ROUTER_R_WRITE : ROUTER_R_OFF;
		return;
	}
	routing_sync_instance(c);
	router_txn_init(&txn);
	routing_classify_txn(type, body, len, &txn, kw, out);
	routing_session_view(c, &sess);
	n = routing_candidates(c, cand);
	idx = router_route(db->router, &txn, &sess, cand, n, &res);
	out->reason = res.reason;
	snprintf(out->detail, sizeof(out->detail), "%s", res.detail);
	if (idx >= 0 && idx < n && out->read_only)
		out->backend = db->backends[cand[idx].id];
	if (out->backend) {
		db->route_counts[out->backend->index][res.reason]++;
	} else {
		const Backend *p = db_write_backend(db);
		if (p)
			db->route_counts[p->index][res.reason]++;
	}
}

void routing_txn_end(Client *c, Backend *be, const char *sqlstate)
{
	pooler_session sess;
	pooler_event ev;

	if (!c->rinst || !be || c->rinst != c->pool->db->router)
		return;
	routing_session_view(c, &sess);
	router_event_init(&ev);
	ev.kind = POOLER_EV_TXN_END;
	ev.backend_id = be->index;
	ev.outcome = POOLER_OUTCOME_COMMIT;
	if (sqlstate && sqlstate[0]) {
		ev.outcome = POOLER_OUTCOME_ERROR;
		snprintf(ev.sqlstate, sizeof(ev.sqlstate), "%s", sqlstate);
	}
	router_observe(c->rinst, &sess, &ev);
}

void routing_session_end(Client *c)
{
	pooler_session sess;

	if (!c->rinst)
		return;
	routing_session_view(c, &sess);
	router_session_end(c->rinst, &sess);
	c->rinst = NULL;
	c->plugin_slot = NULL;
}

void routing_count_retry(Database *db, Backend *from)
{
	if (from)
		db->route_retries[from->index]++;
}
