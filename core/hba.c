/*
 * hba.c - parse and match the auth_hba_file (pg_hba.conf subset).
 *
 * A file becomes an array of rules in file order.  Each line is split
 * into fields (whitespace separated); a field is a comma list of tokens,
 * and a "quoted" token is a plain name even if it spells a keyword
 * ("all" in quotes is a role called all).  @file tokens are replaced by
 * the names in that file.  Every error names the file and line, and the
 * whole load fails: the caller keeps the rules it had (RELOAD) or refuses
 * to start.
 *
 * Matching walks the rules in order; the first whose connection type,
 * database, user and address match gives the method.  IPv4 rules also
 * match IPv4-mapped IPv6 clients (::ffff:a.b.c.d), as in PostgreSQL.
 */
#include "hba.h"

#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#define HBA_FILE_MAX (4 * 1024 * 1024)  /* bytes of an hba or @file */
#define HBA_LINE_MAX 8192
#define HBA_FIELDS_MAX 16
#define HBA_NAME_MAX 64                 /* NAMEDATALEN */

typedef enum HbaConn {
	HBA_CONN_LOCAL,
	HBA_CONN_HOST,
	HBA_CONN_HOSTSSL,
	HBA_CONN_HOSTNOSSL,
} HbaConn;

typedef enum HbaAddrKind {
	HBA_ADDR_NONE,                /* local rule */
	HBA_ADDR_ALL,
	HBA_ADDR_SAMEHOST,
	HBA_ADDR_MASK,                /* family + addr/mask */
} HbaAddrKind;

#define HBA_KW_ALL 1u
#define HBA_KW_SAMEUSER 2u
#define HBA_KW_REPLICATION 4u

/* A database or user field: keywords plus literal names. */
typedef struct HbaNames {
	unsigned kw;                  /* HBA_KW_* */
	char **names;                 /* owned */
	int n, cap;
} HbaNames;

typedef struct HbaRule {
	HbaConn conn;
	HbaNames db, user;
	HbaAddrKind addr_kind;
	int family;                   /* AF_INET / AF_INET6 for HBA_ADDR_MASK */
	uint8_t addr[16], mask[16];
	HbaMethod method;
	int line;
} HbaRule;

struct Hba {
	HbaRule *rules;
	int n, cap;
};

/* One token of a field. */
typedef struct HbaTok {
	char text[HBA_NAME_MAX * 4];
	bool quoted;
} HbaTok;

/* One field: a comma list of tokens. */
typedef struct HbaField {
	HbaTok *toks;
	int n, cap;
} HbaField;

typedef struct HbaCtx {
	const char *name;             /* file name for messages */
	const char *dir;              /* @file base, NULL = refused */
	int line;
	char *err;
	size_t errlen;
} HbaCtx;

static bool hba_fail(HbaCtx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static bool hba_names_add(HbaCtx *x, HbaNames *nm, const char *s);
static bool hba_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen);

/* ---- helpers ------------------------------------------------------------ */

static bool hba_fail(HbaCtx *x, const char *fmt, ...)
{
	char msg[384];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (x->err && x->errlen)
		snprintf(x->err, x->errlen, "%s:%d: %s", x->name, x->line, msg);
	return false;
}

static void hba_names_free(HbaNames *nm)
{
	for (int i = 0; i < nm->n; i++)
		free(nm->names[i]);
	free(nm->names);
	memset(nm, 0, sizeof(*nm));
}

static void hba_field_free(HbaField *f)
{
	free(f->toks);
	memset(f, 0, sizeof(*f));
}

void hba_free(Hba *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->n; i++) {
		hba_names_free(&h->rules[i].db);
		hba_names_free(&h->rules[i].user);
	}
	free(h->rules);
	free(h);
}

int hba_rule_count(const Hba *h)
{
	return h ? h->n : 0;
}

const char *hba_method_name(HbaMethod m)
{
	switch (m) {
	case HBA_TRUST: return "trust";
	case HBA_REJECT: return "reject";
	case HBA_PASSWORD: return "password";
	case HBA_MD5: return "md5";
	case HBA_SCRAM: return "scram-sha-256";
	case HBA_CERT: return "cert";
	case HBA_PEER: return "peer";
	}
	return "?";
}

