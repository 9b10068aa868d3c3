#!/usr/bin/env bash
# 130_hba: auth_type = hba.  lagoon listens on 127.0.0.1 and ::1; clients
# connect from 127.0.0.1, ::1 and (rawpg.py --bind) 127.0.0.2-4.  The hba
# file trusts 127.0.0.1, rejects 127.0.0.2, wants SCRAM from ::1, rejects
# one database from everywhere and has only a hostssl rule for 127.0.0.3
# (a plain client there gets "no pg_hba.conf entry").  Then: plain, md5 and
# SCRAM logins fail identically (SQLSTATE and message) for a wrong
# password and an unknown user, failed logins are rate-limited per
# address, a broken hba file refuses the start (FILE:LINE) and a RELOAD
# with a broken file keeps the old rules.
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin
lg_need python3
lg_is_pgbouncer && skip_all "lagoon-specific settings (auth_failure_limit)"
python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null \
    || skip_all "no IPv6 loopback (::1)"

raw() { python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 10 "$@" 2>&1; }
# login HOST USER PASSWORD [DB]: psql through the pooler, current_user or the error
login() { PGPASSWORD=$3 LG_HOST=$1 lg_psql -U "$2" -d "${4:-postgres}" -c "select current_user" 2>&1; }

lg_tmpdir
HBA=$LG_DIR/hba.conf
cat > "$HBA" <<'HBAEOF'
# lagoon test hba file
local   all             all                             trust
host    p_sock          all             all             reject
host    all             all             127.0.0.1/32    trust
host    all             all             127.0.0.2/32    reject
host    all             all             ::1/128         scram-sha-256
hostssl all             all             127.0.0.3/32    trust
HBAEOF

# ---- a broken hba file refuses the start, naming file and line ----------------
printf 'host all all 127.0.0.1/32 trust\nhost all all db.example.com md5\n' > "$LG_DIR/bad.conf"
lg_free_port || bail "no free port"
cat > "$LG_DIR/bad.ini" <<INIEOF
[databases]
postgres = host=127.0.0.1 port=$LG_PGPORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $LG_FREE_PORT
unix_socket_dir =
auth_type = hba
auth_hba_file = $LG_DIR/bad.conf
INIEOF
out=$(timeout 20 "$LG_BIN" "$LG_DIR/bad.ini" 2>&1); rc=$?
isnt "$rc" 0 "a broken auth_hba_file refuses the start"
like "$out" 'bad\.conf:2: invalid IP address "db\.example\.com" \(host names are not supported\)' \
    "the error names the file and the line"
sed -i 's/^auth_hba_file.*//' "$LG_DIR/bad.ini"
out=$(timeout 20 "$LG_BIN" "$LG_DIR/bad.ini" 2>&1); rc=$?
isnt "$rc" 0 "auth_type = hba without auth_hba_file refuses the start"
like "$out" 'auth_type = hba needs auth_hba_file' "... with a clear message"

# ---- rules per address and database ------------------------------------------
lg_start hba "listen_addr = 127.0.0.1, ::1
auth_type = hba
auth_hba_file = $HBA
auth_failure_limit = 3
auth_failure_window = 600" || bail "pooler did not start"
lg_wait_port "$LG_PORT" 10

is "$(login 127.0.0.1 app nothing)" app "127.0.0.1: trust, the password is not even asked"
out=$(raw --host 127.0.0.1 startup:app:postgres read)
like "$out" $'^R 0\n' "127.0.0.1: AuthenticationOk straight away"
out=$(login 127.0.0.1 app app_pass p_sock)
like "$out" 'pg_hba.conf rejects connection for host "127.0.0.1", user "app", database "p_sock"' \
    "the database rule rejects p_sock from 127.0.0.1 (first match wins)"
out=$(raw --bind 127.0.0.2 startup:app:postgres read)
is "$out" 'E 28000 pg_hba.conf rejects connection for host "127.0.0.2", user "app", database "postgres", no encryption
CLOSED' "a client from 127.0.0.2: rejected by its reject rule (28000, no password asked)"
out=$(raw --bind 127.0.0.3 startup:app:postgres read)
like "$out" '^E 28000 no pg_hba.conf entry for host "127.0.0.3", user "app", database "postgres", no encryption' \
    "a client from 127.0.0.3: only a hostssl rule, no TLS: no pg_hba.conf entry"
