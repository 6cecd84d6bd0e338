#!/bin/sh
# Every --json output against its schema (docs/schema/, docs/json.md):
# the examples of docs/json.md validate and their schemas require every key
# they show; then every command that takes --json runs for real, succeeding
# and failing, and what it prints validates, with no key the schema does not
# name (--strict: the code, the docs and the schemas cannot drift apart).
. "$BERTH_SRCDIR/tests/lib.sh"

B=42400
SCHEMA=$BERTH_SRCDIR/docs/schema
setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4
port_search_range = 2

[service "web"]
command = exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $B
extra_ports = hmr:$((B + 50))

[service "worker"]
command = exec sleep 600
ready = none
EOF_INI

# json_check SHAPE [--lines] FILE...: each FILE is a document of
# docs/schema/SHAPE.json (--lines: each line one), with every key it names.
json_check() {
  shape=$1
  shift
  python3 "$BERTH_SRCDIR/tests/helpers/jsonschema_check.py" --strict "$SCHEMA/$shape.json" "$@"
}

# json_assert FILE EXPR: the python expression EXPR holds of the document d.
json_assert() {
  python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); assert eval(sys.argv[2]), (sys.argv[2], d)' "$1" "$2"
}

# json_fails CODE FILE: FILE is the error document of a failure with exit CODE.
json_fails() {
  json_check error "$2" && test_json_error "$2" "$1"
}

test_expect_success 'the examples of docs/json.md validate, and their schemas require every key they show' '
  python3 "$BERTH_SRCDIR/tests/helpers/json_docs_check.py" "$BERTH_SRCDIR/docs/json.md" "$SCHEMA"
'

test_expect_success 'every command that takes --json: a usage error is the error document (2)' '
  berth --help | sed -n "/^Commands:/,/^$/s/^  \([a-z][a-z_]*\) .*/\1/p" >cmds &&
  : >with-json &&
  for c in $(cat cmds); do
    berth $c --help | grep -q -- "--json" || continue
    test_must_fail code=2 berth $c --json --no-such-option >o 2>/dev/null || return 1
    json_fails 2 o || return 1
    echo $c >>with-json
  done &&
  for c in up env ls status whose validate down stop start restart db events doctor config init logs; do
    grep -qx $c with-json || { echo "$c has no --json"; return 1; }
  done
'

test_expect_success 'validate --json: valid (with --ports), invalid (3), unreadable (the error document, 3)' '
  berth validate --json --ports >o && json_check validate o &&
  test_eq "$(json_get o "d[\"ports\"][\"1\"][\"web.hmr\"]")" $((B + 51)) &&
  printf "[service \"bad\"]\nready = port\n" >>.berth.ini &&
  test_must_fail code=3 berth validate --json >o && json_check validate o &&
  json_assert o "d[\"valid\"] is False" &&
  printf "[berth\n" >>.berth.ini &&
  test_must_fail code=3 berth validate --json >o 2>/dev/null && json_fails 3 o &&
  git checkout -q .berth.ini
'

test_expect_success 'the checker rejects a document with a key taken out, a wrong type, and (strict) a key it does not know' '
  berth validate --json >o &&
  python3 -c "import json; d = json.load(open(\"o\")); del d[\"slots\"]; json.dump(d, open(\"cut\", \"w\"))" &&
  test_must_fail code=1 json_check validate cut 2>err && test_grep "no key .slots." err &&
  python3 -c "import json; d = json.load(open(\"o\")); d[\"valid\"] = \"yes\"; json.dump(d, open(\"bad\", \"w\"))" &&
  test_must_fail code=1 json_check validate bad 2>err && test_grep "valid: \"yes\" is not boolean" err &&
  python3 -c "import json; d = json.load(open(\"o\")); d[\"bogus\"] = 1; json.dump(d, open(\"more\", \"w\"))" &&
  python3 "$BERTH_SRCDIR/tests/helpers/jsonschema_check.py" "$SCHEMA/validate.json" more &&
  test_must_fail code=1 json_check validate more 2>err && test_grep "bogus" err
'

