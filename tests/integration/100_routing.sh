#!/usr/bin/env bash
# 100_routing: read/write routing through the plugins, end to end, with the
# servers themselves as the ground truth (inet_server_port() inside the
# routed statement, pg_is_in_recovery(), the primary's pg_stat_user_tables
# and row counts), not lagoon's own counters.
#
# Part 1, shared cluster, router=roundrobin: 2,000 single-statement SELECTs
# in one session split between the two replicas within 10% of even, none on
# the primary; 1,000 autocommit INSERTs all land on the primary (n_tup_ins
# delta and row count); BEGIN ... UPDATE ... COMMIT, the lagoon:primary
# hint, SELECT ... FOR UPDATE and a WITH holding an INSERT run on the
# primary; BEGIN READ ONLY runs on a replica; SELECT nextval() succeeds
# (the replica refuses it, lagoon replays it on the primary) and increments.
#
# Part 2, shared cluster, router=leastlag max_lag_bytes=1 MB: replay paused
# on replica 1 with writes flowing: reads go to replica 2; both replicas
# paused and over the bound: reads go to the primary; after resuming, reads
# hit both replicas again.  Parts 1-3 run under 090_cluster's convention
# for the shared replicas (090_cluster.replay.lock held, so no other test
# pauses replay meanwhile and none sees ours); the pauses are always
# resumed on exit, only those this copy made.
#
# Part 3, router=all_replica (a test plugin answering "the first replica"
# for everything): INSERTs still all land on the primary.
#
# Part 4, a PRIVATE cluster (port reservation shared with 090_cluster):
# a loop of reads through lagoon while replica 2 is stopped with
# -m immediate: the reads move to the surviving nodes, at most a handful of
# errors (those in flight at the kill), the loop finishes; after a restart
# replica 2 serves again.
#
# Part 5: a broken plugin as the global router (bad ABI major, bad magic,
# no entry symbol): lagoon refuses to start, naming the file and the reason.
. "$(dirname "$0")/lib.sh"
lg_setup pgbench
T=lg100_t_$$; W=lg100_w_$$; B=lg100_b_$$; S=lg100_s_$$   # this copy's objects

# ---- plugin_dir: the shipped plugins and the broken test ones ----------------
# (the test plugins are built by make check)
lg_plugins roundrobin leastlag all_replica bad_major bad_magic no_entry

# ---- the private cluster (lib.sh), started in the background now; used in
# part 4
lg_private_cluster_start

# ---- this copy's tables and sequence on the shared primary -------------------
lg_pg 0 -c "create table $T (id serial primary key, v int);
            create table $W (id bigserial primary key, pad text);
            create table $B (id bigserial primary key, pad text);
            create sequence $S;
            grant all on $T, $W, $B, ${T}_id_seq, ${W}_id_seq, ${B}_id_seq, $S to app;
            insert into $T (v) values (0);" >/dev/null || bail "could not create the test tables"
lg_on_exit 'lg_pg 0 -c "drop table if exists $T, $W, $B; drop sequence if exists $S" >/dev/null 2>&1'

# ---- the pooler ------------------------------------------------------------
CL="host=127.0.0.1 port=$P0,$P1,$P2 dbname=postgres"
LG_DATABASES_EXTRA="rr = $CL router=roundrobin
ll = $CL router=leastlag router_options='max_lag_bytes=1000000'
pc = host=127.0.0.1 port=$Q0,$Q1,$Q2 dbname=postgres router=roundrobin"
LG_DATABASES_EXTRA+=$'\n'"ar = $CL router=all_replica"
lg_start routing "plugin_dir = $PLUGDIR
monitor_interval = 200
query_wait_timeout = 10
server_connect_timeout = 3" || bail "pooler did not start"

# SHOW BACKENDS: lib.sh's lg_be, lg_wait_be and its snapshot $SB

