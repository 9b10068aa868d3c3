/*
 * fuzz_startup.c - libFuzzer target for the startup packet parser and the
 * "options" parameter parser (core/proto.c).
 *
 * The input is parsed twice: as is (its length word must match the input
 * length, as the client state machine guarantees) and with the length word
 * patched to the real length, so the fuzzer reaches the parameter parser
 * without having to guess it.  Each copy is heap-allocated at its exact
 * size so ASan catches any read past its end.  Invariants checked: every
 * borrowed string lies inside the packet and ends there, the shortcuts
 * point at parsed values, and option names are non-empty without '-'.
 */
#include "proto.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t *g_pkt;
static size_t g_len;

static void check_str(const char *s)
{
	const uint8_t *p = (const uint8_t *)s;

	if (!s)
		return;
	if (p < g_pkt || p >= g_pkt + g_len)
		abort();
	if (!memchr(p, '\0', (size_t)(g_pkt + g_len - p)))
		abort();
}

static bool option_cb(void *arg, const char *name, const char *value)
{
	int *count = arg;

	if (name[0] == '\0' || strchr(name, '-') || strchr(name, '=') != NULL)
		abort();
	(void)strlen(value);
	/* refuse now and then so the early-return path runs too */
	return ++*count < 40;
}

static void parse_one(const uint8_t *pkt, size_t len)
{
	StartupInfo si;
	char err[256];
	StartupKind kind;

	g_pkt = pkt;
	g_len = len;
	kind = proto_parse_startup(pkt, len, &si, err, sizeof(err));
	if (memchr(err, '\0', sizeof(err)) == NULL)
		abort();
	if (kind != STARTUP_V3)
		return;
	if (si.nparams < 0 || si.nparams > STARTUP_MAX_PARAMS || !si.user || !si.user[0])
		abort();
	for (int i = 0; i < si.nparams; i++) {
		check_str(si.names[i]);
		check_str(si.values[i]);
	}
	check_str(si.user);
	check_str(si.database);
	check_str(si.application_name);
	check_str(si.options);
	if (si.options) {
		int count = 0;
		(void)proto_parse_options(si.options, option_cb, &count, err, sizeof(err));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *copy;
	char *opts;
	int count = 0;
	char err[256];

	parse_one(data, size);

	if (size >= 8 && size < 0x7fffffff) {
		copy = malloc(size);
		if (!copy)
			return 0;
		memcpy(copy, data, size);
		copy[0] = (uint8_t)(size >> 24);
		copy[1] = (uint8_t)(size >> 16);
		copy[2] = (uint8_t)(size >> 8);
		copy[3] = (uint8_t)size;
		parse_one(copy, size);
		free(copy);
	}

	/* the whole input as an options string too */
	opts = malloc(size + 1);
	if (!opts)
		return 0;
	memcpy(opts, data, size);
	opts[size] = '\0';
	(void)proto_parse_options(opts, option_cb, &count, err, sizeof(err));
	free(opts);
	return 0;
}
