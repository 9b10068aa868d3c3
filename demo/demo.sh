#!/usr/bin/env bash
# demo/demo.sh - lagoon routing reads to replicas, in under a minute.
#
# Installs the packages it needs (apt-get, when root and something is
# missing), builds lagoon and its routing plugins, starts a PostgreSQL
# primary with two streaming replicas (tests/pgcluster.sh, under /tmp), and
# puts lagoon in front of all three nodes in transaction mode with
# router=roundrobin.  It runs a short mixed pgbench workload through lagoon
# (select-only reads next to TPC-B-like writes), prints SHOW BACKENDS,
# SHOW POOLS, SHOW ROUTING and SHOW PLUGINS from the admin console, then
# counts where reads and writes really ran, from the servers' own answers
# and counters.  Last, it runs the read-your-writes checker
# (tests/tools/rywcheck: 20 connections, each writing and at once reading
# its write back) against router=roundrobin and router=lsn_ryw and prints
# both side by side: pairs, stale reads, replica share of the reads (as the
# servers report it), read latency p50/p99.  Then it stops everything.
#
# Environment: LAGOON_DEMO_DIR (default /tmp/lagoon-demo-$(id -u)),
# LAGOON_DEMO_PGPORT (default 35432; replicas on the next two ports),
# LAGOON_DEMO_PORT (lagoon's port, default 36432), LAGOON_BIN (use this
# binary instead of building one), LAGOON_PLUGIN_DIR (with LAGOON_BIN: where
# roundrobin.so and lsn_ryw.so are; default: lagoon's installed plugin
# directory), LAGOON_RYWCHECK (with LAGOON_BIN: the rywcheck binary),
# LAGOON_DEMO_KEEP=1 (leave it running).
set -euo pipefail
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGOPTIONS 2>/dev/null || true

SRC=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${LAGOON_DEMO_DIR:-/tmp/lagoon-demo-$(id -u)}
PGPORT_=${LAGOON_DEMO_PGPORT:-35432}
LPORT=${LAGOON_DEMO_PORT:-36432}
CLUSTER=$DEMO/cluster
R1=$((PGPORT_ + 1)); R2=$((PGPORT_ + 2))

if [[ -t 1 ]]; then
    step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
else
    step() { printf '\n==> %s\n' "$*"; }
fi

# ---- packages ----------------------------------------------------------------
PKGS="build-essential autoconf automake libtool pkg-config libevent-dev
libc-ares-dev libssl-dev libpq-dev postgresql postgresql-client postgresql-contrib"
# shellcheck disable=SC2086
if ! dpkg -s $PKGS >/dev/null 2>&1; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        step "installing packages"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q
        # shellcheck disable=SC2086
        apt-get install -y -q --no-install-recommends $PKGS
    else
        echo "some packages may be missing (need: $(echo $PKGS)); trying anyway" >&2
    fi
fi

# ---- build -----------------------------------------------------------------------
TARGETS="lagoon plugins/roundrobin/roundrobin.la plugins/leastlag/leastlag.la plugins/lsn_ryw/lsn_ryw.la tests/tools/rywcheck"
PLUGINS_FROM=""        # a build tree whose plugins/*/.libs/*.so to use
RYWCHECK=${LAGOON_RYWCHECK:-}   # the checker (built with the rest unless LAGOON_BIN)
if [[ -n "${LAGOON_BIN:-}" ]]; then
    BIN=$LAGOON_BIN
elif [[ -f "$SRC/config.status" ]]; then
    step "building lagoon and its plugins (in the source tree, already configured)"
    # shellcheck disable=SC2086
    make -C "$SRC" -j"$(nproc)" $TARGETS
    BIN=$SRC/lagoon
    PLUGINS_FROM=$SRC
    RYWCHECK=$SRC/tests/tools/rywcheck
else
    step "building lagoon and its plugins (in $DEMO/build)"
    [[ -x "$SRC/configure" ]] || (cd "$SRC" && ./autogen.sh)
    mkdir -p "$DEMO/build"
    # shellcheck disable=SC2086
    (cd "$DEMO/build" && { [[ -f config.status ]] || "$SRC/configure" >configure.log; } \
        && make -j"$(nproc)" $TARGETS)
    BIN=$DEMO/build/lagoon
    PLUGINS_FROM=$DEMO/build
    RYWCHECK=$DEMO/build/tests/tools/rywcheck
fi
"$BIN" --version

