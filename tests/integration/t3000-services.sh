#!/bin/sh
# Native services through berth itself: up starts them under berth-shim and
# waits for readiness or death; a death fails up at once with the status and
# the last 20 lines; down leaves no process and no port of the session, what
# ever the tree did; status, logs, restart, events, hooks.
# tests/tmux/t4000-services-tmux.sh runs these again with runner = tmux
# (BERTH_TEST_RUNNER, on ports from BERTH_TEST_PORT_BASE).
. "$BERTH_SRCDIR/tests/lib.sh"

: "${BERTH_TEST_LISTEN:?}"
RUNNER=${BERTH_TEST_RUNNER:-process}
P=${BERTH_TEST_PORT_BASE:-28500}
[ "$RUNNER" = tmux ] && test_require_tmux
export BERTH_TEST_LISTEN

# The tree of the 4-level test, as a service command.
cat >"$TEST_ROOT/tree.sh" <<'EOF_SH'
echo "tree: starting"
# pid files outside the worktree: they are not the user's work
mkdir -p "$TREE_OUT/$BERTH_SLUG" && cd "$TREE_OUT/$BERTH_SLUG" || exit 1
# four levels: this sh -> wrapper sh -> sh -> the listener
sh -c 'sh -c "exec \"$BERTH_TEST_LISTEN\" $PORT" & wait' &
# an escapee in a session of its own, that dies on TERM
setsid sh -c 'trap "echo term >escapee.term; exit 0" TERM; echo $$ >escapee.pid; sleep 1000 & wait' &
# a daemon that double-forks away from us (it stays in the service's
# session: under the tmux runner that session's terminal hangs up when the
# service's shell ends, so a HUP may come first; either is a graceful stop)
sh -c '(sh -c "trap \"echo term >daemon.term; exit 0\" TERM; trap \"echo hup >daemon.term; exit 0\" HUP; echo \$\$ >daemon.pid; sleep 1001 & wait" &)'
# a child that ignores TERM (and HUP, which a terminal's hangup would send)
sh -c 'trap "" TERM HUP; echo $$ >ignorer.pid; exec sleep 1002' &
echo "tree: up"
wait
EOF_SH

TREE_OUT=$TEST_ROOT/out
export TREE_OUT
setup_repo <<EOF_INI
[berth]
mode = host
runner = $RUNNER
max_slots = 4
stop_grace = 1s
startup_window = 30s

[service "tree"]
command = sh $TEST_ROOT/tree.sh
base_port = $P
ready_timeout = 20s
EOF_INI
ROOT_ID=$(berth env feat-x 2>/dev/null | sed -n 's/^BERTH_ROOT_ID=//p')
WT=$REPO/.berth/worktrees

# Write a config with the [berth] section above and the services given.
config() {
  {
    printf '[berth]\nmode = host\nrunner = %s\nmax_slots = 4\nport_search_range = 1\nstop_grace = 1s\nstartup_window = 30s\n\n' "$RUNNER"
    cat
  } >.berth.ini
}

test_expect_success 'up starts the tree and returns when its port listens' '
  berth up tree-a >out 2>err &&
  test_grep "tree: ready" err &&
  port_listening $((P + 1)) &&
  wait_for 10 "test -s $TREE_OUT/tree-a/escapee.pid && test -s $TREE_OUT/tree-a/daemon.pid && test -s $TREE_OUT/tree-a/ignorer.pid" "the tree" &&
  ROOT_ID=$(tr "\0" "\n" </proc/$(cat $TREE_OUT/tree-a/escapee.pid)/environ | sed -n "s/^BERTH_ROOT_ID=//p") &&
  echo "$ROOT_ID" >"$TEST_ROOT/root_id" &&
  session_pids tree-a >pids &&
  test "$(wc -l <pids)" -ge 7 &&
  berth status tree-a >st &&
  test_grep "^tree  *running .* $((P + 1))  *ok" st
'
ROOT_ID=$(cat "$TEST_ROOT/root_id" 2>/dev/null)

