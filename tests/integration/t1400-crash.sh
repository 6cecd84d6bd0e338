#!/bin/sh
# Crashes: an `up` killed with SIGKILL at any step leaves a session that `ls`
# shows as crashed-op and that `down` (or `up`) recovers completely; a live
# `up` is never run over by a second `up`, but `down` takes it over; a state
# store that is not berth's is refused and never modified.
. "$BERTH_SRCDIR/tests/lib.sh"

SQ="'"
B=26000
setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4

[service "web"]
base_port = $B
EOF_INI

WTS=$REPO/.berth/worktrees
POINTS="reserve worktree ports envfile"

# crash_up POINT SLUG: `berth up SLUG` killed with SIGKILL at POINT. Sets
# CRASHED_PID.
crash_up() { berth_crash_at "$1" up "$2"; }

all_clean() { no_sessions_left; }

# slot_is_free_again SLOT: the next `up` gets SLOT.
slot_is_free_again() {
  berth up probe-slot >out 2>err &&
  test_grep "^session .probe-slot. is up (slot $1)$" out &&
  test_quiet berth down probe-slot
}

reset_sessions() {
  for s in $(berth ls --json | python3 -c 'import json,sys; print(" ".join(s["slug"] for s in json.load(sys.stdin)))'); do
    test_quiet berth down --force -q "$s"
  done
  test_eq "$(session_count)" 0
}

