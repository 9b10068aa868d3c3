#!/usr/bin/env bash
# 115_ryw_lag.sh - read-your-writes while replicas lag, on a PRIVATE cluster
# (primary + 2 replicas started by this test: replay is paused and delayed).
#
#   part A  replay paused on replica 1 (pg_wal_replay_pause):
#           lsn_ryw (max_wait_ms=50): 0 stale reads; no read of a writing
#           session runs on replica 1; they run on replica 2 or the primary;
#           sessions that never wrote still read from replicas
#   part B  replica 1 resumed, recovery_min_apply_delay = 200ms on replica 2:
#           lsn_ryw: 0 stale, also with synchronous_commit = off; sessions
#           that never wrote still read from replicas;
#           roundrobin in the same setup: stale reads > 0 (half its reads go
#           to a replica 200 ms behind: the checker cannot miss them)
. "$(dirname "$0")/lib.sh"
lg_setup
lg_ryw_setup
lg_private_cluster_start
lg_private_cluster_wait
pcq() { local n=$1; shift; "$LG_PGCLUSTER" psql "$PC_DIR" "$n" -At -q -v ON_ERROR_STOP=1 "$@"; }

TABLE=lg115_t
pcq 0 -c "create table $TABLE (k text primary key, v bigint not null default 0); grant all on $TABLE to app" >/dev/null \
    || bail "could not create $TABLE on the private primary"

HOSTS="host=127.0.0.1 port=$Q0,$Q1,$Q2 dbname=postgres"
LG_DATABASES_EXTRA="rr = $HOSTS router=roundrobin
ryw = $HOSTS router=lsn_ryw router_options='max_wait_ms=50'"
lg_start ryw_lag "plugin_dir = $LG_DIR/plugins
default_pool_size = 12
max_client_conn = 200" || bail "pooler did not start"

be() { lg_admin_hdr "SHOW BACKENDS" | awk -F'|' -v port="$1" -v col="$2" '
    NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
    $h["database"] == "ryw" && $h["port"] == port { print $h[col] }'; }
lg_wait_for '[[ "$(be $Q0 role)/$(be $Q1 role)/$(be $Q2 role)" == primary/replica/replica &&
               "$(be $Q0 state)/$(be $Q1 state)/$(be $Q2 state)" == up/up/up ]]' 20
ok $? "private cluster: primary and two replicas up"
"$LG_PGCLUSTER" wait-catchup "$PC_DIR" 30 >/dev/null 2>&1; ok $? "the replicas replayed the table"

# ---- part A: replay paused on replica 1 ----
out=$("$LG_PGCLUSTER" pause-replay "$PC_DIR" 1 2>&1); is "$?" 0 "replay paused on replica 1" || diag "$out"
lg_rywcheck ryw pausedA -c 10 -n 200 -R 2
is "$R_rc" 0 "A: lsn_ryw: rywcheck exits 0"
cmp_ok "${R_pairs:-0}" -ge 2000 "A: lsn_ryw: 2000 write->read pairs (${R_pairs:-none})"
is "${R_stale:-x}" 0 "A: lsn_ryw: no stale read with replay paused on replica 1 (${R_stale:-none} of ${R_reads:-none})"
is "$(lg_ryw_on $Q1)" 0 "A: no read of a writing session ran on the paused replica 1"
cmp_ok "$(lg_ryw_on $Q2)" -gt 0 "A: reads of writing sessions ran on the caught-up replica 2 ($(lg_ryw_on $Q2)) or the primary ($(lg_ryw_on $Q0))"
cmp_ok "${R_ro_replica:-0}" -gt 0 "A: sessions that never wrote still read from replicas (${R_ro_replica:-0} of ${R_ro_reads:-0})"
out=$("$LG_PGCLUSTER" resume-replay "$PC_DIR" 1 2>&1); is "$?" 0 "replay resumed on replica 1" || diag "$out"

# ---- part B: replica 2 applies WAL 200 ms late ----
pcq 2 -c "alter system set recovery_min_apply_delay = '200ms'" -c "select pg_reload_conf()" >/dev/null
lg_wait_for '[[ "$(pcq 2 -c "show recovery_min_apply_delay")" == 200ms ]]' 15
ok $? "recovery_min_apply_delay = 200ms on replica 2"
"$LG_PGCLUSTER" wait-catchup "$PC_DIR" 30 >/dev/null 2>&1

lg_rywcheck ryw delayedB -c 10 -n 200 -R 2
is "$R_rc" 0 "B: lsn_ryw: rywcheck exits 0"
cmp_ok "${R_pairs:-0}" -ge 2000 "B: lsn_ryw: 2000 write->read pairs (${R_pairs:-none})"
is "${R_stale:-x}" 0 "B: lsn_ryw: no stale read with replica 2 200 ms late (${R_stale:-none} of ${R_reads:-none})"
cmp_ok "$(( $(lg_ryw_on $Q1) + $(lg_ryw_on $Q0) ))" -gt "$(lg_ryw_on $Q2)" \
    "B: reads of writing sessions ran on the caught-up replica 1 ($(lg_ryw_on $Q1)) or the primary ($(lg_ryw_on $Q0)), rarely on replica 2 ($(lg_ryw_on $Q2))"
cmp_ok "${R_ro_replica:-0}" -gt 0 "B: sessions that never wrote still read from replicas (${R_ro_replica:-0} of ${R_ro_reads:-0})"

lg_rywcheck ryw asyncB -c 10 -n 100 -s
is "$R_rc" 0 "B: lsn_ryw, synchronous_commit = off: rywcheck exits 0"
is "${R_stale:-x}" 0 "B: lsn_ryw, synchronous_commit = off: no stale read (${R_stale:-none} of ${R_reads:-none})"

lg_rywcheck rr roundrobinB -c 10 -n 100
cmp_ok "${R_stale:-0}" -gt 0 "B: roundrobin in the same setup: the checker finds stale reads (${R_stale:-none} of ${R_reads:-none}): it can fail"
is "$R_rc" 3 "B: roundrobin: rywcheck exits 3 (stale reads)"
cmp_ok "$(lg_ryw_on $Q2)" -gt 0 "B: roundrobin sent reads to the delayed replica 2 ($(lg_ryw_on $Q2))"

lg_alive; ok $? "the pooler is still running"
done_testing
