/*
 * config.h - lagoon's configuration: the pgbouncer.ini grammar.
 *
 * config_load() parses a whole file (with %include) into a fresh Config.
 * Nothing global is touched: the caller swaps the new Config in only when
 * the parse succeeded, so a broken file on RELOAD keeps the old one running.
 *
 * Sections: [pgbouncer] (alias [lagoon]) for settings, [databases] for
 * connection-string lines, [users] for per-user overrides.  Keys PgBouncer
 * knows but lagoon does not implement yet are collected in
 * Config.unimplemented (one start-up warning names them all); keys nobody
 * knows, bad values and security-relevant settings lagoon cannot honour are
 * errors that name file, line and key.
 *
 * Times are stored in microseconds (usec_t); the file gives seconds (may be
 * fractional) or a number with a unit suffix: us, ms, s, min, h, d.
 */
#ifndef LAGOON_CONFIG_H
#define LAGOON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef int64_t usec_t;

#define CF_NAME_MAX 64      /* database, user names (NAMEDATALEN) */
#define CF_PASSWORD_MAX 256 /* plaintext, md5 or SCRAM secret */

typedef enum PoolMode {
	POOL_MODE_UNSET = -1,
	POOL_MODE_SESSION = 0,
	POOL_MODE_TRANSACTION = 1,
	POOL_MODE_STATEMENT = 2,
} PoolMode;

typedef enum AuthType {
	AUTH_TYPE_TRUST = 0,  /* no password asked */
	AUTH_TYPE_ANY,        /* like trust, user name ignored for auth */
	AUTH_TYPE_PLAIN,      /* "plain" / "password": cleartext password */
	AUTH_TYPE_MD5,        /* md5, or SCRAM if the stored secret is SCRAM */
	AUTH_TYPE_SCRAM,      /* scram-sha-256 */
	AUTH_TYPE_HBA,        /* per connection, from auth_hba_file */
	AUTH_TYPE_CERT,       /* TLS client certificate: its CN is the user name */
} AuthType;

/* client_tls_sslmode / server_tls_sslmode (the order matters: stricter later) */
typedef enum TlsMode {
	TLS_MODE_DISABLE = 0,
	TLS_MODE_ALLOW,
	TLS_MODE_PREFER,
	TLS_MODE_REQUIRE,
	TLS_MODE_VERIFY_CA,
	TLS_MODE_VERIFY_FULL,
} TlsMode;

#define CF_MAX_BACKENDS 16    /* hosts per database (primary + replicas) */

/* One backend host of a database line, parsed from host=/port= or
 * primary=/replicas=. */
typedef struct DbHost {
	char host[128];               /* name, address, or Unix socket dir ("" = default dir) */
	int port;
	bool named_primary;           /* given as primary= (a hint; roles are discovered) */
	int weight;                   /* routing weight (weights=), 1 by default, 0 = drain */
} DbHost;

/* One line of [databases]. Integer fields: -1 = not given (use global). */
typedef struct DbDef {
	char name[CF_NAME_MAX];       /* client-facing name; "*" = fallback */
	char host[256];               /* "" = Unix socket in /var/run/postgresql; may start with '/' (socket dir) */
	int port;                     /* default 5432 */
	char dbname[CF_NAME_MAX];     /* server-side name; "" = same as name (or client's for "*") */
	char user[CF_NAME_MAX];       /* forced user, "" = client's user */
	char password[CF_PASSWORD_MAX];/* password for the forced/any user, "" = from auth_file */
	int pool_size;
	int min_pool_size;
	int reserve_pool_size;        /* alias reserve_pool */
	int max_db_connections;
	int pool_mode;                /* PoolMode or POOL_MODE_UNSET */
	char *connect_query;          /* malloc'd or NULL; run after each server login */
	char client_encoding[64];     /* "" = not set; sent in the server startup packet */
	char datestyle[64];
	char timezone[64];
	char application_name[64];
	char ports[128];              /* raw port= value: one port, or one per host */
	char primary[256];            /* raw primary= value ("host[:port]") */
	char replicas[1024];          /* raw replicas= value ("h[:p],h[:p]") */
	char router[64];              /* per-database router ("" = global) */
	char router_options[256];     /* "key=value key=value" for the router */
	char ryw_scope[16];           /* read-your-writes scope ("" = global ryw_scope) */
	char weights[128];            /* raw weights= value: one per host, in host order */
	char auth_user[CF_NAME_MAX];  /* per-database auth_user ("" = global) */
	char auth_query[512];         /* per-database auth_query ("" = global) */
	char auth_dbname[CF_NAME_MAX];/* per-database auth_dbname ("" = global) */
	DbHost hosts[CF_MAX_BACKENDS];/* parsed backends, in order */
	int nhosts;                   /* >= 1 after a successful parse */
	char *extra;                  /* malloc'd or NULL: the full raw line, for SHOW */
	const char *file;             /* where it was defined (points into Config.files) */
	int line;
	struct DbDef *next;           /* definition order */
} DbDef;

