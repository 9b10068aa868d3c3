#!/usr/bin/env bash
# 140_auth_query: users not in auth_file are looked up with auth_user +
# auth_query.  The query calls a SECURITY DEFINER function in a database
# of its own that logs every call into a table, so the test counts the
# queries lagoon really ran: a user is found and logs in (SCRAM secret from
# pg_authid), the cache makes the next logins run no query, a wrong
# password and an unknown user fail exactly like a wrong password for an
# auth_file user (and "not found" is cached too: no timing difference), a storm of concurrent logins of a new user is one query,
# and the pooler logs in to the server as the looked-up user with SCRAM
# pass-through.
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin
lg_need python3
lg_is_pgbouncer && skip_all "lagoon-specific setting auth_query_cache_ttl"

raw() { python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 10 "$@" 2>&1; }
login() { PGPASSWORD=$2 lg_psql -U "$1" -d "${3:-postgres}" -c "select current_user" 2>&1; }

sfx=$$
AQDB=lagoon_aq_$sfx AQAUTH=aq_auth_$sfx U1=aq_one_$sfx U2=aq_two_$sfx
lg_on_exit "lg_pg 0 -c 'DROP DATABASE IF EXISTS $AQDB' -c 'DROP ROLE IF EXISTS $U1' -c 'DROP ROLE IF EXISTS $U2' -c 'DROP ROLE IF EXISTS $AQAUTH' >/dev/null 2>&1"
lg_pg 0 -c "CREATE ROLE $AQAUTH LOGIN PASSWORD 'aq_auth_pass'" \
        -c "CREATE ROLE $U1 LOGIN PASSWORD 'one_pass'" \
        -c "CREATE ROLE $U2 LOGIN PASSWORD 'two_pass'" \
        -c "CREATE DATABASE $AQDB" || bail "cannot create the roles and database"
lg_pg 0 -d "$AQDB" -c "
CREATE TABLE public.aq_log (usename text, at timestamptz DEFAULT now());
CREATE FUNCTION public.aq_lookup(i_user text, OUT uname text, OUT phash text) RETURNS record
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS \$\$
BEGIN
    INSERT INTO public.aq_log (usename) VALUES (i_user);
    SELECT rolname, rolpassword FROM pg_catalog.pg_authid
     WHERE rolname = i_user AND rolcanlogin INTO uname, phash;
END \$\$;
REVOKE ALL ON FUNCTION public.aq_lookup(text) FROM public;
GRANT EXECUTE ON FUNCTION public.aq_lookup(text) TO $AQAUTH;" || bail "cannot create the lookup function"
# (step 5 logs in on replica 1: wait until it has replayed the new roles)
for ((i = 0; i < 600; i++)); do
    [[ "$(lg_pg 1 -c "select count(*) from pg_roles where rolname = '$U1'" 2>/dev/null)" == 1 ]] && break
    sleep 0.1
done
calls() { lg_pg 0 -d "$AQDB" -c "select count(*) from public.aq_log where usename = '$1'"; }
is "$(lg_pg 0 -c "select rolpassword like 'SCRAM-SHA-256\$%' from pg_authid where rolname = '$U1'")" t \
    "the looked-up user has a SCRAM secret on the server"

# (scram_user is left out of auth_file: auth_query finds its SCRAM secret)
LG_USERLIST="$(lg_default_userlist | grep -v '^"scram_user"')
\"$AQAUTH\" \"aq_auth_pass\""
LG_DATABASES_EXTRA="aqdb = host=127.0.0.1 port=$LG_PGPORT dbname=$AQDB"
lg_start aq "auth_type = md5
auth_user = $AQAUTH
auth_dbname = aqdb
auth_query = SELECT uname, phash FROM public.aq_lookup(\$1)
auth_query_cache_ttl = 600
auth_failure_limit = 0" || bail "pooler did not start"

is "$(login "$U1" one_pass)" "$U1" "a user found by auth_query logs in (SCRAM secret from pg_authid)"
is "$(calls "$U1")" 1 "one auth_query ran for it"
is "$(login "$U1" one_pass)" "$U1" "it logs in again"
is "$(login "$U1" one_pass replica1)" "$U1" "... and to another database (the replica) with the same secret"
is "$(calls "$U1")" 1 "the cache answered: still one query"

