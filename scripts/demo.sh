#!/bin/sh
# make demo: a real run of berth on a copy of examples/demo-app (a python web
# server and a worker). Two sessions come up side by side with their services;
# ls, status, the web servers answer on their own ports, logs; one service is
# killed and status and events show it; each session has a PostgreSQL database
# of its own (berth runs the server): a table made in one is not in the
# other, and a reset gives a fresh clone of the dev database with its data;
# down of both and shutdown leave nothing.
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
BERTH="$here/$build/berth"
demo=$(mktemp -d "${TMPDIR:-/tmp}/berth-demo.XXXXXX")
cleanup() {
  "$BERTH" down feat-a --force >/dev/null 2>&1 || true
  "$BERTH" down feat-b --force >/dev/null 2>&1 || true
  "$BERTH" flush --yes --force -q >/dev/null 2>&1 || true
  rm -rf "$demo"
}
trap cleanup EXIT

run() { printf '\n$ %s\n' "$*"; "$@"; }
berth() { "$BERTH" "$@"; }

export GIT_AUTHOR_NAME=berth-demo GIT_AUTHOR_EMAIL=demo@berth.invalid
export GIT_COMMITTER_NAME=berth-demo GIT_COMMITTER_EMAIL=demo@berth.invalid

cp -R "$here/examples/demo-app" "$demo/app"
cd "$demo/app"
git init -q -b main . && git add -A && git commit -q -m "demo app"

run berth init --yes
# a database per session; berth runs the PostgreSQL server itself
printf '\n[database]\nengine = postgres\n' >>.berth.ini
run cat .berth.ini
run berth validate --ports

printf '\n$ berth up feat-a & berth up feat-b & wait   # two sessions at once\n'
"$BERTH" up feat-a >"$demo/a.out" 2>&1 &
a=$!
"$BERTH" up feat-b >"$demo/b.out" 2>&1 &
b=$!
wait $a && wait $b
cat "$demo/a.out" "$demo/b.out"

run berth ls
run berth status
port_a=$(berth env feat-a | sed -n 's/^BERTH_WEB_PORT=//p')
port_b=$(berth env feat-b | sed -n 's/^BERTH_WEB_PORT=//p')
get() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read().decode(), end="")' "$1"; }
printf '\n$ curl http://127.0.0.1:%s/ ; curl http://127.0.0.1:%s/\n' "$port_a" "$port_b"
get "http://127.0.0.1:$port_a/"
get "http://127.0.0.1:$port_b/"
run berth whose ":$port_a"
run berth exec feat-a -- sh -c 'echo "in $(pwd): slot $BERTH_SLOT, PORT=$PORT"'
run berth logs feat-a -n 2

printf '\n$ berth exec feat-a -- psql -c "create table notes ..."   # feat-a migrates\n'
berth exec feat-a -- psql -q -c "create table notes (body text); insert into notes values ('only in feat-a')"
run berth exec feat-a -- psql -Atc "select body from notes"
printf '\n$ berth exec feat-b -- psql -Atc "select to_regclass('"'"'notes'"'"')"   # feat-b: no such table\n'
berth exec feat-b -- psql -Atc "select coalesce(to_regclass('notes')::text, '(no table notes)')"
# the developer's dev database, with data, on the same server
berth exec feat-a -- sh -c 'PGDATABASE=postgres psql -q -c "create database app_dev"' &&
  berth exec feat-a -- sh -c 'PGDATABASE=app_dev psql -q -c "create table users (name text); insert into users values ('"'"'ada'"'"'), ('"'"'grace'"'"')"'
printf '\n$ echo "source = app_dev" >>.berth.ini; berth db reset feat-b\n'
printf 'source = app_dev\n' >>.berth.ini
berth db reset feat-b
run berth exec feat-b -- psql -Atc "select name from users order by 1"
run berth db status

worker=$(berth status feat-b --json | python3 -c 'import json,sys; print([s["pid"] for s in json.load(sys.stdin)["services"] if s["name"]=="worker"][0])')
run kill -9 "$worker"
# the worker's supervisor records the death at once; wait for that record
i=0
while ! grep -q '^state=exited' .berth/run/feat-b/worker.status && [ $i -lt 500 ]; do
  i=$((i + 1)); sleep 0.01
done
printf '\n$ berth status feat-b\n'
berth status feat-b || printf '(exit status %s: a service is not healthy)\n' $?
run berth events feat-b

run berth down feat-a
run berth down feat-b
run berth ls
run berth shutdown
run git worktree list
left=$(ps -eo pid=,args= | grep -F "$demo/app" | grep -v grep || true)
if [ -n "$left" ]; then
  printf '\nleft running (a bug):\n%s\n' "$left"
  exit 1
fi
printf '\ndemo done: two sessions with a web server, a worker and a database each came up\n'
printf 'side by side, a killed worker was seen at once, and down left no process behind.\n'
