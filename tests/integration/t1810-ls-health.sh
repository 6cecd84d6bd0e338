#!/bin/sh
# berth ls and the health of each session (issue 15): `2/2 up`; a service
# killed with SIGKILL is dead, with a warning naming the commands to run;
# a killed supervisor is lost; a deleted worktree is `worktree missing`
# (`berth down` is the advice); a stopped session is `stopped`; --json has
# the same as health and watcher; the watcher line comes last; a broken
# .berth.ini does not break ls.
. "$BERTH_SRCDIR/tests/lib.sh"

: "${BERTH_TEST_LISTEN:?}"
B=42100

setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4
port_search_range = 1
stop_grace = 5s

[service "api"]
command = exec "$BERTH_TEST_LISTEN" \$PORT
base_port = $B
ready = port

[service "web"]
command = exec sleep 1000
EOF_INI

# svc FIELD SLUG SERVICE: a field of the service in `berth status --json`.
svc() {
  berth status "$2" --json >"$TEST_ROOT/svc.json" 2>/dev/null
  json_get "$TEST_ROOT/svc.json" "[s for s in d[\"services\"] if s[\"name\"] == \"$3\"][0][\"$1\"]"
}

# health SLUG KEY: field KEY of the session's health in `berth ls --json`
# (a list as its names joined by spaces).
health() {
  berth ls --json >"$TEST_ROOT/health.json" 2>/dev/null &&
  python3 - "$TEST_ROOT/health.json" "$1" "$2" <<'EOF_PY'
import json, sys
d = json.load(open(sys.argv[1]))
v = [s for s in d if s["slug"] == sys.argv[2]][0]["health"][sys.argv[3]]
print(" ".join(v) if isinstance(v, list) else json.dumps(v))
EOF_PY
}

# health_is SLUG KEY WANT
health_is() {
  test "$(health "$1" "$2")" = "$3"
}

# ls_assert FILE 'python statements': with the `berth ls --json` document in d
# and each session by slug in s.
ls_assert() {
  python3 - "$1" "$2" <<'EOF_PY'
import json, sys
d = json.load(open(sys.argv[1]))
s = {x["slug"]: x for x in d}
exec(sys.argv[2])
EOF_PY
}

# the HEALTH column of SLUG in `berth ls` (the last column: it may hold spaces)
health_col() {
  berth ls 2>/dev/null | sed -n "s/^$1 .*  \([^ ].*\)\$/\1/p"
}

test_expect_success 'a session whose services run: 2/2 up, no warning, the watcher line last' '
  test_quiet berth up h1 &&
  berth ls >out 2>err &&
  test_grep "^SLUG  *SLOT  *STATUS  *BRANCH  *PORTS  *AGE  *HEALTH$" out &&
  test_grep "^h1  *1  *active  *h1  *api=$((B + 1))  *[0-9a-z]*  *2/2 up$" out &&
  test_grep_not "warning" err &&
  test_eq "$(tail -n 1 err)" "watcher: not running; \`berth watch --daemon\` restarts a service whose supervisor is killed and reconciles sessions between commands" &&
  berth ls --json >ls.json 2>err.json &&
  test ! -s err.json &&
  ls_assert ls.json "
