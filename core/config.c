/*
 * config.c - reads pgbouncer.ini (and lagoon.ini, the same grammar) into a
 * Config.
 *
 * The file is line oriented: "[section]" headers, "key = value" lines,
 * comments starting with ';' or '#', and "%include path" lines that read
 * another file in place (relative paths are relative to the including
 * file).  [pgbouncer] settings are described by one table, cf_keys[], that
 * gives each key its type, its place in struct Config, its default and
 * whether RELOAD / SET may change it; parsing, defaults, SHOW CONFIG text
 * and admin SET are all driven from that table.  [databases] and [users]
 * lines are "name = key=value ..." lists described by two smaller tables
 * of the same shape.  Keys PgBouncer knows but lagoon does not implement
 * are collected in Config.unimplemented; anything else unknown, any bad
 * value and any security-relevant setting lagoon cannot honour fails the
 * whole load with "FILE:LINE: key 'K': message".
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CF_MAX_INCLUDE_DEPTH 10
#define CF_KEY_MAX 64
#define CF_USEC 1000000LL

#define CF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CF_FIELD_SIZE(type, f) sizeof(((type *)0)->f)

/* ------------------------------------------------------------------ */
/* Field descriptions                                                  */
/* ------------------------------------------------------------------ */

typedef enum CfKind {
	CF_STR,        /* char * (malloc'd, NULL = unset) */
	CF_ARR,        /* char[size] */
	CF_INT,        /* int, decimal, range min..max */
	CF_OCTAL,      /* int, C notation (0777), range min..max */
	CF_BOOL,       /* bool */
	CF_TIME,       /* usec_t */
	CF_POOL_MODE,  /* int PoolMode */
	CF_AUTH_TYPE,  /* int AuthType */
	CF_TLS_MODE,   /* int TlsMode */
} CfKind;

/* One setting: a [pgbouncer] key, or a key of a [databases]/[users] line. */
typedef struct CfField {
	const char *name;
	CfKind kind;
	size_t offset;        /* into Config, DbDef or UserDef */
	size_t size;          /* CF_ARR only */
	long long min, max;   /* CF_INT, CF_OCTAL */
	const char *def;      /* default spelled as in the file; NULL = unset */
	bool reloadable;
} CfField;

#define CF_R true   /* changeable by RELOAD / SET */
#define CF_NR false /* needs a restart */

#define CFK(n, k, lo, hi, d, r) { #n, k, offsetof(Config, n), 0, lo, hi, d, r }
#define K_STR(n, d, r) CFK(n, CF_STR, 0, 0, d, r)
#define K_INT(n, d, r, lo, hi) CFK(n, CF_INT, lo, hi, d, r)
#define K_SIZE(n, d, r) CFK(n, CF_INT, 0, INT_MAX, d, r)
#define K_BOOL(n, d, r) CFK(n, CF_BOOL, 0, 0, d, r)
#define K_TIME(n, d, r) CFK(n, CF_TIME, 0, 0, d, r)

/* Every [pgbouncer] key lagoon implements.  Adding a setting: one line. */
static const CfField cf_keys[] = {
	K_STR(admin_users, NULL, CF_R),
	K_BOOL(application_name_add_host, "0", CF_R),
	K_STR(auth_dbname, NULL, CF_R),
	K_INT(auth_failure_limit, "10", CF_R, 0, INT_MAX),
	K_TIME(auth_failure_window, "60", CF_R),
	K_STR(auth_file, NULL, CF_R),
	K_STR(auth_hba_file, NULL, CF_R),
	K_STR(auth_query, "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END "
	      "FROM pg_catalog.pg_authid WHERE rolname = $1 AND rolcanlogin", CF_R),
	K_TIME(auth_query_cache_ttl, "60", CF_R),
	CFK(auth_type, CF_AUTH_TYPE, 0, 0, "md5", CF_R),
	K_STR(auth_user, NULL, CF_R),
	K_TIME(cancel_wait_timeout, "10", CF_R),
	K_TIME(client_idle_timeout, "0", CF_R),
	K_TIME(client_login_timeout, "60", CF_R),
	K_STR(client_tls13_ciphers, "", CF_R),
	K_STR(client_tls_ca_file, NULL, CF_R),
	K_STR(client_tls_cert_file, NULL, CF_R),
	K_STR(client_tls_ciphers, "default", CF_R),
	K_STR(client_tls_dheparams, "auto", CF_R),
	K_STR(client_tls_ecdhcurve, "auto", CF_R),
	K_STR(client_tls_key_file, NULL, CF_R),
	K_STR(client_tls_protocols, "secure", CF_R),
	CFK(client_tls_sslmode, CF_TLS_MODE, 0, 0, "disable", CF_R),
	K_SIZE(default_pool_size, "20", CF_R),
	K_BOOL(disable_pqexec, "0", CF_NR),
	K_TIME(dns_max_ttl, "15", CF_R),
	K_TIME(dns_nxdomain_ttl, "15", CF_R),
	K_STR(dns_servers, "", CF_NR),
	K_TIME(dns_zone_check_period, "0", CF_R),
	K_TIME(idle_transaction_timeout, "0", CF_R),
	K_STR(ignore_startup_parameters, NULL, CF_R),
	K_STR(listen_addr, NULL, CF_NR),
	K_SIZE(listen_backlog, "128", CF_NR),
	K_INT(listen_port, "6432", CF_NR, 1, 65535),
	K_BOOL(log_connections, "1", CF_R),
	K_BOOL(log_disconnections, "1", CF_R),
	K_BOOL(log_pooler_errors, "1", CF_R),
	K_BOOL(log_stats, "1", CF_R),
	K_STR(logfile, NULL, CF_R),
	K_SIZE(max_client_conn, "100", CF_R),
	K_SIZE(max_db_connections, "0", CF_R),
	K_SIZE(max_packet_size, "2147483647", CF_R),
	K_SIZE(max_prepared_statements, "200", CF_R),
	K_SIZE(max_user_connections, "0", CF_R),
	K_STR(metrics_listen_addr, "", CF_NR),
	K_INT(metrics_listen_port, "9127", CF_NR, 1, 65535),
	K_SIZE(min_pool_size, "0", CF_R),
	K_INT(monitor_backoff_max, "5000", CF_R, 1, INT_MAX),
	K_INT(monitor_connect_timeout, "2000", CF_R, 1, INT_MAX),
	K_STR(monitor_dbname, "postgres", CF_R),
	K_INT(monitor_fail_count, "3", CF_R, 1, 1000),
	K_INT(monitor_interval, "20", CF_R, 10, 3600000),
	K_STR(monitor_password, NULL, CF_R),
	K_INT(monitor_up_count, "2", CF_R, 1, 1000),
	K_STR(monitor_user, NULL, CF_R),
	K_STR(pidfile, NULL, CF_NR),
	K_STR(plugin_dir, LAGOON_PLUGINDIR, CF_NR),
	K_INT(pkt_buf, "4096", CF_NR, 512, INT_MAX),
	CFK(pool_mode, CF_POOL_MODE, 0, 0, "session", CF_R),
	K_TIME(query_timeout, "0", CF_R),
	K_TIME(query_wait_timeout, "120", CF_R),
	K_SIZE(reserve_pool_size, "0", CF_R),
	K_STR(resolv_conf, "", CF_NR),
	K_STR(router, "none", CF_R),
	K_TIME(ryw_key_ttl, "60", CF_R),
	K_INT(ryw_keys_max, "100000", CF_R, 16, 100000000),
	K_STR(ryw_scope, "connection", CF_R),
	K_TIME(ryw_void_timeout, "10", CF_R),
	K_TIME(reserve_pool_timeout, "5", CF_R),
	K_SIZE(sbuf_loopcnt, "5", CF_R),
	K_TIME(server_check_delay, "30", CF_R),
	K_STR(server_check_query, "select 1", CF_R),
	K_TIME(server_connect_timeout, "15", CF_R),
	K_TIME(server_idle_timeout, "600", CF_R),
	K_TIME(server_lifetime, "3600", CF_R),
	K_TIME(server_login_retry, "15", CF_R),
	K_STR(server_reset_query, "DISCARD ALL", CF_R),
	K_BOOL(server_reset_query_always, "0", CF_R),
	K_BOOL(server_round_robin, "0", CF_R),
	K_STR(server_tls13_ciphers, "", CF_R),
	K_STR(server_tls_ca_file, NULL, CF_R),
	K_STR(server_tls_cert_file, NULL, CF_R),
	K_STR(server_tls_ciphers, "default", CF_R),
	K_STR(server_tls_key_file, NULL, CF_R),
	K_STR(server_tls_protocols, "secure", CF_R),
	CFK(server_tls_sslmode, CF_TLS_MODE, 0, 0, "prefer", CF_R),
	K_BOOL(so_reuseport, "0", CF_NR),
	K_TIME(stats_period, "60", CF_R),
	K_STR(stats_users, NULL, CF_R),
	K_TIME(suspend_timeout, "10", CF_R),
	K_BOOL(syslog, "0", CF_R),
	K_STR(syslog_facility, "daemon", CF_R),
	K_STR(syslog_ident, "lagoon", CF_R),
	K_BOOL(tcp_keepalive, "1", CF_R),
	K_SIZE(tcp_keepcnt, "0", CF_R),
	K_SIZE(tcp_keepidle, "0", CF_R),
	K_SIZE(tcp_keepintvl, "0", CF_R),
	K_STR(track_extra_parameters, "IntervalStyle", CF_NR),
	K_STR(unix_socket_dir, "/tmp", CF_NR),
	CFK(unix_socket_mode, CF_OCTAL, 0, 07777, "0777", CF_NR),
	K_STR(user, NULL, CF_NR),
	K_SIZE(verbose, "0", CF_R),
};

