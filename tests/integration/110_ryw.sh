#!/usr/bin/env bash
# 110_ryw.sh - read-your-writes through lagoon on the shared cluster
# (primary + 2 streaming replicas, normal replication), checked by
# tests/tools/rywcheck: each worker writes (autocommit INSERT, an explicit
# BEGIN..COMMIT, an UPDATE of its own row, in turn) and at once reads the
# write back in a separate transaction; the server says where the read ran.
#
#   router=lsn_ryw max_wait_ms=50   >= 20,000 pairs from 20 connections,
#                                    0 stale; the replica share is reported
#                                    (and must be > 0); same with the
#                                    extended protocol, with a SET lagoon
#                                    sends before the transaction, with
#                                    asynchronous commits (SET LOCAL
#                                    synchronous_commit = off), and without
#                                    waiting (max_wait_ms 0)
#   ryw_scope=key / user            write on one connection, read on another
#                                    under the same key (hint comment, startup
#                                    parameter) or user: 0 stale
#   router=roundrobin               the same checker, for comparison (the
#                                    assertion that it finds stale reads is in
#                                    115_ryw_lag, where replay is delayed so it
#                                    cannot miss)
# SHOW ROUTING's read-your-writes columns and the metrics families agree.
# LAGOON_RYW_ITER (default 1000) iterations per connection.
. "$(dirname "$0")/lib.sh"
lg_setup
lg_ryw_setup

ITER=${LAGOON_RYW_ITER:-1000}
TABLE=lg110_t_$$

HOSTS="host=127.0.0.1 port=$P0,$P1,$P2 dbname=postgres"
LG_DATABASES_EXTRA="rr = $HOSTS router=roundrobin
ryw = $HOSTS router=lsn_ryw router_options='max_wait_ms=50'
ryw0 = $HOSTS router=lsn_ryw
rywkey = $HOSTS router=lsn_ryw router_options='max_wait_ms=50' ryw_scope=key
rywuser = $HOSTS router=lsn_ryw router_options='max_wait_ms=50' ryw_scope=user"
lg_free_port || bail "no free port for the metrics endpoint"; MPORT=$LG_FREE_PORT
lg_start ryw "plugin_dir = $LG_DIR/plugins
default_pool_size = 24
max_client_conn = 300
metrics_listen_addr = 127.0.0.1
metrics_listen_port = $MPORT" || bail "pooler did not start"

backends() { lg_admin_hdr "SHOW BACKENDS"; }
be() { # be SNAPSHOT DB PORT COLUMN
    awk -F'|' -v db="$2" -v port="$3" -v col="$4" '
        NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
        $h["database"] == db && $h["port"] == port { print $h[col] }' <<<"$1"
}
up3='[[ "$(be "$S" ryw $P0 role)/$(be "$S" ryw $P1 role)/$(be "$S" ryw $P2 role)" == primary/replica/replica &&
       "$(be "$S" ryw $P0 state)/$(be "$S" ryw $P1 state)/$(be "$S" ryw $P2 state)" == up/up/up ]]'
deadline=$((SECONDS + 20))
while S=$(backends); ! eval "$up3" && (( SECONDS < deadline )); do sleep 0.2; done
eval "$up3"; ok $? "primary and two replicas up" || diag "$(backends)"

lg_pg 0 -c "create table $TABLE (k text primary key, v bigint not null default 0); grant all on $TABLE to app" >/dev/null \
    || bail "could not create $TABLE on the primary"
lg_on_exit 'lg_pg 0 -c "drop table if exists $TABLE" >/dev/null 2>&1'
"$LG_PGCLUSTER" wait-catchup "$LG_CLUSTER_DIR" 30 >/dev/null 2>&1 || diag "wait-catchup of the shared cluster failed"

# expect_clean NAME MIN_PAIRS: no error, enough pairs, no stale read
expect_clean() {
    is "$R_rc" 0 "$1: rywcheck exits 0 (no error, no stale read)"
    cmp_ok "${R_pairs:-0}" -ge "$2" "$1: at least $2 write->read pairs (${R_pairs:-none})"
    is "${R_stale:-x}" 0 "$1: no stale read (${R_stale:-none} of ${R_reads:-none})"
}

# ---- lsn_ryw: 20,000 pairs from 20 connections ----
lg_rywcheck ryw lsn_ryw -c 20 -n "$ITER"
expect_clean "lsn_ryw, 20 connections" $((20 * ITER))
cmp_ok "${R_replica_reads:-0}" -gt 0 "lsn_ryw: replicas served reads (share ${R_replica_share:-?}%, measured by the servers)"
diag "lsn_ryw: pairs ${R_pairs:-?} stale ${R_stale:-?} replica share ${R_replica_share:-?}% p50 ${R_p50_ms:-?} ms p99 ${R_p99_ms:-?} ms"

