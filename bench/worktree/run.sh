#!/bin/sh
# bench/worktree/run.sh: the worktree steps of `berth up` and `berth down`,
# side by side with `rm -rf` and with a baseline build, all in one run:
#   1. `berth down` of a session whose worktree holds an ignored
#      node_modules of 9,000 files in 900 directories: the removal phase and
#      the whole command, against `rm -rf` of an identical copy of that
#      worktree
#   2. `berth down` refused (exit 7) by one untracked file beside that
#      node_modules: what the dirty check costs with a big ignored tree
#   3. `berth up` and `berth down` of 0 services (mode = host): the worktree,
#      the state and the env file
# Each is measured for BUILD and, when given, for BASE (another build, the
# "before"), in the same rounds.
# Output is Markdown tables (bench/README.md "worktree" holds a run's).
#
# Usage: bench/worktree/run.sh [BUILD] [BASE]
#   RUNS=N counted rounds (10; one warm-up round more), BENCH_FILES (9000)
#   and BENCH_DIRS (900) the size of node_modules, BENCH_RAW=FILE also
#   writes every time as JSON.
# Everything lives in one scratch directory (repositories, HOME,
# XDG_RUNTIME_DIR, the copies for rm -rf), removed at exit with whatever
# session is left in it.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC2034 # read by benchlib.sh: its messages start "worktree: "
bench=worktree
# shellcheck source=bench/benchlib.sh disable=SC1091
. "$here/bench/benchlib.sh"
abs() { case $1 in /*) echo "$1" ;; *) echo "$here/$1" ;; esac; }
bdir=$(abs "${1:-build}")
base=${2:-}
[ -z "$base" ] || base=$(abs "$base")
RUNS=${RUNS:-10}
export RUNS
for d in "$bdir" $base; do
  need_built "$d" "$d/berth" "$d/berth-shim"
done

BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-worktree.XXXXXX") || exit 1
cleanup() {
  python3 "$here/bench/worktree/wtbench.py" cleanup
  rm -rf "$BENCH_WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
# each build is copied there, so that a rebuild during the run changes nothing
mkdir -p "$BENCH_WORK/new" && cp "$bdir/berth" "$bdir/berth-shim" "$BENCH_WORK/new/" || exit 1
BENCH_BUILDS=new
if [ -n "$base" ]; then
  mkdir -p "$BENCH_WORK/base" && cp "$base/berth" "$base/berth-shim" "$BENCH_WORK/base/" || exit 1
  BENCH_BUILDS="base new"
fi
export BENCH_WORK BENCH_BUILDS
python3 "$here/bench/worktree/wtbench.py" run
