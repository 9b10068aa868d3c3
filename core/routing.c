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
 *
 * Waiting (POOLER_WAIT, ABI 1.1): the client is parked in CL_WAITING with
 * no server and its first message unread (client_target_backend() gives
 * the pool no backend for it), asks the monitor for fresh replica
 * positions, and is resumed - its message routed again, with
 * txn.waited_ms set - at each replica answer and at its deadline, after
 * which it runs on the primary without asking.
 *
 * Shared read-your-writes (ryw_scope user or key): each database keeps a
 * table key -> (LSN, primary epoch, time, pending count).  A write's LSN
 * fetch marks its key pending before the client can have seen the commit
 * (the fetch starts in the same event that flushed its ReadyForQuery), so
 * a read under the key on another connection goes to the primary until
 * the LSN is in; then every session under the key sees the max of its own
 * LSN and the key's.  Memory is bounded: entries expire ryw_key_ttl after
 * their last write and the table holds at most ryw_keys_max of them (the
 * oldest go first); what is forgotten is folded into a per-table floor
 * LSN that every keyed read still honours, so forgetting is never unsafe.
 */
#include "autoconf.h"

#include "routing.h"
#include "classify.h"
#include "objects.h"
#include "log.h"
#include "monitor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/event.h>

#define RYW_BUCKETS 16384               /* hash chains of a key table (power of 2) */
#define RYW_PENDING_MAX (10 * 1000000LL) /* a pending mark older than this is ignored */

typedef struct RywTable RywTable;

typedef struct RywKey {
	ListNode age;                 /* RywTable.age: least recently written first */
	struct RywKey *next;          /* hash chain */
	uint64_t lsn;                 /* >= the end of the key's last write's commit; 0 = none */
	uint64_t epoch;               /* db->primary_changes when lsn was learned */
	usec_t at;                    /* when it was learned (or the entry made) */
	int pending;                  /* LSN fetches of commits under this key in flight */
	usec_t pending_at;            /* when the latest of them started */
	uint32_t hash;
	char key[72];
} RywKey;

struct RywTable {
	RywKey *bucket[RYW_BUCKETS];
	List age;                     /* RywKey.age, oldest first */
	uint64_t floor_lsn;           /* max LSN of the entries forgotten */
	uint64_t floor_epoch;
	usec_t floor_at;
};

static const char *const scope_names[] = { "connection", "user", "key", NULL };

/* ---- configuration ---------------------------------------------------- */

