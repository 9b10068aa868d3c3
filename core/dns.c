/*
 * dns.c - backend host names through c-ares, on the event loop.
 *
 * One c-ares channel.  Its sockets are watched with libevent events made
 * in the sock_state callback, and one timer follows ares_timeout(), so a
 * query never blocks the loop.  Each name has one cache entry (a short
 * list: a pooler has few backend names) holding its addresses, when they
 * expire, the query in flight and the callers waiting for it.
 *
 * c-ares may answer inside ares_getaddrinfo() itself (for /etc/hosts
 * names); dns_resolve() checks for that before it links a waiter, so a
 * caller never sees its callback run before dns_resolve() returned.
 */
#include "autoconf.h"

#include "dns.h"
#include "log.h"

#include <ares.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define DNS_SOCKS_MAX 32
#define DNS_IDLE_FORGET (3600LL * 1000000)   /* forget names unused this long */

usec_t get_time_usec(void);

typedef struct DnsHost {
	ListNode node;                /* dns_hosts */
	char name[256];
	struct sockaddr_storage addrs[DNS_MAX_ADDRS];
	int naddrs;
	unsigned rr;                  /* round-robin position */
	bool pending;                 /* a query is in flight */
	bool failed;                  /* the last answer was a failure */
	char err[400];
	usec_t expires;               /* monotonic; 0 = never resolved */
	usec_t last_used;
	List waiters;                 /* DnsWait.node */
} DnsHost;

/* A zone (the part of a name after its first dot) whose SOA serial is
 * polled every dns_zone_check_period: a new serial re-resolves its names
 * at once instead of at their expiry. */
typedef struct DnsZone {
	ListNode node;                /* dns_zones */
	char name[256];
	unsigned serial;
	bool have_serial;
	bool pending;
	int count;                    /* cached names in it */
	usec_t next_check;
} DnsZone;

typedef struct DnsSock {
	ares_socket_t fd;             /* ARES_SOCKET_BAD = free slot */
	struct event *ev;
} DnsSock;

static ares_channel dns_channel;
static bool dns_ready;
static struct event_base *dns_base;
static struct event *dns_timer;
static DnsSock dns_socks[DNS_SOCKS_MAX];
static List dns_hosts = { { &dns_hosts.head, &dns_hosts.head }, 0 };
static List dns_zones = { { &dns_zones.head, &dns_zones.head }, 0 };
static usec_t dns_zone_period;
static uint64_t dns_queries;
static usec_t dns_max_ttl = 15000000, dns_nxdomain_ttl = 15000000;
static void (*dns_change_hook)(const char *host);

static void dns_rearm_timer(void);

/* ---- the channel on the event loop ------------------------------------ */

