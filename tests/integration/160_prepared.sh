#!/usr/bin/env bash
# 160_prepared: protocol-level named prepared statements in transaction
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
lg_setup pgbench
DB=lg160_$$    # this copy's own database: copies running at once stay apart
PREPTEST=$LG_BUILD_DIR/tests/tools/preptest

# ---- this test's own database (pgbench tables of other tests stay apart) ----
lg_pg 0 -c "create database $DB owner app" >/dev/null || bail "could not create database $DB"
lg_on_exit 'lg_pg 0 -c "drop database if exists $DB with (force)" >/dev/null 2>&1'
[[ "$(lg_pg 0 -c "select count(*) from pg_database where datname = '$DB'")" == 1 ]] || bail "could not create database $DB"
if ! "$PGBENCH" -i -q -s 1 -h 127.0.0.1 -p "$P0" -U app "$DB" > "$LG_DIR/init.log" 2>&1; then
    diag_file "$LG_DIR/init.log"; bail "pgbench -i failed"
fi
lg_pg 0 -d "$DB" -c "drop table if exists prep_t; create table prep_t (id int primary key, v text);
                     drop sequence if exists prep_seq; create sequence prep_seq;
                     grant all on prep_t, prep_seq to app" >/dev/null || bail "could not create prep_t"
# the replicas have replayed the init before reads go there
rep_ready() { local n; for n in 1 2; do
    [[ "$(lg_pg $n -d "$DB" -c "select count(*) from pgbench_branches" 2>/dev/null)" == 1 ]] || return 1
    [[ "$(lg_pg $n -d "$DB" -c "select to_regclass('prep_seq') is not null" 2>/dev/null)" == t ]] || return 1
done; }
lg_wait_for rep_ready 60 || bail "replicas did not replay the pgbench tables"

LG_DATABASES_EXTRA="rr = host=127.0.0.1 port=$P0,$P1,$P2 dbname=$DB router=roundrobin"
lg_plugins roundrobin
lg_free_port || bail "no free port"; MPORT=$LG_FREE_PORT
lg_start prep "plugin_dir = $PLUGDIR
metrics_listen_addr = 127.0.0.1
metrics_listen_port = $MPORT
monitor_interval = 200
default_pool_size = 10
max_prepared_statements = 20
query_wait_timeout = 30" || bail "pooler did not start"
# wait until the monitor knows the roles
lg_wait_for '[[ $(lg_admin "SHOW BACKENDS" | grep -c replica) -ge 2 ]]' 30 || bail "monitor did not find 2 replicas"

# retap PREFIX FILE: a helper's "ok [N] - what" / "not ok [N] - what" lines
# become this script's TAP lines
retap() {
    local line
    while IFS= read -r line; do
        case "$line" in
            ok*) pass "$1$(sed 's/^ok [0-9]* *- //; s/^ok - //' <<<"$line")" ;;
            "not ok"*) fail "$1$(sed 's/^not ok [0-9]* *- //; s/^not ok - //' <<<"$line")" ;;
        esac
    done < "$2"
}

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

# ---- 2. libpq: tests/tools/preptest ----------------------------------------
lg_pg 0 -d "$DB" -c "truncate prep_t" >/dev/null
CONN="host=127.0.0.1 port=$LG_PORT user=app dbname=rr"
if [[ -x "$PREPTEST" ]]; then
    "$PREPTEST" -d "$CONN" -t prep_t -P "$P0" > "$LG_DIR/preptest.out" 2>&1
    rc=$?
    retap "libpq: " "$LG_DIR/preptest.out"
    is "$rc" 0 "preptest exits 0" || diag_file "$LG_DIR/preptest.out" 20
    is "$(lg_pg 0 -d "$DB" -c "select count(*) from prep_t")" 200 "the 200 prepared INSERTs are on the primary"
else
    fail "tests/tools/preptest not built (make check builds it)"
fi

# ---- 3. psycopg 3 ------------------------------------------------------------
PY=""
for p in /usr/bin/python3 python3; do
    if "$p" -c 'import psycopg' 2>/dev/null; then PY=$p; break; fi
done
if [[ -n "$PY" ]]; then
    "$PY" - "$CONN" > "$LG_DIR/psycopg.out" 2>&1 <<'PYEOF'
