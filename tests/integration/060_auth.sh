#!/usr/bin/env bash
# 060_auth: client authentication (md5 and scram-sha-256 against plaintext,
# md5 and SCRAM secrets in auth_file), the errors for a wrong password, an
# unknown user and an unknown database, and the pooler's own logins to the
# server as scram_user (SCRAM) and md5_user (md5) with the password from the
# [databases] line or from auth_file.
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin
lg_need python3

raw() { python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 10 "$@" 2>&1; }
# login USER PASSWORD [DB]: psql through the pooler, prints current_user or the error
login() { PGPASSWORD=$2 lg_psql -U "$1" -d "${3:-postgres}" -c "select current_user" 2>&1; }

# ---- auth_type = md5 --------------------------------------------------------
# scram_repl: the first replica, which (like the primary) wants
# scram-sha-256 from scram_user; scram_user's auth_file entry is the SCRAM
# secret, so lagoon can log in there only by SCRAM pass-through
LG_DATABASES_EXTRA="scram_repl = host=127.0.0.1 port=$((LG_PGPORT + 1)) dbname=postgres"
lg_start md5 "auth_type = md5" || bail "pooler did not start"
unset LG_DATABASES_EXTRA

is "$(login app app_pass)" app "md5: a plaintext auth_file entry accepts the right password"
is "$(login md5_user md5_pass)" md5_user "md5: an md5 auth_file secret accepts the right password (and the server md5 login works)"
is "$(login scram_user scram_pass)" scram_user "md5: a SCRAM auth_file secret accepts the right password (SCRAM to the client and to the server)"
out=$(PGPASSWORD=scram_pass lg_psql -U scram_user -d scram_repl -c "select current_user, pg_is_in_recovery()" 2>&1)
is "$out" "scram_user|t" "SCRAM pass-through: scram_user (SCRAM secret only) logs in through lagoon to a replica that requires scram-sha-256"
is "$(lg_pg 1 -c "select count(*) > 0 from pg_stat_activity where usename = 'scram_user' and client_addr = '127.0.0.1'")" t \
    "... the replica shows lagoon's scram_user session"
is "$(LG_HOST=$LG_SOCKDIR login md5_user md5_pass)" md5_user "md5: md5_user logs in over the Unix socket too"

out=$(login app wrong_pass); like "$out" 'password authentication failed for user "app"' "md5: a wrong password (plaintext entry) is refused"
out=$(login md5_user wrong_pass); like "$out" 'password authentication failed for user "md5_user"' "md5: a wrong password (md5 entry) is refused"
out=$(login scram_user wrong_pass); like "$out" 'password authentication failed for user "scram_user"' "md5: a wrong password (SCRAM entry) is refused"
out=$(login nosuch_user whatever); like "$out" 'password authentication failed for user "nosuch_user"' "md5: an unknown user gets the same error as a wrong password"

out=$(raw startup:app:postgres auth:wrong_pass)
like "$out" 'E 28P01 password authentication failed' "md5: a wrong password is SQLSTATE 28P01"
out=$(raw startup:nosuch_user:postgres auth:whatever)
like "$out" 'E 28P01 password authentication failed' "md5: an unknown user is SQLSTATE 28P01"
out=$(raw startup:md5_user:postgres auth:md5_pass read query:"select current_user" read)
like "$out" $'R 5\nR 0\n.*D md5_user' "md5: the md5 challenge is used for an md5 secret"
out=$(raw startup:scram_user:postgres auth:scram_pass read query:"select current_user" read)
like "$out" $'R 10\nR 11\nR 12\nR 0\n.*D scram_user' "md5: SCRAM is used for a SCRAM secret"

out=$(login app app_pass nosuch_db)
like "$out" '(database "nosuch_db" does not exist|no such database: nosuch_db)' "an unknown database is refused with a message naming it"
out=$(raw startup:app:nosuch_db auth:app_pass)
like "$out" 'E 3D000 ' "an unknown database is SQLSTATE 3D000"
diag "$out"

# the pooler logs in to the server with the password from the [databases] line
is "$(login app app_pass scram_line)" scram_user "the pooler logs in as scram_user (server: scram-sha-256) with the password from the database line"
is "$(login app app_pass md5_line)" md5_user "the pooler logs in as md5_user (server: md5) with the password from the database line"
lg_alive; ok $? "the pooler is still running"

# ---- auth_type = scram-sha-256 ------------------------------------------------
lg_start scram "auth_type = scram-sha-256" || bail "scram pooler did not start"
is "$(login scram_user scram_pass)" scram_user "scram: a SCRAM auth_file secret accepts the right password"
is "$(login app app_pass)" app "scram: a plaintext auth_file entry accepts the right password"
out=$(raw startup:app:postgres auth:app_pass)
like "$out" $'^R 10\nR 11\nR 12\nR 0' "scram: the client is asked for SCRAM-SHA-256"
out=$(login scram_user wrong_pass); like "$out" 'password authentication failed for user "scram_user"' "scram: a wrong password is refused"
out=$(raw startup:scram_user:postgres auth:wrong_pass)
like "$out" 'E 28P01 ' "scram: a wrong password is SQLSTATE 28P01"
out=$(login md5_user md5_pass)
isnt "$out" md5_user "scram: an md5 secret cannot be used for SCRAM, the login fails"
out=$(login nosuch_user whatever); like "$out" 'password authentication failed for user "nosuch_user"' "scram: an unknown user is refused with the same error"
lg_alive; ok $? "the scram pooler is still running"

# ---- server passwords from auth_file (plaintext entries) -----------------------
LG_USERLIST='"app" "app_pass"
"admin" "admin_pass"
"scram_user" "scram_pass"
"md5_user" "md5_pass"'
LG_DATABASES_EXTRA="scram_af = host=127.0.0.1 port=$LG_PGPORT dbname=postgres user=scram_user
md5_af = host=127.0.0.1 port=$LG_PGPORT dbname=postgres user=md5_user"
lg_start authfile "auth_type = md5" || bail "auth_file pooler did not start"
is "$(login app app_pass scram_af)" scram_user "the pooler logs in as scram_user with the password from auth_file"
is "$(login app app_pass md5_af)" md5_user "the pooler logs in as md5_user with the password from auth_file"
is "$(login scram_user scram_pass)" scram_user "a client logs in as scram_user (plaintext entry) and the pooler logs in to the server as it"
is "$(login md5_user md5_pass)" md5_user "a client logs in as md5_user (plaintext entry) and the pooler logs in to the server as it"
lg_alive; ok $? "the auth_file pooler is still running"

done_testing