test_expect_success 'down leaves no process of the session and frees its port; TERM first, KILL at the deadline' '
  session_pids tree-a >before &&
  t0=$(date +%s%N) &&
  berth down tree-a >out 2>err &&
  t1=$(date +%s%N) &&
  say "down took $(( (t1 - t0) / 1000000 )) ms with stop_grace 1000 ms" &&
  test -z "$(session_pids tree-a)" &&
  while read -r p; do ! pid_alive "$p" || { echo "survivor $p"; exit 1; }; done <before &&
  ! port_listening $((P + 1))
'

test_expect_success 'the escapee and the daemon got TERM; the ignorer needed KILL' '
  berth up tree-b >/dev/null 2>&1 &&
  D=$TREE_OUT/tree-b &&
  wait_for 10 "test -s $D/escapee.pid && test -s $D/daemon.pid && test -s $D/ignorer.pid" "the tree" &&
  ign=$(cat $D/ignorer.pid) &&
  berth down tree-b --keep-worktree >out 2>err &&
  test -f $D/escapee.term && test -f $D/daemon.term &&
  ! pid_alive $ign &&
  test -z "$(session_pids tree-b)" &&
  test_grep "^killed=1$" "$REPO/.berth/run/tree-b/tree.status" &&
  berth down tree-b >/dev/null 2>&1
'

test_expect_success 'a service that prints 50 lines and exits 3: up fails at once with status 3 and the last 20 lines' '
  config <<EOF_INI &&
[service "bad"]
command = i=1; while [ \$i -le 50 ]; do echo "line \$i"; i=\$((i + 1)); done; printf "no newline"; sleep 0.2; exit 3
ready = none
EOF_INI
  t0=$(date +%s) &&
  test_must_fail code=6 berth up bad-a 2>err &&
  t1=$(date +%s) &&
  test $((t1 - t0)) -lt 10 &&
  test_grep "service .bad. exited with status 3 0\.[0-9]* s after it started" err &&
  { i=32; while [ $i -le 50 ]; do echo "line $i"; i=$((i + 1)); done; printf "no newline"; } >want &&
  sed -n "/^--- last 20 lines/,/^--- (no newline/p" err | sed "1d;\$d" >got &&
  printf "%s" "$(cat got)" >got.exact &&
  cmp want got.exact &&
  test -z "$(berth ls --json | python3 -c "import json,sys; print(json.load(sys.stdin) or \"\")")" &&
  test ! -d "$WT/bad-a" &&
  test -z "$(session_pids bad-a)"
'

test_expect_success 'killed by SIGSEGV: the signal by name' '
  config <<EOF_INI &&
[service "segv"]
command = kill -SEGV \$\$
ready = none
EOF_INI
  test_must_fail code=6 berth up segv-a 2>err &&
  test_grep "service .segv. killed by signal SIGSEGV" err
'

test_expect_success 'regression: a missing program in a command without shell syntax was found by sh -c (exit 127), not by the spawn itself' '
  printf "echo hi\n" >"$TEST_ROOT/noexec.sh" && chmod 644 "$TEST_ROOT/noexec.sh" &&
  config <<EOF_INI &&
[service "missing"]
command = no-such-program-xyz --flag
ready = none
EOF_INI
  test_must_fail code=6 berth up miss-a 2>err &&
  test_grep "service .missing. cannot run .no-such-program-xyz.: no such program in PATH" err &&
  test_grep_not "status 127" err &&
  config <<EOF_INI &&
[service "noexec"]
command = $TEST_ROOT/noexec.sh
ready = none
EOF_INI
  test_must_fail code=6 berth up miss-b 2>err &&
  test_grep "service .noexec. cannot run .*noexec.sh.: Permission denied" err &&
  test "$(session_count)" = 0
'

test_expect_success 'missing executable, not executable (through sh: the command has shell syntax), bad cwd: the reason' '
  config <<EOF_INI &&
[service "missing"]
command = no-such-program-xyz --flag >/dev/null
ready = none
EOF_INI
  test_must_fail code=6 berth up miss-a 2>err &&
  test_grep "exited with status 127 (command not found)" err &&
  test_grep "no-such-program-xyz: .*not found" err &&
  config <<EOF_INI &&
[service "noexec"]
command = "$TEST_ROOT/noexec.sh"
ready = none
EOF_INI
  test_must_fail code=6 berth up miss-b 2>err &&
  test_grep "exited with status 126 (command not executable)" err &&
  test_grep "Permission denied" err &&
  config <<EOF_INI &&
