# lib.sh - TAP helpers and lagoon/PostgreSQL fixtures for the integration
# tests.  Source it from a test script:
#
#   . "$(dirname "$0")/lib.sh"
#   lg_cluster_up                 # shared primary + 2 replicas (or SKIP)
#                                 # (or lg_setup: that, and more, at once)
#   lg_start t "pool_mode = transaction"
#   is "$(lg_psql -c 'select 1')" 1 "select 1 through lagoon"
#   done_testing
#
# Environment:
#   LAGOON_BIN          binary under test (default $LAGOON_BUILD_DIR/lagoon);
#                       /usr/sbin/pgbouncer works too, to validate the tests
#   LAGOON_BUILD_DIR    build tree (set by "make check"; default: the source tree)
#   LAGOON_SRC_DIR      source tree (set by "make check")
#   LAGOON_TEST_ROOT    where clusters and per-test dirs live
#                       (default /tmp/lagoon-test-$(id -u))
#   LAGOON_TEST_PGPORT  primary's port of the shared cluster (default 25432;
#                       replicas use the next two ports)
#   LAGOON_TEST_KEEP=1  keep the per-test directory after a run
#   LAGOON_TEST_STOP_WAIT  seconds a pooler gets to exit after SIGTERM before
#                       SIGKILL (default 5; tests/valgrind.sh gives more)
#
# The shared cluster stays up after the tests; stop it with
#   tests/pgcluster.sh destroy /tmp/lagoon-test-$(id -u)/cluster
# (.ci/run does that at the end).
#
# shellcheck shell=bash

# Client settings of the caller must not leak into the tests.
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE \
      PGSERVICE PGSERVICEFILE PGOPTIONS PGSSLMODE PGTARGETSESSIONATTRS \
      PGAPPNAME PGCONNECT_TIMEOUT PGCLIENTENCODING PGTZ PGDATESTYLE 2>/dev/null || true
export PGCONNECT_TIMEOUT=10 PGSSLMODE=disable

