#!/bin/sh
# bench/shim/run.sh: stopping a service tree, and what a shim costs.
#
# The tree is what dev servers really look like: sh -> wrapper sh -> sh ->
# listener, plus a setsid() escapee and a double-forked daemon (no process
# ignores TERM here, so the figures are the mechanism, not a grace period).
# Side by side in one run, for the same tree:
#   berth-shim   SIGTERM to the shim; it stops the group and every descendant
#   kill top     SIGTERM to the top process only (a nohup-style runner)
#   kill group   SIGTERM to the top's process group (an improved runner)
#   tmux         `tmux kill-session` of a session whose pane runs the tree
# For each: time until the stopper is done, and survivors (processes of the
# tree still alive 1 s later, then killed). Then the shim's RSS and PSS beside
# a `sleep` process (the floor of any process).
#
# Usage: bench/shim/run.sh [BUILD]   (RUNS=N rounds, default 10)
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
SHIM=$here/$build/berth-shim
LISTEN=$here/$build/tests/berth-test-listen
RUNS=${RUNS:-10}
work=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-shim.XXXXXX")
trap 'pkill -KILL -f "$work" 2>/dev/null; rm -rf "$work"' EXIT
cd "$work" || exit 1
port=28500

now_us() { echo $(( $(date +%s%N) / 1000 )); }

cat >tree.sh <<EOF_SH
sh -c 'sh -c "exec $LISTEN \$1 >/dev/null" & wait' sh "\$1" &
setsid sh -c 'exec sleep 9\$1' sh "\$1" &
sh -c '(sh -c "exec sleep 8\$1" sh "\$1" &)' sh "\$1"
echo up >"\$2"
wait
EOF_SH

# Processes of the tree of PORT: the listener, the two sleeps named after the
# port, and the shells running tree.sh for it.
tree_pids() { pgrep -f "berth-test-listen $1\$|sleep [89]$1\$|tree.sh $1 " 2>/dev/null; }

wait_up() {
  i=0
  while [ ! -s "$1" ] || ! ss -Hltn "sport = :$2" | grep -q .; do
    i=$((i + 1)); [ $i -gt 2000 ] && { echo "tree did not come up" >&2; return 1; }
    sleep 0.005
  done
}

# survivors PORT: count tree processes still alive, then kill them.
survivors() {
  sleep 1
  n=$(tree_pids "$1" | wc -l)
  tree_pids "$1" | xargs -r kill -KILL 2>/dev/null
  echo "$n"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

run_method() {
  method=$1
  : >"times.$method"; : >"surv.$method"
  r=0
  while [ $r -lt "$RUNS" ]; do
    r=$((r + 1)); port=$((port + 1)); rm -f up
    case $method in
    shim)
      "$SHIM" --status st --log lg --stop-grace 5000 -- "sh $work/tree.sh $port $work/up" &
      top=$! ;;
    tmux)
      tmux -L "berthbench$$" -f /dev/null new-session -d -s b "sh $work/tree.sh $port $work/up" ;;
    *)
      setsid sh "$work/tree.sh" "$port" "$work/up" &
      top=$! ;;
    esac
    wait_up up $port || return 1
    t0=$(now_us)
    case $method in
    shim) kill -TERM $top; wait $top 2>/dev/null ;;
    top) kill -TERM $top; wait $top 2>/dev/null ;;
    group) kill -TERM "-$top"; wait $top 2>/dev/null ;;
    tmux) tmux -L "berthbench$$" kill-session -t =b ;;
    esac
    t1=$(now_us)
    echo $((t1 - t0)) >>"times.$method"
    survivors $port >>"surv.$method"
  done
  tmux -L "berthbench$$" kill-server 2>/dev/null
  printf '%-12s %10s ms %14s\n' "$method" \
    "$(median <"times.$method" | awk '{printf "%.2f", $1/1000}')" \
    "$(awk '{s+=$1} END {printf "%d in %d runs", s, NR}' "surv.$method")"
}

echo "stopping a 4-level tree + setsid escapee + double-forked daemon (median of $RUNS)"
printf '%-12s %13s %14s\n' method "time" survivors
run_method shim
run_method top
run_method group
if command -v tmux >/dev/null 2>&1; then run_method tmux; else echo "tmux         (not installed)"; fi

# Memory: a shim supervising `sleep`, beside a bare `sleep`.
"$SHIM" --status st --log lg -- "exec sleep 1000" &
shim=$!
sleep 1000 &
bare=$!
i=0; while ! grep -q running st 2>/dev/null; do i=$((i+1)); [ $i -gt 2000 ] && break; sleep 0.005; done
mem() { awk '/^Rss:/ {r=$2} /^Pss:/ {p=$2} END {printf "RSS %6.2f MB  PSS %6.2f MB", r/1024, p/1024}' "/proc/$1/smaps_rollup"; }
echo
echo "memory"
printf '%-12s %s\n' berth-shim "$(mem $shim)"
printf '%-12s %s\n' sleep "$(mem $bare)"
kill -TERM $shim $bare; wait
