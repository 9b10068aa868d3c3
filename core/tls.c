/*
 * tls.c - OpenSSL contexts and per-connection TLS (see tls.h).
 *
 * A connection's SSL reads from a socket BIO on the (non-blocking) fd and
 * writes into a memory BIO.  tls_send() encrypts the whole plaintext it
 * is given into that memory BIO, then tls_flush() sends what the socket
 * takes; while encrypted bytes are left, further sends report EAGAIN, so
 * at most one batch of ciphertext is buffered per connection and sbuf's
 * backpressure works as with a plain socket.  Reads that make OpenSSL
 * write (a key update) leave their bytes in the same buffer.
 *
 *   plaintext -> SSL_write -> [ wbio: encrypted, not yet sent ] -> send(fd)
 *   recv(fd) <- socket BIO <- SSL_read -> plaintext
 *
 * Contexts are reference counted by OpenSSL: replacing tls_client_ctx on
 * RELOAD leaves the SSL objects of connected clients on the old one.
 */
#include "autoconf.h"

#include "tls.h"
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <strings.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

struct Tls {
	SSL *ssl;
	BIO *wbio;          /* encrypted output not yet sent (owned by ssl) */
	int fd;
	bool done;          /* handshake finished */
	char info[128];     /* SHOW CLIENTS/SERVERS "tls" text */
	char err[192];
};

static SSL_CTX *tls_client_ctx;   /* accepting clients; NULL = client TLS off */
static SSL_CTX *tls_server_ctx;   /* connecting to servers; NULL = server TLS off */

static void tls_set_error(Tls *t, const char *what);
static bool tls_protocols(SSL_CTX *ctx, const char *key, const char *value, char *err, size_t errlen);
static bool tls_ciphers(SSL_CTX *ctx, const char *key, const char *value, const char *v13,
                        char *err, size_t errlen);

/* ---- contexts ---------------------------------------------------------- */

/* The newest OpenSSL error as text (and the queue emptied). */
static void tls_ssl_error_text(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
}

static bool tls_fail(char *err, size_t errlen, const char *fmt, const char *key, const char *value)
{
	char ssl[160];

	tls_ssl_error_text(ssl, sizeof(ssl));
	snprintf(err, errlen, fmt, key, value ? value : "", ssl);
	return false;
}

/* client_tls_protocols / server_tls_protocols: "secure" (TLS 1.2 and 1.3,
 * the default), "all", "legacy", or a list of tlsv1.0 .. tlsv1.3.  A list
 * with a gap is taken as its lowest..highest. */
static bool tls_protocols(SSL_CTX *ctx, const char *key, const char *value, char *err, size_t errlen)
{
	static const struct { const char *name; int lo, hi; } names[] = {
		{ "secure", TLS1_2_VERSION, TLS1_3_VERSION },
		{ "default", TLS1_2_VERSION, TLS1_3_VERSION },
		{ "all", TLS1_VERSION, TLS1_3_VERSION },
		{ "legacy", TLS1_VERSION, TLS1_3_VERSION },
		{ "tlsv1.0", TLS1_VERSION, TLS1_VERSION },
		{ "tlsv1.1", TLS1_1_VERSION, TLS1_1_VERSION },
		{ "tlsv1.2", TLS1_2_VERSION, TLS1_2_VERSION },
		{ "tlsv1.3", TLS1_3_VERSION, TLS1_3_VERSION },
	};
	int lo = 0, hi = 0;
	const char *p = value && value[0] ? value : "secure";

	while (*p) {
		size_t n, i;
		p += strspn(p, ", :\t");
		n = strcspn(p, ", :\t");
		if (n == 0)
			break;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
			if (strlen(names[i].name) == n && strncasecmp(p, names[i].name, n) == 0)
				break;
		}
		if (i == sizeof(names) / sizeof(names[0])) {
			snprintf(err, errlen, "key '%s': unknown protocol '%.*s' (expected secure, all, "
			         "legacy, tlsv1.0, tlsv1.1, tlsv1.2 or tlsv1.3)", key, (int)n, p);
			return false;
		}
		if (!lo || names[i].lo < lo)
			lo = names[i].lo;
		if (names[i].hi > hi)
			hi = names[i].hi;
		p += n;
	}
	if (!lo) {
		snprintf(err, errlen, "key '%s': no protocol given", key);
		return false;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, lo) || !SSL_CTX_set_max_proto_version(ctx, hi))
		return tls_fail(err, errlen, "key '%s': cannot use '%s': %s", key, value);
	return true;
}

