#!/usr/bin/env bash
# 080_params: client_encoding, DateStyle, TimeZone and application_name given
# at startup (PGCLIENTENCODING, PGDATESTYLE, PGTZ, PGAPPNAME, PGOPTIONS) are
# in force on whatever server connection serves each transaction: two
# clients with different values interleave transactions over pool_size = 1.
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin

lg_start params "default_pool_size = 1
pool_mode = transaction" || bail "pooler did not start"

probe="current_setting('client_encoding') || '|' || current_setting('TimeZone') || '|' ||
       current_setting('DateStyle') || '|' || current_setting('application_name') || '|' ||
       '2020-01-02 03:04:05+00'::timestamptz::text || '|' || '2020-03-04'::date::text"
{
    for i in $(seq 1 15); do
        echo "begin; select $probe || '|' || pg_backend_pid(); select pg_sleep(0.03); commit;"
        echo "select $probe || '|' || pg_backend_pid();"
    done
} > "$LG_DIR/probe.sql"

# expected: the same settings on a direct connection to the primary
direct() { "$PSQL" -X -At -q -h 127.0.0.1 -p "$LG_PGPORT" -U app -d postgres -c "select $probe"; }

# run_pair NAME_A ENV_A NAME_B ENV_B: both clients at once through the pooler
run_pair() {
    local na=$1 ea=$2 nb=$3 eb=$4 exp_a exp_b pa pb
    exp_a=$(env $ea bash -c "$(declare -f direct); PSQL=$PSQL LG_PGPORT=$LG_PGPORT probe=\"\$0\" direct" "$probe")
    exp_b=$(env $eb bash -c "$(declare -f direct); PSQL=$PSQL LG_PGPORT=$LG_PGPORT probe=\"\$0\" direct" "$probe")
    isnt "$exp_a" "$exp_b" "$na and $nb expect different settings ($exp_a) vs ($exp_b)"
    env $ea PGPASSWORD=app_pass "$PSQL" -X -At -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$LG_PORT" -U app -d postgres \
        -f "$LG_DIR/probe.sql" > "$LG_DIR/$na.out" 2>&1 &
    pa=$!
    env $eb PGPASSWORD=app_pass "$PSQL" -X -At -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$LG_PORT" -U app -d postgres \
        -f "$LG_DIR/probe.sql" > "$LG_DIR/$nb.out" 2>&1 &
    pb=$!
    wait "$pa"; local ra=$?
    wait "$pb"; local rb=$?
    is "$ra/$rb" "0/0" "$na and $nb both finish without error" || { diag_file "$LG_DIR/$na.out" 5; diag_file "$LG_DIR/$nb.out" 5; }
    local n name exp bad
    for name in "$na" "$nb"; do
        [[ $name == "$na" ]] && exp=$exp_a || exp=$exp_b
        n=$(grep -c '|' "$LG_DIR/$name.out")
        is "$n" 30 "$name ran 30 transactions"
        bad=$(grep '|' "$LG_DIR/$name.out" | sed 's/|[0-9]*$//' | grep -vxF -- "$exp" | head -n 3)
        (( n > 0 )) || bad="(no output)"
        is "$bad" "" "$name saw its own settings in every transaction ($exp)"
    done
    local pids
    pids=$(cat "$LG_DIR/$na.out" "$LG_DIR/$nb.out" | grep '|' | awk -F'|' '{ print $NF }' | sort -u | wc -l)
    is "$pids" 1 "$na and $nb shared the one server connection (pool_size = 1)"
}

run_pair clientA "PGCLIENTENCODING=LATIN1 PGTZ=America/New_York PGDATESTYLE=ISO,MDY PGAPPNAME=clientA" \
         clientB "PGCLIENTENCODING=UTF8 PGTZ=Asia/Tokyo PGDATESTYLE=SQL,DMY PGAPPNAME=clientB"

run_pair clientC "PGCLIENTENCODING=EUC_JP PGTZ=Europe/Berlin PGDATESTYLE=German PGAPPNAME=clientC" \
         clientD "PGOPTIONS=-cDateStyle=Postgres,YMD PGTZ=Pacific/Auckland PGAPPNAME=clientD"

# a SET by one client is not seen by the other after the server moved
out=$(PGTZ=UTC lg_psql -c "set timezone = 'Asia/Kolkata'" -c "select current_setting('TimeZone')")
is "$out" "Asia/Kolkata" "a client's own SET TimeZone is kept for its next transaction"
out=$(PGTZ=America/Sao_Paulo lg_psql -c "select current_setting('TimeZone')")
is "$out" "America/Sao_Paulo" "the next client on the same server gets its own TimeZone, not the previous client's SET"

lg_alive; ok $? "the pooler is still running"
done_testing
