#!/bin/sh
# One interface contract for every command, from the declared option tables
# (src/cmd/cmdopt.h): --help, berth(1)'s synopses and the shell completions
# come from one table and must agree; unknown commands and options get a
# did-you-mean; a usage error wins over a missing config; under --json a
# failure is one JSON document on stdout with its exit code and kind; bash,
# zsh and fish load the completions, and bash completes sessions and
# services read from the repository.
. "$BERTH_SRCDIR/tests/lib.sh"

B=41600
setup_repo <<EOF_INI
[berth]
mode = host

[service "web"]
command = exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $B

[service "worker"]
command = exec sleep 600
ready = none
EOF_INI

berth --help | sed -n "/^Commands:/,/^$/s/^  \([a-z][a-z_]*\) .*/\1/p" >"$TEST_ROOT/cmds"
MAN=$BERTH_SRCDIR/docs/berth.1

# man_synopsis CMD: the synopsis berth(1) gives CMD, in --help's words
# (.B CMD \fR... with the groff escapes taken out).
man_synopsis() {
  awk -v c="$1" 'prev == ".TP" && $1 == ".B" && $2 == c { print; exit } { prev = $0 }' "$MAN" |
    sed 's/^\.B //; s/\\f[BIR]//g; s/\\-/-/g'
}

test_expect_success 'every command: --help has a usage line, its options and the exit codes' '
  test -s "$TEST_ROOT/cmds" &&
  for c in $(cat "$TEST_ROOT/cmds"); do
    berth $c --help >out || return 1
    test_grep "^usage: berth $c" out || return 1
    test_grep "^Options:" out || return 1
    test_grep "^  -q, --quiet " out || return 1
    test_grep "^Exit codes:" out || return 1
  done
'

test_expect_success 'berth(1) gives every command the synopsis of its --help (one table)' '
  for c in $(cat "$TEST_ROOT/cmds"); do
    want=$(berth $c --help | sed -n "1s/^usage: berth //p") &&
    got=$(man_synopsis $c) &&
    if [ "$want" != "$got" ]; then
      echo "berth(1) for $c: \"$got\", --help: \"$want\"" && return 1
    fi
  done
'

test_expect_success 'the completions offer every option --help lists (bash, zsh, fish)' '
  berth completion bash >c.bash && berth completion zsh >c.zsh && berth completion fish >c.fish &&
  for c in $(cat "$TEST_ROOT/cmds"); do
    berth $c --help | sed -n "/^Options:/,/^$/s/^  \(-., \)\{0,1\}\(--[a-z-]*\).*/\2/p" >opts || return 1
    test -s opts || return 1
    for o in $(cat opts); do
      awk -v c="	$c)" "\$0 == c { on = 1 } on && /^	;;/ { exit } on" c.bash | grep -q -- " $o\\b" ||
        { echo "bash: $c has no $o"; return 1; }
      case $o in --help | --quiet) continue ;; esac
      grep -q "__fish_seen_subcommand_from $c. -l ${o#--}\\b" c.fish ||
        { echo "fish: $c has no $o"; return 1; }
    done
  done &&
  cmp c.zsh c.bash 2>/dev/null; test "$(tail -n +3 c.zsh | md5sum)" = "$(md5sum <c.bash)"
'

