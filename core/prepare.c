/*
 * prepare.c - named prepared statements that follow a client across
 * server connections and backends (see prepare.h for the three maps).
 *
 * The reply queue.  Every request a tracked client's server connection
 * owes an answer to is one PrepReq, in send order:
 *
 *   client message    goes to the server as          queue entries
 *   Parse "s" (new)   Parse "_lg_N"                  [INJ_CLOSE...] PARSE
 *   Parse "s" (known to the server)   nothing        FAKE_PARSE
 *   Parse "s" (name in use)  a Parse that fails      DUP_PARSE
 *   Bind/Describe "s" [Parse "_lg_N"] Bind "_lg_N"   [INJ_CLOSE...][INJ_PARSE] BIND
 *   Close 'S' "s"     nothing                        FAKE_CLOSE
 *   Execute / Sync / Query   as is                   EXECUTE / SYNC / SIMPLE
 *
 * A reply that ends the head entry pops it ('1' Parse, '2' Bind, 'T'/'n'
 * Describe, 'C'/'I'/'s' Execute, '3' Close, 'Z' Sync or Query).  INJ_*
 * replies are swallowed; FAKE_* entries are answered by lagoon as soon as
 * they reach the head: before the next server message, or once everything
 * the server forwarded has reached the client.  An ErrorResponse to an
 * extended-protocol request makes PostgreSQL skip to the next Sync: the
 * entries from the failed one up to that Sync are undone newest first
 * (a Parse never ran, a Close never happened), and those the client sends
 * before its Sync are undone at once.  A DUP_PARSE's error is replaced by
 * PostgreSQL's own 42P05 text for the client's name.
 *
 * Registrations are optimistic: a Parse registers the client's name (and
 * marks the statement prepared on the server) when it is sent, so a Bind
 * pipelined behind it finds it; the error path undoes it.  Each entry has
 * a sequence number; names and server cache entries remember the one that
 * made them, so a DEALLOCATE ALL / DISCARD ALL reply drops exactly those
 * made before it.
 *
 * Also here: SQL "DEALLOCATE name" of a tracked name is answered by
 * lagoon; a server connection a batch left above max_prepared_statements
 * is trimmed (DEALLOCATE) before it goes back to the pool; a batch a
 * replica refused is translated again for the primary (prep_replay).
 *
 * Ownership: PrepStmt is owned by the registry and freed when its last
 * reference (client names, server cache entries, queue entries) goes.
 * Names in queue entries are malloc'd copies owned by the entry.
 */
#include "autoconf.h"

#include "prepare.h"
#include "client.h"
#include "server.h"
#include "objects.h"
#include "log.h"
#include "wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define PREP_PREFIX "_lg_"
#define PREP_DUP_NAME PREP_PREFIX "dup"     /* never created: its Parse fails */
#define PREP_MISSING PREP_PREFIX "missing" /* a client name in our namespace */

/* An entry of a PrepTable, embedded in it as its member "link". */
typedef struct PrepLink {
	struct PrepLink *next;        /* bucket chain */
	uint64_t key;                 /* picks the bucket */
} PrepLink;

#define prep_entry(l, type) ((type *)((char *)(l) - offsetof(type, link)))

/* The registry, a client's names and a server's cache are each one chained
 * hash table; its buckets double once it has as many entries. */
typedef struct PrepTable {
	PrepLink **b;                 /* nb buckets (a power of 2), NULL before the first entry */
	uint32_t nb, count;
} PrepTable;

typedef struct PrepStmt {
	PrepLink link;                /* registry; key: the hash of the body */
	uint64_t id;
	uint32_t refs;                /* names, cache entries and queue entries */
	uint32_t body_len;            /* Parse body after the name */
	uint32_t text_len;
	ClassifyResult cls;           /* made at registration (routing of Binds) */
	char sname[32];               /* "_lg_<id>" */
	uint8_t body[];               /* query\0 int16 n int32 oids[n] */
} PrepStmt;

typedef struct PrepName {
	PrepLink link;                /* PrepClient.names; key: the hash of the name (32 bits) */
	PrepStmt *st;                 /* one reference */
	uint64_t seq;                 /* the request that made it */
	char name[];
} PrepName;

struct PrepClient {
	PrepTable names;
};

typedef struct PrepCached {
	PrepLink link;                /* PrepServer.cache; key: the statement id */
	struct PrepCached *prev, *next; /* LRU list: lru.next is the least recent */
	PrepStmt *st;                 /* one reference */
	uint64_t seq;                 /* the request that prepared it here */
	uint64_t used_seq;            /* the last request that used it */
} PrepCached;

enum {
	PR_PARSE, PR_BIND, PR_DESCRIBE, PR_EXECUTE, PR_CLOSE, PR_SYNC, PR_SIMPLE,
	PR_INJ_PARSE, PR_INJ_CLOSE, PR_FAKE_PARSE, PR_FAKE_CLOSE, PR_DUP_PARSE,
};

typedef struct PrepReq {
	uint8_t kind;
	uint64_t seq;
	PrepStmt *st;                 /* one reference, or NULL */
	char *name;                   /* the client's name (malloc'd), or NULL */
} PrepReq;

struct PrepServer {
	PrepTable cache;
	PrepCached lru;               /* sentinel */
	PrepReq *q;                   /* ring of owed replies */
	uint32_t qcap, qhead, qlen;
	bool skip_open;               /* an error was seen and its Sync is not queued yet */
};

/* The registry: one process-wide table (the only global state here). */
static struct {
	PrepTable stmts;
	uint64_t next_id;
	uint64_t seq;
} reg;

/* While a refused batch is replayed (prep_replay): where the translated
 * messages go instead of the client's receive buffer. */
static PktBuf *prep_replay_out;

static void req_undo(Server *s, PrepReq *r, bool queued);

/* ---- hashing ------------------------------------------------------------ */

static uint64_t prep_hash(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 1099511628211ULL;
	}
	return h;
}

/* ---- the hash tables ---------------------------------------------------- */

/* Twice the buckets (first: how many a new table gets).  false on out of
 * memory, the table as it was. */
