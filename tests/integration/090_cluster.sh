#!/usr/bin/env bash
# 090_cluster: the cluster monitor against real PostgreSQL clusters.
#
# Part 1, on the SHARED cluster (not destructive): SHOW BACKENDS names the
# roles (primary on P0, replicas on P1/P2), all up, the primary the only
# write target; lag_bytes 0 after a catch-up and lag_ms small, not growing
# while the primary idles; with replay paused on replica 1 and writes
# flowing, replica 1's lag_bytes and lag_ms grow (lag_ms with wall time)
# while replica 2 stays caught up; after resuming both return to 0.
# Transactions through lagoon run on the primary.  Replay is resumed on
# exit whatever happens (other tests share this cluster).
#
# Part 2, on a PRIVATE cluster started (and destroyed) by this test: a
# stopped replica goes down and comes back up, clients unaffected; the
# primary stopped and replica 1 promoted: the new primary is discovered and
# becomes the write target without a reload, pgbench through lagoon runs
# with no failed transaction, a client started while there is no primary
# finishes (success or a clear error) within query_wait_timeout + a margin,
# and replica 2 (following the dead primary) is never the write target.
. "$(dirname "$0")/lib.sh"
lg_setup pgbench
QWT=10            # query_wait_timeout of the pooler (s)

# ---- the private cluster (lib.sh), started in the background now (initdb +
# 2 base backups), used in part 2
lg_private_cluster_start

# ---- the pooler: both clusters as multi-host databases ---------------------
LG_DATABASES_EXTRA="cl = host=127.0.0.1 port=$P0,$P1,$P2 dbname=postgres
pc = host=127.0.0.1 port=$Q0,$Q1,$Q2 dbname=postgres"
lg_start cluster "monitor_interval = 200
query_wait_timeout = $QWT
server_connect_timeout = 3" || bail "pooler did not start"

# be_now DB PORT COLUMN: one field of a fresh SHOW BACKENDS (lib.sh: lg_be,
# lg_wait_be and its snapshot $SB)
be_now() { lg_be "$(lg_backends)" "$@"; }
# show_db DB: the SHOW BACKENDS rows of one database, for diagnostics
show_db() {
    lg_backends | awk -F'|' -v db="$1" 'NR == 1 || $1 == db'
}

# ============================ part 1: shared cluster =========================
WAIT_DB=cl
hdr=$(lg_backends | head -n 1)
is "$hdr" "database|host|port|role|state|lsn|lag_bytes|lag_ms|sample_age_ms|probe_failures|fail_streak|sv_active|sv_idle|sv_used|sv_login|xact_routed|is_write_target|last_error" \
    "SHOW BACKENDS has the documented columns in order"
is "$(lg_backends | awk -F'|' '$1 == "cl"' | wc -l)" 3 "SHOW BACKENDS has one row per backend of cl (3)"

roles_ok='[[ "$(lg_be "$SB" cl $P0 role)/$(lg_be "$SB" cl $P1 role)/$(lg_be "$SB" cl $P2 role)" == primary/replica/replica &&
            "$(lg_be "$SB" cl $P0 state)/$(lg_be "$SB" cl $P1 state)/$(lg_be "$SB" cl $P2 state)" == up/up/up ]]'
lg_wait_be "cl: P0 primary, P1 and P2 replicas, all up (within 15 s)" 15 "$roles_ok"
is "$(lg_be "$SB" cl $P0 is_write_target)/$(lg_be "$SB" cl $P1 is_write_target)/$(lg_be "$SB" cl $P2 is_write_target)" \
    yes/no/no "cl: only the primary (P0) is the write target"
like "$(lg_be "$SB" cl $P1 lsn)" '^[0-9A-F]+/[0-9A-F]+$' "cl: a replica's lsn is shown as X/Y"

# every transaction goes to the primary
ports=""
for i in 1 2 3 4 5 6; do
    r=$(lg_psql -d cl -c "select inet_server_port() || ',' || pg_is_in_recovery()" 2>&1)
    ports+="$r "
done
is "$ports" "$(printf "$P0,false %.0s" 1 2 3 4 5 6)" "six transactions through lagoon all ran on the primary (port $P0, not in recovery)"
r=$(lg_psql -d cl -c "begin; select inet_server_port(); select pg_is_in_recovery(); commit;" 2>&1 | tr '\n' ' ')
is "$r" "$P0 f " "an explicit transaction through lagoon runs on the primary"
cmp_ok "$(be_now cl $P0 xact_routed)" -ge 7 "xact_routed of the primary counts those transactions"

