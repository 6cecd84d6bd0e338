#!/bin/sh
# make demo: a real run of berth on a copy of examples/demo-app. Two sessions
# come up side by side, then ls, env, whose, and down of both.
set -eu
build=${1:-build}
here=$(cd "$(dirname "$0")/.." && pwd)
BERTH="$here/$build/berth"
demo=$(mktemp -d "${TMPDIR:-/tmp}/berth-demo.XXXXXX")
trap 'rm -rf "$demo"' EXIT

run() { printf '\n$ %s\n' "$*"; "$@"; }
berth() { "$BERTH" "$@"; }

export GIT_AUTHOR_NAME=berth-demo GIT_AUTHOR_EMAIL=demo@berth.invalid
export GIT_COMMITTER_NAME=berth-demo GIT_COMMITTER_EMAIL=demo@berth.invalid

cp -R "$here/examples/demo-app" "$demo/app"
cd "$demo/app"
git init -q -b main . && git add -A && git commit -q -m "demo app"

run berth init --yes
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
run berth env feat-b
port=$(berth env feat-a | sed -n 's/^BERTH_WEB_PORT=//p')
run berth whose ":$port"
run berth exec feat-a -- sh -c 'echo "in $(pwd): slot $BERTH_SLOT, PORT=$PORT"'
run git worktree list
run berth down feat-a
run berth down feat-b
run berth ls
run git worktree list
printf '\ndemo done: two sessions came up side by side and went down leaving nothing.\n'
