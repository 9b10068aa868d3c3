#!/usr/bin/env bash
# pgcluster.sh - throwaway PostgreSQL primary + streaming replicas for tests.
#
# Usage:
#   pgcluster.sh start   DIR BASEPORT NREPLICAS   create (first time) and start;
#                                                 primary on BASEPORT, replica i
#                                                 on BASEPORT+i; waits until every
#                                                 replica is streaming
#   pgcluster.sh start   DIR                      restart an existing cluster
#   pgcluster.sh stop    DIR                      fast shutdown of every node
#   pgcluster.sh destroy DIR                      stop, then delete DIR
#   pgcluster.sh lag     DIR                      per node: role, LSNs, lag bytes
#   pgcluster.sh pause-replay  DIR N              pg_wal_replay_pause() on replica N
#   pgcluster.sh resume-replay DIR N              pg_wal_replay_resume() on replica N
#   pgcluster.sh wait-catchup  DIR [TIMEOUT_S]    wait until every replica has
#                                                 replayed the primary's current LSN
#   pgcluster.sh status  DIR                      pg_ctl status of every node
#   pgcluster.sh conninfo DIR N                   libpq conninfo (TCP) for node N
#   pgcluster.sh psql    DIR N [psql args...]     psql as superuser on node N
#
# Node 0 is the primary, nodes 1..NREPLICAS are replicas.
#
# Authentication (pg_hba.conf):
#   * role $PGCLUSTER_SCRAM_USER (default "scram_user", password
#     $PGCLUSTER_SCRAM_PASSWORD, default "scram_pass") must use scram-sha-256,
#     over TCP and over the unix socket;
#   * role $PGCLUSTER_MD5_USER (default "md5_user", password
#     $PGCLUSTER_MD5_PASSWORD, default "md5_pass", stored as an md5 hash)
#     must use md5, over TCP and over the unix socket;
#   * every other role, "postgres" (superuser) and "app" (plain login role)
#     included, is trusted on 127.0.0.1 and on the socket; replication too.
#
# Knobs (environment):
#   PGBIN                   server binaries (default: newest /usr/lib/postgresql/*/bin)
#   PGCLUSTER_CONF          extra postgresql.conf lines for every node
#   PGCLUSTER_REPLICA_CONF  extra lines for replicas only (e.g.
#                           "hot_standby_feedback = on" or
#                           "recovery_min_apply_delay = '2s'")
#   PGCLUSTER_TIMEOUT       seconds to wait for start/streaming (default 60)
#   PGCLUSTER_MAX_CONNECTIONS  max_connections of every node (default 200)
#   PGCLUSTER_OWNER         OS user to run the servers as when invoked as root
#                           (default postgres; postgres refuses to run as root)
#
# Works as root (server processes run as $PGCLUSTER_OWNER via runuser; DIR is
# chown'ed to it, so every parent of DIR must be traversable by that user) and
# as an ordinary user (everything runs as that user).
set -euo pipefail

# Client environment variables of the caller must not redirect our psql calls.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE \
      PGSERVICE PGSERVICEFILE PGOPTIONS PGDATA PGSSLMODE PGTARGETSESSIONATTRS \
      PGAPPNAME PGCONNECT_TIMEOUT 2>/dev/null || true

PROG=$(basename "$0")
TIMEOUT=${PGCLUSTER_TIMEOUT:-60}
SCRAM_USER=${PGCLUSTER_SCRAM_USER:-scram_user}
SCRAM_PASSWORD=${PGCLUSTER_SCRAM_PASSWORD:-scram_pass}
MD5_USER=${PGCLUSTER_MD5_USER:-md5_user}
MD5_PASSWORD=${PGCLUSTER_MD5_PASSWORD:-md5_pass}
MAX_CONN=${PGCLUSTER_MAX_CONNECTIONS:-200}

die()  { echo "$PROG: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
    exit "${1:-2}"
}

find_pgbin() {
    if [[ -n "${PGBIN:-}" ]]; then
        [[ -x "$PGBIN/postgres" ]] || die "PGBIN=$PGBIN has no postgres binary"
        echo "$PGBIN"; return
    fi
    local d best="" bestv=0 v
    for d in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
        [[ -x "$d/postgres" ]] || continue
        v=$(basename "$(dirname "$d")"); [[ "$v" =~ ^[0-9]+$ ]] || v=1
        if (( v > bestv )); then best=$d; bestv=$v; fi
    done
    if [[ -z "$best" ]] && command -v pg_ctl >/dev/null 2>&1; then
        best=$(dirname "$(command -v pg_ctl)")
    fi
    [[ -n "$best" && -x "$best/postgres" ]] || die "no PostgreSQL server binaries found; set PGBIN"
    echo "$best"
}

