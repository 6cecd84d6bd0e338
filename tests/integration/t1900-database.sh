#!/bin/sh
# Per-session PostgreSQL databases ([database], engine = postgres), every
# check asked of the server itself (psql). Against a throwaway cluster this
# script starts (url = ..., ports 41000-41039): every session gets its own
# database <prefix>_<slug>, cloned through berth's private seed
# <prefix>__seed (no connections allowed), made before pre_spawn, seen by
# nobody else; down drops that database only, ending only its connections;
# a source another client is connected to is still cloned (the first seed
# copy by pg_dump, said on stderr, once even for 8 parallel ups) and that
# client keeps its connection; 8 parallel ups x 3 rounds; db reset /
# refresh / url / status, status, the env keys, .env.berth 0600; a wrong
# password, a role without CREATEDB or a missing source is exit 3, a server
# that refuses or never answers is exit 6 within its timeout, with nothing
# left; rollback (a failing hook, Ctrl-C) and SIGKILL at the database and
# seed pause points, watch --once, a stopped url server (down keeps the
# session, exit 1); keep-worktree, keep-database, a dirty worktree, a long
# slug, a URL-escaped password, a changed source, flush dropping the seed.
# Managed mode (no url): berth's own server, as postgres when root (and as
# nobody when the machine allows it), started once by parallel ups,
# restarted when killed, on another port when its port is taken, stopped by
# shutdown and removed by flush. The passwords are never in stderr, the
# event log, the logs, config show or db status.
. "$BERTH_SRCDIR/tests/lib.sh"
. "$BERTH_SRCDIR/tests/integration/pglib.sh"

pg_require

# The throwaway cluster: ports 41000-41039 (41040-41099: the other servers
# and listeners of this script).
if ! pg_cluster_start 41000 41039; then
  echo "Bail out! the test PostgreSQL cluster did not start"
  exit 1
fi
PORT=$PGC_PORT
ROLE=t1900_app
PW=pw-T1900-q7Zx3k
BADPW=wrong-T1900-Zk3p
URL=postgres://$ROLE:$PW@127.0.0.1:$PORT/postgres
# (the role owns the source databases, as a developer's own role would)
pgq "create role $ROLE login createdb password '$PW'" &&
pgq "create database src owner $ROLE" &&
pgq "create database busy owner $ROLE" &&
pgq "create table items (id int primary key, name text); insert into items values (1, 'one'), (2, 'two'), (3, 'three'); alter table items owner to $ROLE" src &&
pgq "create table items (id int primary key, name text); insert into items values (1, 'b1'), (2, 'b2'); alter table items owner to $ROLE" busy || {
  echo "Bail out! could not prepare the test cluster"
  exit 1
}

# db_repo DIR: a repository at DIR with one commit and the .berth.ini read
# from stdin.
db_repo() {
  mkdir -p "$1" && git -C "$1" init -q -b main && echo hello >"$1/README" &&
  printf '.berth/\n' >"$1/.gitignore" && cat >"$1/.berth.ini" &&
  git -C "$1" add -A && git -C "$1" commit -q -m initial
}

# The main repository: url server, source src, prefix t1900. pre_spawn
# counts the rows the session's database has (it must exist by then).
setup_repo <<EOF_INI
[berth]
mode = host
prefix = t1900
max_slots = 16

[database]
engine = postgres
url = $URL
source = src

[hooks]
pre_spawn = psql -X -Atc "select count(*) from items" "\$DATABASE_URL" >"$TEST_ROOT/prespawn.\$BERTH_SLUG"
EOF_INI

# surl SLUG [PREFIX]: the URL of session SLUG's database, as the role.
surl() {
  echo "postgres://$ROLE:$PW@127.0.0.1:$PORT/${2:-t1900}_$1"
}

# sq SLUG SQL [PREFIX]: SQL in session SLUG's database, as the role.
sq() {
  psql -X -q -v ON_ERROR_STOP=1 -Atc "$2" "$(surl "$1" "${3:-}")"
}

# names SLUG [PREFIX]: the names in session SLUG's items table, in id order,
# comma-separated.
names() {
  sq "$1" "select string_agg(name, ',' order by id) from items" "${2:-}"
}

# json_env FILE KEY: KEY of the "env" object of a session's JSON.
json_env() {
  json_get "$1" "d['env'].get('$2', '')"
}

# no_password FILE...: neither password appears in any of the files.
no_password() {
  for f in "$@"; do
    [ -e "$f" ] || continue
    if grep -rlF -e "$PW" -e "$BADPW" "$f" >"$TEST_ROOT/pw.hits" 2>/dev/null; then
      echo "no_password: a password is in:" >&2
      sed 's/^/    /' "$TEST_ROOT/pw.hits" >&2
      grep -rnF -e "$PW" -e "$BADPW" "$f" | head -n 5 | sed 's/^/    /' >&2
      return 1
    fi
  done
  return 0
}

# json_has FILE STRING...: FILE is one JSON document and each STRING is in it
# (as a key or a value, anywhere).
json_has() {
  python3 - "$@" <<'EOF_PY'
import json, sys
s = json.dumps(json.load(open(sys.argv[1])))
missing = [w for w in sys.argv[2:] if w not in s]
if missing:
    sys.stderr.write("json_has: %s not in %s\n" % (", ".join(missing), sys.argv[1]))
    sys.exit(1)
EOF_PY
}

# db_status_has FILE NAME CONNECTIONS: `db status --json` in FILE has an
# object for database NAME (wherever it sits) that exists, has a size and
# CONNECTIONS connections.
db_status_has() {
  python3 - "$@" <<'EOF_PY'
import json, sys
doc = json.load(open(sys.argv[1]))
name, want = sys.argv[2], int(sys.argv[3])
found = []
def walk(v):
    if isinstance(v, dict):
        if name in (v.get("name"), v.get("database"), v.get("datname")):
            found.append(v)
        for x in v.values():
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(doc)
if not found:
    sys.exit("db_status_has: no object for %s in %s" % (name, json.dumps(doc)))
o = found[0]
bad = []
if o.get("exists") is not True:
    bad.append("exists is %r" % (o.get("exists"),))
if not isinstance(o.get("size"), int) or o["size"] <= 0:
    bad.append("size is %r" % (o.get("size"),))
if o.get("connections") != want:
    bad.append("connections is %r, want %d" % (o.get("connections"), want))
if bad:
    sys.exit("db_status_has: %s: %s in %s" % (name, "; ".join(bad), json.dumps(o)))
EOF_PY
}

# elapsed_since T0: whole seconds since T0 (date +%s).
elapsed_since() {
  echo $(($(date +%s) - $1))
}

# --- 1. two sessions against a url server ------------------------------------

test_expect_success 'up of two sessions: each gets its own database, cloned from the source before pre_spawn' '
  berth up feat-a -q >up-a.out 2>up-a.err &&
  berth up feat-b -q >up-b.out 2>up-b.err &&
  pg_has_db t1900_feat-a && pg_has_db t1900_feat-b &&
  test_eq "$(cat "$TEST_ROOT/prespawn.feat-a")" 3 &&
  test_eq "$(cat "$TEST_ROOT/prespawn.feat-b")" 3 &&
  test_eq "$(names feat-a)" "one,two,three" &&
  test_eq "$(names feat-b)" "one,two,three" &&
  test_eq "$(ls_get feat-a status)" active && test_eq "$(ls_get feat-b status)" active &&
  no_password up-a.err up-b.err
'

