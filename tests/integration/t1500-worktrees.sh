#!/bin/sh
# Worktrees: adopting a linked worktree made by hand, a branch that exists
# only on the remote, an existing local branch, --reuse-worktree, berth
# shell, Ctrl-C during up rolling back what it created, and down of a
# worktree holding a big ignored tree (removed by several threads): every
# guard still holds.
. "$BERTH_SRCDIR/tests/lib.sh"

B=21600
setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4

[service "web"]
base_port = $B
EOF_INI

test_expect_success 'up inside a linked worktree made by hand adopts it' '
  git worktree add -q -b hand/Made_here "$TEST_ROOT/hand" &&
  (cd "$TEST_ROOT/hand" && berth up >../up.out 2>&1) &&
  test_grep "session .hand-made-here. is up (slot 1)" "$TEST_ROOT/up.out" &&
  berth ls --json >ls.json &&
  test "$(json_get ls.json "d[0][\"worktree_path\"]")" = "$TEST_ROOT/hand" &&
  test "$(json_get ls.json "d[0][\"branch\"]")" = hand/Made_here &&
  test -f "$TEST_ROOT/hand/.env.berth"
'

test_expect_success 'commands run inside it infer the session' '
  (cd "$TEST_ROOT/hand" && berth env) >env.out &&
  test_grep "^BERTH_SLUG=hand-made-here$" env.out
'

test_expect_success 'down keeps a worktree berth did not create' '
  berth down hand-made-here >out 2>err &&
  test_grep "keeping the worktree" err &&
  test -d "$TEST_ROOT/hand" &&
  git worktree list --porcelain >wl && test_grep "worktree $TEST_ROOT/hand" wl &&
  test "$(session_count)" = 0
'

test_expect_success 'up with a detached HEAD inside a linked worktree asks for a name' '
  git worktree add -q --detach "$TEST_ROOT/detached" &&
  (cd "$TEST_ROOT/detached" && test_must_fail code=2 berth up 2>../err) &&
  test_grep "detached HEAD" "$TEST_ROOT/err"
'

test_expect_success 'up of a branch that exists only on origin creates a tracking branch' '
  git clone -q --bare "$REPO" "$TEST_ROOT/origin.git" &&
  git -C "$TEST_ROOT/origin.git" branch remote-only &&
  git remote add origin "$TEST_ROOT/origin.git" &&
  git fetch -q origin &&
  test_must_fail git rev-parse --verify -q refs/heads/remote-only &&
  berth up remote-only >out 2>err &&
  test_grep "tracking origin/remote-only" err &&
  test "$(git rev-parse --abbrev-ref remote-only@{upstream})" = origin/remote-only &&
  berth down remote-only
'

test_expect_success 'up of an existing local branch checks out its commit' '
  git branch older HEAD &&
  git -C "$REPO" commit -q --allow-empty -m second &&
  berth up older >out 2>err &&
  test_grep "existing branch older" err &&
  test "$(git -C .berth/worktrees/older rev-parse HEAD)" = "$(git rev-parse older)" &&
  test "$(git -C .berth/worktrees/older rev-parse HEAD)" != "$(git rev-parse main)" &&
  berth down older
'

test_expect_success 'a branch checked out elsewhere is refused, nothing is left' '
  test_must_fail berth up main 2>err &&
  test_grep "main" err &&
  test ! -e .berth/worktrees/main &&
  test "$(session_count)" = 0
'

test_expect_success 'an existing directory at the session path needs --reuse-worktree' '
  git worktree add -q -b reuse-me .berth/worktrees/reuse-me &&
  test_must_fail code=5 berth up reuse-me 2>err &&
  test_grep "reuse-worktree" err &&
  test "$(session_count)" = 0 &&
  berth up reuse-me --reuse-worktree >out &&
  test_grep "is up" out &&
  berth down reuse-me &&
  test ! -e .berth/worktrees/reuse-me
'

test_expect_success 'up --branch B without a name takes the name from B' '
  berth up --branch feat/From_Flag >out &&
  test_grep "session .feat-from-flag. is up" out &&
  test "$(git -C .berth/worktrees/feat-from-flag symbolic-ref --short HEAD)" = feat/From_Flag &&
  berth down feat-from-flag