/* ---- tokenizer ------------------------------------------------------------ */

static bool hba_field_push(HbaCtx *x, HbaField *f, const HbaTok *t)
{
	if (f->n == f->cap) {
		int ncap = f->cap ? f->cap * 2 : 4;
		HbaTok *nt = realloc(f->toks, (size_t)ncap * sizeof(*nt));
		if (!nt)
			return hba_fail(x, "out of memory");
		f->toks = nt;
		f->cap = ncap;
	}
	f->toks[f->n++] = *t;
	return true;
}

/* Read one token at *p (not at whitespace); quotes may appear anywhere in
 * it, "" inside quotes is a quote. */
static bool hba_token(HbaCtx *x, const char **p, HbaTok *t)
{
	const char *s = *p;
	size_t o = 0;
	bool inq = false;

	memset(t, 0, sizeof(*t));
	while (*s) {
		if (inq) {
			if (*s == '"' && s[1] == '"') {
				s++;
			} else if (*s == '"') {
				inq = false;
				s++;
				continue;
			}
		} else {
			if (isspace((unsigned char)*s) || *s == ',' || *s == '#')
				break;
			if (*s == '"') {
				inq = t->quoted = true;
				s++;
				continue;
			}
		}
		if (o + 1 >= sizeof(t->text))
			return hba_fail(x, "token too long");
		t->text[o++] = *s++;
	}
	if (inq)
		return hba_fail(x, "unterminated quoted string");
	t->text[o] = '\0';
	*p = s;
	return true;
}

/* Split a line into fields.  Returns false on error; *nf = 0 for a blank
 * or comment line. */
static bool hba_split(HbaCtx *x, const char *line, HbaField *fields, int *nf)
{
	const char *p = line;
	HbaTok t;

	*nf = 0;
	for (;;) {
		HbaField *f;
		while (isspace((unsigned char)*p))
			p++;
		if (!*p || *p == '#')
			return true;
		if (*nf == HBA_FIELDS_MAX)
			return hba_fail(x, "too many fields");
		f = &fields[(*nf)++];
		for (;;) {
			if (*p == ',')
				return hba_fail(x, "empty item in a comma-separated list");
			if (!hba_token(x, &p, &t) || !hba_field_push(x, f, &t))
				return false;
			if (*p != ',')
				break;
			p++;
			while (isspace((unsigned char)*p))
				p++;
			if (!*p || *p == '#')
				return hba_fail(x, "comma-separated list ends with a comma");
		}
	}
}

/* ---- database and user fields -------------------------------------------- */

static bool hba_names_add(HbaCtx *x, HbaNames *nm, const char *s)
{
	char *d;

	if (strlen(s) >= HBA_NAME_MAX)
		return hba_fail(x, "name \"%.40s...\" is too long", s);
	if (nm->n == nm->cap) {
		int ncap = nm->cap ? nm->cap * 2 : 4;
		char **nn = realloc(nm->names, (size_t)ncap * sizeof(*nn));
		if (!nn)
			return hba_fail(x, "out of memory");
		nm->names = nn;
		nm->cap = ncap;
	}
	d = strdup(s);
	if (!d)
		return hba_fail(x, "out of memory");
	nm->names[nm->n++] = d;
	return true;
}

/* @file: names separated by whitespace or commas, '#' comments. */
static bool hba_include(HbaCtx *x, HbaNames *nm, const char *fname)
{
	char path[4096], ierr[256];
	char *buf = NULL, *q;
	size_t len = 0;
	HbaTok t;
	bool ok = true;

	if (!x->dir)
		return hba_fail(x, "@file is not allowed here");
	if (!fname[0])
		return hba_fail(x, "@ without a file name");
	if ((size_t)snprintf(path, sizeof(path), "%s%s%s", fname[0] == '/' ? "" : x->dir,
	                     fname[0] == '/' ? "" : "/", fname) >= sizeof(path))
		return hba_fail(x, "@%s: path too long", fname);
	if (!hba_read_file(path, &buf, &len, ierr, sizeof(ierr)))
		return hba_fail(x, "@%s: %s", fname, ierr);
	for (q = buf; ok && *q;) {
		const char *p;
		while (*q && (isspace((unsigned char)*q) || *q == ','))
			q++;
		if (*q == '#') {
			while (*q && *q != '\n')
				q++;
			continue;
		}
		if (!*q)
			break;
		p = q;
		ok = hba_token(x, &p, &t);
		if (ok && !t.quoted && t.text[0] == '@')
			ok = hba_fail(x, "@%s: nested @file is not supported", fname);
		else if (ok && !t.text[0])
			ok = hba_fail(x, "@%s: empty name", fname);
		else if (ok)
			ok = hba_names_add(x, nm, t.text);
		q = (char *)p;
	}
	free(buf);
	return ok;
}

