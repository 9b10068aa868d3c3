/*
 * dns.h - asynchronous resolution of backend host names (c-ares).
 *
 * Names are resolved on the event loop, never blocking it, and cached:
 * an answer for dns_max_ttl, a failure for dns_nxdomain_ttl (the record's
 * own TTL is not used, as in PgBouncer).  Expired names still in use are
 * re-resolved by the janitor; when a name's address set changes the
 * change hook runs (the pooler closes servers connected to old addresses
 * as they are released).  A name may have several addresses: new
 * connections take them in turn, and a connection that fails tries the
 * next one.
 *
 * With dns_zone_check_period the SOA serial of each name's zone (the part
 * after the first dot) is polled; a new serial re-resolves the zone's names
 * at once.
 *
 * IP literals and Unix socket directories never go through here
 * (dns_is_name() is false for them).
 */
#ifndef LAGOON_DNS_H
#define LAGOON_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <event2/event.h>

#include "list.h"
#include "config.h"

#define DNS_MAX_ADDRS 16

typedef struct DnsWait DnsWait;
/* ok = the name has addresses now; else err says why not. */
typedef void (*dns_done_fn)(DnsWait *w, bool ok, const char *err);

/* A caller waiting for a name (embedded in the caller's object). */
struct DnsWait {
	ListNode node;                /* the name's waiter list while waiting */
	dns_done_fn done;
	List *list;                   /* where node is linked, NULL = not waiting */
};

typedef enum DnsStatus {
	DNS_READY = 0,                /* cached addresses are fresh: use them now */
	DNS_WAIT,                     /* w->done runs when the answer comes */
	DNS_FAILED,                   /* a cached failure (err says what) */
} DnsStatus;

bool dns_init(struct event_base *base, const Config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void dns_stop(void);

/* A host name to resolve (not "", not a socket dir, not an IP literal). */
bool dns_is_name(const char *host);

/* Look host up.  DNS_WAIT links w (dns_cancel() unlinks it); w may be
 * NULL to only start a query. */
DnsStatus dns_resolve(const char *host, DnsWait *w, char *err, size_t errlen);
void dns_cancel(DnsWait *w);

/* How many addresses the name has now (0 = none known). */
int dns_addr_count(const char *host);
/* The next index in round-robin order for a new connection. */
int dns_next_index(const char *host);
/* Address number i (mod the count) with port: false if none. */
bool dns_addr(const char *host, int i, int port, struct sockaddr_storage *ss, int *salen);

/* dns_max_ttl / dns_nxdomain_ttl / dns_zone_check_period (start and
 * RELOAD; a period of 0 = no SOA polling). */
void dns_set_ttls(usec_t max_ttl, usec_t nxdomain_ttl, usec_t zone_check_period);
/* Run fn(host) when a name's address set changes. */
void dns_set_change_hook(void (*fn)(const char *host));

/* Re-resolve expired names that are still in use; forget old ones. */
void dns_janitor(void);

/* SHOW DNS_HOSTS: each cached name, seconds until it expires, its
 * addresses as "a,b,c" ("" for a failure). */
typedef void (*dns_host_fn)(void *arg, const char *name, int64_t ttl, const char *addrs);
void dns_foreach_host(dns_host_fn fn, void *arg);
/* SHOW DNS_ZONES: each zone of a cached name (the part after its first
 * dot), its SOA serial (-1 = not polled yet) and how many names it has. */
typedef void (*dns_zone_fn)(void *arg, const char *zone, int64_t serial, int count);
void dns_foreach_zone(dns_zone_fn fn, void *arg);
int dns_zone_count_all(void);
int dns_name_count(void);
int dns_pending_count(void);
uint64_t dns_query_count(void);

#endif
