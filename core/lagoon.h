/*
 * lagoon.h - the object model shared by the core modules.
 *
 * Ownership and lists.  The one global, `lg` (struct Runtime), owns every
 * database, user, pool, client and server.  Each client and server sits on
 * exactly one state list at any time, chosen by its state field, and moves
 * only through client_change_state() / server_change_state(); so the
 * length of a list *is* the count of objects in that state, and the SHOW
 * commands add up.
 *
 *   client states      list
 *   CL_LOGIN           lg.login_clients   (startup + authentication)
 *   CL_WAITING_LOGIN   pool->login_wait_clients (authenticated, pool has no
 *                                         server parameters to welcome it yet)
 *   CL_WAITING         pool->waiting_clients   (needs a server, none free)
 *   CL_ACTIVE          pool->active_clients    (linked to a server or idle)
 *   CL_CANCEL          lg.cancel_clients  (carries a CancelRequest)
 *   CL_JUSTFREE        lg.justfree_clients (closed; freed after the loop turn)
 *
 *   server states      list
 *   SV_LOGIN           pool->be[i].login_servers  (connect, startup, auth)
 *   SV_IDLE            pool->be[i].idle_servers   (ready for a client)
 *   SV_ACTIVE          pool->be[i].active_servers (linked to a client)
 *   SV_USED            pool->be[i].used_servers   (needs check/reset before reuse)
 *   SV_TESTED          pool->be[i].tested_servers (running reset/check query)
 *   (i = the server's backend->index: each backend has its own set)
 *   SV_JUSTFREE        lg.justfree_servers
 *
 * Closing is deferred: *_close() unlinks, closes the socket and moves the
 * object to a JUSTFREE list; the main loop frees those after the current
 * event, so nothing on the call stack is freed under its caller.
 */
#ifndef LAGOON_LAGOON_H
#define LAGOON_LAGOON_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include <event2/event.h>

#include "list.h"
#include "config.h"
#include "auth.h"
#include "proto.h"
#include "sbuf.h"
#include "varcache.h"
#include "router.h"
#include "stats.h"
#include "dns.h"

#define LAGOON_VERSION_STR PACKAGE_NAME " " PACKAGE_VERSION

typedef struct Database Database;
typedef struct Backend Backend;
typedef struct User User;
typedef struct Pool Pool;
typedef struct Client Client;
typedef struct Server Server;

typedef enum ClientState {
	CL_FREE = 0,
	CL_LOGIN,
	CL_WAITING_LOGIN,
	CL_WAITING,
	CL_ACTIVE,
	CL_CANCEL,
	CL_JUSTFREE,
} ClientState;

typedef enum ServerState {
	SV_FREE = 0,
	SV_LOGIN,
	SV_IDLE,
	SV_ACTIVE,
	SV_USED,
	SV_TESTED,
	SV_JUSTFREE,
} ServerState;

typedef enum BackendRole {
	BE_ROLE_UNKNOWN = 0,
	BE_ROLE_PRIMARY,
	BE_ROLE_REPLICA,
} BackendRole;

typedef enum BackendHealth {
	BE_HEALTH_UNKNOWN = 0,        /* not probed yet */
	BE_HEALTH_UP,
	BE_HEALTH_DOWN,
} BackendHealth;

struct MonitorBackend;            /* the monitor's private probe state */
struct MonitorDb;

/* One host of a database's replication cluster.  Owned by its Database;
 * the monitor (monitor.c) writes the role/health/position fields between
 * events, everyone else reads them. */
struct Backend {
	Database *db;
	int index;                    /* position in db->backends[] */
	char host[128];               /* name, address or Unix socket dir ("" = default) */
	int port;
	bool named_primary;           /* configured with primary= (a hint only) */
	bool retired;                 /* removed from the config: unused, not probed */
	char name[160];               /* "host:port" ("unix:port" for the default socket) */
	int weight;                   /* routing weight from weights= (1 by default) */

