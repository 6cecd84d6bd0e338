# tests/lib.sh: the integration-test harness (TAP), sourced by every
# tests/*/tNNNN-*.sh script. In the style of git's test-lib:
#
#   . "$BERTH_SRCDIR/tests/lib.sh"
#   test_expect_success 'what it checks' '
#       berth up feat-a &&
#       test -d .berth/worktrees/feat-a
#   '
#   test_done
#
# Each script runs in its own temporary directory with HOME and the XDG dirs
# inside it, a fresh git repository in $REPO (the current directory), and a
# trap that kills everything it started and removes the directory. Every
# wait is bounded (wait_for); nothing sleeps to wait for state.

set -u

: "${BERTH:?BERTH must point to the berth binary (meson sets it)}"
: "${BERTH_SRCDIR:?}"
BERTH_TEST_LISTEN=${BERTH_TEST_LISTEN:-}

TEST_NAME=$(basename "$0" .sh)
TEST_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/berth-$TEST_NAME.XXXXXX")
REPO=$TEST_ROOT/repo
export HOME=$TEST_ROOT/home
export XDG_CONFIG_HOME=$HOME/.config XDG_DATA_HOME=$HOME/.local/share
export XDG_STATE_HOME=$HOME/.local/state XDG_CACHE_HOME=$HOME/.cache
export XDG_RUNTIME_DIR=$TEST_ROOT/run
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=berth-test GIT_AUTHOR_EMAIL=test@berth.invalid
export GIT_COMMITTER_NAME=berth-test GIT_COMMITTER_EMAIL=test@berth.invalid
export NO_COLOR=1 LC_ALL=C
unset BERTH_TEST_PAUSE BERTH_TEST_PAUSE_FILE
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" "$REPO"
chmod 700 "$XDG_RUNTIME_DIR"

test_count=0
test_failed=0

berth() { "$BERTH" "$@"; }

test_cleanup() {
  test_kill_watchers
  test_kill_tracked
  test_kill_docker
  test_kill_tmux
  test_kill_sessions
  if [ -n "${BERTH_TEST_KEEP:-}" ]; then
    echo "# kept $TEST_ROOT"
  else
    rm -rf "$TEST_ROOT"
  fi
}
trap test_cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "# $*"; }

# test_expect_success 'description' 'body': the body is evaluated in this
# shell (write it as an && chain); its output is shown only on failure
# (with BERTH_TEST_TRACE=1, traced with set -x).
test_expect_success() {
  test_count=$((test_count + 1))
  log=$TEST_ROOT/test-$test_count.log
  (cd "$REPO" && { [ -z "${BERTH_TEST_TRACE:-}" ] || set -x; } && eval "$2") >"$log" 2>&1
  rc=$?
  if [ $rc -eq 0 ]; then
    echo "ok $test_count - $1"
  else
    test_failed=$((test_failed + 1))
    echo "not ok $test_count - $1"
    sed 's/^/#   /' "$log" | tail -n 60
  fi
}

# test_skip 'description' 'reason'
test_skip() {
  test_count=$((test_count + 1))
  echo "ok $test_count - $1 # SKIP $2"
}

test_done() {
  echo "1..$test_count"
  [ "$test_failed" -eq 0 ]
  exit $?
}

# test_must_fail [code=N] cmd...: cmd fails (with exit code N when given),
# and did not crash (no signal).
test_must_fail() {
  want=""
  case "$1" in code=*) want=${1#code=}; shift ;; esac
  "$@"
  rc=$?
  if [ $rc -eq 0 ]; then
    echo "test_must_fail: '$*' succeeded" >&2
    return 1
  fi
  if [ $rc -gt 128 ] && [ $rc -ne 130 ]; then
    echo "test_must_fail: '$*' died with status $rc" >&2
    return 1
  fi
  if [ -n "$want" ] && [ "$rc" -ne "$want" ]; then
    echo "test_must_fail: '$*' exited $rc, expected $want" >&2
    return 1
  fi
  return 0
}

# test_grep PATTERN FILE: like grep, but shows the file when it fails.
test_grep() {
  if ! grep -e "$1" "$2" >/dev/null; then
    echo "test_grep: no '$1' in $2:" >&2
    sed 's/^/    /' "$2" >&2
    return 1
  fi
}

test_grep_not() {
  if grep -e "$1" "$2" >/dev/null; then
    echo "test_grep_not: '$1' found in $2:" >&2
    sed 's/^/    /' "$2" >&2
    return 1
  fi
}