/* *_tls_ciphers: libtls-style names or an OpenSSL cipher list (TLS <= 1.2);
 * *_tls13_ciphers: an OpenSSL TLS 1.3 suite list ("" = OpenSSL's default). */
static bool tls_ciphers(SSL_CTX *ctx, const char *key, const char *value, const char *v13,
                        char *err, size_t errlen)
{
	static const struct { const char *name, *list; } alias[] = {
		{ "default", "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES" },
		{ "secure", "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20" },
		{ "fast", "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:DHE+CHACHA20" },
		{ "normal", "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES" },
		{ "compat", "HIGH:!aNULL" },
		{ "legacy", "HIGH:MEDIUM:!aNULL" },
		{ "all", "ALL:!aNULL:!eNULL" },
		{ "insecure", "ALL:!aNULL:!eNULL" },
	};
	const char *list = value && value[0] ? value : "default";

	for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++) {
		if (strcasecmp(list, alias[i].name) == 0) {
			list = alias[i].list;
			break;
		}
	}
	if (!SSL_CTX_set_cipher_list(ctx, list))
		return tls_fail(err, errlen, "key '%s': invalid cipher list '%s': %s", key, value);
	if (v13 && v13[0] && !SSL_CTX_set_ciphersuites(ctx, v13))
		return tls_fail(err, errlen, "key '%s': invalid TLS 1.3 cipher suites '%s': %s",
		                key[0] == 'c' ? "client_tls13_ciphers" : "server_tls13_ciphers", v13);
	return true;
}

