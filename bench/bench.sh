#!/usr/bin/env bash
# bench.sh - pgbench comparison of direct PostgreSQL, PgBouncer and lagoon.
#
# Usage:
#   bench/bench.sh [--rounds N] [--seconds S] [--scenarios "a b ..."]
#                  [--targets "direct pgbouncer lagoon"] [--quick]
#                  [--idle-clients N] [--keep] [--results FILE]
#
#   --rounds N       interleaved rounds (default 3); the target order rotates
#                    each round (A B C, B C A, C A B, ...)
#   --seconds S      pgbench -T per run (default 10)
#   --scenarios L    space- or comma-separated subset of:
#                      sel10    pgbench -S -M simple   -c 10
#                      sel100   pgbench -S -M simple   -c 100
#                      sel1000  pgbench -S -M simple   -c 1000 (direct skipped
#                               if clients > max_connections - 10)
#                      ext100   pgbench -S -M extended -c 100
#                      prep100  pgbench -S -M prepared -c 100 (PgBouncer 1.18 in
#                               transaction mode fails this; reported as a figure)
#                      tpcb100  pgbench (TPC-B-like)    -c 100
#                      churn50  pgbench -S -M simple -C -c 50 (new connection
#                               per transaction)
#                    default: all of them
#   --targets L      subset of "direct pgbouncer lagoon" (default all three)
#   --quick          smoke run: 1 round, 5 s, scenarios sel10 ext100
#   --idle-clients N idle connections for the RSS-per-client measurement,
#                    made to a freshly restarted pooler (default 1000; 0 skips)
#   --gate-wait S    before each run, sample machine busy % over 1 s and wait
#                    while it is >= 25 % (other users), at most S s (default 5);
#                    the value seen is printed as "before N%"
#   --syscalls L     after the timed runs, count each pooler's system calls
#                    per transaction with `strace -c -f` for the scenarios in
#                    L (e.g. "sel10 sel1000 churn50"; needs strace); pgbench
#                    then runs a fixed number of transactions (-t) instead of
#                    -T, and strace slows the pooler, so these runs give counts,
#                    not speeds
#   --keep           keep the temporary directory (logs, configs, raw TSV)
#   --results FILE   also copy the raw per-run TSV to FILE
#   --routing        the read-routing benchmark instead (bench/routing.sh):
#                    primary + 2 replicas, lagoon with router=none vs
#                    roundrobin vs leastlag vs lsn_ryw; see
#                    `bench/bench.sh --routing --help`
#
# Every run is `pgbench -n -j 2 -T S` against database "bench" (scale 10).
# It is a benchmark, not a test: it never fails because of the numbers.  It
# exits non-zero only when the environment cannot be set up.
#
# Needs: ./lagoon (built; `make -j2`), pgbench, PostgreSQL 15 server binaries
# (/usr/lib/postgresql/15/bin, override with PGBIN), /usr/sbin/pgbouncer
# (override with PGBOUNCER; installed with apt-get when missing and root),
# python3.  As root, PostgreSQL and both poolers run as the OS user postgres.
#
# Measured per run: tps (without initial connection time), transactions
# processed, failed transactions, aborted clients, latency average, the
# pooler's CPU (utime+stime of /proc/PID/stat) -> µs per transaction, the
# whole PostgreSQL instance's CPU (live processes + the postmaster's reaped
# children) -> µs per transaction, and machine busy % from /proc/stat.
# Per pooler at the end: VmRSS at start, VmHWM (peak) after the runs, and the
# RSS growth per idle client with N idle connections held open.

set -uo pipefail
export LC_ALL=C

PROG=bench.sh
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=bench/lib.sh
. "$BENCH_DIR/lib.sh"
ROOT=$(cd "$BENCH_DIR/.." && pwd)
LAGOON=${LAGOON_BIN:-$ROOT/lagoon}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGBOUNCER=${PGBOUNCER:-/usr/sbin/pgbouncer}

for a in "$@"; do
    if [[ $a == --routing ]]; then exec "$BENCH_DIR/routing.sh" "$@"; fi
done

ROUNDS=3
SECS=10
SCENARIOS="sel10 sel100 sel1000 ext100 prep100 tpcb100 churn50"
TARGETS="direct pgbouncer lagoon"
IDLE_CLIENTS=1000
SYSCALL_SCENARIOS=""
GATE_WAIT=5
KEEP=0
RESULTS_COPY=""
MAX_CONN=1200
POOL_SIZE=20
MAX_CLIENT_CONN=2000
SCALE=10
DBNAME=bench
DBUSER=postgres