static bool tab_grow(PrepTable *t, uint32_t first)
{
	uint32_t nb = t->nb ? t->nb * 2 : first;
	PrepLink **b = calloc(nb, sizeof(*b));

	if (!b)
		return false;
	for (uint32_t i = 0; i < t->nb; i++) {
		PrepLink *l = t->b[i], *next;
		for (; l; l = next) {
			next = l->next;
			l->next = b[l->key & (nb - 1)];
			b[l->key & (nb - 1)] = l;
		}
	}
	free(t->b);
	t->b = b;
	t->nb = nb;
	return true;
}

/* Buckets for one more entry; false only when there are none at all (a
 * failed growth just makes longer chains). */
static bool tab_room(PrepTable *t, uint32_t first)
{
	if (t->b && t->count < t->nb)
		return true;
	return tab_grow(t, first) || t->b != NULL;
}

/* The chain of key (the table has buckets). */
static PrepLink **tab_chain(PrepTable *t, uint64_t key)
{
	return &t->b[key & (t->nb - 1)];
}

/* Link l, its key set, at the head of its chain. */
static void tab_add(PrepTable *t, PrepLink *l)
{
	PrepLink **c = tab_chain(t, l->key);

	l->next = *c;
	*c = l;
	t->count++;
}

/* ---- the registry ------------------------------------------------------- */

/* Find or create the statement for a Parse body (after the name); one
 * reference for the caller.  NULL on out of memory. */
static PrepStmt *reg_get(const uint8_t *body, uint32_t len, uint32_t tlen)
{
	uint64_t h = prep_hash(body, len);
	PrepStmt *st;

	if (!reg.stmts.b && !tab_grow(&reg.stmts, 256))
		return NULL;
	for (PrepLink *l = *tab_chain(&reg.stmts, h); l; l = l->next) {
		st = prep_entry(l, PrepStmt);
		if (l->key == h && st->body_len == len && memcmp(st->body, body, len) == 0) {
			st->refs++;
			return st;
		}
	}
	if (reg.stmts.count >= reg.stmts.nb)
		(void)tab_grow(&reg.stmts, 256);   /* a longer chain if it fails */
	st = malloc(sizeof(*st) + len);
	if (!st)
		return NULL;
	memset(st, 0, sizeof(*st));
	memcpy(st->body, body, len);
	st->link.key = h;
	st->id = ++reg.next_id;
	st->refs = 1;
	st->body_len = len;
	st->text_len = tlen;
	classify_sql((const char *)st->body, tlen, &st->cls);
	snprintf(st->sname, sizeof(st->sname), PREP_PREFIX "%llu", (unsigned long long)st->id);
	tab_add(&reg.stmts, &st->link);
	return st;
}

static void reg_unref(PrepStmt *st)
{
	PrepLink **pp;

	if (!st || --st->refs > 0)
		return;
	for (pp = tab_chain(&reg.stmts, st->link.key); *pp; pp = &(*pp)->next) {
		if (*pp == &st->link) {
			*pp = st->link.next;
			break;
		}
	}
	reg.stmts.count--;
	free(st);
}

/* ---- client names ------------------------------------------------------- */

static PrepLink **cl_slot(PrepClient *pc, const char *name, size_t nlen)
{
	uint32_t h = (uint32_t)prep_hash(name, nlen);
	PrepLink **pp;

	if (!pc->names.b)
		return NULL;
	for (pp = tab_chain(&pc->names, h); *pp; pp = &(*pp)->next) {
		if ((*pp)->key == h && strcmp(prep_entry(*pp, PrepName)->name, name) == 0)
			return pp;
	}
	return NULL;
}

static PrepName *cl_find(PrepClient *pc, const char *name)
{
	PrepLink **pp = cl_slot(pc, name, strlen(name));

	return pp ? prep_entry(*pp, PrepName) : NULL;
}

/* Register name -> st (takes a new reference).  false on out of memory. */
static bool cl_add(PrepClient *pc, const char *name, PrepStmt *st, uint64_t seq)
{
	size_t nlen = strlen(name);
	PrepName *n;
	uint32_t h = (uint32_t)prep_hash(name, nlen);

	if (!tab_room(&pc->names, 16))
		return false;
	n = malloc(sizeof(*n) + nlen + 1);
	if (!n)
		return false;
	memcpy(n->name, name, nlen + 1);
	n->st = st;
	n->seq = seq;
	n->link.key = h;
	tab_add(&pc->names, &n->link);
	st->refs++;
	return true;
}

/* Unlink the name at *pp and drop it. */
static void cl_drop(PrepClient *pc, PrepLink **pp)
{
	PrepName *n = prep_entry(*pp, PrepName);

	*pp = n->link.next;
	pc->names.count--;
	reg_unref(n->st);
	free(n);
}

static void cl_remove(PrepClient *pc, const char *name)
{
	PrepLink **pp = cl_slot(pc, name, strlen(name));

	if (pp)
		cl_drop(pc, pp);
}

/* Drop the names made before request seq (before = every name). */
static void cl_drop_before(PrepClient *pc, uint64_t before)
{
	for (uint32_t i = 0; pc && i < pc->names.nb; i++) {
		PrepLink **pp = &pc->names.b[i];
		while (*pp) {
			if (prep_entry(*pp, PrepName)->seq < before)
				cl_drop(pc, pp);
			else
				pp = &(*pp)->next;
		}
	}
}

/* ---- a server connection's statements ----------------------------------- */

static PrepLink **sv_slot(PrepServer *ps, const PrepStmt *st)
{
	PrepLink **pp;

	if (!ps->cache.b)
		return NULL;
	for (pp = tab_chain(&ps->cache, st->id); *pp; pp = &(*pp)->next) {
		if (prep_entry(*pp, PrepCached)->st == st)
			return pp;
	}
	return NULL;
}

static PrepCached *sv_find(PrepServer *ps, const PrepStmt *st)
{
	PrepLink **pp = sv_slot(ps, st);

	return pp ? prep_entry(*pp, PrepCached) : NULL;
}

