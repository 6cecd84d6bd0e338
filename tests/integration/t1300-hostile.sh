#!/bin/sh
# Hostile names: branch names and slugs that could escape the worktree
# directory, pass for options, break git or the terminal are refused with a
# usage error (2) before anything is created; names that map to a valid slug
# are accepted, and the branch keeps its own name.
. "$BERTH_SRCDIR/tests/lib.sh"

SQ="'"

B=25000
setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4

[service "web"]
base_port = $B
EOF_INI

WTS=$REPO/.berth/worktrees
CTRL_A=$(printf 'a\001b')
ESC_NAME=$(printf 'a\033[31mb')
DEL_NAME=$(printf 'a\177b')
NL_NAME=$(printf 'a\nb')
LONG200=$(printf '%0200d' 0 | tr 0 a)
LONG201=$(printf '%0201d' 0 | tr 0 a)
SLUG63=$(printf '%063d' 0 | tr 0 a)
SLUG64=$(printf '%064d' 0 | tr 0 a)

# snapshot / unchanged: nothing was created since the snapshot: the same
# branches, no entry under .berth/worktrees, no git worktree, no session row.
snapshot() {
  git branch --list >"$TEST_ROOT/branches.snap"
}
unchanged() {
  git branch --list >"$TEST_ROOT/branches.now" &&
  diff -u "$TEST_ROOT/branches.snap" "$TEST_ROOT/branches.now" &&
  test -z "$(ls -A "$WTS" 2>/dev/null)" &&
  test_eq "$(git worktree list | wc -l)" 1 &&
  test ! -e "$REPO/.berth/x" && test ! -e "$TEST_ROOT/x" &&
  test_eq "$(session_count)" 0
}

# no_raw_control FILE: FILE holds no byte below 0x20 but newline, and no DEL.
no_raw_control() {
  if LC_ALL=C tr -d '\n\040-\176' <"$1" | grep -q .; then
    echo "raw control bytes in $1:" >&2
    od -c "$1" | sed 's/^/    /' >&2
    return 1
  fi
}

# up_refused EXPECTED-MESSAGE NAME: `berth up -- NAME` is a usage error (2)
# with the message on stderr and nothing on stdout, and creates nothing.
up_refused() {
  test_must_fail code=2 berth up -- "$2" >out 2>err &&
  test ! -s out &&
  test_grep "$1" err &&
  no_raw_control err &&
  unchanged
}

test_expect_success 'setup: state store exists, no session' '
  berth ls --json >ls.json && test_eq "$(cat ls.json)" "[]" &&
  snapshot
'

test_expect_success 'up -- ../x: refused (2), nothing created outside or inside' '
  up_refused "invalid branch name .\.\./x.: must not contain .\.\.." ../x
'

test_expect_success 'up ../x/y and up x/../../y: refused (2)' '
  up_refused "must not contain .\.\.." ../x/y &&
  up_refused "must not contain .\.\.." x/../../y
'

test_expect_success 'up -- -rf: refused (2); up -rf is an unknown option (2)' '
  up_refused "invalid branch name .-rf.: must not start with .-." -rf &&
  test_must_fail code=2 berth up -rf 2>err &&
  test_grep "unknown option" err &&
  unchanged
'

test_expect_success 'up a..b: refused (2)' '
  up_refused "invalid branch name .a\.\.b.: must not contain .\.\.." a..b
'

test_expect_success 'a 200-character name: refused (2); a 201-character one too' '
  up_refused "longer than 63 characters" "$LONG200" &&
  up_refused "is longer than 200 bytes" "$LONG201"
'

test_expect_success 'a name with a control byte: refused (2), the byte is shown escaped' '
  up_refused "contains a control character" "$CTRL_A" &&
  grep -F "a\\x01b" err >/dev/null
'

test_expect_success 'a name with an escape sequence, DEL or newline: refused (2), escaped' '
  up_refused "contains a control character" "$ESC_NAME" &&
  grep -F "a\\x1b[31mb" err >/dev/null &&
  up_refused "contains a control character" "$DEL_NAME" &&
  grep -F "a\\x7fb" err >/dev/null &&
  up_refused "contains a control character" "$NL_NAME" &&
  grep -F "a\\x0ab" err >/dev/null
'

