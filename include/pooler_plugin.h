/*
 * pooler_plugin.h - lagoon's routing plugin ABI, version 1.1.
 *
 * 1.1 (appended to 1.0): the POOLER_WAIT verdict and pooler_decision.wait_ms
 * (park the transaction until a replica catches up), pooler_txn.waited_ms.
 *
 * At the start of every transaction lagoon asks a routing plugin (a shared
 * object loaded with dlopen) where the transaction should run: on one of the
 * database's streaming replicas, or on the primary.  This header is the whole
 * contract between the pooler ("the core") and a plugin; a plugin includes
 * nothing else from lagoon and links against nothing in it.
 *
 * ---------------------------------------------------------------- shape ---
 * A plugin exports exactly one symbol, the function
 *
 *     const pooler_plugin *pooler_plugin_entry(uint32_t host_major,
 *                                              uint32_t host_minor);
 *
 * which returns a pointer to a static, const descriptor (pooler_plugin).  It
 * may return NULL to refuse a core it cannot work with.  The descriptor names
 * the plugin and holds its callbacks:
 *
 *     init     once per instance: parse options, allocate all state
 *     route    once per read-only-eligible transaction: pick a backend
 *     observe  after each transaction and at each session's end
 *     fini     once per instance, after every session has ended
 *
 * One plugin file may be loaded as several instances (say one per database,
 * each with its own options): every callback gets the instance's own state
 * pointer, and a plugin keeps no mutable globals.
 *
 * ------------------------------------------------------------ versioning ---
 * - Every struct that crosses the boundary begins with struct_size, written
 *   by the side that built it; the descriptor also carries a magic number
 *   and the ABI major/minor it was compiled against.
 * - Major must be equal; the core refuses any other ("ABI 2.0, core speaks
 *   1.0").  Minor only means "fields or callbacks were appended".
 * - Within one major, structs grow only at their end.  Nothing is reordered,
 *   removed or retyped; that would be a new major.
 * - The core copies the descriptor into a zeroed struct of its own size, so
 *   callbacks appended after the plugin was built read as NULL.
 * - A plugin built against a newer minor than the running core must test
 *   POOLER_HAS(ptr, type, field) before it reads (or writes, for
 *   pooler_decision) a field appended after 1.0.  host->abi_minor tells it
 *   which minor the core speaks.
 * - Enum-valued fields are uint32_t, never C enums, so -fshort-enums or
 *   another compiler cannot change the layout.  Only plain C types cross:
 *   fixed-width integers, NUL-terminated strings, (pointer, length) pairs.
 * - Arrays of structs are passed as arrays of pointers, so an element can
 *   grow without changing the array's stride.
 *
 * --------------------------------------------------------------- threads ---
 * Every callback of one instance runs on one thread, the event-loop thread
 * that owns the pools using it; the core never calls one instance from two
 * threads at once.  If the core ever runs several workers, each worker gets
 * its own instance (init is called once per worker).
 *
 * ------------------------------------------------------------------ cost ---
 * route() is on the hot path of every transaction.  It must:
 * - make no system calls, do no I/O, take no locks, never sleep or block;
 * - allocate nothing (allocate in init, or in observe for per-session data);
 * - run in O(ncand) and aim for about a microsecond;
 * - not call host->log (describe problems in the decision's reason, or
 *   return an error: the core logs, rate-limited).  host->now_ns and
 *   host->option may be called anywhere.
 * The core times every call, and SHOW PLUGINS shows p50/p99 per instance.
 *
 * ------------------------------------------------------------- lifetimes ---
 * - Every pointer passed to a callback is borrowed and valid only until the
 *   callback returns, except: the host table and the option strings it
 *   returns, valid from init until fini returns; and the session's
 *   plugin_slot, valid until the session-end observe returns.
 * - Keep backend ids, never pointers to backends.  The candidate view is a
 *   consistent snapshot: the core's lag prober updates it between events,
 *   never during a callback.
 * - Strings passed in are NUL-terminated and never NULL ("" when unknown),
 *   except the (pointer, length) pairs of pooler_txn, which are not
 *   terminated and whose pointer is NULL when the length is 0.
 *
 * ------------------------------------------------------ per-session state ---
 * *session->plugin_slot is the plugin's: the core sets it to NULL when a
 * session starts and never touches it again.  Whatever it points to, the
 * plugin frees at the POOLER_EV_SESSION_END event, which the core delivers
 * for every session before fini.
 *
 * ---------------------------------------------------------------- safety ---
 * The core, not the plugin, enforces safety:
 * - route() is called only for read-only-eligible transactions; everything
 *   else runs on the primary without asking.  A session whose commit LSN is
 *   pending (POOLER_SESS_LSN_PENDING) runs on the primary: a plugin built
 *   for 1.0 is not asked; one built for 1.1 is, so that it may answer
 *   POOLER_WAIT (the LSN is usually known within a round trip).
 * - An answer naming a backend id that is not among the candidates, or a
 *   backend that is not UP or DEGRADED, is overruled to the primary,
 *   counted and logged (at most one line a second per instance).
 * - POOLER_NO_OPINION means "the core's default", today the primary.
 * - POOLER_WAIT (ABI 1.1) is honoured only from a plugin whose descriptor
 *   says abi_minor >= 1; from an older one it is an invalid answer.  The
 *   core then parks the transaction (no server is held, the event loop
 *   never blocks) and calls route() again for it when the monitor posts
 *   new replica positions; once the budget of the first POOLER_WAIT
 *   (wait_ms, capped by the core) is spent, it runs on the primary without
 *   asking.  A plugin built for 1.1 must check host->abi_minor >= 1 before
 *   it answers POOLER_WAIT: a 1.0 core overrules the unknown verdict.
 * - route() returning non-zero (an internal failure) routes to the primary
 *   and counts as an error.  After a run of consecutive errors or invalid
 *   answers the core switches the instance off (circuit breaker) with a
 *   loud log line, and routes everything to the primary until it is
 *   reloaded.
 * - init returning non-zero refuses the instance; its err text is shown to
 *   the operator as the reason.  observe and fini cannot fail.
 * - Plugins log only through host->log; the core prefixes the plugin name.
 * - The core never dlcloses a plugin that was initialised: code may be
 *   referenced until the process exits (as PostgreSQL does with its
 *   modules).  A changed plugin file takes effect at restart.
 *
 * -------------------------------------------------------------- building ---
 *     cc -shared -fPIC $(pkg-config --cflags lagoon-plugin) \
 *        -o myplugin.so myplugin.c
 * and put myplugin.so in plugin_dir; see docs/plugins.md.
 */
