#!/bin/sh
# What only the tmux runner does: one tmux session per berth session on the
# repository's private server, a window per service and a shell window;
# typing into a service's window (directly, through `berth attach`, and
# `berth shell`); the server SIGKILLed (no orphan, status says so, up brings
# it back); two repositories with the same slug; a slug that is a prefix of
# another; tmux missing or too old.
. "$BERTH_SRCDIR/tests/lib.sh"

: "${BERTH_TEST_LISTEN:?}"
export BERTH_TEST_LISTEN
test_require_tmux
P=34000

ini() {
  cat <<EOF_INI
[berth]
mode = host
runner = tmux
max_slots = 4
port_search_range = 1
stop_grace = 1s
startup_window = 0.3s

[service "web"]
command = echo "web: hello"; exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $1

[service "echo"]
command = echo "echo: ready"; while read -r l; do echo "got: \$l"; done
ready = log:^echo: ready
EOF_INI
}
ini $P | setup_repo
ROOT_ID=$(root_id_of "$REPO")
SOCK=$XDG_RUNTIME_DIR/berth/$ROOT_ID
WT=$REPO/.berth/worktrees
tmx() { tmux -S "$SOCK" "$@"; }
# A terminal to run `berth attach` / `berth shell` in: a pane of another
# tmux server (no user config).
OUT_SOCK=$TEST_ROOT/outer.sock
outer() { tmux -S "$OUT_SOCK" -f /dev/null "$@"; }
pane_has() { tmx capture-pane -p -t "$1" | grep -q -e "$2"; }
outer_has() { outer capture-pane -p -t "=$1:" | grep -q -e "$2"; }
status_pid() { sed -n "s/^pid=//p" "$REPO/.berth/run/$1/$2.status"; }
shim_pid() { sed -n "s/^shim_pid=//p" "$REPO/.berth/run/$1/$2.status"; }
# A tmux that records each client run (its arguments, one line a run).
mkdir -p "$TEST_ROOT/rec"
cat >"$TEST_ROOT/rec/tmux" <<EOF_REC
#!/bin/sh
echo "\$*" >>"$TEST_ROOT/tmux-calls"
exec $(command -v tmux) "\$@"
EOF_REC
chmod +x "$TEST_ROOT/rec/tmux"

test_expect_success 'up: one tmux session, a shell window and a window per service; TMUX is not passed on' '
  TMUX=/tmp/elsewhere,1,0 TMUX_PANE=%9 berth up at-a >out 2>err &&
  test_grep "web: ready" err &&
  tmx list-windows -t =at-a -F "#{window_name}" >windows &&
  printf "shell\nweb\necho\n" >want && cmp want windows &&
  pid=$(status_pid at-a web) &&
  tr "\0" "\n" </proc/$pid/environ >env &&
  test_grep "^BERTH_SERVICE=web$" env &&
  test_grep "^BERTH_SESSION=at-a$" env &&
  test_grep_not "^TMUX=" env &&
  test_grep_not "^TMUX_PANE=" env &&
  readlink /proc/$pid/fd/0 | grep -q "^/dev/pts/" &&
  port_listening $((P + 1))
'

test_expect_success 'services started together get their windows in one tmux command, the session too; a dependent in the next' '
  cp .berth.ini ini.bak &&
  printf "\n[service \"late\"]\ncommand = exec sleep 100\ndepends_on = web\n" >>.berth.ini &&
  rm -f "$TEST_ROOT/tmux-calls" &&
  PATH="$TEST_ROOT/rec:$PATH" berth up one-a >out 2>err &&
  grep -v "^-V$" "$TEST_ROOT/tmux-calls" >calls &&
  test "$(wc -l <calls)" = 2 &&
  sed -n 1p calls >first && sed -n 2p calls >second &&
  grep -q "new-session .* ; new-window .* -n web .* ; new-window .* -n echo " first &&
  test_grep_not " -n late " first &&
  test "$(grep -o "new-window" second | wc -l)" = 1 &&
  test_grep " -n late " second &&
  tmx list-windows -t =one-a -F "#{window_name}" >windows &&
  printf "shell\nweb\necho\nlate\n" >want && cmp want windows &&
  for w in web echo late; do
    test "$(tmx list-panes -t "=one-a:=$w" -F "#{pane_pid}")" = "$(shim_pid one-a $w)" || exit 1
  done &&
  wait_for 10 "test -z \"\$(ls .berth/run/one-a | grep \"\\.env\$\")\"" "the shims to take their environment files" &&
  rm -f "$TEST_ROOT/tmux-calls" &&
  PATH="$TEST_ROOT/rec:$PATH" berth restart one-a >out 2>err &&
  cp ini.bak .berth.ini &&
  test "$(grep -c "respawn-pane" "$TEST_ROOT/tmux-calls")" = 2 && # a list per level
  for w in web echo late; do
    test "$(tmx list-panes -t "=one-a:=$w" -F "#{pane_pid}")" = "$(shim_pid one-a $w)" || exit 1
  done &&
  tmx list-windows -t =one-a -F "#{window_name}" >windows && cmp want windows &&
  wait_for 10 "test -z \"\$(ls .berth/run/one-a | grep \"\\.env\$\")\"" "no environment file to be left" &&
  berth down one-a >/dev/null 2>&1 &&
  test -z "$(session_pids one-a)"