die()  { echo "$PROG: $*" >&2; exit 1; }
note() { echo "$PROG: $*" >&2; }
usage() { sed -n '2,/^set -uo/p' "$0" | sed -e '/^set -uo/d' -e 's/^# \{0,1\}//'; exit "${1:-2}"; }

while (( $# )); do
    case "$1" in
        --rounds)       ROUNDS=${2:?}; shift 2 ;;
        --rounds=*)     ROUNDS=${1#*=}; shift ;;
        --seconds)      SECS=${2:?}; shift 2 ;;
        --seconds=*)    SECS=${1#*=}; shift ;;
        --scenarios)    SCENARIOS=${2:?}; shift 2 ;;
        --scenarios=*)  SCENARIOS=${1#*=}; shift ;;
        --targets)      TARGETS=${2:?}; shift 2 ;;
        --targets=*)    TARGETS=${1#*=}; shift ;;
        --quick)        ROUNDS=1; SECS=5; SCENARIOS="sel10 ext100"; shift ;;
        --idle-clients) IDLE_CLIENTS=${2:?}; shift 2 ;;
        --idle-clients=*) IDLE_CLIENTS=${1#*=}; shift ;;
        --gate-wait)    GATE_WAIT=${2:?}; shift 2 ;;
        --gate-wait=*)  GATE_WAIT=${1#*=}; shift ;;
        --syscalls)     SYSCALL_SCENARIOS=${2:?}; shift 2 ;;
        --syscalls=*)   SYSCALL_SCENARIOS=${1#*=}; shift ;;
        --keep)         KEEP=1; shift ;;
        --results)      RESULTS_COPY=${2:?}; shift 2 ;;
        --results=*)    RESULTS_COPY=${1#*=}; shift ;;
        -h|--help)      usage 0 ;;
        *)              note "unknown argument: $1"; usage 2 ;;
    esac
done
SCENARIOS=${SCENARIOS//,/ }
SYSCALL_SCENARIOS=${SYSCALL_SCENARIOS//,/ }
TARGETS=${TARGETS//,/ }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer"
[[ "$SECS" =~ ^[1-9][0-9]*$ ]] || die "--seconds must be a positive integer"
[[ "$IDLE_CLIENTS" =~ ^[0-9]+$ ]] || die "--idle-clients must be an integer"
[[ "$GATE_WAIT" =~ ^[1-9][0-9]*$ ]] || die "--gate-wait must be a positive integer"

# ------------------------------------------------------------ scenarios ----
scenario_args() {   # pgbench arguments of a scenario
    case "$1" in
        sel10)   echo "-S -M simple -c 10" ;;
        sel100)  echo "-S -M simple -c 100" ;;
        sel1000) echo "-S -M simple -c 1000" ;;
        ext100)  echo "-S -M extended -c 100" ;;
        prep100) echo "-S -M prepared -c 100" ;;
        tpcb100) echo "-M simple -c 100" ;;
        churn50) echo "-S -M simple -C -c 50" ;;
        *) return 1 ;;
    esac
}
for sc in $SCENARIOS $SYSCALL_SCENARIOS; do
    scenario_args "$sc" >/dev/null || die "unknown scenario '$sc' (known: sel10 sel100 sel1000 ext100 prep100 tpcb100 churn50)"
done
for t in $TARGETS; do
    case "$t" in direct|pgbouncer|lagoon) ;; *) die "unknown target '$t'" ;; esac
done
read -r -a TARGET_ARR <<<"$TARGETS"

# -------------------------------------------------------- requirements ----
bench_client_env

if [[ ! -x "$LAGOON" ]]; then
    die "$LAGOON not found; build it first: (cd $ROOT && ./autogen.sh && ./configure && make -j2)  — or just 'make -j2' in an already configured tree"
fi
PGBENCH=$(command -v pgbench || true)
[[ -n "$PGBENCH" ]] || PGBENCH=$PGBIN/pgbench
[[ -x "$PGBENCH" ]] || die "pgbench not found (apt-get install postgresql-client-15)"
for b in initdb pg_ctl postgres psql; do
    [[ -x "$PGBIN/$b" ]] || die "$PGBIN/$b not found (PostgreSQL 15 server binaries; apt-get install postgresql-15, or set PGBIN)"
done
PSQL=$PGBIN/psql
if [[ -n "$SYSCALL_SCENARIOS" ]] && ! command -v strace >/dev/null; then
    die "--syscalls needs strace (apt-get install strace)"
