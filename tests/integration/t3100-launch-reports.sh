#!/bin/sh
# What `up` says when a native service does not get ready, and what it
# records when it does (src/supervise/launch.c): a oneshot is held to its
# ready_timeout; nothing of the launch acts once the outcome is decided; an
# http timeout says what the URL answered unless a foreign process holds the
# port; the failure report shows the current attempt's output only; every
# service that got ready has a `ready` event.
. "$BERTH_SRCDIR/tests/lib.sh"

: "${BERTH_TEST_LISTEN:?}"
P=28900
export BERTH_TEST_LISTEN

setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4
EOF_INI
ROOT_ID=$(root_id_of) # session_pids looks for this repository's markers

# Write a config with the [berth] section above and the services given.
config() {
  {
    printf '[berth]\nmode = host\nmax_slots = 4\nport_search_range = 1\nstop_grace = 1s\nstartup_window = 30s\n\n'
    cat
  } >.berth.ini
}

# An HTTP server on port $1 answering every request with status $2 (sockets
# only: it listens within milliseconds even on a loaded machine).
cat >"$TEST_ROOT/web_status.py" <<'EOF_PY'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
print("serving", flush=True)
while True:
    c, _ = s.accept()
    c.recv(4096)
    c.sendall(b"HTTP/1.0 %s x\r\nContent-Length: 0\r\n\r\n" % sys.argv[2].encode())
    c.close()
EOF_PY

test_expect_success 'oneshot ignores ready_timeout: a oneshot that does not finish fails up right after it, with its last lines, and rolls back' '
  config <<EOF_INI &&
[service "migrate"]
command = echo "migrating"; exec sleep 1000
oneshot = true
ready_timeout = 1s
EOF_INI
  t0=$(date +%s%N) &&
  { timeout -s INT 20 "$BERTH" up one-a 2>err; echo $? >rc; } &&
  t1=$(date +%s%N) &&
  cat err &&
  test_eq "$(cat rc)" 6 &&
  say "up failed after $(( (t1 - t0) / 1000000 )) ms (ready_timeout 1000 ms)" &&
  test $(( (t1 - t0) / 1000000 )) -lt 6000 &&
  test_grep "service .migrate. did not finish within 1 s" err &&
  test_grep "^--- last 20 lines of .*migrate.log ---" err &&
  test_grep "^migrating$" err &&
  test "$(session_count)" = 0 &&
  test -z "$(session_pids one-a)"
'

# The window between "the launch failed" and "launch_services returned" is
# widened by delaying berth's kill(2) calls by 1.5 s (the SIGKILL of the
# pending ready check is the first one). The failed service's shim ends
# inside it (its leftover child takes 0.2 s over TERM, so the shim outlives
# the decision), and that end must not be looked at any more: it was, and
# examine() read a freed status path (an openat of garbage; ASan does not
# check open's argument). strace shows what berth did in that window.
if command -v strace >/dev/null 2>&1 && strace -o /dev/null true 2>/dev/null; then
  test_expect_success "use-after-free in launch_services' cleanup: a shim that ends while up cleans up is not looked at" '
    config <<EOF_INI &&
[service "slowcheck"]
command = exec sleep 1000
ready = exec:sleep 30
ready_timeout = 60s

[service "dies"]
command = sh -c "trap \"sleep 0.2; exit 0\" TERM; sleep 100 & wait" & echo dying; exit 3
ready = none
EOF_INI
    # LeakSanitizer (the ASan build) cannot run under a tracer: leaks are
    # checked by the other tests.
    test_must_fail code=6 env ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
      strace -o trace -e trace=kill,openat,write,waitid \
      -e inject=kill:delay_enter=1500000 "$BERTH" up uaf-a 2>err ||
      { cat err; false; } &&
    test_grep "service .dies. exited with status 3" err &&
    awk "/^kill\\(-[0-9]+, SIGKILL\\)/ { on = 1 } on { print } /^write\\(2, \"berth: up: service/ { exit }" trace >window &&
    cat window &&
    test_grep "^kill(-[0-9]*, SIGKILL)" window &&
    test_grep "^waitid(.*CLD_EXITED.*si_status=3" window &&
    test_grep_not "^openat(" window &&
    test "$(session_count)" = 0 &&
    test -z "$(session_pids uaf-a)"
  '
else
  test_skip "use-after-free in launch_services' cleanup: a shim that ends while up cleans up is not looked at" \
    'strace is not installed or cannot trace here (make test installs it)'
fi

test_expect_success "http readiness timeout blames the service's own process: a 500 is reported as such" '
  config <<EOF_INI &&
[service "web"]
command = exec python3 -S $TEST_ROOT/web_status.py \$PORT 500
base_port = $((P + 10))
ready = http:/health
ready_timeout = 3s
EOF_INI
  test_must_fail code=6 berth up http-a 2>err &&
  test_grep "service .web. not ready after 3 s: http://localhost:$((P + 11))/health: it answered 500$" err &&
  test_grep_not "is held by" err &&
  test "$(session_count)" = 0 &&
  test -z "$(session_pids http-a)"
'

test_expect_success "http readiness timeout blames the service's own process: a server that never answers" '
  config <<EOF_INI &&
[service "web"]
command = exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $((P + 10))
ready = http:/health
ready_timeout = 1s
EOF_INI
  test_must_fail code=6 berth up http-b 2>err &&
  test_grep "service .web. not ready after 1 s: http://localhost:$((P + 11))/health: no answer" err &&
  test_grep_not "is held by" err &&
  test -z "$(session_pids http-b)"
