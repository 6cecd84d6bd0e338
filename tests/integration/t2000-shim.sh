#!/bin/sh
# berth-shim on its own: it records what its service did (exit status,
# signal, exec failures), keeps its output, restarts per policy, and on
# SIGTERM stops the whole tree -- a 4-level tree, a setsid() escapee, a
# double-forked daemon and a TERM-ignorer -- leaving no process and no port.
. "$BERTH_SRCDIR/tests/lib.sh"

: "${BERTH_SHIM:?}"
P=27000
cd "$TEST_ROOT" || exit 1

# shim_start NAME [shim options] -- COMMAND: run a shim in the background
# (status NAME.status, log NAME.log); sets SHIM_PID.
shim_start() {
  name=$1
  shift
  "$BERTH_SHIM" --status "$TEST_ROOT/$name.status" --log "$TEST_ROOT/$name.log" "$@" &
  SHIM_PID=$!
  test_track_pid $SHIM_PID
}

status_of() { sed -n "s/^$2=//p" "$TEST_ROOT/$1.status" 2>/dev/null; }

# Every descendant of pid $1 (pid list, one per line).
descendants() {
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      for (i in pids) {
        p = pids[i]; q = parent[p]
        while (q != "" && q != 0 && q != 1) {
          if (q == root) { print p; break }
          q = parent[q]
        }
      }
    }'
}

cat >"$TEST_ROOT/tree.sh" <<EOF_SH
echo "tree: starting"
# four levels: this sh -> wrapper sh -> sh -> the listener
sh -c 'sh -c "exec \$BERTH_TEST_LISTEN $P" & wait' &
# an escapee in a session of its own
setsid sh -c 'echo \$\$ >escapee.pid; exec sleep 1000' &
# a daemon that double-forks away from us
sh -c '(sh -c "echo \\\$\\\$ >daemon.pid; exec sleep 1001" &)'
# a child that ignores TERM
sh -c 'trap "" TERM; echo \$\$ >ignorer.pid; exec sleep 1002' &
echo "tree: up"
wait
EOF_SH

test_expect_success 'stop leaves nothing: tree, escapee, daemon, TERM-ignorer, port' '
  cd "$TEST_ROOT" &&
  shim_start tree --stop-grace 1000 -- "sh tree.sh" &&
  wait_for 20 "test -s escapee.pid && test -s daemon.pid && test -s ignorer.pid && port_listening $P" \
    "the tree to be up" &&
  wait_for 10 "test \"\$(status_of tree state)\" = running" "state running" &&
  descendants $SHIM_PID >tree.pids &&
  test "$(wc -l <tree.pids)" -ge 6 &&
  grep -qx "$(cat escapee.pid)" tree.pids &&
  grep -qx "$(cat daemon.pid)" tree.pids &&
  t0=$(date +%s%N) &&
  kill -TERM $SHIM_PID &&
  wait_for 10 "! pid_alive $SHIM_PID" "the shim to exit" &&
  t1=$(date +%s%N) &&
  say "stop took $(( (t1 - t0) / 1000000 )) ms with stop_grace 1000 ms" &&
  { wait $SHIM_PID; rc=$?; } &&
  test_eq $rc 0 &&
  while read -r p; do
    if pid_alive "$p"; then echo "survivor: $p $(cat /proc/$p/cmdline | tr "\0" " ")"; exit 1; fi
  done <tree.pids &&
  ! port_listening $P &&
  test_eq "$(status_of tree state)" stopped &&
  test_eq "$(status_of tree killed)" 1 &&
  test_grep "tree: up" tree.log
'

test_expect_success 'an exit status is recorded, with the output byte-exact' '
  cd "$TEST_ROOT" &&
  shim_start ex3 -- "i=1; while [ \$i -le 50 ]; do echo line \$i; i=\$((i+1)); done; printf tail; exit 3" &&
  wait_for 10 "! pid_alive $SHIM_PID" "the shim to exit" &&
  { wait $SHIM_PID; rc=$?; } &&
  test_eq $rc 3 &&
  test_eq "$(status_of ex3 state)" exited &&
  test_eq "$(status_of ex3 exit_code)" 3 &&
  test_eq "$(status_of ex3 exit_signal)" 0 &&
  test "$(head -n 1 ex3.log)" = "line 1" &&
  test "$(tail -c 12 ex3.log)" = "line 50
tail"
'

test_expect_success 'a death by signal is recorded with the signal' '
  cd "$TEST_ROOT" &&
  shim_start segv -- "kill -SEGV \$\$" &&
  wait_for 10 "! pid_alive $SHIM_PID" "the shim to exit" &&
  test_eq "$(status_of segv state)" exited &&
  test_eq "$(status_of segv exit_signal)" 11
'

test_expect_success 'a bad cwd fails at once with the reason' '
  cd "$TEST_ROOT" &&
  shim_start badcwd --cwd "$TEST_ROOT/no/such/dir" -- "true" &&
  wait_for 10 "! pid_alive $SHIM_PID" "the shim to exit" &&
  { wait $SHIM_PID; rc=$?; } &&
  test_eq $rc 127 &&
  test_eq "$(status_of badcwd state)" failed &&
  test_grep "No such file or directory" badcwd.status
'

test_expect_success 'restart = on-failure restarts, then gives up on a crash loop' '
  cd "$TEST_ROOT" &&
  shim_start loop --restart on-failure -- "echo run; exit 1" &&
  wait_for 30 "! pid_alive $SHIM_PID" "the shim to give up" &&
  test_eq "$(status_of loop state)" failed &&
  test "$(status_of loop restarts)" -ge 4 &&
  test "$(grep -c "^run$" loop.log)" -ge 5 &&
  test_grep "not restarted" loop.log
'

test_expect_success 'a stop during the restart backoff is a stop' '
  cd "$TEST_ROOT" &&
  shim_start backoff --restart always -- "exit 0" &&
  wait_for 10 "test \"\$(status_of backoff restarts)\" -ge 1" "a restart" &&
  kill -TERM $SHIM_PID &&
  wait_for 10 "! pid_alive $SHIM_PID" "the shim to exit" &&
  case "$(status_of backoff state)" in stopped|exited) ;; *) false ;; esac
'

test_done