# wait_for TIMEOUT_S 'condition' 'message': poll the condition in a bounded loop.
wait_for() {
  deadline=$(($(date +%s) + $1))
  while ! eval "$2"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "wait_for: timed out after $1s: $3" >&2
      return 1
    fi
    sleep 0.01
  done
}

# Make $REPO a git repository with one commit, and a .berth.ini read from
# stdin committed too (`setup_repo --no-config` writes none).
setup_repo() {
  git -C "$REPO" init -q -b main &&
  echo "hello" >"$REPO/README" &&
  printf '.berth/\n' >"$REPO/.gitignore" &&
  if [ "${1:-}" != --no-config ]; then cat >"$REPO/.berth.ini"; fi &&
  git -C "$REPO" add -A &&
  git -C "$REPO" commit -q -m initial
}

# A listener process on PORT... (127.0.0.1; -6 for ::1). Sets LISTEN_PID.
start_listener() {
  fifo=$TEST_ROOT/listen.$$.$test_count.fifo
  rm -f "$fifo" && mkfifo "$fifo" || return 1
  "$BERTH_TEST_LISTEN" "$@" >"$fifo" &
  LISTEN_PID=$!
  test_track_pid $LISTEN_PID
  read -r word pid <"$fifo" || { echo "start_listener: no ready line" >&2; return 1; }
  rm -f "$fifo"
  [ "$word" = ready ] && [ "$pid" = "$LISTEN_PID" ]
}

# Is anything listening on TCP port $1 (IPv4 or IPv6)?
port_listening() {
  ss -Hltn "sport = :$1" | grep -q .
}

# Number of sessions in state (from `berth ls --json`).
session_count() {
  berth ls --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'
}

