/*
 * prepare.h - protocol-level named prepared statements in transaction
 * pooling (max_prepared_statements).
 *
 * A client's named statements must survive its moves between server
 * connections and backends.  Three maps:
 *
 *   registry (global)   one PrepStmt per distinct (query text, parameter
 *                       types): a unique id, the server-side name "_lg_<id>",
 *                       the classification made at Parse time (routing of
 *                       a Bind uses it), a reference count;
 *   client              the client's own name -> PrepStmt;
 *   server connection   which PrepStmts are prepared there, in LRU order,
 *                       bounded by max_prepared_statements.
 *
 * Client messages are rewritten in stream order (sbuf_rewrite): Parse and
 * Bind / Describe of a named statement use the server-side name, a Parse
 * is injected before a Bind or Describe when the server lacks the
 * statement, a Close of a named statement (and a Parse of a statement the
 * server already has) is answered by lagoon.  Each server connection keeps
 * a queue of the replies it owes, in order, so lagoon's own replies are
 * swallowed and its made-up ones (ParseComplete, CloseComplete) reach the
 * client exactly where the server's would have been.  An error makes the
 * server skip to Sync: the skipped requests' bookkeeping is undone, newest
 * first, as PostgreSQL never ran them.
 */
#ifndef LAGOON_PREPARE_H
#define LAGOON_PREPARE_H

#include "lagoon.h"
#include "classify.h"

/* The longest named Parse lagoon buffers whole to register (bigger: the
 * client gets a clear FATAL error). */
#define PREP_PARSE_MAX (1024 * 1024)

typedef struct PrepClient PrepClient;
typedef struct PrepServer PrepServer;

/* What the client side does with one message. */
typedef struct PrepOutcome {
	SBufAction act;        /* for sbuf; SBUF_STOP = the client was closed */
	bool to_server;        /* something went to the server: track msg->type */
	bool rewritten;        /* lagoon changed or answered it (no replay possible) */
} PrepOutcome;

/* At the client's welcome: track its statements if the pool mode and
 * max_prepared_statements ask for it.  false = out of memory. */
bool prep_client_start(Client *c) __attribute__((warn_unused_result));
void prep_client_free(Client *c);
void prep_server_free(Server *s);
/* The linked client is gone (or the server is handed to another): forget
 * the owed replies without touching the client's names. */
void prep_server_unlink(Server *s);
/* A query lagoon sent itself reset the server (DISCARD ALL ...)? */
void prep_server_reset_query(Server *s, const char *sql);

/* A message of c before it is linked: a Close of a statement or a SQL
 * DEALLOCATE of a tracked name is answered here.  true = handled (*act). */
bool prep_client_unlinked(Client *c, const SBufMsg *msg, SBufAction *act);
/* A message of c, linked to a ready server (c->prep set). */
PrepOutcome prep_client_msg(Client *c, const SBufMsg *msg);
/* A batch a replica refused (the client's own messages, back to back) is
 * replayed on c->link: translated for that server into out, and noted as
 * sent.  false = the client was closed or out of memory. */
bool prep_replay(Client *c, const uint8_t *buf, uint32_t len, PktBuf *out)
	__attribute__((warn_unused_result));

/* Routing of a transaction whose first message is msg (Bind or Describe of
 * a named statement): its stored classification and text.  NULL = not a
 * tracked statement (or more bytes are needed: *need_body). */
const ClassifyResult *prep_classification(Client *c, const SBufMsg *msg, const char **text,
                                          uint32_t *tlen, bool *need_body);
/* May the implicit transaction that msg (Parse, Bind or Describe) starts
 * write?  true when a later message of its batch (up to Sync) writes, or
 * when the batch is not all received yet (a pipeline sent piecemeal): it
 * then runs on the primary.  Works without tracking too (c->prep NULL). */
bool prep_batch_writes(Client *c, const SBufMsg *msg);

/* A reply of s (linked, tracked): true = decided (*act).  false = go on
 * as usual with msg (its pointers refreshed if lagoon's own replies were
 * put in front of it). */
bool prep_server_msg(Server *s, SBufMsg *msg, SBufAction *act);
/* Everything s forwarded has reached the client: send due made-up replies. */
void prep_server_flush(Server *s);
/* s goes back to the pool holding more statements than the bound (a batch
 * pinned them): the SQL that drops the least recently used ones, into sql
 * (they leave the cache now).  false = nothing to do. */
bool prep_server_trim_sql(Server *s, char *sql, size_t len);
/* No reply owed by s. */
bool prep_server_idle(const Server *s);

/* SHOW CLIENTS / SERVERS prepared_statements */
uint32_t prep_client_count(const Client *c);
uint32_t prep_server_count(const Server *s);

#endif
