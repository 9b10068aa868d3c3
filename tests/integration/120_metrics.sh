#!/usr/bin/env bash
# 120_metrics: the Prometheus endpoint (metrics_listen_addr/_port): GET
# /metrics answers 200 text/plain; version=0.0.4, every line parses as the
# text exposition format, each family has HELP and TYPE, the backends show
# with their roles, the counters cover the transactions run, the server
# counts agree with SHOW POOLS, other paths give 404, and a port already in
# use is a start-up error naming the address.  Under a pgbench run the
# scrapes pass `promtool check metrics`, the counters and histograms grow,
# and each histogram's _count agrees with its counter.
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin
lg_is_pgbouncer && skip_all "lagoon-only feature (metrics endpoint)"

lg_need curl promtool
# http_get URL BODYFILE -> prints "CODE CONTENT-TYPE"
http_get() {
    curl -s -o "$2" -w '%{http_code} %{content_type}' --max-time 10 "$1" || true
}

lg_free_port || bail "no free port"; MPORT=$LG_FREE_PORT
# a user whose name needs escaping in a label value (the server refuses it
# later; lagoon's pool for it stays)
LG_USERLIST="$(lg_default_userlist)
\"we\"\"ird\\user\" \"weird_pass\""
LG_DATABASES_EXTRA="trio = host=127.0.0.1 port=$LG_PGPORT,$((LG_PGPORT + 1)),$((LG_PGPORT + 2)) dbname=postgres router=roundrobin"
lg_tmpdir
lg_plugins roundrobin
lg_start metrics "metrics_listen_addr = 127.0.0.1
metrics_listen_port = $MPORT
plugin_dir = $PLUGDIR" || bail "pooler did not start"
URL=http://127.0.0.1:$MPORT

# the monitor has found the primary and both replicas
roles_known() {
    local r
    r=$(lg_show_col "SHOW BACKENDS" role database trio | sort | tr '\n' ' ')
    [[ "$r" == "primary replica replica " ]]
}
lg_wait_for roles_known 20; ok $? "the monitor knows the roles of trio's three backends"

NX=12
for ((i = 0; i < NX; i++)); do
    lg_psql -d trio -c "select $i" >/dev/null || fail "select $i through trio"
done
PGPASSWORD=weird_pass lg_psql -U 'we"ird\user' -d trio -c "select 1" >/dev/null 2>&1 || true

B=$LG_DIR/metrics.txt
res=$(http_get "$URL/metrics" "$B")
is "${res%% *}" 200 "GET /metrics answers 200"
like "${res#* }" '^text/plain; version=0\.0\.4' "with Content-Type text/plain; version=0.0.4"
diag "$(head -c 600 "$B")"

is "$(grep -c '^lagoon_up 1$' "$B")" 1 "lagoon_up 1"
like "$(grep '^lagoon_build_info{' "$B")" '^lagoon_build_info\{version="[^"]+"\} 1$' "lagoon_build_info carries the version"

# every line: a comment (HELP/TYPE) or  name{labels} value
bad=$(awk '
    /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* / { if ($2 == "TYPE") typed[$3] = 1; else helped[$3] = 1; next }
    /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\[\\"n])*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\[\\"n])*")*\})? -?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ {
        name = $0; sub(/[{ ].*/, "", name)
        if (!(name in typed)) { fam = name; sub(/_(bucket|sum|count)$/, "", fam); if (fam in typed) name = fam }
        if (!(name in typed) || !(name in helped)) print "no HELP/TYPE before: " $0
        next }
    { print "unparsable: " $0 }' "$B")