/* Common settings of both contexts. */
static SSL_CTX *tls_ctx_new(bool server_role, char *err, size_t errlen)
{
	SSL_CTX *ctx = SSL_CTX_new(server_role ? TLS_server_method() : TLS_client_method());

	if (!ctx) {
		(void)tls_fail(err, errlen, "%s%scannot create a TLS context: %s", "", NULL);
		return NULL;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
	                 SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
	                    SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (server_role)
		SSL_CTX_set_num_tickets(ctx, 0);
	return ctx;
}

/* A file the context needs: name the setting and the system's reason. */
static bool tls_readable(const char *key, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");

	if (f) {
		fclose(f);
		return true;
	}
	snprintf(err, errlen, "key '%s': cannot open '%s': %s", key, path, strerror(errno));
	return false;
}

static bool tls_load_pair(SSL_CTX *ctx, const char *kkey, const char *keyf, const char *ckey,
                          const char *certf, char *err, size_t errlen)
{
	if (!tls_readable(ckey, certf, err, errlen) || !tls_readable(kkey, keyf, err, errlen))
		return false;
	if (!SSL_CTX_use_certificate_chain_file(ctx, certf))
		return tls_fail(err, errlen, "key '%s': cannot load certificate '%s': %s", ckey, certf);
	if (!SSL_CTX_use_PrivateKey_file(ctx, keyf, SSL_FILETYPE_PEM))
		return tls_fail(err, errlen, "key '%s': cannot load private key '%s': %s", kkey, keyf);
	if (!SSL_CTX_check_private_key(ctx))
		return tls_fail(err, errlen, "key '%s': private key '%s' does not match the certificate: %s",
		                kkey, keyf);
	return true;
}

static bool tls_set(const char *s)
{
	return s && s[0];
}

/* client_tls_ecdhcurve / client_tls_dheparams */
static bool tls_key_exchange(SSL_CTX *ctx, const struct Config *cfg, char *err, size_t errlen)
{
	const char *curve = cfg->client_tls_ecdhcurve, *dh = cfg->client_tls_dheparams;

	if (tls_set(curve) && strcasecmp(curve, "auto") != 0 && strcasecmp(curve, "none") != 0 &&
	    !SSL_CTX_set1_groups_list(ctx, curve))
		return tls_fail(err, errlen, "key '%s': unknown curve '%s': %s", "client_tls_ecdhcurve", curve);
	if (!tls_set(dh) || strcasecmp(dh, "auto") == 0 || strcasecmp(dh, "legacy") == 0) {
		SSL_CTX_set_dh_auto(ctx, 1);
	} else if (strcasecmp(dh, "none") != 0) {
		snprintf(err, errlen, "key 'client_tls_dheparams': value '%s' is not supported "
		         "(expected none, auto or legacy)", dh);
		return false;
	}
	return true;
}

/* The context clients are accepted with; *out = NULL when TLS is off. */
static bool tls_client_ctx_build(const struct Config *cfg, SSL_CTX **out, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	int mode = cfg->client_tls_sslmode;

	*out = NULL;
	if (cfg->auth_type == AUTH_TYPE_CERT && (mode == TLS_MODE_DISABLE || !tls_set(cfg->client_tls_ca_file))) {
		snprintf(err, errlen, "key 'auth_type': cert needs client TLS (client_tls_sslmode other than "
		         "disable) and client_tls_ca_file");
		return false;
	}
	if (mode == TLS_MODE_DISABLE)
		return true;
	if (!tls_set(cfg->client_tls_key_file) || !tls_set(cfg->client_tls_cert_file)) {
		snprintf(err, errlen, "key 'client_tls_sslmode': '%s' needs client_tls_key_file and "
		         "client_tls_cert_file", config_tls_mode_name(mode));
		return false;
	}
	if (mode >= TLS_MODE_VERIFY_CA && !tls_set(cfg->client_tls_ca_file)) {
		snprintf(err, errlen, "key 'client_tls_sslmode': '%s' needs client_tls_ca_file to verify "
		         "client certificates", config_tls_mode_name(mode));
		return false;
	}
	ctx = tls_ctx_new(true, err, errlen);
	if (!ctx)
		return false;
	if (!tls_load_pair(ctx, "client_tls_key_file", cfg->client_tls_key_file, "client_tls_cert_file",
	                   cfg->client_tls_cert_file, err, errlen) ||
	    !tls_protocols(ctx, "client_tls_protocols", cfg->client_tls_protocols, err, errlen) ||
	    !tls_ciphers(ctx, "client_tls_ciphers", cfg->client_tls_ciphers, cfg->client_tls13_ciphers,
	                 err, errlen) ||
	    !tls_key_exchange(ctx, cfg, err, errlen))
		goto fail;
	if (tls_set(cfg->client_tls_ca_file)) {
		STACK_OF(X509_NAME) *names;
		if (!tls_readable("client_tls_ca_file", cfg->client_tls_ca_file, err, errlen))
			goto fail;
		names = SSL_load_client_CA_file(cfg->client_tls_ca_file);
		if (!SSL_CTX_load_verify_locations(ctx, cfg->client_tls_ca_file, NULL) || !names) {
			sk_X509_NAME_pop_free(names, X509_NAME_free);
			(void)tls_fail(err, errlen, "key '%s': cannot load CA file '%s': %s",
			               "client_tls_ca_file", cfg->client_tls_ca_file);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
		/* ask for a certificate (cert auth, hba "cert"); verify-* demands one */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (mode >= TLS_MODE_VERIFY_CA
		                   ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0), NULL);
	}
	*out = ctx;
	return true;
fail:
	SSL_CTX_free(ctx);
	return false;
}

/* The context servers are connected with; *out = NULL when TLS is off. */
static bool tls_server_ctx_build(const struct Config *cfg, SSL_CTX **out, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	int mode = cfg->server_tls_sslmode;

	*out = NULL;
	if (mode == TLS_MODE_DISABLE)
		return true;
	if (tls_set(cfg->server_tls_key_file) != tls_set(cfg->server_tls_cert_file)) {
		snprintf(err, errlen, "key 'server_tls_key_file': server_tls_key_file and "
		         "server_tls_cert_file go together");
		return false;
	}
	ctx = tls_ctx_new(false, err, errlen);
	if (!ctx)
		return false;
	if ((tls_set(cfg->server_tls_key_file) &&
	     !tls_load_pair(ctx, "server_tls_key_file", cfg->server_tls_key_file, "server_tls_cert_file",
	                    cfg->server_tls_cert_file, err, errlen)) ||
	    !tls_protocols(ctx, "server_tls_protocols", cfg->server_tls_protocols, err, errlen) ||
	    !tls_ciphers(ctx, "server_tls_ciphers", cfg->server_tls_ciphers, cfg->server_tls13_ciphers,
	                 err, errlen))
		goto fail;
	if (tls_set(cfg->server_tls_ca_file)) {
		if (!tls_readable("server_tls_ca_file", cfg->server_tls_ca_file, err, errlen))
			goto fail;
		if (!SSL_CTX_load_verify_locations(ctx, cfg->server_tls_ca_file, NULL)) {
			(void)tls_fail(err, errlen, "key '%s': cannot load CA file '%s': %s",
			               "server_tls_ca_file", cfg->server_tls_ca_file);
			goto fail;
		}
	} else if (mode >= TLS_MODE_VERIFY_CA && !SSL_CTX_set_default_verify_paths(ctx)) {
		(void)tls_fail(err, errlen, "key '%s': %sno CA file given and the system's CA "
		               "certificates cannot be loaded: %s", "server_tls_ca_file", "");
		goto fail;
	}
	*out = ctx;
	return true;
fail:
	SSL_CTX_free(ctx);
	return false;
}

bool tls_setup(const struct Config *cfg, char *err, size_t errlen)
{
	SSL_CTX *cctx = NULL, *sctx = NULL;

	ERR_clear_error();
	if (!tls_client_ctx_build(cfg, &cctx, err, errlen))
		return false;
	if (!tls_server_ctx_build(cfg, &sctx, err, errlen)) {
		SSL_CTX_free(cctx);
		return false;
	}
	SSL_CTX_free(tls_client_ctx);
	SSL_CTX_free(tls_server_ctx);
	tls_client_ctx = cctx;
	tls_server_ctx = sctx;
	return true;
}

static bool tls_str_differ(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "") != 0;
}

