#!/usr/bin/env bash
# 170_tls: TLS on both sides, with a test CA and certificates made here by
# the openssl command.
#
# Client side (shared cluster; lagoon with client_tls_sslmode = require):
# psql with sslmode=verify-full and the test CA connects and SHOW CLIENTS
# shows its TLS version/cipher; with another CA psql refuses the pooler; a
# plaintext client gets "SSL required" (28000); pgbench runs through TLS
# with no failed transaction; RELOAD with a new certificate keeps a
# connected TLS client working and new clients see the new certificate.
# Certificate authentication (auth_type = cert, verify-ca): the CN names
# the user, a client certificate for another user and no certificate are
# refused.
#
# Server side (a PRIVATE primary + 2 replicas with ssl = on): lagoon with
# server_tls_sslmode = verify-ca and the test CA; pg_stat_ssl on the
# servers shows lagoon's connections encrypted, to the primary and to a
# replica, with lagoon's client certificate; RELOAD to a CA that did not
# sign the servers' certificate closes the old connections and new logins
# fail with a verification error; verify-full (host name checked against
# the certificate's IP SAN) succeeds.
. "$(dirname "$0")/lib.sh"
lg_setup openssl pgbench
CERTS=$LG_DIR/certs
mkdir -p "$CERTS"; chmod 755 "$CERTS"

