#!/bin/sh
# `berth logs` (src/cmd/cmd_logs.c, src/util/ansi.c): the text a service's
# output shows (escape sequences, \r-redrawn lines and screen clears taken
# out), --raw for the bytes as logged, also with -f and a sequence split
# across reads; --json (a document, one object per line with -f, the error
# document on a failure); the logs of a rolled-back `up` are its own: they
# show as such, and never as lines of the next attempt (its failure report,
# up --json, the next session's logs), nor glued to its first line.
. "$BERTH_SRCDIR/tests/lib.sh"

setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4
EOF_INI

# Write a config with the [berth] section and the services given.
config() {
  {
    printf '[berth]\nmode = host\nmax_slots = 4\nstop_grace = 1s\nstartup_window = 0.3s\n\n'
    cat
  } >.berth.ini
}

# What a service on a terminal writes: colours, a screen clear, a progress
# line redrawn with \r, a window title, CRLF, a tab and UTF-8, a backspace.
cat >"$TEST_ROOT/colours.sh" <<'EOF_SH'
printf '\033[32mgreen\033[0m plain\n'
printf '\033[2J\033[Hcleared\n'
printf '10%%\r50%%\r100%%\n'
printf '\033]0;my title\007titled\n'
printf 'crlf\r\n'
printf 'tab\there \303\251\n'
printf 'spin |\b/\b-\bdone\n'
printf 'ready\n'
[ -z "${ONCE:-}" ] || exit 0
if [ -n "${BIG_FIFO:-}" ]; then
  read -r go <"$BIG_FIFO"
  # one line of 120 KB, 8 of every 10 bytes in sequences: the shim writes
  # it out past 64 KiB, `logs -f` reads it in 64 KiB reads, so sequences
  # come split across two reads
  python3 -c 'import sys; sys.stdout.write("\033[31mx\033[0m" * 12000 + "\nbig done\n")'
fi
exec sleep 1000
EOF_SH

want_clean() {
  printf 'api | %s\n' "green plain" "cleared" "100%" "titled" "crlf" "tab	here é" "spin done" "ready"
}

test_expect_success 'logs showed the escape sequences, screen clears and CR-redrawn lines a service writes: it shows their text' '
  config <<EOF_INI &&
[service "api"]
command = BIG_FIFO=$TEST_ROOT/big.fifo exec sh $TEST_ROOT/colours.sh
ready = log:^ready\$
EOF_INI
  mkfifo "$TEST_ROOT/big.fifo" &&
  berth up lg-a -q >/dev/null &&
  berth logs lg-a api -n 20 >out &&
  want_clean >want &&
  { cmp want out || { diff want out; false; }; } &&
  NO_COLOR= berth logs lg-a -n 20 >out.nc &&
  cmp want out.nc
'

# on_tty CMD...: CMD's output on a terminal (a pty), its \r\n made \n.
on_tty() {
  python3 - "$@" <<'EOF_PY'
import os, pty, sys
pid, fd = pty.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
out = b""
while True:
    try:
        d = os.read(fd, 65536)
    except OSError:
        break
    if not d:
        break
    out += d
os.waitpid(pid, 0)
sys.stdout.buffer.write(out.replace(b"\r\n", b"\n"))
EOF_PY
}

test_expect_success 'logs on a terminal keeps colours (SGR only), never with NO_COLOR' '
  on_tty env -u NO_COLOR TERM=xterm "$BERTH" logs lg-a api -n 20 >tty.out &&
  test_grep "^api | $(printf "\033")\\[32mgreen$(printf "\033")\\[0m plain$" tty.out &&
  test_grep "^api | cleared$" tty.out &&
  test "$(tr -d -c "\033" <tty.out | wc -c)" = 2 &&
  on_tty env NO_COLOR=1 TERM=xterm "$BERTH" logs lg-a api -n 20 >tty.nc &&
  want_clean >want &&
  cmp want tty.nc
'

test_expect_success 'logs --raw: the bytes as logged, after the prefix' '
  berth logs lg-a api -n 20 --raw >raw &&
  sed "s/^api | //" raw >raw.bytes &&
  ONCE=1 sh "$TEST_ROOT/colours.sh" >want.bytes &&
  { cmp want.bytes raw.bytes || { od -c want.bytes; od -c raw.bytes; false; }; }
'

test_expect_success 'logs -f strips too: lines followed, a sequence split across reads' '
  "$BERTH" logs lg-a api -f >fout 2>ferr &
  lpid=$! &&
  test_track_pid $lpid &&
  wait_for 20 "grep -q \"^api | ready\$\" fout" "the tail before following" &&
  echo go >"$TEST_ROOT/big.fifo" &&
  wait_for 20 "grep -q \"^api | big done\$\" fout" "the big line followed" &&
  kill $lpid &&
  x=$(python3 -c "print(\"x\" * 12000)") &&
  test_grep "^api | $x\$" fout &&
  test "$(tr -d -c "\033" <fout | wc -c)" = 0 &&
  ! grep -v "^api | " fout
'

test_expect_success 'logs --json: a document of the lines shown (text, or --raw bytes)' '
  berth logs lg-a -n 3 --json >j &&
  python3 - j "$REPO/.berth/logs/lg-a/api.log" <<EOF_PY &&
