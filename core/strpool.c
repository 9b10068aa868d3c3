/*
 * strpool.c - shared, reference-counted copies of small strings.
 *
 * A chained hash table of entries, each holding its string inline after
 * a small header; a pooled string pointer is &entry->str[0], so put finds
 * its entry without a lookup.  The table doubles when it holds as many
 * entries as buckets and never shrinks (its size is bounded by the most
 * distinct strings ever held at once).
 */
#include "strpool.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct StrEnt {
	struct StrEnt *next;          /* bucket chain */
	uint32_t hash;
	uint32_t refs;                /* holders; freed at 0 */
	char str[];
} StrEnt;

const char strpool_empty[1] = "";

static StrEnt **sp_buckets;       /* [sp_nbuckets], power of two */
static size_t sp_nbuckets;
static size_t sp_count;           /* entries */

static uint32_t sp_hash(const char *s, size_t len)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static StrEnt *sp_entry(const char *p)
{
	return (StrEnt *)(void *)(p - offsetof(StrEnt, str));
}

/* Double the table (or make the first one).  false: out of memory, the
 * old table stays (longer chains, still correct). */
static bool sp_grow(void)
{
	size_t n = sp_nbuckets ? sp_nbuckets * 2 : 64;
	StrEnt **b = calloc(n, sizeof(*b));

	if (!b)
		return false;
	for (size_t i = 0; i < sp_nbuckets; i++) {
		StrEnt *e = sp_buckets[i], *next;
		for (; e; e = next) {
			next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(sp_buckets);
	sp_buckets = b;
	sp_nbuckets = n;
	return true;
}

const char *strpool_get_len(const char *s, size_t len)
{
	uint32_t h = sp_hash(s, len);
	StrEnt *e;

	if (sp_nbuckets) {
		for (e = sp_buckets[h & (sp_nbuckets - 1)]; e; e = e->next) {
			if (e->hash == h && strncmp(e->str, s, len) == 0 && e->str[len] == '\0') {
				e->refs++;
				return e->str;
			}
		}
	}
	if (sp_count >= sp_nbuckets && !sp_grow() && !sp_nbuckets)
		return NULL;
	e = malloc(sizeof(*e) + len + 1);
	if (!e)
		return NULL;
	memcpy(e->str, s, len);
	e->str[len] = '\0';
	e->hash = h;
	e->refs = 1;
	e->next = sp_buckets[h & (sp_nbuckets - 1)];
	sp_buckets[h & (sp_nbuckets - 1)] = e;
	sp_count++;
	return e->str;
}

const char *strpool_get(const char *s)
{
	return strpool_get_len(s, strlen(s));
}

const char *strpool_ref(const char *p)
{
	if (p && p != strpool_empty)
		sp_entry(p)->refs++;
	return p;
}

void strpool_put(const char *p)
{
	StrEnt *e, **link;

	if (!p || p == strpool_empty)
		return;
	e = sp_entry(p);
	if (--e->refs > 0)
		return;
	for (link = &sp_buckets[e->hash & (sp_nbuckets - 1)]; *link; link = &(*link)->next) {
		if (*link == e) {
			*link = e->next;
			break;
		}
	}
	sp_count--;
	free(e);
}

size_t strpool_count(void)
{
	return sp_count;
}