/* e becomes the most recently used. */
static void sv_lru_append(PrepServer *ps, PrepCached *e)
{
	e->prev = ps->lru.prev;
	e->next = &ps->lru;
	ps->lru.prev->next = e;
	ps->lru.prev = e;
}

static void sv_lru_unlink(PrepCached *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
}

static void sv_touch(PrepServer *ps, PrepCached *e, uint64_t seq)
{
	e->used_seq = seq;
	sv_lru_unlink(e);
	sv_lru_append(ps, e);
}

static bool sv_add(PrepServer *ps, PrepStmt *st, uint64_t seq)
{
	PrepCached *e;

	if (!tab_room(&ps->cache, 16))
		return false;
	e = calloc(1, sizeof(*e));
	if (!e)
		return false;
	e->st = st;
	st->refs++;
	e->seq = e->used_seq = seq;
	e->link.key = st->id;
	tab_add(&ps->cache, &e->link);
	sv_lru_append(ps, e);
	return true;
}

static void sv_remove(PrepServer *ps, PrepCached *e)
{
	PrepLink **pp = sv_slot(ps, e->st);

	if (pp)
		*pp = e->link.next;
	sv_lru_unlink(e);
	ps->cache.count--;
	reg_unref(e->st);
	free(e);
}

/* Forget the statements prepared before request seq (the server dropped them). */
static void sv_drop_before(PrepServer *ps, uint64_t before)
{
	PrepCached *e = ps->lru.next, *next;

	for (; e != &ps->lru; e = next) {
		next = e->next;
		if (e->seq < before)
			sv_remove(ps, e);
	}
}

static PrepServer *sv_get(Server *s)
{
	if (!s->prep) {
		s->prep = calloc(1, sizeof(*s->prep));
		if (s->prep)
			s->prep->lru.prev = s->prep->lru.next = &s->prep->lru;
	}
	return s->prep;
}

/* ---- the reply queue ---------------------------------------------------- */

static PrepReq *q_at(PrepServer *ps, uint32_t i)
{
	return &ps->q[(ps->qhead + i) % ps->qcap];
}

static void req_free(PrepReq *r)
{
	reg_unref(r->st);
	free(r->name);
	r->st = NULL;
	r->name = NULL;
}

static void q_pop(PrepServer *ps)
{
	req_free(q_at(ps, 0));
	ps->qhead = (ps->qhead + 1) % ps->qcap;
	ps->qlen--;
}

static bool q_grow(PrepServer *ps)
{
	uint32_t cap = ps->qcap ? ps->qcap * 2 : 32;
	PrepReq *q = malloc(cap * sizeof(*q));

	if (!q)
		return false;
	for (uint32_t i = 0; i < ps->qlen; i++)
		q[i] = *q_at(ps, i);
	free(ps->q);
	ps->q = q;
	ps->qcap = cap;
	ps->qhead = 0;
	return true;
}

static uint64_t prep_next_seq(void)
{
	return ++reg.seq;
}

/* Queue an owed reply (a reference on st and a copy of name are taken).
 * While the server skips to Sync the entry is undone at once instead.
 * false on out of memory. */
static bool q_push(Server *s, uint8_t kind, uint64_t seq, PrepStmt *st, const char *name)
{
	PrepServer *ps = s->prep;
	PrepReq r = { kind, seq, st, NULL };

	if (name && !(r.name = strdup(name)))
		return false;
	if (st)
		st->refs++;
	if (ps->skip_open && kind != PR_SYNC) {
		req_undo(s, &r, false);
		req_free(&r);
		return true;
	}
	if (kind == PR_SYNC)
		ps->skip_open = false;
	if (ps->qlen == ps->qcap && !q_grow(ps)) {
		req_free(&r);
		return false;
	}
	*q_at(ps, ps->qlen) = r;
	ps->qlen++;
	return true;
}

/* The request never ran on the server: undo its bookkeeping.  queued =
 * it was counted as sent (a skipped Query then owes no ReadyForQuery). */
static void req_undo(Server *s, PrepReq *r, bool queued)
{
	PrepServer *ps = s->prep;
	PrepClient *pc = s->link ? s->link->prep : NULL;
	PrepCached *e = r->st ? sv_find(ps, r->st) : NULL;
	PrepName *n;

	switch (r->kind) {
	case PR_PARSE:
	case PR_FAKE_PARSE:
	case PR_INJ_PARSE:
		if (pc && r->name && (n = cl_find(pc, r->name)) && n->st == r->st && n->seq == r->seq)
			cl_remove(pc, r->name);
		if (r->kind != PR_FAKE_PARSE && e && e->seq == r->seq)
			sv_remove(ps, e);
		break;
	case PR_INJ_CLOSE:
		if (r->st && !e)
			(void)sv_add(ps, r->st, r->seq);   /* still prepared there */
		break;
	case PR_FAKE_CLOSE:
		if (pc && r->st && r->name && !cl_find(pc, r->name))
			(void)cl_add(pc, r->name, r->st, r->seq);
		break;
	case PR_SIMPLE:
		if (queued && s->pending_rfq > 0)
			s->pending_rfq--;
		break;
	default:
		break;
	}
}

/* ---- made-up replies ---------------------------------------------------- */

static void prep_put_msg(PktBuf *p, char type)
{
	pkt_start(p, type);
	pkt_finish(p);
}

/* Append the replies of the FAKE entries at the head to p and pop them. */
static bool prep_take_fakes(PrepServer *ps, PktBuf *p)
{
	bool any = false;

	while (ps->qlen > 0) {
		PrepReq *r = q_at(ps, 0);
		if (r->kind == PR_FAKE_PARSE)
			prep_put_msg(p, '1');
		else if (r->kind == PR_FAKE_CLOSE)
			prep_put_msg(p, '3');
		else
			break;
		q_pop(ps);
		any = true;
	}
	return any;
}

/* Send the due made-up replies now if nothing the server forwarded is
 * still on its way to the client (else the flush event does it). */
