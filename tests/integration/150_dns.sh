#!/usr/bin/env bash
# 150_dns: backend host names resolved by c-ares on the event loop.  The
# pooler asks only the test's own name server (tests/tools/tinydns.py on
# 127.0.0.1, set with dns_servers): no query leaves the machine, and the
# test can change an address.  localhost comes from /etc/hosts.
#   - a database on "localhost" works, SHOW DNS_HOSTS lists the name;
#   - a name that does not resolve gives a clear error for its database,
#     and the other databases keep working;
#   - a name with two addresses, the first refusing connections, still
#     works (the next address is tried);
#   - a name whose address changes is followed after dns_max_ttl;
#   - with dns_zone_check_period, a new SOA serial brings a change in at
#     once (SHOW DNS_ZONES).
. "$(dirname "$0")/lib.sh"
lg_cluster_up
lg_require_bin
lg_is_pgbouncer && skip_all "lagoon's dns_servers setting"
lg_need python3

lg_tmpdir
# the test's own name server (tests/tools/tinydns.py) on a free port
lg_free_port || bail "no free port"; DNSPORT=$LG_FREE_PORT
ZONE=$LG_DIR/zone
cat > "$ZONE" <<'EOF2'
multi.lagoon.test   127.0.0.3
multi.lagoon.test   127.0.0.1
moving.lagoon.test  127.0.0.3
EOF2
python3 "$LG_SRC_DIR/tests/tools/tinydns.py" "$DNSPORT" "$ZONE" "$LG_DIR/dns.ready" &
dnspid=$!
lg_on_exit "kill $dnspid 2>/dev/null; wait $dnspid 2>/dev/null"
lg_wait_for "[[ -e '$LG_DIR/dns.ready' ]]" 30 || bail "the test name server did not start"
LG_DATABASES_EXTRA="bylocalhost = host=localhost port=$LG_PGPORT dbname=postgres
nxdb = host=nosuchhost.lagoon.test port=$LG_PGPORT dbname=postgres
multi = host=multi.lagoon.test port=$LG_PGPORT dbname=postgres
moving = host=moving.lagoon.test port=$LG_PGPORT dbname=postgres"
lg_start dns "dns_servers = 127.0.0.1:$DNSPORT
dns_max_ttl = 1
dns_nxdomain_ttl = 1
server_login_retry = 0.2" || bail "pooler did not start"

is "$(lg_psql -d bylocalhost -c 'select 42')" 42 "a database on host=localhost works"
is "$(lg_show_col "SHOW DNS_HOSTS" addrs hostname localhost)" 127.0.0.1 \
    "SHOW DNS_HOSTS: localhost resolved (by c-ares, from the hosts file) to 127.0.0.1"
is "$(lg_admin_hdr "SHOW DNS_HOSTS" | head -1)" "hostname|ttl|addrs" "SHOW DNS_HOSTS has PgBouncer's columns"
is "$(lg_admin_hdr "SHOW DNS_ZONES" | head -1)" "zonename|serial|count" "SHOW DNS_ZONES has PgBouncer's columns"
is "$(lg_show_col "SHOW SERVERS" addr database bylocalhost | head -1)" 127.0.0.1 \
    "SHOW SERVERS: the server connection went to the resolved address"

out=$(lg_psql -d nxdb -c 'select 1' 2>&1)
like "$out" 'could not resolve host name "nosuchhost\.lagoon\.test": Domain name not found' "an unresolvable name: a clear error naming it"
is "$(lg_psql -d postgres -c 'select 7')" 7 "another database keeps working"
is "$(lg_psql -d bylocalhost -c 'select 8')" 8 "... and so does the one on localhost"
out=$(lg_psql -d nxdb -c 'select 1' 2>&1)
like "$out" 'could not resolve host name' "the unresolvable database fails again (cached failure or new query)"
like "$(lg_show_col "SHOW LISTS" items list dns_names)" '^[0-9]+$' "SHOW LISTS counts dns_names"
cmp_ok "$(lg_show_col "SHOW LISTS" items list dns_names)" -ge 2 "... at least localhost and the bad name"

# two addresses, the first refuses: each new connection still succeeds
for i in 1 2 3; do
    is "$(lg_psql -d multi -c 'select 1')" 1 "multi-address name, connection $i"
    lg_admin "RECONNECT multi" >/dev/null 2>&1
done
is "$(lg_show_col "SHOW DNS_HOSTS" addrs hostname multi.lagoon.test)" "127.0.0.3,127.0.0.1" \
    "SHOW DNS_HOSTS lists both addresses"
like "$(cat "$LG_LOG")" 'trying the next address of "multi\.lagoon\.test"' "the refused address was skipped for the next"

# an address change is followed
out=$(lg_psql -d moving -c 'select 1' 2>&1)
like "$out" 'could not connect|server connection' "moving.lagoon.test on 127.0.0.3: nothing listens there"
sed -i 's/^moving.lagoon.test  127.0.0.3/moving.lagoon.test  127.0.0.1/' "$ZONE"
# serves DB: a query through the pooler to database DB answers
serves() { [[ "$(lg_psql -d "$1" -c 'select 5' 2>/dev/null)" == 5 ]]; }
lg_wait_for "serves moving" 30
ok $? "after the hosts entry moved to 127.0.0.1 (dns_max_ttl = 1 s) the database works"
is "$(lg_show_col "SHOW DNS_HOSTS" addrs hostname moving.lagoon.test)" 127.0.0.1 "SHOW DNS_HOSTS shows the new address"
lg_alive; ok $? "the pooler is still running"

# ---- dns_zone_check_period: a new SOA serial re-resolves at once -----------
# (dns_max_ttl is long here: only the zone's new serial can bring the
# change in)
printf 'lagoon.test SOA 1\nzonal.lagoon.test 127.0.0.3\n' > "$ZONE"
LG_DATABASES_EXTRA="zonal = host=zonal.lagoon.test port=$LG_PGPORT dbname=postgres"
lg_start zones "dns_servers = 127.0.0.1:$DNSPORT
dns_max_ttl = 600
dns_zone_check_period = 0.5
server_login_retry = 0.2" || bail "zones pooler did not start"
out=$(lg_psql -d zonal -c 'select 1' 2>&1)
like "$out" 'could not connect|server connection' "zonal.lagoon.test on 127.0.0.3: nothing listens there"
lg_wait_for '[[ "$(lg_show_col "SHOW DNS_ZONES" serial zonename lagoon.test)" == 1 ]]' 20
is "$(lg_admin_hdr "SHOW DNS_ZONES" | grep '^lagoon.test|')" "lagoon.test|1|1" "SHOW DNS_ZONES: the zone, its serial and its one name"
printf 'lagoon.test SOA 2\nzonal.lagoon.test 127.0.0.1\n' > "$ZONE"
lg_wait_for "serves zonal" 30
ok $? "after the serial changed to 2 the new address is used (dns_max_ttl is 600 s)"
is "$(lg_show_col "SHOW DNS_ZONES" serial zonename lagoon.test)" 2 "SHOW DNS_ZONES shows serial 2"
like "$(cat "$LG_LOG")" 'zone lagoon\.test has a new serial 2' "the log says why the names were resolved again"
lg_alive; ok $? "the zones pooler is still running"
done_testing