/* PgBouncer [pgbouncer] keys that are accepted and listed as unimplemented. */
static const char *const cf_unimplemented_keys[] = {
	"auth_ident_file", "auth_ldap_options",
	"autodb_idle_timeout",
	"conffile",
	"job_name",
	"max_db_client_connections",
	"max_user_client_connections", "peer_id", "pool_idle_timeout",
	"query_wait_notify", "scram_iterations",
	"server_fast_close", "service_name", "tcp_defer_accept",
	"tcp_socket_buffer", "tcp_user_timeout", "transaction_timeout",
};

#define CFD(n, k, lo, hi) { #n, k, offsetof(DbDef, n), 0, lo, hi, NULL, false }
#define D_ARR(n) { #n, CF_ARR, offsetof(DbDef, n), CF_FIELD_SIZE(DbDef, n), 0, 0, NULL, false }

/* Keys of a [databases] line. */
static const CfField cf_db_keys[] = {
	D_ARR(dbname),
	D_ARR(host),
	{ "port", CF_ARR, offsetof(DbDef, ports), CF_FIELD_SIZE(DbDef, ports), 0, 0, NULL, false },
	D_ARR(primary),
	D_ARR(replicas),
	D_ARR(router),
	D_ARR(router_options),
	D_ARR(ryw_scope),
	D_ARR(weights),
	D_ARR(user),
	D_ARR(password),
	CFD(pool_size, CF_INT, 0, INT_MAX),
	CFD(min_pool_size, CF_INT, 0, INT_MAX),
	CFD(reserve_pool_size, CF_INT, 0, INT_MAX),
	{ "reserve_pool", CF_INT, offsetof(DbDef, reserve_pool_size), 0, 0, INT_MAX, NULL, false },
	CFD(max_db_connections, CF_INT, 0, INT_MAX),
	CFD(pool_mode, CF_POOL_MODE, 0, 0),
	CFD(connect_query, CF_STR, 0, 0),
	D_ARR(client_encoding),
	D_ARR(datestyle),
	D_ARR(timezone),
	D_ARR(application_name),
	D_ARR(auth_user),
	D_ARR(auth_query),
	D_ARR(auth_dbname),
};

static const char *const cf_db_unimplemented[] = {
	"load_balance_hosts", "max_db_client_connections", "server_lifetime", "query_wait_timeout",
};

#define CFU(n, k) { #n, k, offsetof(UserDef, n), 0, 0, INT_MAX, NULL, false }

/* Keys of a [users] line. */
static const CfField cf_user_keys[] = {
	CFU(pool_mode, CF_POOL_MODE),
	CFU(pool_size, CF_INT),
	CFU(reserve_pool_size, CF_INT),
	CFU(max_user_connections, CF_INT),
	CFU(query_timeout, CF_TIME),
	CFU(idle_transaction_timeout, CF_TIME),
	CFU(client_idle_timeout, CF_TIME),
};

static const char *const cf_user_unimplemented[] = {
	"max_user_client_connections", "query_wait_timeout", "transaction_timeout",
};

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

