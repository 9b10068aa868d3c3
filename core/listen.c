/*
 * listen.c - the listening sockets: TCP on listen_addr:listen_port (IPv4
 * and IPv6) and the Unix socket .s.PGSQL.<port> in unix_socket_dir.
 * Accepted sockets become clients (client.c).
 *
 * Out of file descriptors (EMFILE/ENFILE), a level-triggered listener
 * would wake the loop again at once, forever, and the clients in the
 * backlog would wait without an answer.  So one spare descriptor is kept
 * open: it is given up to accept the next client, which is told why
 * (53300) and closed, then taken back.  Without a spare, the listener
 * backs off for LISTEN_BACKOFF_MS.  Either way one warning per
 * LISTEN_WARN_EVERY_S, with the count of refused clients.
 */
#include "autoconf.h"

#include "listen.h"
#include "client.h"
#include "log.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define MAX_LISTENERS 16
#define LISTEN_BACKOFF_MS 100
#define LISTEN_WARN_EVERY_S 10

typedef struct Listener {
	int fd;
	bool is_unix;
	struct event ev;
	bool armed;
	char path[108];      /* Unix socket path to unlink at exit */
} Listener;

static Listener listeners[MAX_LISTENERS];
static int nlisteners;
static int spare_fd = -1;        /* given up to refuse a client when out of fds */
static uint64_t shed_count;      /* clients refused since the last warning */
static usec_t shed_warned;       /* when that warning was logged */

static void listen_rearm_cb(evutil_socket_t fd, short what, void *arg);
static bool listen_shed(Listener *l, int err);

static void listen_rearm_cb(evutil_socket_t fd, short what, void *arg)
{
	Listener *l = arg;

	(void)fd; (void)what;
	if (l->armed && l->fd >= 0)
		event_add(&l->ev, NULL);
}

/*
 * accept() failed with err (EMFILE or ENFILE): refuse the next client on
 * the spare descriptor, or stop listening for a moment.  False when the
 * accept loop must stop.
 */
static bool listen_shed(Listener *l, int err)
{
	struct timeval tv = { 0, LISTEN_BACKOFF_MS * 1000 };
	uint8_t junk[1024], mem[160];
	PktBuf pkt;
	int cfd = -1;

	if (spare_fd >= 0) {
		close(spare_fd);
		cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			pkt_init(&pkt, mem, sizeof(mem));
			pkt_error(&pkt, "FATAL", "53300", "no more connections allowed (out of file descriptors)");
			/* read what the client sent, so that close() sends FIN, not RST */
			(void)recv(cfd, junk, sizeof(junk), MSG_DONTWAIT);
			if (!pkt.failed)
				(void)send(cfd, pkt.buf, pkt.len, MSG_DONTWAIT | MSG_NOSIGNAL);
			pkt_free(&pkt);
			close(cfd);
			shed_count++;
		}
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (lg.now - shed_warned >= (usec_t)LISTEN_WARN_EVERY_S * 1000000) {
		log_warning("accept() failed: %s; %llu client(s) refused since the last report "
		            "(raise the limit on open files, or lower max_client_conn)",
		            strerror(err), (unsigned long long)shed_count);
		shed_warned = lg.now;
		shed_count = 0;
	}
	if (cfd >= 0)
		return true;
	/* no spare, or nothing to accept on it: wait instead of spinning */
	event_del(&l->ev);
	(void)event_base_once(lg.base, -1, EV_TIMEOUT, listen_rearm_cb, l, &tv);
	return false;
}

static void listen_accept_cb(evutil_socket_t fd, short what, void *arg)
{
	Listener *l = arg;

	(void)what;
	lg.now = get_time_usec();
	for (int i = 0; i < 32; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int cfd = accept4(fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd < 0) {
			if (errno == EMFILE || errno == ENFILE) {
				if (listen_shed(l, errno))
					continue;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			           errno != ECONNABORTED) {
				log_warning("accept() failed: %s", strerror(errno));
			}
			return;
		}
		if (l->is_unix) {
			memset(&ss, 0, sizeof(ss));
			ss.ss_family = AF_UNIX;
		}
		(void)client_accept(cfd, (struct sockaddr *)&ss, len, l->is_unix);
	}
}

