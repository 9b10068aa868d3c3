/*
 * auth.c - password secrets, the auth_file, MD5 and SCRAM-SHA-256.
 *
 * This module does the arithmetic of authentication and nothing else: it
 * parses userlist.txt into a sorted table, computes and checks PostgreSQL's
 * md5 responses, and runs both ends of a SCRAM-SHA-256 exchange (RFC 5802,
 * RFC 7677) without channel binding.  The caller moves the message bodies
 * over the wire.  Every parser here works on a (pointer, length) pair, is
 * bounds-checked and answers a malformed message with false and a reason;
 * secrets and proofs are compared in constant time and key material is
 * wiped with OPENSSL_cleanse once it is no longer needed.  No password is
 * ever logged or put into an error message.
 *
 * Limitation: SASLprep is not implemented.  ASCII passwords are what
 * SASLprep would produce anyway; non-ASCII passwords are used as raw bytes,
 * which matches PostgreSQL whenever the password is not valid UTF-8 or is
 * already in normal form.
 */
#include "auth.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define SCRAM_PREFIX "SCRAM-SHA-256$"
#define SCRAM_SALT_LEN 16              /* salt for secrets we derive */
#define SCRAM_CLIENT_NONCE_BYTES 24
#define SCRAM_SERVER_NONCE_BYTES 18
#define SCRAM_AUTH_FAILED "password authentication failed (invalid SCRAM proof)"

/* ScramServer.state */
enum {
	SS_NONE = 0,       /* not initialised */
	SS_INIT,           /* waiting for client-first */
	SS_FIRST_N,        /* sent server-first; client gs2 flag was 'n' */
	SS_FIRST_Y,        /* sent server-first; client gs2 flag was 'y' */
	SS_DONE,           /* verified */
	SS_FAILED,
};

/* ScramClient.state */
enum {
	SC_NONE = 0,
	SC_SENT_FIRST,
	SC_SENT_FINAL,
	SC_DONE,
	SC_FAILED,
};

/* ---- small helpers ---------------------------------------------------- */

static bool fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static bool fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return false;
}

/* Small requests (salts, cancel keys: several per login) are served from
 * a buffer of OpenSSL's CSPRNG output, refilled 512 bytes at a time, so a
 * login does not pay RAND_bytes' per-call fork check (getpid).  Bytes
 * handed out are wiped from the buffer.  Fork-safe as lagoon uses it: the
 * only fork is daemonising at start-up, whose parents exit at once. */
#define AUTH_RANDOM_POOL 512

bool auth_random_bytes(void *buf, size_t len)
{
	static uint8_t pool[AUTH_RANDOM_POOL];
	static size_t left;

	if (len > INT_MAX)
		return false;
	if (len > AUTH_RANDOM_POOL / 8)
		return RAND_bytes(buf, (int)len) == 1;
	if (left < len) {
		if (RAND_bytes(pool, (int)sizeof(pool)) != 1)
			return false;
		left = sizeof(pool);
	}
	left -= len;
	memcpy(buf, pool + left, len);
	OPENSSL_cleanse(pool + left, len);
	return true;
}

static bool sha256(const void *data, size_t len, uint8_t out[SCRAM_KEY_LEN]);

/* Compares SHA-256 digests of both strings: the time taken does not
 * depend on where they differ, nor on whether their lengths match. */
bool auth_str_equal(const char *a, const char *b)
{
	uint8_t da[SCRAM_KEY_LEN], db[SCRAM_KEY_LEN];
	bool good;

	if (!a || !b)
		return false;
	good = sha256(a, strlen(a), da) && sha256(b, strlen(b), db) &&
		CRYPTO_memcmp(da, db, sizeof(da)) == 0;
	OPENSSL_cleanse(da, sizeof(da));
	OPENSSL_cleanse(db, sizeof(db));
	return good;
}

static bool is_lower_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f');
}

SecretKind auth_secret_kind(const char *secret)
{
	size_t i;

	if (!secret)
		return SECRET_PLAIN;
	if (strncmp(secret, SCRAM_PREFIX, strlen(SCRAM_PREFIX)) == 0)
		return SECRET_SCRAM;
	if (strncmp(secret, "md5", 3) != 0 || strlen(secret) != 35)
		return SECRET_PLAIN;
	for (i = 3; i < 35; i++) {
		if (!is_lower_hex(secret[i]))
			return SECRET_PLAIN;
	}
	return SECRET_MD5;
}

/* ---- base64 (RFC 4648, strict: padded, no whitespace) ---------------- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Encode into out (NUL-terminated); returns the length or -1 if too small. */
static int b64_encode(const uint8_t *in, size_t len, char *out, size_t outsize)
{
	size_t need = (len + 2) / 3 * 4, i, o = 0;

	if (need + 1 > outsize || need > INT_MAX)
		return -1;
	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		out[o++] = b64_alphabet[(v >> 18) & 63];
		out[o++] = b64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	out[o] = '\0';
	return (int)o;
}

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/* Decode one 4-character group; returns the number of bytes (1-3) or -1. */
static int b64_group(const char *in, bool last, uint8_t dst[3])
{
	int v[4], i, pad = 0;

	for (i = 0; i < 4; i++) {
		if (in[i] == '=' && last && i >= 2) {
			pad++;
			v[i] = 0;
			continue;
		}
		if (pad > 0)
			return -1;              /* data after padding */
		v[i] = b64_value(in[i]);
		if (v[i] < 0)
			return -1;
	}
	dst[0] = (uint8_t)(v[0] << 2 | v[1] >> 4);
	dst[1] = (uint8_t)((v[1] & 15) << 4 | v[2] >> 2);
	dst[2] = (uint8_t)((v[2] & 3) << 6 | v[3]);
	return 3 - pad;
}

/* Decode len characters; returns the byte count, or -1 when the input is
 * not canonical base64 or does not fit in outsize. */