test_expect_success 'config show --json: every key, typed; a url password as *** (as the INI form); no file: the defaults' '
  berth config show --json >o && json_check config o &&
  test_eq "$(json_get o "d[\"file\"]")" "$REPO/.berth.ini" &&
  json_assert o "d[\"services\"][\"web\"][\"extra_ports\"] == [{\"name\": \"hmr\", \"base\": $((B + 50)), \"env\": []}]" &&
  json_assert o "d[\"berth\"][\"stop_grace_ms\"] == 5000 and d[\"services\"][\"web\"][\"cwd\"] is None and d[\"database\"] is None" &&
  printf "[database]\nurl = postgres://app:s3cret@127.0.0.1:$((B + 99))/postgres\n" >>.berth.ini &&
  berth config show --json >o && json_check config o &&
  test_eq "$(json_get o "d[\"database\"][\"url\"]")" "postgres://app:***@127.0.0.1:$((B + 99))/postgres" &&
  test_grep_not s3cret o &&
  berth config show >ini && test_grep "^url = postgres://app:\*\*\*@127.0.0.1:$((B + 99))/postgres$" ini &&
  git checkout -q .berth.ini &&
  mkdir -p "$TEST_ROOT/bare" && (cd "$TEST_ROOT/bare" && git init -q . &&
    "$BERTH" config show --json >o && json_check config o &&
    json_assert o "d[\"file\"] is None and d[\"services\"] == {}")
'

test_expect_success 'config show --json fails as the error document: a bad subcommand (2), a file that does not parse (3)' '
  test_must_fail code=2 berth config shw --json >o 2>/dev/null && json_fails 2 o &&
  printf "[berth\n" >>.berth.ini &&
  test_must_fail code=3 berth config show --json >o 2>/dev/null && json_fails 3 o &&
  git checkout -q .berth.ini
'

test_expect_success 'db status --json: a server that does not answer (no password); without [database] the error document' '
  printf "[database]\nurl = postgres://app:s3cret@127.0.0.1:$((B + 99))/postgres\n" >>.berth.ini &&
  { berth db status --json >o 2>/dev/null; test $? -ne 0; } && json_check db-status o &&
  json_assert o "d[\"managed\"] is False and d[\"reachable\"] is False and d[\"error\"]" &&
  test_grep_not s3cret o &&
  git checkout -q .berth.ini &&
  { berth db status --json >o 2>/dev/null; test $? -ne 0; } && json_check error o
'

test_expect_success 'init --json: what was detected and written; an existing file without --yes (5, no prompt); --yes replaces it' '
  mkdir -p "$TEST_ROOT/app" && cd "$TEST_ROOT/app" && git init -q . &&
  echo "{\"scripts\": {\"dev\": \"vite\"}}" >package.json && echo "{}" >package-lock.json &&
  printf "services:\n  db:\n    image: postgres:16\n" >compose.yaml &&
  berth init --json >o 2>err && json_check init o &&
  json_assert o "(d[\"replaced\"], d[\"mode\"], [s[\"name\"] for s in d[\"services\"]]) == (False, \"hybrid\", [\"web\", \"db\"])" &&
  json_assert o "(d[\"gitignore\"], d[\"post_create\"], len(d[\"hints\"])) == (\"created\", \"npm ci\", 1)" &&
  test_grep "hint: package-lock.json found" err &&
  test_must_fail code=5 berth init --json >o 2>/dev/null && json_fails 5 o &&
  echo "{" >package.json &&
  berth init --json --yes >o 2>/dev/null && json_check init o &&
  json_assert o "(d[\"replaced\"], d[\"gitignore\"], d[\"services\"][0][\"from\"]) == (True, \"present\", \"compose.yaml\")" &&
  test_grep "package.json does not parse" o &&
  test_must_fail code=2 berth init --json --mode bogus >o 2>/dev/null && json_fails 2 o
'

test_expect_success 'up, env, ls, status (one, every) --json; env and status of no session: the error document (4)' '
  berth up j1 --json -q >up.json && json_check session up.json &&
  berth env j1 --json >o && json_check session o &&
  berth ls --json >o && json_check ls o &&
  berth status j1 --json >st.json && json_check status st.json &&
  berth status --json >o && json_check status-all o &&
  test_eq "$(json_get o "len(d)")" 1 &&
  test_must_fail code=4 berth env nosuch --json >o 2>/dev/null && json_fails 4 o &&
  test_must_fail code=4 berth status nosuch --json >o 2>/dev/null && json_fails 4 o &&
  test_must_fail code=2 berth up --json bad..name >o 2>/dev/null && json_fails 2 o
