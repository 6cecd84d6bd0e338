#!/bin/sh
# Crash injection (issue 11): SIGKILL of `up` and of `down` at every step --
# at the pause points the code exposes for tests (BERTH_TEST_PAUSE) and at
# random instants in a repository of about 1,500 files -- then recovery,
# either by a plain `berth down` (no --force) or by `berth up` (then `down`).
# After each: no process, port, worktree, git admin entry, branch the
# crashed `up` created, or state row is left; a file a person wrote into the
# worktree before the recovery is never lost (a plain `down` refuses with 7
# and keeps it). The suite prints its counts at the end.
#
#   CRASH_RUNS         random-kill runs per command per recovery kind
#                      (default 12, as in CI; `make crash` runs 100 or more)
#   CRASH_POINTS_UP    pause points of `up` (default: reserve
#                      worktree-checkout worktree-staged worktree ports
#                      envfile services)
#   CRASH_POINTS_DOWN  pause points of `down` (default: down-taken
#                      down-stopped worktree-remove)
#   CRASH_PORT_BASE    the ports (default 27000: 27001-27039)
#   CRASH_SEED         seed of the random instants (default: the clock; it
#                      is printed, and the same seed gives the same delays)
#
# A pause point the command never reaches is a failure that names it (the
# command's end is watched with the pause file, under a deadline). Where a
# random kill landed is told by what it left: no session row, a pending row
# without worktree, a staging directory beside the session's, a partly
# checked out worktree, and so on. Ports: 27001-27039.
. "$BERTH_SRCDIR/tests/lib.sh"

: "${BERTH_TEST_LISTEN:?BERTH_TEST_LISTEN must point to berth-test-listen (meson sets it)}"
export BERTH_TEST_LISTEN
# python3 through a version manager's shim (pyenv) costs 0.1 s to 2 s a call
# on a loaded machine: resolve the interpreter once, put it first on PATH.
PYBIN=$(python3 -c 'import sys; print(sys.executable)') &&
  mkdir -p "$TEST_ROOT/bin" && ln -sf "$PYBIN" "$TEST_ROOT/bin/python3" &&
  PATH=$TEST_ROOT/bin:$PATH
RUNS=${CRASH_RUNS:-12}
POINTS_UP=${CRASH_POINTS_UP-reserve worktree-checkout worktree-staged worktree ports envfile services}
POINTS_DOWN=${CRASH_POINTS_DOWN-down-taken down-stopped worktree-remove}
SEED=${CRASH_SEED:-$(date +%s)}
KILLER=$BERTH_SRCDIR/tests/crash_inject/crashkill.py
# web: P + slot, api: P + 20 + slot (bumped by 4 at most); CRASH_PORT_BASE
# lets a full run (make crash) go on beside the suite's CI run
P=${CRASH_PORT_BASE:-27000}
WTS=$REPO/.berth/worktrees
DB=$REPO/.berth/state.db
W=$TEST_ROOT/w # the runs' scratch files (kept out of the repository)
TALLY=$TEST_ROOT/tally
mkdir -p "$W" && : >"$TALLY"
SUITE_T0=$(date +%s)

# ---------------------------------------------------------------------------
# The repository: 1,500 files in 31 directories (small text files, four of
# 1 MiB) and the config, in one commit, so that a checkout takes long
# enough for random kills to land inside it.
python3 - "$REPO" <<'EOF_PY' || exit 1
import os, random, sys
root = sys.argv[1]
rnd = random.Random(1450)
for d in range(30):
    sub = os.path.join(root, "src/mod%02d" % d if d < 20 else "docs/part%02d/pages" % d)
    os.makedirs(sub, exist_ok=True)
    for f in range(50 if d < 29 else 46):
        with open(os.path.join(sub, "f%03d.txt" % f), "w") as fh:
            fh.write(("line %d of module %d\n" % (f, d)) * rnd.randint(2, 60))
os.makedirs(os.path.join(root, "assets"))
for i in range(4):
    with open(os.path.join(root, "assets/blob%d.bin" % i), "wb") as fh:
        fh.write(rnd.randbytes(1 << 20))
EOF_PY
setup_repo <<EOF_INI || exit 1
[berth]
mode = host
max_slots = 4
port_search_range = 1
stop_grace = 1s

[service "web"]
command = exec "\$BERTH_TEST_LISTEN" \$BERTH_WEB_PORT
base_port = $P