static int b64_decode(const char *in, size_t len, uint8_t *out, size_t outsize)
{
	size_t i, o = 0;
	uint8_t tmp[3];

	if (len % 4 != 0 || len / 4 * 3 > (size_t)INT_MAX)
		return -1;
	for (i = 0; i < len; i += 4) {
		int n = b64_group(in + i, i + 4 == len, tmp);
		if (n < 0 || o + (size_t)n > outsize) {
			OPENSSL_cleanse(tmp, sizeof(tmp));
			return -1;
		}
		memcpy(out + o, tmp, (size_t)n);
		o += (size_t)n;
	}
	OPENSSL_cleanse(tmp, sizeof(tmp));
	return (int)o;
}

/* ---- digests ---------------------------------------------------------- */

static bool sha256(const void *data, size_t len, uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int n = 0;

	return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == SCRAM_KEY_LEN;
}

static bool hmac_sha256(const uint8_t *key, size_t keylen, const void *data, size_t len,
                        uint8_t out[SCRAM_KEY_LEN])
{
	unsigned int n = 0;

	if (keylen > INT_MAX)
		return false;
	return HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n) != NULL &&
		n == SCRAM_KEY_LEN;
}

static void hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 15];
	}
	out[2 * len] = '\0';
}

/* out = "md5" + hex(md5(a || b)), where b has blen bytes. */
static void md5_hex_of(const char *a, const void *b, size_t blen, char out[36])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t digest[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	bool good = ctx != NULL &&
		EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
		EVP_DigestUpdate(ctx, a, strlen(a)) == 1 &&
		EVP_DigestUpdate(ctx, b, blen) == 1 &&
		EVP_DigestFinal_ex(ctx, digest, &n) == 1 && n == 16;

	EVP_MD_CTX_free(ctx);
	if (!good) {
		out[0] = '\0';         /* never matches a real response */
		return;
	}
	memcpy(out, "md5", 3);
	hex_encode(digest, 16, out + 3);
	OPENSSL_cleanse(digest, sizeof(digest));
}

/* ---- MD5 -------------------------------------------------------------- */

void md5_secret(const char *user, const char *password, char out[36])
{
	if (!user || !password) {
		out[0] = '\0';
		return;
	}
	md5_hex_of(password, user, strlen(user), out);
}

void md5_response(const char *user, const char *secret, const uint8_t salt[4], char out[36])
{
	char derived[36];
	const char *md5sec = secret;

	if (!user || !secret || !salt) {
		out[0] = '\0';
		return;
	}
	switch (auth_secret_kind(secret)) {
	case SECRET_MD5:
		break;
	case SECRET_PLAIN:
		md5_secret(user, secret, derived);
		if (derived[0] == '\0') {
			out[0] = '\0';
			return;
		}
		md5sec = derived;
		break;
	default:
		out[0] = '\0';          /* a SCRAM secret cannot answer md5 */
		return;
	}
	md5_hex_of(md5sec + 3, salt, 4, out);
	OPENSSL_cleanse(derived, sizeof(derived));
}

bool md5_verify(const char *user, const char *secret, const uint8_t salt[4], const char *response)
{
	char want[36];
	bool good;

	if (!user || !secret || !response || auth_secret_kind(secret) == SECRET_SCRAM)
		return false;
	md5_response(user, secret, salt, want);
	good = want[0] != '\0' && auth_str_equal(want, response);
	OPENSSL_cleanse(want, sizeof(want));
	return good;
}

/* ---- auth_file -------------------------------------------------------- */

typedef struct AuthEntry {
	char *user;
	char *secret;
	size_t order;                   /* line order, so the last duplicate wins */
} AuthEntry;

struct AuthFile {
	AuthEntry *entries;
	size_t count;
	size_t cap;
};

static void entry_free(AuthEntry *e)
{
	free(e->user);
	if (e->secret) {
		OPENSSL_cleanse(e->secret, strlen(e->secret));
		free(e->secret);
	}
}

void authfile_free(AuthFile *af)
{
	size_t i;

	if (!af)
		return;
	for (i = 0; i < af->count; i++)
		entry_free(&af->entries[i]);
	free(af->entries);
	free(af);
}

int authfile_count(const AuthFile *af)
{
	return af ? (int)af->count : 0;
}

static int entry_cmp(const void *pa, const void *pb)
{
	const AuthEntry *a = pa, *b = pb;
	int c = strcmp(a->user, b->user);

	if (c != 0)
		return c;
	return a->order < b->order ? -1 : a->order > b->order;
}