[service "badcwd"]
command = true
cwd = no/such/dir
ready = none
EOF_INI
  test_must_fail code=6 berth up miss-c 2>err &&
  test_grep "service .badcwd. cannot .*no/such/dir.*No such file or directory" err &&
  test "$(session_count)" = 0
'

# A command whose words sh would expand to fixed values (exec, quotes, a
# variable of the environment) runs without a shell; one that sh would
# split or glob, or that uses its syntax, still goes through sh.
test_expect_success 'exec with a quoted or plain variable of the service runs without a shell; splitting and syntax still go through sh' '
  config <<EOF_INI &&
[service "missing"]
command = exec no-such-program-xyz --port "\$PORT" --host \${BERTH_SLUG}
base_port = $((P + 40))
EOF_INI
  test_must_fail code=6 berth up noshell-m 2>err &&
  test_grep "service .missing. cannot run .no-such-program-xyz.: no such program in PATH" err &&
  test_grep_not "status 127" err &&
  config <<EOF_INI &&
[service "web"]
command = exec $BERTH_TEST_LISTEN "\$BERTH_WEB_PORT"
base_port = $((P + 40))

[service "api"]
command = $BERTH_TEST_LISTEN \${PORT}
base_port = $((P + 50))

[service "viash"]
command = $BERTH_TEST_LISTEN \$PORT; exit 0
base_port = $((P + 60))
EOF_INI
  berth up noshell-a >out 2>err &&
  berth status noshell-a --json >st.json &&
  for svc in web api viash; do
    pid=$(json_get st.json "[s[\"pid\"] for s in d[\"services\"] if s[\"name\"] == \"$svc\"][0]") &&
    shim=$(json_get st.json "[s[\"shim_pid\"] for s in d[\"services\"] if s[\"name\"] == \"$svc\"][0]") &&
    ppid=$(sed "s/.*) [A-Za-z] \([0-9]*\) .*/\1/" /proc/$pid/stat) &&
    echo "$svc: pid $pid ($(cat /proc/$pid/comm)), parent $ppid, shim $shim" &&
    test "$ppid" = "$shim" &&
    case $svc in
    viash) test "$(cat /proc/$pid/comm)" = sh ;;
    *) test "$(cat /proc/$pid/comm)" = berth-test-list ;;
    esac || { berth down noshell-a; return 1; }
  done &&
  port_listening $((P + 41)) && port_listening $((P + 51)) && port_listening $((P + 61)) &&
  berth down noshell-a >out 2>err
'

test_expect_success 'a death while up waits for readiness ends the wait at once; its dependent is never started' '
  config <<EOF_INI &&
[service "db"]
command = sleep 0.3; echo "db: giving up"; exit 1
base_port = $((P + 10))
ready_timeout = 60s

[service "app"]
command = exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $((P + 20))
depends_on = db
EOF_INI
  t0=$(date +%s) &&
  test_must_fail code=6 berth up dep-a 2>err &&
  t1=$(date +%s) &&
  test $((t1 - t0)) -lt 10 &&
  test_grep "service .db. exited with status 1" err &&
  test_grep "db: giving up" err &&
  test_grep_not "app: started" err &&
  test ! -e .berth/logs/dep-a/app.log
'

test_expect_success 'a dependent of a service that never gets ready is never started; the timeout names what was missing' '
  config <<EOF_INI &&
[service "db"]
command = exec sleep 1000
base_port = $((P + 10))
ready_timeout = 1s

[service "app"]
command = exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $((P + 20))
depends_on = db
EOF_INI
  test_must_fail code=6 berth up dep-b 2>err &&
  test_grep "service .db. not ready after 1 s: port $((P + 11)) is not listening" err &&
  test_grep_not "app: started" err &&
  test -z "$(session_pids dep-b)"
'

test_expect_success 'a port taken by someone else before the service listens: the timeout names the holder' '
  config <<EOF_INI &&
[service "web"]
command = exec sleep 1000
base_port = $((P + 30))
ready_timeout = 1s
EOF_INI
  berth_start_paused envfile up hold-a &&
  start_listener $((P + 31)) &&
  kill -USR1 $PAUSED_PID &&
  test_must_fail code=6 wait $PAUSED_PID &&
  test_grep "service .web. not ready after 1 s: port $((P + 31)) is held by pid $LISTEN_PID (berth-test-list" paused.err &&
  test "$(session_count)" = 0
