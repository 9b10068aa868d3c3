#!/usr/bin/env bash
# routing.sh - pgbench through lagoon with read routing to replicas: the same
# lagoon, pool and cluster, only the router differs.  Run as
# `bench/bench.sh --routing [options]` (or directly).
#
# Usage:
#   bench/bench.sh --routing [--rounds N] [--seconds S] [--scenarios "a b ..."]
#                            [--routers "none roundrobin ..."] [--keep]
#                            [--results FILE] [--gate-wait S]
#
#   --rounds N       interleaved rounds (default 3); the router order rotates
#                    each round (A B C D, B C D A, ...)
#   --seconds S      pgbench -T per run (default 10)
#   --scenarios L    subset of:
#                      sel10    pgbench -S -M simple   -c 10
#                      sel100   pgbench -S -M simple   -c 100
#                      ext100   pgbench -S -M extended -c 100
#                      mix20    pgbench -M simple -c 20 -b tpcb-like@1
#                               -b select-only@9 (writes on the primary,
#                               reads routed)
#                    default: all four
#   --routers L      subset of "none roundrobin leastlag lsn_ryw" (default:
#                    all; a router whose plugin is not built is skipped)
#   --gate-wait S    before each run wait while the machine is >= 25 % busy,
#                    at most S s (default 5)
#   --keep           keep the temporary directory (cluster, logs, raw TSV)
#   --results FILE   also copy the raw per-run TSV to FILE
#
# Set-up: tests/pgcluster.sh starts a primary + 2 streaming replicas with
# bench.sh's PostgreSQL settings (shared_buffers=256MB fsync=off
# full_page_writes=off synchronous_commit=off autovacuum=off
# max_wal_size=4GB max_connections=1200), `pgbench -i -s 10` on the primary,
# VACUUM ANALYZE + CHECKPOINT, and every replica has replayed the primary's
# WAL before the first run and again before every run.
#
# One lagoon process per router, started from copies of ./lagoon and the
# plugins (a rebuild during the run cannot change them), identical configs
# except `router =`: database "bench" = host=127.0.0.1 port=P0,P1,P2,
# pool_mode=transaction default_pool_size=20 (per backend), TCP only.
#
# Measured per run: tps, failed transactions, aborted clients, lagoon's CPU
# (utime+stime from /proc) -> µs per transaction, and each node's
# pg_stat_database.xact_commit delta for "bench" -> the share of the
# transactions that node ran.  After each run lagoon is told to RECONNECT
# (its idle server connections close, so the backends flush their
# statistics on exit) and the script waits until no client backend of
# "bench" is left on any node before it reads the counters; every run
# therefore starts with an empty pool, whichever the router.
#
# It is a benchmark, not a test: it never fails because of the numbers.  It
# exits non-zero only when the environment cannot be set up.

set -uo pipefail
export LC_ALL=C

PROG=bench.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
ROOT=$(cd "$BENCH_DIR/.." && pwd)
LAGOON=${LAGOON_BIN:-$ROOT/lagoon}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGCLUSTER=$ROOT/tests/pgcluster.sh

ROUNDS=3
SECS=10
SCENARIOS="sel10 sel100 ext100 mix20"
ROUTERS="none roundrobin leastlag lsn_ryw"
GATE_WAIT=5
KEEP=0
RESULTS_COPY=""
MAX_CONN=1200
POOL_SIZE=20
MAX_CLIENT_CONN=2000
SCALE=10
NREP=2
DBNAME=bench
DBUSER=postgres

die()  { echo "$PROG: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }
usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'; exit "${1:-2}"; }

while (( $# )); do
    case "$1" in
        --routing)      shift ;;
        --rounds)       ROUNDS=${2:?}; shift 2 ;;
        --rounds=*)     ROUNDS=${1#*=}; shift ;;
        --seconds)      SECS=${2:?}; shift 2 ;;
        --seconds=*)    SECS=${1#*=}; shift ;;
        --scenarios)    SCENARIOS=${2:?}; shift 2 ;;
        --scenarios=*)  SCENARIOS=${1#*=}; shift ;;
        --routers)      ROUTERS=${2:?}; shift 2 ;;
        --routers=*)    ROUTERS=${1#*=}; shift ;;
        --gate-wait)    GATE_WAIT=${2:?}; shift 2 ;;
        --gate-wait=*)  GATE_WAIT=${1#*=}; shift ;;
        --keep)         KEEP=1; shift ;;
        --results)      RESULTS_COPY=${2:?}; shift 2 ;;
        --results=*)    RESULTS_COPY=${1#*=}; shift ;;
        -h|--help)      usage 0 ;;
        *)              note "unknown argument for --routing: $1"; usage 2 ;;
    esac
