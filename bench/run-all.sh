#!/bin/sh
# make bench: every benchmark, one after the other. Usage: bench/run-all.sh [BUILD]
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) bdir=$build ;; *) bdir=$here/$build ;; esac
BENCH_PROBE="$here/$build/bench/bench_probe" sh "$here/bench/probe/run.sh"
sh "$here/bench/shim/run.sh" "$build"
sh "$here/bench/services/run.sh" "$build"
sh "$here/bench/compose/run.sh" "$build"
sh "$here/bench/watch/run.sh" "$build"
sh "$here/bench/status/run.sh" "$build"
python3 "$here/bench/db_clone.py" --berth "$bdir/berth"
