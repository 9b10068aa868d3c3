#!/usr/bin/env bash
# 050_bad_input: malformed and hostile clients.  Bad lengths, oversized and
# truncated packets, garbage, an unknown protocol version, SSL/GSS
# encryption requests, a client killed inside a transaction and the
# max_client_conn limit.  After each, the pooler is still running and a
# normal client still works.
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin
lg_need python3

lg_start bad "default_pool_size = 1
pool_mode = transaction
max_packet_size = 10000
client_login_timeout = 5" || bail "pooler did not start"

raw() { python3 "$LG_RAWPG" --port "$LG_PORT" --timeout "${RAW_TIMEOUT:-8}" "$@" 2>&1; }

# still_fine DESCRIPTION: the pooler survived and serves a normal client
n_fine=0
still_fine() {
    n_fine=$((n_fine + 1))
    if lg_alive && [[ "$(lg_psql -c "select $n_fine" 2>&1)" == "$n_fine" ]]; then
        pass "after $1: the pooler runs and serves a normal client"
    else
        fail "after $1: the pooler runs and serves a normal client"
    fi
}

# hex helpers
be32() { printf '%08x' "$1"; }
hexstr() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
startup_hex() { # USER DB -> a valid v3 StartupMessage
    local body
    body=00030000$(hexstr user)00$(hexstr "$1")00$(hexstr database)00$(hexstr "$2")0000
    echo "$(be32 $(( ${#body} / 2 + 4 )))$body"
}

# ---- a normal login with rawpg, as a baseline -----------------------------
out=$(raw startup:app:postgres read query:"select 6 * 7" read)
like "$out" $'Z I\n.*D 42\nC SELECT 1\nZ I' "baseline: a hand-made startup and query work"

# ---- length < 4 in the startup packet ------------------------------------
out=$(raw raw:00000003deadbeef readall)
like "$out" 'CLOSED' "a startup packet with length 3 gets the connection closed"
unlike "$out" 'R 0' "and is not logged in"
still_fine "a length-3 startup packet"

out=$(raw raw:00000000 readall)
like "$out" 'CLOSED' "a startup packet with length 0 gets the connection closed"
still_fine "a length-0 startup packet"

# ---- length < 4 in a regular message after login --------------------------
out=$(raw startup:app:postgres read raw:5100000002 readall)
like "$out" $'Z I\n(.*\n)?(E [0-9A-Z]{5} .*\n)?CLOSED' "a Query message with length 2 gets the client disconnected"
still_fine "a message with length 2"

# ---- length > max_packet_size ---------------------------------------------
out=$(raw startup:app:postgres read raw:51$(be32 100000000)$(hexstr "select 1") readall)
like "$out" $'Z I\n(.*\n)?CLOSED' "a Query message longer than max_packet_size gets the client disconnected"
diag "$out" | tail -n 2
still_fine "a message longer than max_packet_size"

out=$(raw raw:$(be32 2000000000)00030000 readall)
like "$out" 'CLOSED' "a 2 GB startup packet gets the connection closed"
unlike "$out" 'R 0' "and is not logged in"
still_fine "an oversized startup packet"

# ---- truncated startup packet, then the client goes away -----------------
full=$(startup_hex app postgres)
out=$(raw raw:${full:0:30} close)
still_fine "a truncated startup packet and a hang-up"
# truncated and silent: the pooler must time the client out (client_login_timeout = 5)
out=$(RAW_TIMEOUT=30 raw raw:${full:0:30} readall)
like "$out" 'CLOSED' "a client that stops half-way through its startup packet is disconnected"
still_fine "a silent truncated startup packet"

# ---- garbage ---------------------------------------------------------------
out=$(raw raw:$(hexstr $'GET / HTTP/1.1\r\nHost: x\r\n\r\n') readall)
like "$out" 'CLOSED' "an HTTP request is refused (connection closed)"
unlike "$out" 'R 0' "and is not logged in"
still_fine "HTTP garbage"
out=$(raw raw:$(head -c 4096 /dev/urandom | od -An -v -tx1 | tr -d ' \n') readall)
like "$out" 'CLOSED' "4 KB of random bytes get the connection closed"
still_fine "random bytes"
# a startup packet without the terminating zero / with an odd key
out=$(raw raw:$(be32 17)00030000$(hexstr user)00$(hexstr app) readall)
like "$out" '(E [0-9A-Z]{5} .*)?CLOSED' "a startup packet with an unterminated parameter is refused"
unlike "$out" 'R 0' "and is not logged in"
still_fine "an unterminated startup parameter"
# a startup packet without a user
out=$(raw raw:$(be32 22)00030000$(hexstr database)00$(hexstr postgres)0000 readall)
like "$out" 'E [0-9A-Z]{5} ' "a startup packet without a user name gets an ErrorResponse"
unlike "$out" 'R 0' "and is not logged in"
still_fine "a startup packet without a user"