# reads DB N: N single-statement "select inet_server_port()" in one session,
# one port per line
reads() {
    local i
    for ((i = 0; i < $2; i++)); do echo "select inet_server_port();"; done > "$LG_DIR/reads.sql"
    lg_psql -d "$1" -f "$LG_DIR/reads.sql" 2>&1
}
# tally OUTPUT PORT: how many lines of OUTPUT are exactly PORT
tally() { grep -cx "$2" <<<"$1"; }
# n_tup_ins TABLE: the primary's own count of inserted tuples
n_tup_ins() { lg_pg 0 -c "select coalesce((select n_tup_ins from pg_stat_user_tables where relname = '$1'), -1)"; }
# settle TABLE: wait (bounded) until the primary's n_tup_ins for TABLE has
# caught up with its rows (no row is ever deleted from it): a server
# session flushes its table statistics up to a second or more after its
# transaction, so a baseline taken too early would be short
settle() { lg_wait_for "[[ \"\$(n_tup_ins $1)\" == \"\$(lg_pg 0 -c 'select count(*) from $1')\" ]]" 15 \
           || diag "n_tup_ins of $1 ($(n_tup_ins "$1")) never matched its row count"; }
# lsn_gap N: bytes of WAL between the primary's position and node N's replay
lsn_gap() {
    local cur
    cur=$(lg_pg 0 -c "select pg_current_wal_lsn()")
    lg_pg "$1" -c "select pg_wal_lsn_diff('$cur', pg_last_wal_replay_lsn())::bigint"
}

# Parts 1-3 need the shared replicas replaying (nextval() needs the new
# sequence on the replica it is sent to) and part 2 pauses them: they run
# under the lock of the tests that pause replay on the shared replicas
# (090_cluster.sh, 110_ryw.sh), one copy at a time.
exec 8>"$LG_ROOT/090_cluster.replay.lock"
flock -w 120 8 || diag "timeout waiting for $LG_ROOT/090_cluster.replay.lock; going on"
"$LG_PGCLUSTER" wait-catchup "$LG_CLUSTER_DIR" 20 >/dev/null 2>&1 || diag "wait-catchup of the shared cluster failed"

# =========================== part 1: roundrobin ==============================
WAIT_DB=rr
lg_wait_be "rr: P0 primary, P1/P2 replicas, all up (within 15 s)" 15 \
    '[[ "$(lg_be "$SB" rr $P0 role)/$(lg_be "$SB" rr $P1 role)/$(lg_be "$SB" rr $P2 role)" == primary/replica/replica &&
       "$(lg_be "$SB" rr $P0 state)/$(lg_be "$SB" rr $P1 state)/$(lg_be "$SB" rr $P2 state)" == up/up/up ]]'
is "$(lg_pg 0 -c 'select pg_is_in_recovery()')/$(lg_pg 1 -c 'select pg_is_in_recovery()')/$(lg_pg 2 -c 'select pg_is_in_recovery()')" \
    f/t/t "ground truth: P0 is the primary, P1 and P2 are in recovery"

out=$(reads rr 2000)
n0=$(tally "$out" $P0); n1=$(tally "$out" $P1); n2=$(tally "$out" $P2)
is "$((n0 + n1 + n2))/$(wc -l <<<"$out")" "2000/2000" "rr: 2000 SELECTs in one session all answered" \
    || diag "$(grep -vx "$P0\|$P1\|$P2" <<<"$out" | head -n 5)"
is "$n0" 0 "rr: none of the 2000 SELECTs ran on the primary"
cmp_ok "$n1" -ge 900 "rr: replica 1 ran >= 900 of them ($n1)"
cmp_ok "$n1" -le 1100 "rr: replica 1 ran <= 1100 of them ($n1)"
cmp_ok "$n2" -ge 900 "rr: replica 2 ran >= 900 of them ($n2)"
cmp_ok "$n2" -le 1100 "rr: replica 2 ran <= 1100 of them ($n2)"

# 1,000 autocommit INSERTs in one session
settle "$T"
ins0=$(n_tup_ins "$T")
for ((i = 1; i <= 1000; i++)); do echo "insert into $T (v) values ($i);"; done > "$LG_DIR/ins.sql"
out=$(lg_psql -d rr -f "$LG_DIR/ins.sql" 2>&1); rc=$?
is "$rc/$out" "0/" "rr: 1000 autocommit INSERTs in one session succeed" || diag "$(head -n 5 <<<"$out")"
is "$(lg_pg 0 -c "select count(*) from $T where v > 0")" 1000 "rr: the primary holds the 1000 rows"
lg_wait_for '[[ $(( $(n_tup_ins "$T") - ins0 )) -ge 1000 ]]' 15
is "$(( $(n_tup_ins "$T") - ins0 ))" 1000 "rr: the primary's n_tup_ins for the table grew by exactly 1000"