#ifndef POOLER_PLUGIN_H
#define POOLER_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define POOLER_ABI_MAGIC 0x504f4f4cU  /* "POOL": not a plugin without it */
#define POOLER_ABI_MAJOR 1U           /* must match the core exactly */
#define POOLER_ABI_MINOR 1U           /* bumped when anything is appended */

/* True if the struct the other side built is new enough to hold `field`. */
#define POOLER_HAS(p, type, field) \
	((p)->struct_size >= offsetof(type, field) + sizeof(((type *)0)->field))

/* The core passes at most this many candidates, with ids below it. */
#define POOLER_MAX_BACKENDS 64

typedef uint64_t pooler_lsn;          /* a WAL position (XLogRecPtr); 0 = unknown */

#define POOLER_LAG_BYTES_UNKNOWN UINT64_MAX
#define POOLER_MS_UNKNOWN        UINT32_MAX

/* ------------------------------------------------------------ backends --- */

/* pooler_backend.role */
#define POOLER_ROLE_PRIMARY 1U
#define POOLER_ROLE_REPLICA 2U

/* pooler_backend.health: only UP and DEGRADED may be routed to. */
#define POOLER_HEALTH_UP       1U  /* answering and replaying normally */
#define POOLER_HEALTH_DEGRADED 2U  /* answering, but probes are slow or failing intermittently */
#define POOLER_HEALTH_DOWN     3U  /* not answering, or not (yet) probed */

/* One candidate backend: a read-only snapshot owned by the core. */
typedef struct pooler_backend {
	uint32_t    struct_size;
	int32_t     id;            /* 0..POOLER_MAX_BACKENDS-1, stable while the config is loaded */
	uint32_t    role;          /* POOLER_ROLE_* */
	uint32_t    health;        /* POOLER_HEALTH_* */
	const char *name;          /* "host:port" */
	pooler_lsn  replay_lsn;    /* last pg_last_wal_replay_lsn(); the primary: its WAL position */
	uint64_t    lag_bytes;     /* primary's WAL position - replay_lsn; POOLER_LAG_BYTES_UNKNOWN */
	uint32_t    lag_ms;        /* replay lag in time; POOLER_MS_UNKNOWN; 0 for the primary */
	uint32_t    sample_age_ms; /* age of the lag sample; POOLER_MS_UNKNOWN = never sampled */
	uint32_t    active;        /* server connections running a transaction */
	uint32_t    idle;          /* server connections idle in the pool */
	uint32_t    waiting;       /* clients waiting for a server connection here */
	uint32_t    weight;        /* configured share, >= 1; 0 = draining: send nothing new */
} pooler_backend;

/* --------------------------------------------------------- transaction --- */

/* pooler_txn.flags */
#define POOLER_TXN_READ_ONLY (1U << 0)  /* read-only eligible (always set when route() is called) */
#define POOLER_TXN_EXPLICIT  (1U << 1)  /* BEGIN ... COMMIT block; else a single statement */
#define POOLER_TXN_EXTENDED  (1U << 2)  /* extended protocol (Parse/Bind/Execute) */
#define POOLER_TXN_MULTI     (1U << 3)  /* several statements in one Query message */

