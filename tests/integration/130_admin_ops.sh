#!/usr/bin/env bash
# 130_admin_ops: the admin console as PgBouncer 1.25 documents it.
#  - every SHOW command's columns match tests/data/admin/pgbouncer-1.25-columns.txt
#  - under a pgbench run the counts add up across SHOW POOLS, SERVERS,
#    CLIENTS, SOCKETS, LISTS and MEM; SHOW STATS averages are per stats_period
#  - PAUSE answers only once the open transaction is over, new transactions
#    wait (not fail) and RESUME releases them; WAIT_CLOSE waits for a busy
#    server marked by RECONNECT; SUSPEND stops all reading until RESUME;
#    KILL drops a database's clients; SET changes a reloadable setting;
#    RELOAD of a broken file answers an error and keeps serving
#  - access: stats_users may SHOW but not PAUSE or SET; other and unknown
#    users are refused; the OS user lagoon runs as gets in over the Unix
#    socket as "pgbouncer" (peer check), not over TCP; the extended protocol
#    is refused; the SET/SHOW drivers send on connect are answered
#  - SHUTDOWN WAIT_FOR_CLIENTS keeps serving a connected client and exits
#    when it leaves; SHUTDOWN WAIT_FOR_SERVERS once the open transaction is
#    over; with auth_type = any other names get read-only access
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin
lg_is_pgbouncer && skip_all "PAUSE/SUSPEND semantics are checked against lagoon"

FIXTURE=$LG_SRC_DIR/tests/data/admin/pgbouncer-1.25-columns.txt
lg_start admin_ops "default_pool_size = 3
stats_period = 1
pool_mode = transaction" || bail "pooler did not start"

# ---- sessions: a psql that reads its commands from a FIFO ---------------------
# sess_open NAME USER DB: psql as USER on DB, fed through $LG_DIR/NAME.in,
# output (stdout and stderr) in $LG_DIR/NAME.out
declare -A SESS_FD SESS_PID
sess_open() {
    local name=$1 user=$2 db=$3 fd
    mkfifo "$LG_DIR/$name.in"
    # (the other sessions' FIFO ends are closed in it, or they never see EOF)
    ( for f in "${SESS_FD[@]}"; do eval "exec $f>&-"; done
      PGPASSWORD=${LG_PASSWORD[$user]:-} exec "$PSQL" -X -At -h 127.0.0.1 -p "$LG_PORT" -U "$user" \
          -d "$db" < "$LG_DIR/$name.in" > "$LG_DIR/$name.out" 2>&1 ) &
    SESS_PID[$name]=$!
    exec {fd}> "$LG_DIR/$name.in"
    SESS_FD[$name]=$fd
    lg_on_exit "sess_close $name"
}
sess_send() { echo "$2" >&"${SESS_FD[$1]}"; }
# sess_wait NAME REGEX [TIMEOUT]: until a line of its output matches
sess_wait() { lg_wait_for "grep -Eq -- '$2' '$LG_DIR/$1.out'" "${3:-20}"; }
sess_has() { grep -Eq -- "$2" "$LG_DIR/$1.out"; }
sess_close() {
    local fd=${SESS_FD[$1]:-}
    [[ -n "$fd" ]] || return 0
    exec {fd}>&-
    unset "SESS_FD[$1]"
    lg_wait_for "! kill -0 ${SESS_PID[$1]}" 15 || kill "${SESS_PID[$1]}" 2>/dev/null
    wait "${SESS_PID[$1]}" 2>/dev/null
}
# a column of one pool's row summed: pool_col DB USER COLUMN...
pool_sum() {
    local db=$1 user=$2; shift 2
    lg_admin_hdr "SHOW POOLS" | awk -F'|' -v db="$db" -v u="$user" -v cols="$*" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; n = split(cols, want, " "); next }
        $c["database"] == db && $c["user"] == u { for (k = 1; k <= n; k++) s += $c[want[k]] }
        END { print s + 0 }'
}
rows() { lg_admin "$1" | grep -c .; }
rows_where() { lg_show_col "$1" "$2" "$3" "$4" | grep -c .; }