static void dns_on_sock(evutil_socket_t fd, short what, void *arg)
{
	(void)arg;
	ares_process_fd(dns_channel, (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
	                (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
	dns_rearm_timer();
}

static void dns_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ares_process_fd(dns_channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_rearm_timer();
}

static void dns_rearm_timer(void)
{
	struct timeval max = { 1, 0 }, tv, *t;

	if (!dns_ready)
		return;
	t = ares_timeout(dns_channel, &max, &tv);
	evtimer_del(dns_timer);
	if (dns_pending_count() > 0 && t)
		(void)evtimer_add(dns_timer, t);
}

static DnsSock *dns_sock_slot(ares_socket_t fd, bool create)
{
	DnsSock *free_slot = NULL;

	for (int i = 0; i < DNS_SOCKS_MAX; i++) {
		if (dns_socks[i].fd == fd)
			return &dns_socks[i];
		if (!free_slot && dns_socks[i].fd == ARES_SOCKET_BAD)
			free_slot = &dns_socks[i];
	}
	return create ? free_slot : NULL;
}

static void dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	DnsSock *s = dns_sock_slot(fd, readable || writable);
	short flags = (short)((readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));

	(void)data;
	if (!s) {
		if (readable || writable)
			log_error("dns: too many resolver sockets");
		return;
	}
	if (s->ev) {
		event_free(s->ev);
		s->ev = NULL;
	}
	if (!flags) {
		s->fd = ARES_SOCKET_BAD;
		return;
	}
	s->fd = fd;
	s->ev = event_new(dns_base, fd, (short)(flags | EV_PERSIST), dns_on_sock, NULL);
	if (!s->ev || event_add(s->ev, NULL) != 0)
		log_error("dns: cannot watch a resolver socket");
}

bool dns_init(struct event_base *base, const Config *cfg, char *err, size_t errlen)
{
	struct ares_options o;
	int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES, rc;

	for (int i = 0; i < DNS_SOCKS_MAX; i++)
		dns_socks[i].fd = ARES_SOCKET_BAD;
	dns_base = base;
	rc = ares_library_init(ARES_LIB_INIT_ALL);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "dns: c-ares: %s", ares_strerror(rc));
		return false;
	}
	memset(&o, 0, sizeof(o));
	o.sock_state_cb = dns_sock_state;
	o.timeout = 1500;
	o.tries = 2;
	if (cfg->resolv_conf && cfg->resolv_conf[0]) {
		o.resolvconf_path = cfg->resolv_conf;
		mask |= ARES_OPT_RESOLVCONF;
	}
	rc = ares_init_options(&dns_channel, &o, mask);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "dns: cannot start the resolver%s%s: %s",
		         (mask & ARES_OPT_RESOLVCONF) ? " with resolv_conf " : "",
		         (mask & ARES_OPT_RESOLVCONF) ? cfg->resolv_conf : "", ares_strerror(rc));
		return false;
	}
	if (cfg->dns_servers && cfg->dns_servers[0] &&
	    (rc = ares_set_servers_ports_csv(dns_channel, cfg->dns_servers)) != ARES_SUCCESS) {
		ares_destroy(dns_channel);
		snprintf(err, errlen, "dns_servers '%s': %s", cfg->dns_servers, ares_strerror(rc));
		return false;
	}
	dns_timer = evtimer_new(base, dns_on_timer, NULL);
	if (!dns_timer) {
		ares_destroy(dns_channel);
		snprintf(err, errlen, "dns: cannot create a timer");
		return false;
	}
	dns_ready = true;
	dns_set_ttls(cfg->dns_max_ttl, cfg->dns_nxdomain_ttl, cfg->dns_zone_check_period);
	return true;
}

void dns_stop(void)
{
	ListNode *n;

	if (!dns_ready)
		return;
	dns_ready = false;
	ares_destroy(dns_channel);    /* (pending callbacks run with ARES_EDESTRUCTION) */
	for (int i = 0; i < DNS_SOCKS_MAX; i++) {
		if (dns_socks[i].ev)
			event_free(dns_socks[i].ev);
		dns_socks[i].ev = NULL;
		dns_socks[i].fd = ARES_SOCKET_BAD;
	}
	event_free(dns_timer);
	dns_timer = NULL;
	while ((n = list_pop(&dns_hosts)))
		free(list_entry(n, DnsHost, node));
	while ((n = list_pop(&dns_zones)))
		free(list_entry(n, DnsZone, node));
	ares_library_cleanup();
}

/* ---- the cache ------------------------------------------------------------ */

bool dns_is_name(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;

	if (!host[0] || host[0] == '/')
		return false;
	return inet_pton(AF_INET, host, &a4) != 1 && inet_pton(AF_INET6, host, &a6) != 1;
}

/* Where an entry's name is, counted from its ListNode (DnsHost, DnsZone). */
#define DNS_NAME_AT(type) (offsetof(type, name) - offsetof(type, node))

/* The node on list l whose entry is named name, or NULL; name_at: the
 * entry's DNS_NAME_AT. */
