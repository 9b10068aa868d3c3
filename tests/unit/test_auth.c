/*
 * test_auth.c - unit tests for core/auth.c.
 *
 * Covers secret classification, PostgreSQL's md5 scheme against values
 * computed independently (python3 hashlib), SCRAM-SHA-256 against the RFC
 * 7677 test vector, client<->server round trips, the mock exchange for
 * unknown users, a catalogue of malformed SCRAM messages that must be
 * refused, and auth_file parsing (good and bad files, 10000 users).
 */
#include "auth.h"
#include "tap/tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RFC_USER "user"
#define RFC_PASSWORD "pencil"
#define RFC_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CNONCE
#define RFC_SERVER_FIRST "r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT ",i=4096"
#define RFC_CLIENT_FINAL "c=biws,r=" RFC_CNONCE RFC_SNONCE \
	",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
/* RFC 7677 section 3; also recomputed with python3 hmac/hashlib */
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
/* computed with python3 hashlib.pbkdf2_hmac / hmac from the values above */
#define RFC_SECRET "SCRAM-SHA-256$4096:" RFC_SALT \
	"$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
/* md5 secret of user "postgres", password "secret" (python3 hashlib) */
#define MD5_POSTGRES "md553f48b7c4b76a86ce72276c5755f217d"

static char err[256];

static void test_secret_kind(void)
{
	is_int(SECRET_PLAIN, auth_secret_kind("hunter2"), "plain secret");
	is_int(SECRET_MD5, auth_secret_kind(MD5_POSTGRES), "md5 secret");
	is_int(SECRET_SCRAM, auth_secret_kind(RFC_SECRET), "SCRAM secret");
	is_int(SECRET_PLAIN, auth_secret_kind("md553F48B7C4B76A86CE72276C5755F217D"),
	       "upper-case md5 is plain");
	is_int(SECRET_PLAIN, auth_secret_kind("md553f48b7c4b76a86ce72276c5755f217"),
	       "short md5 is plain");
	is_int(SECRET_PLAIN, auth_secret_kind(""), "empty is plain");
}

static void test_str_equal(void)
{
	ok(auth_str_equal("abc", "abc"), "equal strings");
	ok(!auth_str_equal("abc", "abd"), "different strings");
	ok(!auth_str_equal("abc", "abcd"), "different lengths");
	ok(!auth_str_equal(NULL, "abc"), "NULL is never equal");
	ok(auth_str_equal("", ""), "empty strings equal");
}

static void test_md5(void)
{
	const uint8_t salt[4] = { 1, 2, 3, 4 };
	const uint8_t salt2[4] = { 0xde, 0xad, 0xbe, 0xef };
	char out[36];

	md5_secret("postgres", "secret", out);
	is_str(MD5_POSTGRES, out, "md5_secret postgres/secret");
	md5_secret("user", "pencil", out);
	is_str("md520c46e3762c864548e296b33c3406aa9", out, "md5_secret user/pencil");
	md5_response("postgres", "secret", salt, out);
	is_str("md5bb41a296aab6baccb36ff243a562abff", out, "md5_response from plaintext");
	md5_response("postgres", MD5_POSTGRES, salt, out);
	is_str("md5bb41a296aab6baccb36ff243a562abff", out, "md5_response from md5 secret");
	md5_response("user", "pencil", salt2, out);
	is_str("md50f5b636d891e9860623ac8ca91fc9dfc", out, "md5_response user/pencil");

	ok(md5_verify("postgres", "secret", salt, "md5bb41a296aab6baccb36ff243a562abff"),
	   "md5_verify against plaintext");
	ok(md5_verify("postgres", MD5_POSTGRES, salt, "md5bb41a296aab6baccb36ff243a562abff"),
	   "md5_verify against md5 secret");
	ok(!md5_verify("postgres", "secret", salt2, "md5bb41a296aab6baccb36ff243a562abff"),
	   "md5_verify wrong salt");
	ok(!md5_verify("other", "secret", salt, "md5bb41a296aab6baccb36ff243a562abff"),
	   "md5_verify wrong user");
	ok(!md5_verify("postgres", "wrong", salt, "md5bb41a296aab6baccb36ff243a562abff"),
	   "md5_verify wrong password");
	ok(!md5_verify("postgres", "secret", salt, "md5bb41a296aab6baccb36ff243a562ab"),
	   "md5_verify truncated response");
	ok(!md5_verify("postgres", RFC_SECRET, salt, "md5bb41a296aab6baccb36ff243a562abff"),
	   "md5_verify refuses a SCRAM secret");
}