'

test_expect_success 'the checker rejects real output without a documented key (status without watcher)' '
  python3 -c "import json; d = json.load(open(\"st.json\")); del d[\"watcher\"]; json.dump(d, open(\"cut\", \"w\"))" &&
  test_must_fail code=1 json_check status cut 2>err && test_grep "no key .watcher." err
'

test_expect_success 'whose :PORT (listening, free) and whose PID (owned, not owned, no such process) --json' '
  port=$(json_get up.json "d[\"ports\"][\"web\"]") &&
  berth whose :$port --json >o && json_check whose-port o &&
  json_assert o "d[\"recorded\"][\"slug\"] == \"j1\" and d[\"holder\"][\"pid\"] > 0 and d[\"session\"] == {\"slug\": \"j1\", \"service\": \"web\"}" &&
  test_must_fail code=1 berth whose :$((B + 99)) --json >o && json_check whose-port o &&
  json_assert o "d[\"listening\"] is False and d[\"holder\"] is None and d[\"socket_uid\"] is None" &&
  pid=$(json_get st.json "d[\"services\"][0][\"pid\"]") &&
  berth whose $pid --json >o && json_check whose-pid o &&
  json_assert o "d == {\"pid\": $pid, \"owned\": True, \"slug\": \"j1\", \"service\": \"web\"}" &&
  test_must_fail code=1 berth whose $$ --json >o && json_check whose-pid o &&
  json_assert o "d[\"owned\"] is False" &&
  test_must_fail code=1 berth whose 4194304 --json >o 2>/dev/null && json_check whose-pid o &&
  test_must_fail code=2 berth whose :0 --json >o 2>/dev/null && json_fails 2 o
'

test_expect_success 'logs --json (--raw too), logs -f --json (a line each); of no session the error document (4)' '
  berth logs j1 --json >o && json_check logs o &&
  json_assert o "d[\"slug\"] == \"j1\" and d[\"raw\"] is False and d[\"services\"]" &&
  berth logs j1 web --json --raw -n 5 >o && json_check logs o &&
  json_assert o "d[\"raw\"] is True and [s[\"name\"] for s in d[\"services\"]] == [\"web\"]" &&
  "$BERTH" logs j1 -f --json >lg.lines 2>lg.err &
  lpid=$! &&
  test_track_pid $lpid &&
  wait_for 20 "test -s lg.lines" "the first lines of logs -f" &&
  { kill $lpid; wait $lpid; true; } &&
  json_check logs-line --lines lg.lines &&
  test_must_fail code=4 berth logs nosuch --json >o 2>/dev/null && json_fails 4 o
'

test_expect_success 'stop, start, restart, down --json: their outcomes; of no session the error document (4)' '
  berth stop j1 worker --json -q >o && json_check outcome-stop o &&
  berth start j1 --json -q >o && json_check outcome-start o &&
  berth restart j1 web --json -q >o && json_check outcome-restart o &&
  berth stop j1 --json -q >o && json_check outcome-stop o &&
  berth stop j1 --json -q >o && json_check outcome-stop o &&
  json_assert o "(d[\"status\"], d[\"stopped\"]) == (\"stopped\", [])" &&
  berth down j1 --json -q >o && json_check outcome-down o &&
  for c in stop start restart down; do
    test_must_fail code=4 berth $c j1 --json >o 2>/dev/null && json_fails 4 o || return 1
  done
'

test_expect_success 'events --json (an array) and events -f --json (a line each), doctor --json' '
  berth events --json >o && json_check events o &&
  test "$(json_get o "len(d)")" -gt 3 &&
  "$BERTH" events -f --json >ev.lines 2>ev.err &
  epid=$! &&
  test_track_pid $epid &&
  wait_for 20 "grep -q kind.:.down ev.lines" "the events so far" &&
  { kill $epid; wait $epid; true; } &&
  json_check event --lines ev.lines &&
  { berth doctor --json >o; test $? -le 1; } && json_check doctor o
'

test_expect_success 'berth watch: each line an event (watch-start, watch-stop)' '
  watch_start &&
  watch_stop &&
  json_check event --lines "$WOUT" &&
  test_grep "\"kind\":\"watch-stop\"" "$WOUT"
'

test_done