/* One line of [users]. Integer fields: -1 = not given. */
typedef struct UserDef {
	char name[CF_NAME_MAX];
	int pool_mode;
	int pool_size;
	int reserve_pool_size;
	int max_user_connections;
	usec_t query_timeout;         /* -1 = not given */
	usec_t idle_transaction_timeout;
	usec_t client_idle_timeout;
	struct UserDef *next;
} UserDef;

typedef struct Config {
	/* [pgbouncer] settings; names match the ini keys */
	char *logfile;                /* NULL = stderr only */
	char *pidfile;
	char *listen_addr;            /* NULL/"" = Unix socket only; "*" = all; comma list */
	int listen_port;              /* 6432 */
	int listen_backlog;           /* 128 */
	char *unix_socket_dir;        /* "/tmp"; "" disables the Unix socket */

	/* TLS (tls.c); sslmodes are TlsMode values, files "" or NULL = none */
	int client_tls_sslmode;       /* disable */
	char *client_tls_key_file, *client_tls_cert_file, *client_tls_ca_file;
	char *client_tls_protocols;   /* "secure" = TLS 1.2 + 1.3 */
	char *client_tls_ciphers;     /* "default" */
	char *client_tls13_ciphers;   /* "" = OpenSSL's default suites */
	char *client_tls_ecdhcurve;   /* "auto" */
	char *client_tls_dheparams;   /* "auto" */
	int server_tls_sslmode;       /* prefer */
	char *server_tls_key_file, *server_tls_cert_file, *server_tls_ca_file;
	char *server_tls_protocols;   /* "secure" */
	char *server_tls_ciphers;     /* "default" */
	char *server_tls13_ciphers;   /* "" */

	int unix_socket_mode;         /* 0777 */
	int auth_type;                /* AuthType; default md5 */
	char *auth_file;
	char *auth_hba_file;          /* pg_hba.conf subset (auth_type = hba) */
	char *auth_user;              /* runs auth_query for users not in auth_file */
	char *auth_query;             /* $1 = user name; returns (name, secret) */
	char *auth_dbname;            /* database auth_query runs in ("" = the client's) */
	usec_t auth_query_cache_ttl;  /* keep auth_query answers this long (60 s; 0 = off) */
	int auth_failure_limit;       /* failed logins per client address ... (10; 0 = off) */
	usec_t auth_failure_window;   /* ... within this window (60 s) before refusing */
	usec_t dns_max_ttl;           /* cache host name answers (15 s) */
	usec_t dns_nxdomain_ttl;      /* cache failures (15 s) */
	usec_t dns_zone_check_period; /* poll zones' SOA serials (0 = off) */
	char *resolv_conf;            /* private resolver configuration ("" = system) */
	char *dns_servers;            /* lagoon: "ip[:port],..." name servers ("" = resolv_conf's) */
	char *admin_users;            /* comma-separated list or NULL */
	char *stats_users;
	int pool_mode;                /* default session */
	int default_pool_size;        /* 20 */
	int min_pool_size;            /* 0 */
	int reserve_pool_size;        /* 0 */
	usec_t reserve_pool_timeout;  /* 5 s */
	int max_client_conn;          /* 100 */
	int max_db_connections;       /* 0 = unlimited */
	int max_user_connections;     /* 0 = unlimited */
	char *server_reset_query;     /* "DISCARD ALL" */
	bool server_reset_query_always;
	char *server_check_query;     /* "select 1" ("" = empty query) */
	usec_t server_check_delay;    /* 30 s */
	usec_t server_lifetime;       /* 3600 s */
	usec_t server_idle_timeout;   /* 600 s */
	usec_t server_connect_timeout;/* 15 s */
	usec_t server_login_retry;    /* 15 s */
	bool server_round_robin;      /* 0 */
	usec_t client_idle_timeout;   /* 0 = off */
	usec_t client_login_timeout;  /* 60 s */
	usec_t idle_transaction_timeout; /* 0 */
	usec_t query_timeout;         /* 0 */
	usec_t query_wait_timeout;    /* 120 s */
	usec_t cancel_wait_timeout;   /* 10 s */
	usec_t suspend_timeout;       /* 10 s */
	char *ignore_startup_parameters; /* comma list or NULL */
	char *track_extra_parameters; /* "IntervalStyle" */
	int max_packet_size;          /* 2147483647 */
	int pkt_buf;                  /* 4096 */
	int max_prepared_statements;  /* per server connection (200); 0 = no tracking */
	int sbuf_loopcnt;             /* 5 */
	bool log_connections;         /* 1 */
	bool log_disconnections;      /* 1 */
	bool log_pooler_errors;       /* 1 */
	bool log_stats;               /* 1 */
	usec_t stats_period;          /* 60 s */
	int verbose;                  /* 0 */
	bool syslog;                  /* 0 */
	char *syslog_ident;           /* "lagoon" */
	char *syslog_facility;        /* "daemon" */
	char *user;                   /* OS user to switch to (-u) */
	bool so_reuseport;
	bool tcp_keepalive;           /* 1 */
	int tcp_keepcnt, tcp_keepidle, tcp_keepintvl; /* 0 = OS default */
	bool application_name_add_host;
	bool disable_pqexec;

	/* cluster monitor */
	int monitor_interval;         /* ms between probes (20) */
	int monitor_connect_timeout;  /* ms for a probe connection + query (2000) */
	int monitor_fail_count;       /* failed probes that mark a backend down (3) */
	int monitor_up_count;         /* good probes that bring it back (2) */
	int monitor_backoff_max;      /* ms: longest wait between probes of a down backend (5000) */
	char *monitor_user;           /* NULL = the database line's user, else "postgres" */
	char *monitor_password;       /* NULL = the line's password or the auth_file's */
	char *monitor_dbname;         /* "postgres" */
	char *ryw_scope;              /* connection | user | key (connection) */
	usec_t ryw_key_ttl;           /* a shared key's last write is kept this long (60 s) */
	int ryw_keys_max;             /* keys kept per database (100000) */
	usec_t ryw_void_timeout;      /* after a primary change, sessions that wrote read from the primary this long (10 s) */

	/* Prometheus endpoint (metrics.c) */
	char *metrics_listen_addr;    /* "" = off; "*" = all IPv4 addresses */
	int metrics_listen_port;      /* 9127 */

	/* routing */
	char *plugin_dir;             /* where router plugins live */
	char *router;                 /* default router name ("none") */

	DbDef *databases;             /* definition order; owned */
	UserDef *users;               /* owned */

	char *unimplemented;          /* malloc'd "a, b, c" of accepted-but-ignored keys, or NULL */
	char *config_file;            /* absolute path of the top file */
	char **files;                 /* every file read (for DbDef.file) */
	int nfiles;
} Config;