# ---- column lists against PgBouncer 1.25's -------------------------------------
while IFS= read -r line; do
    [[ -z "$line" || "$line" == \#* ]] && continue
    cmd=${line%%:*}; want=${line#*: }; want=${want//,/|}
    hdr=$(lg_admin_hdr "SHOW $cmd" 2>&1 | head -n 1)
    n=$(awk -F'|' '{ print NF }' <<<"$want")
    got=$(cut -d'|' -f1-"$n" <<<"$hdr")
    is "$got" "$want" "SHOW $cmd starts with PgBouncer 1.25's $n columns in order"
    [[ "$hdr" == "$want" || "$hdr" == "$want|"* ]] || diag "SHOW $cmd: $hdr"
done < "$FIXTURE"
out=$(lg_admin "SHOW HELP" 2>&1)
like "$out" 'SHOW HELP\|CONFIG' "SHOW HELP answers with the usage text (a NOTICE)"
is "$(rows "SHOW TOTALS")" 22 "SHOW TOTALS has 22 name/value rows (11 totals, 11 averages)"

# ---- counts under load --------------------------------------------------------
printf 'select pg_sleep(0.002);\n' > "$LG_DIR/sleep.sql"
lg_pgbench -n -f "$LG_DIR/sleep.sql" -c 8 -j 2 -T 12 postgres > "$LG_DIR/pgbench.out" 2>&1 &
pgb=$!
lg_wait_for '[[ $(lg_server_count postgres app) -eq 3 && $(rows_where "SHOW CLIENTS" user database postgres) -eq 8 ]]' 30
ok $? "pgbench's 8 clients are connected and the pool has its 3 servers"
for round in 1 2; do
    sv=$(pool_sum postgres app sv_active sv_idle sv_used sv_tested sv_login sv_active_cancel sv_being_canceled)
    is "$sv" "$(lg_server_count postgres app)" "round $round: the sv_* of SHOW POOLS add up to the rows of SHOW SERVERS ($sv)"
    cl=$(pool_sum postgres app cl_active cl_waiting cl_active_cancel_req cl_waiting_cancel_req)
    is "$cl" "$(rows_where "SHOW CLIENTS" user database postgres)" "round $round: the cl_* of SHOW POOLS add up to the rows of SHOW CLIENTS ($cl)"
    lists=$(lg_admin "SHOW LISTS")
    li() { awk -F'|' -v k="$1" '$1 == k { print $2 }' <<<"$lists"; }
    is "$(li used_servers)" "$(rows "SHOW SERVERS")" "round $round: SHOW LISTS used_servers = rows of SHOW SERVERS"
    is "$(li used_clients)" "$(rows "SHOW CLIENTS")" "round $round: SHOW LISTS used_clients = rows of SHOW CLIENTS"
    is "$(li databases)" "$(rows "SHOW DATABASES")" "round $round: SHOW LISTS databases = rows of SHOW DATABASES"
    is "$(li users)" "$(rows "SHOW USERS")" "round $round: SHOW LISTS users = rows of SHOW USERS"
    is "$(li pools)" "$(lg_admin "SHOW POOLS" | cut -d'|' -f1,2 | sort -u | grep -c .)" \
        "round $round: SHOW LISTS pools = (database, user) pairs of SHOW POOLS"
    is "$(rows "SHOW SOCKETS")" "$(( $(rows "SHOW CLIENTS") + $(rows "SHOW SERVERS") ))" \
        "round $round: SHOW SOCKETS lists every client and server"
    mem=$(lg_admin "SHOW MEM")
    is "$(awk -F'|' '$1 == "server_cache" { print $3 }' <<<"$mem")" "$(rows "SHOW SERVERS")" \
        "round $round: SHOW MEM server_cache used = rows of SHOW SERVERS"
done
act=$(lg_admin "SHOW ACTIVE_SOCKETS" | grep -c .)
cmp_ok "$act" -le "$(rows "SHOW SOCKETS")" "SHOW ACTIVE_SOCKETS lists at most every socket ($act)"
avg=$(lg_show_col "SHOW STATS" avg_xact_count database postgres)
lg_wait_for '[[ $(lg_show_col "SHOW STATS" avg_xact_count database postgres) -gt 0 ]]' 10
ok $? "SHOW STATS avg_xact_count for postgres is above 0 during the run"
cmp_ok "$(lg_show_col "SHOW STATS" avg_query_time database postgres)" -ge 2000 \
    "avg_query_time covers the 2 ms pg_sleep (microseconds)"
cmp_ok "$(lg_show_col "SHOW STATS_AVERAGES" xact_count database postgres)" -gt 0 \
    "SHOW STATS_AVERAGES xact_count for postgres is above 0 during the run"
wait "$pgb"; rc=$?
is "$rc" 0 "pgbench through lagoon succeeds" || diag_file "$LG_DIR/pgbench.out"
tot=$(lg_show_col "SHOW STATS" total_xact_count database postgres)
lg_wait_for '[[ $(lg_show_col "SHOW STATS" avg_xact_count database postgres) -eq 0 ]]' 15
ok $? "after the run avg_xact_count returns to 0: averages are per stats_period, not since start"
cmp_ok "$(lg_show_col "SHOW STATS" total_xact_count database postgres)" -ge "$tot" "while the totals stay ($tot)"
lat=$(lg_admin_hdr "SHOW LATENCY" | awk -F'|' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
    $c["database"] == "postgres" && $c["kind"] == "query" { print $c["count"] " " $c["p50_us"] }')
is "${lat% *}" "$(lg_show_col "SHOW STATS" total_query_count database postgres)" \
    "SHOW LATENCY counts every query of postgres (= total_query_count)"
cmp_ok "${lat#* }" -ge 2500 "its median query time bucket covers the 2 ms pg_sleep (${lat#* } us)"

# ---- PAUSE / RESUME ---------------------------------------------------------------
sess_open adm admin pgbouncer
sess_open c1 app postgres
sess_send c1 "begin; select 'in-txn';"
sess_wait c1 '^in-txn$'; ok $? "a client holds a transaction open"
sess_send adm "PAUSE postgres;"
sleep 1
sess_has adm '^PAUSE$'; isnt $? 0 "PAUSE postgres does not answer while a transaction holds a server"
is "$(lg_show_col "SHOW DATABASES" paused name postgres)" 1 "SHOW DATABASES shows postgres paused"
lg_psql_bg "$LG_DIR/waiter.out" -c "select 42"
waiter=$LG_BG_PID
lg_wait_for '[[ $(pool_sum postgres app cl_waiting) -ge 1 ]]' 20
ok $? "a new transaction waits (cl_waiting) instead of failing"
sess_send c1 "commit;"
sess_wait adm '^PAUSE$'; ok $? "PAUSE answers once the transaction is over"
is "$(lg_server_count postgres app)" 0 "after PAUSE postgres has no server connection left"
kill -0 "$waiter" 2>/dev/null; ok $? "the new transaction still waits while paused"
sess_send adm "RESUME postgres;"
sess_wait adm '^RESUME$'; ok $? "RESUME postgres answers"
wait "$waiter"; rc=$?
is "$rc:$(cat "$LG_DIR/waiter.out")" "0:42" "after RESUME the waiting transaction runs without error"

# the whole pooler: PAUSE with no argument
sess_send adm "PAUSE;"
sess_wait adm '^PAUSE$' 30; ok $? "PAUSE (all databases) answers"
is "$(lg_show_col "SHOW STATE" value key paused)" yes "SHOW STATE paused = yes"
sess_send adm "RESUME;"
sess_wait adm '^RESUME$'; ok $? "RESUME answers"
is "$(lg_psql -c 'select 43')" 43 "clients are served after RESUME"

# ---- WAIT_CLOSE -------------------------------------------------------------------
: > "$LG_DIR/adm.out"
sess_send c1 "begin; select 'txn2';"
sess_wait c1 '^txn2$'
sess_send adm "RECONNECT postgres;"
sess_wait adm '^RECONNECT$'; ok $? "RECONNECT postgres answers"
cmp_ok "$(lg_show_col "SHOW SERVERS" close_needed database postgres | grep -c '^1$')" -ge 1 \
    "the busy server is marked close_needed"
sess_send adm "WAIT_CLOSE postgres;"
sleep 1
sess_has adm '^WAIT_CLOSE$'; isnt $? 0 "WAIT_CLOSE postgres waits while the marked server is busy"
sess_send c1 "commit;"
sess_wait adm '^WAIT_CLOSE$'; ok $? "WAIT_CLOSE answers once the server is closed"

# ---- SUSPEND / RESUME ---------------------------------------------------------------
sleeping() {
    lg_pg 0 -c "select count(*) from pg_stat_activity where query like 'select pg_sleep(1.5), %' and state = 'active'"
}
sess_send c1 "select pg_sleep(1.5), 'suspended-reply';"
lg_wait_for '[[ $(sleeping) -eq 1 ]]' 20; ok $? "a query is running on the server"
sess_send adm "SUSPEND;"
sess_wait adm '^SUSPEND$'; ok $? "SUSPEND answers (buffers flushed)"
lg_wait_for '[[ $(sleeping) -eq 0 ]]' 20; ok $? "the server has finished the query"
sess_send adm "SHOW STATE;"
sess_wait adm '^suspended\|yes$'; ok $? "SHOW STATE shows suspended = yes on the open admin connection"
sess_has c1 'suspended-reply'; isnt $? 0 "while suspended the server's answer is not read (the client has none)"
sess_send adm "RESUME;"
sess_wait adm '^RESUME$'; ok $? "RESUME after SUSPEND answers"
sess_wait c1 'suspended-reply'; ok $? "after RESUME the client gets its answer"
is "$(lg_psql -c 'select 44')" 44 "new clients are accepted again after RESUME"

# ---- SET -----------------------------------------------------------------------------
out=$(lg_admin "SET default_pool_size = 4" 2>&1); rc=$?
is "$rc:$out" 0: "SET default_pool_size = 4 succeeds"
is "$(lg_show_col "SHOW CONFIG" value key default_pool_size)" 4 "SHOW CONFIG shows the new default_pool_size"
out=$(lg_admin "SET listen_port = 7000" 2>&1); rc=$?
isnt "$rc" 0 "SET of a setting that needs a restart is an error" || diag "$out"

# ---- KILL ------------------------------------------------------------------------------
sess_send c1 "select 'c1-alive';"
sess_wait c1 '^c1-alive$'
lg_psql_bg "$LG_DIR/killed.out" -c "select pg_sleep(30)"
killed=$LG_BG_PID
lg_wait_for '[[ $(rows_where "SHOW CLIENTS" user database postgres) -ge 2 ]]' 20
out=$(lg_admin "KILL postgres" 2>&1); rc=$?
is "$rc:$out" 0: "KILL postgres succeeds"
lg_wait_for '! kill -0 '"$killed" 20; ok $? "the client running a query on postgres is dropped"
is "$(rows_where "SHOW CLIENTS" user database postgres)" 0 "SHOW CLIENTS lists no client of postgres after KILL"
like "$(cat "$LG_DIR/killed.out")" 'killed|terminat|closed' "the dropped client is told why"
sess_close c1
out=$(lg_admin "RESUME postgres" 2>&1); rc=$?
is "$rc:$out" 0: "RESUME postgres after KILL succeeds"
is "$(lg_psql -c 'select 45')" 45 "postgres serves new clients after RESUME"

# ---- RELOAD of a broken file -------------------------------------------------------------
cp "$LG_INI" "$LG_DIR/good.ini"
sed -i 's/^default_pool_size = .*/default_pool_size = twelve/' "$LG_INI"
out=$(lg_admin "RELOAD" 2>&1); rc=$?
isnt "$rc" 0 "RELOAD of a broken file answers an error"
like "$out" 'default_pool_size' "the error names the bad setting"
is "$(lg_psql -c 'select 46')" 46 "clients are still served after the failed RELOAD"
cp "$LG_DIR/good.ini" "$LG_INI"

# ---- access -------------------------------------------------------------------------------
stats_psql() { PGPASSWORD=stats_pass "$PSQL" -X -At -h 127.0.0.1 -p "$LG_PORT" -U stats -d pgbouncer -c "$1"; }
out=$(stats_psql "SHOW POOLS" 2>&1); rc=$?
is "$rc" 0 "a stats_users member may SHOW POOLS"
out=$(stats_psql "PAUSE" 2>&1); rc=$?
isnt "$rc" 0 "a stats_users member may not PAUSE"
like "$out" 'admin access needed' "and is told that admin access is needed"
is "$(lg_show_col "SHOW STATE" value key paused)" no "the pooler is not paused by it"
out=$(stats_psql "SET default_pool_size = 9" 2>&1); rc=$?
isnt "$rc" 0 "a stats_users member may not SET a setting"
out=$(PGPASSWORD=x "$PSQL" -X -At -h 127.0.0.1 -p "$LG_PORT" -U nosuchuser -d pgbouncer -c "SHOW POOLS" 2>&1); rc=$?
isnt "$rc" 0 "an unknown user is refused"
like "$out" 'authentication failed|not allowed' "with an authentication error" || diag "$out"
out=$(PGPASSWORD=app_pass "$PSQL" -X -At -h 127.0.0.1 -p "$LG_PORT" -U app -d pgbouncer -c "SHOW POOLS" 2>&1); rc=$?
isnt "$rc" 0 "a user in neither admin_users nor stats_users is refused"

# peer check: lagoon runs as our OS user here
out=$("$PSQL" -X -At -h "$LG_SOCKDIR" -p "$LG_PORT" -U pgbouncer -d pgbouncer -c "RECONNECT" 2>&1); rc=$?
is "$rc:$out" "0:RECONNECT" "over the Unix socket, user pgbouncer from lagoon's OS user is admin (peer check)"
out=$(PGPASSWORD=x "$PSQL" -X -At -h 127.0.0.1 -p "$LG_PORT" -U pgbouncer -d pgbouncer -c "SHOW STATE" 2>&1); rc=$?
isnt "$rc" 0 "over TCP the same user name is refused"

# protocol: simple only; the SET/SHOW drivers send are answered
parse_hex=$(python3 -c '
import struct
body = b"\0" + b"SHOW POOLS\0" + struct.pack("!h", 0)
print((b"P" + struct.pack("!i", len(body) + 4) + body).hex())')
out=$(python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 10 startup:admin:pgbouncer auth:admin_pass read \
      raw:"$parse_hex" readall 2>&1)
like "$out" 'E 08P01 extended query protocol not supported' "a Parse message gets an error"
like "$out" 'CLOSED' "and the connection is closed"
out=$(lg_admin "SET client_encoding = 'UTF8'" 2>&1); rc=$?
is "$rc:$out" 0: "SET client_encoding is accepted"
is "$(lg_admin "SHOW standard_conforming_strings" 2>&1)" on "SHOW standard_conforming_strings answers on"
is "$(lg_admin "SHOW client_encoding" 2>&1)" UTF8 "SHOW client_encoding answers UTF8"
out=$(lg_admin "SET extra_float_digits = 3" 2>&1); rc=$?
is "$rc:$out" 0: "SET extra_float_digits is accepted"

# ---- SHUTDOWN WAIT_FOR_CLIENTS --------------------------------------------------------------
sess_open c2 app postgres
sess_send c2 "select 'c2-ready';"
sess_wait c2 '^c2-ready$'
sess_close adm
out=$(lg_admin "SHUTDOWN WAIT_FOR_CLIENTS" 2>&1); rc=$?
is "$rc:$out" 0: "SHUTDOWN WAIT_FOR_CLIENTS succeeds"
sleep 1
lg_alive; ok $? "lagoon keeps running while a client is connected"
out=$(lg_psql -c 'select 1' 2>&1); rc=$?
isnt "$rc" 0 "new TCP clients are not accepted any more"
sess_send c2 "select 'c2-served';"
sess_wait c2 '^c2-served$'; ok $? "the connected client is still served"
lg_alive; ok $? "lagoon still runs after serving it"
sess_close c2
lg_wait_for '! lg_alive' 20; ok $? "lagoon exits once the last client has left"

# ---- auth_type = any: every name gets in, read-only unless in admin_users ----------
lg_start admin_any "auth_type = any" || bail "second pooler did not start"
out=$(PGPASSWORD=x "$PSQL" -X -At -h 127.0.0.1 -p "$LG_PORT" -U app -d pgbouncer -c "SHOW STATE" 2>&1); rc=$?
is "$rc" 0 "with auth_type = any any user may SHOW" || diag "$out"
out=$(PGPASSWORD=x "$PSQL" -X -At -h 127.0.0.1 -p "$LG_PORT" -U app -d pgbouncer -c "PAUSE" 2>&1); rc=$?
isnt "$rc" 0 "but a user outside admin_users may not PAUSE"
out=$(lg_admin "RECONNECT" 2>&1); rc=$?
is "$rc:$out" 0: "admin_users keep full access"

# ---- SHUTDOWN WAIT_FOR_SERVERS: exits once the open transaction is over ------------
sess_open c3 app postgres
sess_send c3 "begin; select 'c3-in-txn';"
sess_wait c3 '^c3-in-txn$'; ok $? "a client holds a transaction open on the second pooler"
out=$(lg_admin "SHUTDOWN WAIT_FOR_SERVERS" 2>&1); rc=$?
is "$rc:$out" 0: "SHUTDOWN WAIT_FOR_SERVERS succeeds"
sleep 1
lg_alive; ok $? "lagoon keeps running while the transaction holds a server"
sess_send c3 "select 'c3-still';"
sess_wait c3 '^c3-still$'; ok $? "the transaction goes on"
sess_send c3 "commit;"
lg_wait_for '! lg_alive' 20; ok $? "lagoon exits once the server is released"
sess_close c3

done_testing