test_expect_success 'the seed t1900__seed is the only other database berth made, and it takes no connection' '
  test_eq "$(pg_dbs "t1900_%" | tr "\n" " ")" "t1900__seed t1900_feat-a t1900_feat-b " &&
  test_eq "$(pgq "select datallowconn from pg_database where datname = '"'"'t1900__seed'"'"'")" f
'

test_expect_success 'a table made in one session is neither in the other nor in the source; rows too; up again on the active session keeps them' '
  sq feat-a "create table only_a (x int); insert into items values (4, '"'"'four'"'"')" &&
  test_eq "$(sq feat-a "select count(*) from items")" 4 &&
  test_eq "$(sq feat-b "select count(*) from items")" 3 &&
  test_eq "$(pgq "select count(*) from items" src)" 3 &&
  test_eq "$(sq feat-b "select to_regclass('"'"'only_a'"'"') is null")" t &&
  test_eq "$(pgq "select to_regclass('"'"'only_a'"'"') is null" src)" t &&
  berth up feat-a -q 2>again.err &&
  test_eq "$(sq feat-a "select to_regclass('"'"'only_a'"'"') is not null")" t &&
  test_eq "$(sq feat-a "select count(*) from items")" 4
'

test_expect_success 'down drops that session'"'"'s database only, ending its connections and no other' '
  pg_hold "$(surl feat-a)" t1900-hold-a && ha=$HOLD_PID &&
  pg_hold "$(surl feat-b)" t1900-hold-b && hb=$HOLD_PID &&
  bpid=$(pg_backend_pids t1900_feat-b t1900-hold-b) && test -n "$bpid" &&
  berth down feat-a -q >down.out 2>down.err &&
  ! pg_has_db t1900_feat-a &&
  pg_has_db t1900_feat-b && pg_has_db src && pg_has_db t1900__seed && pg_has_db busy &&
  test_eq "$(pg_backend_pids t1900_feat-b t1900-hold-b)" "$bpid" && pid_alive $hb &&
  wait_for 10 "! pid_alive $ha" "the client of t1900_feat-a to be disconnected" &&
  ! ls_get feat-a slug >/dev/null &&
  test_eq "$(pgq "select count(*) from items" src)" 3 &&
  no_password down.err &&
  kill $hb &&
  berth down feat-b -q 2>down-b.err &&
  ! pg_has_db t1900_feat-b && test_eq "$(session_count)" 0
'

# --- 2. a source another client is connected to --------------------------------

BUSY=$TEST_ROOT/busy
db_repo "$BUSY" <<EOF_INI
[berth]
prefix = t1900b

[database]
engine = postgres
url = $URL
source = busy
EOF_INI

test_expect_success 'a source with another client connected: up works (first seed by pg_dump, said on stderr); the client keeps its connection' '
  cd "$BUSY" &&
  pg_hold "postgres://$ROLE:$PW@127.0.0.1:$PORT/busy" t1900-hold-src && hp=$HOLD_PID &&
  before=$(pg_backend_pids busy t1900-hold-src) && test -n "$before" &&
  berth up bz1 >bz1.out 2>bz1.err &&
  test_grep "pg_dump" bz1.err &&
  test_eq "$(names bz1 t1900b)" "b1,b2" &&
  pg_has_db t1900b__seed &&
  test_eq "$(pgq "select datallowconn from pg_database where datname = '"'"'t1900b__seed'"'"'")" f &&
  test_eq "$(pg_backend_pids busy t1900-hold-src)" "$before" && pid_alive $hp &&
  t0=$(date +%s) &&
  berth up bz2 >bz2.out 2>bz2.err &&
  test "$(elapsed_since $t0)" -le 10 &&
  test_grep_not "pg_dump" bz2.err &&
  test_eq "$(sq bz2 "select count(*) from items" t1900b)" 2 &&
  test_eq "$(pg_backend_pids busy t1900-hold-src)" "$before" && pid_alive $hp &&
  no_password bz1.err bz2.err
'

test_expect_success 'db refresh and db reset with a busy source: the seed gets the new rows, the client keeps its connection, the sessions keep theirs until reset' '
  cd "$BUSY" &&
  before=$(pg_backend_pids busy t1900-hold-src) && test -n "$before" &&
  pgq "insert into items values (3, '"'"'b3'"'"')" busy &&
  berth db refresh >refresh.out 2>refresh.err &&
  test_eq "$(pg_backend_pids busy t1900-hold-src)" "$before" &&
  berth up bz3 -q 2>bz3.err &&
  test_eq "$(sq bz3 "select count(*) from items" t1900b)" 3 &&
  test_eq "$(sq bz1 "select count(*) from items" t1900b)" 2 &&
  test_eq "$(pgq "select datallowconn from pg_database where datname = '"'"'t1900b__seed'"'"'")" f &&
  sq bz2 "create table scratch (x int)" t1900b &&
  berth db reset bz2 >reset.out 2>reset.err &&
  test_eq "$(sq bz2 "select count(*) from items" t1900b)" 3 &&
  test_eq "$(sq bz2 "select to_regclass('"'"'scratch'"'"') is null" t1900b)" t &&
  test_eq "$(pg_backend_pids busy t1900-hold-src)" "$before" &&
  for s in bz1 bz2 bz3; do berth down $s -q 2>>down.err || return 1; done &&
  test_eq "$(pg_dbs "t1900b_%")" t1900b__seed &&
  test_eq "$(pg_backend_pids busy t1900-hold-src)" "$before" &&
  no_password refresh.err down.err bz3.err reset.err
'
# the holder of busy goes with the exit trap (tracked); end it now
test_kill_tracked

# --- 3. parallel ups ---------------------------------------------------------

# A repository of its own, so that the first round's 8 ups find no seed and
# race to make it.
PAR=$TEST_ROOT/par
db_repo "$PAR" <<EOF_INI
[berth]
prefix = t1900p
max_slots = 16

[database]
engine = postgres
url = $URL
source = src

[hooks]
pre_spawn = psql -X -Atc "select count(*) from items" "\$DATABASE_URL" >"$TEST_ROOT/prespawn.\$BERTH_SLUG"
EOF_INI

test_expect_success '8 parallel ups, 3 rounds (the first one with no seed yet): all exit 0, 8 distinct databases with the source rows; 8 parallel downs drop them all' '
  cd "$PAR" &&
  for round in 1 2 3; do
    rm -f "$TEST_ROOT"/prespawn.par* &&
    pids= &&
    for i in 1 2 3 4 5 6 7 8; do
      berth up par$i -q >par$i.out 2>par$i.err &
      pids="$pids $!"
    done &&
    rcs= &&
    for p in $pids; do wait $p; rcs="$rcs $?"; done &&
    { test_eq "round $round:$rcs" "round $round: 0 0 0 0 0 0 0 0" || { tail -n 5 par*.err; return 1; }; } &&
    test_eq "$(pg_dbs "t1900p_%" | tr "\n" " ")" "t1900p__seed t1900p_par1 t1900p_par2 t1900p_par3 t1900p_par4 t1900p_par5 t1900p_par6 t1900p_par7 t1900p_par8 " &&
    test_eq "$(pgq "select datallowconn from pg_database where datname = '"'"'t1900p__seed'"'"'")" f &&
    for i in 1 2 3 4 5 6 7 8; do
      test_eq "$(sq par$i "select count(*) from items" t1900p)" 3 &&
      test_eq "$(cat "$TEST_ROOT/prespawn.par$i")" 3 || return 1
    done &&
    sq par3 "create table mark3 (x int)" t1900p &&
    test_eq "$(sq par4 "select to_regclass('"'"'mark3'"'"') is null" t1900p)" t &&
    test_eq "$(session_count)" 8 &&
    pids= &&
    for i in 1 2 3 4 5 6 7 8; do
      berth down par$i -q >pd$i.out 2>pd$i.err &
      pids="$pids $!"
    done &&
    rcs= &&
    for p in $pids; do wait $p; rcs="$rcs $?"; done &&
    { test_eq "down round $round:$rcs" "down round $round: 0 0 0 0 0 0 0 0" || { tail -n 5 pd*.err; return 1; }; } &&
    test_eq "$(pg_dbs "t1900p_%")" t1900p__seed && test_eq "$(session_count)" 0 &&
    pg_has_db src && test_eq "$(pgq "select count(*) from items" src)" 3 &&
    no_password par*.err pd*.err || return 1
  done
