/*
 * test_config.c - unit tests for core/config.c, the pgbouncer.ini parser.
 *
 * Files under tests/data/config/ cover a full configuration with %include;
 * the many small error cases are written to a temporary directory so each
 * one sits next to the line numbers it asserts.
 */
#include "config.h"
#include "tls.h"
#include "tap/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEC 1000000LL

static char tmpdir[256];

static const char *data_path(const char *name)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/config/%s", test_data_dir(), name);
	return path;
}

static const char *tmp_path(const char *name)
{
	static char path[512];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(tmp_path(name), "w");

	if (f == NULL)
		bail("cannot write %s", tmp_path(name));
	fputs(text, f);
	if (fclose(f) != 0)
		bail("cannot write %s", tmp_path(name));
}

/* Load text as <tmpdir>/t.ini. */
static Config *load_text(const char *text, char *err, size_t errlen)
{
	Config *cfg = NULL;

	write_file("t.ini", text);
	err[0] = '\0';
	if (!config_load(tmp_path("t.ini"), &cfg, err, errlen))
		return NULL;
	return cfg;
}

/* The text must fail to load with an error containing want and want2. */
static void fails(const char *what, const char *text, const char *want, const char *want2)
{
	char err[1024];
	Config *cfg = load_text(text, err, sizeof(err));
	bool good = cfg == NULL && strstr(err, want) != NULL &&
		(want2 == NULL || strstr(err, want2) != NULL);

	ok(good, "error: %s", what);
	if (!good)
		diag("got '%s', wanted '%s' and '%s'", err, want, want2 ? want2 : "");
	config_free(cfg);
}

static void test_defaults(void)
{
	Config *cfg = config_new_defaults();

	if (cfg == NULL)
		bail("config_new_defaults failed");
	is_int(6432, cfg->listen_port, "default listen_port");
	is_int(128, cfg->listen_backlog, "default listen_backlog");
	is_str("/tmp", cfg->unix_socket_dir, "default unix_socket_dir");
	is_int(0777, cfg->unix_socket_mode, "default unix_socket_mode");
	is_int(AUTH_TYPE_MD5, cfg->auth_type, "default auth_type");
	is_int(POOL_MODE_SESSION, cfg->pool_mode, "default pool_mode");
	is_int(20, cfg->default_pool_size, "default default_pool_size");
	is_int(100, cfg->max_client_conn, "default max_client_conn");
	is_int(5 * SEC, cfg->reserve_pool_timeout, "default reserve_pool_timeout");
	is_str("DISCARD ALL", cfg->server_reset_query, "default server_reset_query");
	is_str("select 1", cfg->server_check_query, "default server_check_query");
	is_int(3600 * SEC, cfg->server_lifetime, "default server_lifetime");
	is_int(600 * SEC, cfg->server_idle_timeout, "default server_idle_timeout");
	is_int(120 * SEC, cfg->query_wait_timeout, "default query_wait_timeout");
	is_int(60 * SEC, cfg->client_login_timeout, "default client_login_timeout");
	is_int(0, cfg->client_idle_timeout, "default client_idle_timeout");
	is_int(2147483647, cfg->max_packet_size, "default max_packet_size");
	is_int(4096, cfg->pkt_buf, "default pkt_buf");
	ok(cfg->log_connections && cfg->log_stats && cfg->tcp_keepalive,
	   "default booleans that are on");
	ok(!cfg->syslog && !cfg->so_reuseport && !cfg->server_round_robin,
	   "default booleans that are off");
	is_str("lagoon", cfg->syslog_ident, "default syslog_ident");
	is_str("daemon", cfg->syslog_facility, "default syslog_facility");
	is_str("IntervalStyle", cfg->track_extra_parameters, "default track_extra_parameters");
	ok(cfg->logfile == NULL && cfg->listen_addr == NULL && cfg->auth_file == NULL,
	   "unset strings are NULL");
	ok(cfg->databases == NULL && cfg->users == NULL && cfg->unimplemented == NULL,
	   "no databases, users or unimplemented keys");
	config_free(cfg);
}

