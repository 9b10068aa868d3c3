#!/usr/bin/env bash
# 175_exhaustion: resource exhaustion while pgbench load runs (shared
# cluster, not destructive).
#
# Pooler "mc" (max_client_conn = 40): filled up with idle logged-in
# clients, new clients get "no more connections allowed (max_client_conn)";
# a client announcing a 2 GiB message (and one with a negative length) gets
# a clear error; thousands of connects per second (bare TCP connects and
# full logins) are answered or refused cleanly.
# Pooler "fd", started with `ulimit -n 48` and max_client_conn = 1000: more
# clients than descriptors; those that do not fit get a clear error (or at
# worst a closed connection), the pooler does not spin on accept() and
# does not flood its log.
# Through all of it the pgbench clients already connected keep working
# (zero failed transactions), the pooler's memory stays bounded (peak RSS,
# VmHWM, printed as a diagnostic) and after the storm a new client works.
. "$(dirname "$0")/lib.sh"
lg_setup python3 pgbench

STORM=$LG_SRC_DIR/tests/tools/connstorm.py
T=lg175_t_$$
lg_pg 0 -c "create table $T (id bigserial primary key, v bigint);
            grant all on $T, ${T}_id_seq to app" >/dev/null || bail "could not create $T"
lg_on_exit 'lg_pg 0 -c "drop table if exists $T" >/dev/null 2>&1'
cat > "$LG_DIR/load.sql" <<EOF
\set v random(1, 1000000000)
begin;
insert into $T (v) values (:v);
select count(*) from $T where v = :v;
commit;
EOF
bad=0   # bad inputs tried

# load_start NAME SECONDS: pgbench with 4 clients through the pooler started last
load_start() {
    PGPASSWORD=app_pass "$PGBENCH" -n -h 127.0.0.1 -p "$LG_PORT" -U app -f "$LG_DIR/load.sql" \
        -c 4 -j 2 -T "$2" -R 100 postgres > "$LG_DIR/load-$1.out" 2>&1 &
    load_pid=$!
    lg_on_exit "kill $load_pid 2>/dev/null"
    lg_wait_for "grep -q . /proc/$load_pid/status && [[ \$(lg_show_col 'SHOW CLIENTS' user | grep -c '^app\$') -ge 4 ]]" 20
}
# load_check NAME: the pgbench started last exited 0 without a failed transaction
load_check() {
    local out=$LG_DIR/load-$1.out rc
    wait "$load_pid"; rc=$?
    lg_bench_counts "$out"
    is "$rc/$BENCH_FAILED" 0/0 "$1: the pgbench clients connected before kept working (exit 0, 0 failed; $BENCH_N transactions)" \
        || diag_file "$out" 15
}
# rss NAME: VmHWM (peak resident set) of the pooler started last, in kB
hwm() { awk '/^VmHWM/ { print $2 }' "/proc/$LG_PID/status"; }
# the memory bound: 128 MB, or 512 MB for a sanitizer build (ASan's
# quarantine holds freed memory back)
RSS_MAX=131072
if command -v ldd >/dev/null && ldd "$LG_BIN" 2>/dev/null | grep -q 'libasan'; then RSS_MAX=524288; fi
# cpu_ticks: user + system clock ticks of the pooler started last
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$LG_PID/stat"; }

# =============================== pooler mc ===================================
lg_start mc "max_client_conn = 40
default_pool_size = 4" || bail "pooler mc did not start"
load_start mc 40

# ---- max_client_conn -----------------------------------------------------------
holders=()
for i in $(seq 1 40); do
    python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 60 startup:app:postgres read sleep:60 > "$LG_DIR/hold.$i" 2>&1 &
    holders+=($!)
