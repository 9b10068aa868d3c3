/*
 * log.h - logging to stderr, a log file and/or syslog.
 *
 * Lines carry a timestamp, the pid, the level and, through the
 * slog_/clog_ helpers, which client, server and pool they concern
 * ("C-12 app@db@127.0.0.1:5678: ...").  Passwords are never logged.
 */
#ifndef LAGOON_LOG_H
#define LAGOON_LOG_H

#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>

typedef enum LogLevel {
	LOG_LVL_FATAL = 0,
	LOG_LVL_ERROR,
	LOG_LVL_WARNING,
	LOG_LVL_LOG,
	LOG_LVL_DEBUG,
	LOG_LVL_NOISE,
} LogLevel;

/* (Re)open outputs from the current settings; false if the log file
 * cannot be opened (err says why). */
bool log_setup(const char *logfile, bool use_syslog, const char *ident,
               const char *facility, int verbose, bool quiet, char *err, size_t errlen);
void log_close(void);
bool log_enabled(LogLevel lvl);
void log_msg(LogLevel lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(LogLevel lvl, const char *prefix, const char *fmt, va_list ap);

#define log_error(...)   log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LVL_WARNING, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_LVL_LOG, __VA_ARGS__)
#define log_debug(...)   do { if (log_enabled(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)
#define log_noise(...)   do { if (log_enabled(LOG_LVL_NOISE)) log_msg(LOG_LVL_NOISE, __VA_ARGS__); } while (0)

/* Log and exit(1): start-up errors and impossible states only. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

struct Client;
struct Server;
/* Log with the object's identity as prefix. */
void clog_msg(LogLevel lvl, const struct Client *c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void slog_msg(LogLevel lvl, const struct Server *s, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
