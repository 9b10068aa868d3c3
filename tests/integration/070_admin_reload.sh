#!/usr/bin/env bash
# 070_admin_reload: the admin console (SHOW VERSION/POOLS/CLIENTS/SERVERS/
# CONFIG with PgBouncer's column names), refusal of non-admin users, RELOAD
# and SIGHUP applying a changed default_pool_size, a broken file on RELOAD
# keeping the old config, and SHUTDOWN.
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin
lg_need python3

lg_start admin "default_pool_size = 2
pool_mode = transaction" || bail "pooler did not start"

cfg_value() { lg_show_col "SHOW CONFIG" value key "$1"; }

# ---- SHOW commands -----------------------------------------------------------
out=$(lg_admin "SHOW VERSION" 2>&1); rc=$?
is "$rc" 0 "SHOW VERSION succeeds"
like "$out" '[0-9]+\.[0-9]+' "SHOW VERSION prints a version"

want="database|user|cl_active|cl_waiting|cl_active_cancel_req|cl_waiting_cancel_req|sv_active|sv_active_cancel|sv_being_canceled|sv_idle|sv_used|sv_tested|sv_login|maxwait|maxwait_us|pool_mode"
hdr=$(lg_admin_hdr "SHOW POOLS" | head -n 1)
is "$(echo "$hdr" | cut -d'|' -f1-16)" "$want" "SHOW POOLS starts with PgBouncer's 16 columns in order"
diag "SHOW POOLS columns: $hdr"

# a client that stays connected (logged in, idle) for the SHOW CLIENTS check
python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 60 startup:app:postgres read \
    query:"select 'held'" read sleep:30 > "$LG_DIR/hold.out" 2>&1 &
holder=$!
lg_wait_for "grep -q 'D held' '$LG_DIR/hold.out'" 15
clients=$(lg_admin_hdr "SHOW CLIENTS")
# PgBouncer 1.25: 21 columns; 1.18: 18 (no replication, prepared_statements, id)
sockcols='^type\|user\|database\|(replication\|)?state\|addr\|port\|local_addr\|local_port\|connect_time\|request_time\|wait\|wait_us\|close_needed\|ptr\|link\|remote_pid\|tls\|application_name(\|prepared_statements\|id)?(\||$)'
like "$(echo "$clients" | head -n 1)" "$sockcols" "SHOW CLIENTS has PgBouncer's columns in PgBouncer's order"
is "$(lg_show_col "SHOW CLIENTS" user database postgres | grep -c '^app$')" 1 "SHOW CLIENTS lists the connected app client"
cmp_ok "$(lg_show_col "SHOW CLIENTS" user database pgbouncer | grep -c '^admin$')" -ge 1 "SHOW CLIENTS lists the admin's own connection"
kill "$holder" 2>/dev/null; wait "$holder" 2>/dev/null

lg_psql -c "select 1" >/dev/null
servers=$(lg_admin_hdr "SHOW SERVERS")
like "$(echo "$servers" | head -n 1)" "$sockcols" "SHOW SERVERS has PgBouncer's columns in PgBouncer's order"
cmp_ok "$(lg_server_count postgres app)" -ge 1 "SHOW SERVERS lists the server connection of postgres/app"
is "$(lg_show_col "SHOW SERVERS" port database postgres | head -n 1)" "$LG_PGPORT" "the server row shows the primary's port"

is "$(cfg_value default_pool_size)" 2 "SHOW CONFIG shows default_pool_size = 2"
is "$(cfg_value pool_mode)" transaction "SHOW CONFIG shows pool_mode = transaction"
like "$(lg_admin_hdr "SHOW CONFIG" | head -n 1)" '^key\|value\|' "SHOW CONFIG has key and value columns"
out=$(lg_admin "SHOW DATABASES" 2>&1)
is "$(echo "$out" | grep -c "^postgres|127\.0\.0\.1|$LG_PGPORT|")" 1 "SHOW DATABASES lists the postgres database with host and port"
out=$(lg_admin "SHOW NO_SUCH_THING" 2>&1); rc=$?
isnt "$rc" 0 "an unknown SHOW command is an error"

