#!/bin/sh
# Crash safety inside the worktree steps (issue 11, findings 1-7): an `up` or
# `down` killed with SIGKILL while it creates or removes a worktree leaves
# nothing that passes for a person's work; plain `down` (no --force) and
# `up` each recover; berth's stale git admin entries never block another
# session; the branch a crashed `up` created goes with the recovery; a
# damaged .git file is repaired; commits no branch holds stop `down` (7).
. "$BERTH_SRCDIR/tests/lib.sh"

B=26400
setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4

[service "web"]
base_port = $B
EOF_INI

WTS=$REPO/.berth/worktrees

# 300 files in a few directories: a checkout long enough to stop half way.
mkdir -p src/a src/b docs
i=0
while [ $i -lt 100 ]; do
  echo "a $i" >src/a/f$i.txt
  echo "b $i" >src/b/f$i.txt
  echo "d $i" >docs/d$i.md
  i=$((i + 1))
done
git add -A && git commit -q -m "300 files"
NFILES=$(git ls-files | wc -l)

crash() { berth_crash_at "$@"; }

# nothing_left SLUG: no_sessions_left, and no branch SLUG.
nothing_left() {
  no_sessions_left &&
  test_must_fail git rev-parse --verify -q "refs/heads/$1"
}

# full_tree SLUG: every committed file is checked out, nothing else changed.
full_tree() {
  test_eq "$(git -C "$WTS/$1" ls-files | wc -l)" "$NFILES" &&
  test_eq "$(find "$WTS/$1/src" "$WTS/$1/docs" -type f | wc -l)" 300 &&
  git -C "$WTS/$1" status --porcelain >st &&
  test_eq "$(grep -v "^?? .env.berth$" st | wc -l)" 0
}

for p in worktree-checkout worktree-staged; do
  test_expect_success "up killed in the checkout ($p): plain down recovers, nothing left (was: exit 7, every file an uncommitted change)" '
    crash '$p' up k1 &&
    test ! -e "$WTS/k1" &&
    berth ls --json >ls.json &&
    test_eq "$(json_get ls.json "d[0][\"operation\"][\"step\"]")" worktree-create &&
    berth down k1 >out 2>err &&
    test_grep "finished what a killed command left" err &&
    test_grep "deleted the branch k1 the interrupted .up. created" err &&
    test_grep "^session .k1. is down; slot 1 is free; branch .k1. is deleted" out &&
    nothing_left k1
  '

  test_expect_success "up killed in the checkout ($p): up recovers on the full tree (was: exit 0 on a partial tree)" '
    crash '$p' up k2 &&
    berth up k2 >out 2>err &&
    test_grep "recovering session .k2.: a crashed command was in step worktree-create" err &&
    test_eq "$(ls_get k2 status)" active &&
    full_tree k2 &&
    test_quiet berth down k2 &&
    test_quiet git branch -D k2 &&
    nothing_left k2
  '
done

test_expect_success 'up killed in the checkout: another session'"'"'s up is not blocked by the half-written git entry (was: "reference is already checked out")' '
  crash worktree-checkout up k3 &&
  test -d .git/worktrees/k3 &&
  berth up other >out 2>err &&
  test_eq "$(ls_get other status)" active &&
  full_tree other &&
  test ! -e .git/worktrees/k3 &&
  test_quiet berth down other &&
  test_quiet git branch -D other &&
  berth down k3 >out 2>err &&
  nothing_left k3
'

test_expect_success 'a branch that existed before the crashed up is kept by the recovery' '
  git branch mine &&
  crash worktree-staged up mine &&
  berth down mine >out 2>err &&
  test_grep "^session .mine. is down; slot 1 is free; branch .mine. is kept" out &&
  git rev-parse --verify -q refs/heads/mine &&
  git branch -D mine
'

test_expect_success 'the branch a crashed up created keeps a commit made on it: the recovery keeps the branch' '
  crash worktree up k4 &&
  ( cd "$WTS/k4" && echo x >new.txt && git add new.txt && git commit -q -m "work" ) &&
  berth down k4 >out 2>err &&
  test_grep "branch .k4. is kept" out &&
  test_eq "$(git log -1 --format=%s k4)" work &&
  git branch -D k4
'

test_expect_success 'up killed in the checkout, then a person writes into the worktree after up recovers: down refuses (7) and keeps it' '
  crash worktree-checkout up k5 &&
  test_quiet berth up k5 &&
  echo notes >"$WTS/k5/person.txt" &&
  test_must_fail code=7 berth down k5 >out 2>err &&
  test_grep "person.txt" err &&
  test_eq "$(cat "$WTS/k5/person.txt")" notes &&
  rm "$WTS/k5/person.txt" &&
  test_quiet berth down k5 &&
  test_quiet git branch -D k5 &&
  nothing_left k5
