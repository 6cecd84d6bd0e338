#!/bin/sh
# berth init: mode and service detection, .gitignore, no silent overwrite;
# the hints (nothing detected, a Dockerfile alone, a lockfile's install) and
# the port flags of known dev servers, run for real through `berth up`.
. "$BERTH_SRCDIR/tests/lib.sh"

setup_repo --no-config

test_expect_success 'init in a plain repository writes host mode and a valid config' '
  berth init >out &&
  test_grep "mode host" out &&
  test -f .berth.ini &&
  berth validate >/dev/null
'

test_expect_success 'init without a .gitignore creates it, says so, and warns of nothing' '
  rm .gitignore &&
  berth init --yes >out 2>err &&
  test_grep "^created .gitignore with the line .berth/$" out &&
  test_grep_not "added .berth/" out &&
  test_grep_not "warning" err &&
  test "$(cat .gitignore)" = ".berth/" &&
  berth validate >/dev/null
'

test_expect_success 'nothing detected: a commented example in .berth.ini and a hint naming docs/config.md' '
  berth init --yes >out 2>err &&
  test_grep "^berth: hint: no service was detected; add a \[service \"NAME\"\] section" err &&
  test_grep "docs/config.md" err &&
  test "$(grep -c hint: err)" = 1 &&
  test_grep "^; No service was detected" .berth.ini &&
  test_grep "^; \[service \"web\"\]$" .berth.ini &&
  test_grep "^; command = .*\$PORT" .berth.ini &&
  test_grep_not "^\[service" .berth.ini &&
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

test_expect_success 'a vite dev script under pnpm: the port flags without --, the pnpm install hint' '
  printf "{\"scripts\": {\"dev\": \"vite\"}}\n" >package.json &&
  touch pnpm-lock.yaml &&
  berth init --yes >out 2>err &&
  berth config show >cfg &&
  grep -Fx "command = pnpm run dev --port \$PORT --strictPort" cfg &&
  test_grep "^base_port = 5173$" cfg &&
  test_grep "^ready = port$" cfg &&
  grep -Fx "; post_create = pnpm install --frozen-lockfile" .berth.ini &&
  test_grep "^berth: hint: pnpm-lock.yaml found; to run \"pnpm install --frozen-lockfile\"" err &&
  berth validate >/dev/null &&
  rm package.json pnpm-lock.yaml
'

# Lockfile -> the install command suggested as post_create: commented in
# .berth.ini, one hint line on stderr, the file valid either way.
for pair in \
  "package-lock.json:npm ci" \
  "yarn.lock:yarn install --frozen-lockfile" \
  "bun.lockb:bun install --frozen-lockfile" \
  "Gemfile.lock:bundle install" \
  "poetry.lock:poetry install" \
  "uv.lock:uv sync" \
  "requirements.txt:pip install -r requirements.txt"