import sys, psycopg
conninfo = sys.argv[1]
n = 0
def check(cond, what):
    global n
    n += 1
    print(("ok" if cond else "not ok") + " - psycopg: " + what)
with psycopg.connect(conninfo, autocommit=True, prepare_threshold=0) as conn:
    backends, bad = set(), 0
    for i in range(100):
        r = conn.execute("select %s::int + 1, pg_is_in_recovery(), inet_server_port()", (i,)).fetchone()
        bad += r[0] != i + 1
        backends.add((r[1], r[2]))
    check(bad == 0, "100 prepared SELECTs (prepare_threshold=0) return the right values")
    check(all(rep for rep, _ in backends) and len(backends) == 2,
          "the prepared SELECTs ran on both replicas only: %s" % sorted(backends))
    ports = set()
    for i in range(50):
        r = conn.execute("insert into prep_t (id, v) values (%s, %s) returning inet_server_port(), pg_is_in_recovery()",
                         (1000 + i, "psycopg")).fetchone()
        ports.add(r)
    check(len(ports) == 1 and not list(ports)[0][1], "50 prepared INSERTs ran on the primary: %s" % ports)
    with conn.transaction():
        conn.execute("insert into prep_t (id, v) values (%s, %s)", (2000, "txn"))
        r = conn.execute("select count(*) from prep_t where id = %s", (2000,)).fetchone()
    check(r[0] == 1, "an explicit transaction sees its own prepared INSERT")
    with conn.pipeline():
        curs = [conn.execute("select %s::int * 3", (i,)) for i in range(20)]
    check([c.fetchone()[0] for c in curs] == [i * 3 for i in range(20)], "pipeline mode: 20 prepared reads")
    with conn.pipeline():
        c1 = conn.execute("select count(*) from prep_t where v = %s", ("psycopg",))
        conn.execute("insert into prep_t (id, v) values (%s, %s)", (2001, "pipe"))
        c2 = conn.execute("select count(*) from prep_t where id = %s", (2001,))
    check(c1.fetchone()[0] == 50 and c2.fetchone()[0] == 1,
          "pipeline mode: a read, a write and a read of it in one batch (the batch runs on the primary)")
    try:
        with conn.pipeline():
            a = conn.execute("select %s::int + 100", (1,))
            conn.execute("select 1 / %s::int", (0,))
            conn.execute("select %s::int + 200", (1,))
        check(False, "pipeline mode: an error in the middle raises")
    except psycopg.errors.DivisionByZero:
        check(a.fetchone()[0] == 101, "pipeline mode: the error in the middle raises DivisionByZero after the first result")
    r = conn.execute("select %s::int + 100, %s::int + 200", (5, 5)).fetchone()
    check(r == (105, 205), "after the pipeline error prepared statements still work")
    conn.execute("DEALLOCATE ALL")
    # psycopg 3.1 keeps its own cache across DEALLOCATE ALL: against
    # PostgreSQL itself the next use of a cached statement gets 26000 too
    try:
        conn.execute("select %s::int + 100, %s::int + 200", (5, 5))
        check(False, "after DEALLOCATE ALL a statement psycopg still caches is gone (26000), as on PostgreSQL")
    except psycopg.errors.InvalidSqlStatementName:
        check(True, "after DEALLOCATE ALL a statement psycopg still caches is gone (26000), as on PostgreSQL")
    r = conn.execute("select %s::int + 41", (1,)).fetchone()
    check(r[0] == 42, "after DEALLOCATE ALL a new statement is prepared and gets 42")
print("1..%d" % n)
PYEOF
    rc=$?
    retap "" "$LG_DIR/psycopg.out"
    is "$rc" 0 "psycopg script exits 0" || diag_file "$LG_DIR/psycopg.out" 20
else
    fail "psycopg 3 not installed (python3-psycopg)"
fi

# ---- 4. pgjdbc ---------------------------------------------------------------
JAR=""
for j in /usr/share/java/postgresql.jar /usr/share/java/postgresql-jdbc4.jar; do [[ -f "$j" ]] && { JAR=$j; break; }; done
if [[ -n "$JAR" ]] && command -v java >/dev/null; then
    cat > "$LG_DIR/PrepJdbc.java" <<'JEOF'
import java.sql.*;
import java.util.*;

