/*
 * proto.c - building and parsing PostgreSQL v3 protocol messages.
 *
 * The builders append whole messages to a PktBuf, which lives in caller
 * memory until it outgrows it and then moves to the heap, doubling each
 * time.  An allocation failure only sets `failed`; every later put is a
 * no-op, so a caller checks once after building.
 *
 * The parsers (startup packet, ErrorResponse body, the startup "options"
 * string) treat their input as hostile: every read goes through a
 * bounds-checked PktReader or an explicit length test, and anything
 * malformed is reported as an error value with a message, never a crash.
 */
#include "proto.h"
#include "wire.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* PostgreSQL refuses startup packets longer than this. */
#define MAX_STARTUP_PACKET_LENGTH 10000
/* Longest "options" startup value we parse. */
#define MAX_OPTIONS_LENGTH 1024

/* PostgreSQL type oids used by pkt_row_description(). */
#define OID_BOOL    16
#define OID_INT8    20
#define OID_INT2    21
#define OID_INT4    23
#define OID_TEXT    25
#define OID_OID     26
#define OID_NUMERIC 1700

/* ---- PktBuf memory ---------------------------------------------------- */

void pkt_init(PktBuf *p, void *initial, size_t cap)
{
	p->buf = initial;
	p->cap = initial ? cap : 0;
	p->len = 0;
	p->msg_start = 0;
	p->heap = false;
	p->failed = false;
}

void pkt_free(PktBuf *p)
{
	if (p->heap)
		free(p->buf);
	p->buf = NULL;
	p->cap = 0;
	p->len = 0;
	p->msg_start = 0;
	p->heap = false;
}

void pkt_reset(PktBuf *p)
{
	p->len = 0;
	p->msg_start = 0;
	p->failed = false;
}

/* Pick a capacity of at least `need`, doubling from the current one. */
static bool grow_cap(size_t cap, size_t need, size_t *out)
{
	size_t c = cap ? cap : 64;

	while (c < need) {
		if (c > SIZE_MAX / 2)
			return false;
		c *= 2;
	}
	*out = c;
	return true;
}

/* Make room for `extra` more bytes; false (and failed) if impossible. */
static bool pkt_reserve(PktBuf *p, size_t extra)
{
	size_t newcap;
	uint8_t *nb;

	if (p->failed)
		return false;
	if (extra <= p->cap - p->len)
		return true;
	if (extra > SIZE_MAX - p->len || !grow_cap(p->cap, p->len + extra, &newcap))
		goto fail;
	if (p->heap) {
		nb = realloc(p->buf, newcap);
		if (!nb)
			goto fail;
	} else {
		nb = malloc(newcap);
		if (!nb)
			goto fail;
		if (p->len)
			memcpy(nb, p->buf, p->len);
	}
	p->buf = nb;
	p->cap = newcap;
	p->heap = true;
	return true;
fail:
	p->failed = true;
	return false;
}

/* ---- primitive puts --------------------------------------------------- */

static void put_be32_at(uint8_t *dst, uint32_t v)
{
	dst[0] = (uint8_t)(v >> 24);
	dst[1] = (uint8_t)(v >> 16);
	dst[2] = (uint8_t)(v >> 8);
	dst[3] = (uint8_t)v;
}

void pkt_put_u8(PktBuf *p, uint8_t v)
{
	if (!pkt_reserve(p, 1))
		return;
	p->buf[p->len++] = v;
}

void pkt_put_u16(PktBuf *p, uint16_t v)
{
	if (!pkt_reserve(p, 2))
		return;
	p->buf[p->len++] = (uint8_t)(v >> 8);
	p->buf[p->len++] = (uint8_t)v;
}

void pkt_put_u32(PktBuf *p, uint32_t v)
{
	if (!pkt_reserve(p, 4))
		return;
	put_be32_at(p->buf + p->len, v);
	p->len += 4;
}

void pkt_put_bytes(PktBuf *p, const void *data, size_t len)
{
	if (len == 0 || !pkt_reserve(p, len))
		return;
	memcpy(p->buf + p->len, data, len);
	p->len += len;
}

void pkt_put_str(PktBuf *p, const char *s)
{
	if (!s)
		s = "";
	pkt_put_bytes(p, s, strlen(s) + 1);
}