# ---- unknown protocol version ---------------------------------------------
out=$(raw startup:app:postgres:9.9 readall)
like "$out" 'E [0-9A-Z]{5} .*protocol' "protocol version 9.9 gets an ErrorResponse that mentions the protocol"
unlike "$out" 'R 0' "and is not logged in"
diag "$out"
still_fine "an unknown protocol version"
out=$(raw startup:app:postgres:2.0 readall)
like "$out" 'E [0-9A-Z]{5} ' "protocol version 2.0 gets an ErrorResponse"
still_fine "protocol version 2.0"

# ---- encryption requests --------------------------------------------------
out=$(raw ssl startup:app:postgres read query:"select 'after ssl'" read)
like "$out" '^BYTE N' "SSLRequest is answered 'N' (no TLS configured)"
like "$out" 'D after ssl' "the client can log in on the same connection after 'N'"
out=$(raw gss startup:app:postgres read query:"select 'after gss'" read)
like "$out" '^BYTE N' "GSSENCRequest is answered 'N'"
like "$out" 'D after gss' "the client can log in on the same connection after 'N'"
still_fine "SSL and GSS requests"

# ---- a client killed inside a transaction ---------------------------------
lg_psql -c "drop table if exists bad_input_t; create table bad_input_t (v text)" 2>/dev/null
fifo=$LG_DIR/psql.fifo
mkfifo "$fifo"
lg_psql_bg "$LG_DIR/killed.out" -f "$fifo"
killpid=$LG_BG_PID
exec 7>"$fifo"
echo "begin; insert into bad_input_t values ('must never commit'); select 'in transaction';" >&7
if lg_wait_for "grep -q 'in transaction' '$LG_DIR/killed.out'" 15; then
    pass "a client opened a transaction and inserted a row"
else
    fail "a client opened a transaction and inserted a row"; diag_file "$LG_DIR/killed.out"
fi
is "$(lg_pg 0 -c "select count(*) from pg_stat_activity where state = 'idle in transaction' and usename = 'app' and query like '%in transaction%'")" 1 \
    "its server connection is idle in transaction"
kill -KILL "$killpid"; wait "$killpid" 2>/dev/null
exec 7>&-
# the only server connection (pool_size 1) must come back clean
out=$(lg_psql -c "select txid_current_if_assigned() is null, now() = statement_timestamp(), (select count(*) from bad_input_t)")
is "$out" "t|t|0" "the next client is not inside the killed client's transaction and sees no row"
lg_wait_for "[[ \$(lg_pg 0 -c \"select count(*) from pg_stat_activity where state like 'idle in transaction%' and usename = 'app'\") == 0 ]]" 10
is "$(lg_pg 0 -c "select count(*) from bad_input_t")" 0 "the killed client's insert was never committed"
out=$(lg_psql -c "insert into bad_input_t values ('ok')" -c "select count(*) from bad_input_t")
is "$out" 1 "the pool's server connection commits new work normally"
still_fine "a client killed inside a transaction"

# ---- max_client_conn -------------------------------------------------------
lg_admin "SHOW VERSION" >/dev/null 2>&1   # admin works before the limit
lg_start maxconn "default_pool_size = 2
max_client_conn = 3" || bail "second pooler did not start"
holders=()
for i in 1 2 3; do
    python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 60 startup:app:postgres read sleep:60 > "$LG_DIR/hold.$i" 2>&1 &
    holders+=($!)
done
for i in 1 2 3; do lg_wait_for "grep -q 'Z I' '$LG_DIR/hold.$i'" 15; done
is "$(cat "$LG_DIR"/hold.* | grep -c 'Z I')" 3 "three clients are logged in (max_client_conn = 3)"
out=$(lg_psql -c "select 1" 2>&1); rc=$?
isnt "$rc" 0 "a fourth client is refused"
like "$out" 'no more connections allowed \(max_client_conn\)' "with 'no more connections allowed (max_client_conn)'"
kill "${holders[@]}" 2>/dev/null; wait "${holders[@]}" 2>/dev/null
lg_wait_for '[[ $(lg_psql -c "select 5" 2>/dev/null) == 5 ]]' 10
is "$(lg_psql -c 'select 5' 2>&1)" 5 "a client is accepted again once the others left"
lg_alive; ok $? "the second pooler is still running"

done_testing
