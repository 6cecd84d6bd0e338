#!/bin/sh
# Parallel commands: eight `up`s started at the same instant get slots 1-8
# and disjoint ports; a ninth finds no free slot, names the holders and
# leaks nothing; racing `up`s of one slug make exactly one session; `ls`
# answers while an `up` is in flight; eight parallel `down`s free everything.
. "$BERTH_SRCDIR/tests/lib.sh"

SQ="'"

B=23000
setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 8

[service "web"]
base_port = $B
extra_ports = hmr:$((B + 200))

[service "api"]
base_port = $((B + 100))
EOF_INI

WTS=$REPO/.berth/worktrees

# run_together N CMD...: start N copies of `berth CMD` (the word %i in CMD is
# replaced by the copy's number 1..N) released at the same instant by a
# barrier, wait for all of them, and write their exit codes, in order, to
# ./rcs (one line "rc1 rc2 ..."). Output of copy i goes to out.i and err.i.
#
# The barrier: every copy opens the fifo `go` (which succeeds at once, since
# this shell holds it open read-write on fd 3), says it is ready, and blocks
# reading it; when all N are ready this shell closes fd 3, the fifo has no
# writer left, and every reader sees end-of-file at the same moment.
run_together() {
  n=$1
  shift
  rm -f go ready.* out.* err.* rcs &&
  mkfifo go &&
  exec 3<>go || return 1
  pids=""
  i=1
  while [ $i -le "$n" ]; do
    args=""
    for a in "$@"; do args="$args $(printf '%s' "$a" | sed "s/%i/$i/g")"; done
    (
      exec 3>&- 4<go
      : >ready.$i
      read -r _ <&4
      exec 4<&-
      # shellcheck disable=SC2086 # args are plain words
      exec "$BERTH" $args
    ) >out.$i 2>err.$i &
    pids="$pids $!"
    test_track_pid $!
    i=$((i + 1))
  done
  wait_for 30 'test "$(ls ready.* 2>/dev/null | wc -l)" -eq "$n"' "$n commands at the barrier"
  ready=$?
  exec 3>&-
  codes=""
  for p in $pids; do
    wait "$p"
    codes="$codes $?"
  done
  echo "${codes# }" >rcs
  return $ready
}

# Tests after the first chain start from no session at all, so that one
# failure does not cascade: down --force whatever an earlier test left.
reset_sessions() {
  for s in $(berth ls --json | python3 -c 'import json,sys; print(" ".join(s["slug"] for s in json.load(sys.stdin)))'); do
    test_quiet berth down --force -q "$s"
  done
  test_eq "$(session_count)" 0
}

# fill_slots: make sure par-1..par-8 exist (one by one, for the tests that
# need all slots taken, so that a failure of the parallel ups above does not
# cascade into them).
fill_slots() {
  for i in 1 2 3 4 5 6 7 8; do
    ls_get par-$i slot >/dev/null || berth up par-$i >/dev/null 2>&1 || return 1
  done
  test_eq "$(session_count)" 8
}

all_zero() {
  want=$(printf '0 %.0s' $(seq "$1"))
  if [ "$(cat rcs) " != "$want" ]; then
    echo "exit codes: $(cat rcs)" >&2
    for f in err.*; do sed "s/^/  $f: /" "$f" >&2; done
    return 1
  fi
}

# Known failure (a berth bug, intermittent): an `up` racing other `up`s can
# fail in git_worktree_add with "cannot create worktree 'par-N' ...: reference
# is already checked out" although par-N is checked out nowhere: libgit2's
# checked-out scan over .git/worktrees trips over a sibling worktree that
# another berth process is creating at that moment. Tests 1-3 and 8 show it.
test_expect_success 'eight ups at the same instant all succeed' '
  run_together 8 up par-%i &&
  all_zero 8 &&
  for i in 1 2 3 4 5 6 7 8; do
    test_grep "^session .par-$i. is up (slot [1-8])$" out.$i || return 1
  done
'

