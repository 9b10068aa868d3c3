/*
 * fuzz_sbuf.c - libFuzzer target for the framing and forwarding layer
 * (core/sbuf.c), driven in-process like tests/unit/test_sbuf.c: two SBufs
 * (a "client" and a "server") on AF_UNIX socketpairs and a private
 * libevent base run with EVLOOP_NONBLOCK, no sleeping.
 *
 * Input layout:
 *   byte 0       flags: bit 0 startup mode (untyped packets), bits 1-2 the
 *                buffer size (512 << n), bits 3-5 the write chunk size
 *                (1, 3, 7, 16, 61, 256, 1000, everything), bit 6 a
 *                sbuf_send_local() to the client first, bit 7 small
 *                socket buffers (backpressure);
 *   byte 1       n, the number of decision bytes that follow;
 *   n bytes      decisions for successive callbacks, each % 4 -> FORWARD,
 *                SKIP, NEED_BODY (FORWARD when the message is complete,
 *                per the callback contract), PAUSE (resumed on the next
 *                pump); after the last one everything is forwarded;
 *   the rest     the byte stream the "client" sends.
 *
 * Checked: every message the callback sees starts where the previous
 * forwarded/skipped one ended in the input stream and its buffered bytes
 * equal the stream's; what reaches the far end of the "server" is a
 * prefix of the concatenation of the forwarded messages, and all of it
 * when no connection was closed.  A bad length word closes the client, as
 * the contract demands.
 */
#include "sbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>

#define MAXPKT   (64 * 1024)
#define MAX_ROUNDS 4000

typedef struct Side {
	SBuf sb;             /* first: callbacks cast the SBuf back */
	int outer;
	bool closed_by_us;
	bool is_client;
} Side;

static struct event_base *base;
static Side cl, sv;

/* the current input */
static const uint8_t *stream;
static size_t stream_len;
static const uint8_t *dec;
static size_t ndec, dec_pos;
static size_t consumed;        /* stream offset of the next message */
static uint8_t *expect;        /* forwarded messages, concatenated */
static size_t expect_len, expect_cap;
static bool paused_by_us;
static int closes;

static void expect_add(size_t off, size_t len)
{
	if (off >= stream_len)
		return;
	if (len > stream_len - off)
		len = stream_len - off;
	if (expect_len + len > expect_cap) {
		size_t cap = expect_cap ? expect_cap : 1024;
		while (cap < expect_len + len)
			cap *= 2;
		expect = realloc(expect, cap);
		if (!expect)
			abort();
		expect_cap = cap;
	}
	memcpy(expect + expect_len, stream + off, len);
	expect_len += len;
}

static void side_close(Side *s)
{
	Side *peer = s == &cl ? &sv : &cl;

	if (!peer->sb.closed)
		sbuf_set_dst(&peer->sb, NULL);
	sbuf_close(&s->sb);
	s->closed_by_us = true;
	closes++;
}

static SBufAction f_proto(SBuf *sb, const SBufMsg *m)
{
	Side *s = (Side *)sb;
	SBufAction act = SBUF_FORWARD;

	if (!s->is_client)
		abort();          /* nothing is written to the server side */
	/* the message must be the stream's next one */
	if (m->avail > m->len || consumed + m->avail > stream_len ||
	    memcmp(m->data, stream + consumed, m->avail) != 0)
		abort();
	if (m->complete != (m->avail == m->len))
		abort();
	if (m->bad) {
		side_close(s);
		return SBUF_STOP;
	}
	if (dec_pos < ndec) {
		switch (dec[dec_pos++] % 4) {
		case 0: act = SBUF_FORWARD; break;
		case 1: act = SBUF_SKIP; break;
		case 2: act = m->complete ? SBUF_FORWARD : SBUF_NEED_BODY; break;
		default: act = SBUF_PAUSE; break;
		}
	}
	switch (act) {
	case SBUF_FORWARD:
		expect_add(consumed, m->len);
		consumed += m->len;
		break;
	case SBUF_SKIP:
		consumed += m->len;
		break;
	case SBUF_PAUSE:
		paused_by_us = true;
		break;
	default:
		break;
	}
	return act;
}

static void f_event(SBuf *sb, SBufEvent ev)
{
	Side *s = (Side *)sb;

	switch (ev) {
	case SBUF_EV_FLUSH:
		if (sb->done != sb->parse || sb->pkt_remain != 0)
			abort();
		break;
	case SBUF_EV_EOF:
	case SBUF_EV_SEND_FAILED:
		side_close(s);
		break;
	default:
		break;
	}
}

