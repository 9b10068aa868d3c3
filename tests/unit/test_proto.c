/*
 * test_proto.c - unit tests for core/proto.c and core/varcache.c.
 *
 * The builders are checked byte for byte against hand-written messages,
 * the parsers against good and deliberately broken input, and a
 * randomized loop feeds thousands of mutated startup packets, error
 * bodies and option strings to the parsers (run it under ASan: the point
 * is that nothing reads out of bounds).  The varcache part covers
 * lookup, ownership and the SET statements built from a difference.
 */
#include "proto.h"
#include "varcache.h"
#include "strpool.h"
#include "tap/tap.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ----------------------------------------------------------- */

static void dump(const char *what, const uint8_t *b, size_t n)
{
	char line[3 * 16 + 1];
	size_t i, k = 0;

	diag("%s (%zu bytes):", what, n);
	for (i = 0; i < n; i++) {
		snprintf(line + k, sizeof(line) - k, "%02x ", b[i]);
		k += 3;
		if (k == 3 * 16 || i + 1 == n) {
			diag("    %s", line);
			k = 0;
		}
	}
}

/* One assertion: the buffer holds exactly `want`. */
static void check_bytes(const PktBuf *p, const void *want, size_t wlen, const char *name)
{
	bool same = !p->failed && p->len == wlen && memcmp(p->buf, want, wlen) == 0;

	if (!ok(same, "%s: bytes", name)) {
		dump("wanted", want, wlen);
		dump("got", p->buf, p->len);
	}
}

/* Write a packet: length word, then `code` (if nonzero), then body. */
static size_t raw_packet(uint8_t *dst, uint32_t code, const void *body, size_t blen)
{
	size_t len = 8 + blen;

	dst[0] = (uint8_t)(len >> 24);
	dst[1] = (uint8_t)(len >> 16);
	dst[2] = (uint8_t)(len >> 8);
	dst[3] = (uint8_t)len;
	dst[4] = (uint8_t)(code >> 24);
	dst[5] = (uint8_t)(code >> 16);
	dst[6] = (uint8_t)(code >> 8);
	dst[7] = (uint8_t)code;
	if (blen)
		memcpy(dst + 8, body, blen);
	return len;
}

/* Parse from an exact-size heap copy, so ASan sees any over-read. */
static StartupKind parse_copy(const uint8_t *pkt, size_t len, StartupInfo *si,
                              char *err, size_t errlen)
{
	uint8_t *copy = malloc(len ? len : 1);
	StartupKind k;

	if (!copy)
		bail("out of memory");
	if (len)
		memcpy(copy, pkt, len);
	k = proto_parse_startup(copy, len, si, err, errlen);
	free(copy);
	/* StartupInfo strings point into copy: callers only look at kind/err */
	return k;
}

/* ---- builders ---------------------------------------------------------- */

static void test_simple_builders(void)
{
	uint8_t stack[256];
	PktBuf p;

	pkt_init(&p, stack, sizeof(stack));

	pkt_ready(&p, 'I');
	check_bytes(&p, "Z\0\0\0\5I", 6, "ReadyForQuery");
	ok(!p.heap, "small message stays in caller memory");

	pkt_reset(&p);
	pkt_backend_key(&p, 0x01020304, 0xa0b0c0d0);
	check_bytes(&p, "K\0\0\0\x0c\1\2\3\4\xa0\xb0\xc0\xd0", 13, "BackendKeyData");

	pkt_reset(&p);
	pkt_param_status(&p, "TimeZone", "UTC");
	check_bytes(&p, "S\0\0\0\x11TimeZone\0UTC\0", 18, "ParameterStatus");

	pkt_reset(&p);
	pkt_command_complete(&p, "SELECT 1");
	check_bytes(&p, "C\0\0\0\x0dSELECT 1\0", 14, "CommandComplete");

	pkt_reset(&p);
	pkt_empty_query(&p);
	pkt_terminate(&p);
	check_bytes(&p, "I\0\0\0\4X\0\0\0\4", 10, "EmptyQueryResponse + Terminate");
	is_int(5, (long long)p.msg_start, "msg_start is the last message's offset");

	pkt_reset(&p);
	pkt_query(&p, "select 1");
	check_bytes(&p, "Q\0\0\0\x0dselect 1\0", 14, "Query");

	pkt_reset(&p);
	pkt_password(&p, "secret");
	check_bytes(&p, "p\0\0\0\x0bsecret\0", 12, "PasswordMessage");

	pkt_free(&p);
}