static void cf_msg(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void cf_msg(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (buf == NULL || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static const CfField *cf_find_field(const CfField *tab, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(tab[i].name, name) == 0)
			return &tab[i];
	}
	return NULL;
}

static bool cf_in_names(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (strcasecmp(names[i], name) == 0)
			return true;
	}
	return false;
}

static char *cf_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

static void cf_lower(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Copy a key name, lower-cased; false if it does not fit. */
static bool cf_copy_key(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (n >= len)
		return false;
	memcpy(dst, src, n + 1);
	cf_lower(dst);
	return true;
}

/* ------------------------------------------------------------------ */
/* Value parsing and rendering                                         */
/* ------------------------------------------------------------------ */

static bool cf_parse_int(const char *s, int base, long long min, long long max,
			 long long *out, char *msg, size_t len)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, base);
	if (*s == '\0' || end == s || *end != '\0' || errno != 0) {
		cf_msg(msg, len, "invalid integer '%s'", s);
		return false;
	}
	if (v < min || v > max) {
		cf_msg(msg, len, "value %s out of range (%lld..%lld)", s, min, max);
		return false;
	}
	*out = v;
	return true;
}

static bool cf_parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "1", "yes", "on", "true" };
	static const char *const no[] = { "0", "no", "off", "false" };

	if (cf_in_names(yes, CF_ARRAY_SIZE(yes), s)) {
		*out = true;
		return true;
	}
	if (cf_in_names(no, CF_ARRAY_SIZE(no), s)) {
		*out = false;
		return true;
	}
	return false;
}

static bool cf_parse_pool_mode(const char *s, int *out)
{
	if (strcasecmp(s, "session") == 0)
		*out = POOL_MODE_SESSION;
	else if (strcasecmp(s, "transaction") == 0)
		*out = POOL_MODE_TRANSACTION;
	else if (strcasecmp(s, "statement") == 0)
		*out = POOL_MODE_STATEMENT;
	else
		return false;
	return true;
}

static const char *const cf_tls_mode_names[] = {
	"disable", "allow", "prefer", "require", "verify-ca", "verify-full",
};

static bool cf_parse_tls_mode(const char *s, int *out)
{
	for (size_t i = 0; i < CF_ARRAY_SIZE(cf_tls_mode_names); i++) {
		if (strcasecmp(s, cf_tls_mode_names[i]) == 0) {
			*out = (int)i;
			return true;
		}
	}
	return false;
}

const char *config_tls_mode_name(int mode)
{
	if (mode < 0 || mode >= (int)CF_ARRAY_SIZE(cf_tls_mode_names))
		return "";
	return cf_tls_mode_names[mode];
}

static bool cf_parse_auth_type(const char *s, int *out, char *msg, size_t len)
{
	static const char *const refused[] = { "pam", "ldap" };

	if (strcasecmp(s, "trust") == 0)
		*out = AUTH_TYPE_TRUST;
	else if (strcasecmp(s, "any") == 0)
		*out = AUTH_TYPE_ANY;
	else if (strcasecmp(s, "plain") == 0 || strcasecmp(s, "password") == 0)
		*out = AUTH_TYPE_PLAIN;
	else if (strcasecmp(s, "md5") == 0)
		*out = AUTH_TYPE_MD5;
	else if (strcasecmp(s, "scram-sha-256") == 0)
		*out = AUTH_TYPE_SCRAM;
	else if (strcasecmp(s, "hba") == 0)
		*out = AUTH_TYPE_HBA;
	else if (strcasecmp(s, "cert") == 0)
		*out = AUTH_TYPE_CERT;
	else if (cf_in_names(refused, CF_ARRAY_SIZE(refused), s)) {
		cf_msg(msg, len, "value '%s' is not supported yet; refusing to start "
		       "with weaker security than configured", s);
		return false;
	} else {
		cf_msg(msg, len, "invalid value '%s' (expected trust, any, plain, "
		       "md5, scram-sha-256, hba or cert)", s);
		return false;
	}
	return true;
}

bool config_parse_time(const char *s, usec_t *out)
{
	static const struct { const char *unit; long long mult; } units[] = {
		{ "", CF_USEC }, { "s", CF_USEC }, { "us", 1 }, { "ms", 1000 },
		{ "min", 60 * CF_USEC }, { "h", 3600 * CF_USEC },
		{ "d", 86400 * CF_USEC },
	};
	char num[64];
	const char *p = s;
	size_t digits = 0, numlen;
	double v;

	if (s == NULL)
		return false;
	for (; isdigit((unsigned char)*p); p++)
		digits++;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			digits++;
	numlen = (size_t)(p - s);
	if (digits == 0 || numlen >= sizeof(num))
		return false;
	memcpy(num, s, numlen);
	num[numlen] = '\0';
	while (*p == ' ' || *p == '\t')
		p++;
	v = strtod(num, NULL);
	for (size_t i = 0; i < CF_ARRAY_SIZE(units); i++) {
		if (strcasecmp(p, units[i].unit) != 0)
			continue;
		v *= (double)units[i].mult;
		if (v > 4e18)
			return false;
		*out = (usec_t)(v + 0.5);
		return true;
	}
	return false;
}

/* Parse value into the field of obj (Config, DbDef or UserDef). */
static bool cf_set_field(const CfField *f, void *obj, const char *value,
			 char *msg, size_t len)
{
	char *dst = (char *)obj + f->offset;
	long long n;

	switch (f->kind) {
	case CF_STR: {
		char *copy = strdup(value);
		if (copy == NULL) {
			cf_msg(msg, len, "out of memory");
			return false;
		}
		free(*(char **)dst);
		*(char **)dst = copy;
		return true;
	}
	case CF_ARR:
		if (strlen(value) >= f->size) {
			cf_msg(msg, len, "value too long (at most %zu characters)", f->size - 1);
			return false;
		}
		memcpy(dst, value, strlen(value) + 1);
		return true;
	case CF_INT:
	case CF_OCTAL:
		if (!cf_parse_int(value, f->kind == CF_OCTAL ? 0 : 10, f->min, f->max, &n, msg, len))
			return false;
		*(int *)dst = (int)n;
		return true;
	case CF_BOOL:
		if (!cf_parse_bool(value, (bool *)dst)) {
			cf_msg(msg, len, "invalid boolean '%s' (expected 0/1, yes/no, on/off, true/false)", value);
			return false;
		}
		return true;
	case CF_TIME:
		if (!config_parse_time(value, (usec_t *)dst)) {
			cf_msg(msg, len, "invalid time '%s' (seconds, or a number with unit us, ms, s, min, h, d)", value);
			return false;
		}
		return true;
	case CF_POOL_MODE:
		if (!cf_parse_pool_mode(value, (int *)dst)) {
			cf_msg(msg, len, "invalid pool_mode '%s' (expected session, transaction or statement)", value);
			return false;
		}
		return true;
	case CF_AUTH_TYPE:
		return cf_parse_auth_type(value, (int *)dst, msg, len);
	case CF_TLS_MODE:
		if (!cf_parse_tls_mode(value, (int *)dst)) {
			cf_msg(msg, len, "invalid value '%s' (expected disable, allow, prefer, "
			       "require, verify-ca or verify-full)", value);
			return false;
		}
		return true;
	}
	cf_msg(msg, len, "internal error: bad field kind");
	return false;
}