# plugin_dir: the build tree's plugins, linked into one directory (libtool
# keeps each .so in its own .libs); else LAGOON_PLUGIN_DIR or the installed dir
mkdir -p "$DEMO"; chmod 755 "$DEMO"
PLUGIN_DIR_LINE=""
if [[ -n "$PLUGINS_FROM" ]]; then
    rm -rf -- "$DEMO/plugins"; mkdir -p "$DEMO/plugins"
    for so in "$PLUGINS_FROM"/plugins/*/.libs/*.so; do ln -s "$so" "$DEMO/plugins/"; done
    PLUGIN_DIR_LINE="plugin_dir = $DEMO/plugins"
elif [[ -n "${LAGOON_PLUGIN_DIR:-}" ]]; then
    PLUGIN_DIR_LINE="plugin_dir = $LAGOON_PLUGIN_DIR"
fi

# ---- cluster -------------------------------------------------------------------------
step "starting PostgreSQL: primary on $PGPORT_, replicas on $R1 and $R2"
[[ -f "$CLUSTER/cluster.env" ]] && "$SRC/tests/pgcluster.sh" destroy "$CLUSTER" >/dev/null
rm -rf -- "$CLUSTER"
"$SRC/tests/pgcluster.sh" start "$CLUSTER" "$PGPORT_" 2
# shellcheck disable=SC1091
. "$CLUSTER/cluster.env"
PSQL=$PGC_BIN/psql
PGBENCH=$PGC_BIN/pgbench; [[ -x "$PGBENCH" ]] || PGBENCH=pgbench

LPID=""
cleanup() {
    [[ -n "${LAGOON_DEMO_KEEP:-}" ]] && { echo "left running (LAGOON_DEMO_KEEP): lagoon pid $LPID, cluster $CLUSTER"; return; }
    step "stopping everything"
    if [[ -n "$LPID" ]] && kill -0 "$LPID" 2>/dev/null; then
        kill -TERM "$LPID"; wait "$LPID" 2>/dev/null || true
    fi
    "$SRC/tests/pgcluster.sh" destroy "$CLUSTER" || true
}
trap cleanup EXIT

step "database bench on the primary: pgbench -i -s 5, plus a table that records where each write ran"
"$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT_" -U postgres postgres -c "create database bench owner app"
"$PGBENCH" -i -q -s 5 -h 127.0.0.1 -p "$PGPORT_" -U app bench 2>&1 | grep -v '^NOTICE'
"$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT_" -U app bench -c "create table demo_writes (port int)"
"$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT_" -U app bench -c "create table rywcheck (k text primary key, v bigint not null default 0)"
"$SRC/tests/pgcluster.sh" wait-catchup "$CLUSTER" 30

# ---- lagoon --------------------------------------------------------------------------
step "starting lagoon on 127.0.0.1:$LPORT: one database line, three nodes, router=roundrobin"
cat > "$DEMO/userlist.txt" <<EOF
"app" "app_pass"
"admin" "admin_pass"
EOF
cat > "$DEMO/lagoon.ini" <<EOF
[databases]
bench = host=127.0.0.1 port=$PGPORT_,$R1,$R2 dbname=bench router=roundrobin
ryw_rr = host=127.0.0.1 port=$PGPORT_,$R1,$R2 dbname=bench router=roundrobin pool_size=20
ryw_lsn = host=127.0.0.1 port=$PGPORT_,$R1,$R2 dbname=bench router=lsn_ryw router_options='max_wait_ms=50' pool_size=20

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $LPORT
unix_socket_dir = $DEMO
auth_type = md5
auth_file = $DEMO/userlist.txt
admin_users = admin
pool_mode = transaction
default_pool_size = 4
max_client_conn = 500
$PLUGIN_DIR_LINE
logfile = $DEMO/lagoon.log
pidfile = $DEMO/lagoon.pid
EOF
cat "$DEMO/lagoon.ini"
"$BIN" "$DEMO/lagoon.ini" >"$DEMO/lagoon.stderr" 2>&1 &
LPID=$!
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$LPORT") 2>/dev/null && break
    kill -0 "$LPID" 2>/dev/null || { cat "$DEMO/lagoon.stderr" "$DEMO/lagoon.log" 2>/dev/null; exit 1; }
    sleep 0.1
done

admin() { PGPASSWORD=admin_pass "$PSQL" -X -h 127.0.0.1 -p "$LPORT" -U admin pgbouncer "$@"; }
app()   { PGPASSWORD=app_pass "$PSQL" -X -h 127.0.0.1 -p "$LPORT" -U app bench "$@"; }

# the monitor needs a round or two to learn the roles (monitor_interval 250 ms)
for _ in $(seq 1 50); do
    [[ $(admin -At -c "SHOW BACKENDS" | awk -F'|' '$5 == "up" && ($4 == "primary" || $4 == "replica")' | wc -l) -eq 3 ]] && break
    sleep 0.1
done

# per node: transactions committed in database bench (the servers' own counter)
commits() {
    local port
    for port in "$PGPORT_" "$R1" "$R2"; do
        "$PSQL" -X -At -h 127.0.0.1 -p "$port" -U postgres postgres \
            -c "select xact_commit from pg_stat_database where datname = 'bench'"
    done
}
read -r -d '' C0_P C0_R1 C0_R2 < <(commits; printf '\0') || true

step "a mixed workload through lagoon for 5 seconds: 16 clients select-only, 4 clients TPC-B-like"
PGPASSWORD=app_pass "$PGBENCH" -n -h 127.0.0.1 -p "$LPORT" -U app -b select-only -c 16 -j 2 -T 5 bench \
    >"$DEMO/reads.out" 2>&1 &
RPID=$!
PGPASSWORD=app_pass "$PGBENCH" -n -h 127.0.0.1 -p "$LPORT" -U app -b tpcb-like -c 4 -j 1 -T 5 bench \
    >"$DEMO/writes.out" 2>&1 &
WPID=$!
sleep 3
step "SHOW BACKENDS (during the run: roles, WAL positions, lag, server connections per node)"
admin -c "SHOW BACKENDS"
step "SHOW POOLS (one row per node)"
admin -c "SHOW POOLS"
wait "$RPID" || { cat "$DEMO/reads.out"; exit 1; }
wait "$WPID" || { cat "$DEMO/writes.out"; exit 1; }
READS=$(awk '/number of transactions actually processed/ {print $NF}' "$DEMO/reads.out")
WRITES=$(awk '/number of transactions actually processed/ {print $NF}' "$DEMO/writes.out")
echo "pgbench: $READS select-only transactions, $WRITES TPC-B-like transactions, $(grep -h 'number of failed' "$DEMO/reads.out" "$DEMO/writes.out" | awk '{s += $5} END {print s + 0}') failed"

step "SHOW ROUTING (decisions per node and reason; 'write' = not read-only, never shown to the plugin)"
admin -c "SHOW ROUTING"
step "SHOW PLUGINS"
admin -c "SHOW PLUGINS"

# close lagoon's server connections so each server flushes its statistics
admin -q -c "KILL bench" -c "RESUME bench" >/dev/null
sleep 1
read -r -d '' C1_P C1_R1 C1_R2 < <(commits; printf '\0') || true
step "where the workload ran, by each server's pg_stat_database.xact_commit"
printf '  primary   %s: %6d transactions (every TPC-B-like one: %s)\n' "$PGPORT_" $((C1_P - C0_P)) "$WRITES"
printf '  replica 1 %s: %6d transactions (read-only: a standby cannot write)\n' "$R1" $((C1_R1 - C0_R1))
printf '  replica 2 %s: %6d transactions\n' "$R2" $((C1_R2 - C0_R2))

step "100 reads and 20 writes through lagoon, each one asking its server which port it is"
for _ in $(seq 1 100); do echo "select inet_server_port();"; done >"$DEMO/reads.sql"
for _ in $(seq 1 20); do echo "insert into demo_writes values (inet_server_port());"; done >"$DEMO/writes.sql"
app -At -f "$DEMO/reads.sql" >"$DEMO/reads.ports"
app -q -f "$DEMO/writes.sql"
on() { grep -cx "$1" "$DEMO/reads.ports" || true; }
W_PRIMARY=$(app -At -c "select count(*) from demo_writes where port = $PGPORT_ /* lagoon:primary */")
W_ALL=$(app -At -c "select count(*) from demo_writes /* lagoon:primary */")
echo "reads: $(on "$R1") on replica 1, $(on "$R2") on replica 2, $(on "$PGPORT_") on the primary;" \
     "writes: $( [[ $W_PRIMARY -eq $W_ALL ]] && echo "all $W_ALL" || echo "$W_PRIMARY of $W_ALL") on the primary"

