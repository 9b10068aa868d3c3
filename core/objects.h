/*
 * objects.h - databases, users, pools and the state lists of clients and
 * servers; the janitor that applies timeouts; reload.
 */
#ifndef LAGOON_OBJECTS_H
#define LAGOON_OBJECTS_H

#include "lagoon.h"

void objects_init(void);

/* The only way a client or server changes state (and list). */
void client_change_state(Client *c, ClientState st);
void server_change_state(Server *s, ServerState st);

/* Databases: lookup by client-facing name; the "*" entry creates autodbs.
 * Returns NULL for an unknown name. */
Database *db_lookup(const char *name);
Database *admin_db(void);
User *user_get(const char *name);            /* find or create; NULL on OOM */
Pool *pool_get(Database *db, User *user);    /* find or create; NULL on OOM */

/* How long the longest-waiting client of p has waited (SHOW POOLS maxwait). */
usec_t pool_maxwait(const Pool *p);

/* Effective settings of a pool (db line, [users] line, global). */
int pool_mode_of(const Pool *p);
int pool_size_of(const Pool *p);
int pool_reserve_of(const Pool *p);
int pool_min_size_of(const Pool *p);
int pool_server_count(const Pool *p);        /* all states, all backends */
int pool_backend_server_count(const Pool *p, int backend_index);
int pool_state_count(const Pool *p, ServerState st); /* all backends */
/* Where c's transaction runs now: its chosen replica, or the primary when
 * it has none or the replica became unusable (c->target is then reset:
 * nothing was sent yet); NULL = no primary known, wait. */
Backend *client_target_backend(Client *c);
/* Where a write goes now: the primary, or NULL (none known / down: wait). */
Backend *db_write_backend(const Database *db);
usec_t user_timeout_of(const Pool *p, int which); /* 0 query, 1 idle xact, 2 client idle */

/* Give idle servers to waiting clients and open connections as needed. */
void pool_activate(Pool *p);
/* The same, after the current event: safe while callers walk lists. */
void pool_activate_later(Pool *p);
/* Run the deferred activations (main loop, once per turn). */
void objects_run_deferred(void);

/* Config: build databases from cfg at start; on reload mark changed/removed
 * ones (servers close when released). */
bool objects_apply_config(const Config *cfg, char *err, size_t errlen);
/* The auth_hba_file when auth_type = hba (*out NULL otherwise); false
 * with "FILE:LINE: ..." in err when it cannot be used. */
bool objects_load_hba(const Config *cfg, struct Hba **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Periodic maintenance (timeouts, lifetimes, min_pool_size). */
void janitor_run(void);

/* Free what was closed during the last loop turn. */
void objects_reap(void);

/* Cancel key registry. */
void cancel_register(Client *c);
void cancel_unregister(Client *c);
Client *cancel_lookup(uint32_t pid, uint32_t key);

/* Call fn for every client (logging in too; the admin console's only with
 * admin_too) and every server: (c, NULL) or (NULL, s).  fn must not
 * free other objects than the one it is given. */
typedef void (*ObjectsVisit)(Client *c, Server *s, void *arg);
void objects_each_socket(bool admin_too, ObjectsVisit fn, void *arg);

/* Operations (admin console, signals). */
bool lagoon_reload(char *err, size_t errlen);
void lagoon_shutdown(ShutdownMode mode);
void lagoon_pause(Database *db);             /* NULL = all */
void lagoon_resume(Database *db);            /* also ends SUSPEND when db is NULL */
/* PAUSE's progress: close db's idle servers (NULL = all databases); true
 * once none of its servers is left. */
bool lagoon_pause_done(Database *db);
/* SUSPEND: stop accepting and stop reading every socket but the admin
 * console's; RESUME ends it. */
void lagoon_suspend(void);
/* true when no client or server has bytes read but not yet written. */
bool lagoon_suspend_flushed(void);
bool lagoon_is_paused(const Database *db);
void lagoon_kill_db(Database *db);           /* close all clients and servers */
void lagoon_reconnect(Database *db);         /* mark servers close_needed; NULL = all */

#endif