static void prep_emit_now(Server *s)
{
	uint8_t stack[64];
	PktBuf p;
	Client *c = s->link;

	if (!s->prep || !c || sbuf_forward_pending(&s->sbuf))
		return;
	pkt_init(&p, stack, sizeof(stack));
	if (prep_take_fakes(s->prep, &p))
		(void)client_send_pkt(c, &p);
	pkt_free(&p);
}

void prep_server_flush(Server *s)
{
	if (s->prep && s->prep->qlen > 0 && s->link)
		prep_emit_now(s);
}

/* ---- lifecycle ---------------------------------------------------------- */

bool prep_client_start(Client *c)
{
	if (c->admin || lg.cfg->max_prepared_statements <= 0 ||
	    pool_mode_of(c->pool) == POOL_MODE_SESSION)
		return true;
	c->prep = calloc(1, sizeof(*c->prep));
	return c->prep != NULL;
}

void prep_client_free(Client *c)
{
	PrepClient *pc = c->prep;

	if (!pc)
		return;
	cl_drop_before(pc, UINT64_MAX);
	free(pc->names.b);
	free(pc);
	c->prep = NULL;
}

void prep_server_unlink(Server *s)
{
	PrepServer *ps = s->prep;

	while (ps && ps->qlen > 0)
		q_pop(ps);
	if (ps)
		ps->skip_open = false;
}

void prep_server_free(Server *s)
{
	PrepServer *ps = s->prep;

	if (!ps)
		return;
	prep_server_unlink(s);
	sv_drop_before(ps, UINT64_MAX);
	free(ps->cache.b);
	free(ps->q);
	free(ps);
	s->prep = NULL;
}

void prep_server_reset_query(Server *s, const char *sql)
{
	if (s->prep && sql && (strcasestr(sql, "discard all") || strcasestr(sql, "deallocate all")))
		sv_drop_before(s->prep, UINT64_MAX);
}

bool prep_server_trim_sql(Server *s, char *sql, size_t len)
{
	PrepServer *ps = s->prep;
	size_t n = 0;
	int max = lg.cfg->max_prepared_statements;

	if (!ps || ps->qlen > 0 || max <= 0 || ps->cache.count <= (uint32_t)max)
		return false;
	while (ps->cache.count > (uint32_t)max && ps->lru.next != &ps->lru) {
		PrepCached *e = ps->lru.next;
		int w = snprintf(sql + n, len - n, "DEALLOCATE %s;", e->st->sname);
		if (w < 0 || (size_t)w >= len - n)
			break;
		n += (size_t)w;
		sv_remove(ps, e);
	}
	return n > 0;
}

bool prep_server_idle(const Server *s)
{
	return !s->prep || s->prep->qlen == 0;
}

uint32_t prep_client_count(const Client *c)
{
	return c->prep ? c->prep->names.count : 0;
}

uint32_t prep_server_count(const Server *s)
{
	return s->prep ? s->prep->cache.count : 0;
}

/* ---- the client side ---------------------------------------------------- */

static PrepOutcome prep_out(SBufAction act, bool to_server, bool rewritten)
{
	PrepOutcome o = { act, to_server, rewritten };
	return o;
}

static PrepOutcome prep_fatal(Client *c, const char *sqlstate, const char *what)
{
	client_fatal(c, sqlstate, "%s", what);
	return prep_out(SBUF_STOP, false, true);
}

/* The NUL-terminated string at off inside the buffered part of msg, or
 * NULL if its end is not buffered (*more: it may still come). */
static const char *prep_str(const SBufMsg *msg, uint32_t off, bool *more)
{
	const uint8_t *z;

	*more = false;
	if (off >= msg->avail) {
		*more = !msg->complete;
		return NULL;
	}
	z = memchr(msg->data + off, 0, msg->avail - off);
	if (!z)
		*more = !msg->complete;
	return z ? (const char *)msg->data + off : NULL;
}

/* Names of a Bind ('B': portal, statement) or Describe/Close ('D'/'C':
 * kind byte, name).  Returns the statement name, NULL if malformed or
 * not buffered yet (*more).  *head_len: bytes up to the name's NUL. */
static const char *prep_stmt_name(const SBufMsg *msg, uint32_t *head_len, bool *more)
{
	const char *portal, *name;
	uint32_t off = 5;

	if (msg->type == 'B') {
		portal = prep_str(msg, off, more);
		if (!portal)
			return NULL;
		off += (uint32_t)strlen(portal) + 1;
	} else {
		if (msg->avail < 6) {
			*more = !msg->complete;
			return NULL;
		}
		if (msg->data[5] != 'S' && msg->data[5] != 'P') {
			*more = false;
			return NULL;
		}
		off = 6;
	}
	name = prep_str(msg, off, more);
	if (name)
		*head_len = off + (uint32_t)strlen(name) + 1;
	return name;
}

/* Close the least recently used statements not used by a pending request
 * until one more fits (Close messages appended to out). */
static bool prep_make_room(Server *s, PktBuf *out)
{
	PrepServer *ps = s->prep;
	uint64_t oldest = ps->qlen ? q_at(ps, 0)->seq : UINT64_MAX;
	PrepCached *e = ps->lru.next, *next;

	for (; e != &ps->lru && ps->cache.count >= (uint32_t)lg.cfg->max_prepared_statements; e = next) {
		next = e->next;
		if (e->used_seq >= oldest)
			continue;   /* a request in flight uses it */
		pkt_start(out, 'C');
		pkt_put_u8(out, 'S');
		pkt_put_str(out, e->st->sname);
		pkt_finish(out);
		if (!q_push(s, PR_INJ_CLOSE, prep_next_seq(), e->st, NULL))
			return false;
		sv_remove(ps, e);
	}
	return true;
}

/* Make st prepared on s: an injected Parse (after any evictions) into out. */
static bool prep_ensure(Server *s, PrepStmt *st, PktBuf *out)
{
	uint64_t seq;

	if (sv_find(s->prep, st))
		return true;
	if (!prep_make_room(s, out))
		return false;
	seq = prep_next_seq();
	pkt_start(out, 'P');
	pkt_put_str(out, st->sname);
	pkt_put_bytes(out, st->body, st->body_len);
	pkt_finish(out);
	s->link->pool->stat_server_parse++;
	return q_push(s, PR_INJ_PARSE, seq, st, NULL) && sv_add(s->prep, st, seq);
}