	BackendRole role;             /* discovered by the monitor */
	BackendHealth health;
	uint64_t lsn;                 /* primary: normalised WAL insert LSN; replica: replay LSN */
	uint64_t lag_bytes;           /* replica: primary position - replay position */
	int64_t lag_ms;               /* replica: how long ago the primary was here; -1 = unknown */
	usec_t sampled_at;            /* monotonic time of the last good probe; 0 = never */
	int fail_streak;              /* consecutive failed probes / connects */
	int ok_streak;                /* consecutive good probes */
	uint64_t probes, probe_failures;
	char last_error[160];         /* last probe or connect error */

	int server_count;             /* server connections to it, all pools */
	uint64_t xact_routed;         /* transactions that ran here */
	struct MonitorBackend *mon;   /* owned by monitor.c */
};

/* Client-facing database: one [databases] entry (or the admin console). */
struct Database {
	ListNode node;                /* lg.databases */
	char name[CF_NAME_MAX];
	DbDef def;                    /* copy of the config line (pointers cleared) */
	char *connect_query;          /* owned */
	bool admin;                   /* the virtual "pgbouncer"/"lagoon" database */
	bool autodb;                  /* created from the "*" entry */
	bool dead;                    /* removed by a reload: closes when empty */
	bool paused;                  /* PAUSE: new transactions wait */
	bool disabled;                /* DISABLE: new clients refused */
	int server_count;             /* for max_db_connections */
	int client_count;
	usec_t last_used;             /* autodb expiry */

	Backend *backends[CF_MAX_BACKENDS]; /* owned; [0..nbackends) */
	int nbackends;
	Backend *primary;             /* where writes go now; NULL = none known (wait) */
	bool split_brain;             /* more than one backend claims to be primary */
	uint64_t primary_changes;     /* times the primary moved */
	struct MonitorDb *mon;        /* owned by monitor.c */

	router_instance *router;      /* routing plugin instance, NULL = none (owned) */
	char router_name[64];         /* what it was loaded as ("none" when NULL) */
	char router_options[256];
	/* SHOW ROUTING: decisions per (backend index, router_reason); retries per backend */
	uint64_t route_counts[CF_MAX_BACKENDS][ROUTER_R_COUNT];
	uint64_t route_retries[CF_MAX_BACKENDS];
	StatsHist hist[STATS_H_COUNT];  /* latency histograms (stats.h) */
	/* SHOW ROUTING's appended columns, per (backend index, router_reason) */
	struct RouteRywStats {
		uint64_t ryw_reads;       /* reads of sessions that had written (needed an LSN) */
		uint64_t ryw_pending;     /* ... sent to the primary: that LSN was not known yet */
		uint64_t ryw_behind;      /* ... sent to the primary: no replica had replayed it */
		uint64_t waited;          /* transactions parked by POOLER_WAIT first */
		uint64_t wait_timeouts;   /* ... whose wait budget ran out (then the primary) */
	} ryw_stats[CF_MAX_BACKENDS][ROUTER_R_COUNT];
	int route_parked;             /* clients parked by POOLER_WAIT (routing.c) */
	int ryw_scope;                /* RoutingScope (routing.h) */
	struct RywTable *ryw_keys;    /* shared read-your-writes by key (routing.c), or NULL */
};

/* A user name lagoon has seen (auth_file entry, forced user, or client). */
struct User {
	ListNode node;                /* lg.users */
	char name[CF_NAME_MAX];
	int server_count;             /* for max_user_connections */
	int client_count;
	/* SCRAM pass-through: keys learned from a client's successful SCRAM
	 * exchange against this user's stored SCRAM secret */
	bool scram_keys_ok;
	uint8_t scram_client_key[SCRAM_KEY_LEN];
	uint8_t scram_server_key[SCRAM_KEY_LEN];
	/* the secret auth_query returned at this user's last successful
	 * login (malloc'd, NULL = none): lagoon logs in to servers with it */
	char *dyn_secret;
};