fi
command -v python3 >/dev/null || die "python3 not found"
if [[ ! -x "$PGBOUNCER" ]]; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
        note "installing pgbouncer with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer >/dev/null 2>&1 \
            || { apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y pgbouncer >/dev/null 2>&1; } \
            || die "apt-get install pgbouncer failed"
        # the package starts a system service we do not want
        if command -v systemctl >/dev/null 2>&1; then systemctl stop pgbouncer >/dev/null 2>&1 || true; fi
        if command -v service >/dev/null 2>&1; then service pgbouncer stop >/dev/null 2>&1 || true; fi
    fi
    [[ -x "$PGBOUNCER" ]] || die "$PGBOUNCER not found (apt-get install pgbouncer)"
fi

bench_run_as
if (( $(ulimit -n) < 2200 )); then
    note "warning: ulimit -n is $(ulimit -n); 1000-client scenarios may fail"
fi
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------- cleanup ----
TMP=""
PG_STARTED=0
declare -A PID=()
IDLE_PID=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [[ -n "$IDLE_PID" ]] && kill "$IDLE_PID" 2>/dev/null
    local t
    for t in "${!PID[@]}"; do
        [[ -n "${PID[$t]}" ]] && kill "${PID[$t]}" 2>/dev/null
    done
    for t in "${!PID[@]}"; do
        [[ -n "${PID[$t]}" ]] || continue
        local i
        for ((i = 0; i < 50; i++)); do kill -0 "${PID[$t]}" 2>/dev/null || break; sleep 0.1; done
        kill -9 "${PID[$t]}" 2>/dev/null
    done
    if (( PG_STARTED )); then
        as_pg "$PGBIN/pg_ctl" -D "$TMP/pgdata" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    if [[ -n "$TMP" && -d "$TMP" ]]; then
        if (( KEEP )); then echo "kept $TMP"; else rm -rf -- "$TMP"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TMP=$(mktemp -d /tmp/lagoon-bench.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP"
mkdir -p "$TMP/sock" "$TMP/log" "$TMP/runs"
[[ $(id -u) -eq 0 ]] && chown -R "$RUNUSER:" "$TMP"
chmod 700 "$TMP/sock"

# Free TCP ports on 127.0.0.1 (bound together so they are distinct).
read -r PGPORT PGB_PORT LAG_PORT < <(python3 - <<'EOF'
import socket
ss = []
for _ in range(3):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))
EOF
)
[[ -n "${LAG_PORT:-}" ]] || die "could not find free ports"
declare -A PORT=([direct]=$PGPORT [pgbouncer]=$PGB_PORT [lagoon]=$LAG_PORT)

# ----------------------------------------------------------- PostgreSQL ----
echo "== setup ($(date -u '+%Y-%m-%d %H:%M:%S UTC'))"
as_pg "$PGBIN/initdb" -D "$TMP/pgdata" -U "$DBUSER" -A trust -E UTF8 --locale=C -N \
    >"$TMP/log/initdb.log" 2>&1 || { cat "$TMP/log/initdb.log" >&2; die "initdb failed"; }
as_pg tee -a "$TMP/pgdata/postgresql.conf" >/dev/null <<EOF

# ---- bench.sh ----
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$TMP/sock'
max_connections = $MAX_CONN
shared_buffers = 256MB
fsync = off
full_page_writes = off
synchronous_commit = off
autovacuum = off
max_wal_size = 4GB
log_min_messages = warning
logging_collector = off
EOF
as_pg "$PGBIN/pg_ctl" -D "$TMP/pgdata" -l "$TMP/log/postgresql.log" -w -t 120 start >/dev/null \
    || { tail -n 30 "$TMP/log/postgresql.log" >&2; die "PostgreSQL failed to start"; }
PG_STARTED=1
PM_PID=$(head -n 1 "$TMP/pgdata/postmaster.pid")
"$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT" -U "$DBUSER" -d postgres -c "CREATE DATABASE $DBNAME" >/dev/null \
    || die "CREATE DATABASE failed"
echo "pgbench -i -s $SCALE ..."
"$PGBENCH" -i -q -s "$SCALE" -h 127.0.0.1 -p "$PGPORT" -U "$DBUSER" "$DBNAME" >"$TMP/log/pgbench-init.log" 2>&1 \
    || { cat "$TMP/log/pgbench-init.log" >&2; die "pgbench -i failed"; }