static void test_rfc7677_client(void)
{
	ScramClient c;
	char out[512];
	size_t len = 0;

	err[0] = '\0';
	ok(scram_client_first_for_test(&c, RFC_USER, RFC_PASSWORD, RFC_CNONCE, out, sizeof(out), &len),
	   "RFC 7677 client-first");
	is_str(RFC_CLIENT_FIRST, out, "RFC 7677 client-first text");
	is_int((long long)strlen(out), (long long)len, "client-first length");
	ok(scram_client_final(&c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), out, sizeof(out),
	                      &len, err, sizeof(err)), "RFC 7677 client-final: %s", err);
	is_str(RFC_CLIENT_FINAL, out, "RFC 7677 client proof");
	ok(scram_client_verify(&c, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL), err, sizeof(err)),
	   "RFC 7677 server signature verifies");
}

static void test_rfc7677_server(void)
{
	ScramServer s;
	uint8_t salt[16] = { 0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
	                     0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81 };
	char secret[256], out[512];

	err[0] = '\0';
	ok(scram_make_secret(RFC_PASSWORD, salt, sizeof(salt), 4096, secret, sizeof(secret)),
	   "scram_make_secret");
	is_str(RFC_SECRET, secret, "scram_make_secret matches independent computation");
	ok(scram_server_init(&s, RFC_USER, secret, 0), "server init with SCRAM secret");
	ok(scram_server_set_nonce_for_test(&s, RFC_SNONCE), "force server nonce");
	ok(scram_server_first(&s, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), out, sizeof(out),
	                      err, sizeof(err)), "RFC 7677 server-first: %s", err);
	is_str(RFC_SERVER_FIRST, out, "RFC 7677 server-first text");
	ok(scram_server_final(&s, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), out, sizeof(out),
	                      err, sizeof(err)), "RFC 7677 proof accepted: %s", err);
	is_str(RFC_SERVER_FINAL, out, "RFC 7677 server signature");
}

/* A full client<->server exchange; returns whether the server accepted and
 * (through client_ok) whether the client accepted the server. */
static bool round_trip(const char *secret, const char *password, bool *client_ok, char *why)
{
	ScramServer s;
	ScramClient c;
	char a[512], b[512];
	size_t len = 0;
	bool good;

	*client_ok = false;
	why[0] = '\0';
	if (!scram_server_init(&s, "someone", secret, 4096) ||
	    !scram_client_first(&c, password, a, sizeof(a), &len) ||
	    !scram_server_first(&s, a, len, b, sizeof(b), why, 256) ||
	    !scram_client_final(&c, b, strlen(b), a, sizeof(a), &len, why, 256))
		return false;
	good = scram_server_final(&s, a, len, b, sizeof(b), why, 256);
	if (good)
		*client_ok = scram_client_verify(&c, b, strlen(b), why, 256);
	return good;
}

static void test_round_trips(void)
{
	uint8_t salt[16];
	char secret[256], why[256], wrong_err[256];
	bool cok;

	ok(round_trip("s3cr3t pass", "s3cr3t pass", &cok, why), "round trip, plaintext secret");
	ok(cok, "client verifies server (plaintext secret)");
	ok(auth_random_bytes(salt, sizeof(salt)), "auth_random_bytes");
	ok(scram_make_secret("tiger", salt, sizeof(salt), 4096, secret, sizeof(secret)), "make secret");
	ok(round_trip(secret, "tiger", &cok, why), "round trip, SCRAM secret");
	ok(cok, "client verifies server (SCRAM secret)");
	ok(!round_trip(secret, "lion", &cok, why), "wrong password refused (SCRAM secret)");
	snprintf(wrong_err, sizeof(wrong_err), "%s", why);
	ok(wrong_err[0] != '\0', "wrong password has an error: %s", wrong_err);
	ok(!round_trip("tiger", "lion", &cok, why), "wrong password refused (plaintext)");
	is_str(wrong_err, why, "same error for plaintext and SCRAM secrets");
	ok(!round_trip(NULL, "anything", &cok, why), "mock exchange fails");
	is_str(wrong_err, why, "mock failure looks like a wrong password");
	ok(!round_trip(NULL, "", &cok, why), "mock exchange fails with empty password");
}

/* One exchange: client c (already started, first message in cf) against
 * a server verifying secret.  true when both sides accept. */