LG_TEST_NAME=$(basename "$0" .sh)
LG_SRC_DIR=${LAGOON_SRC_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
LG_BUILD_DIR=${LAGOON_BUILD_DIR:-$LG_SRC_DIR}
LG_BIN=${LAGOON_BIN:-$LG_BUILD_DIR/lagoon}
LG_ROOT=${LAGOON_TEST_ROOT:-/tmp/lagoon-test-$(id -u)}
LG_CLUSTER_DIR=$LG_ROOT/cluster
LG_PGPORT=${LAGOON_TEST_PGPORT:-25432}
LG_PGCLUSTER=$LG_SRC_DIR/tests/pgcluster.sh
LG_RAWPG=$LG_SRC_DIR/tests/tools/rawpg.py

# ---------------------------------------------------------------- TAP ----
_tap_n=0
_tap_failed=0
_tap_planned=""
_tap_done=0

plan() { _tap_planned=$1; echo "1..$1"; }
diag() { local l; while IFS= read -r l; do echo "# $l"; done <<<"$*"; }
# diag_file FILE [N]: the last N lines of a file as diagnostics
diag_file() { [[ -f "$1" ]] && diag "$(tail -n "${2:-40}" "$1")"; return 0; }

ok() { # ok STATUS DESCRIPTION   (STATUS 0 = pass, like a shell exit code)
    local st=$1; shift
    _tap_n=$((_tap_n + 1))
    if [[ "$st" == 0 ]]; then
        echo "ok $_tap_n - $*"
    else
        echo "not ok $_tap_n - $*"
        _tap_failed=$((_tap_failed + 1))
    fi
    return "$st"
}
pass() { ok 0 "$@"; }
fail() { ok 1 "$@" || true; }

# is GOT EXPECTED DESCRIPTION
is() {
    if [[ "$1" == "$2" ]]; then ok 0 "$3"; else
        ok 1 "$3" || true
        diag "     got: '$1'"$'\n'"expected: '$2'"
        return 1
    fi
}
# isnt GOT UNEXPECTED DESCRIPTION
isnt() {
    if [[ "$1" != "$2" ]]; then ok 0 "$3"; else
        ok 1 "$3" || true; diag "got the unexpected '$1'"; return 1
    fi
}
# like GOT REGEX DESCRIPTION   (bash extended regex)
like() {
    if [[ "$1" =~ $2 ]]; then ok 0 "$3"; else
        ok 1 "$3" || true
        diag "     got: '$1'"$'\n'"expected to match: /$2/"
        return 1
    fi
}
unlike() {
    if [[ ! "$1" =~ $2 ]]; then ok 0 "$3"; else
        ok 1 "$3" || true
        diag "     got: '$1'"$'\n'"expected not to match: /$2/"
        return 1
    fi
}
# cmp_ok A OP B DESCRIPTION  (integers; OP one of -lt -le -eq -ne -ge -gt)
cmp_ok() {
    if [[ "$1" =~ ^-?[0-9]+$ && "$3" =~ ^-?[0-9]+$ ]] && [ "$1" "$2" "$3" ]; then ok 0 "$4"; else
        ok 1 "$4" || true; diag "failed: '$1' $2 '$3'"; return 1
    fi
}
skip() { # skip REASON [COUNT]
    local i
    for ((i = 0; i < ${2:-1}; i++)); do
        _tap_n=$((_tap_n + 1)); echo "ok $_tap_n # SKIP $1"
    done
}
skip_all() { echo "1..0 # SKIP $*"; _tap_done=1; exit 0; }
bail() { echo "Bail out! $*"; _tap_done=1; _tap_failed=$((_tap_failed + 1)); exit 255; }
done_testing() {
    _lg_run_cleanups          # stop poolers first: they may still report
    [[ -z "$_tap_planned" ]] && echo "1..$_tap_n"
    _tap_done=1
    (( _tap_failed == 0 ))
    exit $?
}

# ----------------------------------------------------------- cleanup ----
_lg_cleanups=()
lg_on_exit() { _lg_cleanups+=("$1"); }
_lg_run_cleanups() {
    local i
    for ((i = ${#_lg_cleanups[@]} - 1; i >= 0; i--)); do
        eval "${_lg_cleanups[$i]}" || true
    done
    _lg_cleanups=()
}
_lg_exit() {
    local rc=$? i
    trap - EXIT
    if (( ! _tap_done )); then
        _tap_failed=$((_tap_failed + 1))
        echo "not ok $((_tap_n + 1)) - the test script runs to its end (it stopped with status $rc)"
        _tap_n=$((_tap_n + 1))
    fi
    _lg_run_cleanups
    if (( ! _tap_done )); then
        [[ -z "$_tap_planned" ]] && echo "1..$_tap_n"
        rc=1
    fi
    if [[ -n "${LG_DIR:-}" && -d "$LG_DIR" && -z "${LAGOON_TEST_KEEP:-}" ]]; then
        if (( _tap_failed == 0 )); then rm -rf -- "$LG_DIR"; else echo "# kept $LG_DIR"; fi
    fi
    exit "$rc"
}
trap _lg_exit EXIT
trap 'echo "# $LG_TEST_NAME: interrupted (signal or watchdog)"; exit 130' INT TERM

# A watchdog: a hung test fails (with its pooler's log) instead of hanging
# "make check".  LAGOON_TEST_TIMEOUT seconds, default 300.
# (its fds go to /dev/null: nothing left behind may hold the TAP pipe open)
# bash runs its TERM trap only after the foreground command returns, so the
# watchdog first ends the script's children (a hung psql), then the script.
( sleep "${LAGOON_TEST_TIMEOUT:-300}" || exit 0
  for p in $(pgrep -P $$); do [[ $p != "$BASHPID" ]] && kill -TERM "$p"; done
  kill -TERM $$ ) </dev/null >/dev/null 2>&1 &
_lg_watchdog=$!
lg_on_exit "kill $_lg_watchdog 2>/dev/null"

# ------------------------------------------------------------ cluster ----
# Find the PostgreSQL server binaries (same rule as pgcluster.sh).
lg_pgbin() {
    if [[ -n "${PGBIN:-}" ]]; then echo "$PGBIN"; return; fi
    local d best="" bestv=0 v
    for d in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
        [[ -x "$d/postgres" ]] || continue
        v=$(basename "$(dirname "$d")"); [[ "$v" =~ ^[0-9]+$ ]] || v=1
        if (( v > bestv )); then best=$d; bestv=$v; fi
    done
    if [[ -z "$best" ]] && command -v pg_ctl >/dev/null 2>&1; then
        best=$(dirname "$(command -v pg_ctl)")
    fi
    echo "$best"
}

# lg_cluster_up: start (once, shared by every test script, safe when several
# scripts race) a primary + 2 replicas in $LG_CLUSTER_DIR.  Skips the whole
# test when PostgreSQL is not installed.  Sets PGBIN_DIR, LG_PGSOCK.
lg_cluster_up() {
    PGBIN_DIR=$(lg_pgbin)
    [[ -n "$PGBIN_DIR" && -x "$PGBIN_DIR/postgres" ]] || bail "PostgreSQL server binaries not found (apt-get install postgresql)"
    [[ -x "$PGBIN_DIR/psql" ]] || bail "psql not found (apt-get install postgresql-client)"
    if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        bail "running as root needs the OS user 'postgres' (apt-get install postgresql creates it)"
    fi
    mkdir -p "$LG_ROOT"; chmod 755 "$LG_ROOT"
    local out rc=0
    # (the servers must not inherit fd 9, or they would hold the lock forever)
    out=$(
        exec 9>"$LG_ROOT/cluster.lock"
        flock -w 300 9 || { echo "timeout waiting for $LG_ROOT/cluster.lock"; exit 1; }
        lg_pgcluster() { "$LG_PGCLUSTER" "$@" 9>&-; }
        if [[ -f "$LG_CLUSTER_DIR/cluster.env" ]]; then
            if lg_pgcluster status "$LG_CLUSTER_DIR" 2>&1 | grep -q stopped; then
                lg_pgcluster start "$LG_CLUSTER_DIR" 2>&1 && exit 0
                echo "restart failed; recreating the cluster"
                lg_pgcluster destroy "$LG_CLUSTER_DIR" 2>&1 || rm -rf -- "$LG_CLUSTER_DIR"
            else
                exit 0
            fi
        elif [[ -e "$LG_CLUSTER_DIR" ]]; then
            rm -rf -- "$LG_CLUSTER_DIR"   # a half-made directory from a crash
        fi
        lg_pgcluster start "$LG_CLUSTER_DIR" "$LG_PGPORT" 2 2>&1
    ) || rc=$?
    if (( rc != 0 )); then
        diag "$out"
        bail "could not start the test cluster in $LG_CLUSTER_DIR"
    fi
    # shellcheck disable=SC1091
    . "$LG_CLUSTER_DIR/cluster.env"
    LG_PGSOCK=$PGC_SOCK
    LG_PGPORT=$PGC_BASEPORT
    PSQL=$PGBIN_DIR/psql
    PGBENCH=$PGBIN_DIR/pgbench
    [[ -x "$PGBENCH" ]] || PGBENCH=$(command -v pgbench || echo pgbench)
}

# lg_pg N [psql args]: psql as superuser straight to node N (0 = primary)
lg_pg() {
    local n=$1; shift
    "$PSQL" -X -At -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p $((LG_PGPORT + n)) -U postgres -d postgres "$@"
}

# -------------------------------------------------------------- ports ----
lg_port_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 1
    if command -v ss >/dev/null 2>&1 && ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; then
        return 1
    fi
    return 0
}
# lg_free_port: sets LG_FREE_PORT to a free TCP port; each test script
# starts from its own range (from its number) so that concurrent scripts do
# not pick the same one.
_lg_port_next=0
lg_free_port() {
    local num=${LG_TEST_NAME%%_*} base p i
    [[ "$num" =~ ^[0-9]+$ ]] || num=$((RANDOM % 100))
    base=$(( 26000 + (10#$num % 100) * 40 ))
    for ((i = 0; i < 40; i++)); do
        p=$(( base + (_lg_port_next + i) % 40 ))
        if lg_port_free "$p"; then
            _lg_port_next=$(( (_lg_port_next + i + 1) % 40 ))
            LG_FREE_PORT=$p; return 0
        fi
    done
    return 1
}
# lg_wait_port PORT [TIMEOUT_S]: until something accepts TCP connections
lg_wait_port() {
    local deadline=$((SECONDS + ${2:-10}))
    while ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        (( SECONDS < deadline )) || return 1
        sleep 0.1
    done
}

# ------------------------------------------------------------- lagoon ----
# Passwords of the test roles (server side, see pgcluster.sh) and of the
# pooler-only admin user.
declare -A LG_PASSWORD=([app]=app_pass [admin]=admin_pass [scram_user]=scram_pass
                        [md5_user]=md5_pass [stats]=stats_pass [postgres]=postgres_pass)

lg_is_pgbouncer() { [[ "$(basename "$LG_BIN")" == pgbouncer* ]]; }

lg_md5_secret() { # USER PASSWORD -> "md5" + md5(password || user)
    printf 'md5%s' "$(printf '%s%s' "$2" "$1" | md5sum | cut -d' ' -f1)"
}

# The default userlist: every kind of secret.  app and admin in plaintext,
# md5_user as an md5 hash, scram_user as the server's own SCRAM secret (so
# the pooler can pass SCRAM through to the server), postgres plaintext.
lg_default_userlist() {
    local scram
    scram=$(lg_pg 0 -c "select rolpassword from pg_authid where rolname = 'scram_user'")
    cat <<EOF
"app" "app_pass"
"admin" "admin_pass"
"stats" "stats_pass"
"postgres" "postgres_pass"
"md5_user" "$(lg_md5_secret md5_user md5_pass)"
"scram_user" "$scram"
EOF
}

# lg_start NAME [CONFIG_EXTRA]
#   Writes $LG_DIR/NAME.ini and starts the pooler.  CONFIG_EXTRA holds extra
#   "key = value" lines for [pgbouncer]; a key given there replaces the
#   default one.  $LG_DATABASES_EXTRA adds [databases] lines, $LG_USERLIST
#   replaces the userlist.  Sets LG_PORT, LG_SOCKDIR, LG_INI, LG_LOG, LG_PID.
#   Returns non-zero (after printing the log) when it does not come up.
lg_start() {
    local name=$1 extra=${2:-}
    lg_tmpdir
    LG_NAME=$name
    LG_INI=$LG_DIR/$name.ini
    LG_LOG=$LG_DIR/$name.log
    LG_PIDFILE=$LG_DIR/$name.pid
    LG_SOCKDIR=$LG_DIR/sock-$name
    LG_USERLIST_FILE=$LG_DIR/$name.users
    lg_free_port || bail "no free port"; LG_PORT=$LG_FREE_PORT
    mkdir -p "$LG_SOCKDIR"
    if [[ -n "${LG_USERLIST:-}" ]]; then
        printf '%s\n' "$LG_USERLIST" > "$LG_USERLIST_FILE"
    else
        lg_default_userlist > "$LG_USERLIST_FILE"
    fi

    local -a defaults=(
        "listen_addr = 127.0.0.1"
        "listen_port = $LG_PORT"
        "unix_socket_dir = $LG_SOCKDIR"
        "auth_type = trust"
        "auth_file = $LG_USERLIST_FILE"
        "admin_users = admin"
        "stats_users = stats"
        "logfile = $LG_LOG"
        "pidfile = $LG_PIDFILE"
        "pool_mode = transaction"
        "default_pool_size = 5"
        "max_client_conn = 200"
        "server_login_retry = 1"
        "ignore_startup_parameters = extra_float_digits"
    )
    local line key
    declare -A given=()
    while IFS= read -r line; do
        [[ "$line" =~ ^[[:space:]]*([A-Za-z_0-9]+)[[:space:]]*= ]] && given[${BASH_REMATCH[1]}]=1
    done <<<"$extra"
    {
        echo "; written by tests/integration/lib.sh for $LG_TEST_NAME"
        echo "[databases]"
        echo "postgres = host=127.0.0.1 port=$LG_PGPORT dbname=postgres"
        echo "p_sock = host=$LG_PGSOCK port=$LG_PGPORT dbname=postgres"
        echo "replica1 = host=127.0.0.1 port=$((LG_PGPORT + 1)) dbname=postgres"
        echo "scram_line = host=127.0.0.1 port=$LG_PGPORT dbname=postgres user=scram_user password=scram_pass"
        echo "md5_line = host=127.0.0.1 port=$LG_PGPORT dbname=postgres user=md5_user password=md5_pass"
        [[ -n "${LG_DATABASES_EXTRA:-}" ]] && printf '%s\n' "$LG_DATABASES_EXTRA"
        echo
        echo "[pgbouncer]"
        for line in "${defaults[@]}"; do
            key=${line%% *}
            [[ -n "${given[$key]:-}" ]] || echo "$line"
        done
        [[ -n "$extra" ]] && printf '%s\n' "$extra"
    } > "$LG_INI"

    : > "$LG_LOG"   # exists before a pgbouncer -u drops root (RELOAD reopens it)
    local -a cmd
    lg_cmd cmd -v "$LG_INI"
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0} \
        "${cmd[@]}" > "$LG_DIR/$name.stdout" 2>&1 &
    LG_PID=$!
    lg_on_exit "lg_stop_quiet $LG_PID '$LG_LOG' '$LG_DIR/$name.stdout'"
    if ! lg_wait_port "$LG_PORT" 15 || ! kill -0 "$LG_PID" 2>/dev/null; then
        diag "pooler '$name' did not come up: ${cmd[*]}"
        diag_file "$LG_DIR/$name.stdout"
        diag_file "$LG_LOG"
        return 1
    fi
    # the Unix socket may come up a moment after the TCP one
    local i
    for ((i = 0; i < 50; i++)); do [[ -S "$LG_SOCKDIR/.s.PGSQL.$LG_PORT" ]] && break; sleep 0.1; done
    return 0
}

# lg_cmd ARRAYNAME ARGS...: the command line to run the binary under test
# (pgbouncer refuses to run as root: give it -u postgres and the test dir)
lg_cmd() {
    local -n _c=$1; shift
    _c=("$LG_BIN")
    if [[ $(id -u) -eq 0 ]] && lg_is_pgbouncer; then
        lg_tmpdir
        chown -R postgres: "$LG_DIR"
        _c+=(-u postgres)
    fi
    _c+=("$@")
}

# stop a pooler started by lg_start; on a failed test show its log
lg_stop_quiet() {
    local pid=$1 log=$2 out=$3 i
    if kill -0 "$pid" 2>/dev/null; then
        # (a first TERM waits for connected clients; a second exits at once)
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < 20; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -TERM "$pid" 2>/dev/null
        for ((i = 0; i < ${LAGOON_TEST_STOP_WAIT:-5} * 10; i++)); do
            kill -0 "$pid" 2>/dev/null || break; sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    # a sanitizer build (./configure --enable-sanitizers) reports to stderr
    if [[ -f "$out" ]] && grep -qE 'ERROR: AddressSanitizer|runtime error:' "$out"; then
        fail "the pooler ($out) ran without AddressSanitizer/UBSan reports"
        grep -E -A 30 'ERROR: AddressSanitizer|runtime error:' "$out" | head -n 60 | sed 's/^/# /'
    fi
    if (( _tap_failed > 0 )); then
        echo "# ---- pooler log tail ($log) ----"
        [[ -f "$log" ]] && tail -n 60 "$log" | sed 's/^/# /'
        if [[ -s "$out" && ! -s "$log" ]]; then
            echo "# ---- pooler stdout/stderr ($out) ----"
            tail -n 20 "$out" | sed 's/^/# /'
        fi
    fi
}

# lg_alive: the pooler process started last is still running
lg_alive() { kill -0 "$LG_PID" 2>/dev/null; }

# lg_tmpdir: the per-test scratch directory ($LG_DIR), made once
lg_tmpdir() {
    if [[ -z "${LG_DIR:-}" ]]; then
        mkdir -p "$LG_ROOT"
        LG_DIR=$(mktemp -d "$LG_ROOT/$LG_TEST_NAME.XXXXXX")
        chmod 755 "$LG_DIR"
    fi
}

# _lg_psql_argv [-U user] [-d db] [psql args]: the command line of lg_psql
# in the array _LG_PSQL, the password it needs in _LG_PW
_lg_psql_argv() {
    local user=app db=postgres
    while [[ $# -gt 0 ]]; do
        case "$1" in
            -U) user=$2; shift 2 ;;
            -d) db=$2; shift 2 ;;
            *) break ;;
        esac
    done
    _LG_PW=${PGPASSWORD:-${LG_PASSWORD[$user]:-}}
    _LG_PSQL=("$PSQL" -X -At -q -v ON_ERROR_STOP=1 -h "${LG_HOST:-127.0.0.1}" -p "$LG_PORT"
              -U "$user" -d "$db" "$@")
}

# lg_psql [-U user] [-d db] [psql args]: psql through the pooler over TCP,
# unaligned, tuples only, stop on error.  Password from LG_PASSWORD unless
# PGPASSWORD is set.  LG_HOST overrides the host (e.g. the socket dir).
lg_psql() {
    _lg_psql_argv "$@"
    PGPASSWORD=$_LG_PW "${_LG_PSQL[@]}"
}

# lg_psql_bg OUTFILE [lg_psql args]: lg_psql in the background with psql
# itself as the job (so LG_BG_PID is psql's pid, for kill -INT / -KILL)
lg_psql_bg() {
    local outf=$1; shift
    _lg_psql_argv "$@"
    PGPASSWORD=$_LG_PW "${_LG_PSQL[@]}" > "$outf" 2>&1 &
    LG_BG_PID=$!
}

# lg_admin COMMAND [psql args]: run COMMAND on the admin console as admin
lg_admin() {
    local c=$1; shift
    PGPASSWORD=${LG_PASSWORD[admin]} "$PSQL" -X -At -q -h 127.0.0.1 -p "$LG_PORT" -U admin -d pgbouncer -c "$c" "$@"
}
# lg_admin_csv COMMAND: like lg_admin, but with a header row and '|' separators
lg_admin_hdr() {
    PGPASSWORD=${LG_PASSWORD[admin]} "$PSQL" -X -A -q -P footer=off -h 127.0.0.1 -p "$LG_PORT" -U admin -d pgbouncer -c "$1"
}
# lg_show_col COMMAND COLUMN [FILTER_COL FILTER_VALUE]: one column of a SHOW
# output, one value per row (rows whose FILTER_COL equals FILTER_VALUE)
lg_show_col() {
    lg_admin_hdr "$1" | awk -F'|' -v col="$2" -v fc="${3:-}" -v fv="${4:-}" '
        NR == 1 { for (i = 1; i <= NF; i++) { if ($i == col) c = i; if ($i == fc) f = i }; next }
        c && (fc == "" || $f == fv) { print $c }'
}
# lg_server_count DB [USER]: server connections of one pool (SHOW SERVERS rows)
lg_server_count() {
    local n
    if [[ -n "${2:-}" ]]; then
        n=$(lg_admin_hdr "SHOW SERVERS" | awk -F'|' -v db="$1" -v u="$2" '
            NR == 1 { for (i = 1; i <= NF; i++) { if ($i == "database") d = i; if ($i == "user") us = i }; next }
            $d == db && $us == u { n++ } END { print n + 0 }')
    else
        n=$(lg_show_col "SHOW SERVERS" database database "$1" | wc -l)
    fi
    echo "$n"
}

# lg_pgbench [args]: pgbench through the pooler as app
lg_pgbench() {
    PGPASSWORD=${PGPASSWORD:-${LG_PASSWORD[app]}} \
        "$PGBENCH" -h 127.0.0.1 -p "$LG_PORT" -U app "$@"
}

# ---------------------------------------------------- read-your-writes ----
# lg_ryw_setup: bail unless tests/tools/rywcheck and the roundrobin and
# lsn_ryw plugins are built; link the plugins into $LG_DIR/plugins (use it
# as plugin_dir).  Sets RYWCHECK.
lg_ryw_setup() {
    RYWCHECK=$LG_BUILD_DIR/tests/tools/rywcheck
    [[ -x "$RYWCHECK" ]] || bail "rywcheck not built: make tests/tools/rywcheck (make check builds it)"
    lg_plugins roundrobin lsn_ryw
}
# lg_rywcheck DB NAME [rywcheck args]: run the checker through the pooler
# as app on table $TABLE; sets R_rc and R_<field> for each field of its
# summary line (R_pairs, R_stale, R_replica_share, R_p50_ms, ..., R_ports)
lg_rywcheck() {
    local db=$1 name=$2 f; shift 2
    timeout 120 "$RYWCHECK" -d "host=127.0.0.1 port=$LG_PORT dbname=$db user=app password=app_pass connect_timeout=10" \
        -t "$TABLE" "$@" > "$LG_DIR/$name.out" 2> "$LG_DIR/$name.err"
    R_rc=$?
    R_line=$(tail -n 1 "$LG_DIR/$name.out")
    for f in pairs reads stale replica_reads replica_share p50_ms p99_ms errors ro_replica ro_reads; do
        printf -v "R_$f" '%s' "$(sed -n "s/.*\b$f=\([0-9.]*\).*/\1/p" <<<"$R_line")"
    done
    R_ports=$(sed -n 's/.* ports=\([^ ]*\).*/\1/p' <<<"$R_line")
    diag "$name: $R_line (exit $R_rc)"
    [[ -s "$LG_DIR/$name.err" ]] && diag_file "$LG_DIR/$name.err" 10
    return 0
}
# lg_ryw_on PORT: how many of the last lg_rywcheck's checked reads the
# servers say ran on PORT
lg_ryw_on() {
    local n; n=$(tr ',' '\n' <<<"$R_ports" | awk -F: -v p="$1" '$1 == p { print $2 }'); echo "${n:-0}"
}

# ---------------------------------------------------- SHOW BACKENDS ----
# lg_backends: a SHOW BACKENDS snapshot, header line first
lg_backends() { lg_admin_hdr "SHOW BACKENDS"; }
# lg_be SNAPSHOT DB PORT COLUMN: one field of a snapshot
lg_be() {
    awk -F'|' -v db="$2" -v port="$3" -v col="$4" '
        NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
        $h["database"] == db && $h["port"] == port { print $h[col] }' <<<"$1"
}
# lg_wait_be DESCRIPTION TIMEOUT CONDITION: poll CONDITION (a shell
# expression that may use $SB, a fresh snapshot) until true; ok, or not ok
# with the last snapshot's rows of database $WAIT_DB as diagnostics
lg_wait_be() {
    local desc=$1 tmo=$2 cond=$3 deadline=$((SECONDS + $2))
    while :; do
        SB=$(lg_backends)
        if eval "$cond"; then pass "$desc"; return 0; fi
        (( SECONDS < deadline )) || break
        sleep 0.2
    done
    fail "$desc (waited ${tmo}s)"
    diag "$(awk -F'|' -v db="$WAIT_DB" 'NR == 1 || $1 == db' <<<"$SB")"
    return 1
}

# lg_bench_counts FILE: sets BENCH_N (transactions processed) and BENCH_FAILED
# (failed transactions) from a pgbench output, "?" when absent
lg_bench_counts() {
    BENCH_N=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$1")
    BENCH_FAILED=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$1")
    BENCH_N=${BENCH_N:-?}; BENCH_FAILED=${BENCH_FAILED:-?}
}

# lg_wait_for CMD [TIMEOUT_S]: until CMD succeeds (polled every 0.1 s)
lg_wait_for() {
    local deadline=$((SECONDS + ${2:-10}))
    until eval "$1" >/dev/null 2>&1; do
        (( SECONDS < deadline )) || return 1
        sleep 0.1
    done
}

# lg_require_bin: bail out (one failure) when the binary under test is missing
lg_require_bin() {
    if [[ ! -x "$LG_BIN" ]]; then
        bail "binary under test not found: $LG_BIN (build it, or set LAGOON_BIN)"
    fi
}

# lg_need TOOL...: bail out (one failure) unless every tool is there,
# naming the Debian package.  .ci/run and the README's test command install
# them all, so a missing tool is a broken set-up: it must not pass as a skip.
lg_need() {
    local t pkg
    for t in "$@"; do
        case $t in
            pgbench)  pkg=postgresql-contrib; [[ -x "$PGBENCH" ]] && continue ;;
            python3)  pkg=python3 ;;
            openssl)  pkg=openssl ;;
            curl)     pkg=curl ;;
            promtool) pkg=prometheus ;;
            *) bail "lg_need: unknown tool $t" ;;
        esac
        command -v "${t/pgbench/$PGBENCH}" >/dev/null || bail "$t not found (apt-get install $pkg)"
    done
}