'

# The shell reads its own status with builtins only: a child reading it
# could catch the shell blocking every signal around its fork (dash does).
test_expect_success 'a service sees an empty signal mask, no ignored signal, only fds 0-2' '
  config <<EOF_INI &&
[service "probe"]
command = while read -r k v; do case \$k in SigBlk:|SigIgn:) echo "\$k	\$v";; esac; done </proc/\$\$/status >"$TEST_ROOT/sig.out"; exec sleep 1000
ready = exec:test -s $TEST_ROOT/sig.out
EOF_INI
  (trap "" INT QUIT HUP; exec 7>/dev/null; berth up sig-a >/dev/null 2>err) &&
  test_grep "^SigIgn:.0*$" "$TEST_ROOT/sig.out" &&
  test_grep "^SigBlk:.0*$" "$TEST_ROOT/sig.out" &&
  pid=$(sed -n "s/^pid=//p" .berth/run/sig-a/probe.status) &&
  wait_for 10 "grep -q \"^Name:.sleep\" /proc/$pid/status" "the service to exec sleep" &&
  test "$(ls /proc/$pid/fd | sort -n | tr "\n" " ")" = "0 1 2 " &&
  grep -E "^Sig(Blk|Ign)" /proc/$pid/status >sleep.sig &&
  test_grep "^SigIgn:.0*$" sleep.sig &&
  test_grep "^SigBlk:.0*$" sleep.sig &&
  berth down sig-a >/dev/null 2>&1 &&
  test -z "$(session_pids sig-a)"
'

test_expect_success 'a recycled pid in a status file is never signalled' '
  sleep 1000 & victim=$!; test_track_pid $victim;
  config <<EOF_INI &&
[service "w"]
command = exec sleep 1000
ready = none
EOF_INI
  sed -i "s/^startup_window = 30s/startup_window = 100ms/" .berth.ini &&
  berth up rec-a >/dev/null 2>&1 &&
  S=.berth/run/rec-a/w.status &&
  real_shim=$(sed -n "s/^shim_pid=//p" $S) &&
  kill -9 $real_shim &&
  wait_for 10 "! pid_alive $real_shim" "the shim to die" &&
  sed -i "s/^shim_pid=.*/shim_pid=$victim/; s/^pid=.*/pid=$victim/; s/^start_time=.*/start_time=1/; s/^shim_start=.*/shim_start=2/" $S &&
  test_must_fail code=6 berth status rec-a >st &&
  test_grep "^w  *lost" st &&
  berth down rec-a >out 2>err &&
  pid_alive $victim &&
  test -z "$(session_pids rec-a)" &&
  kill $victim
'

# The service ignores SIGHUP: under the tmux runner the death of its shim
# hangs up its terminal, and what survives that is the safety net's.
test_expect_success 'kill -9 of a shim: status shows the service lost; down still leaves nothing' '
  config <<EOF_INI &&
[service "web"]
command = trap "" HUP; sh -c "exec \"\$BERTH_TEST_LISTEN\" \$PORT" & sleep 1000 & wait
base_port = $((P + 40))
EOF_INI
  berth up lost-a >/dev/null 2>&1 &&
  S=.berth/run/lost-a/web.status &&
  shim=$(sed -n "s/^shim_pid=//p" $S) &&
  kill -9 $shim &&
  wait_for 10 "! pid_alive $shim" "the shim to die" &&
  test_must_fail code=6 berth status lost-a >st &&
  test_grep "^web  *lost" st &&
  test_must_fail code=6 berth status lost-a --json >st.json &&
  test "$(json_get st.json "d[\"services\"][0][\"state\"]")" = lost &&
  port_listening $((P + 41)) &&
  test -n "$(session_pids lost-a)" &&
  berth down lost-a >out 2>err &&
  test -z "$(session_pids lost-a)" &&
  ! port_listening $((P + 41))
'

test_expect_success '100,000 lines in a burst reach the log complete and in order; logs -n shows the last' '
  config <<EOF_INI &&