is "$bad" "" "every line parses as Prometheus text format, each family with HELP and TYPE first"
for fam in lagoon_clients lagoon_servers lagoon_pool_maxwait_seconds lagoon_transactions_total \
           lagoon_queries_total lagoon_received_bytes_total lagoon_sent_bytes_total \
           lagoon_transaction_time_seconds_total lagoon_wait_time_seconds_total lagoon_backend_up \
           lagoon_backend_lag_bytes lagoon_backend_sample_age_seconds lagoon_backend_transactions_total \
           lagoon_routing_decisions_total lagoon_routing_retries_total; do
    cmp_ok "$(grep -c "^$fam{" "$B")" -ge 1 "family $fam has samples"
done
is "$(grep -c '^# TYPE lagoon_transactions_total counter$' "$B")" 1 "lagoon_transactions_total is a counter"
like "$(grep '^lagoon_clients{' "$B" | grep -F 'user="we\"ird\\user"' | head -n 1)" 'state=' \
    "a label value with a double quote and a backslash is escaped"

# backends and roles
for n in 0 1 2; do
    role=replica; (( n == 0 )) && role=primary
    is "$(grep -c "^lagoon_backend_up{database=\"trio\",backend=\"127.0.0.1:$((LG_PGPORT + n))\",role=\"$role\"} 1$" "$B")" 1 \
        "lagoon_backend_up for trio's backend on port $((LG_PGPORT + n)) with role $role"
done
cmp_ok "$(grep -c '^lagoon_backend_lag_seconds{database="trio"' "$B")" -le 3 "at most one lag_seconds sample per backend"

# counters
xacts=$(awk '/^lagoon_transactions_total\{database="trio"\} / { print $2 }' "$B")
cmp_ok "${xacts:-0}" -ge "$NX" "lagoon_transactions_total for trio ($xacts) >= the $NX transactions run"
st_xacts=$(lg_show_col "SHOW STATS" total_xact_count database trio)
cmp_ok "$st_xacts" -ge "$xacts" "SHOW STATS total_xact_count ($st_xacts) is at least the endpoint's"
cmp_ok "$(awk '/^lagoon_queries_total\{database="trio"\} / { print $2 }' "$B")" -ge "$NX" "lagoon_queries_total for trio"
cmp_ok "$(awk '/^lagoon_received_bytes_total\{database="trio"\} / { print $2 }' "$B")" -gt 0 "lagoon_received_bytes_total for trio"
be_xacts=$(awk '/^lagoon_backend_transactions_total\{database="trio"/ { s += $2 } END { print s + 0 }' "$B")
cmp_ok "$be_xacts" -ge "$NX" "lagoon_backend_transactions_total summed over trio's backends"

# the endpoint agrees with SHOW POOLS (idle servers per backend and in all)
B2=$LG_DIR/metrics2.txt
pools=$(lg_admin_hdr "SHOW POOLS")
http_get "$URL/metrics" "$B2" >/dev/null
sv_idle=$(awk -F'|' 'NR == 1 { for (i = 1; i <= NF; i++) { c[$i] = i }; next }
    $c["database"] == "trio" && $c["user"] == "app" { s += $c["sv_idle"] } END { print s + 0 }' <<<"$pools")
m_idle=$(awk '/^lagoon_servers\{database="trio",user="app",.*state="idle"\} / { s += $NF } END { print s + 0 }' "$B2")
cmp_ok "$sv_idle" -ge 1 "SHOW POOLS has idle servers for trio/app"
is "$m_idle" "$sv_idle" "sum of lagoon_servers{state=\"idle\"} for trio/app equals SHOW POOLS sv_idle"
for n in 0 1 2; do
    be=127.0.0.1:$((LG_PGPORT + n))
    want=$(awk -F'|' -v be="$be" 'NR == 1 { for (i = 1; i <= NF; i++) { c[$i] = i }; next }
        $c["database"] == "trio" && $c["user"] == "app" && $c["backend"] == be { print $c["sv_idle"] }' <<<"$pools")
    got=$(awk -v be="$be" 'index($0, "lagoon_servers{database=\"trio\",user=\"app\",backend=\"" be "\",state=\"idle\"} ") == 1 { print $NF }' "$B2")
    is "$got" "$want" "idle servers of trio/app on $be agree with SHOW POOLS"
done
cl=$(awk -F'|' 'NR == 1 { for (i = 1; i <= NF; i++) { c[$i] = i }; next }
    $c["database"] == "pgbouncer" && $c["user"] == "admin" { s += $c["cl_active"] } END { print s + 0 }' <<<"$pools")
cmp_ok "$cl" -ge 1 "SHOW POOLS counts the admin console client"

# ---- under a pgbench run ----------------------------------------------------
# metric VALUE of one sample line (exact name and labels) in FILE
mval() { awk -v k="$1" 'index($0, k " ") == 1 { print $NF }' "$2"; }
printf 'select 1;\n' > "$LG_DIR/one.sql"
lg_pgbench -n -f "$LG_DIR/one.sql" -c 4 -j 2 -T 8 trio > "$LG_DIR/pgbench.out" 2>&1 &
pgb=$!
lg_wait_for "http_get '$URL/metrics' '$LG_DIR/w.txt' && grep -q 'lagoon_transactions_total{database=\"trio\"} [1-9]' '$LG_DIR/w.txt'" 20
S1=$LG_DIR/scrape1.txt S2=$LG_DIR/scrape2.txt
http_get "$URL/metrics" "$S1" >/dev/null
sleep 2
http_get "$URL/metrics" "$S2" >/dev/null
kill -0 "$pgb" 2>/dev/null; ok $? "pgbench was still running during both scrapes"
wait "$pgb"; rc=$?
is "$rc" 0 "pgbench through trio succeeds" || diag_file "$LG_DIR/pgbench.out"
for f in "$S1" "$S2"; do
    out=$(promtool check metrics < "$f" 2>&1); rc=$?
    is "$rc" 0 "promtool check metrics accepts the scrape $(basename "$f")" || diag "$out"
    is "$out" "" "promtool has no lint complaints about $(basename "$f")"
done
for k in 'lagoon_transactions_total{database="trio"}' 'lagoon_queries_total{database="trio"}' \
         'lagoon_received_bytes_total{database="trio"}' 'lagoon_sent_bytes_total{database="trio"}' \
         'lagoon_query_duration_seconds_count{database="trio"}' \
         'lagoon_transaction_duration_seconds_count{database="trio"}' \
         'lagoon_client_wait_seconds_count{database="trio"}' \
         'lagoon_plugin_route_duration_seconds_count{database="trio",plugin="roundrobin"}'; do
    a=$(mval "$k" "$S1"); b=$(mval "$k" "$S2")
    cmp_ok "${b:-0}" -gt "${a:-0}" "$k grows under load (${a:-none} -> ${b:-none})"
done
is "$(mval 'lagoon_query_duration_seconds_count{database="trio"}' "$S2")" \
   "$(mval 'lagoon_queries_total{database="trio"}' "$S2")" \
   "the query-time histogram counts every query (_count = lagoon_queries_total)"
is "$(mval 'lagoon_client_wait_seconds_count{database="trio"}' "$S2")" \
   "$(mval 'lagoon_server_assignments_total{database="trio"}' "$S2")" \
   "the wait histogram has one observation per server assignment"
is "$(mval 'lagoon_query_duration_seconds_bucket{database="trio",le="+Inf"}' "$S2")" \
   "$(mval 'lagoon_query_duration_seconds_count{database="trio"}' "$S2")" \
   "the +Inf bucket equals _count"
mono=$(awk '/^lagoon_query_duration_seconds_bucket\{database="trio"/ { if ($NF + 0 < prev) bad = 1; prev = $NF + 0 } END { print bad + 0 }' "$S2")
is "$mono" 0 "the query-time buckets are cumulative (never decrease)"
is "$(mval 'lagoon_plugin_up{database="trio",plugin="roundrobin"}' "$S2")" 1 "lagoon_plugin_up for trio's roundrobin"
cmp_ok "$(mval 'lagoon_backend_probes_total{database="trio",backend="127.0.0.1:'"$LG_PGPORT"'"}' "$S2")" -ge 1 \
    "lagoon_backend_probes_total counts the monitor's probes"

# other paths
res=$(http_get "$URL/nope" "$LG_DIR/nope.txt")
is "${res%% *}" 404 "GET /nope answers 404"
res=$(http_get "$URL/" "$LG_DIR/root.txt")
is "${res%% *}" 404 "GET / answers 404"
res=$(http_get "$URL/metrics?x=1" "$LG_DIR/q.txt")
is "${res%% *}" 200 "GET /metrics with a query string answers 200"
lg_alive; ok $? "lagoon is still running"

# the metrics port already taken: a start-up error naming the address
lg_free_port || bail "no free port"
INI2=$LG_DIR/second.ini
sed -e "s/^listen_port = .*/listen_port = $LG_FREE_PORT/" \
    -e "s#^logfile = .*#logfile = $LG_DIR/second.log#" \
    -e "s#^pidfile = .*#pidfile = $LG_DIR/second.pid#" \
    -e "s#^unix_socket_dir = .*#unix_socket_dir = #" "$LG_INI" > "$INI2"
timeout 20 "$LG_BIN" "$INI2" > "$LG_DIR/second.out" 2>&1; rc=$?
isnt "$rc" 0 "a second lagoon with the same metrics port fails to start"
out=$(cat "$LG_DIR/second.out" "$LG_DIR/second.log" 2>/dev/null)
like "$out" "127\.0\.0\.1:$MPORT" "and its error names the metrics address"
diag "$(grep -m1 metrics <<<"$out")"

done_testing