const char *authfile_lookup(const AuthFile *af, const char *user)
{
	size_t lo = 0, hi;

	if (!af || !user)
		return NULL;
	hi = af->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(user, af->entries[mid].user);
		if (c == 0)
			return af->entries[mid].secret;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const char *skip_space(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

/* Read a double-quoted token at *pp ("" is a literal quote) into a new
 * malloc'd string.  Returns NULL with why set on error. */
static char *read_quoted(const char **pp, const char *end, const char **why)
{
	const char *p = *pp;
	char *tok, *o;

	if (p >= end || *p != '"') {
		*why = "expected a double-quoted field";
		return NULL;
	}
	p++;
	tok = o = malloc((size_t)(end - p) + 1);
	if (!tok) {
		*why = "out of memory";
		return NULL;
	}
	for (;;) {
		if (p >= end) {
			free(tok);
			*why = "unterminated quoted field";
			return NULL;
		}
		if (*p == '"') {
			if (p + 1 < end && p[1] == '"') {
				*o++ = '"';
				p += 2;
				continue;
			}
			p++;
			break;
		}
		*o++ = *p++;
	}
	*o = '\0';
	*pp = p;
	return tok;
}

static bool authfile_append(AuthFile *af, char *user, char *secret)
{
	if (af->count == af->cap) {
		size_t ncap = af->cap ? af->cap * 2 : 64;
		AuthEntry *n = realloc(af->entries, ncap * sizeof(*n));
		if (!n)
			return false;
		af->entries = n;
		af->cap = ncap;
	}
	af->entries[af->count].user = user;
	af->entries[af->count].secret = secret;
	af->entries[af->count].order = af->count;
	af->count++;
	return true;
}

/* Parse one line; a comment or blank line adds nothing.  why is set on
 * error. */
static bool parse_line(AuthFile *af, const char *line, size_t len, const char **why)
{
	const char *end = line + len, *p;
	char *user, *secret;

	if (memchr(line, '\0', len)) {
		*why = "NUL byte in line";
		return false;
	}
	while (end > line && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	p = skip_space(line, end);
	if (p == end || *p == ';' || *p == '#')
		return true;
	user = read_quoted(&p, end, why);
	if (!user)
		return false;
	if (user[0] == '\0') {
		free(user);
		*why = "empty user name";
		return false;
	}
	p = skip_space(p, end);
	if (p == end) {
		free(user);
		*why = "missing secret after user name";
		return false;
	}
	secret = read_quoted(&p, end, why);
	if (!secret) {
		free(user);
		return false;
	}
	/* anything after the second field is ignored */
	if (!authfile_append(af, user, secret)) {
		free(user);
		free(secret);
		*why = "out of memory";
		return false;
	}
	return true;
}

/* Sort by user, keep the last entry of each duplicate run. */
static void authfile_finish(AuthFile *af)
{
	size_t i, o = 0;

	if (af->count == 0)
		return;
	qsort(af->entries, af->count, sizeof(AuthEntry), entry_cmp);
	for (i = 0; i < af->count; i++) {
		bool superseded = i + 1 < af->count &&
			strcmp(af->entries[i].user, af->entries[i + 1].user) == 0;
		if (superseded)
			entry_free(&af->entries[i]);
		else
			af->entries[o++] = af->entries[i];
	}
	af->count = o;
}

bool authfile_load(const char *path, AuthFile **out, char *err, size_t errlen)
{
	FILE *f;
	AuthFile *af;
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	ssize_t n;
	const char *why = NULL;

	*out = NULL;
	f = fopen(path, "r");
	if (!f)
		return fail(err, errlen, "%s: %s", path, strerror(errno));
	af = calloc(1, sizeof(*af));
	if (!af) {
		fclose(f);
		return fail(err, errlen, "%s: out of memory", path);
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (!parse_line(af, line, (size_t)n, &why))
			break;
	}
	if (!why && ferror(f))
		why = "read error";
	if (line) {
		OPENSSL_cleanse(line, cap);
		free(line);
	}
	fclose(f);
	if (why) {
		authfile_free(af);
		return fail(err, errlen, "%s:%zu: %s", path, lineno, why);
	}
	authfile_finish(af);
	*out = af;
	return true;
}

/* ---- SCRAM: shared pieces -------------------------------------------- */

/* A parse cursor over a length-delimited message. */
typedef struct Cursor {
	const char *p;
	const char *end;
	const char *start;
} Cursor;

static void cursor_init(Cursor *cur, const char *msg, size_t len)
{
	cur->start = cur->p = msg;
	cur->end = msg + len;
}

/* Read "<name>=<value>" up to the next ',' (consumed) or the end. */
static bool read_attr(Cursor *cur, char name, const char **val, size_t *vlen)
{
	const char *comma;

	if (cur->end - cur->p < 2 || cur->p[0] != name || cur->p[1] != '=')
		return false;
	*val = cur->p + 2;
	comma = memchr(*val, ',', (size_t)(cur->end - *val));
	*vlen = (size_t)((comma ? comma : cur->end) - *val);
	cur->p = comma ? comma + 1 : cur->end;
	return true;
}

/* Skip the optional extensions "x=value" that may trail a message, and
 * make sure the message does not end in a dangling comma. */
static bool skip_extensions(Cursor *cur)
{
	const char *val;
	size_t vlen;

	while (cur->p < cur->end) {
		char ch = cur->p[0];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
			return false;
		if (!read_attr(cur, ch, &val, &vlen))
			return false;
	}
	return cur->end == cur->start || cur->end[-1] != ',';
}

/* Printable ASCII except ','. */
static bool valid_nonce(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e || s[i] == ',')
			return false;
	}
	return true;
}

static bool parse_iterations(const char *s, size_t len, int *out)
{
	long long v = 0;
	size_t i;

	if (len == 0 || len > 10 || s[0] == '0')
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	if (v < 1 || v > SCRAM_MAX_ITERATIONS)
		return false;
	*out = (int)v;
	return true;
}

/* SaltedPassword, then ClientKey/StoredKey/ServerKey as the caller wants. */
static bool scram_salted_password(const char *password, const uint8_t *salt, int salt_len,
                                  int iterations, uint8_t out[SCRAM_KEY_LEN])
{
	size_t plen = strlen(password);

	if (plen > INT_MAX)
		return false;
	return PKCS5_PBKDF2_HMAC(password, (int)plen, salt, salt_len, iterations,
	                         EVP_sha256(), SCRAM_KEY_LEN, out) == 1;
}

static bool scram_keys(const uint8_t salted[SCRAM_KEY_LEN], uint8_t client_key[SCRAM_KEY_LEN],
                       uint8_t stored_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN])
{
	return hmac_sha256(salted, SCRAM_KEY_LEN, "Client Key", 10, client_key) &&
		sha256(client_key, SCRAM_KEY_LEN, stored_key) &&
		hmac_sha256(salted, SCRAM_KEY_LEN, "Server Key", 10, server_key);
}

/* StoredKey and ServerKey straight from a password. */
static bool scram_derive(const char *password, const uint8_t *salt, int salt_len, int iterations,
                         uint8_t stored_key[SCRAM_KEY_LEN], uint8_t server_key[SCRAM_KEY_LEN])
{
	uint8_t salted[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN];
	bool good = scram_salted_password(password, salt, salt_len, iterations, salted) &&
		scram_keys(salted, client_key, stored_key, server_key);

	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	return good;
}