static bool exchange(ScramClient *c, const char *cf, size_t cflen, const char *secret)
{
	ScramServer s;
	char sf[512], cfin[512], sfin[512];
	size_t n;

	return scram_server_init(&s, "u", secret, 0) &&
		scram_server_first(&s, cf, cflen, sf, sizeof(sf), err, sizeof(err)) &&
		scram_client_final(c, sf, strlen(sf), cfin, sizeof(cfin), &n, err, sizeof(err)) &&
		scram_server_final(&s, cfin, n, sfin, sizeof(sfin), err, sizeof(err)) &&
		scram_client_verify(c, sfin, strlen(sfin), err, sizeof(err));
}

/* SCRAM pass-through: keys from one client's login serve a second login. */
static void test_pass_through(void)
{
	uint8_t salt[16], server_key[SCRAM_KEY_LEN], learned[SCRAM_KEY_LEN];
	char secret[256], other[256], sf[512], cf[256], cfin[512], sfin[512];
	ScramServer s;
	ScramClient c;
	size_t n;

	ok(auth_random_bytes(salt, sizeof(salt)) &&
	   scram_make_secret("walrus", salt, sizeof(salt), 4096, secret, sizeof(secret)), "pass-through secret");
	/* a client logs in with the password: the server side learns ClientKey */
	ok(scram_server_init(&s, "u", secret, 0) &&
	   scram_client_first(&c, "walrus", cf, sizeof(cf), &n) &&
	   scram_server_first(&s, cf, n, sf, sizeof(sf), err, sizeof(err)) &&
	   scram_client_final(&c, sf, strlen(sf), cfin, sizeof(cfin), &n, err, sizeof(err)) &&
	   scram_server_final(&s, cfin, n, sfin, sizeof(sfin), err, sizeof(err)), "client login with password");
	ok(s.have_client_key, "the verified exchange yields the ClientKey");
	memcpy(learned, s.client_key, sizeof(learned));
	ok(scram_secret_server_key(secret, server_key), "ServerKey read from the secret");
	ok(!scram_secret_server_key("md5abc", server_key), "no ServerKey in a non-SCRAM secret");
	/* the pooler logs in elsewhere with the keys only */
	ok(scram_client_first_keys(&c, learned, server_key, cf, sizeof(cf), &n) &&
	   exchange(&c, cf, n, secret), "pass-through login with the learned keys succeeds");
	learned[0] ^= 1;
	ok(!(scram_client_first_keys(&c, learned, server_key, cf, sizeof(cf), &n) &&
	     exchange(&c, cf, n, secret)), "a wrong ClientKey is refused");
	learned[0] ^= 1;
	ok(scram_make_secret("walrus", salt, 8, 4096, other, sizeof(other)) &&
	   !(scram_client_first_keys(&c, learned, server_key, cf, sizeof(cf), &n) &&
	     exchange(&c, cf, n, other)), "keys do not open a server with another salt");
}

/* The salt a SCRAM exchange for user shows (secret NULL = mock exchange). */
static void mock_salt(const char *user, const char *secret, char *salt, size_t size)
{
	ScramServer s;
	char out[512];
	const char *cf = "n,,n=,r=abcdef", *p, *q;

	salt[0] = '\0';
	if (!scram_server_init(&s, user, secret, 0) ||
	    !scram_server_first(&s, cf, strlen(cf), out, sizeof(out), err, sizeof(err)))
		return;
	p = strstr(out, ",s=");
	q = p ? strstr(p + 3, ",i=") : NULL;
	if (q)
		snprintf(salt, size, "%.*s", (int)(q - p - 3), p + 3);
}

static void test_mock_and_refusals(void)
{
	ScramServer s;
	char a[64], b[64], c[64];

	mock_salt("ghost", NULL, a, sizeof(a));
	mock_salt("ghost", NULL, b, sizeof(b));
	mock_salt("phantom", NULL, c, sizeof(c));
	ok(a[0] != '\0', "mock exchange sends a salt");
	is_str(a, b, "mock salt is stable for a user");
	ok(strcmp(a, c) != 0, "mock salt differs between users");
	mock_salt("known", "plain password", a, sizeof(a));
	mock_salt("known", "plain password", b, sizeof(b));
	is_str(a, b, "a plaintext secret's salt is stable too (it does not tell known users from unknown)");
	ok(!scram_server_init(&s, "postgres", MD5_POSTGRES, 0), "md5 secret refused for SCRAM");
	ok(!scram_server_init(&s, "x", "SCRAM-SHA-256$4096:abc", 0), "truncated SCRAM secret refused");
	ok(!scram_server_init(&s, "x", "SCRAM-SHA-256$0:" RFC_SALT "$AAAA:AAAA", 0),
	   "SCRAM secret with bad fields refused");
}