static void test_error_builders(void)
{
	static const uint8_t want_err[] =
		"E\0\0\0\x28"
		"SFATAL\0" "VFATAL\0" "C28P01\0" "Mbad user bob\0" "\0";
	static const uint8_t want_notice[] =
		"N\0\0\0\x20"
		"SNOTICE\0" "VNOTICE\0" "C00000\0" "Mhi\0" "\0";
	PktBuf p;

	pkt_init(&p, NULL, 0);
	pkt_error(&p, "FATAL", "28P01", "bad user %s", "bob");
	check_bytes(&p, want_err, sizeof(want_err) - 1, "ErrorResponse");
	ok(p.heap, "NULL initial buffer moves to the heap");

	pkt_reset(&p);
	pkt_notice(&p, "00000", "%s", "hi");
	check_bytes(&p, want_notice, sizeof(want_notice) - 1, "NoticeResponse");
	pkt_free(&p);
	ok(p.buf == NULL && p.len == 0 && !p.heap, "pkt_free resets the buffer");
}

static void test_auth_builders(void)
{
	static const uint8_t salt[4] = { 0xde, 0xad, 0xbe, 0xef };
	static const uint8_t want_sasl_init[] =
		"p\0\0\0\x19" "SCRAM-SHA-256\0" "\0\0\0\3" "abc";
	static const uint8_t want_sasl_none[] =
		"p\0\0\0\x16" "SCRAM-SHA-256\0" "\xff\xff\xff\xff";
	uint8_t stack[64];
	PktBuf p;

	pkt_init(&p, stack, sizeof(stack));
	pkt_auth_request(&p, AUTH_REQ_OK, NULL, 0);
	check_bytes(&p, "R\0\0\0\x08\0\0\0\0", 9, "AuthenticationOk");

	pkt_reset(&p);
	pkt_auth_request(&p, AUTH_REQ_MD5, salt, sizeof(salt));
	check_bytes(&p, "R\0\0\0\x0c\0\0\0\5\xde\xad\xbe\xef", 13, "AuthenticationMD5Password");

	pkt_reset(&p);
	pkt_auth_request(&p, AUTH_REQ_SASL, "SCRAM-SHA-256\0\0", 15);
	check_bytes(&p, "R\0\0\0\x17\0\0\0\x0aSCRAM-SHA-256\0\0", 24, "AuthenticationSASL");

	pkt_reset(&p);
	pkt_sasl_initial(&p, "SCRAM-SHA-256", "abc", 3);
	check_bytes(&p, want_sasl_init, sizeof(want_sasl_init) - 1, "SASLInitialResponse");

	pkt_reset(&p);
	pkt_sasl_initial(&p, "SCRAM-SHA-256", NULL, 0);
	check_bytes(&p, want_sasl_none, sizeof(want_sasl_none) - 1, "SASLInitialResponse without data");

	pkt_reset(&p);
	pkt_sasl_response(&p, "c=biws", 6);
	check_bytes(&p, "p\0\0\0\x0a" "c=biws", 11, "SASLResponse");
	pkt_free(&p);
}

static void test_untyped_builders(void)
{
	static const char *const kv[] = { "user", "bob", "database", "db", NULL };
	static const uint8_t want_startup[] =
		"\0\0\0\x1e" "\0\3\0\0" "user\0bob\0" "database\0db\0" "\0";
	uint8_t stack[16];
	PktBuf p;

	pkt_init(&p, stack, sizeof(stack));
	pkt_startup(&p, kv);
	check_bytes(&p, want_startup, sizeof(want_startup) - 1, "StartupMessage");

	pkt_reset(&p);
	pkt_cancel_request(&p, 77, 0x11223344);
	check_bytes(&p, "\0\0\0\x10\x04\xd2\x16\x2e\0\0\0\x4d\x11\x22\x33\x44", 16, "CancelRequest");

	pkt_reset(&p);
	pkt_startup(&p, NULL);
	check_bytes(&p, "\0\0\0\x09\0\3\0\0\0", 9, "empty StartupMessage");
	pkt_free(&p);
}

static void test_row_builders(void)
{
	static const char *const names[] = { "a", "n" };
	static const uint32_t types[] = { 20, 1700 };
	static const char *const vals[] = { "42", NULL, "" };
	static const uint8_t want_text[] =
		"T\0\0\0\x1a" "\0\1"
		"a\0" "\0\0\0\0" "\0\0" "\0\0\0\x19" "\xff\xff" "\xff\xff\xff\xff" "\0\0";
	static const uint8_t want_typed[] =
		"T\0\0\0\x2e" "\0\2"
		"a\0" "\0\0\0\0" "\0\0" "\0\0\0\x14" "\0\x08" "\xff\xff\xff\xff" "\0\0"
		"n\0" "\0\0\0\0" "\0\0" "\0\0\x06\xa4" "\xff\xff" "\xff\xff\xff\xff" "\0\0";
	static const uint8_t want_row[] =
		"D\0\0\0\x14" "\0\3" "\0\0\0\2" "42" "\xff\xff\xff\xff" "\0\0\0\0";
	PktBuf p;

	pkt_init(&p, NULL, 0);
	pkt_row_description(&p, 1, names, NULL);
	check_bytes(&p, want_text, sizeof(want_text) - 1, "RowDescription (text)");

	pkt_reset(&p);
	pkt_row_description(&p, 2, names, types);
	check_bytes(&p, want_typed, sizeof(want_typed) - 1, "RowDescription (int8, numeric)");

	pkt_reset(&p);
	pkt_data_row(&p, 3, vals);
	check_bytes(&p, want_row, sizeof(want_row) - 1, "DataRow with NULL and empty");
	pkt_free(&p);
}