public class PrepJdbc {
    static int n = 0;
    static void check(boolean ok, String what) {
        System.out.println((ok ? "ok" : "not ok") + " - pgjdbc: " + what);
    }
    public static void main(String[] a) throws Exception {
        String url = a[0] + "?user=app&prepareThreshold=1&preparedStatementCacheQueries=0";
        try (Connection c = DriverManager.getConnection(url)) {
            c.setAutoCommit(true);
            int bad = 0;
            Set<String> where = new TreeSet<>();
            for (int i = 0; i < 100; i++) {
                // a new PreparedStatement each time and close(): Parse S_n, then Close
                try (PreparedStatement ps = c.prepareStatement(
                        "select ?::int + 1, pg_is_in_recovery(), inet_server_port()")) {
                    for (int k = 0; k < 2; k++) {
                        ps.setInt(1, i);
                        try (ResultSet rs = ps.executeQuery()) {
                            rs.next();
                            if (rs.getInt(1) != i + 1) bad++;
                            where.add(rs.getBoolean(2) + ":" + rs.getInt(3));
                        }
                    }
                }
            }
            check(bad == 0, "200 server-prepared SELECTs (prepareThreshold=1, Close after each) right");
            check(where.size() == 2 && !where.toString().contains("false"), "the SELECTs ran on both replicas only: " + where);
            Set<String> ins = new TreeSet<>();
            try (PreparedStatement ps = c.prepareStatement(
                    "insert into prep_t (id, v) values (?, ?) returning inet_server_port(), pg_is_in_recovery()")) {
                for (int i = 0; i < 50; i++) {
                    ps.setInt(1, 3000 + i);
                    ps.setString(2, "jdbc");
                    try (ResultSet rs = ps.executeQuery()) { rs.next(); ins.add(rs.getInt(1) + ":" + rs.getBoolean(2)); }
                }
            }
            check(ins.size() == 1 && ins.toString().contains("false"), "50 prepared INSERTs ran on the primary: " + ins);
            try (PreparedStatement ps = c.prepareStatement("insert into prep_t (id, v) values (?, 'batch')")) {
                for (int i = 0; i < 20; i++) { ps.setInt(1, 4000 + i); ps.addBatch(); }
                int[] r = ps.executeBatch();
                check(r.length == 20, "a batch of 20 prepared INSERTs");
            }
            c.setAutoCommit(false);
            try (PreparedStatement w = c.prepareStatement("update prep_t set v = ? where id = ?");
                 PreparedStatement r = c.prepareStatement("select v from prep_t where id = ?")) {
                w.setString(1, "changed"); w.setInt(2, 3000); w.executeUpdate();
                r.setInt(1, 3000);
                try (ResultSet rs = r.executeQuery()) { rs.next(); check("changed".equals(rs.getString(1)), "a transaction reads its own prepared UPDATE"); }
            }
            c.commit();
            c.setAutoCommit(true);
            try (Statement st = c.createStatement()) { st.execute("DEALLOCATE ALL"); }
            c.setAutoCommit(false);   // on the primary: a replica may lag behind the batch
            try (PreparedStatement ps = c.prepareStatement("select count(*) from prep_t where v = ?")) {
                ps.setString(1, "batch");
                try (ResultSet rs = ps.executeQuery()) { rs.next(); check(rs.getInt(1) == 20, "after DEALLOCATE ALL a new prepared statement works (20 batch rows)"); }
            }
            c.commit();
        }
    }
}
JEOF
    java -cp "$JAR" "$LG_DIR/PrepJdbc.java" "jdbc:postgresql://127.0.0.1:$LG_PORT/rr" > "$LG_DIR/jdbc.out" 2>&1
    rc=$?
    retap "" "$LG_DIR/jdbc.out"
    is "$rc" 0 "pgjdbc program exits 0" || diag_file "$LG_DIR/jdbc.out" 20
else
    fail "pgjdbc or java not installed (libpostgresql-jdbc-java, default-jdk-headless)"
fi

# ---- 5. node-postgres ----------------------------------------------------------
if command -v node >/dev/null && command -v npm >/dev/null; then
    NODEDIR=$LG_DIR/node; mkdir -p "$NODEDIR"
    if (cd "$NODEDIR" && timeout 120 npm install --no-audit --no-fund --silent pg@8 > npm.log 2>&1); then
        cat > "$NODEDIR/prep.js" <<'NEOF'
