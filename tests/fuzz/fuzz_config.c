/*
 * fuzz_config.c - libFuzzer target for the configuration parser
 * (core/config.c) and the auth_file parser (core/auth.c).
 *
 * config_load() and authfile_load() take a path, so the input is written
 * to a file in a private directory of this process
 * (/tmp/lagoon-fuzz-<pid>/fuzz.ini), then parsed as a pgbouncer.ini and as
 * a userlist.txt.  A successful parse is freed again (LeakSanitizer checks
 * both paths); a failed one must leave an error message.
 *
 * %include: a relative name resolves inside the private directory (only
 * the file itself, "." and ".." exist there: loops and directories are
 * refused by the parser).  Inputs with an %include of a path containing
 * '/' are skipped: they could read /dev/zero or a FIFO, which tests the
 * machine, not the parser.
 */
#include "auth.h"
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

static char dir[64];
static char path[96];

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "/tmp/lagoon-fuzz-%ld", (long)getpid());
	snprintf(path, sizeof(path), "%s/fuzz.ini", dir);
	if (mkdir(dir, 0700) != 0 && access(dir, W_OK) != 0) {
		perror(dir);
		abort();
	}
	atexit(cleanup);
	return 0;
}

/* true if some %include line names a path with a '/' */
static bool include_with_slash(const uint8_t *data, size_t size)
{
	const uint8_t *p = data, *end = data + size;

	while ((p = memmem(p, (size_t)(end - p), "%include", 8)) != NULL) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *stop = nl ? nl : end;
		if (memchr(p, '/', (size_t)(stop - p)))
			return true;
		p += 8;
	}
	return false;
}

static bool write_file(const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "w");
	bool good;

	if (!f)
		return false;
	good = fwrite(data, 1, size, f) == size;
	return fclose(f) == 0 && good;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Config *cfg = NULL;
	AuthFile *af = NULL;
	char err[512];

	if (include_with_slash(data, size))
		return -1;    /* not added to the corpus */
	if (!write_file(data, size))
		abort();

	err[0] = '\0';
	if (config_load(path, &cfg, err, sizeof(err))) {
		if (!cfg)
			abort();
		/* walk what was parsed */
		for (const DbDef *d = cfg->databases; d; d = d->next) {
			if (d->nhosts < 1 || d->nhosts > CF_MAX_BACKENDS)
				abort();
			(void)config_find_db(cfg, d->name);
		}
		{
			size_t n = 0;
			const ConfigKeyInfo *k = config_keys(&n);
			char buf[1024];

			for (size_t i = 0; i < n; i++)
				if (!config_value_text(cfg, k[i].name, buf, sizeof(buf)))
					abort();
		}
		config_free(cfg);
	} else if (err[0] == '\0' || cfg != NULL) {
		abort();
	}

	err[0] = '\0';
	if (authfile_load(path, &af, err, sizeof(err))) {
		if (!af || authfile_count(af) < 0)
			abort();
		(void)authfile_lookup(af, "postgres");
		authfile_free(af);
	} else if (err[0] == '\0') {
		abort();
	}
	return 0;
}