/* Append a formatted string with its NUL. */
static void pkt_put_vfmt(PktBuf *p, const char *fmt, va_list ap)
{
	va_list cp;
	int n;

	va_copy(cp, ap);
	n = vsnprintf(NULL, 0, fmt, cp);
	va_end(cp);
	if (n < 0) {
		pkt_put_str(p, "");
		return;
	}
	if (!pkt_reserve(p, (size_t)n + 1))
		return;
	if (vsnprintf((char *)p->buf + p->len, (size_t)n + 1, fmt, ap) != n) {
		p->failed = true;
		return;
	}
	p->len += (size_t)n + 1;
}

/* ---- framing ---------------------------------------------------------- */

/*
 * The placeholder length is zero, so at pkt_finish() the byte at
 * msg_start is 0 exactly when the message is untyped (type bytes are
 * never 0): that tells where the length word sits.
 */
void pkt_start(PktBuf *p, char type)
{
	p->msg_start = p->len;
	if (type)
		pkt_put_u8(p, (uint8_t)type);
	pkt_put_u32(p, 0);
}

void pkt_finish(PktBuf *p)
{
	size_t lenpos;
	size_t mlen;

	if (p->failed || p->msg_start >= p->len)
		return;
	lenpos = p->msg_start + (p->buf[p->msg_start] ? 1 : 0);
	if (lenpos + 4 > p->len) {
		p->failed = true;
		return;
	}
	mlen = p->len - lenpos;
	if (mlen > UINT32_MAX / 2) {
		p->failed = true;
		return;
	}
	put_be32_at(p->buf + lenpos, (uint32_t)mlen);
}

/* ---- whole messages --------------------------------------------------- */

static void pkt_verror(PktBuf *p, char type, const char *severity,
                       const char *sqlstate, const char *fmt, va_list ap)
{
	pkt_start(p, type);
	pkt_put_u8(p, 'S');
	pkt_put_str(p, severity);
	pkt_put_u8(p, 'V');
	pkt_put_str(p, severity);
	pkt_put_u8(p, 'C');
	pkt_put_str(p, sqlstate);
	pkt_put_u8(p, 'M');
	pkt_put_vfmt(p, fmt, ap);
	pkt_put_u8(p, 0);
	pkt_finish(p);
}

void pkt_error(PktBuf *p, const char *severity, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pkt_verror(p, 'E', severity, sqlstate, fmt, ap);
	va_end(ap);
}

void pkt_notice(PktBuf *p, const char *sqlstate, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	pkt_verror(p, 'N', "NOTICE", sqlstate, fmt, ap);
	va_end(ap);
}

void pkt_auth_request(PktBuf *p, uint32_t code, const void *data, size_t len)
{
	pkt_start(p, 'R');
	pkt_put_u32(p, code);
	if (data)
		pkt_put_bytes(p, data, len);
	pkt_finish(p);
}

void pkt_param_status(PktBuf *p, const char *name, const char *value)
{
	pkt_start(p, 'S');
	pkt_put_str(p, name);
	pkt_put_str(p, value);
	pkt_finish(p);
}

void pkt_backend_key(PktBuf *p, uint32_t pid, uint32_t key)
{
	pkt_start(p, 'K');
	pkt_put_u32(p, pid);
	pkt_put_u32(p, key);
	pkt_finish(p);
}

void pkt_ready(PktBuf *p, char status)
{
	pkt_start(p, 'Z');
	pkt_put_u8(p, (uint8_t)status);
	pkt_finish(p);
}

/* A message whose body is one string. */
static void pkt_str_msg(PktBuf *p, char type, const char *s)
{
	pkt_start(p, type);
	pkt_put_str(p, s);
	pkt_finish(p);
}

void pkt_command_complete(PktBuf *p, const char *tag)
{
	pkt_str_msg(p, 'C', tag);
}

void pkt_empty_query(PktBuf *p)
{
	pkt_start(p, 'I');
	pkt_finish(p);
}

void pkt_query(PktBuf *p, const char *sql)
{
	pkt_str_msg(p, 'Q', sql);
}

void pkt_terminate(PktBuf *p)
{
	pkt_start(p, 'X');
	pkt_finish(p);
}

void pkt_password(PktBuf *p, const char *password)
{
	pkt_str_msg(p, 'p', password);
}

void pkt_sasl_initial(PktBuf *p, const char *mech, const void *data, size_t len)
{
	pkt_start(p, 'p');
	pkt_put_str(p, mech);
	if (data && len <= INT32_MAX) {
		pkt_put_u32(p, (uint32_t)len);
		pkt_put_bytes(p, data, len);
	} else {
		pkt_put_u32(p, UINT32_MAX);     /* -1: no initial response */
	}
	pkt_finish(p);
}

