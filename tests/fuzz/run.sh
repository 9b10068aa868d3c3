#!/bin/sh
# tests/fuzz/run.sh - run each libFuzzer target for a bounded time.
#
#   tests/fuzz/run.sh [SECONDS] [NAME...]      (NAME: startup, error, ...)
#
# Each target tests/fuzz/fuzz_<NAME> (built by `make fuzz`, looked for in
# $FUZZ_BIN_DIR, default the current directory's tests/fuzz) runs for
# SECONDS (default 20) on a copy of its seed corpus tests/fuzz/corpus/<NAME>
# (in $FUZZ_CORPUS_DIR, default next to this script), so the committed
# corpus is never modified.  One line per target: "PASS: fuzz_<NAME> ..."
# or "FAIL: fuzz_<NAME> ...", with libFuzzer's final coverage and speed; a
# failing target's log tail and crash file are kept under $FUZZ_WORK_DIR
# (default a fresh temporary directory, removed when everything passed).
# Exit status: 0 when every target passed, 1 otherwise.
#
# Environment: FUZZ_NICE (default 19) is the nice level; FUZZ_OPTIONS adds
# libFuzzer flags.
set -u

here=$(cd "$(dirname "$0")" && pwd)
seconds=${1:-20}
[ $# -gt 0 ] && shift
names=${*:-"startup error classify config scram sbuf hba"}
bin_dir=${FUZZ_BIN_DIR:-tests/fuzz}
corpus_dir=${FUZZ_CORPUS_DIR:-$here/corpus}
work=${FUZZ_WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/lagoon-fuzz.XXXXXX")}
nice_level=${FUZZ_NICE:-19}
failed=0

case $seconds in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS] [NAME...]" >&2; exit 2 ;;
esac
mkdir -p "$work" || exit 1

for name in $names; do
    prog=$bin_dir/fuzz_$name
    if [ ! -x "$prog" ]; then
        echo "FAIL: fuzz_$name (no $prog: run 'make fuzz' first)"
        failed=1
        continue
    fi
    corpus=$work/corpus-$name
    rm -rf "$corpus"
    mkdir -p "$corpus" "$work/artifacts-$name"
    [ -d "$corpus_dir/$name" ] && cp "$corpus_dir/$name"/* "$corpus"/ 2>/dev/null
    log=$work/fuzz_$name.log
    # -timeout: one input taking 60 s is a hang (libFuzzer counts wall time, and
    # at nice 19 on a busy machine a fast input was once descheduled 12 s);
    # ASan/UBSan abort on error
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        nice -n "$nice_level" "$prog" -max_total_time="$seconds" -timeout=60 \
        -print_final_stats=1 -artifact_prefix="$work/artifacts-$name/" \
        ${FUZZ_OPTIONS:-} "$corpus" > "$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | sed 's/cov: //')
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -n 1 | sed 's/ft: //')
    stats="(${seconds}s: ${runs:-?} runs, ${speed:-?} exec/s, cov ${cov:-?}, ft ${ft:-?})"
    if [ "$rc" -eq 0 ]; then
        echo "PASS: fuzz_$name $stats"
    else
        echo "FAIL: fuzz_$name exit $rc $stats"
        grep -E 'ERROR: |SUMMARY: |Test unit written to|^ *#[0-9]+ 0x' "$log" | head -n 30 | sed 's/^/    /'
        echo "    full log: $log"
        failed=1
    fi
done

if [ "$failed" -eq 0 ] && [ -z "${FUZZ_WORK_DIR:-}" ]; then
    rm -rf "$work"
fi
exit "$failed"
