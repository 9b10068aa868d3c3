#!/usr/bin/env bash
# 190_bad_plugin: routing plugins that answer garbage, under pgbench load
# (shared cluster, not destructive).
#
# db gb uses tests/plugins/garbage.c (every answer invalid: unknown
# verdicts, ids out of range or no candidate, error codes, unterminated
# reasons, a scribbled decision); db ar uses all_replica.c (the first
# replica for everything).  pgbench runs a mix of writes and reads on both.
# The servers are the ground truth: every row written carries the port and
# pg_is_in_recovery() of where it ran, and the replicas' own logs must not
# hold a single statement on this test's table that a replica refused
# (lagoon's transparent retry would hide it from the client).  gb's circuit
# breaker opens (SHOW PLUGINS state off, the log says so), and everything
# keeps working on the primary.
. "$(dirname "$0")/lib.sh"
lg_setup pgbench
lg_plugins garbage all_replica
T=lg190_t_$$
lg_pg 0 -c "create table $T (id bigserial primary key, db text, port int, rec bool);
            grant all on $T, ${T}_id_seq to app" >/dev/null || bail "could not create $T"
lg_on_exit 'lg_pg 0 -c "drop table if exists $T" >/dev/null 2>&1'
"$LG_PGCLUSTER" wait-catchup "$LG_CLUSTER_DIR" 20 >/dev/null 2>&1 || diag "wait-catchup failed"
# where the replicas log (a refused write shows up there with its statement)
declare -A rlog_size=()
for n in 1 2; do
    f=$LG_CLUSTER_DIR/logs/node$n.log
    rlog_size[$n]=$(stat -c %s "$f" 2>/dev/null || echo -1)
done

CL="host=127.0.0.1 port=$P0,$P1,$P2 dbname=postgres"
LG_DATABASES_EXTRA="gb = $CL router=garbage
ar = $CL router=all_replica"
lg_start badplugin "plugin_dir = $PLUGDIR
monitor_interval = 200" || bail "pooler did not start"
lg_wait_for '[[ $(lg_show_col "SHOW BACKENDS" state database gb | grep -c "^up$") == 3 ]]' 15
ok $? "gb: the three backends are up"

for db in gb ar; do
    cat > "$LG_DIR/$db.sql" <<EOF
insert into $T (db, port, rec) values ('$db', inet_server_port(), pg_is_in_recovery());
select count(*) from $T where db = '$db';
with x as (select 1) select * from x;
begin;
update $T set port = inet_server_port() where id = (select max(id) from $T where db = '$db');
commit;
select pg_is_in_recovery();
EOF
    PGPASSWORD=app_pass "$PGBENCH" -n -h 127.0.0.1 -p "$LG_PORT" -U app -f "$LG_DIR/$db.sql" \
        -c 3 -j 1 -T 12 -R 100 "$db" > "$LG_DIR/load-$db.out" 2>&1 &
    eval "load_$db=\$!"
done
lg_on_exit "kill $load_gb $load_ar 2>/dev/null"
# a session of reads on ar, to see all_replica in charge of reads
reads=$(for i in $(seq 1 20); do lg_psql -d ar -c "select inet_server_port()"; done 2>&1)
cmp_ok "$(grep -c -E "^($P1|$P2)\$" <<<"$reads")" -ge 15 "ar: reads run on the replicas (all_replica is in charge)"
for db in gb ar; do
    pid_var=load_$db
    wait "${!pid_var}"; rc=$?
    out=$LG_DIR/load-$db.out
    lg_bench_counts "$out"
    is "$rc/$BENCH_FAILED" 0/0 "$db: pgbench with writes and reads under the bad plugin: exit 0, 0 failed ($BENCH_N transactions)" \
        || diag_file "$out" 15
    cmp_ok "$BENCH_N" -ge 100 "$db: transactions were processed ($BENCH_N)"
done

# ---- the servers' view ----------------------------------------------------------
is "$(lg_pg 0 -c "select count(*) from $T where rec or port <> $P0")" 0 \
    "every row written (and updated) ran on the primary, not in recovery"
cmp_ok "$(lg_pg 0 -c "select count(*) from $T")" -ge 200 "the primary holds the rows ($(lg_pg 0 -c "select count(*) from $T"))"
for n in 1 2; do
    f=$LG_CLUSTER_DIR/logs/node$n.log
    if [[ ${rlog_size[$n]} -lt 0 || ! -r "$f" ]]; then
        fail "replica $n's log $f is readable (the ground truth that no write reached it)"
        continue
    fi
    hits=$(tail -c +"$((rlog_size[$n] + 1))" "$f" | grep -c -i -E "(insert into|update) $T")
    is "$hits" 0 "replica $n's log holds no write on $T (no write reached it)" \
        || diag "$(tail -c +"$((rlog_size[$n] + 1))" "$f" | grep -i -B2 "$T" | head)"
done

# ---- the breaker ------------------------------------------------------------------
state_of() { lg_show_col "SHOW PLUGINS" state database "$1"; }
is "$(state_of gb)" off "gb: the garbage plugin's circuit breaker is open (SHOW PLUGINS state off)"
is "$(state_of ar)" ok "ar: all_replica (valid answers) is still on"
like "$(cat "$LG_LOG")" 'router .*gb.*SWITCHED OFF after 16 consecutive failures' "gb: the log says the plugin was switched off"
ov=$(lg_show_col "SHOW PLUGINS" overruled database gb); er=$(lg_show_col "SHOW PLUGINS" errors database gb)
is "$((ov + er))" 16 "gb: exactly 16 answers were overruled or errors before the breaker opened ($ov overruled, $er errors)"
off=$(lg_admin_hdr "SHOW ROUTING" | awk -F'|' 'NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
      $h["database"] == "gb" && $h["reason"] == "off" { n += $h["count"] } END { print n + 0 }')
cmp_ok "$off" -ge 50 "gb: after that, reads run on the primary with reason off ($off)"
lg_alive; ok $? "the pooler is still running"
done_testing