const { Client } = require('pg');
function check(ok, what) { console.log((ok ? 'ok' : 'not ok') + ' - node-postgres: ' + what); }
(async () => {
  const c = new Client({ host: '127.0.0.1', port: +process.argv[2], user: 'app', database: 'rr' });
  await c.connect();
  let bad = 0; const where = new Set();
  for (let i = 0; i < 100; i++) {
    const r = await c.query({ name: 'sel', text: 'select $1::int + 1 as v, pg_is_in_recovery() as rep, inet_server_port() as port', values: [i] });
    if (r.rows[0].v !== i + 1) bad++;
    where.add(r.rows[0].rep + ':' + r.rows[0].port);
  }
  check(bad === 0, '100 named SELECTs right');
  check(where.size === 2 && ![...where].some(w => w.startsWith('false')), 'named SELECTs ran on both replicas only: ' + [...where]);
  const ins = new Set();
  for (let i = 0; i < 50; i++) {
    const r = await c.query({ name: 'ins', text: 'insert into prep_t (id, v) values ($1, $2) returning pg_is_in_recovery() as rep', values: [5000 + i, 'node'] });
    ins.add(r.rows[0].rep);
  }
  check(ins.size === 1 && ins.has(false), '50 named INSERTs ran on the primary');
  await c.query('BEGIN');   // on the primary: a replica may not have replayed them yet
  const n = await c.query({ name: 'cnt', text: 'select count(*)::int as n from prep_t where v = $1', values: ['node'] });
  await c.query('COMMIT');
  check(n.rows[0].n === 50, 'the 50 rows are there (named query in a transaction)');
  try { await c.query({ name: 'div', text: 'select 1 / $1::int as x', values: [0] }); check(false, 'division by zero raises'); }
  catch (e) { check(e.code === '22012', 'a failing named query raises 22012'); }
  const r2 = await c.query({ name: 'div', text: 'select 1 / $1::int as x', values: [1] });
  check(r2.rows[0].x === 1, 'the named query runs after its error');
  await c.end();
})().catch(e => { console.log('not ok - node-postgres: ' + e); process.exit(1); });
NEOF
        node "$NODEDIR/prep.js" "$LG_PORT" > "$LG_DIR/node.out" 2>&1
        rc=$?
        retap "" "$LG_DIR/node.out"
        is "$rc" 0 "node-postgres program exits 0" || diag_file "$LG_DIR/node.out" 20
    else
        diag_file "$NODEDIR/npm.log" 10
        fail "node-postgres: npm install pg failed (is the npm registry reachable?); this test needs it"
    fi
else
    fail "node-postgres: node and npm are needed (nodejs, npm)"
fi

# ---- 6. the protocol by hand: Flush without Sync, Close, errors ----------------
m() { python3 - "$@" <<'PYEOF'
import struct, sys
def msg(t, body): return t.encode() + struct.pack("!I", len(body) + 4) + body
def z(s): return s.encode() + b"\0"
out = b""
for a in sys.argv[1:]:
    k, _, v = a.partition(":")
    f = v.split(",") if v else []
    if k == "P": out += msg("P", z(f[0]) + z(f[1]) + b"\0\0")
    elif k == "B": out += msg("B", z("") + z(f[0]) + b"\0\0\0\0\0\0")
    elif k == "E": out += msg("E", z("") + b"\0\0\0\0")
    elif k == "C": out += msg("C", b"S" + z(f[0]))
    elif k == "D": out += msg("D", b"S" + z(f[0]))
    elif k == "H": out += msg("H", b"")
    elif k == "S": out += msg("S", b"")
print("raw:" + out.hex())
PYEOF
}
raw=$(python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 2 startup:app:rr read \
      "$(m P:s1,'select 1' H)" read \
      "$(m C:s1 H)" read \
      "$(m B:s1 E S)" read \
      "$(m P:s2,'select 2' B:s2 E P:s2,'select 22' B:s2 E S)" read \
      "$(m C:s2 P:s2,'select 3' D:s2 B:s2 E S)" read 2>&1)
