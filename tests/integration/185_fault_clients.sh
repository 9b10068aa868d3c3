#!/usr/bin/env bash
# 185_fault_clients: misbehaving clients and config reloads while pgbench
# load runs through the same pool (shared cluster, not destructive).
#
# The load: pgbench (4 clients, transactions of INSERT + SELECT) on a pool
# of 2 server connections, so every server is reused all the time; a
# server handed on dirty (inside a transaction, or with half a message on
# its wire) would make pgbench fail.  Meanwhile:
#   - clients killed (-9) inside a transaction, with and without half a
#     message sent: their rows never commit, their server backends do not
#     stay behind (rolled back and reused, or closed);
#   - a client that sends half a message inside a transaction and stalls:
#     query_timeout (or idle_transaction_timeout, when lagoon holds the
#     half message) ends it with a clear error, its server is closed;
#   - silent logins (nothing sent, half a startup packet, no answer to the
#     password request): client_login_timeout closes every one of them;
#   - RELOAD and SIGHUP of a changed file, then RELOAD of a broken file
#     (which keeps the old config and says why).
# At the end pgbench reports zero failed transactions.
. "$(dirname "$0")/lib.sh"
lg_setup python3 pgbench

T=lg185_t_$$
LOGIN_TMO=3
QT=4
lg_pg 0 -c "create table $T (id bigserial primary key, v bigint, tag text);
            grant all on $T, ${T}_id_seq to app" >/dev/null || bail "could not create $T"
lg_on_exit 'lg_pg 0 -c "drop table if exists $T" >/dev/null 2>&1'

LG_DATABASES_EXTRA="fc = host=127.0.0.1 port=$P0 dbname=postgres pool_size=2"
lg_start faults "auth_type = md5
client_login_timeout = $LOGIN_TMO
query_timeout = $QT
idle_transaction_timeout = $QT
query_wait_timeout = 30" || bail "pooler did not start"

