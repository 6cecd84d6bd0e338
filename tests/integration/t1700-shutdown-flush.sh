#!/bin/sh
# `berth shutdown` and `berth flush` (issue 13, items 6 and 7). shutdown:
# every session taken down, a dirty worktree stopped and kept (exit 7,
# named), --keep-worktrees. flush: refused without --yes off a terminal
# (nothing changed); the hard reset of one repository while another one on
# the same machine runs sessions of the same names (process and tmux
# runners): nothing of the other is touched; an orphan with the markers but
# no session record is killed, one in the cgroup without markers too, a
# foreign listener on a session's port is told and left alone.
. "$BERTH_SRCDIR/tests/lib.sh"

B=37000
export BERTH_TEST_LISTEN

# ini BASE RUNNER: the configuration of a repository of this test.
ini() {
  cat <<EOF_INI
[berth]
mode = host
runner = $2
max_slots = 8
port_search_range = 1
stop_grace = 1s

[service "web"]
command = exec "$BERTH_TEST_LISTEN" \$PORT
base_port = $1

[service "tree"]
command = sleep 1000 & sleep 1001 & wait
EOF_INI
}
ini $B process | setup_repo
ROOT_ID=$(root_id_of)

# new_repo DIR BASE RUNNER: another repository like $REPO.
new_repo() {
  mkdir -p "$1" && git -C "$1" init -q -b main && echo hello >"$1/README" &&
  printf '.berth/\n' >"$1/.gitignore" && ini "$2" "$3" >"$1/.berth.ini" &&
  git -C "$1" add -A && git -C "$1" commit -q -m initial
}

# spawn_bg CMD...: CMD in the background, tracked; its pid in SPAWNED.
spawn_bg() {
  "$@" &
  SPAWNED=$!
  test_track_pid $SPAWNED
}

# worktrees DIR: how many worktrees git lists in the repository at DIR.
worktrees() {
  git -C "$1" worktree list --porcelain | grep -c "^worktree "
}

test_expect_success 'shutdown of 5 sessions, one dirty: 4 removed, the dirty one stopped and kept, exit 7 naming it' '
  for s in sd1 sd2 sd3 sd4 sd5; do berth up $s -q >/dev/null || return 1; done &&
  test -n "$(session_pids sd3)" &&
  echo "work in progress" >.berth/worktrees/sd3/notes.txt &&
  test_must_fail code=7 berth shutdown >out 2>err &&
  for s in sd1 sd2 sd4 sd5; do
    test ! -e .berth/worktrees/$s && test -z "$(session_pids $s)" &&
    ! ls_get $s slug >/dev/null || return 1
  done &&
  for p in 1 2 4 5; do ! port_listening $((B + p)) || return 1; done &&
  test -z "$(session_pids sd3)" &&
  test_eq "$(ls_get sd3 status)" stopped &&
  test_eq "$(session_count)" 1 &&
  test_eq "$(cat .berth/worktrees/sd3/notes.txt)" "work in progress" &&
  test_grep "sd1  *removed" out &&
  test_grep "sd3  *stopped and kept: its worktree .*sd3 has uncommitted work" out &&
  test_grep "shutdown: not every session was removed: .sd3. (kept: uncommitted work" err &&
  berth down sd3 --force -q >/dev/null &&
  test_eq "$(session_count)" 0
'

test_expect_success 'shutdown --keep-worktrees: every session stopped and kept (worktree, slot, ports), exit 0; up resumes one' '
  for s in kw1 kw2 kw3; do berth up $s -q >/dev/null || return 1; done &&
  slot=$(ls_get kw2 slot) &&
  berth shutdown --keep-worktrees >out 2>err &&
  for s in kw1 kw2 kw3; do
    test_eq "$(ls_get $s status)" stopped && test -d .berth/worktrees/$s &&
    test -z "$(session_pids $s)" || return 1
  done &&
  test_eq "$(grep -c "stopped and kept" out)" 3 &&
  berth up kw2 -q >/dev/null &&
  test_eq "$(ls_get kw2 slot)" "$slot" && port_listening $((B + slot)) &&
  berth shutdown -q >out &&
  test_eq "$(session_count)" 0 && test_eq "$(worktrees "$REPO")" 1
'

