#!/bin/sh
# .berth.ini as a user meets it: validate, validate --ports, config show, and
# the errors of a config with a typo, a bad value, a port overlap, a cycle.
. "$BERTH_SRCDIR/tests/lib.sh"

setup_repo --no-config

write_config() { cat >"$REPO/.berth.ini"; }

test_expect_success 'validate accepts a good config and summarises it' '
  write_config <<EOF_INI &&
[berth]
mode = host
max_slots = 4

[service "web"]
command = npm run dev -- --port \$PORT ; echo "done" # kept
base_port = 3000
depends_on = api

[service "api"]
command = ./api
base_port = 3100
EOF_INI
  berth validate >out &&
  test_grep "is valid: mode host, runner process, 2 services, 4 slots" out
'

test_expect_success 'validate --ports prints the slot x port table' '
  berth validate --ports >out &&
  test_grep "^SLOT  *web  *api$" out &&
  test_grep "^1  *3001  *3101$" out &&
  test_grep "^4  *3004  *3104$" out
'

test_expect_success 'config show prints defaults and keeps commands whole' '
  berth config show >out &&
  test_grep "^max_slots = 4$" out &&
  test_grep "^port_search_range = 10$" out &&
  test_grep "^stop_grace = 5s$" out &&
  test_grep "^command = npm run dev -- --port \\\$PORT ; echo \"done\" # kept$" out
'

test_expect_success 'a typo is an error with file:line and a suggestion (3)' '
  write_config <<EOF_INI &&
[berth]
mode = host

[service "web"]
comand = npm run dev
base_port = 3000
EOF_INI
  test_must_fail code=3 berth validate 2>err &&
  test_grep "berth.ini:5" err &&
  test_grep "comand" err &&
  test_grep "did you mean .command." err
'

test_expect_success 'a typo stops up before anything is created' '
  test_must_fail code=3 berth up feat-a 2>err &&
  test ! -e .berth/worktrees/feat-a &&
  test_must_fail git rev-parse --verify -q refs/heads/feat-a
'

test_expect_success 'a bad value names the key and the allowed range (3)' '
  write_config <<EOF_INI &&
[berth]
max_slots = 500
EOF_INI
  test_must_fail code=3 berth validate 2>err &&
  test_grep "berth.ini:2" err &&
  test_grep "max_slots" err
'

test_expect_success 'an unknown section is an error (3)' '
  printf "[servce \"web\"]\ncommand = x\n" >.berth.ini &&
  test_must_fail code=3 berth validate 2>err &&
  test_grep "berth.ini:1" err
'

test_expect_success 'overlapping port ranges across slots and bump bands are an error (3)' '
  write_config <<EOF_INI &&
[berth]
max_slots = 8

[service "a"]
command = true
base_port = 3000

[service "b"]
command = true
base_port = 3050
EOF_INI
  test_must_fail code=3 berth validate 2>err &&
  test_grep "overlap" err &&
  test_must_fail code=3 berth up feat-a 2>err &&
  test "$(session_count)" = 0
'

test_expect_success 'a dependency cycle is an error that names it (3)' '
  write_config <<EOF_INI &&
[service "web"]
command = true
depends_on = api

[service "api"]
command = true
depends_on = web
EOF_INI
  test_must_fail code=3 berth validate 2>err &&
  test_grep "web -> api -> web\|api -> web -> api" err
'

test_expect_success 'a privileged base port is a warning, not an error' '
  write_config <<EOF_INI &&
[service "web"]
command = true
base_port = 80
EOF_INI
  berth validate >out 2>err &&
  test_grep "warning" err
'

test_expect_success 'a docker service in host mode is an error (3)' '
  write_config <<EOF_INI &&
[berth]
mode = host

[service "db"]
run = docker
base_port = 5432
EOF_INI
  test_must_fail code=3 berth validate 2>err &&
  test_grep "db" err
'

test_expect_success 'without .berth.ini: validate says to run init, config show prints defaults' '
  rm .berth.ini &&
  test_must_fail code=3 berth validate 2>err &&
  test_grep "berth init" err &&
  berth config show >out &&
  test_grep "^mode = host$" out
'

test_done