# a read-write block: the SELECT inside runs on the primary
out=$(lg_psql -d rr 2>&1 <<EOF
begin;
select inet_server_port() || ',' || pg_is_in_recovery();
update $T set v = -v where v = 1;
commit;
EOF
)
is "$out" "$P0,false" "rr: BEGIN; SELECT inet_server_port(); UPDATE; COMMIT runs on the primary"
is "$(lg_pg 0 -c "select count(*) from $T where v = -1")" 1 "rr: ... and its UPDATE is on the primary"

# nextval: a replica refuses it (25006), lagoon replays it on the primary
v1=$(lg_psql -d rr -c "select nextval('$S')" 2>&1)
v2=$(lg_psql -d rr -c "select nextval('$S')" 2>&1)
is "$v1,$v2" "1,2" "rr: SELECT nextval() succeeds through lagoon and increments (1 then 2)"
is "$(lg_pg 0 -c "select last_value from $S")" 2 "rr: ... on the primary (its last_value is 2)"
# the same through the extended protocol (Parse/Bind/Execute/Sync replayed)
printf "select nextval('%s');\n" "$S" > "$LG_DIR/nextval.sql"
out=$(lg_pgbench -n -M extended -f "$LG_DIR/nextval.sql" -c 2 -j 1 -t 20 rr 2>&1); rc=$?
ok "$(( rc != 0 ))" "rr: 40 extended-protocol nextval() through lagoon succeed (pgbench exit 0)" || diag "$out"
like "$out" 'number of failed transactions: 0 ' "rr: ... with no failed transaction"
is "$(lg_pg 0 -c "select last_value from $S")" 42 "rr: ... each applied once, on the primary (last_value 42)"

out=$(lg_psql -d rr 2>&1 <<EOF
begin read only;
select inet_server_port() || ',' || pg_is_in_recovery();
commit;
EOF
)
like "$out" "^($P1|$P2),true\$" "rr: BEGIN READ ONLY; SELECT inet_server_port(); COMMIT runs on a replica"

out=$(lg_psql -d rr -c "/* lagoon:primary */ select inet_server_port() || ',' || pg_is_in_recovery()" 2>&1)
is "$out" "$P0,false" "rr: /* lagoon:primary */ SELECT runs on the primary"
out=$(lg_psql -d rr -c "select inet_server_port() from $T where v = 2 for update" 2>&1)
is "$out" "$P0" "rr: SELECT ... FOR UPDATE runs on the primary"
out=$(lg_psql -d rr -c "with i as (insert into $T (v) values (5000) returning id) select inet_server_port() from i" 2>&1)
is "$out" "$P0" "rr: WITH ... INSERT ... SELECT runs on the primary"
is "$(lg_pg 0 -c "select count(*) from $T where v = 5000")" 1 "rr: ... and inserted its row there"

# A read and a write sent together (pipelined), the write before the read's
# answer: the write gets its own routing decision and runs on the primary;
# it does not follow the read onto the read's replica (which would refuse
# it with 25006).  Simple and extended protocol; ground truth: the port and
# pg_is_in_recovery() each statement reports, and the primary's rows.
RD="select pg_sleep(0.1), inet_server_port() || ',' || pg_is_in_recovery()"
for mode in pipeline xpipeline; do
    v=$([[ $mode == pipeline ]] && echo 6001 || echo 6002)
    WR="insert into $T (v) values ($v) returning inet_server_port() || ',' || pg_is_in_recovery()"
    out=$(python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 10 startup:app:rr read \
          "$mode:$RD&&&$WR&&&$RD" read read read 2>&1)
    rows=$(grep '^D ' <<<"$out" | sed -e 's/^D //' -e 's/^|//')
    unlike "$out" $'(^|\n)E ' "rr: $mode read, write, read in one send: no error" || diag "$out"
    like "$(sed -n 1p <<<"$rows")" "^($P1|$P2),true\$" "rr: $mode: the first read ran on a replica"
    is "$(sed -n 2p <<<"$rows")" "$P0,false" "rr: $mode: the write behind it ran on the primary"
    like "$(sed -n 3p <<<"$rows")" "^[0-9]+,(true|false)\$" "rr: $mode: the read after it was answered"
    is "$(lg_pg 0 -c "select count(*) from $T where v = $v")" 1 "rr: $mode: the primary holds the row"