test_expect_success 'shutdown: a down that fails (a locked worktree) is named with its exit code and reason; exit 1 even with a dirty session kept' '
  for s in lk1 lk2 lk3; do berth up $s -q >/dev/null || return 1; done &&
  git worktree lock .berth/worktrees/lk1 &&
  echo draft >.berth/worktrees/lk2/draft.txt &&
  test_must_fail code=1 berth shutdown >out 2>err &&
  test_grep "lk1  *failed (exit 1): down: cannot remove the worktree: .*locked" out &&
  test_grep "lk2  *stopped and kept: its worktree" out &&
  test_grep "lk3  *removed" out &&
  test_grep "not every session was removed: .*lk1. (.berth down. exited 1)" err &&
  test_grep "lk2. (kept: uncommitted work" err &&
  test -z "$(session_pids lk1)" && test_eq "$(ls_get lk1 status)" stopped &&
  git worktree unlock .berth/worktrees/lk1 &&
  berth shutdown --force -q >/dev/null &&
  test_eq "$(session_count)" 0
'

test_expect_success 'shutdown with no session says so, exit 0' '
  berth shutdown >out 2>err &&
  test_grep "no sessions" out
'

test_expect_success 'flush refuses without --yes when stdin is not a terminal (exit 2); nothing changed' '
  berth up fr1 -q >/dev/null &&
  before=$(marked_snapshot "$ROOT_ID") && test -n "$before" &&
  test_must_fail code=2 berth flush </dev/null >out 2>err &&
  test_grep "flush: refused: .*stdin is not a terminal.*pass --yes" err &&
  test_eq "$(marked_snapshot "$ROOT_ID")" "$before" &&
  test_eq "$(ls_get fr1 status)" active && test -d .berth/worktrees/fr1 &&
  port_listening $((B + 1)) &&
  berth down fr1 -q >/dev/null
'

if command -v script >/dev/null 2>&1; then
test_expect_success 'flush on a terminal asks: an answer other than yes changes nothing (exit 1); yes flushes' '
  berth up ft1 -q >/dev/null &&
  before=$(marked_snapshot "$ROOT_ID") && test -n "$before" &&
  { printf "y\n" | script -qec "\"$BERTH\" flush" /dev/null >out 2>&1; rc=$?; } &&
  test_eq "$rc" 1 &&
  test_grep "Type .yes. to go on" out && test_grep "not confirmed; nothing was changed" out &&
  test_eq "$(marked_snapshot "$ROOT_ID")" "$before" && test_eq "$(ls_get ft1 status)" active &&
  { printf "yes\n" | script -qec "\"$BERTH\" flush" /dev/null >out 2>&1; rc=$?; } &&
  test_eq "$rc" 0 &&
  test -z "$(marked_pids "$ROOT_ID")" && test ! -e .berth
'
else
  test_skip 'flush on a terminal asks' 'script (util-linux) is not installed'
fi

OTHER=$TEST_ROOT/other
new_repo "$OTHER" $((B + 100)) process
OTHER_ID=$(root_id_of "$OTHER")

test_expect_success 'flush --yes in A while B runs sessions of the same names: A is empty, B unchanged' '
  for s in x1 x2; do
    berth up $s -q >/dev/null && (cd "$OTHER" && berth up $s -q >/dev/null) || return 1
  done &&
  b_before=$(marked_snapshot "$OTHER_ID") && test -n "$b_before" &&
  (cd "$OTHER" && berth ls) >b_ls.before &&
  test -n "$(marked_pids "$ROOT_ID")" &&
  berth flush --yes >out 2>err &&
  test_grep "x1  *removed" out && test_grep "x2  *removed" out &&
  test -z "$(marked_pids "$ROOT_ID")" &&
  test_eq "$(session_count)" 0 &&
  test ! -e .berth && test -f .berth.ini &&
  test_eq "$(worktrees "$REPO")" 1 &&
  ! port_listening $((B + 1)) && ! port_listening $((B + 2)) &&
  test_eq "$(marked_snapshot "$OTHER_ID")" "$b_before" &&
  (cd "$OTHER" && berth ls) >b_ls.after &&
  test_eq "$(cut -c1-35 b_ls.after)" "$(cut -c1-35 b_ls.before)" &&
  port_listening $((B + 101)) && port_listening $((B + 102)) &&
  test_eq "$(worktrees "$OTHER")" 3
'