test_expect_success 'branch names with Unicode bidirectional controls: refused (2) like control characters, shown escaped' '
  RLO_NAME=$(printf "feat/\342\200\256gnp.exe") &&
  up_refused "contains a control character" "$RLO_NAME" &&
  grep -F "feat/\xe2\x80\xaegnp.exe" err >/dev/null &&
  ISO_NAME=$(printf "a\342\201\246b") &&
  up_refused "contains a control character" "$ISO_NAME"
'

test_expect_success 'up "a b": refused (2)' '
  up_refused "invalid branch name .a b.: must not contain spaces" "a b"
'

test_expect_success 'x.lock, a~1, a^b, a:b, a?b, a*b, a[b and a backslash: refused (2)' '
  up_refused "must not end with .\.lock." x.lock &&
  up_refused "must not contain .~." a~1 &&
  up_refused "must not contain .\^." "a^b" &&
  up_refused "must not contain .:." a:b &&
  up_refused "must not contain .?." "a?b" &&
  up_refused "must not contain .\*." "a*b" &&
  up_refused "must not contain .\[." "a[b" &&
  up_refused "must not contain" "a\\b" &&
  grep -F "a\\b" err >/dev/null
'

test_expect_success '@{x}, the empty name, HEAD, a/, a., .a, a/.b, a//b: refused (2)' '
  up_refused "must not contain .@{." "@{x}" &&
  up_refused "must not be empty" "" &&
  up_refused "reserved by git" HEAD &&
  up_refused "must not end with ./." a/ &&
  up_refused "must not end with .\.." a. &&
  up_refused "not a valid git branch name" .a &&
  up_refused "not a valid git branch name" a/.b &&
  up_refused "not a valid git branch name" a//b
'

test_expect_success 'a name with no letter or digit: refused (2)' '
  up_refused "gives no usable session name" ___ &&
  up_refused "gives no usable session name" +++ &&
  up_refused "gives no usable session name" "=_="
'

test_expect_success '--branch is checked the same way: --branch ../x, --branch -rf (2)' '
  test_must_fail code=2 berth up ok --branch ../x 2>err &&
  test_grep "invalid branch name .\.\./x." err &&
  test_must_fail code=2 berth up ok --branch=-rf 2>err &&
  test_grep "must not start with .-." err &&
  test_must_fail code=2 berth up ok --branch "$CTRL_A" 2>err &&
  no_raw_control err &&
  unchanged
'

test_expect_success 'nothing at all was created by the refused names' '
  unchanged &&
  test -z "$(git for-each-ref --format="%(refname)" refs/heads | grep -v "^refs/heads/main$")" &&
  test_must_fail test -e "$REPO/.git/worktrees"
'

# Slug-taking commands validate the slug before they look anything up:
# usage error (2), whatever the name, even with no such session.
run_slug_cmd() {
  case $cmd in
    exec) berth exec "$1" -- true ;;
    *) berth "$cmd" "$1" ;;
  esac
}

for cmd in down env exec shell; do
  test_expect_success "$cmd rejects ../x, A, a_b, a 64-character slug and a control byte (2)" '
    for bad in ../x A a_b AB a- -- "$SLUG64" "$CTRL_A" x/y "a b"; do
      test_must_fail code=2 run_slug_cmd "$bad" >out 2>err || { echo "$cmd [$bad]"; return 1; }
      test ! -s out || return 1
      no_raw_control err || return 1
      case $bad in
        --) ;;
        "$SLUG64") test_grep "longer than 63 characters" err || return 1 ;;
        "$CTRL_A") grep -F "invalid session name ${SQ}a\\x01b${SQ}" err >/dev/null || { cat err; return 1; } ;;
        *) test_grep "invalid session name" err || return 1 ;;
      esac
    done &&
    unchanged
  '
done

test_expect_success 'down -rf, env -rf, exec -rf, shell -rf: unknown options (2); down -- -rf, env -- -rf: invalid names (2)' '
  test_must_fail code=2 berth down -rf 2>err && test_grep "unknown option" err &&
  test_must_fail code=2 berth env -rf 2>err && test_grep "unknown option" err &&
  test_must_fail code=2 berth exec -rf -- true 2>err && test_grep "unknown option" err &&
  test_must_fail code=2 berth shell -rf 2>err && test_grep "unknown option" err &&
  test_must_fail code=2 berth down -- -rf 2>err && test_grep "invalid session name .-rf." err &&
  test_must_fail code=2 berth env -- -rf 2>err && test_grep "invalid session name .-rf." err &&
  unchanged