'

# --- 4. failures: nothing left half made ---------------------------------------

WRONG=$TEST_ROOT/wrong
db_repo "$WRONG" <<EOF_INI
[berth]
prefix = t1900w

[database]
engine = postgres
url = postgres://$ROLE:$BADPW@127.0.0.1:$PORT/postgres
source = src
EOF_INI

test_expect_success 'a wrong password: exit 3, the message names no password, no session, no database, no seed' '
  cd "$WRONG" &&
  test_must_fail code=3 timeout 60 "$BERTH" up w1 >w1.out 2>w1.err &&
  test -s w1.err && { grep -qi "auth\|password" w1.err || { cat w1.err; false; }; } &&
  no_password w1.err w1.out &&
  test_eq "$(session_count)" 0 && test ! -e .berth/worktrees/w1 &&
  test -z "$(pg_dbs "t1900w%")" &&
  test_must_fail code=3 timeout 60 "$BERTH" up w1 --json >w1.json 2>w1j.err &&
  no_password w1.json w1j.err &&
  test_eq "$(session_count)" 0 && test -z "$(pg_dbs "t1900w%")"
'

CLOSED_PORT=$(pg_free_port 41090 41094)
CLOSED=$TEST_ROOT/closed
db_repo "$CLOSED" <<EOF_INI
[berth]
prefix = t1900c

[database]
engine = postgres
url = postgres://$ROLE:$PW@127.0.0.1:$CLOSED_PORT/postgres
source = src
EOF_INI

test_expect_success 'a server that refuses connections (a closed port): exit 6 within 10 s, nothing left' '
  cd "$CLOSED" &&
  ! port_listening $CLOSED_PORT &&
  t0=$(date +%s) &&
  test_must_fail code=6 timeout 60 "$BERTH" up c1 >c1.out 2>c1.err &&
  test "$(elapsed_since $t0)" -le 10 &&
  test -s c1.err && no_password c1.err &&
  test_eq "$(session_count)" 0 && test ! -e .berth/worktrees/c1
'

SILENT=$TEST_ROOT/silent
db_repo "$SILENT" <<EOF_INI
[berth]
prefix = t1900s

[database]
engine = postgres
url = postgres://$ROLE:$PW@127.0.0.1:SILENT_PORT/postgres
source = src
timeout = 2s
EOF_INI

test_expect_success 'a server that takes the connection and never answers: exit 6 within its timeout (2 s, plus 3 s of slack), nothing left' '
  cd "$SILENT" &&
  sport=$(pg_free_port 41095 41099) &&
  sed -i "s/:SILENT_PORT\//:$sport\//" .berth.ini &&
  start_listener $sport &&
  t0=$(date +%s) &&
  test_must_fail code=6 timeout 60 "$BERTH" up s1 >s1.out 2>s1.err &&
  el=$(elapsed_since $t0) && echo "up took ${el}s" &&
  test "$el" -le 5 &&
  test -s s1.err && no_password s1.err &&
  test_eq "$(session_count)" 0 && test ! -e .berth/worktrees/s1 &&
  kill $LISTEN_PID
'

NOCONN=$TEST_ROOT/noconn
db_repo "$NOCONN" <<EOF_INI
[berth]
prefix = t1900q

[database]
engine = postgres
url = postgres://$ROLE:$PW@127.0.0.1:$PORT/no_such_conn_db
source = src
EOF_INI

test_expect_success 'a url naming a database that does not exist (the one berth connects to): exit 3 naming it, nothing left' '
  cd "$NOCONN" &&
  timeout 60 "$BERTH" up q1 >q1.out 2>q1.err; rc=$?
  cat q1.err &&
  test_eq "$(session_count)" 0 && test ! -e .berth/worktrees/q1 &&
  test -z "$(pg_dbs "t1900q%")" &&
  test_grep "no_such_conn_db" q1.err && no_password q1.err &&
  test_eq "$rc" 3
'

MISSING=$TEST_ROOT/missing
db_repo "$MISSING" <<EOF_INI
[berth]
prefix = t1900x

[database]
engine = postgres
url = $URL
source = no_such_db
EOF_INI

test_expect_success 'a missing source: exit 3 naming it, no session, no database, no seed' '
  cd "$MISSING" &&
  test_must_fail code=3 timeout 60 "$BERTH" up x1 >x1.out 2>x1.err &&
  test_grep "no_such_db" x1.err && no_password x1.err &&
  test_eq "$(session_count)" 0 && test ! -e .berth/worktrees/x1 &&
  test -z "$(pg_dbs "t1900x%")"
'

# --- 5. keep, reset, url, env, status, refresh --------------------------------

test_expect_success 'up --json, env --json and .env.berth carry DATABASE_URL and the PG* variables of the session database' '
  berth up keep1 --json >up.json 2>up.err &&
  test_eq "$(json_env up.json PGDATABASE)" t1900_keep1 &&
  test_eq "$(json_env up.json PGHOST)" 127.0.0.1 &&
  test_eq "$(json_env up.json PGPORT)" "$PORT" &&
  test_eq "$(json_env up.json PGUSER)" "$ROLE" &&
  test_eq "$(json_env up.json PGPASSWORD)" "$PW" &&
  url=$(json_env up.json DATABASE_URL) &&
  test_eq "$(psql -X -Atc "select current_database()" "$url")" t1900_keep1 &&
  berth env keep1 --json >env.json &&
  for k in DATABASE_URL PGHOST PGPORT PGDATABASE PGUSER PGPASSWORD; do
    test_eq "$(json_env env.json $k)" "$(json_env up.json $k)" || return 1
  done &&
  envf=.berth/worktrees/keep1/.env.berth &&
  test_grep "^PGDATABASE=t1900_keep1$" $envf && test_grep "^PGUSER=$ROLE$" $envf &&
  test_grep "^DATABASE_URL=" $envf && test_grep "^PGPASSWORD=" $envf &&
  test_eq "$(stat -c %a $envf)" 600 &&
  (eval "$(berth env keep1 --format sh)" && test_eq "$(psql -X -Atc "select count(*) from items")" 3) &&
  no_password up.err
'

test_expect_success 'db url prints the session'"'"'s DATABASE_URL, naming its database' '
  berth db url keep1 >url.out 2>url.err &&
  test_eq "$(wc -l <url.out)" 1 &&
  test_grep "/t1900_keep1" url.out &&
  test_eq "$(cat url.out)" "$(json_env up.json DATABASE_URL)" &&
  test_eq "$(psql -X -Atc "select current_database()" "$(cat url.out)")" t1900_keep1 &&
  test_must_fail code=4 berth db url no-such-session >/dev/null 2>nf.err
'