"$PSQL" -X -q -h 127.0.0.1 -p "$PGPORT" -U "$DBUSER" -d "$DBNAME" -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null 2>&1

# -------------------------------------------------------------- poolers ----
# Same settings for both; only ports and file names differ.
printf '"%s" ""\n' "$DBUSER" >"$TMP/userlist.txt"
write_ini() {   # write_ini NAME PORT
    cat >"$TMP/$1.ini" <<EOF
[databases]
$DBNAME = host=127.0.0.1 port=$PGPORT dbname=$DBNAME

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $2
unix_socket_dir =
auth_type = trust
auth_file = $TMP/userlist.txt
pool_mode = transaction
default_pool_size = $POOL_SIZE
max_client_conn = $MAX_CLIENT_CONN
log_connections = 0
log_disconnections = 0
logfile = $TMP/log/$1.log
pidfile = $TMP/$1.pid
admin_users = $DBUSER
EOF
}
write_ini pgbouncer "$PGB_PORT"
write_ini lagoon "$LAG_PORT"
[[ $(id -u) -eq 0 ]] && chown -R "$RUNUSER:" "$TMP/log" "$TMP"/*.ini "$TMP/userlist.txt"
chmod 644 "$TMP"/*.ini "$TMP/userlist.txt"

pooler_bin() { if [[ $1 == lagoon ]]; then echo "$LAGOON"; else echo "$PGBOUNCER"; fi; }

start_pooler() {   # start_pooler NAME -> PID[NAME]
    local n=$1 bin i
    bin=$(pooler_bin "$n")
    rm -f "$TMP/$n.pid"
    "$bin" "${POOLER_USER_OPT[@]}" "$TMP/$n.ini" >>"$TMP/log/$n.stderr" 2>&1 </dev/null &
    PID[$n]=$!
    for ((i = 0; i < 100; i++)); do
        if ! kill -0 "${PID[$n]}" 2>/dev/null; then
            tail -n 20 "$TMP/log/$n.stderr" "$TMP/log/$n.log" >&2 2>/dev/null
            PID[$n]=""
            return 1
        fi
        if "$PSQL" -X -At -q -h 127.0.0.1 -p "${PORT[$n]}" -U "$DBUSER" -d "$DBNAME" -c "select 1" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    note "$n does not answer on port ${PORT[$n]}"
    return 1
}

# ---------------------------------------------------------- measurement ----
pg_cpu_ticks() {     # every live process of the instance + reaped children
    # A backend reaped while /proc is being scanned would be missed (or
    # counted twice), so rescan until the postmaster's cutime is unchanged.
    local c0 c1 tot i
    for ((i = 0; i < 20; i++)); do
        c0=$(pm_cutime)
        tot=$(awk -v pm="$PM_PID" '{
            line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
            # f[2]=ppid f[12]=utime f[13]=stime
            if ($1 == pm || f[2] == pm) t += f[12] + f[13]
        } END { print t + 0 }' < <(cat /proc/[0-9]*/stat 2>/dev/null))
        c1=$(pm_cutime)
        [[ $c0 == "$c1" ]] && break
    done
    echo $((tot + c1))
}
pm_cutime() {        # cutime+cstime of the postmaster
    local s
    s=$(cat "/proc/$PM_PID/stat" 2>/dev/null) || { echo 0; return; }
    s=${s##*) }
    awk '{print $14 + $15}' <<<"$s"
}
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status" 2>/dev/null; }

RESULTS=$TMP/results.tsv
printf 'round\tscenario\ttarget\tclients\tstatus\trc\ttps\ttx\tfailed\taborted\tlat_ms\tplr_cpu_s\tplr_us_tx\tpg_us_tx\tbusy_pct\tbusy_before\tnote\n' >"$RESULTS"
PROBLEMS=$TMP/problems.txt
: >"$PROBLEMS"
DESCS=$TMP/scenarios.tsv
: >"$DESCS"
for sc in $SCENARIOS; do
    printf '%s\tpgbench %s -n -j 2 -T %s\n' "$sc" "$(scenario_args "$sc")" "$SECS" >>"$DESCS"
done

log_size() { stat -c %s "$TMP/log/$1.log" 2>/dev/null || echo 0; }

# record_problem TARGET SCENARIO ROUND WHAT PGBENCH_OUT LOG_OFFSET
record_problem() {
    local t=$1 sc=$2 rd=$3 what=$4 out=$5 off=$6
    {
        echo "---- round $rd, $sc, $t: $what"
        echo "pgbench errors (distinct, with counts):"
        # the two pgbench threads interleave their stderr; keep the message only
        grep -oE '(ERROR|FATAL|PANIC): .*|aborted in command [0-9]+|Run was aborted.*|connection to server.*|could not .*' "$out" \
            | sort | uniq -c | sort -rn | head -n 8 | sed 's/^/    /'
        if [[ $t != direct && -f "$TMP/log/$t.log" ]]; then
            echo "$t log lines at WARNING or worse during this run (distinct, with counts):"
            tail -c +"$((off + 1))" "$TMP/log/$t.log" | grep -E 'WARNING|ERROR|FATAL|PANIC|assert' \
                | sed -E 's/^[0-9-]+ [0-9:.]+ ([A-Z]+ )?\[?[0-9]+\]? //; s/[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+:[0-9]+/ADDR:PORT/g; s/0x[0-9a-f]+/0xADDR/g' \
                | sort | uniq -c | sort -rn | head -n 15 | sed 's/^/    /'
            echo "$t log tail (without stats lines):"
            grep -v ' stats: ' "$TMP/log/$t.log" | tail -n 8 | sed 's/^/    /'
            if [[ $what == CRASH* && -s "$TMP/log/$t.stderr" ]]; then
                echo "$t stderr tail:"
                tail -n 20 "$TMP/log/$t.stderr" | sed 's/^/    /'
            fi
        fi
    } >>"$PROBLEMS"
}

# run_one ROUND SCENARIO TARGET
run_one() {
    local rd=$1 sc=$2 t=$3 args clients out rc
    args=$(scenario_args "$sc")
    clients=$(sed -E 's/.*-c ([0-9]+).*/\1/' <<<"$args")
    out=$TMP/runs/r$rd-$sc-$t.out

    if [[ $t == direct ]] && (( clients > MAX_CONN - 10 )); then
        printf '%s\t%s\t%s\t%s\tSKIP\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n' "$rd" "$sc" "$t" "$clients" \
            "clients > max_connections-10 ($MAX_CONN)" >>"$RESULTS"
        printf '  r%-2s %-8s %-9s skipped (clients > max_connections-10)\n' "$rd" "$sc" "$t"
        return
    fi
    if [[ $t != direct ]] && { [[ -z "${PID[$t]:-}" ]] || ! kill -0 "${PID[$t]}" 2>/dev/null; }; then
        note "$t is not running; restarting it"
        start_pooler "$t" || { printf '%s\t%s\t%s\t%s\tCRASH\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n' \
            "$rd" "$sc" "$t" "$clients" "pooler does not start" >>"$RESULTS"; return; }
    fi

    local plr0="-" plr1="-" pg0 pg1 m0 m1 off idle_busy
    idle_busy=$(quiet_gate)
    off=0
    [[ $t != direct ]] && off=$(log_size "$t")
    [[ $t != direct ]] && plr0=$(proc_cpu_ticks "${PID[$t]}")
    pg0=$(pg_cpu_ticks)
    m0=$(machine_ticks)
    # shellcheck disable=SC2086
    timeout -k 10 $((SECS + 120)) "$PGBENCH" -n -j 2 -T "$SECS" -h 127.0.0.1 -p "${PORT[$t]}" \
        -U "$DBUSER" $args "$DBNAME" >"$out" 2>&1
    rc=$?
    m1=$(machine_ticks)
    pg1=$(pg_cpu_ticks)
    local alive=1
    if [[ $t != direct ]]; then
        if kill -0 "${PID[$t]}" 2>/dev/null; then plr1=$(proc_cpu_ticks "${PID[$t]}"); else alive=0; fi
    fi

    local tps tx failed aborted lat status note="" plr_s="-" plr_us="-" pg_us="-" busy
    tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\).*/\1/p' "$out" | head -n 1)
    [[ -n "$tps" ]] || tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$out" | head -n 1)
    tx=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*/\1/p' "$out" | head -n 1)
    failed=$(sed -nE 's/^number of failed transactions: ([0-9]+).*/\1/p' "$out" | head -n 1)
    lat=$(sed -nE 's/^latency average = ([0-9.]+) ms.*/\1/p' "$out" | head -n 1)
    aborted=$(grep -cE 'client [0-9]+ (script [0-9]+ )?aborted' "$out")
    [[ -n "$tps" ]] || tps=0
    [[ -n "$tx" ]] || tx=0
    [[ -n "$failed" ]] || failed=0
    [[ -n "$lat" ]] || lat="-"
    busy=$(awk -v a="$m0" -v b="$m1" 'BEGIN{split(a,x," "); split(b,y," "); d=y[2]-x[2]; if (d>0) printf "%.0f", 100*(y[1]-x[1])/d; else print "-"}')

    if [[ $plr0 != - && $plr1 != - ]]; then
        plr_s=$(awk -v a="$plr0" -v b="$plr1" -v hz="$CLK_TCK" 'BEGIN{printf "%.3f", (b-a)/hz}')
        plr_us=$(awk -v s="$plr_s" -v tx="$tx" -v tps="$tps" -v S="$SECS" 'BEGIN{
            n = tx > 0 ? tx : tps*S; if (n > 0) printf "%.2f", s*1e6/n; else print "-"}')
    fi
    pg_us=$(awk -v a="$pg0" -v b="$pg1" -v hz="$CLK_TCK" -v tx="$tx" 'BEGIN{
        if (tx > 0) printf "%.1f", (b-a)/hz*1e6/tx; else print "-"}')

    status=ok
    if (( rc == 124 || rc == 137 )); then
        status=HANG; note="pgbench did not finish within $((SECS + 120)) s"
    elif (( ! alive )); then
        status=CRASH; note="$t exited during the run"
    elif (( rc != 0 || aborted > 0 )) || [[ $tps == 0 ]]; then
        status=FAILED
        note=$(grep -m1 -E 'ERROR|FATAL|error:' "$out" | sed -E 's/^pgbench: error: //; s/\t/ /g' | cut -c1-200)
        if [[ -z "$note" && $tx == 0 ]]; then
            note="no transaction processed (connecting $clients clients took longer than -T $SECS?)"
        fi
        if [[ $sc == prep100 && $t == pgbouncer ]]; then
            note="${note:-failed} [expected: PgBouncer 1.18 has no prepared-statement support in transaction mode]"
        fi
    fi
    note=${note:--}
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$rd" "$sc" "$t" "$clients" \
        "$status" "$rc" "$tps" "$tx" "$failed" "$aborted" "$lat" "$plr_s" "$plr_us" "$pg_us" "$busy" "$idle_busy" "$note" >>"$RESULTS"
    printf '  r%-2s %-8s %-9s tps %7.0f  tx %8s  failed %s  aborted %s  lat %6s ms  pooler %6s µs/tx  PG %6s µs/tx  busy %3s%% (before %s%%)  %s\n' \
        "$rd" "$sc" "$t" "$tps" "$tx" "$failed" "$aborted" "$lat" "$plr_us" "$pg_us" "$busy" "$idle_busy" \
        "$([[ $status != ok ]] && echo "$status: $note")"

    # anything lagoon/pgbouncer logged at WARNING or worse during the run
    local nwarn=0
    if [[ $t != direct ]]; then
        nwarn=$(tail -c +"$((off + 1))" "$TMP/log/$t.log" 2>/dev/null | grep -cE 'WARNING|ERROR|FATAL|PANIC')
    fi
    if [[ $sc == prep100 && $t == pgbouncer && $status == FAILED ]]; then
        :   # expected, and shown in the table
    elif [[ $status != ok ]] || (( failed > 0 )); then
        record_problem "$t" "$sc" "$rd" "$status rc=$rc failed=$failed aborted=$aborted" "$out" "$off"
    elif (( nwarn > 0 )); then
        record_problem "$t" "$sc" "$rd" "ok, but $nwarn WARNING/ERROR lines in its log" "$out" "$off"
    fi
    if (( ! alive )); then
        wait "${PID[$t]}" 2>/dev/null
        echo "    $t exit status $? (see problems below); restarting it" | tee -a "$PROBLEMS"
        PID[$t]=""
        start_pooler "$t" || note "$t failed to restart"
    fi
}