bool scram_make_secret(const char *password, const uint8_t *salt, int salt_len, int iterations,
                       char *out, size_t outlen)
{
	uint8_t stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
	char salt64[128], stored64[64], server64[64];
	int n;
	bool good;

	if (!password || !salt || salt_len <= 0 || salt_len > 64 ||
	    iterations < 1 || iterations > SCRAM_MAX_ITERATIONS)
		return false;
	good = scram_derive(password, salt, salt_len, iterations, stored, server) &&
		b64_encode(salt, (size_t)salt_len, salt64, sizeof(salt64)) >= 0 &&
		b64_encode(stored, SCRAM_KEY_LEN, stored64, sizeof(stored64)) >= 0 &&
		b64_encode(server, SCRAM_KEY_LEN, server64, sizeof(server64)) >= 0;
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server, sizeof(server));
	if (!good)
		return false;
	n = snprintf(out, outlen, "%s%d:%s$%s:%s", SCRAM_PREFIX, iterations, salt64, stored64, server64);
	return n > 0 && (size_t)n < outlen;
}

/* ---- SCRAM server ----------------------------------------------------- */

/* Parse "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" into s. */
static bool parse_scram_secret(ScramServer *s, const char *secret)
{
	const char *p = secret + strlen(SCRAM_PREFIX);
	const char *colon1 = strchr(p, ':');
	const char *dollar = colon1 ? strchr(colon1 + 1, '$') : NULL;
	const char *colon2 = dollar ? strchr(dollar + 1, ':') : NULL;
	int n;

	if (!colon2)
		return false;
	if (!parse_iterations(p, (size_t)(colon1 - p), &s->iterations))
		return false;
	n = b64_decode(colon1 + 1, (size_t)(dollar - colon1 - 1), s->salt, sizeof(s->salt));
	if (n <= 0)
		return false;
	s->salt_len = n;
	n = b64_decode(dollar + 1, (size_t)(colon2 - dollar - 1), s->stored_key, SCRAM_KEY_LEN);
	if (n != SCRAM_KEY_LEN)
		return false;
	n = b64_decode(colon2 + 1, strlen(colon2 + 1), s->server_key, SCRAM_KEY_LEN);
	return n == SCRAM_KEY_LEN;
}

/* The per-process key that makes mock salts deterministic per user name but
 * unpredictable from outside.  lagoon runs one event loop thread. */
static bool mock_key(uint8_t key[SCRAM_KEY_LEN])
{
	static uint8_t k[SCRAM_KEY_LEN];
	static bool have;

	if (!have) {
		if (!auth_random_bytes(k, sizeof(k)))
			return false;
		have = true;
	}
	memcpy(key, k, sizeof(k));
	return true;
}

/* The salt lagoon shows for a user it derives SCRAM keys for (a mock
 * exchange, or a plaintext auth_file password): stable per user and the
 * same kind either way, so salts do not tell known users from unknown. */
static bool user_salt(const char *user, uint8_t salt[SCRAM_SALT_LEN])
{
	uint8_t key[SCRAM_KEY_LEN], mac[SCRAM_KEY_LEN];
	bool good;

	good = mock_key(key) &&
		hmac_sha256(key, sizeof(key), user ? user : "", user ? strlen(user) : 0, mac);
	if (good)
		memcpy(salt, mac, SCRAM_SALT_LEN);
	OPENSSL_cleanse(key, sizeof(key));
	OPENSSL_cleanse(mac, sizeof(mac));
	return good;
}

static bool scram_mock_init(ScramServer *s, const char *user)
{
	s->doomed = true;
	s->salt_len = SCRAM_SALT_LEN;
	return user_salt(user, s->salt) &&
		auth_random_bytes(s->stored_key, SCRAM_KEY_LEN) &&
		auth_random_bytes(s->server_key, SCRAM_KEY_LEN);
}

/* Keys derived from plaintext auth_file passwords, kept so that PBKDF2
 * runs once per (user, password, iterations) and not at every login: a
 * SCRAM login against a plaintext entry then costs what one against a
 * SCRAM secret or a mock exchange costs (no timing difference), and a
 * login storm does not burn CPU.  Entries are found by an HMAC (keyed with
 * the process's random mock key) of user and password; a full slot is
 * overwritten. */
#define DERIVED_SLOTS 256

typedef struct DerivedKeys {
	uint8_t id[SCRAM_KEY_LEN];
	int iterations;               /* 0 = empty slot */
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
} DerivedKeys;

static DerivedKeys derived_keys[DERIVED_SLOTS];

static bool scram_derive_plain(ScramServer *s, const char *user, const char *password)
{
	uint8_t key[SCRAM_KEY_LEN], id[SCRAM_KEY_LEN];
	size_t ul = strlen(user), pl = strlen(password);
	char *buf = malloc(ul + pl + 2);
	DerivedKeys *d;
	bool good;

	if (!buf)
		return false;
	memcpy(buf, user, ul + 1);
	memcpy(buf + ul + 1, password, pl + 1);
	good = mock_key(key) && hmac_sha256(key, sizeof(key), buf, ul + pl + 2, id) &&
		user_salt(user, s->salt);
	OPENSSL_cleanse(buf, ul + pl + 2);
	free(buf);
	OPENSSL_cleanse(key, sizeof(key));
	s->salt_len = SCRAM_SALT_LEN;
	if (!good)
		return false;
	d = &derived_keys[(id[0] | (unsigned)id[1] << 8) % DERIVED_SLOTS];
	if (d->iterations != s->iterations || CRYPTO_memcmp(d->id, id, sizeof(id)) != 0) {
		if (!scram_derive(password, s->salt, s->salt_len, s->iterations, d->stored_key, d->server_key)) {
			d->iterations = 0;
			return false;
		}
		memcpy(d->id, id, sizeof(id));
		d->iterations = s->iterations;
	}
	memcpy(s->stored_key, d->stored_key, SCRAM_KEY_LEN);
	memcpy(s->server_key, d->server_key, SCRAM_KEY_LEN);
	return true;
}