/* pooler_txn.hints: what hint comments in the first statement asked for */
#define POOLER_HINT_PRIMARY (1U << 0)  /* lagoon:primary (the core never asks route() then) */
#define POOLER_HINT_REPLICA (1U << 1)  /* lagoon:replica: stale reads are fine */
#define POOLER_HINT_FRESH   (1U << 2)  /* lagoon:fresh: must see this session's last write */

/* The transaction being started, as the core's lexer classified it. */
typedef struct pooler_txn {
	uint32_t    struct_size;
	uint32_t    flags;         /* POOLER_TXN_* */
	uint32_t    hints;         /* POOLER_HINT_* */
	uint32_t    keyword_len;
	const char *keyword;       /* leading keyword, upper case ("SELECT"), keyword_len bytes */
	const char *text;          /* first statement as sent, text_len bytes, not terminated */
	uint32_t    text_len;
	uint32_t    hint_len;
	const char *hint;          /* whole text of a "lagoon:..." hint comment, hint_len bytes */
	/* ABI 1.1 */
	uint32_t    waited_ms;     /* 0 at the first route() call; after a POOLER_WAIT, how long
	                            * this transaction has been parked so far */
	uint32_t    reserved1;     /* zero */
} pooler_txn;

/* -------------------------------------------------------------- session --- */

/* pooler_session.flags */
#define POOLER_SESS_LSN_PENDING (1U << 0)  /* a write committed, its LSN is not known yet:
                                            * a 1.0 plugin is not asked (the primary); a
                                            * 1.1 plugin is, and any answer but POOLER_WAIT
                                            * means the primary */

/* One client session.  Read-only to the plugin, except *plugin_slot. */
typedef struct pooler_session {
	uint32_t    struct_size;
	uint32_t    flags;           /* POOLER_SESS_* */
	uint64_t    id;              /* unique for the process lifetime */
	uint64_t    txn_count;       /* transactions this session started before this one */
	const char *user;
	const char *database;
	const char *application_name;
	const char *client_addr;     /* "192.0.2.7", "2001:db8::7" or "unix" */
	uint32_t    client_port;     /* 0 for unix sockets */
	uint32_t    reserved0;       /* zero */
	pooler_lsn  last_commit_lsn; /* >= the end of its last write's commit record; 0 = none */
	uint64_t    last_commit_ns;  /* host->now_ns() at that commit; 0 = never wrote */
	void      **plugin_slot;     /* *plugin_slot belongs to the plugin (see above) */
} pooler_session;

/* ------------------------------------------------------------- decision --- */

/* pooler_decision.verdict */
#define POOLER_NO_OPINION     0U  /* the core decides (today: the primary) */
#define POOLER_ROUTE_BACKEND  1U  /* run on candidate backend_id */
#define POOLER_ROUTE_PRIMARY  2U  /* run on the primary */
#define POOLER_WAIT           3U  /* ABI 1.1: ask again when replica positions change, for
                                   * at most wait_ms; then the primary (see "safety") */

#define POOLER_REASON_LEN 48

/* route()'s answer.  The core zeroes it and sets struct_size before the
 * call, so an untouched decision is POOLER_NO_OPINION. */
typedef struct pooler_decision {
	uint32_t struct_size;
	uint32_t verdict;                  /* POOLER_NO_OPINION / POOLER_ROUTE_* */
	int32_t  backend_id;               /* POOLER_ROUTE_BACKEND: a candidate's id */
	uint32_t reserved0;                /* zero */
	char     reason[POOLER_REASON_LEN]; /* short, shown in logs and SHOW ROUTING */
	/* ABI 1.1: write only if POOLER_HAS(out, pooler_decision, wait_ms) */
	uint32_t wait_ms;                  /* POOLER_WAIT: the whole budget, from the first
	                                    * POOLER_WAIT of this transaction; 0 = the core's
	                                    * default (100 ms) */
	uint32_t reserved1;                /* zero */
} pooler_decision;

/* ---------------------------------------------------------------- events --- */

/* pooler_event.kind */
#define POOLER_EV_TXN_END     1U  /* a transaction finished */
#define POOLER_EV_SESSION_END 2U  /* the session ended: free *plugin_slot */

/* pooler_event.outcome (POOLER_EV_TXN_END) */
#define POOLER_OUTCOME_COMMIT   1U  /* committed (or a single statement succeeded) */
#define POOLER_OUTCOME_ROLLBACK 2U  /* rolled back by the client */
#define POOLER_OUTCOME_ERROR    3U  /* failed with sqlstate */
#define POOLER_OUTCOME_LOST     4U  /* the server connection was lost */

