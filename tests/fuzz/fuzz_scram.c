/*
 * fuzz_scram.c - libFuzzer target for the SCRAM-SHA-256 message parsers
 * and state machines (core/auth.c).
 *
 * The input is split on '\n' into up to four parts:
 *   0: client-first-message  -> scram_server_first
 *   1: client-final-message  -> scram_server_final
 *   2: server-first-message  -> scram_client_final
 *   3: server-final-message  -> scram_client_verify
 * The server side runs twice, with the fixed SCRAM secret of RFC 7677
 * (user "user", password "pencil") and as a mock exchange (unknown user),
 * both with the RFC's server nonce so the seed exchange verifies.  The
 * client side uses the RFC's client nonce and password; when part 2 asks
 * for more than 64 PBKDF2 iterations it runs in pass-through mode (fixed
 * keys, no PBKDF2) so an execution stays cheap.  Outputs must be
 * NUL-terminated within their buffers.
 */
#include "auth.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define USER "user"
#define PASSWORD "pencil"
#define CNONCE "rOprNGfwEbeRWgbNEkqO"
#define SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define SECRET "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==" \
	"$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="

#define MAXPARTS 4

static void check_out(const char *buf, size_t size)
{
	if (memchr(buf, '\0', size) == NULL)
		abort();
}

/* Exact-size heap copy of a part (so ASan sees an over-read). */
static char *dup_part(const uint8_t *p, size_t n)
{
	char *c = malloc(n ? n : 1);

	if (c && n)
		memcpy(c, p, n);
	return c;
}

/* Largest decimal value following any "i=" in the part (saturating). */
static long max_iterations(const char *p, size_t n)
{
	long best = 0;

	for (size_t i = 0; i + 1 < n; i++) {
		long v = 0;
		if (p[i] != 'i' || p[i + 1] != '=')
			continue;
		for (size_t k = i + 2; k < n && p[k] >= '0' && p[k] <= '9'; k++)
			v = v < 100000000 ? v * 10 + (p[k] - '0') : v;
		if (v > best)
			best = v;
	}
	return best;
}

static void run_server(const char *secret, char *part[], size_t len[], int nparts)
{
	ScramServer s;
	char out[1024], err[256];

	if (!scram_server_init(&s, USER, secret, 0))
		abort();
	if (!scram_server_set_nonce_for_test(&s, SNONCE))
		abort();
	if (nparts < 1)
		return;
	err[0] = '\0';
	if (!scram_server_first(&s, part[0], len[0], out, sizeof(out), err, sizeof(err))) {
		check_out(err, sizeof(err));
		return;
	}
	check_out(out, sizeof(out));
	if (nparts < 2)
		return;
	out[0] = '\0';
	if (scram_server_final(&s, part[1], len[1], out, sizeof(out), err, sizeof(err))) {
		if (secret == NULL)
			abort();              /* a mock exchange never succeeds */
		check_out(out, sizeof(out));
	}
	/* a second final message must be refused */
	if (scram_server_final(&s, part[1], len[1], out, sizeof(out), err, sizeof(err)))
		abort();
}

static void run_client(char *part[], size_t len[], int nparts)
{
	ScramClient c;
	char out[2048], err[256];
	size_t outlen = 0;

	if (!scram_client_first_for_test(&c, USER, PASSWORD, CNONCE, out, sizeof(out), &outlen))
		abort();
	if (nparts < 3)
		return;
	if (max_iterations(part[2], len[2]) > 64) {
		/* pass-through mode: keys instead of PBKDF2 of the password */
		c.use_keys = true;
		memset(c.pt_client_key, 0x11, sizeof(c.pt_client_key));
		memset(c.pt_server_key, 0x22, sizeof(c.pt_server_key));
	}
	if (!scram_client_final(&c, part[2], len[2], out, sizeof(out), &outlen, err, sizeof(err))) {
		check_out(err, sizeof(err));
		return;
	}
	if (outlen >= sizeof(out) || out[outlen] != '\0')
		abort();
	if (nparts < 4)
		return;
	(void)scram_client_verify(&c, part[3], len[3], err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *part[MAXPARTS] = { 0 };
	size_t len[MAXPARTS] = { 0 };
	int nparts = 0;
	size_t start = 0;

	if (size > 4096)
		return 0;
	while (nparts < MAXPARTS && start <= size) {
		const uint8_t *nl = memchr(data + start, '\n', size - start);
		size_t end = nl ? (size_t)(nl - data) : size;
		if (nparts == MAXPARTS - 1)
			end = size;
		len[nparts] = end - start;
		part[nparts] = dup_part(data + start, len[nparts]);
		if (!part[nparts])
			goto out;
		nparts++;
		start = end + 1;
	}

	run_server(SECRET, part, len, nparts);
	run_server(NULL, part, len, nparts);
	run_client(part, len, nparts);
out:
	for (int i = 0; i < nparts; i++)
		free(part[i]);
	return 0;
}