# mkcerts PREFIX: PREFIX-ca, PREFIX-server (localhost, 127.0.0.1), PREFIX-app, PREFIX-postgres
mkcerts() {
    local p=$1 n
    ( cd "$CERTS" || exit 1
      ec() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "$@" 2>/dev/null; }
      ec -x509 -days 2 -keyout "$p-ca.key" -out "$p-ca.crt" -subj "/CN=lagoon test CA $p" \
          -addext basicConstraints=critical,CA:TRUE -addext keyUsage=keyCertSign,cRLSign || exit 1
      for n in server:localhost app:app postgres:postgres; do
          ec -keyout "$p-${n%%:*}.key" -out "$p-${n%%:*}.csr" -subj "/CN=${n#*:}" || exit 1
          if [[ ${n%%:*} == server ]]; then echo "subjectAltName=DNS:localhost,IP:127.0.0.1"; fi > "$p-${n%%:*}.ext"
          openssl x509 -req -in "$p-${n%%:*}.csr" -CA "$p-ca.crt" -CAkey "$p-ca.key" -CAcreateserial \
              -days 2 -out "$p-${n%%:*}.crt" -extfile "$p-${n%%:*}.ext" 2>/dev/null || exit 1
      done
      chmod 644 ./*.crt; chmod 600 ./*.key )
}
mkcerts a || bail "openssl could not make the test certificates (CA a)"
mkcerts b || bail "openssl could not make the test certificates (CA b)"
# PostgreSQL's copy of its key must belong to the server's OS user
cp "$CERTS/a-server.key" "$CERTS/pg-server.key"
[[ $(id -u) -eq 0 ]] && chown postgres: "$CERTS/pg-server.key"
chmod 600 "$CERTS/pg-server.key"

# ---- the private cluster with ssl = on starts in the background now --------
PGCLUSTER_CONF="ssl = on
ssl_cert_file = '$CERTS/a-server.crt'
ssl_key_file = '$CERTS/pg-server.key'
ssl_ca_file = '$CERTS/a-ca.crt'" lg_private_cluster_start

# tls_psql CONNINFO-EXTRA [psql args]: psql through the pooler with libpq's TLS settings
tls_psql() {
    local extra=$1; shift
    "$PSQL" -X -At -q -v ON_ERROR_STOP=1 \
        "host=127.0.0.1 port=$LG_PORT dbname=${TLS_DB:-postgres} user=${TLS_USER:-app} $extra" "$@"
}
VERIFY_A="sslmode=verify-full sslrootcert=$CERTS/a-ca.crt"
VERIFY_B="sslmode=verify-full sslrootcert=$CERTS/b-ca.crt"

# =========================== client side =====================================
cp "$CERTS/a-server.key" "$CERTS/lg.key"; cp "$CERTS/a-server.crt" "$CERTS/lg.crt"
lg_start tls "client_tls_sslmode = require
client_tls_key_file = $CERTS/lg.key
client_tls_cert_file = $CERTS/lg.crt" || bail "pooler with client TLS did not start"
# lib.sh's helpers connect in plaintext (PGSSLMODE=disable): not here
tadmin() { PGSSLMODE=require lg_admin "$@"; }
tshow() { PGSSLMODE=require lg_show_col "$@"; }

out=$(tls_psql "$VERIFY_A" -c "select 'tls ok'" 2>&1)
is "$out" "tls ok" "psql with sslmode=verify-full and the test CA connects through lagoon"
out=$(tls_psql "$VERIFY_B" -c "select 1" 2>&1); rc=$?
isnt "$rc" 0 "psql with sslmode=verify-full and another CA is refused"
like "$out" "certificate verify failed" "... because the pooler's certificate does not verify"
out=$(tls_psql "sslmode=disable" -c "select 1" 2>&1); rc=$?
isnt "$rc" 0 "client_tls_sslmode = require refuses a plaintext client"
like "$out" "SSL required" "... with a clear 'SSL required' error"

# a TLS client that stays connected across a RELOAD with a new certificate
mkfifo "$LG_DIR/hold.in"
tls_psql "$VERIFY_A" < "$LG_DIR/hold.in" > "$LG_DIR/hold.out" 2>&1 &
holder=$!
exec 6> "$LG_DIR/hold.in"
echo "select 'before reload';" >&6
lg_wait_for "grep -q 'before reload' '$LG_DIR/hold.out'" 20
tlscol=$(tshow "SHOW CLIENTS" tls database postgres | head -n 1)
like "$tlscol" '^TLSv1\.[23]/[A-Z0-9_-]+' "SHOW CLIENTS shows the client's TLS version and cipher ($tlscol)"

# pgbench through TLS
echo "select 1;" > "$LG_DIR/select1.sql"
out=$(PGSSLMODE=require lg_pgbench -n -f "$LG_DIR/select1.sql" -c 4 -j 2 -T 3 postgres 2>&1); rc=$?
is "$rc" 0 "pgbench through client TLS runs"
like "$out" "number of failed transactions: 0 " "pgbench through client TLS: no failed transaction"
tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -n 1)
diag "pgbench select 1 through client TLS: ${tps:-?} tps"
like "${tps:-0}" '^[1-9][0-9]*\.' "pgbench through client TLS has a non-zero tps"

# RELOAD with a certificate from CA b at the same paths
cp "$CERTS/b-server.key" "$CERTS/lg.key"; cp "$CERTS/b-server.crt" "$CERTS/lg.crt"
out=$(tadmin "RELOAD" 2>&1); rc=$?
is "$rc" 0 "RELOAD with the new certificate succeeds" || diag "$out"
echo "select 'after reload';" >&6
lg_wait_for "grep -q 'after reload' '$LG_DIR/hold.out'" 20
exec 6>&-
wait "$holder"; rc=$?
is "$rc" 0 "the TLS client connected before the RELOAD finished without error"
is "$(cat "$LG_DIR/hold.out")" $'before reload\nafter reload' "... and its query after the RELOAD ran on the same connection"
out=$(tls_psql "$VERIFY_B" -c "select 'new cert'" 2>&1)
is "$out" "new cert" "after the RELOAD a new client verifies the new certificate (CA b)"
out=$(tls_psql "$VERIFY_A" -c "select 1" 2>&1); rc=$?
isnt "$rc" 0 "after the RELOAD the old CA no longer verifies the pooler"

# a RELOAD naming a missing key file fails and keeps the current certificate
sed -i "s|^client_tls_key_file = .*|client_tls_key_file = $CERTS/missing.key|" "$LG_INI"
out=$(tadmin "RELOAD" 2>&1); rc=$?
isnt "$rc" 0 "RELOAD with a missing client_tls_key_file fails"
like "$out" "client_tls_key_file" "... naming the setting"
out=$(tls_psql "$VERIFY_B" -c "select 'still'" 2>&1)
is "$out" "still" "... and the pooler keeps serving TLS with the certificate it had"
out=$(tadmin "SET client_tls_cert_file = '$CERTS/missing.crt'" 2>&1); rc=$?
isnt "$rc" 0 "admin SET of a missing client_tls_cert_file fails"
is "$(tshow "SHOW CONFIG" value key client_tls_cert_file)" "$CERTS/lg.crt" "... and leaves the setting as it was"
out=$(tadmin "SET client_tls_protocols = 'tlsv1.3'" 2>&1); rc=$?
is "$rc" 0 "admin SET client_tls_protocols = tlsv1.3 succeeds" || diag "$out"
out=$(tls_psql "$VERIFY_B ssl_max_protocol_version=TLSv1.2" -c "select 1" 2>&1); rc=$?
isnt "$rc" 0 "... and a client limited to TLS 1.2 is refused"
out=$(tls_psql "$VERIFY_B" -c "select 'v13'" 2>&1)
is "$out" "v13" "... while TLS 1.3 clients connect"

# ---- certificate authentication ----------------------------------------------
lg_start certauth "auth_type = cert
client_tls_sslmode = verify-ca
client_tls_key_file = $CERTS/a-server.key
client_tls_cert_file = $CERTS/a-server.crt
client_tls_ca_file = $CERTS/a-ca.crt" || bail "pooler with auth_type = cert did not start"
CERT_APP="$VERIFY_A sslcert=$CERTS/a-app.crt sslkey=$CERTS/a-app.key"
out=$(tls_psql "$CERT_APP" -c "select current_user" 2>&1)
is "$out" "app" "auth_type = cert: the certificate with CN=app logs in as app"
tlscn=$(TLS_USER=postgres tls_psql "$CERT_APP" -c "select 1" 2>&1); rc=$?
isnt "$rc" 0 "auth_type = cert: the CN=app certificate cannot log in as postgres"
like "$tlscn" 'certificate authentication failed for user "postgres"' "... with a clear error"
out=$(TLS_USER=postgres tls_psql "$VERIFY_A sslcert=$CERTS/a-postgres.crt sslkey=$CERTS/a-postgres.key" \
      -c "select current_user" 2>&1)
is "$out" "postgres" "auth_type = cert: the CN=postgres certificate logs in as postgres"
out=$(tls_psql "$VERIFY_A sslcert=$CERTS/b-app.crt sslkey=$CERTS/b-app.key" -c "select 1" 2>&1); rc=$?
isnt "$rc" 0 "a CN=app certificate from another CA is refused"
out=$(tls_psql "$VERIFY_A sslcert=/nonexistent sslkey=/nonexistent" -c "select 1" 2>&1); rc=$?
isnt "$rc" 0 "verify-ca: a client without a certificate is refused"

# ---- a config lagoon cannot honour does not start ------------------------------
cat > "$LG_DIR/bad.ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$LG_PGPORT
[pgbouncer]
listen_port = 6999
auth_type = cert
client_tls_sslmode = require
client_tls_key_file = $CERTS/a-server.key
client_tls_cert_file = $CERTS/a-server.crt
EOF
out=$(timeout 20 "$LG_BIN" "$LG_DIR/bad.ini" 2>&1); rc=$?
isnt "$rc" 0 "auth_type = cert without client_tls_ca_file does not start"
like "$out" "client_tls_ca_file" "... and says what is missing"

# =========================== server side =====================================
lg_private_cluster_wait
# plugin_dir: a symlink to the uninstalled roundrobin plugin of the build tree
lg_plugins roundrobin
LG_DATABASES_EXTRA="pc = host=127.0.0.1 port=$Q0,$Q1,$Q2 dbname=postgres router=roundrobin"
lg_start srvtls "server_tls_sslmode = verify-ca
server_tls_ca_file = $CERTS/a-ca.crt
server_tls_key_file = $CERTS/a-app.key
server_tls_cert_file = $CERTS/a-app.crt
client_tls_sslmode = prefer
client_tls_key_file = $CERTS/a-server.key
client_tls_cert_file = $CERTS/a-server.crt
monitor_interval = 200
query_wait_timeout = 5
plugin_dir = $LG_DIR/plugins" || bail "pooler with server TLS did not start"

# the monitor (libpq, same TLS settings) finds the roles
roles_ok() {
    [[ "$(lg_admin_hdr "SHOW BACKENDS" | awk -F'|' -v q0="$Q0" -v q1="$Q1" -v q2="$Q2" '
        NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
        $h["database"] == "pc" { r[$h["port"]] = $h["role"] "/" $h["state"] }
        END { print r[q0] " " r[q1] " " r[q2] }')" == "primary/up replica/up replica/up" ]]
}
lg_wait_for roles_ok 30; ok $? "server TLS: the monitor sees the primary and both replicas up"

q="select inet_server_port(), s.ssl, s.client_dn from pg_stat_ssl s where s.pid = pg_backend_pid()"
out=$(TLS_DB=pc tls_psql "sslmode=disable" -c "begin" -c "$q" -c "commit" 2>&1)
is "$out" "$Q0|t|/CN=app" "verify-ca: a write transaction on the primary runs over TLS with lagoon's client certificate (pg_stat_ssl)"
seen=""
for i in $(seq 1 12); do
    out=$(TLS_DB=pc tls_psql "sslmode=disable" -c "$q" 2>&1)
    seen+="$out"$'\n'
done
like "$seen" "($Q1|$Q2)\|t\|/CN=app" "verify-ca: reads on a replica run over TLS too (pg_stat_ssl on the replica)"
unlike "$seen" "\|f\|" "no server connection of lagoon is unencrypted"

# big COPY out and in, TLS on both sides, byte for byte
copy_out="copy (select i, repeat(md5(i::text), 20) from generate_series(1, 20000) i) to stdout"
want=$("$PSQL" -X -At -h 127.0.0.1 -p "$Q0" -U postgres -d postgres -c "$copy_out" | sha256sum)
got=$(TLS_DB=pc tls_psql "$VERIFY_A" -c "$copy_out" | sha256sum)
is "$got" "$want" "a 13 MB COPY out through TLS on both sides arrives byte for byte"
"$PSQL" -X -At -h 127.0.0.1 -p "$Q0" -U postgres -d postgres -c "$copy_out" > "$LG_DIR/copy.tsv"
out=$(TLS_DB=pc tls_psql "$VERIFY_A" -c "create table tls_copy (i int, t text)" \
      -c "\\copy tls_copy from '$LG_DIR/copy.tsv'" \
      -c "begin" -c "select count(*), md5(string_agg(t, ',' order by i)) = (select md5(string_agg(repeat(md5(i::text), 20), ',' order by i)) from generate_series(1, 20000) i) from tls_copy" \
      -c "commit" -c "drop table tls_copy" 2>&1)
is "$out" $'20000|t' "a 13 MB COPY in through TLS on both sides stores every row intact"
tlscol=$(lg_show_col "SHOW SERVERS" tls database pc | head -n 1)
like "$tlscol" '^TLSv1\.[23]/' "SHOW SERVERS shows the server connection's TLS ($tlscol)"

# RELOAD to a CA that did not sign the servers' certificate
sed -i "s|^server_tls_ca_file = .*|server_tls_ca_file = $CERTS/b-ca.crt|" "$LG_INI"
out=$(lg_admin "RELOAD" 2>&1); rc=$?
is "$rc" 0 "RELOAD to server_tls_ca_file of CA b succeeds" || diag "$out"
out=$(TLS_DB=pc tls_psql "sslmode=disable" -c "begin" -c "select 1" -c "commit" 2>&1); rc=$?
isnt "$rc" 0 "with a CA that did not sign the server's certificate the login fails"
err=$(lg_show_col "SHOW BACKENDS" last_error port "$Q0")
like "$err" "certificate verify failed" "... and SHOW BACKENDS gives the verification error ($err)"

# verify-full: the host name 127.0.0.1 is checked against the IP SAN
sed -i -e "s|^server_tls_ca_file = .*|server_tls_ca_file = $CERTS/a-ca.crt|" \
       -e "s|^server_tls_sslmode = .*|server_tls_sslmode = verify-full|" "$LG_INI"
out=$(lg_admin "RELOAD" 2>&1); rc=$?
is "$rc" 0 "RELOAD to verify-full succeeds" || diag "$out"
ok_full() { [[ "$(TLS_DB=pc tls_psql "sslmode=disable" -c "begin" -c "$q" -c "commit" 2>&1)" == "$Q0|t|/CN=app" ]]; }
lg_wait_for ok_full 20; ok $? "verify-full: the server's certificate matches 127.0.0.1 and the query runs over TLS"

done_testing