/* The server connections of one pool to one backend, by state. */
typedef struct PoolBackend {
	List login_servers;           /* SV_LOGIN */
	List idle_servers;            /* SV_IDLE */
	List active_servers;          /* SV_ACTIVE */
	List used_servers;            /* SV_USED */
	List tested_servers;          /* SV_TESTED */
	usec_t last_connect_failed;   /* for server_login_retry; 0 = none */
	uint64_t xact_count;          /* transactions run on this backend */
} PoolBackend;

/* Clients and server connections for one (database, user).  Clients
 * belong to the pool; servers to one of its per-backend sets. */
struct Pool {
	ListNode node;                /* lg.pools */
	Database *db;
	User *user;                   /* client-facing user */
	char login_user[CF_NAME_MAX]; /* user lagoon logs in to the server as */
	char login_password[CF_PASSWORD_MAX]; /* its secret ("" = none) */

	List login_wait_clients;      /* CL_WAITING_LOGIN */
	List waiting_clients;         /* CL_WAITING */
	List active_clients;          /* CL_ACTIVE */

	PoolBackend be[CF_MAX_BACKENDS]; /* server connections per backend (index = Backend.index) */

	/* ParameterStatus set from the first server login: sent to every
	 * client in its welcome.  welcome_ok = have one. */
	bool welcome_ok;
	PktBuf welcome;               /* ready-made 'S' messages (heap) */
	VarCache server_params;       /* the same values, for varcache_apply */

	char last_login_error[256];   /* sent to waiting clients on failure */
	char last_login_sqlstate[6];  /* the server's SQLSTATE for it, or "08006" */
	bool dirty;                   /* config changed: servers close on release */
	bool activate_pending;        /* on lg.activate_pools */
	ListNode activate_node;
	List authq_clients;           /* clients waiting for an auth_query run on this pool
	                               * (Client.authq_node; they stay CL_LOGIN) */

	/* stats (totals since start) */
	uint64_t stat_xact_count, stat_query_count;
	uint64_t stat_bytes_in, stat_bytes_out;
	uint64_t stat_xact_time_us, stat_query_time_us, stat_wait_time_us;
	uint64_t stat_assign_count;
	StatsTotals stat_newer, stat_older; /* the last two stats_period snapshots */
	uint64_t stat_client_parse, stat_server_parse, stat_bind; /* named statements (prepare.c) */
};

typedef enum AuthStep {
	AUTH_STEP_NONE = 0,
	AUTH_STEP_PASSWORD,           /* waiting for a cleartext 'p' */
	AUTH_STEP_MD5,                /* waiting for an md5 'p' */
	AUTH_STEP_SCRAM_FIRST,        /* waiting for SASLInitialResponse */
	AUTH_STEP_SCRAM_FINAL,        /* waiting for SASLResponse */
	AUTH_STEP_QUERY,              /* waiting for auth_query to find the secret */
} AuthStep;

/* Login-time state of a client (client.c): allocated at accept, freed
 * when the client is welcomed, so an idle client does not carry it. */
struct ClientLogin;
struct AdminWaitState;

/* Size of Client.txn_key's buffer ("u:" or "k:" and a key). */
#define CLIENT_TXN_KEY_MAX 72

/* Field order keeps the struct tight: one idle client costs RSS for all
 * of it (see README "Performance"); rarely used state lives behind the
 * login / admin pointers. */