static void test_empty_file(void)
{
	char err[1024] = "";
	Config *cfg = NULL;
	bool loaded = config_load(data_path("empty.ini"), &cfg, err, sizeof(err));
	size_t n;

	ok(loaded, "empty.ini ([lagoon] alias) loads: %s", err);
	if (!loaded)
		return;
	n = strlen(cfg->config_file);
	ok(cfg->config_file[0] == '/' && n > 10 &&
	   strcmp(cfg->config_file + n - 10, "/empty.ini") == 0,
	   "config_file is the absolute path (%s)", cfg->config_file);
	is_int(1, cfg->nfiles, "one file read");
	is_int(6432, cfg->listen_port, "defaults kept");
	config_free(cfg);
}

static void test_full_settings(const Config *cfg)
{
	is_str("127.0.0.1, ::1", cfg->listen_addr, "listen_addr");
	is_int(6544, cfg->listen_port, "listen_port");
	is_str("", cfg->unix_socket_dir, "empty value kept as empty string");
	is_int(0700, cfg->unix_socket_mode, "unix_socket_mode is octal");
	is_int(AUTH_TYPE_SCRAM, cfg->auth_type, "auth_type scram-sha-256");
	is_int(POOL_MODE_TRANSACTION, cfg->pool_mode, "pool_mode transaction");
	is_int(500, cfg->max_client_conn, "keys are case-insensitive");
	is_str("", cfg->server_reset_query, "empty server_reset_query");
	is_int(3600 * SEC, cfg->server_lifetime, "1h");
	is_int(2500000, cfg->server_idle_timeout, "2.5 seconds");
	is_int(1500000, cfg->client_login_timeout, "1500ms");
	is_int(120 * SEC, cfg->query_wait_timeout, "2min");
	is_int(250000, cfg->cancel_wait_timeout, "250000us");
	is_int(86400 * SEC, cfg->suspend_timeout, "1d");
	is_int(3 * SEC, cfg->reserve_pool_timeout, "3s");
	ok(!cfg->log_connections && !cfg->log_disconnections && !cfg->log_pooler_errors,
	   "off/no/false");
	ok(cfg->so_reuseport && cfg->tcp_keepalive, "yes/On");
	is_int(100, cfg->max_prepared_statements, "max_prepared_statements");
	ok(config_list_contains(cfg->admin_users, "root"), "admin_users contains root");
	ok(!config_list_contains(cfg->admin_users, "roo"), "no prefix match in lists");
	ok(config_list_contains(cfg->ignore_startup_parameters, "search_path"),
	   "ignore_startup_parameters list");
	ok(cfg->client_tls_sslmode == TLS_MODE_DISABLE && cfg->server_tls_sslmode == TLS_MODE_PREFER,
	   "client_tls_sslmode disable, server_tls_sslmode prefer");
	is_str("job_name, tcp_user_timeout, "
	       "[databases] load_balance_hosts, [users] max_user_client_connections, [peers]",
	       cfg->unimplemented, "unimplemented keys, deduplicated, in order");
}

static void test_full_databases(const Config *cfg)
{
	const DbDef *db = config_find_db(cfg, "appdb");
	int n = 0;

	ok(db != NULL, "appdb defined");
	if (db) {
		is_str("10.0.0.1", db->host, "appdb host");
		is_int(5433, db->port, "appdb port");
		is_str("app_prod", db->dbname, "appdb dbname");
		is_int(40, db->pool_size, "appdb pool_size");
		is_int(5, db->reserve_pool_size, "reserve_pool alias");
		is_int(POOL_MODE_STATEMENT, db->pool_mode, "appdb pool_mode");
		is_int(-1, db->min_pool_size, "unset int is -1");
		ok(db->file && strstr(db->file, "conf.d/databases.ini") != NULL,
		   "DbDef.file names the included file (%s)", db->file);
		is_int(3, db->line, "DbDef.line");
	}
	db = config_find_db(cfg, "my-db");
	ok(db != NULL, "double-quoted database name");
	if (db) {
		is_str("SET search_path TO 'a b', public", db->connect_query,
		       "single-quoted value with '' escape");
		is_str("/var/run/postgresql", db->host, "socket directory host");
		is_int(POOL_MODE_UNSET, db->pool_mode, "pool_mode unset");
	}
	db = config_find_db(cfg, "forced");
	ok(db != NULL, "forced-user database");
	if (db) {
		is_str("svc", db->user, "forced user");
		is_str("p@ss word", db->password, "forced password with a space");
		is_int(2, db->min_pool_size, "min_pool_size");
		is_int(50, db->max_db_connections, "max_db_connections");
		ok(strcmp(db->client_encoding, "UTF8") == 0 && strcmp(db->datestyle, "ISO") == 0 &&
		   strcmp(db->timezone, "UTC") == 0 &&
		   strcmp(db->application_name, "lagoon_app") == 0,
		   "startup parameters");
		ok(db->extra && strstr(db->extra, "password='p@ss word'") != NULL,
		   "extra holds the raw line");
	}
	db = config_find_db(cfg, "*");
	ok(db != NULL && strcmp(db->host, "fallback.example") == 0, "'*' fallback entry");
	db = config_find_db(cfg, "dup");
	ok(db != NULL && strcmp(db->host, "second") == 0 && db->port == 6000,
	   "duplicate: last wins; spaces around '=' allowed");
	db = config_find_db(cfg, "empty");
	ok(db != NULL && db->host[0] == '\0' && db->port == 5432, "empty db line gets defaults");
	ok(config_find_db(cfg, "nope") == NULL, "unknown db not found");
	for (db = cfg->databases; db; db = db->next)
		n++;
	is_int(6, n, "six databases (duplicate replaced)");
	is_int(3, cfg->nfiles, "three files read");
}