[service "api"]
command = exec "\$BERTH_TEST_LISTEN" \$BERTH_API_PORT
base_port = $((P + 20))
EOF_INI
ROOT_ID=$(root_id_of)
N_FILES=$(git ls-files | wc -l)
git ls-files -z >"$TEST_ROOT/files.z"
# The cgroup v2 directory berth makes sessions' cgroups under ("" when none).
"$BERTH" doctor --json >"$W/doctor.json" 2>/dev/null
CG_BASE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("cgroup") or "")' "$W/doctor.json" 2>/dev/null)

# ---------------------------------------------------------------------------
# Helpers. A run records why it failed with `reason TOKEN MESSAGE` (the
# token goes into the counts, the message into the test's log), and facts
# worth counting with `note TOKEN`; finish_run writes one line per run to
# $TALLY: SET KIND LANDED ok|fail REASONS NOTES.

reason() {
  echo "$1" >>"$W/run.reasons"
  r_tok=$1
  shift
  echo "FAIL [$r_tok] $*" >&2
}

note() {
  echo "$1" >>"$W/run.notes"
}

# Every berth command of a run is bounded (124: it did not end in time).
bounded() {
  timeout -k 5 120 "$@"
}

# show FILE: a command's output in the log, indented.
show() {
  sed 's/^/    /' "$1" >&2
}

# sess_row SLUG: "STATUS OP-KIND" of SLUG in the store ("-" for no
# operation); empty when there is no row (or no store yet).
sess_row() {
  [ -s "$DB" ] || return 0
  sqlite3 "$DB" "select s.status || ' ' || coalesce(o.kind, '-') from sessions s left join ops o on o.slug = s.slug where s.slug = '$1';" 2>/dev/null
}

# present_count DIR: how many of the committed files exist in DIR.
present_count() {
  (cd "$1" 2>/dev/null && xargs -0 ls -d -- <"$TEST_ROOT/files.z" 2>/dev/null | wc -l)
}

# tree_whole DIR: a linked worktree holding every committed file, with its
# index written.
tree_whole() {
  [ -f "$1/.git" ] &&
  tw_admin=$(sed -n 's/^gitdir: //p' "$1/.git") &&
  [ -f "$tw_admin/index" ] &&
  [ "$(present_count "$1")" -eq "$N_FILES" ]
}

# others_in_wts SLUG: entries of the worktrees directory other than SLUG's
# (a staging directory, a worktree moved aside, a leftover).
others_in_wts() {
  ls -A "$WTS" 2>/dev/null | grep -vx -e "$1"
}

# landed_up SLUG WHAT RC: where a kill of `up SLUG` landed, by what it left.
landed_up() {
  if [ "$2" = exited ]; then
    echo "finished-$3"
    return
  fi
  lu_row=$(sess_row "$1")
  if [ -z "$lu_row" ]; then
    echo no-row
  elif [ "${lu_row%% *}" = active ]; then
    echo finalized
  elif [ -n "$(others_in_wts "$1")" ]; then
    echo staging
  elif [ ! -e "$WTS/$1" ]; then
    echo reserved
  elif [ ! -f "$WTS/$1/.git" ]; then
    echo dir-without-git
  elif ! tree_whole "$WTS/$1"; then
    echo checkout
  else
    echo after-checkout
  fi
}

# landed_down SLUG WHAT RC: where a kill of `down SLUG` landed.
landed_down() {
  if [ "$2" = exited ]; then
    echo "finished-$3"
    return
  fi
  ld_row=$(sess_row "$1")
  if [ -z "$ld_row" ]; then
    echo row-deleted
  elif [ "$ld_row" = "active -" ]; then
    echo before-take
  elif [ -n "$(others_in_wts "$1")" ]; then
    echo moved-aside
  elif [ ! -e "$WTS/$1" ]; then
    echo worktree-gone
  elif ! tree_whole "$WTS/$1"; then
    echo removing
  else
    echo taken
  fi
}

# person_kept WT WHEN: the person's file is still there, unchanged.
person_kept() {
  if [ "$(cat "$1/person-notes.txt" 2>/dev/null)" != work ]; then
    reason person-file-lost "the file a person wrote into $1 is gone or changed $2"
    return 1
  fi
}

