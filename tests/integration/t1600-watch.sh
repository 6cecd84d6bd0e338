#!/bin/sh
# `berth watch` (issue 12): the background supervisor. A SIGKILLed shim is
# known at once and its service restarted per policy (exactly one copy, on
# the same port) or its leftovers stopped; a deleted worktree ends its
# session; an `up` killed mid-way is resolved by `watch --once`; idle
# sessions are stopped and resumable, active ones are not; one watcher per
# repository; --daemon detaches and survives a hangup; --stop ends it; a
# foreign listener on a session's port is told; nothing keyed by an ended
# session survives under .berth/ but its events.
. "$BERTH_SRCDIR/tests/lib.sh"

B=28200
setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4
stop_grace = 2s

[service "web"]
command = exec "$BERTH_TEST_LISTEN" \$PORT
base_port = $B
restart = on-failure

[service "tree"]
command = sleep 1000 & sleep 1001 & wait

[watch]
interval = 1s
EOF_INI
ROOT_ID=$(root_id_of)

# svc FIELD SLUG SERVICE: a field of the service in `berth status --json`.
svc() {
  berth status "$2" --json >"$TEST_ROOT/svc.json" 2>/dev/null
  json_get "$TEST_ROOT/svc.json" "[s for s in d[\"services\"] if s[\"name\"] == \"$3\"][0][\"$1\"]"
}

# listeners PORT: how many sockets listen on PORT.
listeners() {
  ss -Hltn "sport = :$1" | wc -l
}

# nothing_keyed SLUG: nothing under .berth/ is named after SLUG (the event
# log, in state.db, aside).
nothing_keyed() {
  test -z "$(find .berth -name "*$1*" 2>/dev/null)" ||
    { find .berth -name "*$1*" >&2; return 1; }
}

# died SERVICE: the watcher printed the death of SERVICE's shim.
died() {
  grep '"kind":"shim-died"' "$WOUT" | grep -q "\"service\":\"$1\""
}

# running_again SLUG SERVICE OLDPID: running under a new pid.
running_again() {
  [ "$(svc state "$1" "$2")" = running ] &&
  now=$(svc pid "$1" "$2") && [ "$now" != None ] && [ "$now" != "$3" ]
}

# event_kinds SLUG: the kinds of SLUG's events in the log, one per line.
event_kinds() {
  berth events --json >"$TEST_ROOT/ev.json" &&
  python3 -c 'import json,sys; [print(e["kind"]) for e in json.load(open(sys.argv[1])) if e["slug"] == sys.argv[2]]' "$TEST_ROOT/ev.json" "$1"
}

# holders FILE: pids of processes with FILE open.
holders() {
  for p in /proc/[0-9]*; do
    ls -l "$p/fd" 2>/dev/null | grep -q -- "-> $1\$" && echo "${p#/proc/}"
  done
  return 0
}

test_expect_success 'kill -9 of the shim of a restart = on-failure service: listening again on its port, one copy, death and restart in the event log' '
  berth up w1 -q >/dev/null &&
  watch_start &&
  shim=$(svc shim_pid w1 web) && old=$(svc pid w1 web) &&
  kill -9 "$shim" &&
  wait_for 20 "died web" "the death event" &&
  wait_for 20 "running_again w1 web $old && port_listening $((B + 1))" "web running again" &&
  test_eq "$(listeners $((B + 1)))" 1 &&
  ! pid_alive "$old" &&
  test "$(svc shim_pid w1 web)" != "$shim" &&
  event_kinds w1 >kinds &&
  test_grep "^shim-died$" kinds && test_grep "^restart$" kinds &&
  grep "shim-died" "$WOUT" >died &&
  test_eq "$(wc -l <died)" 1 &&
  test_grep "memory pressure" died &&
  watch_stop && berth down w1 -q
'