/* ---- malformed messages --------------------------------------------- */

static const char *const bad_client_first[] = {
	"", "n", "n,", "n,,", "x,,n=,r=abc", "p=tls-server-end-point,,n=,r=abc",
	"n,a=bob,n=,r=abc", "n,,r=abc", "n,,n=", "n,,n=,r=", "n,,n=,r=a\x01" "b",
	"n,,m=ext,n=,r=abc", "n,,n=,r=abc,", "n,,n=,r=abc,1=x", "n,n=,r=abc", "nn,,n=,r=abc",
	NULL
};

static void test_bad_client_first(void)
{
	ScramServer s;
	char out[512], big[700];
	int i, refused = 0, total = 0;

	for (i = 0; bad_client_first[i]; i++) {
		total++;
		err[0] = '\0';
		if (scram_server_init(&s, "u", "pw", 4096) &&
		    !scram_server_first(&s, bad_client_first[i], strlen(bad_client_first[i]),
		                        out, sizeof(out), err, sizeof(err)) && err[0])
			refused++;
		else
			diag("accepted bad client-first '%s'", bad_client_first[i]);
	}
	is_int(total, refused, "all %d malformed client-first messages refused", total);

	ok(scram_server_init(&s, "u", "pw", 4096) &&
	   !scram_server_first(&s, "p=tls-unique,,n=,r=abc", 22, out, sizeof(out), err, sizeof(err)) &&
	   strstr(err, "channel binding") != NULL, "channel binding refused: %s", err);

	memset(big, 'a', sizeof(big));
	memcpy(big, "n,,n=,r=", 8);
	ok(scram_server_init(&s, "u", "pw", 4096) &&
	   !scram_server_first(&s, big, 8 + 110, out, sizeof(out), err, sizeof(err)),
	   "overlong nonce refused");
	ok(scram_server_init(&s, "u", "pw", 4096) &&
	   !scram_server_first(&s, big, sizeof(big), out, sizeof(out), err, sizeof(err)),
	   "overlong message refused");
	ok(scram_server_init(&s, "u", "pw", 4096) &&
	   !scram_server_first(&s, "n,,n=,r=ab\0cd", 13, out, sizeof(out), err, sizeof(err)),
	   "embedded NUL refused");
	ok(scram_server_init(&s, "u", "pw", 4096) &&
	   scram_server_first(&s, "n,,n=u,r=abc,x=ext", 18, out, sizeof(out), err, sizeof(err)),
	   "extension after the nonce accepted");
	ok(scram_server_init(&s, "u", "pw", 4096) &&
	   !scram_server_first(&s, "n,,n=,r=abc", 11, out, 10, err, sizeof(err)),
	   "too-small output buffer refused");
}

/* Bring a server to the point of expecting client-final, client nonce "abc". */
static bool server_ready(ScramServer *s, const char *client_first)
{
	char out[512];

	return scram_server_init(s, "u", "pw", 4096) &&
		scram_server_first(s, client_first, strlen(client_first), out, sizeof(out),
		                   err, sizeof(err));
}

static bool final_refused(const char *fmt, const char *client_first)
{
	ScramServer s;
	char msg[512], out[512];

	if (!server_ready(&s, client_first))
		return false;
	snprintf(msg, sizeof(msg), fmt, s.server_nonce);
	err[0] = '\0';
	if (scram_server_final(&s, msg, strlen(msg), out, sizeof(out), err, sizeof(err)))
		return false;
	return err[0] != '\0' && out[0] == '\0';
}

