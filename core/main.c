/*
 * main.c - start-up, command line, signals and the main loop.
 *
 *   lagoon [-d] [-q] [-v] [-u user] CONFIG.ini
 *
 * The loop runs one libevent iteration at a time and frees the objects
 * closed during it afterwards (objects_reap), so no callback ever sees an
 * object freed under it.
 */
#include "autoconf.h"

#include "lagoon.h"
#include "objects.h"
#include "admin.h"
#include "listen.h"
#include "log.h"
#include "monitor.h"
#include "metrics.h"
#include "dns.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static struct event *ev_janitor;
static struct event *ev_sig[6];
static char *pidfile_written;   /* our own copy: a RELOAD frees the config's strings */

static void usage(FILE *out)
{
	fprintf(out,
	        "%s is a PostgreSQL connection pooler that routes reads to replicas.\n\n"
	        "Usage:\n"
	        "  %s [OPTION]... CONFIG.ini\n\n"
	        "Options:\n"
	        "  -d, --daemon         run in the background (needs logfile and pidfile)\n"
	        "  -q, --quiet          do not log to stderr\n"
	        "  -v, --verbose        more logging (repeat for more)\n"
	        "  -u, --user=USERNAME  switch to this OS user at start-up\n"
	        "  -V, --version        print the version and exit\n"
	        "  -h, --help           print this help and exit\n\n"
	        "The configuration file uses pgbouncer.ini's format.\n",
	        PACKAGE_NAME, PACKAGE_NAME);
}

static void on_janitor(evutil_socket_t fd, short what, void *arg)
{
	(void)fd; (void)what; (void)arg;
	janitor_run();
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	char err[512];

	(void)what; (void)arg;
	lg.now = get_time_usec();
	switch (sig) {
	case SIGHUP:
		log_info("got SIGHUP, reloading %s", lg.config_path);
		(void)lagoon_reload(err, sizeof(err));
		break;
	case SIGTERM:
	case SIGINT:
		/* PgBouncer 1.23's modes: TERM waits for the clients, INT for
		 * the servers; a second TERM or INT exits at once */
		if (lg.shutdown != SHUTDOWN_NONE) {
			log_info("got a second SIG%s, exiting now", sig == SIGTERM ? "TERM" : "INT");
			lagoon_shutdown(SHUTDOWN_IMMEDIATE);
		} else if (sig == SIGTERM) {
			log_info("got SIGTERM, waiting for clients to leave");
			lagoon_shutdown(SHUTDOWN_WAIT_CLIENTS);
		} else {
			log_info("got SIGINT, waiting for server connections to be released");
			lagoon_shutdown(SHUTDOWN_WAIT_SERVERS);
		}
		break;
	case SIGQUIT:
		log_info("got SIGQUIT, exiting now");
		lagoon_shutdown(SHUTDOWN_IMMEDIATE);
		break;
	case SIGUSR1:
		lagoon_pause(NULL);
		break;
	case SIGUSR2:
		lagoon_resume(NULL);
		break;
	}
}

static void setup_signals(void)
{
	static const int sigs[] = { SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2 };

	signal(SIGPIPE, SIG_IGN);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		ev_sig[i] = evsignal_new(lg.base, sigs[i], on_signal, NULL);
		if (!ev_sig[i] || event_add(ev_sig[i], NULL) < 0)
			die("cannot install handler for signal %d", sigs[i]);
	}
}

static void switch_user(const char *user)
{
	struct passwd *pw = getpwnam(user);

	if (!pw)
		die("unknown user: %s", user);
	if (getuid() == pw->pw_uid)
		return;
	if (setgroups(0, NULL) < 0 && errno != EPERM)
		die("setgroups: %s", strerror(errno));
	if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
		die("could not switch to user %s: %s", user, strerror(errno));
}

static void write_pidfile(const char *path)
{
	char buf[32];
	int fd, n;

	if (!path || !*path)
		return;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		die("cannot write pidfile %s: %s", path, strerror(errno));
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)n) != n)
		die("cannot write pidfile %s: %s", path, strerror(errno));
	close(fd);
	pidfile_written = strdup(path);
	if (!pidfile_written)
		die("out of memory");
}