w=$(raw startup:"$U1":postgres auth:wrong | grep '^E')
a=$(raw startup:app:postgres auth:wrong | grep '^E')
u=$(raw startup:nosuch_$sfx:postgres auth:wrong | grep '^E')
is "$w" "E 28P01 password authentication failed for user \"$U1\"" "a wrong password for the looked-up user: 28P01"
is "${a/app/$U1}" "$w" "the same SQLSTATE and message as a wrong password for an auth_file user"
is "${u/nosuch_$sfx/$U1}" "$w" "... and as an unknown user"
is "$(calls nosuch_$sfx)" 1 "the unknown user cost one query"
u2=$(raw startup:nosuch_$sfx:postgres auth:wrong | grep '^E')
is "$u2" "$u" "a second try of the unknown user fails the same way"
is "$(calls nosuch_$sfx)" 1 "... without a query: \"not found\" is cached like a found user (no timing difference)"
out=$(raw startup:"$U1":postgres auth:one_pass read)
like "$out" $'^R 10\nR 11\nR 12\nR 0' "the SCRAM exchange is used for the looked-up SCRAM secret"

# scram_user: the shared cluster wants scram-sha-256 from it; its secret
# comes from auth_query only, so lagoon's server login works only by SCRAM
# pass-through with the keys of the client's exchange
is "$(login scram_user scram_pass)" scram_user \
    "scram_user (not in auth_file) logs in; lagoon logs in to the server, which wants SCRAM, by pass-through"
is "$(calls scram_user)" 1 "one auth_query for scram_user"

# a login storm of a user not seen yet: one query
pids=()
for i in 1 2 3 4 5 6 7 8; do
    PGPASSWORD=two_pass "$PSQL" -X -At -q -h 127.0.0.1 -p "$LG_PORT" -U "$U2" -d postgres \
        -c "select current_user" > "$LG_DIR/storm.$i" 2>&1 &
    pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
good=$(cat "$LG_DIR"/storm.* | grep -c "^$U2\$")
is "$good" 8 "8 concurrent logins of a new user succeed"
is "$(calls "$U2")" 1 "... with one auth_query"

# the pooler's own server logins as the looked-up user: the server wants a
# password for it now (a private rule in front would be needed to change
# the shared cluster's hba); pg_stat_activity shows the sessions as U1
is "$(lg_pg 0 -c "select count(*) > 0 from pg_stat_activity where usename = '$U1'")" t \
    "lagoon's server connections run as the looked-up user"

# the query runs with a pinned search_path: with an unqualified query and
# the auth_user's search_path putting a schema of its own before
# pg_catalog, the planted evil.pg_authid must not be read
lg_pg 0 -d "$AQDB" -c "CREATE SCHEMA evil" \
    -c "CREATE TABLE evil.pg_authid (rolname name, rolpassword text, rolcanlogin bool)" \
    -c "INSERT INTO evil.pg_authid VALUES ('$U1', 'hijacked', true)" \
    -c "ALTER ROLE postgres IN DATABASE $AQDB SET search_path = evil, pg_catalog" >/dev/null \
    || bail "cannot plant the evil schema"
is "$(lg_pg 0 -d "$AQDB" -c "select rolpassword from pg_authid where rolname = '$U1'")" hijacked \
    "(a plain session of postgres in that database does read evil.pg_authid)"
lg_stop_quiet "$LG_PID" "$LG_LOG" "$LG_DIR/aq.stdout"
lg_start aq2 "auth_type = md5
auth_user = postgres
auth_dbname = aqdb
auth_query = SELECT rolname, rolpassword FROM pg_authid WHERE rolname = \$1
auth_failure_limit = 0" || bail "pooler did not start"
is "$(login "$U1" one_pass)" "$U1" "an unqualified auth_query reads pg_catalog.pg_authid (search_path pinned)"
out=$(login "$U1" hijacked); like "$out" 'password authentication failed' "the planted secret does not work"
lg_alive; ok $? "the pooler is still running"
done_testing