static void test_growth(void)
{
	uint8_t stack[8];
	uint8_t *want;
	size_t n = 3000;
	PktBuf p;
	bool same = true;

	want = malloc(n);
	if (!want)
		bail("out of memory");
	for (size_t i = 0; i < n; i++)
		want[i] = (uint8_t)(i * 7);
	memset(stack, 0xaa, sizeof(stack));

	pkt_init(&p, stack, sizeof(stack));
	pkt_put_u32(&p, 0x01020304);
	ok(!p.heap && p.buf == stack, "fits in the initial buffer");
	for (size_t i = 0; i < n; i++)
		pkt_put_u8(&p, want[i]);
	ok(p.heap && p.buf != stack, "moved to the heap when full");
	ok(!p.failed, "growth did not fail");
	is_int((long long)(n + 4), (long long)p.len, "length after growth");
	ok(p.cap >= p.len, "capacity covers the contents");
	same = memcmp(p.buf, "\1\2\3\4", 4) == 0 && memcmp(p.buf + 4, want, n) == 0;
	ok(same, "contents survive the move and the doublings");

	pkt_reset(&p);
	ok(p.len == 0 && p.heap, "reset keeps the heap memory");
	pkt_query(&p, "select 1");
	check_bytes(&p, "Q\0\0\0\x0dselect 1\0", 14, "message built after reset");
	pkt_free(&p);
	free(want);
}

static void test_reader(void)
{
	static const uint8_t data[] = "\x01\x02\x03\x04\x05\x06\x07" "ab\0" "cd";
	PktReader r;

	pkt_reader_init(&r, data, sizeof(data) - 1);
	is_int(1, pkt_get_u8(&r), "get_u8");
	is_int(0x0203, pkt_get_u16(&r), "get_u16");
	is_int(0x04050607, pkt_get_u32(&r), "get_u32");
	is_str("ab", pkt_get_str(&r), "get_str");
	ok(!r.bad, "no over-read yet");
	ok(pkt_get_str(&r) == NULL && r.bad, "unterminated string is NULL and bad");

	pkt_reader_init(&r, data, 3);
	is_int(0, pkt_get_u32(&r), "short u32 reads 0");
	ok(r.bad, "short u32 sets bad");
	is_int(0, pkt_get_u8(&r), "reads after bad return 0");

	pkt_reader_init(&r, data, 4);
	ok(pkt_get_bytes(&r, 4) == data && !r.bad, "get_bytes of everything");
	ok(pkt_get_bytes(&r, 1) == NULL && r.bad, "get_bytes past the end");
	pkt_reader_init(&r, data, 4);
	ok(pkt_get_bytes(&r, SIZE_MAX) == NULL && r.bad, "huge get_bytes does not wrap");
}

/* ---- startup parsing ---------------------------------------------------- */

static void test_startup_good(void)
{
	static const char *const kv[] = {
		"user", "alice", "database", "shop", "application_name", "psql",
		"options", "-c geqo=off", "TimeZone", "UTC", NULL };
	uint8_t stack[256], raw[64];
	char err[256];
	StartupInfo si;
	PktBuf p;
	size_t n;

	pkt_init(&p, stack, sizeof(stack));
	pkt_startup(&p, kv);
	is_int(STARTUP_V3, proto_parse_startup(p.buf, p.len, &si, err, sizeof(err)), "v3 startup parses");
	is_int(PROTO_VERSION_3, si.version, "version recorded");
	is_int(5, si.nparams, "five parameters");
	is_str("alice", si.user, "user shortcut");
	is_str("shop", si.database, "database shortcut");
	is_str("psql", si.application_name, "application_name shortcut");
	is_str("-c geqo=off", si.options, "options shortcut");
	ok(strcmp(si.names[4], "TimeZone") == 0 && strcmp(si.values[4], "UTC") == 0,
	   "other parameters listed in order");
	pkt_free(&p);

	n = raw_packet(raw, 0x00030002, "user\0u\0\0", 8);
	is_int(STARTUP_V3, proto_parse_startup(raw, n, &si, err, sizeof(err)), "3.2 accepted as v3");
	is_int(0x00030002, si.version, "3.2 version recorded");
	ok(si.database == NULL && si.options == NULL, "absent shortcuts are NULL");

	n = raw_packet(raw, PROTO_SSL_REQUEST, NULL, 0);
	is_int(STARTUP_SSL, proto_parse_startup(raw, n, &si, err, sizeof(err)), "SSLRequest");
	n = raw_packet(raw, PROTO_GSSENC_REQUEST, NULL, 0);
	is_int(STARTUP_GSSENC, proto_parse_startup(raw, n, &si, err, sizeof(err)), "GSSENCRequest");
	n = raw_packet(raw, PROTO_CANCEL_REQUEST, "\0\0\x30\x39\xca\xfe\xba\xbe", 8);
	is_int(STARTUP_CANCEL, proto_parse_startup(raw, n, &si, err, sizeof(err)), "CancelRequest");
	ok(si.cancel_pid == 12345 && si.cancel_key == 0xcafebabe, "cancel pid and key");
}