/* Parse path into a freshly allocated Config.  On failure returns false,
 * *out untouched, and err holds "FILE:LINE: key 'K': what is wrong". */
bool config_load(const char *path, Config **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Defaults only (used by tests and as the base of config_load). */
Config *config_new_defaults(void);

void config_free(Config *cfg);

/* Find the [databases] entry for a client-facing name (exact, not "*"). */
const DbDef *config_find_db(const Config *cfg, const char *name);
const UserDef *config_find_user(const Config *cfg, const char *name);

/* true if name is in the comma/space separated list (NULL list = false). */
bool config_list_contains(const char *list, const char *name);

/* Settings table for SHOW CONFIG and admin SET. */
typedef struct ConfigKeyInfo {
	const char *name;
	bool reloadable;     /* "changeable" column */
} ConfigKeyInfo;

/* Every [pgbouncer] key lagoon implements, sorted by name. */
const ConfigKeyInfo *config_keys(size_t *n);

/* Current and default value of a key as text (as SHOW CONFIG prints it).
 * Returns false for an unknown key. */
bool config_value_text(const Config *cfg, const char *key, char *buf, size_t len);
bool config_default_text(const char *key, char *buf, size_t len);

/* Set one [pgbouncer] key in cfg (admin SET).  Refuses non-reloadable and
 * unknown keys and bad values with a message. */
bool config_set(Config *cfg, const char *key, const char *value, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Parse a PgBouncer time value ("15", "0.5", "500ms", "2min") into usec. */
bool config_parse_time(const char *s, usec_t *out);

const char *config_pool_mode_name(int mode);

/* "disable" ... "verify-full" ("" for anything else). */
const char *config_tls_mode_name(int mode);

/* "trust", "any", "plain", "md5", "scram-sha-256", "hba", "cert" ("" for anything else). */
const char *config_auth_type_name(int type);

#endif