'

test_expect_success 'up <slug> resumes a stopped session whose branch differs from the slug' '
  berth up feat/Res_ume >/dev/null &&
  berth down feat-res-ume --keep-worktree >/dev/null &&
  berth up feat-res-ume >out &&
  test_grep "session .feat-res-ume. is up" out &&
  test_eq "$(ls_get feat-res-ume branch)" feat/Res_ume &&
  test_must_fail code=5 berth up feat-res-ume --branch other 2>err &&
  test_grep "already exists for branch" err &&
  berth down feat-res-ume
'

test_expect_success 'Ctrl-C during a resume gives the session back its ports and env file' '
  berth up feat-keep >/dev/null &&
  berth down feat-keep --keep-worktree >/dev/null &&
  before=$(ls_get feat-keep ports) &&
  cp .berth/worktrees/feat-keep/.env.berth env.before &&
  berth_start_paused envfile up feat-keep --port web=$((B + 50)) &&
  kill -INT $PAUSED_PID &&
  wait_for 20 "! pid_alive $PAUSED_PID" "up to exit after SIGINT" &&
  test_eq "$(ls_get feat-keep status)" stopped &&
  test_eq "$(ls_get feat-keep ports)" "$before" &&
  diff -u env.before .berth/worktrees/feat-keep/.env.berth &&
  berth down feat-keep
'

test_expect_success 'down after the user deleted the worktree directory prunes git'"'"'s entry' '
  berth up gone-dir >/dev/null &&
  rm -rf .berth/worktrees/gone-dir &&
  berth down gone-dir &&
  git worktree list --porcelain >wl && test_grep_not "gone-dir" wl &&
  test -z "$(git worktree prune --dry-run -v)" &&
  test "$(session_count)" = 0
'

test_expect_success 'berth shell runs $SHELL in the worktree with the environment' '
  berth up feat-sh >/dev/null &&
  echo "echo \$BERTH_SLUG \$PORT; pwd" | SHELL=/bin/sh berth shell feat-sh >out 2>err &&
  test "$(sed -n 1p out)" = "feat-sh $((B + 1))" &&
  test "$(sed -n 2p out)" = "$REPO/.berth/worktrees/feat-sh" &&
  test_grep "entering session .feat-sh." err &&
  berth down feat-sh
'

for point in worktree ports envfile; do
  test_expect_success "Ctrl-C during up (at $point) rolls back everything it created" '
    berth_start_paused '"$point"' up int-'"$point"' &&
    test_eq "$(ls_get int-'"$point"' status)" pending &&
    kill -INT $PAUSED_PID &&
    wait_for 20 "! pid_alive $PAUSED_PID" "up to exit after SIGINT" &&
    { wait $PAUSED_PID; rc=$?; } &&
    test_eq $rc 130 &&
    test_grep "interrupted" paused.err &&
    test ! -e .berth/worktrees/int-'"$point"' &&
    test "$(session_count)" = 0 &&
    git worktree list --porcelain >wl && test_grep_not "int-'"$point"'" wl &&
    test_must_fail git rev-parse --verify -q refs/heads/int-'"$point"'
  '
done

# A big ignored tree (node_modules, vendor/*): down removes it with several
# threads (rm_rf's workers); the guards stay those of a small tree.
# make_tree DIR: 60 packages of 3 directories of 5 files (900 files, 180
# directories), and .bin symlinks into them.
make_tree() {
  python3 - "$1" <<'EOF_PY'
import os, sys
root = sys.argv[1]
os.makedirs(os.path.join(root, ".bin"))
for i in range(60):
    for sub in ("", "lib", "dist"):
        d = os.path.join(root, "pkg-%02d" % i, sub)
        os.makedirs(d, exist_ok=True)
        for f in range(5):
            with open(os.path.join(d, "f%d.js" % f), "w") as out:
                out.write("module.exports = %d;\n" % f)
    os.symlink("../pkg-%02d/lib/f1.js" % i, os.path.join(root, ".bin", "cmd%02d" % i))
EOF_PY
}