static void test_bad_client_final(void)
{
	static const char *const fmts[] = {
		"",
		"r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=eSws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=%sX,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=wrongnonce,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=%s",
		"c=biws,r=%s,",
		"c=biws,r=%s,p=",
		"c=biws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",
		"c=biws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,x=1",
		"c=biws,r=%s,p=dHzbZapWIk4jUhN+Ute9yQ==",
		"c=biws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=AAAA",
		"c=biws,r=%s,p=dHzb!apWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7And=Q=",
		"c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
		"c=biws,r=%s,x=1",
		"c=biws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",   /* wrong proof */
		NULL
	};
	ScramServer s;
	char out[512];
	int i, refused = 0;

	for (i = 0; fmts[i]; i++) {
		if (final_refused(fmts[i], "n,,n=,r=abc"))
			refused++;
		else
			diag("accepted bad client-final '%s'", fmts[i]);
	}
	is_int(i, refused, "all %d malformed client-final messages refused", i);
	ok(final_refused("c=biws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "y,,n=,r=abc"),
	   "gs2 'y' requires c=eSws");
	ok(final_refused("c=eSws,r=%s,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", "y,,n=,r=abc"),
	   "gs2 'y' parses to the proof check");
	ok(strstr(err, "proof") != NULL, "... and fails there: %s", err);

	ok(scram_server_init(&s, "u", "pw", 4096) &&
	   !scram_server_final(&s, "c=biws", 6, out, sizeof(out), err, sizeof(err)),
	   "client-final before client-first refused");
	ok(server_ready(&s, "n,,n=,r=abc") &&
	   !scram_server_final(&s, "c=biws,r=\0", 10, out, sizeof(out), err, sizeof(err)),
	   "client-final with NUL refused");
}

/* Client side: run client-first then feed server_first (printf format with
 * the client nonce). */
static bool client_refuses(const char *fmt)
{
	ScramClient c;
	char out[512], msg[512];
	size_t len;

	if (!scram_client_first(&c, "pw", out, sizeof(out), &len))
		return false;
	snprintf(msg, sizeof(msg), fmt, c.client_nonce);
	err[0] = '\0';
	return !scram_client_final(&c, msg, strlen(msg), out, sizeof(out), &len, err, sizeof(err)) &&
		err[0] != '\0';
}

static void test_bad_server_first(void)
{
	static const char *const fmts[] = {
		"",
		"r=%s,s=" RFC_SALT ",i=4096",                 /* no server part of nonce */
		"r=XX%sYY,s=" RFC_SALT ",i=4096",
		"r=other,s=" RFC_SALT ",i=4096",
		"r=%sYY,i=4096",
		"r=%sYY,s=W22ZaJ0SNY7soEsUEjb6gQ=,i=4096",
		"r=%sYY,s=,i=4096",
		"r=%sYY,s=" RFC_SALT ",i=0",
		"r=%sYY,s=" RFC_SALT ",i=-1",
		"r=%sYY,s=" RFC_SALT ",i=abc",
		"r=%sYY,s=" RFC_SALT ",i=99999999999",
		"r=%sYY,s=" RFC_SALT ",i=",
		"r=%sYY,s=" RFC_SALT,
		"r=%sYY,s=" RFC_SALT ",i=4096,",
		"m=x,r=%sYY,s=" RFC_SALT ",i=4096",
		"s=" RFC_SALT ",r=%sYY,i=4096",
		NULL
	};
	ScramClient c;
	char out[512];
	size_t len;
	int i, refused = 0;

	for (i = 0; fmts[i]; i++) {
		if (client_refuses(fmts[i]))
			refused++;
		else
			diag("client accepted bad server-first '%s'", fmts[i]);
	}
	is_int(i, refused, "all %d malformed server-first messages refused", i);
	memset(&c, 0, sizeof(c));
	ok(!scram_client_final(&c, "r=a,s=AAAA,i=1", 14, out, sizeof(out), &len, err, sizeof(err)),
	   "server-first before client-first refused");
}

static void test_bad_server_final(void)
{
	ScramClient c;
	char out[512];
	size_t len = 0;
	const char *e = "e=invalid-proof";

	ok(scram_client_first_for_test(&c, RFC_USER, RFC_PASSWORD, RFC_CNONCE, out, sizeof(out), &len) &&
	   scram_client_final(&c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), out, sizeof(out), &len,
	                      err, sizeof(err)) &&
	   !scram_client_verify(&c, e, strlen(e), err, sizeof(err)), "server error e= is a failure");
	ok(strstr(err, "invalid-proof") != NULL, "server error text reported: %s", err);

	ok(scram_client_first_for_test(&c, RFC_USER, RFC_PASSWORD, RFC_CNONCE, out, sizeof(out), &len) &&
	   scram_client_final(&c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), out, sizeof(out), &len,
	                      err, sizeof(err)) &&
	   !scram_client_verify(&c, "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjRl4G4=", 46, err, sizeof(err)),
	   "wrong server signature refused");

	ok(scram_client_first_for_test(&c, RFC_USER, RFC_PASSWORD, RFC_CNONCE, out, sizeof(out), &len) &&
	   scram_client_final(&c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), out, sizeof(out), &len,
	                      err, sizeof(err)) &&
	   !scram_client_verify(&c, "v=6rriTRBi23WpRR", 16, err, sizeof(err)),
	   "truncated server signature refused");
	ok(!scram_client_verify(&c, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL), err, sizeof(err)),
	   "no second verify after a failure");
	ok(scram_client_first_for_test(&c, "a,b=c", "pw", "nonce", out, sizeof(out), &len) &&
	   strcmp(out, "n,,n=a=2Cb=3Dc,r=nonce") == 0, "user name escaped: %s", out);
}