done

# =========================== part 2: leastlag ================================
WAIT_DB=ll
# (the replay lock is held since part 1); pauses are resumed on exit, only ours
paused1=0; paused2=0
lg_on_exit '(( paused2 )) && "$LG_PGCLUSTER" resume-replay "$LG_CLUSTER_DIR" 2 >/dev/null 2>&1'
lg_on_exit '(( paused1 )) && "$LG_PGCLUSTER" resume-replay "$LG_CLUSTER_DIR" 1 >/dev/null 2>&1'
"$LG_PGCLUSTER" wait-catchup "$LG_CLUSTER_DIR" 20 >/dev/null 2>&1 || diag "wait-catchup of the shared cluster failed"
lg_wait_be "ll: both replicas up with a known lag under the bound (within 15 s)" 15 \
    '[[ "$(lg_be "$SB" ll $P1 state)/$(lg_be "$SB" ll $P2 state)" == up/up ]] &&
     [[ "$(lg_be "$SB" ll $P1 lag_bytes)" =~ ^[0-9]+$ && "$(lg_be "$SB" ll $P2 lag_bytes)" =~ ^[0-9]+$ ]] &&
     (( $(lg_be "$SB" ll $P1 lag_bytes) < 1000000 && $(lg_be "$SB" ll $P2 lag_bytes) < 1000000 ))'

# writes flowing through lagoon: a trickle for the whole part
# (one short session per INSERT, one line per INSERT: ok or ERR ...)
rm -f "$LG_DIR/trickle.stop"
(
    for ((i = 0; i < 1200; i++)); do
        [[ -e "$LG_DIR/trickle.stop" ]] && break
        r=$(lg_psql -d ll -c "insert into $W (pad) values ('x')" 2>&1) && r=ok || r="ERR ${r//$'\n'/ }"
        echo "$r" >> "$LG_DIR/trickle.out"
        sleep 0.05
    done
) &
trickle_pid=$!
lg_on_exit "touch '$LG_DIR/trickle.stop'; kill $trickle_pid 2>/dev/null"

out=$("$LG_PGCLUSTER" pause-replay "$LG_CLUSTER_DIR" 1 2>&1); rc=$?
(( rc == 0 )) && paused1=1
is "$rc/$(lg_pg 1 -c 'select pg_get_wal_replay_pause_state()')" 0/paused "ll: replay paused on replica 1 (ground truth: pg_get_wal_replay_pause_state)" \
    || diag "$out"
# ~2.5 MB of WAL (through lagoon: a write, so on the primary)
lg_psql -d ll -c "insert into $B (pad) select repeat('x', 200) from generate_series(1, 10000)" >/dev/null 2>&1
cmp_ok "$(lsn_gap 1)" -gt 1000000 "ll: ground truth: replica 1 is > 1 MB behind the primary ($(lsn_gap 1) bytes)"
lg_wait_be "ll: SHOW BACKENDS sees replica 1 over the bound and replica 2 under it (within 15 s)" 15 \
    '[[ "$(lg_be "$SB" ll $P1 lag_bytes)" =~ ^[0-9]+$ && "$(lg_be "$SB" ll $P2 lag_bytes)" =~ ^[0-9]+$ ]] &&
     (( $(lg_be "$SB" ll $P1 lag_bytes) > 1000000 && $(lg_be "$SB" ll $P2 lag_bytes) < 1000000 ))'
out=$(reads ll 100)
is "$(tally "$out" $P2)/$(tally "$out" $P1)/$(tally "$out" $P0)" 100/0/0 \
    "ll: with replica 1 paused (> max_lag_bytes) and writes flowing, all 100 reads ran on replica 2"