void pkt_sasl_response(PktBuf *p, const void *data, size_t len)
{
	pkt_start(p, 'p');
	if (data)
		pkt_put_bytes(p, data, len);
	pkt_finish(p);
}

void pkt_startup(PktBuf *p, const char *const *kv)
{
	pkt_start(p, 0);
	pkt_put_u32(p, PROTO_VERSION_3);
	for (; kv && kv[0] && kv[1]; kv += 2) {
		pkt_put_str(p, kv[0]);
		pkt_put_str(p, kv[1]);
	}
	pkt_put_u8(p, 0);
	pkt_finish(p);
}

void pkt_cancel_request(PktBuf *p, uint32_t pid, uint32_t key)
{
	pkt_start(p, 0);
	pkt_put_u32(p, PROTO_CANCEL_REQUEST);
	pkt_put_u32(p, pid);
	pkt_put_u32(p, key);
	pkt_finish(p);
}

/* typlen as PostgreSQL reports it; -1 for variable-length types. */
static uint16_t type_len(uint32_t oid)
{
	switch (oid) {
	case OID_BOOL:
		return 1;
	case OID_INT2:
		return 2;
	case OID_INT4:
	case OID_OID:
		return 4;
	case OID_INT8:
		return 8;
	default:
		return UINT16_MAX;              /* -1 */
	}
}

void pkt_row_description(PktBuf *p, int ncols, const char *const *names, const uint32_t *types)
{
	uint32_t oid;

	if (ncols < 0 || ncols > INT16_MAX)
		ncols = 0;
	pkt_start(p, 'T');
	pkt_put_u16(p, (uint16_t)ncols);
	for (int i = 0; i < ncols; i++) {
		oid = types ? types[i] : OID_TEXT;
		pkt_put_str(p, names[i]);
		pkt_put_u32(p, 0);              /* table oid */
		pkt_put_u16(p, 0);              /* column attnum */
		pkt_put_u32(p, oid);
		pkt_put_u16(p, type_len(oid));
		pkt_put_u32(p, UINT32_MAX);     /* typmod -1 */
		pkt_put_u16(p, 0);              /* text format */
	}
	pkt_finish(p);
}

void pkt_data_row(PktBuf *p, int ncols, const char *const *vals)
{
	size_t n;

	if (ncols < 0 || ncols > INT16_MAX)
		ncols = 0;
	pkt_start(p, 'D');
	pkt_put_u16(p, (uint16_t)ncols);
	for (int i = 0; i < ncols; i++) {
		if (!vals[i]) {
			pkt_put_u32(p, UINT32_MAX);
			continue;
		}
		n = strlen(vals[i]);
		pkt_put_u32(p, (uint32_t)n);
		pkt_put_bytes(p, vals[i], n);
	}
	pkt_finish(p);
}

/* ---- PktReader -------------------------------------------------------- */

void pkt_reader_init(PktReader *r, const void *data, size_t len)
{
	r->data = data;
	r->len = data ? len : 0;
	r->pos = 0;
	r->bad = false;
}

/* True if n more bytes are available; else marks the reader bad. */
static bool reader_has(PktReader *r, size_t n)
{
	if (r->bad || n > r->len - r->pos) {
		r->bad = true;
		return false;
	}
	return true;
}

uint8_t pkt_get_u8(PktReader *r)
{
	if (!reader_has(r, 1))
		return 0;
	return r->data[r->pos++];
}

uint16_t pkt_get_u16(PktReader *r)
{
	uint16_t v;

	if (!reader_has(r, 2))
		return 0;
	v = (uint16_t)((r->data[r->pos] << 8) | r->data[r->pos + 1]);
	r->pos += 2;
	return v;
}

uint32_t pkt_get_u32(PktReader *r)
{
	uint32_t v;

	if (!reader_has(r, 4))
		return 0;
	v = wire_be32(r->data + r->pos);
	r->pos += 4;
	return v;
}

const char *pkt_get_str(PktReader *r)
{
	const uint8_t *start, *nul;

	if (r->bad || r->pos >= r->len) {
		r->bad = true;
		return NULL;
	}
	start = r->data + r->pos;
	nul = memchr(start, 0, r->len - r->pos);
	if (!nul) {
		r->bad = true;
		return NULL;
	}
	r->pos += (size_t)(nul - start) + 1;
	return (const char *)start;
}

