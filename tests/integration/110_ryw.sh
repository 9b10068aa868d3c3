#!/usr/bin/env bash
# 110_ryw.sh - read-your-writes through lagoon, checked by tests/tools/rywcheck
# on the shared cluster (primary + 2 streaming replicas) with replication lag
# induced: replay is paused on replica 1 for the whole run, and replica 2's
# replay is paused for ~100 ms every ~400 ms (a background loop).
#
# rywcheck's clients each INSERT a unique row and read it back at once, then
# twice more 150 ms apart (-r 3 -w 150: the later reads give the monitor time
# to see a replica catch up).  Every read must find the row.
#
#   router=roundrobin  the checker must find stale reads: it can fail, so the
#                      test means something
#   router=lsn_ryw     no stale read at all (simple and extended protocol,
#                      and with a read every 10 ms after each write), yet
#                      >= 10% of the reads served by replicas, and none by
#                      replica 1, which never replays the writes
#
# The pause on the shared replicas is taken under the lock 090_cluster.sh
# uses, and replay is always resumed on exit.
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin
RYWCHECK=$LG_BUILD_DIR/tests/tools/rywcheck
[[ -x "$RYWCHECK" ]] || bail "rywcheck not built: make tests/tools/rywcheck (make check builds it)"
for p in roundrobin lsn_ryw; do
    [[ -f "$LG_BUILD_DIR/plugins/$p/.libs/$p.so" ]] || bail "plugin $p not built ($LG_BUILD_DIR/plugins/$p/.libs/$p.so)"
done
lg_tmpdir

P0=$LG_PGPORT; P1=$((LG_PGPORT + 1)); P2=$((LG_PGPORT + 2))
SECS=${LAGOON_RYW_SECONDS:-5}
TABLE=lg110_t_$$

# plugin_dir: symlinks to the uninstalled plugins of the build tree
mkdir -p "$LG_DIR/plugins"
for p in roundrobin lsn_ryw; do
    ln -sf "$LG_BUILD_DIR/plugins/$p/.libs/$p.so" "$LG_DIR/plugins/$p.so"
done

LG_DATABASES_EXTRA="rr = host=127.0.0.1 port=$P0,$P1,$P2 dbname=postgres router=roundrobin
ryw = host=127.0.0.1 port=$P0,$P1,$P2 dbname=postgres router=lsn_ryw"
lg_start ryw "plugin_dir = $LG_DIR/plugins
monitor_interval = 100
default_pool_size = 12" || bail "pooler did not start"

backends() { lg_admin_hdr "SHOW BACKENDS"; }
be() { # be SNAPSHOT DB PORT COLUMN
    awk -F'|' -v db="$2" -v port="$3" -v col="$4" '
        NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
        $h["database"] == db && $h["port"] == port { print $h[col] }' <<<"$1"
}
up3='[[ "$(be "$S" $db $P0 role)/$(be "$S" $db $P1 role)/$(be "$S" $db $P2 role)" == primary/replica/replica &&
       "$(be "$S" $db $P0 state)/$(be "$S" $db $P1 state)/$(be "$S" $db $P2 state)" == up/up/up ]]'
for db in rr ryw; do
    deadline=$((SECONDS + 15))
    while S=$(backends); ! eval "$up3" && (( SECONDS < deadline )); do sleep 0.2; done
    eval "$up3"; ok $? "$db: primary and two replicas up (router $( [[ $db == rr ]] && echo roundrobin || echo lsn_ryw))" ||
        diag "$(backends | awk -F'|' -v db=$db 'NR == 1 || $1 == db')"
done

# the table, on the primary, replayed everywhere before replay is paused
lg_pg 0 -c "create table $TABLE (k text primary key); grant all on $TABLE to app" >/dev/null \
    || bail "could not create $TABLE on the primary"
lg_on_exit 'lg_pg 0 -c "drop table if exists $TABLE" >/dev/null 2>&1'

# One copy at a time of the tests that pause replay on the shared replicas.
exec 8>"$LG_ROOT/090_cluster.replay.lock"
flock -w 180 8 || diag "timeout waiting for $LG_ROOT/090_cluster.replay.lock; going on"
"$LG_PGCLUSTER" wait-catchup "$LG_CLUSTER_DIR" 30 >/dev/null 2>&1 || diag "wait-catchup of the shared cluster failed"
# always resume both replicas on exit (we hold the lock: any pause is ours)
lg_on_exit '"$LG_PGCLUSTER" resume-replay "$LG_CLUSTER_DIR" 1 >/dev/null 2>&1; "$LG_PGCLUSTER" resume-replay "$LG_CLUSTER_DIR" 2 >/dev/null 2>&1'

out=$("$LG_PGCLUSTER" pause-replay "$LG_CLUSTER_DIR" 1 2>&1); rc=$?
is "$rc" 0 "replay paused on replica 1 for the whole run" || diag "$out"

# replica 2: paused ~100 ms out of every ~400 ms while the checks run
flicker() {
    while :; do
        "$LG_PGCLUSTER" pause-replay "$LG_CLUSTER_DIR" 2 >/dev/null 2>&1
        sleep 0.1
        "$LG_PGCLUSTER" resume-replay "$LG_CLUSTER_DIR" 2 >/dev/null 2>&1
        sleep 0.3
    done
}
flicker </dev/null >/dev/null 2>&1 &
flicker_pid=$!
# (runs before the resume above: cleanups run last-registered first)
lg_on_exit 'kill $flicker_pid 2>/dev/null; wait $flicker_pid 2>/dev/null'