bool scram_server_init(ScramServer *s, const char *user, const char *secret, int iterations)
{
	bool good;

	memset(s, 0, sizeof(*s));
	s->iterations = iterations > 0 ? iterations : SCRAM_DEFAULT_ITERATIONS;
	if (!secret) {
		good = scram_mock_init(s, user);
	} else {
		switch (auth_secret_kind(secret)) {
		case SECRET_SCRAM:
			good = parse_scram_secret(s, secret);
			break;
		case SECRET_PLAIN:
			good = s->iterations <= SCRAM_MAX_ITERATIONS &&
				scram_derive_plain(s, user ? user : "", secret);
			break;
		default:
			good = false;       /* md5 cannot be turned into SCRAM keys */
			break;
		}
	}
	if (!good) {
		OPENSSL_cleanse(s, sizeof(*s));
		s->state = SS_FAILED;
		return false;
	}
	s->state = SS_INIT;
	return true;
}

bool scram_server_set_nonce_for_test(ScramServer *s, const char *nonce)
{
	size_t len = strlen(nonce);

	if (s->state != SS_INIT || !valid_nonce(nonce, len) || len >= sizeof(s->server_nonce))
		return false;
	memcpy(s->server_nonce, nonce, len + 1);
	return true;
}

/* gs2-header: "n,," or "y,,"; 'p' (channel binding) and authzid refused.
 * Sets *flag and advances the cursor past the header. */
static bool parse_gs2_header(Cursor *cur, char *flag, char *err, size_t errlen)
{
	if (cur->p >= cur->end)
		return fail(err, errlen, "empty SCRAM client-first-message");
	if (cur->p[0] == 'p')
		return fail(err, errlen, "SCRAM channel binding is not supported");
	if (cur->p[0] != 'n' && cur->p[0] != 'y')
		return fail(err, errlen, "malformed SCRAM message: bad GS2 channel binding flag");
	*flag = cur->p[0];
	if (cur->end - cur->p < 2 || cur->p[1] != ',')
		return fail(err, errlen, "malformed SCRAM message: comma expected after GS2 flag");
	cur->p += 2;
	if (cur->p < cur->end && cur->p[0] == 'a')
		return fail(err, errlen, "SCRAM authorization identity is not supported");
	if (cur->p >= cur->end || cur->p[0] != ',')
		return fail(err, errlen, "malformed SCRAM message: comma expected after GS2 header");
	cur->p++;
	return true;
}

/* client-first-message-bare: "n=<user>,r=<nonce>[,ext...]".  The user name
 * is ignored, as PostgreSQL does: the startup packet names the user. */
static bool parse_client_first_bare(ScramServer *s, Cursor *cur, char *err, size_t errlen)
{
	const char *val;
	size_t vlen;

	if (cur->p < cur->end && cur->p[0] == 'm')
		return fail(err, errlen, "SCRAM mandatory extensions are not supported");
	if (!read_attr(cur, 'n', &val, &vlen))
		return fail(err, errlen, "malformed SCRAM message: user name expected");
	if (!read_attr(cur, 'r', &val, &vlen))
		return fail(err, errlen, "malformed SCRAM message: nonce expected");
	if (!valid_nonce(val, vlen))
		return fail(err, errlen, "malformed SCRAM message: invalid nonce");
	if (vlen >= sizeof(s->client_nonce))
		return fail(err, errlen, "malformed SCRAM message: nonce too long");
	memcpy(s->client_nonce, val, vlen);
	s->client_nonce[vlen] = '\0';
	if (!skip_extensions(cur))
		return fail(err, errlen, "malformed SCRAM message: garbage after nonce");
	return true;
}

/* server_nonce = client nonce + our random part (or the test's). */
static bool make_server_nonce(ScramServer *s, char *err, size_t errlen)
{
	uint8_t raw[SCRAM_SERVER_NONCE_BYTES];
	char ours[sizeof(s->server_nonce)];
	size_t clen = strlen(s->client_nonce);

	if (s->server_nonce[0]) {
		memcpy(ours, s->server_nonce, sizeof(ours));
	} else {
		if (!auth_random_bytes(raw, sizeof(raw)) ||
		    b64_encode(raw, sizeof(raw), ours, sizeof(ours)) < 0)
			return fail(err, errlen, "could not generate SCRAM nonce");
	}
	if (clen + strlen(ours) >= sizeof(s->server_nonce))
		return fail(err, errlen, "malformed SCRAM message: nonce too long");
	memcpy(s->server_nonce, s->client_nonce, clen);
	memcpy(s->server_nonce + clen, ours, strlen(ours) + 1);
	return true;
}

bool scram_server_first(ScramServer *s, const char *client_first, size_t len,
                        char *out, size_t outlen, char *err, size_t errlen)
{
	Cursor cur;
	char flag = 'n', salt64[sizeof(s->salt) * 2];
	const char *bare;
	int n;

	if (s->state != SS_INIT)
		return fail(err, errlen, "SCRAM exchange is not expecting a client-first-message");
	s->state = SS_FAILED;
	if (!client_first || memchr(client_first, '\0', len))
		return fail(err, errlen, "malformed SCRAM message: NUL byte");
	cursor_init(&cur, client_first, len);
	if (!parse_gs2_header(&cur, &flag, err, errlen))
		return false;
	bare = cur.p;
	if ((size_t)(cur.end - bare) >= sizeof(s->client_first_bare))
		return fail(err, errlen, "malformed SCRAM message: too long");
	memcpy(s->client_first_bare, bare, (size_t)(cur.end - bare));
	s->client_first_bare[cur.end - bare] = '\0';
	if (!parse_client_first_bare(s, &cur, err, errlen) || !make_server_nonce(s, err, errlen))
		return false;
	if (b64_encode(s->salt, (size_t)s->salt_len, salt64, sizeof(salt64)) < 0)
		return fail(err, errlen, "SCRAM salt too long");
	n = snprintf(s->server_first, sizeof(s->server_first), "r=%s,s=%s,i=%d",
	             s->server_nonce, salt64, s->iterations);
	if (n < 0 || (size_t)n >= sizeof(s->server_first) || (size_t)n >= outlen)
		return fail(err, errlen, "SCRAM server-first-message does not fit");
	memcpy(out, s->server_first, (size_t)n + 1);
	s->state = flag == 'y' ? SS_FIRST_Y : SS_FIRST_N;
	return true;
}