static void test_full_users(const Config *cfg)
{
	const UserDef *u = config_find_user(cfg, "alice");

	ok(u && u->pool_mode == POOL_MODE_SESSION && u->pool_size == 5 &&
	   u->max_user_connections == 10 && u->query_timeout == 30 * SEC,
	   "user alice");
	ok(u && u->reserve_pool_size == -1 && u->client_idle_timeout == -1,
	   "unset user fields are -1");
	u = config_find_user(cfg, "bob");
	ok(u && u->idle_transaction_timeout == 500000 && u->client_idle_timeout == 60 * SEC &&
	   u->reserve_pool_size == 2 && u->pool_mode == POOL_MODE_UNSET,
	   "user bob");
	u = config_find_user(cfg, "weird \"user\"");
	ok(u && u->pool_size == 1, "quoted user name with \"\" escape");
}

static void test_full(void)
{
	char err[1024] = "";
	Config *cfg = NULL;
	bool loaded = config_load(data_path("full.ini"), &cfg, err, sizeof(err));

	ok(loaded, "full.ini loads: %s", err);
	if (!loaded)
		return;
	test_full_settings(cfg);
	test_full_databases(cfg);
	test_full_users(cfg);
	config_free(cfg);
}

static void test_times(void)
{
	static const struct { const char *s; long long usec; } good[] = {
		{ "15", 15 * SEC }, { "0.5", 500000 }, { "500ms", 500000 },
		{ "2min", 120 * SEC }, { "10us", 10 }, { "3h", 3 * 3600 * SEC },
		{ "1d", 86400 * SEC }, { "7s", 7 * SEC }, { "0", 0 }, { ".25", 250000 },
	};
	static const char *const bad[] = { "", "abc", "-1", "5x", "1e3", "ms", "1.2.3" };
	usec_t v;
	bool all = true;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = -1;
		if (!config_parse_time(good[i].s, &v) || v != good[i].usec) {
			diag("time '%s' -> %lld", good[i].s, (long long)v);
			all = false;
		}
	}
	ok(all, "valid times parse with units");
	all = true;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (config_parse_time(bad[i], &v)) {
			diag("time '%s' accepted", bad[i]);
			all = false;
		}
	}
	ok(all, "invalid times rejected");
}

static void test_booleans(void)
{
	char err[1024];
	Config *cfg = load_text("[pgbouncer]\nsyslog = TRUE\nlog_stats = 0\n"
				"server_round_robin = on\napplication_name_add_host = 1\n",
				err, sizeof(err));

	ok(cfg && cfg->syslog && !cfg->log_stats && cfg->server_round_robin &&
	   cfg->application_name_add_host, "booleans 1/0/on/TRUE: %s", err);
	config_free(cfg);
	fails("bad boolean", "[pgbouncer]\nsyslog = maybe\n", "t.ini:2: key 'syslog'", "maybe");
}

