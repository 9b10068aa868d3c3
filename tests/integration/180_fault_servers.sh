#!/usr/bin/env bash
# 180_fault_servers: servers that die or freeze under load, on a PRIVATE
# cluster (primary Q0, replicas Q1 and Q2; Q1 is the synchronous standby so
# that an acknowledged commit survives the primary's death).
#
# All the time: pgbench (select-only) through lagoon, a loop of reads (one
# session each, router=roundrobin) and a loop of writes, each write one
# unique id, recorded as acknowledged when the client saw its commit.
#   A. kill -9 of replica Q2 (postmaster and children): reads move to Q1/Q0
#      once the monitor sees it down; only reads in flight fail, with a
#      clear error; nothing hangs.  Q2 restarted, serves again.
#   B. SIGSTOP of the primary Q0: a query in flight ends with 57014
#      query_timeout, a new server connection to it ends with
#      server_connect_timeout, writes get a clear error within
#      query_wait_timeout, reads go on on the replicas; SIGCONT: writes
#      resume.
#   C. kill -9 of the primary Q0, then pg_ctl promote of Q1: clients get
#      clear errors, none waits beyond query_wait_timeout; writes resume on
#      Q1 without a reload.
# Finally, on Q1: every acknowledged id is there exactly once (0 lost), no
# id twice, and every write ran on a node not in recovery.
. "$(dirname "$0")/lib.sh"
lg_setup pgbench
lg_private_cluster_start

QWT=10   # query_wait_timeout
QT=6     # query_timeout
SCT=3    # server_connect_timeout
lg_plugins roundrobin

LG_DATABASES_EXTRA="pc = host=127.0.0.1 port=$Q0,$Q1,$Q2 dbname=postgres router=roundrobin
frozen = host=127.0.0.1 port=$Q0 dbname=postgres"
lg_start faults "plugin_dir = $PLUGDIR
monitor_interval = 200
query_wait_timeout = $QWT
query_timeout = $QT
server_connect_timeout = $SCT
default_pool_size = 6" || bail "pooler did not start"

lg_private_cluster_wait
pass "private cluster up (primary $Q0, replicas $Q1, $Q2)"
q() { local p=$1; shift; "$PSQL" -X -At -q -h 127.0.0.1 -p "$p" -U postgres -d postgres "$@"; }
q "$Q0" -c "alter system set synchronous_standby_names = 'node1'" -c "select pg_reload_conf()" >/dev/null
q "$Q0" -c "create table ids (id bigint, port int, at timestamptz default now()); grant all on ids to app" >/dev/null
"$PGBENCH" -i -q -s 1 -h 127.0.0.1 -p "$Q0" -U app postgres > "$LG_DIR/pc-init.log" 2>&1 \
    || { diag_file "$LG_DIR/pc-init.log"; bail "pgbench -i on the private primary failed"; }
"$LG_PGCLUSTER" wait-catchup "$PC_DIR" 20 >/dev/null 2>&1 || diag "wait-catchup of the private cluster failed"
is "$(q "$Q0" -c "select sync_state from pg_stat_replication where application_name = 'node1'")" sync \
    "Q1 (node1) is the synchronous standby"

# be PORT COLUMN: one field of SHOW BACKENDS for db pc
be() { lg_be "$(lg_backends)" pc "$@"; }
lg_wait_for '[[ "$(be $Q0 role)/$(be $Q1 role)/$(be $Q2 role)/$(be $Q0 state)/$(be $Q1 state)/$(be $Q2 state)" == primary/replica/replica/up/up/up ]]' 20
ok $? "pc: Q0 primary, Q1/Q2 replicas, all up"