static PrepOutcome prep_rewrite(Client *c, const SBufMsg *msg, uint32_t cut, PktBuf *p,
                                SBufAction act)
{
	if (prep_replay_out) {
		pkt_put_bytes(prep_replay_out, p->buf, p->len);
		if (act == SBUF_FORWARD)
			pkt_put_bytes(prep_replay_out, msg->data + cut, msg->len - cut);
		pkt_free(p);
		return prep_out(act, true, true);
	}
	if (p->failed || !sbuf_rewrite(&c->sbuf, msg, cut, p->buf, (uint32_t)p->len)) {
		pkt_free(p);
		return prep_fatal(c, "53200", "out of memory rewriting a prepared statement message");
	}
	pkt_free(p);
	return prep_out(act, true, true);
}

/* Parse "name" ...: validate the body, return the part after the name. */
static bool prep_parse_body(const SBufMsg *msg, const char **name, const uint8_t **rest,
                            uint32_t *rlen, uint32_t *tlen)
{
	const uint8_t *body = msg->data + 5, *end = msg->data + msg->len, *z, *p;
	uint16_t n;

	z = memchr(body, 0, (size_t)(end - body));
	if (!z)
		return false;
	*name = (const char *)body;
	p = z + 1;
	z = memchr(p, 0, (size_t)(end - p));
	if (!z || end - (z + 1) < 2)
		return false;
	*tlen = (uint32_t)(z - p);
	n = (uint16_t)((z[1] << 8) | z[2]);
	if ((size_t)(end - (z + 3)) != (size_t)n * 4)
		return false;
	*rest = p;
	*rlen = (uint32_t)(end - p);
	return true;
}

static PrepOutcome prep_parse_dup(Client *c, const SBufMsg *msg, const char *name)
{
	uint8_t stack[64];
	PktBuf p;

	/* a Parse that fails (syntax error) makes the server skip to Sync
	 * exactly as a real duplicate would; its error becomes 42P05 */
	if (!q_push(c->link, PR_DUP_PARSE, prep_next_seq(), NULL, name))
		return prep_fatal(c, "53200", "out of memory");
	pkt_init(&p, stack, sizeof(stack));
	pkt_start(&p, 'P');
	pkt_put_str(&p, PREP_DUP_NAME);
	pkt_put_str(&p, ")");
	pkt_put_u16(&p, 0);
	pkt_finish(&p);
	return prep_rewrite(c, msg, 0, &p, SBUF_SKIP);
}

static PrepOutcome prep_parse(Client *c, const SBufMsg *msg)
{
	Server *s = c->link;
	const char *name;
	const uint8_t *rest;
	uint32_t rlen, tlen;
	uint64_t seq;
	PrepStmt *st;
	PrepCached *e;
	PrepName *n;
	uint8_t stack[512];
	PktBuf p;
	bool ok;

	if (msg->avail > 5 && msg->data[5] == '\0')
		return prep_out(q_push(s, PR_PARSE, prep_next_seq(), NULL, NULL) ? SBUF_FORWARD : SBUF_STOP,
		                true, false);   /* the unnamed statement: as is */
	if (!msg->complete) {
		if (msg->len <= PREP_PARSE_MAX)
			return prep_out(SBUF_NEED_BODY, false, false);
		/* read the rest and drop it, so the client sees the error
		 * before the connection closes (at its next message) */
		pkt_init(&p, stack, sizeof(stack));
		pkt_error(&p, "FATAL", "54000", "named prepared statement too long: %u bytes, lagoon tracks up to %d",
		          msg->len - 1, PREP_PARSE_MAX);
		(void)client_send_pkt(c, &p);
		pkt_free(&p);
		c->close_pending = true;
		return prep_out(c->state == CL_JUSTFREE ? SBUF_STOP : SBUF_SKIP, false, true);
	}
	if (!prep_parse_body(msg, &name, &rest, &rlen, &tlen))
		return prep_fatal(c, "08P01", "invalid Parse message");
	c->pool->stat_client_parse++;
	seq = prep_next_seq();
	if ((n = cl_find(c->prep, name))) {
		/* a replayed Parse the replica already ran finds its own name */
		if (!prep_replay_out || n->st->body_len != rlen || memcmp(n->st->body, rest, rlen) != 0)
			return prep_parse_dup(c, msg, name);
		st = n->st;
	} else {
		st = reg_get(rest, rlen, tlen);
		if (!st || !cl_add(c->prep, name, st, seq)) {
			reg_unref(st);
			return prep_fatal(c, "53200", "out of memory registering a prepared statement");
		}
		reg_unref(st);   /* the name holds it */
	}
	if ((e = sv_find(s->prep, st))) {
		sv_touch(s->prep, e, seq);
		if (!q_push(s, PR_FAKE_PARSE, seq, st, name))
			return prep_fatal(c, "53200", "out of memory");
		if (s->prep->qlen == 1)
			prep_emit_now(s);
		return prep_out(SBUF_SKIP, false, true);
	}
	pkt_init(&p, stack, sizeof(stack));
	ok = prep_make_room(s, &p);
	pkt_start(&p, 'P');
	pkt_put_str(&p, st->sname);
	pkt_put_bytes(&p, rest, rlen);
	pkt_finish(&p);
	if (!ok || !q_push(s, PR_PARSE, seq, st, name) || !sv_add(s->prep, st, seq)) {
		pkt_free(&p);
		return prep_fatal(c, "53200", "out of memory");
	}
	c->pool->stat_server_parse++;
	return prep_rewrite(c, msg, msg->len, &p, SBUF_SKIP);
}

/* Bind or Describe: the client's name becomes the server's, the statement
 * is prepared first if this server lacks it. */