static void cf_render_time(usec_t v, char *buf, size_t len)
{
	char *end;

	if (v % CF_USEC == 0) {
		snprintf(buf, len, "%lld", (long long)(v / CF_USEC));
		return;
	}
	snprintf(buf, len, "%lld.%06lld", (long long)(v / CF_USEC), (long long)(v % CF_USEC));
	end = buf + strlen(buf);
	while (end > buf && end[-1] == '0')
		*--end = '\0';
}

static void cf_render_field(const CfField *f, const void *obj, char *buf, size_t len)
{
	const char *src = (const char *)obj + f->offset;
	const char *s;

	switch (f->kind) {
	case CF_STR:
		s = *(char *const *)src;
		snprintf(buf, len, "%s", s ? s : "");
		return;
	case CF_ARR:
		snprintf(buf, len, "%s", src);
		return;
	case CF_INT:
		snprintf(buf, len, "%d", *(const int *)src);
		return;
	case CF_OCTAL:
		snprintf(buf, len, "0%o", (unsigned)*(const int *)src);
		return;
	case CF_BOOL:
		snprintf(buf, len, "%d", *(const bool *)src ? 1 : 0);
		return;
	case CF_TIME:
		cf_render_time(*(const usec_t *)src, buf, len);
		return;
	case CF_POOL_MODE:
		snprintf(buf, len, "%s", config_pool_mode_name(*(const int *)src));
		return;
	case CF_AUTH_TYPE:
		snprintf(buf, len, "%s", config_auth_type_name(*(const int *)src));
		return;
	case CF_TLS_MODE:
		snprintf(buf, len, "%s", config_tls_mode_name(*(const int *)src));
		return;
	}
	snprintf(buf, len, "?");
}

static void cf_free_strings(const CfField *tab, size_t n, void *obj)
{
	for (size_t i = 0; i < n; i++) {
		if (tab[i].kind == CF_STR) {
			char **p = (char **)((char *)obj + tab[i].offset);
			free(*p);
			*p = NULL;
		}
	}
}

const char *config_pool_mode_name(int mode)
{
	switch (mode) {
	case POOL_MODE_SESSION:
		return "session";
	case POOL_MODE_TRANSACTION:
		return "transaction";
	case POOL_MODE_STATEMENT:
		return "statement";
	default:
		return "";
	}
}

const char *config_auth_type_name(int type)
{
	switch (type) {
	case AUTH_TYPE_TRUST:
		return "trust";
	case AUTH_TYPE_ANY:
		return "any";
	case AUTH_TYPE_PLAIN:
		return "plain";
	case AUTH_TYPE_MD5:
		return "md5";
	case AUTH_TYPE_SCRAM:
		return "scram-sha-256";
	case AUTH_TYPE_HBA:
		return "hba";
	case AUTH_TYPE_CERT:
		return "cert";
	default:
		return "";
	}
}

/* ------------------------------------------------------------------ */
/* Config objects                                                      */
/* ------------------------------------------------------------------ */

Config *config_new_defaults(void)
{
	Config *cfg = calloc(1, sizeof(*cfg));
	char msg[128];

	if (cfg == NULL)
		return NULL;
	for (size_t i = 0; i < CF_ARRAY_SIZE(cf_keys); i++) {
		if (cf_keys[i].def == NULL)
			continue;
		if (!cf_set_field(&cf_keys[i], cfg, cf_keys[i].def, msg, sizeof(msg))) {
			config_free(cfg);
			return NULL;
		}
	}
	return cfg;
}

static void cf_free_db(DbDef *db)
{
	if (db == NULL)
		return;
	free(db->connect_query);
	free(db->extra);
	free(db);
}

void config_free(Config *cfg)
{
	if (cfg == NULL)
		return;
	cf_free_strings(cf_keys, CF_ARRAY_SIZE(cf_keys), cfg);
	while (cfg->databases) {
		DbDef *db = cfg->databases;
		cfg->databases = db->next;
		cf_free_db(db);
	}
	while (cfg->users) {
		UserDef *u = cfg->users;
		cfg->users = u->next;
		free(u);
	}
	for (int i = 0; i < cfg->nfiles; i++)
		free(cfg->files[i]);
	free(cfg->files);
	free(cfg->unimplemented);
	free(cfg->config_file);
	free(cfg);
}

const DbDef *config_find_db(const Config *cfg, const char *name)
{
	for (const DbDef *db = cfg ? cfg->databases : NULL; db; db = db->next) {
		if (strcmp(db->name, name) == 0)
			return db;
	}
	return NULL;
}

const UserDef *config_find_user(const Config *cfg, const char *name)
{
	for (const UserDef *u = cfg ? cfg->users : NULL; u; u = u->next) {
		if (strcmp(u->name, name) == 0)
			return u;
	}
	return NULL;
}

bool config_list_contains(const char *list, const char *name)
{
	size_t nlen;
	const char *p = list;

	if (list == NULL || name == NULL || *name == '\0')
		return false;
	nlen = strlen(name);
	while (*p) {
		size_t n;

		p += strspn(p, ", \t");
		n = strcspn(p, ", \t");
		if (n == nlen && strncmp(p, name, n) == 0)
			return true;
		p += n;
	}
	return false;
}

/* true if item is one of the ", "-separated entries of list. */
static bool cf_list_has_item(const char *list, const char *item)
{
	size_t ilen = strlen(item);

	for (const char *p = list; p; ) {
		const char *sep = strstr(p, ", ");
		size_t n = sep ? (size_t)(sep - p) : strlen(p);

		if (n == ilen && strncmp(p, item, n) == 0)
			return true;
		p = sep ? sep + 2 : NULL;
	}
	return false;
}