static void test_errors(void)
{
	fails("unknown key", "[pgbouncer]\n\nfoo_bar = 1\n", "t.ini:3: key 'foo_bar'", "unknown");
	fails("bad integer", "[pgbouncer]\nmax_client_conn = lots\n",
	      "t.ini:2: key 'max_client_conn'", "invalid integer");
	fails("port out of range", "[pgbouncer]\nlisten_port = 70000\n",
	      "t.ini:2: key 'listen_port'", "out of range");
	fails("negative size", "[pgbouncer]\ndefault_pool_size = -3\n",
	      "t.ini:2: key 'default_pool_size'", "out of range");
	fails("bad pool_mode", "[pgbouncer]\npool_mode = sometimes\n",
	      "t.ini:2: key 'pool_mode'", "sometimes");
	fails("bad time", "[pgbouncer]\nquery_timeout = 5 weeks\n",
	      "t.ini:2: key 'query_timeout'", "invalid time");
	fails("line without '='", "[pgbouncer]\nlisten_port 6432\n", "t.ini:2: syntax error", NULL);
	fails("unknown section", "; c\n[pgbouncr]\n", "t.ini:2: unknown section [pgbouncr]", NULL);
	fails("key outside a section", "listen_port = 1\n", "t.ini:1:", "outside");
	fails("reserved db name pgbouncer", "[databases]\npgbouncer = host=x\n",
	      "t.ini:2: key 'pgbouncer'", "reserved");
	fails("reserved db name lagoon", "[databases]\nlagoon = host=x\n",
	      "t.ini:2: key 'lagoon'", "reserved");
	fails("unknown db key", "[databases]\na = host=x colour=blue\n",
	      "t.ini:2: key 'colour'", "unknown parameter");
	fails("bad db pool_mode", "[databases]\na = pool_mode=batch\n",
	      "t.ini:2: key 'pool_mode'", "batch");
	fails("bad db port", "[databases]\na = port=0\n", "t.ini:2: key 'port'", "out of range");
	fails("unterminated quote", "[databases]\na = connect_query='select 1\n",
	      "t.ini:2:", "unterminated");
	fails("db name too long",
	      "[databases]\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa = host=x\n",
	      "t.ini:2:", "too long");
	fails("unknown user key", "[users]\nu = pool_size=1 max_db_connections=2\n",
	      "t.ini:2: key 'max_db_connections'", "unknown parameter");
	fails("auth_type bogus refused", "[pgbouncer]\nauth_hba_file = /etc/hba\nauth_type = hbax\n",
	      "t.ini:3: key 'auth_type'", "expected trust");
	fails("auth_type ldap refused", "[pgbouncer]\nauth_type = ldap\n",
	      "t.ini:2: key 'auth_type'", "weaker security");
	fails("bad server_tls_sslmode",
	      "[pgbouncer]\nserver_tls_sslmode = verify-everything\n",
	      "t.ini:2: key 'server_tls_sslmode'", "expected disable, allow, prefer, require, verify-ca or verify-full");
	fails("unix_socket_group refused", "[pgbouncer]\nunix_socket_group = pg\n",
	      "t.ini:2: key 'unix_socket_group'", "not supported yet");
}

static void test_file_errors(void)
{
	char err[1024] = "";
	Config *cfg = NULL;
	bool loaded;

	/* the file parses; the TLS setup refuses require without key and certificate */
	loaded = config_load(data_path("tls_require.ini"), &cfg, err, sizeof(err));
	ok(loaded && cfg->client_tls_sslmode == TLS_MODE_REQUIRE, "client_tls_sslmode=require parses: %s", err);
	if (loaded) {
		ok(!tls_setup(cfg, err, sizeof(err)) &&
		   strstr(err, "key 'client_tls_sslmode': 'require' needs client_tls_key_file and "
		          "client_tls_cert_file") != NULL,
		   "client_tls_sslmode=require without key/cert refused: %s", err);
		cfg->auth_type = AUTH_TYPE_CERT;
		cfg->client_tls_sslmode = TLS_MODE_DISABLE;
		ok(!tls_setup(cfg, err, sizeof(err)) && strstr(err, "auth_type") && strstr(err, "client_tls_ca_file"),
		   "auth_type=cert without client TLS refused: %s", err);
		config_free(cfg);
		cfg = NULL;
	}
	loaded = config_load(data_path("missing_include.ini"), &cfg, err, sizeof(err));
	ok(!loaded && strstr(err, "missing_include.ini:3:") && strstr(err, "does-not-exist.ini"),
	   "missing include names includer, line and file: %s", err);
	loaded = config_load(data_path("loop_a.ini"), &cfg, err, sizeof(err));
	ok(!loaded && strstr(err, "loop_b.ini:2:") && strstr(err, "include loop"),
	   "include loop detected: %s", err);
	loaded = config_load(data_path("no-such-file.ini"), &cfg, err, sizeof(err));
	ok(!loaded && strstr(err, "no-such-file.ini") && strstr(err, "cannot open"),
	   "missing top file named: %s", err);
	ok(cfg == NULL, "out untouched on failure");
}