'

test_expect_success 'keys sent to the window reach the service; its output is in the pane and in the log' '
  wait_for 10 "pane_has =at-a:=echo \"echo: ready\"" "the prompt line in the pane" &&
  tmx send-keys -t =at-a:=echo "hello tmux" Enter &&
  wait_for 10 "pane_has =at-a:=echo \"got: hello tmux\"" "the answer in the pane" &&
  wait_for 10 "grep -q \"got: hello tmux\" .berth/logs/at-a/echo.log" "the answer in the log" &&
  berth logs at-a echo >logs &&
  test_grep "^echo *| got: hello tmux" logs
'

test_expect_success 'berth attach from a terminal: what is typed there reaches the service; detaching leaves it running' '
  outer new-session -d -s att -x 160 -y 40 -c "$REPO" -- "$BERTH" attach at-a echo &&
  wait_for 10 "outer_has att \"got: hello tmux\"" "the echo window on the attached terminal" &&
  outer send-keys -t =att: "typed in attach" Enter &&
  wait_for 10 "grep -q \"got: typed in attach\" .berth/logs/at-a/echo.log" "the line typed through attach" &&
  outer send-keys -t =att: C-b d &&
  wait_for 10 "! outer has-session -t =att 2>/dev/null" "attach to end on detach" &&
  berth status at-a >st &&
  test_grep "^echo  *running" st
'

test_expect_success 'berth attach: unknown service, no terminal, process runner: clear errors' '
  test_must_fail code=4 berth attach at-a nope 2>err &&
  test_grep "has no service .nope." err &&
  test_must_fail code=1 berth attach at-a web </dev/null 2>err &&
  test_grep "needs a terminal" err &&
  test_must_fail code=4 berth attach no-such 2>err &&
  cp .berth.ini ini.bak &&
  sed "s/^runner = tmux/runner = process/" ini.bak >.berth.ini &&
  test_must_fail code=1 berth attach at-a web 2>err &&
  cp ini.bak .berth.ini &&
  test_grep "runner = process" err
'

test_expect_success 'berth shell: the shell window, in the worktree with the session environment; started again after exit' '
  tmx send-keys -t =at-a:=shell -l "echo \"S=\$BERTH_SLUG P=\$BERTH_WEB_PORT W=\$(pwd)\"" &&
  tmx send-keys -t =at-a:=shell Enter &&
  wait_for 10 "pane_has =at-a:=shell \"S=at-a P=$((P + 1)) W=$WT/at-a\"" "the shell to answer" &&
  outer new-session -d -s sh1 -x 160 -y 40 -c "$REPO" -- "$BERTH" shell at-a &&
  wait_for 10 "outer_has sh1 \"S=at-a P=$((P + 1))\"" "berth shell to show the shell window" &&
  outer send-keys -t =sh1: "exit" Enter &&
  wait_for 10 "test \"\$(tmx list-panes -t =at-a:=shell -F \"#{pane_dead}\")\" = 1" "the shell to end" &&
  outer send-keys -t =sh1: C-b d &&
  wait_for 10 "! outer has-session -t =sh1 2>/dev/null" "the attached client to detach" &&
  outer new-session -d -s sh2 -x 160 -y 40 -c "$REPO" -- "$BERTH" shell at-a &&
  wait_for 10 "test \"\$(tmx list-panes -t =at-a:=shell -F \"#{pane_dead}\")\" = 0" "the shell window to be started again" &&
  outer kill-server
'

test_expect_success 'SIGKILL of the tmux server: every tree stops, status and events say so, up brings it back' '
  session_pids at-a >before &&
  test "$(wc -l <before)" -ge 5 && # 2 shims, 2 services, the shell
  server=$(tmx display-message -p "#{pid}") &&
  kill -9 "$server" &&
  wait_for 10 "test -z \"\$(session_pids at-a)\"" "every process of the session to end" &&
  while read -r p; do ! pid_alive "$p" || { echo "orphan $p"; exit 1; }; done <before &&
  ! port_listening $((P + 1)) &&
  test_must_fail code=6 berth status at-a >st &&
  test_grep "tmux: session at-a is gone" st &&
  test_grep "^web  *stopped" st &&
  test_grep "terminal hung up" st &&
  test_must_fail code=6 berth status at-a --json >st.json &&
  test "$(json_get st.json "d[\"tmux\"][\"state\"]")" = gone &&
  test "$(json_get st.json "d[\"tmux\"][\"socket\"]")" = "$SOCK" &&
  berth events at-a >ev &&
  test_grep "web  *hangup" ev &&
  berth up at-a >out 2>err &&
  berth status at-a >st &&
  test_grep "tmux: session at-a is running" st &&
  port_listening $((P + 1))
