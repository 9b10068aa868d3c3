/*
 * sbuf.c - buffered message forwarding between a client and a server
 * socket (see sbuf.h for the buffer layout and the callback contract).
 *
 * Flow for one readable socket: recv() once into the receive buffer, walk
 * the complete message headers calling the owner's proto callback, then
 * send() the forwarded region to the peer in one call.  Up to loopcnt
 * buffer-fulls are handled per wake-up for fairness.  If the peer's socket
 * is full the rest stays in our buffer, we stop reading (`blocked`) and the
 * peer's event waits for EV_WRITE; when it fires we resume.
 *
 * TLS: after sbuf_start_tls() every recv/send of this socket goes through
 * sb_io_recv/sb_io_send, which call tls.c instead of the socket; the
 * parsing and forwarding above them do not change.  Two things a plain
 * socket does not have: encrypted bytes waiting in tls.c for the socket
 * (EV_WRITE is armed for them) and decrypted bytes waiting inside OpenSSL
 * that no EV_READ announces (sb_update_ev activates the event itself).
 *
 * Re-entrancy: owner callbacks may close the SBuf (closed is set and the
 * memory stays valid until the owner's deferred free), pause it, or link
 * it to a peer.  Every loop re-checks those flags after a callback.
 */
#include "autoconf.h"

#include "sbuf.h"
#include "tls.h"
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#define SB_CACHE_MAX 1024

static uint32_t sb_bufsize = 8192;
static int sb_loopcnt = 5;
static uint32_t sb_max_pkt = 0x7fffffff;
static struct event_base *sb_base;

/* free receive buffers of sb_bufsize bytes, linked through their first word */
static void *sb_cache;
static int sb_cache_len;

static void sb_ev_cb(evutil_socket_t fd, short what, void *arg);
static bool sb_process(SBuf *sb);
static bool sb_send_pending(SBuf *sb);
static bool sb_flush_out(SBuf *sb);
static void sb_handshake(SBuf *sb);
static void sb_update_ev(SBuf *sb);

/* recv() on sb's socket, through TLS when it has it */
static ssize_t sb_io_recv(SBuf *sb, void *buf, size_t len)
{
	if (sb->tls)
		return tls_recv(sb->tls, buf, len);
	return recv(sb->fd, buf, len, 0);
}

/* send() to sb's socket, through TLS when it has it */
static ssize_t sb_io_send(SBuf *sb, const void *buf, size_t len)
{
	if (sb->tls) {
		ssize_t n = tls_send(sb->tls, buf, len);
		if (n > 0 && tls_want_write(sb->tls))
			sb_update_ev(sb);
		return n;
	}
	return send(sb->fd, buf, len, MSG_NOSIGNAL);
}

static bool sb_tls_out(const SBuf *sb)
{
	return sb->tls && tls_want_write(sb->tls);
}

void sbuf_set_params(uint32_t bufsize, int loopcnt, uint32_t max_pkt)
{
	if (bufsize < 512)
		bufsize = 512;
	if (bufsize != sb_bufsize)
		sbuf_release_cache();
	sb_bufsize = bufsize;
	sb_loopcnt = loopcnt > 0 ? loopcnt : 1;
	sb_max_pkt = max_pkt;
}

void sbuf_release_cache(void)
{
	while (sb_cache) {
		void *next = *(void **)sb_cache;
		free(sb_cache);
		sb_cache = next;
	}
	sb_cache_len = 0;
}

void sbuf_cache_info(uint32_t *bufsize, int *cached)
{
	*bufsize = sb_bufsize;
	*cached = sb_cache_len;
}

static bool sb_get_buf(SBuf *sb)
{
	if (sb->buf)
		return true;
	if (sb_cache) {
		sb->buf = sb_cache;
		sb_cache = *(void **)sb_cache;
		sb_cache_len--;
	} else {
		sb->buf = malloc(sb_bufsize);
		if (!sb->buf)
			return false;
	}
	sb->cap = sb_bufsize;
	sb->done = sb->parse = sb->recv = 0;
	return true;
}