/* Add name to Config.unimplemented unless already there. */
static bool cf_note_unimplemented(Config *cfg, const char *name)
{
	size_t old, add = strlen(name);
	char *s;

	if (cfg->unimplemented && cf_list_has_item(cfg->unimplemented, name))
		return true;
	old = cfg->unimplemented ? strlen(cfg->unimplemented) : 0;
	s = realloc(cfg->unimplemented, old + 2 + add + 1);
	if (s == NULL)
		return false;
	if (old > 0) {
		memcpy(s + old, ", ", 2);
		old += 2;
	}
	memcpy(s + old, name, add + 1);
	cfg->unimplemented = s;
	return true;
}

static bool cf_add_file(Config *cfg, const char *path)
{
	char **files = realloc(cfg->files, sizeof(*files) * (size_t)(cfg->nfiles + 1));

	if (files == NULL)
		return false;
	cfg->files = files;
	files[cfg->nfiles] = strdup(path);
	if (files[cfg->nfiles] == NULL)
		return false;
	cfg->nfiles++;
	return true;
}

/* ------------------------------------------------------------------ */
/* The parser                                                          */
/* ------------------------------------------------------------------ */

typedef enum CfSection {
	CF_SECT_NONE,
	CF_SECT_PGBOUNCER,
	CF_SECT_DATABASES,
	CF_SECT_USERS,
	CF_SECT_PEERS,
} CfSection;

typedef struct CfParser {
	Config *cfg;
	char *err;
	size_t errlen;
	const char *file;     /* file being read (points into cfg->files) */
	int line;
	CfSection section;
	int depth;            /* 0 = top file */
	char *stack[CF_MAX_INCLUDE_DEPTH + 1]; /* real paths of open files */
} CfParser;

static bool cf_fail(CfParser *p, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Report "FILE:LINE: [key 'K': ]message"; always returns false. */
static bool cf_fail(CfParser *p, const char *key, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (key)
		cf_msg(p->err, p->errlen, "%s:%d: key '%s': %s", p->file, p->line, key, msg);
	else
		cf_msg(p->err, p->errlen, "%s:%d: %s", p->file, p->line, msg);
	return false;
}

static bool cf_note(CfParser *p, const char *name)
{
	if (!cf_note_unimplemented(p->cfg, name))
		return cf_fail(p, NULL, "out of memory");
	return true;
}

/* --- [pgbouncer] ---------------------------------------------------- */

/* unix_socket_group narrows who may connect; ignoring it could widen it. */
static bool cf_unix_socket_group(CfParser *p, const char *key, const char *value)
{
	if (*value == '\0')
		return true;
	return cf_fail(p, key, "value '%s' is not supported yet; refusing to start "
		       "with weaker security than configured", value);
}

typedef bool (*CfSpecialFn)(CfParser *p, const char *key, const char *value);

static const struct {
	const char *name;
	CfSpecialFn fn;
} cf_special_keys[] = {
	{ "unix_socket_group", cf_unix_socket_group },
};

static bool cf_setting(CfParser *p, const char *rawkey, const char *value)
{
	char key[CF_KEY_MAX], msg[512];
	const CfField *f;

	if (!cf_copy_key(key, sizeof(key), rawkey))
		return cf_fail(p, rawkey, "unknown setting");
	f = cf_find_field(cf_keys, CF_ARRAY_SIZE(cf_keys), key);
	if (f) {
		if (!cf_set_field(f, p->cfg, value, msg, sizeof(msg)))
			return cf_fail(p, key, "%s", msg);
		return true;
	}
	for (size_t i = 0; i < CF_ARRAY_SIZE(cf_special_keys); i++) {
		if (strcmp(cf_special_keys[i].name, key) == 0)
			return cf_special_keys[i].fn(p, key, value);
	}
	if (cf_in_names(cf_unimplemented_keys, CF_ARRAY_SIZE(cf_unimplemented_keys), key))
		return cf_note(p, key);
	return cf_fail(p, key, "unknown setting");
}

/* --- key=value lists of [databases] and [users] ---------------------- */

/* Read a single-quoted value ('' is a quote) from *pos into val. */
static bool cf_quoted_value(const char **pos, char *val)
{
	const char *s = *pos + 1;

	for (;;) {
		if (*s == '\0')
			return false;
		if (*s == '\'') {
			if (s[1] != '\'')
				break;
			s++;
		}
		*val++ = *s++;
	}
	*val = '\0';
	*pos = s + 1;
	return true;
}

/*
 * Next "key=value" of a list.  val must have room for the whole line.
 * Returns 1 for a pair, 0 at the end, -1 on a syntax error (*why set).
 */
static int cf_next_pair(const char **pos, char *key, size_t keylen, char *val,
			const char **why)
{
	const char *s = *pos;
	size_t n;

	while (isspace((unsigned char)*s))
		s++;
	if (*s == '\0')
		return 0;
	n = strcspn(s, "= \t");
	if (n == 0 || n >= keylen) {
		*why = n == 0 ? "expected key=value" : "parameter name too long";
		return -1;
	}
	memcpy(key, s, n);
	key[n] = '\0';
	cf_lower(key);
	for (s += n; isspace((unsigned char)*s); s++)
		;
	if (*s != '=') {
		*why = "expected '=' after the parameter name";
		return -1;
	}
	for (s++; isspace((unsigned char)*s); s++)
		;
	if (*s == '\'') {
		if (!cf_quoted_value(&s, val)) {
			*why = "unterminated quoted value";
			return -1;
		}
		if (*s != '\0' && !isspace((unsigned char)*s)) {
			*why = "garbage after quoted value";
			return -1;
		}
	} else {
		n = strcspn(s, " \t");
		memcpy(val, s, n);
		val[n] = '\0';
		s += n;
	}
	*pos = s;
	return 1;
}

/* Apply one key=value of a [databases]/[users] line to obj. */
static bool cf_list_pair(CfParser *p, const CfField *tab, size_t ntab,
			 const char *const *unimpl, size_t nunimpl, const char *sect,
			 void *obj, const char *name, const char *key, const char *val)
{
	const CfField *f = cf_find_field(tab, ntab, key);
	char msg[512];

	if (f) {
		if (!cf_set_field(f, obj, val, msg, sizeof(msg)))
			return cf_fail(p, key, "%s", msg);
		return true;
	}
	if (cf_in_names(unimpl, nunimpl, key)) {
		snprintf(msg, sizeof(msg), "[%s] %s", sect, key);
		return cf_note(p, msg);
	}
	return cf_fail(p, key, "unknown parameter in [%s] entry '%s'", sect, name);
}

/* Parse the whole value of a [databases]/[users] line into obj. */
static bool cf_parse_list(CfParser *p, const CfField *tab, size_t ntab,
			  const char *const *unimpl, size_t nunimpl, const char *sect,
			  void *obj, const char *name, const char *value)
{
	char key[CF_KEY_MAX];
	char *val = malloc(strlen(value) + 1);
	const char *pos = value, *why = NULL;
	bool good = true;
	int r;

	if (val == NULL)
		return cf_fail(p, NULL, "out of memory");
	while (good && (r = cf_next_pair(&pos, key, sizeof(key), val, &why)) != 0) {
		if (r < 0)
			good = cf_fail(p, NULL, "[%s] entry '%s': %s", sect, name, why);
		else
			good = cf_list_pair(p, tab, ntab, unimpl, nunimpl, sect, obj, name, key, val);
	}
	free(val);
	return good;
}

/* Split 'name = rest', name possibly "double ""quoted""". */
static bool cf_split_name(CfParser *p, char *line, char *name, size_t namelen, char **rest)
{
	size_t n = 0;
	char *s = line;

	if (*s == '"') {
		for (s++; *s && !(*s == '"' && s[1] != '"'); s++) {
			if (*s == '"')
				s++;
			if (n + 1 < namelen)
				name[n] = *s;
			n++;
		}
		if (*s != '"')
			return cf_fail(p, NULL, "unterminated quoted name");
		for (s++; isspace((unsigned char)*s); s++)
			;
		if (*s != '=')
			return cf_fail(p, NULL, "syntax error: expected 'name = value'");
	} else {
		char *eq = strchr(s, '=');
		if (eq == NULL)
			return cf_fail(p, NULL, "syntax error: expected 'name = value'");
		*eq = '\0';
		s = cf_trim(s);
		n = strlen(s);
		if (n < namelen)
			memcpy(name, s, n);
		s = eq;
	}
	if (n == 0)
		return cf_fail(p, NULL, "syntax error: empty name");
	if (n >= namelen)
		return cf_fail(p, NULL, "name too long (at most %zu characters)", namelen - 1);
	name[n] = '\0';
	*rest = cf_trim(s + 1);
	return true;
}

static void cf_add_db(Config *cfg, DbDef *db)
{
	DbDef **pp = &cfg->databases;

	/* Last definition wins: drop an earlier one of the same name. */
	while (*pp) {
		if (strcmp((*pp)->name, db->name) == 0) {
			DbDef *old = *pp;
			*pp = old->next;
			cf_free_db(old);
			continue;
		}
		pp = &(*pp)->next;
	}
	*pp = db;
}

static DbDef *cf_new_db(const char *name)
{
	DbDef *db = calloc(1, sizeof(*db));

	if (db == NULL)
		return NULL;
	snprintf(db->name, sizeof(db->name), "%s", name);
	db->port = 5432;
	db->pool_size = -1;
	db->min_pool_size = -1;
	db->reserve_pool_size = -1;
	db->max_db_connections = -1;
	db->pool_mode = POOL_MODE_UNSET;
	return db;
}

/* Parse "5432" into *port; false if it is not a port number. */
static bool cf_port(const char *s, size_t len, int *port)
{
	char buf[16];
	char *end;
	long v;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	v = strtol(buf, &end, 10);
	if (*end || v < 1 || v > 65535)
		return false;
	*port = (int)v;
	return true;
}

/* Append "host[:port]" (port defaults to defport) to db->hosts. */
static bool cf_add_host(CfParser *p, DbDef *db, const char *key, const char *s, size_t len,
                        int defport, bool primary)
{
	DbHost *h;
	const char *colon = NULL;
	size_t hlen = len;

	if (db->nhosts >= CF_MAX_BACKENDS)
		return cf_fail(p, key, "more than %d hosts", CF_MAX_BACKENDS);
	if (len > 0 && s[0] != '/' && s[0] != '[')
		colon = memchr(s, ':', len);
	if (colon && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)))
		colon = NULL; /* a bare IPv6 address */
	h = &db->hosts[db->nhosts];
	h->port = defport;
	if (colon) {
		hlen = (size_t)(colon - s);
		if (!cf_port(colon + 1, len - hlen - 1, &h->port))
			return cf_fail(p, key, "bad port in \"%.*s\"", (int)len, s);
	}
	if (hlen >= sizeof(h->host))
		return cf_fail(p, key, "host name too long");
	memcpy(h->host, s, hlen);
	h->host[hlen] = '\0';
	h->named_primary = primary;
	db->nhosts++;
	return true;
}

