#!/bin/sh
# tests/valgrind.sh - integration tests with lagoon under valgrind memcheck.
#
#   tests/valgrind.sh [TEST...]     (run from a build tree, after make check
#                                    built the test plugins)
#
# Each TEST (default: a representative set of tests/integration scripts:
# plain queries, pgbench, COPY, cancel, bad input, auth, RELOAD, parameters,
# routing, metrics) runs with LAGOON_BIN set to a wrapper that
# starts lagoon under valgrind (--leak-check=full).  One valgrind log per
# lagoon process goes to $VG_DIR (default a fresh temporary directory,
# kept).  At the end: the tests' TAP results (timing-sensitive checks may
# fail under valgrind's slowdown; they are listed, not counted as valgrind
# findings) and the sum over every log of memcheck errors and definitely
# lost bytes.  Exit status: 0 when valgrind found no error and no definite
# leak, 1 otherwise, 2 on a usage error.  Not part of make check (slow).
#
# Environment: VALGRIND (default valgrind), VG_OPTIONS (more valgrind flags),
# LAGOON_BUILD_DIR (default .), LAGOON_SRC_DIR (default this script's tree).
set -u

here=$(cd "$(dirname "$0")" && pwd)
src=${LAGOON_SRC_DIR:-$(dirname "$here")}
build=${LAGOON_BUILD_DIR:-$(pwd)}
vg=${VALGRIND:-valgrind}
tests=${*:-"010_basic 020_pgbench 030_copy 040_cancel 050_bad_input 060_auth 070_admin_reload 080_params 100_routing 120_metrics"}
dir=${VG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/lagoon-valgrind.XXXXXX")}

command -v "$vg" >/dev/null 2>&1 || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 2; }
[ -x "$build/lagoon" ] || { echo "no $build/lagoon: run from a build tree (or set LAGOON_BUILD_DIR)" >&2; exit 2; }
mkdir -p "$dir" || exit 2
wrapper=$dir/lagoon-vg
cat > "$wrapper" <<EOW
#!/bin/sh
exec $vg --tool=memcheck --leak-check=full --show-leak-kinds=definite \\
    --errors-for-leak-kinds=definite --track-origins=yes --num-callers=30 \\
    --log-file=$dir/vg.%p.log ${VG_OPTIONS:-} "$build/lagoon" "\$@"
EOW
chmod +x "$wrapper"

tap_fail=0
for t in $tests; do
    script=$src/tests/integration/${t%.sh}.sh
    [ -f "$script" ] || { echo "no such test: $script" >&2; exit 2; }
    LAGOON_BIN=$wrapper LAGOON_BUILD_DIR=$build LAGOON_SRC_DIR=$src \
    LAGOON_TEST_TIMEOUT=900 LAGOON_TEST_STOP_WAIT=60 \
        bash "$script" > "$dir/$t.tap" 2>&1
    rc=$?
    nok=$(grep -c '^not ok' "$dir/$t.tap")
    echo "$t: exit $rc, $(grep -c '^ok' "$dir/$t.tap") ok, $nok not ok"
    grep '^not ok' "$dir/$t.tap" | head -n 5 | sed 's/^/    /'
    [ "$nok" -gt 0 ] || [ "$rc" -ne 0 ] && tap_fail=$((tap_fail + 1))
done

logs=$(ls "$dir"/vg.*.log 2>/dev/null | wc -l)
errors=$(cat "$dir"/vg.*.log 2>/dev/null | sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' | tr -d , |
         awk '{ n += $1 } END { print n + 0 }')
lost=$(cat "$dir"/vg.*.log 2>/dev/null | sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' | tr -d , |
       awk '{ n += $1 } END { print n + 0 }')
unfinished=$(grep -L 'ERROR SUMMARY' "$dir"/vg.*.log 2>/dev/null | wc -l)
echo "valgrind: $logs lagoon processes, $errors memcheck errors, $lost bytes definitely lost," \
     "$unfinished log(s) without a summary (process killed); $tap_fail test(s) with failures; logs in $dir"
if [ "$errors" -gt 0 ] || [ "$lost" -gt 0 ]; then
    grep -l -E 'ERROR SUMMARY: [1-9]|definitely lost: [1-9]' "$dir"/vg.*.log | head -n 5 | sed 's/^/    see /'
    exit 1
fi
exit 0