# --------------------------------------------------------------- header ----
for t in pgbouncer lagoon; do
    [[ " $TARGETS " == *" $t "* ]] || continue
    start_pooler "$t" || die "$t failed to start (log: $TMP/log/$t.log)"
done
declare -A RSS_START=()
sleep 0.5
for t in pgbouncer lagoon; do
    [[ -n "${PID[$t]:-}" ]] && RSS_START[$t]=$(status_kb "${PID[$t]}" VmRSS)
done

echo
echo "## lagoon vs PgBouncer vs direct — pgbench $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "- host: $(nproc) CPUs, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r); loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}'): fsync=off full_page_writes=off synchronous_commit=off autovacuum=off shared_buffers=256MB max_connections=$MAX_CONN; pgbench scale $SCALE"
echo "- PgBouncer $("$PGBOUNCER" --version 2>/dev/null | head -n1 | awk '{print $2}'), lagoon $("$LAGOON" --version 2>/dev/null | head -n1 | awk '{print $NF}') (git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD -- core 2>/dev/null || echo ', core/ modified')): pool_mode=transaction default_pool_size=$POOL_SIZE max_client_conn=$MAX_CLIENT_CONN auth_type=trust, no connection logging, TCP 127.0.0.1"
echo "- every run: pgbench -n -j 2 -T $SECS over TCP 127.0.0.1; $ROUNDS round(s), target order rotated each round; scenarios: $SCENARIOS"
echo "- CPU µs/tx = process CPU (utime+stime) ÷ transactions processed; PG = whole instance; busy = whole machine during the run, before = just before it (outside load)"
echo

