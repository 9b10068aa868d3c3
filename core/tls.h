/*
 * tls.h - TLS on both sides of the pooler (OpenSSL).
 *
 * Two contexts live here: the one lagoon accepts client TLS with
 * (client_tls_*) and the one it connects to servers with (server_tls_*).
 * tls_setup() builds both from a Config; on RELOAD the new ones replace
 * the old ones only when every file loaded, and connections already
 * encrypted keep the context they started with (OpenSSL counts its
 * references), so a certificate change never drops a connected client.
 *
 * One Tls object per encrypted connection.  It reads ciphertext straight
 * from the socket and encrypts into a memory buffer that tls_flush()
 * drains to the socket: a write is never half taken by OpenSSL (no "retry
 * with the same buffer" rule leaks into sbuf), and "would block" is
 * reported through errno EAGAIN like a plain socket.  sbuf.c is the only
 * caller of the I/O functions; the data path stays one code path.
 */
#ifndef LAGOON_TLS_H
#define LAGOON_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "config.h"   /* TlsMode */

struct Config;

typedef enum TlsStep {
	TLS_STEP_DONE = 0,   /* handshake finished */
	TLS_STEP_AGAIN,      /* wait for the socket (tls_want_write says which way) */
	TLS_STEP_FAILED,     /* tls_error() says why */
} TlsStep;

typedef struct Tls Tls;

/* Build the client- and server-side contexts from cfg and make them
 * current.  On failure nothing changes and err names the setting/file. */
bool tls_setup(const struct Config *cfg, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* true if a client's SSLRequest can be answered 'S'. */
bool tls_client_enabled(void);
/* true if a reload from a to b changes how servers are connected */
bool tls_server_settings_differ(const struct Config *a, const struct Config *b);

/* New connection objects on a connected socket; NULL on failure (out of
 * memory, or no context).  host: the server's name for SNI and
 * verify-full (NULL or "" = none). */
Tls *tls_new_accept(int fd);
Tls *tls_new_connect(int fd, const char *host, int mode);
/* Best-effort close_notify, then free.  NULL is fine. */
void tls_free(Tls *t);

/* Drive the handshake; call again when the socket is ready. */
TlsStep tls_handshake(Tls *t);
/* like recv()/send(): -1 with errno EAGAIN when it would block, 0 = EOF */
ssize_t tls_recv(Tls *t, void *buf, size_t len);
ssize_t tls_send(Tls *t, const void *buf, size_t len);
/* Push encrypted bytes to the socket: true when none are left; false with
 * errno EAGAIN (wait for EV_WRITE) or another errno (broken). */
bool tls_flush(Tls *t);
/* encrypted bytes wait for the socket */
bool tls_want_write(const Tls *t);
/* decrypted or received bytes wait inside OpenSSL (no EV_READ will say so) */
bool tls_has_pending(const Tls *t);

/* "TLSv1.3/TLS_AES_256_GCM_SHA384/ECDH=X25519" after the handshake, "" before */
const char *tls_info(const Tls *t);
/* The peer certificate's CN when a certificate was presented and verified
 * (malloc'd, caller frees), else NULL. */
char *tls_peer_cn(const Tls *t);
/* Why the last step failed. */
const char *tls_error(const Tls *t);

#endif