/* ---- auth_file ------------------------------------------------------- */

static bool load(const char *name, AuthFile **af)
{
	char path[1024];

	snprintf(path, sizeof(path), "%s/auth/%s", test_data_dir(), name);
	err[0] = '\0';
	return authfile_load(path, af, err, sizeof(err));
}

static void test_authfile_good(void)
{
	AuthFile *af = NULL;

	if (!ok(load("userlist.txt", &af), "load userlist.txt: %s", err))
		return;
	is_int(7, authfile_count(af), "entries (duplicate counted once)");
	is_str(MD5_POSTGRES, authfile_lookup(af, "postgres"), "md5 entry");
	is_str("wonder land", authfile_lookup(af, "alice"), "indented entry, extra fields ignored");
	is_str("say \"hi\"", authfile_lookup(af, "bob"), "doubled quotes");
	is_str(RFC_SECRET, authfile_lookup(af, "scram"), "SCRAM entry");
	is_str("", authfile_lookup(af, "we\"ird user"), "quoted quote in user, empty secret");
	is_str("second", authfile_lookup(af, "dup"), "later duplicate wins");
	is_str("pw", authfile_lookup(af, "carol"), "CRLF line");
	ok(authfile_lookup(af, "nobody") == NULL, "absent user");
	ok(authfile_lookup(af, "") == NULL, "empty user absent");
	authfile_free(af);
}

static void bad_file(const char *name, int line)
{
	AuthFile *af = (AuthFile *)&af;
	char want[64];

	snprintf(want, sizeof(want), "%s:%d: ", name, line);
	ok(!load(name, &af) && af == NULL && strstr(err, want) != NULL,
	   "%s refused at line %d: %s", name, line, err);
}

static void test_authfile_bad(void)
{
	AuthFile *af = NULL;

	bad_file("bad_unterminated.txt", 3);
	bad_file("bad_missing_secret.txt", 2);
	bad_file("bad_unquoted.txt", 3);
	bad_file("bad_empty_user.txt", 1);
	ok(!load("does_not_exist.txt", &af) && strstr(err, "does_not_exist.txt") != NULL,
	   "missing file: %s", err);
	ok(authfile_lookup(NULL, "x") == NULL && authfile_count(NULL) == 0, "NULL auth file is empty");
	authfile_free(NULL);
}

static void test_authfile_many(void)
{
	char path[] = "/tmp/lagoon_test_auth_XXXXXX", user[32], want[48];
	AuthFile *af = NULL;
	FILE *f;
	int fd, i, found = 0;

	fd = mkstemp(path);
	f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!ok(f != NULL, "temporary auth file"))
		return;
	for (i = 9999; i >= 0; i--)
		fprintf(f, "\"user%05d\" \"md5%032x\"\n", (i * 7919) % 10000, i);
	fclose(f);
	err[0] = '\0';
	ok(authfile_load(path, &af, err, sizeof(err)), "load 10000 users: %s", err);
	unlink(path);
	is_int(10000, authfile_count(af), "10000 entries");
	for (i = 0; i < 10000; i++) {
		const char *sec;
		int j;
		snprintf(user, sizeof(user), "user%05d", i);
		sec = authfile_lookup(af, user);
		/* (j * 7919) % 10000 == i; 7919 * 7679 = 1 (mod 10000) */
		j = (int)((long long)i * 7679 % 10000);
		snprintf(want, sizeof(want), "md5%032x", j);
		if (sec && strcmp(sec, want) == 0)
			found++;
	}
	is_int(10000, found, "every generated user found with its secret");
	ok(authfile_lookup(af, "user10000") == NULL, "absent generated user");
	authfile_free(af);
}

int main(void)
{
	plan_lazy();
	test_secret_kind();
	test_str_equal();
	test_md5();
	test_rfc7677_client();
	test_rfc7677_server();
	test_round_trips();
	test_mock_and_refusals();
	test_bad_client_first();
	test_bad_client_final();
	test_bad_server_first();
	test_bad_server_final();
	test_authfile_good();
	test_authfile_bad();
	test_authfile_many();
	test_pass_through();
	return exit_status();
}
