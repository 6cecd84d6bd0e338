#!/bin/sh
# bench/shim/run.sh: what berth-shim costs and how fast it stops, side by
# side with the floor, all measured in one run:
#   1. log throughput: a generator's 2,000,000 lines of 21 bytes through
#      berth-shim into its log (--log-max 0, and the default 10 MiB rotation),
#      against the generator writing straight to a file (`sh -c 'GEN > file'`)
#   2. stopping a flooding service: SIGTERM to `berth-shim --stop-grace 1000
#      -- yes` once its log grows; time until the shim has exited, its final
#      state (target: within stop_grace + 100 ms, `stopped`)
#   3. stopping a service tree: sh -> wrapper sh -> sh -> listener, plus a
#      setsid() escapee and a double-forked daemon (nothing ignores TERM: the
#      figures are the mechanism, not a grace period), stopped by berth-shim
#      (SIGTERM to the shim), by SIGTERM to the top process only (nohup-style
#      runners), to the top's process group, and by `tmux kill-session`: time
#      until the stopper is done, and survivors (processes of the tree alive
#      1 s later, then killed)
#   4. memory: RSS and PSS of a shim supervising `sleep 1000`, beside that
#      sleep and a bare one (target: PSS <= 0.5 MB)
# Output is Markdown (bench/README.md "shim" holds a run's).
#
# Usage: bench/shim/run.sh [BUILD]
#   RUNS=N (5) rounds of 1, 2 and 4 (plus a warm-up round of 1 and 2);
#   TREE_RUNS=N (10) of 3; BENCH_PARTS="1 2 3 4" (all): only these sections;
#   BENCH_LINES=N (2000000) lines in 1; BENCH_SHIM_ALSO="LABEL=PATH,..." more
#   berth-shim binaries measured beside this build's in 1 and 2 (another
#   commit's build, say); BENCH_FLOOD_TIMEOUT=S (20) how long 2 waits.
# Every process the script starts is killed by pid: the tree's processes carry
# BENCH_TREE=<scratch dir>/<port> in their environment, which finds them.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case $build in /*) bdir=$build ;; *) bdir=$here/$build ;; esac
RUNS=${RUNS:-5}
TREE_RUNS=${TREE_RUNS:-10}
BENCH_PARTS=${BENCH_PARTS:-1 2 3 4}
export RUNS
part() { case " $BENCH_PARTS " in *" $1 "*) return 0 ;; esac; return 1; }

SHIM=$bdir/berth-shim
LISTEN=$bdir/tests/berth-test-listen
LOGGEN=$bdir/bench/bench_loggen
for f in "$SHIM" "$LISTEN" "$LOGGEN"; do
  if [ ! -x "$f" ]; then
    echo "shim: $f is missing; build first: ninja -C $bdir" >&2
    exit 1
  fi
done
BENCH_SHIM=$SHIM
BENCH_LOGGEN=$LOGGEN
export BENCH_SHIM BENCH_LOGGEN