# ----------------------------------------------------------------- runs ----
nt=${#TARGET_ARR[@]}
for ((rd = 1; rd <= ROUNDS; rd++)); do
    order=()
    for ((i = 0; i < nt; i++)); do order+=("${TARGET_ARR[$(((i + rd - 1) % nt))]}"); done
    echo "round $rd/$ROUNDS (order: ${order[*]})"
    for sc in $SCENARIOS; do
        for t in "${order[@]}"; do
            run_one "$rd" "$sc" "$t"
        done
    done
done

# ------------------------------------------------------------- syscalls ----
declare -a SYSCALL_LINES=()
# syscall_count SCENARIO TARGET: one summary line in SYSCALL_LINES
syscall_count() {
    local sc=$1 t=$2 args clients per st spid out tx
    args=$(scenario_args "$sc")
    clients=$(sed -E 's/.*-c ([0-9]+).*/\1/' <<<"$args")
    per=$(( clients >= 1000 ? 20 : clients >= 100 ? 100 : 1000 ))
    st=$TMP/strace-$sc-$t.txt
    strace -c -f -q -o "$st" -p "${PID[$t]}" 2>/dev/null &
    spid=$!
    sleep 0.5
    # shellcheck disable=SC2086
    out=$("$PGBENCH" -n $args -j 2 -t "$per" -h 127.0.0.1 -p "${PORT[$t]}" -U "$DBUSER" "$DBNAME" 2>&1)
    kill -INT "$spid" 2>/dev/null
    wait "$spid" 2>/dev/null
    tx=$(awk '/transactions actually processed/ {split($NF, a, "/"); print a[1]}' <<<"$out")
    if [[ -z "$tx" || "$tx" == 0 || ! -s "$st" ]]; then
        SYSCALL_LINES+=("- $sc $t: no count (pgbench or strace failed)")
        return
    fi
    SYSCALL_LINES+=("$(awk -v sc="$sc" -v t="$t" -v tx="$tx" '
        $1 ~ /^[0-9.]+$/ && $NF != "total" { k[++m] = $NF; n[m] = $4; tot += $4 }
        END {
            line = sprintf("- %s %s: %.2f system calls per transaction (%d transactions):", sc, t, tot / tx, tx)
            for (i = 1; i <= m; i++) if (n[i] / tx >= 0.01) line = line sprintf(" %s %.2f", k[i], n[i] / tx)
            print line }' "$st")")
}
if [[ -n "$SYSCALL_SCENARIOS" ]]; then
    for sc in $SYSCALL_SCENARIOS; do
        for t in pgbouncer lagoon; do
            [[ " $TARGETS " == *" $t "* && -n "${PID[$t]:-}" ]] && syscall_count "$sc" "$t"
        done
    done
fi

# --------------------------------------------------------------- memory ----
declare -A HWM=() IDLE_RES=()
for t in pgbouncer lagoon; do
    [[ -n "${PID[$t]:-}" ]] && HWM[$t]=$(status_kb "${PID[$t]}" VmHWM)
done

idle_test() {   # idle_test TARGET -> IDLE_RES[TARGET]
    local t=$1 before after outf i line n
    [[ -n "${PID[$t]:-}" ]] && kill -0 "${PID[$t]}" 2>/dev/null || { IDLE_RES[$t]="pooler not running"; return; }
    outf=$TMP/idle-$t.out
    # Restart the pooler first: after the 1000-client scenario its allocator
    # keeps the freed client memory, and idle clients would then cost ~0.
    kill "${PID[$t]}" 2>/dev/null
    for ((i = 0; i < 100; i++)); do kill -0 "${PID[$t]}" 2>/dev/null || break; sleep 0.1; done
    wait "${PID[$t]}" 2>/dev/null
    PID[$t]=""
    start_pooler "$t" || { IDLE_RES[$t]="pooler did not restart"; return; }
    sleep 0.5
    before=$(status_kb "${PID[$t]}" VmRSS)
    python3 "$BENCH_DIR/idle_clients.py" 127.0.0.1 "${PORT[$t]}" "$DBUSER" "$DBNAME" "$IDLE_CLIENTS" >"$outf" 2>&1 &
    IDLE_PID=$!
    line=""
    for ((i = 0; i < 1200; i++)); do
        line=$(grep -m1 '^ready' "$outf" 2>/dev/null)
        [[ -n "$line" ]] && break
        kill -0 "$IDLE_PID" 2>/dev/null || break
        sleep 0.1
    done
    sleep 1
    after=$(status_kb "${PID[$t]}" VmRSS)
    kill "$IDLE_PID" 2>/dev/null; wait "$IDLE_PID" 2>/dev/null; IDLE_PID=""
    if [[ -z "$line" ]]; then
        IDLE_RES[$t]="idle clients did not connect: $(tail -n 3 "$outf" | tr '\n' ' ')"
        record_problem "$t" "idle$IDLE_CLIENTS" "-" "idle clients did not all connect" "$outf" 0
        return
    fi
    n=$(awk '{print $2}' <<<"$line")
    IDLE_RES[$t]=$(awk -v a="$before" -v b="$after" -v n="$n" -v N="$IDLE_CLIENTS" -v l="$line" 'BEGIN{
        s = sprintf("%.2f KB RSS per idle client (VmRSS %.1f -> %.1f MB with %d idle clients)", (n>0 ? (b-a)/n : 0), a/1024, b/1024, n)
        if (n < N) s = s " — only " n "/" N " connected: " l
        print s }')
    if (( n < IDLE_CLIENTS )); then
        record_problem "$t" "idle$IDLE_CLIENTS" "-" "only $n of $IDLE_CLIENTS idle clients connected ($line)" "$outf" 0
    fi
}
if (( IDLE_CLIENTS > 0 )); then
    for t in pgbouncer lagoon; do
        [[ " $TARGETS " == *" $t "* ]] && idle_test "$t"
    done
fi

# -------------------------------------------------------------- summary ----
echo
echo "## Results"
python3 "$BENCH_DIR/summarize.py" "$RESULTS" "$DESCS" "$TARGETS"
awk -F'\t' 'NR > 1 && $16 ~ /^[0-9]+$/ {n++; v[n] = $16; if ($16 > mx) mx = $16}
    END { if (n) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
          printf "\nOutside load just before the runs (machine busy %%, no pgbench running): median %d %%, max %d %% over %d runs.\n", v[int((n + 1) / 2)], mx, n } }' "$RESULTS"
echo
echo "### Memory"
echo
for t in pgbouncer lagoon; do
    [[ " $TARGETS " == *" $t "* ]] || continue
    printf -- '- %s: RSS at start %s MB, peak (VmHWM) after the runs %s MB' "$t" \
        "$(awk -v k="${RSS_START[$t]:-0}" 'BEGIN{printf "%.1f", k/1024}')" \
        "$(awk -v k="${HWM[$t]:-0}" 'BEGIN{printf "%.1f", k/1024}')"
    if (( IDLE_CLIENTS > 0 )); then printf '; %s' "${IDLE_RES[$t]:-not measured}"; fi
    echo
done

if (( ${#SYSCALL_LINES[@]} )); then
    echo
    echo "### System calls per transaction (strace -c -f, pooler only)"
    echo
    printf '%s\n' "${SYSCALL_LINES[@]}"
fi

# pooler health at the end
for t in pgbouncer lagoon; do
    [[ " $TARGETS " == *" $t "* ]] || continue
    if [[ -z "${PID[$t]:-}" ]] || ! kill -0 "${PID[$t]}" 2>/dev/null; then
        echo "- $t is NOT running at the end" | tee -a "$PROBLEMS" >/dev/null
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
    echo "No problems seen (no failed/aborted transactions, hangs, crashes or pooler warnings)."
fi
if [[ -n "$RESULTS_COPY" ]]; then
    cp "$RESULTS" "$RESULTS_COPY" && echo "raw per-run results: $RESULTS_COPY"
fi
exit 0
