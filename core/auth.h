/*
 * auth.h - password secrets, the auth_file, MD5 and SCRAM-SHA-256.
 *
 * Pure computation, no sockets: the client and server state machines feed
 * message bodies in and send what comes out.  Secrets are compared in
 * constant time.  Nothing here logs a password.
 *
 * A "secret" is what an auth_file (userlist.txt) or a database line holds:
 *   - plaintext:  "hunter2"
 *   - md5:        "md5" + 32 hex digits of md5(password || username)
 *   - SCRAM:      "SCRAM-SHA-256$<iter>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>"
 */
#ifndef LAGOON_AUTH_H
#define LAGOON_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum SecretKind {
	SECRET_PLAIN = 0,
	SECRET_MD5,
	SECRET_SCRAM,
} SecretKind;

SecretKind auth_secret_kind(const char *secret);

/* ---- auth_file ------------------------------------------------------ */

typedef struct AuthFile AuthFile;   /* opaque; owns its entries */

/* Parse a userlist.txt: lines of "user" "secret" (double quotes, "" escapes
 * a quote inside); ';' or '#' comments; blank lines.  A malformed line is an
 * error naming file and line. */
bool authfile_load(const char *path, AuthFile **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
void authfile_free(AuthFile *af);
/* Borrowed pointer valid until authfile_free; NULL if absent. */
const char *authfile_lookup(const AuthFile *af, const char *user);
int authfile_count(const AuthFile *af);

/* ---- MD5 ------------------------------------------------------------ */

/* out = "md5" + hex(md5(password || user)); out must hold 36 bytes. */
void md5_secret(const char *user, const char *password, char out[36]);

/* What a client sends for AuthenticationMD5Password(salt), given the
 * plaintext password or an md5 secret.  out holds 36 bytes. */
void md5_response(const char *user, const char *secret, const uint8_t salt[4], char out[36]);

/* Check a client's md5 response against a plaintext or md5 secret. */
bool md5_verify(const char *user, const char *secret, const uint8_t salt[4], const char *response);

/* Constant-time comparison of two NUL-terminated strings (of their
 * SHA-256 digests, so a length difference does not show either). */
bool auth_str_equal(const char *a, const char *b);

/* ---- SCRAM-SHA-256 (RFC 5802 / 7677), no channel binding ------------- */

#define SCRAM_KEY_LEN 32
#define SCRAM_DEFAULT_ITERATIONS 4096
#define SCRAM_MAX_ITERATIONS 10000000   /* refuse more: PBKDF2 would stall the loop */

/* Server side: verifies a client against a plaintext or SCRAM secret. */
typedef struct ScramServer {
	int state;                         /* internal */
	int iterations;
	uint8_t salt[64];
	int salt_len;
	uint8_t stored_key[SCRAM_KEY_LEN];
	uint8_t server_key[SCRAM_KEY_LEN];
	char client_nonce[128];
	char server_nonce[128];            /* client nonce + ours */
	char client_first_bare[512];
	char server_first[512];
	bool doomed;                       /* mock exchange: always fails at the end */
	bool have_client_key;              /* verified: client_key holds the client's ClientKey */
	uint8_t client_key[SCRAM_KEY_LEN]; /* recovered from the proof, for pass-through */
} ScramServer;

/* Start an exchange.  secret NULL = mock exchange for an unknown user
 * (same messages, fails at the end).  false if the secret cannot do SCRAM
 * (an md5 secret). */
bool scram_server_init(ScramServer *s, const char *user, const char *secret, int iterations);

/* client-first-message (the SASLInitialResponse data) -> server-first-message.
 * Returns false on a malformed message (err says why). */
bool scram_server_first(ScramServer *s, const char *client_first, size_t len,
                        char *out, size_t outlen, char *err, size_t errlen);

/* client-final-message -> server-final-message ("v=...") in out.
 * Returns true only when the proof verifies; false with err otherwise. */
bool scram_server_final(ScramServer *s, const char *client_final, size_t len,
                        char *out, size_t outlen, char *err, size_t errlen);

/* Client side: lagoon logging in to a PostgreSQL server. */
typedef struct ScramClient {
	int state;
	char password[256];                /* plaintext (SASLprep: ASCII passthrough) */
	char client_nonce[64];
	char client_first_bare[256];
	uint8_t salted_password[SCRAM_KEY_LEN];
	char auth_message[1536];
	uint8_t server_signature[SCRAM_KEY_LEN];
	bool use_keys;                     /* pass-through: keys instead of a password */
	uint8_t pt_client_key[SCRAM_KEY_LEN];
	uint8_t pt_server_key[SCRAM_KEY_LEN];
} ScramClient;

/* First message ("n,,n=,r=<nonce>") into out; len in *outlen. */
bool scram_client_first(ScramClient *c, const char *password, char *out, size_t outsize, size_t *outlen);
/* SCRAM pass-through: the same first message, but the proof is made from
 * a ClientKey learned from a client's exchange and the ServerKey of the
 * stored secret (no plaintext password).  Works when the server holds
 * the same SCRAM secret as the auth_file. */
bool scram_client_first_keys(ScramClient *c, const uint8_t client_key[SCRAM_KEY_LEN],
                             const uint8_t server_key[SCRAM_KEY_LEN], char *out, size_t outsize,
                             size_t *outlen);
/* The ServerKey of a SCRAM secret ("SCRAM-SHA-256$..."). */
bool scram_secret_server_key(const char *secret, uint8_t server_key[SCRAM_KEY_LEN]);

/* server-first-message -> client-final-message. */
bool scram_client_final(ScramClient *c, const char *server_first, size_t len,
                        char *out, size_t outsize, size_t *outlen, char *err, size_t errlen);
/* server-final-message: true when the server signature verifies. */
bool scram_client_verify(ScramClient *c, const char *server_final, size_t len, char *err, size_t errlen);

/* Build a SCRAM secret from a password (for tests and tooling). */
bool scram_make_secret(const char *password, const uint8_t *salt, int salt_len, int iterations,
                       char *out, size_t outlen);

/* Cryptographically random bytes (OpenSSL RAND_bytes). */
bool auth_random_bytes(void *buf, size_t len);

/* ---- for tests only: fixed nonces so RFC 7677's vector can be replayed -- */

/* Like scram_client_first, but with the given saslname user (escaped here)
 * and client nonce instead of "" and a random one. */
bool scram_client_first_for_test(ScramClient *c, const char *user, const char *password,
                                 const char *nonce, char *out, size_t outsize, size_t *outlen);
/* Call after scram_server_init, before scram_server_first: use this as the
 * server's part of the nonce instead of random bytes. */
bool scram_server_set_nonce_for_test(ScramServer *s, const char *nonce);

#endif