h = s[\"h1\"][\"health\"]
assert h == {\"up\": 2, \"total\": 2, \"dead\": [], \"lost\": [], \"starting\": [],
             \"stopped\": [], \"not_started\": [], \"unknown\": [],
             \"worktree_missing\": False, \"text\": \"2/2 up\", \"advice\": []}, h
assert s[\"h1\"][\"watcher\"] == {\"running\": False, \"pid\": None}, s
"
'

test_expect_success 'kill -9 of a service: dead once its shim recorded it, with the commands to run' '
  pid=$(svc pid h1 api) && test -n "$pid" && pid_alive "$pid" &&
  kill -9 "$pid" &&
  wait_for 20 "health_is h1 dead api" "the shim to record the death of api" &&
  test_eq "$(health h1 up)" 1 &&
  test_eq "$(health_col h1)" "1/2 up (api dead)" &&
  berth ls >out 2>err &&
  test_grep "^berth: warning: h1: service api was killed by signal SIGKILL; \`berth logs h1 api\`, then \`berth start h1 api\`$" err &&
  test_grep "^watcher: not running" err &&
  test_eq "$(tail -n 1 err | cut -c1-8)" "watcher:" &&
  berth ls --json >ls.json 2>err.json &&
  test_grep "^berth: warning: h1: service api was killed by signal SIGKILL" err.json &&
  ls_assert ls.json "
h = s[\"h1\"][\"health\"]
assert (h[\"up\"], h[\"total\"], h[\"dead\"], h[\"text\"]) == (1, 2, [\"api\"], \"1/2 up (api dead)\"), h
assert h[\"advice\"] == [\"h1: service api was killed by signal SIGKILL; \`berth logs h1 api\`, then \`berth start h1 api\`\"], h
"
'

test_expect_success 'the advice works: berth start brings it back, 2/2 up' '
  test_quiet berth start h1 api &&
  test_eq "$(health_col h1)" "2/2 up" &&
  berth ls >out 2>err &&
  test_grep_not "warning" err
'

test_expect_success 'kill -9 of a supervisor: the service is lost, restart is the advice' '
  shim=$(svc shim_pid h1 web) && test -n "$shim" &&
  kill -9 "$shim" &&
  wait_for 20 "health_is h1 lost web" "web to be lost" &&
  test_eq "$(health_col h1)" "1/2 up (web lost)" &&
  berth ls >out 2>err &&
  test_grep "^berth: warning: h1: service web lost its supervisor (killed?); \`berth restart h1 web\` starts it again" err &&
  test_quiet berth restart h1 web &&
  test_eq "$(health_col h1)" "2/2 up"
'

test_expect_success 'a deleted worktree: worktree missing, and berth down is the advice' '
  test_quiet berth up h2 &&
  test_eq "$(health_col h2)" "2/2 up" &&
  rm -rf .berth/worktrees/h2 &&
  test_eq "$(health_col h2)" "worktree missing" &&
  test_eq "$(health h2 worktree_missing)" true &&
  berth ls >out 2>err &&
  test_grep "^berth: warning: h2: its worktree .*/\.berth/worktrees/h2. is gone; \`berth down h2\` frees its slot and ports$" err &&
  test_grep_not "warning: h2: service" err &&
  test_grep_not "warning: h1" err &&
  test_eq "$(health_col h1)" "2/2 up" &&
  test_quiet berth down h2 &&
  berth ls >out 2>err &&
  test_grep_not "h2" out &&
  test_grep_not "warning" err
'

test_expect_success 'a stopped session: stopped, no warning' '
  test_quiet berth stop h1 &&
  test_eq "$(health_col h1)" "stopped" &&
  berth ls >out 2>err &&
  test_grep "^h1  *1  *stopped .* stopped$" out &&
  test_grep_not "warning" err &&
  test_quiet berth up h1 &&
  test_eq "$(health_col h1)" "2/2 up"
'

test_expect_success 'a broken .berth.ini: ls still lists, counting what ran, and says so' '
  cp .berth.ini "$TEST_ROOT/good.ini" &&
  printf "[berth]\nrunnr = tmux\n" >.berth.ini &&
  berth ls >out 2>err &&
  cp "$TEST_ROOT/good.ini" .berth.ini &&
  test_grep "^h1 .* 2/2 up$" out &&
  test_grep "^berth: warning: ls: .*\.berth\.ini:2.*; the health counts only the services that ran" err
'

test_expect_success 'status of every session, from the process table or from each service'"'"'s processes, says of each service what status of its session alone says: up, dead, lost, stopped, a foreign listener on its port' '
  test_quiet berth up h3 &&
  test_quiet berth up h4 &&
  kill -9 "$(svc pid h3 api)" &&
  wait_for 20 "health_is h3 dead api" "the shim to record the death of api" &&
  kill -9 "$(svc shim_pid h3 web)" &&
  wait_for 20 "health_is h3 lost web" "web to be lost" &&
  test_quiet berth stop h4 api &&
  start_listener "$(svc port h4 api)" &&
  test_must_fail code=6 berth status --json >all.json &&
  BERTH_PROC_TABLE=always test_must_fail code=6 berth status --json >table.json &&
  BERTH_PROC_TABLE=never test_must_fail code=6 berth status --json >each.json &&
  BERTH_PROC_TABLE=always test_must_fail code=6 berth status >table.txt &&
  BERTH_PROC_TABLE=never test_must_fail code=6 berth status >each.txt &&
  test_eq "$(sed "s/  *[0-9][0-9]*[smhd]  */ T /" table.txt)" "$(sed "s/  *[0-9][0-9]*[smhd]  */ T /" each.txt)" &&
  test_quiet berth status h1 --json >one-h1.json &&
  for s in h3 h4; do test_must_fail code=6 berth status $s --json >one-$s.json || return 1; done &&
  python3 - "$LISTEN_PID" "$(svc port h1 api)" <<EOF_PY
import json, sys
def timeless(o):
    for v in o["services"]:
        v.pop("uptime_s")
    return o
for ways in ("all", "table", "each"):
    every = {s["slug"]: s for s in json.load(open(ways + ".json"))}
    assert sorted(every) == ["h1", "h3", "h4"], (ways, sorted(every))
    for slug, o in every.items():
        one = json.load(open("one-%s.json" % slug))
        assert timeless(o) == timeless(one), (ways, slug, o, one)
svc = {(s, v["name"]): v for s, o in every.items() for v in o["services"]}
assert (svc["h1", "api"]["state"], svc["h1", "api"]["listener"]) == ("running", "ok"), svc["h1", "api"]
assert svc["h1", "api"]["listens_on"] == [int(sys.argv[2])], svc["h1", "api"]
assert (svc["h3", "api"]["state"], svc["h3", "api"]["healthy"]) == ("exited", False), svc["h3", "api"]
assert svc["h3", "web"]["state"] == "lost", svc["h3", "web"]
assert svc["h4", "api"]["state"] == "stopped", svc["h4", "api"]
assert svc["h4", "api"]["wrong_owner"]["pid"] == int(sys.argv[1]), svc["h4", "api"]
assert svc["h4", "web"]["state"] == "running", svc["h4", "web"]
EOF_PY
  kill "$LISTEN_PID" &&
  test_quiet berth down h3 &&
  test_quiet berth down h4
'

test_expect_success 'cleanup' '
  test_quiet berth down h1 &&
  test_eq "$(session_count)" 0
'

test_done