static void daemonize(void)
{
	pid_t pid = fork();
	int fd;

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	if (setsid() < 0)
		die("setsid: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
}

static void load_config_or_die(void)
{
	char err[1024];

	if (!config_load(lg.config_path, &lg.cfg, err, sizeof(err)))
		die("%s", err);
	if (lg.cfg->auth_file && !authfile_load(lg.cfg->auth_file, &lg.authfile, err, sizeof(err)))
		die("%s", err);
	if (!objects_load_hba(lg.cfg, &lg.hba, err, sizeof(err)))
		die("%s", err);
	if (!tls_setup(lg.cfg, err, sizeof(err)))
		die("%s: %s", lg.config_path, err);
	if (lg.cfg->auth_type != AUTH_TYPE_TRUST && lg.cfg->auth_type != AUTH_TYPE_ANY && !lg.authfile)
		log_warning("auth_type needs passwords but no auth_file is set: only peer-authenticated "
		            "admin console logins will succeed");
}

static void parse_args(int argc, char **argv, int *verbose, const char **user)
{
	static const struct option opts[] = {
		{"daemon", no_argument, NULL, 'd'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"user", required_argument, NULL, 'u'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	while ((ch = getopt_long(argc, argv, "dqvu:Vh", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': lg.daemonize = true; break;
		case 'q': lg.quiet = true; break;
		case 'v': (*verbose)++; break;
		case 'u': *user = optarg; break;
		case 'V': printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION); exit(0);
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); exit(1);
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		exit(1);
	}
	lg.config_path = argv[optind];
}

static void start_logging(int verbose)
{
	char err[512];
	Config *cf = lg.cfg;

	cf->verbose += verbose;
	if (!log_setup(cf->logfile, cf->syslog, cf->syslog_ident, cf->syslog_facility, cf->verbose,
	               lg.quiet, err, sizeof(err)))
		die("%s", err);
	if (cf->unimplemented)
		log_warning("settings not implemented yet by %s, ignored: %s", PACKAGE_NAME, cf->unimplemented);
}

int main(int argc, char **argv)
{
	int verbose = 0;
	const char *user = NULL;
	char err[1024];
	struct timeval tick = { 0, 333333 };

	parse_args(argc, argv, &verbose, &user);
	objects_init();
	load_config_or_die();
	start_logging(verbose);
	if (lg.daemonize && (!lg.cfg->logfile || !lg.cfg->pidfile))
		die("-d needs logfile and pidfile in the configuration");
	if (!user && lg.cfg->user && *lg.cfg->user)
		user = lg.cfg->user;
	lg.base = event_base_new();
	if (!lg.base)
		die("cannot create the event loop");
	sbuf_set_params((uint32_t)lg.cfg->pkt_buf, lg.cfg->sbuf_loopcnt, (uint32_t)lg.cfg->max_packet_size);
	if (!dns_init(lg.base, lg.cfg, err, sizeof(err)))
		die("%s", err);
	if (!objects_apply_config(lg.cfg, err, sizeof(err)))
		die("%s", err);
	if (!listen_start(lg.cfg, err, sizeof(err)))
		die("%s", err);
	if (!metrics_start(lg.cfg, err, sizeof(err)))
		die("%s", err);
	if (user)
		switch_user(user);
	if (lg.daemonize) {
		log_setup(lg.cfg->logfile, lg.cfg->syslog, lg.cfg->syslog_ident, lg.cfg->syslog_facility,
		          lg.cfg->verbose, true, err, sizeof(err));
		daemonize();
	}
	write_pidfile(lg.cfg->pidfile);
	setup_signals();
	if (!monitor_start())
		die("cannot start the cluster monitor");
	ev_janitor = event_new(lg.base, -1, EV_PERSIST, on_janitor, NULL);
	if (!ev_janitor || event_add(ev_janitor, &tick) < 0)
		die("cannot start the janitor timer");
	log_info("%s %s started, pid %d", PACKAGE_NAME, PACKAGE_VERSION, (int)getpid());
	while (!event_base_got_break(lg.base)) {
		if (event_base_loop(lg.base, EVLOOP_ONCE) < 0)
			die("event loop failed");
		objects_run_deferred();
		admin_run_waits();
		objects_reap();
	}
	monitor_stop();
	dns_stop();
	metrics_stop();
	listen_stop_all();
	if (pidfile_written)
		(void)unlink(pidfile_written);
	free(pidfile_written);
	log_info("%s exiting", PACKAGE_NAME);
	return 0;
}
