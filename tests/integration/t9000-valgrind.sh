#!/bin/sh
# The core commands under valgrind: no leak (definite or indirect), no memory
# error. Skips only when valgrind is not installed (make test installs it).
. "$BERTH_SRCDIR/tests/lib.sh"

if [ -n "${BERTH_SANITIZED:-}" ]; then
  echo "1..0 # SKIP this build uses sanitizers; valgrind runs on the plain build"
  exit 0
fi
if ! command -v valgrind >/dev/null 2>&1; then
  echo "1..0 # SKIP valgrind is not installed"
  exit 0
fi

B=21400
setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4

[service "web"]
command = echo web ; exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $B
extra_ports = hmr:$((B + 200))

[service "api"]
base_port = $((B + 100))
EOF_INI

vg() {
  valgrind -q --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect --error-exitcode=99 \
    --log-file="$TEST_ROOT/vg.%p.log" "$BERTH" "$@"
  rc=$?
  if [ $rc -eq 99 ]; then
    cat "$TEST_ROOT"/vg.*.log >&2
    return 99
  fi
  return $rc
}

for cmd in "validate --ports" "config show" "up feat-a" "up feat-a --json" "ls" "ls --json" \
  "env feat-a" "env feat-a --json" "env feat-a --format sh" "whose :$((B + 1))" \
  "down feat-a --keep-worktree" "up feat-a" "exec feat-a -- true" "stop feat-a web" "start feat-a web" \
  "watch --once" "stop feat-a" "up feat-a" "down feat-a"; do
  test_expect_success "valgrind: berth $cmd" "vg $cmd >/dev/null"
done

test_expect_success 'valgrind: berth watch through a shim death, its restart and SIGTERM' '
  sed -i "/^\[service \"web\"\]/a restart = on-failure" .berth.ini &&
  printf "[watch]\ninterval = 1s\n" >>.berth.ini &&
  berth up feat-w -q >/dev/null &&
  ( vg watch >watch.out 2>watch.err; echo $? >watch.rc ) &
  wait_for 60 "grep -q watch-start watch.out" "watch-start" &&
  shim=$(sed -n "s/^shim_pid=//p" .berth/run/feat-w/web.status) &&
  kill -9 "$shim" &&
  wait_for 60 "grep -q \"restart feat-w web. done\" watch.out" "the restart" &&
  read -r wpid wstart <.berth/watch.lock &&
  kill "$wpid" &&
  wait_for 60 "test -s watch.rc" "the watcher to exit" &&
  test_eq "$(cat watch.rc)" 0 &&
  git checkout -q .berth.ini &&
  berth down feat-w -q
'

# The tmux runner's paths (its driver, the window shims, status's tmux line).
if command -v tmux >/dev/null 2>&1; then
  test_expect_success 'valgrind: up, status, restart, down under runner = tmux' '
    cp .berth.ini ini.process &&
    sed "s/^mode = host/mode = host\nrunner = tmux/" ini.process >.berth.ini &&
    vg up feat-t >/dev/null 2>&1 &&
    vg status feat-t >/dev/null &&
    vg restart feat-t web >/dev/null 2>&1 &&
    vg down feat-t >/dev/null 2>&1 &&
    cp ini.process .berth.ini
  '
else
  test_skip 'valgrind: up, status, restart, down under runner = tmux' 'tmux is not installed'
fi

# [database]: berth's own PostgreSQL server, a source, the db command, the
# drop, shutdown and flush (libpq is loaded with dlopen: its paths too).
if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && command -v psql >/dev/null 2>&1; then
  test_expect_success 'valgrind: up, status, db status/url/reset/refresh, down, shutdown, flush with [database]' '
    cp .berth.ini ini.nodb &&
    printf "[database]\nport = 41070\n" >>.berth.ini &&
    vg up feat-d >/dev/null 2>&1 &&
    pg=$(cat .berth/pg/socket) && port=$(cat .berth/pg/port) &&
    psql -h "$pg" -p "$port" -U berth -d postgres -qc "create database src" &&
    psql -h "$pg" -p "$port" -U berth -d src -qc "create table t (x int); insert into t values (1)" &&
    printf "source = src\n" >>.berth.ini &&
    vg status feat-d >/dev/null &&
    vg db status >/dev/null &&
    vg db status --json >/dev/null &&
    vg db url feat-d >/dev/null &&
    vg db refresh -q >/dev/null &&
    vg db reset feat-d -q >/dev/null &&
    vg up feat-e >/dev/null 2>&1 &&
    vg env feat-e --json >/dev/null &&
    vg doctor >/dev/null &&
    vg down feat-e >/dev/null 2>&1 &&
    vg down feat-d --keep-database >/dev/null 2>&1 &&
    vg shutdown >/dev/null 2>&1 &&
    vg flush --yes >/dev/null 2>&1 &&
    cp ini.nodb .berth.ini
  '
else
  test_skip 'valgrind: up, status, db status/url/reset/refresh, down, shutdown, flush with [database]' 'PostgreSQL is not installed'
fi

test_expect_success 'valgrind: error paths (unknown session, bad config) leak nothing' '
  test_must_fail code=4 vg down nope 2>/dev/null &&
  echo "bogus_key = 1" >>.berth.ini &&
  test_must_fail code=3 vg up feat-b 2>/dev/null
'

test_done
