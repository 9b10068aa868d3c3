/*
 * strpool.h - shared, reference-counted copies of small strings.
 *
 * Many connections carry the same short strings: the session parameters
 * every client inherits from its pool, its user and database names, its
 * address.  strpool keeps one copy of each distinct string and counts its
 * holders, so a thousand clients of one application hold one
 * "application_name" value, not a thousand.  Equal strings from the pool
 * are the same pointer.
 *
 * Ownership: every non-NULL result of strpool_get()/strpool_ref() is one
 * reference, given back with strpool_put().  The strings are read-only.
 * strpool_empty is a static "" that needs no reference (put ignores it):
 * the value of a name field before it is known.
 */
#ifndef LAGOON_STRPOOL_H
#define LAGOON_STRPOOL_H

#include <stddef.h>

extern const char strpool_empty[1];

/* The pooled copy of s (one more reference); NULL on allocation failure. */
const char *strpool_get(const char *s);
/* The pooled copy of the first len bytes of s; NULL on allocation failure. */
const char *strpool_get_len(const char *s, size_t len);
/* One more reference to a pooled string p (or strpool_empty / NULL). */
const char *strpool_ref(const char *p);
/* Give back a reference; NULL and strpool_empty are ignored. */
void strpool_put(const char *p);
/* Distinct strings held now (for SHOW MEM and tests). */
size_t strpool_count(void);

#endif