diag "$raw"
flat=$(tr '\n' ' ' <<<"$raw")
like "$flat" "Z I X 1 4 TIMEOUT" "Parse + Flush (no Sync): ParseComplete arrives, nothing else"
like "$flat" "TIMEOUT X 3 4 TIMEOUT" "Close of a named statement + Flush: CloseComplete from lagoon"
like "$flat" "E 26000 prepared statement \"s1\" does not exist Z I" "Bind of the closed name: PostgreSQL's 26000 with the client's name"
like "$flat" "X 1 4 X 2 4 D 2 C SELECT 1 E 42P05 prepared statement \"s2\" already exists Z I" \
    "Parse of a name in use in a pipeline: 42P05 in its place, the Bind after it skipped"
like "$flat" "X 3 4 X 1 4 X t [0-9]* X T [0-9]* X 2 4 D 3 C SELECT 1 Z I" \
    "Close then Parse of the same name in one batch: the new text runs"

# ---- 7. max_prepared_statements and the counters ------------------------------
if [[ -n "$PY" ]]; then
    "$PY" - "$CONN" "host=127.0.0.1 port=$LG_PORT user=admin dbname=pgbouncer" > "$LG_DIR/lru.out" 2>&1 <<'PYEOF'
import sys, psycopg
with psycopg.connect(sys.argv[1], autocommit=True, prepare_threshold=0) as conn:
    bad = 0
    for rnd in range(2):
        for i in range(30):
            r = conn.execute("select %%s::int + %d" % i, (rnd,)).fetchone()
            bad += r[0] != rnd + i
    print(("ok" if bad == 0 else "not ok") + " - 30 statements (max_prepared_statements = 20) all run twice")
    with conn.pipeline():
        curs = [conn.execute("select %%s::int + %d" % (100 + i), (1,)) for i in range(30)] + \
               [conn.execute("select %%s::int + %d" % i, (2,)) for i in range(30)]
    got = [c.fetchone()[0] for c in curs]
    want = [101 + i for i in range(30)] + [2 + i for i in range(30)]
    print(("ok" if got == want else "not ok") +
          " - one pipeline of 60 statements (30 new) over a bound of 20: all results right")
    with psycopg.connect(sys.argv[2], autocommit=True) as adm:
        def show(what):
            res = adm.pgconn.exec_(what.encode())
            cols = [res.fname(i).decode() for i in range(res.nfields)]
            return [dict(zip(cols, [(res.get_value(r, c) or b"").decode() for c in range(res.nfields)]))
                    for r in range(res.ntuples)]
        mine = [c for c in show("SHOW CLIENTS") if c["database"] == "rr"]
        print(("ok" if any(int(c["prepared_statements"]) >= 30 for c in mine) else "not ok") +
              " - SHOW CLIENTS prepared_statements counts the client's 30+ names: %s" % [c["prepared_statements"] for c in mine])
        import time
        for _ in range(100):   # the last server goes back to the pool after its commit-LSN query
            sv = [int(s["prepared_statements"]) for s in show("SHOW SERVERS") if s["database"] == "rr"]
            if sv and max(sv) <= 20:
                break
            time.sleep(0.1)
        print(("ok" if sv and max(sv) <= 20 and max(sv) > 0 else "not ok") +
              " - SHOW SERVERS prepared_statements within max_prepared_statements (20) once the servers are back in the pool: %s" % sv)
        st = [s for s in show("SHOW STATS") if s["database"] == "rr"][0]
        ok = int(st["total_client_parse_count"]) > 0 and int(st["total_server_parse_count"]) > 0 \
            and int(st["total_bind_count"]) > 1000
        print(("ok" if ok else "not ok") + " - SHOW STATS counts: client_parse %s, server_parse %s, bind %s" %
              (st["total_client_parse_count"], st["total_server_parse_count"], st["total_bind_count"]))
PYEOF
    retap "" "$LG_DIR/lru.out"
    grep -q '^ok' "$LG_DIR/lru.out" || diag_file "$LG_DIR/lru.out" 20
fi

# the same counters on the metrics endpoint
metrics=$(curl -s "http://127.0.0.1:$MPORT/metrics")
for fam in lagoon_client_parse_total lagoon_server_parse_total lagoon_bind_total; do
    v=$(awk -v f="$fam" '$1 == f "{database=\"rr\"}" { print $2 }' <<<"$metrics")
    cmp_ok "${v:-0}" -gt 0 "metrics: $fam{database=\"rr\"} counts ($v)"
done

lg_alive; ok $? "the pooler is still running"
done_testing