# The lag checks need replica 1 to be left alone by other copies of this
# test (which pause its replay): one copy at a time from here to the resume.
exec 8>"$LG_ROOT/090_cluster.replay.lock"
flock -w 120 8 || diag "timeout waiting for $LG_ROOT/090_cluster.replay.lock; going on"
# caught up: lag_bytes exactly 0 (each replica polled on its own: other
# tests may write to the shared primary), lag_ms small
"$LG_PGCLUSTER" wait-catchup "$LG_CLUSTER_DIR" 20 >/dev/null 2>&1 || diag "wait-catchup of the shared cluster failed"
for p in $P1 $P2; do
    lg_wait_be "cl: replica $p reaches lag_bytes 0 and lag_ms < 1000 after a catch-up (within 20 s)" 20 \
        '[[ "$(lg_be "$SB" cl '$p' lag_bytes)" == 0 ]] && (( $(lg_be "$SB" cl '$p' lag_ms) >= 0 && $(lg_be "$SB" cl '$p' lag_ms) < 1000 ))'
done
sleep 5
SB=$(lg_backends)
for p in $P1 $P2; do
    l=$(lg_be "$SB" cl $p lag_ms)
    cmp_ok "$l" -lt 1000 "cl: replica $p lag_ms still < 1000 after 5 idle seconds ($l; no timestamp-based lag)"
    cmp_ok "$l" -ge 0 "cl: replica $p lag_ms is known ($l)"
    a=$(lg_be "$SB" cl $p sample_age_ms)
    cmp_ok "$a" -lt 2000 "cl: replica $p was sampled recently (sample_age_ms $a)"
done

# ---- replay paused on replica 1, writes flowing ----
paused_by_us=1    # (only this copy's pause is resumed on exit)
lg_on_exit '(( paused_by_us )) && "$LG_PGCLUSTER" resume-replay "$LG_CLUSTER_DIR" 1 >/dev/null 2>&1'
lg_psql -d cl -c "create table if not exists lg090_t (id bigserial primary key, pad text)" >/dev/null 2>&1 \
    || lg_pg 0 -c "create table if not exists lg090_t (id bigserial primary key, pad text); grant all on lg090_t, lg090_t_id_seq to app" >/dev/null
out=$("$LG_PGCLUSTER" pause-replay "$LG_CLUSTER_DIR" 1 2>&1); rc=$?
is "$rc" 0 "pgcluster.sh pause-replay on replica 1" || diag "$out"
echo "insert into lg090_t (pad) select repeat('x', 100) from generate_series(1, 10);" > "$LG_DIR/ins.sql"
lg_pgbench -n -f "$LG_DIR/ins.sql" -c 2 -T 5 -R 200 cl > "$LG_DIR/ins.out" 2>&1 &
ins_pid=$!
lg_on_exit "kill $ins_pid 2>/dev/null"
sleep 1
S1=$(lg_backends)
sleep 2.5
S2=$(lg_backends)
b1=$(lg_be "$S1" cl $P1 lag_bytes); b2=$(lg_be "$S2" cl $P1 lag_bytes)
m1=$(lg_be "$S1" cl $P1 lag_ms);    m2=$(lg_be "$S2" cl $P1 lag_ms)
cmp_ok "$b1" -gt 0 "cl: replay paused on P1 and writes flowing: lag_bytes > 0 ($b1)"
cmp_ok "$b2" -gt "$b1" "cl: P1's lag_bytes grows while the writes go on ($b1 -> $b2)"
cmp_ok "$m1" -gt 0 "cl: P1's lag_ms > 0 ($m1)"
cmp_ok $((m2 - m1)) -ge 1500 "cl: P1's lag_ms grows with wall time over 2.5 s ($m1 -> $m2)"
cmp_ok $((m2 - m1)) -le 5000 "cl: ... but not faster than wall time ($m1 -> $m2)"
for SS in "$S1" "$S2"; do
    rb=$(lg_be "$SS" cl $P2 lag_bytes); rm_=$(lg_be "$SS" cl $P2 lag_ms)
    cmp_ok "$rb" -lt 1048576 "cl: replica P2 (replaying) stays caught up meanwhile: lag_bytes < 1 MB ($rb)"
    cmp_ok "$rm_" -lt 1000 "cl: replica P2's lag_ms stays < 1000 ($rm_)"