const uint8_t *pkt_get_bytes(PktReader *r, size_t n)
{
	const uint8_t *d;

	if (!reader_has(r, n))
		return NULL;
	d = r->data + r->pos;
	r->pos += n;
	return d;
}

/* ---- startup packet --------------------------------------------------- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || errlen == 0)
		return;
	va_start(ap, fmt);
	if (vsnprintf(err, errlen, fmt, ap) < 0)
		err[0] = '\0';
	va_end(ap);
}

static bool startup_has_name(const StartupInfo *out, const char *name)
{
	for (int i = 0; i < out->nparams; i++) {
		if (strcasecmp(out->names[i], name) == 0)
			return true;
	}
	return false;
}

static void startup_shortcut(StartupInfo *out, const char *name, const char *value)
{
	if (strcmp(name, "user") == 0)
		out->user = value;
	else if (strcmp(name, "database") == 0)
		out->database = value;
	else if (strcmp(name, "application_name") == 0)
		out->application_name = value;
	else if (strcmp(name, "options") == 0)
		out->options = value;
}

/* The name/value list of a v3 startup packet (after the version word). */
static StartupKind parse_startup_params(PktReader *r, StartupInfo *out,
                                        char *err, size_t errlen)
{
	const char *name, *value;

	for (;;) {
		if (r->pos >= r->len) {
			set_err(err, errlen, "invalid startup packet layout: missing terminator");
			return STARTUP_BAD;
		}
		name = pkt_get_str(r);
		if (!name) {
			set_err(err, errlen, "invalid startup packet layout: unterminated parameter name");
			return STARTUP_BAD;
		}
		if (name[0] == '\0')
			break;
		value = pkt_get_str(r);
		if (!value) {
			set_err(err, errlen, "invalid startup packet layout: unterminated value for \"%.64s\"", name);
			return STARTUP_BAD;
		}
		if (out->nparams >= STARTUP_MAX_PARAMS) {
			set_err(err, errlen, "too many parameters in startup packet (limit %d)", STARTUP_MAX_PARAMS);
			return STARTUP_BAD;
		}
		if (startup_has_name(out, name)) {
			set_err(err, errlen, "duplicate parameter \"%.64s\" in startup packet", name);
			return STARTUP_BAD;
		}
		out->names[out->nparams] = name;
		out->values[out->nparams] = value;
		out->nparams++;
		startup_shortcut(out, name, value);
	}
	if (r->pos != r->len) {
		set_err(err, errlen, "invalid startup packet layout: expected terminator as last byte");
		return STARTUP_BAD;
	}
	return STARTUP_V3;
}

/* SSLRequest / GSSENCRequest / CancelRequest: fixed lengths. */
static StartupKind parse_special(PktReader *r, uint32_t code, size_t len,
                                 StartupInfo *out, char *err, size_t errlen)
{
	size_t want = code == PROTO_CANCEL_REQUEST ? 16 : 8;

	if (len != want) {
		set_err(err, errlen, "invalid length of %s packet",
		        code == PROTO_CANCEL_REQUEST ? "cancel request" : "encryption request");
		return STARTUP_BAD;
	}
	if (code == PROTO_SSL_REQUEST)
		return STARTUP_SSL;
	if (code == PROTO_GSSENC_REQUEST)
		return STARTUP_GSSENC;
	out->cancel_pid = pkt_get_u32(r);
	out->cancel_key = pkt_get_u32(r);
	return r->bad ? STARTUP_BAD : STARTUP_CANCEL;
}

StartupKind proto_parse_startup(const uint8_t *pkt, size_t len, StartupInfo *out,
                                char *err, size_t errlen)
{
	PktReader r;
	uint32_t code;
	StartupKind kind;

	memset(out, 0, sizeof(*out));
	set_err(err, errlen, "%s", "");
	if (!pkt || len < 8 || len > MAX_STARTUP_PACKET_LENGTH) {
		set_err(err, errlen, "invalid length of startup packet");
		return STARTUP_BAD;
	}
	pkt_reader_init(&r, pkt, len);
	if (pkt_get_u32(&r) != len) {
		set_err(err, errlen, "invalid length of startup packet");
		return STARTUP_BAD;
	}
	code = pkt_get_u32(&r);
	out->version = code;
	if (code == PROTO_SSL_REQUEST || code == PROTO_GSSENC_REQUEST ||
	    code == PROTO_CANCEL_REQUEST)
		return parse_special(&r, code, len, out, err, errlen);
	if ((code >> 16) != 3) {
		set_err(err, errlen, "unsupported frontend protocol %u.%u: server supports 3.0 to 3.0",
		        code >> 16, code & 0xffff);
		return STARTUP_BAD_VERSION;
	}
	kind = parse_startup_params(&r, out, err, errlen);
	if (kind != STARTUP_V3)
		return kind;
	if (!out->user || out->user[0] == '\0') {
		set_err(err, errlen, "no PostgreSQL user name specified in startup packet");
		return STARTUP_BAD;
	}
	return STARTUP_V3;
}