bool tls_server_settings_differ(const struct Config *a, const struct Config *b)
{
	return a->server_tls_sslmode != b->server_tls_sslmode ||
		tls_str_differ(a->server_tls_ca_file, b->server_tls_ca_file) ||
		tls_str_differ(a->server_tls_key_file, b->server_tls_key_file) ||
		tls_str_differ(a->server_tls_cert_file, b->server_tls_cert_file) ||
		tls_str_differ(a->server_tls_protocols, b->server_tls_protocols) ||
		tls_str_differ(a->server_tls_ciphers, b->server_tls_ciphers) ||
		tls_str_differ(a->server_tls13_ciphers, b->server_tls13_ciphers);
}

bool tls_client_enabled(void)
{
	return tls_client_ctx != NULL;
}

/* ---- connections ------------------------------------------------------- */

static Tls *tls_new(SSL_CTX *ctx, int fd)
{
	Tls *t;
	BIO *rbio;

	if (!ctx)
		return NULL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->fd = fd;
	t->ssl = SSL_new(ctx);
	rbio = BIO_new_socket(fd, BIO_NOCLOSE);
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !rbio || !t->wbio) {
		BIO_free(rbio);
		BIO_free(t->wbio);
		SSL_free(t->ssl);
		free(t);
		ERR_clear_error();
		return NULL;
	}
	SSL_set_bio(t->ssl, rbio, t->wbio);
	return t;
}