done
is "$(lg_be "$S2" cl $P1 state)/$(lg_be "$S2" cl $P1 role)/$(lg_be "$S2" cl $P1 is_write_target)" up/replica/no \
    "cl: a lagging replica is still an up replica, not a write target"
wait "$ins_pid"; rc=$?
is "$rc" 0 "the writes through lagoon (pgbench inserts) succeeded" || diag_file "$LG_DIR/ins.out" 20
"$LG_PGCLUSTER" resume-replay "$LG_CLUSTER_DIR" 1 >/dev/null 2>&1 && paused_by_us=0
"$LG_PGCLUSTER" wait-catchup "$LG_CLUSTER_DIR" 20 >/dev/null 2>&1 || diag "wait-catchup after resume failed"
for p in $P1 $P2; do
    lg_wait_be "cl: after resume-replay, replica $p is back to lag_bytes 0, lag_ms < 1000 (within 20 s)" 20 \
        '[[ "$(lg_be "$SB" cl '$p' lag_bytes)" == 0 ]] && (( $(lg_be "$SB" cl '$p' lag_ms) >= 0 && $(lg_be "$SB" cl '$p' lag_ms) < 1000 ))'
done
lg_psql -d cl -c "drop table if exists lg090_t" >/dev/null 2>&1
flock -u 8; exec 8>&-

# ============================ part 2: private cluster ========================
WAIT_DB=pc
lg_private_cluster_wait
pass "private cluster up (primary $Q0, replicas $Q1, $Q2)"

if ! "$PGBENCH" -i -q -s 1 -h 127.0.0.1 -p "$Q0" -U app postgres > "$LG_DIR/pc-init.log" 2>&1; then
    diag_file "$LG_DIR/pc-init.log"; bail "pgbench -i on the private primary failed"
fi
"$LG_PGCLUSTER" wait-catchup "$PC_DIR" 20 >/dev/null 2>&1 || diag "wait-catchup of the private cluster failed"

pc_roles='[[ "$(lg_be "$SB" pc $Q0 role)/$(lg_be "$SB" pc $Q1 role)/$(lg_be "$SB" pc $Q2 role)" == primary/replica/replica &&
            "$(lg_be "$SB" pc $Q0 state)/$(lg_be "$SB" pc $Q1 state)/$(lg_be "$SB" pc $Q2 state)" == up/up/up &&
            "$(lg_be "$SB" pc $Q0 is_write_target)" == yes ]]'
lg_wait_be "pc: Q0 primary and write target, Q1/Q2 replicas, all up (within 15 s)" 15 "$pc_roles"
is "$(lg_psql -d pc -c 'select inet_server_port()' 2>&1)" "$Q0" "pc: a transaction through lagoon runs on Q0"

# ---- (a) replica 2 stopped and restarted ----
pc_ctl 2 -m immediate -w stop >/dev/null 2>&1; ok $? "pc: replica 2 stopped (immediate)"
lg_wait_be "pc: SHOW BACKENDS shows Q2 down (within 15 s)" 15 '[[ "$(lg_be "$SB" pc $Q2 state)" == down ]]'
cmp_ok "$(lg_be "$SB" pc $Q2 fail_streak)" -ge 3 "pc: Q2's fail_streak reached monitor_fail_count ($(lg_be "$SB" pc $Q2 fail_streak))"
like "$(lg_be "$SB" pc $Q2 last_error)" '.' "pc: Q2 has a last_error ($(lg_be "$SB" pc $Q2 last_error))"
outage=""
for i in 1 2 3 4 5; do
    r=$(lg_psql -d pc -c "select $i, inet_server_port()" 2>&1) || r="ERR:$r"
    outage+="$r "
    sleep 0.2
done
is "$outage" "1|$Q0 2|$Q0 3|$Q0 4|$Q0 5|$Q0 " "pc: queries through lagoon keep working on Q0 while replica 2 is down"
is "$(be_now pc $Q0 is_write_target)" yes "pc: Q0 is still the write target"
pc_start_node 2; ok $? "pc: replica 2 restarted"
lg_wait_be "pc: Q2 up again as a replica (within 15 s)" 15 \
    '[[ "$(lg_be "$SB" pc $Q2 state)/$(lg_be "$SB" pc $Q2 role)" == up/replica ]]'

