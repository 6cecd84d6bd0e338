#!/bin/sh
# bench/watch/run.sh: `berth watch`, the background supervisor, side by side
# with a poll, a periodic tick and two peers, all measured in one run:
#   1. a shim's death -> the watcher knows: kill -9 of a session's berth-shim,
#      until the watcher's "shim-died" line; beside it a 100 ms /proc/<pid>
#      poll (on a berth-shim killed the same way, whose parent reaps it, and
#      on the killed shim itself) and a 60 s reconcile tick (modelled)
#   2. a shim's death -> the service listens again on its port (the watcher's
#      `berth restart`), against supervisord (autorestart) and pm2 after a
#      kill -9 of the process they supervise; for reference, a kill -9 of the
#      service under a live shim (the shim's own restart, no watcher)
#   3. the watcher's memory with 20 sessions up (RSS and PSS from
#      smaps_rollup), beside the 20 shims, supervisord and pm2's daemon
#      supervising the same 20 listeners
# Parts 1 and 2 come from the same kills, taken in rounds that kill once in
# every system in turn. Output is Markdown (bench/README.md "watch" holds a
# run's).
#
# Usage: bench/watch/run.sh [BUILD]
#   KILLS=N (50) counted kills per system (after one warm-up round);
#   SESSIONS=N (20) sessions in 3; BENCH_PARTS="1 2 3" (all): only these
#   (1 and 2 share their kills: either runs them); BENCH_PM2 /
#   BENCH_SUPERVISORD: use these binaries.
# supervisor, nodejs and npm are installed with apt-get when missing (as root);
# pm2, when neither BENCH_PM2, a `pm2` on PATH nor the services benchmark's
# BUILD/bench-peers/pm2 is there, is installed with npm into the scratch
# directory (removed at the end). A peer that cannot be had is skipped with
# the reason. Everything the run starts is stopped on exit, Ctrl-C included:
# watchers, sessions (`berth down --force`), supervisord, pm2 (`pm2 kill`),
# then any process still carrying the run's BENCH_TAG, by pid.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC2034 # read by benchlib.sh: its messages start "watch: "
bench=watch
# shellcheck source=bench/benchlib.sh disable=SC1091
. "$here/bench/benchlib.sh"
build=${1:-build}
case $build in /*) bdir=$build ;; *) bdir=$here/$build ;; esac
KILLS=${KILLS:-50}
SESSIONS=${SESSIONS:-20}
BENCH_PARTS=${BENCH_PARTS:-1 2 3}
export KILLS SESSIONS BENCH_PARTS
part() { case " $BENCH_PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

BENCH_BERTH=$bdir/berth
BENCH_SHIM=$bdir/berth-shim
BENCH_LISTEN=$bdir/tests/berth-test-listen
need_built "$bdir" "$BENCH_BERTH" "$BENCH_SHIM" "$BENCH_LISTEN"
export BENCH_BERTH BENCH_SHIM BENCH_LISTEN
if ! "$BENCH_BERTH" watch --help >/dev/null 2>&1; then
  echo "watch: this berth has no \`berth watch\` ($BENCH_BERTH watch --help fails): only the peers and the polls run" >&2
  BENCH_NO_WATCH=1
else
  BENCH_NO_WATCH=
fi
export BENCH_NO_WATCH

# --- scratch directory and cleanup -----------------------------------------
BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-watch.XXXXXX") || exit 1
export BENCH_WORK
mkdir -p "$BENCH_WORK/home" "$BENCH_WORK/run"
chmod 700 "$BENCH_WORK/run"
py="python3 $here/bench/watch/watchbench.py"
# The drivers run in the background and are waited for, so that a signal to
# this script runs the trap at once (not when the driver ends); the trap
# stops the driver by its pid, then everything it started.
drv=
drive() {
  $py "$@" &
  drv=$!
  wait $drv
  rc=$?
  drv=
  return $rc
}
cleaned=no
cleanup() {
  [ $cleaned = yes ] && return 0
  cleaned=yes
  if [ -n "$drv" ]; then
    kill -TERM "$drv" 2>/dev/null
    wait "$drv" 2>/dev/null
  fi
  left=$($py cleanup 2>/dev/null)
  rm -rf "$BENCH_WORK"
  [ "${left:-0}" = 0 ] || echo "watch: cleanup killed $left leftover processes" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# --- peers -----------------------------------------------------------------
peers=no
{ part 2 || part 3; } && peers=yes

BENCH_SUPERVISORD=${BENCH_SUPERVISORD:-$(command -v supervisord 2>/dev/null)}
BENCH_SUP_WHY=
if [ -z "$BENCH_SUPERVISORD" ] && [ $peers = yes ]; then
  supervisord_install
fi

BENCH_PM2=${BENCH_PM2:-}
BENCH_PM2_WHY=
if [ -z "$BENCH_PM2" ] && [ $peers = yes ]; then
  if command -v pm2 >/dev/null 2>&1; then
    BENCH_PM2=$(command -v pm2)
  elif [ -x "$bdir/bench-peers/pm2/node_modules/.bin/pm2" ]; then
    BENCH_PM2=$bdir/bench-peers/pm2/node_modules/.bin/pm2
  else
    { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; } ||
      apt_install nodejs npm
    if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
      pm2_prefix=$BENCH_WORK/pm2-install
      echo "watch: npm install pm2 into the scratch directory" >&2
      mkdir -p "$pm2_prefix" &&
        echo '{"name": "berth-bench-watch-peers", "private": true}' >"$pm2_prefix/package.json" &&
        (cd "$pm2_prefix" && HOME=$BENCH_WORK/home npm install --no-audit --no-fund \
          --loglevel=error pm2 >"$BENCH_WORK/npm.log" 2>&1)
      if [ -x "$pm2_prefix/node_modules/.bin/pm2" ]; then
        BENCH_PM2=$pm2_prefix/node_modules/.bin/pm2
      else
        BENCH_PM2_WHY="npm install pm2 failed: $(tail -n 1 "$BENCH_WORK/npm.log" 2>/dev/null)"
      fi
    else
      BENCH_PM2_WHY="no node and npm, and they cannot be installed (needs root and apt-get)"
    fi
  fi
fi
pm2_version=$(pm2_pkg_version)
export BENCH_PM2 BENCH_PM2_WHY BENCH_SUPERVISORD BENCH_SUP_WHY

# --- the run ---------------------------------------------------------------
buildtype=$(buildtype "$bdir")
rev=$(git -C "$here" rev-parse --short HEAD 2>/dev/null)
echo "# berth watch benchmark"
echo
tools=
[ $peers = yes ] && tools="pm2 ${pm2_version:-(none)}, supervisord $( [ -n "$BENCH_SUPERVISORD" ] && "$BENCH_SUPERVISORD" --version 2>/dev/null || echo '(none)'), node $(node --version 2>/dev/null || echo '(none)')"
echo "$(date -u +%Y-%m-%d), $(nproc) CPUs, Linux $(uname -r), loadavg $(cut -d' ' -f1-3 /proc/loadavg) at the start;" \
  "build $build${buildtype:+ ($buildtype)}${rev:+ of $rev}; $KILLS counted kills per system${tools:+; $tools}"
[ "$BENCH_PARTS" = "1 2 3" ] || echo "(parts $BENCH_PARTS only)"
echo

if part 1 || part 2; then
  drive kills || exit 1
fi
if part 3; then
  drive memory || exit 1
fi
echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg) at the end"
