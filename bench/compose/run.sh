#!/bin/sh
# bench/compose/run.sh: berth's docker compose "hybrid" mode against compose
# alone, all measured in one run:
#   1. `berth up` -> every docker service ready, and `berth down`, for 1
#      service (db) and 3 (db, cache, mq: busybox httpd on three container
#      ports), mode = hybrid
#   2. the same session compose file brought up directly (`compose -p P -f F
#      up -d`, then a wait until each port takes a connection that stays up
#      100 ms, as berth waits) and down (`compose -p P -f F down -v`)
#   3. `berth up`/`down` of 0 services (mode = host): the fixed cost of the
#      worktree and the state
#   4. the docker commands berth runs besides compose up/down, each alone,
#      and the engine requests that replace them; then berth's own docker
#      steps in-process (bench_engine, when the first build has it)
# Output is Markdown tables (bench/README.md "compose" holds a run's).
#
# Usage: bench/compose/run.sh [BUILD [BASE_BUILD...]]   (RUNS=N counted
#   rounds, default 5; one warm-up round more; BENCH_RAW=FILE also writes
#   every time as JSON). With more than one build, each one's berth is
#   measured in every round beside the others (a change against its base
#   commit, in the same run).
# Needs a Docker engine that answers and the local image berth-test/busybox
# (no registry is used). As root, when either is missing, it runs
# `sh scripts/docker-up.sh BUILD` first (which starts dockerd and builds the
# image, as `make test` does; dockerd is left running). Otherwise, or when
# that fails, it prints why and exits 0 (skipped).
# Every compose project it makes is named <tag>-...; at exit the containers,
# networks and volumes labelled with those projects are removed, and the
# scratch directory (repositories, HOME, XDG_RUNTIME_DIR) too.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck disable=SC2034 # read by benchlib.sh: its messages start "compose: "
bench=compose
# shellcheck source=bench/benchlib.sh disable=SC1091
. "$here/bench/benchlib.sh"
build=${1:-build}
[ $# -gt 0 ] && shift
case $build in /*) bdir=$build ;; *) bdir=$here/$build ;; esac
RUNS=${RUNS:-5}
export RUNS
BENCH_IMAGE=berth-test/busybox
bdirs=$bdir
for b in "$@"; do
  case $b in /*) bdirs="$bdirs $b" ;; *) bdirs="$bdirs $here/$b" ;; esac
done
for d in $bdirs; do
  need_built "$d" "$d/berth" "$d/berth-shim"
done

# --- scratch directory and cleanup -----------------------------------------
BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-compose.XXXXXX") || exit 1
BENCH_RUNTIME=$BENCH_WORK/run
mkdir -p "$BENCH_WORK/home" "$BENCH_RUNTIME" && chmod 700 "$BENCH_RUNTIME"
# a lowercase tag that starts every compose project name of this run
BENCH_TAG=berthbench-$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
# berth itself is copied there, so that a rebuild during the run changes
# nothing; BENCH_BERTHS holds "label=path" per build, the label saying which
# commit it was built from (its source tree's HEAD, "+" when it had changes)
BENCH_BERTHS=
i=0
for d in $bdirs; do
  i=$((i + 1))
  src=$(python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["directories"]["source"])' "$d/meson-info/meson-info.json" 2>/dev/null)
  rev=$(git -C "${src:-.}" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [ -n "$(git -C "${src:-.}" status --porcelain --untracked-files=no 2>/dev/null)" ] && rev="$rev+"
  if ! { mkdir -p "$BENCH_WORK/bin/$i" && cp "$d/berth" "$d/berth-shim" "$BENCH_WORK/bin/$i/"; }; then
    rm -rf "$BENCH_WORK"
    exit 1
  fi
  BENCH_BERTHS="$BENCH_BERTHS $rev=$BENCH_WORK/bin/$i/berth"
done
export BENCH_WORK BENCH_RUNTIME BENCH_TAG BENCH_BERTHS BENCH_IMAGE
# nothing of the user's: docker, compose, git and berth see this HOME
HOME=$BENCH_WORK/home
XDG_RUNTIME_DIR=$BENCH_RUNTIME
XDG_CONFIG_HOME=$HOME/.config
XDG_STATE_HOME=$HOME/.local/state
XDG_DATA_HOME=$HOME/.local/share
XDG_CACHE_HOME=$HOME/.cache
export HOME XDG_RUNTIME_DIR XDG_CONFIG_HOME XDG_STATE_HOME XDG_DATA_HOME XDG_CACHE_HOME
py="python3 $here/bench/compose/composebench.py"

cleaned=no
cleanup() {
  [ $cleaned = yes ] && return 0
  cleaned=yes
  n=0
  if docker info >/dev/null 2>&1; then
    for p in $($py projects); do
      f="label=com.docker.compose.project=$p"
      ids=$(docker ps -aq --filter "$f" 2>/dev/null)
      # shellcheck disable=SC2086 # one id per word
      [ -z "$ids" ] || { docker rm -f -v $ids >/dev/null 2>&1; set -- $ids; n=$((n + $#)); }
      for kind in network volume; do
        ids=$(docker $kind ls -q --filter "$f" 2>/dev/null)
        # shellcheck disable=SC2086
        [ -z "$ids" ] || { docker $kind rm $ids >/dev/null 2>&1; set -- $ids; n=$((n + $#)); }
      done
    done
  fi
  rm -rf "$BENCH_WORK"
  [ $n = 0 ] || echo "compose: cleanup removed $n leftover docker objects" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM

skip() {
  echo "compose: skipped: $*"
  exit 0
}

# --- docker, compose and the image -----------------------------------------
command -v docker >/dev/null 2>&1 || skip "no docker client (apt-get install docker.io)"
answers() { timeout 20 docker info >/dev/null 2>&1; }
has_image() { docker image inspect "$BENCH_IMAGE" >/dev/null 2>&1; }
if ! answers || ! has_image; then
  if [ "$(id -u)" = 0 ]; then
    echo "compose: sh scripts/docker-up.sh $bdir" >&2
    sh "$here/scripts/docker-up.sh" "$bdir" >&2
  fi
  if ! answers; then
    why=$(cat "$bdir/docker-status" 2>/dev/null)
    [ "$why" = ok ] && why=
    skip "no Docker daemon answers${why:+ ($why)}"
  fi
  has_image || skip "the image $BENCH_IMAGE is missing (sh scripts/docker-up.sh builds it; as root)"
fi
if docker compose version >/dev/null 2>&1; then
  compose_version="docker compose $(docker compose version --short 2>/dev/null)"
elif docker-compose version >/dev/null 2>&1; then
  compose_version="docker-compose $(docker-compose version --short 2>/dev/null)"
else
  skip "neither \`docker compose\` nor \`docker-compose\` runs (apt-get install docker-compose)"
fi

# --- the run ---------------------------------------------------------------
buildtype=$(python3 -c 'import json, sys
print([o["value"] for o in json.load(open(sys.argv[1])) if o["name"] == "buildtype"][0])' \
  "$bdir/meson-info/intro-buildoptions.json" 2>/dev/null)
echo "# berth docker compose benchmark"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) CPUs, Linux $(uname -r), loadavg $(cut -d' ' -f1-3 /proc/loadavg) at the start;" \
  "build(s) $bdirs${buildtype:+ ($buildtype)}, berth:$BENCH_BERTHS;" \
  "Docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null)" \
  "(client $(docker version --format '{{.Client.Version}}' 2>/dev/null)), $compose_version;" \
  "median of $RUNS (after a warm-up round)"
echo
$py run || exit 1
echo
if [ -x "$bdir/bench/bench_engine" ]; then
  echo "### berth's own docker steps, in-process (\`bench_engine\` of the first build)"
  echo
  echo "| step (${RUNS_ENGINE:-300} calls each) | median | min – max |"
  echo "|---|---|---|"
  "$bdir/bench/bench_engine" "$BENCH_WORK/flavour-cache" "$BENCH_TAG-none_x" "${RUNS_ENGINE:-300}" ||
    echo "compose: bench_engine failed" >&2
  echo
fi
echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg) at the end"
