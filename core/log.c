/*
 * log.c - logging to stderr, a log file and/or syslog (see log.h).
 *
 * The log file is opened in append mode and reopened on reload, so log
 * rotation works with a SIGHUP.  Each line is written with one write() so
 * lines from a daemon never interleave.
 */
#include "autoconf.h"

#include "log.h"
#include "lagoon.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/time.h>

static int log_fd = -1;            /* log file, -1 = none */
static bool log_to_stderr = true;
static bool log_to_syslog;
static int log_verbose;
static char syslog_ident_buf[64];

static const char *const level_names[] = {
	"FATAL", "ERROR", "WARNING", "LOG", "DEBUG", "NOISE",
};

static int syslog_level(LogLevel lvl)
{
	switch (lvl) {
	case LOG_LVL_FATAL: return LOG_CRIT;
	case LOG_LVL_ERROR: return LOG_ERR;
	case LOG_LVL_WARNING: return LOG_WARNING;
	case LOG_LVL_LOG: return LOG_INFO;
	default: return LOG_DEBUG;
	}
}

static int syslog_facility_code(const char *name)
{
	static const struct { const char *n; int v; } map[] = {
		{"auth", LOG_AUTH}, {"authpriv", LOG_AUTHPRIV}, {"daemon", LOG_DAEMON},
		{"user", LOG_USER}, {"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1},
		{"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4},
		{"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
	};
	for (size_t i = 0; name && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcasecmp(name, map[i].n) == 0)
			return map[i].v;
	return LOG_DAEMON;
}

bool log_setup(const char *logfile, bool use_syslog, const char *ident,
               const char *facility, int verbose, bool quiet, char *err, size_t errlen)
{
	int fd = -1;

	if (logfile && *logfile) {
		fd = open(logfile, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0) {
			snprintf(err, errlen, "cannot open log file \"%s\": %s", logfile, strerror(errno));
			return false;
		}
	}
	if (log_fd >= 0)
		close(log_fd);
	log_fd = fd;
	log_verbose = verbose;
	log_to_stderr = !quiet;
	if (log_to_syslog)
		closelog();
	log_to_syslog = use_syslog;
	if (use_syslog) {
		snprintf(syslog_ident_buf, sizeof(syslog_ident_buf), "%s", ident ? ident : "lagoon");
		openlog(syslog_ident_buf, LOG_PID, syslog_facility_code(facility));
	}
	return true;
}

void log_close(void)
{
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
	if (log_to_syslog)
		closelog();
	log_to_syslog = false;
}

bool log_enabled(LogLevel lvl)
{
	return lvl <= LOG_LVL_LOG || (int)lvl - LOG_LVL_LOG <= log_verbose;
}

static void write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

void log_vmsg(LogLevel lvl, const char *prefix, const char *fmt, va_list ap)
{
	char line[2048];
	char msg[1600];
	struct timeval tv;
	struct tm tm;
	char ts[32];
	int n;

	if (!log_enabled(lvl))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	gettimeofday(&tv, NULL);
	localtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "%s.%03d %d %s %s%s\n", ts, (int)(tv.tv_usec / 1000),
	             (int)getpid(), level_names[lvl], prefix ? prefix : "", msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (log_to_stderr)
		write_all(STDERR_FILENO, line, (size_t)n);
	if (log_fd >= 0)
		write_all(log_fd, line, (size_t)n);
	if (log_to_syslog)
		syslog(syslog_level(lvl), "%s%s", prefix ? prefix : "", msg);
}

void log_msg(LogLevel lvl, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(lvl, NULL, fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_vmsg(LOG_LVL_FATAL, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

void clog_msg(LogLevel lvl, const Client *c, const char *fmt, ...)
{
	char prefix[256];
	va_list ap;

	if (!log_enabled(lvl))
		return;
	snprintf(prefix, sizeof(prefix), "C-%llu %s@%s@%s:%d: ", (unsigned long long)c->id,
	         c->username[0] ? c->username : "(nouser)", c->dbname[0] ? c->dbname : "(nodb)",
	         c->addr, c->port);
	va_start(ap, fmt);
	log_vmsg(lvl, prefix, fmt, ap);
	va_end(ap);
}

void slog_msg(LogLevel lvl, const Server *s, const char *fmt, ...)
{
	char prefix[256];
	va_list ap;

	if (!log_enabled(lvl))
		return;
	snprintf(prefix, sizeof(prefix), "S-%llu %s@%s@%s:%d: ", (unsigned long long)s->id,
	         s->pool ? s->pool->login_user : "", s->pool ? s->pool->db->name : "",
	         s->addr, s->port);
	va_start(ap, fmt);
	log_vmsg(lvl, prefix, fmt, ap);
	va_end(ap);
}