static PrepOutcome prep_use(Client *c, const SBufMsg *msg)
{
	Server *s = c->link;
	uint8_t kind = msg->type == 'B' ? PR_BIND : PR_DESCRIBE;
	uint32_t head = 0;
	bool more;
	const char *name = prep_stmt_name(msg, &head, &more);
	PrepName *n;
	PrepStmt *st;
	uint8_t stack[512];
	PktBuf p;
	uint64_t seq;
	bool ok;

	if (!name && more)
		return msg->len <= PREP_PARSE_MAX ? prep_out(SBUF_NEED_BODY, false, false)
			: prep_fatal(c, "08P01", "statement name of a Bind or Describe not found");
	if (!name)
		return prep_fatal(c, "08P01", msg->type == 'B' ? "invalid Bind message" : "invalid Describe message");
	n = name[0] && (msg->type == 'B' || msg->data[5] == 'S') ? cl_find(c->prep, name) : NULL;
	if (!n) {
		/* unnamed, a portal, or unknown: PostgreSQL answers (an unknown
		 * name in lagoon's own namespace is made one that never exists) */
		if (!q_push(s, kind, prep_next_seq(), NULL, NULL))
			return prep_fatal(c, "53200", "out of memory");
		if (strncmp(name, PREP_PREFIX, strlen(PREP_PREFIX)) != 0)
			return prep_out(SBUF_FORWARD, true, false);
		n = NULL;
	}
	st = n ? n->st : NULL;
	pkt_init(&p, stack, sizeof(stack));
	ok = !st || prep_ensure(s, st, &p);
	/* the head again, with the server's name */
	pkt_start(&p, (char)msg->type);
	if (msg->type == 'B')
		pkt_put_str(&p, (const char *)msg->data + 5);
	else
		pkt_put_u8(&p, msg->data[5]);
	pkt_put_str(&p, st ? st->sname : PREP_MISSING);
	if (p.failed || !ok) {
		pkt_free(&p);
		return prep_fatal(c, "53200", "out of memory");
	}
	/* patch the length: the message's own length with the new name */
	{
		uint32_t mlen = msg->len - 1 - head + (uint32_t)(p.len - p.msg_start);
		uint8_t *l = p.buf + p.msg_start + 1;
		l[0] = (uint8_t)(mlen >> 24);
		l[1] = (uint8_t)(mlen >> 16);
		l[2] = (uint8_t)(mlen >> 8);
		l[3] = (uint8_t)mlen;
	}
	if (st) {
		seq = prep_next_seq();
		if (!q_push(s, kind, seq, st, NULL)) {
			pkt_free(&p);
			return prep_fatal(c, "53200", "out of memory");
		}
		sv_touch(s->prep, sv_find(s->prep, st), seq);
		if (kind == PR_BIND)
			c->pool->stat_bind++;
	}
	return prep_rewrite(c, msg, head, &p, SBUF_FORWARD);
}

/* Close 'S' of a named statement: answered here, never sent. */
static PrepOutcome prep_close(Client *c, const SBufMsg *msg)
{
	Server *s = c->link;
	uint32_t head;
	bool more;
	const char *name = prep_stmt_name(msg, &head, &more);
	PrepName *n;

	if (!name && more)
		return msg->len <= PREP_PARSE_MAX ? prep_out(SBUF_NEED_BODY, false, false)
			: prep_fatal(c, "08P01", "invalid Close message");
	if (!name)
		return prep_fatal(c, "08P01", "invalid Close message");
	if (msg->data[5] != 'S' || !name[0])
		return prep_out(q_push(s, PR_CLOSE, prep_next_seq(), NULL, NULL) ? SBUF_FORWARD : SBUF_STOP,
		                true, false);
	n = cl_find(c->prep, name);
	if (!q_push(s, PR_FAKE_CLOSE, prep_next_seq(), n ? n->st : NULL, name))
		return prep_fatal(c, "53200", "out of memory");
	if (n)
		cl_remove(c->prep, name);
	if (s->prep->qlen == 1)
		prep_emit_now(s);
	return prep_out(SBUF_SKIP, false, true);
}

static bool prep_ident_char(char ch)
{
	unsigned char u = (unsigned char)ch;

	return u == '_' || u == '$' || (u >= '0' && u <= '9') || ((u | 0x20) >= 'a' && (u | 0x20) <= 'z') ||
		u >= 0x80;
}

/* "DEALLOCATE [PREPARE] name" alone in a Query: the name, lower-cased
 * unless quoted, into out.  false if the text is anything else. */
static bool prep_sql_deallocate(const char *sql, size_t len, char *out, size_t outlen)
{
	const char *p = sql, *end = sql + len;
	size_t n = 0;

#define SKIPWS() while (p < end && *p && strchr(" \t\r\n", *p)) p++
	SKIPWS();
	if (end - p < 10 || strncasecmp(p, "deallocate", 10) != 0)
		return false;
	p += 10;
	SKIPWS();
	if (end - p > 8 && strncasecmp(p, "prepare", 7) == 0 && p[7] && strchr(" \t\r\n", p[7]))
		p += 7;
	SKIPWS();
	if (p < end && *p == '"') {
		for (p++; p < end; p++) {
			if (*p == '"' && (p + 1 >= end || p[1] != '"'))
				break;
			if (*p == '"')
				p++;
			if (n + 1 >= outlen)
				return false;
			out[n++] = *p;
		}
		if (p >= end)
			return false;
		p++;
	} else {
		while (p < end && prep_ident_char(*p)) {
			if (n + 1 >= outlen)
				return false;
			out[n++] = (*p >= 'A' && *p <= 'Z') ? (char)(*p | 0x20) : *p;
			p++;
		}
	}
	out[n] = '\0';
	SKIPWS();
	if (p < end && *p == ';')
		p++;
	SKIPWS();
#undef SKIPWS
	return n > 0 && p == end && strcasecmp(out, "all") != 0;
}

/* A SQL DEALLOCATE of a tracked name when nothing is owed: answered here
 * (status: the transaction state the client last saw). */
