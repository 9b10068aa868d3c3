/*
 * test_sbuf.c - unit tests for core/sbuf.c, the framing and forwarding layer.
 *
 * Each test links two SBufs (a "client" and a "server") over two
 * AF_UNIX socketpairs and a private libevent base; the outside ends of the
 * pairs play the real client and the real server and write or read raw
 * bytes.  A recording proto callback notes every call (type, len, avail,
 * complete, bad) and returns what the test's policy asks for; a bad length
 * always closes, as the callback contract demands.  The loop is driven with
 * EVLOOP_NONBLOCK for a bounded number of rounds, never by sleeping.
 *
 * Covered: many small messages in one write, one message in 1-byte writes,
 * a header split across reads, 1 MB DataRow / CopyData streaming through a
 * 512-byte buffer in both directions (one callback per message),
 * SBUF_SKIP (small and larger than the buffer), sbuf_rewrite (insert in
 * front, a new head on a streamed message, a whole replacement bigger than
 * the buffer), SBUF_NEED_BODY (below the
 * buffer size, above it, and at exactly max_pkt), bad length words (< 4
 * and > max_pkt, typed and startup), startup-mode framing, SBUF_PAUSE with
 * sbuf_continue (also when the event interest changes before the kick
 * runs), backpressure with a reader that stops reading, sbuf_send_local
 * ordering and queueing on a full socket, SBUF_EV_FLUSH / SBUF_EV_EOF, and
 * that receive buffers are given back once traffic stops.
 */
#include "sbuf.h"
#include "tap/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <event2/event.h>

#define BUFSZ    512
#define LOOPCNT  5
#define MAXPKT   (4 * 1024 * 1024)
#define MAXREC   4096
#define MAX_PUMP 200000

/* ---- byte strings ------------------------------------------------------ */

typedef struct Bytes {
	uint8_t *p;
	size_t len, cap;
} Bytes;

static void bytes_add(Bytes *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		if (!b->p)
			bail("out of memory");
		b->cap = cap;
	}
	if (n)
		memcpy(b->p + b->len, data, n);
	b->len += n;
}

