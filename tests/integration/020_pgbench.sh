#!/usr/bin/env bash
# 020_pgbench: pgbench with 50 clients through a transaction-mode pool of 5
# server connections, select-only and TPC-B-like, simple and extended query
# protocol: no failed transaction, and never more than 5 server connections.
. "$(dirname "$0")/lib.sh"
lg_setup pgbench

# initialise the tables on the primary directly (not through the pooler)
if ! "$PGBENCH" -i -q -s 2 -h 127.0.0.1 -p "$LG_PGPORT" -U app postgres > "$LG_DIR/init.log" 2>&1; then
    diag_file "$LG_DIR/init.log"
    bail "pgbench -i on the primary failed"
fi
pass "pgbench -i -s 2 on the primary"

lg_start pgb "pool_mode = transaction
default_pool_size = 5
max_client_conn = 200" || bail "pooler did not start"

# run_bench NAME PGBENCH_ARGS...: runs pgbench through the pooler while
# sampling SHOW SERVERS; asserts on the exit status, the failed count and
# the number of server connections.
run_bench() {
    local name=$1; shift
    local out=$LG_DIR/$name.out
    lg_pgbench -n -c 50 -j 2 -T 5 "$@" postgres > "$out" 2>&1 &
    local bpid=$! maxsv=0 n
    while kill -0 "$bpid" 2>/dev/null; do
        n=$(lg_server_count postgres app)
        (( n > maxsv )) && maxsv=$n
        sleep 0.2
    done
    wait "$bpid"; local rc=$?
    is "$rc" 0 "$name: pgbench exits 0" || diag_file "$out" 30
    local failed processed
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
    processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
    [[ -n "$failed" ]] || failed=$(grep -c 'ERROR\|FATAL\|error' "$out")
    is "$failed" 0 "$name: zero failed transactions"
    cmp_ok "${processed:-0}" -gt 100 "$name: transactions were processed (${processed:-none})"
    cmp_ok "$maxsv" -le 5 "$name: at most 5 server connections in SHOW SERVERS (max seen $maxsv)"
    cmp_ok "$maxsv" -ge 1 "$name: server connections were in use during the run"
    diag "$name: $(grep -E '^(tps|number of (failed )?trans)' "$out" | tr '\n' ';')"
}

run_bench "select-only, simple protocol" -S -M simple
run_bench "select-only, extended protocol" -S -M extended
run_bench "TPC-B-like, simple protocol" -M simple
run_bench "TPC-B-like, extended protocol" -M extended

# the pool after the runs: SHOW POOLS agrees with the limit, no waiting client
row=$(lg_admin_hdr "SHOW POOLS" | awk -F'|' '
    NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
    $h["database"] == "postgres" && $h["user"] == "app" {
        print $h["sv_active"] + $h["sv_idle"] + $h["sv_used"] + $h["sv_tested"] + $h["sv_login"], $h["cl_waiting"] }')
read -r sv clw <<<"$row"
cmp_ok "${sv:-99}" -le 5 "SHOW POOLS: the postgres/app pool holds at most 5 server connections ($sv)"
is "${clw:-x}" 0 "SHOW POOLS: no client is left waiting"

# the data is consistent: TPC-B keeps the sums of balances equal
sums=$(lg_psql -c "select (select sum(abalance) from pgbench_accounts) = (select sum(bbalance) from pgbench_branches)
                    and (select sum(bbalance) from pgbench_branches) = (select sum(tbalance) from pgbench_tellers)")
is "$sums" t "account, branch and teller balances agree after the TPC-B runs"
hist=$(lg_pg 0 -c "select count(*) > 0 from pgbench_history")
is "$hist" t "the TPC-B transactions were committed on the primary"

lg_alive; ok $? "the pooler is still running"
done_testing
