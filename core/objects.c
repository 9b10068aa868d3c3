/*
 * objects.c - databases, users and pools; the state lists of clients and
 * servers; the janitor; reload, pause and shutdown.
 *
 * Invariant: a client or server is on exactly the list its state names
 * (see lagoon.h).  client_change_state()/server_change_state() are the only
 * code that moves them, and they die() on an impossible transition, so a
 * leak or a stuck connection shows up in SHOW counts instead of hiding.
 */
#include "autoconf.h"

#include "objects.h"
#include "client.h"
#include "server.h"
#include "admin.h"
#include "listen.h"
#include "log.h"
#include "monitor.h"
#include "routing.h"
#include "authq.h"
#include "dns.h"
#include "hba.h"
#include "tls.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

Runtime lg;

static Database *admin_database;

usec_t get_time_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (usec_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void backend_close_servers(Backend *be);

/* A backend host name now resolves to other addresses: its servers close
 * (idle ones now, busy ones when released) and new ones use the new
 * addresses. */
static void objects_dns_changed(const char *host)
{
	ListNode *n;

	list_for_each(n, &lg.databases) {
		Database *db = list_entry(n, Database, node);
		for (int i = 0; i < db->nbackends; i++)
			if (db->backends[i] && strcmp(db->backends[i]->host, host) == 0)
				backend_close_servers(db->backends[i]);
	}
}

void objects_init(void)
{
	list_init(&lg.databases);
	list_init(&lg.users);
	list_init(&lg.pools);
	list_init(&lg.login_clients);
	list_init(&lg.cancel_clients);
	list_init(&lg.justfree_clients);
	list_init(&lg.justfree_servers);
	list_init(&lg.activate_pools);
	for (int i = 0; i < CANCEL_HASH_SIZE; i++)
		list_init(&lg.cancel_hash[i]);
	lg.next_client_id = 1;
	lg.next_server_id = 1;
	dns_set_change_hook(objects_dns_changed);
	lg.now = lg.start_time = get_time_usec();
}

/* ---- state lists ------------------------------------------------------ */

static List *client_list(Client *c, ClientState st)
{
	switch (st) {
	case CL_LOGIN: return &lg.login_clients;
	case CL_CANCEL: return &lg.cancel_clients;
	case CL_JUSTFREE: return &lg.justfree_clients;
	case CL_WAITING_LOGIN: return &c->pool->login_wait_clients;
	case CL_WAITING: return &c->pool->waiting_clients;
	case CL_ACTIVE: return &c->pool->active_clients;
	case CL_FREE: return NULL;
	}
	return NULL;
}

void client_change_state(Client *c, ClientState st)
{
	List *from = client_list(c, c->state);
	List *to;

	if (c->state == CL_JUSTFREE && st != CL_FREE)
		die("client %llu: change from JUSTFREE to %d", (unsigned long long)c->id, st);
	if ((st == CL_WAITING_LOGIN || st == CL_WAITING || st == CL_ACTIVE) && !c->pool)
		die("client %llu: state %d without a pool", (unsigned long long)c->id, st);
	if (from)
		list_remove(from, &c->node);
	c->state = st;
	to = client_list(c, st);
	if (to)
		list_append(to, &c->node);
}

static List *server_list(Server *s, ServerState st)
{
	PoolBackend *pb = &s->pool->be[s->backend->index];

	switch (st) {
	case SV_LOGIN: return &pb->login_servers;
	case SV_IDLE: return &pb->idle_servers;
	case SV_ACTIVE: return &pb->active_servers;
	case SV_USED: return &pb->used_servers;
	case SV_TESTED: return &pb->tested_servers;
	case SV_JUSTFREE: return &lg.justfree_servers;
	case SV_FREE: return NULL;
	}
	return NULL;
}

void server_change_state(Server *s, ServerState st)
{
	List *from = server_list(s, s->state);
	List *to;

	if (s->state == SV_JUSTFREE && st != SV_FREE)
		die("server %llu: change from JUSTFREE to %d", (unsigned long long)s->id, st);
	if (from)
		list_remove(from, &s->node);
	s->state = st;
	to = server_list(s, st);
	if (!to)
		return;
	/* idle servers are reused LIFO unless server_round_robin */
	if (st == SV_IDLE && !lg.cfg->server_round_robin)
		list_prepend(to, &s->node);
	else
		list_append(to, &s->node);
}

/* ---- databases, users, pools ------------------------------------------ */

/* ---- backends ---------------------------------------------------------- */

static void backend_set_name(Backend *be)
{
	snprintf(be->name, sizeof(be->name), "%s:%d", be->host[0] ? be->host : "unix", be->port);
}

static Backend *backend_new(Database *db, int index, const DbHost *h)
{
	Backend *be = calloc(1, sizeof(*be));

	if (!be)
		return NULL;
	be->db = db;
	be->index = index;
	snprintf(be->host, sizeof(be->host), "%s", h->host);
	be->port = h->port;
	be->named_primary = h->named_primary;
	be->weight = h->weight;
	be->lag_ms = -1;
	backend_set_name(be);
	db->backends[index] = be;
	monitor_backend_added(be);
	return be;
}

static void backend_close_servers(Backend *be);

/* The host behind be changed (reload): start over with the new one. */
static void backend_reset(Backend *be, const DbHost *h)
{
	Database *db = be->db;

	backend_close_servers(be);
	if (!be->retired)
		monitor_backend_removed(be);
	snprintf(be->host, sizeof(be->host), "%s", h->host);
	be->port = h->port;
	backend_set_name(be);
	be->retired = false;
	be->role = BE_ROLE_UNKNOWN;
	be->health = BE_HEALTH_UNKNOWN;
	be->lsn = be->lag_bytes = 0;
	be->lag_ms = -1;
	be->sampled_at = 0;
	be->fail_streak = be->ok_streak = 0;
	if (db->primary == be && db->nbackends > 1) {
		db->primary = NULL;
		cluster_primary_changed(db, be);
	}
	monitor_backend_added(be);
}

/* be is no longer in the config: no new traffic, servers close on release. */
static void backend_retire(Backend *be)
{
	Database *db = be->db;

	backend_close_servers(be);
	monitor_backend_removed(be);
	be->retired = true;
	be->health = BE_HEALTH_DOWN;
	if (db->primary == be) {
		db->primary = NULL;
		cluster_primary_changed(db, be);
	}
}

static void backend_free(Backend *be)
{
	if (!be->retired)
		monitor_backend_removed(be);
	be->db->backends[be->index] = NULL;
	free(be);
}

/* Sync db->backends with the definition's host list (start and reload).
 * Backends whose host or port changed keep their index but start over:
 * their servers close when released.  Extra old ones are retired. */
static bool db_sync_backends(Database *db)
{
	int n = db->def.nhosts > 0 ? db->def.nhosts : 1;
	DbHost fallback;

	memset(&fallback, 0, sizeof(fallback));
	snprintf(fallback.host, sizeof(fallback.host), "%.127s", db->def.host);
	fallback.port = db->def.port > 0 ? db->def.port : 5432;
	fallback.weight = 1;
	for (int i = 0; i < n; i++) {
		const DbHost *h = db->def.nhosts > 0 ? &db->def.hosts[i] : &fallback;
		Backend *be = db->backends[i];
		if (!be) {
			if (!backend_new(db, i, h))
				return false;
			continue;
		}
		if (be->retired || strcmp(be->host, h->host) != 0 || be->port != h->port)
			backend_reset(be, h);
		be->named_primary = h->named_primary;
		be->weight = h->weight;
	}
	for (int i = n; i < db->nbackends; i++)
		if (db->backends[i] && !db->backends[i]->retired)
			backend_retire(db->backends[i]);
	if (n > db->nbackends)
		db->nbackends = n;
	if (n == 1 && db->backends[0] && !db->backends[0]->retired)
		db->primary = db->backends[0];
	return true;
}

static Database *db_new(const char *name, const DbDef *def)
{
	Database *db = calloc(1, sizeof(*db));

	if (!db)
		return NULL;
	snprintf(db->name, sizeof(db->name), "%s", name);
	if (def) {
		db->def = *def;
		db->def.connect_query = NULL;
		db->def.extra = NULL;
		db->def.next = NULL;
		db->def.file = NULL;
		if (def->connect_query)
			db->connect_query = strdup(def->connect_query);
	}
	db->last_used = lg.now;
	list_append(&lg.databases, &db->node);
	if (def && !db_sync_backends(db))
		return NULL;
	return db;
}

Database *admin_db(void)
{
	if (!admin_database) {
		admin_database = db_new("pgbouncer", NULL);
		if (!admin_database)
			die("out of memory");
		admin_database->admin = true;
		admin_database->def.pool_size = 2;
		admin_database->def.pool_mode = POOL_MODE_STATEMENT;
	}
	return admin_database;
}

static Database *db_find_live(const char *name)
{
	ListNode *n;

	list_for_each(n, &lg.databases) {
		Database *db = list_entry(n, Database, node);
		if (!db->dead && !db->admin && strcmp(db->name, name) == 0)
			return db;
	}
	return NULL;
}

Database *db_lookup(const char *name)
{
	Database *db;
	const DbDef *star;

	if (admin_is_admin_db(name))
		return admin_db();
	db = db_find_live(name);
	if (db)
		return db;
	star = config_find_db(lg.cfg, "*");
	if (!star)
		return NULL;
	db = db_new(name, star);
	if (!db)
		return NULL;
	db->autodb = true;
	snprintf(db->def.name, sizeof(db->def.name), "%s", name);
	if (!star->dbname[0])
		snprintf(db->def.dbname, sizeof(db->def.dbname), "%s", name);
	{
		char err[256];
		if (!routing_configure(db, lg.cfg, err, sizeof(err)))
			log_error("database %s: %s; routing everything to the primary", name, err);
	}
	return db;
}

User *user_get(const char *name)
{
	ListNode *n;
	User *u;

	list_for_each(n, &lg.users) {
		u = list_entry(n, User, node);
		if (strcmp(u->name, name) == 0)
			return u;
	}
	u = calloc(1, sizeof(*u));
	if (!u)
		return NULL;
	snprintf(u->name, sizeof(u->name), "%s", name);
	list_append(&lg.users, &u->node);
	return u;
}

Pool *pool_get(Database *db, User *user)
{
	ListNode *n;
	Pool *p;

	list_for_each(n, &lg.pools) {
		p = list_entry(n, Pool, node);
		if (p->db == db && p->user == user)
			return p;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->db = db;
	p->user = user;
	snprintf(p->login_user, sizeof(p->login_user), "%s",
	         db->def.user[0] ? db->def.user : user->name);
	list_init(&p->login_wait_clients);
	list_init(&p->waiting_clients);
	list_init(&p->active_clients);
	list_init(&p->authq_clients);
	for (int i = 0; i < CF_MAX_BACKENDS; i++) {
		PoolBackend *pb = &p->be[i];
		list_init(&pb->login_servers);
		list_init(&pb->idle_servers);
		list_init(&pb->active_servers);
		list_init(&pb->used_servers);
		list_init(&pb->tested_servers);
	}
	pkt_init(&p->welcome, NULL, 0);
	list_node_init(&p->activate_node);
	list_append(&lg.pools, &p->node);
	return p;
}

usec_t pool_maxwait(const Pool *p)
{
	const List *lists[2] = { &p->waiting_clients, &p->login_wait_clients };
	const ListNode *n;
	usec_t oldest = 0;

	for (int i = 0; i < 2; i++) {
		list_for_each(n, lists[i]) {
			const Client *c = list_entry(n, Client, node);
			if (c->wait_start > 0 && (oldest == 0 || c->wait_start < oldest))
				oldest = c->wait_start;
		}
	}
	if (oldest == 0 || lg.now <= oldest)
		return 0;
	return lg.now - oldest;
}

static const UserDef *pool_userdef(const Pool *p)
{
	return config_find_user(lg.cfg, p->user->name);
}

int pool_mode_of(const Pool *p)
{
	const UserDef *ud = pool_userdef(p);

	if (p->db->admin)
		return POOL_MODE_STATEMENT;
	if (ud && ud->pool_mode != POOL_MODE_UNSET)
		return ud->pool_mode;
	if (p->db->def.pool_mode != POOL_MODE_UNSET)
		return p->db->def.pool_mode;
	return lg.cfg->pool_mode;
}

int pool_size_of(const Pool *p)
{
	const UserDef *ud = pool_userdef(p);

	if (ud && ud->pool_size >= 0)
		return ud->pool_size;
	if (p->db->def.pool_size >= 0)
		return p->db->def.pool_size;
	return lg.cfg->default_pool_size;
}

int pool_reserve_of(const Pool *p)
{
	const UserDef *ud = pool_userdef(p);

	if (ud && ud->reserve_pool_size >= 0)
		return ud->reserve_pool_size;
	if (p->db->def.reserve_pool_size >= 0)
		return p->db->def.reserve_pool_size;
	return lg.cfg->reserve_pool_size;
}

int pool_min_size_of(const Pool *p)
{
	if (p->db->def.min_pool_size >= 0)
		return p->db->def.min_pool_size;
	return lg.cfg->min_pool_size;
}

int pool_backend_server_count(const Pool *p, int i)
{
	const PoolBackend *pb = &p->be[i];

	return pb->login_servers.count + pb->idle_servers.count + pb->active_servers.count +
		pb->used_servers.count + pb->tested_servers.count;
}

int pool_server_count(const Pool *p)
{
	int n = 0;

	for (int i = 0; i < p->db->nbackends; i++)
		n += pool_backend_server_count(p, i);
	return n;
}

int pool_state_count(const Pool *p, ServerState st)
{
	int n = 0;

	for (int i = 0; i < p->db->nbackends; i++) {
		const PoolBackend *pb = &p->be[i];
		n += st == SV_LOGIN ? pb->login_servers.count : st == SV_IDLE ? pb->idle_servers.count
			: st == SV_ACTIVE ? pb->active_servers.count : st == SV_USED ? pb->used_servers.count
			: st == SV_TESTED ? pb->tested_servers.count : 0;
	}
	return n;
}

Backend *db_write_backend(const Database *db)
{
	Backend *be = db->primary;

	if (!be || be->retired)
		return NULL;
	/* a single-host database behaves as before: always its one host */
	if (db->nbackends == 1 || be->health != BE_HEALTH_DOWN)
		return be;
	return NULL;
}

usec_t user_timeout_of(const Pool *p, int which)
{
	const UserDef *ud = pool_userdef(p);
	usec_t v = -1;

	if (ud)
		v = which == 0 ? ud->query_timeout : which == 1 ? ud->idle_transaction_timeout
			: ud->client_idle_timeout;
	if (v >= 0)
		return v;
	return which == 0 ? lg.cfg->query_timeout : which == 1 ? lg.cfg->idle_transaction_timeout
		: lg.cfg->client_idle_timeout;
}

/* ---- pool activation -------------------------------------------------- */

static bool pool_may_launch(Pool *p, Backend *be, bool use_reserve)
{
	int limit = pool_size_of(p) + (use_reserve ? pool_reserve_of(p) : 0);
	int maxdb = p->db->def.max_db_connections >= 0 ? p->db->def.max_db_connections
		: lg.cfg->max_db_connections;
	const UserDef *ud = pool_userdef(p);
	int maxuser = ud && ud->max_user_connections >= 0 ? ud->max_user_connections
		: lg.cfg->max_user_connections;
	PoolBackend *pb = &p->be[be->index];

	if (p->db->admin || p->db->dead || be->retired)
		return false;
	if (limit > 0 && pool_backend_server_count(p, be->index) >= limit)
		return false;
	if (maxdb > 0 && p->db->server_count >= maxdb)
		return false;
	if (maxuser > 0 && p->user->server_count >= maxuser)
		return false;
	if (pb->last_connect_failed && lg.now - pb->last_connect_failed < lg.cfg->server_login_retry)
		return false;
	return true;
}

/* a client waited longer than reserve_pool_timeout */
static bool pool_wants_reserve(Pool *p)
{
	ListNode *n = list_first(&p->waiting_clients);
	Client *c;

	if (!n || pool_reserve_of(p) <= 0)
		return false;
	c = list_entry(n, Client, node);
	return lg.now - c->wait_start >= lg.cfg->reserve_pool_timeout;
}

/* See objects.h: one rule for a client starting its transaction and for
 * one waiting in the queue. */
Backend *client_target_backend(Client *c)
{
	Backend *be = c->target;
	usec_t failed;

	if (c->route_parked)
		return NULL;   /* waiting for a replica to catch up, not for a server */
	if (!be)
		return db_write_backend(c->pool->db);
	failed = c->pool->be[be->index].last_connect_failed;
	if (be->retired || be->health != BE_HEALTH_UP ||
	    (failed && lg.now - failed < lg.cfg->server_login_retry)) {
		/* the replica chosen for this read is unusable; nothing was sent
		 * yet, so the primary serves it */
		c->target = NULL;
		return db_write_backend(c->pool->db);
	}
	return be;
}

/* Open connections where waiting clients need them. */
static void pool_launch_for_waiters(Pool *p, const int *demand)
{
	bool reserve = pool_wants_reserve(p);

	for (int i = 0; i < p->db->nbackends; i++) {
		PoolBackend *pb = &p->be[i];
		Backend *be = p->db->backends[i];
		/* connections being set up already count toward the demand */
		while (be && demand[i] > pb->login_servers.count + pb->used_servers.count &&
		       pool_may_launch(p, be, reserve)) {
			if (!server_launch(p, be))
				break;
		}
	}
}

/* The most demand worth counting for backend i: the servers being set up
 * or checked plus the room left under the pool size (with the reserve).
 * Counting beyond it launches nothing, so the queue walk can stop there. */
static int pool_demand_cap(const Pool *p, int i)
{
	const PoolBackend *pb = &p->be[i];
	int limit = pool_size_of(p) + pool_reserve_of(p);
	int room = limit - pool_backend_server_count(p, i);

	if (limit <= 0)
		return INT_MAX;
	return pb->login_servers.count + pb->used_servers.count + (room > 0 ? room : 0);
}

/* Backend i can take no more from this walk: no idle server to link and
 * its demand is already all that could be launched. */
static bool pool_backend_saturated(const Pool *p, int i, const int *demand, const int *cap)
{
	return list_empty(&p->be[i].idle_servers) && demand[i] >= cap[i];
}

/* Link waiting clients (FIFO) to idle servers of the backend each one
 * wants; count what is still missing per backend.  The walk ends once
 * every backend is saturated, so a long queue behind a busy pool costs
 * O(pool size) per call, not O(waiting clients). */
static void pool_link_waiters(Pool *p, int *demand)
{
	int cap[CF_MAX_BACKENDS];
	bool full[CF_MAX_BACKENDS];
	int open = 0;
	ListNode *n, *t;

	for (int i = 0; i < p->db->nbackends; i++) {
		cap[i] = pool_demand_cap(p, i);
		full[i] = !p->db->backends[i] || pool_backend_saturated(p, i, demand, cap);
		open += !full[i];
	}
	list_for_each_safe(n, t, &p->waiting_clients) {
		Client *c;
		Backend *be;
		PoolBackend *pb;
		ListNode *sn;
		int i;

		if (open == 0)
			break;
		c = list_entry(n, Client, node);
		if (!(be = client_target_backend(c)) || full[i = be->index])
			continue;
		pb = &p->be[i];
		if ((sn = list_first(&pb->idle_servers))) {
			client_link(c, list_entry(sn, Server, node));
		} else {
			/* used servers need their check query first */
			if ((sn = list_first(&pb->used_servers)))
				server_check(list_entry(sn, Server, node));
			demand[i]++;
		}
		if (pool_backend_saturated(p, i, demand, cap)) {
			full[i] = true;
			open--;
		}
	}
}

void pool_activate(Pool *p)
{
	int demand[CF_MAX_BACKENDS] = { 0 };

	if (p->db->admin)
		return;
	if (!lagoon_is_paused(p->db))
		pool_link_waiters(p, demand);
	if (!p->welcome_ok && !list_empty(&p->login_wait_clients)) {
		/* the welcome needs one login: to the primary, else any live host */
		Backend *be = db_write_backend(p->db);
		for (int i = 0; !be && i < p->db->nbackends; i++)
			if (p->db->backends[i] && p->db->backends[i]->health == BE_HEALTH_UP)
				be = p->db->backends[i];
		if (be && demand[be->index] == 0)
			demand[be->index] = 1;
	}
	authq_pump(p, demand);
	pool_launch_for_waiters(p, demand);
}

void pool_activate_later(Pool *p)
{
	if (p->activate_pending)
		return;
	p->activate_pending = true;
	list_append(&lg.activate_pools, &p->activate_node);
}

void objects_run_deferred(void)
{
	ListNode *n;

	while ((n = list_pop(&lg.activate_pools))) {
		Pool *p = list_entry(n, Pool, activate_node);
		p->activate_pending = false;
		pool_activate(p);
	}
}

/* ---- cancel keys ------------------------------------------------------ */

static List *cancel_bucket(uint32_t pid, uint32_t key)
{
	return &lg.cancel_hash[(pid ^ (key * 2654435761u)) % CANCEL_HASH_SIZE];
}

void cancel_register(Client *c)
{
	list_append(cancel_bucket(c->cancel_pid, c->cancel_key), &c->cancel_node);
}

void cancel_unregister(Client *c)
{
	if (list_node_linked(&c->cancel_node))
		list_remove(cancel_bucket(c->cancel_pid, c->cancel_key), &c->cancel_node);
}

Client *cancel_lookup(uint32_t pid, uint32_t key)
{
	List *b = cancel_bucket(pid, key);
	ListNode *n;

	list_for_each(n, b) {
		Client *c = list_entry(n, Client, cancel_node);
		if (c->cancel_pid == pid && c->cancel_key == key)
			return c;
	}
	return NULL;
}

/* ---- freeing ---------------------------------------------------------- */

static void pool_free(Pool *p)
{
	if (p->activate_pending)
		list_remove(&lg.activate_pools, &p->activate_node);
	list_remove(&lg.pools, &p->node);
	pkt_free(&p->welcome);
	varcache_clear(&p->server_params);
	free(p);
}

static void db_free(Database *db)
{
	ListNode *n, *t;

	list_for_each_safe(n, t, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		if (p->db == db)
			pool_free(p);
	}
	for (int i = 0; i < db->nbackends; i++)
		if (db->backends[i])
			backend_free(db->backends[i]);
	monitor_db_removed(db);
	routing_db_free(db);
	list_remove(&lg.databases, &db->node);
	free(db->connect_query);
	free(db);
}

void objects_reap(void)
{
	ListNode *n;

	while ((n = list_first(&lg.justfree_clients))) {
		Client *c = list_entry(n, Client, node);
		client_change_state(c, CL_FREE);
		client_free(c);
	}
	while ((n = list_first(&lg.justfree_servers))) {
		Server *s = list_entry(n, Server, node);
		server_change_state(s, SV_FREE);
		varcache_clear(&s->vars);
		free(s->scram);
		free(s->authq_secret);
		free(s);
	}
}

/* ---- janitor ---------------------------------------------------------- */

static void janitor_clients(Pool *p)
{
	ListNode *n, *t;
	usec_t qwt = lg.cfg->query_wait_timeout;
	usec_t idle = user_timeout_of(p, 2);
	usec_t qt = user_timeout_of(p, 0);
	usec_t itt = user_timeout_of(p, 1);

	list_for_each_safe(n, t, &p->waiting_clients) {
		Client *c = list_entry(n, Client, node);
		if (p->db->dead)
			client_fatal(c, "08P01", "database \"%s\" was removed from the configuration", p->db->name);
		else if (qwt > 0 && lg.now - c->wait_start > qwt)
			client_fatal(c, "08P01", "query_wait_timeout");
	}
	list_for_each_safe(n, t, &p->login_wait_clients) {
		Client *c = list_entry(n, Client, node);
		if (qwt > 0 && lg.now - c->connect_time > qwt)
			client_fatal(c, "08P01", "query_wait_timeout");
	}
	list_for_each_safe(n, t, &p->active_clients) {
		Client *c = list_entry(n, Client, node);
		Server *s = c->link;
		if (!s) {
			if (p->db->dead)
				client_fatal(c, "08P01", "database \"%s\" was removed from the configuration",
				             p->db->name);
			else if (idle > 0 && lg.now - c->request_time > idle)
				client_fatal(c, "08P01", "client_idle_timeout");
		} else if (s->pending_rfq > 0) {
			if (qt > 0 && lg.now - c->query_start > qt)
				client_fatal(c, "57014", "query_timeout");
		} else if (s->tx_status != 'I') {
			if (itt > 0 && lg.now - s->request_time > itt)
				client_fatal(c, "25P03", "idle_transaction_timeout");
		}
	}
}

static void janitor_backend_servers(Pool *p, PoolBackend *pb)
{
	ListNode *n, *t;
	const Config *cf = lg.cfg;

	list_for_each_safe(n, t, &pb->login_servers) {
		Server *s = list_entry(n, Server, node);
		if (cf->server_connect_timeout > 0 && lg.now - s->connect_time > cf->server_connect_timeout)
			server_close(s, "server_connect_timeout");
	}
	list_for_each_safe(n, t, &pb->idle_servers) {
		Server *s = list_entry(n, Server, node);
		if (s->close_needed || p->db->dead)
			server_close(s, "database configuration changed");
		else if (cf->server_lifetime > 0 && lg.now - s->connect_time > cf->server_lifetime)
			server_close(s, "server lifetime over");
		else if (cf->server_idle_timeout > 0 && lg.now - s->request_time > cf->server_idle_timeout &&
		         pool_server_count(p) > pool_min_size_of(p))
			server_close(s, "server idle timeout");
		else if (cf->server_check_delay >= 0 && lg.now - s->request_time > cf->server_check_delay)
			server_change_state(s, SV_USED);
	}
}

static void janitor_servers(Pool *p)
{
	for (int i = 0; i < p->db->nbackends; i++)
		janitor_backend_servers(p, &p->be[i]);
}

static void janitor_min_pool(Pool *p)
{
	int min = pool_min_size_of(p);
	Backend *be = db_write_backend(p->db);

	if (min <= 0 || !be || p->db->admin || p->db->dead || lagoon_is_paused(p->db))
		return;
	/* only for pools with a forced user or with clients, as PgBouncer does */
	if (!p->db->def.user[0] && p->active_clients.count == 0)
		return;
	while (pool_backend_server_count(p, be->index) < min && pool_may_launch(p, be, false))
		if (!server_launch(p, be))
			break;
}

static void janitor_logins(void)
{
	ListNode *n, *t;
	usec_t tmo = lg.cfg->client_login_timeout;

	list_for_each_safe(n, t, &lg.login_clients) {
		Client *c = list_entry(n, Client, node);
		if (tmo > 0 && lg.now - c->connect_time > tmo)
			client_fatal(c, "08P01", "client_login_timeout");
	}
}

static void janitor_free_dead(void)
{
	ListNode *n, *t;

	list_for_each_safe(n, t, &lg.databases) {
		Database *db = list_entry(n, Database, node);
		ListNode *pn;
		bool busy = false;
		if (!db->dead)
			continue;
		list_for_each(pn, &lg.pools) {
			Pool *p = list_entry(pn, Pool, node);
			if (p->db == db && (pool_server_count(p) || p->active_clients.count ||
			                    p->waiting_clients.count || p->login_wait_clients.count ||
			                    p->authq_clients.count))
				busy = true;
		}
		if (!busy)
			db_free(db);
	}
}

/* Paused databases give up the servers released since (PAUSE, SIGUSR1,
 * KILL, SHUTDOWN WAIT_FOR_SERVERS). */
static void janitor_paused(void)
{
	ListNode *n;

	if (lg.paused || lg.shutdown == SHUTDOWN_WAIT_SERVERS) {
		(void)lagoon_pause_done(NULL);
		return;
	}
	list_for_each(n, &lg.databases) {
		Database *db = list_entry(n, Database, node);
		if (db->paused)
			(void)lagoon_pause_done(db);
	}
}

void janitor_run(void)
{
	ListNode *n, *t;

	lg.now = get_time_usec();
	janitor_logins();
	list_for_each_safe(n, t, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		janitor_clients(p);
		janitor_servers(p);
		janitor_min_pool(p);
		pool_activate(p);
	}
	janitor_free_dead();
	janitor_paused();
	stats_refresh();
	/* (each turn: RELOAD and admin SET both change these) */
	dns_set_ttls(lg.cfg->dns_max_ttl, lg.cfg->dns_nxdomain_ttl, lg.cfg->dns_zone_check_period);
	dns_janitor();
	if (lg.shutdown == SHUTDOWN_WAIT_CLIENTS || lg.shutdown == SHUTDOWN_WAIT_SERVERS) {
		bool any = false;
		list_for_each(n, &lg.pools) {
			Pool *p = list_entry(n, Pool, node);
			if (p->db->admin)
				continue;
			if (lg.shutdown == SHUTDOWN_WAIT_CLIENTS &&
			    (p->active_clients.count || p->waiting_clients.count))
				any = true;
			if (lg.shutdown == SHUTDOWN_WAIT_SERVERS && pool_state_count(p, SV_ACTIVE))
				any = true;
		}
		if (!any) {
			log_info("shutdown: no more %s, exiting",
			         lg.shutdown == SHUTDOWN_WAIT_CLIENTS ? "clients" : "active servers");
			event_base_loopbreak(lg.base);
		}
	}
}

/* ---- config apply / reload ------------------------------------------- */

/* Did a change of the definition make existing server connections stale? */
static bool dbdef_conn_changed(const DbDef *a, const DbDef *b)
{
	return strcmp(a->dbname, b->dbname) ||
		strcmp(a->user, b->user) || strcmp(a->password, b->password) ||
		strcmp(a->client_encoding, b->client_encoding) || strcmp(a->datestyle, b->datestyle) ||
		strcmp(a->timezone, b->timezone) || strcmp(a->application_name, b->application_name);
}

/* Servers of one backend, in every pool of its database: idle ones close
 * now, the others when released. */
static void backend_close_servers(Backend *be)
{
	ListNode *n, *sn, *st;

	list_for_each(n, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		PoolBackend *pb;
		if (p->db != be->db)
			continue;
		pb = &p->be[be->index];
		list_for_each(sn, &pb->active_servers)
			list_entry(sn, Server, node)->close_needed = true;
		list_for_each(sn, &pb->tested_servers)
			list_entry(sn, Server, node)->close_needed = true;
		list_for_each(sn, &pb->login_servers)
			list_entry(sn, Server, node)->close_needed = true;
		list_for_each_safe(sn, st, &pb->idle_servers)
			server_close(list_entry(sn, Server, node), "backend changed or went down");
		list_for_each_safe(sn, st, &pb->used_servers)
			server_close(list_entry(sn, Server, node), "backend changed or went down");
	}
}

static void db_mark_servers(Database *db)
{
	ListNode *n;

	list_for_each(n, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		if (p->db != db)
			continue;
		p->welcome_ok = false;
		pkt_reset(&p->welcome);
	}
	for (int i = 0; i < db->nbackends; i++)
		if (db->backends[i])
			backend_close_servers(db->backends[i]);
}

static void db_activate_pools(Database *db)
{
	ListNode *n;

	list_for_each(n, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		if (p->db == db)
			pool_activate_later(p);
	}
}

void cluster_primary_changed(Database *db, Backend *old)
{
	if (old && old != db->primary)
		backend_close_servers(old);
	db->primary_changes++;
	db_activate_pools(db);
}

void cluster_health_changed(Backend *be, BackendHealth old)
{
	(void)old;
	if (be->health == BE_HEALTH_DOWN && be->db->nbackends > 1)
		backend_close_servers(be);
	db_activate_pools(be->db);
}

bool objects_apply_config(const Config *cfg, char *err, size_t errlen)
{
	ListNode *n;
	const DbDef *d;

	list_for_each(n, &lg.databases) {
		Database *db = list_entry(n, Database, node);
		if (!db->admin)
			db->dead = true;
	}
	for (d = cfg->databases; d; d = d->next) {
		Database *db = NULL;
		if (strcmp(d->name, "*") == 0)
			continue;
		list_for_each(n, &lg.databases) {
			Database *x = list_entry(n, Database, node);
			if (!x->admin && strcmp(x->name, d->name) == 0 && !x->autodb)
				db = x;
		}
		if (!db) {
			db = db_new(d->name, d);
			if (!db)
				return snprintf(err, errlen, "out of memory"), false;
			if (!routing_configure(db, cfg, err, errlen))
				return false;
			continue;
		}
		db->dead = false;
		if (dbdef_conn_changed(&db->def, d))
			db_mark_servers(db);
		db->def = *d;
		db->def.connect_query = NULL;
		db->def.extra = NULL;
		db->def.next = NULL;
		db->def.file = NULL;
		free(db->connect_query);
		db->connect_query = d->connect_query ? strdup(d->connect_query) : NULL;
		if (!db_sync_backends(db))
			return snprintf(err, errlen, "out of memory"), false;
		if (!routing_configure(db, cfg, err, errlen))
			return false;
	}
	/* autodbs survive while the "*" entry exists */
	list_for_each(n, &lg.databases) {
		Database *db = list_entry(n, Database, node);
		if (db->autodb && config_find_db(cfg, "*"))
			db->dead = false;
	}
	/* dead databases: idle servers close now, busy ones on release */
	list_for_each(n, &lg.databases) {
		Database *db = list_entry(n, Database, node);
		if (db->dead)
			db_mark_servers(db);
	}
	return true;
}

bool objects_load_hba(const Config *cfg, struct Hba **out, char *err, size_t errlen)
{
	*out = NULL;
	if (cfg->auth_type != AUTH_TYPE_HBA)
		return true;
	if (!cfg->auth_hba_file || !cfg->auth_hba_file[0]) {
		snprintf(err, errlen, "auth_type = hba needs auth_hba_file");
		return false;
	}
	return hba_load(cfg->auth_hba_file, out, err, errlen);
}

/* Every server connection: idle ones close now, the others on release
 * (server TLS settings changed). */
static void objects_close_all_servers(void)
{
	ListNode *n;

	list_for_each(n, &lg.databases) {
		Database *db = list_entry(n, Database, node);
		for (int i = 0; i < db->nbackends; i++)
			if (db->backends[i])
				backend_close_servers(db->backends[i]);
	}
}

bool lagoon_reload(char *err, size_t errlen)
{
	Config *ncfg = NULL;
	AuthFile *naf = NULL;
	Hba *nhba = NULL;
	Config *old = lg.cfg;
	char lerr[512];

	if (!config_load(lg.config_path, &ncfg, err, errlen)) {
		log_error("reload failed, keeping the old configuration: %s", err);
		return false;
	}
	if (ncfg->auth_file && !authfile_load(ncfg->auth_file, &naf, err, errlen)) {
		log_error("reload failed, keeping the old configuration: %s", err);
		config_free(ncfg);
		return false;
	}
	if (!objects_load_hba(ncfg, &nhba, err, errlen)) {
		log_error("reload failed, keeping the old configuration: %s", err);
		authfile_free(naf);
		config_free(ncfg);
		return false;
	}
	if (!log_setup(ncfg->logfile, ncfg->syslog, ncfg->syslog_ident, ncfg->syslog_facility,
	               ncfg->verbose > old->verbose ? ncfg->verbose : old->verbose, lg.quiet, lerr, sizeof(lerr)))
		log_warning("reload: %s", lerr);
	/* settings that cannot change without a restart keep their old values */
	ncfg->listen_port = old->listen_port;
	ncfg->listen_backlog = old->listen_backlog;
	ncfg->pkt_buf = old->pkt_buf;
	ncfg->unix_socket_mode = old->unix_socket_mode;
	ncfg->so_reuseport = old->so_reuseport;
	free(ncfg->listen_addr);
	ncfg->listen_addr = old->listen_addr ? strdup(old->listen_addr) : NULL;
	free(ncfg->unix_socket_dir);
	ncfg->unix_socket_dir = old->unix_socket_dir ? strdup(old->unix_socket_dir) : NULL;
	/* new certificates for new connections; encrypted ones keep theirs */
	if (!tls_setup(ncfg, err, errlen)) {
		log_error("reload failed, keeping the old configuration: %s", err);
		config_free(ncfg);
		authfile_free(naf);
		hba_free(nhba);
		return false;
	}
	lg.cfg = ncfg;
	if (!objects_apply_config(ncfg, err, errlen)) {
		lg.cfg = old;
		if (!tls_setup(old, lerr, sizeof(lerr)))
			log_error("reload: restoring the old TLS settings failed: %s", lerr);
		config_free(ncfg);
		authfile_free(naf);
		hba_free(nhba);
		return false;
	}
	if (tls_server_settings_differ(old, ncfg))
		objects_close_all_servers();
	sbuf_set_params((uint32_t)ncfg->pkt_buf, ncfg->sbuf_loopcnt, (uint32_t)ncfg->max_packet_size);
	authfile_free(lg.authfile);
	lg.authfile = naf;
	hba_free(lg.hba);
	lg.hba = nhba;
	authq_cache_clear();
	config_free(old);
	log_info("configuration reloaded from %s", lg.config_path);
	return true;
}

/* ---- operations ------------------------------------------------------- */

bool lagoon_is_paused(const Database *db)
{
	return lg.paused || lg.suspended || (db && db->paused) || lg.shutdown == SHUTDOWN_WAIT_SERVERS;
}

static void close_idle_servers(Database *db)
{
	ListNode *n, *sn, *st;

	list_for_each(n, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		if (db && p->db != db)
			continue;
		for (int i = 0; i < p->db->nbackends; i++) {
			list_for_each_safe(sn, st, &p->be[i].idle_servers)
				server_close(list_entry(sn, Server, node), "pause");
			list_for_each_safe(sn, st, &p->be[i].used_servers)
				server_close(list_entry(sn, Server, node), "pause");
		}
	}
}

void lagoon_pause(Database *db)
{
	if (db)
		db->paused = true;
	else
		lg.paused = true;
	close_idle_servers(db);
	log_info("pause %s", db ? db->name : "all databases");
}

/* Servers of db's pools (NULL: of every database), all states. */
static int db_server_total(const Database *db)
{
	const ListNode *n;
	int count = 0;

	list_for_each(n, &lg.pools) {
		const Pool *p = list_entry(n, Pool, node);
		if (!db || p->db == db)
			count += pool_server_count(p);
	}
	return count;
}

bool lagoon_pause_done(Database *db)
{
	close_idle_servers(db);
	return db_server_total(db) == 0;
}

void objects_each_socket(bool admin_too, ObjectsVisit fn, void *arg)
{
	ListNode *n, *m, *t;

	list_for_each_safe(m, t, &lg.login_clients)
		fn(list_entry(m, Client, node), NULL, arg);
	list_for_each(n, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		List *cl[3] = { &p->active_clients, &p->waiting_clients, &p->login_wait_clients };
		for (int i = 0; i < 3 && (admin_too || !p->db->admin); i++)
			list_for_each_safe(m, t, cl[i])
				fn(list_entry(m, Client, node), NULL, arg);
		for (int b = 0; b < p->db->nbackends; b++) {
			PoolBackend *pb = &p->be[b];
			List *sl[5] = { &pb->active_servers, &pb->idle_servers, &pb->used_servers,
			                &pb->tested_servers, &pb->login_servers };
			for (int i = 0; i < 5; i++)
				list_for_each_safe(m, t, sl[i])
					fn(NULL, list_entry(m, Server, node), arg);
		}
	}
}

static void suspend_one(Client *c, Server *s, void *arg)
{
	sbuf_suspend(c ? &c->sbuf : &s->sbuf, *(bool *)arg);
}

/* Every non-admin client and every server, suspended or resumed. */
static void suspend_sockets(bool on)
{
	objects_each_socket(false, suspend_one, &on);
}

void lagoon_suspend(void)
{
	lg.suspended = true;
	listen_suspend(true);
	suspend_sockets(true);
	log_info("suspend: no socket is read until RESUME");
}

bool lagoon_suspend_flushed(void)
{
	const ListNode *n, *m;

	list_for_each(n, &lg.pools) {
		const Pool *p = list_entry(n, Pool, node);
		const List *cl[2] = { &p->active_clients, &p->waiting_clients };
		if (p->db->admin)
			continue;
		for (int i = 0; i < 2; i++)
			list_for_each(m, cl[i])
				if (sbuf_output_pending(&list_entry(m, Client, node)->sbuf))
					return false;
		for (int b = 0; b < p->db->nbackends; b++)
			list_for_each(m, &p->be[b].active_servers)
				if (sbuf_output_pending(&list_entry(m, Server, node)->sbuf))
					return false;
	}
	return true;
}

void lagoon_resume(Database *db)
{
	ListNode *n;

	if (!db && lg.suspended) {
		lg.suspended = false;
		listen_suspend(false);
		suspend_sockets(false);
	}
	if (db)
		db->paused = false;
	else {
		lg.paused = false;
		list_for_each(n, &lg.databases)
			list_entry(n, Database, node)->paused = false;
	}
	log_info("resume %s", db ? db->name : "all databases");
	list_for_each(n, &lg.pools)
		pool_activate(list_entry(n, Pool, node));
}

void lagoon_reconnect(Database *db)
{
	ListNode *n;

	list_for_each(n, &lg.databases) {
		Database *x = list_entry(n, Database, node);
		if (!x->admin && (!db || db == x))
			db_mark_servers(x);
	}
	close_idle_servers(db);
}

void lagoon_kill_db(Database *db)
{
	ListNode *n, *cn, *ct;

	list_for_each(n, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		if (p->db != db)
			continue;
		list_for_each_safe(cn, ct, &p->active_clients)
			client_fatal(list_entry(cn, Client, node), "08P01", "database killed by admin");
		list_for_each_safe(cn, ct, &p->waiting_clients)
			client_fatal(list_entry(cn, Client, node), "08P01", "database killed by admin");
		list_for_each_safe(cn, ct, &p->login_wait_clients)
			client_fatal(list_entry(cn, Client, node), "08P01", "database killed by admin");
	}
	db->paused = true;
	lagoon_reconnect(db);
	list_for_each(n, &lg.pools) {
		Pool *p = list_entry(n, Pool, node);
		if (p->db != db)
			continue;
		for (int i = 0; i < db->nbackends; i++) {
			while ((cn = list_first(&p->be[i].login_servers)))
				server_close(list_entry(cn, Server, node), "database killed by admin");
			while ((cn = list_first(&p->be[i].tested_servers)))
				server_close(list_entry(cn, Server, node), "database killed by admin");
		}
	}
}

void lagoon_shutdown(ShutdownMode mode)
{
	lg.shutdown = mode;
	log_info("shutdown requested (%s)", mode == SHUTDOWN_IMMEDIATE ? "immediate" :
	         mode == SHUTDOWN_WAIT_CLIENTS ? "wait for clients" : "wait for servers");
	if (mode == SHUTDOWN_IMMEDIATE) {
		event_base_loopbreak(lg.base);
		return;
	}
	listen_stop_tcp();
	if (mode == SHUTDOWN_WAIT_SERVERS)
		close_idle_servers(NULL);
}