test_expect_success 'bash: complete -p berth; commands, a session slug, a service, an option value' '
  berth up feat-a -q >/dev/null &&
  PATH=$(dirname "$BERTH"):$PATH bash -c "
    . ./c.bash
    complete -p berth | grep -q _berth || exit 1
    COMP_WORDS=(berth do); COMP_CWORD=1; _berth; echo \"cmds: \${COMPREPLY[*]}\"
    COMP_WORDS=(berth down fe); COMP_CWORD=2; _berth; echo \"slug: \${COMPREPLY[*]}\"
    COMP_WORDS=(berth restart feat-a w); COMP_CWORD=3; _berth; echo \"service: \${COMPREPLY[*]}\"
    COMP_WORDS=(berth env --format d); COMP_CWORD=3; _berth; echo \"value: \${COMPREPLY[*]}\"
    COMP_WORDS=(berth up --services \"\"); COMP_CWORD=3; _berth; echo \"services: \${COMPREPLY[*]}\"
  " >got &&
  test_grep "^cmds: doctor down$" got &&
  test_grep "^slug: feat-a$" got &&
  test_grep "^service: web worker$" got &&
  test_grep "^value: dotenv$" got &&
  test_grep "^services: web worker$" got &&
  berth down feat-a -q
'

if command -v zsh >/dev/null 2>&1; then
  test_expect_success 'zsh loads the completion without error' '
    zsh -f -c "autoload -U compinit && compinit -u -D; source ./c.zsh" 2>err &&
    test ! -s err
  '
else
  test_skip 'zsh loads the completion without error' 'zsh is not installed (make test installs it)'
fi

if command -v fish >/dev/null 2>&1; then
  test_expect_success 'fish loads the completion without error, and completes a command' '
    HOME=$TEST_ROOT/home fish --no-config -c "source ./c.fish; complete -C \"berth sta\"" >got 2>err &&
    test ! -s err &&
    test_grep "^status" got && test_grep "^start" got
  '
else
  test_skip 'fish loads the completion without error' 'fish is not installed (make test installs it)'
fi

test_expect_success 'an unknown command or option says what was meant (2)' '
  test_must_fail code=2 berth sttus 2>err &&
  test_grep "unknown command .sttus. (did you mean .status.?)" err &&
  test_must_fail code=2 berth down --keep-worktre x 2>err &&
  test_grep "unknown option .--keep-worktre. (did you mean --keep-worktree?)" err &&
  test_must_fail code=2 berth logs -n 2>err &&
  test_grep "option .-n. needs a value" err
'

test_expect_success 'an abbreviated option is refused: scripts spell options out (2)' '
  test_must_fail code=2 berth down --keep x 2>err &&
  test_grep "unknown option" err &&
  test_must_fail code=2 berth env --form sh 2>err &&
  test_grep "did you mean --format" err
'

test_expect_success 'a usage error wins over a missing .berth.ini (2, not 3)' '
  mkdir -p "$TEST_ROOT/bare" && (cd "$TEST_ROOT/bare" && git init -q . &&
  test_must_fail code=2 "$BERTH" up --bogus 2>err && test_grep "unknown option" err)
'

test_expect_success 'options after the positionals, and -q on every command' '
  berth up feat-b --json -q >up.json 2>up.err &&
  test ! -s up.err &&
  python3 -c "import json,sys; d = json.load(open(\"up.json\")); assert d[\"slug\"] == \"feat-b\"" &&
  berth env feat-b --format sh -q >env.sh && test_grep "^export BERTH_SLUG=" env.sh &&
  berth down feat-b -q >/dev/null 2>err && test ! -s err
'

# json_error FILE CODE KIND: FILE is one JSON document {"error": {exit, kind, message}}.
json_error() {
  python3 - "$@" <<'EOF_PY'
import json, sys
d = json.load(open(sys.argv[1]))
e = d["error"]
assert e["exit"] == int(sys.argv[2]), e
assert e["kind"] == sys.argv[3], e
assert isinstance(e["message"], str) and e["message"], e
assert set(d) == {"error"} and set(e) == {"exit", "kind", "message"}, d
EOF_PY
}

test_expect_success 'a failure under --json is one JSON document on stdout: exit, kind, message' '
  test_must_fail code=4 berth status nosuch --json >o 2>/dev/null && json_error o 4 not-found &&
  test_must_fail code=4 berth env nosuch --json >o 2>/dev/null && json_error o 4 not-found &&
  test_must_fail code=2 berth ls --json --bogus >o 2>/dev/null && json_error o 2 usage &&
  test_must_fail code=2 berth up --json bad..name >o 2>/dev/null && json_error o 2 usage &&
  test_must_fail code=1 berth whose :1 --json >o 2>/dev/null &&
  python3 -c "import json; json.load(open(\"o\"))" &&
  test_must_fail code=3 berth -q validate >/dev/null 2>&1; true
'

test_expect_success 'stop, start, restart and down --json: one outcome document each' '
  berth up feat-j -q >/dev/null &&
  berth stop feat-j worker --json >o && python3 -c "import json; d = json.load(open(\"o\")); assert d == {\"slug\": \"feat-j\", \"status\": \"active\", \"stopped\": [\"worker\"]}, d" &&
  berth start feat-j --json -q >o && python3 -c "import json; d = json.load(open(\"o\")); assert d[\"started\"] == [\"worker\"], d" &&
  berth restart feat-j web --json -q >o && python3 -c "import json; d = json.load(open(\"o\")); assert d[\"restarted\"] == [\"web\"], d" &&
  berth down feat-j --json -q >o && python3 -c "import json; d = json.load(open(\"o\")); assert d[\"status\"] == \"down\" and d[\"worktree\"] is None and d[\"slug\"] == \"feat-j\", d" &&
  test_must_fail code=4 berth down feat-j --json >o 2>/dev/null && test_json_error o 4
'

test_expect_success 'whose :PORT names the session of a listener on a port no session recorded (as whose PID does)' '
  cat >>.berth.ini <<EOF_INI &&

[service "stray"]
command = exec "\$BERTH_TEST_LISTEN" $((B + 50))
ready = none
EOF_INI
  berth up feat-w -q >/dev/null &&
  wait_for 20 "port_listening $((B + 50))" "the stray listener" &&
  berth whose :$((B + 50)) >out &&
  test_grep "not recorded by any session" out &&
  test_grep "the listener belongs to session .feat-w., service .stray." out &&
  berth whose :$((B + 50)) --json >o &&
  python3 -c "import json; d = json.load(open(\"o\")); assert d[\"session\"] == {\"slug\": \"feat-w\", \"service\": \"stray\"} and d[\"recorded\"] is None, d" &&
  berth down feat-w -q &&
  git checkout -q .berth.ini
'

test_expect_success 'validate --json: the result with its issues and the port table; exit 3 when not valid' '
  berth validate --json --ports >o &&
  python3 -c "import json; d = json.load(open(\"o\")); assert d[\"valid\"] is True and d[\"services\"] == 2 and d[\"ports\"][\"1\"][\"web\"] == $((B + 1)), d" &&
  printf "[service \"bad\"]\nready = port\n" >>.berth.ini &&
  test_must_fail code=3 berth validate --json >o &&
  python3 -c "import json; d = json.load(open(\"o\")); assert d[\"valid\"] is False and any(i[\"error\"] and \"no base_port\" in i[\"message\"] for i in d[\"issues\"]), d" &&
  git checkout -q .berth.ini
'

test_expect_success 'completion: an unknown shell is a usage error; __complete answers quietly outside a repository' '
  test_must_fail code=2 berth completion tcsh 2>err && test_grep "bash, zsh or fish" err &&
  (cd "$TEST_ROOT/bare" && "$BERTH" __complete sessions >out 2>/dev/null; test ! -s out) &&
  berth __complete services >out && test_grep "^web$" out && test_grep "^worker$" out
'

test_done