static void test_startup_version(void)
{
	uint8_t raw[64];
	char err[256];
	StartupInfo si;
	size_t n;

	n = raw_packet(raw, 0x00020000, "user\0u\0\0", 8);
	is_int(STARTUP_BAD_VERSION, proto_parse_startup(raw, n, &si, err, sizeof(err)), "2.0 rejected");
	is_str("unsupported frontend protocol 2.0: server supports 3.0 to 3.0", err, "2.0 message");

	n = raw_packet(raw, (1234u << 16) | 5681u, NULL, 0);
	is_int(STARTUP_BAD_VERSION, proto_parse_startup(raw, n, &si, err, sizeof(err)),
	       "unknown 1234.x code rejected");
	is_str("unsupported frontend protocol 1234.5681: server supports 3.0 to 3.0", err,
	       "unknown code message");

	n = raw_packet(raw, PROTO_SSL_REQUEST, "\0\0\0\0", 4);
	is_int(STARTUP_BAD, proto_parse_startup(raw, n, &si, err, sizeof(err)), "SSLRequest with extra bytes");
	n = raw_packet(raw, PROTO_GSSENC_REQUEST, "\0\0\0\0", 4);
	is_int(STARTUP_BAD, proto_parse_startup(raw, n, &si, err, sizeof(err)), "GSSENCRequest with extra bytes");
	n = raw_packet(raw, PROTO_CANCEL_REQUEST, "\0\0\0\1", 4);
	is_int(STARTUP_BAD, proto_parse_startup(raw, n, &si, err, sizeof(err)), "short CancelRequest");
}

/* Expect STARTUP_BAD and some error text for a v3 packet with this body. */
static void expect_bad_body(const void *body, size_t blen, const char *what)
{
	uint8_t raw[2048];
	char err[256] = "";
	StartupInfo si;
	size_t n = raw_packet(raw, PROTO_VERSION_3, body, blen);
	StartupKind k = parse_copy(raw, n, &si, err, sizeof(err));

	if (!ok(k == STARTUP_BAD && err[0] != '\0', "rejected: %s", what))
		diag("kind %d, err '%s'", (int)k, err);
}

/* Append s and its NUL at buf[at]; returns the new length (bounded). */
static size_t put_cstr(uint8_t *buf, size_t size, size_t at, const char *s)
{
	size_t len = strlen(s) + 1;

	if (at + len >= size)
		return at;
	memcpy(buf + at, s, len);
	return at + len;
}

