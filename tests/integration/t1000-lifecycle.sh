#!/bin/sh
# The session lifecycle with one native service (a listener): up creates a worktree on a new
# branch with slot, ports and .env.berth; ls, env, exec; down removes it and
# keeps the branch; --keep-worktree stops and `up` resumes with the same
# slot and ports.
. "$BERTH_SRCDIR/tests/lib.sh"

B=21000
setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4

[service "web"]
command = echo web ; exec "\$BERTH_TEST_LISTEN" \$PORT # not a comment
base_port = $B
extra_ports = hmr:$((B + 200))
port_env = VITE_PORT

[service "api"]
base_port = $((B + 100))
EOF_INI

WT=$REPO/.berth/worktrees/feat-a

test_expect_success 'up creates the worktree, branch, slot 1 and the env file' '
  berth up feat-a >out 2>err &&
  test_grep "session .feat-a. is up (slot 1)" out &&
  test -d "$WT" && test -f "$WT/README" &&
  git -C "$REPO" rev-parse --verify -q refs/heads/feat-a >/dev/null &&
  git -C "$REPO" worktree list --porcelain >wl &&
  test_grep "worktree $WT" wl &&
  test "$(git -C "$WT" symbolic-ref --short HEAD)" = feat-a
'

test_expect_success '.env.berth is sorted KEY=VALUE with ports of slot 1' '
  cat >expect <<EOF_ENV &&
BERTH_API_PORT=$((B + 101))
BERTH_MODE=host
BERTH_SLOT=1
BERTH_SLUG=feat-a
BERTH_WEB_HMR_PORT=$((B + 201))
BERTH_WEB_PORT=$((B + 1))
PORT=$((B + 1))
VITE_PORT=$((B + 1))
EOF_ENV
  diff -u expect "$WT/.env.berth"
'

test_expect_success 'the worktree is clean for git: .env.berth is ours, not the user'"'"'s' '
  git -C "$WT" status --porcelain >st &&
  test "$(grep -v "^?? .env.berth$" st | wc -l)" -eq 0
'

test_expect_success 'ls shows the session, active, with its ports' '
  berth ls >out &&
  test_grep "^feat-a  *1  *active  *feat-a  *api=$((B + 101)) web=$((B + 1)) web.hmr=$((B + 201))" out &&
  berth ls --json >ls.json &&
  test "$(json_get ls.json "d[0][\"status\"]")" = active &&
  test "$(json_get ls.json "d[0][\"ports\"][\"web\"]")" = $((B + 1))
'

test_expect_success 'env: dotenv, sh and JSON; eval of the sh form works' '
  berth env feat-a >out &&
  diff -u "$WT/.env.berth" out &&
  berth env feat-a --format sh >sh.out &&
  test_grep "^export BERTH_SLUG=.feat-a.$" sh.out &&
  (eval "$(cat sh.out)" && test "$BERTH_WEB_PORT" = $((B + 1))) &&
  berth env feat-a --json >env.json &&
  test "$(json_get env.json "d[\"slot\"]")" = 1 &&
  test "$(json_get env.json "d[\"worktree_path\"]")" = "$WT" &&
  test "$(json_get env.json "d[\"env\"][\"PORT\"]")" = $((B + 1)) &&
  test "$(json_get env.json "d[\"env_file\"]")" = "$WT/.env.berth"
'