static ListNode *dns_list_find(const List *l, size_t name_at, const char *name)
{
	ListNode *n;

	list_for_each(n, l) {
		if (strcmp((const char *)n + name_at, name) == 0)
			return n;
	}
	return NULL;
}

static DnsHost *dns_find(const char *name)
{
	ListNode *n = dns_list_find(&dns_hosts, DNS_NAME_AT(DnsHost), name);

	return n ? list_entry(n, DnsHost, node) : NULL;
}

static bool dns_same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET)
		return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
		              &((const struct sockaddr_in *)b)->sin_addr, 4) == 0;
	return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
	              &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

/* The new set differs from the old one (as sets). */
static bool dns_changed(const DnsHost *h, const struct sockaddr_storage *na, int nn)
{
	if (h->naddrs == 0)
		return false;           /* first answer: nothing to follow */
	if (nn != h->naddrs)
		return true;
	for (int i = 0; i < nn; i++) {
		bool found = false;
		for (int j = 0; j < h->naddrs && !found; j++)
			found = dns_same_addr(&na[i], &h->addrs[j]);
		if (!found)
			return true;
	}
	return false;
}

static void dns_notify(DnsHost *h)
{
	ListNode *n;

	while ((n = list_pop(&h->waiters))) {
		DnsWait *w = list_entry(n, DnsWait, node);
		w->list = NULL;
		w->done(w, !h->failed, h->err);
	}
}

static void dns_answer(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
	DnsHost *h = arg;
	struct sockaddr_storage na[DNS_MAX_ADDRS];
	int nn = 0;
	usec_t now = get_time_usec();

	(void)timeouts;
	if (status == ARES_EDESTRUCTION) {
		if (res)
			ares_freeaddrinfo(res);
		return;
	}
	for (struct ares_addrinfo_node *a = res ? res->nodes : NULL; a && nn < DNS_MAX_ADDRS; a = a->ai_next) {
		if ((a->ai_family != AF_INET && a->ai_family != AF_INET6) || !a->ai_addr ||
		    a->ai_addrlen > sizeof(na[0]))
			continue;
		memset(&na[nn], 0, sizeof(na[nn]));
		memcpy(&na[nn], a->ai_addr, a->ai_addrlen);
		for (int j = 0; j < nn; j++) {
			if (dns_same_addr(&na[j], &na[nn])) {
				nn--;
				break;
			}
		}
		nn++;
	}
	if (res)
		ares_freeaddrinfo(res);
	h->pending = false;
	if (status != ARES_SUCCESS || nn == 0) {
		h->failed = true;
		snprintf(h->err, sizeof(h->err), "could not resolve host name \"%.255s\": %.100s", h->name,
		         status != ARES_SUCCESS ? ares_strerror(status) : "no IPv4 or IPv6 address");
		h->expires = now + dns_nxdomain_ttl;
		log_warning("dns: %s", h->err);
		dns_notify(h);
		return;
	}
	if (dns_changed(h, na, nn)) {
		log_info("dns: the addresses of \"%s\" changed", h->name);
		memcpy(h->addrs, na, sizeof(na[0]) * (size_t)nn);
		h->naddrs = nn;
		if (dns_change_hook)
			dns_change_hook(h->name);
	} else {
		memcpy(h->addrs, na, sizeof(na[0]) * (size_t)nn);
		h->naddrs = nn;
	}
	h->failed = false;
	h->err[0] = '\0';
	h->expires = now + dns_max_ttl;
	dns_notify(h);
}

static void dns_query(DnsHost *h)
{
	struct ares_addrinfo_hints hints;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	h->pending = true;
	dns_queries++;
	ares_getaddrinfo(dns_channel, h->name, NULL, &hints, dns_answer, h);
	dns_rearm_timer();
}

/* ---- zones ------------------------------------------------------------ */