static bool prep_deallocate(Client *c, const SBufMsg *msg, char status)
{
	char name[256];
	uint8_t stack[64];
	PktBuf p;

	if (msg->type != 'Q' || !msg->complete || msg->len < 6 ||
	    !prep_sql_deallocate((const char *)msg->data + 5, strnlen((const char *)msg->data + 5, msg->len - 5),
	                         name, sizeof(name)) || !cl_find(c->prep, name))
		return false;
	cl_remove(c->prep, name);
	pkt_init(&p, stack, sizeof(stack));
	pkt_command_complete(&p, "DEALLOCATE");
	pkt_ready(&p, status);
	(void)client_send_pkt(c, &p);
	pkt_free(&p);
	return true;
}

bool prep_client_unlinked(Client *c, const SBufMsg *msg, SBufAction *act)
{
	uint32_t head;
	bool more;
	const char *name;
	uint8_t stack[16];
	PktBuf p;

	if (msg->type == 'Q') {
		if (!msg->complete && msg->len <= 1024) {
			*act = SBUF_NEED_BODY;
			return true;
		}
		if (!prep_deallocate(c, msg, 'I'))
			return false;
		*act = c->state == CL_JUSTFREE ? SBUF_STOP : SBUF_SKIP;
		return true;
	}
	if (msg->type != 'C')
		return false;
	name = prep_stmt_name(msg, &head, &more);
	if (!name && more && msg->len <= 1024) {
		*act = SBUF_NEED_BODY;
		return true;
	}
	if (!name || msg->data[5] != 'S' || !name[0])
		return false;
	cl_remove(c->prep, name);
	pkt_init(&p, stack, sizeof(stack));
	prep_put_msg(&p, '3');
	(void)client_send_pkt(c, &p);
	pkt_free(&p);
	*act = c->state == CL_JUSTFREE ? SBUF_STOP : SBUF_SKIP;
	return true;
}

PrepOutcome prep_client_msg(Client *c, const SBufMsg *msg)
{
	Server *s = c->link;
	bool skipping;

	if (!sv_get(s))
		return prep_fatal(c, "53200", "out of memory");
	switch (msg->type) {
	case 'P':
		return prep_parse(c, msg);
	case 'B':
	case 'D':
		return prep_use(c, msg);
	case 'C':
		return prep_close(c, msg);
	case 'E':
		return prep_out(q_push(s, PR_EXECUTE, prep_next_seq(), NULL, NULL) ? SBUF_FORWARD : SBUF_STOP,
		                true, false);
	case 'S':
		return prep_out(q_push(s, PR_SYNC, prep_next_seq(), NULL, NULL) ? SBUF_FORWARD : SBUF_STOP,
		                true, false);
	case 'Q':
		if (s->prep->qlen == 0 && !s->prep->skip_open && !sbuf_forward_pending(&s->sbuf)) {
			if (!msg->complete && msg->len <= 1024)
				return prep_out(SBUF_NEED_BODY, false, false);
			if (prep_deallocate(c, msg, s->tx_status))
				return prep_out(c->state == CL_JUSTFREE ? SBUF_STOP : SBUF_SKIP, false, true);
		}
		/* fall through */
	case 'F':
		/* while the server skips to Sync it ignores these: no reply */
		skipping = s->prep->skip_open;
		if (!q_push(s, PR_SIMPLE, prep_next_seq(), NULL, NULL))
			return prep_fatal(c, "53200", "out of memory");
		return prep_out(SBUF_FORWARD, !skipping, false);
	default:
		return prep_out(SBUF_FORWARD, true, false);
	}
}

bool prep_replay(Client *c, const uint8_t *buf, uint32_t len, PktBuf *out)
{
	uint32_t pos = 0;
	bool ok = true;

	prep_replay_out = out;
	while (ok && pos + 5 <= len) {
		SBufMsg m;
		PrepOutcome o;
		memset(&m, 0, sizeof(m));
		m.type = buf[pos];
		m.len = m.avail = wire_be32(buf + pos + 1) + 1;
		m.data = buf + pos;
		m.complete = true;
		if (m.len < 5 || pos + m.len > len)
			break;
		o = prep_client_msg(c, &m);
		ok = o.act != SBUF_STOP && o.act != SBUF_NEED_BODY && c->link;
		if (ok && o.act == SBUF_FORWARD && !o.rewritten)
			pkt_put_bytes(out, m.data, m.len);
		if (ok && o.to_server)
			server_track_client_msg(c->link, m.type);
		pos += m.len;
	}
	prep_replay_out = NULL;
	return ok && !out->failed;
}

/* ---- routing ------------------------------------------------------------ */

const ClassifyResult *prep_classification(Client *c, const SBufMsg *msg, const char **text,
                                          uint32_t *tlen, bool *need_body)
{
	uint32_t head;
	bool more;
	const char *name;
	PrepName *n;

	*need_body = false;
	if (!c->prep || (msg->type != 'B' && msg->type != 'D'))
		return NULL;
	name = prep_stmt_name(msg, &head, &more);
	if (!name) {
		*need_body = more && msg->len <= PREP_PARSE_MAX;
		return NULL;
	}
	if (msg->type == 'D' && msg->data[5] != 'S')
		return NULL;
	n = name[0] ? cl_find(c->prep, name) : NULL;
	if (!n)
		return NULL;
	*text = (const char *)n->st->body;
	*tlen = n->st->text_len;
	return &n->st->cls;
}

/* One buffered message of the batch: may it write? */
static bool prep_msg_writes(Client *c, const SBufMsg *m)
{
	ClassifyResult cr;
	const ClassifyResult *use = NULL;
	const char *name, *text;
	const uint8_t *rest;
	uint32_t rlen, tlen;
	bool nb;

	if (m->type == 'P' && prep_parse_body(m, &name, &rest, &rlen, &tlen)) {
		classify_sql((const char *)rest, tlen, &cr);
		use = &cr;
	} else if (m->type == 'Q') {
		text = (const char *)m->data + 5;
		classify_sql(text, strnlen(text, m->len - 5), &cr);
		use = &cr;
	} else if (m->type == 'B' || m->type == 'D') {
		use = prep_classification(c, m, &text, &tlen, &nb);
		if (!use)
			return false;   /* unnamed/unknown: its Parse was looked at */
	} else {
		return false;
	}
	return use->kind != CLS_READ || (use->flags & (CLS_F_HINT_PRIMARY | CLS_F_TXN_BEGIN | CLS_F_TXN_END));
}