# Run a server-side command as the cluster owner (root cannot run postgres).
as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        (cd "$DIR" && runuser -u "$OWNER" -- "$@")
    else
        (cd "$DIR" && "$@")
    fi
}

load_env() {
    DIR=$(cd "$1" 2>/dev/null && pwd) || die "no such directory: $1"
    [[ -f "$DIR/cluster.env" ]] || die "$DIR is not a pgcluster directory (no cluster.env)"
    # shellcheck disable=SC1091
    . "$DIR/cluster.env"
    BIN=$PGC_BIN; SOCK=$PGC_SOCK; BASEPORT=$PGC_BASEPORT; NREP=$PGC_NREPLICAS; OWNER=$PGC_OWNER
    MAJOR=$(pg_major)
}

pg_major() { "$BIN/postgres" -V | sed -E 's/^[^0-9]*([0-9]+).*/\1/'; }

# SQL expression for the replay pause state (PG14+ has three states)
pause_state_sql() {
    if (( MAJOR >= 14 )); then echo "pg_get_wal_replay_pause_state()"
    else echo "CASE WHEN pg_is_wal_replay_paused() THEN 'paused' ELSE 'not paused' END"; fi
}

port_of()  { echo $((BASEPORT + $1)); }
pgdata_of() { echo "$DIR/node$1"; }

# q PORT SQL   -> unaligned, tuples only, superuser over the unix socket
q() {
    "$BIN/psql" -X -At -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$1" -U postgres -d postgres -c "$2"
}