static bool hba_names(HbaCtx *x, const HbaField *f, HbaNames *nm, bool is_db)
{
	for (int i = 0; i < f->n; i++) {
		const HbaTok *t = &f->toks[i];
		const char *s = t->text;
		if (t->quoted) {
			if (!hba_names_add(x, nm, s))
				return false;
		} else if (strcmp(s, "all") == 0) {
			nm->kw |= HBA_KW_ALL;
		} else if (is_db && strcmp(s, "sameuser") == 0) {
			nm->kw |= HBA_KW_SAMEUSER;
		} else if (is_db && strcmp(s, "replication") == 0) {
			nm->kw |= HBA_KW_REPLICATION;
		} else if (is_db && (strcmp(s, "samerole") == 0 || strcmp(s, "samegroup") == 0)) {
			return hba_fail(x, "database keyword \"%s\" is not supported (lagoon does not know roles)", s);
		} else if (!is_db && s[0] == '+') {
			return hba_fail(x, "group membership (\"%s\") is not supported", s);
		} else if (s[0] == '@') {
			if (!hba_include(x, nm, s + 1))
				return false;
		} else if (s[0] == '/') {
			return hba_fail(x, "regular expressions (\"%s\") are not supported", s);
		} else if (!s[0]) {
			return hba_fail(x, "empty %s name", is_db ? "database" : "user");
		} else if (!hba_names_add(x, nm, s)) {
			return false;
		}
	}
	return true;
}

/* ---- addresses ------------------------------------------------------------ */

static bool hba_parse_ip(const char *s, int *family, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1) {
		*family = AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		*family = AF_INET6;
		return true;
	}
	return false;
}

static void hba_prefix_mask(int bits, uint8_t mask[16])
{
	memset(mask, 0, 16);
	for (int i = 0; i < bits; i++)
		mask[i / 8] |= (uint8_t)(0x80 >> (i % 8));
}

/* The address field (and a netmask field after it); *used = fields taken. */
static bool hba_address(HbaCtx *x, HbaRule *r, const HbaField *f, const HbaField *next, int *used)
{
	char a[HBA_NAME_MAX * 4];
	char *slash, *end;
	int mfam;

	*used = 1;
	if (f->n != 1)
		return hba_fail(x, "an address field cannot be a list");
	snprintf(a, sizeof(a), "%s", f->toks[0].text);
	if (!f->toks[0].quoted && strcmp(a, "all") == 0) {
		r->addr_kind = HBA_ADDR_ALL;
		return true;
	}
	if (!f->toks[0].quoted && strcmp(a, "samehost") == 0) {
		r->addr_kind = HBA_ADDR_SAMEHOST;
		return true;
	}
	if (!f->toks[0].quoted && strcmp(a, "samenet") == 0)
		return hba_fail(x, "address \"samenet\" is not supported; write the network as an address/mask");
	r->addr_kind = HBA_ADDR_MASK;
	slash = strchr(a, '/');
	if (slash) {
		long bits;
		*slash = '\0';
		if (!hba_parse_ip(a, &r->family, r->addr))
			return hba_fail(x, "invalid IP address \"%s\" (host names are not supported)", a);
		errno = 0;
		bits = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || bits < 0 || bits > (r->family == AF_INET ? 32 : 128))
			return hba_fail(x, "invalid CIDR mask in address \"%s/%s\"", a, slash + 1);
		hba_prefix_mask((int)bits, r->mask);
	} else {
		if (!hba_parse_ip(a, &r->family, r->addr))
			return hba_fail(x, "invalid IP address \"%s\" (host names are not supported)", a);
		if (!next || next->n != 1)
			return hba_fail(x, "IP address \"%s\" needs a /mask or a netmask field", a);
		if (!hba_parse_ip(next->toks[0].text, &mfam, r->mask))
			return hba_fail(x, "address \"%s\" needs a /mask or a netmask; \"%s\" is neither",
			                a, next->toks[0].text);
		if (mfam != r->family)
			return hba_fail(x, "IP address and mask \"%s\" do not match in family", next->toks[0].text);
		*used = 2;
	}
	for (int i = 0; i < 16; i++)
		r->addr[i] &= r->mask[i];
	return true;
}

