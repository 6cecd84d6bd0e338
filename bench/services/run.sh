#!/bin/sh
# bench/services/run.sh: berth's supervision of native services, side by side
# with the floor and with peers, all measured in one run:
#   1. `berth up` -> every service ready, for 0, 1 and 10 listeners, against
#      the same listeners started by one shell; `berth down`; 1 and 10 again
#      under runner = tmux, side by side with runner = process and with tmux
#      alone starting the listeners (one client call)
#   2. instant failure: `berth up` of a service that dies at once (`exit 3`, a
#      missing binary) -> exit 6 with the report, against the bare spawn and a
#      fixed 1.5 s "did it survive" window
#   3. death detection: pidfd (parent and non-parent) against a 100 ms
#      kill(pid, 0) poll (C: bench_deathlat)
#   4. 5 listeners started and stopped by berth, by a shell, by pm2 and by
#      supervisord: until all listen, until all are gone, survivors
# Output is Markdown tables (bench/README.md "services" holds a run's).
#
# Usage: bench/services/run.sh [BUILD]
#   RUNS=N (10) rounds of everything; COLD_RUNS=N (5) rounds of the peers'
#   cold starts; DEATH_RUNS=N (200) samples of pidfd, a fifth of that for
#   the 100 ms poll. BENCH_PM2 / BENCH_SUPERVISORD: use these binaries.
#   BENCH_PARTS="1 2 3 4 5" (all): run only these sections.
#   BENCH_BASE=DIR: a baseline build (another commit's build directory):
#   its berth runs too, in the same rounds: section 1 adds a before/after
#   table (runner = process and tmux, 1 and 10 services); sections 2, 4 and
#   5 add its rows, marked "(base build)".
# pm2 is installed with npm into BUILD/bench-peers/pm2 (kept for the next
# run), supervisor and tmux (>= 3.2, for runner = tmux) with apt-get, when
# missing and possible; a peer or runner that cannot be had is skipped with
# the reason.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC2034 # read by benchlib.sh: its messages start "services: "
bench=services
# shellcheck source=bench/benchlib.sh disable=SC1091
. "$here/bench/benchlib.sh"
build=${1:-build}
case $build in /*) bdir=$build ;; *) bdir=$here/$build ;; esac
RUNS=${RUNS:-10}
COLD_RUNS=${COLD_RUNS:-5}
DEATH_RUNS=${DEATH_RUNS:-200}
BENCH_PARTS=${BENCH_PARTS:-1 2 3 4 5}
export RUNS COLD_RUNS
part() { case " $BENCH_PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

BENCH_BERTH=$bdir/berth
BENCH_LISTEN=$bdir/tests/berth-test-listen
DEATHLAT=$bdir/bench/bench_deathlat
need_built "$bdir" "$BENCH_BERTH" "$bdir/berth-shim" "$BENCH_LISTEN" "$DEATHLAT"
export BENCH_BERTH BENCH_LISTEN
BENCH_BERTH_BASE=
if [ -n "${BENCH_BASE:-}" ]; then
  BENCH_BERTH_BASE=$(cd "$BENCH_BASE" && pwd)/berth
  for f in "$BENCH_BERTH_BASE" "$(dirname "$BENCH_BERTH_BASE")/berth-shim"; do
    if [ ! -x "$f" ]; then
      echo "services: $f is missing; build the baseline first: ninja -C $BENCH_BASE" >&2
      exit 1
    fi
  done
fi
export BENCH_BERTH_BASE

# --- peers, and tmux for runner = tmux -------------------------------------
# tmux's version ("3.3a") when it is 3.2 or later, as berth's tmux runner needs
tmux_recent() {
  v=$(tmux -V 2>/dev/null | sed -n 's/^tmux //p')
  case $v in master*) echo "$v"; return 0 ;; esac
  w=${v#next-}
  case $w in [0-9]*.[0-9]*) ;; *) return 1 ;; esac
  maj=${w%%.*}
  min=$(printf '%s' "${w#*.}" | sed 's/[^0-9].*//')
  case $maj in *[!0-9]*) return 1 ;; esac
  { [ "$maj" -gt 3 ] || { [ "$maj" -eq 3 ] && [ "$min" -ge 2 ]; }; } && echo "$v"
}
BENCH_TMUX=
BENCH_TMUX_WHY=
if part 1; then
  BENCH_TMUX=$(tmux_recent)
  [ -n "$BENCH_TMUX" ] || { apt_install tmux && BENCH_TMUX=$(tmux_recent); }
  if [ -z "$BENCH_TMUX" ]; then
    if tmux -V >/dev/null 2>&1; then
      BENCH_TMUX_WHY="$(tmux -V) is older than 3.2, which the tmux runner needs"
    else
      BENCH_TMUX_WHY="no tmux, and apt-get install tmux failed or needs root"
    fi
  fi