/* Parse client-final: "c=<cb>,r=<nonce>[,ext...],p=<proof>".  *without_len
 * gets the length of client-final-message-without-proof. */
static bool parse_client_final(ScramServer *s, Cursor *cur, const char *want_cb,
                               uint8_t proof[SCRAM_KEY_LEN], size_t *without_len,
                               char *err, size_t errlen)
{
	const char *start = cur->p, *val, *pstart;
	size_t vlen;

	if (!read_attr(cur, 'c', &val, &vlen))
		return fail(err, errlen, "malformed SCRAM message: channel binding expected");
	if (vlen != 4 || memcmp(val, want_cb, 4) != 0)
		return fail(err, errlen, "SCRAM channel binding does not match the GS2 header");
	if (!read_attr(cur, 'r', &val, &vlen))
		return fail(err, errlen, "malformed SCRAM message: nonce expected");
	if (vlen != strlen(s->server_nonce) || CRYPTO_memcmp(val, s->server_nonce, vlen) != 0)
		return fail(err, errlen, "SCRAM nonce does not match");
	for (;;) {
		if (cur->p >= cur->end)
			return fail(err, errlen, "malformed SCRAM message: proof expected");
		pstart = cur->p;
		if (cur->p[0] == 'p')
			break;
		if (!((cur->p[0] >= 'a' && cur->p[0] <= 'z') || (cur->p[0] >= 'A' && cur->p[0] <= 'Z')) ||
		    !read_attr(cur, cur->p[0], &val, &vlen) || cur->p == cur->end)
			return fail(err, errlen, "malformed SCRAM message: proof expected");
	}
	if (!read_attr(cur, 'p', &val, &vlen) || val + vlen != cur->end)
		return fail(err, errlen, "malformed SCRAM message: proof must be last");
	if (b64_decode(val, vlen, proof, SCRAM_KEY_LEN) != SCRAM_KEY_LEN)
		return fail(err, errlen, "malformed SCRAM message: invalid proof");
	*without_len = (size_t)(pstart - 1 - start);
	return true;
}

/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof */
static char *auth_message(const char *cfb, const char *sf, const char *cf, size_t cflen, size_t *mlen)
{
	size_t a = strlen(cfb), b = strlen(sf);
	char *m = malloc(a + b + cflen + 3);

	if (!m)
		return NULL;
	memcpy(m, cfb, a);
	m[a] = ',';
	memcpy(m + a + 1, sf, b);
	m[a + 1 + b] = ',';
	memcpy(m + a + b + 2, cf, cflen);
	m[a + b + 2 + cflen] = '\0';
	*mlen = a + b + 2 + cflen;
	return m;
}

/* The proof check proper; on success also computes ServerSignature. */
static bool verify_proof(ScramServer *s, const char *msg, size_t mlen,
                         const uint8_t proof[SCRAM_KEY_LEN], uint8_t server_sig[SCRAM_KEY_LEN])
{
	uint8_t client_sig[SCRAM_KEY_LEN], client_key[SCRAM_KEY_LEN], check[SCRAM_KEY_LEN];
	bool good;
	int i;

	good = hmac_sha256(s->stored_key, SCRAM_KEY_LEN, msg, mlen, client_sig);
	for (i = 0; i < SCRAM_KEY_LEN; i++)
		client_key[i] = proof[i] ^ client_sig[i];
	good = good && sha256(client_key, SCRAM_KEY_LEN, check) &&
		CRYPTO_memcmp(check, s->stored_key, SCRAM_KEY_LEN) == 0 && !s->doomed &&
		hmac_sha256(s->server_key, SCRAM_KEY_LEN, msg, mlen, server_sig);
	if (good) {
		memcpy(s->client_key, client_key, SCRAM_KEY_LEN);
		s->have_client_key = true;
	}
	OPENSSL_cleanse(client_sig, sizeof(client_sig));
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(check, sizeof(check));
	return good;
}

bool scram_server_final(ScramServer *s, const char *client_final, size_t len,
                        char *out, size_t outlen, char *err, size_t errlen)
{
	Cursor cur;
	uint8_t proof[SCRAM_KEY_LEN], server_sig[SCRAM_KEY_LEN];
	char sig64[64];
	size_t without_len = 0, mlen = 0;
	const char *want_cb;
	char *msg;
	bool good;

	if (outlen > 0)
		out[0] = '\0';
	if (s->state != SS_FIRST_N && s->state != SS_FIRST_Y)
		return fail(err, errlen, "SCRAM exchange is not expecting a client-final-message");
	want_cb = s->state == SS_FIRST_Y ? "eSws" : "biws";
	s->state = SS_FAILED;
	if (!client_final || memchr(client_final, '\0', len))
		return fail(err, errlen, "malformed SCRAM message: NUL byte");
	cursor_init(&cur, client_final, len);
	if (!parse_client_final(s, &cur, want_cb, proof, &without_len, err, errlen))
		return false;
	msg = auth_message(s->client_first_bare, s->server_first, client_final, without_len, &mlen);
	if (!msg)
		return fail(err, errlen, "out of memory");
	good = verify_proof(s, msg, mlen, proof, server_sig);
	OPENSSL_cleanse(msg, mlen);
	free(msg);
	OPENSSL_cleanse(proof, sizeof(proof));
	if (!good)
		return fail(err, errlen, SCRAM_AUTH_FAILED);
	good = b64_encode(server_sig, SCRAM_KEY_LEN, sig64, sizeof(sig64)) >= 0 &&
		(size_t)snprintf(out, outlen, "v=%s", sig64) < outlen;
	OPENSSL_cleanse(server_sig, sizeof(server_sig));
	if (!good)
		return fail(err, errlen, "SCRAM server-final-message does not fit");
	s->state = SS_DONE;
	return true;
}