test_expect_success 'db reset re-clones the session database: what the session made is gone, the source rows are back' '
  sq keep1 "create table scratch (x int); delete from items where id = 1" &&
  test_eq "$(sq keep1 "select count(*) from items")" 2 &&
  berth db reset keep1 >reset.out 2>reset.err &&
  test_eq "$(sq keep1 "select to_regclass('"'"'scratch'"'"') is null")" t &&
  test_eq "$(names keep1)" "one,two,three" &&
  test_eq "$(ls_get keep1 status)" active &&
  no_password reset.err
'

test_expect_success 'down --keep-worktree keeps the database; up resumes on the same database (not re-cloned)' '
  sq keep1 "create table mine (x int); insert into mine values (42)" &&
  berth down keep1 --keep-worktree -q 2>kw.err &&
  test_eq "$(ls_get keep1 status)" stopped && pg_has_db t1900_keep1 &&
  berth up keep1 -q 2>kw-up.err &&
  test_eq "$(sq keep1 "select x from mine")" 42 &&
  no_password kw.err kw-up.err
'

test_expect_success 'down --keep-database removes the session and keeps its database' '
  berth down keep1 --keep-database -q 2>kd.err &&
  ! ls_get keep1 slug >/dev/null && test ! -e .berth/worktrees/keep1 &&
  pg_has_db t1900_keep1 &&
  test_eq "$(sq keep1 "select x from mine")" 42 &&
  pgq "drop database \"t1900_keep1\""
'

test_expect_success 'db status lists the server and each session database (exists, size, connections); status shows it' '
  berth up st1 -q 2>st-up.err && berth up st2 -q 2>>st-up.err &&
  pg_hold "$(surl st2)" t1900-hold-st2 &&
  wait_for 10 "test -z \"\$(pg_backend_pids t1900_st1)\" && test \$(pg_backend_pids t1900_st2 | wc -l) = 1" \
    "the pre_spawn hooks'"'"' connections to be gone" &&
  berth db status >dbs.out 2>dbs.err &&
  test_grep "127.0.0.1" dbs.out && test_grep "$PORT" dbs.out &&
  test_grep "t1900_st1" dbs.out && test_grep "t1900_st2" dbs.out &&
  berth db status --json >dbs.json 2>dbsj.err &&
  json_has dbs.json t1900_st1 t1900_st2 &&
  db_status_has dbs.json t1900_st1 0 && db_status_has dbs.json t1900_st2 1 &&
  berth status st1 >st.out 2>st.err &&
  test_grep "t1900_st1" st.out &&
  berth status st1 --json >st.json 2>stj.err &&
  test_eq "$(json_get st.json "d[\"database\"][\"name\"]")" t1900_st1 &&
  no_password dbs.out dbs.err dbs.json dbsj.err st.out st.err st.json stj.err &&
  kill $HOLD_PID
'

test_expect_success 'db refresh: a session made after it has the source'"'"'s new rows; existing sessions are untouched' '
  pgq "insert into items values (10, '"'"'ten'"'"')" src &&
  berth db refresh >refresh.out 2>refresh.err &&
  berth up fresh1 -q 2>fresh.err &&
  test_eq "$(sq fresh1 "select count(*) from items")" 4 &&
  test_eq "$(sq st1 "select count(*) from items")" 3 &&
  test_eq "$(pgq "select datallowconn from pg_database where datname = '"'"'t1900__seed'"'"'")" f &&
  pgq "delete from items where id = 10" src &&
  no_password refresh.err fresh.err
'

TWIN=$TEST_ROOT/twin
db_repo "$TWIN" <<EOF_INI
[berth]
prefix = t1900

[database]
engine = postgres
url = $URL
source = src
EOF_INI

test_expect_success 'another repository with the same prefix on the same server (a second clone): its up does not take over a live session'"'"'s database, its down never drops it' '
  berth up twin-a -q 2>twin-a.err &&
  sq twin-a "create table work_of_a (x int); insert into work_of_a values (1)" &&
  (cd "$TWIN" && timeout 60 "$BERTH" up twin-a --json >"$TEST_ROOT/twin.json" 2>"$TEST_ROOT/twin.err"); rc=$?
  echo "the twin'"'"'s up exited $rc" &&
  if [ $rc = 0 ]; then
    other=$(json_env "$TEST_ROOT/twin.json" PGDATABASE) &&
    (cd "$TWIN" && timeout 60 "$BERTH" down twin-a -q) 2>"$TEST_ROOT/twin-down.err"
  fi
  test_eq "$(sq twin-a "select x from work_of_a")" 1 &&
  test_eq "$(ls_get twin-a status)" active &&
  if [ $rc = 0 ]; then
    test "$other" != t1900_twin-a
  else
    test_eq $rc 5 && (cd "$TWIN" && test_eq "$(session_count)" 0 && test ! -e .berth/worktrees/twin-a) &&
    no_password "$TEST_ROOT/twin.err" && cat "$TEST_ROOT/twin.err"
  fi &&
  berth down twin-a -q && ! pg_has_db t1900_twin-a
'

test_expect_success 'shutdown with a url server: every session database dropped, the server left running' '
  berth shutdown >sd.out 2>sd.err &&
  test_eq "$(session_count)" 0 &&
  test -z "$(pg_dbs "t1900_%" | grep -v "^t1900__seed$")" &&
  test_eq "$(pgq "select 1")" 1 && pg_has_db src &&
  no_password sd.out sd.err
'

# --- 6. rollback, crashes and odd inputs ---------------------------------------

KREPO=$TEST_ROOT/kill
db_repo "$KREPO" <<EOF_INI
[berth]
prefix = t1900k

[database]
engine = postgres
url = $URL
source = src

[hooks]
pre_spawn = test ! -e "$TEST_ROOT/fail-pre-spawn"
EOF_INI

test_expect_success 'a failing pre_spawn rolls the up back: the database it created is dropped' '
  cd "$KREPO" &&
  touch "$TEST_ROOT/fail-pre-spawn" &&
  test_must_fail code=1 berth up k0 -q 2>k0.err &&
  rm "$TEST_ROOT/fail-pre-spawn" &&
  ! ls_get k0 slug >/dev/null && ! pg_has_db t1900k_k0
'

test_expect_success 'Ctrl-C of up right after it created the database: the rollback drops it (exit 130)' '
  cd "$KREPO" &&
  berth_start_paused database up k5 &&
  pg_has_db t1900k_k5 &&
  kill -INT $PAUSED_PID &&
  wait_for 20 "! pid_alive $PAUSED_PID" "up to exit after SIGINT" &&
  { wait $PAUSED_PID; rc=$?; } && test_eq $rc 130 &&
  ! pg_has_db t1900k_k5 && ! ls_get k5 slug >/dev/null
'

test_expect_success 'up killed (SIGKILL) after the seed was copied, before it became the seed: there is no seed; down recovers; the next up makes the seed' '
  cd "$KREPO" &&
  { ! pg_has_db t1900k__seed || pgq "alter database \"t1900k__seed\" is_template false"; } &&
  pgq "drop database if exists \"t1900k__seed\"" &&
  berth_crash_at seed-copied up k1 &&
  ! pg_has_db t1900k__seed && ! pg_has_db t1900k_k1 &&
  berth down k1 -q 2>k1down.err &&
  ! ls_get k1 slug >/dev/null && ! pg_has_db t1900k_k1 &&
  berth up k2 -q 2>k2.err &&
  test_eq "$(sq k2 "select count(*) from items" t1900k)" 3 &&
  pg_has_db t1900k__seed && test -z "$(pg_dbs "t1900k__seed_%")" &&
  test_eq "$(pgq "select datallowconn from pg_database where datname = '"'"'t1900k__seed'"'"'")" f &&
  berth down k2 -q && ! pg_has_db t1900k_k2