# check_full_tree SLUG: every committed file is checked out in the
# session's worktree, and git sees no change but berth's .env.berth (and
# the person's file).
check_full_tree() {
  ft_wt=$WTS/$1
  ft_bad=0
  ft_n=$(git -C "$ft_wt" ls-files 2>/dev/null | wc -l)
  if [ "$ft_n" -ne "$N_FILES" ]; then
    reason tree-index-incomplete "git ls-files in $ft_wt lists $ft_n files, want $N_FILES"
    ft_bad=1
  fi
  ft_p=$(present_count "$ft_wt")
  if [ "$ft_p" -ne "$N_FILES" ]; then
    reason tree-files-missing "$ft_p of the $N_FILES committed files are in $ft_wt"
    ft_bad=1
  fi
  if ! git -C "$ft_wt" status --porcelain >"$W/status.out" 2>&1; then
    reason tree-status-failed "git status in $ft_wt failed:"
    show "$W/status.out"
    return 1
  fi
  grep -v -x -e '?? .env.berth' -e '?? person-notes.txt' "$W/status.out" >"$W/status.bad"
  if [ -s "$W/status.bad" ]; then
    reason tree-dirty "git status --porcelain in $ft_wt shows $(wc -l <"$W/status.bad") change(s) besides .env.berth, first:"
    head -n 5 "$W/status.bad" | show /dev/stdin
    ft_bad=1
  fi
  return $ft_bad
}

# check_services SLUG: `berth status` is healthy and both ports answer.
check_services() {
  cs_bad=0
  if ! bounded "$BERTH" status "$1" >"$W/status-svc.out" 2>&1; then
    reason services-not-running "berth status $1 is not healthy:"
    show "$W/status-svc.out"
    cs_bad=1
  fi
  "$BERTH" ls --json >"$W/ls.json" 2>"$W/ls.err"
  if ! python3 - "$W/ls.json" "$1" >"$W/ports.out" 2>&1 <<'EOF_PY'; then
import json, socket, sys
d = json.load(open(sys.argv[1]))
rows = [s for s in d if s["slug"] == sys.argv[2]]
if not rows:
    print("no session %s in berth ls --json" % sys.argv[2])
    sys.exit(1)
ports = rows[0]["ports"]
bad = [] if sorted(ports) == ["api", "web"] else ["ports %r" % ports]
for name, port in sorted(ports.items()):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError as e:
        bad.append("%s: port %d does not answer (%s)" % (name, port, e))
print("; ".join(bad))
sys.exit(1 if bad else 0)
EOF_PY
    reason port-not-answering "$(cat "$W/ports.out")"
    cs_bad=1
  fi
  return $cs_bad
}

# check_nothing_left SLUG BRANCH_CHECK: nothing of session SLUG is left;
# with BRANCH_CHECK=1 its branch is gone too (the crashed up created it).
check_nothing_left() {
  nl_bad=0
  nl_pids=$(session_pids "$1")
  if [ -n "$nl_pids" ]; then
    reason process-left "processes of session $1 still run:"
    ps -o pid=,args= -p "$(echo $nl_pids | tr ' ' ,)" | show /dev/stdin
    nl_bad=1
  fi
  if [ -n "$CG_BASE" ] && [ -d "$CG_BASE/$ROOT_ID/$1" ]; then
    nl_cg=$(find "$CG_BASE/$ROOT_ID/$1" -name cgroup.procs -exec cat {} + 2>/dev/null)
    if [ -n "$nl_cg" ]; then
      reason cgroup-process-left "the session's cgroup $CG_BASE/$ROOT_ID/$1 holds pids $(echo $nl_cg)"
      nl_bad=1
    fi
    note cgroup-dir-left
  fi
  ss -Hltn "( sport >= :$((P + 1)) and sport <= :$((P + 39)) )" >"$W/listen.out"
  if [ -s "$W/listen.out" ]; then
    reason port-left "ports of the session still listen:"
    show "$W/listen.out"
    nl_bad=1
  fi
  if [ -e "$WTS/$1" ]; then
    reason worktree-left "the worktree $WTS/$1 is still there"
    nl_bad=1
  fi
  nl_other=$(others_in_wts "$1")
  if [ -n "$nl_other" ]; then
    reason staging-left "the worktrees directory holds: $(echo $nl_other)"
    nl_bad=1
  fi
  git worktree list --porcelain >"$W/wl.out" 2>&1
  if [ "$(grep -c '^worktree ' "$W/wl.out")" -ne 1 ]; then
    reason git-worktree-entry-left "git worktree list shows more than the main checkout:"
    show "$W/wl.out"
    nl_bad=1
  elif [ -n "$(ls -A .git/worktrees 2>/dev/null)" ]; then
    reason git-admin-left ".git/worktrees holds: $(ls -A .git/worktrees | tr '\n' ' ')"
    nl_bad=1
  fi
  git worktree prune --dry-run -v >"$W/prune.out" 2>&1
  if [ -s "$W/prune.out" ]; then
    reason git-admin-prunable "git worktree prune --dry-run -v:"
    show "$W/prune.out"
    nl_bad=1
  fi
  # git's lock files (berth's own .git/berth-worktree.lock is permanent)
  nl_locks=$(find .git -name '*.lock' ! -name berth-worktree.lock 2>/dev/null)
  if [ -n "$nl_locks" ]; then
    reason git-lock-left "lock files left in .git: $(echo $nl_locks)"
    nl_bad=1
  fi
  if git rev-parse --verify -q "refs/heads/$1" >/dev/null; then
    if [ "$2" = 1 ]; then
      reason branch-left "the branch $1 that the crashed up created is still there"
      nl_bad=1
    else
      note branch-kept
    fi
  fi
  if ! "$BERTH" ls --json >"$W/ls.json" 2>"$W/ls.err"; then
    reason ls-failed "berth ls --json failed:"
    show "$W/ls.err"
    nl_bad=1
  elif [ "$(cat "$W/ls.json")" != "[]" ]; then
    reason ls-shows-session "berth ls --json: $(cat "$W/ls.json" | head -c 300)"
    nl_bad=1
  fi
  if [ -s "$DB" ]; then
    nl_rows=$(sqlite3 "$DB" "select (select count(*) from sessions) || ' ' || (select count(*) from ops) || ' ' || (select count(*) from ports);")
    if [ "$nl_rows" != "0 0 0" ]; then
      reason state-row-left "rows left in sessions, ops, ports: $nl_rows"
      nl_bad=1
    fi
  fi
  [ ! -e "$REPO/.berth/run/$1" ] || note run-dir-left
  return $nl_bad
}