typedef struct pooler_event {
	uint32_t   struct_size;
	uint32_t   kind;          /* POOLER_EV_* */
	int32_t    backend_id;    /* where it ran; -1 for SESSION_END */
	uint32_t   outcome;       /* POOLER_OUTCOME_*; 0 for SESSION_END */
	char       sqlstate[8];   /* "25006" for an error, else "" */
	pooler_lsn commit_lsn;    /* a write's commit LSN when known, else 0 */
	uint64_t   duration_ns;   /* from route() to the end of the transaction */
} pooler_event;

/* ----------------------------------------------------------- host table --- */

/* host->log levels */
#define POOLER_LOG_ERROR   1U
#define POOLER_LOG_WARNING 2U
#define POOLER_LOG_INFO    3U
#define POOLER_LOG_DEBUG   4U

#if defined(__GNUC__) || defined(__clang__)
#define POOLER_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define POOLER_PRINTF(f, a)
#endif

/* Services the core lends an instance, valid from init until fini returns. */
typedef struct pooler_host {
	uint32_t    struct_size;
	uint32_t    abi_major;      /* the ABI the core speaks */
	uint32_t    abi_minor;
	uint32_t    reserved0;      /* zero */
	void       *ctx;            /* pass back to every service below */
	const char *instance;       /* "roundrobin" or "roundrobin/dbname": for messages */
	/* A log line, prefixed by the core with the plugin's name. */
	void      (*log)(void *ctx, uint32_t level, const char *fmt, ...) POOLER_PRINTF(3, 4);
	/* Monotonic clock in nanoseconds; no system call on Linux (vDSO). */
	uint64_t  (*now_ns)(void *ctx);
	/* The value of option `key`, or NULL if not given. */
	const char *(*option)(void *ctx, const char *key);
	/* The i-th option's key (i from 0), or NULL past the last: lets a
	 * plugin refuse keys it does not know. */
	const char *(*option_key)(void *ctx, uint32_t i);
} pooler_host;

/* ----------------------------------------------------------- descriptor --- */

typedef struct pooler_plugin {
	uint32_t    magic;          /* POOLER_ABI_MAGIC */
	uint32_t    abi_major;      /* POOLER_ABI_MAJOR the plugin was built with */
	uint32_t    abi_minor;      /* POOLER_ABI_MINOR the plugin was built with */
	uint32_t    struct_size;    /* sizeof(pooler_plugin) the plugin was built with */
	const char *name;           /* short, [a-z0-9_]; shown in SHOW PLUGINS */
	const char *version;        /* the plugin's own version, free form */
	/* Required.  Build *state from host's options; on failure write a
	 * one-line reason to err (errlen bytes, NUL-terminated) and return
	 * non-zero. */
	int  (*init)(const pooler_host *host, void **state, char *err, size_t errlen);
	/* Required.  Fill *out; return 0, or non-zero for an internal failure.
	 * cand[0..ncand-1] are all backends of the database, the primary
	 * included; ncand <= POOLER_MAX_BACKENDS. */
	int  (*route)(void *state, const pooler_txn *txn, pooler_session *session,
	              const pooler_backend *const *cand, uint32_t ncand, pooler_decision *out);
	/* Optional.  A transaction ended, or the session did. */
	void (*observe)(void *state, pooler_session *session, const pooler_event *ev);
	/* Optional.  Free everything init allocated. */
	void (*fini)(void *state);
	/* ABI 1.1 and later: new fields and callbacks go here, never above. */
} pooler_plugin;

#define POOLER_ENTRY_SYMBOL "pooler_plugin_entry"
typedef const pooler_plugin *(*pooler_entry_fn)(uint32_t host_major, uint32_t host_minor);

#if defined(__GNUC__) || defined(__clang__)
#define POOLER_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define POOLER_PLUGIN_EXPORT
#endif

/* The identity fields of a descriptor: use first in its initializer. */
#define POOLER_PLUGIN_HEADER(n, v) \
	.magic = POOLER_ABI_MAGIC, .abi_major = POOLER_ABI_MAJOR, \
	.abi_minor = POOLER_ABI_MINOR, .struct_size = sizeof(pooler_plugin), \
	.name = (n), .version = (v)

/* Declares the entry function; follow with its body. */
#define POOLER_PLUGIN_ENTRY \
	POOLER_PLUGIN_EXPORT const pooler_plugin *pooler_plugin_entry(uint32_t host_major, \
	                                                              uint32_t host_minor); \
	POOLER_PLUGIN_EXPORT const pooler_plugin *pooler_plugin_entry(uint32_t host_major, \
	                                                              uint32_t host_minor)

#ifdef __cplusplus
}
#endif

#endif /* POOLER_PLUGIN_H */