test_expect_success 'they hold slots 1-8, each exactly once, and each its own worktree and branch' '
  berth ls --json >ls.json &&
  test_eq "$(json_get ls.json "len(d)")" 8 &&
  test_eq "$(json_get ls.json "sorted(s[\"slot\"] for s in d)")" "[1, 2, 3, 4, 5, 6, 7, 8]" &&
  test_eq "$(json_get ls.json "sorted(set(s[\"status\"] for s in d))")" "[${SQ}active${SQ}]" &&
  json_get ls.json "\"\\n\".join(\"%s %d\" % (s[\"slug\"], s[\"slot\"]) for s in d)" >slots &&
  for i in 1 2 3 4 5 6 7 8; do
    slot=$(sed -n "s/^par-$i //p" slots) &&
    test -n "$slot" &&
    test_grep "^session .par-$i. is up (slot $slot)$" out.$i &&
    test -d "$WTS/par-$i" && test -f "$WTS/par-$i/README" &&
    test_grep "^BERTH_SLOT=$slot$" "$WTS/par-$i/.env.berth" &&
    test_eq "$(git -C "$WTS/par-$i" symbolic-ref --short HEAD)" par-$i || return 1
  done &&
  git worktree list --porcelain >wl &&
  test_eq "$(grep -c "^worktree " wl)" 9
'

test_expect_success 'their ports are pairwise disjoint and each the nominal port of its slot' '
  berth ls --json >ls.json &&
  test_eq "$(json_get ls.json "len([p for s in d for p in s[\"ports\"].values()])")" 24 &&
  test_eq "$(json_get ls.json "len(set(p for s in d for p in s[\"ports\"].values()))")" 24 &&
  test_eq "$(json_get ls.json "all(s[\"ports\"] == {\"web\": $B + s[\"slot\"], \"web.hmr\": $((B + 200)) + s[\"slot\"], \"api\": $((B + 100)) + s[\"slot\"]} for s in d)")" True
'

test_expect_success 'a ninth up: no free slot (5), the message names the holders' '
  fill_slots &&
  git branch --list >branches.before &&
  test_must_fail code=5 berth up par-9 >out 2>err &&
  test_grep "no free slot: all 8 slots are in use" err &&
  for i in 1 2 3 4 5 6 7 8; do
    test_grep "[1-8]: par-$i \[active\]" err || return 1
  done &&
  test_grep "berth down <slug>" err &&
  test ! -s out
'

test_expect_success 'the failed ninth up leaks nothing: no worktree, branch or row' '
  test ! -e "$WTS/par-9" &&
  test_eq "$(git worktree list | wc -l)" 9 &&
  test_must_fail git rev-parse --verify -q refs/heads/par-9 &&
  git branch --list >branches.after &&
  diff -u branches.before branches.after &&
  test_eq "$(session_count)" 8 &&
  test_must_fail ls_get par-9 slot
'

test_expect_success 'eight downs at the same instant free everything' '
  fill_slots &&
  run_together 8 down par-%i &&
  all_zero 8 &&
  for i in 1 2 3 4 5 6 7 8; do
    test_grep "^session .par-$i. is down; slot [1-8] is free" out.$i || return 1
  done &&
  test_eq "$(session_count)" 0 &&
  test -z "$(ls -A "$WTS")" &&
  git worktree list --porcelain >wl &&
  test_eq "$(grep -c "^worktree " wl)" 1 &&
  test_grep "^worktree $REPO$" wl &&
  test -z "$(git worktree prune --dry-run -v 2>&1)" &&
  for i in 1 2 3 4 5 6 7 8; do
    git rev-parse --verify -q refs/heads/par-$i >/dev/null || return 1
  done
'

test_expect_success 'eight ups again, on the kept branches: slots 1-8 again' '
  reset_sessions &&
  run_together 8 up par-%i &&
  all_zero 8 &&
  berth ls --json >ls.json &&
  test_eq "$(json_get ls.json "sorted(s[\"slot\"] for s in d)")" "[1, 2, 3, 4, 5, 6, 7, 8]" &&
  test_eq "$(json_get ls.json "len(set(p for s in d for p in s[\"ports\"].values()))")" 24 &&
  for i in 1 2 3 4 5 6 7 8; do
    test_grep "existing branch par-$i" err.$i || return 1
  done &&
  run_together 8 down par-%i &&
  all_zero 8 &&
  test_eq "$(session_count)" 0 &&
  test_eq "$(git worktree list | wc -l)" 1
'

test_expect_success 'five more rounds of eight parallel ups and downs: every command succeeds' '
  reset_sessions &&
  for round in 1 2 3 4 5; do
    run_together 8 up par-%i && all_zero 8 &&
    test_eq "$(git worktree list | wc -l)" 9 &&
    run_together 8 down par-%i && all_zero 8 &&
    test_eq "$(git worktree list | wc -l)" 1 &&
    test -z "$(ls -A "$WTS")" || { echo "round $round failed"; return 1; }
  done &&
  test_eq "$(session_count)" 0
'

test_expect_success 'six ups of one slug at the same instant make exactly one session' '
  reset_sessions &&
  run_together 6 up same &&
  for c in $(cat rcs); do
    case $c in 0|5) ;; *) echo "unexpected exit code $c in: $(cat rcs)"; cat err.*; return 1 ;; esac
  done &&
  case " $(cat rcs) " in *" 0 "*) ;; *) echo "none succeeded: $(cat rcs)"; cat err.*; return 1 ;; esac &&
  for i in 1 2 3 4 5 6; do
    if test_grep "is up" out.$i 2>/dev/null; then continue; fi
    test_grep "session .same. has an operation in progress" err.$i || return 1
  done &&
  berth ls --json >ls.json &&
  test_eq "$(json_get ls.json "[(s[\"slug\"], s[\"slot\"], s[\"status\"]) for s in d]")" "[(${SQ}same${SQ}, 1, ${SQ}active${SQ})]" &&
  git worktree list --porcelain >wl &&
  test_eq "$(grep -c "^worktree " wl)" 2 &&
  test_grep "^worktree $WTS/same$" wl &&
  berth down same >/dev/null &&
  test_eq "$(session_count)" 0
'

test_expect_success 'ls answers at once while an up is in flight, and shows it pending' '
  reset_sessions &&
  berth_start_paused worktree up slow &&
  timeout 5 "$BERTH" ls --json >ls.json &&
  test_eq "$(json_get ls.json "[(s[\"slug\"], s[\"status\"]) for s in d]")" "[(${SQ}slow${SQ}, ${SQ}pending${SQ})]" &&
  test_eq "$(json_get ls.json "d[0][\"operation\"][\"pid\"]")" "$PAUSED_PID" &&
  test_eq "$(json_get ls.json "d[0][\"operation\"][\"alive\"]")" True &&
  timeout 5 "$BERTH" ls >ls.out &&
  test_grep "^slow  *1  *pending  *slow" ls.out &&
  kill -9 $PAUSED_PID && { wait $PAUSED_PID; test $? -eq 137; } &&
  test_eq "$(ls_get slow status)" crashed-op &&
  berth down slow >out 2>err &&
  test_grep "recovering session .slow." err &&
  test ! -e "$WTS/slow" &&
  test_eq "$(git worktree list | wc -l)" 1 &&
  test_eq "$(session_count)" 0
'

test_done