# json_get FILE EXPR: evaluate a python expression on the JSON document `d`.
json_get() {
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

cd "$REPO" || exit 1

# ---------------------------------------------------------------------------
# Helpers added with t1100-t1400 (generic, usable by any script).

# The start time (field 22 of /proc/PID/stat) of a process; empty if gone.
proc_start_time() {
  sed -n 's/^.*) //p' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20
}

# Is PID a live process (not gone, not a zombie)?
pid_alive() {
  pid_state=$(sed -n 's/^.*) //p' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
  [ -n "$pid_state" ] && [ "$pid_state" != Z ]
}

# Remember a pid to kill at exit. A test body runs in a subshell, so the pid
# goes to a file with its start time; the exit trap kills those whose start
# time still matches (a recycled pid is never signalled).
test_track_pid() {
  echo "$1 $(proc_start_time "$1")" >>"$TEST_ROOT/tracked-pids"
}

# The BERTH_ROOT_ID of the repository at $1 (default $REPO): FNV-1a 64 of
# its canonical main root, 16 hex digits (src/util/hash.c).
root_id_of() {
  python3 - "${1:-$REPO}" <<'EOF_PY'
import os, sys
h = 0xcbf29ce484222325
for b in os.path.realpath(sys.argv[1]).encode():
    h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
print("%016x" % h)
EOF_PY
}

# marked_pids ROOT_ID [SESSION]: the pids of live processes whose
# BERTH_ROOT_ID is ROOT_ID (and whose BERTH_SESSION is SESSION, when given).
marked_pids() {
  python3 - "$@" <<'EOF_PY'
import os, sys
want = {b"BERTH_ROOT_ID=" + sys.argv[1].encode()}
if len(sys.argv) > 2:
    want.add(b"BERTH_SESSION=" + sys.argv[2].encode())
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        env = set(open("/proc/%s/environ" % p, "rb").read().split(b"\0"))
        state = open("/proc/%s/stat" % p).read().rsplit(")", 1)[1].split()[0]
    except OSError:
        continue
    if want <= env and state not in ("Z", "X"):
        print(p)
EOF_PY
}

# The pids of live processes carrying session $1's markers in the repository
# whose BERTH_ROOT_ID is $2 (default: $ROOT_ID).
session_pids() {
  marked_pids "${2:-$ROOT_ID}" "$1"
}

# marked_snapshot ROOT_ID: "pid start-time" of each process marked_pids
# finds, sorted: equal before and after means the very same processes.
marked_snapshot() {
  for p in $(marked_pids "$1"); do echo "$p $(proc_start_time "$p")"; done | sort
}

# Kill every process a berth session of this test started (services, hooks:
# they carry BERTH_SESSION and this test's HOME), even when a test failed
# before its `berth down`.
test_kill_sessions() {
  python3 - "$HOME" <<'EOF_PY' 2>/dev/null
import os, signal, sys
home = b"HOME=" + sys.argv[1].encode()
for p in os.listdir("/proc"):
    if not p.isdigit() or int(p) == os.getpid():
        continue
    try:
        env = open("/proc/%s/environ" % p, "rb").read().split(b"\0")
    except OSError:
        continue
    if home in env and any(e.startswith(b"BERTH_SESSION=") for e in env):
        try:
            os.kill(int(p), signal.SIGKILL)
        except OSError:
            pass
EOF_PY
  # the cgroups of this test's sessions (berth records each session's)
  for f in $(find "$TEST_ROOT" -path '*/.berth/run/*/cgroup' 2>/dev/null); do
    cg=$(cat "$f" 2>/dev/null)
    case $cg in */berth/*) ;; *) continue ;; esac
    [ -d "$cg" ] || continue
    echo 1 >"$cg/cgroup.kill" 2>/dev/null
    find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    rmdir "$(dirname "$cg")" 2>/dev/null
  done
  return 0
}

# The watchers (`berth watch`) of this test's repositories: the pid and
# start time each wrote in its .berth/watch.lock.
test_kill_watchers() {
  for f in $(find "$TEST_ROOT" -name watch.lock -path '*/.berth/*' 2>/dev/null); do
    read -r wpid wstart <"$f" 2>/dev/null || continue
    [ -n "$wpid" ] && [ "$(proc_start_time "$wpid")" = "$wstart" ] && kill -9 "$wpid" 2>/dev/null
  done
  return 0
}

# watch_start: `berth watch` in the background (berth itself, no shell
# function between: it execs berth-watch, so WATCH_PID is the watcher), its
# JSON lines in $WOUT (one file per test); waits for its "watch-start" line.
watch_start() {
  WOUT=$TEST_ROOT/watch.$test_count.out
  "$BERTH" watch >"$WOUT" 2>"$TEST_ROOT/watch.$test_count.err" &
  WATCH_PID=$!
  test_track_pid $WATCH_PID
  wait_for 20 'grep -q "\"kind\":\"watch-start\"" "$WOUT"' "watch-start"
}

# watch_stop: end the watcher watch_start started, and wait for it.
watch_stop() {
  kill "$WATCH_PID" 2>/dev/null
  wait "$WATCH_PID" 2>/dev/null
  return 0
}

# The tmux servers of this test's repositories (sockets in its runtime dir).
test_kill_tmux() {
  for s in "$XDG_RUNTIME_DIR"/berth/*; do
    [ -S "$s" ] && tmux -S "$s" kill-server 2>/dev/null
  done
  return 0
}

# Skip the whole script when tmux >= 3.2 cannot run here (it says why).
test_require_tmux() {
  if ! command -v tmux >/dev/null 2>&1; then
    echo "1..0 # SKIP tmux is not installed (make test installs it)"
    exit 0
  fi
  v=$(tmux -V | sed -n 's/^tmux \(next-\)\{0,1\}\([0-9]*\)\.\([0-9]*\).*/\2 \3/p')
  set -- $v
  if [ -z "$v" ] || [ "$1" -lt 3 ] || { [ "$1" -eq 3 ] && [ "$2" -lt 2 ]; }; then
    echo "1..0 # SKIP $(tmux -V) is older than 3.2"
    exit 0
  fi
}

# Skip the whole script when no Docker engine answers or the test image is
# missing (scripts/docker-up.sh, run by make test, says why in docker-status).
test_require_docker() {
  why=""
  if ! command -v docker >/dev/null 2>&1; then
    why="docker is not installed (make test installs docker.io)"
  elif ! docker info >/dev/null 2>&1; then
    why="no Docker daemon answers: $(cat "${BERTH_BUILDDIR:-.}/docker-status" 2>/dev/null || echo "run scripts/docker-up.sh")"
  elif ! docker image inspect berth-test/busybox >/dev/null 2>&1; then
    why="the test image berth-test/busybox is missing (scripts/docker-up.sh builds it)"
  fi
  if [ -n "$why" ]; then
    echo "1..0 # SKIP $why"
    exit 0
  fi
}

# Remove what this test's compose projects left (by their exact label).
test_kill_docker() {
  command -v docker >/dev/null 2>&1 && [ -n "${PREFIX:-}" ] || return 0
  for id in $(docker ps -a --filter "label=com.docker.compose.project" --format '{{.ID}} {{.Label "com.docker.compose.project"}}' 2>/dev/null | awk -v p="${PREFIX}_" 'index($2, p) == 1 {print $1}'); do
    docker rm -f -v "$id" >/dev/null 2>&1
  done
  return 0
}

test_kill_tracked() {
  [ -f "$TEST_ROOT/tracked-pids" ] || return 0
  while read -r p st; do
    if [ -n "$st" ] && [ "$(proc_start_time "$p")" = "$st" ]; then
      kill -9 "$p" 2>/dev/null
    fi
  done <"$TEST_ROOT/tracked-pids"
  return 0
}

# berth_start_paused POINT ARGS...: start `berth ARGS` in the background with
# the test hook BERTH_TEST_PAUSE=POINT (berth creates a file at that point of
# the command, then blocks until SIGINT/SIGTERM/SIGHUP, after which it rolls
# back as after a Ctrl-C, or SIGKILL), and wait until it is there. Sets
# PAUSED_PID (berth's own pid, tracked); berth's stdout and stderr go to
# paused.out and paused.err in the current directory. Fails (showing
# paused.err) if berth exits before it reaches POINT.
berth_start_paused() {
  paused_point=$1
  shift
  paused_seq=$((${paused_seq:-0} + 1))
  paused_file=$TEST_ROOT/paused.$test_count.$paused_seq.$paused_point
  rm -f "$paused_file"
  (
    export BERTH_TEST_PAUSE="$paused_point" BERTH_TEST_PAUSE_FILE="$paused_file"
    exec "$BERTH" "$@"
  ) >paused.out 2>paused.err &
  PAUSED_PID=$!
  test_track_pid $PAUSED_PID
  wait_for 30 'test -e "$paused_file" || ! pid_alive $PAUSED_PID' \
    "berth $* to reach $paused_point" &&
  if ! test -e "$paused_file"; then
    echo "berth_start_paused: 'berth $*' exited before $paused_point:" >&2
    sed 's/^/    /' paused.err >&2
    return 1
  fi
}

# berth_crash_at POINT ARGS...: `berth ARGS` killed with SIGKILL at POINT
# (berth_start_paused). Sets CRASHED_PID.
berth_crash_at() {
  berth_start_paused "$@" &&
  CRASHED_PID=$PAUSED_PID &&
  kill -9 "$PAUSED_PID" &&
  { wait "$PAUSED_PID"; test $? -eq 137; }
}

# no_sessions_left: no session row; nothing in .berth/worktrees (side
# directories of a killed create or remove included); only the main
# checkout in git's worktree list, no admin entry under .git/worktrees and
# nothing for `git worktree prune` to do.
no_sessions_left() {
  test_eq "$(session_count)" 0 &&
  test -z "$(ls -A "$REPO/.berth/worktrees" 2>/dev/null)" &&
  git worktree list --porcelain >wl &&
  test_eq "$(grep -c "^worktree " wl)" 1 &&
  test -z "$(ls -A "$REPO/.git/worktrees" 2>/dev/null)" &&
  git worktree prune --dry-run -v >prune.out 2>&1 &&
  test ! -s prune.out
}

# ls_get SLUG KEY: field KEY of session SLUG in `berth ls --json` (empty
# output and status 1 when there is no such session).
ls_get() {
  berth ls --json >"$TEST_ROOT/ls_get.json" &&
  python3 - "$TEST_ROOT/ls_get.json" "$1" "$2" <<'EOF_PY'
import json, sys
d = json.load(open(sys.argv[1]))
rows = [s for s in d if s["slug"] == sys.argv[2]]
if not rows:
    sys.exit(1)
v = rows[0][sys.argv[3]]
print(json.dumps(v, sort_keys=True) if isinstance(v, (dict, list)) else v)
EOF_PY
}

# test_eq GOT WANT: string equality that says what it got when it fails.
# test_json_error FILE CODE: FILE is the one JSON document a command that
# failed under --json prints: {"error": {"exit": CODE, "kind", "message"}}.
test_json_error() {
  python3 - "$1" "$2" <<'EOF_PY'
import json, sys
d = json.load(open(sys.argv[1]))
assert set(d) == {"error"}, d
e = d["error"]
assert e["exit"] == int(sys.argv[2]) and e["kind"] and e["message"], e
EOF_PY
}

test_eq() {
  if [ "$1" != "$2" ]; then
    printf 'test_eq: got  [%s]\n         want [%s]\n' "$1" "$2" >&2
    return 1
  fi
}

# test_quiet CMD...: run CMD with its output hidden, shown only if it fails.
test_quiet() {
  "$@" >"$TEST_ROOT/quiet.out" 2>&1 && return 0
  quiet_rc=$?
  echo "test_quiet: '$*' failed ($quiet_rc):" >&2
  sed 's/^/    /' "$TEST_ROOT/quiet.out" >&2
  return $quiet_rc
}