[service "burst"]
command = seq 1 100000; echo done; exec sleep 1000
ready = log:^done$
EOF_INI
  berth up burst-a >/dev/null 2>err &&
  seq 1 100000 >want && echo done >>want &&
  cmp want .berth/logs/burst-a/burst.log &&
  berth logs burst-a -n 3 >tail.out &&
  printf "burst | 99999\nburst | 100000\nburst | done\n" >want.tail &&
  cmp want.tail tail.out &&
  berth down burst-a >/dev/null 2>&1
'

test_expect_success 'ready = http: waits for a 2xx answer; status shows the wrong port' '
  cat >"$TEST_ROOT/web_health.py" <<EOF_PY &&
import http.server, os, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF_PY
  config <<EOF_INI &&
[service "api"]
command = exec python3 $TEST_ROOT/web_health.py \$PORT
base_port = $((P + 50))
ready = http:/health

[service "stray"]
command = exec "\$BERTH_TEST_LISTEN" $((P + 69))
base_port = $((P + 60))
ready = none
EOF_INI
  sed -i "s/^startup_window = 30s/startup_window = 100ms/" .berth.ini &&
  berth up http-a >/dev/null 2>err &&
  test_grep "api: ready" err &&
  berth status http-a >st &&
  test_grep "^api  *running .*ok" st &&
  test_grep "^stray .*not listening; it listens on $((P + 69))" st &&
  berth down http-a >/dev/null 2>&1
'

test_expect_success 'logs -f follows, restart keeps the ports, events record it all' '
  config <<EOF_INI &&
[service "web"]
command = echo "web start"; exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $((P + 70))
EOF_INI
  berth up rs-a >/dev/null 2>&1 || exit 1
  pid1=$(sed -n "s/^pid=//p" .berth/run/rs-a/web.status)
  (exec "$BERTH" logs rs-a -f >follow.out 2>&1) &
  lpid=$!
  test_track_pid $lpid

  wait_for 10 "grep -q \"web start\" follow.out" "logs -f to print the first run" &&
  berth restart rs-a >out 2>err &&
  test_grep "restarted 1 service" out &&
  pid2=$(sed -n "s/^pid=//p" .berth/run/rs-a/web.status) &&
  test "$pid1" != "$pid2" && ! pid_alive $pid1 &&
  port_listening $((P + 71)) &&
  wait_for 10 "test \$(grep -c \"web start\" follow.out) -ge 2" "logs -f to see the restart" &&
  kill $lpid &&
  berth events rs-a >ev &&
  test_grep "web  *exited\|web  *stopped" ev &&
  test_grep "restart" ev &&
  berth down rs-a >/dev/null 2>&1 &&
  berth events rs-a --json >ev.json &&
  python3 -c "import json; d=json.load(open(\"ev.json\")); assert any(e[\"kind\"]==\"stopped\" and e[\"service\"]==\"web\" for e in d), d"
'

test_expect_success 'hooks: output on stderr only, a failing post_up rolls everything back' '
  config <<EOF_INI &&
[service "web"]
command = exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $((P + 80))

[hooks]
pre_spawn = echo "pre_spawn sees \$BERTH_WEB_PORT"; sleep 1000 &
post_up = echo "post_up ran"; exit 4
EOF_INI
  test_must_fail code=1 berth up hook-a --json >out 2>err &&
  test_json_error out 1 &&
  test_grep "pre_spawn sees $((P + 81))" err &&
  test_grep "hook post_up failed: exited with status 4" err &&
  test "$(session_count)" = 0 &&
  test -z "$(session_pids hook-a)" &&
  ! port_listening $((P + 81))
'

test_expect_success 'Ctrl-C while up waits for readiness rolls back and leaves nothing' '
  config <<EOF_INI
[service "slow"]
command = echo started; exec sleep 1000
ready = exec:false
ready_timeout = 60s
EOF_INI
  test $? = 0 || exit 1
  (exec "$BERTH" up int-a >int.out 2>int.err) &
  upid=$!
  test_track_pid $upid

  wait_for 20 "grep -q \"slow: started\" int.err" "the service to start" &&
  kill -INT $upid &&
  test_must_fail code=130 wait $upid &&
  test_grep "interrupted" int.err &&
  test "$(session_count)" = 0 &&
  test -z "$(session_pids int-a)"
'

test_done