'

test_expect_success 'down stops the services, kills the tmux session, and the empty server exits' '
  session_pids at-a >before &&
  berth down at-a >out 2>err &&
  test -z "$(session_pids at-a)" &&
  while read -r p; do ! pid_alive "$p" || { echo "survivor $p"; exit 1; }; done <before &&
  test_must_fail tmx has-session -t =at-a 2>/dev/null &&
  wait_for 10 "! tmx list-sessions >/dev/null 2>&1" "the server to exit"
'

REPO2=$TEST_ROOT/repo2
test_expect_success 'two repositories with the same slug: separate servers; down in one leaves the other alone' '
  mkdir -p "$REPO2" && git -C "$REPO2" init -q -b main &&
  printf ".berth/\n" >"$REPO2/.gitignore" && ini $((P + 100)) >"$REPO2/.berth.ini" &&
  git -C "$REPO2" add -A && git -C "$REPO2" commit -q -m initial &&
  ROOT2=$(root_id_of "$REPO2") &&
  test -n "$ROOT2" && test "$ROOT2" != "$ROOT_ID" &&
  berth up same >/dev/null 2>&1 &&
  (cd "$REPO2" && "$BERTH" up same >/dev/null 2>&1) &&
  tmx has-session -t =same &&
  tmux -S "$XDG_RUNTIME_DIR/berth/$ROOT2" has-session -t =same &&
  berth down same >/dev/null 2>&1 &&
  tmux -S "$XDG_RUNTIME_DIR/berth/$ROOT2" has-session -t =same &&
  port_listening $((P + 101)) &&
  test -n "$(session_pids same "$ROOT2")" &&
  (cd "$REPO2" && "$BERTH" down same >/dev/null 2>&1) &&
  test -z "$(session_pids same "$ROOT2")"
'

test_expect_success 'a slug that is a prefix of another (feat, feat-b) never matches it' '
  berth up feat-b >/dev/null 2>&1 &&
  berth up feat >/dev/null 2>&1 &&
  b_pid=$(status_pid feat-b web) &&
  berth down feat >/dev/null 2>&1 &&
  tmx has-session -t =feat-b && pid_alive "$b_pid" &&
  berth up feat >/dev/null 2>&1 &&
  tmx kill-session -t =feat &&
  wait_for 10 "test -z \"\$(session_pids feat)\"" "feat to stop with its tmux session" &&
  test_must_fail code=6 berth status feat >st &&
  test_grep "tmux: session feat is gone" st &&
  berth status feat-b >st &&
  test_grep "tmux: session feat-b is running" st &&
  berth down feat >/dev/null 2>&1 &&
  tmx has-session -t =feat-b && pid_alive "$b_pid" &&
  port_listening $((P + 1)) &&
  berth down feat-b >/dev/null 2>&1 &&
  test -z "$(session_pids feat-b)"
'

test_expect_success 'tmux too old or missing: up says what to do and leaves nothing' '
  mkdir -p "$TEST_ROOT/old" "$TEST_ROOT/none" &&
  printf "#!/bin/sh\necho \"tmux 3.1c\"\n" >"$TEST_ROOT/old/tmux" &&
  chmod +x "$TEST_ROOT/old/tmux" &&
  PATH="$TEST_ROOT/old:$PATH" test_must_fail code=1 "$BERTH" up old-a 2>err &&
  test_grep "tmux 3.1 is too old: the tmux runner needs 3.2 or later" err &&
  PATH="$TEST_ROOT/none" test_must_fail code=1 "$BERTH" up old-a 2>err &&
  test_grep "tmux is not installed" err &&
  test_grep "runner = process" err &&
  test "$(session_count)" = 0 &&
  test ! -d "$WT/old-a"
'

test_expect_success 'down after the config switched to runner = process still ends the tmux session' '
  berth up sw-a >/dev/null 2>&1 &&
  tmx has-session -t =sw-a &&
  cp .berth.ini ini.bak &&
  sed "s/^runner = tmux/runner = process/" ini.bak >.berth.ini &&
  berth down sw-a >out 2>err &&
  cp ini.bak .berth.ini &&
  test_must_fail tmx has-session -t =sw-a 2>/dev/null &&
  test -z "$(session_pids sw-a)"
'

test_expect_success 'a service named shell clashes with the shell window: a config error' '
  cp .berth.ini ini.bak &&
  printf "\n[service \"shell\"]\ncommand = sleep 100\n" >>.berth.ini &&
  test_must_fail code=3 berth validate 2>err &&
  cp ini.bak .berth.ini &&
  test_grep "service .shell. clashes with the tmux runner" err
'

test_done