/* ---- ErrorResponse / NoticeResponse ----------------------------------- */

bool proto_parse_error(const uint8_t *body, size_t len, ErrorFields *out)
{
	PktReader r;
	const char *sev_s = NULL, *sev_v = NULL, *s;
	uint8_t type;

	out->severity = out->sqlstate = out->message = out->detail = "";
	pkt_reader_init(&r, body, len);
	for (;;) {
		type = pkt_get_u8(&r);
		if (r.bad)
			return false;
		if (type == 0)
			break;
		s = pkt_get_str(&r);
		if (!s)
			return false;
		switch (type) {
		case 'S': sev_s = s; break;
		case 'V': sev_v = s; break;
		case 'C': out->sqlstate = s; break;
		case 'M': out->message = s; break;
		case 'D': out->detail = s; break;
		default: break;
		}
	}
	if (sev_v)
		out->severity = sev_v;
	else if (sev_s)
		out->severity = sev_s;
	return true;
}

/* ---- the "options" startup parameter ---------------------------------- */

/*
 * Copy the next whitespace-separated token of *sp into tok (which has
 * room for the whole input), undoing backslash escapes the way
 * PostgreSQL's pg_split_opts() does.  false when no token is left.
 */
static bool next_token(const char **sp, char *tok)
{
	const char *s = *sp;
	size_t n = 0;

	while (*s && isspace((unsigned char)*s))
		s++;
	if (!*s)
		return false;
	while (*s && !isspace((unsigned char)*s)) {
		if (*s == '\\' && s[1] != '\0')
			s++;
		tok[n++] = *s++;
	}
	tok[n] = '\0';
	*sp = s;
	return true;
}

/* "name=value" from -c / --: dashes in the name become underscores. */
static bool handle_setting(char *setting, const char *how, proto_option_cb cb,
                           void *arg, char *err, size_t errlen)
{
	char *eq = strchr(setting, '=');

	if (!eq) {
		set_err(err, errlen, "%s%.64s requires a value", how, setting);
		return false;
	}
	if (eq == setting) {
		set_err(err, errlen, "invalid option \"%s%.64s\": missing name", how, setting);
		return false;
	}
	*eq = '\0';
	for (char *c = setting; *c; c++) {
		if (*c == '-')
			*c = '_';
	}
	if (!cb(arg, setting, eq + 1)) {
		set_err(err, errlen, "invalid value for parameter \"%.64s\"", setting);
		return false;
	}
	return true;
}

bool proto_parse_options(const char *options, proto_option_cb cb, void *arg,
                         char *err, size_t errlen)
{
	char tok[MAX_OPTIONS_LENGTH + 1];
	const char *s = options;
	bool want_c_arg = false;

	if (!options)
		return true;
	if (strlen(options) > MAX_OPTIONS_LENGTH) {
		set_err(err, errlen, "options too long (limit %d bytes)", MAX_OPTIONS_LENGTH);
		return false;
	}
	while (next_token(&s, tok)) {
		bool good;

		if (want_c_arg) {
			want_c_arg = false;
			good = handle_setting(tok, "-c ", cb, arg, err, errlen);
		} else if (strncmp(tok, "--", 2) == 0) {
			good = handle_setting(tok + 2, "--", cb, arg, err, errlen);
		} else if (strcmp(tok, "-c") == 0) {
			want_c_arg = true;
			good = true;
		} else if (strncmp(tok, "-c", 2) == 0) {
			good = handle_setting(tok + 2, "-c ", cb, arg, err, errlen);
		} else {
			set_err(err, errlen, "invalid command-line argument for server process: %.64s", tok);
			good = false;
		}
		if (!good)
			return false;
	}
	if (want_c_arg) {
		set_err(err, errlen, "option -c requires an argument");
		return false;
	}
	return true;
}