# ---- (b) primary stopped, replica 1 promoted ----
# open some server connections to Q0 first, so the pool has stale ones
lg_pgbench -n -S -c 4 -T 1 pc > /dev/null 2>&1
pc_ctl 0 -m immediate -w stop >/dev/null 2>&1; ok $? "pc: primary (Q0) stopped (immediate)"
t_stop=$SECONDS
# client_run NAME: psql through lagoon, bounded by timeout 30, timed
client_run() {
    local t0
    t0=$(date +%s%N)
    PGPASSWORD=app_pass timeout 30 "$PSQL" -X -At -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$LG_PORT" \
        -U app -d pc -c "select inet_server_port() || ',' || pg_is_in_recovery()" > "$LG_DIR/$1.out" 2>&1
    echo "$? $(( ($(date +%s%N) - t0) / 1000000 ))" > "$LG_DIR/$1.rc"
}
client_run early &              # right after the stop: lagoon may not know yet
early_pid=$!
lg_wait_be "pc: SHOW BACKENDS shows Q0 down (within 15 s)" 15 '[[ "$(lg_be "$SB" pc $Q0 state)" == down ]]'
diag "write target while no node is primary: Q0=$(lg_be "$SB" pc $Q0 is_write_target) Q1=$(lg_be "$SB" pc $Q1 is_write_target) Q2=$(lg_be "$SB" pc $Q2 is_write_target)"
is "$(lg_be "$SB" pc $Q0 is_write_target)" no "pc: a down primary is not the write target"
client_run nopri &              # certainly while there is no primary
nopri_pid=$!
sleep 1
pc_ctl 1 -w promote >/dev/null 2>&1; ok $? "pc: replica 1 promoted"
lg_wait_be "pc: Q1 discovered as the primary and write target (within 15 s)" 15 \
    '[[ "$(lg_be "$SB" pc $Q1 role)/$(lg_be "$SB" pc $Q1 state)/$(lg_be "$SB" pc $Q1 is_write_target)" == primary/up/yes ]]'
diag "failover seen $((SECONDS - t_stop)) s after the primary stopped"
is "$(lg_be "$SB" pc $Q2 is_write_target)" no "pc: replica 2 (following the dead primary) is not the write target"
is "$(lg_be "$SB" pc $Q0 is_write_target)" no "pc: the old primary (Q0) is not the write target"
unlike "$(lg_be "$SB" pc $Q2 role)" '^primary$' "pc: replica 2 is not taken for a primary"

for c in early nopri; do
    pid_var=${c}_pid
    wait "${!pid_var}"
    read -r crc cms < "$LG_DIR/$c.rc"
    cout=$(cat "$LG_DIR/$c.out")
    isnt "$crc" 124 "pc: the client started $( [[ $c == early ]] && echo 'right after the stop' || echo 'with no primary') finished (no hang; exit $crc after $cms ms)"
    cmp_ok "$cms" -le $(( (QWT + 8) * 1000 )) "pc: ... within query_wait_timeout + a margin ($cms ms)"
    if [[ "$crc" == 0 ]]; then
        is "$cout" "$Q1,false" "pc: ... and succeeded on the new primary"
    else
        like "$cout" '(ERROR|FATAL|error|server)' "pc: ... or failed with a clear error"
        diag "$c: $cout"
    fi
done

r=$(lg_psql -d pc -c "select inet_server_port() || ',' || pg_is_in_recovery()" 2>&1)
is "$r" "$Q1,false" "pc: after the switch, transactions run on the new primary (Q1), no reload"
out=$LG_DIR/pc-bench.out
lg_pgbench -n -c 4 -j 2 -T 3 pc > "$out" 2>&1; rc=$?
is "$rc" 0 "pc: pgbench TPC-B -T 3 -c 4 through lagoon after the switch exits 0" || diag_file "$out" 30
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
[[ -n "$failed" ]] || failed=$(grep -c 'ERROR\|FATAL\|error' "$out")
is "$failed" 0 "pc: zero failed transactions"
cmp_ok "${processed:-0}" -gt 10 "pc: transactions were processed (${processed:-none})"
cmp_ok "$(be_now pc $Q1 xact_routed)" -ge "${processed:-1}" "pc: xact_routed of Q1 counts them"
is "$(be_now pc $Q2 is_write_target)/$(be_now pc $Q0 state)" no/down "pc: still: replica 2 not the write target, Q0 down"
diag "$(show_db pc)"

lg_alive; ok $? "the pooler is still running"
done_testing