/* Split a comma list and add each element as a host. */
static bool cf_add_host_list(CfParser *p, DbDef *db, const char *key, const char *list,
                             const int *ports, int nports, bool primary)
{
	const char *s = list;
	int i = 0;

	for (;;) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		int port = nports == 1 ? ports[0] : (i < nports ? ports[i] : 5432);
		while (len > 0 && (*s == ' ' || *s == '\t')) {
			s++;
			len--;
		}
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (!cf_add_host(p, db, key, s, len, port, primary && i == 0))
			return false;
		i++;
		if (!comma)
			return true;
		s = comma + 1;
	}
}

/* weights=w1,w2,...: one per backend in order (0 = send nothing new). */
static bool cf_db_weights(CfParser *p, DbDef *db)
{
	const char *s = db->weights;
	int i = 0;

	for (int k = 0; k < db->nhosts; k++)
		db->hosts[k].weight = 1;
	while (*s) {
		char *end;
		long v = strtol(s, &end, 10);
		if (end == s || v < 0 || v > 1000000 || (*end && *end != ',') || i >= db->nhosts)
			return cf_fail(p, "weights", "\"%s\": give one weight (0..1000000) per host, comma-separated",
			               db->weights);
		db->hosts[i++].weight = (int)v;
		s = *end ? end + 1 : end;
	}
	if (i != 0 && i != db->nhosts)
		return cf_fail(p, "weights", "%d weights for %d hosts", i, db->nhosts);
	return true;
}