done
SCENARIOS=${SCENARIOS//,/ }
ROUTERS=${ROUTERS//,/ }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ "$SECS" =~ ^[1-9][0-9]*$ ]] || die "--seconds must be a positive integer"
[[ "$GATE_WAIT" =~ ^[1-9][0-9]*$ ]] || die "--gate-wait must be a positive integer"

scenario_args() {
    case "$1" in
        sel10)  echo "-S -M simple -c 10" ;;
        sel100) echo "-S -M simple -c 100" ;;
        ext100) echo "-S -M extended -c 100" ;;
        mix20)  echo "-M simple -c 20 -b tpcb-like@1 -b select-only@9" ;;
        *) return 1 ;;
    esac
}
for sc in $SCENARIOS; do
    scenario_args "$sc" >/dev/null || die "unknown scenario '$sc' (known: sel10 sel100 ext100 mix20)"
done

# -------------------------------------------------------- requirements ----
bench_client_env

[[ -x "$LAGOON" ]] || die "$LAGOON not found; build it first ('make -j2' in a configured tree)"
[[ -x "$PGCLUSTER" ]] || die "$PGCLUSTER not found"
PGBENCH=$(command -v pgbench || true)
[[ -n "$PGBENCH" ]] || PGBENCH=$PGBIN/pgbench
[[ -x "$PGBENCH" ]] || die "pgbench not found (apt-get install postgresql-client-15)"
for b in initdb pg_ctl postgres psql pg_basebackup; do
    [[ -x "$PGBIN/$b" ]] || die "$PGBIN/$b not found (PostgreSQL 15 server binaries; set PGBIN)"
done
PSQL=$PGBIN/psql
command -v python3 >/dev/null || die "python3 not found"

# routers: none needs no plugin; the others need plugins/<name>/.libs/<name>.so
ROUTER_ARR=()
SKIPPED_ROUTERS=""
for r in $ROUTERS; do
    case "$r" in
        none) ROUTER_ARR+=("$r") ;;
        roundrobin|leastlag|lsn_ryw)
            if [[ -f "$ROOT/plugins/$r/.libs/$r.so" ]]; then ROUTER_ARR+=("$r")
            else SKIPPED_ROUTERS+=" $r"; note "router $r skipped: $ROOT/plugins/$r/.libs/$r.so not built"; fi ;;
        *) die "unknown router '$r' (known: none roundrobin leastlag lsn_ryw)" ;;
    esac