/* Keep a standard-size buffer for reuse, free anything else. */
static void sb_recycle(uint8_t *buf, uint32_t cap)
{
	if (cap == sb_bufsize && sb_cache_len < SB_CACHE_MAX) {
		*(void **)buf = sb_cache;
		sb_cache = buf;
		sb_cache_len++;
	} else {
		free(buf);
	}
}

static void sb_put_buf(SBuf *sb)
{
	if (!sb->buf)
		return;
	sb_recycle(sb->buf, sb->cap);
	sb->buf = NULL;
	sb->cap = sb->done = sb->parse = sb->recv = 0;
}

/* Give the receive buffer back when nothing is in it. */
static void sb_maybe_release_buf(SBuf *sb)
{
	if (sb->buf && sb->done == sb->recv && !sb->in_callback)
		sb_put_buf(sb);
}

void sbuf_init(SBuf *sb, sbuf_proto_fn proto, sbuf_event_fn event)
{
	memset(sb, 0, sizeof(*sb));
	sb->fd = -1;
	sb->proto = proto;
	sb->event = event;
}

/* The state lets this socket be read now. */
static bool sb_read_wanted(const SBuf *sb)
{
	return sb->reading && !sb->paused && !sb->blocked && !sb->suspended;
}

/* Arm the event with the interest the state asks for.  Dropping only
 * EV_READ is lazy unless `strict`: the registration stays until the socket
 * actually turns readable while unwanted (sb_ev_cb then calls back here
 * strictly).  A client waiting for a server sends nothing in between, so
 * pausing and resuming it costs no epoll_ctl at all. */
static void sb_arm(SBuf *sb, bool strict)
{
	short want = 0;

	if (sb->closed || sb->fd < 0)
		return;
	if (sb->connecting)
		want |= EV_WRITE;
	else if (sb->handshaking)
		want |= EV_READ | (sb_tls_out(sb) ? EV_WRITE : 0);
	else {
		if (sb_read_wanted(sb))
			want |= EV_READ;
		if (sb->out_pos < sb->out_len || sb->want_write || sb_tls_out(sb))
			want |= EV_WRITE;
	}
	if (!strict && (want | EV_READ) == sb->ev_flags)
		want = sb->ev_flags;
	if (want != sb->ev_flags) {
		if (sb->ev_flags)
			event_del(&sb->ev);
		sb->ev_flags = want;
		if (!want)
			return;
		event_assign(&sb->ev, sb_base, sb->fd, want | EV_PERSIST, sb_ev_cb, sb);
		event_add(&sb->ev, NULL);
		/* event_del dropped a pending kick: keep it */
		if (sb->kicked)
			event_active(&sb->ev, EV_TIMEOUT, 0);
	}
	/* bytes OpenSSL already holds: no readiness of the socket will tell */
	if ((want & EV_READ) && !sb->handshaking && sb->tls && tls_has_pending(sb->tls) &&
	    sb_read_wanted(sb))
		event_active(&sb->ev, EV_READ, 0);
}

static void sb_update_ev(SBuf *sb)
{
	sb_arm(sb, false);
}

/* TCP options every connection gets (the socket is already non-blocking
 * and close-on-exec: accept4 / socket flags, no fcntl round trips). */