# lg_setup [TOOL...]: the usual start of a test: the shared cluster (or
# SKIP), the binary under test, each TOOL (lg_need), the scratch directory.
# Sets P0 P1 P2, the ports of the shared primary and replicas.
lg_setup() {
    lg_cluster_up
    lg_require_bin
    lg_need "$@"
    lg_tmpdir
    P0=$LG_PGPORT; P1=$((LG_PGPORT + 1)); P2=$((LG_PGPORT + 2))
}

# lg_plugin_so NAME: prints the built .so of a shipped plugin (plugins/NAME)
# or else of a test one (tests/plugins, built by make check); status 1 when
# it is not built
lg_plugin_so() {
    local so=$LG_BUILD_DIR/plugins/$1/.libs/$1.so
    [[ -f "$so" ]] || so=$LG_BUILD_DIR/tests/plugins/.libs/$1.so
    echo "$so"
    [[ -f "$so" ]]
}

# lg_plugins NAME...: link each plugin into PLUGDIR=$LG_DIR/plugins (give
# it to lagoon as plugin_dir); bail when one is not built
lg_plugins() {
    local p so
    lg_tmpdir
    PLUGDIR=$LG_DIR/plugins
    mkdir -p "$PLUGDIR"
    for p in "$@"; do
        so=$(lg_plugin_so "$p") || bail "plugin not built: $so (make check builds it)"
        ln -sf "$so" "$PLUGDIR/$p.so"
    done
}