'

test_expect_success 'up killed (SIGKILL) right after it created the database: down drops it; up of such a session resumes with it' '
  cd "$KREPO" &&
  berth_crash_at database up k3 &&
  pg_has_db t1900k_k3 && test_eq "$(ls_get k3 status)" crashed-op &&
  berth down k3 -q 2>k3down.err &&
  ! pg_has_db t1900k_k3 && ! ls_get k3 slug >/dev/null &&
  berth_crash_at database up k4 &&
  pg_has_db t1900k_k4 &&
  berth up k4 -q 2>k4.err &&
  test_eq "$(ls_get k4 status)" active &&
  test_eq "$(sq k4 "select count(*) from items" t1900k)" 3 &&
  berth down k4 -q && ! pg_has_db t1900k_k4 && ! ls_get k4 slug >/dev/null
'

test_expect_success 'db reset ends the session'"'"'s own connections; db reset of a stopped session is refused (exit 5)' '
  cd "$KREPO" &&
  berth up k6 -q 2>k6.err &&
  sq k6 "create table gone_after_reset (x int)" t1900k &&
  pg_hold "$(surl k6 t1900k)" t1900-hold-k6 && h6=$HOLD_PID &&
  berth db reset k6 -q >reset.out 2>reset.err &&
  wait_for 10 "! pid_alive $h6" "the client of t1900k_k6 to be disconnected" &&
  test_eq "$(sq k6 "select to_regclass('"'"'gone_after_reset'"'"') is null" t1900k)" t &&
  berth down k6 --keep-worktree -q &&
  test_must_fail code=5 berth db reset k6 >reset2.out 2>reset2.err &&
  pg_has_db t1900k_k6 &&
  berth down k6 -q && ! pg_has_db t1900k_k6
'

test_expect_success 'down killed (SIGKILL) after it stopped the session, before the drop: the database is still there; down again drops it' '
  cd "$KREPO" &&
  berth up k15 -q 2>k15.err &&
  berth_crash_at down-stopped down k15 &&
  pg_has_db t1900k_k15 &&
  berth down k15 -q 2>k15down.err &&
  ! pg_has_db t1900k_k15 && ! ls_get k15 slug >/dev/null
'

test_expect_success 'watch --once resolves an up killed after it created the database: the database is dropped' '
  cd "$KREPO" &&
  berth_crash_at database up k8 &&
  pg_has_db t1900k_k8 && test_eq "$(ls_get k8 status)" crashed-op &&
  berth watch --once >once.out 2>once.err &&
  ! ls_get k8 slug >/dev/null && ! pg_has_db t1900k_k8
'

test_expect_success 'down of a worktree with uncommitted work is refused (exit 7) and keeps the database; stop keeps it; up resumes with it' '
  cd "$KREPO" &&
  berth up k9 -q 2>k9.err &&
  sq k9 "create table precious (x int); insert into precious values (9)" t1900k &&
  echo draft >.berth/worktrees/k9/draft.txt &&
  test_must_fail code=7 berth down k9 >k9down.out 2>k9down.err &&
  pg_has_db t1900k_k9 && test_eq "$(ls_get k9 status)" active &&
  berth stop k9 -q 2>k9stop.err &&
  test_eq "$(ls_get k9 status)" stopped && pg_has_db t1900k_k9 &&
  berth up k9 -q 2>k9up.err &&
  test_eq "$(sq k9 "select x from precious" t1900k)" 9 &&
  test_must_fail code=7 berth shutdown >k9sd.out 2>k9sd.err &&
  test_eq "$(ls_get k9 status)" stopped && pg_has_db t1900k_k9 &&
  test_eq "$(sq k9 "select x from precious" t1900k)" 9 &&
  berth down k9 --force -q 2>k9force.err &&
  ! pg_has_db t1900k_k9 && ! ls_get k9 slug >/dev/null
'

test_expect_success 'exec, and db url inside the worktree, give the session'"'"'s database' '
  cd "$KREPO" &&
  berth up k10 -q 2>k10.err &&
  test_eq "$(berth exec k10 -- psql -X -Atc "select current_database()")" t1900k_k10 &&
  (cd .berth/worktrees/k10 && berth db url) >k10.url &&
  test_grep "/t1900k_k10" k10.url &&
  berth down k10 -q && ! pg_has_db t1900k_k10
'

test_expect_success 'another role connected to a session database: down exits 1, keeps the session (stopped) and the database, and does not blame the login; once that client is gone, down drops it' '
  cd "$KREPO" &&
  pgq "create role t1900_other login password '"'"'$PW'"'"'" &&
  berth up k11 -q 2>k11.err &&
  pgq "grant connect on database \"t1900k_k11\" to t1900_other" &&
  pg_hold "postgres://t1900_other:$PW@127.0.0.1:$PORT/t1900k_k11" t1900-hold-other && ho=$HOLD_PID &&
  test_must_fail code=1 timeout 60 "$BERTH" down k11 >k11down.out 2>k11down.err &&
  test_eq "$(ls_get k11 status)" stopped && pg_has_db t1900k_k11 &&
  no_password k11down.err &&
  kill $ho &&
  wait_for 10 "test -z \"\$(pg_backend_pids t1900k_k11)\"" "the other role'"'"'s connection to end" &&
  berth down k11 -q 2>k11down2.err &&
  ! pg_has_db t1900k_k11 && ! ls_get k11 slug >/dev/null &&
  test_grep_not "fix the user or password" k11down.err &&
  test_grep_not "once the database server answers" k11down.err
'

FOREIGN=$TEST_ROOT/foreign
pgq "create database src_foreign" &&
pgq "create table items (id int primary key, name text); insert into items values (1, 'f1'); grant select on items to $ROLE" src_foreign
db_repo "$FOREIGN" <<EOF_INI
[berth]
prefix = t1900f

[database]
engine = postgres
url = $URL
source = src_foreign
EOF_INI

test_expect_success 'a source owned by another role (readable by berth'"'"'s role): up copies it, or exits 3 saying what is wrong, not that the login is; nothing left on failure' '
  cd "$FOREIGN" &&
  timeout 60 "$BERTH" up f1 >f1.out 2>f1.err; rc=$?
  no_password f1.err &&
  if [ $rc = 0 ]; then
    test_eq "$(names f1 t1900f)" f1 && berth down f1 -q
  else
    test_eq $rc 3 &&
    test_eq "$(session_count)" 0 && test -z "$(pg_dbs "t1900f%")" &&
    test_grep_not "fix the user or password" f1.err
  fi
'

test_expect_success 'a stopped session whose database was dropped by hand: up makes it again from the source' '
  cd "$KREPO" &&
  berth up k12 -q 2>k12.err && berth down k12 --keep-worktree -q &&
  pgq "drop database \"t1900k_k12\"" &&
  berth up k12 -q 2>k12up.err &&
  test_eq "$(sq k12 "select count(*) from items" t1900k)" 3 &&
  berth down k12 -q && ! pg_has_db t1900k_k12
'