test_expect_success 'flush kills an orphan with the markers and no session record; the other repository'"'"'s twin survives; a foreign listener on a session port is told and left alone' '
  berth up fo1 -q >/dev/null &&
  port=$((B + $(ls_get fo1 slot))) &&
  berth stop fo1 -q >/dev/null &&
  start_listener $port && foreign=$LISTEN_PID &&
  spawn_bg env BERTH_ROOT_ID=$ROOT_ID BERTH_SESSION=ghost sleep 1000 && ghost=$SPAWNED &&
  spawn_bg env BERTH_ROOT_ID=$OTHER_ID BERTH_SESSION=ghost sleep 1000 && twin=$SPAWNED &&
  wait_for 10 "grep -q BERTH_SESSION=ghost /proc/$ghost/environ && grep -q BERTH_SESSION=ghost /proc/$twin/environ" "the ghosts to exec" &&
  berth flush --yes >out 2>err &&
  ! pid_alive $ghost && pid_alive $twin &&
  pid_alive $foreign && port_listening $port &&
  test_grep "$port: held by pid $foreign .*not this repository.s: left alone" out &&
  test_grep "processes  *stopped 1 that no session record held" out &&
  test -z "$(marked_pids "$ROOT_ID")" && test_eq "$(session_count)" 0 &&
  kill $foreign $twin
'

CG=$(berth doctor --json | python3 -c 'import json,sys; print(json.load(sys.stdin).get("cgroup") or "")' 2>/dev/null)
if [ -n "$CG" ] && [ -d "$CG" ]; then
test_expect_success 'flush kills a process in the repository cgroup that carries no marker, and removes the cgroup' '
  mkdir -p "$CG/$ROOT_ID/ghost" &&
  spawn_bg env -i /bin/sleep 1000 && hidden=$SPAWNED &&
  echo $hidden >"$CG/$ROOT_ID/ghost/cgroup.procs" &&
  berth flush --yes >out 2>err &&
  ! pid_alive $hidden && test ! -e "$CG/$ROOT_ID" &&
  test_grep "cgroup  *removed" out
'
else
  test_skip 'flush kills a process in the repository cgroup that carries no marker' 'no cgroup containment here'
fi

if command -v tmux >/dev/null 2>&1 && tmux -V | grep -Eq "tmux (next-)?(3\.[2-9]|[4-9])"; then
TA=$TEST_ROOT/tmux-a TB=$TEST_ROOT/tmux-b
new_repo "$TA" $((B + 200)) tmux
new_repo "$TB" $((B + 300)) tmux
TA_ID=$(root_id_of "$TA") TB_ID=$(root_id_of "$TB")
SA=$XDG_RUNTIME_DIR/berth/$TA_ID SB=$XDG_RUNTIME_DIR/berth/$TB_ID
test_expect_success 'runner = tmux: flush in A kills A'"'"'s tmux server only; B'"'"'s server, sessions and processes unchanged' '
  for s in t1 t2; do
    (cd "$TA" && berth up $s -q >/dev/null) && (cd "$TB" && berth up $s -q >/dev/null) || return 1
  done &&
  test -S "$SA" && test -S "$SB" &&
  tmux -S "$SA" new-session -d -s not-a-session "sleep 1000" &&
  a_server=$(tmux -S "$SA" display -p "#{pid}") &&
  b_server=$(tmux -S "$SB" display -p "#{pid}") &&
  b_before=$(marked_snapshot "$TB_ID") && test -n "$b_before" &&
  tmux -S "$SB" list-sessions -F "#{session_name}" | sort >b_sessions.before &&
  (cd "$TA" && berth flush --yes >../flush.out 2>../flush.err) &&
  test_grep "tmux server  *killed (pid $a_server" "$TEST_ROOT/flush.out" &&
  ! pid_alive $a_server &&
  test ! -e "$SA" && test -z "$(marked_pids "$TA_ID")" &&
  (cd "$TA" && test ! -e .berth && test_eq "$(worktrees "$TA")" 1) &&
  test_eq "$(tmux -S "$SB" display -p "#{pid}")" "$b_server" &&
  tmux -S "$SB" list-sessions -F "#{session_name}" | sort >b_sessions.after &&
  cmp b_sessions.before b_sessions.after &&
  test_eq "$(marked_snapshot "$TB_ID")" "$b_before" &&
  port_listening $((B + 301)) && port_listening $((B + 302)) &&
  (cd "$TB" && berth shutdown -q >/dev/null)
'
else
  test_skip 'runner = tmux: flush in A kills A'"'"'s tmux server only' 'tmux 3.2 or later is not installed'
fi

test_done
