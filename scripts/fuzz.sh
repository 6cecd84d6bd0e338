#!/bin/sh
# Run libFuzzer harnesses of tests/fuzz/ for a bounded time each (`make fuzz`).
# Usage: scripts/fuzz.sh BUILD SECONDS NAME...
# Each harness BUILD/tests/fuzz/fuzz_NAME runs SECONDS seconds on a copy of
# tests/fuzz/corpus/NAME/ (the repository's corpus is never written). Prints
# one line per harness (executions, rate, new inputs, peak memory) and every
# crash, leak, timeout or out-of-memory with the input that caused it, kept
# in BUILD/fuzz-artifacts/NAME/. Exits 1 when any harness failed.
# FUZZ_MAX_LEN (default 16384) bounds the inputs libFuzzer makes: larger
# seeds (the 160 KB deep-nesting ones) are cut to it and stay deep; without
# it libFuzzer works on inputs as large as the largest seed, 20 times slower.
set -u

build=$1
secs=$2
shift 2
src=$(cd "$(dirname "$0")/.." && pwd)
failed=0

# UBSan findings are crashes; leaks too (libFuzzer's -detect_leaks defaults on).
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export UBSAN_OPTIONS

for name in "$@"; do
	bin=$build/tests/fuzz/fuzz_$name
	artifacts=$build/fuzz-artifacts/$name
	work=$(mktemp -d "${TMPDIR:-/tmp}/berth-fuzz-$name.XXXXXX") || exit 1
	mkdir -p "$work/corpus" "$artifacts"
	cp "$src/tests/fuzz/corpus/$name"/* "$work/corpus/"
	# -timeout: one input taking longer is a hang; -rss_limit_mb and
	# -malloc_limit_mb: more memory is a blow-up.
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-max_len="${FUZZ_MAX_LEN:-16384}" -artifact_prefix="$artifacts/" "$work/corpus" \
		>"$work/log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/log")
	new=$(sed -n 's/^stat::new_units_added: *//p' "$work/log")
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$work/log")
	if [ $rc -eq 0 ]; then
		echo "fuzz_$name: ${secs}s, ${execs:-?} execs (${rate:-?}/s), ${new:-?} new inputs, peak ${rss:-?} MB: ok"
	else
		failed=1
		echo "fuzz_$name: FAILED (exit $rc) after ${execs:-?} execs; from its log:"
		grep -E 'ERROR|SUMMARY|property broken|does not|ALARM|out-of-memory|Test unit written|^artifact_prefix|deadly signal|Slowest unit' \
			"$work/log" | head -20 | sed 's/^/  /'
		echo "  full log: $artifacts/log; replay: $bin <input>"
		cp "$work/log" "$artifacts/log"
	fi
	rm -rf "$work"
done
[ $failed -eq 0 ] || echo "fuzz: a harness failed; once fixed, add its input to tests/fuzz/corpus/NAME/" >&2
exit $failed