static void bytes_free(Bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static bool bytes_eq(const Bytes *got, const Bytes *want)
{
	return got->len == want->len && (want->len == 0 || memcmp(got->p, want->p, want->len) == 0);
}

/* Show where two byte strings first differ. */
static void bytes_diff(const char *what, const Bytes *got, const Bytes *want)
{
	size_t i, n = got->len < want->len ? got->len : want->len;

	for (i = 0; i < n && got->p[i] == want->p[i]; i++)
		;
	diag("%s: got %zu bytes, wanted %zu; first difference at offset %zu", what, got->len, want->len, i);
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Body pattern: byte 0 is the seed, so a callback can verify a body alone. */
static uint8_t pat(uint8_t seed, size_t i)
{
	return (uint8_t)(seed + i * 7 + (i >> 9));
}

static bool body_ok(const uint8_t *body, size_t n)
{
	for (size_t i = 1; i < n; i++)
		if (body[i] != pat(body[0], i))
			return false;
	return true;
}

/* Append a typed message with a patterned body; returns its total length. */
static size_t add_msg(Bytes *b, uint8_t type, size_t body, uint8_t seed)
{
	uint8_t hdr[5];
	uint8_t chunk[4096];
	size_t i = 0;

	hdr[0] = type;
	put_be32(hdr + 1, (uint32_t)(body + 4));
	bytes_add(b, hdr, 5);
	while (i < body) {
		size_t n = body - i < sizeof(chunk) ? body - i : sizeof(chunk);
		for (size_t k = 0; k < n; k++)
			chunk[k] = pat(seed, i + k);
		bytes_add(b, chunk, n);
		i += n;
	}
	return body + 5;
}

/* Append an untyped (startup-phase) packet; returns its total length. */
static size_t add_startup(Bytes *b, size_t body, uint8_t seed)
{
	uint8_t hdr[4];

	put_be32(hdr, (uint32_t)(body + 4));
	bytes_add(b, hdr, 4);
	for (size_t i = 0; i < body; i++) {
		uint8_t c = pat(seed, i);
		bytes_add(b, &c, 1);
	}
	return body + 4;
}

/* ---- the two sides ----------------------------------------------------- */

typedef struct Rec {
	uint8_t type;
	uint32_t len, avail;
	bool complete, bad;
} Rec;

typedef struct Side Side;
typedef SBufAction (*policy_fn)(Side *s, const SBufMsg *m);

struct Side {
	SBuf sb;             /* first: callbacks cast the SBuf back */
	const char *name;
	Side *peer;
	int outer;           /* the test's end of the socketpair */
	policy_fn policy;    /* NULL: forward everything */
	int pol_state;
	Rec rec[MAXREC];
	int nrec;
	int flushes, bad_flushes, eofs, send_failed;
	int bodies_ok, bodies_bad;
	bool drain;          /* the outer end reads what arrives */
	bool outer_eof;
	Bytes rx;            /* what the outer end has read */
	Bytes tx;            /* what the outer end writes, from tx_pos on */
	size_t tx_pos;
};

static struct event_base *base;
static Side cl, sv;

static void side_close(Side *s)
{
	if (s->peer && !s->peer->sb.closed)
		sbuf_set_dst(&s->peer->sb, NULL);
	sbuf_close(&s->sb);
}

static SBufAction t_proto(SBuf *sb, const SBufMsg *m)
{
	Side *s = (Side *)sb;

	if (s->nrec < MAXREC) {
		Rec *r = &s->rec[s->nrec];
		r->type = m->type;
		r->len = m->len;
		r->avail = m->avail;
		r->complete = m->complete;
		r->bad = m->bad;
	}
	s->nrec++;
	if (m->bad) {
		/* the contract: the owner closes on a bad length */
		side_close(s);
		return SBUF_STOP;
	}
	return s->policy ? s->policy(s, m) : SBUF_FORWARD;
}

static void t_event(SBuf *sb, SBufEvent ev)
{
	Side *s = (Side *)sb;

	switch (ev) {
	case SBUF_EV_FLUSH:
		s->flushes++;
		if (sb->done != sb->parse || sb->pkt_remain != 0)
			s->bad_flushes++;
		break;
	case SBUF_EV_EOF:
		s->eofs++;
		side_close(s);
		break;
	case SBUF_EV_SEND_FAILED:
		s->send_failed++;
		side_close(s);
		break;
	default:
		break;
	}
}

static void set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		bail("fcntl: %s", strerror(errno));
}

static void side_open(Side *s, const char *name, Side *peer)
{
	int fds[2];

	bytes_free(&s->rx);
	bytes_free(&s->tx);
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->peer = peer;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
		bail("socketpair: %s", strerror(errno));
	s->outer = fds[0];
	set_nonblock(s->outer);
	sbuf_init(&s->sb, t_proto, t_event);
	if (!sbuf_accept(&s->sb, fds[1], false, base))
		bail("sbuf_accept failed");
}

/* A fresh client/server pair linked both ways. */
static void pair_open(void)
{
	side_open(&cl, "client", &sv);
	side_open(&sv, "server", &cl);
	sbuf_set_dst(&cl.sb, &sv.sb);
	sbuf_set_dst(&sv.sb, &cl.sb);
}

static void side_shut(Side *s)
{
	sbuf_close(&s->sb);
	if (s->outer >= 0)
		close(s->outer);
	s->outer = -1;
	bytes_free(&s->rx);
	bytes_free(&s->tx);
}

static void pair_close(void)
{
	side_shut(&cl);
	side_shut(&sv);
	/* run anything still active (kicks of closed SBufs) */
	event_base_loop(base, EVLOOP_NONBLOCK);
}

static void small_bufs(int fd, int size)
{
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
}

static int inq(int fd)
{
	int n = -1;

	if (fd < 0 || ioctl(fd, FIONREAD, &n) < 0)
		return -1;
	return n;
}

/* ---- driving the loop -------------------------------------------------- */

static void outer_write_some(Side *s)
{
	while (s->outer >= 0 && s->tx_pos < s->tx.len) {
		ssize_t n = send(s->outer, s->tx.p + s->tx_pos, s->tx.len - s->tx_pos,
		                 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		s->tx_pos += (size_t)n;
	}
}

static void outer_read_some(Side *s)
{
	uint8_t tmp[65536];

	while (s->drain && s->outer >= 0 && !s->outer_eof) {
		ssize_t n = recv(s->outer, tmp, sizeof(tmp), MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			s->outer_eof = true;
			break;
		}
		if (n < 0)
			break;
		bytes_add(&s->rx, tmp, (size_t)n);
	}
}

/* One round: outside ends write, the loop runs once, outside ends read. */
static void pump(void)
{
	outer_write_some(&cl);
	outer_write_some(&sv);
	event_base_loop(base, EVLOOP_NONBLOCK);
	outer_read_some(&cl);
	outer_read_some(&sv);
}

#define PUMP_UNTIL(cond) \
	do { \
		for (int pu_ = 0; pu_ < MAX_PUMP && !(cond); pu_++) \
			pump(); \
	} while (0)

static uint64_t progress(void)
{
	return cl.tx_pos + sv.tx_pos + cl.rx.len + sv.rx.len + cl.sb.bytes_in + sv.sb.bytes_in +
		cl.sb.bytes_out + sv.sb.bytes_out + (uint64_t)cl.nrec + (uint64_t)sv.nrec;
}

/* Pump until nothing moves for 20 rounds in a row. */
static void pump_idle(void)
{
	int still = 0;

	for (int i = 0; i < MAX_PUMP && still < 20; i++) {
		uint64_t before = progress();
		pump();
		still = progress() == before ? still + 1 : 0;
	}
}

/* Write bytes from an outer end now (small amounts: must fit the socket). */
static void outer_write(Side *s, const void *data, size_t n)
{
	bytes_add(&s->tx, data, n);
	outer_write_some(s);
	if (s->tx_pos != s->tx.len)
		bail("outer write of %zu bytes did not fit", n);
}

static bool bufs_released(void)
{
	return cl.sb.buf == NULL && sv.sb.buf == NULL;
}

/* ---- policies ---------------------------------------------------------- */

static SBufAction pol_skip_x(Side *s, const SBufMsg *m)
{
	return m->type == 'x' ? SBUF_SKIP : SBUF_FORWARD;
}

/* 'i': a 'z' message goes in front; 'h': its header and first 3 body
 * bytes become an 'H' header (the rest streams); 'r': replaced by two 'y'
 * messages. */
static SBufAction pol_rewrite(Side *s, const SBufMsg *m)
{
	Bytes b = { 0 };
	SBufAction act = SBUF_FORWARD;
	uint32_t cut = 0;
	bool done;

	(void)s;
	if (m->type == 'i') {
		add_msg(&b, 'z', 10, 9);
	} else if (m->type == 'h') {
		uint8_t hdr[5] = { 'H' };
		put_be32(hdr + 1, m->len - 1 - 3);
		bytes_add(&b, hdr, 5);
		cut = 8;
	} else if (m->type == 'r') {
		add_msg(&b, 'y', 3, 7);
		add_msg(&b, 'y', 600, 8);
		act = SBUF_SKIP;
	} else {
		return SBUF_FORWARD;
	}
	done = sbuf_rewrite(&s->sb, m, cut, b.p, (uint32_t)b.len);
	bytes_free(&b);
	return done ? act : SBUF_STOP;
}

static SBufAction pol_need_body(Side *s, const SBufMsg *m)
{
	if (m->type != 'N')
		return SBUF_FORWARD;
	if (!m->complete)
		return SBUF_NEED_BODY;
	if (m->avail == m->len && body_ok(m->data + 5, m->len - 5))
		s->bodies_ok++;
	else
		s->bodies_bad++;
	return SBUF_FORWARD;
}

static SBufAction pol_pause_p(Side *s, const SBufMsg *m)
{
	if (m->type == 'P' && s->pol_state == 0) {
		s->pol_state = 1;
		return SBUF_PAUSE;
	}
	return SBUF_FORWARD;
}

/* ---- tests ------------------------------------------------------------- */

static void test_small_batch(void)
{
	static const uint8_t types[] = { 'Q', 'P', 'B', 'D', 'E', 'S', 'C', 'H' };
	Bytes want = { 0 };
	uint32_t lens[40];
	bool order = true;

	pair_open();
	sv.drain = true;
	for (int i = 0; i < 40; i++)
		lens[i] = (uint32_t)add_msg(&want, types[i % 8], (size_t)(i * 13) % 170, (uint8_t)i);
	outer_write(&cl, want.p, want.len);
	PUMP_UNTIL(sv.rx.len >= want.len);
	pump_idle();

	if (!ok(bytes_eq(&sv.rx, &want), "small batch: %zu bytes of 40 messages forwarded byte-exactly", want.len))
		bytes_diff("small batch", &sv.rx, &want);
	is_int(40, cl.nrec, "small batch: callback called once per message");
	for (int i = 0; i < 40 && i < cl.nrec; i++)
		if (cl.rec[i].type != types[i % 8] || cl.rec[i].len != lens[i] || cl.rec[i].bad)
			order = false;
	ok(order, "small batch: callback saw types and lengths in order");
	ok(cl.flushes > 0 && cl.bad_flushes == 0, "small batch: FLUSH reported, never with data pending");
	ok(bufs_released(), "small batch: receive buffers given back when empty");
	ok(sbuf_is_empty(&cl.sb) && sbuf_is_empty(&sv.sb), "small batch: sbuf_is_empty on both");
	bytes_free(&want);
	pair_close();
}

static void test_one_byte_writes(void)
{
	Bytes want = { 0 };
	bool early = false;

	pair_open();
	sv.drain = true;
	add_msg(&want, 'Q', 300, 7);
	for (size_t i = 0; i < want.len; i++) {
		outer_write(&cl, want.p + i, 1);
		pump_idle();
		if (i < 4 && cl.nrec != 0)
			early = true;
		if (i == 4) {
			ok(cl.nrec == 1 && !cl.rec[0].complete && cl.rec[0].avail == 5 && cl.rec[0].len == 305,
			   "1-byte writes: callback runs once the 5th header byte arrives (avail 5, incomplete)");
		}
	}
	ok(!early, "1-byte writes: no callback before the header is whole");
	if (!ok(bytes_eq(&sv.rx, &want), "1-byte writes: message forwarded byte-exactly"))
		bytes_diff("1-byte", &sv.rx, &want);
	is_int(1, cl.nrec, "1-byte writes: callback called once");
	ok(bufs_released(), "1-byte writes: buffers given back");
	bytes_free(&want);
	pair_close();
}

static void test_header_split(void)
{
	Bytes want = { 0 };
	size_t first;

	pair_open();
	sv.drain = true;
	first = add_msg(&want, 'B', 20, 1);
	add_msg(&want, 'E', 9, 2);
	outer_write(&cl, want.p, first + 3);
	pump_idle();
	is_int(1, cl.nrec, "split header: only the whole header was passed to the callback");
	is_int(3, sbuf_unparsed(&cl.sb), "split header: 3 header bytes held unparsed");
	is_int((long long)first, (long long)sv.rx.len, "split header: first message forwarded meanwhile");
	outer_write(&cl, want.p + first + 3, want.len - first - 3);
	pump_idle();
	ok(cl.nrec == 2 && cl.rec[1].type == 'E' && cl.rec[1].len == 14 && cl.rec[1].complete,
	   "split header: second message seen whole once the rest arrives");
	ok(bytes_eq(&sv.rx, &want), "split header: both forwarded byte-exactly");
	ok(bufs_released(), "split header: buffers given back");
	bytes_free(&want);
	pair_close();
}

static void test_big_stream(void)
{
	Bytes up = { 0 }, down = { 0 };
	size_t big = 1024 * 1024;

	pair_open();
	cl.drain = sv.drain = true;
	add_msg(&down, 'D', big, 3);     /* server -> client DataRow */
	add_msg(&down, 'C', 12, 4);
	add_msg(&up, 'd', big, 5);       /* client -> server CopyData */
	add_msg(&up, 'c', 0, 0);
	bytes_add(&sv.tx, down.p, down.len);
	bytes_add(&cl.tx, up.p, up.len);
	PUMP_UNTIL(cl.rx.len >= down.len && sv.rx.len >= up.len);
	pump_idle();

	if (!ok(bytes_eq(&cl.rx, &down), "1 MB DataRow streamed byte-exactly through 512-byte buffers"))
		bytes_diff("DataRow", &cl.rx, &down);
	if (!ok(bytes_eq(&sv.rx, &up), "1 MB CopyData streamed byte-exactly the other way"))
		bytes_diff("CopyData", &sv.rx, &up);
	ok(sv.nrec == 2 && sv.rec[0].type == 'D' && sv.rec[0].len == big + 5 && !sv.rec[0].complete &&
	   sv.rec[1].type == 'C', "DataRow: callback called once for it (then once for CommandComplete)");
	ok(cl.nrec == 2 && cl.rec[0].type == 'd' && cl.rec[0].len == big + 5 && cl.rec[1].type == 'c',
	   "CopyData: callback called once for it (then once for CopyDone)");
	ok(sv.bad_flushes == 0 && cl.bad_flushes == 0, "no FLUSH in the middle of a streamed message");
	ok(sv.flushes > 0 && cl.flushes > 0, "FLUSH reported after the stream");
	ok(bufs_released(), "big stream: buffers given back");
	bytes_free(&up);
	bytes_free(&down);
	pair_close();
}

static void test_skip(void)
{
	Bytes all = { 0 }, want = { 0 };
	bool seq;

	pair_open();
	cl.policy = pol_skip_x;
	sv.drain = true;
	add_msg(&all, 'a', 10, 1);
	add_msg(&want, 'a', 10, 1);
	add_msg(&all, 'x', 20, 2);
	add_msg(&all, 'b', 30, 3);
	add_msg(&want, 'b', 30, 3);
	add_msg(&all, 'x', 100000, 4);   /* skipped, far bigger than the buffer */
	add_msg(&all, 'c', 700, 5);      /* forwarded, bigger than the buffer */
	add_msg(&want, 'c', 700, 5);
	add_msg(&all, 'x', 0, 0);
	add_msg(&all, 'd', 5, 6);
	add_msg(&want, 'd', 5, 6);
	bytes_add(&cl.tx, all.p, all.len);
	PUMP_UNTIL(cl.tx_pos == all.len && sv.rx.len >= want.len);
	pump_idle();

	if (!ok(bytes_eq(&sv.rx, &want), "skip: exactly the x messages dropped, the rest intact and in order"))
		bytes_diff("skip", &sv.rx, &want);
	seq = cl.nrec == 7 && cl.rec[0].type == 'a' && cl.rec[1].type == 'x' && cl.rec[2].type == 'b' &&
		cl.rec[3].type == 'x' && cl.rec[3].len == 100005 && cl.rec[4].type == 'c' &&
		cl.rec[5].type == 'x' && cl.rec[6].type == 'd';
	ok(seq, "skip: callback called once per message, big skipped one included");
	ok(cl.bad_flushes == 0 && cl.eofs == 0, "skip: no spurious FLUSH or EOF");
	ok(bufs_released(), "skip: buffers given back");
	bytes_free(&all);
	bytes_free(&want);
	pair_close();
}

static void test_rewrite(void)
{
	Bytes all = { 0 }, want = { 0 }, h = { 0 };
	uint8_t hdr[5] = { 'H' };

	pair_open();
	cl.policy = pol_rewrite;
	sv.drain = true;
	add_msg(&all, 'a', 10, 1);
	add_msg(&want, 'a', 10, 1);
	add_msg(&all, 'i', 20, 2);
	add_msg(&want, 'z', 10, 9);
	add_msg(&want, 'i', 20, 2);
	add_msg(&all, 'h', 100000, 3);  /* far bigger than the buffer */
	add_msg(&h, 'h', 100000, 3);
	put_be32(hdr + 1, 100000 + 4 - 3);
	bytes_add(&want, hdr, 5);
	bytes_add(&want, h.p + 8, h.len - 8);
	add_msg(&all, 'r', 40, 4);
	add_msg(&want, 'y', 3, 7);
	add_msg(&want, 'y', 600, 8);     /* replacement bigger than the buffer */
	add_msg(&all, 'i', 0, 0);
	add_msg(&want, 'z', 10, 9);
	add_msg(&want, 'i', 0, 0);
	add_msg(&all, 'b', 5, 5);
	add_msg(&want, 'b', 5, 5);
	bytes_add(&cl.tx, all.p, all.len);
	PUMP_UNTIL(cl.tx_pos == all.len && sv.rx.len >= want.len);
	pump_idle();
	if (!ok(bytes_eq(&sv.rx, &want), "rewrite: inserted, re-headed (streamed) and replaced messages in order"))
		bytes_diff("rewrite", &sv.rx, &want);
	ok(cl.nrec == 6 && cl.eofs == 0 && cl.bad_flushes == 0, "rewrite: one callback per message, no EOF");
	ok(bufs_released(), "rewrite: buffers given back");
	bytes_free(&all);
	bytes_free(&want);
	bytes_free(&h);
	pair_close();
}

static void test_need_body(void)
{
	Bytes want = { 0 };
	size_t n1;
	int ncomplete = 0, nincomplete_big = 0;

	pair_open();
	cl.policy = pol_need_body;
	sv.drain = true;
	n1 = add_msg(&want, 'N', 200, 11);
	add_msg(&want, 'a', 3, 12);
	add_msg(&want, 'N', 4000, 13);    /* bigger than the 512-byte buffer */
	add_msg(&want, 'N', 30000, 14);
	add_msg(&want, 'b', 0, 0);
	outer_write(&cl, want.p, 50);
	pump_idle();
	ok(cl.nrec >= 1 && !cl.rec[0].complete && sv.rx.len == 0,
	   "need body: first call incomplete, nothing forwarded yet");
	outer_write(&cl, want.p + 50, n1 - 50);
	bytes_add(&cl.tx, want.p + n1, want.len - n1);
	PUMP_UNTIL(cl.tx_pos == cl.tx.len && sv.rx.len >= want.len);
	pump_idle();

	for (int i = 0; i < cl.nrec && i < MAXREC; i++) {
		if (cl.rec[i].type == 'N' && cl.rec[i].complete)
			ncomplete++;
		if (cl.rec[i].type == 'N' && cl.rec[i].len == 4005 && !cl.rec[i].complete)
			nincomplete_big++;
	}
	is_int(3, ncomplete, "need body: called again with complete=true for each of 3 messages");
	ok(nincomplete_big >= 1, "need body: the 4000-byte one was first seen incomplete");
	is_int(3, cl.bodies_ok, "need body: whole body visible and intact in the complete call");
	is_int(0, cl.bodies_bad, "need body: no truncated or corrupt body");
	if (!ok(bytes_eq(&sv.rx, &want), "need body: everything forwarded byte-exactly in order"))
		bytes_diff("need body", &sv.rx, &want);
	ok(cl.eofs == 0 && !cl.sb.closed, "need body: connection stays open");
	ok(bufs_released(), "need body: enlarged buffer given back");
	bytes_free(&want);
	pair_close();
}

/* A length word equal to max_pkt is in range (msg.bad is false), so
 * SBUF_NEED_BODY must work for it too. */
static void test_need_body_at_max(void)
{
	Bytes want = { 0 };

	sbuf_set_params(BUFSZ, LOOPCNT, 4096);
	pair_open();
	cl.policy = pol_need_body;
	sv.drain = true;
	add_msg(&want, 'N', 4092, 21);    /* length word 4096 == max_pkt */
	bytes_add(&cl.tx, want.p, want.len);
	PUMP_UNTIL(cl.tx_pos == cl.tx.len && (sv.rx.len >= want.len || cl.sb.closed));
	pump_idle();
	ok(cl.nrec >= 1 && !cl.rec[0].bad, "max_pkt: length word == max_pkt is not bad");
	ok(cl.eofs == 0 && cl.bodies_ok == 1, "max_pkt: NEED_BODY on a max_pkt-sized message gets the whole body");
	ok(bytes_eq(&sv.rx, &want), "max_pkt: message forwarded byte-exactly");
	pair_close();
	sbuf_set_params(BUFSZ, LOOPCNT, MAXPKT);
	bytes_free(&want);
}

static void bad_case(const char *name, bool startup, uint32_t lenword)
{
	Bytes good = { 0 };
	uint8_t hdr[5];

	pair_open();
	cl.sb.startup = startup;
	cl.drain = sv.drain = true;
	if (startup)
		add_startup(&good, 8, 1);
	else
		add_msg(&good, 'Q', 8, 1);
	outer_write(&cl, good.p, good.len);
	PUMP_UNTIL(sv.rx.len >= good.len);
	if (startup) {
		put_be32(hdr, lenword);
		outer_write(&cl, hdr, 4);
	} else {
		hdr[0] = 'Q';
		put_be32(hdr + 1, lenword);
		outer_write(&cl, hdr, 5);
	}
	PUMP_UNTIL(cl.sb.closed && cl.outer_eof);
	ok(cl.nrec == 2 && !cl.rec[0].bad && cl.rec[1].bad && cl.rec[1].type == (startup ? 0 : 'Q'),
	   "bad %s: msg.bad set for the bad length word only", name);
	ok(cl.sb.closed && cl.outer_eof, "bad %s: owner closed; the peer sees EOF", name);
	ok(bytes_eq(&sv.rx, &good), "bad %s: the good message before it was forwarded, nothing after", name);
	bytes_free(&good);
	pair_close();
}

static void test_bad(void)
{
	bad_case("typed len 3", false, 3);
	bad_case("typed len > max_pkt", false, MAXPKT + 1);
	bad_case("startup len 3", true, 3);
	bad_case("startup len > max_pkt", true, 0x40000000);
}

static void test_startup(void)
{
	Bytes want = { 0 };
	uint8_t ssl[8];
	size_t n1, n2, n3;

	pair_open();
	cl.sb.startup = true;
	sv.drain = true;
	put_be32(ssl, 8);
	put_be32(ssl + 4, 80877103);         /* SSLRequest */
	bytes_add(&want, ssl, 8);
	n1 = 8;
	n2 = add_startup(&want, 56, 9);       /* a 60-byte startup packet */
	n3 = add_startup(&want, 1000, 10);    /* bigger than the buffer */
	outer_write(&cl, want.p, n1 + n2 + 2); /* 2 bytes of the third header */
	pump_idle();
	ok(cl.nrec == 2 && cl.rec[0].type == 0 && cl.rec[0].len == 8 && cl.rec[0].complete &&
	   cl.rec[1].type == 0 && cl.rec[1].len == 60 && cl.rec[1].complete,
	   "startup: untyped packets framed by their 4-byte length word");
	is_int(2, sbuf_unparsed(&cl.sb), "startup: partial length word held");
	outer_write(&cl, want.p + n1 + n2 + 2, n3 - 2);
	pump_idle();
	ok(cl.nrec == 3 && cl.rec[2].len == 1004 && cl.rec[2].type == 0,
	   "startup: third packet seen once, length from the split word");
	/* the owner switches to typed messages after the startup packet */
	cl.sb.startup = false;
	add_msg(&want, 'Q', 10, 3);
	outer_write(&cl, want.p + n1 + n2 + n3, want.len - n1 - n2 - n3);
	PUMP_UNTIL(sv.rx.len >= want.len);
	ok(cl.nrec == 4 && cl.rec[3].type == 'Q' && cl.rec[3].len == 15, "startup: typed framing after the switch");
	ok(bytes_eq(&sv.rx, &want), "startup: all forwarded byte-exactly");
	ok(bufs_released(), "startup: buffers given back");
	bytes_free(&want);
	pair_close();
}

static void test_pause(void)
{
	Bytes want = { 0 };
	size_t na, nrest, nd;
	bool seq;

	pair_open();
	cl.policy = pol_pause_p;
	sv.drain = true;
	na = add_msg(&want, 'a', 10, 1);
	nrest = add_msg(&want, 'P', 20, 2);
	nrest += add_msg(&want, 'b', 30, 3);
	nrest += add_msg(&want, 'c', 40, 4);
	outer_write(&cl, want.p, want.len);
	pump_idle();
	is_int((long long)na, (long long)sv.rx.len, "pause: only the message before P forwarded");
	ok(cl.nrec == 2 && cl.sb.paused, "pause: parsing stopped at P");
	is_int((long long)nrest, sbuf_unparsed(&cl.sb), "pause: P and later messages stay buffered");
	nd = add_msg(&want, 'd', 50, 5);
	outer_write(&cl, want.p + want.len - nd, nd);
	pump_idle();
	is_int((long long)nd, inq(cl.sb.fd), "pause: later bytes stay unread in the kernel");
	is_int(2, cl.nrec, "pause: no callbacks while paused");
	sbuf_continue(&cl.sb);
	PUMP_UNTIL(sv.rx.len >= want.len);
	pump_idle();
	if (!ok(bytes_eq(&sv.rx, &want), "pause: sbuf_continue delivers the rest in order"))
		bytes_diff("pause", &sv.rx, &want);
	seq = cl.nrec == 6 && cl.rec[1].type == 'P' && cl.rec[2].type == 'P' && cl.rec[3].type == 'b' &&
		cl.rec[4].type == 'c' && cl.rec[5].type == 'd';
	ok(seq, "pause: P seen again after continue, then b, c, d");
	ok(bufs_released(), "pause: buffers given back");
	bytes_free(&want);
	pair_close();
}

/* Fill the client's socket with a local message (the outer end does not
 * read) and return its length. */
static size_t fill_with_local(Side *s, Bytes *want)
{
	Bytes blob = { 0 };
	size_t n = add_msg(&blob, 'N', 512 * 1024 - 5, 77);

	small_bufs(s->sb.fd, 4096);
	small_bufs(s->outer, 4096);
	if (!sbuf_send_local(&s->sb, blob.p, blob.len))
		bail("sbuf_send_local failed");
	bytes_add(want, blob.p, blob.len);
	bytes_free(&blob);
	return n;
}

/*
 * The owner resumes a paused SBuf (sbuf_continue kicks it through the
 * loop) and, before the loop runs, something changes its event interest:
 * here a local send that fills the socket, as a server callback that
 * continues its client and then writes to it would.  The paused messages
 * must still be delivered (event_del drops a pending event_active; see
 * sbuf.c's `kicked`).
 */
static void test_pause_then_interest_change(void)
{
	Bytes want = { 0 }, cwant = { 0 };

	pair_open();
	cl.policy = pol_pause_p;
	sv.drain = true;
	add_msg(&want, 'a', 10, 1);
	add_msg(&want, 'P', 20, 2);
	add_msg(&want, 'b', 30, 3);
	outer_write(&cl, want.p, want.len);
	pump_idle();
	ok(cl.sb.paused && cl.nrec == 2, "kick+rearm: paused at P");
	sbuf_continue(&cl.sb);
	fill_with_local(&cl, &cwant);
	ok(cl.sb.out_pos < cl.sb.out_len, "kick+rearm: local output queued on the full socket");
	PUMP_UNTIL(sv.rx.len >= want.len);
	cl.drain = true;
	PUMP_UNTIL(sv.rx.len >= want.len && cl.rx.len >= cwant.len);
	pump_idle();
	if (!ok(bytes_eq(&sv.rx, &want), "kick+rearm: paused messages delivered after sbuf_continue"))
		bytes_diff("kick+rearm", &sv.rx, &want);
	ok(bytes_eq(&cl.rx, &cwant), "kick+rearm: local output arrived intact");
	bytes_free(&want);
	bytes_free(&cwant);
	pair_close();
}

/*
 * Same, but the SBuf is also blocked when it is continued, so its event
 * has no I/O interest at kick time; a local send then re-arms it.  An
 * event_assign on an event still in libevent's active queue corrupts the
 * queue and libevent exits, so this runs in a child process.
 */
static void test_blocked_pause_then_interest_change(void)
{
	pid_t pid;
	int status = 0;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		bail("fork: %s", strerror(errno));
	if (pid == 0) {
		Bytes want = { 0 }, swant = { 0 }, cwant = { 0 };
		bool good;

		/* the child's stdout must not add to the TAP stream (plan_lazy's
		 * atexit runs if libevent exits) */
		int devnull = open("/dev/null", O_WRONLY);
		if (devnull >= 0)
			dup2(devnull, STDOUT_FILENO);
		/* fresh base: do not share the parent's epoll fd */
		event_reinit(base);
		pair_open();
		cl.policy = pol_pause_p;
		fill_with_local(&sv, &swant);  /* server socket full: cl will block */
		add_msg(&want, 'a', 10, 1);
		add_msg(&want, 'P', 20, 2);
		add_msg(&want, 'b', 30, 3);
		outer_write(&cl, want.p, want.len);
		pump_idle();
		if (!cl.sb.paused || !cl.sb.blocked)
			_exit(3);
		sbuf_continue(&cl.sb);
		fill_with_local(&cl, &cwant);
		sv.drain = cl.drain = true;
		bytes_add(&swant, want.p, want.len);
		PUMP_UNTIL(sv.rx.len >= swant.len && cl.rx.len >= cwant.len);
		pump_idle();
		good = bytes_eq(&sv.rx, &swant) && bytes_eq(&cl.rx, &cwant);
		_exit(good ? 0 : 4);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	        "kick while blocked+paused, then re-arm: no crash, everything delivered"))
		diag("child: %s %d", WIFEXITED(status) ? "exit" : "signal",
		     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
}

static void test_backpressure(void)
{
	Bytes want = { 0 };
	uint32_t lens[301];
	bool order = true;
	uint64_t in_before;
	int nrec_before, flush_before;

	pair_open();
	small_bufs(cl.sb.fd, 4096);      /* the destination socket */
	small_bufs(cl.outer, 4096);
	small_bufs(sv.outer, 16384);     /* so the server's writes stall too */
	for (int i = 0; i < 300; i++)
		lens[i] = (uint32_t)add_msg(&want, 'D', 1000 + (size_t)(i % 7), (uint8_t)i);
	lens[300] = (uint32_t)add_msg(&want, 'C', 13, 9);
	bytes_add(&sv.tx, want.p, want.len);
	pump_idle();

	ok(sv.sb.blocked, "backpressure: source SBuf blocked on the full destination");
	ok(cl.sb.want_write && (cl.sb.ev_flags & EV_WRITE), "backpressure: destination waits for EV_WRITE");
	ok(!(sv.sb.ev_flags & EV_READ), "backpressure: source read interest off");
	ok(inq(sv.sb.fd) > 0, "backpressure: source bytes stay unread in the kernel (%d)", inq(sv.sb.fd));
	ok(sv.tx_pos < want.len, "backpressure: the server's writes stall (%zu of %zu written)", sv.tx_pos, want.len);
	in_before = sv.sb.bytes_in;
	nrec_before = sv.nrec;
	flush_before = sv.flushes;
	for (int i = 0; i < 100; i++)
		pump();
	ok(sv.sb.bytes_in == in_before && sv.nrec == nrec_before, "backpressure: source reads nothing more while blocked");
	is_int(flush_before, sv.flushes, "backpressure: no FLUSH while blocked");

	cl.drain = true;
	PUMP_UNTIL(sv.tx_pos == want.len && cl.rx.len >= want.len);
	pump_idle();
	if (!ok(bytes_eq(&cl.rx, &want), "backpressure: all %zu bytes arrive intact after draining", want.len))
		bytes_diff("backpressure", &cl.rx, &want);
	for (int i = 0; i < 301; i++)
		if (i >= sv.nrec || sv.rec[i].len != lens[i])
			order = false;
	ok(order && sv.nrec == 301, "backpressure: callback saw all 301 messages once, in order");
	ok(!sv.sb.blocked && !cl.sb.want_write, "backpressure: unblocked after draining");
	ok(sv.flushes > flush_before && sv.bad_flushes == 0, "backpressure: FLUSH once drained");
	ok(bufs_released(), "backpressure: buffers given back");
	bytes_free(&want);
	pair_close();
}

static void test_send_local(void)
{
	Bytes want = { 0 }, fwd = { 0 };
	uint8_t err[32];
	size_t nerr;

	/* local output first, forwarded data after it */
	pair_open();
	cl.drain = true;
	err[0] = 'E';
	put_be32(err + 1, 12);
	memcpy(err + 5, "SFATAL\0\0", 8);
	nerr = 13;
	ok(sbuf_send_local(&cl.sb, err, nerr), "send_local: accepted");
	bytes_add(&want, err, nerr);
	add_msg(&fwd, 'D', 40, 1);
	bytes_add(&want, fwd.p, fwd.len);
	outer_write(&sv, fwd.p, fwd.len);
	PUMP_UNTIL(cl.rx.len >= want.len);
	ok(bytes_eq(&cl.rx, &want), "send_local: local message arrives before later forwarded data");
	pair_close();
	bytes_free(&want);
	bytes_free(&fwd);

	/* socket full: queued, flushed on EV_WRITE, still ahead of forwarding */
	pair_open();
	fill_with_local(&cl, &want);
	ok(cl.sb.out_pos < cl.sb.out_len, "send_local: the rest is queued when the socket is full");
	ok(cl.sb.ev_flags & EV_WRITE, "send_local: EV_WRITE armed for the queue");
	add_msg(&fwd, 'D', 300, 2);
	add_msg(&fwd, 'C', 10, 3);
	bytes_add(&want, fwd.p, fwd.len);
	outer_write(&sv, fwd.p, fwd.len);
	pump_idle();
	ok(sv.sb.blocked, "send_local: forwarded data waits behind the queued local output");
	cl.drain = true;
	PUMP_UNTIL(cl.rx.len >= want.len);
	pump_idle();
	if (!ok(bytes_eq(&cl.rx, &want), "send_local: queue flushed on EV_WRITE, then forwarded data"))
		bytes_diff("send_local", &cl.rx, &want);
	ok(cl.sb.out_pos == cl.sb.out_len && !(cl.sb.ev_flags & EV_WRITE), "send_local: queue empty, EV_WRITE off");
	ok(!sv.sb.blocked && bufs_released(), "send_local: source unblocked, buffers given back");
	bytes_free(&want);
	bytes_free(&fwd);
	pair_close();
}

static void test_flush_eof(void)
{
	Bytes want = { 0 };

	pair_open();
	cl.drain = sv.drain = true;
	add_msg(&want, 'D', 20, 1);
	add_msg(&want, 'D', 30, 2);
	add_msg(&want, 'Z', 1, 3);
	outer_write(&sv, want.p, want.len);
	PUMP_UNTIL(cl.rx.len >= want.len && sv.flushes > 0);
	ok(sv.flushes > 0 && sv.bad_flushes == 0 && bytes_eq(&cl.rx, &want),
	   "flush: SBUF_EV_FLUSH once everything forwarded has left");
	ok(sbuf_is_empty(&sv.sb) && sv.sb.buf == NULL, "flush: nothing buffered, buffer given back");

	/* the client sends, then closes: data first, then EOF */
	bytes_free(&want);
	add_msg(&want, 'Q', 9, 4);
	add_msg(&want, 'X', 0, 0);
	outer_write(&cl, want.p, want.len);
	shutdown(cl.outer, SHUT_WR);
	PUMP_UNTIL(cl.eofs > 0);
	ok(bytes_eq(&sv.rx, &want), "eof: data sent before the close was forwarded");
	ok(cl.eofs == 1 && cl.sb.closed, "eof: SBUF_EV_EOF when the client closes");
	ok(!sv.sb.closed && sv.eofs == 0, "eof: the other side untouched");

	/* the server closes */
	close(sv.outer);
	sv.outer = -1;
	PUMP_UNTIL(sv.eofs > 0);
	ok(sv.eofs == 1 && sv.sb.closed, "eof: SBUF_EV_EOF when the server closes");
	bytes_free(&want);
	pair_close();
}

int main(void)
{
	plan_lazy();
	base = event_base_new();
	if (!base)
		bail("event_base_new failed");
	sbuf_set_params(BUFSZ, LOOPCNT, MAXPKT);

	test_small_batch();
	test_one_byte_writes();
	test_header_split();
	test_big_stream();
	test_skip();
	test_rewrite();
	test_need_body();
	test_need_body_at_max();
	test_bad();
	test_startup();
	test_pause();
	test_backpressure();
	test_send_local();
	test_flush_eof();
	test_pause_then_interest_change();
	test_blocked_pause_then_interest_change();

	sbuf_release_cache();
	event_base_free(base);
	return exit_status();
}