test_expect_success 'setup: node_modules/ and vendor/* ignored, vendor/local/ not' '
  printf "node_modules/\n/vendor/*\n!/vendor/local/\n" >>.gitignore &&
  git commit -q -am "ignore node_modules and vendor" &&
  mkdir -p "$TEST_ROOT/outside" &&
  echo precious >"$TEST_ROOT/outside/keep" &&
  echo "precious too" >"$TEST_ROOT/outside-file"
'

test_expect_success 'down removes a worktree with a big ignored node_modules in full, following no symlink out of it' '
  berth up nm1 >/dev/null &&
  make_tree .berth/worktrees/nm1/node_modules &&
  ln -s "$TEST_ROOT/outside" .berth/worktrees/nm1/node_modules/pkg-07/lib/escape &&
  ln -s "$TEST_ROOT/outside-file" .berth/worktrees/nm1/node_modules/pkg-31/escape-file &&
  berth down nm1 >out 2>err &&
  test_grep "^session .nm1. is down" out &&
  test ! -e .berth/worktrees/nm1 &&
  test -z "$(ls -A .berth/worktrees)" &&
  test_eq "$(cat "$TEST_ROOT/outside/keep")" precious &&
  test_eq "$(cat "$TEST_ROOT/outside-file")" "precious too" &&
  git worktree list --porcelain >wl && test_grep_not "nm1" wl &&
  test -z "$(git worktree prune --dry-run -v)" &&
  git branch -D nm1 >/dev/null
'

test_expect_success 'an untracked file beside a big ignored node_modules: down refuses (7) and deletes nothing' '
  berth up nm2 >/dev/null &&
  make_tree .berth/worktrees/nm2/node_modules &&
  echo notes >.berth/worktrees/nm2/notes.txt &&
  test_must_fail code=7 berth down nm2 >out 2>err &&
  test_grep "has 1 uncommitted or untracked change" err &&
  test_grep "^  notes.txt$" err &&
  test_grep_not "node_modules" err &&
  test_eq "$(find .berth/worktrees/nm2/node_modules -type f | wc -l)" 900 &&
  test_eq "$(cat .berth/worktrees/nm2/notes.txt)" notes &&
  test_eq "$(ls_get nm2 status)" active &&
  rm .berth/worktrees/nm2/notes.txt &&
  test_quiet berth down nm2 &&
  test ! -e .berth/worktrees/nm2 &&
  git branch -D nm2 >/dev/null
'

test_expect_success 'an untracked file inside a big ignored tree that is not itself ignored (vendor/local/): down refuses (7) and deletes nothing' '
  berth up nm3 >/dev/null &&
  make_tree .berth/worktrees/nm3/vendor &&
  mkdir .berth/worktrees/nm3/vendor/local &&
  echo mine >.berth/worktrees/nm3/vendor/local/mine.js &&
  test_must_fail code=7 berth down nm3 >out 2>err &&
  test_grep "^  vendor/local/mine.js$" err &&
  test_grep_not "pkg-" err &&
  test_eq "$(find .berth/worktrees/nm3/vendor -type f | wc -l)" 901 &&
  test_eq "$(ls_get nm3 status)" active &&
  rm -r .berth/worktrees/nm3/vendor/local &&
  test_quiet berth down nm3 &&
  test ! -e .berth/worktrees/nm3 &&
  git branch -D nm3 >/dev/null
'

test_expect_success 'down killed half way through removing a big tree (its threads running): the next down finishes it, nothing left' '
  berth up nm4 >/dev/null &&
  make_tree .berth/worktrees/nm4/node_modules &&
  berth_crash_at rm-tree-walk down nm4 &&
  test ! -e .berth/worktrees/nm4 &&
  test -f .berth/worktrees/.nm4.berth-old/.git &&
  left=$(find .berth/worktrees/.nm4.berth-old/node_modules -type f | wc -l) &&
  test "$left" -gt 0 && test "$left" -lt 900 &&
  test_eq "$(ls_get nm4 status)" crashed-op &&
  berth down nm4 >out 2>err &&
  test_grep "recovering session .nm4. left pending by a crashed down in step worktree-remove" err &&
  test_grep "^session .nm4. is down" out &&
  test -z "$(ls -A .berth/worktrees)" &&
  test -z "$(git worktree prune --dry-run -v)" &&
  git branch -D nm4 >/dev/null
'

test_done
