#!/usr/bin/env bash
# 010_basic: queries through the pooler over TCP and the Unix socket,
# transaction pooling multiplexes many clients over few server connections,
# session state, the command line, config errors and warnings.
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin

# ---- command line ---------------------------------------------------------
out=$("$LG_BIN" --version 2>&1); rc=$?
is "$rc" 0 "--version exits 0"
like "$out" '[0-9]+\.[0-9]+' "--version prints a version number"
out=$("$LG_BIN" --help 2>&1); rc=$?
is "$rc" 0 "--help exits 0"
like "$out" '-d' "--help mentions the -d (daemon) option"

# ---- a broken config file: non-zero exit, message names file, line and key
lg_tmpdir
bad=$LG_DIR/bad.ini
cat > "$bad" <<EOF
[databases]
postgres = host=127.0.0.1 port=$LG_PGPORT

[pgbouncer]
listen_port = 1
default_pool_size = twenty
EOF
lg_cmd cmd "$bad"
out=$(timeout 20 "${cmd[@]}" 2>&1); rc=$?
isnt "$rc" 0 "a bad value in the config file makes start-up fail"
isnt "$rc" 124 "start-up with a bad config file exits by itself"
like "$out" 'bad\.ini' "the error names the config file"
like "$out" '(:6|line 6)([^0-9]|$)' "the error names the line (6)"
like "$out" 'default_pool_size' "the error names the key"
diag "$out"

missing=$LG_DIR/nonexistent.ini
lg_cmd cmd "$missing"
out=$(timeout 20 "${cmd[@]}" 2>&1); rc=$?
isnt "$rc" 0 "a missing config file makes start-up fail"
like "$out" 'nonexistent\.ini' "the error names the missing file"

# ---- start a pooler: pool_size 2, transaction mode, with a key lagoon does
# not implement (a PgBouncer config must start, with a warning naming it)
LG_DATABASES_EXTRA="sess = host=127.0.0.1 port=$LG_PGPORT dbname=postgres pool_mode=session pool_size=1"
lg_start basic "default_pool_size = 2
server_fast_close = 0" || bail "pooler did not start"

log=$(cat "$LG_LOG" "$LG_DIR/basic.stdout" 2>/dev/null)
like "$log" '[Ww][Aa][Rr][Nn][^'$'\n'']*server_fast_close' "start-up log warns about the not implemented setting server_fast_close"

# ---- simple queries -------------------------------------------------------
is "$(lg_psql -c 'select 1 + 1')" 2 "select over TCP returns the right value"
is "$(LG_HOST=$LG_SOCKDIR lg_psql -c "select 'via ' || 'socket'")" "via socket" \
   "select over the pooler's Unix socket returns the right value"
is "$(lg_psql -c 'select current_user, current_database()')" "app|postgres" \
   "the server session runs as the client's user in the right database"
is "$(lg_psql -d p_sock -c 'select count(*) from generate_series(1, 1000)')" 1000 \
   "a database reached over the server's Unix socket answers"
is "$(lg_psql -d replica1 -c 'select pg_is_in_recovery()')" t \
   "a database line pointing at a replica reaches the replica"
multi=$(lg_psql -c 'select 1; select 2' -c 'select 3')
is "$(echo $multi)" "1 2 3" "several statements in one query and several queries return every result"
err=$(lg_psql -c 'select 1/0' 2>&1); rc=$?
isnt "$rc" 0 "an SQL error is reported as an error"
like "$err" 'division by zero' "the server's error text reaches the client"
is "$(lg_psql -c 'select 42')" 42 "the pool works after an error"
big=$(lg_psql -c "select length(string_agg(md5(i::text), '')) from generate_series(1, 100000) i")
is "$big" 3200000 "a large server-side aggregate works"
rows=$(lg_psql -c "select i, repeat('x', 100) from generate_series(1, 50000) i" | wc -l)
is "$rows" 50000 "a 5 MB result set arrives complete"

# ---- transaction pooling: 20 clients over 2 server connections -----------
rm -f "$LG_DIR"/mux.*
jobs_=()
for i in $(seq 1 20); do
    ( lg_psql -c "begin; select pg_backend_pid(); select pg_sleep(0.2); select $i * 10; commit;" \
        > "$LG_DIR/mux.$i.out" 2> "$LG_DIR/mux.$i.err"; echo $? > "$LG_DIR/mux.$i.rc" ) &
    jobs_+=($!)
done
maxsv=0
for t in $(seq 1 30); do
    n=$(lg_server_count postgres app)
    (( n > maxsv )) && maxsv=$n
    sleep 0.1
done
wait "${jobs_[@]}"
okc=0; pids=""
for i in $(seq 1 20); do
    rc=$(cat "$LG_DIR/mux.$i.rc"); out=$(cat "$LG_DIR/mux.$i.out")
    if [[ "$rc" == 0 && "$(echo "$out" | tail -n 1)" == "$((i * 10))" ]]; then okc=$((okc + 1)); else
        diag "client $i: rc=$rc out=$(echo $out) err=$(cat "$LG_DIR/mux.$i.err")"
    fi
    pids+="$(echo "$out" | sed -n 1p)"$'\n'
done
is "$okc" 20 "20 concurrent clients in transaction mode all get their own answers"
ndist=$(echo "$pids" | grep -v '^$' | sort -u | wc -l)
cmp_ok "$ndist" -le 2 "the 20 clients were served by at most 2 server backends (saw $ndist)"
cmp_ok "$ndist" -ge 1 "at least one server backend served them"
cmp_ok "$maxsv" -le 2 "SHOW SERVERS never listed more than 2 server connections (max $maxsv)"
cmp_ok "$maxsv" -ge 1 "SHOW SERVERS listed the server connection(s) under load"

# ---- session state --------------------------------------------------------
out=$(lg_psql -d sess -c "set search_path = leaked_schema, public" -c "show search_path")
is "$out" "leaked_schema, public" "in session mode a SET lasts across queries of one client"
out=$(lg_psql -d sess -c "show search_path")
is "$out" '"$user", public' "the next client of a session pool does not inherit the previous client's SET"
out=$(lg_psql -c "begin; set local work_mem = '7MB'; show work_mem; commit;")
is "$out" "7MB" "SET LOCAL inside a transaction block applies in transaction mode"
out=$(lg_psql -c "set application_name = 'basic_app'" -c "show application_name")
is "$out" "basic_app" "application_name set by the client is seen by its next transaction"

# ---- still alive ----------------------------------------------------------
lg_alive; ok $? "the pooler is still running"
done_testing
