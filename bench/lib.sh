# bench/lib.sh - what bench.sh and routing.sh share: the environment of
# the client programs, the OS user servers run as, and the /proc readings
# behind the CPU and busy figures.  Sourced; defines functions only.
# shellcheck shell=bash

# Client environment variables of the caller must not redirect pgbench/psql.
bench_client_env() {
    unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGPASSWORD PGPASSFILE \
          PGSERVICE PGSERVICEFILE PGOPTIONS PGTARGETSESSIONATTRS PGAPPNAME \
          PGDATA 2>/dev/null || true
    export PGSSLMODE=disable PGGSSENCMODE=disable PGCONNECT_TIMEOUT=30
}

# PostgreSQL refuses root: as root, servers and poolers run as "postgres".
# Sets RUNUSER, POOLER_USER_OPT and as_pg; raises the fd limit for 1000 clients.
bench_run_as() {
    if [[ $(id -u) -eq 0 ]]; then
        RUNUSER=postgres
        id "$RUNUSER" >/dev/null 2>&1 || die "running as root needs the OS user 'postgres'"
        as_pg() { runuser -u "$RUNUSER" -- "$@"; }
        POOLER_USER_OPT=(-u "$RUNUSER")
    else
        RUNUSER=$(id -un)
        as_pg() { "$@"; }
        POOLER_USER_OPT=()
    fi
    ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

machine_ticks() {    # "busy total" from /proc/stat
    awk '/^cpu /{t=0; for (i=2;i<=NF;i++) t+=$i; print t-$5-$6, t; exit}' /proc/stat
}

proc_cpu_ticks() {   # utime+stime of one process (all threads)
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -; return; }
    s=${s##*) }
    awk '{print $12 + $13}' <<<"$s"
}

quiet_gate() {       # wait (at most GATE_WAIT s) until the machine is < 25 % busy
    local a b i busy=100
    for ((i = 0; i < GATE_WAIT; i++)); do
        a=$(machine_ticks); sleep 1; b=$(machine_ticks)
        busy=$(awk -v a="$a" -v b="$b" 'BEGIN{split(a,x," "); split(b,y," "); d=y[2]-x[2]; printf "%.0f", (d > 0 ? 100*(y[1]-x[1])/d : 0)}')
        (( busy < 25 )) && break
    done
    echo "$busy"
}
