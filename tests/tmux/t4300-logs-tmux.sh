#!/bin/sh
# `berth logs` under the tmux runner, where a service runs on a terminal and
# its log has what it drew there: the text (colours, cursor moves, screen
# clears, \r-redrawn progress lines taken out), --raw the bytes; the logs of
# a rolled-back `up` never read as the next attempt's (its failure report,
# up --json, the next session's logs).
. "$BERTH_SRCDIR/tests/lib.sh"

test_require_tmux

setup_repo <<EOF_INI
[berth]
mode = host
runner = tmux
max_slots = 4
EOF_INI

config() {
  {
    printf '[berth]\nmode = host\nrunner = tmux\nmax_slots = 4\nstop_grace = 1s\nstartup_window = 0.3s\n\n'
    cat
  } >.berth.ini
}

# A program that uses its terminal: colours, tput, clear, a progress line.
cat >"$TEST_ROOT/screen.sh" <<'EOF_SH'
test -t 1 || { echo "stdout is not a terminal"; exit 1; }
printf '\033[1;31mred bold\033[0m\n'
printf '%s%s\n' "$(tput bold)" "bold by tput$(tput sgr0)"
clear
printf 'after clear\n'
for i in 1 2 3; do printf '\r\033[Kprogress %d/3' "$i"; done
printf '\n'
printf '\033[?25l\033[5;10Hplaced\033[?25h\n'
echo ready
exec sleep 1000
EOF_SH

test_expect_success 'logs under the tmux runner kept ANSI sequences and screen clears: it shows the text' '
  config <<EOF_INI &&
[service "tty"]
command = exec sh $TEST_ROOT/screen.sh
ready = log:ready
EOF_INI
  berth up tl-a -q >/dev/null &&
  berth logs tl-a tty -n 20 >out &&
  printf "tty | %s\n" "red bold" "bold by tput" "after clear" "progress 3/3" "placed" "ready" >want &&
  { cmp want out || { diff want out; cat -A out; false; }; } &&
  berth logs tl-a -n 20 --raw >raw &&
  test_grep "$(printf "\033")\\[[0-9;]*J.*after clear" raw &&
  test_grep "$(printf "\033\\[1;31mred bold")" raw &&
  berth logs tl-a -n 20 --json >j &&
  python3 -c "import json,sys; l = json.load(open(sys.argv[1]))[\"services\"][0][\"lines\"]; assert l[-3:] == [\"progress 3/3\", \"placed\", \"ready\"], l" j &&
  berth down tl-a -q >/dev/null
'

test_expect_success 'logs -f under the tmux runner strips what is drawn as it comes' '
  config <<EOF_INI &&
[service "tty"]
command = exec sh $TEST_ROOT/screen.sh
ready = log:ready
EOF_INI
  berth up tl-b -q >/dev/null &&
  "$BERTH" logs tl-b -n 1 -f >fout 2>ferr &
  lpid=$! &&
  test_track_pid $lpid &&
  wait_for 20 "grep -q \"^tty | ready\" fout" "the tail, before following" &&
  berth restart tl-b tty -q >/dev/null &&
  wait_for 20 "test \$(grep -c \"^tty | ready\" fout) = 2" "the restarted run followed" &&
  kill $lpid &&
  test_grep "^tty | after clear$" fout &&
  test_grep "^tty | progress 3/3$" fout &&
  test "$(tr -d -c "\033" <fout | wc -c)" = 0 &&
  berth down tl-b -q >/dev/null
'

test_expect_success 'a rolled-back up leaked its log into the next attempt under the tmux runner: reports, up --json and logs show this attempt only' '
  config <<EOF_INI &&
[service "api"]
command = printf "\\033[31mOLD-ATTEMPT\\033[0m\\n"; exit 1
ready = none
EOF_INI
  test_must_fail code=6 berth up rb-t 2>err1 &&
  test_grep "OLD-ATTEMPT" err1 &&
  berth logs rb-t >l1 2>/dev/null &&
  test_eq "$(cat l1)" "api | OLD-ATTEMPT" &&
  config <<EOF_INI &&
[service "api"]
command = echo NEW-ATTEMPT; exit 2
ready = none
EOF_INI
  test_must_fail code=6 berth up rb-t --json >o2 2>err2 &&
  test_grep "^NEW-ATTEMPT$" err2 &&
  test_grep_not "OLD-ATTEMPT" err2 &&
  test_grep_not "OLD-ATTEMPT" o2 && test_json_error o2 6 &&
  config <<EOF_INI &&
[service "api"]
command = echo THIRD; exec sleep 1000
ready = none
EOF_INI
  berth up rb-t -q >/dev/null &&
  berth logs rb-t >l3 &&
  test_eq "$(cat l3)" "api | THIRD" &&
  berth down rb-t -q >/dev/null
'

test_done