# run_check DB NAME [rywcheck args]: sets R_* from the summary line
run_check() {
    local db=$1 name=$2; shift 2
    local conn="host=127.0.0.1 port=$LG_PORT dbname=$db user=app password=app_pass connect_timeout=10"
    timeout $((SECS + 60)) "$RYWCHECK" -d "$conn" -t "$TABLE" -c 8 -T "$SECS" -r 3 -w 150 "$@" \
        > "$LG_DIR/$name.out" 2> "$LG_DIR/$name.err"
    R_rc=$?
    R_line=$(tail -n 1 "$LG_DIR/$name.out")
    R_reads=$(sed -n 's/.*\breads=\([0-9]*\).*/\1/p' <<<"$R_line")
    R_stale=$(sed -n 's/.*\bstale=\([0-9]*\).*/\1/p' <<<"$R_line")
    R_replica=$(sed -n 's/.*\breplica_reads=\([0-9]*\).*/\1/p' <<<"$R_line")
    R_stale_primary=$(sed -n 's/.*\bstale_on_primary=\([0-9]*\).*/\1/p' <<<"$R_line")
    diag "$name: $R_line (exit $R_rc)"
    [[ -s "$LG_DIR/$name.err" ]] && diag_file "$LG_DIR/$name.err" 10
    return 0
}
share() { (( ${1:-0} > 0 )) && echo "$(( 100 * ${2:-0} / $1 ))%" || echo "n/a"; }

# ---- roundrobin: the checker must catch stale reads ----
run_check rr roundrobin
is "$R_rc" 0 "roundrobin: rywcheck ran without errors"
cmp_ok "${R_reads:-0}" -gt 100 "roundrobin: reads were made (${R_reads:-none})"
cmp_ok "${R_stale:-0}" -gt 0 "roundrobin: the checker finds stale reads (${R_stale:-none} of ${R_reads:-none}): it can fail"
is "${R_stale_primary:-x}" 0 "roundrobin: no stale read on the primary"
diag "roundrobin: stale ${R_stale:-?}/${R_reads:-?} = $(share "$R_reads" "$R_stale"), replica share $(share "$R_reads" "$R_replica")"

# ---- lsn_ryw: never stale, replicas still used ----
S0=$(backends)
r1_before=$(be "$S0" ryw $P1 xact_routed)
run_check ryw lsn_ryw
is "$R_rc" 0 "lsn_ryw: rywcheck ran without errors"
cmp_ok "${R_reads:-0}" -gt 100 "lsn_ryw: reads were made (${R_reads:-none})"
is "${R_stale:-x}" 0 "lsn_ryw: no stale read (${R_stale:-none} of ${R_reads:-none})"
cmp_ok "${R_replica:-0}" -gt 0 "lsn_ryw: replicas served reads (${R_replica:-none})"
cmp_ok "$(( 10 * ${R_replica:-0} ))" -ge "${R_reads:-1}" \
    "lsn_ryw: at least 10% of the reads on replicas ($(share "$R_reads" "$R_replica"))"
diag "lsn_ryw: replica share $(share "$R_reads" "$R_replica") (${R_replica:-?}/${R_reads:-?} reads)"
S1=$(backends)
is "$(( $(be "$S1" ryw $P1 xact_routed) - r1_before ))" 0 \
    "lsn_ryw: no transaction ran on replica 1, which never replayed the writes"

run_check ryw lsn_ryw_ext -e
is "$R_rc" 0 "lsn_ryw, extended protocol: rywcheck ran without errors"
cmp_ok "${R_reads:-0}" -gt 100 "lsn_ryw, extended protocol: reads were made (${R_reads:-none})"
is "${R_stale:-x}" 0 "lsn_ryw, extended protocol: no stale read (${R_stale:-none} of ${R_reads:-none})"
diag "lsn_ryw, extended protocol: replica share $(share "$R_reads" "$R_replica")"

# reads every 10 ms after each write: many cross the moment a probe first
# shows a replica past the write
run_check ryw lsn_ryw_tight -r 10 -w 10
is "$R_rc" 0 "lsn_ryw, a read every 10 ms: rywcheck ran without errors"
is "${R_stale:-x}" 0 "lsn_ryw, a read every 10 ms: no stale read (${R_stale:-none} of ${R_reads:-none})"
cmp_ok "${R_replica:-0}" -gt 0 "lsn_ryw, a read every 10 ms: replicas served reads ($(share "$R_reads" "$R_replica"))"

diag "$(backends | awk -F'|' 'NR == 1 || $1 == "rr" || $1 == "ryw"')"

kill "$flicker_pid" 2>/dev/null; wait "$flicker_pid" 2>/dev/null
"$LG_PGCLUSTER" resume-replay "$LG_CLUSTER_DIR" 2 >/dev/null 2>&1
out=$("$LG_PGCLUSTER" resume-replay "$LG_CLUSTER_DIR" 1 2>&1); rc=$?
is "$rc" 0 "replay resumed on replica 1" || diag "$out"
"$LG_PGCLUSTER" wait-catchup "$LG_CLUSTER_DIR" 30 >/dev/null 2>&1; ok $? "both replicas catch up after the run"
flock -u 8; exec 8>&-

lg_alive; ok $? "the pooler is still running"
done_testing
