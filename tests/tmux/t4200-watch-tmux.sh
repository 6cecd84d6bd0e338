#!/bin/sh
# `berth watch` under runner = tmux (issue 12): the repository's tmux
# server SIGKILLed with two sessions up is recorded once, with forensics,
# and both sessions come back (their restart = on-failure services listen
# again, their tmux sessions are attachable); a `down` of the last session,
# which ends the server on purpose, is no death; a tmux client attached to
# a session keeps it from being idle-stopped.
. "$BERTH_SRCDIR/tests/lib.sh"

: "${BERTH_TEST_LISTEN:?}"
export BERTH_TEST_LISTEN
test_require_tmux
P=34400

setup_repo <<EOF_INI
[berth]
mode = host
runner = tmux
max_slots = 4
stop_grace = 1s

[service "web"]
command = exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $P
restart = on-failure

[watch]
interval = 1s
EOF_INI
ROOT_ID=$(root_id_of "$REPO")
SOCK=$XDG_RUNTIME_DIR/berth/$ROOT_ID
tmx() { tmux -S "$SOCK" "$@"; }

web_pid() {
  sed -n "s/^pid=//p" "$REPO/.berth/run/$1/web.status"
}

# back SLUG OLDPID: web of SLUG runs again under a new pid and listens.
back() {
  now=$(web_pid "$1") && [ -n "$now" ] && [ "$now" != "$2" ] && pid_alive "$now" &&
  port_listening $((P + $(ls_get "$1" slot)))
}

test_expect_success 'tmux server SIGKILLed with two sessions: one record with forensics, both sessions back and attachable' '
  berth up tw-a -q >/dev/null && berth up tw-b -q >/dev/null &&
  a=$(web_pid tw-a) && b=$(web_pid tw-b) &&
  server=$(tmx display-message -p -t =tw-a "#{pid}") && pid_alive "$server" &&
  watch_start &&
  kill -9 "$server" &&
  wait_for 30 "back tw-a $a && back tw-b $b" "both sessions back" &&
  grep "\"kind\":\"tmux-server-died\"" "$WOUT" >died &&
  test_eq "$(wc -l <died)" 1 &&
  test_grep "pid $server" died && test_grep "2 sessions" died &&
  test_grep "memory pressure" died &&
  tmx has-session -t =tw-a && tmx has-session -t =tw-b &&
  tmx list-windows -t =tw-a -F "#{window_name}" >w && test_grep "^web$" w &&
  ! pid_alive "$a" && ! pid_alive "$b" &&
  test_eq "$(ss -Hltn "sport = :$((P + $(ls_get tw-a slot)))" | wc -l)" 1 &&
  watch_stop
'

test_expect_success 'down of every session ends the tmux server on purpose: no death recorded, nothing restarted' '
  watch_start &&
  server=$(tmx display-message -p -t =tw-a "#{pid}") &&
  berth down tw-a -q && berth down tw-b -q &&
  wait_for 20 "! pid_alive $server" "the server to exit" &&
  berth watch --stop >/dev/null 2>&1; watch_stop &&
  test_grep_not "tmux-server-died" "$WOUT" &&
  test_grep_not "watch-action" "$WOUT" &&
  test_eq "$(session_count)" 0
'

test_expect_success 'a tmux client attached to a session: stop --if-idle refuses it (5); detached and idle, it is stopped' '
  berth up tw-c -q >/dev/null &&
  find .berth/worktrees/tw-c .berth/logs/tw-c .berth/run/tw-c .git/worktrees/tw-c -exec touch -h -d "3 hours ago" {} + &&
  python3 -c "import sqlite3; c=sqlite3.connect(\".berth/state.db\"); c.execute(\"UPDATE sessions SET created_at = created_at - 10800 WHERE slug = ?\", (\"tw-c\",)); c.commit()" &&
  script -qfc "tmux -S $SOCK attach -t =tw-c" /dev/null >/dev/null 2>&1 </dev/null &
  client=$! && test_track_pid $client &&
  wait_for 20 "tmx list-clients -t =tw-c -F x | grep -q x" "a client attached" &&
  test_must_fail code=5 berth stop --if-idle 1h tw-c >o 2>e &&
  test_grep "a tmux client attached to it" e &&
  tmx detach-client -s =tw-c &&
  wait_for 20 "! tmx list-clients -t =tw-c -F x | grep -q x" "the client gone" &&
  berth stop --if-idle 1h tw-c >o &&
  test_eq "$(ls_get tw-c status)" stopped &&
  ! tmx has-session -t =tw-c 2>/dev/null &&
  berth down tw-c -q
'

test_done