test_expect_success 'db refresh killed (SIGKILL) after its copy, before the swap: the old seed stays whole; up clones it; the next refresh works' '
  cd "$KREPO" &&
  pg_has_db t1900k__seed &&
  pgq "insert into items values (20, '"'"'twenty'"'"')" src &&
  berth_crash_at seed-copied db refresh &&
  pg_has_db t1900k__seed &&
  test_eq "$(pgq "select datallowconn from pg_database where datname = '"'"'t1900k__seed'"'"'")" f &&
  berth up k13 -q 2>k13.err &&
  test_eq "$(sq k13 "select count(*) from items" t1900k)" 3 &&
  berth db refresh >rf.out 2>rf.err &&
  berth up k14 -q 2>k14.err &&
  test_eq "$(sq k14 "select count(*) from items" t1900k)" 4 &&
  pg_has_db t1900k__seed && pg_has_db t1900k_k13 && pg_has_db t1900k_k14 &&
  test -z "$(pg_dbs "t1900k__seed_%")" &&
  berth down k13 -q && berth down k14 -q &&
  pgq "delete from items where id = 20" src
'

test_expect_success 'a slug too long for a PostgreSQL name: a name of at most 63 bytes, distinct from a slug sharing its start; down drops it' '
  cd "$KREPO" &&
  long1=aaaaaaaaaa-bbbbbbbbbb-cccccccccc-dddddddddd-eeeeeeeeee-fff1 &&
  long2=aaaaaaaaaa-bbbbbbbbbb-cccccccccc-dddddddddd-eeeeeeeeee-fff2 &&
  berth up $long1 --json >l1.json 2>l1.err && berth up $long2 --json >l2.json 2>l2.err &&
  n1=$(json_env l1.json PGDATABASE) && n2=$(json_env l2.json PGDATABASE) &&
  test "${#n1}" -le 63 && test "${#n2}" -le 63 && test "$n1" != "$n2" &&
  pg_has_db "$n1" && pg_has_db "$n2" &&
  test_eq "$(psql -X -Atc "select current_database()" "$(json_env l1.json DATABASE_URL)")" "$n1" &&
  berth down $long1 -q && ! pg_has_db "$n1" && pg_has_db "$n2" &&
  berth down $long2 -q && ! pg_has_db "$n2"
'

test_expect_success 'a password with URL-escaped characters: PGPASSWORD is the password itself, both DATABASE_URL and the PG* variables connect; neither form is printed' '
  pgq "create role t1900_odd login createdb password '"'"'p@ss:w/rd%x'"'"'" &&
  mkdir -p "$TEST_ROOT/odd" && cd "$TEST_ROOT/odd" &&
  printf "[berth]\nprefix = t1900o\n\n[database]\nengine = postgres\nurl = postgres://t1900_odd:p%%40ss%%3Aw%%2Frd%%25x@127.0.0.1:%s/postgres\n" "$PORT" |
    db_repo "$TEST_ROOT/odd" &&
  berth up o1 --json >o1.json 2>o1.err &&
  test_eq "$(json_env o1.json PGPASSWORD)" "p@ss:w/rd%x" &&
  test_eq "$(psql -X -Atc "select current_user" "$(json_env o1.json DATABASE_URL)")" t1900_odd &&
  (eval "$(berth env o1 --format sh)" && test_eq "$(psql -X -Atc "select current_database()")" t1900o_o1) &&
  berth events >o.events 2>&1 && berth config show >o.config 2>&1 && berth db status >o.dbs 2>&1 &&
  for f in o1.err o.events o.config o.dbs; do
    if grep -F -e "p@ss:w/rd%x" -e "p%40ss" "$f"; then echo "the password is in $f" >&2; return 1; fi
  done &&
  berth down o1 -q && ! pg_has_db t1900o_o1
'

test_expect_success 'config show and validate print the url with *** for the password' '
  berth config show >cs.out 2>cs.err && berth validate >v.out 2>v.err &&
  test_grep "127.0.0.1:$PORT" cs.out && test_grep "\*\*\*" cs.out &&
  no_password cs.out cs.err v.out v.err
'

NOCREATE=$TEST_ROOT/nocreate
pgq "create role t1900_nocreate login password '$PW'"
db_repo "$NOCREATE" <<EOF_INI
[berth]
prefix = t1900n

[database]
engine = postgres
url = postgres://t1900_nocreate:$PW@127.0.0.1:$PORT/postgres
EOF_INI

test_expect_success 'a role without CREATEDB: exit 3 saying so, no session, no database' '
  cd "$NOCREATE" &&
  test_must_fail code=3 timeout 60 "$BERTH" up n1 >n1.out 2>n1.err &&
  { grep -qi "createdb\|permission" n1.err || { cat n1.err; false; }; } &&
  no_password n1.err &&
  test_eq "$(session_count)" 0 && test -z "$(pg_dbs "t1900n%")"
'

test_expect_success 'a changed source: the seed is made again from the new source for the next session' '
  cd "$KREPO" &&
  pgq "create database src2 owner $ROLE" &&
  pgq "create table items (id int primary key, name text); insert into items values (7, '"'"'seven'"'"'); alter table items owner to $ROLE" src2 &&
  sed -i "s/^source = src$/source = src2/" .berth.ini &&
  berth up k7 -q 2>k7.err &&
  test_eq "$(names k7 t1900k)" seven &&
  berth down k7 -q && sed -i "s/^source = src2$/source = src/" .berth.ini
'

test_expect_success 'flush --yes with a url server drops the seed and every session database of the repository, nothing else' '
  cd "$BUSY" &&
  berth up bzf -q 2>bzf.err && pg_has_db t1900b_bzf && pg_has_db t1900b__seed &&
  berth flush --yes >fl.out 2>fl.err &&
  test -z "$(pg_dbs "t1900b_%")" &&
  pg_has_db busy && pg_has_db t1900__seed && pg_has_db src &&
  no_password fl.out fl.err
'

test_expect_success '8 parallel ups on a busy source with no seed yet: one pg_dump copy, all exit 0, the other client keeps its connection' '
  cd "$BUSY" &&
  pg_hold "postgres://$ROLE:$PW@127.0.0.1:$PORT/busy" t1900-hold-src2 && hp=$HOLD_PID &&
  before=$(pg_backend_pids busy t1900-hold-src2) && test -n "$before" &&
  ! pg_has_db t1900b__seed &&
  pids= &&
  for i in 1 2 3 4 5 6 7 8; do
    berth up bp$i >bp$i.out 2>bp$i.err &
    pids="$pids $!"
  done &&
  rcs= &&
  for p in $pids; do wait $p; rcs="$rcs $?"; done &&
  { test_eq "$rcs" " 0 0 0 0 0 0 0 0" || { tail -n 5 bp*.err; return 1; }; } &&
  test_eq "$(cat bp*.err | grep -c "pg_dump")" 1 &&
  for i in 1 2 3 4 5 6 7 8; do
    test_eq "$(sq bp$i "select count(*) from items" t1900b)" 3 || return 1
  done &&
  test_eq "$(pg_backend_pids busy t1900-hold-src2)" "$before" && pid_alive $hp &&
  berth shutdown -q >bsd.out 2>bsd.err &&
  test -z "$(pg_dbs "t1900b_bp%")" &&
  kill $hp
'

DOWNREPO=$TEST_ROOT/serverdown
db_repo "$DOWNREPO" <<EOF_INI
[berth]
prefix = t1900d

[database]
engine = postgres
url = $URL
source = src
timeout = 3s
EOF_INI