static void test_startup_bad(void)
{
	uint8_t raw[12000], body[2048];
	char err[256];
	StartupInfo si;
	size_t n, blen;

	is_int(STARTUP_BAD, parse_copy((const uint8_t *)"\0\0\0\4", 4, &si, err, sizeof(err)), "4-byte packet");
	is_str("invalid length of startup packet", err, "short packet message");
	is_int(STARTUP_BAD, parse_copy(NULL, 0, &si, err, sizeof(err)), "empty packet");

	n = raw_packet(raw, PROTO_VERSION_3, "user\0u\0\0", 8);
	raw[3]++;
	is_int(STARTUP_BAD, parse_copy(raw, n, &si, err, sizeof(err)), "length word too big");
	raw[3] -= 2;
	is_int(STARTUP_BAD, parse_copy(raw, n, &si, err, sizeof(err)), "length word too small");

	memset(raw, 'x', sizeof(raw));
	raw_packet(raw, PROTO_VERSION_3, NULL, 0);
	raw[0] = 0; raw[1] = 0; raw[2] = 0x27; raw[3] = 0x11;   /* 10001 */
	is_int(STARTUP_BAD, parse_copy(raw, 10001, &si, err, sizeof(err)), "oversize packet");

	expect_bad_body("user\0bob", 8, "unterminated value");
	expect_bad_body("user", 4, "unterminated name");
	expect_bad_body("user\0bob\0", 9, "missing final terminator");
	expect_bad_body("", 0, "no parameters, no terminator");
	expect_bad_body("database\0d\0\0", 12, "missing user");
	expect_bad_body("user\0\0\0", 7, "empty user");
	expect_bad_body("user\0a\0user\0b\0\0", 15, "duplicate user");
	expect_bad_body("user\0a\0TimeZone\0x\0timezone\0y\0\0", 30, "duplicate name, other case");
	expect_bad_body("user\0a\0\0junk\0", 13, "bytes after the terminator");
	expect_bad_body("\0user\0a\0\0", 9, "empty name before the end");

	/* user plus p1..p63: exactly STARTUP_MAX_PARAMS pairs */
	blen = put_cstr(body, sizeof(body), 0, "user");
	blen = put_cstr(body, sizeof(body), blen, "u");
	for (int i = 1; i < STARTUP_MAX_PARAMS; i++) {
		char name[16];
		snprintf(name, sizeof(name), "p%d", i);
		blen = put_cstr(body, sizeof(body), blen, name);
		blen = put_cstr(body, sizeof(body), blen, "v");
	}
	body[blen] = 0;
	n = raw_packet(raw, PROTO_VERSION_3, body, blen + 1);
	is_int(STARTUP_V3, parse_copy(raw, n, &si, err, sizeof(err)), "exactly STARTUP_MAX_PARAMS accepted");
	blen = put_cstr(body, sizeof(body), blen, "extra");
	blen = put_cstr(body, sizeof(body), blen, "v");
	body[blen] = 0;
	expect_bad_body(body, blen + 1, "too many parameters");

	n = raw_packet(raw, PROTO_VERSION_3, "user\0u\0\0", 8);
	is_int(STARTUP_BAD, parse_copy(raw, n - 1, &si, err, sizeof(err)), "truncated packet");
	is_int(STARTUP_V3, proto_parse_startup(raw, n, &si, NULL, 0), "NULL err buffer is fine");
}

/* ---- ErrorResponse parsing --------------------------------------------- */

static void test_parse_error(void)
{
	static const uint8_t with_detail[] =
		"SERROR\0" "VERROR\0" "C42601\0" "Msyntax error\0" "Dnear here\0" "P7\0" "\0";
	static const uint8_t localized[] = "SFEHLER\0" "C42601\0" "\0";
	ErrorFields ef;
	PktBuf p;

	pkt_init(&p, NULL, 0);
	pkt_error(&p, "FATAL", "3D000", "database \"%s\" does not exist", "x");
	ok(proto_parse_error(p.buf + 5, p.len - 5, &ef), "own ErrorResponse parses");
	is_str("FATAL", ef.severity, "severity");
	is_str("3D000", ef.sqlstate, "sqlstate");
	is_str("database \"x\" does not exist", ef.message, "message");
	is_str("", ef.detail, "missing detail is empty");
	pkt_free(&p);

	ok(proto_parse_error(with_detail, sizeof(with_detail) - 1, &ef), "server error with detail parses");
	is_str("near here", ef.detail, "detail");
	ok(proto_parse_error(localized, sizeof(localized) - 1, &ef), "no V field parses");
	is_str("FEHLER", ef.severity, "S used when V is absent");
	is_str("", ef.message, "missing message is empty");

	ok(!proto_parse_error((const uint8_t *)"", 0, &ef), "empty body rejected");
	ok(!proto_parse_error((const uint8_t *)"SERROR\0", 7, &ef), "missing terminator rejected");
	ok(!proto_parse_error((const uint8_t *)"SERR", 4, &ef), "unterminated field rejected");
	ok(proto_parse_error((const uint8_t *)"\0", 1, &ef), "terminator only is fine");
}

/* ---- options parsing ----------------------------------------------------- */

typedef struct OptLog {
	char text[512];
	int count;
	const char *refuse;     /* cb returns false for this name */
} OptLog;

static bool opt_cb(void *arg, const char *name, const char *value)
{
	OptLog *log = arg;
	size_t used = strlen(log->text);

	log->count++;
	snprintf(log->text + used, sizeof(log->text) - used, "[%s=%s]", name, value);
	return !(log->refuse && strcmp(log->refuse, name) == 0);
}

static void check_opts(const char *opts, const char *want, const char *what)
{
	OptLog log = { .text = "" };
	char err[256] = "";
	bool good = proto_parse_options(opts, opt_cb, &log, err, sizeof(err));

	if (!ok(good, "options parse: %s", what))
		diag("err: %s", err);
	is_str(want, log.text, "options settings: %s", what);
}