work=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-shim.XXXXXX") || exit 1
BENCH_WORK=$work
export BENCH_WORK
tmux_sock="berthbench$$"
started=   # pids of shims and tops this script started
# Processes whose environment holds BENCH_TREE=$work/<port> (<port>: one
# tree; empty: every tree of this run).
tree_pids() {
  if [ -n "$1" ]; then
    grep -lzsxF "BENCH_TREE=$work/$1" /proc/[0-9]*/environ
  else
    grep -lzs "^BENCH_TREE=$work/" /proc/[0-9]*/environ
  fi | cut -d/ -f3
}
cleaned=no
cleanup() {
  [ $cleaned = yes ] && return 0
  cleaned=yes
  # shellcheck disable=SC2086 # a list of pids
  [ -n "$started" ] && kill -KILL $started 2>/dev/null
  tree_pids "" | xargs -r kill -KILL 2>/dev/null
  tmux -L "$tmux_sock" kill-server 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$work" || exit 1

buildtype=$(python3 -c 'import json, sys
print([o["value"] for o in json.load(open(sys.argv[1])) if o["name"] == "buildtype"][0])' \
  "$bdir/meson-info/intro-buildoptions.json" 2>/dev/null)
commit=$(git -C "$here" rev-parse --short HEAD 2>/dev/null)
[ -n "$commit" ] && [ -n "$(git -C "$here" --no-optional-locks status --porcelain \
  --untracked-files=no 2>/dev/null)" ] && commit="$commit + uncommitted changes"
echo "# berth-shim benchmark"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) CPUs, Linux $(uname -r), loadavg $(cut -d' ' -f1-3 /proc/loadavg) at the start;" \
  "build $build${buildtype:+ ($buildtype)}${commit:+ of $commit}; median of $RUNS unless said"
[ "$BENCH_PARTS" = "1 2 3 4" ] || echo "(sections $BENCH_PARTS only)"
echo
py="python3 $here/bench/shim/shimbench.py"

if part 1; then
  echo "## 1. Log throughput"
  echo
  $py log || exit 1
  echo
fi

if part 2; then
  echo "## 2. Stopping a service that floods its output"
  echo
  $py flood || exit 1
  echo
fi

# --- 3. stopping a service tree --------------------------------------------
now_us() { echo $(( $(date +%s%N) / 1000 )); }

cat >tree.sh <<EOF_SH
sh -c 'sh -c "exec $LISTEN \$1 >/dev/null" & wait' sh "\$1" &
setsid sh -c 'exec sleep 9\$1' sh "\$1" &
sh -c '(sh -c "exec sleep 8\$1" sh "\$1" &)' sh "\$1"
echo up >"\$2"
wait
EOF_SH

wait_up() {
  i=0
  while [ ! -s "$1" ] || ! ss -Hltn "sport = :$2" | grep -q .; do
    i=$((i + 1)); [ $i -gt 2000 ] && { echo "tree did not come up" >&2; return 1; }
    sleep 0.005
  done
}

# survivors PORT: count the tree's processes still alive (zombies aside),
# then kill them.
survivors() {
  sleep 1
  n=0
  for p in $(tree_pids "$1"); do
    s=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
    [ -n "$s" ] && [ "$s" != Z ] && n=$((n + 1))
  done
  tree_pids "$1" | xargs -r kill -KILL 2>/dev/null
  echo "$n"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

port=28500
run_method() {
  method=$1 label=$2
  : >"times.$method"; : >"surv.$method"
  r=0
  while [ $r -lt "$TREE_RUNS" ]; do
    r=$((r + 1)); port=$((port + 1)); rm -f up
    cmd="BENCH_TREE=$work/$port sh $work/tree.sh $port $work/up"
    case $method in
    shim)
      "$SHIM" --status st --log lg --stop-grace 5000 -- "$cmd" &
      top=$! ;;
    tmux)
      tmux -L "$tmux_sock" -f /dev/null new-session -d -s b "$cmd" ;;
    *)
      setsid env "BENCH_TREE=$work/$port" sh "$work/tree.sh" "$port" "$work/up" &
      top=$! ;;
    esac
    [ "$method" = tmux ] || started="$started $top"
    wait_up up $port || return 1
    t0=$(now_us)
    case $method in
    shim | top) kill -TERM "$top"; wait "$top" 2>/dev/null ;;
    group) kill -TERM "-$top"; wait "$top" 2>/dev/null ;;
    tmux) tmux -L "$tmux_sock" kill-session -t =b ;;
    esac
    t1=$(now_us)
    echo $((t1 - t0)) >>"times.$method"
    survivors $port >>"surv.$method"
  done
  [ "$method" = tmux ] && tmux -L "$tmux_sock" kill-server 2>/dev/null
  printf '| %s | %s ms | %s |\n' "$label" \
    "$(median <"times.$method" | awk '{printf "%.1f", $1/1000}')" \
    "$(awk '{s+=$1} END {printf "%d in %d runs", s, NR}' "surv.$method")"
}

if part 3; then
  echo "## 3. Stopping a service tree"
  echo
  echo "A 4-level tree + a setsid escapee + a double-forked daemon; median of $TREE_RUNS"
  echo
  echo "| method | time | survivors |"
  echo "|---|---|---|"
  run_method shim "berth-shim (SIGTERM to the shim)" || exit 1
  run_method top "\`kill -TERM\` of the top pid (nohup-style runners)" || exit 1
  run_method group "\`kill -TERM\` of the process group" || exit 1
  if command -v tmux >/dev/null 2>&1; then
    run_method tmux "\`tmux kill-session\` ($(tmux -V))" || exit 1
  else
    echo "| \`tmux kill-session\` | (tmux is not installed) | |"
  fi
  echo
fi

if part 4; then
  echo "## 4. Memory of an idle shim"
  echo
  $py memory || exit 1
  echo
fi
echo "loadavg $(cut -d' ' -f1-3 /proc/loadavg) at the end"