test_expect_success 'the url server stopped: down keeps the session (stopped) and exits 1; a resume exits 6 and keeps it and its database; once the server is back, up and down work' '
  cd "$DOWNREPO" &&
  berth up d1 -q 2>d1.err &&
  sq d1 "create table keepme (x int); insert into keepme values (7)" t1900d &&
  as_pg_owner "$PG_BINDIR/pg_ctl" -D "$PGC_DIR/data" -m fast -w stop >/dev/null &&
  ! port_listening $PORT &&
  t0=$(date +%s) &&
  test_must_fail code=1 timeout 60 "$BERTH" down d1 >d1down.out 2>d1down.err &&
  test "$(elapsed_since $t0)" -le 10 &&
  test_eq "$(ls_get d1 status)" stopped && test -d .berth/worktrees/d1 &&
  test_must_fail code=6 timeout 60 "$BERTH" db status >dbs.out 2>dbs.err &&
  test_must_fail code=6 timeout 60 "$BERTH" up d1 >d1up.out 2>d1up.err &&
  test_eq "$(ls_get d1 status)" stopped && test -d .berth/worktrees/d1 &&
  no_password d1down.err d1up.err dbs.out dbs.err &&
  as_pg_owner "$PG_BINDIR/pg_ctl" -D "$PGC_DIR/data" -l "$PGC_DIR/log" -w -t 60 \
    -o "-p $PORT -k $PGC_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100" \
    start >/dev/null &&
  test_eq "$(sq d1 "select x from keepme" t1900d)" 7 &&
  berth up d1 -q 2>d1up2.err && test_eq "$(ls_get d1 status)" active &&
  test_eq "$(sq d1 "select x from keepme" t1900d)" 7 &&
  berth down d1 -q 2>d1down2.err && ! pg_has_db t1900d_d1 && test_eq "$(session_count)" 0
'
# the cluster must be up for what follows, whatever that test did
if ! pgq "select 1" >/dev/null 2>&1; then
  as_pg_owner "$PG_BINDIR/pg_ctl" -D "$PGC_DIR/data" -l "$PGC_DIR/log" -w -t 60 \
    -o "-p $PORT -k $PGC_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100" \
    start >/dev/null 2>&1
fi

# --- 7. managed server ---------------------------------------------------------

MPORT=$(pg_free_port 41050 41069)
MREPO=$TEST_ROOT/managed
db_repo "$MREPO" <<EOF_INI
[database]
engine = postgres
port = $MPORT
EOF_INI
# Where berth puts the cluster when the server's user cannot reach .berth/pg
# (this test's directory is root's, 0700): the exit trap stops and removes it.
pg_track_dir "/var/lib/berth/$(root_id_of "$MREPO")"

test_expect_success 'managed (no url): up initdbs and starts the repository'"'"'s own server; DATABASE_URL connects' '
  cd "$MREPO" &&
  { berth up m1 --json >m1.json 2>m1.err || { cat m1.err; false; }; } &&
  test -d .berth/pg &&
  url=$(json_env m1.json DATABASE_URL) && test -n "$url" &&
  test_eq "$(psql -X -Atc "select 1" "$url")" 1 &&
  db=$(json_env m1.json PGDATABASE) &&
  case $db in *_m1) ;; *) echo "PGDATABASE $db" >&2; false ;; esac &&
  test_eq "$(psql -X -Atc "select current_database()" "$url")" "$db" &&
  mport=$(json_env m1.json PGPORT) && test -n "$mport" && echo "$mport" >"$TEST_ROOT/mport" &&
  dd=$(server_datadir $mport) && test -n "$dd" && echo "$dd" >"$TEST_ROOT/mdata" &&
  test -n "$(postmaster_pids "$dd")" &&
  pm=$(head -n 1 "$dd/postmaster.pid") && pid_alive "$pm" &&
  test_eq "$(stat -c %a .berth/pg/password)" 600 &&
  test_eq "$(cat .berth/pg/password)" "$(json_env m1.json PGPASSWORD)" &&
  if [ "$(id -u)" = 0 ]; then test_eq "$(stat -c %U /proc/$pm)" "$PG_OWNER"; fi
'

test_expect_success 'managed: a second session has its own database; down drops it and the server goes on' '
  cd "$MREPO" &&
  berth up m2 --json >m2.json 2>m2.err &&
  u1=$(json_env m1.json DATABASE_URL) && u2=$(json_env m2.json DATABASE_URL) &&
  d2=$(json_env m2.json PGDATABASE) &&
  test "$u1" != "$u2" &&
  psql -X -q -Atc "create table in_m1 (x int)" "$u1" &&
  test_eq "$(psql -X -Atc "select to_regclass('"'"'in_m1'"'"') is null" "$u2")" t &&
  berth down m2 -q 2>m2down.err &&
  test_eq "$(psql -X -Atc "select count(*) from pg_database where datname = '"'"'$d2'"'"'" "$u1")" 0 &&
  test_eq "$(psql -X -Atc "select 1" "$u1")" 1
'

test_expect_success 'managed: its password (if any) is in no event, log or stderr' '
  cd "$MREPO" &&
  mpw=$(json_env m1.json PGPASSWORD) &&
  if [ -n "$mpw" ]; then
    { berth events; berth events --json; } >mev.txt 2>&1 &&
    for f in mev.txt m1.err m2.err m2down.err .berth/logs; do
      if grep -rF -e "$mpw" "$f" >/dev/null; then echo "the managed password is in $f" >&2; return 1; fi
    done
  fi
'

test_expect_success 'managed: a killed server (SIGKILL of the postmaster) is started again by its shim; the sessions connect again, data kept' '
  cd "$MREPO" &&
  dd=$(cat "$TEST_ROOT/mdata") && pm=$(head -n 1 "$dd/postmaster.pid") && pid_alive $pm &&
  u1=$(json_env m1.json DATABASE_URL) &&
  kill -9 $pm &&
  wait_for 60 "psql -X -Atc \"select 1\" \"$u1\" >/dev/null 2>&1 && ! pid_alive $pm" "the managed server to answer again" &&
  pm2=$(head -n 1 "$dd/postmaster.pid") && test "$pm2" != "$pm" &&
  test_eq "$(psql -X -Atc "select to_regclass('"'"'in_m1'"'"') is not null" "$u1")" t
'

test_expect_success 'managed: the server'"'"'s supervisor killed (SIGKILL of its shim): the next up stops what it left and runs exactly one server again; data kept' '
  cd "$MREPO" &&
  dd=$(cat "$TEST_ROOT/mdata") && pm=$(head -n 1 "$dd/postmaster.pid") && pid_alive $pm &&
  shim=$(sed -n "s/^PPid:[[:space:]]*//p" /proc/$pm/status) && test -n "$shim" && test "$shim" -gt 1 &&
  kill -9 $shim &&
  wait_for 10 "! pid_alive $shim" "the shim to die" &&
  { berth up m4 --json >m4.json 2>m4.err || { cat m4.err; false; }; } &&
  test_eq "$(psql -X -Atc "select 1" "$(json_env m4.json DATABASE_URL)")" 1 &&
  test_eq "$(ss -Hltn "sport = :$(cat "$TEST_ROOT/mport")" | wc -l)" 1 &&
  pm2=$(head -n 1 "$dd/postmaster.pid") && pid_alive $pm2 &&
  ppid2=$(sed -n "s/^PPid:[[:space:]]*//p" /proc/$pm2/status) &&
  echo "server $pm2, its parent $ppid2 ($(cat /proc/$ppid2/comm))" &&
  test "$ppid2" -gt 1 && test "$ppid2" != "$shim" && test "$(cat /proc/$ppid2/comm)" != postgres &&
  u1=$(json_env m1.json DATABASE_URL) &&
  test_eq "$(psql -X -Atc "select to_regclass('"'"'in_m1'"'"') is not null" "$u1")" t &&
  berth down m4 -q
'