/* ---- rules ------------------------------------------------------------ */

static bool hba_method(HbaCtx *x, HbaRule *r, const HbaField *f)
{
	static const struct { const char *name; HbaMethod m; } methods[] = {
		{ "trust", HBA_TRUST }, { "reject", HBA_REJECT }, { "password", HBA_PASSWORD },
		{ "md5", HBA_MD5 }, { "scram-sha-256", HBA_SCRAM }, { "cert", HBA_CERT },
		{ "peer", HBA_PEER },
	};
	const char *s;

	if (f->n != 1)
		return hba_fail(x, "the authentication method cannot be a list");
	s = f->toks[0].text;
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		if (strcmp(s, methods[i].name) == 0) {
			r->method = methods[i].m;
			if (r->method == HBA_PEER && r->conn != HBA_CONN_LOCAL)
				return hba_fail(x, "peer authentication is only supported on local sockets");
			if (r->method == HBA_CERT && r->conn != HBA_CONN_HOSTSSL)
				return hba_fail(x, "cert authentication is only supported on hostssl connections");
			return true;
		}
	}
	return hba_fail(x, "authentication method \"%s\" is not supported (trust, reject, password, "
	                "md5, scram-sha-256, cert, peer)", s);
}

static bool hba_conn_type(HbaCtx *x, HbaRule *r, const HbaField *f)
{
	const char *s = f->toks[0].text;

	if (f->n != 1)
		return hba_fail(x, "the connection type cannot be a list");
	if (strcmp(s, "local") == 0)
		r->conn = HBA_CONN_LOCAL;
	else if (strcmp(s, "host") == 0)
		r->conn = HBA_CONN_HOST;
	else if (strcmp(s, "hostssl") == 0)
		r->conn = HBA_CONN_HOSTSSL;
	else if (strcmp(s, "hostnossl") == 0)
		r->conn = HBA_CONN_HOSTNOSSL;
	else if (strcmp(s, "hostgssenc") == 0 || strcmp(s, "hostnogssenc") == 0)
		return hba_fail(x, "connection type \"%s\" is not supported (no GSSAPI)", s);
	else if (strcmp(s, "include") == 0 || strcmp(s, "include_if_exists") == 0 ||
	         strcmp(s, "include_dir") == 0)
		return hba_fail(x, "\"%s\" is not supported", s);
	else
		return hba_fail(x, "invalid connection type \"%s\"", s);
	return true;
}

static bool hba_rule(HbaCtx *x, Hba *h, HbaField *f, int nf)
{
	HbaRule r;
	int i = 3, used = 0;

	memset(&r, 0, sizeof(r));
	r.line = x->line;
	if (!hba_conn_type(x, &r, &f[0]))
		return false;
	if (nf < (r.conn == HBA_CONN_LOCAL ? 4 : 5))
		return hba_fail(x, "end-of-line before the authentication method");
	if (!hba_names(x, &f[1], &r.db, true) || !hba_names(x, &f[2], &r.user, false))
		goto bad;
	if (r.conn != HBA_CONN_LOCAL) {
		if (!hba_address(x, &r, &f[3], i + 1 < nf ? &f[4] : NULL, &used))
			goto bad;
		i += used;
		if (i >= nf) {
			hba_fail(x, "end-of-line before the authentication method");
			goto bad;
		}
	}
	if (!hba_method(x, &r, &f[i]))
		goto bad;
	if (i + 1 < nf) {
		hba_fail(x, "authentication option \"%s\" is not supported", f[i + 1].toks[0].text);
		goto bad;
	}
	if (h->n == h->cap) {
		int ncap = h->cap ? h->cap * 2 : 8;
		HbaRule *nr = realloc(h->rules, (size_t)ncap * sizeof(*nr));
		if (!nr) {
			hba_fail(x, "out of memory");
			goto bad;
		}
		h->rules = nr;
		h->cap = ncap;
	}
	h->rules[h->n++] = r;
	return true;
bad:
	hba_names_free(&r.db);
	hba_names_free(&r.user);
	return false;
}