raw() { python3 "$LG_RAWPG" --port "$LG_PORT" "$@" 2>&1; }
hexstr() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
be32() { printf '%08x' "$1"; }
# half_q MARKER: the first bytes of a Query message announcing 200 bytes
half_q() { echo "51$(be32 200)$(hexstr "insert into $T (tag) values ('$1'")"; }
# backends_with MARKER: server backends on the primary whose last query has MARKER
backends_with() {
    lg_pg 0 -c "select count(*) from pg_stat_activity where query like '%$1%' and pid <> pg_backend_pid()"
}
rows_with() { lg_pg 0 -c "select count(*) from $T where tag = '$1'"; }
faults=0

# ---- the load ----------------------------------------------------------------
cat > "$LG_DIR/load.sql" <<EOF
\set v random(1, 1000000000)
begin;
insert into $T (v, tag) values (:v, 'load');
select count(*) from $T where v = :v;
commit;
EOF
PGPASSWORD=app_pass "$PGBENCH" -n -h 127.0.0.1 -p "$LG_PORT" -U app -f "$LG_DIR/load.sql" \
    -c 4 -j 2 -T 35 -R 200 fc > "$LG_DIR/load.out" 2>&1 &
load_pid=$!
lg_on_exit "kill $load_pid 2>/dev/null"
lg_wait_for "[[ \$(lg_pg 0 -c \"select count(*) from $T\") -gt 20 ]]" 20
ok $? "pgbench load runs through the pool of 2 server connections"

# ---- (a) clients killed -9 inside a transaction ------------------------------
# a) after a complete INSERT; b) with half of the next message sent
for kind in whole half; do
    m=lg185_${kind}_$$
    steps=(startup:app:fc auth:app_pass read query:begin read
           query:"insert into $T (tag) values ('$m')" read)
    [[ $kind == half ]] && steps+=(raw:"$(half_q "${m}_h")")
    python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 60 "${steps[@]}" sleep:60 > "$LG_DIR/kill-$kind.out" 2>&1 &
    kpid=$!
    if lg_wait_for "grep -q 'C INSERT' '$LG_DIR/kill-$kind.out'" 20; then
        pass "kill/$kind: a client inserted a row inside a transaction under load"
    else
        fail "kill/$kind: a client inserted a row inside a transaction under load"; diag_file "$LG_DIR/kill-$kind.out"
    fi
    sleep 0.5
    kill -KILL "$kpid"; wait "$kpid" 2>/dev/null
    faults=$((faults + 1))
    lg_wait_for "[[ \$(backends_with $m) == 0 ]]" 15
    is "$(backends_with "$m")" 0 "kill/$kind: no server backend is left holding the killed client's transaction"
    is "$(rows_with "$m")/$(rows_with "${m}_h")" 0/0 "kill/$kind: the killed client's rows never committed"
done

# ---- (b) half a message inside a transaction, then silence -------------------
m=lg185_stall_$$
t0=$SECONDS
out=$(python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 30 startup:app:fc auth:app_pass read \
      query:begin read query:"insert into $T (tag) values ('$m')" read \
      raw:"$(half_q "${m}_h")" readall)
dt=$((SECONDS - t0))
faults=$((faults + 1))
# (lagoon either forwarded the half message, and query_timeout applies, or
# holds it until it is whole, and the server is idle in a transaction)
like "$out" 'E (57014 .*query_timeout|25P03 .*idle_transaction_timeout)'$'\n''CLOSED' \
    "stall: a client stalled half-way through a message gets query_timeout or idle_transaction_timeout and is closed"
cmp_ok "$dt" -le $((QT + 15)) "stall: ... within that timeout ($QT s) + a margin (${dt} s)"
lg_wait_for "[[ \$(backends_with $m) == 0 ]]" 15
is "$(backends_with "$m")" 0 "stall: its server backend (half a message on its wire) is gone, not reused"
is "$(rows_with "$m")" 0 "stall: the stalled client's transaction never committed"

# ---- (c) silent logins --------------------------------------------------------
startup_hex=$(python3 -c 'import struct,sys
b=struct.pack("!hh",3,0)+b"user\0app\0database\0fc\0\0"
sys.stdout.write((struct.pack("!i",len(b)+4)+b).hex())')
pids=()
t0=$SECONDS
for i in $(seq 1 10); do
    raw --timeout 40 readall > "$LG_DIR/silent-nothing.$i" &
    pids+=($!)
    raw --timeout 40 raw:"${startup_hex:0:20}" readall > "$LG_DIR/silent-half.$i" &
    pids+=($!)
    raw --timeout 40 startup:app:fc readall > "$LG_DIR/silent-auth.$i" &
    pids+=($!)
done
sleep 1
is "$(lg_psql -d fc -c 'select 42' 2>&1)" 42 "login: a normal client logs in while 30 silent logins are pending"
wait "${pids[@]}"
dt=$((SECONDS - t0))
faults=$((faults + 30))
is "$(cat "$LG_DIR"/silent-*.* | grep -c '^CLOSED$')" 30 "login: client_login_timeout closed all 30 silent logins"
is "$(cat "$LG_DIR"/silent-auth.* | grep -c '^R 5$')" 10 "login: the ones that sent a startup packet were asked for an MD5 password"
is "$(cat "$LG_DIR"/silent-*.* | grep -c '^R 0$')" 0 "login: none of them was let in"
cmp_ok "$dt" -le $((LOGIN_TMO + 15)) "login: ... within client_login_timeout ($LOGIN_TMO s) + a margin (${dt} s)"
like "$(cat "$LG_DIR"/silent-auth.*)" 'client_login_timeout' "login: the error names client_login_timeout"

# ---- (d) RELOAD and SIGHUP under load, then a broken file ---------------------
cfg() { lg_show_col "SHOW CONFIG" value key "$1"; }
cp "$LG_INI" "$LG_DIR/good.ini"
sed -i 's/^default_pool_size = .*/default_pool_size = 7/' "$LG_INI"
out=$(lg_admin "RELOAD" 2>&1); rc=$?
is "$rc" 0 "reload: RELOAD of a changed file under load succeeds" || diag "$out"
is "$(cfg default_pool_size)" 7 "reload: the new default_pool_size is in force"
sed -i 's/^default_pool_size = .*/default_pool_size = 6/' "$LG_INI"
kill -HUP "$LG_PID"
lg_wait_for '[[ $(cfg default_pool_size) == 6 ]]' 10
ok $? "reload: SIGHUP under load applies the file"
for i in 1 2 3 4 5; do lg_admin "RELOAD" >/dev/null 2>&1; kill -HUP "$LG_PID"; sleep 0.2; done
cp "$LG_INI" "$LG_DIR/good.ini"
printf '[databases\nfc = host=127.0.0.1 port=%s dbname=postgres pool_size=nope\n' "$P0" >> "$LG_INI"
out=$(lg_admin "RELOAD" 2>&1); rc=$?
faults=$((faults + 1))
isnt "$rc" 0 "reload: RELOAD of a broken file fails" || diag "$out"
like "$out" 'ERROR' "reload: ... with an error to the admin ($out)"
is "$(cfg default_pool_size)" 6 "reload: the old config stays in force"
kill -HUP "$LG_PID"; sleep 0.5
lg_alive; ok $? "reload: the pooler survives SIGHUP of the broken file"
cp "$LG_DIR/good.ini" "$LG_INI"
is "$(lg_admin RELOAD 2>&1; echo $?)" 0 "reload: the repaired file reloads"

# ---- the load's verdict --------------------------------------------------------
wait "$load_pid"; rc=$?
is "$rc" 0 "pgbench under all of this exits 0" || diag_file "$LG_DIR/load.out" 20
lg_bench_counts "$LG_DIR/load.out"
is "$BENCH_FAILED" 0 "pgbench: zero failed transactions"
cmp_ok "$BENCH_N" -gt 100 "pgbench: transactions were processed ($BENCH_N)"
is "$(rows_with load)" "$BENCH_N" "pgbench: every acknowledged transaction's row is on the primary, none twice"
cmp_ok "$(lg_server_count fc)" -le 2 "the pool holds at most its 2 server connections (no leak)" || lg_admin_hdr "SHOW SERVERS"
diag "faults injected and survived: $faults"
lg_alive; ok $? "the pooler is still running"
done_testing