bool routing_configure(Database *db, const Config *cfg, char *err, size_t errlen)
{
	const char *name = db->def.router[0] ? db->def.router : (cfg->router ? cfg->router : "none");
	const char *opts = db->def.router_options;
	router_instance *inst = NULL;

	const char *scope = db->def.ryw_scope[0] ? db->def.ryw_scope
		: (cfg->ryw_scope ? cfg->ryw_scope : "connection");
	int k;

	if (db->admin)
		return true;
	for (k = 0; scope_names[k] && strcmp(scope_names[k], scope) != 0; k++)
		;
	if (!scope_names[k]) {
		snprintf(err, errlen, "database %s: ryw_scope \"%s\" is not connection, user or key",
		         db->name, scope);
		return false;
	}
	db->ryw_scope = k;
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

/* A write's LSN known to the session (its own, its key's): the view keeps
 * the highest of the current primary's. */
static void routing_view_take(const Database *db, pooler_session *s, uint64_t lsn,
                              uint64_t epoch, usec_t at)
{
	if (!lsn)
		return;
	if (epoch == db->primary_changes) {
		if (lsn > s->last_commit_lsn) {
			s->last_commit_lsn = lsn;
			s->last_commit_ns = (uint64_t)at * 1000;
		}
	} else if (lg.now - at < lg.cfg->ryw_void_timeout) {
		/* the primary changed since this write: its LSN means nothing on
		 * the new timeline; read from the primary for a while */
		s->flags |= POOLER_SESS_LSN_PENDING;
	}
}

static RywKey *routing_key_find(RywTable *t, const char *key, uint32_t *hash_out);

/* The current transaction's key adds the key's LSN (and the table's
 * floor).  true if the key's LSN is being fetched (pending for a round
 * trip, worth waiting for). */
static bool routing_key_view(Client *c, pooler_session *s)
{
	const Database *db = c->pool->db;
	RywTable *t = db->ryw_keys;
	RywKey *e;

	if (!c->txn_key || !c->txn_key[0] || !t)
		return false;
	e = routing_key_find(t, c->txn_key, NULL);
	if (e && e->pending > 0 && lg.now - e->pending_at < RYW_PENDING_MAX) {
		s->flags |= POOLER_SESS_LSN_PENDING;
		return true;
	}
	if (e)
		routing_view_take(db, s, e->lsn, e->epoch, e->at);
	routing_view_take(db, s, t->floor_lsn, t->floor_epoch, t->floor_at);
	return false;
}

/* The plugin's view of c's session.  Returns true if its LSN is pending
 * only because a write under its key is fetching it (soon known); false
 * if it is not pending, or pending because the primary changed. */
static bool routing_session_view(Client *c, pooler_session *s)
{
	bool key_pending;

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
	routing_view_take(c->pool->db, s, c->last_commit_lsn, c->lsn_epoch, c->last_commit_time);
	if (s->flags & POOLER_SESS_LSN_PENDING)
		return false;
	key_pending = routing_key_view(c, s);
	return key_pending;
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

/* Fill the plugin's view of the transaction from a classification
 * (cr NULL: nothing classifiable, the transaction is not read-only). */
static void routing_fill_txn(const ClassifyResult *cr, const char *text, uint32_t tlen, bool extended,
                             pooler_txn *t, char *kw, RouteDecision *out)
{
	if (!cr)
		return;
	out->read_only = cr->kind == CLS_READ && cr->nstatements > 0 && !(cr->flags & CLS_F_HINT_PRIMARY) &&
		!(cr->flags & CLS_F_TXN_END);
	out->explicit_block = (cr->flags & CLS_F_TXN_BEGIN) != 0;
	for (size_t i = 0; cr->keyword[i] && i < CLASSIFY_KEYWORD_MAX - 1; i++)
		kw[i] = (char)(cr->keyword[i] - 'a' + 'A');
	t->keyword = kw;
	t->keyword_len = (uint32_t)strlen(kw);
	t->text = text;
	t->text_len = tlen;
	t->flags = (out->read_only ? POOLER_TXN_READ_ONLY : 0) |
		(out->explicit_block ? POOLER_TXN_EXPLICIT : 0) |
		(extended ? POOLER_TXN_EXTENDED : 0) | (cr->nstatements > 1 ? POOLER_TXN_MULTI : 0);
	t->hints = (cr->flags & CLS_F_HINT_PRIMARY ? POOLER_HINT_PRIMARY : 0) |
		(cr->flags & CLS_F_HINT_REPLICA ? POOLER_HINT_REPLICA : 0);
	if (!out->read_only)
		snprintf(out->detail, sizeof(out->detail), "%s", cr->reason);
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

static void routing_clear_txn_key(Client *c)
{
	if (c->txn_key)
		c->txn_key[0] = '\0';
}

/* c->txn_key = prefix and klen bytes of key.  Its buffer is made for the
 * client's first keyed transaction; out of memory, the transaction has
 * no key (routed as if read-your-writes were off for it). */
static void routing_set_txn_key(Client *c, const char *prefix, const char *key, int klen)
{
	if (!c->txn_key && !(c->txn_key = malloc(CLIENT_TXN_KEY_MAX))) {
		log_error("routing: out of memory for a read-your-writes key");
		return;
	}
	snprintf(c->txn_key, CLIENT_TXN_KEY_MAX, "%s%.*s", prefix, klen, key);
}

/* The current transaction's read-your-writes key (c->txn_key) by the
 * database's scope; cr = its first statement's classification. */
static void routing_txn_key(Client *c, const ClassifyResult *cr)
{
	switch (c->pool->db->ryw_scope) {
	case RYW_SCOPE_USER:
		routing_set_txn_key(c, "u:", c->username, (int)strlen(c->username));
		break;
	case RYW_SCOPE_KEY:
		if (cr->ryw_key)
			routing_set_txn_key(c, "k:", cr->ryw_key, (int)cr->ryw_key_len);
		else if (c->ryw_key[0])
			routing_set_txn_key(c, "k:", c->ryw_key, (int)strlen(c->ryw_key));
		else
			routing_clear_txn_key(c);
		break;
	default:
		routing_clear_txn_key(c);
		break;
	}
}

/* Count a decision (SHOW ROUTING, metrics): per backend and reason, with
 * what it meant for a session that had written. */
static void routing_count(Client *c, const RouteDecision *out, const pooler_session *sess,
                          bool timed_out)
{
	Database *db = c->pool->db;
	const Backend *be = out->backend ? out->backend : db_write_backend(db);
	struct RouteRywStats *st;

	if (!be)
		return;
	db->route_counts[be->index][out->reason]++;
	st = &db->ryw_stats[be->index][out->reason];
	if (c->route_wait_start)
		st->waited++;
	if (timed_out)
		st->wait_timeouts++;
	if (!out->read_only || !(sess->last_commit_lsn || (sess->flags & POOLER_SESS_LSN_PENDING)))
		return;
	st->ryw_reads++;
	if (out->backend)
		return;
	if (sess->flags & POOLER_SESS_LSN_PENDING)
		st->ryw_pending++;
	else
		st->ryw_behind++;
}

void routing_decide_classified(Client *c, const ClassifyResult *cr, const char *text, uint32_t tlen,
                               bool extended, RouteDecision *out)
{
	Database *db = c->pool->db;
	pooler_backend cand[CF_MAX_BACKENDS];
	char kw[CLASSIFY_KEYWORD_MAX] = "";
	ClassifyResult none;
	pooler_txn txn;
	pooler_session sess;
	router_result res;
	bool timed_out = false, soon;
	int n, idx = -1;

	if (!c->route_wait_start)
		c->txn_count++;
	routing_clear_txn_key(c);
	/* in session mode the first transaction's server serves the whole
	 * session, writes included: everything stays on the primary */
	if (db->nbackends <= 1 || !db->router || pool_mode_of(c->pool) == POOL_MODE_SESSION) {
		out->read_only = false;
		out->reason = db->router ? ROUTER_R_WRITE : ROUTER_R_OFF;
		c->route_wait_start = 0;
		return;
	}
	routing_sync_instance(c);
	router_txn_init(&txn);
	memset(&none, 0, sizeof(none));
	routing_fill_txn(cr, text, tlen, extended, &txn, kw, out);
	routing_txn_key(c, cr ? cr : &none);
	soon = routing_session_view(c, &sess);
	n = routing_candidates(c, cand);
	if (c->route_wait_start) {
		usec_t waited = lg.now - c->route_wait_start;
		txn.waited_ms = waited > 0 ? (uint32_t)(waited / 1000) : 0;
	}
	memset(&res, 0, sizeof(res));
	res.index = -1;
	if (c->route_wait_start && lg.now >= c->route_wait_deadline) {
		/* the wait budget is spent: the primary, without asking again */
		res.reason = ROUTER_R_PRIMARY;
		snprintf(res.detail, sizeof(res.detail), "wait budget spent");
		timed_out = true;
	} else if ((sess.flags & POOLER_SESS_LSN_PENDING) && !soon && out->read_only) {
		/* voided by a primary change: nothing to wait for */
		res.reason = ROUTER_R_WRITE;
		snprintf(res.detail, sizeof(res.detail), "commit LSN pending");
	} else {
		idx = router_route(db->router, &txn, &sess, cand, n, &res);
	}
	out->reason = res.reason;
	snprintf(out->detail, sizeof(out->detail), "%s", res.detail);
	if (res.reason == ROUTER_R_WAIT && out->read_only) {
		if (!c->route_wait_start) {
			c->route_wait_start = lg.now;
			c->route_wait_deadline = lg.now + (usec_t)res.wait_ms * 1000;
		}
		out->wait = true;
		return;
	}
	if (res.reason == ROUTER_R_WAIT)
		out->reason = ROUTER_R_OVERRULED;   /* cannot happen: route() sees only reads */
	if (idx >= 0 && idx < n && out->read_only)
		out->backend = db->backends[cand[idx].id];
	routing_count(c, out, &sess, timed_out);
	c->route_wait_start = 0;
}

void routing_decide(Client *c, uint8_t type, const uint8_t *body, uint32_t len, RouteDecision *out)
{
	ClassifyResult cr;
	uint32_t tlen = 0;
	const char *text = (type == 'Q' || type == 'P') && body ? routing_text(type, body, len, &tlen) : NULL;

	memset(out, 0, sizeof(*out));
	if (!text) {
		snprintf(out->detail, sizeof(out->detail), "%s", type == 'Q' || type == 'P' ?
		         "statement too long to classify" : "not a Query or Parse");
		routing_decide_classified(c, NULL, NULL, 0, false, out);
		return;
	}
	/* only when routing is on: the lexer costs nothing otherwise */
	if (c->pool->db->nbackends > 1 && c->pool->db->router &&
	    pool_mode_of(c->pool) != POOL_MODE_SESSION)
		classify_sql(text, tlen, &cr);
	else
		memset(&cr, 0, sizeof(cr));
	routing_decide_classified(c, &cr, text, tlen, type == 'P', out);
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

/* ---- waiting for a replica (POOLER_WAIT) ------------------------------- */

/* Resume a parked client: its first message is routed again. */
static void routing_wake(Client *c)
{
	if (!c->route_parked)
		return;
	c->route_parked = false;
	c->pool->db->route_parked--;
	if (c->route_timer)
		evtimer_del(c->route_timer);
	if (c->wait_start) {
		c->pool->stat_wait_time_us += (uint64_t)(lg.now - c->wait_start);
		c->wait_start = 0;
	}
	client_change_state(c, CL_ACTIVE);
	sbuf_continue(&c->sbuf);
}

static void routing_wait_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	lg.now = get_time_usec();
	routing_wake(arg);
}

void routing_park(Client *c)
{
	Database *db = c->pool->db;
	usec_t left = c->route_wait_deadline > lg.now ? c->route_wait_deadline - lg.now : 0;
	struct timeval tv = { (time_t)(left / 1000000), (suseconds_t)(left % 1000000) };

	c->decided = false;
	c->route_parked = true;
	db->route_parked++;
	if (!c->wait_start)
		c->wait_start = lg.now;
	client_change_state(c, CL_WAITING);
	if (!c->route_timer)
		c->route_timer = evtimer_new(lg.base, routing_wait_timer_cb, c);
	if (!c->route_timer || evtimer_add(c->route_timer, &tv) != 0) {
		/* cannot time the wait: do not wait at all */
		log_error("routing: cannot arm a wait timer; the read goes to the primary");
		c->route_wait_deadline = lg.now;
		routing_wake(c);
		return;
	}
	monitor_want_positions(db);
}

void routing_unpark(Client *c)
{
	if (c->route_parked && c->pool) {
		c->route_parked = false;
		c->pool->db->route_parked--;
	}
	c->route_wait_start = 0;
	if (c->route_timer) {
		event_free(c->route_timer);
		c->route_timer = NULL;
	}
}

void cluster_positions_changed(Database *db)
{
	ListNode *n, *m, *t;

	list_for_each(n, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		if (p->db != db)
			continue;
		/* waking moves c to active_clients; the rest of the list stays */
		list_for_each_safe(m, t, &p->waiting_clients) {
			Client *c = list_entry(m, Client, node);
			if (c->route_parked)
				routing_wake(c);
		}
	}
}

/* ---- shared read-your-writes keys ---------------------------------------- */

bool routing_valid_key(const char *key)
{
	size_t n = 0;

	for (; key[n]; n++) {
		char ch = key[n];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '_' || ch == '.' || ch == ':' || ch == '@' || ch == '-'))
			return false;
	}
	return n >= 1 && n <= CLASSIFY_RYW_KEY_MAX;
}

static uint32_t routing_key_hash(const char *key)
{
	uint32_t h = 2166136261u;   /* FNV-1a */

	for (; *key; key++)
		h = (h ^ (uint8_t)*key) * 16777619u;
	return h;
}

static RywKey *routing_key_find(RywTable *t, const char *key, uint32_t *hash_out)
{
	uint32_t h = routing_key_hash(key);
	RywKey *e;

	if (hash_out)
		*hash_out = h;
	for (e = t->bucket[h & (RYW_BUCKETS - 1)]; e; e = e->next)
		if (e->hash == h && strcmp(e->key, key) == 0)
			return e;
	return NULL;
}

/* Forget e; its LSN goes into the floor every keyed read honours. */
static void routing_key_forget(RywTable *t, RywKey *e)
{
	RywKey **pp = &t->bucket[e->hash & (RYW_BUCKETS - 1)];

	if (e->lsn && (e->epoch > t->floor_epoch || (e->epoch == t->floor_epoch && e->lsn > t->floor_lsn))) {
		t->floor_lsn = e->lsn;
		t->floor_epoch = e->epoch;
		t->floor_at = e->at;
	}
	while (*pp != e)
		pp = &(*pp)->next;
	*pp = e->next;
	list_remove(&t->age, &e->age);
	free(e);
}

/* Expire old entries and keep the table within ryw_keys_max (a pending
 * entry is never dropped: it stops the sweep). */
static void routing_key_sweep(RywTable *t)
{
	ListNode *n;

	while ((n = list_first(&t->age))) {
		RywKey *e = list_entry(n, RywKey, age);
		if (e->pending > 0 && lg.now - e->pending_at < RYW_PENDING_MAX)
			break;
		if (lg.now - e->at <= lg.cfg->ryw_key_ttl && t->age.count <= lg.cfg->ryw_keys_max)
			break;
		routing_key_forget(t, e);
	}
}

/* The entry of key in db, made if missing; NULL when out of memory. */
static RywKey *routing_key_get(Database *db, const char *key)
{
	RywTable *t = db->ryw_keys;
	uint32_t h;
	RywKey *e;

	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t)
			return NULL;
		list_init(&t->age);
		db->ryw_keys = t;
	}
	routing_key_sweep(t);
	e = routing_key_find(t, key, &h);
	if (e) {
		list_remove(&t->age, &e->age);
		list_append(&t->age, &e->age);
		return e;
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->hash = h;
	e->at = lg.now;
	snprintf(e->key, sizeof(e->key), "%s", key);
	e->next = t->bucket[h & (RYW_BUCKETS - 1)];
	t->bucket[h & (RYW_BUCKETS - 1)] = e;
	list_append(&t->age, &e->age);
	return e;
}