/* One logical line (continuations already joined). */
static bool hba_line(HbaCtx *x, Hba *h, const char *line)
{
	HbaField fields[HBA_FIELDS_MAX];
	int nf = 0;
	bool ok;

	memset(fields, 0, sizeof(fields));
	ok = hba_split(x, line, fields, &nf);
	if (ok && nf > 0)
		ok = hba_rule(x, h, fields, nf);
	for (int i = 0; i < HBA_FIELDS_MAX; i++)
		hba_field_free(&fields[i]);
	return ok;
}

bool hba_parse(const char *text, size_t len, const char *name, const char *dir,
               Hba **out, char *err, size_t errlen)
{
	HbaCtx x = { name ? name : "hba", dir, 0, err, errlen };
	Hba *h = calloc(1, sizeof(*h));
	char line[HBA_LINE_MAX];
	size_t pos = 0, o = 0;
	int phys = 0, start = 1;      /* physical line count; first line of this rule */

	if (!h)
		return hba_fail(&x, "out of memory");
	while (pos <= len) {
		char ch = pos < len ? text[pos] : '\n';
		pos++;
		x.line = phys + 1;
		if (ch == '\0') {
			hba_free(h);
			return hba_fail(&x, "NUL byte in the file");
		}
		if (ch == '\r')
			continue;
		if (ch != '\n') {
			if (o + 1 >= sizeof(line)) {
				hba_free(h);
				return hba_fail(&x, "line too long");
			}
			line[o++] = ch;
			continue;
		}
		phys++;
		if (o > 0 && line[o - 1] == '\\' && pos <= len) {
			o--;               /* continuation: join with the next line */
			continue;
		}
		line[o] = '\0';
		x.line = start;
		if (!hba_line(&x, h, line)) {
			hba_free(h);
			return false;
		}
		o = 0;
		start = phys + 1;
	}
	*out = h;
	return true;
}

/* ---- files ------------------------------------------------------------ */

static bool hba_read_file(const char *path, char **buf, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char *b = NULL;
	size_t n = 0, cap = 0;

	if (!f) {
		snprintf(err, errlen, "cannot open: %s", strerror(errno));
		return false;
	}
	for (;;) {
		size_t r;
		if (cap - n < 4096) {
			char *nb;
			if (cap >= HBA_FILE_MAX) {
				snprintf(err, errlen, "file too large");
				free(b);
				fclose(f);
				return false;
			}
			nb = realloc(b, cap + 65536 + 1);
			if (!nb) {
				snprintf(err, errlen, "out of memory");
				free(b);
				fclose(f);
				return false;
			}
			b = nb;
			cap += 65536;
		}
		r = fread(b + n, 1, cap - n, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		snprintf(err, errlen, "read error: %s", strerror(errno));
		free(b);
		fclose(f);
		return false;
	}
	fclose(f);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return true;
}

bool hba_load(const char *path, Hba **out, char *err, size_t errlen)
{
	char *buf = NULL, *dir, *slash, ierr[256];
	size_t len = 0;
	bool ok;

	if (!hba_read_file(path, &buf, &len, ierr, sizeof(ierr))) {
		snprintf(err, errlen, "%s: %s", path, ierr);
		return false;
	}
	dir = strdup(path);
	if (!dir) {
		free(buf);
		snprintf(err, errlen, "out of memory");
		return false;
	}
	slash = strrchr(dir, '/');
	if (slash)
		slash == dir ? (void)(slash[1] = '\0') : (void)(*slash = '\0');
	else
		strcpy(dir, ".");
	ok = hba_parse(buf, len, path, dir, out, err, errlen);
	free(dir);
	free(buf);
	return ok;
}

/* ---- matching ------------------------------------------------------------ */

static bool hba_name_in(const HbaNames *nm, const char *name)
{
	for (int i = 0; i < nm->n; i++)
		if (strcmp(nm->names[i], name) == 0)
			return true;
	return false;
}

static bool hba_db_match(const HbaNames *nm, const HbaQuery *q)
{
	if (q->replication)
		return (nm->kw & HBA_KW_REPLICATION) != 0;
	if (nm->kw & HBA_KW_ALL)
		return true;
	if ((nm->kw & HBA_KW_SAMEUSER) && strcmp(q->database, q->user) == 0)
		return true;
	return hba_name_in(nm, q->database);
}

static bool hba_user_match(const HbaNames *nm, const HbaQuery *q)
{
	return (nm->kw & HBA_KW_ALL) || hba_name_in(nm, q->user);
}

/* The client's address as (family, 16 bytes); IPv4-mapped IPv6 yields
 * both views. */
typedef struct HbaAddr {
	int family;
	uint8_t a[16];
	bool mapped;                  /* family AF_INET6 and ::ffff:a.b.c.d */
	uint8_t v4[16];
} HbaAddr;

static bool hba_addr_of(const struct sockaddr *sa, HbaAddr *out)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->a, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		out->family = AF_INET6;
		memcpy(out->a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		if (memcmp(out->a, prefix, 12) == 0) {
			out->mapped = true;
			memcpy(out->v4, out->a + 12, 4);
		}
		return true;
	}
	return false;
}