static const char *dns_zone_of(const char *name)
{
	const char *dot = strchr(name, '.');

	return dot && dot[1] ? dot + 1 : NULL;
}

static DnsZone *dns_zone_find(const char *zone)
{
	ListNode *n = dns_list_find(&dns_zones, DNS_NAME_AT(DnsZone), zone);

	return n ? list_entry(n, DnsZone, node) : NULL;
}

/* A name joins (+1) or leaves (-1) the cache: count it in its zone. */
static void dns_zone_count(const char *name, int delta)
{
	const char *zn = dns_zone_of(name);
	DnsZone *z = zn ? dns_zone_find(zn) : NULL;

	if (!zn)
		return;
	if (!z && delta > 0 && (z = calloc(1, sizeof(*z)))) {
		snprintf(z->name, sizeof(z->name), "%s", zn);
		list_append(&dns_zones, &z->node);
	}
	if (!z)
		return;
	z->count += delta;
	if (z->count <= 0 && !z->pending) {
		list_remove(&dns_zones, &z->node);
		free(z);
	}
}

static void dns_query(DnsHost *h);

static void dns_soa_answer(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	DnsZone *z = arg;
	struct ares_soa_reply *soa = NULL;
	ListNode *n;

	(void)timeouts;
	if (status == ARES_EDESTRUCTION)
		return;
	z->pending = false;
	z->next_check = get_time_usec() + dns_zone_period;
	if (status == ARES_SUCCESS && ares_parse_soa_reply(abuf, alen, &soa) == ARES_SUCCESS) {
		bool changed = z->have_serial && soa->serial != z->serial;
		z->serial = soa->serial;
		z->have_serial = true;
		ares_free_data(soa);
		if (changed) {
			log_info("dns: zone %s has a new serial %u: resolving its names again", z->name, z->serial);
			list_for_each(n, &dns_hosts) {
				DnsHost *h = list_entry(n, DnsHost, node);
				const char *zn = dns_zone_of(h->name);
				if (zn && strcmp(zn, z->name) == 0 && !h->pending)
					dns_query(h);
			}
		}
	}
	if (z->count <= 0) {
		list_remove(&dns_zones, &z->node);
		free(z);
	}
}

static void dns_zone_janitor(usec_t now)
{
	ListNode *n;

	if (dns_zone_period <= 0)
		return;
	list_for_each(n, &dns_zones) {
		DnsZone *z = list_entry(n, DnsZone, node);
		if (z->pending || z->next_check > now)
			continue;
		z->pending = true;
		dns_queries++;
		ares_query(dns_channel, z->name, 1 /* C_IN */, 6 /* T_SOA */, dns_soa_answer, z);
	}
	dns_rearm_timer();
}

DnsStatus dns_resolve(const char *host, DnsWait *w, char *err, size_t errlen)
{
	DnsHost *h = dns_find(host);
	usec_t now = get_time_usec();

	if (!dns_ready) {
		snprintf(err, errlen, "could not resolve host name \"%s\": resolver not running", host);
		return DNS_FAILED;
	}
	if (!h) {
		if (strlen(host) >= sizeof(h->name) || !(h = calloc(1, sizeof(*h)))) {
			snprintf(err, errlen, "could not resolve host name \"%.60s\": name too long", host);
			return DNS_FAILED;
		}
		snprintf(h->name, sizeof(h->name), "%s", host);
		list_init(&h->waiters);
		list_append(&dns_hosts, &h->node);
		dns_zone_count(h->name, +1);
	}
	h->last_used = now;
	if (!h->pending && (h->expires == 0 || h->expires <= now))
		dns_query(h);          /* may answer at once (/etc/hosts) */
	if (!h->pending) {
		if (h->failed) {
			snprintf(err, errlen, "%s", h->err);
			return DNS_FAILED;
		}
		return DNS_READY;
	}
	if (w) {
		w->list = &h->waiters;
		list_append(&h->waiters, &w->node);
	}
	return DNS_WAIT;
}