if [[ -x "$RYWCHECK" ]]; then
    step "read-your-writes: 20 connections write a row (INSERT, BEGIN..COMMIT, UPDATE in turn) and read it back at once, 5 s per router"
    declare -A RY
    for db in ryw_rr ryw_lsn; do
        echo "  rywcheck -d 'host=127.0.0.1 port=$LPORT dbname=$db user=app' -c 20 -T 5"
        line=$(PGPASSWORD=app_pass "$RYWCHECK" -d "host=127.0.0.1 port=$LPORT dbname=$db user=app" -c 20 -T 5 2>"$DEMO/$db.err" | tail -n 1) || true
        for f in pairs stale replica_share p50_ms p99_ms; do
            RY[$db.$f]=$(sed -n "s/.*\b$f=\([0-9.]*\).*/\1/p" <<<"$line")
        done
    done
    printf '  %-22s %14s %14s\n' "" "roundrobin" "lsn_ryw"
    printf '  %-22s %14s %14s\n' "write->read pairs" "${RY[ryw_rr.pairs]}" "${RY[ryw_lsn.pairs]}"
    printf '  %-22s %14s %14s\n' "stale reads" "${RY[ryw_rr.stale]}" "${RY[ryw_lsn.stale]}"
    printf '  %-22s %13s%% %13s%%\n' "reads on replicas" "${RY[ryw_rr.replica_share]}" "${RY[ryw_lsn.replica_share]}"
    printf '  %-22s %14s %14s\n' "read p50 (ms)" "${RY[ryw_rr.p50_ms]}" "${RY[ryw_lsn.p50_ms]}"
    printf '  %-22s %14s %14s\n' "read p99 (ms)" "${RY[ryw_rr.p99_ms]}" "${RY[ryw_lsn.p99_ms]}"
    admin -c "SHOW ROUTING" | grep -E 'database|ryw_lsn' || true
else
    echo "(read-your-writes checker not built: set LAGOON_RYWCHECK to run it)"
fi

echo
echo "lagoon's log: $DEMO/lagoon.log"
