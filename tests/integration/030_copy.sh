#!/usr/bin/env bash
# 030_copy: COPY FROM STDIN and COPY TO STDOUT through the pooler round-trip
# ~10 MB of varied data byte for byte; a COPY that fails mid-stream reports
# the error and leaves the (single) server connection usable.
. "$(dirname "$0")/lib.sh"
lg_setup python3

# COPY text format, in the exact form COPY TO emits (so the round trip is
# byte-identical): tabs, backslashes, newlines, CR, other control characters,
# multi-byte UTF-8, NULLs, long and empty values.
python3 - "$LG_DIR/data.copy" <<'EOF'
import random, sys
random.seed(4242)
alphabet = ("abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789"
            "\t\\\n\r\b\f\v'\"$%&{}[]|;:,.<>/?`~" "äöüßéèçñ€漢字カタカナ한국어😀🚀Ωπ∑")
esc = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r",
       "\b": "\\b", "\f": "\\f", "\v": "\\v"}
def field(s):
    return "".join(esc.get(c, c) for c in s)
size = 0
i = 0
with open(sys.argv[1], "w", encoding="utf-8", newline="") as f:
    while size < 10 * 1024 * 1024:
        i += 1
        n = random.choice([0, 1, 5, 20, 100, 300, 1000, 5000])
        txt = "".join(random.choice(alphabet) for _ in range(n))
        other = "\\N" if i % 7 == 0 else field(random.choice(["", "x", "\\", "\t\t", "ünï"]))
        line = "%d\t%s\t%s\t%d\n" % (i, field(txt), other, random.randint(-2**62, 2**62))
        f.write(line)
        size += len(line.encode("utf-8"))
EOF
bytes=$(stat -c %s "$LG_DIR/data.copy")
rows=$(wc -l < "$LG_DIR/data.copy")
cmp_ok "$bytes" -ge 10000000 "generated $bytes bytes of COPY data in $rows rows"

lg_start copy "default_pool_size = 1
pool_mode = transaction" || bail "pooler did not start"

lg_psql -c "drop table if exists copy_rt; create table copy_rt (id int primary key, t text, o text, b bigint)" 2>/dev/null
ok $? "table created through the pooler"

out=$(lg_psql -c "copy copy_rt from stdin" < "$LG_DIR/data.copy" 2>&1); rc=$?
is "$rc" 0 "COPY FROM STDIN of ~10 MB through the pooler succeeds" || diag "$out"
is "$(lg_psql -c 'select count(*) from copy_rt')" "$rows" "every row arrived"

lg_psql -c "copy (select * from copy_rt order by id) to stdout" > "$LG_DIR/back.copy"
ok $? "COPY TO STDOUT through the pooler succeeds"
sha_in=$(sha256sum < "$LG_DIR/data.copy" | cut -d' ' -f1)
sha_out=$(sha256sum < "$LG_DIR/back.copy" | cut -d' ' -f1)
is "$sha_out" "$sha_in" "the data comes back byte for byte (sha256)"
if [[ "$sha_in" != "$sha_out" ]]; then
    diag "$(cmp "$LG_DIR/data.copy" "$LG_DIR/back.copy" 2>&1 | head -3)"
fi
# the same check straight against the primary, to prove the data itself
"$PSQL" -X -q -h 127.0.0.1 -p "$LG_PGPORT" -U app -d postgres \
    -c "copy (select * from copy_rt order by id) to stdout" | sha256sum | cut -d' ' -f1 > "$LG_DIR/direct.sha"
is "$(cat "$LG_DIR/direct.sha")" "$sha_in" "the primary holds the same bytes"

# binary COPY through the pooler too
lg_psql -c "copy (select * from copy_rt order by id) to stdout with (format binary)" > "$LG_DIR/bin.copy"
lg_psql -c "create temp table copy_bin (like copy_rt); copy copy_bin from stdin with (format binary); select count(*) from copy_bin" \
    < "$LG_DIR/bin.copy" > "$LG_DIR/bin.count" 2>&1
# (COPY FROM with several statements in -c is sent as one query; check rows)
is "$(tail -n 1 "$LG_DIR/bin.count")" "$rows" "binary COPY out and in through the pooler keeps every row"

# ---- a COPY that fails mid-stream ----------------------------------------
lg_psql -c "drop table if exists copy_err; create table copy_err (id int, t text)" 2>/dev/null
{
    for i in $(seq 1 20000); do printf '%d\tline %d\n' "$i" "$i"; done
    printf 'not-a-number\tbroken\n'
    for i in $(seq 20002 40000); do printf '%d\tline %d\n' "$i" "$i"; done
} > "$LG_DIR/bad.copy"
out=$(lg_psql -c "copy copy_err from stdin" < "$LG_DIR/bad.copy" 2>&1); rc=$?
isnt "$rc" 0 "a COPY with a bad row fails"
like "$out" 'invalid input syntax for type integer' "the server's COPY error reaches the client"
like "$out" 'COPY copy_err, line 20001' "the error names the bad line"
is "$(lg_psql -c 'select count(*) from copy_err')" 0 "nothing of the failed COPY was committed"
is "$(lg_psql -c 'select 1 + 1')" 2 "the single server connection serves the next client after the failed COPY"
out=$(head -n 100 "$LG_DIR/bad.copy" | lg_psql -c "copy copy_err from stdin" 2>&1); rc=$?
is "$rc" 0 "a following COPY on the same pool succeeds" || diag "$out"
is "$(lg_psql -c 'select count(*) from copy_err')" 100 "and its rows are there"

# A client that dies in the middle of a CopyData message after the server
# ended its COPY with an error (PostgreSQL then ignores further COPY data):
# the server got part of a message, so it must not go back to the pool (the
# next client's bytes would be read as the rest of that message: a hang).
bad=$(python3 -c 'import struct,sys; r=b"x\ty\n"; sys.stdout.write((b"d" + struct.pack("!I", 4 + len(r)) + r).hex())')
half=$(python3 -c 'import struct,sys; sys.stdout.write((b"d" + struct.pack("!I", 100004) + b"1\tx\n" * 200).hex())')
python3 "$LG_RAWPG" --port "$LG_PORT" --timeout 2 startup:app:postgres read \
    query:"copy copy_err from stdin" read raw:"$bad" read raw:"$half" close > "$LG_DIR/half.out" 2>&1
grep -q '^E 22P02' "$LG_DIR/half.out" && grep -q '^Z I' <(sed -n '/^E 22P02/,$p' "$LG_DIR/half.out")
ok $? "a raw client's COPY fails (22P02, then ReadyForQuery), then it dies inside a CopyData message" \
    || diag "$(cat "$LG_DIR/half.out")"
lg_psql -c 'select 2 + 2' > "$LG_DIR/next.out" 2>&1 &
next=$!
for ((i = 0; i < 300; i++)); do kill -0 "$next" 2>/dev/null || break; sleep 0.1; done
kill "$next" 2>/dev/null; wait "$next" 2>/dev/null
is "$(cat "$LG_DIR/next.out")" 4 \
    "the single server connection is not handed on with a cut message: the next client is served within 30 s"
is "$(lg_psql -c 'select count(*) from copy_err')" 100 "the cut COPY committed nothing"

lg_psql -c "drop table copy_rt; drop table copy_err"
lg_alive; ok $? "the pooler is still running"
done_testing
