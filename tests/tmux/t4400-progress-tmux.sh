#!/bin/sh
# Progress a person can follow, on a real terminal (a pane of a private tmux
# server, read with capture-pane): a spinner with the elapsed time while a
# hook runs and while a readiness wait names what it awaits, the hook's
# output above it, nothing left of it at the end; none of it without a
# terminal, with TERM=dumb or with -q (which silences hook output too);
# colour for errors and states on a terminal, never with NO_COLOR.
. "$BERTH_SRCDIR/tests/lib.sh"

test_require_tmux
G1=$TEST_ROOT/gate1
G2=$TEST_ROOT/gate2

cat <<EOF_INI | setup_repo
[berth]
mode = host
max_slots = 8
stop_grace = 1s

[hooks]
pre_spawn = [ -e "$TEST_ROOT/fail" ] && { echo hook-failing-output; exit 3; }; echo hook-says-hi; i=0; while [ ! -e "$G1" ]; do sleep 0.05; i=\$((i + 1)); [ \$i = 10 ] && echo hook-half-second; done; true

[service "slow"]
command = while [ ! -e "$G2" ]; do sleep 0.02; done; echo ready; exec sleep 1000
ready = log:^ready
EOF_INI

# The terminal: a pane of another tmux server, colour allowed, UTF-8.
OUT_SOCK=$TEST_ROOT/outer.sock
outer() { tmux -S "$OUT_SOCK" -f /dev/null "$@"; }
pane() { outer capture-pane -p -J -t =p: -S -200; }
pane_has() { pane | grep -q -e "$1"; }
pane_has_ere() { pane | grep -Eq -e "$1"; }
# run CMD in the pane; `wait_rc N` waits for the line it ends with
# ("end<run number> rc=<exit status>") and checks the status
# (the run number is kept in a file: a test body may run in a subshell)
echo 0 >"$TEST_ROOT/runs"
run() {
  n=$(($(cat "$TEST_ROOT/runs") + 1)) && echo $n >"$TEST_ROOT/runs" &&
  outer send-keys -t =p: "clear; tmux -S '$OUT_SOCK' clear-history; $1; echo end$n rc=\$?" Enter
}
wait_rc() {
  n=$(cat "$TEST_ROOT/runs") &&
  wait_for 30 'pane_has "^end$n rc="' "the command in the pane to end" &&
  pane_has "^end$n rc=$1\$"
}
# the spinner's line: "<frame> TEXT 1.2 s"
SPIN=' [0-9]+\.[0-9] s$'
spin_time() { pane | grep -E -e "$1$SPIN" | tail -n 1 | sed -E 's/.* ([0-9]+\.[0-9]) s$/\1/'; }

test_expect_success 'set-up: a terminal with colour and UTF-8' '
  mkdir "$TEST_ROOT/bin" && ln -s "$BERTH" "$TEST_ROOT/bin/berth" &&
  outer new-session -d -s p -x 200 -y 50 -c "$REPO" -- \
    env -u NO_COLOR LC_ALL=C.UTF-8 PATH="$TEST_ROOT/bin:$PATH" PS1="$ " sh &&
  wait_for 10 "pane_has \"^\\\$\"" "the shell prompt"
'

test_expect_success 'a hook: its output above a spinner with the elapsed time, which runs' '
  rm -f "$G1" "$G2" &&
  run "berth up sp-a" &&
  wait_for 20 "pane_has hook-says-hi && pane_has_ere \"hook pre_spawn$SPIN\"" "the hook spinner" &&
  t1=$(spin_time "hook pre_spawn") &&
  wait_for 20 "test \"\$(spin_time \"hook pre_spawn\")\" != \"$t1\"" "the elapsed time to move on" &&
  pane >p1 &&
  hook_line=$(grep -n "^» hook pre_spawn:" p1 | cut -d: -f1) &&
  out_line=$(grep -n "^hook-says-hi" p1 | cut -d: -f1) &&
  test "$hook_line" -lt "$out_line"
'

test_expect_success 'a readiness wait: the spinner names the service and what it awaits' '
  touch "$G1" &&
  wait_for 20 "pane_has_ere \"waiting for slow \\(log /\\^ready/\\)$SPIN\"" "the readiness spinner" &&
  touch "$G2" &&
  wait_rc 0 &&
  pane >p2 &&
  test_grep "^» slow: ready" p2 &&
  test_grep "is up" p2
'

test_expect_success 'nothing of the spinner is left at the end' '
  ! grep -E -e "$SPIN" p2 &&
  ! grep -F -e "waiting for" p2
'

test_expect_success 'without a terminal: no spinner, no control sequence; the steps and the hook output as lines' '
  berth up sp-b 2>err &&
  test_grep "^» hook pre_spawn:" err &&
  test_grep "^hook-says-hi" err &&
  test_grep "^» slow: ready" err &&
  ! grep -q "$(printf "\\r")" err &&
  ! grep -q "$(printf "\\033")" err
'

test_expect_success 'TERM=dumb on a terminal: no spinner' '
  rm -f "$G1" &&
  run "TERM=dumb berth up sp-c" &&
  wait_for 20 "pane_has hook-half-second" "the hook to run half a second" &&
  ! pane_has_ere "$SPIN" &&
  touch "$G1" &&
  wait_rc 0 &&
  ! pane_has_ere "$SPIN"
'

test_expect_success 'regression: -q silenced progress but not the output of hooks (a terminal and a file)' '
  run "berth up sp-d -q" &&
  wait_rc 0 &&
  ! pane_has hook-says-hi &&
  ! pane_has "^»" &&
  berth up sp-e -q 2>err &&
  test ! -s err
'

test_expect_success '-q: a failing hook shows its last lines after the error' '
  touch "$TEST_ROOT/fail" &&
  test_must_fail code=1 berth up sp-f -q 2>err &&
  rm -f "$TEST_ROOT/fail" &&
  test_grep "hook pre_spawn failed: exited with status 3" err &&
  test_grep "^--- last lines of hook pre_spawn ---" err &&
  test_grep "^hook-failing-output" err
'

test_expect_success 'colour on a terminal: an error in red, a running state in green' '
  run "berth status nosuch" &&
  wait_rc 4 &&
  outer capture-pane -e -p -J -t =p: >c1 &&
  grep -F "$(printf "\\033[31m")berth:" c1 | grep -q "no session" &&
  run "berth status sp-a" &&
  wait_rc 0 &&
  outer capture-pane -e -p -J -t =p: >c2 &&
  grep -F "$(printf "\\033[32m")running" c2 | grep -q "^slow"
'

test_expect_success 'NO_COLOR on a terminal: no colour at all' '
  run "NO_COLOR=1 berth status nosuch; NO_COLOR=1 berth status sp-a" &&
  wait_rc 0 &&
  outer capture-pane -e -p -J -t =p: >c3 &&
  test_grep "no session" c3 &&
  test_grep "^slow" c3 &&
  ! grep -q "$(printf "\\033")\\[3[0-9]m" c3
'

test_expect_success 'clean-up' '
  outer kill-server &&
  for s in sp-a sp-b sp-c sp-d sp-e; do berth down $s -q || return 1; done
'

test_done