# SHOW ROUTING: the reads of writing sessions, the waits (appended columns)
sr=$(lg_admin_hdr "SHOW ROUTING")
sum_col() { awk -F'|' -v db="$1" -v col="$2" -v role="$3" '
    NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
    $h["database"] == db && (role == "" || $h["role"] == role) { s += $h[col] } END { print s + 0 }' <<<"$sr"; }
cmp_ok "$(sum_col ryw ryw_reads replica)" -eq "${R_replica_reads:-x}" \
    "SHOW ROUTING: ryw_reads on the replicas = the reads the servers say ran there"
cmp_ok "$(( $(sum_col ryw ryw_reads) ))" -ge "${R_reads:-x}" "SHOW ROUTING: every checked read counted as a read of a writing session"
cmp_ok "$(sum_col ryw waited)" -gt 0 "SHOW ROUTING: reads were parked to wait for a replica ($(sum_col ryw waited) waited, $(sum_col ryw wait_timeouts) timed out)"
diag "$(awk -F'|' 'NR == 1 || $1 == "ryw"' <<<"$sr")"
m=$(curl -s "http://127.0.0.1:$MPORT/metrics" 2>/dev/null || true)
like "$m" 'lagoon_routing_ryw_reads_total\{database="ryw",backend="[^"]*",outcome="replica"\} [1-9]' \
    "metrics: lagoon_routing_ryw_reads_total counts reads on replicas"
like "$m" 'lagoon_routing_waits_total\{database="ryw",backend="[^"]*",outcome="served"\} [1-9]' \
    "metrics: lagoon_routing_waits_total counts waits"

lg_rywcheck ryw lsn_ryw_ext -c 10 -n 200 -e
expect_clean "lsn_ryw, extended protocol" 2000

# each connection its own application_name: lagoon SETs it on the server
# before most transactions, and the commit LSN must still be read after the
# client's transaction, not after that SET (it was, once: 5% stale)
lg_rywcheck ryw lsn_ryw_set -c 10 -n 200 -A
expect_clean "lsn_ryw, a SET before each transaction" 2000

lg_rywcheck ryw lsn_ryw_async -c 10 -n 100 -s
expect_clean "lsn_ryw, synchronous_commit = off" 1000
diag "lsn_ryw, synchronous_commit = off: replica share ${R_replica_share:-?}% p50 ${R_p50_ms:-?} ms"

lg_rywcheck ryw0 lsn_ryw_nowait -c 10 -n 200 -R 2
expect_clean "lsn_ryw without waiting (max_wait_ms 0)" 2000
cmp_ok "${R_ro_replica:-0}" -gt 0 "lsn_ryw without waiting: sessions that never wrote read from replicas (${R_ro_replica:-0}/${R_ro_reads:-0})"

# ---- shared scope: write on one connection, read on another ----
lg_rywcheck rywkey shared_hint -c 10 -n 200 -k
expect_clean "ryw_scope=key, key in a hint comment, read on another connection" 2000
cmp_ok "${R_replica_reads:-0}" -gt 0 "ryw_scope=key: replicas served reads (${R_replica_share:-?}%)"
lg_rywcheck rywkey shared_param -c 10 -n 200 -K
expect_clean "ryw_scope=key, key in the startup parameter lagoon.ryw_key" 2000
lg_rywcheck rywuser shared_user -c 10 -n 200 -k
expect_clean "ryw_scope=user, read on another connection of the same user" 2000
out=$(PGPASSWORD=app_pass PGOPTIONS='-c lagoon.ryw_key=bad/key' "$PSQL" -X -At -h 127.0.0.1 -p "$LG_PORT" -U app -d rywkey -c "select 1" 2>&1)
like "$out" 'FATAL: .*invalid (value for parameter "lagoon.ryw_key"|lagoon.ryw_key)' \
    "a malformed lagoon.ryw_key is refused with a clear error"

# ---- roundrobin, same setup, for comparison ----
lg_rywcheck rr roundrobin -c 20 -n 200
diag "roundrobin: pairs ${R_pairs:-?} stale ${R_stale:-?} replica share ${R_replica_share:-?}% p50 ${R_p50_ms:-?} ms p99 ${R_p99_ms:-?} ms"
lg_rywcheck rr roundrobin_shared -c 10 -n 100 -k
diag "roundrobin, shared key: stale ${R_stale:-?} of ${R_reads:-?}"

lg_alive; ok $? "the pooler is still running"
done_testing
