#!/bin/sh
# bench/status/run.sh: `berth status` and `berth ls` over many sessions, as
# processes, side by side with `pm2 jlist` and `supervisorctl status` managing
# the same number of sleeping processes, and (BENCH_BASE) with another berth
# build, all in one run:
#   - 50 sessions of 1 sleeping service each, 50 of 3 (150 services), and 50
#     of 3 whose first service listens on its port (berth-test-listen, ready
#     = port): `berth status` (every session), `berth status --json`, `berth
#     status <slug>` (one session of the 50), `berth ls`; with runner =
#     tmux, 50 sessions of 1 service: `berth status`
#   - supervisord with 50 and 150 programs (`sleep`): `supervisorctl status`;
#     pm2 with 50 and 150 apps (`sleep`): `pm2 jlist`
#   - the syscalls of each berth command (strace -f -c), and whether the two
#     berth builds print the same (times aside)
# Output is Markdown (bench/README.md "status" holds a run's).
#
# Usage: bench/status/run.sh [BUILD]
#   BENCH_BASE=DIR: a build directory of another commit (the base), measured
#   beside BUILD; SESSIONS (50, at most 64); RUNS (30) timed runs of each
#   command, one run of each in turn; HF_RUNS (10, 0: none) runs of each
#   again under hyperfine -N; BENCH_PM2 / BENCH_SUPERVISORD: the peers'
#   binaries; BENCH_TMUX=0 skips runner = tmux.
# hyperfine, strace, supervisor and tmux are installed with apt-get when
# missing (as root); pm2 with npm into BUILD/bench-peers/pm2 (kept, as the
# services benchmark does). What cannot be had is skipped with the reason.
# Everything the run starts is stopped on exit, Ctrl-C included: sessions
# (`berth down --force`), the tmux server, supervisord, pm2 (`pm2 kill`), then
# any process still carrying the run's BENCH_TAG, by pid.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC2034 # read by benchlib.sh: its messages start "status: "
bench=status
# shellcheck source=bench/benchlib.sh disable=SC1091
. "$here/bench/benchlib.sh"
build=${1:-build}
case $build in /*) bdir=$build ;; *) bdir=$here/$build ;; esac
SESSIONS=${SESSIONS:-50}
RUNS=${RUNS:-30}
HF_RUNS=${HF_RUNS:-10}
export SESSIONS RUNS HF_RUNS

BENCH_BERTH=$bdir/berth
BENCH_LISTEN=$bdir/tests/berth-test-listen
[ -x "$BENCH_LISTEN" ] || BENCH_LISTEN=
export BENCH_LISTEN
BENCH_BASE_BERTH=
if [ -n "${BENCH_BASE:-}" ]; then
  BENCH_BASE_BERTH=$BENCH_BASE/berth
  [ -x "$BENCH_BASE_BERTH" ] || { echo "status: $BENCH_BASE_BERTH is missing" >&2; exit 1; }
fi
[ -x "$BENCH_BERTH" ] || { echo "status: $BENCH_BERTH is missing; build first: ninja -C $bdir" >&2; exit 1; }
export BENCH_BERTH BENCH_BASE_BERTH

# --- tools and peers ---------------------------------------------------------
command -v hyperfine >/dev/null 2>&1 || apt_install hyperfine
command -v strace >/dev/null 2>&1 || apt_install strace
BENCH_HYPERFINE=$(command -v hyperfine 2>/dev/null)
BENCH_STRACE=$(command -v strace 2>/dev/null)
export BENCH_HYPERFINE BENCH_STRACE

BENCH_TMUX=${BENCH_TMUX:-}
BENCH_TMUX_WHY=
if [ "$BENCH_TMUX" = 0 ]; then
  BENCH_TMUX=
  BENCH_TMUX_WHY="BENCH_TMUX=0"
else
  command -v tmux >/dev/null 2>&1 || apt_install tmux
  BENCH_TMUX=$(tmux -V 2>/dev/null)
  [ -n "$BENCH_TMUX" ] || BENCH_TMUX_WHY="no tmux, and apt-get install tmux failed or needs root"
fi
export BENCH_TMUX BENCH_TMUX_WHY

BENCH_PM2=${BENCH_PM2:-}
BENCH_PM2_WHY=
pm2_prefix=$bdir/bench-peers/pm2
if [ -z "$BENCH_PM2" ]; then
  pm2_install "$pm2_prefix"
fi
pm2_version=$(pm2_pkg_version)

BENCH_SUPERVISORD=${BENCH_SUPERVISORD:-$(command -v supervisord 2>/dev/null)}
BENCH_SUP_WHY=
if [ -z "$BENCH_SUPERVISORD" ]; then
  supervisord_install
fi
export BENCH_PM2 BENCH_PM2_WHY BENCH_SUPERVISORD BENCH_SUP_WHY

# --- scratch directory and cleanup -----------------------------------------
scratch_dirs status bs
py="python3 $here/bench/status/statusbench.py"
# The driver runs in the background and is waited for, so that a signal to
# this script runs the trap at once; the trap stops the driver by its pid,
# then everything it started.
drv=
cleaned=no
cleanup() {
  [ $cleaned = yes ] && return 0
  cleaned=yes
  if [ -n "$drv" ]; then
    kill -TERM "$drv" 2>/dev/null
    wait "$drv" 2>/dev/null
  fi
  left=$($py cleanup)
  for s in "$BENCH_RUNTIME"/berth/*; do
    [ -S "$s" ] && tmux -S "$s" kill-server >/dev/null 2>&1
  done
  rm -rf "$BENCH_WORK" "$BENCH_RUNTIME"
  [ "${left:-0}" = 0 ] || echo "status: cleanup killed $left leftover processes" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- the run ---------------------------------------------------------------
# describe DIR [rev]: "DIR (buildtype) of REV" for a build directory (its
# build type, the commit of its source tree); with rev, the commit alone
describe() {
  python3 - "$@" <<'EOF_PY'
import json, os, subprocess, sys
d = sys.argv[1]
info = os.path.join(d, "meson-info")
try:
    bt = [o["value"] for o in json.load(open(os.path.join(info, "intro-buildoptions.json")))
          if o["name"] == "buildtype"][0]
    src = json.load(open(os.path.join(info, "meson-info.json")))["directories"]["source"]
    rev = subprocess.run(["git", "-C", src, "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True).stdout.strip()
except (OSError, ValueError, KeyError, IndexError):
    bt, rev = "", ""
if sys.argv[2:] == ["rev"]:
    print(rev)
else:
    print("%s%s%s" % (d, " (%s)" % bt if bt else "", " of " + rev if rev else ""))
EOF_PY
}
BENCH_LABEL=$(describe "$bdir" rev)
BENCH_BASE_LABEL=
[ -n "${BENCH_BASE:-}" ] && BENCH_BASE_LABEL=$(describe "$BENCH_BASE" rev)
export BENCH_LABEL BENCH_BASE_LABEL
echo "# berth status benchmark"
echo
tools="hyperfine $( [ -n "$BENCH_HYPERFINE" ] && hyperfine --version | cut -d' ' -f2 || echo '(none: a timed loop)')"
tools="$tools, pm2 ${pm2_version:-(none)}, supervisord $( [ -n "$BENCH_SUPERVISORD" ] && "$BENCH_SUPERVISORD" --version 2>/dev/null || echo '(none)'), node $(node --version 2>/dev/null || echo '(none)'), ${BENCH_TMUX:-no tmux}"
echo "$(date -u +%Y-%m-%d), $(nproc) CPUs, Linux $(uname -r), loadavg $(cut -d' ' -f1-3 /proc/loadavg) at the start;" \
  "build $(describe "$bdir")${BENCH_BASE:+, base $(describe "$BENCH_BASE")}; $SESSIONS sessions;" \
  "median of $RUNS runs (hyperfine: $HF_RUNS); $tools"
echo
$py run &
drv=$!
wait $drv
rc=$?
drv=
[ $rc = 0 ] || exit $rc
echo
echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg) at the end"