/* inc0.ini includes inc1.ini ... up to incN.ini. */
static bool load_chain(int n, char *err, size_t errlen)
{
	Config *cfg = NULL;
	char name[32], text[64];
	bool loaded;

	for (int i = 0; i <= n; i++) {
		snprintf(name, sizeof(name), "inc%d.ini", i);
		if (i < n)
			snprintf(text, sizeof(text), "%%include inc%d.ini\n", i + 1);
		else
			snprintf(text, sizeof(text), "[pgbouncer]\nlisten_port = 7777\n");
		write_file(name, text);
	}
	loaded = config_load(tmp_path("inc0.ini"), &cfg, err, errlen);
	if (loaded && cfg->listen_port != 7777)
		loaded = false;
	config_free(cfg);
	return loaded;
}

static void test_include_depth(void)
{
	char err[1024] = "";

	ok(load_chain(10, err, sizeof(err)), "includes 10 deep are fine: %s", err);
	ok(!load_chain(11, err, sizeof(err)) && strstr(err, "inc10.ini:1:") &&
	   strstr(err, "nested more than 10"), "11 deep refused: %s", err);
}

static void test_keys_and_text(void)
{
	size_t n = 0;
	const ConfigKeyInfo *keys = config_keys(&n);
	bool sorted = true, port_fixed = false, mode_reload = false;
	char buf[128];
	Config *cfg = config_new_defaults();

	for (size_t i = 0; i < n; i++) {
		if (i > 0 && strcmp(keys[i - 1].name, keys[i].name) >= 0)
			sorted = false;
		if (strcmp(keys[i].name, "listen_port") == 0)
			port_fixed = !keys[i].reloadable;
		if (strcmp(keys[i].name, "pool_mode") == 0)
			mode_reload = keys[i].reloadable;
	}
	ok(n >= 50 && sorted, "config_keys: %zu keys, sorted", n);
	ok(port_fixed && mode_reload, "reloadable flags");

	ok(config_value_text(cfg, "server_lifetime", buf, sizeof(buf)) &&
	   strcmp(buf, "3600") == 0, "time as whole seconds: %s", buf);
	ok(config_value_text(cfg, "log_connections", buf, sizeof(buf)) &&
	   strcmp(buf, "1") == 0, "boolean as 1");
	ok(config_value_text(cfg, "logfile", buf, sizeof(buf)) && buf[0] == '\0',
	   "NULL string as empty");
	ok(config_value_text(cfg, "auth_type", buf, sizeof(buf)) &&
	   strcmp(buf, "md5") == 0, "auth_type as name");
	ok(!config_value_text(cfg, "job_name", buf, sizeof(buf)), "unknown key: false");
	ok(config_default_text("pool_mode", buf, sizeof(buf)) &&
	   strcmp(buf, "session") == 0, "default pool_mode text");
	ok(config_default_text("unix_socket_mode", buf, sizeof(buf)) &&
	   strcmp(buf, "0777") == 0, "default unix_socket_mode text: %s", buf);
	ok(config_default_text("syslog_ident", buf, sizeof(buf)) &&
	   strcmp(buf, "lagoon") == 0, "default syslog_ident text");
	config_free(cfg);
}