cmp_ok "$(lsn_gap 2)" -lt 1000000 "ll: ground truth: replica 2 kept replaying meanwhile ($(lsn_gap 2) bytes behind)"

out=$("$LG_PGCLUSTER" pause-replay "$LG_CLUSTER_DIR" 2 2>&1); rc=$?
(( rc == 0 )) && paused2=1
is "$rc/$(lg_pg 2 -c 'select pg_get_wal_replay_pause_state()')" 0/paused "ll: replay paused on replica 2 too" || diag "$out"
lg_psql -d ll -c "insert into $B (pad) select repeat('x', 200) from generate_series(1, 10000)" >/dev/null 2>&1
cmp_ok "$(lsn_gap 2)" -gt 1000000 "ll: ground truth: replica 2 is now > 1 MB behind too ($(lsn_gap 2) bytes)"
# bounded poll until the reads leave the replicas, then a clean batch
deadline=$((SECONDS + 15))
while :; do
    out=$(reads ll 10)
    [[ "$(tally "$out" $P0)" == 10 ]] && break
    (( SECONDS < deadline )) || break
    sleep 0.2
done
out=$(lg_psql -d ll -f <(for ((i = 0; i < 50; i++)); do echo "select inet_server_port() || ',' || pg_is_in_recovery();"; done) 2>&1)
is "$(grep -cx "$P0,false" <<<"$out")" 50 "ll: with both replicas over the bound, all 50 reads ran on the primary (not in recovery)" \
    || diag "$(sort <<<"$out" | uniq -c)"

touch "$LG_DIR/trickle.stop"; wait "$trickle_pid" 2>/dev/null
n_ok=$(grep -cx ok "$LG_DIR/trickle.out")
is "$(grep -c '^ERR' "$LG_DIR/trickle.out")" 0 "ll: the trickle of writes through lagoon had no errors ($n_ok INSERTs)" \
    || diag "$(grep '^ERR' "$LG_DIR/trickle.out" | head -n 3)"
is "$(lg_pg 0 -c "select count(*) from $W")" "$n_ok" "ll: ... and the primary holds each of their rows"
"$LG_PGCLUSTER" resume-replay "$LG_CLUSTER_DIR" 1 >/dev/null 2>&1 && paused1=0
"$LG_PGCLUSTER" resume-replay "$LG_CLUSTER_DIR" 2 >/dev/null 2>&1 && paused2=0
is "$paused1$paused2/$(lg_pg 1 -c 'select pg_get_wal_replay_pause_state()')/$(lg_pg 2 -c 'select pg_get_wal_replay_pause_state()')" \
    "00/not paused/not paused" "ll: replay resumed on both replicas"
"$LG_PGCLUSTER" wait-catchup "$LG_CLUSTER_DIR" 20 >/dev/null 2>&1 || diag "wait-catchup after resume failed"
seen1=0; seen2=0; deadline=$((SECONDS + 15))
while :; do
    out=$(reads ll 20)
    (( $(tally "$out" $P1) > 0 )) && seen1=1
    (( $(tally "$out" $P2) > 0 )) && seen2=1
    (( seen1 && seen2 )) && break
    (( SECONDS < deadline )) || break
    sleep 0.2
done
is "$seen1$seen2" 11 "ll: after the resume, reads run on both replicas again (within 15 s)"

# =========================== part 3: all_replica =============================
WAIT_DB=ar
lg_wait_be "ar: all backends up (within 15 s)" 15 \
    '[[ "$(lg_be "$SB" ar $P0 state)/$(lg_be "$SB" ar $P1 state)/$(lg_be "$SB" ar $P2 state)" == up/up/up ]]'
out=$(lg_psql -d ar -c "select inet_server_port()" 2>&1)
like "$out" "^($P1|$P2)\$" "ar: the all_replica plugin is in charge (a SELECT ran on a replica: $out)"
settle "$T"
ins0=$(n_tup_ins "$T")
cnt0=$(lg_pg 0 -c "select count(*) from $T")
for ((i = 1; i <= 200; i++)); do echo "insert into $T (v) values (-$i) returning inet_server_port();"; done > "$LG_DIR/ar.sql"
out=$(lg_psql -d ar -f "$LG_DIR/ar.sql" 2>&1)
is "$(tally "$out" $P0)/$(wc -l <<<"$out")" 200/200 "ar: all 200 INSERT ... RETURNING inet_server_port() ran on the primary" \
    || diag "$(sort <<<"$out" | uniq -c | head)"