# recover SLUG KIND PERSON BRANCH_CHECK: recover a crashed session by a
# plain `down` (KIND down) or by `up` then `down` (KIND up). With PERSON=1
# and the worktree there, a person first writes a file into it: `down`
# must refuse (7) and keep it; `up` must keep it too.
recover() {
  rc_wt=$WTS/$1
  rc_row=$(sess_row "$1")
  rc_person=""
  if [ "$3" = 1 ] && [ -d "$rc_wt" ]; then
    echo work >"$rc_wt/person-notes.txt" && rc_person=1 && note person-file
  fi
  if [ "$2" = up ]; then
    bounded "$BERTH" up "$1" </dev/null >"$W/rec-up.out" 2>"$W/rec-up.err"
    rc=$?
    if [ $rc -ne 0 ]; then
      reason "up-exit-$rc" "berth up $1 (the recovery) exited $rc:"
      show "$W/rec-up.err"
    fi
    if [ -n "$rc_person" ]; then person_kept "$rc_wt" "after up" || return 1; fi
    [ $rc -eq 0 ] || return 1
    # a failed check here still lets down run: what down leaves is counted too
    check_full_tree "$1"
    check_services "$1"
  fi
  if [ -n "$rc_person" ]; then
    bounded "$BERTH" down "$1" </dev/null >"$W/rec-pdown.out" 2>"$W/rec-pdown.err"
    rc=$?
    if [ $rc -ne 7 ]; then
      reason "person-down-exit-$rc" "with a person's file in $rc_wt a plain down exited $rc, want 7 (refused):"
      show "$W/rec-pdown.err"
    fi
    person_kept "$rc_wt" "after plain down" || return 1
    [ $rc -eq 7 ] || return 1
    rm -f "$rc_wt/person-notes.txt"
  fi
  bounded "$BERTH" down "$1" </dev/null >"$W/rec-down.out" 2>"$W/rec-down.err"
  rc=$?
  if [ $rc -eq 4 ] && [ -z "$rc_row" ] && [ "$2" = down ]; then
    note nothing-to-recover # no session was left: down has nothing to do
  elif [ $rc -ne 0 ]; then
    case $rc in
    7) rc_tok=down-refused-7 ;;
    124) rc_tok=down-timeout ;;
    *) rc_tok=down-exit-$rc ;;
    esac
    reason "$rc_tok" "plain berth down $1 exited $rc (session was '$rc_row' before the recovery):"
    show "$W/rec-down.err"
    return 1
  fi
  check_nothing_left "$1" "$4"
}

