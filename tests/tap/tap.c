/*
 * tap.c - implementation of the TAP producer (see tap.h).
 */
#include "tap/tap.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int planned = -1;
static int current;
static int failed;
static bool lazy;

static void print_lazy_plan(void)
{
	printf("1..%d\n", current);
	fflush(stdout);
}

void plan(int n)
{
	planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

void plan_lazy(void)
{
	lazy = true;
	atexit(print_lazy_plan);
}

static bool vok(bool cond, const char *fmt, va_list ap)
{
	current++;
	printf("%sok %d - ", cond ? "" : "not ", current);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	if (!cond)
		failed++;
	return cond;
}

bool ok(bool cond, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vok(cond, fmt, ap);
	va_end(ap);
	return cond;
}

bool is_int(long long want, long long got, const char *fmt, ...)
{
	va_list ap;
	bool cond = want == got;
	va_start(ap, fmt);
	vok(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("    wanted: %lld\n         got: %lld", want, got);
	return cond;
}

bool is_str(const char *want, const char *got, const char *fmt, ...)
{
	va_list ap;
	bool cond = (want == NULL && got == NULL) ||
		(want && got && strcmp(want, got) == 0);
	va_start(ap, fmt);
	vok(cond, fmt, ap);
	va_end(ap);
	if (!cond)
		diag("    wanted: '%s'\n         got: '%s'", want ? want : "(null)", got ? got : "(null)");
	return cond;
}

void diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void bail(const char *fmt, ...)
{
	va_list ap;
	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(255);
}

int exit_status(void)
{
	if (failed)
		return 1;
	if (!lazy && planned >= 0 && planned != current)
		return 1;
	return 0;
}

const char *test_data_dir(void)
{
	static char path[4096];
	const char *src = getenv("LAGOON_SRC_DIR");
	snprintf(path, sizeof(path), "%s/tests/data", src ? src : ".");
	return path;
}