static void check_opts_bad(const char *opts, const char *what)
{
	OptLog log = { .text = "" };
	char err[256] = "";
	bool good = proto_parse_options(opts, opt_cb, &log, err, sizeof(err));

	ok(!good && err[0] != '\0', "options rejected: %s", what);
}

static void test_options(void)
{
	char big[1100];
	OptLog log = { .text = "", .refuse = "work_mem" };
	char err[256] = "";

	check_opts("-c geqo=off", "[geqo=off]", "-c name=value");
	check_opts("  -cgeqo=off\t--work-mem=64MB  ", "[geqo=off][work_mem=64MB]", "-cname and --name");
	check_opts("-c search_path=a\\ b -c x=\\\\y", "[search_path=a b][x=\\y]", "backslash escapes");
	check_opts("-c a-b.c=1 -c e=", "[a_b.c=1][e=]", "dashes and empty value");
	check_opts("-c x=a=b", "[x=a=b]", "value containing =");
	check_opts("", "", "empty string");
	check_opts(" \t\n ", "", "whitespace only");

	check_opts_bad("-d 5", "-d switch");
	check_opts_bad("-c", "-c without argument");
	check_opts_bad("-c geqo", "-c without =");
	check_opts_bad("--geqo", "-- without =");
	check_opts_bad("-x", "unknown switch");
	check_opts_bad("geqo=off", "bare setting");
	check_opts_bad("-c =off", "empty name");

	memset(big, ' ', sizeof(big));
	memcpy(big, "-c a=b", 6);
	big[1025] = '\0';
	check_opts_bad(big, "longer than 1024 bytes");
	big[1024] = '\0';
	check_opts(big, "[a=b]", "exactly 1024 bytes");

	ok(!proto_parse_options("-c a=1 -c work_mem=1 -c b=2", opt_cb, &log, err, sizeof(err)),
	   "callback refusal stops parsing");
	is_int(2, log.count, "no callbacks after a refusal");
}

/* ---- varcache ----------------------------------------------------------- */

static void test_varcache_basics(void)
{
	VarCache a = { { NULL } }, b = { { NULL } };

	is_int(VAR_DATESTYLE, varcache_lookup("datestyle"), "lookup ignores case");
	is_int(VAR_TIMEZONE, varcache_lookup("TIMEZONE"), "lookup TimeZone");
	is_int(VAR_COUNT, varcache_lookup("work_mem"), "untracked name");
	is_str("DateStyle", varcache_name(VAR_DATESTYLE), "canonical name");
	is_str("standard_conforming_strings", varcache_name(VAR_STD_STRINGS), "std strings name");
	ok(varcache_name(VAR_COUNT) == NULL, "no name for VAR_COUNT");

	ok(varcache_set(&a, VAR_TIMEZONE, "UTC"), "set");
	ok(varcache_set(&a, VAR_TIMEZONE, "Europe/Oslo"), "replace");
	is_str("Europe/Oslo", a.val[VAR_TIMEZONE], "replaced value");
	ok(varcache_set(&a, VAR_TIMEZONE, a.val[VAR_TIMEZONE]), "set to own value");
	ok(varcache_set_by_name(&a, "Application_Name", "app"), "set by name");
	ok(!varcache_set_by_name(&a, "work_mem", "1MB"), "set by untracked name");
	ok(varcache_set(&a, VAR_APPLICATION_NAME, NULL) && a.val[VAR_APPLICATION_NAME] == NULL,
	   "set NULL clears");

	varcache_set(&b, VAR_SEARCH_PATH, "x");
	varcache_copy(&b, &a);
	ok(b.val[VAR_TIMEZONE] == a.val[VAR_TIMEZONE] && strcmp(b.val[VAR_TIMEZONE], "Europe/Oslo") == 0,
	   "copy shares the pooled values");
	ok(b.val[VAR_SEARCH_PATH] == NULL, "copy clears values src lacks");
	varcache_clear(&a);
	ok(a.val[VAR_TIMEZONE] == NULL, "clear");
	is_str("Europe/Oslo", b.val[VAR_TIMEZONE], "copy independent of source");
	varcache_clear(&b);
	is_int(0, (int)strpool_count(), "every pooled value given back");
}

