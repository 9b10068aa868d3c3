/*
 * hba.h - the auth_hba_file (PgBouncer's subset of pg_hba.conf).
 *
 * Pure parsing and matching, no sockets: the client state machine asks
 * hba_match() which method a connection must use.  The first rule that
 * matches (connection type, database, user, address) decides; no match
 * means reject.
 *
 * Grammar, one rule per line ('#' comments, a trailing '\' joins lines):
 *   local      DATABASE USER METHOD [OPTIONS]
 *   host       DATABASE USER ADDRESS METHOD [OPTIONS]
 *   hostssl    DATABASE USER ADDRESS METHOD [OPTIONS]
 *   hostnossl  DATABASE USER ADDRESS METHOD [OPTIONS]
 * DATABASE: comma list of names, "quoted names", all, sameuser,
 *           replication, @file.  USER: names, all, @file.
 * ADDRESS:  all, samehost, a.b.c.d/n, x:y::z/n, or an address followed by
 *           a netmask field.
 * METHOD:   trust, reject, password, md5, scram-sha-256, cert, peer.
 * Anything else (host names, +groups, samenet, map=, other methods) is an
 * error naming file and line: a rule lagoon would misread is never
 * silently weakened.
 */
#ifndef LAGOON_HBA_H
#define LAGOON_HBA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef enum HbaMethod {
	HBA_REJECT = 0,               /* also: no rule matched */
	HBA_TRUST,
	HBA_PASSWORD,
	HBA_MD5,
	HBA_SCRAM,
	HBA_CERT,
	HBA_PEER,
} HbaMethod;

typedef struct Hba Hba;           /* opaque; owns its rules */

/* One connection to classify.  addr is NULL for a Unix socket. */
typedef struct HbaQuery {
	const struct sockaddr *addr;  /* AF_INET / AF_INET6, or NULL = local */
	bool tls;                     /* the connection is encrypted */
	const char *database;
	const char *user;
	bool replication;             /* a replication connection */
} HbaQuery;

/* Read and parse an hba file.  @file names resolve relative to its
 * directory.  On failure *out is untouched and err says "FILE:LINE: ...". */
bool hba_load(const char *path, Hba **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Parse text (len bytes, need not be NUL-terminated).  name is used in
 * error messages; dir is where @file names resolve, NULL refuses @file. */
bool hba_parse(const char *text, size_t len, const char *name, const char *dir,
               Hba **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));

void hba_free(Hba *h);
int hba_rule_count(const Hba *h);

/* The method of the first matching rule; HBA_REJECT when none matches.
 * *line (if not NULL) gets the rule's line number, 0 = no rule matched. */
HbaMethod hba_match(const Hba *h, const HbaQuery *q, int *line);

/* "trust", "reject", ... */
const char *hba_method_name(HbaMethod m);

#endif