# force_clean: remove everything every session left, whatever state it is
# in, so that the next run starts from nothing (not part of any check).
force_clean() {
  if [ -s "$DB" ]; then
    for fc_s in $(sqlite3 "$DB" "select slug from sessions;" 2>/dev/null); do
      bounded "$BERTH" down --force -q "$fc_s" </dev/null >/dev/null 2>&1
    done
  fi
  test_kill_sessions
  if [ -n "$CG_BASE" ] && [ -d "$CG_BASE/$ROOT_ID" ]; then
    for fc_cg in "$CG_BASE/$ROOT_ID"/*; do
      [ -d "$fc_cg" ] || continue
      echo 1 >"$fc_cg/cgroup.kill" 2>/dev/null
      wait_for 10 "test -z \"\$(find \"$fc_cg\" -name cgroup.procs -exec cat {} + 2>/dev/null)\"" \
        "the cgroup $fc_cg to empty"
      find "$fc_cg" -depth -type d -exec rmdir {} + 2>/dev/null
    done
  fi
  rm -rf "$WTS"
  find .git -name '*.lock' ! -name berth-worktree.lock -delete 2>/dev/null
  git worktree prune
  for fc_b in $(git for-each-ref --format='%(refname:short)' refs/heads/); do
    [ "$fc_b" = main ] || git branch -q -D "$fc_b"
  done
  if [ -s "$DB" ]; then
    sqlite3 "$DB" "delete from ports; delete from ops; delete from sessions;"
  fi
  rm -rf "$REPO/.berth/run"
  return 0
}

# is_clean: no session, worktree, git entry, branch but main, or listener.
is_clean() {
  [ -z "$(ls -A "$WTS" 2>/dev/null)" ] &&
  [ "$(git worktree list --porcelain | grep -c '^worktree ')" -eq 1 ] &&
  [ "$(git for-each-ref refs/heads/ | wc -l)" -eq 1 ] &&
  ! ss -Hltn "( sport >= :$((P + 1)) and sport <= :$((P + 39)) )" | grep -q . &&
  { [ ! -s "$DB" ] || [ "$(sqlite3 "$DB" "select count(*) from sessions;")" -eq 0 ]; }
}

# run_begin: a run starts from nothing. After a run that passed, its
# checks said so already; after one that failed, force_clean must have
# removed everything.
run_begin() {
  : >"$W/run.reasons"
  : >"$W/run.notes"
  [ -e "$W/dirty" ] || return 0
  rm -f "$W/dirty"
  if ! is_clean; then
    reason dirty-start "the previous run left something that force_clean did not remove"
    force_clean
    is_clean
  fi
}

# finish_run SET KIND LANDED: tally the run and clean up (a run that passed
# left only the branch a finished `up` made); fails when the run did.
finish_run() {
  fr_reasons=$(sort -u "$W/run.reasons" | paste -sd, -)
  fr_notes=$(sort -u "$W/run.notes" | paste -sd, -)
  fr_result=ok
  [ -z "$fr_reasons" ] || fr_result=fail
  echo "$1 $2 $3 $fr_result ${fr_reasons:--} ${fr_notes:--}" >>"$TALLY"
  echo "run: $1, recovered by $2, landed $3: $fr_result ${fr_reasons}" >&2
  if [ $fr_result = ok ]; then
    for fr_b in $(git for-each-ref --format='%(refname:short)' refs/heads/); do
      [ "$fr_b" = main ] || git branch -q -D "$fr_b"
    done
    return 0
  fi
  force_clean
  : >"$W/dirty"
  return 1
}

# setup_up SLUG: a fresh session that is up, its worktree clean.
setup_up() {
  if ! bounded "$BERTH" up "$1" </dev/null >"$W/setup.out" 2>"$W/setup.err"; then
    reason setup-up-failed "berth up $1 (before the crash) failed:"
    show "$W/setup.err"
    return 1
  fi
}

# kill_cmd MODE ARG RESULT-ARGS...: run berth under crashkill.py; sets
# K_WHAT (killed, exited, timeout) and K_A, K_B (see crashkill.py).
kill_cmd() {
  rm -f "$W/kill.res"
  python3 "$KILLER" "$@" </dev/null >"$W/kill.out" 2>"$W/kill.err"
  read -r K_WHAT K_A K_B <"$W/kill.res" || { reason killer-failed "crashkill.py wrote no result"; return 1; }
}

# pause_outcome POINT CMD: after a pause run, fail naming the point when it
# was never reached.
pause_outcome() {
  case $K_WHAT in
  killed) return 0 ;;
  exited)
    reason point-not-reached "pause point '$1' was never reached: 'berth $2' exited $K_A without creating the pause file:"
    tail -n 5 "$W/kill.err" | show /dev/stdin
    ;;
  *)
    reason point-timeout "neither pause point '$1' nor the end of 'berth $2' came within 60 s"
    ;;
  esac
  return 1
}

# random_up_run N KIND PERSON: `up` of a fresh session killed at a random
# instant, recovered by KIND.
random_up_run() {
  ru_slug=ru-$1
  run_begin || { finish_run up-random "$2" dirty-start; return 1; }
  kill_cmd random "$UP_S" "$SEED-up-$1" "$W/kill.res" -- "$BERTH" up "$ru_slug" || { finish_run up-random "$2" none; return 1; }
  ru_landed=$(landed_up "$ru_slug" "$K_WHAT" "$K_A")
  echo "up $ru_slug: $K_WHAT $K_A $K_B, landed $ru_landed" >&2
  # the branch must go when the crashed up created it and did not finish
  case $ru_landed in no-row | reserved | staging | dir-without-git | checkout | after-checkout) ru_bc=1 ;; *) ru_bc=0 ;; esac
  [ "$2" = down ] || ru_bc=0
  recover "$ru_slug" "$2" "$3" "$ru_bc"
  finish_run up-random "$2" "$ru_landed"
}

# random_down_run N KIND PERSON: `down` of an up session (clean worktree)
# killed at a random instant, recovered by KIND.
random_down_run() {
  rd_slug=rd-$1
  run_begin || { finish_run down-random "$2" dirty-start; return 1; }
  setup_up "$rd_slug" || { finish_run down-random "$2" setup; return 1; }
  kill_cmd random "$DOWN_S" "$SEED-down-$1" "$W/kill.res" -- "$BERTH" down "$rd_slug" || { finish_run down-random "$2" none; return 1; }
  rd_landed=$(landed_down "$rd_slug" "$K_WHAT" "$K_A")
  echo "down $rd_slug: $K_WHAT $K_A $K_B, landed $rd_landed" >&2
  recover "$rd_slug" "$2" "$3" 0
  finish_run down-random "$2" "$rd_landed"
}

# pause_up_run POINT KIND PERSON N: `up` killed at POINT.
pause_up_run() {
  pu_slug=pu-$4
  run_begin || { finish_run "up-pause:$1" "$2" dirty-start; return 1; }
  kill_cmd pause "$1" 60 "$W/kill.res" -- "$BERTH" up "$pu_slug" || { finish_run "up-pause:$1" "$2" none; return 1; }
  pause_outcome "$1" "up $pu_slug" || { finish_run "up-pause:$1" "$2" not-reached; return 1; }
  pu_landed=$(landed_up "$pu_slug" "$K_WHAT" "$K_A")
  echo "up $pu_slug killed at $1: left $pu_landed" >&2
  pu_bc=0
  [ "$2" = down ] && pu_bc=1
  recover "$pu_slug" "$2" "$3" "$pu_bc"
  finish_run "up-pause:$1" "$2" "$pu_landed"
}

# pause_down_run POINT KIND PERSON N: `down` of an up session killed at POINT.
pause_down_run() {
  pd_slug=pd-$4
  run_begin || { finish_run "down-pause:$1" "$2" dirty-start; return 1; }
  setup_up "$pd_slug" || { finish_run "down-pause:$1" "$2" setup; return 1; }
  kill_cmd pause "$1" 60 "$W/kill.res" -- "$BERTH" down "$pd_slug" || { finish_run "down-pause:$1" "$2" none; return 1; }
  pause_outcome "$1" "down $pd_slug" || { finish_run "down-pause:$1" "$2" not-reached; return 1; }
  pd_landed=$(landed_down "$pd_slug" "$K_WHAT" "$K_A")
  echo "down $pd_slug killed at $1: left $pd_landed" >&2
  recover "$pd_slug" "$2" "$3" 0
  finish_run "down-pause:$1" "$2" "$pd_landed"
}

recovery_name() {
  if [ "$1" = down ]; then echo "plain down"; else echo "up, then down"; fi
}

person_name() {
  if [ "$1" = 1 ]; then echo ", a person's file written into the worktree first (if there is one)"; fi
}

# ---------------------------------------------------------------------------
# How long a full up and down take here (median of 3): the random instants
# are drawn from [0, that].

test_expect_success "measure a full up and down in a repository of $N_FILES files" '
  rm -f "$W/up.ms" "$W/down.ms" &&
  for i in 1 2 3; do
    t0=$(date +%s%N) &&
    { bounded "$BERTH" up "m-$i" </dev/null >"$W/m.out" 2>"$W/m.err" || { show "$W/m.err"; exit 1; }; } &&
    t1=$(date +%s%N) &&
    { bounded "$BERTH" down "m-$i" </dev/null >"$W/m.out" 2>"$W/m.err" || { show "$W/m.err"; exit 1; }; } &&
    t2=$(date +%s%N) &&
    echo $(((t1 - t0) / 1000000)) >>"$W/up.ms" &&
    echo $(((t2 - t1) / 1000000)) >>"$W/down.ms" &&
    git branch -q -D "m-$i" || exit 1
  done &&
  : >"$W/run.reasons" && : >"$W/run.notes" &&
  check_nothing_left m-3 0
'
UP_MS=$(sort -n "$W/up.ms" 2>/dev/null | sed -n 2p)
DOWN_MS=$(sort -n "$W/down.ms" 2>/dev/null | sed -n 2p)
UP_MS=${UP_MS:-1000}
DOWN_MS=${DOWN_MS:-100}
UP_S=$(awk "BEGIN { print $UP_MS / 1000 }")
DOWN_S=$(awk "BEGIN { print $DOWN_MS / 1000 }")
say "seed $SEED; up takes $UP_MS ms, down $DOWN_MS ms (median of 3): random kills in [0, $UP_MS] ms and [0, $DOWN_MS] ms"
force_clean

# ---------------------------------------------------------------------------
# Pause points: each is killed there, then recovered by down and, in a
# second run, by up; a person writes a file into the worktree first (when
# there is one). That covers the recovery without the file too: once the
# refusal is checked the file is removed, and the same plain `down` must
# finish.

n=0
for p in $POINTS_UP; do
  for k in down up; do
    n=$((n + 1))
    test_expect_success "up killed at pause point $p, recovered by $(recovery_name $k)$(person_name 1)" "
      pause_up_run $p $k 1 $n
    "
  done
done
for p in $POINTS_DOWN; do
  for k in down up; do
    n=$((n + 1))
    test_expect_success "down killed at pause point $p, recovered by $(recovery_name $k)$(person_name 1)" "
      pause_down_run $p $k 1 $n
    "
  done
done

# ---------------------------------------------------------------------------
# git-lock-left: a random kill of `up` inside git_branch_create (libgit2 has
# made refs/heads/<branch>.lock, not yet renamed it over the ref) left the
# lock, and git refuses that branch until someone deletes it by hand. The
# kill lands at pause point branch-create, right before the creation; the
# lock is then made as libgit2's first step makes it (empty, O_EXCL). Both
# recoveries must remove it: the `up` must create the branch.

lock_up_run() {
  lu_slug=lk-$2
  run_begin || { finish_run up-pause:branch-create "$1" dirty-start; return 1; }
  kill_cmd pause branch-create 60 "$W/kill.res" -- "$BERTH" up "$lu_slug" || { finish_run up-pause:branch-create "$1" none; return 1; }
  pause_outcome branch-create "up $lu_slug" || { finish_run up-pause:branch-create "$1" not-reached; return 1; }
  (set -C && : >".git/refs/heads/$lu_slug.lock") || { reason lock-exists "cannot make .git/refs/heads/$lu_slug.lock"; finish_run up-pause:branch-create "$1" none; return 1; }
  lu_bc=0
  [ "$1" = down ] && lu_bc=1
  recover "$lu_slug" "$1" 0 "$lu_bc"
  finish_run up-pause:branch-create "$1" ref-locked
}

test_expect_success "git-lock-left: up killed inside the creation of its branch (ref lock made), recovered by plain down" '
  lock_up_run down 1
'
test_expect_success "git-lock-left: up killed inside the creation of its branch (ref lock made), recovered by up, then down" '
  lock_up_run up 2
'

# ---------------------------------------------------------------------------
# Random instants: the recovery kinds alternate; every third run a person
# writes a file into the worktree first (when there is one).

total=$((2 * RUNS))
i=0
while [ $i -lt $total ]; do
  i=$((i + 1))
  if [ $((i % 2)) -eq 1 ]; then k=down; else k=up; fi
  if [ $((i % 3)) -eq 0 ]; then person=1; else person=0; fi
  test_expect_success "up killed at a random instant ($i/$total), recovered by $(recovery_name $k)$(person_name $person)" "
    random_up_run $i $k $person
  "
done
i=0
while [ $i -lt $total ]; do
  i=$((i + 1))
  if [ $((i % 2)) -eq 1 ]; then k=down; else k=up; fi
  if [ $((i % 3)) -eq 0 ]; then person=1; else person=0; fi
  test_expect_success "down killed at a random instant ($i/$total), recovered by $(recovery_name $k)$(person_name $person)" "
    random_down_run $i $k $person
  "
done

# ---------------------------------------------------------------------------
# The counts.

python3 - "$TALLY" "$(($(date +%s) - SUITE_T0))" <<'EOF_PY'
import collections, sys

rows = [l.split() for l in open(sys.argv[1]) if l.strip()]

def count_str(c, order=None):
    keys = order or sorted(c, key=lambda k: (-c[k], k))
    return ", ".join("%s %d" % (k, c[k]) for k in keys if c[k])

def report(title, runs, checkout_classes):
    if not runs:
        print("# %s: no runs" % title)
        return
    landed = collections.Counter(r[2] for r in runs)
    failed_at = collections.Counter(r[2] for r in runs if r[3] == "fail")
    in_checkout = sum(landed[c] for c in checkout_classes)
    by = {}
    for kind in ("down", "up"):
        k = [r for r in runs if r[1] == kind]
        by[kind] = "%d/%d" % (sum(1 for r in k if r[3] == "ok"), len(k))
    extra = (", %d landed in the worktree's creation (%s)"
             % (in_checkout, ", ".join("%s %d" % (c, landed[c]) for c in checkout_classes))
             if checkout_classes else "")
    print("# %s: %d runs%s, recovered by down %s, by up %s"
          % (title, len(runs), extra, by["down"], by["up"]))
    print("#   landed: %s" % ", ".join("%s %d (%d failed)" % (k, landed[k], failed_at[k])
                                        for k in sorted(landed, key=lambda k: (-landed[k], k))))
    for kind in ("down", "up"):
        reasons = collections.Counter(t for r in runs if r[1] == kind and r[4] != "-"
                                      for t in r[4].split(","))
        if reasons:
            print("#   failures when recovered by %s (runs per reason): %s" % (kind, count_str(reasons)))
    notes = collections.Counter(t for r in runs if r[5] != "-" for t in r[5].split(","))
    person = [r for r in runs if "person-file" in r[5].split(",")]
    lost = [r for r in person if "person-file-lost" in r[4].split(",")]
    print("#   a person's file: written in %d runs, lost in %d" % (len(person), len(lost)))
    if notes:  # each with where the runs that noted it landed
        print("#   notes: %s" % ", ".join(
            "%s %d (%s)" % (n, notes[n], count_str(collections.Counter(
                r[2] for r in runs if n in r[5].split(","))))
            for n in sorted(notes, key=lambda n: (-notes[n], n))))

def pause_report(title, runs):
    if not runs:
        return
    points = []
    for r in runs:
        p = r[0].split(":", 1)[1]
        if p not in points:
            points.append(p)
    parts = []
    for p in points:
        pr = [r for r in runs if r[0].split(":", 1)[1] == p]
        ok = sum(1 for r in pr if r[3] == "ok")
        s = "%s %d/%d" % (p, ok, len(pr))
        if any(r[2] == "not-reached" for r in pr):
            s += " (never reached)"
        parts.append(s)
    print("# %s, recovered: %s" % (title, ", ".join(parts)))
    reasons = collections.Counter(t for r in runs if r[4] != "-" for t in r[4].split(","))
    if reasons:
        print("#   failures (runs per reason): %s" % count_str(reasons))

pause_report("up pause points", [r for r in rows if r[0].startswith("up-pause:")])
pause_report("down pause points", [r for r in rows if r[0].startswith("down-pause:")])
report("up random kills", [r for r in rows if r[0] == "up-random"], ("staging", "dir-without-git", "checkout"))
report("down random kills", [r for r in rows if r[0] == "down-random"], ())
print("# all: %d runs, %d failed, in %s s" % (len(rows), sum(1 for r in rows if r[3] == "fail"), sys.argv[2]))
EOF_PY

test_done