done
lg_on_exit 'kill ${holders[*]} 2>/dev/null'
lg_wait_for '(( $(cat "$LG_DIR"/hold.* | grep -c -e "^Z I" -e "^E ") >= 40 ))' 30
in=$(cat "$LG_DIR"/hold.* | grep -c '^Z I'); refused=$(cat "$LG_DIR"/hold.* | grep -c 'E 53300 no more connections allowed')
is "$((in + refused))" 40 "mc: each of 40 more clients got in or got a clear 53300 ($in in, $refused refused)"
cmp_ok "$in" -le 36 "mc: no more than max_client_conn (40) clients were let in with pgbench's 4"
out=$(lg_psql -c "select 1" 2>&1); rc=$?
bad=$((bad + 1))
isnt "$rc" 0 "mc: one more client is refused at max_client_conn"
like "$out" 'no more connections allowed \(max_client_conn\)' "mc: ... with 'no more connections allowed (max_client_conn)'"
out=$(lg_admin "SHOW VERSION" 2>&1)
like "$out" 'lagoon|PgBouncer' "mc: the admin console still answers at max_client_conn"
kill "${holders[@]}" 2>/dev/null; wait "${holders[@]}" 2>/dev/null
lg_wait_for '[[ $(lg_psql -c "select 5" 2>/dev/null) == 5 ]]' 15
ok $? "mc: clients get in again once the holders left"

# ---- a 2 GiB length header, a negative one --------------------------------------
raw() { python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 20 "$@" 2>&1; }
hwm0=$(hwm)
out=$(raw startup:app:postgres read raw:517fffffff"$(head -c 16384 /dev/zero | od -An -v -tx1 | tr -d ' \n')" readall)
bad=$((bad + 1))
like "$out" $'Z I\n(E [0-9A-Z]{5} .*\n)?CLOSED' "mc: a Query announcing 2 GiB gets the client closed (with an error or not)"
diag "2 GiB header: $(tail -n 2 <<<"$out" | tr '\n' ' ')"
out=$(raw startup:app:postgres read raw:5180000000 readall)
bad=$((bad + 1))
like "$out" $'Z I\n(E [0-9A-Z]{5} .*\n)?CLOSED' "mc: a Query with a negative length gets the client closed"
out=$(raw raw:7fffffff00030000 readall)
bad=$((bad + 1))
like "$out" $'^(E [0-9A-Z]{5} .*\n)?CLOSED' "mc: a 2 GiB startup packet gets the connection closed"
cmp_ok $(( $(hwm) - hwm0 )) -lt 65536 "mc: the 2 GiB headers did not make the pooler allocate (peak RSS grew by $(( $(hwm) - hwm0 )) kB)"

# ---- thousands of connects per second ----------------------------------------------
python3 "$STORM" "$LG_PORT" 5 tcp > "$LG_DIR/storm-tcp.1" 2>&1 &
s1=$!
python3 "$STORM" "$LG_PORT" 5 tcp > "$LG_DIR/storm-tcp.2" 2>&1 &
s2=$!
python3 "$STORM" "$LG_PORT" 5 login app postgres > "$LG_DIR/storm-login.1" 2>&1 &
s3=$!
python3 "$STORM" "$LG_PORT" 5 login app postgres > "$LG_DIR/storm-login.2" 2>&1 &
s4=$!
wait $s1 $s2 $s3 $s4
tcp=$(cat "$LG_DIR"/storm-tcp.* | awk '/^attempts/ { n += $2; e += $8; r += $10 } END { print n, e, r }')
login=$(cat "$LG_DIR"/storm-login.* | awk '/^attempts/ { n += $2; o += $4; f += $6; e += $8; r += $10 } END { print n, o, f, e, r }')
read -r tcp_n tcp_err tcp_rate <<<"$tcp"
read -r lg_n lg_ok lg_ref lg_err lg_rate <<<"$login"
bad=$((bad + tcp_n + lg_n))
diag "storm: $tcp_n bare connects ($tcp_rate/s), $lg_n logins ($lg_rate/s): $lg_ok ok, $lg_ref refused, $lg_err other errors; $(grep -h sqlstates "$LG_DIR"/storm-login.* | tr '\n' ' ')"
# (the rates are figures, printed above: a slow machine must not fail them)
cmp_ok "$tcp_n" -ge 1 "storm: bare connects were made ($tcp_n)"
is "$tcp_err" 0 "storm: every bare connect was accepted"
cmp_ok "$lg_n" -ge 1 "storm: logins were attempted ($lg_n)"
is "$((lg_ok + lg_ref))/$lg_err" "$lg_n/0" "storm: every login got in or got a clear error, none was reset or hung"
lg_alive; ok $? "mc: the pooler survived the storm"
is "$(lg_psql -c 'select 77' 2>&1)" 77 "mc: a new client works after the storm"
load_check mc
is "$(lg_show_col 'SHOW LISTS' items list used_clients)" "$(lg_show_col 'SHOW CLIENTS' user | wc -l)" \
    "mc: SHOW LISTS used_clients adds up to SHOW CLIENTS after the storm"
