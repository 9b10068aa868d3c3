/*
 * routing.h - the core's side of routing: at the start of every
 * transaction, classify its first statement, show the database's routing
 * plugin the transaction, the session and every backend, and turn the
 * plugin's answer into a backend.  Safety is enforced here and in
 * router.c: writes, hint-forced and unclassifiable transactions run on the
 * primary whatever a plugin says.
 */
#ifndef LAGOON_ROUTING_H
#define LAGOON_ROUTING_H

#include "lagoon.h"
#include "router.h"
#include "classify.h"

/* Longest first message the core reads whole to classify it; a longer
 * Query or Parse runs on the primary. */
#define ROUTING_CLASSIFY_MAX (64 * 1024)

/* Who shares a session's read-your-writes (Database.ryw_scope): */
typedef enum RoutingScope {
	RYW_SCOPE_CONNECTION = 0, /* each client connection alone (the default) */
	RYW_SCOPE_USER,           /* every connection of the same user (per database) */
	RYW_SCOPE_KEY,            /* connections giving the same key: the hint
	                           * lagoon:ryw_key=K in a transaction's first
	                           * statement, else the startup parameter
	                           * lagoon.ryw_key; neither = the connection alone */
} RoutingScope;

typedef struct RouteDecision {
	Backend *backend;         /* a replica to run on; NULL = the primary */
	bool wait;                /* POOLER_WAIT: park with routing_park(), decide later */
	router_reason reason;
	bool read_only;           /* classified read-only eligible */
	bool explicit_block;      /* BEGIN ... READ ONLY */
	char detail[POOLER_REASON_LEN];
} RouteDecision;

/* (Re)load db's router from its config (db line's router=, else the global
 * router; "none" = no plugin).  false with err on a plugin load failure:
 * the database keeps its previous router. */
bool routing_configure(Database *db, const Config *cfg, char *err, size_t errlen);

/* Decide where the transaction that starts with message (type, body) runs.
 * body/len: the message body (after the 5-byte header), complete. */
void routing_decide(Client *c, uint8_t type, const uint8_t *body, uint32_t len, RouteDecision *out);
/* The same from a classification made earlier (a prepared statement's,
 * stored at Parse time); cr NULL = not classifiable (the primary).  out
 * must be zeroed by the caller (its detail may be preset). */
void routing_decide_classified(Client *c, const ClassifyResult *cr, const char *text, uint32_t tlen,
                               bool extended, RouteDecision *out);

/* Tell the plugin the transaction of c ended on be (sqlstate "" = ok). */
void routing_txn_end(Client *c, Backend *be, const char *sqlstate);
/* The session of c ends: the plugin frees its slot. */
void routing_session_end(Client *c);
/* Count a transparent retry (SHOW ROUTING). */
void routing_count_retry(Database *db, Backend *from);

/* The plugin answered POOLER_WAIT (d.wait): park c in CL_WAITING without a
 * server, its first message unread.  It is resumed (CL_ACTIVE, the message
 * routed again) when the monitor posts replica positions or its budget is
 * spent, whichever comes first. */
void routing_park(Client *c);
/* c is closing: forget its park and free its timer. */
void routing_unpark(Client *c);

/* A lagoon.ryw_key value: 1..63 bytes of [A-Za-z0-9_.:@-]. */
bool routing_valid_key(const char *key);
/* The LSN query after a write starts on s / ended (answer in
 * s->fetched_lsn, 0 if none; also called when s closes during it): the
 * transaction's key, if any, is pending meanwhile, so that reads under it
 * go to the primary until its LSN is known. */
void routing_key_fetch_start(Server *s, const char *key);
void routing_key_fetch_done(Server *s);
/* db is being freed. */
void routing_db_free(Database *db);

#endif