# ---- non-admin users ----------------------------------------------------------
out=$(PGPASSWORD=app_pass "$PSQL" -X -At -h 127.0.0.1 -p "$LG_PORT" -U app -d pgbouncer -c "SHOW POOLS" 2>&1); rc=$?
isnt "$rc" 0 "a non-admin user cannot use the admin console"
unlike "$out" 'cl_active' "and sees no pool data"
diag "$out"
out=$(PGPASSWORD=app_pass "$PSQL" -X -At -h 127.0.0.1 -p "$LG_PORT" -U app -d pgbouncer -c "SHUTDOWN" 2>&1)
lg_alive; ok $? "a non-admin user's SHUTDOWN does not stop the pooler"

# ---- RELOAD applies a new default_pool_size -----------------------------------
# load: 12 clients each holding a transaction for 1.5 s; return the max
# number of server connections seen
load_max_servers() {
    local pids=() i maxsv=0 n
    for i in $(seq 1 12); do
        lg_psql -c "begin; select pg_sleep(1.5); commit;" >/dev/null 2>&1 &
        pids+=($!)
    done
    for i in $(seq 1 25); do
        n=$(lg_server_count postgres app); (( n > maxsv )) && maxsv=$n
        sleep 0.1
    done
    wait "${pids[@]}"
    echo "$maxsv"
}
m=$(load_max_servers)
cmp_ok "$m" -le 2 "with default_pool_size = 2 the load uses at most 2 server connections ($m)"
cmp_ok "$m" -ge 1 "the load used server connections"

sed -i 's/^default_pool_size = .*/default_pool_size = 4/' "$LG_INI"
out=$(lg_admin "RELOAD" 2>&1); rc=$?
is "$rc" 0 "RELOAD succeeds" || diag "$out"
is "$(cfg_value default_pool_size)" 4 "after RELOAD SHOW CONFIG shows default_pool_size = 4"
m=$(load_max_servers)
cmp_ok "$m" -le 4 "after RELOAD the load uses at most 4 server connections ($m)"
cmp_ok "$m" -ge 3 "after RELOAD the pool grows past the old limit of 2 ($m)"

# ---- RELOAD of a broken file keeps the old config -------------------------------
cp "$LG_INI" "$LG_DIR/good.ini"
sed -i 's/^default_pool_size = .*/default_pool_size = not_a_number/' "$LG_INI"
: > "$LG_DIR/reload-mark"
logsize=$(stat -c %s "$LG_LOG" 2>/dev/null || echo 0)
out=$(lg_admin "RELOAD" 2>&1)
sleep 0.5
lg_alive; ok $? "the pooler survives a RELOAD of a broken file"
newlog=$(tail -c +"$((logsize + 1))" "$LG_LOG" 2>/dev/null)
like "$out"$'\n'"$newlog" 'default_pool_size' "the error (admin reply or log) names the bad key"
diag "RELOAD said: $out"
is "$(cfg_value default_pool_size)" 4 "the old default_pool_size (4) stays in force"
is "$(lg_psql -c 'select 11')" 11 "clients are still served after the failed RELOAD"

# ---- SIGHUP ------------------------------------------------------------------------
cp "$LG_DIR/good.ini" "$LG_INI"
sed -i 's/^default_pool_size = .*/default_pool_size = 3/' "$LG_INI"
kill -HUP "$LG_PID"
if lg_wait_for '[[ $(cfg_value default_pool_size) == 3 ]]' 10; then
    pass "SIGHUP reloads the config (default_pool_size = 3)"
else
    fail "SIGHUP reloads the config (default_pool_size = 3)"
fi
lg_alive; ok $? "the pooler is still running after SIGHUP"
is "$(lg_psql -c 'select 12')" 12 "clients are served after SIGHUP"

# ---- SHUTDOWN ----------------------------------------------------------------------
lg_admin "SHUTDOWN" >/dev/null 2>&1
deadline=$((SECONDS + 10))
while lg_alive && (( SECONDS < deadline )); do sleep 0.1; done
if lg_alive; then fail "SHUTDOWN on the admin console stops the process"; else
    pass "SHUTDOWN on the admin console stops the process"; fi
wait "$LG_PID" 2>/dev/null
out=$(lg_psql -c 'select 1' 2>&1); rc=$?
isnt "$rc" 0 "after SHUTDOWN nothing listens on the port any more"

done_testing