/* host=a,b,c port=1[,2,3] or primary=h[:p] replicas=h[:p],...: fill db->hosts. */
static bool cf_db_hosts(CfParser *p, DbDef *db, const char *name)
{
	int ports[CF_MAX_BACKENDS], nports = 0, nlisted = 1;
	const char *s = db->ports;

	(void)name;
	while (*s) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		if (nports >= CF_MAX_BACKENDS || !cf_port(s, len, &ports[nports]))
			return cf_fail(p, "port", "bad port list \"%s\": not a number or out of range 1..65535", db->ports);
		nports++;
		s = comma ? comma + 1 : s + len;
	}
	if (nports == 0)
		ports[nports++] = 5432;
	db->port = ports[0];
	if (db->primary[0] || db->replicas[0]) {
		if (db->host[0])
			return cf_fail(p, "primary", "give either host= or primary=/replicas=, not both");
		if (!db->primary[0])
			return cf_fail(p, "replicas", "replicas= needs primary=");
		if (!cf_add_host_list(p, db, "primary", db->primary, ports, 1, true))
			return false;
		if (db->replicas[0] && !cf_add_host_list(p, db, "replicas", db->replicas, ports, 1, false))
			return false;
		snprintf(db->host, sizeof(db->host), "%s", db->hosts[0].host);
		db->port = db->hosts[0].port;
		return true;
	}
	for (s = db->host; *s; s++)
		nlisted += *s == ',';
	if (nlisted == 1 && nports > 1) {
		/* one host, several ports: a backend per port on that host */
		for (int i = 0; i < nports; i++)
			if (!cf_add_host(p, db, "host", db->host, strlen(db->host), ports[i], false))
				return false;
		db->port = ports[0];
		return true;
	}
	if (nports != 1 && nports != nlisted)
		return cf_fail(p, "port", "%d ports for %d hosts: give one port or one per host",
		               nports, nlisted);
	if (!cf_add_host_list(p, db, "host", db->host, ports, nports, false))
		return false;
	snprintf(db->host, sizeof(db->host), "%s", db->hosts[0].host);
	db->port = db->hosts[0].port;
	return true;
}

static bool cf_database(CfParser *p, char *line)
{
	char name[CF_NAME_MAX], *value, *raw = strdup(line);
	DbDef *db;

	if (raw == NULL)
		return cf_fail(p, NULL, "out of memory");
	if (!cf_split_name(p, line, name, sizeof(name), &value)) {
		free(raw);
		return false;
	}
	if (strcmp(name, "pgbouncer") == 0 || strcmp(name, "lagoon") == 0) {
		free(raw);
		return cf_fail(p, name, "database name is reserved for the admin console");
	}
	db = cf_new_db(name);
	if (db == NULL) {
		free(raw);
		return cf_fail(p, NULL, "out of memory");
	}
	db->extra = raw;
	db->file = p->file;
	db->line = p->line;
	if (!cf_parse_list(p, cf_db_keys, CF_ARRAY_SIZE(cf_db_keys), cf_db_unimplemented,
			   CF_ARRAY_SIZE(cf_db_unimplemented), "databases", db, name, value)) {
		cf_free_db(db);
		return false;
	}
	if (!cf_db_hosts(p, db, name) || !cf_db_weights(p, db)) {
		cf_free_db(db);
		return false;
	}
	cf_add_db(p->cfg, db);
	return true;
}

static void cf_add_user(Config *cfg, UserDef *u)
{
	UserDef **pp = &cfg->users;

	while (*pp) {
		if (strcmp((*pp)->name, u->name) == 0) {
			UserDef *old = *pp;
			*pp = old->next;
			free(old);
			continue;
		}
		pp = &(*pp)->next;
	}
	*pp = u;
}

static bool cf_user(CfParser *p, char *line)
{
	char name[CF_NAME_MAX], *value;
	UserDef *u;

	if (!cf_split_name(p, line, name, sizeof(name), &value))
		return false;
	u = calloc(1, sizeof(*u));
	if (u == NULL)
		return cf_fail(p, NULL, "out of memory");
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->pool_mode = POOL_MODE_UNSET;
	u->pool_size = u->reserve_pool_size = u->max_user_connections = -1;
	u->query_timeout = u->idle_transaction_timeout = u->client_idle_timeout = -1;
	if (!cf_parse_list(p, cf_user_keys, CF_ARRAY_SIZE(cf_user_keys), cf_user_unimplemented,
			   CF_ARRAY_SIZE(cf_user_unimplemented), "users", u, name, value)) {
		free(u);
		return false;
	}
	cf_add_user(p->cfg, u);
	return true;
}

/* --- lines, sections, files ----------------------------------------- */

static bool cf_section(CfParser *p, char *line)
{
	size_t n = strlen(line);
	char *name;

	if (line[n - 1] != ']')
		return cf_fail(p, NULL, "syntax error: malformed section header '%s'", line);
	line[n - 1] = '\0';
	name = cf_trim(line + 1);
	if (strcasecmp(name, "pgbouncer") == 0 || strcasecmp(name, "lagoon") == 0)
		p->section = CF_SECT_PGBOUNCER;
	else if (strcasecmp(name, "databases") == 0)
		p->section = CF_SECT_DATABASES;
	else if (strcasecmp(name, "users") == 0)
		p->section = CF_SECT_USERS;
	else if (strcasecmp(name, "peers") == 0) {
		p->section = CF_SECT_PEERS;
		return cf_note(p, "[peers]");
	} else
		return cf_fail(p, NULL, "unknown section [%s]", name);
	return true;
}

/* "key = value" in [pgbouncer] or [peers]. */
static bool cf_key_value(CfParser *p, char *line)
{
	char *eq = strchr(line, '='), *key;

	if (eq == NULL)
		return cf_fail(p, NULL, "syntax error: expected 'key = value'");
	*eq = '\0';
	key = cf_trim(line);
	if (*key == '\0')
		return cf_fail(p, NULL, "syntax error: empty key");
	if (p->section == CF_SECT_PEERS)
		return true;
	return cf_setting(p, key, cf_trim(eq + 1));
}

static bool cf_parse_file(CfParser *p, const char *path);

static bool cf_include(CfParser *p, char *arg)
{
	const char *slash;
	char *path;
	size_t dirlen;
	bool good;

	arg = cf_trim(arg);
	if (*arg == '\0')
		return cf_fail(p, NULL, "%%include without a file name");
	slash = strrchr(p->file, '/');
	if (arg[0] == '/' || slash == NULL)
		return cf_parse_file(p, arg);
	dirlen = (size_t)(slash - p->file);
	path = malloc(dirlen + 1 + strlen(arg) + 1);
	if (path == NULL)
		return cf_fail(p, NULL, "out of memory");
	sprintf(path, "%.*s/%s", (int)dirlen, p->file, arg);
	good = cf_parse_file(p, path);
	free(path);
	return good;
}

