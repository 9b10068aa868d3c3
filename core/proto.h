/*
 * proto.h - PostgreSQL v3 wire protocol: building and parsing the few
 * messages lagoon creates or inspects.
 *
 * PktBuf is a growable byte buffer for building outgoing messages.  It
 * starts in caller memory (often the stack) and moves to the heap only if
 * it outgrows it; pkt_free() releases that.  A failed allocation sets
 * `failed` and later puts become no-ops, so callers check once at the end.
 *
 * The parsers never trust a length: every read is bounds-checked against
 * the message body, and a malformed message is an error value, never a
 * crash.
 */
#ifndef LAGOON_PROTO_H
#define LAGOON_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION_3        196608u     /* 3.0 */
#define PROTO_SSL_REQUEST      80877103u
#define PROTO_GSSENC_REQUEST   80877104u
#define PROTO_CANCEL_REQUEST   80877102u

/* Authentication request codes ('R') */
#define AUTH_REQ_OK            0
#define AUTH_REQ_PASSWORD      3
#define AUTH_REQ_MD5           5
#define AUTH_REQ_SASL          10
#define AUTH_REQ_SASL_CONT     11
#define AUTH_REQ_SASL_FIN      12

typedef struct PktBuf {
	uint8_t *buf;
	size_t len;          /* bytes written */
	size_t cap;
	size_t msg_start;    /* offset of the message being built */
	bool heap;           /* buf was malloc'd by us */
	bool failed;         /* an allocation failed: contents are garbage */
} PktBuf;

void pkt_init(PktBuf *p, void *initial, size_t cap);
void pkt_free(PktBuf *p);
void pkt_reset(PktBuf *p);                 /* len = 0, keeps memory */

/* Message framing: type 0 = untyped (startup packet, cancel request). */
void pkt_start(PktBuf *p, char type);
void pkt_finish(PktBuf *p);                /* patch the length word */

void pkt_put_u8(PktBuf *p, uint8_t v);
void pkt_put_u16(PktBuf *p, uint16_t v);   /* network order */
void pkt_put_u32(PktBuf *p, uint32_t v);
void pkt_put_bytes(PktBuf *p, const void *data, size_t len);
void pkt_put_str(PktBuf *p, const char *s); /* with its NUL */

/* Whole messages (start + fields + finish). */
void pkt_error(PktBuf *p, const char *severity, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void pkt_notice(PktBuf *p, const char *sqlstate, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void pkt_auth_request(PktBuf *p, uint32_t code, const void *data, size_t len);
void pkt_param_status(PktBuf *p, const char *name, const char *value);
void pkt_backend_key(PktBuf *p, uint32_t pid, uint32_t key);
void pkt_ready(PktBuf *p, char status);
void pkt_command_complete(PktBuf *p, const char *tag);
void pkt_empty_query(PktBuf *p);
void pkt_query(PktBuf *p, const char *sql);
void pkt_terminate(PktBuf *p);
void pkt_password(PktBuf *p, const char *password);                 /* 'p' */
void pkt_sasl_initial(PktBuf *p, const char *mech, const void *data, size_t len);
void pkt_sasl_response(PktBuf *p, const void *data, size_t len);
/* kv: name, value, name, value, ..., NULL */
void pkt_startup(PktBuf *p, const char *const *kv);
void pkt_cancel_request(PktBuf *p, uint32_t pid, uint32_t key);
/* Row descriptions: every column text (type oid 25) unless types given
 * (types[i] = 20 int8, 23 int4, 25 text, 1700 numeric). */
void pkt_row_description(PktBuf *p, int ncols, const char *const *names, const uint32_t *types);
/* vals[i] NULL = SQL NULL */
void pkt_data_row(PktBuf *p, int ncols, const char *const *vals);

/* ---- reading ---------------------------------------------------------- */

/* A bounds-checked cursor over a message body. */
typedef struct PktReader {
	const uint8_t *data;
	size_t len;
	size_t pos;
	bool bad;            /* a read ran past the end */
} PktReader;

void pkt_reader_init(PktReader *r, const void *data, size_t len);
uint8_t pkt_get_u8(PktReader *r);
uint16_t pkt_get_u16(PktReader *r);
uint32_t pkt_get_u32(PktReader *r);
/* NUL-terminated string inside the body, or NULL (and bad) if unterminated. */
const char *pkt_get_str(PktReader *r);
const uint8_t *pkt_get_bytes(PktReader *r, size_t n);

typedef enum StartupKind {
	STARTUP_BAD = 0,       /* malformed: err says why */
	STARTUP_V3,            /* normal startup message */
	STARTUP_SSL,           /* SSLRequest */
	STARTUP_GSSENC,        /* GSSENCRequest */
	STARTUP_CANCEL,        /* CancelRequest: cancel_pid/cancel_key */
	STARTUP_BAD_VERSION,   /* well-formed but an unsupported protocol version */
} StartupKind;

#define STARTUP_MAX_PARAMS 64

/* Parsed startup packet.  Strings point into the packet passed in
 * (borrowed: valid while that buffer is). */
typedef struct StartupInfo {
	uint32_t version;
	uint32_t cancel_pid, cancel_key;
	int nparams;
	const char *names[STARTUP_MAX_PARAMS];
	const char *values[STARTUP_MAX_PARAMS];
	const char *user;      /* shortcuts into names/values, or NULL */
	const char *database;
	const char *application_name;
	const char *options;
} StartupInfo;

/* pkt: the whole startup packet including its 4-byte length word. */
StartupKind proto_parse_startup(const uint8_t *pkt, size_t len, StartupInfo *out,
                                char *err, size_t errlen);

/* Fields of an ErrorResponse/NoticeResponse body (borrowed pointers;
 * missing fields are ""). */
typedef struct ErrorFields {
	const char *severity;  /* 'V' if present, else 'S' */
	const char *sqlstate;  /* 'C' */
	const char *message;   /* 'M' */
	const char *detail;    /* 'D' */
} ErrorFields;

bool proto_parse_error(const uint8_t *body, size_t len, ErrorFields *out);

/* Parse "-c name=value --name=value" from the startup "options"
 * parameter; calls cb for each pair.  Returns false on a malformed
 * string (err says why) or if cb returns false. */
typedef bool (*proto_option_cb)(void *arg, const char *name, const char *value);
bool proto_parse_options(const char *options, proto_option_cb cb, void *arg,
                         char *err, size_t errlen);

#endif
