#!/bin/sh
# The state store nothing hostile can fool: each variant of a bad
# .berth/state.db (a FIFO, an empty file, another database's WAL, another
# database with berth's application id, a half-made store, symlinks inside
# and out of the repository, a read-only file or directory, zeroed pages, a
# dropped table) is run through every command of `berth --help`. None hangs
# or crashes; a command that needs a sound store fails with a message that
# names the file and gives SQLite's real reason (never "not an error" or
# "database is locked"); the store and its WAL stay byte for byte what they
# were, and nothing is created outside .berth/. On a sound store that
# cannot be written, the commands that only read it work, and the others
# say "cannot write ...: read-only".
. "$BERTH_SRCDIR/tests/lib.sh"

B=27500
setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4

[service "web"]
base_port = $B
EOF_INI

W=$TEST_ROOT/w # this script's own scratch files (not watched)
OUT=$TEST_ROOT/outside # symlink targets outside the repository
DB=$REPO/.berth/state.db
mkdir -p "$W" "$OUT"

# The commands that only read the store, those that change it, and those
# that do not open it. Each must be listed: a new command fails the first
# test until it is placed here.
RO_CMDS="attach env events exec logs ls shell status whose"
RW_CMDS="db down flush restart shutdown start stop up watch"
NO_STORE_CMDS="completion config init validate"

# args CMD: what CMD needs to reach the store (session s1 exists).
args() {
  case $1 in
  attach | down | env | logs | restart | shell | start | status | stop) echo "$1 s1" ;;
  watch) echo "watch --once" ;;
  flush) echo "flush --yes" ;;
  db) echo "db status" ;;
  completion) echo "completion bash" ;;
  exec) echo "exec s1 -- true" ;;
  up) echo "up s2" ;;
  whose) echo "whose :$((B + 1))" ;;
  config) echo "config show" ;;
  *) echo "$1" ;;
  esac
}

# Can the read-only variants deny us writes? Not as root, unless in a user
# namespace where root is an ordinary uid owning the same files.
UNPRIV=""
if [ "$(id -u)" -ne 0 ]; then
  UNPRIV=plain
elif unshare --user --map-user=1000 --map-group=1000 true 2>/dev/null; then
  UNPRIV=userns
fi

# as_owner CMD...: run CMD as the owner of the files, without privileges.
as_owner() {
  if [ "$UNPRIV" = userns ]; then
    unshare --user --map-user=1000 --map-group=1000 "$@"
  else
    "$@"
  fi
}

test_expect_success 'setup: a sound store with session s1, every command placed' '
  test_quiet berth up s1 &&
  test -d .berth/worktrees/s1 &&
  test ! -e .berth/state.db-wal &&
  cp .berth/state.db "$W/sound.db" &&
  berth --help >"$W/help" &&
  sed -n "/^Commands:/,/^$/s/^  \([a-z][a-z]*\) .*/\1/p" "$W/help" >"$W/cmds" &&
  test -s "$W/cmds" &&
  for c in $(cat "$W/cmds"); do
    case " $RO_CMDS $RW_CMDS $NO_STORE_CMDS doctor " in
    *" $c "*) ;;
    *) echo "command $c is not placed in t1410 (RO_CMDS, RW_CMDS, NO_STORE_CMDS)"; exit 1 ;;
    esac
  done
'

# A foreign database's WAL (not checkpointed), and a sound store's pages.
python3 - "$W" <<'EOF_PY'
import shutil, sqlite3, sys
w = sys.argv[1]
c = sqlite3.connect(w + "/other.db")
c.execute("PRAGMA journal_mode = WAL")
c.execute("PRAGMA wal_autocheckpoint = 0")
c.execute("CREATE TABLE notes (body TEXT)")
c.execute("INSERT INTO notes VALUES ('not berth''s')")
c.commit()
shutil.copy(w + "/other.db-wal", w + "/foreign.wal")
c.close()
EOF_PY

# python3 -c on the store (sqlite3 from Python, no berth code).
pysql() {
  python3 -c 'import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
for s in sys.argv[2:]:
    c.execute(s)
c.close()' "$@"
}

# zero_pages FILE FIRST [LAST]: zero 4096-byte pages FIRST..LAST (1-based;
# LAST defaults to the last page).
zero_pages() {
  python3 -c 'import os, sys
f = open(sys.argv[1], "r+b")
n = os.fstat(f.fileno()).st_size // 4096
last = int(sys.argv[3]) if len(sys.argv) > 3 else n
for p in range(int(sys.argv[2]), last + 1):
    f.seek((p - 1) * 4096)
    f.write(bytes(4096))
f.close()' "$@"
}