is "$(( $(lg_pg 0 -c "select count(*) from $T") - cnt0 ))" 200 "ar: the primary holds the 200 new rows"
lg_wait_for '[[ $(( $(n_tup_ins "$T") - ins0 )) -ge 200 ]]' 15
is "$(( $(n_tup_ins "$T") - ins0 ))" 200 "ar: the primary's n_tup_ins grew by exactly 200"

flock -u 8; exec 8>&-

# =========================== part 4: a replica stopped mid-run ===============
WAIT_DB=pc
lg_private_cluster_wait
lg_wait_be "pc: Q0 primary, Q1/Q2 replicas, all up (within 15 s)" 15 \
    '[[ "$(lg_be "$SB" pc $Q0 role)/$(lg_be "$SB" pc $Q1 role)/$(lg_be "$SB" pc $Q2 role)" == primary/replica/replica &&
       "$(lg_be "$SB" pc $Q0 state)/$(lg_be "$SB" pc $Q1 state)/$(lg_be "$SB" pc $Q2 state)" == up/up/up ]]'

# the loop: one short session per read, one line per read: its start (ms
# since the epoch), its duration (ms) and the port, or ERR and the message;
# until $LG_DIR/pc.stop exists (bounded at 3000 reads)
now_ms() { date +%s%3N; }
rm -f "$LG_DIR/pc.stop"
: > "$LG_DIR/pc.reads"
(
    for ((i = 0; i < 3000; i++)); do
        [[ -e "$LG_DIR/pc.stop" ]] && break
        t0=$(now_ms)
        r=$(PGPASSWORD=app_pass timeout 20 "$PSQL" -X -At -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$LG_PORT" \
            -U app -d pc -c "select inet_server_port()" 2>&1) || r="ERR ${r//$'\n'/ }"
        echo "$t0 $(( $(now_ms) - t0 )) $r" >> "$LG_DIR/pc.reads"
    done
    echo DONE >> "$LG_DIR/pc.reads"
) &
loop_pid=$!
lg_on_exit "touch '$LG_DIR/pc.stop'; kill $loop_pid 2>/dev/null"
# on PORT [FROM_MS [TO_MS]]: reads that started in [FROM, TO) and ran on PORT
on() { awk -v p="$1" -v f="${2:-0}" -v t="${3:-99999999999999}" '$1 >= f && $1 < t && $3 == p && NF == 3' "${READS:-$LG_DIR/pc.reads}" | wc -l; }
# started FROM_MS [TO_MS]: reads that started in [FROM, TO), whatever their outcome
started() { awk -v f="$1" -v t="${2:-99999999999999}" '$1 ~ /^[0-9]+$/ && $1 >= f && $1 < t' "${READS:-$LG_DIR/pc.reads}" | wc -l; }
lg_wait_for '(( $(on $Q1) >= 20 && $(on $Q2) >= 20 ))' 15
ok $? "pc: the loop of reads runs on both replicas ($(on $Q1) on Q1, $(on $Q2) on Q2)"
t_kill=$(now_ms)
pc_ctl 2 -m immediate -w stop >/dev/null 2>&1; ok $? "pc: replica 2 stopped (immediate) while the loop runs"
lg_wait_be "pc: SHOW BACKENDS shows Q2 down (within 15 s)" 15 '[[ "$(lg_be "$SB" pc $Q2 state)" == down ]]'
t_down=$(now_ms)
lg_wait_for '(( $(started $t_down) >= 50 ))' 15
t_restart=$(now_ms)
cp "$LG_DIR/pc.reads" "$LG_DIR/pc.reads.down"    # one snapshot for the counts
READS=$LG_DIR/pc.reads.down
n_seg=$(started "$t_down" "$t_restart")
n_seg1=$(on $Q1 "$t_down" "$t_restart"); n_seg0=$(on $Q0 "$t_down" "$t_restart")
unset READS
cmp_ok "$n_seg" -ge 50 "pc: the loop goes on while Q2 is down ($n_seg reads started since)"
is "$((n_seg1 + n_seg0))" "$n_seg" \
    "pc: every read started with Q2 down ran on Q1 or Q0 ($n_seg1 on Q1, $n_seg0 on Q0)" \
    || diag "$(awk -v f="$t_down" -v t="$t_restart" '$1 >= f && $1 < t' "$LG_DIR/pc.reads.down" | cut -d' ' -f3- | sort | uniq -c | head)"
pc_start_node 2; ok $? "pc: replica 2 restarted"
t_up=$(now_ms)
lg_wait_be "pc: Q2 up again (within 15 s)" 15 '[[ "$(lg_be "$SB" pc $Q2 state)/$(lg_be "$SB" pc $Q2 role)" == up/replica ]]'
lg_wait_for '(( $(on $Q2 $t_up) >= 10 ))' 15
ok $? "pc: after the restart, replica 2 serves reads again ($(on $Q2 "$t_up") since)"
touch "$LG_DIR/pc.stop"
wait "$loop_pid"
is "$(tail -n 1 "$LG_DIR/pc.reads")" DONE "pc: the loop of reads finished"
total=$(started 0)
errs=$(grep -c '^[0-9]* [0-9]* ERR' "$LG_DIR/pc.reads")
good=$(( $(on $Q0) + $(on $Q1) + $(on $Q2) ))
diag "pc: $total reads, $errs errors"
cmp_ok "$errs" -le 5 "pc: at most a handful of client errors across the kill ($errs)" \
    || diag "$(grep ' ERR' "$LG_DIR/pc.reads" | head)"
cmp_ok "$(( good * 100 / (total > 0 ? total : 1) ))" -ge 95 "pc: >= 95% of the $total reads succeeded ($good)"
# A read caught by the kill (routed to Q2 before the monitor saw it down)
# may fail, but must not sit in Q2's queue until query_wait_timeout (10 s):
# lagoon moves a waiting read whose replica is unusable to the primary.
slow=$(awk '$1 ~ /^[0-9]+$/ && $2 >= 8000' "$LG_DIR/pc.reads")
ok "$([[ -z "$slow" ]]; echo $?)" \
    "pc: no read around the kill waited >= 8 s (query_wait_timeout is 10 s)" \
    || diag "$slow"

# =========================== part 5: broken plugins at start-up ==============
# refuse_start PLUGIN REGEX: lagoon with router = PLUGIN exits (within 10 s)
# and its log or stderr matches REGEX
refuse_start() {
    local p=$1 re=$2 port ini=$LG_DIR/bad-$1.ini log=$LG_DIR/bad-$1.log pid i txt
    lg_free_port || bail "no free port"; port=$LG_FREE_PORT
    mkdir -p "$LG_DIR/sock-bad"
    cat > "$ini" <<EOF
[databases]
cl = $CL
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir = $LG_DIR/sock-bad
auth_type = trust
auth_file = $LG_USERLIST_FILE
logfile = $log
pidfile = $LG_DIR/bad-$p.pid
plugin_dir = $PLUGDIR
router = $p
EOF
    "$LG_BIN" "$ini" > "$LG_DIR/bad-$p.stdout" 2>&1 &
    pid=$!
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
        fail "router = $p: lagoon refuses to start (it was still running after 10 s)"
        diag_file "$log" 10
        return
    fi
    wait "$pid"; rc=$?
    txt=$(cat "$log" "$LG_DIR/bad-$p.stdout" 2>/dev/null)
    isnt "$rc" 0 "router = $p: lagoon refuses to start (exit $rc)"
    like "$txt" "$re" "router = $p: ... and says why, naming the file" || diag "$txt"
}
refuse_start bad_major "$PLUGDIR/bad_major\\.so: ABI 2\\.0, core speaks 1\\.1"
refuse_start bad_magic "$PLUGDIR/bad_magic\\.so: not a lagoon plugin \\(bad magic 0x[0-9a-f]+\\)"
refuse_start no_entry "$PLUGDIR/no_entry\\.so: not a lagoon plugin \\(no pooler_plugin_entry symbol\\)"

lg_alive; ok $? "the pooler is still running"
done_testing