static void test_strpool(void)
{
	const char *a = strpool_get("abc"), *b = strpool_get("abc");
	const char *c = strpool_get_len("abcdef", 3), *d = strpool_get("abd");
	char many[64][8];
	const char *m[64];

	ok(a && a == b && a == c, "equal strings share one copy");
	ok(d && d != a && strcmp(d, "abd") == 0, "different strings differ");
	is_int(2, (int)strpool_count(), "two distinct strings");
	strpool_put(a);
	strpool_put(b);
	is_str("abc", c, "alive while referenced");
	ok(strpool_ref(c) == c, "ref returns the same pointer");
	strpool_put(c);
	strpool_put(c);
	strpool_put(d);
	strpool_put(strpool_empty);
	strpool_put(NULL);
	is_int(0, (int)strpool_count(), "freed at the last reference");
	for (int i = 0; i < 64; i++) {
		snprintf(many[i], sizeof(many[i]), "s%d", i);
		m[i] = strpool_get(many[i]);
	}
	ok(strpool_count() == 64 && strpool_get("s40") == m[40], "found after the table grew");
	strpool_put(m[40]);
	for (int i = 0; i < 64; i++)
		strpool_put(m[i]);
	is_int(0, (int)strpool_count(), "all given back");
}

/* A buffer of exactly the needed size works; one byte less does not. */
static void check_exact_fit(const VarCache *cl, const VarCache *sv, int n)
{
	char *exact = malloc((size_t)n + 1);

	if (!exact)
		bail("out of memory");
	is_int(n, varcache_diff_sql(cl, sv, exact, (size_t)n + 1), "exact-fit buffer");
	is_int(-1, varcache_diff_sql(cl, sv, exact, (size_t)n), "one byte short");
	free(exact);
}

static void test_varcache_diff(void)
{
	VarCache cl = { { NULL } }, sv = { { NULL } };
	char buf[256], small[16];
	int n;

	n = varcache_diff_sql(&cl, &sv, buf, sizeof(buf));
	ok(n == 0 && buf[0] == '\0', "nothing to do: 0 and empty string");

	varcache_set(&cl, VAR_DATESTYLE, "ISO, MDY");
	varcache_set(&sv, VAR_DATESTYLE, "ISO, MDY");
	varcache_set(&sv, VAR_TIMEZONE, "UTC");         /* server-only: ignored */
	is_int(0, varcache_diff_sql(&cl, &sv, buf, sizeof(buf)), "equal values need nothing");

	varcache_set(&cl, VAR_CLIENT_ENCODING, "UTF8");
	varcache_set(&cl, VAR_APPLICATION_NAME, "it's");
	varcache_set(&cl, VAR_STD_STRINGS, "on");
	varcache_set(&sv, VAR_STD_STRINGS, "off");
	n = varcache_diff_sql(&cl, &sv, buf, sizeof(buf));
	is_str("SET client_encoding='UTF8';SET standard_conforming_strings='on';"
	       "SET application_name='it''s';", buf, "diff SQL with quote doubling");
	is_int((long long)strlen(buf), n, "returns the length");

	varcache_clear(&cl);
	varcache_set(&cl, VAR_SEARCH_PATH, "a\\b'c");
	n = varcache_diff_sql(&cl, &sv, buf, sizeof(buf));
	is_str("SET search_path=E'a\\\\b''c';", buf, "backslash uses E'' and doubles");

	small[sizeof(small) - 1] = 'Z';
	is_int(-1, varcache_diff_sql(&cl, &sv, small, sizeof(small) - 1), "too small buffer");
	ok(small[0] == '\0' && small[sizeof(small) - 1] == 'Z', "no overflow, empty string");
	n = (int)strlen(buf);
	is_int(-1, varcache_diff_sql(&cl, &sv, small, 0), "zero-length buffer with work");
	check_exact_fit(&cl, &sv, n);
	varcache_clear(&cl);
	varcache_clear(&sv);
}

/* ---- randomized robustness ---------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* A valid packet, then a few random edits. */
static size_t make_mutant(uint8_t *dst, size_t cap)
{
	static const char *const kv[] = {
		"user", "u", "database", "d", "options", "-c a=b", "x", "", NULL };
	uint8_t stack[128];
	PktBuf p;
	size_t n;
	int edits = (int)(rnd() % 4);

	pkt_init(&p, stack, sizeof(stack));
	if (rnd() % 8 == 0)
		pkt_cancel_request(&p, rnd(), rnd());
	else
		pkt_startup(&p, kv);
	n = p.len < cap ? p.len : cap;
	memcpy(dst, p.buf, n);
	pkt_free(&p);
	for (int i = 0; i < edits; i++) {
		switch (rnd() % 4) {
		case 0:
			dst[rnd() % n] = (uint8_t)rnd();
			break;
		case 1:
			dst[rnd() % n] = 0;
			break;
		case 2:
			if (n > 1)
				n -= 1 + rnd() % (n - 1);
			break;
		default:
			while (n < cap && rnd() % 3)
				dst[n++] = (uint8_t)(rnd() % 3 ? 0 : rnd());
			break;
		}
	}
	if (rnd() % 2 && n >= 4) {       /* usually keep the length word honest */
		dst[0] = (uint8_t)(n >> 24);
		dst[1] = (uint8_t)(n >> 16);
		dst[2] = (uint8_t)(n >> 8);
		dst[3] = (uint8_t)n;
	}
	return n;
}