static bool cf_line(CfParser *p, char *raw)
{
	char *line = cf_trim(raw);

	if (*line == '\0' || *line == ';' || *line == '#')
		return true;
	if (strncmp(line, "%include", 8) == 0 &&
	    (line[8] == '\0' || isspace((unsigned char)line[8])))
		return cf_include(p, line + 8);
	if (*line == '%')
		return cf_fail(p, NULL, "syntax error: unknown directive '%s'", line);
	if (*line == '[')
		return cf_section(p, line);
	switch (p->section) {
	case CF_SECT_PGBOUNCER:
	case CF_SECT_PEERS:
		return cf_key_value(p, line);
	case CF_SECT_DATABASES:
		return cf_database(p, line);
	case CF_SECT_USERS:
		return cf_user(p, line);
	case CF_SECT_NONE:
		break;
	}
	return cf_fail(p, NULL, "syntax error: setting outside of any section");
}

static bool cf_read_lines(CfParser *p, FILE *f)
{
	char *buf = NULL;
	size_t cap = 0;
	bool good = true;

	while (good && getline(&buf, &cap, f) >= 0) {
		p->line++;
		good = cf_line(p, buf);
	}
	if (good && ferror(f))
		good = cf_fail(p, NULL, "read error: %s", strerror(errno));
	free(buf);
	return good;
}

/* Reject a file that is already open further up, or nesting too deep. */
static bool cf_check_nesting(CfParser *p, const char *path, const char *real)
{
	if (p->depth > CF_MAX_INCLUDE_DEPTH)
		return cf_fail(p, NULL, "%%include '%s': includes nested more than %d deep",
			       path, CF_MAX_INCLUDE_DEPTH);
	for (int i = 0; i < p->depth; i++) {
		if (strcmp(p->stack[i], real) == 0)
			return cf_fail(p, NULL, "%%include '%s': include loop "
				       "(the file is already being read)", path);
	}
	return true;
}

static bool cf_open_failed(CfParser *p, const char *path, int e)
{
	if (p->depth == 0) {
		cf_msg(p->err, p->errlen, "%s: cannot open configuration file: %s",
		       path, strerror(e));
		return false;
	}
	return cf_fail(p, NULL, "%%include '%s': cannot open: %s", path, strerror(e));
}

/* Read the lines of an open, checked file; restores the includer after. */
static bool cf_read_file(CfParser *p, const char *path, FILE *f)
{
	const char *saved_file = p->file;
	int saved_line = p->line;
	bool good;

	if (!cf_add_file(p->cfg, path))
		return cf_fail(p, NULL, "out of memory");
	p->file = p->cfg->files[p->cfg->nfiles - 1];
	p->line = 0;
	p->depth++;
	good = cf_read_lines(p, f);
	p->depth--;
	if (good) {
		p->file = saved_file;
		p->line = saved_line;
	}
	return good;
}

static bool cf_parse_file(CfParser *p, const char *path)
{
	char *real = realpath(path, NULL);
	FILE *f;
	bool good;

	if (real == NULL)
		return cf_open_failed(p, path, errno);
	if (!cf_check_nesting(p, path, real)) {
		free(real);
		return false;
	}
	f = fopen(path, "r");
	if (f == NULL) {
		int e = errno;
		free(real);
		return cf_open_failed(p, path, e);
	}
	if (p->depth == 0 && (p->cfg->config_file = strdup(real)) == NULL) {
		free(real);
		fclose(f);
		cf_msg(p->err, p->errlen, "out of memory");
		return false;
	}
	p->stack[p->depth] = real;
	good = cf_read_file(p, path, f);
	p->stack[p->depth] = NULL;
	free(real);
	fclose(f);
	return good;
}

bool config_load(const char *path, Config **out, char *err, size_t errlen)
{
	CfParser p;
	Config *cfg = config_new_defaults();

	if (cfg == NULL) {
		cf_msg(err, errlen, "out of memory");
		return false;
	}
	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.err = err;
	p.errlen = errlen;
	p.file = path;
	if (!cf_parse_file(&p, path)) {
		config_free(cfg);
		return false;
	}
	*out = cfg;
	return true;
}

/* ------------------------------------------------------------------ */
/* SHOW CONFIG and SET                                                 */
/* ------------------------------------------------------------------ */

static ConfigKeyInfo cf_key_info[CF_ARRAY_SIZE(cf_keys)];

static int cf_key_info_cmp(const void *a, const void *b)
{
	return strcmp(((const ConfigKeyInfo *)a)->name, ((const ConfigKeyInfo *)b)->name);
}

const ConfigKeyInfo *config_keys(size_t *n)
{
	if (cf_key_info[0].name == NULL) {
		for (size_t i = 0; i < CF_ARRAY_SIZE(cf_keys); i++) {
			cf_key_info[i].name = cf_keys[i].name;
			cf_key_info[i].reloadable = cf_keys[i].reloadable;
		}
		qsort(cf_key_info, CF_ARRAY_SIZE(cf_key_info), sizeof(cf_key_info[0]),
		      cf_key_info_cmp);
	}
	if (n)
		*n = CF_ARRAY_SIZE(cf_key_info);
	return cf_key_info;
}

bool config_value_text(const Config *cfg, const char *key, char *buf, size_t len)
{
	const CfField *f = cf_find_field(cf_keys, CF_ARRAY_SIZE(cf_keys), key);

	if (f == NULL || cfg == NULL)
		return false;
	cf_render_field(f, cfg, buf, len);
	return true;
}

bool config_default_text(const char *key, char *buf, size_t len)
{
	const CfField *f = cf_find_field(cf_keys, CF_ARRAY_SIZE(cf_keys), key);
	Config tmp;
	char msg[128];

	if (f == NULL)
		return false;
	memset(&tmp, 0, sizeof(tmp));
	if (f->def && !cf_set_field(f, &tmp, f->def, msg, sizeof(msg)))
		return false;
	cf_render_field(f, &tmp, buf, len);
	cf_free_strings(f, 1, &tmp);
	return true;
}

bool config_set(Config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
	const CfField *f = cf_find_field(cf_keys, CF_ARRAY_SIZE(cf_keys), key);
	char msg[512];

	if (f == NULL) {
		cf_msg(err, errlen, "key '%s': unknown or unimplemented setting", key);
		return false;
	}
	if (!f->reloadable) {
		cf_msg(err, errlen, "key '%s': cannot be changed while running "
		       "(restart needed)", f->name);
		return false;
	}
	if (!cf_set_field(f, cfg, value, msg, sizeof(msg))) {
		cf_msg(err, errlen, "key '%s': %s", f->name, msg);
		return false;
	}
	return true;
}