static void test_set(void)
{
	Config *cfg = config_new_defaults();
	char err[256] = "", buf[64];

	ok(config_set(cfg, "query_timeout", "1.5", err, sizeof(err)) &&
	   cfg->query_timeout == 1500000, "SET query_timeout 1.5");
	ok(config_value_text(cfg, "query_timeout", buf, sizeof(buf)) &&
	   strcmp(buf, "1.5") == 0, "fractional time text: %s", buf);
	ok(config_set(cfg, "server_reset_query", "RESET ALL", err, sizeof(err)) &&
	   strcmp(cfg->server_reset_query, "RESET ALL") == 0, "SET a string");
	ok(config_set(cfg, "POOL_MODE", "transaction", err, sizeof(err)) &&
	   cfg->pool_mode == POOL_MODE_TRANSACTION, "SET is case-insensitive");
	ok(!config_set(cfg, "listen_port", "7000", err, sizeof(err)) &&
	   strstr(err, "listen_port") && cfg->listen_port == 6432,
	   "non-reloadable refused: %s", err);
	ok(!config_set(cfg, "default_pool_size", "x", err, sizeof(err)) &&
	   strstr(err, "default_pool_size") && cfg->default_pool_size == 20,
	   "bad value refused: %s", err);
	ok(!config_set(cfg, "auth_type", "pam", err, sizeof(err)) &&
	   cfg->auth_type == AUTH_TYPE_MD5, "auth_type pam refused");
	ok(!config_set(cfg, "no_such_key", "1", err, sizeof(err)), "unknown key refused");
	config_free(cfg);
}

/* Cluster lines: host lists, ports, primary=/replicas=, weights. */
static void test_clusters(void)
{
	char err[1024];
	Config *cfg = load_text("[databases]\n"
	                        "a = host=10.0.0.1,10.0.0.2,/tmp port=5432,5433,5434 weights=1,2,0\n"
	                        "b = primary=h1:6000 replicas=h2,h3:7000 port=5555\n"
	                        "c = host=127.0.0.1 port=1,2,3\n", err, sizeof(err));
	const DbDef *a, *b, *c;

	ok(cfg != NULL, "cluster lines load (%s)", err);
	if (!cfg)
		return;
	a = config_find_db(cfg, "a");
	b = config_find_db(cfg, "b");
	c = config_find_db(cfg, "c");
	ok(a && a->nhosts == 3 && a->hosts[1].port == 5433 && strcmp(a->hosts[2].host, "/tmp") == 0,
	   "host=a,b,c port=p1,p2,p3: three backends, ports in order");
	ok(a && a->hosts[0].weight == 1 && a->hosts[1].weight == 2 && a->hosts[2].weight == 0,
	   "weights=1,2,0 go to the backends in order");
	ok(b && b->nhosts == 3 && b->hosts[0].named_primary && b->hosts[0].port == 6000 &&
	   b->hosts[1].port == 5555 && b->hosts[2].port == 7000 && b->hosts[1].weight == 1,
	   "primary=/replicas=: primary first, default port from port=, weight 1 by default");
	ok(c && c->nhosts == 3 && c->hosts[2].port == 3 && strcmp(c->hosts[2].host, "127.0.0.1") == 0,
	   "one host with several ports: a backend per port");
	config_free(cfg);
	fails("weights count", "[databases]\nd = host=a,b weights=1,2,3\n", "key 'weights'", NULL);
	fails("bad weight", "[databases]\nd = host=a,b weights=1,x\n", "key 'weights'", NULL);
	fails("ports count", "[databases]\nd = host=a,b port=1,2,3\n", "key 'port'", "3 ports for 2 hosts");
	fails("host and primary", "[databases]\nd = host=a primary=b\n", "key 'primary'", NULL);
}

int main(void)
{
	char tmpl[] = "/tmp/lagoon-test-config-XXXXXX";

	plan_lazy();
	if (mkdtemp(tmpl) == NULL)
		bail("mkdtemp failed");
	snprintf(tmpdir, sizeof(tmpdir), "%s", tmpl);

	test_defaults();
	test_empty_file();
	test_full();
	test_times();
	test_booleans();
	test_errors();
	test_file_errors();
	test_include_depth();
	test_keys_and_text();
	test_set();
	test_clusters();

	for (int i = 0; i <= 11; i++) {
		char name[32];
		snprintf(name, sizeof(name), "inc%d.ini", i);
		unlink(tmp_path(name));
	}
	unlink(tmp_path("t.ini"));
	rmdir(tmpdir);
	return exit_status();
}