test_expect_success 'managed: shutdown leaves no process of the server'"'"'s data directory' '
  cd "$MREPO" &&
  dd=$(cat "$TEST_ROOT/mdata") && test -n "$(postmaster_pids "$dd")" &&
  berth shutdown >sd.out 2>sd.err &&
  test_eq "$(session_count)" 0 &&
  wait_for 10 "test -z \"\$(postmaster_pids \"$dd\")\"" "the managed server to be gone" &&
  ! port_listening $(cat "$TEST_ROOT/mport")
'

test_expect_success 'managed: up after shutdown starts the server again; flush --yes stops it and removes its files' '
  cd "$MREPO" &&
  dd=$(cat "$TEST_ROOT/mdata") &&
  berth up m3 --json >m3.json 2>m3.err &&
  test_eq "$(psql -X -Atc "select 1" "$(json_env m3.json DATABASE_URL)")" 1 &&
  echo "$(json_env m3.json PGPORT)" >"$TEST_ROOT/mport" &&
  test_eq "$(server_datadir $(cat "$TEST_ROOT/mport"))" "$dd" &&
  test -n "$(postmaster_pids "$dd")" &&
  berth flush --yes >fl.out 2>fl.err &&
  test -z "$(postmaster_pids "$dd")" &&
  test ! -e .berth/pg && test ! -e "$dd" && ! port_listening $(cat "$TEST_ROOT/mport")
'

test_expect_success 'managed, from nothing: 4 parallel ups start one server, all exit 0 with 4 databases; flush clears it' '
  cd "$MREPO" &&
  test ! -e .berth/pg &&
  pids= &&
  for i in 1 2 3 4; do
    berth up mp$i --json >mp$i.json 2>mp$i.err &
    pids="$pids $!"
  done &&
  rcs= &&
  for p in $pids; do wait $p; rcs="$rcs $?"; done &&
  { test_eq "$rcs" " 0 0 0 0" || { tail -n 5 mp*.err; return 1; }; } &&
  mport=$(json_env mp1.json PGPORT) && test -n "$mport" &&
  test_eq "$(ss -Hltn "sport = :$mport" | wc -l)" 1 &&
  for i in 1 2 3 4; do
    test_eq "$(psql -X -Atc "select current_database()" "$(json_env mp$i.json DATABASE_URL)")" "$(json_env mp$i.json PGDATABASE)" &&
    test_eq "$(json_env mp$i.json PGPORT)" $mport || return 1
  done &&
  dd=$(server_datadir $mport) &&
  berth flush --yes >fl2.out 2>fl2.err &&
  test -z "$(postmaster_pids "$dd")" && test ! -e .berth/pg && ! port_listening $mport
'

BREPO=$TEST_ROOT/bump
db_repo "$BREPO" <<EOF_INI
[database]
engine = postgres
port = BPORT
EOF_INI
pg_track_dir "/var/lib/berth/$(root_id_of "$BREPO")"

test_expect_success 'managed: a port in use is not taken: the server listens on another one, which the session is given' '
  cd "$BREPO" &&
  BPORT=$(pg_free_port 41040 41049) &&
  sed -i "s/^port = BPORT$/port = $BPORT/" .berth.ini &&
  start_listener $BPORT &&
  { berth up b1 --json >b1.json 2>b1.err || { cat b1.err; false; }; } &&
  bp=$(json_env b1.json PGPORT) && test -n "$bp" && test "$bp" != $BPORT &&
  test_eq "$(psql -X -Atc "select current_database()" "$(json_env b1.json DATABASE_URL)")" "$(json_env b1.json PGDATABASE)" &&
  pid_alive $LISTEN_PID &&
  berth flush --yes >fl.out 2>fl.err &&
  ! port_listening $bp && test ! -e .berth/pg &&
  kill $LISTEN_PID
'

# As a plain user: a repository and a home of nobody's own under /tmp (the
# test's directory is root's, 0700), berth run with runuser.
nobody_why=
if [ "$(id -u)" != 0 ]; then
  nobody_why="the suite does not run as root: the managed tests above ran as $(id -un), a plain user"
elif ! command -v runuser >/dev/null 2>&1 || ! id nobody >/dev/null 2>&1; then
  nobody_why="runuser or the user nobody is missing"
elif ! runuser -u nobody -- test -x "$BERTH" || ! runuser -u nobody -- test -x "${BERTH_SHIM:-$BERTH}"; then
  nobody_why="the user nobody cannot run $BERTH (its build directory is not open to others)"
elif ! runuser -u nobody -- test -x "$PG_BINDIR/initdb"; then
  nobody_why="the user nobody cannot run $PG_BINDIR/initdb"
fi
if [ -z "$nobody_why" ]; then
NB=$(mktemp -d /tmp/berth-t1900-nobody.XXXXXX)
pg_track_dir "$NB"
chmod 755 "$NB" && chown nobody: "$NB"
NPORT=$(pg_free_port 41070 41089)
# asnb CMD...: CMD as nobody, with a home and runtime dir of its own.
asnb() {
  runuser -u nobody -- env HOME="$NB/home" XDG_CONFIG_HOME="$NB/home/.config" \
    XDG_DATA_HOME="$NB/home/.local/share" XDG_STATE_HOME="$NB/home/.local/state" \
    XDG_CACHE_HOME="$NB/home/.cache" XDG_RUNTIME_DIR="$NB/run" "$@"
}
asnb sh -c 'mkdir -p "$HOME" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"'
printf '[database]\nengine = postgres\nport = %s\n' "$NPORT" | asnb sh -c "
  mkdir '$NB/repo' && cd '$NB/repo' && git init -q -b main && echo hello >README &&
  printf '.berth/\n' >.gitignore && cat >.berth.ini && git add -A && git commit -q -m initial"

test_expect_success 'managed, as a plain user (nobody): up starts the server as nobody, DATABASE_URL connects; shutdown leaves no process of it' '
  asnb sh -c "cd \"$NB/repo\" && exec \"$BERTH\" up n1 --json" >n1.json 2>n1.err &&
  url=$(json_env n1.json DATABASE_URL) && test -n "$url" &&
  test_eq "$(psql -X -Atc "select 1" "$url")" 1 &&
  nport=$(json_env n1.json PGPORT) && test -n "$nport" &&
  dd=$(server_datadir $nport) && test -n "$dd" &&
  pm=$(head -n 1 "$dd/postmaster.pid") && test_eq "$(stat -c %U /proc/$pm)" nobody &&
  asnb sh -c "cd \"$NB/repo\" && exec \"$BERTH\" shutdown" >nsd.out 2>nsd.err &&
  wait_for 10 "test -z \"\$(postmaster_pids \"$dd\")\"" "nobody'"'"'s managed server to be gone" &&
  ! port_listening $nport
'
else
  test_skip 'managed, as a plain user (nobody)' "$nobody_why"
fi

# --- 8. the password stays out of the record -----------------------------------

test_expect_success 'the password is in no event (berth events, --json) and in no log of any repository of this test' '
  for d in "$REPO" "$BUSY" "$PAR" "$WRONG" "$CLOSED" "$SILENT" "$MISSING" "$KREPO" "$NOCREATE" "$DOWNREPO" "$FOREIGN" "$TWIN" "$NOCONN"; do
    (cd "$d" && { berth events; berth events --json; } >"$TEST_ROOT/events.txt" 2>&1; true) &&
    no_password "$TEST_ROOT/events.txt" "$d/.berth/logs" "$d/.berth/watch.log" || return 1
  done &&
  (cd "$REPO" && berth events) >ev.txt && test_grep "feat-a" ev.txt &&
  no_password ev.txt &&
  find "$TEST_ROOT" -name "*.err" -type f >errs &&
  test -s errs &&
  no_password $(cat errs)
'

test_done