# ------------------------------------------------- private cluster ----
# For destructive steps (stopping nodes, promotion) a test starts its own
# primary + 2 replicas.  Copies of tests may run at once (make check next to
# a distcheck): a port range is reserved by a file naming our pid, under one
# lock shared by every test.
#
#   lg_private_cluster_start   reserve ports, start it in the background;
#                              sets Q0 Q1 Q2 PC_DIR; destroyed at exit
#   lg_private_cluster_wait    wait for it (bail if it failed); sets
#                              PC_BIN PC_OWNER
#   pc_ctl NODE ARGS...        pg_ctl on a node, as the cluster's owner
#   pc_start_node NODE         start a node as pgcluster.sh does
lg_private_cluster_start() {
    local off b f
    Q0=""
    exec 7>"$LG_ROOT/090_cluster.ports.lock"
    flock -w 60 7 || bail "timeout waiting for $LG_ROOT/090_cluster.ports.lock"
    for off in 10 20 30 40 50 60 70 80; do
        b=$((LG_PGPORT + off)); f=$LG_ROOT/090_cluster.port.$b
        if [[ -f "$f" ]] && kill -0 "$(cat "$f" 2>/dev/null)" 2>/dev/null; then continue; fi
        if lg_port_free "$b" && lg_port_free $((b + 1)) && lg_port_free $((b + 2)); then
            echo $$ > "$f"; Q0=$b; break
        fi
    done
    exec 7>&-
    [[ -n "$Q0" ]] || bail "no 3 free consecutive ports for the private cluster"
    lg_on_exit 'rm -f "$LG_ROOT/090_cluster.port.$Q0"'
    Q1=$((Q0 + 1)); Q2=$((Q0 + 2))
    PC_DIR=$LG_DIR/pc
    lg_on_exit 'kill $_lg_pc_pid 2>/dev/null; wait $_lg_pc_pid 2>/dev/null; _lg_pc_destroy'
    PGCLUSTER_TIMEOUT=40 "$LG_PGCLUSTER" start "$PC_DIR" "$Q0" 2 > "$LG_DIR/pc-start.log" 2>&1 &
    _lg_pc_pid=$!
}