bool prep_batch_writes(Client *c, const SBufMsg *msg)
{
	const uint8_t *p = msg->complete ? msg->next : NULL;
	uint32_t left = msg->complete ? msg->next_avail : 0;

	while (p && left >= 5) {
		SBufMsg m;
		uint32_t mlen = wire_be32(p + 1);
		if (p[0] == 'S')
			return false;   /* the whole batch is here and reads */
		if (mlen < 4 || mlen + 1 > left)
			break;
		memset(&m, 0, sizeof(m));
		m.type = p[0];
		m.len = m.avail = mlen + 1;
		m.data = p;
		m.complete = true;
		if (prep_msg_writes(c, &m))
			return true;
		p += mlen + 1;
		left -= mlen + 1;
	}
	return true;   /* the rest of the batch is not here yet: it may write */
}

/* ---- the server side ---------------------------------------------------- */

static bool prep_is_extended(uint8_t kind)
{
	return kind != PR_SYNC && kind != PR_SIMPLE;
}

/* Does a reply of type t end request kind? */
static bool prep_ends(uint8_t kind, uint8_t t)
{
	switch (kind) {
	case PR_PARSE: case PR_INJ_PARSE:
		return t == '1';
	case PR_BIND:
		return t == '2';
	case PR_DESCRIBE:
		return t == 'T' || t == 'n';
	case PR_EXECUTE:
		return t == 'C' || t == 'I' || t == 's';
	case PR_CLOSE: case PR_INJ_CLOSE:
		return t == '3';
	case PR_SYNC: case PR_SIMPLE:
		return t == 'Z';
	default:
		return false;
	}
}

/* An ErrorResponse to the head request: it and everything up to the next
 * Sync never ran; undo newest first. */
static void prep_error(Server *s)
{
	PrepServer *ps = s->prep;
	uint32_t n = 0;

	while (n < ps->qlen && q_at(ps, n)->kind != PR_SYNC)
		n++;
	for (uint32_t i = n; i-- > 0;)
		req_undo(s, q_at(ps, i), true);
	for (uint32_t i = 0; i < n; i++)
		q_pop(ps);
	if (n == ps->qlen)
		ps->skip_open = true;
}

/* CommandComplete of DEALLOCATE ALL / DISCARD ALL: the server dropped
 * every statement made before the head request, and so did the client. */
static void prep_command_tag(Server *s, const SBufMsg *msg)
{
	const char *tag = (const char *)msg->data + 5;
	uint64_t before = q_at(s->prep, 0)->seq;

	if (msg->len - 5 < 12 || msg->data[msg->len - 1] != '\0')
		return;
	if (strcmp(tag, "DEALLOCATE ALL") != 0 && strcmp(tag, "DISCARD ALL") != 0)
		return;
	sv_drop_before(s->prep, before);
	if (s->link && s->link->prep)
		cl_drop_before(s->link->prep, before);
}

/* The 42P05 error PostgreSQL gives for a name in use, into p. */
static bool prep_dup_error(Server *s, const SBufMsg *msg, PktBuf *p)
{
	ErrorFields ef;
	const char *name = q_at(s->prep, 0)->name;

	if (!msg->complete || !proto_parse_error(msg->data + 5, msg->len - 5, &ef) ||
	    strcmp(ef.sqlstate, "42601") != 0 || !name)
		return false;
	pkt_error(p, "ERROR", "42P05", "prepared statement \"%s\" already exists", name);
	return true;
}

bool prep_server_msg(Server *s, SBufMsg *msg, SBufAction *act)
{
	PrepServer *ps = s->prep;
	uint8_t stack[256];
	PktBuf p;
	uint8_t kind, t = msg->type;
	bool swallow = false, replaced = false;

	if (!ps || ps->qlen == 0)
		return false;
	kind = q_at(ps, 0)->kind;
	if (!msg->complete && msg->len <= 1024 * 1024 &&
	    (t == 'E' || (t == 'C' && (kind == PR_SIMPLE || kind == PR_EXECUTE)))) {
		*act = SBUF_NEED_BODY;
		return true;
	}
	pkt_init(&p, stack, sizeof(stack));
	(void)prep_take_fakes(ps, &p);   /* they come before this reply */
	if (ps->qlen > 0) {
		kind = q_at(ps, 0)->kind;
		if (t == 'E' && prep_is_extended(kind)) {
			replaced = kind == PR_DUP_PARSE && prep_dup_error(s, msg, &p);
			prep_error(s);
		} else if (t == 'C' && msg->complete && (kind == PR_SIMPLE || kind == PR_EXECUTE)) {
			prep_command_tag(s, msg);
		}
		if (t != 'E' && ps->qlen > 0 && prep_ends(q_at(ps, 0)->kind, t)) {
			kind = q_at(ps, 0)->kind;
			swallow = kind == PR_INJ_PARSE || kind == PR_INJ_CLOSE;
			q_pop(ps);
		} else if (t == 'Z') {
			/* out of step (should not happen): drop up to the Sync */
			while (ps->qlen > 0 && (kind = q_at(ps, 0)->kind, q_pop(ps), kind != PR_SYNC && kind != PR_SIMPLE))
				;
		}
	}
	if (p.len == 0 && !swallow && !replaced) {
		pkt_free(&p);
		return false;
	}
	if (p.failed || (p.len > 0 && !sbuf_rewrite(&s->sbuf, msg, 0, p.buf, (uint32_t)p.len))) {
		pkt_free(&p);
		server_close(s, "out of memory answering for a prepared statement");
		*act = SBUF_STOP;
		return true;
	}
	pkt_free(&p);
	*act = swallow || replaced ? SBUF_SKIP : SBUF_FORWARD;
	if (swallow || replaced)
		return true;
	/* a plain reply after made-up ones: the caller goes on with it, moved */
	msg->data = s->sbuf.buf + s->sbuf.parse;
	msg->next = msg->complete ? msg->data + msg->len : NULL;
	return false;
}
