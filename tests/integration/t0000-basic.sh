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

test_expect_success 'ls in an empty repository: no sessions, exit 0, JSON []' '
  berth ls >out 2>err &&
  test ! -s out &&
  test_grep "no sessions" err &&
  berth ls --json >out &&
  test "$(cat out)" = "[]"
'

test_done