test_expect_success 'up --json prints exactly one JSON document on stdout' '
  berth up feat-j --json >up.json 2>err &&
  python3 -c "import json,sys; json.load(open(\"up.json\"))" &&
  test "$(json_get up.json "d[\"slug\"]")" = feat-j &&
  test "$(json_get up.json "d[\"slot\"]")" = 2 &&
  test "$(json_get up.json "sorted(d)")" = "$(python3 -c "print(sorted([\"branch\",\"env\",\"env_file\",\"mode\",\"ports\",\"services\",\"slot\",\"slug\",\"status\",\"worktree_path\"]))")"
'

test_expect_success 'the config keeps every character of a command' '
  berth config show >cfg &&
  test_grep "^command = echo web ; exec \"\\\$BERTH_TEST_LISTEN\" \\\$PORT # not a comment$" cfg
'

test_expect_success 'exec runs in the worktree with the environment and keeps the exit status' '
  berth exec feat-a -- sh -c "pwd; echo \$BERTH_SLUG \$PORT" >out &&
  test "$(sed -n 1p out)" = "$WT" &&
  test "$(sed -n 2p out)" = "feat-a $((B + 1))" &&
  test_must_fail code=42 berth exec feat-a -- sh -c "exit 42" &&
  test_must_fail code=127 berth exec feat-a -- no-such-command-xyz 2>err &&
  test_grep "cannot run .no-such-command-xyz." err
'

test_expect_success 'exec gives the command default signal dispositions and an empty mask' '
  (trap "" USR2 TERM && berth exec feat-a -- sh -c "grep -E \"^Sig(Ign|Blk):\" /proc/self/status") >out &&
  test_grep "^SigIgn:.0*$" out &&
  test_grep "^SigBlk:.0*$" out
'

test_expect_success 'commands infer the slug inside a worktree' '
  (cd "$WT" && berth env >../../../inferred) &&
  diff -u "$WT/.env.berth" inferred &&
  mkdir -p "$WT/sub/dir" && (cd "$WT/sub/dir" && berth env --format sh >/dev/null)
'

test_expect_success 'up of an active session is idempotent: same slot and ports' '
  berth up feat-a >out &&
  test_grep "slot 1" out &&
  berth env feat-a >after &&
  diff -u "$WT/.env.berth" after
'

test_expect_success 'down --keep-worktree stops the session and keeps slot, ports and worktree' '
  rm -rf "$WT/sub" &&
  berth down feat-a --keep-worktree >out &&
  test_grep "stopped" out &&
  test -d "$WT" &&
  berth ls --json >ls.json &&
  test "$(json_get ls.json "[s[\"status\"] for s in d if s[\"slug\"]==\"feat-a\"][0]")" = stopped &&
  berth up feat-c >/dev/null &&
  berth ls --json >ls.json &&
  test "$(json_get ls.json "[s[\"slot\"] for s in d if s[\"slug\"]==\"feat-c\"][0]")" = 3
'

test_expect_success 'up resumes a stopped session with the same slot and ports' '
  berth up feat-a >out &&
  test_grep "slot 1" out &&
  berth env feat-a >after &&
  test_grep "^BERTH_WEB_PORT=$((B + 1))$" after
'

test_expect_success 'down removes the worktree, frees the slot and keeps the branch' '
  berth down feat-a >out &&
  test_grep "is down" out &&
  test ! -e "$WT" &&
  git -C "$REPO" worktree list --porcelain >wl &&
  test_grep_not "feat-a" wl &&
  git -C "$REPO" rev-parse --verify -q refs/heads/feat-a >/dev/null &&
  berth ls --json >ls.json &&
  test "$(json_get ls.json "\",\".join(s[\"slug\"] for s in d)")" = "feat-j,feat-c"
'

test_expect_success 'the freed slot is reused, and up checks out the kept branch' '
  berth up feat-a >out 2>err &&
  test_grep "slot 1" out &&
  test_grep "existing branch feat-a" err &&
  test -d "$WT"
'

test_expect_success 'down of an unknown session: not found (4)' '
  test_must_fail code=4 berth down nope 2>err &&
  test_grep "no session .nope." err
'

test_expect_success 'down refuses a worktree with an untracked file and keeps it' '
  echo "precious" >"$WT/notes.txt" &&
  test_must_fail code=7 berth down feat-a 2>err &&
  test_grep "refused" err &&
  test_grep "notes.txt" err &&
  test "$(cat "$WT/notes.txt")" = precious &&
  berth ls --json >ls.json &&
  test "$(json_get ls.json "[s[\"status\"] for s in d if s[\"slug\"]==\"feat-a\"][0]")" = active
'

test_expect_success 'down refuses a modified tracked file too' '
  rm "$WT/notes.txt" && echo changed >>"$WT/README" &&
  test_must_fail code=7 berth down feat-a 2>err &&
  test_grep "README" err &&
  test_grep "changed" "$WT/README"
'

test_expect_success 'work saved while down is under way is seen by a second check, kept' '
  rm "$WT/README" && git -C "$WT" checkout -q README &&
  berth_start_paused down-taken down feat-a &&
  echo "saved just now" >"$WT/late.txt" &&
  kill -USR1 $PAUSED_PID &&
  wait_for 20 "! pid_alive $PAUSED_PID" "down to finish" &&
  { wait $PAUSED_PID; rc=$?; } &&
  test_eq $rc 7 &&
  test_grep "late.txt" paused.err &&
  test "$(cat "$WT/late.txt")" = "saved just now" &&
  test_eq "$(ls_get feat-a status)" active
'

test_expect_success 'down --force deletes the worktree with its changes' '
  echo "scratch" >"$WT/notes.txt" &&
  berth down feat-a --force >out &&
  test ! -e "$WT" &&
  git -C "$REPO" rev-parse --verify -q refs/heads/feat-a >/dev/null
'

test_expect_success 'inherit_env links are berth'"'"'s, not user work: down removes them' '
  echo "SECRET=from-main" >"$REPO/.env" &&
  berth up feat-e >/dev/null &&
  test -L "$REPO/.berth/worktrees/feat-e/.env" &&
  berth exec feat-e -- sh -c "echo \$SECRET" >out &&
  test "$(cat out)" = from-main &&
  berth down feat-e &&
  test ! -e "$REPO/.berth/worktrees/feat-e" &&
  test "$(cat "$REPO/.env")" = SECRET=from-main
'

# Regression (issue 15): `berth up a` said "gives no usable session name; use
# letters and digits" although a is a letter: slugs had to be 2 characters.
test_expect_success 'a one-letter branch is a session of its own: up a, ls, env, down a' '
  berth up a >out 2>err &&
  test_grep "session .a. is up" out &&
  test -d "$REPO/.berth/worktrees/a" &&
  test "$(git -C "$REPO/.berth/worktrees/a" symbolic-ref --short HEAD)" = a &&
  test_grep "^BERTH_SLUG=a$" "$REPO/.berth/worktrees/a/.env.berth" &&
  test_eq "$(ls_get a status)" active &&
  berth env a --json >env.json &&
  test_eq "$(json_get env.json "d[\"slug\"]")" a &&
  berth down a >out &&
  test ! -e "$REPO/.berth/worktrees/a" &&
  test_must_fail ls_get a status
'

test_expect_success 'down of the remaining sessions leaves no worktree and no row' '
  berth down feat-j && berth down feat-c &&
  test "$(session_count)" = 0 &&
  test -z "$(ls "$REPO/.berth/worktrees")" &&
  test "$(git -C "$REPO" worktree list | wc -l)" = 1
'

test_done