static bool side_open(Side *s, bool is_client, int bufsize)
{
	int fds[2];

	memset(s, 0, sizeof(*s));
	s->is_client = is_client;
	s->outer = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0)
		return false;
	s->outer = fds[0];
	(void)fcntl(s->outer, F_SETFL, fcntl(s->outer, F_GETFL) | O_NONBLOCK);
	if (bufsize) {
		(void)setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
		(void)setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
		(void)setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
		(void)setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	}
	sbuf_init(&s->sb, f_proto, f_event);
	if (!sbuf_accept(&s->sb, fds[1], false, base)) {
		close(fds[1]);
		return false;
	}
	return true;
}

static void side_shut(Side *s)
{
	sbuf_close(&s->sb);
	if (s->outer >= 0)
		close(s->outer);
	s->outer = -1;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	base = event_base_new();
	if (!base)
		abort();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const size_t chunks[8] = { 1, 3, 7, 16, 61, 256, 1000, (size_t)-1 };
	uint8_t flags;
	size_t chunk, tx_pos = 0, rx_len = 0;
	uint8_t *rx = NULL;
	int still = 0, round;

	if (size < 2 || size > 64 * 1024)
		return 0;
	flags = data[0];
	ndec = data[1];
	if (ndec > size - 2)
		ndec = size - 2;
	dec = data + 2;
	dec_pos = 0;
	stream = data + 2 + ndec;
	stream_len = size - 2 - ndec;
	consumed = 0;
	expect_len = 0;
	paused_by_us = false;
	closes = 0;
	chunk = chunks[(flags >> 3) & 7];

	sbuf_set_params(512u << ((flags >> 1) & 3), 5, MAXPKT);
	if (!side_open(&cl, true, (flags & 0x80) ? 4096 : 0) ||
	    !side_open(&sv, false, (flags & 0x80) ? 4096 : 0)) {
		side_shut(&cl);
		side_shut(&sv);
		return 0;
	}
	cl.sb.startup = flags & 1;
	sbuf_set_dst(&cl.sb, &sv.sb);
	sbuf_set_dst(&sv.sb, &cl.sb);
	rx = malloc(stream_len + 1);
	if (!rx)
		abort();
	if (flags & 0x40) {
		static const uint8_t z[6] = { 'Z', 0, 0, 0, 5, 'I' };
		if (!sbuf_send_local(&cl.sb, z, sizeof(z)))
			abort();
	}

	for (round = 0; round < MAX_ROUNDS && still < 8; round++) {
		size_t before = tx_pos + rx_len + consumed + dec_pos;
		uint8_t tmp[4096];

		/* the real client writes a chunk */
		if (cl.outer >= 0 && tx_pos < stream_len) {
			size_t n = stream_len - tx_pos < chunk ? stream_len - tx_pos : chunk;
			ssize_t w = send(cl.outer, stream + tx_pos, n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (w > 0)
				tx_pos += (size_t)w;
		}
		if (paused_by_us && !cl.sb.closed) {
			paused_by_us = false;
			sbuf_continue(&cl.sb);
		}
		event_base_loop(base, EVLOOP_NONBLOCK);
		/* the real server reads */
		for (;;) {
			ssize_t r = recv(sv.outer, tmp, sizeof(tmp), MSG_DONTWAIT);
			if (r <= 0)
				break;
			if ((size_t)r > stream_len - rx_len)
				abort();       /* more than was ever sent */
			memcpy(rx + rx_len, tmp, (size_t)r);
			rx_len += (size_t)r;
		}
		/* and the real client drains what is sent to it */
		while (recv(cl.outer, tmp, sizeof(tmp), MSG_DONTWAIT) > 0)
			;
		still = tx_pos + rx_len + consumed + dec_pos == before && !paused_by_us ? still + 1 : 0;
	}

	if (rx_len > expect_len || memcmp(rx, expect, rx_len) != 0)
		abort();
	if (closes == 0 && tx_pos == stream_len && still >= 8 && rx_len != expect_len)
		abort();

	free(rx);
	side_shut(&cl);
	side_shut(&sv);
	event_base_loop(base, EVLOOP_NONBLOCK);
	return 0;
}