void routing_key_fetch_start(Server *s, const char *key)
{
	RywKey *e;

	s->fetched_lsn = 0;
	s->lsn_key[0] = '\0';
	if (!key || !key[0])
		return;
	e = routing_key_get(s->pool->db, key);
	if (!e) {
		log_error("routing: out of memory for read-your-writes key %s", key);
		return;
	}
	snprintf(s->lsn_key, sizeof(s->lsn_key), "%s", key);
	e->pending++;
	e->pending_at = lg.now;
}

void routing_key_fetch_done(Server *s)
{
	Database *db = s->pool->db;
	RywKey *e;

	if (!s->lsn_key[0])
		return;
	e = db->ryw_keys ? routing_key_find(db->ryw_keys, s->lsn_key, NULL) : NULL;
	s->lsn_key[0] = '\0';
	if (!e)
		return;
	if (e->pending > 0)
		e->pending--;
	if (s->fetched_lsn) {
		if (e->epoch != db->primary_changes || s->fetched_lsn > e->lsn)
			e->lsn = s->fetched_lsn;
		e->epoch = db->primary_changes;
		e->at = lg.now;
	}
	/* reads parked on this key's pending LSN may go now */
	if (db->route_parked > 0)
		cluster_positions_changed(db);
}

void routing_db_free(Database *db)
{
	RywTable *t = db->ryw_keys;
	ListNode *n;

	if (!t)
		return;
	while ((n = list_pop(&t->age)))
		free(list_entry(n, RywKey, age));
	free(t);
	db->ryw_keys = NULL;
}