peak_mc=$(hwm)
diag "peak RSS of pooler mc: $peak_mc kB"
cmp_ok "$peak_mc" -lt "$RSS_MAX" "mc: peak RSS stays under $((RSS_MAX / 1024)) MB ($peak_mc kB)"

# =============================== pooler fd ===================================
old_nofile=$(ulimit -Sn)
ulimit -Sn 48
lg_start fd "max_client_conn = 1000
default_pool_size = 4"; rc=$?
ulimit -Sn "$old_nofile"
(( rc == 0 )) || bail "pooler fd did not start"
is "$(awk '/Max open files/ { print $4 }' "/proc/$LG_PID/limits")" 48 "fd: the pooler runs with 48 file descriptors"
load_start fd 25
logsize=$(stat -c %s "$LG_LOG")
holders=()
c0=$(cpu_ticks); t_cpu=$SECONDS
for i in $(seq 1 60); do
    python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 20 startup:app:postgres read sleep:30 > "$LG_DIR/fdhold.$i" 2>&1 &
    holders+=($!)
done
bad=$((bad + 60))
lg_wait_for '(( $(grep -l -e "^Z I" -e "^CLOSED" -e "^TIMEOUT" "$LG_DIR"/fdhold.* | wc -l) >= 60 ))' 40
c1=$(cpu_ticks); t_cpu=$((SECONDS - t_cpu))
in=$(cat "$LG_DIR"/fdhold.* | grep -c '^Z I')
clear=$(cat "$LG_DIR"/fdhold.* | grep -c '^E [0-9A-Z]\{5\} ')
closed=$(grep -L '^E ' "$LG_DIR"/fdhold.* | xargs -r grep -l '^CLOSED' | wc -l)
hung=$((60 - in - clear - closed))   # no answer (TIMEOUT) or none yet
diag "fd: of 60 more clients: $in in, $clear clear errors, $closed closed without one, $hung no answer; $(cat "$LG_DIR"/fdhold.* | grep -h '^E ' | sort | uniq -c | head -n 3)"
cmp_ok "$in" -ge 1 "fd: some of the 60 clients got in"
is "$hung" 0 "fd: none of the clients that did not fit waits without an answer"
cmp_ok "$clear" -ge $(( (60 - in) / 2 )) "fd: most of those that did not fit got a clear error ($clear of $((60 - in)))"
cmp_ok $((c1 - c0)) -le $((10 * t_cpu + 50)) "fd: the pooler does not spin while out of descriptors ($((c1 - c0)) ticks of CPU in $t_cpu s)"
accept_lines=$(tail -c +"$((logsize + 1))" "$LG_LOG" | grep -ci 'accept\|descriptor')
cmp_ok "$accept_lines" -le 100 "fd: the log is not flooded ($accept_lines lines about accept/descriptors)"
kill "${holders[@]}" 2>/dev/null; wait "${holders[@]}" 2>/dev/null
lg_wait_for '[[ $(lg_psql -c "select 6" 2>/dev/null) == 6 ]]' 15
ok $? "fd: clients get in again once descriptors are free"
load_check fd
peak_fd=$(hwm)
diag "peak RSS of pooler fd: $peak_fd kB"
cmp_ok "$peak_fd" -lt "$RSS_MAX" "fd: peak RSS stays under $((RSS_MAX / 1024)) MB ($peak_fd kB)"
lg_alive; ok $? "fd: the pooler is still running"
diag "bad inputs tried: $bad; peak RSS: mc $peak_mc kB, fd $peak_fd kB"
done_testing