done
(( ${#ROUTER_ARR[@]} )) || die "no router to benchmark"

bench_run_as
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------- cleanup ----
TMP=""
CLUSTER_STARTED=0
declare -A PID=() PORT=()
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local r i
    for r in "${!PID[@]}"; do
        [[ -n "${PID[$r]}" ]] && kill "${PID[$r]}" 2>/dev/null
    done
    for r in "${!PID[@]}"; do
        [[ -n "${PID[$r]}" ]] || continue
        for ((i = 0; i < 50; i++)); do kill -0 "${PID[$r]}" 2>/dev/null || break; sleep 0.1; done
        kill -9 "${PID[$r]}" 2>/dev/null
    done
    if (( CLUSTER_STARTED )); then
        if (( KEEP )); then "$PGCLUSTER" stop "$TMP/cluster" >/dev/null 2>&1 || true
        else "$PGCLUSTER" destroy "$TMP/cluster" >/dev/null 2>&1 || true; fi
    fi
    if [[ -n "$TMP" && -d "$TMP" ]]; then
        if (( KEEP )); then echo "kept $TMP"; else rm -rf -- "$TMP"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TMP=$(mktemp -d /tmp/lagoon-rbench.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP"
mkdir -p "$TMP/log" "$TMP/runs" "$TMP/bin" "$TMP/plugins"
[[ $(id -u) -eq 0 ]] && chown "$RUNUSER:" "$TMP"   # lagoon writes its pidfile here

# Private copies: a rebuild of the tree during the run must not change them.
cp "$LAGOON" "$TMP/bin/lagoon" || die "cannot copy $LAGOON"
for r in "${ROUTER_ARR[@]}"; do
    [[ $r == none ]] || cp "$ROOT/plugins/$r/.libs/$r.so" "$TMP/plugins/$r.so" || die "cannot copy the $r plugin"
done
LAG_BIN=$TMP/bin/lagoon

# --------------------------------------------------------- micro-bench ----
# route() calls per second from the plugin unit test (a diag line)
MICRO=""
if [[ -x "$ROOT/tests/unit/test_plugins" ]]; then
    MICRO=$(cd "$ROOT" && timeout 120 tests/unit/test_plugins 2>&1 | grep -E '^# benchmark:' | sed 's/^# benchmark: //')
fi

# ---------------------------------------------------------------- ports ----
pick_ports() {   # -> BASEPORT (3 consecutive free) and one port per router
    python3 - "${#ROUTER_ARR[@]}" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
def free(p):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); return s
    except OSError:
        s.close(); return None
for _ in range(200):
    base = random.randrange(20000, 30000)
    held = [free(base + i) for i in range(3)]
    if all(held):
        break
    for h in held:
        if h: h.close()
else:
    sys.exit(1)
extra = []
for _ in range(n):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); extra.append(s)
print(base, " ".join(str(s.getsockname()[1]) for s in extra))
EOF
}

# ----------------------------------------------------------- PostgreSQL ----
echo "== setup ($(date -u '+%Y-%m-%d %H:%M:%S UTC'))"
export PGBIN
export PGCLUSTER_MAX_CONNECTIONS=$MAX_CONN
# appended after pgcluster.sh's own lines, so these win (its shared_buffers)
export PGCLUSTER_CONF="shared_buffers = 256MB
full_page_writes = off
synchronous_commit = off
autovacuum = off
max_wal_size = 4GB
log_min_messages = warning
logging_collector = off"
started=0
for attempt in 1 2 3; do
    read -r P0 LPORTS < <(pick_ports) || true
    [[ -n "${P0:-}" ]] || die "could not find free ports"
    rm -rf -- "$TMP/cluster"
    CLUSTER_STARTED=1
    if "$PGCLUSTER" start "$TMP/cluster" "$P0" "$NREP" >"$TMP/log/pgcluster-start.log" 2>&1; then
        started=1; break
    fi
    note "pgcluster start failed (attempt $attempt): $(tail -n 3 "$TMP/log/pgcluster-start.log" | tr '\n' ' ')"
    "$PGCLUSTER" destroy "$TMP/cluster" >/dev/null 2>&1
done
(( started )) || die "could not start the cluster (log: $TMP/log/pgcluster-start.log)"
NODES=(); for ((i = 0; i <= NREP; i++)); do NODES+=($((P0 + i))); done
read -r -a LPORT_ARR <<<"$LPORTS"
for ((i = 0; i < ${#ROUTER_ARR[@]}; i++)); do PORT[${ROUTER_ARR[$i]}]=${LPORT_ARR[$i]}; done

pq() {   # pq PORT DB SQL: superuser, TCP
    "$PSQL" -X -At -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U "$DBUSER" -d "$2" -c "$3"
}
pq "$P0" postgres "CREATE DATABASE $DBNAME" >/dev/null || die "CREATE DATABASE failed"
echo "pgbench -i -s $SCALE on the primary ..."
"$PGBENCH" -i -q -s "$SCALE" -h 127.0.0.1 -p "$P0" -U "$DBUSER" "$DBNAME" >"$TMP/log/pgbench-init.log" 2>&1 \
    || { cat "$TMP/log/pgbench-init.log" >&2; die "pgbench -i failed"; }
"$PSQL" -X -q -h 127.0.0.1 -p "$P0" -U "$DBUSER" -d "$DBNAME" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null 2>&1
"$PGCLUSTER" wait-catchup "$TMP/cluster" 300 >"$TMP/log/catchup.log" 2>&1 \
    || { cat "$TMP/log/catchup.log" >&2; die "replicas did not catch up"; }
for ((i = 1; i <= NREP; i++)); do
    [[ $(pq "${NODES[$i]}" "$DBNAME" "select count(*) from pgbench_branches") == "$SCALE" ]] \
        || die "replica node$i does not hold the pgbench tables"
done

# -------------------------------------------------------------- lagoons ----
printf '"%s" ""\n' "$DBUSER" >"$TMP/userlist.txt"
write_ini() {   # write_ini ROUTER
    local r=$1
    cat >"$TMP/lagoon-$r.ini" <<EOF
[databases]
$DBNAME = host=127.0.0.1 port=${NODES[0]},${NODES[1]},${NODES[2]} dbname=$DBNAME

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${PORT[$r]}
unix_socket_dir =
auth_type = trust
auth_file = $TMP/userlist.txt
pool_mode = transaction
default_pool_size = $POOL_SIZE
max_client_conn = $MAX_CLIENT_CONN
log_connections = 0
log_disconnections = 0
logfile = $TMP/log/lagoon-$r.log
pidfile = $TMP/lagoon-$r.pid
admin_users = $DBUSER
plugin_dir = $TMP/plugins
router = $r
EOF
}
for r in "${ROUTER_ARR[@]}"; do write_ini "$r"; done
[[ $(id -u) -eq 0 ]] && chown -R "$RUNUSER:" "$TMP/log" "$TMP"/lagoon-*.ini "$TMP/userlist.txt" "$TMP/plugins" "$TMP/bin"
chmod 644 "$TMP"/lagoon-*.ini "$TMP/userlist.txt"
chmod 755 "$TMP/plugins" "$TMP/bin"

admin() {   # admin ROUTER SQL
    "$PSQL" -X -At -q -F'|' -h 127.0.0.1 -p "${PORT[$1]}" -U "$DBUSER" -d pgbouncer -c "$2" 2>/dev/null
}
backends_ready() {   # the monitor sees primary/replica/replica, all up, lag known
    admin "$1" "SHOW BACKENDS" | awk -F'|' -v db="$DBNAME" -v n="$((NREP + 1))" '
        $1 == db && $5 == "up" && ($4 == "primary" || ($4 == "replica" && $7 != "" && $7 >= 0)) { ok++ }
        END { exit !(ok == n) }'
}
start_lagoon() {   # start_lagoon ROUTER -> PID[ROUTER]
    local r=$1 i
    rm -f "$TMP/lagoon-$r.pid"
    "$LAG_BIN" "${POOLER_USER_OPT[@]}" "$TMP/lagoon-$r.ini" >>"$TMP/log/lagoon-$r.stderr" 2>&1 </dev/null &
    PID[$r]=$!
    for ((i = 0; i < 150; i++)); do
        if ! kill -0 "${PID[$r]}" 2>/dev/null; then
            tail -n 20 "$TMP/log/lagoon-$r.stderr" "$TMP/log/lagoon-$r.log" >&2 2>/dev/null
            PID[$r]=""
            return 1
        fi
        if backends_ready "$r" &&
           "$PSQL" -X -At -q -h 127.0.0.1 -p "${PORT[$r]}" -U "$DBUSER" -d "$DBNAME" -c "select 1" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    note "lagoon router=$r not ready on port ${PORT[$r]} after 15 s:"
    admin "$r" "SHOW BACKENDS" >&2
    return 1
}

# ---------------------------------------------------------- measurement ----
xact_commits() {     # "n0 n1 n2": pg_stat_database.xact_commit of bench per node
    local p v vals=()
    for p in "${NODES[@]}"; do
        v=$(pq "$p" postgres "select xact_commit from pg_stat_database where datname = '$DBNAME'" 2>/dev/null)
        vals+=("${v:--}")
    done
    echo "${vals[*]}"
}
bench_backends() {   # client backends connected to bench, over all nodes
    local p n t=0
    for p in "${NODES[@]}"; do
        n=$(pq "$p" postgres "select count(*) from pg_stat_activity where datname = '$DBNAME' and backend_type = 'client backend'" 2>/dev/null)
        t=$((t + ${n:-0}))
    done
    echo "$t"
}
drain() {   # drain ROUTER...: close those lagoons' server connections and
            # wait until no backend of bench is left on any node
    local r i
    for r in "$@"; do admin "$r" "RECONNECT $DBNAME" >/dev/null; done
    for ((i = 0; i < 100; i++)); do
        (( $(bench_backends) == 0 )) && return 0
        sleep 0.1
    done
    note "router=$*: $(bench_backends) backends of $DBNAME still connected 10 s after RECONNECT"
    return 1
}
log_size() { stat -c %s "$TMP/log/lagoon-$1.log" 2>/dev/null || echo 0; }

RESULTS=$TMP/results.tsv
printf 'round\tscenario\trouter\tstatus\trc\ttps\ttx\tfailed\taborted\tlat_ms\tlagoon_cpu_s\tlagoon_us_tx\tnode0\tnode1\tnode2\twrite_tx\tbusy_pct\tbusy_before\tnote\n' >"$RESULTS"
PROBLEMS=$TMP/problems.txt
: >"$PROBLEMS"
DESCS=$TMP/scenarios.tsv
: >"$DESCS"
for sc in $SCENARIOS; do
    printf '%s\tpgbench %s -n -j 2 -T %s\n' "$sc" "$(scenario_args "$sc")" "$SECS" >>"$DESCS"
done

record_problem() {   # record_problem ROUTER SCENARIO ROUND WHAT PGBENCH_OUT LOG_OFFSET
    local r=$1 sc=$2 rd=$3 what=$4 out=$5 off=$6
    {
        echo "---- round $rd, $sc, router=$r: $what"
        echo "pgbench errors (distinct, with counts):"
        grep -oE '(ERROR|FATAL|PANIC): .*|aborted in command [0-9]+|Run was aborted.*|connection to server.*|could not .*' "$out" \
            | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/    /'
        echo "lagoon log lines at WARNING or worse during this run (distinct, with counts):"
        tail -c +"$((off + 1))" "$TMP/log/lagoon-$r.log" 2>/dev/null | grep -E 'WARNING|ERROR|FATAL|PANIC|assert' \
            | sed -E 's/^[0-9-]+ [0-9:.]+ ([A-Z]+ )?\[?[0-9]+\]? //; s/[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+:[0-9]+/ADDR:PORT/g; s/0x[0-9a-f]+/0xADDR/g' \
            | sort | uniq -c | sort -rn | head -n 15 | sed 's/^/    /'
        echo "lagoon log tail (without stats lines):"
        grep -v ' stats: ' "$TMP/log/lagoon-$r.log" 2>/dev/null | tail -n 12 | sed 's/^/    /'
        if [[ $what == CRASH* && -s "$TMP/log/lagoon-$r.stderr" ]]; then
            echo "lagoon stderr tail:"
            tail -n 20 "$TMP/log/lagoon-$r.stderr" | sed 's/^/    /'
        fi
    } >>"$PROBLEMS"
}

run_one() {   # run_one ROUND SCENARIO ROUTER
    local rd=$1 sc=$2 r=$3 args out rc
    args=$(scenario_args "$sc")
    out=$TMP/runs/r$rd-$sc-$r.out
    if [[ -z "${PID[$r]:-}" ]] || ! kill -0 "${PID[$r]}" 2>/dev/null; then
        note "lagoon router=$r is not running; restarting it"
        start_lagoon "$r" || { printf '%s\t%s\t%s\tCRASH\t-\t0\t0\t0\t0\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n' \
            "$rd" "$sc" "$r" "lagoon does not start" >>"$RESULTS"; return; }
    fi
    "$PGCLUSTER" wait-catchup "$TMP/cluster" 120 >/dev/null 2>&1 || note "replicas did not catch up before r$rd $sc $r"
    drain "$r"

    local c0 c1 plr0 plr1="-" m0 m1 off idle_busy
    idle_busy=$(quiet_gate)
    off=$(log_size "$r")
    c0=$(xact_commits)
    plr0=$(proc_cpu_ticks "${PID[$r]}")
    m0=$(machine_ticks)
    # shellcheck disable=SC2086
    timeout -k 10 $((SECS + 120)) "$PGBENCH" -n -j 2 -T "$SECS" -h 127.0.0.1 -p "${PORT[$r]}" \
        -U "$DBUSER" $args "$DBNAME" >"$out" 2>&1
    rc=$?
    m1=$(machine_ticks)
    local alive=1
    if kill -0 "${PID[$r]}" 2>/dev/null; then plr1=$(proc_cpu_ticks "${PID[$r]}"); else alive=0; fi
    (( alive )) && drain "$r"
    c1=$(xact_commits)

    local tps tx failed aborted lat status note="" plr_s="-" plr_us="-" busy wtx d
    tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\).*/\1/p' "$out" | head -n 1)
    tx=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$out" | head -n 1)
    failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' "$out" | head -n 1)
    lat=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$out" | head -n 1)
    aborted=$(grep -cE 'client [0-9]+ (script [0-9]+ )?aborted' "$out")
    # with -b: " - N transactions (x% of total, ...)" per script; the first
    # script (tpcb-like) is the writes
    wtx=$(awk '/^SQL script 1:/ {s = 1; next} s && /^ - [0-9]+ transactions/ {print $2; exit}' "$out")
    [[ -n "$tps" ]] || tps=0
    [[ -n "$tx" ]] || tx=0
    [[ -n "$failed" ]] || failed=0
    [[ -n "$lat" ]] || lat="-"
    [[ -n "$wtx" ]] || wtx="-"
    busy=$(awk -v a="$m0" -v b="$m1" 'BEGIN{split(a,x," "); split(b,y," "); d=y[2]-x[2]; if (d>0) printf "%.0f", 100*(y[1]-x[1])/d; else print "-"}')
    if [[ $plr0 != - && $plr1 != - ]]; then
        plr_s=$(awk -v a="$plr0" -v b="$plr1" -v hz="$CLK_TCK" 'BEGIN{printf "%.3f", (b-a)/hz}')
        plr_us=$(awk -v s="$plr_s" -v tx="$tx" 'BEGIN{if (tx > 0) printf "%.2f", s*1e6/tx; else print "-"}')
    fi
    d=$(awk -v a="$c0" -v b="$c1" 'BEGIN{n = split(a, x, " "); split(b, y, " ");
        for (i = 1; i <= n; i++) printf "%s%s", (i > 1 ? "\t" : ""), ((x[i] ~ /^[0-9]+$/ && y[i] ~ /^[0-9]+$/) ? y[i] - x[i] : "-") }')

    status=ok
    if (( rc == 124 || rc == 137 )); then
        status=HANG; note="pgbench did not finish within $((SECS + 120)) s"
    elif (( ! alive )); then
        status=CRASH; note="lagoon exited during the run"
    elif (( rc != 0 || aborted > 0 )) || [[ $tps == 0 ]]; then
        status=FAILED
        note=$(grep -m1 -E 'ERROR|FATAL|error:' "$out" | sed -E 's/^pgbench: error: //; s/\t/ /g' | cut -c1-200)
    fi
    note=${note:--}
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rd" "$sc" "$r" \
        "$status" "$rc" "$tps" "$tx" "$failed" "$aborted" "$lat" "$plr_s" "$plr_us" "$d" "$wtx" "$busy" "$idle_busy" "$note" >>"$RESULTS"
    printf '  r%-2s %-6s %-10s tps %7.0f  tx %8s  failed %s  aborted %s  lagoon %6s µs/tx  xact per node %-22s  busy %3s%% (before %s%%)  %s\n' \
        "$rd" "$sc" "$r" "$tps" "$tx" "$failed" "$aborted" "$plr_us" "$(tr '\t' '/' <<<"$d")" "$busy" "$idle_busy" \
        "$([[ $status != ok ]] && echo "$status: $note")"

    local nwarn
    nwarn=$(tail -c +"$((off + 1))" "$TMP/log/lagoon-$r.log" 2>/dev/null | grep -cE 'WARNING|ERROR|FATAL|PANIC')
    if [[ $status != ok ]] || (( failed > 0 )); then
        record_problem "$r" "$sc" "$rd" "$status rc=$rc failed=$failed aborted=$aborted" "$out" "$off"
    elif (( nwarn > 0 )); then
        record_problem "$r" "$sc" "$rd" "ok, but $nwarn WARNING/ERROR lines in its log" "$out" "$off"
    fi
    if (( ! alive )); then
        wait "${PID[$r]}" 2>/dev/null
        echo "    lagoon router=$r exit status $? (see problems below); restarting it" | tee -a "$PROBLEMS"
        PID[$r]=""
        start_lagoon "$r" || note "lagoon router=$r failed to restart"
    fi
}

# --------------------------------------------------------------- header ----
echo
echo "## lagoon read routing: router=none vs ${ROUTER_ARR[*]:1} — pgbench $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- host: $(nproc) CPUs, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r); loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}'), primary + $NREP streaming replicas (tests/pgcluster.sh), all on this host: fsync=off full_page_writes=off synchronous_commit=off autovacuum=off shared_buffers=256MB max_connections=$MAX_CONN; pgbench scale $SCALE; replicas caught up before every run"
echo "- lagoon $("$LAG_BIN" --version 2>/dev/null | head -n1 | awk '{print $NF}') (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- core 2>/dev/null || echo ', core/ modified in the working tree')): one process per router, identical configs but for \`router\`: pool_mode=transaction default_pool_size=$POOL_SIZE per backend, auth_type=trust, no connection logging, TCP 127.0.0.1"
echo "- routers: ${ROUTER_ARR[*]}${SKIPPED_ROUTERS:+ (skipped, plugin not built:$SKIPPED_ROUTERS)}"
echo "- every run: pgbench -n -j 2 -T $SECS; $ROUNDS round(s), router order rotated each round; scenarios: $SCENARIOS"
echo "- lagoon CPU µs/tx = lagoon's utime+stime ÷ transactions processed; node share = that node's pg_stat_database.xact_commit delta for \"$DBNAME\" ÷ the sum over the nodes"
echo

for r in "${ROUTER_ARR[@]}"; do
    start_lagoon "$r" || die "lagoon router=$r failed to start (log: $TMP/log/lagoon-$r.log)"
done
drain "${ROUTER_ARR[@]}"

# ----------------------------------------------------------------- runs ----
nr=${#ROUTER_ARR[@]}
for ((rd = 1; rd <= ROUNDS; rd++)); do
    order=()
    for ((i = 0; i < nr; i++)); do order+=("${ROUTER_ARR[$(((i + rd - 1) % nr))]}"); done
    echo "round $rd/$ROUNDS (order: ${order[*]})"
    for sc in $SCENARIOS; do
        for r in "${order[@]}"; do
            run_one "$rd" "$sc" "$r"
        done
    done
done

# -------------------------------------------------------------- summary ----
echo
echo "## Results"
python3 "$BENCH_DIR/routing_summary.py" "$RESULTS" "$DESCS" "${ROUTER_ARR[*]}"
awk -F'\t' 'NR > 1 && $18 ~ /^[0-9]+$/ {n++; v[n] = $18; if ($18 > mx) mx = $18}
    END { if (n) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
          printf "\nOutside load just before the runs (machine busy %%, no pgbench running): median %d %%, max %d %% over %d runs.\n", v[int((n + 1) / 2)], mx, n } }' "$RESULTS"

echo
echo "### Plugin micro-benchmark (tests/unit/test_plugins)"
echo
if [[ -n "$MICRO" ]]; then
    sed 's/^/- /' <<<"$MICRO"
    echo
    echo "(one line per case in test order; a repeated plugin name is a further case, e.g. lsn_ryw for a session that has written)"
else
    echo "- no figure: tests/unit/test_plugins not built or printed no benchmark line"
fi

echo
echo "### lagoon routing counters at the end (SHOW ROUTING)"
echo
for r in "${ROUTER_ARR[@]}"; do
    [[ $r == none ]] && continue
    echo "router=$r:"
    admin "$r" "SHOW ROUTING" | sed 's/^/    /'
done

for r in "${ROUTER_ARR[@]}"; do
    if [[ -z "${PID[$r]:-}" ]] || ! kill -0 "${PID[$r]}" 2>/dev/null; then
        echo "- lagoon router=$r is NOT running at the end" | tee -a "$PROBLEMS" >/dev/null
    fi
done
echo
if [[ -s "$PROBLEMS" ]]; then
    echo "### Problems seen"
    echo
    echo '```'
    cat "$PROBLEMS"
    echo '```'
else
    echo "No problems seen (no failed/aborted transactions, hangs, crashes or lagoon warnings)."
fi
if [[ -n "$RESULTS_COPY" ]]; then
    cp "$RESULTS" "$RESULTS_COPY" && echo "raw per-run results: $RESULTS_COPY"
fi
exit 0
