#!/bin/sh
# berth init: mode and service detection, .gitignore, no silent overwrite.
. "$BERTH_SRCDIR/tests/lib.sh"

setup_repo --no-config

test_expect_success 'init in a plain repository writes host mode and a valid config' '
  berth init >out &&
  test_grep "mode host" out &&
  test -f .berth.ini &&
  berth validate >/dev/null
'

test_expect_success 'init adds .berth/ to .gitignore once' '
  rm .gitignore && echo "node_modules" >.gitignore &&
  berth init --yes >out &&
  test_grep "added .berth/ to .gitignore" out &&
  test "$(grep -c "^\.berth/$" .gitignore)" = 1 &&
  test_grep "^node_modules$" .gitignore &&
  berth init --yes >out &&
  test "$(grep -c "^\.berth/$" .gitignore)" = 1
'

test_expect_success 'init refuses to overwrite without --yes (5), and keeps the file' '
  echo "; mine" >>.berth.ini && cp .berth.ini before &&
  test_must_fail code=5 berth init </dev/null 2>err &&
  test_grep "already exists" err &&
  cmp before .berth.ini
'

test_expect_success 'init detects services from a Procfile' '
  printf "web: python3 server.py\nworker: python3 worker.py\n" >Procfile &&
  berth init --yes >out &&
  test_grep "services: web worker" out &&
  berth config show >cfg &&
  test_grep "^\[service \"web\"\]$" cfg &&
  test_grep "^command = python3 server.py$" cfg &&
  test_grep "^base_port = 3000$" cfg &&
  berth validate >/dev/null &&
  rm Procfile
'

test_expect_success 'init detects the dev script of package.json (pnpm lockfile)' '
  printf "{\"scripts\": {\"dev\": \"vite\"}}\n" >package.json &&
  touch pnpm-lock.yaml &&
  berth init --yes >out &&
  berth config show >cfg &&
  test_grep "^command = pnpm run dev$" cfg &&
  rm package.json pnpm-lock.yaml
'

test_expect_success 'a compose file with data services means hybrid mode' '
  cat >docker-compose.yml <<EOF_YML &&
services:
  db:
    image: postgres:16
  cache:
    image: redis:7
EOF_YML
  berth init --yes >out &&
  test_grep "mode hybrid" out &&
  berth config show >cfg &&
  test_grep "^\[service \"db\"\]$" cfg &&
  test_grep "^run = docker$" cfg &&
  test_grep "^base_port = 5432$" cfg &&
  berth validate >/dev/null &&
  rm docker-compose.yml
'

test_expect_success 'a Dockerfile alone means container mode; --mode overrides' '
  echo "FROM scratch" >Dockerfile &&
  berth init --yes >out &&
  test_grep "mode container" out &&
  berth init --yes --mode host >out &&
  test_grep "mode host" out &&
  test_must_fail code=2 berth init --yes --mode nonsense 2>err &&
  test_grep "host, hybrid or container" err
'

test_expect_success 'init from inside a linked worktree writes to the main checkout' '
  git worktree add -q -b side "$TEST_ROOT/side" &&
  rm .berth.ini &&
  (cd "$TEST_ROOT/side" && berth init) >out &&
  test -f "$REPO/.berth.ini" &&
  test ! -e "$TEST_ROOT/side/.berth.ini"
'

test_done
