#!/usr/bin/env bash
# 040_cancel: a CancelRequest sent to the pooler (psql sends one on SIGINT)
# cancels the client's running query on its server within a few seconds,
# and a concurrent client's query is not affected.
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin

lg_start cancel "default_pool_size = 3
pool_mode = transaction" || bail "pooler did not start"

marker="cancel_me_$$"
# a bystander whose query must complete normally
lg_psql -c "select pg_sleep(4), 'bystander done' /* bystander_$$ */" > "$LG_DIR/by.out" 2>&1 &
bypid=$!

lg_psql_bg "$LG_DIR/victim.out" -c "select pg_sleep(30) /* $marker */"
vpid=$LG_BG_PID

# wait until the victim's query really runs on the primary
if lg_wait_for "[[ \$(lg_pg 0 -c \"select count(*) from pg_stat_activity where state = 'active' and query like '%$marker%' and pid <> pg_backend_pid()\") == 1 ]]" 15; then
    pass "the long query is running on the server"
else
    fail "the long query is running on the server"
fi

t0=$(date +%s%N)
kill -INT "$vpid"
deadline=$((SECONDS + 15))
while kill -0 "$vpid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.05; done
t1=$(date +%s%N)
ms=$(( (t1 - t0) / 1000000 ))
if kill -0 "$vpid" 2>/dev/null; then kill -KILL "$vpid"; diag "psql did not exit after SIGINT"; fi
wait "$vpid"; vrc=$?
cmp_ok "$ms" -lt 5000 "the cancelled client returns within 5 s (took $ms ms)"
isnt "$vrc" 0 "the cancelled query reports failure"
like "$(cat "$LG_DIR/victim.out")" 'canceling statement due to user request' \
    "the client gets 'canceling statement due to user request'"
is "$(lg_pg 0 -c "select count(*) from pg_stat_activity where state = 'active' and query like '%$marker%' and pid <> pg_backend_pid()")" 0 \
    "the query no longer runs on the server"

wait "$bypid"; byrc=$?
is "$byrc" 0 "the concurrent client's query succeeds"
like "$(cat "$LG_DIR/by.out")" 'bystander done' "the concurrent client gets its result"

# the server connection that ran the cancelled query is usable again
for i in 1 2 3 4 5 6; do lg_psql -c "select $i" >/dev/null 2>&1 || break; done
is "$i" 6 "six more clients are served after the cancel"

# cancel inside an explicit transaction block: the block is aborted, the
# client can roll back, and the pool is clean afterwards
cat > "$LG_DIR/xact.sql" <<EOF
begin;
select pg_sleep(30) /* ${marker}_x */;
EOF
lg_psql_bg "$LG_DIR/x.out" -f "$LG_DIR/xact.sql"
xpid=$LG_BG_PID
lg_wait_for "[[ \$(lg_pg 0 -c \"select count(*) from pg_stat_activity where state = 'active' and query like '%${marker}_x%' and pid <> pg_backend_pid()\") == 1 ]]" 15
t0=$(date +%s%N)
kill -INT "$xpid"
deadline=$((SECONDS + 15))
while kill -0 "$xpid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.05; done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
kill -KILL "$xpid" 2>/dev/null; wait "$xpid"
cmp_ok "$ms" -lt 5000 "a query inside BEGIN is cancelled within 5 s (took $ms ms)"
like "$(cat "$LG_DIR/x.out")" 'canceling statement due to user request' "and reports the cancel"
is "$(lg_psql -c 'select txid_current_if_assigned() is null, now() = statement_timestamp()')" "t|t" \
    "the next client does not find itself inside the cancelled transaction"

# a cancel request with a key nobody owns is ignored and harms nothing
lg_need python3
python3 "$LG_RAWPG" --port "$LG_PORT" cancel 12345 67890 >/dev/null 2>&1
is "$(lg_psql -c 'select 7')" 7 "a cancel request with an unknown key changes nothing"

lg_alive; ok $? "the pooler is still running"
done_testing