'

test_expect_success 'a valid slug with no session: not found (4), including 63 characters' '
  test_must_fail code=4 berth down "$SLUG63" 2>err &&
  test_grep "no session" err &&
  test_must_fail code=4 berth env nope 2>err &&
  test_must_fail code=4 berth exec nope -- true 2>err &&
  test_must_fail code=4 berth shell nope 2>err &&
  unchanged
'

test_expect_success 'up feat/Foo_bar: session feat-foo-bar on branch feat/Foo_bar' '
  berth up feat/Foo_bar >out 2>err &&
  test_grep "^session .feat-foo-bar. is up (slot 1)$" out &&
  test -d "$WTS/feat-foo-bar" &&
  test_eq "$(git -C "$WTS/feat-foo-bar" symbolic-ref --short HEAD)" feat/Foo_bar &&
  git rev-parse --verify -q refs/heads/feat/Foo_bar >/dev/null &&
  test_must_fail git rev-parse --verify -q refs/heads/feat-foo-bar &&
  test_eq "$(ls_get feat-foo-bar branch)" feat/Foo_bar &&
  test_grep "^BERTH_SLUG=feat-foo-bar$" "$WTS/feat-foo-bar/.env.berth" &&
  berth env feat-foo-bar >/dev/null
'

test_expect_success 'another branch with the same slug is a conflict (5), not a merge' '
  test_must_fail code=5 berth up feat/foo-bar 2>err &&
  test_grep "already exists for branch .feat/Foo_bar." err &&
  test_must_fail git rev-parse --verify -q refs/heads/feat/foo-bar &&
  test_eq "$(session_count)" 1
'

test_expect_success 'the session name itself resumes the session, whatever its branch' '
  berth up feat-foo-bar >out &&
  test_grep "^session .feat-foo-bar. is up (slot 1)$" out &&
  test_eq "$(ls_get feat-foo-bar branch)" feat/Foo_bar
'

test_expect_success 'the same branch again is idempotent' '
  berth up feat/Foo_bar >out &&
  test_grep "^session .feat-foo-bar. is up (slot 1)$" out &&
  test_eq "$(session_count)" 1
'

test_expect_success 'Upper.Case and runs of odd characters collapse into one dash' '
  berth up "Fix/ISSUE--42__x" >out 2>err &&
  test_grep "^session .fix-issue-42-x. is up" out &&
  test_eq "$(git -C "$WTS/fix-issue-42-x" symbolic-ref --short HEAD)" "Fix/ISSUE--42__x"
'

test_expect_success 'a long branch that maps to a 63-character slug is accepted; 64 is refused' '
  berth up "$SLUG63" >out 2>err &&
  test -d "$WTS/$SLUG63" &&
  test_quiet berth down "$SLUG63" &&
  test_must_fail code=2 berth up "feat/$(printf "%060d" 0 | tr 0 b)" 2>err &&
  test_grep "longer than 63 characters" err
'

test_expect_success 'down of the accepted sessions keeps their branches' '
  berth down feat-foo-bar >/dev/null &&
  berth down fix-issue-42-x >/dev/null &&
  test_eq "$(session_count)" 0 &&
  test -z "$(ls -A "$WTS")" &&
  git rev-parse --verify -q refs/heads/feat/Foo_bar >/dev/null &&
  git rev-parse --verify -q "refs/heads/Fix/ISSUE--42__x" >/dev/null
'

test_expect_success 'a branch with a C1 control (U+009B as UTF-8) is refused, printed escaped' '
  test_must_fail code=2 berth up "$(printf "a\302\233b")" 2>err &&
  test_grep "control character" err &&
  test_grep "a\\\\xc2\\\\x9bb" err
'

test_expect_success 'a file name with terminal escapes is listed escaped by down'"'"'s refusal' '
  berth up esc-name >/dev/null &&
  touch ".berth/worktrees/esc-name/$(printf "x\033]0;pwn\007")" &&
  test_must_fail code=7 berth down esc-name 2>err &&
  test_grep "x\\\\x1b]0;pwn\\\\x07" err &&
  ! grep -q "$(printf "\033")" err &&
  berth down esc-name --force
'

test_done