test_expect_success 'kill -9 of the shim of a restart = no service: its whole tree stopped, status says it failed and why' '
  berth up w2 -q >/dev/null &&
  watch_start &&
  shim=$(svc shim_pid w2 tree) &&
  kids=$(cat /proc/$shim/task/*/children) && test -n "$kids" &&
  kill -9 "$shim" &&
  wait_for 20 "[ \"\$(svc state w2 tree)\" = failed ]" "tree recorded as failed" &&
  for p in $kids; do ! pid_alive $p || return 1; done &&
  test -z "$(session_pids w2 | while read p; do grep -l "BERTH_SERVICE=tree" /proc/$p/environ 2>/dev/null; done)" &&
  svc error w2 tree >e && test_grep "was killed; what it left was stopped" e &&
  test_eq "$(svc state w2 web)" running &&
  watch_stop && berth down w2 -q
'

test_expect_success 'rm -rf of a session worktree: within an interval the session, its processes and ports are gone, its slot is reusable, nothing of it under .berth/' '
  berth up w3 -q >/dev/null &&
  slot=$(ls_get w3 slot) &&
  pids=$(session_pids w3) && test -n "$pids" &&
  watch_start &&
  rm -rf .berth/worktrees/w3 &&
  wait_for 20 "! ls_get w3 slug >/dev/null" "w3 gone from ls" &&
  test -z "$(session_pids w3)" &&
  ! port_listening $((B + slot)) &&
  nothing_keyed w3 &&
  test_grep "worktree-gone" "$WOUT" &&
  berth up w4 -q >/dev/null &&
  test_eq "$(ls_get w4 slot)" "$slot" &&
  watch_stop && berth down w4 -q
'

test_expect_success 'an up SIGKILLed while it starts services: watch --once resolves it, nothing leaks, a later up of the name works' '
  berth_crash_at services up w5 &&
  test_eq "$(ls_get w5 status)" crashed-op &&
  berth watch --once >once.out 2>once.err &&
  test_grep "crashed-op" once.out &&
  test_grep "`berth down -q w5` done" once.out &&
  ! ls_get w5 slug >/dev/null &&
  test -z "$(session_pids w5)" &&
  no_sessions_left &&
  nothing_keyed w5 &&
  berth up w5 -q >/dev/null &&
  test_eq "$(ls_get w5 status)" active &&
  berth down w5 -q
'

test_expect_success 'a second watcher is refused (exit 5) and names the first' '
  watch_start &&
  test_must_fail code=5 berth watch >o 2>e &&
  test_grep "a watcher already runs for this repository (pid $WATCH_PID)" e &&
  test_must_fail code=5 berth watch --once >o 2>e &&
  test_must_fail code=5 berth watch --daemon >o 2>e &&
  watch_stop
'

test_expect_success '--daemon: its own session, survives SIGHUP, ls and status say it runs, --stop ends it and nothing of it remains' '
  berth watch --daemon >o 2>e &&
  test_grep "the watcher runs (pid" o &&
  read -r dpid dstart <.berth/watch.lock &&
  pid_alive "$dpid" &&
  test "$(cut -d" " -f6 /proc/$dpid/stat)" != "$(cut -d" " -f6 /proc/$$/stat)" &&
  test "$(readlink /proc/$dpid/fd/1)" = "$REPO/.berth/watch.log" &&
  kill -HUP "$dpid" &&
  berth up w6 -q >/dev/null &&
  pid_alive "$dpid" &&
  berth ls >/dev/null 2>ls.err && test_grep "watcher: running (pid $dpid)" ls.err &&
  berth status w6 --json >st.json &&
  test_eq "$(json_get st.json "d[\"watcher\"][\"pid\"]")" "$dpid" &&
  berth watch --stop >o 2>e &&
  test_grep "stopped the watcher (pid $dpid)" o &&
  ! pid_alive "$dpid" &&
  berth status w6 >st && test_grep "watcher: not running" st &&
  test -z "$(holders "$REPO/.berth/watch.lock")" &&
  test -z "$(holders "$REPO/.berth/watch.log")" &&
  test_grep "\"kind\":\"watch-stop\"" .berth/watch.log &&
  berth watch --stop >o && test_grep "no watcher runs" o &&
  berth down w6 -q
'

test_expect_success 'a SIGHUP at once after watch --daemon returned does not end the daemon before its engine runs (t1600 under ASan in CI), 20 rounds' '
  for i in $(seq 1 20); do
    berth watch --daemon >o 2>e &&
    dpid=$(sed -n "s/.*the watcher runs (pid \([0-9]*\)).*/\1/p" o) &&
    kill -HUP "$dpid" &&
    wait_for 10 "grep -q watch-start .berth/watch.log 2>/dev/null || ! pid_alive $dpid" "the engine" &&
    pid_alive "$dpid" || { echo "round $i: the daemon $dpid died of the hangup" >&2; return 1; }
    berth watch --stop >/dev/null && rm -f .berth/watch.log || return 1
  done
'

test_expect_success 'a foreign listener on a session port: an event names it, once, and status names it' '
  git checkout -q .berth.ini &&
  cat >>.berth.ini <<-EOF &&
	[service "idleport"]
	command = sleep 1000
	base_port = $((B + 50))
	ready = none
	EOF
  berth up w7 -q >/dev/null &&
  port=$((B + 50 + $(ls_get w7 slot))) &&
  start_listener $port &&
  watch_start &&
  wait_for 20 "grep -q port-taken \"$WOUT\"" "port-taken" &&
  grep port-taken "$WOUT" >pt &&
  test_grep "pid $LISTEN_PID (berth-test-list" pt &&
  berth status w7 >st ; test_grep "wrong owner: pid $LISTEN_PID" st &&
  watch_stop &&
  test_eq "$(grep -c port-taken "$WOUT")" 1 &&
  kill "$LISTEN_PID" &&
  berth down w7 -q &&
  git checkout -q .berth.ini
'

test_expect_success 'stop --if-idle: refused (5) right after a file is written in the worktree, or a berth command used it; done when idle, and up resumes it' '
  berth up w8 -q >/dev/null &&
  echo x >.berth/worktrees/w8/new-file &&
  test_must_fail code=5 berth stop --if-idle 1h w8 >o 2>e &&
  test_grep "is not idle" e &&
  test_eq "$(ls_get w8 status)" active &&
  test_must_fail code=2 berth stop --if-idle 1h w8 web 2>e &&
  test_must_fail code=2 berth stop --if-idle soon w8 2>e &&
  test_must_fail code=4 berth stop w8 nosuch 2>e &&
  test_grep "stop: no native service .nosuch." e &&
  touch -d "3 hours ago" .berth/worktrees/w8/new-file .berth/worktrees/w8 .berth/worktrees/w8/* &&
  find .berth/worktrees/w8 .berth/logs/w8 .git/worktrees/w8 -exec touch -h -d "3 hours ago" {} + &&
  berth status w8 >/dev/null &&
  test_must_fail code=5 berth stop --if-idle 1h w8 2>e &&
  test_grep "a berth command on it" e &&
  touch -d "3 hours ago" .berth/run/w8/activity &&
  python3 -c "import sqlite3; c=sqlite3.connect(\".berth/state.db\"); c.execute(\"UPDATE sessions SET created_at = created_at - 10800 WHERE slug = ?\", (\"w8\",)); c.commit()" &&
  pids=$(session_pids w8) &&
  berth stop --if-idle 1h w8 >o &&
  test_grep "session .w8. is stopped" o &&
  test_eq "$(ls_get w8 status)" stopped &&
  for p in $pids; do ! pid_alive $p || return 1; done &&
  test -d .berth/worktrees/w8 &&
  berth up w8 -q >/dev/null &&
  test_eq "$(ls_get w8 status)" active &&
  port_listening $((B + $(ls_get w8 slot))) &&
  berth down w8 --force -q
'

test_expect_success 'idle_stop: the watcher stops an idle session (resumable), not one whose worktree is being written' '
  git checkout -q .berth.ini &&
  cat >>.berth.ini <<-EOF &&
	idle_stop = 2s
	EOF
  berth up w9 -q >/dev/null && berth up w10 -q >/dev/null &&
  ( while :; do date >.berth/worktrees/w10/busy; sleep 0.2; done ) &
  writer=$! && test_track_pid $writer &&
  watch_start &&
  wait_for 30 "[ \"\$(ls_get w9 status)\" = stopped ]" "w9 idle-stopped" &&
  test_eq "$(ls_get w10 status)" active &&
  grep "\"kind\":\"idle\"" "$WOUT" >idle &&
  test_grep "w9" idle && test_grep_not "w10" idle &&
  kill $writer &&
  watch_stop &&
  git checkout -q .berth.ini &&
  berth up w9 -q >/dev/null && test_eq "$(ls_get w9 status)" active &&
  berth down w9 -q && berth down w10 --force -q
'

test_expect_success 'autostart: up starts the watcher when none runs' '
  git checkout -q .berth.ini &&
  cat >>.berth.ini <<-EOF &&
	autostart = true
	EOF
  berth up w11 >o 2>e &&
  test_grep "started the watcher" e &&
  read -r dpid dstart <.berth/watch.lock && pid_alive "$dpid" &&
  berth up w12 >o 2>e && test_grep_not "started the watcher" e &&
  berth watch --stop >/dev/null &&
  git checkout -q .berth.ini &&
  berth down w11 -q && berth down w12 -q
'

test_expect_success 'purge: after down nothing keyed by the session survives under .berth/ but its events; a later session of the name inherits nothing' '
  berth up w13 -q >/dev/null &&
  berth logs w13 web >/dev/null 2>&1;
  berth down w13 -q &&
  nothing_keyed w13 &&
  berth events --json >ev.json &&
  test_eq "$(json_get ev.json "len([e for e in d if e[\"slug\"] == \"w13\"]) > 0")" True &&
  berth up w13 -q >/dev/null &&
  test_eq "$(svc restarts w13 web)" 0 &&
  berth down w13 -q
'

test_done