# make_variant NAME: .berth/state.db as the variant has it.
make_variant() {
  chmod 755 .berth 2>/dev/null
  rm -rf .berth/state.db .berth/state.db-wal .berth/state.db-shm .berth/state.db-journal \
    "$REPO/store-in-repo.db" "$OUT"/*
  case $1 in
  sound) cp "$W/sound.db" "$DB" ;;
  fifo) mkfifo "$DB" ;;
  zero-byte) : >"$DB" ;;
  foreign-wal) cp "$W/sound.db" "$DB" && cp "$W/foreign.wal" "$DB-wal" ;;
  foreign-db-with-our-id)
    pysql "$DB" "PRAGMA application_id = 1650815604" "PRAGMA user_version = 1" \
      "CREATE TABLE notes (body TEXT)" "INSERT INTO notes VALUES ('mine')" ;;
  half-made)
    pysql "$DB" "PRAGMA application_id = 1650815604" "PRAGMA user_version = 1" \
      "PRAGMA journal_mode = WAL" "CREATE TABLE sessions (slug TEXT PRIMARY KEY)" ;;
  symlink-in-repo) cp "$W/sound.db" "$REPO/store-in-repo.db" && ln -s ../store-in-repo.db "$DB" ;;
  symlink-to-missing) ln -s "$OUT/missing.db" "$DB" ;;
  symlink-to-empty) : >"$OUT/empty.db" && ln -s "$OUT/empty.db" "$DB" ;;
  symlink-to-dev-null) ln -s /dev/null "$DB" ;;
  read-only-file) cp "$W/sound.db" "$DB" && chmod 444 "$DB" ;;
  read-only-dir) cp "$W/sound.db" "$DB" && chmod 555 .berth ;;
  zeroed-pages) cp "$W/sound.db" "$DB" && zero_pages "$DB" 2 ;;
  zeroed-page-1) cp "$W/sound.db" "$DB" && zero_pages "$DB" 1 1 ;;
  dropped-table) cp "$W/sound.db" "$DB" && pysql "$DB" "DROP TABLE events" ;;
  *) echo "no variant $1" >&2; return 1 ;;
  esac
}

# fingerprint FILE: what it is and holds. An empty WAL is no WAL (SQLite
# reads both alike; a reader may leave an empty one).
fingerprint() {
  if [ -L "$1" ]; then
    echo "symlink to $(readlink "$1")"
  elif [ -p "$1" ]; then
    echo fifo
  elif [ ! -e "$1" ]; then
    echo absent
  elif [ "${1%-wal}" != "$1" ] && [ ! -s "$1" ]; then
    echo absent
  else
    sha256sum <"$1" | cut -d" " -f1
  fi
}

# What exists outside .berth/ (this script's scratch files and logs aside),
# with a checksum of each regular file: one find, one sha256sum.
outside_berth() {
  find "$TEST_ROOT" \( -path "$REPO/.berth" -o -path "$W" -o -name "test-*.log" \
    -o -path "$TEST_ROOT/quiet.out" \) -prune -o \( -type f -exec sha256sum {} + \) -o \
    -printf "%y %p -> %l\n" | sort
}

# run_all VARIANT [sound]: every command on the variant (sound: the store
# is sound but read-only, and berth runs as the files' unprivileged owner).
# The variant is made once, and again after a command that changed it (so
# that each command is judged on the variant itself). Prints each failure;
# returns 1 if any.
run_all() {
  v=$1 sound=${2:-} bad=0 runner=""
  [ -z "$sound" ] || runner=as_owner
  fail() { echo "FAIL: $why: $1"; sed "s/^/    | /" "$W/all" | head -n 8; bad=1; }
  make_variant "$v" || return 1
  db_before=$(fingerprint "$DB") wal_before=$(fingerprint "$DB-wal")
  outside_berth >"$W/outside.before"
  for c in $(cat "$W/cmds"); do
    SHELL=/bin/true $runner timeout 20 "$BERTH" $(args "$c") </dev/null >"$W/out" 2>"$W/err"
    rc=$?
    cat "$W/out" "$W/err" >"$W/all"
    why="berth $(args "$c") on $v (exit $rc)"
    if [ $rc -eq 124 ]; then fail "hung (killed after 20 s)"
    elif [ $rc -ge 128 ]; then fail "crashed"
    fi
    grep -q "AddressSanitizer\|LeakSanitizer\|runtime error:" "$W/err" && fail "sanitizer report"
    grep -q "not an error\|database is locked" "$W/all" &&
      fail "says \"not an error\" or \"database is locked\""
    case " $NO_STORE_CMDS " in *" $c "*) store=no ;; *) store=yes ;; esac
    case " $RO_CMDS " in *" $c "*) reads=yes ;; *) reads=no ;; esac
    if [ $store = yes ] && [ -z "$sound" ]; then
      [ $rc -eq 0 ] && fail "succeeded on a store that is not sound"
      # doctor reports on stdout, one line per item; the others on stderr
      said=$W/err
      [ "$c" != doctor ] || said=$W/all
      grep -qF "$DB" "$said" || fail "does not name $DB"
    elif [ $store = yes ] && [ $reads = yes ]; then
      # attach has no window to attach to (runner = process): its own error
      if [ "$c" = attach ]; then
        grep -q "runs its services without tmux" "$W/err" ||
          fail "failed on a sound read-only store"
      elif [ $rc -ne 0 ]; then
        fail "failed on a sound read-only store"
      fi
      [ "$c" != ls ] || grep -q "^s1 " "$W/out" || fail "does not list s1"
    elif [ $store = yes ] && [ "$c" = doctor ]; then
      grep -q "^ok    state.db " "$W/out" || fail "does not find the store sound"
    elif [ $store = yes ]; then
      [ $rc -eq 0 ] && fail "wrote a read-only store"
      grep -qF "cannot write the state store '$DB'" "$W/err" || fail "does not say cannot write $DB"
      grep -q "read-only" "$W/err" || fail "does not say read-only"
    fi
    changed=""
    [ "$(fingerprint "$DB")" = "$db_before" ] || { fail "changed state.db"; changed=1; }
    [ "$(fingerprint "$DB-wal")" = "$wal_before" ] || { fail "changed state.db-wal"; changed=1; }
    [ -z "$changed" ] || make_variant "$v" || return 1
    test -d .berth/worktrees/s1 || { fail "removed the worktree of s1"; return 1; }
    if [ -e .berth/worktrees/s2 ]; then
      fail "created a worktree for s2"
      git worktree remove --force .berth/worktrees/s2 && git branch -q -D s2 || return 1
    fi
  done
  chmod 755 .berth
  outside_berth >"$W/outside.after"
  if ! cmp -s "$W/outside.before" "$W/outside.after"; then
    echo "FAIL: $v: the commands changed files outside .berth/:"
    diff "$W/outside.before" "$W/outside.after" | grep "^[<>]" | head -n 5
    bad=1
  fi
  ! git rev-parse --verify -q refs/heads/s2 >/dev/null || { echo "FAIL: $v: branch s2 created"; bad=1; }
  [ -c /dev/null ] || { echo "FAIL: /dev/null is no longer a device"; bad=1; }
  return $bad
}

for v in fifo zero-byte foreign-wal foreign-db-with-our-id half-made symlink-in-repo \
  symlink-to-missing symlink-to-empty symlink-to-dev-null zeroed-pages zeroed-page-1 \
  dropped-table; do
  test_expect_success "$v: every command refuses the store, says why naming it, changes nothing" "
    run_all $v
  "
done

for v in read-only-file read-only-dir; do
  if [ -z "$UNPRIV" ]; then
    test_skip "$v: readers work, writers say read-only, nothing changes" \
      "running as root without user namespaces: a read-only file cannot be denied to root"
    continue
  fi
  test_expect_success "$v: readers work, writers say read-only, nothing changes" "
    run_all $v sound
  "
done

# A repository with no store yet: the commands that only read it see no
# sessions and create nothing (ls used to create the store); events -f
# started then follows the store once a command that writes makes one.
FRESH=$TEST_ROOT/fresh
test_expect_success 'no store: read-only commands see no sessions and create nothing' '
  git init -q -b main "$FRESH" &&
  cp .berth.ini .gitignore "$FRESH/" &&
  git -C "$FRESH" add -A && git -C "$FRESH" commit -q -m initial &&
  (
    cd "$FRESH" &&
    berth ls >out 2>&1 && test_grep "no sessions" out &&
    berth events >out 2>err && test ! -s out &&
    berth ls --json >out && test_eq "$(cat out)" "[]" &&
    test_must_fail code=4 berth status f1 2>err && test_grep "no session .f1." err &&
    test_must_fail code=4 berth env f1 2>err &&
    test_must_fail code=1 berth whose :$((B + 9)) >/dev/null 2>&1 &&
    berth doctor >out 2>&1; test_grep "no state store yet" out &&
    test ! -e .berth
  )
'

test_expect_success 'events -f started before the store exists follows it once made' '
  (
    cd "$FRESH" &&
    { "$BERTH" events -f >ev.out 2>ev.err & } &&
    ev=$! && test_track_pid $ev &&
    wait_for 20 "test -d .berth/run" "events -f to start watching" &&
    test_quiet berth up f1 &&
    wait_for 20 "grep -q \" up  *slot 1\" ev.out" "events -f to print the up of f1" &&
    test_quiet berth down f1 &&
    wait_for 20 "grep -q \" down  *slot 1\" ev.out" "events -f to print the down of f1"
    rc=$?
    kill $ev 2>/dev/null; wait $ev 2>/dev/null
    test ! -s ev.err || { cat ev.err; false; } &&
    return $rc
  )
'

test_expect_success 'the sound store, put back, still works (reads and writes)' '
  make_variant sound &&
  berth ls >out &&
  test_grep "^s1 " out &&
  test_quiet berth down s1 &&
  test_eq "$(session_count)" 0
'

test_done