struct Client {
	SBuf sbuf;                    /* must stay first */
	ListNode node;                /* the state list */
	ListNode cancel_node;         /* lg.cancel_hash bucket chain */
	ListNode authq_node;          /* authq_pool->authq_clients */
	ClientState state;
	int port;                     /* peer port (0 for Unix sockets) */
	Pool *pool;                   /* NULL while logging in */
	Database *db;
	User *user;
	Server *link;                 /* linked server, or NULL */
	Backend *target;              /* where this transaction runs; NULL = the current primary */
	router_instance *rinst;       /* router instance that owns plugin_slot, or NULL */
	void *plugin_slot;            /* the routing plugin's per-session state */
	uint64_t txn_count;           /* transactions started */
	uint8_t *retry_msg;           /* copy of a replica-routed single Query, for retry (malloc'd) */
	uint8_t *held;                /* RowDescription held back until the outcome is known (malloc'd) */
	uint32_t retry_len;
	uint32_t held_len;
	uint64_t last_commit_lsn;     /* >= the end of this session's last write; 0 = none */
	usec_t last_commit_time;      /* when it was learned; 0 = never */
	uint64_t lsn_epoch;           /* db->primary_changes when it was learned */
	usec_t route_wait_start;      /* first POOLER_WAIT of this transaction; 0 = none */
	usec_t route_wait_deadline;   /* then the primary, without asking */
	struct event *route_timer;    /* fires at route_wait_deadline (owned, lazily made) */
	const char *ryw_key;          /* lagoon.ryw_key startup parameter (strpool; strpool_empty = none) */
	char *txn_key;                /* the current transaction's read-your-writes key: a
	                               * CLIENT_TXN_KEY_MAX buffer made for the first keyed
	                               * transaction (malloc'd); NULL or "" = none */
	struct PrepClient *prep;      /* its named prepared statements (prepare.c), NULL = not tracked */
	uint64_t id;                  /* for KILL_CLIENT and logs */
	uint32_t cancel_pid, cancel_key; /* our BackendKeyData for this client */
	uint32_t cancel_target_pid, cancel_target_key; /* CL_CANCEL: the key */

	const char *username;         /* from the startup packet (strpool; strpool_empty until then) */
	const char *dbname;           /* likewise */
	const char *addr;             /* peer address text, "unix" for sockets (strpool) */
	struct ClientLogin *login;    /* login-time state (client.c), NULL once welcomed */
	Pool *authq_pool;             /* pool running this client's auth_query, or NULL */

	usec_t connect_time;
	usec_t request_time;          /* last message from the client */
	usec_t wait_start;            /* when it entered CL_WAITING; 0 = not */
	usec_t xact_start;            /* first message of the current transaction */
	usec_t query_start;

	VarCache vars;                /* what the client believes it has set */

	struct AdminWaitState *admin_wait; /* an admin command waiting to complete (admin.c), or NULL */
	bool retry_armed;             /* the transaction on a replica may still be replayed */
	bool retry_send;              /* retry_msg goes to the next server linked */
	bool retry_recording;         /* messages of the first batch are still being copied */
	bool decided;                 /* the waiting first message has its routing decision */
	bool txn_write;               /* the current transaction may write (runs on the primary) */
	bool route_parked;            /* CL_WAITING for a POOLER_WAIT, not for a server */
	bool pipeline_held;           /* paused: a new batch behind a read running on a replica */
	bool is_unix;
	bool tls_active;              /* the TLS handshake with this client finished */
	bool authq_running;           /* a server runs the query for this user now */
	bool admin;                   /* connected to the admin console */
	bool admin_superuser;         /* may run mutating commands */
	bool welcomed;                /* got AuthenticationOk + ReadyForQuery */
	bool close_pending;           /* a FATAL error was sent: close at its next message */
};

struct Server {
	SBuf sbuf;                    /* must stay first */
	ListNode node;                /* the state list */
	ServerState state;
	Pool *pool;
	Backend *backend;             /* the host it is connected to */
	Client *link;                 /* linked client, or NULL */
	uint64_t id;

	uint32_t be_pid, be_key;      /* the server's BackendKeyData */
	char addr[64];
	int port;

	usec_t connect_time;
	usec_t request_time;          /* last activity */
	usec_t link_time;             /* when linked to the current client */

	VarCache vars;                /* what the server has */

