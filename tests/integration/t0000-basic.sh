#!/bin/sh
# The command line itself: version, help for every command, the exit-code
# contract, unknown commands and options, running outside a repository.
. "$BERTH_SRCDIR/tests/lib.sh"

commands="config doctor down env exec init ls shell up validate whose"

test_expect_success '--version prints the version' '
  berth --version >out &&
  test_grep "^berth [0-9][0-9.]*$" out
'

test_expect_success '--help lists every command and the exit codes' '
  berth --help >out &&
  for c in $commands; do test_grep "^  $c " out || return 1; done &&
  test_grep "^Exit codes:" out &&
  test_grep "  7    refused" out
'

test_expect_success 'every command has --help with usage and exit codes' '
  for c in $commands; do
    berth $c --help >out || return 1
    test_grep "^usage: berth $c" out || return 1
    test_grep "^Exit codes:" out || return 1
  done
'

test_expect_success 'no arguments is a usage error (2)' '
  test_must_fail code=2 berth 2>err &&
  test_grep "usage: berth" err
'

test_expect_success 'an unknown command is a usage error (2)' '
  test_must_fail code=2 berth frobnicate 2>err &&
  test_grep "unknown command .frobnicate." err
'

test_expect_success 'an unknown option is a usage error (2) that points to --help' '
  git init -q "$REPO" &&
  test_must_fail code=2 berth ls --bogus 2>err &&
  test_grep "berth ls --help" err
'

test_expect_success 'outside a git repository: a clear error (3)' '
  mkdir -p "$TEST_ROOT/norepo" && cd "$TEST_ROOT/norepo" &&
  test_must_fail code=3 berth ls 2>err &&
  test_grep "not inside a git repository" err
'

test_expect_success 'in a repository without .berth.ini, up says to run init (3)' '
  rm -rf "$REPO/.git" && setup_repo --no-config &&
  test_must_fail code=3 berth up feat-a 2>err &&
  test_grep "berth init" err &&
  test ! -e .berth/worktrees/feat-a
'

# Regression (issue 15): `berth up --bogus` without a .berth.ini exited 3:
# the config was loaded before the command parsed its options. A bad
# command line is a usage error (2) whatever the state of the config; a good
# one still gets the config error (3).
test_expect_success 'an unknown option is a usage error (2) before a missing .berth.ini (3)' '
  test ! -e .berth.ini &&
  test_must_fail code=2 berth up --bogus 2>err &&
  test_grep "unknown option .--bogus." err &&
  test_grep "berth up --help" err &&
  test_grep_not "berth init" err &&
  test_must_fail code=2 berth up feat-a -Z 2>err &&
  test_grep "unknown option .-Z." err &&
  test_must_fail code=2 berth down --bogus=1 feat-a 2>err &&
  test_grep "unknown option .--bogus." err &&
  test_must_fail code=2 berth validate --nope 2>err &&
  test_must_fail code=3 berth up --json --branch=feat-a --port web=1 -q feat-a 2>err &&
  test_grep "berth init" err &&
  test_must_fail code=3 berth up -- --bogus 2>err &&
  test_grep "berth init" err &&
  test ! -e .berth/worktrees/feat-a
'

test_expect_success 'an unknown option is a usage error (2) before an invalid .berth.ini or outside a repository (3)' '
  printf "[berth]\nno_such_key = 1\n" >.berth.ini &&
  test_must_fail code=3 berth up feat-a 2>err &&
  test_grep "no_such_key" err &&
  test_must_fail code=2 berth up feat-a --bogus 2>err &&
  test_grep "unknown option .--bogus." err &&
  test_grep_not "no_such_key" err &&
  rm .berth.ini &&
  mkdir -p "$TEST_ROOT/norepo2" && cd "$TEST_ROOT/norepo2" &&
  test_must_fail code=2 berth ls --bogus 2>err &&
  test_grep "unknown option .--bogus." err &&
  test_must_fail code=3 berth ls --json 2>err &&
  test_grep "not inside a git repository" err
'

test_expect_success 'ls in an empty repository: no sessions, exit 0, JSON []' '
  berth ls >out 2>err &&
  test ! -s out &&
  test_grep "no sessions" err &&
  berth ls --json >out &&
  test "$(cat out)" = "[]"
'

test_done