# node_pids N: the postmaster of node N and its children
node_pids() {
    local pm
    pm=$(head -n 1 "$PC_DIR/node$1/postmaster.pid" 2>/dev/null) || return 0
    echo "$pm $(pgrep -P "$pm" | tr '\n' ' ')"
}
all_gone() { local p; for p in "$@"; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
kill9_node() { # N: kill -9 node N's processes, wait until they are gone
    local p; p=$(node_pids "$1")
    [[ -n "$p" ]] || return 1
    kill -KILL $p 2>/dev/null
    lg_wait_for "all_gone $p" 10
}
now_ms() { date +%s%3N; }

# ---- the loops ----------------------------------------------------------------
# each line: start_ms duration_ms OK result | start_ms duration_ms ERR message
client_loop() { # NAME SQL_WITH_@I@
    local name=$1 sql=$2 i=0 t0 r rc
    while [[ ! -e $LG_DIR/stop ]] && (( i < 5000 )); do
        i=$((i + 1)); t0=$(now_ms)
        # the result from stdout only: a FATAL of a killed server may
        # reach stderr after a result that was acknowledged
        r=$(PGPASSWORD=app_pass timeout 40 "$PSQL" -X -At -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$LG_PORT" \
            -U app -d pc -c "${sql//@I@/$i}" 2>"$LG_DIR/$name.err"); rc=$?
        if (( rc == 0 )); then echo "$t0 $(( $(now_ms) - t0 )) OK $i $r"
        else echo "$t0 $(( $(now_ms) - t0 )) ERR $i $(tr '\n' ' ' < "$LG_DIR/$name.err") ${r//$'\n'/ }"; fi
    done >> "$LG_DIR/$name.log"
}
: > "$LG_DIR/reads.log"; : > "$LG_DIR/writes.log"
client_loop reads "select inet_server_port()" &
reads_pid=$!
client_loop writes "insert into ids (id, port) values (@I@, inet_server_port()) returning inet_server_port() || ',' || pg_is_in_recovery()" &
writes_pid=$!
frozen_pids=""
lg_on_exit "touch '$LG_DIR/stop'; kill $reads_pid $writes_pid 2>/dev/null"
lg_on_exit '[[ -n "$frozen_pids" ]] && kill -CONT $frozen_pids 2>/dev/null'
bench() { # NAME SECONDS: select-only pgbench in the background (its clients stop at their first error)
    PGPASSWORD=app_pass "$PGBENCH" -n -S -h 127.0.0.1 -p "$LG_PORT" -U app -c 2 -j 1 -T "$2" -R 50 pc \
        > "$LG_DIR/bench-$1.out" 2>&1 &
    bench_pid=$!
}
# kill_under_load PHASE SECONDS NODE WHO: pgbench for SECONDS, then kill -9
# of node NODE (WHO names it) and wait until the monitor shows it down;
# sets T_KILL, when it was killed
kill_under_load() {
    local port=$((Q0 + $3))
    bench "$1" "$2"
    sleep 1
    T_KILL=$(now_ms)
    kill9_node "$3"; ok $? "$1: $4 killed (-9, postmaster and children)"
    faults=$((faults + 1))
    lg_wait_for "[[ \$(be $port state) == down ]]" 15
    ok $? "$1: SHOW BACKENDS shows Q$3 down"
}
# in LOG FROM TO: lines of LOG whose start is in [FROM, TO)
in_() { awk -v f="$2" -v t="$3" '$1 >= f && $1 < t' "$LG_DIR/$1.log"; }
n_ok() { in_ "$@" | grep -c ' OK '; }
n_err() { in_ "$@" | grep -c ' ERR '; }
slowest() { in_ "$@" | awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }'; }
faults=0

lg_wait_for '(( $(grep -c " OK " "$LG_DIR/reads.log") >= 10 && $(grep -c " OK " "$LG_DIR/writes.log") >= 10 ))' 20
ok $? "the read and write loops run through lagoon"

# ============================ A. kill -9 of replica Q2 ========================
kill_under_load A 12 2 "replica Q2"
tA=$T_KILL
tAdown=$(now_ms)
diag "A: Q2 seen down $((tAdown - tA)) ms after the kill"
cmp_ok $((tAdown - tA)) -le 5000 "A: ... within a few monitor intervals ($((tAdown - tA)) ms)"
sleep 3
tA2=$(now_ms)
is "$(n_err reads "$tAdown" "$tA2")" 0 "A: every read started after Q2 was seen down succeeded ($(n_ok reads "$tAdown" "$tA2"))"
is "$(in_ reads "$tAdown" "$tA2" | grep -c " OK [0-9]* $Q2\$")" 0 "A: ... and none of them ran on Q2"
e=$(n_err reads "$tA" "$tAdown")
cmp_ok "$e" -le 3 "A: at most a few reads (those in flight on Q2) failed ($e)"
unlike "$(in_ reads "$tA" "$tAdown" | grep ' ERR ' | grep -v -E 'ERROR|FATAL|server|connection')" '.' "A: ... with a clear error" \
    || diag "$(in_ reads "$tA" "$tAdown" | grep ' ERR ')"
is "$(n_err writes "$tA" "$tA2")" 0 "A: writes were not disturbed"
wait "$bench_pid"; lg_bench_counts "$LG_DIR/bench-A.out"; diag "A: pgbench: $BENCH_N transactions, $BENCH_FAILED failed"
pc_start_node 2; ok $? "A: Q2 restarted"
lg_wait_for '[[ $(be $Q2 state) == up ]]' 15
tAup=$(now_ms)
lg_wait_for '(( $(in_ reads $tAup 99999999999999 | grep -c " OK [0-9]* $Q2\$") >= 3 ))' 15
ok $? "A: Q2 serves reads again"

# ============================ B. SIGSTOP of the primary Q0 ====================
bench B 14
PGPASSWORD=app_pass "$PSQL" -X -At -h 127.0.0.1 -p "$LG_PORT" -U app -d pc \
    -c "/* lagoon:primary */ select pg_sleep(5), 'slept'" > "$LG_DIR/B-inflight.out" 2>&1 &
inflight=$!
lg_wait_for "[[ \$(q $Q0 -c \"select count(*) from pg_stat_activity where query like '%pg_sleep(5)%' and pid <> pg_backend_pid()\") == 1 ]]" 10
tB=$(now_ms)
frozen_pids=$(node_pids 0)
kill -STOP $frozen_pids; ok $? "B: the primary Q0 frozen (SIGSTOP, postmaster and children)"
faults=$((faults + 1))
t0=$SECONDS
PGCONNECT_TIMEOUT=40 PGPASSWORD=app_pass timeout 40 "$PSQL" -X -At -h 127.0.0.1 -p "$LG_PORT" -U app -d frozen \
    -c "select 'fresh'" > "$LG_DIR/B-fresh.out" 2>&1 &
fresh=$!
wait "$inflight"; rc=$?
out=$(cat "$LG_DIR/B-inflight.out")
isnt "$rc" 0 "B: the query in flight on the frozen primary fails"
like "$out" 'query_timeout' "B: ... with query_timeout ($out)"
wait "$fresh"; rc=$?; dt=$((SECONDS - t0))
out=$(cat "$LG_DIR/B-fresh.out")
isnt "$rc" 0 "B: a client needing a new connection to the frozen primary fails"
like "$out" '(ERROR|FATAL|server)' "B: ... with a clear error ($(tr '\n' ' ' <<<"$out"))"
cmp_ok "$dt" -le $((QWT + 10)) "B: ... within query_wait_timeout + a margin (${dt} s)"
like "$(cat "$LG_LOG")" 'server_connect_timeout' "B: the pooler closed the frozen server connection attempt on server_connect_timeout"
sleep 2
tB2=$(now_ms)
kill -CONT $frozen_pids; ok $? "B: the primary Q0 thawed (SIGCONT)"
frozen_pids=""
tBc=$(now_ms)
slow=$(slowest writes "$tB" "$tB2")
cmp_ok "$slow" -le $(( (QWT + 8) * 1000 )) "B: no write waited beyond query_wait_timeout + a margin (slowest ${slow} ms)"
unlike "$(in_ writes "$tB" "$tB2" | grep ' ERR ' | grep -v -E 'ERROR|FATAL|server|connection')" '.' "B: writes that failed got a clear error ($(n_err writes "$tB" "$tB2") of them)"
nr=$(( $(n_ok reads "$tB" "$tB2") + $(n_err reads "$tB" "$tB2") ))
cmp_ok "$(n_ok reads "$tB" "$tB2")" -ge $(( nr * 8 / 10 )) "B: reads go on on the replicas while the primary is frozen ($(n_ok reads "$tB" "$tB2") of $nr)"
lg_wait_for '[[ $(be $Q0 state) == up && $(be $Q0 is_write_target) == yes ]]' 20
ok $? "B: after SIGCONT Q0 is up and the write target again"
lg_wait_for "(( \$(n_ok writes $tBc 99999999999999) >= 3 ))" 20
ok $? "B: writes resume after SIGCONT"
wait "$bench_pid"; lg_bench_counts "$LG_DIR/bench-B.out"; diag "B: pgbench: $BENCH_N transactions, $BENCH_FAILED failed"

# ============================ C. kill -9 of the primary, promotion ============
kill_under_load C 14 0 "the primary Q0"
tC=$T_KILL
sleep 1
pc_ctl 1 -w promote >/dev/null 2>&1; ok $? "C: Q1 promoted (pg_ctl promote)"
faults=$((faults + 1))
lg_wait_for '[[ $(be $Q1 role)/$(be $Q1 is_write_target) == primary/yes ]]' 15
ok $? "C: lagoon found Q1 as the new primary and write target, no reload"
tCp=$(now_ms)
diag "C: new primary in use $((tCp - tC)) ms after the kill"
lg_wait_for "(( \$(n_ok writes $tCp 99999999999999) >= 5 ))" 20
ok $? "C: writes resume on the new primary"
tC2=$(now_ms)
touch "$LG_DIR/stop"
wait "$reads_pid" "$writes_pid" "$bench_pid"
lg_bench_counts "$LG_DIR/bench-C.out"; diag "C: pgbench: $BENCH_N transactions, $BENCH_FAILED failed"
slow=$(slowest writes "$tC" "$tC2")
cmp_ok "$slow" -le $(( (QWT + 8) * 1000 )) "C: no write waited beyond query_wait_timeout + a margin (slowest ${slow} ms)"
slow=$(slowest reads "$tC" "$tC2")
cmp_ok "$slow" -le $(( (QWT + 8) * 1000 )) "C: no read waited beyond query_wait_timeout + a margin (slowest ${slow} ms)"
unlike "$(in_ writes "$tC" "$tC2" | grep ' ERR ' | grep -v -E 'ERROR|FATAL|server|connection')" '.' "C: writes that failed got a clear error ($(n_err writes "$tC" "$tC2") of them)"
is "$(in_ writes "$((tCp + 1000))" 99999999999999 | grep -c ' ERR ')" 0 "C: every write started a second after the switch succeeded"
is "$(in_ writes "$tCp" 99999999999999 | awk '$3 == "OK" && $5 != "'"$Q1"',false"' | wc -l)" 0 "C: ... on Q1, not in recovery"

# ============================ the ledger ======================================
acked=$(awk '$3 == "OK" { print $4 }' "$LG_DIR/writes.log" | sort -n)
n_acked=$(wc -l <<<"$acked")
q "$Q1" -c "select id from ids order by id" > "$LG_DIR/ids.on-q1"
lost=$(comm -23 <(sort <<<"$acked") <(sort -u "$LG_DIR/ids.on-q1") | wc -l)
twice=$(sort "$LG_DIR/ids.on-q1" | uniq -d | wc -l)
n_err_w=$(grep -c ' ERR ' "$LG_DIR/writes.log")
diag "ledger: $n_acked writes acknowledged, $n_err_w failed, $(wc -l < "$LG_DIR/ids.on-q1") rows on Q1; lost $lost, twice $twice"
cmp_ok "$n_acked" -ge 50 "ledger: writes were acknowledged ($n_acked)"
is "$lost" 0 "ledger: no acknowledged write is lost (transactions lost: $lost)"
is "$twice" 0 "ledger: no write was applied twice"
is "$(awk '$3 == "OK" && $5 !~ /,false$/' "$LG_DIR/writes.log" | wc -l)" 0 "ledger: every acknowledged write ran on a node not in recovery"
diag "errors seen by the loops: $(grep -h ' ERR ' "$LG_DIR/reads.log" "$LG_DIR/writes.log" | cut -d' ' -f5- | sort | uniq -c | head -n 5)"
diag "faults injected and survived: $faults"
lg_alive; ok $? "the pooler is still running"
done_testing