/* ---- SCRAM client ----------------------------------------------------- */

/* Append saslname-escaped user (',' -> "=2C", '=' -> "=3D"). */
static bool escape_saslname(const char *user, char *out, size_t outsize)
{
	size_t o = 0;

	for (; *user; user++) {
		const char *rep = *user == ',' ? "=2C" : *user == '=' ? "=3D" : NULL;
		size_t n = rep ? 3 : 1;
		if (o + n >= outsize)
			return false;
		if (rep)
			memcpy(out + o, rep, 3);
		else
			out[o] = *user;
		o += n;
	}
	out[o] = '\0';
	return true;
}

static bool client_first_common(ScramClient *c, const char *user, const char *password,
                                const char *nonce, char *out, size_t outsize, size_t *outlen)
{
	char name[128];
	size_t plen = strlen(password), nlen = strlen(nonce);
	int n;

	if (plen >= sizeof(c->password) || nlen >= sizeof(c->client_nonce) ||
	    !valid_nonce(nonce, nlen) || !escape_saslname(user, name, sizeof(name)))
		return false;
	memcpy(c->password, password, plen + 1);
	memcpy(c->client_nonce, nonce, nlen + 1);
	n = snprintf(c->client_first_bare, sizeof(c->client_first_bare), "n=%s,r=%s", name, nonce);
	if (n < 0 || (size_t)n >= sizeof(c->client_first_bare))
		return false;
	n = snprintf(out, outsize, "n,,%s", c->client_first_bare);
	if (n < 0 || (size_t)n >= outsize)
		return false;
	if (outlen)
		*outlen = (size_t)n;
	c->state = SC_SENT_FIRST;
	return true;
}

bool scram_client_first_for_test(ScramClient *c, const char *user, const char *password,
                                 const char *nonce, char *out, size_t outsize, size_t *outlen)
{
	memset(c, 0, sizeof(*c));
	if (!user || !password || !nonce ||
	    !client_first_common(c, user, password, nonce, out, outsize, outlen)) {
		OPENSSL_cleanse(c, sizeof(*c));
		c->state = SC_FAILED;
		return false;
	}
	return true;
}

bool scram_client_first(ScramClient *c, const char *password, char *out, size_t outsize, size_t *outlen)
{
	uint8_t raw[SCRAM_CLIENT_NONCE_BYTES];
	char nonce[64];

	memset(c, 0, sizeof(*c));
	if (!password || !auth_random_bytes(raw, sizeof(raw)) ||
	    b64_encode(raw, sizeof(raw), nonce, sizeof(nonce)) < 0 ||
	    !client_first_common(c, "", password, nonce, out, outsize, outlen)) {
		OPENSSL_cleanse(c, sizeof(*c));
		c->state = SC_FAILED;
		return false;
	}
	return true;
}

bool scram_client_first_keys(ScramClient *c, const uint8_t client_key[SCRAM_KEY_LEN],
                             const uint8_t server_key[SCRAM_KEY_LEN], char *out, size_t outsize,
                             size_t *outlen)
{
	if (!scram_client_first(c, "", out, outsize, outlen))
		return false;
	c->use_keys = true;
	memcpy(c->pt_client_key, client_key, SCRAM_KEY_LEN);
	memcpy(c->pt_server_key, server_key, SCRAM_KEY_LEN);
	return true;
}

bool scram_secret_server_key(const char *secret, uint8_t server_key[SCRAM_KEY_LEN])
{
	ScramServer s;
	bool ok;

	memset(&s, 0, sizeof(s));
	ok = secret && auth_secret_kind(secret) == SECRET_SCRAM && parse_scram_secret(&s, secret);
	if (ok)
		memcpy(server_key, s.server_key, SCRAM_KEY_LEN);
	OPENSSL_cleanse(&s, sizeof(s));
	return ok;
}

/* The fields of a server-first-message. */
typedef struct ServerFirst {
	const char *nonce;
	size_t nonce_len;
	uint8_t salt[128];
	int salt_len;
	int iterations;
} ServerFirst;

static bool parse_server_first(ScramClient *c, Cursor *cur, ServerFirst *sf, char *err, size_t errlen)
{
	const char *val;
	size_t vlen, clen = strlen(c->client_nonce);

	if (cur->p < cur->end && cur->p[0] == 'm')
		return fail(err, errlen, "SCRAM mandatory extensions are not supported");
	if (!read_attr(cur, 'r', &sf->nonce, &sf->nonce_len))
		return fail(err, errlen, "malformed SCRAM server-first-message: nonce expected");
	if (!valid_nonce(sf->nonce, sf->nonce_len) || sf->nonce_len <= clen ||
	    memcmp(sf->nonce, c->client_nonce, clen) != 0)
		return fail(err, errlen, "invalid SCRAM server-first-message: nonce mismatch");
	if (!read_attr(cur, 's', &val, &vlen))
		return fail(err, errlen, "malformed SCRAM server-first-message: salt expected");
	sf->salt_len = b64_decode(val, vlen, sf->salt, sizeof(sf->salt));
	if (sf->salt_len <= 0)
		return fail(err, errlen, "malformed SCRAM server-first-message: invalid salt");
	if (!read_attr(cur, 'i', &val, &vlen))
		return fail(err, errlen, "malformed SCRAM server-first-message: iteration count expected");
	if (!parse_iterations(val, vlen, &sf->iterations))
		return fail(err, errlen, "invalid SCRAM server-first-message: bad iteration count");
	if (!skip_extensions(cur))
		return fail(err, errlen, "malformed SCRAM server-first-message: garbage at end");
	return true;
}