Tls *tls_new_accept(int fd)
{
	Tls *t = tls_new(tls_client_ctx, fd);

	if (t)
		SSL_set_accept_state(t->ssl);
	return t;
}

static bool tls_is_ip(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

Tls *tls_new_connect(int fd, const char *host, int mode)
{
	Tls *t = tls_new(tls_server_ctx, fd);
	bool name = host && host[0] && !tls_is_ip(host);

	if (!t)
		return NULL;
	SSL_set_connect_state(t->ssl);
	if (name)
		(void)SSL_set_tlsext_host_name(t->ssl, host);
	if (mode >= TLS_MODE_VERIFY_CA)
		SSL_set_verify(t->ssl, SSL_VERIFY_PEER, NULL);
	if (mode == TLS_MODE_VERIFY_FULL) {
		X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
		int ok = host && host[0] && (name ? X509_VERIFY_PARAM_set1_host(vp, host, 0)
		                                  : X509_VERIFY_PARAM_set1_ip_asc(vp, host));
		if (!ok) {
			tls_free(t);
			return NULL;
		}
	}
	return t;
}

void tls_free(Tls *t)
{
	if (!t)
		return;
	if (t->done) {
		ERR_clear_error();
		(void)SSL_shutdown(t->ssl);
		(void)tls_flush(t);
	}
	SSL_free(t->ssl);
	ERR_clear_error();
	free(t);
}

static void tls_set_error(Tls *t, const char *what)
{
	long vr = SSL_get_verify_result(t->ssl);
	char ssl[160];

	if (vr != X509_V_OK) {
		snprintf(t->err, sizeof(t->err), "%s: certificate verify failed: %s", what,
		         X509_verify_cert_error_string(vr));
		ERR_clear_error();
		return;
	}
	tls_ssl_error_text(ssl, sizeof(ssl));
	snprintf(t->err, sizeof(t->err), "%s: %s", what, ssl);
}

/* "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519" */
static void tls_fill_info(Tls *t)
{
	int group = SSL_get_negotiated_group(t->ssl);
	const char *gname = group > 0 ? OBJ_nid2sn(group & ~TLSEXT_nid_unknown) : NULL;

	if (group > 0 && (group & TLSEXT_nid_unknown) == 0 && gname && strncmp(gname, "ffdhe", 5) != 0)
		snprintf(t->info, sizeof(t->info), "%s/%s/ECDH=%s", SSL_get_version(t->ssl),
		         SSL_get_cipher_name(t->ssl), gname);
	else if (gname && group > 0 && (group & TLSEXT_nid_unknown) == 0)
		snprintf(t->info, sizeof(t->info), "%s/%s/DH=%s", SSL_get_version(t->ssl),
		         SSL_get_cipher_name(t->ssl), gname);
	else
		snprintf(t->info, sizeof(t->info), "%s/%s", SSL_get_version(t->ssl),
		         SSL_get_cipher_name(t->ssl));
}

TlsStep tls_handshake(Tls *t)
{
	int r, e;

	ERR_clear_error();
	r = SSL_do_handshake(t->ssl);
	if (r == 1) {
		t->done = true;
		tls_fill_info(t);
		if (!tls_flush(t) && errno != EAGAIN) {
			snprintf(t->err, sizeof(t->err), "TLS handshake: write failed: %s", strerror(errno));
			return TLS_STEP_FAILED;
		}
		return TLS_STEP_DONE;
	}
	e = SSL_get_error(t->ssl, r);
	/* what OpenSSL wrote (an alert too) goes out before anything else */
	if (!tls_flush(t) && errno != EAGAIN && e != SSL_ERROR_SSL) {
		snprintf(t->err, sizeof(t->err), "TLS handshake: write failed: %s", strerror(errno));
		return TLS_STEP_FAILED;
	}
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return TLS_STEP_AGAIN;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			snprintf(t->err, sizeof(t->err), "TLS handshake: %s",
			         errno ? strerror(errno) : "the peer closed the connection");
			return TLS_STEP_FAILED;
		}
		/* fall through */
	default:
		tls_set_error(t, "TLS handshake failed");
		return TLS_STEP_FAILED;
	}
}