void dns_cancel(DnsWait *w)
{
	if (w->list) {
		list_remove(w->list, &w->node);
		w->list = NULL;
	}
}

int dns_addr_count(const char *host)
{
	DnsHost *h = dns_find(host);

	return h && !h->failed ? h->naddrs : 0;
}

int dns_next_index(const char *host)
{
	DnsHost *h = dns_find(host);

	return h ? (int)(h->rr++ % DNS_MAX_ADDRS) : 0;
}

bool dns_addr(const char *host, int i, int port, struct sockaddr_storage *ss, int *salen)
{
	DnsHost *h = dns_find(host);

	if (!h || h->failed || h->naddrs == 0 || i < 0)
		return false;
	*ss = h->addrs[i % h->naddrs];
	if (ss->ss_family == AF_INET) {
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
		*salen = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
		*salen = sizeof(struct sockaddr_in6);
	}
	return true;
}

void dns_set_ttls(usec_t max_ttl, usec_t nxdomain_ttl, usec_t zone_check_period)
{
	dns_max_ttl = max_ttl;
	dns_nxdomain_ttl = nxdomain_ttl;
	dns_zone_period = zone_check_period;
}

void dns_set_change_hook(void (*fn)(const char *host))
{
	dns_change_hook = fn;
}

void dns_janitor(void)
{
	ListNode *n, *t;
	usec_t now = get_time_usec();

	if (!dns_ready)
		return;
	list_for_each_safe(n, t, &dns_hosts) {
		DnsHost *h = list_entry(n, DnsHost, node);
		if (h->pending || h->expires > now)
			continue;
		if (now - h->last_used > DNS_IDLE_FORGET && list_empty(&h->waiters)) {
			list_remove(&dns_hosts, &h->node);
			dns_zone_count(h->name, -1);
			free(h);
			continue;
		}
		dns_query(h);
	}
	dns_zone_janitor(now);
}

/* ---- SHOW ------------------------------------------------------------ */

void dns_foreach_host(dns_host_fn fn, void *arg)
{
	ListNode *n;
	usec_t now = get_time_usec();

	list_for_each(n, &dns_hosts) {
		DnsHost *h = list_entry(n, DnsHost, node);
		char addrs[DNS_MAX_ADDRS * (INET6_ADDRSTRLEN + 1)] = "";
		size_t o = 0;
		for (int i = 0; !h->failed && i < h->naddrs; i++) {
			char one[INET6_ADDRSTRLEN] = "";
			const struct sockaddr_storage *a = &h->addrs[i];
			if (a->ss_family == AF_INET)
				inet_ntop(AF_INET, &((const struct sockaddr_in *)a)->sin_addr, one, sizeof(one));
			else
				inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)a)->sin6_addr, one, sizeof(one));
			o += (size_t)snprintf(addrs + o, sizeof(addrs) - o, "%s%s", i ? "," : "", one);
		}
		fn(arg, h->name, h->expires > now ? (h->expires - now) / 1000000 : 0, addrs);
	}
}

void dns_foreach_zone(dns_zone_fn fn, void *arg)
{
	ListNode *n;

	list_for_each(n, &dns_zones) {
		DnsZone *z = list_entry(n, DnsZone, node);
		if (z->count > 0)
			fn(arg, z->name, z->have_serial ? (int64_t)z->serial : -1, z->count);
	}
}

int dns_zone_count_all(void)
{
	return dns_zones.count;
}

int dns_name_count(void)
{
	return dns_hosts.count;
}

int dns_pending_count(void)
{
	ListNode *n;
	int k = 0;

	list_for_each(n, &dns_hosts)
		k += list_entry(n, DnsHost, node)->pending;
	list_for_each(n, &dns_zones)
		k += list_entry(n, DnsZone, node)->pending;
	return k;
}

uint64_t dns_query_count(void)
{
	return dns_queries;
}