static bool listen_add(int fd, bool is_unix, const char *path, char *err, size_t errlen)
{
	Listener *l;

	if (nlisteners >= MAX_LISTENERS) {
		close(fd);
		snprintf(err, errlen, "too many listen addresses");
		return false;
	}
	l = &listeners[nlisteners++];
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->is_unix = is_unix;
	if (path)
		snprintf(l->path, sizeof(l->path), "%s", path);
	event_assign(&l->ev, lg.base, fd, EV_READ | EV_PERSIST, listen_accept_cb, l);
	event_add(&l->ev, NULL);
	l->armed = true;
	return true;
}

static bool listen_tcp_one(const struct addrinfo *ai, const Config *cfg, char *err, size_t errlen)
{
	int on = 1;
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	char host[NI_MAXHOST] = "?";

	getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	if (fd < 0) {
		snprintf(err, errlen, "socket(%s): %s", host, strerror(errno));
		return false;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (cfg->so_reuseport)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	if (ai->ai_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, cfg->listen_backlog) < 0) {
		snprintf(err, errlen, "cannot listen on %s port %d: %s", host, cfg->listen_port, strerror(errno));
		close(fd);
		return false;
	}
	log_info("listening on %s:%d", host, cfg->listen_port);
	return listen_add(fd, false, NULL, err, errlen);
}

static bool listen_tcp_addr(const char *addr, const Config *cfg, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	char port[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	snprintf(port, sizeof(port), "%d", cfg->listen_port);
	rc = getaddrinfo(strcmp(addr, "*") == 0 ? NULL : addr, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "listen_addr \"%s\": %s", addr, gai_strerror(rc));
		return false;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		if (!listen_tcp_one(ai, cfg, err, errlen)) {
			freeaddrinfo(res);
			return false;
		}
	}
	freeaddrinfo(res);
	return true;
}

static bool listen_unix(const Config *cfg, char *err, size_t errlen)
{
	struct sockaddr_un un;
	int fd;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	if ((size_t)snprintf(un.sun_path, sizeof(un.sun_path), "%s/.s.PGSQL.%d", cfg->unix_socket_dir,
	                     cfg->listen_port) >= sizeof(un.sun_path)) {
		snprintf(err, errlen, "unix_socket_dir \"%s\" is too long", cfg->unix_socket_dir);
		return false;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket(AF_UNIX): %s", strerror(errno));
		return false;
	}
	/* a stale socket from a dead process: remove it only if nobody answers */
	if (connect(fd, (struct sockaddr *)&un, sizeof(un)) == 0) {
		close(fd);
		snprintf(err, errlen, "another process is listening on %s", un.sun_path);
		return false;
	}
	(void)unlink(un.sun_path);
	if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 || listen(fd, cfg->listen_backlog) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", un.sun_path, strerror(errno));
		close(fd);
		return false;
	}
	(void)chmod(un.sun_path, (mode_t)cfg->unix_socket_mode);
	log_info("listening on unix:%s", un.sun_path);
	return listen_add(fd, true, un.sun_path, err, errlen);
}

bool listen_start(const Config *cfg, char *err, size_t errlen)
{
	if (spare_fd < 0)
		spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (cfg->listen_addr && cfg->listen_addr[0]) {
		char *list = strdup(cfg->listen_addr), *save = NULL, *tok;
		if (!list)
			return snprintf(err, errlen, "out of memory"), false;
		for (tok = strtok_r(list, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
			if (!listen_tcp_addr(tok, cfg, err, errlen)) {
				free(list);
				return false;
			}
		}
		free(list);
	}
	if (cfg->unix_socket_dir && cfg->unix_socket_dir[0] && !listen_unix(cfg, err, errlen))
		return false;
	if (nlisteners == 0) {
		snprintf(err, errlen, "nothing to listen on: set listen_addr or unix_socket_dir");
		return false;
	}
	return true;
}

static void listen_close(Listener *l)
{
	if (l->fd < 0)
		return;
	if (l->armed)
		event_del(&l->ev);
	l->armed = false;
	close(l->fd);
	l->fd = -1;
	if (l->path[0])
		(void)unlink(l->path);
}

void listen_stop_tcp(void)
{
	for (int i = 0; i < nlisteners; i++)
		if (!listeners[i].is_unix)
			listen_close(&listeners[i]);
}

void listen_stop_all(void)
{
	for (int i = 0; i < nlisteners; i++)
		listen_close(&listeners[i]);
}

void listen_suspend(bool on)
{
	for (int i = 0; i < nlisteners; i++) {
		Listener *l = &listeners[i];
		if (l->fd < 0)
			continue;
		if (on && l->armed)
			event_del(&l->ev);
		else if (!on && !l->armed)
			event_add(&l->ev, NULL);
		l->armed = !on;
	}
}
