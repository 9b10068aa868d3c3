/*
 * test_hba.c - unit tests for core/hba.c (the auth_hba_file).
 *
 * Parses small files and checks which method hba_match() picks for
 * connections from IPv4, IPv6, IPv4-mapped IPv6 and Unix sockets, per
 * database and user, with and without TLS; the first match wins and no
 * match is reject.  Then a catalogue of broken files, each of which must
 * fail with the right FILE:LINE in its message, and @file includes.
 */
#include "hba.h"
#include "tap/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/stat.h>

static Hba *parse(const char *text)
{
	char err[512] = "";
	Hba *h = NULL;

	if (!hba_parse(text, strlen(text), "t.conf", NULL, &h, err, sizeof(err))) {
		diag("parse failed: %s", err);
		return NULL;
	}
	return h;
}

/* Which method (and line) for a connection from addr ("" = Unix socket). */
static HbaMethod match(const Hba *h, const char *addr, bool tls, const char *db, const char *user, int *line)
{
	struct sockaddr_storage ss;
	HbaQuery q;

	memset(&ss, 0, sizeof(ss));
	memset(&q, 0, sizeof(q));
	if (addr[0]) {
		if (strchr(addr, ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			s6->sin6_family = AF_INET6;
			if (inet_pton(AF_INET6, addr, &s6->sin6_addr) != 1)
				bail("bad test address %s", addr);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_family = AF_INET;
			if (inet_pton(AF_INET, addr, &s4->sin_addr) != 1)
				bail("bad test address %s", addr);
		}
		q.addr = (struct sockaddr *)&ss;
	}
	q.tls = tls;
	q.database = db;
	q.user = user;
	return hba_match(h, &q, line);
}

static void expect(const Hba *h, const char *addr, bool tls, const char *db, const char *user,
                   HbaMethod want, int want_line, const char *what)
{
	int line = -1;
	HbaMethod m = match(h, addr, tls, db, user, &line);

	ok(m == want && line == want_line, "%s: %s (line %d)", what, hba_method_name(want), want_line);
	if (m != want || line != want_line)
		diag("got %s at line %d", hba_method_name(m), line);
}

/* Nine rules; the last one is given by the caller. */
#define BASIC_RULES(last) \
	"# comment line\n" \
	"local   all        all                        peer\n" \
	"host    secret     all        127.0.0.1/32    reject\n" \
	"host    all        trusted    127.0.0.1/32    trust\n" \
	"hostssl all        all        127.0.0.2/32    scram-sha-256\n" \
	"hostnossl all      all        127.0.0.2/32    reject\n" \
	"host    \"all\",db2  bob      10.1.0.0 255.255.0.0 md5   # a quoted all is a name\n" \
	"host    all        all        ::1/128         scram-sha-256\n" \
	"host    sameuser   all        127.0.0.0/8     password\n" \
	last "\n"

static void test_basic(void)
{
	Hba *h = parse(BASIC_RULES("host    @nofile    all        0.0.0.0/0       reject"));

	ok(h == NULL, "@file is refused without a base directory");
	h = parse(BASIC_RULES("host    all        all        0.0.0.0/0       md5"));
	if (!h)
		bail("the basic file does not parse");
	is_int(9, hba_rule_count(h), "nine rules");
	expect(h, "", false, "x", "y", HBA_PEER, 2, "unix socket -> local rule");
	expect(h, "127.0.0.1", false, "secret", "trusted", HBA_REJECT, 3, "first match wins (reject before trust)");
	expect(h, "127.0.0.1", false, "other", "trusted", HBA_TRUST, 4, "user list");
	expect(h, "127.0.0.2", true, "other", "joe", HBA_SCRAM, 5, "hostssl matches a TLS connection");
	expect(h, "127.0.0.2", false, "other", "joe", HBA_REJECT, 6, "hostnossl matches a plain connection");
	expect(h, "10.1.200.3", false, "all", "bob", HBA_MD5, 7, "a quoted \"all\" matches a database named all");
	expect(h, "10.1.200.3", false, "db2", "bob", HBA_MD5, 7, "address + netmask field");
	expect(h, "10.1.200.3", false, "db3", "bob", HBA_MD5, 10, "a quoted all does not match every database");
	expect(h, "10.2.0.1", false, "db2", "bob", HBA_MD5, 10, "outside the netmask");
	expect(h, "::1", false, "x", "y", HBA_SCRAM, 8, "IPv6 /128");
	expect(h, "127.0.0.9", false, "joe", "joe", HBA_PASSWORD, 9, "sameuser");
	expect(h, "127.0.0.9", false, "other", "joe", HBA_MD5, 10, "sameuser needs db = user");
	expect(h, "::ffff:127.0.0.1", false, "other", "trusted", HBA_TRUST, 4, "IPv4-mapped IPv6 matches IPv4 rules");
	expect(h, "::2", false, "x", "y", HBA_REJECT, 0, "no match is reject, line 0");
	hba_free(h);
}

static void test_misc_syntax(void)
{
	Hba *h = parse("host all all \\\n  127.0.0.9/32 \\\n  trust\r\n"
	               "host \"a b\",\"q\"\"uote\" all 0.0.0.0/0 reject\n"
	               "host all all samehost md5\n"
	               "host all all all scram-sha-256\n"
	               "host replication all all trust\n");
	if (!h)
		bail("the syntax file does not parse");
	is_int(5, hba_rule_count(h), "continuation lines make one rule");
	expect(h, "127.0.0.9", false, "x", "y", HBA_TRUST, 1, "a rule split over three lines");
	expect(h, "127.0.0.5", false, "a b", "y", HBA_REJECT, 4, "quoted name with a space");
	expect(h, "127.0.0.5", false, "q\"uote", "y", HBA_REJECT, 4, "doubled quote in a quoted name");
	expect(h, "127.0.0.1", false, "x", "y", HBA_MD5, 5, "samehost matches a local address (127.0.0.1)");
	expect(h, "192.0.2.1", false, "x", "y", HBA_SCRAM, 6, "address all (192.0.2.1 is not ours)");
	hba_free(h);
}

static void fails(const char *what, const char *text, const char *want)
{
	char err[512] = "";
	Hba *h = NULL;
	bool parsed = hba_parse(text, strlen(text), "t.conf", NULL, &h, err, sizeof(err));

	ok(!parsed && strstr(err, want) != NULL, "error: %s", what);
	if (parsed || !strstr(err, want))
		diag("got '%s', wanted '%s'", parsed ? "(parsed)" : err, want);
	hba_free(parsed ? h : NULL);
}

static void test_errors(void)
{
	fails("unknown type", "\nhosts all all all trust\n", "t.conf:2: invalid connection type \"hosts\"");
	fails("unknown method", "host all all all ident\n", "t.conf:1: authentication method \"ident\" is not supported");
	fails("ldap", "host all all all ldap\n", "t.conf:1: authentication method \"ldap\"");
	fails("host name", "host all all db.example.com md5\n", "t.conf:1: invalid IP address \"db.example.com\" (host names are not supported)");
	fails("bad CIDR", "host all all 10.0.0.0/33 md5\n", "t.conf:1: invalid CIDR mask");
	fails("v6 CIDR 129", "host all all ::/129 md5\n", "invalid CIDR mask");
	fails("missing mask", "host all all 10.0.0.1 md5\n", "needs a /mask or a netmask");
	fails("mask family", "host all all 10.0.0.1 ffff:: md5\n", "do not match in family");
	fails("missing method", "host all all 10.0.0.0/8\n", "t.conf:1: end-of-line before the authentication method");
	fails("local missing method", "local all all\n", "end-of-line before the authentication method");
	fails("option", "host all all all md5 map=x\n", "authentication option \"map=x\" is not supported");
	fails("peer on host", "host all all all peer\n", "peer authentication is only supported on local sockets");
	fails("cert on host", "host all all all cert\n", "cert authentication is only supported on hostssl");
	fails("group", "local all +admins trust\n", "group membership");
	fails("samerole", "local samerole all trust\n", "samerole");
	fails("samenet", "host all all samenet trust\n", "samenet");
	fails("regex", "local /^a all trust\n", "regular expressions");
	fails("unterminated quote", "local \"abc all trust\n", "t.conf:1: unterminated quoted string");
	fails("trailing comma", "local a, \n", "ends with a comma");
	fails("empty item", "local a,,b all trust\n", "empty item");
	fails("hostgssenc", "hostgssenc all all all trust\n", "not supported (no GSSAPI)");
	fails("include", "include other.conf\n", "\"include\" is not supported");
	fails("line after continuation counts", "local all all trust\nhost all all \\\n 1.2.3.4/32 \\\n bogus\nlocal x\n",
	      "t.conf:2: authentication method \"bogus\"");
	fails("name too long",
	      "local aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa all trust\n",
	      "too long");
	{
		char err[512] = "";
		Hba *h = NULL;
		ok(!hba_parse("local all all trust\n", 9, "t.conf", NULL, &h, err, sizeof(err)),
		   "a cut line (length, not NUL) is an error: %s", err);
		ok(!hba_parse("local all all trust\n\0x", 22, "t.conf", NULL, &h, err, sizeof(err)) &&
		   strstr(err, "t.conf:2: NUL byte") != NULL, "a NUL byte is an error: %s", err);
	}
}

static void test_files(void)
{
	char dir[] = "/tmp/lagoon-test-hba.XXXXXX", path[256], users[256], err[512] = "";
	Hba *h = NULL;
	FILE *f;

	if (!mkdtemp(dir))
		bail("mkdtemp failed");
	snprintf(path, sizeof(path), "%s/hba.conf", dir);
	snprintf(users, sizeof(users), "%s/admins.txt", dir);
	f = fopen(users, "w");
	fputs("# the admins\nalice, bob\n\"carol\"\n", f);
	fclose(f);
	f = fopen(path, "w");
	fputs("host all @admins.txt 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 reject\n", f);
	fclose(f);
	ok(hba_load(path, &h, err, sizeof(err)), "a file with @file loads: %s", err);
	if (h) {
		expect(h, "127.0.0.1", false, "d", "bob", HBA_TRUST, 1, "@file: bob is listed");
		expect(h, "127.0.0.1", false, "d", "carol", HBA_TRUST, 1, "@file: quoted carol is listed");
		expect(h, "127.0.0.1", false, "d", "dave", HBA_REJECT, 2, "@file: dave is not");
		hba_free(h);
		h = NULL;
	}
	f = fopen(path, "w");
	fputs("local all all trust\nhost all @missing.txt all trust\n", f);
	fclose(f);
	ok(!hba_load(path, &h, err, sizeof(err)) && strstr(err, "hba.conf:2: @missing.txt: cannot open"),
	   "a missing @file names file and line: %s", err);
	unlink(path);
	ok(!hba_load(path, &h, err, sizeof(err)) && strstr(err, "hba.conf: cannot open"),
	   "a missing hba file: %s", err);
	unlink(users);
	rmdir(dir);
}

int main(void)
{
	plan_lazy();
	test_basic();
	test_misc_syntax();
	test_errors();
	test_files();
	return exit_status();
}