static void sb_set_tcp_opts(int fd)
{
	int on = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	(void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
}

bool sbuf_accept(SBuf *sb, int fd, bool tcp, struct event_base *base)
{
	sb_base = base;
	sb->fd = fd;
	sb->reading = true;
	if (tcp)
		sb_set_tcp_opts(fd);
	sb_update_ev(sb);
	return sb->ev_flags != 0;
}

bool sbuf_connect(SBuf *sb, const struct sockaddr *sa, int salen, struct event_base *base)
{
	int fd;

	sb_base = base;
	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return false;
	if (sa->sa_family != AF_UNIX)
		sb_set_tcp_opts(fd);
	if (connect(fd, sa, (socklen_t)salen) < 0 && errno != EINPROGRESS) {
		int saved = errno;
		close(fd);
		errno = saved;
		return false;
	}
	sb->fd = fd;
	sb->connecting = true;
	sb_update_ev(sb);
	return true;
}

void sbuf_close(SBuf *sb)
{
	if (sb->closed)
		return;
	sb->closed = true;
	if (sb->ev_flags)
		event_del(&sb->ev);
	sb->ev_flags = 0;
	tls_free(sb->tls);
	sb->tls = NULL;
	sb->handshaking = false;
	if (sb->fd >= 0)
		close(sb->fd);
	sb->fd = -1;
	sb->dst = NULL;
	sb->in_callback = false;
	sb_put_buf(sb);
	free(sb->out);
	sb->out = NULL;
	sb->out_len = sb->out_pos = sb->out_cap = 0;
}

void sbuf_pause(SBuf *sb)
{
	sb->paused = true;
	sb_update_ev(sb);
}

void sbuf_continue(SBuf *sb)
{
	sb->paused = false;
	sb_update_ev(sb);
	if (sb->buf && sb->parse < sb->recv)
		sbuf_kick(sb);
}

void sbuf_suspend(SBuf *sb, bool on)
{
	sb->suspended = on;
	sb_update_ev(sb);
}

bool sbuf_start_tls(SBuf *sb, struct Tls *t)
{
	if (!t || sb->closed || sb->tls || sb->out_pos < sb->out_len) {
		tls_free(t);
		return false;
	}
	sb->tls = t;
	sb->handshaking = true;
	sb_update_ev(sb);
	/* the first step runs from the loop: a client's ClientHello goes out
	 * without waiting for the socket to become readable */
	sbuf_kick(sb);
	return true;
}

/* One handshake step (the socket is ready, or the kick from sbuf_start_tls). */
static void sb_handshake(SBuf *sb)
{
	switch (tls_handshake(sb->tls)) {
	case TLS_STEP_AGAIN:
		sb_update_ev(sb);
		return;
	case TLS_STEP_FAILED:
		sb->handshaking = false;
		sb->event(sb, SBUF_EV_TLS_FAILED);
		return;
	case TLS_STEP_DONE:
		sb->handshaking = false;
		sb_update_ev(sb);
		sb->event(sb, SBUF_EV_TLS_READY);
		return;
	}
}

/* Process already-buffered bytes from the event loop, not from the caller's stack. */
void sbuf_kick(SBuf *sb)
{
	/* without an armed event we are blocked or paused: whoever clears
	 * that resumes the processing (an event kept armed lazily while
	 * paused fires the kick, which then does nothing) */
	if (sb->closed || !sb->ev_flags || sb->kicked)
		return;
	sb->kicked = true;
	event_active(&sb->ev, EV_TIMEOUT, 0);
}

void sbuf_set_dst(SBuf *sb, SBuf *dst)
{
	if (!dst && sb->dst) {
		sb->dst->want_write = false;
		sb_update_ev(sb->dst);
	}
	if (!dst && sb->blocked) {
		/* what we could not forward has nowhere to go now */
		sb->blocked = false;
		sb->done = sb->parse;
		sb_update_ev(sb);
	}
	sb->dst = dst;
}

bool sbuf_is_empty(const SBuf *sb)
{
	return (!sb->buf || sb->done == sb->recv) && sb->pkt_remain == 0 &&
		sb->out_pos == sb->out_len && !sb_tls_out(sb);
}

bool sbuf_forward_pending(const SBuf *sb)
{
	return (sb->buf && sb->done < sb->parse) || sb->pkt_remain > 0;
}

bool sbuf_output_pending(const SBuf *sb)
{
	return (sb->buf && sb->done < sb->parse) || sb->out_pos < sb->out_len;
}

uint32_t sbuf_unparsed(const SBuf *sb)
{
	return sb->buf ? sb->recv - sb->parse : 0;
}

/* Write locally generated output; keep the rest for EV_WRITE. */
bool sbuf_send_local(SBuf *sb, const void *data, size_t len)
{
	const uint8_t *p = data;

	if (sb->closed)
		return false;
	if (sb->out_pos == sb->out_len && !sb->connecting && !sb->handshaking) {
		sb->out_pos = sb->out_len = 0;
		while (len > 0) {
			ssize_t n = sb_io_send(sb, p, len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (n < 0)
				return false;
			sb->bytes_out += (uint64_t)n;
			p += n;
			len -= (size_t)n;
		}
		if (len == 0)
			return true;
	}
	if (sb->out_len + len > sb->out_cap) {
		uint32_t cap = sb->out_cap ? sb->out_cap : 1024;
		uint8_t *nb;
		while (cap < sb->out_len + len)
			cap *= 2;
		nb = realloc(sb->out, cap);
		if (!nb)
			return false;
		sb->out = nb;
		sb->out_cap = cap;
	}
	memcpy(sb->out + sb->out_len, p, len);
	sb->out_len += (uint32_t)len;
	sb_update_ev(sb);
	return true;
}

/* Drain the local output queue.  true when it is empty. */
static bool sb_flush_out(SBuf *sb)
{
	if (sb->handshaking)
		return false;
	if (sb_tls_out(sb) && !tls_flush(sb->tls)) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return false;
		sb->out_pos = sb->out_len;
		sb->event(sb, SBUF_EV_SEND_FAILED);
		return false;
	}
	while (sb->out_pos < sb->out_len) {
		ssize_t n = sb_io_send(sb, sb->out + sb->out_pos, sb->out_len - sb->out_pos);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return false;
		if (n < 0) {
			sb->out_pos = sb->out_len;
			sb->event(sb, SBUF_EV_SEND_FAILED);
			return false;
		}
		sb->bytes_out += (uint64_t)n;
		sb->out_pos += (uint32_t)n;
	}
	sb->out_pos = sb->out_len = 0;
	if (sb->out_cap > 16384) {
		free(sb->out);
		sb->out = NULL;
		sb->out_cap = 0;
	}
	return true;
}

/* Send [done, parse) to dst.  true if all of it left (or was dropped
 * because there is no peer); false if we are now blocked or closed. */
static bool sb_send_pending(SBuf *sb)
{
	SBuf *dst = sb->dst;

	while (sb->done < sb->parse) {
		ssize_t n;
		if (!dst || dst->closed) {
			sb->done = sb->parse;
			break;
		}
		if ((dst->out_pos < dst->out_len || sb_tls_out(dst) || dst->handshaking) &&
		    !sb_flush_out(dst))
			goto blocked;
		n = sb_io_send(dst, sb->buf + sb->done, sb->parse - sb->done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			goto blocked;
		if (n < 0) {
			sb->done = sb->parse;
			dst->event(dst, SBUF_EV_SEND_FAILED);
			return !sb->closed;
		}
		dst->bytes_out += (uint64_t)n;
		sb->done += (uint32_t)n;
	}
	if (sb->blocked) {
		sb->blocked = false;
		sb_update_ev(sb);
	}
	return true;
blocked:
	if (dst->closed)
		return !sb->closed;
	sb->blocked = true;
	dst->want_write = true;
	sb_update_ev(sb);
	sb_update_ev(dst);
	return false;
}


/* Remove n unparsed bytes at parse (a skipped message). */
static void sb_cut(SBuf *sb, uint32_t n)
{
	memmove(sb->buf + sb->parse, sb->buf + sb->parse + n, sb->recv - sb->parse - n);
	sb->recv -= n;
}

/* Make room for a whole message of len bytes starting at done/parse. */
static bool sb_make_room(SBuf *sb, uint32_t len)
{
	uint8_t *nb;

	if (sb->done > 0) {
		memmove(sb->buf, sb->buf + sb->done, sb->recv - sb->done);
		sb->parse -= sb->done;
		sb->recv -= sb->done;
		sb->done = 0;
	}
	if (sb->parse + len <= sb->cap)
		return true;
	nb = malloc(sb->parse + len);
	if (!nb)
		return false;
	memcpy(nb, sb->buf, sb->recv);
	sb_recycle(sb->buf, sb->cap);
	sb->buf = nb;
	sb->cap = sb->parse + len;
	return true;
}

bool sbuf_rewrite(SBuf *sb, const SBufMsg *msg, uint32_t cut, const void *data, uint32_t len)
{
	if (!sb->in_callback || sb->rewritten || cut > msg->avail || msg->data != sb->buf + sb->parse)
		return false;
	if (len > cut && sb->recv + (len - cut) > sb->cap &&
	    !sb_make_room(sb, sb->recv - sb->parse + (len - cut)))
		return false;
	/*   [parse | cut old head | rest ... recv)  ->  [parse | data | rest ... recv') */
	memmove(sb->buf + sb->parse + len, sb->buf + sb->parse + cut, sb->recv - sb->parse - cut);
	memcpy(sb->buf + sb->parse, data, len);
	sb->recv = sb->recv - cut + len;
	sb->parse += len;
	sb->rw_cut = cut;
	sb->rewritten = true;
	return true;
}

/* Walk complete headers and apply the owner's decisions.  false if the
 * SBuf was closed. */
static bool sb_parse(SBuf *sb)
{
	while (!sb->closed && !sb->paused && !sb->handshaking) {
		uint32_t avail = sb->recv - sb->parse;
		uint32_t hdr = sb->one_byte ? 1 : sb->startup ? 4 : 5;
		uint32_t mlen, total;
		SBufMsg msg;
		SBufAction act;

		if (sb->pkt_remain) {
			uint32_t take = avail < sb->pkt_remain ? avail : sb->pkt_remain;
			sb->parse += take;
			sb->pkt_remain -= take;
			if (sb->pkt_remain)
				break;
			continue;
		}
		if (sb->skip_remain) {
			uint32_t take = avail < sb->skip_remain ? avail : sb->skip_remain;
			sb_cut(sb, take);
			sb->skip_remain -= take;
			if (sb->skip_remain)
				break;
			continue;
		}
		if (avail < hdr)
			break;
		if (sb->one_byte) {
			msg.type = sb->buf[sb->parse];
			mlen = 4;   /* in range: the checks below pass */
			total = 1;
		} else {
			msg.type = sb->startup ? 0 : sb->buf[sb->parse];
			mlen = wire_be32(sb->buf + sb->parse + (sb->startup ? 0 : 1));
			total = sb->startup ? mlen : mlen + 1;
		}
		msg.len = total;
		msg.data = sb->buf + sb->parse;
		msg.avail = avail < total ? avail : total;
		msg.complete = avail >= total;
		msg.next = msg.complete ? msg.data + total : NULL;
		msg.next_avail = msg.complete ? avail - total : 0;
		msg.bad = mlen < 4 || mlen > sb_max_pkt || total < hdr;
		sb->in_callback = true;
		act = sb->proto(sb, &msg);
		if (sb->closed)
			return false;
		sb->in_callback = false;
		if (sb->rewritten) {
			/* the message (its head cut) now starts at the new parse */
			sb->rewritten = false;
			total -= sb->rw_cut;
			avail = msg.avail - sb->rw_cut;
			msg.avail = avail;
			if (act != SBUF_FORWARD && act != SBUF_SKIP) {
				sb->event(sb, SBUF_EV_EOF);
				return false;
			}
		}
		if (msg.bad && act != SBUF_STOP) {
			sb->event(sb, SBUF_EV_EOF);
			return false;
		}
		switch (act) {
		case SBUF_FORWARD:
			if (msg.complete)
				sb->parse += total;
			else {
				sb->parse = sb->recv;
				sb->pkt_remain = total - avail;
			}
			break;
		case SBUF_SKIP:
			if (msg.complete)
				sb_cut(sb, total);
			else {
				sb_cut(sb, avail);
				sb->skip_remain = total - avail;
			}
			break;
		case SBUF_NEED_BODY:
			if (msg.complete || mlen > sb_max_pkt || !sb_make_room(sb, total)) {
				sb->event(sb, SBUF_EV_EOF);
				return false;
			}
			return true;
		case SBUF_PAUSE:
			sb->paused = true;
			sb_update_ev(sb);
			return true;
		case SBUF_STOP:
			return false;
		}
	}
	return !sb->closed;
}

/* Parse, forward, and report a flush.  false if closed. */
static bool sb_process(SBuf *sb)
{
	if (!sb_parse(sb))
		return false;
	if (sb->done < sb->parse && !sb_send_pending(sb))
		return !sb->closed;
	if (sb->done == sb->parse && sb->parse == sb->recv && sb->buf) {
		sb->done = sb->parse = sb->recv = 0;
		sb_put_buf(sb);
	}
	if (sb->done == sb->parse && sb->pkt_remain == 0 && !sb->in_callback) {
		sb->event(sb, SBUF_EV_FLUSH);
		if (sb->closed)
			return false;
	}
	return true;
}

static void sb_read(SBuf *sb)
{
	for (int loop = 0; loop < sb_loopcnt; loop++) {
		uint32_t room;
		ssize_t n;

		if (sb->closed || !sb_read_wanted(sb) || sb->handshaking)
			return;
		if (!sb_get_buf(sb)) {
			sb->event(sb, SBUF_EV_EOF);
			return;
		}
		if (sb->recv == sb->cap && sb->done > 0)
			(void)sb_make_room(sb, 0);
		room = sb->cap - sb->recv;
		if (room == 0) {
			/* a header-less tail cannot fill a buffer: owner did not decide */
			sb->event(sb, SBUF_EV_EOF);
			return;
		}
		n = sb_io_recv(sb, sb->buf + sb->recv, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			sb_maybe_release_buf(sb);
			return;
		}
		if (n <= 0) {
			sb->event(sb, SBUF_EV_EOF);
			return;
		}
		sb->recv += (uint32_t)n;
		sb->bytes_in += (uint64_t)n;
		if (!sb_process(sb))
			return;
		if ((uint32_t)n < room && !(sb->tls && tls_has_pending(sb->tls)))
			return;
	}
	/* the loop cap stopped us: what OpenSSL holds needs its own wake-up */
	if (sb->tls)
		sb_update_ev(sb);
}

static void sb_connected(SBuf *sb)
{
	int err = 0;
	socklen_t len = sizeof(err);

	sb->connecting = false;
	if (getsockopt(sb->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		errno = err;
		sb->event(sb, SBUF_EV_CONNECT_FAILED);
		return;
	}
	sb->reading = true;
	sb_update_ev(sb);
	sb->event(sb, SBUF_EV_CONNECTED);
}

/* dst became writable: drain its queue, then resume the peer blocked on it. */
static void sb_writable(SBuf *sb)
{
	SBuf *peer;

	if (!sb_flush_out(sb)) {
		sb_update_ev(sb);
		return;
	}
	sb->want_write = false;
	sb_update_ev(sb);
	peer = sb->dst;
	if (peer && peer->blocked && peer->dst == sb && !peer->closed) {
		if (sb_send_pending(peer) && sb_process(peer))
			sb_read(peer);
	}
}

static void sb_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	SBuf *sb = arg;

	(void)fd;
	if (sb->closed)
		return;
	if (sb->connecting) {
		if (what & EV_WRITE)
			sb_connected(sb);
		return;
	}
	if (sb->handshaking) {
		sb->kicked = false;
		sb_handshake(sb);
		return;
	}
	if (what & EV_WRITE) {
		sb_writable(sb);
		if (sb->closed)
			return;
	}
	if (what & EV_TIMEOUT) {
		/* kicked: handle what is already buffered */
		sb->kicked = false;
		if (!sb->paused && !sb->blocked && !sb->suspended && sb->buf && sb->parse < sb->recv) {
			if (!sb_process(sb))
				return;
		}
		sb_update_ev(sb);
	}
	if (what & EV_READ) {
		if (sb_read_wanted(sb))
			sb_read(sb);
		else
			sb_arm(sb, true);   /* lazily kept EV_READ fired: drop it now */
	}
}