for p in $POINTS; do
  test_expect_success "SIGKILL at $p: ls shows crashed-op (table and JSON)" '
    reset_sessions &&
    crash_up '$p' crash-'$p' &&
    berth ls >ls.out 2>ls.err &&
    test_grep "^crash-'$p'  *1  *crashed-op  *crash-'$p'" ls.out &&
    test_grep "crashed-op: the command working on the session died" ls.err &&
    berth ls --json >ls.json &&
    test_eq "$(json_get ls.json "[(s[\"slug\"], s[\"status\"]) for s in d]")" "[(${SQ}crash-'$p'${SQ}, ${SQ}crashed-op${SQ})]" &&
    test_eq "$(json_get ls.json "(d[0][\"operation\"][\"kind\"], d[0][\"operation\"][\"pid\"], d[0][\"operation\"][\"alive\"])")" "(${SQ}up${SQ}, $CRASHED_PID, False)"
  '

  test_expect_success "SIGKILL at $p: down recovers it and leaves nothing; the slot is free again" '
    berth down crash-'$p' >out 2>err &&
    test_grep "recovering session .crash-'$p'. left pending by a crashed up" err &&
    test_grep "^session .crash-'$p'. is down; slot 1 is free" out &&
    test ! -e "$WTS/crash-'$p'" &&
    all_clean &&
    slot_is_free_again 1 &&
    all_clean
  '

  test_expect_success "SIGKILL at $p: up recovers it instead, at the same slot" '
    reset_sessions &&
    test_quiet berth up holder &&
    crash_up '$p' crash-'$p' &&
    test_eq "$(ls_get crash-'$p' slot)" 2 &&
    test_eq "$(ls_get crash-'$p' status)" crashed-op &&
    berth up crash-'$p' >out 2>err &&
    test_grep "^session .crash-'$p'. is up (slot 2)$" out &&
    test_eq "$(ls_get crash-'$p' status)" active &&
    test_eq "$(ls_get crash-'$p' ports)" "{\"web\": $((B + 2))}" &&
    test_eq "$(git -C "$WTS/crash-'$p'" symbolic-ref --short HEAD)" crash-'$p' &&
    test_grep "^BERTH_SLOT=2$" "$WTS/crash-'$p'/.env.berth" &&
    git worktree list --porcelain >wl &&
    test_eq "$(grep -c "^worktree $WTS/crash-'$p'$" wl)" 1 &&
    test_quiet berth down crash-'$p' &&
    test_quiet berth down holder &&
    all_clean
  '
done

test_expect_success 'up after a crash at worktree reuses the worktree the crashed up created' '
  reset_sessions &&
  crash_up worktree crash-x &&
  test -d "$WTS/crash-x" &&
  echo keep >"$WTS/crash-x/marker" &&
  berth up crash-x >out 2>err &&
  test_grep "resuming session .crash-x. (slot 1)" err &&
  test_grep "using the worktree $WTS/crash-x" err &&
  test_eq "$(cat "$WTS/crash-x/marker")" keep &&
  test_eq "$(ls_get crash-x status)" active &&
  rm "$WTS/crash-x/marker" &&
  test_quiet berth down crash-x &&
  all_clean
'

test_expect_success 'a live pending up: a second up of the same slug is busy (5)' '
  reset_sessions &&
  berth_start_paused worktree up live &&
  echo $PAUSED_PID >live.pid &&
  test_eq "$(ls_get live status)" pending &&
  test_must_fail code=5 berth up live >out 2>err &&
  test_grep "session .live. has an operation in progress (up by pid $PAUSED_PID" err &&
  test_grep "berth down live" err &&
  test_eq "$(ls_get live status)" pending &&
  test -d "$WTS/live" &&
  kill -9 $PAUSED_PID && { wait $PAUSED_PID; test $? -eq 137; }
'

test_expect_success 'a live pending up: down takes it over (warning), the up stands down (5), nothing is left' '
  reset_sessions &&
  berth_start_paused ports up live &&
  test_eq "$(ls_get live status)" pending &&
  berth down live >out 2>err &&
  test_grep "warning: session .live. was being changed by .up. (pid $PAUSED_PID); it is told to stand down" err &&
  test_grep "^session .live. is down" out &&
  { wait $PAUSED_PID; test $? -eq 5; } &&
  all_clean &&
  berth ls >ls.out 2>&1 &&
  test_grep "no sessions" ls.out &&
  slot_is_free_again 1
'

# Regression: an `up` killed with SIGKILL but not yet reaped by its parent
# (a zombie) counted as a live owner, since a zombie keeps its start time:
# ls said "pending" and `up` refused with "operation in progress".
test_expect_success 'an up killed but not yet reaped (a zombie) is crashed-op, not pending' '
  reset_sessions &&
  rm -f zombie.pid &&
  (
    berth_start_paused worktree up zomb && echo $PAUSED_PID >zombie.pid
    exec sleep 300 # never reaps the killed up
  ) &
  parent=$! && test_track_pid $parent &&
  wait_for 30 "test -s zombie.pid" "the up to pause" &&
  zpid=$(cat zombie.pid) &&
  kill -9 $zpid &&
  wait_for 10 "! pid_alive $zpid" "the up to die" &&
  st=$(ls_get zomb status) &&
  { test "$st" = crashed-op ||
    { echo "ls: the session of a dead (zombie) up is \"$st\", want crashed-op"; false; }; } &&
  { berth up zomb >out 2>err ||
    { echo "up of it failed:"; cat err; false; }; } &&
  test_eq "$(ls_get zomb status)" active
  rc=$?
  kill -9 $parent 2>/dev/null; wait $parent 2>/dev/null
  test_quiet berth down --force zomb
  return $rc
'

# The state store: anything that is not berth's is refused and left as is.

# refuses_store WHAT: `berth ls` and `berth up` fail (1) with a message that
# names the file, says it is not a berth state store and what to do; the
# file is byte-for-byte what it was, and nothing was created next to it.
refuses_store() {
  cp .berth/state.db state.copy &&
  test_must_fail code=1 berth ls >out 2>err &&
  test ! -s out &&
  test_grep "$REPO/.berth/state.db" err &&
  test_grep "not a berth state store" err &&
  test_grep "move it away and run the command again" err &&
  test_grep "$1" err &&
  test_must_fail code=1 berth ls --json >out 2>err &&
  test_json_error out 1 &&
  test_must_fail code=1 berth up st-x >out 2>err &&
  test_grep "not a berth state store" err &&
  test ! -e "$WTS/st-x" &&
  test_must_fail git rev-parse --verify -q refs/heads/st-x &&
  cmp .berth/state.db state.copy &&
  test ! -e .berth/state.db-wal && test ! -e .berth/state.db-shm &&
  test ! -e .berth/state.db-journal
}

# fresh_store: no state store at all (after dropping the sessions of a
# store that is still readable).
fresh_store() {
  if berth ls >/dev/null 2>&1; then reset_sessions || return 1; fi
  rm -f .berth/state.db .berth/state.db-wal .berth/state.db-shm .berth/state.db-journal
}

test_expect_success 'random bytes in state.db: refused (1), the file is untouched' '
  fresh_store &&
  head -c 8192 /dev/urandom >.berth/state.db &&
  refuses_store "not an SQLite database"
'

test_expect_success 'mkfifo .berth/state.db hangs every command: now refused (1) at once, the FIFO left as it is' '
  fresh_store &&
  mkfifo .berth/state.db &&
  for c in ls "up st-x" "down st-x" "status st-x"; do
    test_must_fail code=1 timeout 10 $BERTH $c >out 2>err || exit 1
    test_grep "is a FIFO, not a berth state store" err || exit 1
  done &&
  test -p .berth/state.db &&
  test ! -e "$WTS/st-x" &&
  rm -f .berth/state.db
'

test_expect_success 'state.db a symlink out of the repository: refused (1), nothing created at its target' '
  fresh_store &&
  ln -s "$TEST_ROOT/outside.db" .berth/state.db &&
  test_must_fail code=1 berth ls >out 2>err &&
  test_grep "is a symbolic link, not a berth state store" err &&
  test_must_fail code=1 berth up st-x >out 2>err &&
  test ! -e "$TEST_ROOT/outside.db" &&
  test -L .berth/state.db &&
  rm -f .berth/state.db
'

test_expect_success 'the SQLite database of another application: refused (1), untouched' '
  fresh_store &&
  sqlite3 .berth/state.db "create table t(x); insert into t values (42);" &&
  refuses_store "an SQLite database but not a berth state store" &&
  test_eq "$(sqlite3 .berth/state.db "select x from t")" 42
'

test_expect_success 'SQLite'"'"'s header with garbage after it: refused (1), untouched' '
  fresh_store &&
  { printf "SQLite format 3\000"; head -c 8176 /dev/zero | tr "\000" x; } >.berth/state.db &&
  refuses_store "not a berth state store" &&
  fresh_store &&
  printf "SQLite format 3\000" >.berth/state.db &&
  refuses_store "not an SQLite database"
'

test_expect_success 'a berth store whose pages are garbage: an error (1) naming the file, untouched' '
  fresh_store &&
  test_quiet berth up st-pages && test_quiet berth down st-pages &&
  head -c 100 .berth/state.db >header &&
  rm -f .berth/state.db* &&
  { cat header; head -c 8092 /dev/zero | tr "\000" x; } >.berth/state.db &&
  cp .berth/state.db state.copy &&
  test_must_fail code=1 berth ls >out 2>err &&
  test ! -s out &&
  test_grep "$REPO/.berth/state.db" err &&
  test_grep "move it away" err &&
  cmp .berth/state.db state.copy
'

test_expect_success 'once the foreign file is moved away, berth starts a fresh store' '
  fresh_store &&
  berth ls --json >out &&
  test_eq "$(cat out)" "[]" &&
  test_quiet berth up after &&
  test_eq "$(ls_get after status)" active &&
  test_quiet berth down after &&
  all_clean
'

test_done
