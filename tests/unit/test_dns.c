/*
 * test_dns.c - unit tests for core/dns.c (c-ares on a libevent loop).
 *
 * What is a name; "localhost" from /etc/hosts (answered inside
 * dns_resolve, DNS_READY at once) with its address and port in dns_addr;
 * a name asked of a name server that is not there (127.0.0.1 on a port
 * nobody listens on, via dns_servers): the waiter is called on the loop
 * with a failure, which is then cached (DNS_FAILED without a new query);
 * dns_cancel unlinks a waiter; SHOW-style iteration lists both names.
 */
#include "dns.h"
#include "tap/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

static int done_calls;
static bool done_ok;
static char done_err[256];

static void on_done(DnsWait *w, bool ok_, const char *err)
{
	(void)w;
	done_calls++;
	done_ok = ok_;
	snprintf(done_err, sizeof(done_err), "%s", err ? err : "");
}

static void host_row(void *arg, const char *name, int64_t ttl, const char *addrs)
{
	char *out = arg;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%s=%s(%s);", name, addrs, ttl >= 0 ? "ttl" : "?");
}

int main(void)
{
	struct event_base *base = event_base_new();
	Config cfg;
	char err[256] = "", a[INET6_ADDRSTRLEN] = "", rows[512] = "";
	struct sockaddr_storage ss;
	int salen = 0, i;
	DnsWait w, w2;
	DnsStatus st;

	plan_lazy();
	memset(&cfg, 0, sizeof(cfg));
	cfg.dns_max_ttl = 15000000;
	cfg.dns_nxdomain_ttl = 15000000;
	cfg.dns_servers = (char *)"127.0.0.1:9";   /* discard port: nobody answers DNS there */
	cfg.resolv_conf = (char *)"";
	if (!base || !dns_init(base, &cfg, err, sizeof(err)))
		bail("dns_init: %s", err);

	ok(dns_is_name("db.example"), "a host name is a name");
	ok(!dns_is_name("127.0.0.1") && !dns_is_name("::1"), "IP literals are not");
	ok(!dns_is_name("") && !dns_is_name("/var/run/postgresql"), "the default and socket dirs are not");

	memset(&w, 0, sizeof(w));
	w.done = on_done;
	st = dns_resolve("localhost", &w, err, sizeof(err));
	is_int(DNS_READY, st, "localhost is answered at once from /etc/hosts");
	ok(w.list == NULL && done_calls == 0, "no waiter linked, no callback");
	ok(dns_addr_count("localhost") >= 1, "localhost has an address");
	ok(dns_addr("localhost", 0, 5433, &ss, &salen), "dns_addr gives it");
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof(a));
	is_str("127.0.0.1", a, "localhost is 127.0.0.1");
	is_int(5433, ntohs(((struct sockaddr_in *)&ss)->sin_port), "with the port asked for");

	st = dns_resolve("nosuch.lagoon.test", &w, err, sizeof(err));
	is_int(DNS_WAIT, st, "a name for the (absent) name server: wait");
	ok(w.list != NULL, "the waiter is linked");
	memset(&w2, 0, sizeof(w2));
	w2.done = on_done;
	is_int(DNS_WAIT, dns_resolve("nosuch.lagoon.test", &w2, err, sizeof(err)), "a second waiter joins");
	dns_cancel(&w2);
	ok(w2.list == NULL, "dns_cancel unlinks it");
	is_int(1, dns_pending_count(), "one query in flight");
	for (i = 0; i < 200 && done_calls == 0; i++) {
		struct timeval tv = { 0, 50000 };
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	is_int(1, done_calls, "the waiter was called once (the cancelled one not)");
	ok(!done_ok && strstr(done_err, "could not resolve host name \"nosuch.lagoon.test\"") != NULL,
	   "with a failure naming the host: %s", done_err);
	ok(w.list == NULL, "and unlinked");
	is_int(DNS_FAILED, dns_resolve("nosuch.lagoon.test", &w, err, sizeof(err)),
	       "the failure is cached (dns_nxdomain_ttl)");
	ok(strstr(err, "nosuch.lagoon.test") != NULL, "... with its message: %s", err);
	is_int(0, dns_addr_count("nosuch.lagoon.test"), "no addresses for it");
	is_int(2, dns_name_count(), "two names cached");
	is_int(2, (int)dns_query_count(), "two queries made");
	dns_foreach_host(host_row, rows);
	ok(strstr(rows, "localhost=127.0.0.1") && strstr(rows, "nosuch.lagoon.test=("),
	   "SHOW DNS_HOSTS rows: %s", rows);
	dns_stop();
	event_base_free(base);
	return exit_status();
}