do
  lock=${pair%%:*} install=${pair#*:}
  test_expect_success "a $lock suggests post_create = $install" '
    touch "$lock" &&
    berth init --yes >out 2>err &&
    grep -Fx "; [hooks]" .berth.ini &&
    grep -Fx "; post_create = $install" .berth.ini &&
    test "$(grep -c "post_create" err)" = 1 &&
    grep -F "hint: $lock found; to run \"$install\" in each new worktree" err &&
    berth validate >/dev/null &&
    sed -i "s/^; \[hooks\]$/[hooks]/; s/^; post_create = /post_create = /" .berth.ini &&
    berth config show >cfg &&
    grep -Fx "post_create = $install" cfg &&
    berth validate >/dev/null &&
    rm "$lock"
  '
done

test_expect_success 'two ecosystems: one post_create joining both installs' '
  touch Gemfile.lock package-lock.json &&
  berth init --yes >out 2>err &&
  grep -Fx "; post_create = bundle install && npm ci" .berth.ini &&
  test_grep "^; Lockfiles: Gemfile.lock and package-lock.json\." .berth.ini &&
  test "$(grep -c "hint:" err)" = 2 &&
  rm Gemfile.lock package-lock.json
'

test_expect_success 'a start script and no dev script gets a service for start' '
  printf "{\"scripts\": {\"start\": \"node server.js\", \"build\": \"tsc\"}}\n" >package.json &&
  berth init --yes >out 2>err &&
  test_grep "^services: web$" out &&
  berth config show >cfg &&
  test_grep "^command = npm run start$" cfg &&
  test_grep "^base_port = 3000$" cfg &&
  test_grep "^; berth gives the service its port as \$PORT" .berth.ini &&
  test_grep_not "hint:" err &&
  berth validate >/dev/null &&
  rm package.json
'

test_expect_success 'next dev and next start get -p $PORT; a script that sets its port is left alone' '
  printf "{\"scripts\": {\"dev\": \"next dev\"}}\n" >package.json &&
  berth init --yes >out &&
  berth config show >cfg &&
  grep -Fx "command = npm run dev -- -p \$PORT" cfg &&
  test_grep "^base_port = 3000$" cfg &&
  test_grep "^ready = port$" cfg &&
  printf "{\"scripts\": {\"start\": \"next start\"}}\n" >package.json &&
  touch yarn.lock &&
  berth init --yes >out &&
  berth config show >cfg &&
  grep -Fx "command = yarn run start -p \$PORT" cfg &&
  printf "{\"scripts\": {\"dev\": \"vite --port 4000\"}}\n" >package.json &&
  berth init --yes >out &&
  berth config show >cfg &&
  grep -Fx "command = yarn run dev" cfg &&
  berth validate >/dev/null &&
  rm package.json yarn.lock
'

test_expect_success 'a package.json that does not parse: a warning, and the config still written' '
  printf "{\"scripts\": \n" >package.json &&
  berth init --yes >out 2>err &&
  test_grep "^berth: warning: package.json does not parse (line " err &&
  test_grep "hint: no service was detected" err &&
  berth validate >/dev/null &&
  rm package.json
'

# The commands init writes, run for real: fake dev servers in the worktree
# that listen only when given the port the way init passes it. The base
# ports are moved into this suite's range (42000-42099) before up.
fake_server() { # FILE: a script that listens on the port its args name
  mkdir -p "$(dirname "$1")" &&
  cat >"$1" &&
  chmod +x "$1"
}

if command -v npm >/dev/null 2>&1; then
  test_expect_success 'npm run dev -- --port $PORT --strictPort reaches vite: up is ready on the port' '
    printf "{\"scripts\": {\"dev\": \"vite\"}}\n" >package.json &&
    fake_server node_modules/.bin/vite <<EOF_SH &&
#!/bin/sh
[ "\$1" = --port ] && [ "\$3" = --strictPort ] || { echo "vite: bad args: \$*"; exit 9; }
exec "$BERTH_TEST_LISTEN" "\$2"
EOF_SH
    git add package.json && git add -f node_modules && git commit -q -m vite &&
    berth init --yes >out &&
    sed -i "s/^base_port = 5173$/base_port = 42010/" .berth.ini &&
    export npm_config_update_notifier=false &&
    test_quiet berth up init-vite &&
    port_listening 42011 &&
    test_quiet berth down init-vite &&
    git rm -q -r package.json node_modules && git commit -q -m "no vite"
  '
else
  test_skip 'npm run dev -- --port $PORT --strictPort reaches vite' 'npm is not installed'
fi

test_expect_success 'Rails: bin/rails server -p $PORT, ready on the port' '
  printf "source \"https://rubygems.org\"\ngem \"rails\", \"~> 7.1\"\n" >Gemfile &&
  fake_server bin/rails <<EOF_SH &&
#!/bin/sh
[ "\$1" = server ] && [ "\$2" = -p ] || { echo "rails: bad args: \$*"; exit 9; }
exec "$BERTH_TEST_LISTEN" "\$3"
EOF_SH
  git add Gemfile bin/rails && git commit -q -m rails &&
  berth init --yes >out &&
  berth config show >cfg &&
  grep -Fx "command = bin/rails server -p \$PORT" cfg &&
  test_grep "^base_port = 3000$" cfg &&
  test_grep "^ready = port$" cfg &&
  berth validate >/dev/null &&
  sed -i "s/^base_port = 3000$/base_port = 42020/" .berth.ini &&
  test_quiet berth up init-rails &&
  port_listening 42021 &&
  test_quiet berth down init-rails &&
  git rm -q -r Gemfile bin && git commit -q -m "no rails"
'

test_expect_success 'Django: python3 manage.py runserver 127.0.0.1:$PORT, ready on the port' '
  cat >manage.py <<EOF_PY &&
import os, sys
if sys.argv[1:2] != ["runserver"] or not sys.argv[2].startswith("127.0.0.1:"):
    sys.exit("manage.py: bad args: %s" % sys.argv[1:])
os.execv("$BERTH_TEST_LISTEN", ["listen", sys.argv[2].split(":")[1]])
EOF_PY
  git add manage.py && git commit -q -m django &&
  berth init --yes >out &&
  berth config show >cfg &&
  grep -Fx "command = python3 manage.py runserver 127.0.0.1:\$PORT" cfg &&
  test_grep "^base_port = 8000$" cfg &&
  test_grep "^ready = port$" cfg &&
  berth validate >/dev/null &&
  sed -i "s/^base_port = 8000$/base_port = 42030/" .berth.ini &&
  test_quiet berth up init-django &&
  port_listening 42031 &&
  test_quiet berth down init-django &&
  git rm -q manage.py && git commit -q -m "no django"
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

test_expect_success 'a Dockerfile alone: a valid host config and the way to mode container' '
  printf "FROM scratch\nEXPOSE 8080/tcp\n" >Dockerfile &&
  berth init --yes >out 2>err &&
  test_grep "mode host: a Dockerfile but no compose file" out &&
  test_grep "^berth: hint: a Dockerfile but no compose file: to run the app in docker, write docker-compose.yml" err &&
  test "$(grep -c hint: err)" = 1 &&
  test_grep_not "warning" err &&
  berth validate >/dev/null &&
  grep -Fx "; [service \"app\"]" .berth.ini &&
  grep -Fx "; base_port = 8080" .berth.ini
'

test_expect_success 'following the Dockerfile comment gives a valid mode container config' '
  printf "services:\n  app:\n    build: .\n    ports:\n      - \"8080:8080\"\n" >docker-compose.yml &&
  sed -i "s/^mode = host$/mode = container/; s/^; \[service \"app\"\]$/[service \"app\"]/; s/^; run = docker$/run = docker/; s/^; base_port = 8080$/base_port = 8080/" .berth.ini &&
  berth validate >out &&
  test_grep "mode container" out &&
  rm docker-compose.yml
'

test_expect_success '--mode overrides; --mode container without a compose file warns' '
  berth init --yes --mode host >out &&
  test_grep "mode host" out &&
  berth init --yes --mode container >out 2>err &&
  test_grep "mode container" out &&
  test_grep "^berth: warning: mode container runs a compose file and there is none here" err &&
  test_must_fail code=3 berth validate 2>/dev/null &&
  test_must_fail code=2 berth init --yes --mode nonsense 2>err &&
  test_grep "host, hybrid or container" err &&
  rm Dockerfile
'

test_expect_success 'init from inside a linked worktree writes to the main checkout' '
  git worktree add -q -b side "$TEST_ROOT/side" &&
  rm .berth.ini &&
  (cd "$TEST_ROOT/side" && berth init) >out &&
  test -f "$REPO/.berth.ini" &&
  test ! -e "$TEST_ROOT/side/.berth.ini"
'

test_done