ssize_t tls_recv(Tls *t, void *buf, size_t len)
{
	int r, e;

	ERR_clear_error();
	errno = 0;   /* SSL_ERROR_SYSCALL with errno 0 is an EOF */
	r = SSL_read(t->ssl, buf, len > INT32_MAX ? INT32_MAX : (int)len);
	if (r > 0)
		return r;
	e = SSL_get_error(t->ssl, r);
	if (tls_want_write(t))
		(void)tls_flush(t);
	switch (e) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() == 0) {
			if (errno == 0)
				return 0;   /* EOF without close_notify */
			return -1;
		}
		/* fall through */
	default:
		tls_set_error(t, "TLS read failed");
		errno = EPROTO;
		return -1;
	}
}

ssize_t tls_send(Tls *t, const void *buf, size_t len)
{
	size_t done = 0;

	if (tls_want_write(t) && !tls_flush(t))
		return -1;   /* errno from the socket */
	ERR_clear_error();
	while (done < len) {
		size_t chunk = len - done > 65536 ? 65536 : len - done;
		int r = SSL_write(t->ssl, (const char *)buf + done, (int)chunk);
		if (r <= 0) {
			if (done > 0)
				break;
			tls_set_error(t, "TLS write failed");
			errno = EPROTO;
			return -1;
		}
		done += (size_t)r;
	}
	if (!tls_flush(t) && errno != EAGAIN)
		return -1;
	return (ssize_t)done;
}

bool tls_flush(Tls *t)
{
	char *p;
	long len;
	char scratch[4096];

	while ((len = BIO_get_mem_data(t->wbio, &p)) > 0) {
		ssize_t n = send(t->fd, p, (size_t)len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		/* drop what left: a memory BIO is consumed by reading it */
		while (n > 0) {
			int k = BIO_read(t->wbio, scratch, n < (ssize_t)sizeof(scratch) ? (int)n : (int)sizeof(scratch));
			if (k <= 0)
				break;
			n -= k;
		}
	}
	return true;
}

bool tls_want_write(const Tls *t)
{
	return BIO_ctrl_pending(t->wbio) > 0;
}

bool tls_has_pending(const Tls *t)
{
	/* decrypted bytes of a record read only in part; a record still
	 * arriving is announced by the socket (no read-ahead) */
	return t->done && SSL_pending(t->ssl) > 0;
}

const char *tls_info(const Tls *t)
{
	return t && t->done ? t->info : "";
}

const char *tls_error(const Tls *t)
{
	return t && t->err[0] ? t->err : "TLS error";
}

char *tls_peer_cn(const Tls *t)
{
	X509 *cert;
	X509_NAME *subj;
	int idx;
	ASN1_STRING *data;
	unsigned char *utf8 = NULL;
	int len;
	char *cn = NULL;

	if (!t || !t->done || SSL_get_verify_result(t->ssl) != X509_V_OK)
		return NULL;
	cert = SSL_get1_peer_certificate(t->ssl);
	if (!cert)
		return NULL;
	subj = X509_get_subject_name(cert);
	idx = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
	data = idx >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx)) : NULL;
	len = data ? ASN1_STRING_to_UTF8(&utf8, data) : -1;
	/* a CN with a NUL inside could pose as a shorter name: refuse it */
	if (len > 0 && strlen((char *)utf8) == (size_t)len)
		cn = strdup((char *)utf8);
	OPENSSL_free(utf8);
	X509_free(cert);
	return cn;
}
