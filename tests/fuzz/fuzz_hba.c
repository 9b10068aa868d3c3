/*
 * fuzz_hba.c - libFuzzer target for the auth_hba_file parser and matcher
 * (core/hba.c).
 *
 * The input is parsed as an hba file (not NUL-terminated: ASan catches a
 * read past `len`; @file is refused, so nothing outside the input is
 * read).  A failed parse must leave a "NAME:LINE: ..." message; a parsed
 * one is matched against a few fixed connections (IPv4, IPv6, mapped,
 * Unix socket, TLS or not), which must give a known method, then freed
 * (LeakSanitizer checks both paths).
 */
#include "hba.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>

static void probe(const Hba *h, const char *addr, bool tls, const char *db, const char *user)
{
	struct sockaddr_storage ss;
	HbaQuery q;
	HbaMethod m;
	int line = -1;

	memset(&ss, 0, sizeof(ss));
	memset(&q, 0, sizeof(q));
	if (addr) {
		if (strchr(addr, ':')) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
			s6->sin6_family = AF_INET6;
			(void)inet_pton(AF_INET6, addr, &s6->sin6_addr);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
			s4->sin_family = AF_INET;
			(void)inet_pton(AF_INET, addr, &s4->sin_addr);
		}
		q.addr = (struct sockaddr *)&ss;
	}
	q.tls = tls;
	q.database = db;
	q.user = user;
	m = hba_match(h, &q, &line);
	if ((int)m < HBA_REJECT || m > HBA_PEER || line < 0 || (line == 0 && m != HBA_REJECT))
		abort();
	if (strcmp(hba_method_name(m), "?") == 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size ? size : 1);
	char err[512];
	Hba *h = NULL;

	if (!copy)
		return 0;
	memcpy(copy, data, size);     /* an exact-size buffer: no NUL after it */
	err[0] = '\0';
	if (!hba_parse(copy, size, "fuzz", NULL, &h, err, sizeof(err))) {
		if (strncmp(err, "fuzz:", 5) != 0)
			abort();
		free(copy);
		return 0;
	}
	probe(h, "127.0.0.1", false, "db", "user");
	probe(h, "10.1.2.3", true, "all", "all");
	probe(h, "::1", false, "user", "user");
	probe(h, "::ffff:192.168.0.1", true, "db", "x");
	probe(h, NULL, false, "replication", "postgres");
	hba_free(h);
	free(copy);
	return 0;
}