	/* protocol tracking while linked */
	int pending_rfq;              /* ReadyForQuery still expected */
	int swallow_rfq;              /* of those, replies lagoon swallows (SET, reset, check) */
	char tx_status;               /* last ReadyForQuery status: 'I', 'T', 'E' */
	bool unsynced;                /* extended messages sent after the last Sync */
	bool in_copy_in;              /* client is sending COPY data */
	bool in_copy_out;

	bool ready;                   /* logged in */
	bool close_needed;            /* close on release */
	bool dirty_close;             /* closing because the client left mid-transaction */
	bool retry_swallow;           /* swallowing a replica's retryable error up to ReadyForQuery */
	bool lsn_fetch;               /* our WAL-position query after a write is in flight */
	uint64_t fetched_lsn;         /* its answer, normalised (0 = none yet) */
	char lsn_key[72];             /* the written transaction's read-your-writes key ("" = none) */
	bool txn_done;                /* the linked client got a ReadyForQuery 'I' since it last sent
	                               * anything: its transaction is over (lagoon's own SET before
	                               * its first message does not count) */
	ScramClient *scram;           /* during login only (malloc'd) */
	struct sockaddr_storage sa;   /* the address connected to (cancels go there too) */
	int salen;
	int addr_index;               /* which of the host name's addresses */
	int addr_tries;               /* addresses tried for this connection */
	DnsWait dns_wait;             /* waiting for DNS before connecting */
	/* auth_query run (SV_TESTED): for which user, what came back */
	char authq_user[CF_NAME_MAX]; /* "" = no auth_query running */
	int authq_rfq;                /* ReadyForQuery still expected */
	bool authq_found;
	bool authq_failed;
	char *authq_secret;           /* malloc'd; NULL = none (or SQL NULL) */
	struct PrepServer *prep;      /* statements prepared here and the reply queue (prepare.c) */
	uint64_t stat_in_seen, stat_out_seen; /* sbuf byte counters already in pool stats */
};

typedef enum ShutdownMode {
	SHUTDOWN_NONE = 0,
	SHUTDOWN_WAIT_CLIENTS,        /* SIGTERM / WAIT_FOR_CLIENTS: wait for clients to leave */
	SHUTDOWN_WAIT_SERVERS,        /* SIGINT / WAIT_FOR_SERVERS: pause, exit when servers released */
	SHUTDOWN_IMMEDIATE,           /* SIGQUIT, a second TERM/INT, SHUTDOWN */
} ShutdownMode;

#define CANCEL_HASH_SIZE 4096

/* Everything mutable and global lives here. */
typedef struct Runtime {
	struct event_base *base;
	Config *cfg;                  /* current config (owned) */
	AuthFile *authfile;           /* current auth_file or NULL (owned) */
	struct Hba *hba;              /* current auth_hba_file or NULL (owned) */

	List databases;               /* Database.node */
	List users;                   /* User.node */
	List pools;                   /* Pool.node */
	List login_clients;           /* CL_LOGIN */
	List cancel_clients;          /* CL_CANCEL */
	List justfree_clients;        /* CL_JUSTFREE */
	List justfree_servers;        /* SV_JUSTFREE */
	List cancel_hash[CANCEL_HASH_SIZE]; /* Client.cancel_node by cancel key */
	List activate_pools;          /* pools to activate after this loop turn */

	int client_count;             /* all clients, for max_client_conn */
	uint64_t next_client_id, next_server_id;
	bool paused;                  /* global PAUSE */
	bool suspended;               /* SUSPEND: no socket is read until RESUME */
	ShutdownMode shutdown;
	usec_t start_time;
	usec_t now;                   /* cached monotonic time, updated each loop turn */
	const char *config_path;
	bool daemonize, quiet;
} Runtime;

extern Runtime lg;

/* monotonic microseconds; lg.now is refreshed per event */
usec_t get_time_usec(void);

#endif