'

test_expect_success 'up killed while writing .env.berth: the up that recovers removes the temporary file (was: left in the worktree)' '
  crash ports up t1 &&
  echo "BERTH_SLOT=1" >"$WTS/t1/.env.berth.tmp.99999" &&
  echo "mine" >"$WTS/t1/.env.berth.tmp.notes" &&
  test_quiet berth up t1 &&
  test ! -e "$WTS/t1/.env.berth.tmp.99999" &&
  test_eq "$(cat "$WTS/t1/.env.berth.tmp.notes")" mine &&
  rm "$WTS/t1/.env.berth.tmp.notes" &&
  full_tree t1 &&
  test_quiet berth down t1 &&
  test_quiet git branch -D t1 &&
  nothing_left t1
'

test_expect_success 'down killed while removing the worktree: plain down finishes (was: exit 7, its own deletions counted as changes)' '
  test_quiet berth up r1 &&
  crash worktree-remove down r1 &&
  test ! -e "$WTS/r1" &&
  test_eq "$(ls_get r1 status)" crashed-op &&
  berth down r1 >out 2>err &&
  test_grep "recovering session .r1. left pending by a crashed down in step worktree-remove" err &&
  test_grep "^session .r1. is down" out &&
  test_quiet git branch -D r1 &&
  nothing_left r1
'

test_expect_success 'down killed while removing the worktree: up checks it out again in full (was: exit 0 on 955 of 1,503 files)' '
  test_quiet berth up r2 &&
  crash worktree-remove down r2 &&
  berth up r2 >out 2>err &&
  test_eq "$(ls_get r2 status)" active &&
  full_tree r2 &&
  test_quiet berth down r2 &&
  test_quiet git branch -D r2 &&
  nothing_left r2
'

test_expect_success 'a malformed .git file in a session'"'"'s worktree: down repairs it and removes the worktree (was: exit 1, then stuck)' '
  test_quiet berth up m1 &&
  echo "garbage" >"$WTS/m1/.git" &&
  berth down m1 >out 2>err &&
  test_grep "repaired the damaged .git file of $WTS/m1" err &&
  test_quiet git branch -D m1 &&
  nothing_left m1
'

test_expect_success 'a malformed .git file: up repairs it and resumes (was: exit 5)' '
  test_quiet berth up m2 &&
  test_quiet berth down --keep-worktree m2 &&
  printf "gitdir: /nowhere\n" >"$WTS/m2/.git" &&
  berth up m2 >out 2>err &&
  test_grep "repaired the damaged .git file" err &&
  test_eq "$(ls_get m2 status)" active &&
  test_eq "$(git -C "$WTS/m2" symbolic-ref --short HEAD)" m2 &&
  test_quiet berth down m2 &&
  test_quiet git branch -D m2 &&
  nothing_left m2
'

test_expect_success 'commits on a detached HEAD that no branch holds: down refuses (7) naming them (was: exit 0, commits lost)' '
  test_quiet berth up d1 &&
  (
    cd "$WTS/d1" &&
    git checkout -q --detach &&
    echo one >lost1.txt && git add lost1.txt && git commit -q -m "lost one" &&
    echo two >lost2.txt && git add lost2.txt && git commit -q -m "lost two"
  ) &&
  lost=$(git -C "$WTS/d1" rev-parse --short=7 HEAD) &&
  test_must_fail code=7 berth down d1 >out 2>err &&
  test_grep "has 2 commits that no branch holds" err &&
  test_grep "$lost lost two" err &&
  test_grep "lost one" err &&
  test -d "$WTS/d1" &&
  test_eq "$(ls_get d1 status)" active &&
  git -C "$WTS/d1" branch keep-d1 &&
  test_quiet berth down d1 &&
  test_eq "$(git log -1 --format=%s keep-d1)" "lost two" &&
  git branch -D keep-d1 d1 >/dev/null &&
  nothing_left d1
'

test_expect_success 'a detached HEAD at a commit a branch holds is not lost work: down removes it' '
  test_quiet berth up d2 &&
  git -C "$WTS/d2" checkout -q --detach &&
  test_quiet berth down d2 &&
  git branch -D d2 >/dev/null &&
  nothing_left d2
'

test_expect_success 'someone else'"'"'s stale worktree entry is never pruned by berth' '
  git worktree add -q "$TEST_ROOT/theirs" -b theirs &&
  rm -rf "$TEST_ROOT/theirs" &&
  test_quiet berth up n1 &&
  test_quiet berth down n1 &&
  test -d .git/worktrees/theirs &&
  git worktree prune &&
  git branch -D theirs n1 >/dev/null &&
  nothing_left n1
'

test_done
