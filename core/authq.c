/*
 * authq.c - auth_user + auth_query: secrets of users not in auth_file.
 *
 * The query runs on an idle server connection of the auth pool
 * (auth_dbname or the client's database, logged in as auth_user), in a
 * transaction whose search_path is pinned to pg_catalog, pg_temp (see
 * server_authq_start), with the user name as the only parameter $1.
 * While it runs the clients that asked wait on pool->authq_clients; all
 * clients asking for the same user share one run.  Every answer is cached
 * for auth_query_cache_ttl: a found secret, and "not found" too, so that a
 * second attempt takes the same time whether the user exists or not (a
 * cache of found users only would tell them apart by the missing query).
 * A failed query is not cached.  "Not found" looks to the client exactly
 * like a wrong password.
 *
 * The cache is a plain list: entries are few (one per distinct user that
 * logged in through auth_query recently) and expire by themselves.
 */
#include "autoconf.h"

#include "authq.h"
#include "client.h"
#include "server.h"
#include "objects.h"
#include "log.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AQ_CACHE_MAX 10000

typedef struct AqEntry {
	ListNode node;
	char key[3 * CF_NAME_MAX + 2];  /* authdb \x01 authuser \x01 user */
	char *secret;                   /* malloc'd; NULL = the user was not found */
	usec_t expires;
} AqEntry;

static List aq_cache = { { &aq_cache.head, &aq_cache.head }, 0 };
static uint64_t aq_runs;

static void aq_entry_free(AqEntry *e)
{
	list_remove(&aq_cache, &e->node);
	if (e->secret)
		OPENSSL_cleanse(e->secret, strlen(e->secret));
	free(e->secret);
	free(e);
}

static void aq_key(char *key, size_t len, const Pool *p, const char *user)
{
	snprintf(key, len, "%s\x01%s\x01%s", p->db->name, p->user->name, user);
}

static AqEntry *aq_cache_get(const Pool *p, const char *user)
{
	char key[3 * CF_NAME_MAX + 2];
	ListNode *n, *t;

	aq_key(key, sizeof(key), p, user);
	list_for_each_safe(n, t, &aq_cache) {
		AqEntry *e = list_entry(n, AqEntry, node);
		if (e->expires <= lg.now) {
			aq_entry_free(e);
			continue;
		}
		if (strcmp(e->key, key) == 0)
			return e;
	}
	return NULL;
}

static void aq_cache_put(const Pool *p, const char *user, const char *secret)
{
	AqEntry *e;
	ListNode *n;

	if (lg.cfg->auth_query_cache_ttl <= 0)
		return;
	if (aq_cache_get(p, user))
		return;
	if (aq_cache.count >= AQ_CACHE_MAX && (n = list_first(&aq_cache)))
		aq_entry_free(list_entry(n, AqEntry, node));
	e = calloc(1, sizeof(*e));
	if (!e || (secret && !(e->secret = strdup(secret)))) {
		free(e);
		return;
	}
	aq_key(e->key, sizeof(e->key), p, user);
	e->expires = lg.now + lg.cfg->auth_query_cache_ttl;
	list_append(&aq_cache, &e->node);
}

void authq_cache_clear(void)
{
	ListNode *n;

	while ((n = list_first(&aq_cache)))
		aq_entry_free(list_entry(n, AqEntry, node));
}

int authq_cache_count(void)
{
	return aq_cache.count;
}

uint64_t authq_queries_run(void)
{
	return aq_runs;
}

/* auth_user and the database to run in for c: per database, else global. */
static const char *aq_auth_user(const Client *c)
{
	if (c->db && c->db->def.auth_user[0])
		return c->db->def.auth_user;
	return lg.cfg->auth_user && lg.cfg->auth_user[0] ? lg.cfg->auth_user : NULL;
}

static const char *aq_dbname(const Client *c)
{
	if (c->db && c->db->def.auth_dbname[0])
		return c->db->def.auth_dbname;
	if (lg.cfg->auth_dbname && lg.cfg->auth_dbname[0])
		return lg.cfg->auth_dbname;
	return c->db && !c->db->admin ? c->dbname : NULL;
}

bool authq_wanted(const Client *c)
{
	return aq_auth_user(c) != NULL && aq_dbname(c) != NULL;
}

static Pool *aq_pool(const Client *c)
{
	const char *dbname = aq_dbname(c), *au = aq_auth_user(c);
	Database *db = dbname ? db_lookup(dbname) : NULL;
	User *u;

	if (!db || db->admin || db->dead || !au)
		return NULL;
	u = user_get(au);
	return u ? pool_get(db, u) : NULL;
}

void authq_start(Client *c)
{
	Pool *p = aq_pool(c);
	AqEntry *e;
	ListNode *n;

	if (!p) {
		clog_msg(LOG_LVL_WARNING, c, "auth_query: no database \"%s\" to run it in",
		         aq_dbname(c) ? aq_dbname(c) : "");
		client_auth_with_secret(c, NULL);
		return;
	}
	e = aq_cache_get(p, c->username);
	if (e) {
		client_auth_with_secret(c, e->secret);
		return;
	}
	c->authq_pool = p;
	c->authq_running = false;
	list_for_each(n, &p->authq_clients) {
		Client *o = list_entry(n, Client, authq_node);
		if (o->authq_running && strcmp(o->username, c->username) == 0)
			c->authq_running = true;   /* join the run in flight */
	}
	list_append(&p->authq_clients, &c->authq_node);
	pool_activate_later(p);
}

void authq_client_gone(Client *c)
{
	if (!c->authq_pool)
		return;
	list_remove(&c->authq_pool->authq_clients, &c->authq_node);
	c->authq_pool = NULL;
	c->authq_running = false;
}

void authq_pump(Pool *p, int *demand)
{
	Backend *be = db_write_backend(p->db);

	while (be) {
		Client *c = NULL;
		ListNode *n, *sn;
		list_for_each(n, &p->authq_clients) {
			Client *o = list_entry(n, Client, authq_node);
			if (!o->authq_running) {
				c = o;
				break;
			}
		}
		if (!c)
			return;
		sn = list_first(&p->be[be->index].idle_servers);
		if (!sn) {
			demand[be->index]++;
			return;
		}
		list_for_each(n, &p->authq_clients) {
			Client *o = list_entry(n, Client, authq_node);
			if (strcmp(o->username, c->username) == 0)
				o->authq_running = true;
		}
		aq_runs++;
		/* (a failure to send ends the run at once: authq_done) */
		server_authq_start(list_entry(sn, Server, node), c->username);
	}
}

void authq_done(Pool *p, const char *user, bool answered, const char *secret)
{
	ListNode *n, *t;

	if (answered)
		aq_cache_put(p, user, secret);
	list_for_each_safe(n, t, &p->authq_clients) {
		Client *c = list_entry(n, Client, authq_node);
		if (strcmp(c->username, user) != 0 || !c->authq_running)
			continue;
		authq_client_gone(c);
		client_auth_with_secret(c, secret);
	}
	pool_activate_later(p);
}

void authq_pool_failed(Pool *p)
{
	ListNode *n, *t;

	list_for_each_safe(n, t, &p->authq_clients) {
		Client *c = list_entry(n, Client, authq_node);
		if (c->authq_running)
			continue;
		clog_msg(LOG_LVL_WARNING, c, "auth_query: cannot log in to the server as %s: %s",
		         p->user->name, p->last_login_error);
		authq_client_gone(c);
		client_auth_with_secret(c, NULL);
	}
}