'

test_expect_success "http readiness timeout blames the service's own process: a foreign holder is still named" '
  config <<EOF_INI &&
[service "web"]
command = exec sleep 1000
base_port = $((P + 10))
ready = http:/health
ready_timeout = 1s
EOF_INI
  berth_start_paused envfile up http-c &&
  start_listener $((P + 11)) &&
  kill -USR1 $PAUSED_PID &&
  test_must_fail code=6 wait $PAUSED_PID &&
  test_grep "service .web. not ready after 1 s: port $((P + 11)) is held by pid $LISTEN_PID (berth-test-list" paused.err &&
  kill $LISTEN_PID &&
  test "$(session_count)" = 0
'

# Regression (issue 15): the hint named $BERTH_web-app_PORT, a variable that
# does not exist; .env.berth has BERTH_WEB_APP_PORT.
test_expect_success 'wrong-port hint names the variable .env.berth really has ($BERTH_WEB_APP_PORT)' '
  config <<EOF_INI &&
[service "web-app"]
command = exec "\$BERTH_TEST_LISTEN" $((P + 49))
base_port = $((P + 40))
ready_timeout = 3s
EOF_INI
  test_must_fail code=6 berth up wp-a 2>err &&
  test_grep "port $((P + 41)) is not listening; the service listens on $((P + 49)) instead" err &&
  test_grep "(does it read \$PORT or \$BERTH_WEB_APP_PORT?)" err &&
  test_grep_not "BERTH_web" err &&
  test "$(session_count)" = 0
'

# A resumed session keeps its logs across attempts (a new session starts
# with empty ones: t1820), so its log holds both attempts.
test_expect_success 'failure report mixes earlier attempts: the last lines are of this attempt only' '
  config <<EOF_INI &&
[service "flaky"]
command = exec sleep 1000
ready = none
EOF_INI
  sed -i "s/^startup_window = 30s/startup_window = 100ms/" .berth.ini &&
  berth up flaky-a -q >/dev/null &&
  berth down flaky-a --keep-worktree -q >/dev/null &&
  config <<EOF_INI &&
[service "flaky"]
command = n=\$(cat $TEST_ROOT/flaky.n 2>/dev/null || echo 0); n=\$((n + 1)); echo \$n >$TEST_ROOT/flaky.n; for i in 1 2 3; do echo "attempt \$n line \$i"; done; exit 1
ready = none
EOF_INI
  test_must_fail code=6 berth up flaky-a 2>err1 &&
  test_grep "^attempt 1 line 3$" err1 &&
  test_must_fail code=6 berth up flaky-a 2>err2 &&
  L=.berth/logs/flaky-a/flaky.log &&
  test_grep "^attempt 1 line 1$" $L &&
  test_grep "^attempt 2 line 1$" $L &&
  sed -n "/^--- last 20 lines/,/^---\$/p" err2 >report &&
  printf -- "--- last 20 lines of %s ---\nattempt 2 line 1\nattempt 2 line 2\nattempt 2 line 3\n---\n" \
    "$REPO/$L" >want &&
  { cmp want report || { diff want report; false; }; } &&
  berth down flaky-a -q >/dev/null
'

test_expect_success 'events record ready only for log readiness: every service that got ready in up has one ready event' '
  config <<EOF_INI &&
[service "p"]
command = exec "\$BERTH_TEST_LISTEN" \$BERTH_P_PORT
base_port = $((P + 20))

[service "h"]
command = exec python3 -S $TEST_ROOT/web_status.py \$BERTH_H_PORT 200
base_port = $((P + 30))
ready = http:/health

[service "x"]
command = exec sleep 1000
ready = exec:true

[service "l"]
command = echo listening; exec sleep 1000
ready = log:^listening\$

[service "n"]
command = exec sleep 1000
ready = none

[service "o"]
command = echo migrated
oneshot = true
EOF_INI
  sed -i "s/^startup_window = 30s/startup_window = 1s/" .berth.ini &&
  { berth up ev-a >out 2>err || { cat err; false; }; } &&
  berth events ev-a --json >ev.json &&
  python3 - ev.json <<EOF_PY
import json, sys
d = json.load(open(sys.argv[1]))
ready = {}
for e in d:
    if e["kind"] == "ready":
        ready.setdefault(e["service"], []).append(e.get("detail"))
print(ready)
for s in "phxlno":
    assert len(ready.get(s, [])) == 1, (s, ready)
assert "port $((P + 21))" in ready["p"][0], ready["p"]
EOF_PY
  test $? = 0 &&
  test -n "$(session_pids ev-a)" &&
  berth down ev-a >/dev/null 2>&1 &&
  test -z "$(session_pids ev-a)"
'

test_expect_success 'up --json prints "status": "pending" for a session it just made active: it says active, as ls does' '
  config <<EOF_INI &&
[service "w"]
command = exec sleep 1000
ready = none
EOF_INI
  sed -i "s/^startup_window = 30s/startup_window = 100ms/" .berth.ini &&
  berth up js-a --json >up.json 2>err &&
  python3 -c "import json, sys; d = json.load(open(sys.argv[1])); assert d[\"status\"] == \"active\", d[\"status\"]" up.json &&
  berth ls --json >ls.json &&
  python3 -c "import json, sys; d = json.load(open(sys.argv[1])); s = [x for x in d if x[\"slug\"] == \"js-a\"]; assert s and s[0][\"status\"] == \"active\", s" ls.json &&
  berth down js-a >/dev/null 2>&1
'

test_done