fi
export BENCH_TMUX BENCH_TMUX_WHY

BENCH_PM2=${BENCH_PM2:-}
BENCH_PM2_WHY=
pm2_prefix=$bdir/bench-peers/pm2
if [ -z "$BENCH_PM2" ] && { part 4 || part 5; }; then
  pm2_install "$pm2_prefix"
fi
pm2_version=$(pm2_pkg_version)

BENCH_SUPERVISORD=${BENCH_SUPERVISORD:-$(command -v supervisord 2>/dev/null)}
BENCH_SUP_WHY=
if [ -z "$BENCH_SUPERVISORD" ] && { part 4 || part 5; }; then
  supervisord_install
fi
export BENCH_PM2 BENCH_PM2_WHY BENCH_SUPERVISORD BENCH_SUP_WHY

# --- scratch directory and cleanup -----------------------------------------
scratch_dirs svc bb
py="python3 $here/bench/services/svcbench.py"
cleaned=no
cleanup() {
  [ $cleaned = yes ] && return 0
  cleaned=yes
  left=$($py cleanup 2>/dev/null)
  for s in "$BENCH_RUNTIME"/berth/* "$BENCH_RUNTIME"/direct-tmux; do
    [ -S "$s" ] && tmux -S "$s" kill-server >/dev/null 2>&1
  done
  rm -rf "$BENCH_WORK" "$BENCH_RUNTIME"
  [ "${left:-0}" = 0 ] || echo "services: cleanup killed $left leftover processes" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the run ---------------------------------------------------------------
buildtype=$(buildtype "$bdir")
echo "# berth services benchmark"
echo
tools=
part 1 && tools="tmux ${BENCH_TMUX:-(none)}"
{ part 4 || part 5; } && tools="${tools:+$tools, }pm2 ${pm2_version:-(none)}, supervisord $( [ -n "$BENCH_SUPERVISORD" ] && "$BENCH_SUPERVISORD" --version 2>/dev/null || echo '(none)'), node $(node --version 2>/dev/null || echo '(none)')"
echo "$(date -u +%Y-%m-%d), $(nproc) CPUs, Linux $(uname -r), loadavg $(cut -d' ' -f1-3 /proc/loadavg) at the start;" \
  "build $build${buildtype:+ ($buildtype)}; median of $RUNS unless said${tools:+; $tools}"
[ "$BENCH_PARTS" = "1 2 3 4 5" ] || echo "(sections $BENCH_PARTS only)"
[ -z "$BENCH_BERTH_BASE" ] || echo "(baseline: $BENCH_BERTH_BASE)"
echo

if part 1; then
  echo "## 1. \`berth up\` until every service is ready, and \`berth down\`"
  echo
  $py updown || exit 1
  echo
fi

if part 2; then
  echo "## 2. Instant failure"
  echo
  $py fail || exit 1
  echo
fi

if part 3; then
  echo "## 3. Death detection: from the child's exit to the watcher knowing"
  echo
  echo "| mechanism | n | median | p90 | p99 | max |"
  echo "|---|---|---|---|---|---|"
  for m in pidfd watch kill100; do
    n=$DEATH_RUNS
    [ $m = kill100 ] && n=$(( (DEATH_RUNS + 4) / 5 ))
    # shellcheck disable=SC2016 # the backquotes are Markdown
    case $m in
    pidfd) label="pidfd + poll, the parent (berth's reaper)" ;;
    watch) label='pidfd + poll, not the parent (how `berth down` waits for shims)' ;;
    kill100) label='`kill(pid, 0)` every 100 ms, not the parent (overmind)' ;;
    esac
    "$DEATHLAT" $m "$n" | awk -v l="$label" '{printf "| %s | %d | %.3f ms | %.3f ms | %.3f ms | %.3f ms |\n", l, $2, $3, $4, $5, $6}' ||
      exit 1
  done
  echo
fi

if part 4; then
  echo "## 4. 5 listener services: berth against pm2 and supervisord"
  echo
  $py peers || exit 1
  echo
fi
if part 5; then
  echo "## 5. A service SIGKILLed under a restart policy: until it listens again"
  echo
  $py restart || exit 1
  echo
fi
echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg) at the end"