static size_t make_random(uint8_t *dst, size_t cap)
{
	size_t n = rnd() % cap;

	for (size_t i = 0; i < n; i++)
		dst[i] = (uint8_t)(rnd() % 4 ? rnd() % 4 : rnd());
	return n;
}

/* Every string the parser returned must lie inside the packet. */
static bool inside(const char *s, const uint8_t *pkt, size_t len)
{
	const uint8_t *u = (const uint8_t *)s;

	return u >= pkt + 8 && u < pkt + len && memchr(u, 0, (size_t)(pkt + len - u)) != NULL;
}

static bool startup_sane(const StartupInfo *si, const uint8_t *pkt, size_t len)
{
	if (si->nparams < 0 || si->nparams > STARTUP_MAX_PARAMS || !si->user)
		return false;
	for (int i = 0; i < si->nparams; i++) {
		if (!inside(si->names[i], pkt, len) || !inside(si->values[i], pkt, len))
			return false;
	}
	return true;
}

static int fuzz_kinds[STARTUP_BAD_VERSION + 1];

static bool fuzz_one_startup(void)
{
	uint8_t tmp[256], *pkt;
	char err[128];
	StartupInfo si;
	size_t n = rnd() % 3 ? make_mutant(tmp, sizeof(tmp)) : make_random(tmp, sizeof(tmp));
	StartupKind k;
	bool sane = true;

	pkt = malloc(n ? n : 1);
	if (!pkt)
		bail("out of memory");
	memcpy(pkt, tmp, n);
	k = proto_parse_startup(pkt, n, &si, err, sizeof(err));
	if ((int)k < 0 || k > STARTUP_BAD_VERSION) {
		free(pkt);
		return false;
	}
	fuzz_kinds[k]++;
	if (k == STARTUP_V3)
		sane = startup_sane(&si, pkt, n);
	else if (k == STARTUP_BAD || k == STARTUP_BAD_VERSION)
		sane = memchr(err, 0, sizeof(err)) != NULL && err[0] != '\0';
	free(pkt);
	return sane;
}

static bool never_cb(void *arg, const char *name, const char *value)
{
	return name[0] != '\0' && strchr(name, '=') == NULL && value != NULL;
}

static void fuzz_other_parsers(void)
{
	static const char alphabet[] = "-c=\\ \tab-xSVCMD";
	uint8_t tmp[64], *body;
	char opts[64], err[128];
	ErrorFields ef;
	size_t n = make_random(tmp, sizeof(tmp)), k;

	body = malloc(n ? n : 1);
	if (!body)
		bail("out of memory");
	memcpy(body, tmp, n);
	(void)proto_parse_error(body, n, &ef);
	free(body);

	k = rnd() % (sizeof(opts) - 1);
	for (size_t i = 0; i < k; i++)
		opts[i] = alphabet[rnd() % (sizeof(alphabet) - 1)];
	opts[k] = '\0';
	(void)proto_parse_options(opts, never_cb, NULL, err, sizeof(err));
}

static void test_fuzz(void)
{
	int insane = 0;

	for (int i = 0; i < 20000; i++) {
		if (!fuzz_one_startup())
			insane++;
		if (i % 4 == 0)
			fuzz_other_parsers();
	}
	is_int(0, insane, "20000 mutated startup packets: no crash, sane results");
	diag("fuzz results: bad %d, v3 %d, ssl %d, gssenc %d, cancel %d, bad version %d",
	     fuzz_kinds[STARTUP_BAD], fuzz_kinds[STARTUP_V3], fuzz_kinds[STARTUP_SSL],
	     fuzz_kinds[STARTUP_GSSENC], fuzz_kinds[STARTUP_CANCEL], fuzz_kinds[STARTUP_BAD_VERSION]);
	ok(fuzz_kinds[STARTUP_V3] > 0 && fuzz_kinds[STARTUP_BAD] > 0 && fuzz_kinds[STARTUP_CANCEL] > 0,
	   "the fuzz loop reaches good, bad and cancel packets");
}

int main(void)
{
	plan_lazy();
	test_simple_builders();
	test_error_builders();
	test_auth_builders();
	test_untyped_builders();
	test_row_builders();
	test_growth();
	test_reader();
	test_startup_good();
	test_startup_version();
	test_startup_bad();
	test_parse_error();
	test_options();
	test_varcache_basics();
	test_strpool();
	test_varcache_diff();
	test_fuzz();
	return exit_status();
}
