#!/usr/bin/env bash
# demo/demo.sh - lagoon in two minutes.
#
# Installs the packages it needs (apt-get, when root and something is
# missing), builds lagoon, starts a PostgreSQL primary with two streaming
# replicas (tests/pgcluster.sh, under /tmp), puts lagoon in front of the
# primary in transaction mode, runs a short pgbench workload with 40
# clients through it, prints SHOW POOLS / SHOW SERVERS from lagoon's admin
# console, and stops everything again.
#
# Environment: LAGOON_DEMO_DIR (default /tmp/lagoon-demo-$(id -u)),
# LAGOON_DEMO_PGPORT (default 35432; replicas on the next two ports),
# LAGOON_DEMO_PORT (lagoon's port, default 36432), LAGOON_BIN (use this
# binary instead of building one), LAGOON_DEMO_KEEP=1 (leave it running).
set -euo pipefail
unset PGHOST PGPORT PGUSER PGDATABASE PGPASSWORD PGOPTIONS 2>/dev/null || true

SRC=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${LAGOON_DEMO_DIR:-/tmp/lagoon-demo-$(id -u)}
PGPORT_=${LAGOON_DEMO_PGPORT:-35432}
LPORT=${LAGOON_DEMO_PORT:-36432}
CLUSTER=$DEMO/cluster

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
if [[ -n "${LAGOON_BIN:-}" ]]; then
    BIN=$LAGOON_BIN
elif [[ -f "$SRC/config.status" ]]; then
    step "building lagoon (in the source tree, already configured)"
    make -C "$SRC" -j"$(nproc)" lagoon
    BIN=$SRC/lagoon
else
    step "building lagoon (in $DEMO/build)"
    [[ -x "$SRC/configure" ]] || (cd "$SRC" && ./autogen.sh)
    mkdir -p "$DEMO/build"
    (cd "$DEMO/build" && { [[ -f config.status ]] || "$SRC/configure" >configure.log; } \
        && make -j"$(nproc)" lagoon)
    BIN=$DEMO/build/lagoon
fi
"$BIN" --version

# ---- cluster -------------------------------------------------------------------------
step "starting PostgreSQL: primary on $PGPORT_, replicas on $((PGPORT_ + 1)) and $((PGPORT_ + 2))"
mkdir -p "$DEMO"; chmod 755 "$DEMO"
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

step "pgbench -i -s 5 on the primary"
"$PGBENCH" -i -q -s 5 -h 127.0.0.1 -p "$PGPORT_" -U app postgres 2>&1 | grep -v '^NOTICE'

# ---- lagoon --------------------------------------------------------------------------
step "starting lagoon on 127.0.0.1:$LPORT (transaction pooling, 4 server connections)"
cat > "$DEMO/userlist.txt" <<EOF
"app" "app_pass"
"admin" "admin_pass"
EOF
cat > "$DEMO/lagoon.ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$PGPORT_ dbname=postgres

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

export PGPASSWORD=app_pass
step "a query through lagoon"
"$PSQL" -X -h 127.0.0.1 -p "$LPORT" -U app postgres -c "select current_user, inet_server_port() as server_port, version()"

step "pgbench through lagoon: 40 clients, 10 seconds, TPC-B-like (extended protocol)"
"$PGBENCH" -h 127.0.0.1 -p "$LPORT" -U app -c 40 -j 2 -T 10 -M extended -P 2 postgres &
BPID=$!
sleep 5
export PGPASSWORD=admin_pass
step "SHOW POOLS (during the run: 40 clients share at most 4 server connections)"
"$PSQL" -X -h 127.0.0.1 -p "$LPORT" -U admin pgbouncer -c "SHOW POOLS"
step "SHOW SERVERS"
"$PSQL" -X -h 127.0.0.1 -p "$LPORT" -U admin pgbouncer -c "SHOW SERVERS"
wait "$BPID"
step "SHOW STATS"
"$PSQL" -X -h 127.0.0.1 -p "$LPORT" -U admin pgbouncer -c "SHOW STATS" || true
step "replication: the replicas follow the primary"
"$SRC/tests/pgcluster.sh" wait-catchup "$CLUSTER" 30
"$SRC/tests/pgcluster.sh" lag "$CLUSTER"
echo
echo "lagoon's log: $DEMO/lagoon.log"