out=$(raw --bind 127.0.0.4 startup:app:postgres read)
like "$out" '^E 28000 no pg_hba.conf entry for host "127.0.0.4"' "a client from 127.0.0.4: no rule at all"
is "$(login ::1 app app_pass)" app "::1: scram-sha-256 with the right password"
is "$(login ::1 scram_user scram_pass)" scram_user "::1: scram-sha-256 against a SCRAM auth_file secret"
out=$(raw --host ::1 startup:app:postgres read)
like "$out" '^R 10' "::1: the client is asked for SASL (SCRAM-SHA-256)"
out=$(login ::1 app app_pass p_sock)
like "$out" 'pg_hba.conf rejects connection for host "::1"' "::1: p_sock is rejected by the database rule"
is "$(LG_HOST=$LG_SOCKDIR PGPASSWORD=x lg_psql -U app -c 'select current_user')" app "Unix socket: the local trust rule"

# ---- wrong password and unknown user fail identically -------------------------
w=$(raw --host ::1 startup:app:postgres auth:wrong | grep '^E')
u=$(raw --host ::1 startup:nosuch_user:postgres auth:wrong | grep '^E')
is "$w" 'E 28P01 password authentication failed for user "app"' "scram: a wrong password: 28P01"
is "${u/nosuch_user/app}" "$w" "scram: an unknown user gets the same SQLSTATE and message"
# (two failures from ::1 so far; the limit is 3)
out=$(login ::1 app wrong)
like "$out" 'password authentication failed' "a third failure from ::1"
out=$(login ::1 app app_pass)
like "$out" 'too many failed login attempts from this address' \
    "after auth_failure_limit failures even the right password is refused from ::1"
out=$(raw --host ::1 startup:app:postgres read)
like "$out" '^E 28000 too many failed' "... with SQLSTATE 28000, before any password exchange"
is "$(login 127.0.0.1 app x)" app "other addresses are not affected"

# ---- RELOAD: a broken file keeps the old rules; a good one applies ----------
cp "$HBA" "$HBA.good"
printf 'host all all 127.0.0.1/32 trust\nhost all all all ldap\n' > "$HBA"
out=$(lg_admin "RELOAD" 2>&1)
like "$out" 'hba\.conf:2: authentication method "ldap" is not supported' "RELOAD with a broken hba file fails with FILE:LINE"
is "$(login 127.0.0.1 app x)" app "the old rules still apply"
out=$(raw --bind 127.0.0.2 startup:app:postgres read); like "$out" '^E 28000 pg_hba.conf rejects connection' "... including the reject rule"
sed 's|^host    all             all             127.0.0.1/32    trust|host    all  admin  127.0.0.1/32  md5|' "$HBA.good" > "$HBA"
lg_admin "RELOAD" >/dev/null 2>&1; ok $? "RELOAD with a good file"
out=$(login 127.0.0.1 app app_pass)
like "$out" 'no pg_hba.conf entry for host "127.0.0.1", user "app", database "postgres", no encryption' \
    "after the reload app from 127.0.0.1 matches no rule (the hostssl rule needs TLS)"
out=$(raw --host 127.0.0.1 startup:admin:pgbouncer auth:admin_pass query:"SHOW VERSION" read)
like "$out" $'R 5\nR 0' "admin from 127.0.0.1 now uses md5"
lg_alive; ok $? "the pooler is still running"

# ---- plain and md5: wrong password vs unknown user ------------------------------
for t in plain md5; do
    lg_start "$t" "auth_type = $t
auth_failure_limit = 0
client_login_timeout = 2" || bail "$t pooler did not start"
    is "$(login 127.0.0.1 app app_pass)" app "$t: the right password"
    w=$(raw startup:app:postgres auth:wrong | grep '^E')
    u=$(raw startup:nosuch_user:postgres auth:wrong | grep '^E')
    m=$(raw startup:md5_user:postgres auth:wrong | grep '^E')
    is "$w" 'E 28P01 password authentication failed for user "app"' "$t: a wrong password: 28P01"
    is "${u/nosuch_user/app}" "$w" "$t: an unknown user: the same SQLSTATE and message"
    is "${m/md5_user/app}" "$w" "$t: a wrong password against an md5 secret: the same"
    out=$(raw startup:app:postgres auth:Wr0ngSecret9 | grep '^E')
    is "$out" "$w" "$t: and with another wrong password"
    out=$(python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 20 startup:app:postgres readall 2>&1)
    like "$out" $'^R [35]\nE 08P01 client_login_timeout\nCLOSED' \
        "$t: a client that never answers the password request is closed by client_login_timeout"
    unlike "$(cat "$LG_LOG")" 'Wr0ngSecret9|app_pass|md5_pass' "$t: no password appears in the log"
done

done_testing