_lg_pc_env() {
    PC_BIN=$(. "$PC_DIR/cluster.env"; echo "$PGC_BIN")
    PC_OWNER=$(. "$PC_DIR/cluster.env"; echo "$PGC_OWNER")
}

lg_private_cluster_wait() {
    local rc=0
    wait "$_lg_pc_pid" || rc=$?
    if (( rc != 0 )); then
        diag_file "$LG_DIR/pc-start.log"
        bail "could not start the private cluster in $PC_DIR (ports $Q0..$Q2)"
    fi
    _lg_pc_env
}

pc_ctl() {
    local n=$1; shift
    if [[ $(id -u) -eq 0 ]]; then
        (cd "$PC_DIR" && runuser -u "$PC_OWNER" -- "$PC_BIN/pg_ctl" -D "$PC_DIR/node$n" "$@")
    else
        (cd "$PC_DIR" && "$PC_BIN/pg_ctl" -D "$PC_DIR/node$n" "$@")
    fi
}

pc_start_node() {
    pc_ctl "$1" -l "$PC_DIR/logs/node$1.log" -w -t 60 -o "-p $((Q0 + $1))" start >/dev/null
}

_lg_pc_destroy() {
    [[ -f "$PC_DIR/cluster.env" ]] || return 0
    mkdir -p "$LG_DIR/pc-logs"; cp -r "$PC_DIR/logs/." "$LG_DIR/pc-logs/" 2>/dev/null
    _lg_pc_env
    local i
    for i in 0 1 2; do
        pc_ctl "$i" status >/dev/null 2>&1 && pc_ctl "$i" -m immediate -w stop >/dev/null 2>&1
    done
    "$LG_PGCLUSTER" destroy "$PC_DIR" >/dev/null 2>&1 || rm -rf -- "$PC_DIR"
}