# LSN text "X/Y" -> decimal byte position
lsn2num() {
    local hi=${1%/*} lo=${1#*/}
    echo $(( (16#$hi << 32) + 16#$lo ))
}

port_busy() {
    # 0 = something answers on the port (TCP or our socket dir)
    local rc=0
    "$BIN/pg_isready" -q -h 127.0.0.1 -p "$1" -t 1 >/dev/null 2>&1 || rc=$?
    [[ $rc -ne 2 ]] && return 0
    if command -v ss >/dev/null 2>&1 && ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; then
        return 0
    fi
    return 1
}

node_running() { as_owner "$BIN/pg_ctl" -D "$(pgdata_of "$1")" status >/dev/null 2>&1; }

start_node() {
    local i=$1
    if node_running "$i"; then note "node$i already running"; return; fi
    as_owner "$BIN/pg_ctl" -D "$(pgdata_of "$i")" -l "$DIR/logs/node$i.log" \
        -w -t "$TIMEOUT" -o "-p $(port_of "$i")" start >/dev/null \
        || { tail -n 30 "$DIR/logs/node$i.log" >&2 || true; die "node$i failed to start"; }
}

wait_streaming() {
    local i deadline=$((SECONDS + TIMEOUT)) st
    for ((i = 1; i <= NREP; i++)); do
        while :; do
            st=$(q "$(port_of 0)" "SELECT state FROM pg_stat_replication WHERE application_name = 'node$i'" 2>/dev/null || true)
            [[ "$st" == streaming ]] && break
            (( SECONDS < deadline )) || die "replica node$i not streaming after ${TIMEOUT}s (state='$st'); see $DIR/logs/node$i.log"
            sleep 0.1
        done
    done
}

cmd_start() {
    [[ $# -eq 1 || $# -eq 3 ]] || usage
    local t0=$SECONDS t0ns
    t0ns=$(date +%s%N)
    if [[ -f "$1/cluster.env" ]]; then
        load_env "$1"
        if [[ $# -eq 3 && ( "$2" != "$BASEPORT" || "$3" != "$NREP" ) ]]; then
            note "existing cluster in $DIR uses BASEPORT=$BASEPORT NREPLICAS=$NREP; ignoring arguments"
        fi
        local i
        for ((i = 0; i <= NREP; i++)); do start_node "$i"; done
        wait_streaming
        echo "restarted cluster in $DIR in $(( ($(date +%s%N) - t0ns) / 1000000 )) ms"
        return
    fi
    [[ $# -eq 3 ]] || die "no cluster in $1; give BASEPORT and NREPLICAS"
    BASEPORT=$2; NREP=$3
    [[ "$BASEPORT" =~ ^[0-9]+$ && "$NREP" =~ ^[0-9]+$ ]] || die "BASEPORT and NREPLICAS must be integers"
    (( BASEPORT >= 1024 && BASEPORT + NREP <= 65535 )) || die "ports out of range"
    BIN=$(find_pgbin); MAJOR=$(pg_major)

    if [[ $(id -u) -eq 0 ]]; then
        OWNER=${PGCLUSTER_OWNER:-postgres}
        id "$OWNER" >/dev/null 2>&1 || die "running as root needs OS user '$OWNER' (set PGCLUSTER_OWNER)"
    else
        OWNER=$(id -un)
    fi

    local i
    for ((i = 0; i <= NREP; i++)); do
        port_busy "$(port_of "$i")" && die "port $(port_of "$i") is already in use"
    done

    local created=0
    [[ -e "$1" ]] || created=1
    mkdir -p "$1"
    DIR=$(cd "$1" && pwd)
    [[ -z "$(ls -A "$DIR")" ]] || die "$DIR exists and is not empty"
    if [[ $(id -u) -eq 0 ]]; then
        chown "$OWNER:" "$DIR"
        if ! runuser -u "$OWNER" -- test -w "$DIR"; then
            (( created )) && rmdir "$DIR"
            die "user $OWNER cannot write $DIR (or a parent directory is not traversable); pick another DIR, e.g. under /tmp"
        fi
    fi
    mkdir -p "$DIR/logs"
    [[ $(id -u) -eq 0 ]] && chown "$OWNER:" "$DIR/logs"

    # Unix socket paths are limited to ~107 bytes; fall back to a short dir.
    SOCK="$DIR/sock"
    if (( ${#SOCK} > 85 )); then
        SOCK=$(mktemp -d /tmp/pgc.XXXXXX)
        note "DIR is long; using socket directory $SOCK"
    else
        mkdir -p "$SOCK"
    fi
    [[ $(id -u) -eq 0 ]] && chown "$OWNER:" "$SOCK"
    chmod 700 "$SOCK"

    cat > "$DIR/cluster.env" <<EOF
PGC_BIN='$BIN'
PGC_SOCK='$SOCK'
PGC_BASEPORT=$BASEPORT
PGC_NREPLICAS=$NREP
PGC_OWNER='$OWNER'
EOF

    # --- primary -----------------------------------------------------------
    local p0 pd0
    p0=$(port_of 0); pd0=$(pgdata_of 0)
    as_owner "$BIN/initdb" -D "$pd0" -U postgres -A trust -E UTF8 --locale=C -N \
        > "$DIR/logs/initdb.log" 2>&1 || { cat "$DIR/logs/initdb.log" >&2; die "initdb failed"; }

    as_owner tee -a "$pd0/postgresql.conf" >/dev/null <<EOF

# ---- pgcluster.sh test settings (not for production) ----
listen_addresses = '127.0.0.1'
port = $p0
unix_socket_directories = '$SOCK'
cluster_name = 'node0'
wal_level = replica
hot_standby = on
max_wal_senders = $((NREP + 10))
max_replication_slots = $((NREP + 10))
wal_receiver_status_interval = 1s
shared_buffers = 16MB
max_connections = $MAX_CONN
fsync = off
password_encryption = 'scram-sha-256'
log_line_prefix = '%m [%p] %q%a '
${PGCLUSTER_CONF:-}
EOF

    as_owner tee "$pd0/pg_hba.conf" >/dev/null <<EOF
# pgcluster.sh: TEST ONLY. First match wins.
# TYPE  DATABASE     USER          ADDRESS        METHOD
local   all          $SCRAM_USER                  scram-sha-256
host    all          $SCRAM_USER   127.0.0.1/32   scram-sha-256
local   all          $MD5_USER                    md5
host    all          $MD5_USER     127.0.0.1/32   md5
local   all          all                          trust
host    all          all           127.0.0.1/32   trust
local   replication  all                          trust
host    replication  all           127.0.0.1/32   trust
EOF

    start_node 0
    q "$p0" "CREATE ROLE app LOGIN; CREATE ROLE $SCRAM_USER LOGIN PASSWORD '$SCRAM_PASSWORD';
             SET password_encryption = 'md5'; CREATE ROLE $MD5_USER LOGIN PASSWORD '$MD5_PASSWORD';
             GRANT ALL ON SCHEMA public TO app, $SCRAM_USER, $MD5_USER;" \
        || die "creating roles failed"

    # --- replicas ----------------------------------------------------------
    local pd pi
    for ((i = 1; i <= NREP; i++)); do
        pd=$(pgdata_of "$i"); pi=$(port_of "$i")
        as_owner "$BIN/pg_basebackup" -h 127.0.0.1 -p "$p0" -U postgres -D "$pd" \
            -R -X stream -c fast -N -C -S "node$i" >"$DIR/logs/basebackup$i.log" 2>&1 \
            || { cat "$DIR/logs/basebackup$i.log" >&2; die "pg_basebackup for node$i failed"; }
        as_owner tee -a "$pd/postgresql.auto.conf" >/dev/null <<EOF
port = $pi
cluster_name = 'node$i'
${PGCLUSTER_REPLICA_CONF:-}
EOF
        start_node "$i"
    done
    wait_streaming
    echo "cluster up in $DIR: primary 127.0.0.1:$p0, replicas 127.0.0.1:$((p0 + 1))..$((p0 + NREP)); socket dir $SOCK"
    echo "start took $(( ($(date +%s%N) - t0ns) / 1000000 )) ms"
    : "$t0"
}

cmd_stop() {
    [[ $# -eq 1 ]] || usage
    load_env "$1"
    local i rc=0
    # primary first: a fast shutdown lets walsenders ship the shutdown
    # checkpoint, so replicas hold every WAL record the primary wrote
    for ((i = 0; i <= NREP; i++)); do
        [[ -d "$(pgdata_of "$i")" ]] || continue
        if node_running "$i"; then
            as_owner "$BIN/pg_ctl" -D "$(pgdata_of "$i")" -m fast -w -t "$TIMEOUT" stop >/dev/null || rc=1
        fi
    done
    if [[ $rc -eq 0 ]]; then echo "stopped cluster in $DIR"; else die "some node failed to stop"; fi
}

cmd_destroy() {
    [[ $# -eq 1 ]] || usage
    [[ -f "$1/cluster.env" ]] || die "$1 is not a pgcluster directory; refusing to delete"
    cmd_stop "$1"
    load_env "$1"
    [[ "$SOCK" == "$DIR/sock" ]] || rm -rf -- "$SOCK"
    rm -rf -- "$DIR"
    echo "deleted $DIR"
}

cmd_status() {
    [[ $# -eq 1 ]] || usage
    load_env "$1"
    local i
    for ((i = 0; i <= NREP; i++)); do
        if node_running "$i"; then echo "node$i port $(port_of "$i") running"
        else echo "node$i port $(port_of "$i") stopped"; fi
    done
}

cmd_lag() {
    [[ $# -eq 1 ]] || usage
    load_env "$1"
    local i p out role rec recv replay paused ts
    declare -A R_RECV R_REPLAY R_PAUSED R_AGE R_ROLE
    # Read replicas first, primary last: lag = primary - replay is then never
    # negative (it may over-state by whatever was written in between).
    for ((i = NREP; i >= 0; i--)); do
        p=$(port_of "$i")
        out=$(q "$p" "SELECT pg_is_in_recovery(),
                             coalesce(pg_last_wal_receive_lsn()::text, '-'),
                             CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()::text
                                  ELSE pg_current_wal_lsn()::text END,
                             CASE WHEN pg_is_in_recovery() THEN $(pause_state_sql) ELSE '-' END,
                             coalesce(round(extract(epoch FROM now() - pg_last_xact_replay_timestamp())::numeric, 3)::text, '-')" \
              2>/dev/null) || out=""
        if [[ -z "$out" ]]; then R_ROLE[$i]=down; continue; fi
        IFS='|' read -r rec recv replay paused ts <<<"$out"
        [[ "$rec" == t ]] && role=replica || role=primary
        R_ROLE[$i]=$role; R_RECV[$i]=$recv; R_REPLAY[$i]=$replay; R_PAUSED[$i]=$paused; R_AGE[$i]=$ts
    done
    local plsn="" pnum=0 lagb
    if [[ "${R_ROLE[0]}" == primary ]]; then plsn=${R_REPLAY[0]}; pnum=$(lsn2num "$plsn"); fi
    # LSN: pg_current_wal_lsn() on the primary, pg_last_wal_replay_lsn() on a replica
    # XACT_AGE_S: now() - pg_last_xact_replay_timestamp() (grows while the primary idles)
    printf '%-6s %-6s %-8s %-14s %-14s %12s  %-16s %s\n' \
        NODE PORT ROLE RECEIVE_LSN LSN LAG_BYTES PAUSE_STATE XACT_AGE_S
    for ((i = 0; i <= NREP; i++)); do
        if [[ "${R_ROLE[$i]}" == down ]]; then
            printf '%-6s %-6s %-8s\n' "node$i" "$(port_of "$i")" down; continue
        fi
        if [[ "${R_ROLE[$i]}" == primary ]]; then
            lagb=0
        elif [[ -n "$plsn" ]]; then
            lagb=$(( pnum - $(lsn2num "${R_REPLAY[$i]}") )); (( lagb < 0 )) && lagb=0
        else
            lagb='?'
        fi
        printf '%-6s %-6s %-8s %-14s %-14s %12s  %-16s %s\n' "node$i" "$(port_of "$i")" \
            "${R_ROLE[$i]}" "${R_RECV[$i]}" "${R_REPLAY[$i]}" "$lagb" "${R_PAUSED[$i]}" "${R_AGE[$i]}"
    done
}

replica_arg() {
    [[ "$1" =~ ^[0-9]+$ ]] || die "N must be a number"
    (( $1 >= 1 && $1 <= NREP )) || die "N must be a replica number 1..$NREP (node0 is the primary)"
}

cmd_pause() {
    [[ $# -eq 2 ]] || usage
    load_env "$1"; replica_arg "$2"
    local p st deadline=$((SECONDS + 10))
    p=$(port_of "$2")
    q "$p" "SELECT pg_wal_replay_pause()" >/dev/null
    # PG14+: 'pause requested' becomes 'paused' once the startup process stops
    while :; do
        st=$(q "$p" "SELECT $(pause_state_sql)")
        [[ "$st" == paused ]] && break
        (( SECONDS < deadline )) || { note "node$2 replay state still '$st'"; break; }
        sleep 0.05
    done
    echo "node$2 replay: $st at $(q "$p" "SELECT pg_last_wal_replay_lsn()")"
}

cmd_resume() {
    [[ $# -eq 2 ]] || usage
    load_env "$1"; replica_arg "$2"
    local p; p=$(port_of "$2")
    q "$p" "SELECT pg_wal_replay_resume()" >/dev/null
    echo "node$2 replay resumed"
}

cmd_wait_catchup() {
    [[ $# -ge 1 && $# -le 2 ]] || usage
    load_env "$1"
    local tmo=${2:-$TIMEOUT} target i r deadline
    target=$(q "$(port_of 0)" "SELECT pg_current_wal_lsn()")
    deadline=$((SECONDS + tmo))
    for ((i = 1; i <= NREP; i++)); do
        while :; do
            r=$(q "$(port_of "$i")" "SELECT pg_last_wal_replay_lsn() >= '$target'::pg_lsn")
            [[ "$r" == t ]] && break
            (( SECONDS < deadline )) || die "node$i has not replayed $target after ${tmo}s"
            sleep 0.05
        done
    done
    echo "all replicas replayed $target"
}

cmd_conninfo() {
    [[ $# -eq 2 ]] || usage
    load_env "$1"
    [[ "$2" =~ ^[0-9]+$ ]] && (( $2 <= NREP )) || die "N must be 0..$NREP"
    echo "host=127.0.0.1 port=$(port_of "$2") user=postgres dbname=postgres"
}

cmd_psql() {
    [[ $# -ge 2 ]] || usage
    load_env "$1"
    local n=$2; shift 2
    [[ "$n" =~ ^[0-9]+$ ]] && (( n <= NREP )) || die "N must be 0..$NREP"
    exec "$BIN/psql" -X -h "$SOCK" -p "$(port_of "$n")" -U postgres -d postgres "$@"
}

[[ $# -ge 1 ]] || usage
sub=$1; shift
case "$sub" in
    start)          cmd_start "$@" ;;
    stop)           cmd_stop "$@" ;;
    destroy)        cmd_destroy "$@" ;;
    status)         cmd_status "$@" ;;
    lag)            cmd_lag "$@" ;;
    pause-replay)   cmd_pause "$@" ;;
    resume-replay)  cmd_resume "$@" ;;
    wait-catchup)   cmd_wait_catchup "$@" ;;
    conninfo)       cmd_conninfo "$@" ;;
    psql)           cmd_psql "$@" ;;
    -h|--help|help) usage 0 ;;
    *)              usage ;;
esac