import json, sys
d = json.load(open(sys.argv[1]))
s = d["services"]
assert d["slug"] == "lg-a" and d["raw"] is False and d["rolled_back"] is False, d
assert len(s) == 1 and s[0]["name"] == "api" and s[0]["run"] == "native", s
assert s[0]["log"] == sys.argv[2], s[0]["log"]
assert s[0]["lines"] == ["ready", "x" * 12000, "big done"], s[0]["lines"]
EOF_PY
  berth logs lg-a -n 20 --raw --json >jr &&
  python3 - jr <<EOF_PY
import json, sys
lines = json.load(open(sys.argv[1]))["services"][0]["lines"]
assert lines[0] == "\x1b[32mgreen\x1b[0m plain", lines[0]
assert lines[2] == "10%\r50%\r100%", lines[2]
EOF_PY
'

test_expect_success 'logs --json -f: one object per line, as they come' '
  "$BERTH" logs lg-a -n 2 --json -f >jf 2>jferr &
  lpid=$! &&
  test_track_pid $lpid &&
  wait_for 20 "grep -q \"big done\" jf" "the tail as JSON lines" &&
  kill $lpid &&
  python3 - jf <<EOF_PY
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 2, rows
assert rows[1] == {"slug": "lg-a", "service": "api", "line": "big done"}, rows[1]
assert rows[0]["line"] == "x" * 12000
EOF_PY
'

test_expect_success 'logs --json: a failure is the error document (not found 4, usage 2)' '
  test_must_fail code=4 berth logs nosuch --json >o 2>/dev/null && test_json_error o 4 &&
  test_must_fail code=4 berth logs lg-a nosvc --json >o 2>/dev/null && test_json_error o 4 &&
  test_must_fail code=2 berth logs lg-a -n many --json >o 2>/dev/null && test_json_error o 2 &&
  berth down lg-a -q >/dev/null
'

test_expect_success 'a rolled-back up leaked its log into the next attempt of that name: reports, up --json and logs show this attempt only' '
  config <<EOF_INI &&
[service "api"]
command = echo OLD-ATTEMPT; exit 1
ready = none
EOF_INI
  test_must_fail code=6 berth up rb-a 2>err1 &&
  test_grep "^OLD-ATTEMPT$" err1 &&
  berth logs rb-a >l1 2>l1.err &&
  test_eq "$(cat l1)" "api | OLD-ATTEMPT" &&
  test_grep "no session .rb-a.: these are the logs its last .up. left when it failed and was rolled back" l1.err &&
  berth logs rb-a --json >l1.json 2>/dev/null &&
  python3 -c "import json,sys; d = json.load(open(sys.argv[1])); assert d[\"rolled_back\"] is True and d[\"services\"][0][\"lines\"] == [\"OLD-ATTEMPT\"], d" l1.json &&
  config <<EOF_INI &&
[service "api"]
command = echo NEW-ATTEMPT; exit 2
ready = none
EOF_INI
  test_must_fail code=6 berth up rb-a --json >o2 2>err2 &&
  test_grep "^NEW-ATTEMPT$" err2 &&
  test_grep_not "OLD-ATTEMPT" err2 &&
  test_grep_not "OLD-ATTEMPT" o2 && test_json_error o2 6 &&
  berth logs rb-a >l2 2>/dev/null &&
  test_eq "$(cat l2)" "api | NEW-ATTEMPT" &&
  config <<EOF_INI &&
[service "api"]
command = echo THIRD; exec sleep 1000
ready = none
EOF_INI
  berth up rb-a -q >/dev/null &&
  berth logs rb-a >l3 2>l3.err &&
  test_eq "$(cat l3)" "api | THIRD" &&
  test ! -s l3.err &&
  berth down rb-a -q >/dev/null &&
  test_must_fail code=4 berth logs rb-a 2>/dev/null
'

test_expect_success 'a run that ended inside a line was glued to the next run'"'"'s first line (a resumed session, rolled back, then up again)' '
  config <<EOF_INI &&
[service "api"]
command = echo FIRST; exec sleep 1000
ready = none
EOF_INI
  berth up gl-a -q >/dev/null &&
  berth down gl-a --keep-worktree -q >/dev/null &&
  config <<EOF_INI &&
[service "api"]
command = printf OLD-PARTIAL; exit 1
ready = none
EOF_INI
  test_must_fail code=6 berth up gl-a 2>err1 &&
  test_grep "^OLD-PARTIAL$" err1 &&
  config <<EOF_INI &&
[service "api"]
command = echo NEW-ATTEMPT; exit 2
ready = none
EOF_INI
  test_must_fail code=6 berth up gl-a 2>err2 &&
  L=.berth/logs/gl-a/api.log &&
  sed -n "/^--- last 20 lines/,/^---\$/p" err2 >report &&
  printf -- "--- last 20 lines of %s ---\nNEW-ATTEMPT\n---\n" "$REPO/$L" >want &&
  { cmp want report || { diff want report; false; }; } &&
  berth logs gl-a -n 3 >l &&
  printf "api | %s\n" FIRST OLD-PARTIAL NEW-ATTEMPT >want.l &&
  { cmp want.l l || { diff want.l l; false; }; } &&
  berth down gl-a -q >/dev/null
'

test_done