static bool hba_masked_eq(const uint8_t *a, const uint8_t *net, const uint8_t *mask, int n)
{
	for (int i = 0; i < n; i++)
		if ((a[i] & mask[i]) != net[i])
			return false;
	return true;
}

static bool hba_samehost(const HbaAddr *ca)
{
	struct ifaddrs *ifs, *i;
	bool found = false;

	if (getifaddrs(&ifs) != 0)
		return false;
	for (i = ifs; i && !found; i = i->ifa_next) {
		HbaAddr ia;
		if (!i->ifa_addr || !hba_addr_of(i->ifa_addr, &ia))
			continue;
		if (ia.family == ca->family)
			found = memcmp(ia.a, ca->a, ia.family == AF_INET ? 4 : 16) == 0;
		else if (ia.family == AF_INET && ca->mapped)
			found = memcmp(ia.a, ca->v4, 4) == 0;
	}
	freeifaddrs(ifs);
	return found;
}

static bool hba_addr_match(const HbaRule *r, const HbaAddr *ca)
{
	switch (r->addr_kind) {
	case HBA_ADDR_ALL:
		return true;
	case HBA_ADDR_SAMEHOST:
		return hba_samehost(ca);
	case HBA_ADDR_MASK:
		if (r->family == AF_INET && ca->family == AF_INET)
			return hba_masked_eq(ca->a, r->addr, r->mask, 4);
		if (r->family == AF_INET && ca->mapped)
			return hba_masked_eq(ca->v4, r->addr, r->mask, 4);
		if (r->family == AF_INET6 && ca->family == AF_INET6)
			return hba_masked_eq(ca->a, r->addr, r->mask, 16);
		return false;
	case HBA_ADDR_NONE:
		return false;
	}
	return false;
}

HbaMethod hba_match(const Hba *h, const HbaQuery *q, int *line)
{
	HbaAddr ca;
	bool have_addr = q->addr && hba_addr_of(q->addr, &ca);

	if (line)
		*line = 0;
	for (int i = 0; h && i < h->n; i++) {
		const HbaRule *r = &h->rules[i];
		if (r->conn == HBA_CONN_LOCAL) {
			if (q->addr)
				continue;
		} else {
			if (!have_addr)
				continue;
			if ((r->conn == HBA_CONN_HOSTSSL && !q->tls) || (r->conn == HBA_CONN_HOSTNOSSL && q->tls))
				continue;
			if (!hba_addr_match(r, &ca))
				continue;
		}
		if (!hba_db_match(&r->db, q) || !hba_user_match(&r->user, q))
			continue;
		if (line)
			*line = r->line;
		return r->method;
	}
	return HBA_REJECT;
}