/* Builds the AuthMessage into c, then the proof and ServerSignature. */
static bool client_proof(ScramClient *c, const char *sfmsg, size_t sflen, const char *without,
                         uint8_t proof[SCRAM_KEY_LEN])
{
	uint8_t client_key[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN], server_key[SCRAM_KEY_LEN];
	uint8_t client_sig[SCRAM_KEY_LEN];
	size_t mlen;
	int n, i;
	bool good;

	n = snprintf(c->auth_message, sizeof(c->auth_message), "%s,%.*s,%s",
	             c->client_first_bare, (int)sflen, sfmsg, without);
	if (n < 0 || (size_t)n >= sizeof(c->auth_message))
		return false;
	mlen = (size_t)n;
	if (c->use_keys) {
		memcpy(client_key, c->pt_client_key, SCRAM_KEY_LEN);
		memcpy(server_key, c->pt_server_key, SCRAM_KEY_LEN);
		good = sha256(client_key, SCRAM_KEY_LEN, stored);
	} else {
		good = scram_keys(c->salted_password, client_key, stored, server_key);
	}
	good = good && hmac_sha256(stored, SCRAM_KEY_LEN, c->auth_message, mlen, client_sig) &&
		hmac_sha256(server_key, SCRAM_KEY_LEN, c->auth_message, mlen, c->server_signature);
	for (i = 0; i < SCRAM_KEY_LEN; i++)
		proof[i] = client_key[i] ^ client_sig[i];
	OPENSSL_cleanse(client_key, sizeof(client_key));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server_key, sizeof(server_key));
	OPENSSL_cleanse(client_sig, sizeof(client_sig));
	return good;
}

bool scram_client_final(ScramClient *c, const char *server_first, size_t len,
                        char *out, size_t outsize, size_t *outlen, char *err, size_t errlen)
{
	Cursor cur;
	ServerFirst sf;
	uint8_t proof[SCRAM_KEY_LEN];
	char without[256], proof64[64];
	int n;
	bool good;

	if (c->state != SC_SENT_FIRST)
		return fail(err, errlen, "SCRAM exchange is not expecting a server-first-message");
	c->state = SC_FAILED;
	memset(&sf, 0, sizeof(sf));
	if (!server_first || memchr(server_first, '\0', len))
		return fail(err, errlen, "malformed SCRAM server-first-message: NUL byte");
	cursor_init(&cur, server_first, len);
	if (len > sizeof(c->auth_message))
		return fail(err, errlen, "malformed SCRAM server-first-message: too long");
	if (!parse_server_first(c, &cur, &sf, err, errlen))
		return false;
	n = snprintf(without, sizeof(without), "c=biws,r=%.*s", (int)sf.nonce_len, sf.nonce);
	if (n < 0 || (size_t)n >= sizeof(without))
		return fail(err, errlen, "SCRAM server nonce too long");
	good = c->use_keys || scram_salted_password(c->password, sf.salt, sf.salt_len, sf.iterations,
	                                            c->salted_password);
	OPENSSL_cleanse(c->password, sizeof(c->password));
	if (!good || !client_proof(c, server_first, len, without, proof))
		return fail(err, errlen, "SCRAM computation failed (message too long?)");
	good = b64_encode(proof, SCRAM_KEY_LEN, proof64, sizeof(proof64)) >= 0;
	OPENSSL_cleanse(proof, sizeof(proof));
	n = snprintf(out, outsize, "%s,p=%s", without, proof64);
	if (!good || n < 0 || (size_t)n >= outsize)
		return fail(err, errlen, "SCRAM client-final-message does not fit");
	if (outlen)
		*outlen = (size_t)n;
	c->state = SC_SENT_FINAL;
	return true;
}

/* Copy a server's "e=" error text, keeping it printable. */
static bool server_error(const char *val, size_t vlen, char *err, size_t errlen)
{
	char text[128];
	size_t i, n = vlen < sizeof(text) - 1 ? vlen : sizeof(text) - 1;

	for (i = 0; i < n; i++)
		text[i] = (val[i] >= 0x20 && val[i] <= 0x7e) ? val[i] : '?';
	text[n] = '\0';
	return fail(err, errlen, "SCRAM server error: %s", text);
}

bool scram_client_verify(ScramClient *c, const char *server_final, size_t len, char *err, size_t errlen)
{
	Cursor cur;
	uint8_t sig[SCRAM_KEY_LEN];
	const char *val;
	size_t vlen;
	bool good;

	if (c->state != SC_SENT_FINAL)
		return fail(err, errlen, "SCRAM exchange is not expecting a server-final-message");
	c->state = SC_FAILED;
	if (!server_final || memchr(server_final, '\0', len))
		return fail(err, errlen, "malformed SCRAM server-final-message: NUL byte");
	cursor_init(&cur, server_final, len);
	if (read_attr(&cur, 'e', &val, &vlen))
		return server_error(val, vlen, err, errlen);
	if (!read_attr(&cur, 'v', &val, &vlen) ||
	    b64_decode(val, vlen, sig, sizeof(sig)) != SCRAM_KEY_LEN)
		return fail(err, errlen, "malformed SCRAM server-final-message");
	if (!skip_extensions(&cur))
		return fail(err, errlen, "malformed SCRAM server-final-message: garbage at end");
	good = CRYPTO_memcmp(sig, c->server_signature, SCRAM_KEY_LEN) == 0;
	OPENSSL_cleanse(sig, sizeof(sig));
	OPENSSL_cleanse(c->salted_password, sizeof(c->salted_password));
	if (!good)
		return fail(err, errlen, "invalid SCRAM server signature");
	c->state = SC_DONE;
	return true;
}
