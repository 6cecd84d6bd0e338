#!/bin/sh
# Operating services as people do (issue 13): each service its own $PORT;
# port_env = PORT refused with file:line; stop and start of one service
# leave the others alone; start waits for readiness and fails like up;
# up --services brings dependencies; stops go dependents first (observed in
# the event log); a service's own stop_grace; user = runs a service as
# another user; the post_create hook runs once per created worktree, and
# again after a kill before it finished.
. "$BERTH_SRCDIR/tests/lib.sh"

: "${BERTH_TEST_LISTEN:?}"
B=40000
ROOT_ID=

# A service that takes 300 ms to go after TERM, so that an order shows.
cat >"$TEST_ROOT/slow.sh" <<'EOF_SH'
trap 'sleep 0.3; exit 0' TERM
"$BERTH_TEST_LISTEN" "$PORT" &
wait
wait
EOF_SH

setup_repo <<EOF_INI
[berth]
mode = host
max_slots = 4
port_search_range = 1
stop_grace = 10s

[service "db"]
command = exec sh $TEST_ROOT/slow.sh
base_port = $B

[service "api"]
command = exec sh $TEST_ROOT/slow.sh
base_port = $((B + 10))
depends_on = db

[service "web"]
command = exec sh $TEST_ROOT/slow.sh
base_port = $((B + 20))
depends_on = api

[service "worker"]
command = exec sleep 1000
EOF_INI
cp .berth.ini "$TEST_ROOT/base.ini"

# svc FIELD SLUG SERVICE: a field of the service in `berth status --json`.
svc() {
  berth status "$2" --json >"$TEST_ROOT/svc.json" 2>/dev/null
  json_get "$TEST_ROOT/svc.json" "[s for s in d[\"services\"] if s[\"name\"] == \"$3\"][0][\"$1\"]"
}

# env_of PID NAME: NAME in the environment of process PID (empty if unset).
env_of() {
  tr '\0' '\n' <"/proc/$1/environ" | sed -n "s/^$2=//p"
}

# listener_pid PORT: the pid of the process listening on PORT.
listener_pid() {
  ss -Hltnp "sport = :$1" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1
}

test_expect_success 'every service gets its own $PORT: two services that listen on $PORT come up side by side; one without a port gets none' '
  berth up p1 -q >/dev/null &&
  for s in db api web; do
    test_eq "$(svc state p1 $s)" running || return 1
  done &&
  db=$(svc port p1 db) && api=$(svc port p1 api) && web=$(svc port p1 web) &&
  test "$db" != "$api" && test "$api" != "$web" &&
  for port in $db $api $web; do
    pid=$(listener_pid $port) && test -n "$pid" &&
    test_eq "$(env_of $pid PORT)" "$port" || return 1
  done &&
  test -z "$(env_of "$(svc pid p1 worker)" PORT)" &&
  test -n "$(env_of "$(svc pid p1 worker)" BERTH_DB_PORT)" &&
  berth env p1 >env.out && grep -q "^PORT=$db\$" env.out
'

test_expect_success 'port_env = PORT (or a BERTH_ name) is refused by validate with file:line; up starts nothing; down still works with such a file' '
  cp .berth.ini good.ini &&
  sed "0,/^base_port = $B\$/s//base_port = $B\nport_env = PORT/" good.ini >bad.ini &&
  cp bad.ini .berth.ini &&
  berth validate >v.out 2>v.err; rc=$?
  test_eq "$rc" 3 &&
  test_grep "^berth: \.berth\.ini:[0-9][0-9]*: service .db.: port_env names PORT: berth sets PORT to each service.s own port; remove it from port_env" v.err &&
  line=$(grep -n "^port_env = PORT" .berth.ini | cut -d: -f1) &&
  test_grep "\.berth\.ini:$line: service .db." v.err &&
  berth up p0 -q >u.out 2>u.err; rc=$?
  test_eq "$rc" 3 && ! test -d .berth/worktrees/p0 &&
  cp good.ini .berth.ini && berth up p0 --services worker -q >/dev/null &&
  cp bad.ini .berth.ini && berth down p0 -q; rc=$?
  cp good.ini .berth.ini && test_eq "$rc" 0
'

test_expect_success 'stop of one service leaves the others running with the same pids; start brings it back on its port, ready, and leaves the others alone' '
  api_pid=$(svc pid p1 api) && web_pid=$(svc pid p1 web) && db_pid=$(svc pid p1 db) &&
  db_port=$(svc port p1 db) &&
  berth stop p1 worker -q >/dev/null &&
  test_eq "$(svc state p1 worker)" stopped &&
  test_eq "$(svc pid p1 api)" "$api_pid" && test_eq "$(svc pid p1 db)" "$db_pid" &&
  test_eq "$(ls_get p1 status)" active &&
  berth start p1 worker -q >start.out &&
  test_grep "started 1 service of session" start.out &&
  test_eq "$(svc state p1 worker)" running &&
  test_eq "$(svc pid p1 api)" "$api_pid" && test_eq "$(svc pid p1 web)" "$web_pid" &&
  test_eq "$(svc pid p1 db)" "$db_pid" &&
  berth start p1 -q >start2.out &&
  test_grep "runs already" start2.out &&
  test_eq "$(svc pid p1 db)" "$db_pid" &&
  test_eq "$(svc port p1 db)" "$db_port"
'

test_expect_success 'start of a service brings what it depends on and waits until each is ready' '
  berth stop p1 web api db -q >/dev/null &&
  ! port_listening $(svc port p1 db) &&
  berth start p1 web -q >start.out &&
  test_grep "started 3 services" start.out &&
  for s in db api web; do
    test_eq "$(svc state p1 $s)" running &&
    port_listening "$(svc port p1 $s)" || return 1
  done
'

test_expect_success 'start fails like up: a service that dies is reported with its status and last lines, exit 6, and is not left running' '
  cp .berth.ini good.ini &&
  sed -i "s|^command = exec sleep 1000|command = echo worker-broke-here; exit 3|" .berth.ini &&
  berth stop p1 worker -q >/dev/null &&
  berth start p1 worker >s.out 2>s.err; rc=$?
  cp good.ini .berth.ini &&
  test_eq "$rc" 6 &&
  test_grep "exited with status 3" s.err &&
  test_grep "worker-broke-here" s.err &&
  test_eq "$(ls_get p1 status)" active
'

test_expect_success 'stops go dependents first, each after the one that depends on it is gone (event log), in about the slowest chain' '
  berth down p1 -q &&
  berth events --json >ev.json &&
  python3 - ev.json <<-\EOF_PY
	import json, sys
	ev = [e for e in json.load(open(sys.argv[1])) if e["slug"] == "p1"]
	def at(svc, kind):
	    t = [e["ts_ms"] if "ts_ms" in e else e["ts"] for e in ev
	         if e.get("service") == svc and e["kind"] == kind]
	    assert t, (svc, kind, ev)
	    return t[-1]
	# web stops before api starts stopping, api before db
	assert at("web", "stopped") <= at("api", "stopping"), "web/api"
	assert at("api", "stopped") <= at("db", "stopping"), "api/db"
	EOF_PY
'

test_expect_success 'up --services web starts web and what it depends on, nothing else' '
  berth up p2 --services web >/dev/null 2>up.err &&
  test_grep "api comes too" up.err &&
  for s in db api web; do
    test_eq "$(svc state p2 $s)" running || return 1
  done &&
  test_eq "$(svc state p2 worker)" not-started &&
  berth down p2 -q
'

test_expect_success 'status: a listener with the same slug and service but another repository'"'"'s root id is not ours' '
  berth up p9 --services web -q >/dev/null &&
  port=$(svc port p9 web) &&
  berth stop p9 web -q >/dev/null &&
  ! port_listening $port || return 1
  env BERTH_ROOT_ID=0123456789abcdef BERTH_SESSION=p9 BERTH_SERVICE=web \
    "$BERTH_TEST_LISTEN" $port >/dev/null 2>&1 &
  fpid=$!
  test_track_pid $fpid
  wait_for 10 "port_listening $port" "the foreign listener" &&
  test_eq "$(svc listener p9 web)" "wrong owner: pid $fpid (berth-test-list) of session p9" &&
  kill $fpid && berth down p9 -q
'

test_expect_success 'a service with its own stop_grace is KILLed at it, not at [berth] stop_grace (10 s)' '
  cat "$TEST_ROOT/base.ini" >.berth.ini &&
  cat >>.berth.ini <<-EOF_INI &&

	[service "stubborn"]
	command = trap "" TERM; echo up; exec sleep 1003
	stop_grace = 200ms
	EOF_INI
  berth up p3 --services stubborn -q >/dev/null &&
  pid=$(svc pid p3 stubborn) && test -n "$pid" || return 1
  ( berth stop p3 stubborn -q >/dev/null; echo $? >stop.rc ) &
  wait_for 5 "test -e stop.rc" "stop with a 200 ms grace" &&
  test_eq "$(cat stop.rc)" 0 &&
  ! pid_alive "$pid" &&
  svc last_exit p3 stubborn >last_exit && test_grep "killed by signal SIGKILL" last_exit
'

test_expect_success 'cleanup p3' '
  berth down p3 -q && cp "$TEST_ROOT/base.ini" .berth.ini
'

if [ "$(id -u)" = 0 ] && command -v useradd >/dev/null; then
  SVC_USER=berth-t1800
  id "$SVC_USER" >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /nonexistent-t1800 "$SVC_USER"
  test_expect_success 'user = runs the service as that user, with its HOME and USER; down leaves nothing' '
    cat "$TEST_ROOT/base.ini" >.berth.ini &&
    cat >>.berth.ini <<-EOF_INI &&

	[service "asuser"]
	command = echo "I am \$(id -un) home \$HOME"; exec sleep 1004
	user = $SVC_USER
	EOF_INI
    berth up p4 --services asuser -q >/dev/null &&
    pid=$(svc pid p4 asuser) &&
    test_eq "$(awk "/^Uid:/ {print \$2}" /proc/$pid/status)" "$(id -u $SVC_USER)" &&
    test_eq "$(env_of $pid USER)" "$SVC_USER" &&
    test_eq "$(env_of $pid HOME)" /nonexistent-t1800 &&
    wait_for 5 "grep -q \"I am $SVC_USER home /nonexistent-t1800\" .berth/logs/p4/asuser.log" "the log line" &&
    berth down p4 -q &&
    ! pid_alive "$pid" &&
    cp "$TEST_ROOT/base.ini" .berth.ini
  '
  test_expect_success 'user = a user that does not exist: validate says so; up fails naming it' '
    cat "$TEST_ROOT/base.ini" >.berth.ini &&
    printf "\n[service \"ghost\"]\ncommand = sleep 1\nuser = no-such-user-t1800\n" >>.berth.ini &&
    test_must_fail berth validate >v.out 2>v.err &&
    test_grep "no such user .no-such-user-t1800." v.err &&
    test_must_fail berth up p5 --services ghost -q >u.out 2>u.err &&
    test_grep "no such user .no-such-user-t1800." u.err &&
    cp "$TEST_ROOT/base.ini" .berth.ini &&
    test_must_fail berth status p5 >/dev/null 2>&1
  '
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  if [ -n "$PGBIN" ] && [ -x "$PGBIN/postgres" ] && id postgres >/dev/null 2>&1; then
    test_expect_success 'user = postgres: PostgreSQL runs as its user with no wrapper, and down stops it in well under a second' '
      PGDIR=$(mktemp -d /tmp/berth-t1800-pg.XXXXXX) && chmod 755 "$PGDIR" &&
      chown postgres "$PGDIR" &&
      runuser -u postgres -- "$PGBIN/initdb" -D "$PGDIR/data" -A trust >initdb.out 2>&1 &&
      cat "$TEST_ROOT/base.ini" >.berth.ini &&
      cat >>.berth.ini <<-EOF_INI &&

	[service "pg"]
	command = exec $PGBIN/postgres -D $PGDIR/data -p \$PORT -k $PGDIR -c listen_addresses=127.0.0.1
	base_port = $((B + 30))
	user = postgres
	EOF_INI
      berth up p8 --services pg -q >/dev/null &&
      pid=$(svc pid p8 pg) &&
      test_eq "$(awk "/^Uid:/ {print \$2}" /proc/$pid/status)" "$(id -u postgres)" &&
      port_listening "$(svc port p8 pg)" &&
      berth down p8 >down.out 2>down.err &&
      secs=$(sed -n "s/.*stopped 1 service in \([0-9.]*\) s.*/\1/p" down.err) &&
      test -n "$secs" &&
      python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 1.0 else 1)" "$secs" &&
      ! pid_alive "$pid" &&
      cp "$TEST_ROOT/base.ini" .berth.ini &&
      rm -rf "$PGDIR"
    '
  else
    test_skip 'user = postgres: PostgreSQL as its user' 'PostgreSQL is not installed (make test installs it)'
  fi
else
  test_skip 'user = runs the service as that user' 'needs root and useradd to make a user'
  test_skip 'user = a user that does not exist' 'needs root'
fi

test_expect_success 'post_create runs once per created worktree, with the session environment: not on resume; after a kill during it, again until it succeeds (a failed retry keeps it due)' '
  cat "$TEST_ROOT/base.ini" >.berth.ini &&
  cat >>.berth.ini <<-EOF_INI &&

	[hooks]
	post_create = echo "\$BERTH_SLUG \$PORT" >>"$TEST_ROOT/created.\$BERTH_SLUG"; if [ -e "$TEST_ROOT/pause" ]; then exec sleep 1005; fi; test -e "$TEST_ROOT/go"
	EOF_INI
  touch "$TEST_ROOT/go" &&
  berth up p6 --services worker -q >/dev/null &&
  test_eq "$(wc -l <"$TEST_ROOT/created.p6")" 1 &&
  grep -q "^p6 [0-9]" "$TEST_ROOT/created.p6" &&
  berth down p6 --keep-worktree -q &&
  berth up p6 --services worker -q >/dev/null &&
  test_eq "$(wc -l <"$TEST_ROOT/created.p6")" 1 &&
  berth down p6 -q &&
  rm "$TEST_ROOT/go" && touch "$TEST_ROOT/pause" || return 1
  "$BERTH" up p7 --services worker -q >/dev/null 2>&1 &
  up_pid=$!
  test_track_pid $up_pid
  wait_for 20 "test -s \"$TEST_ROOT/created.p7\"" "post_create of p7 to start" &&
  kill -9 "$up_pid" &&
  test_eq "$(ls_get p7 status)" crashed-op &&
  rm "$TEST_ROOT/pause" &&
  test_must_fail berth up p7 --services worker -q >/dev/null 2>up.err &&
  test_grep "post_create" up.err &&
  test_eq "$(wc -l <"$TEST_ROOT/created.p7")" 2 &&
  touch "$TEST_ROOT/go" &&
  berth up p7 --services worker -q >/dev/null &&
  test_eq "$(wc -l <"$TEST_ROOT/created.p7")" 3 &&
  test_eq "$(ls_get p7 status)" active &&
  ! pgrep -f "sleep 1005" >/dev/null &&
  berth down p7 --keep-worktree -q &&
  berth up p7 --services worker -q >/dev/null &&
  test_eq "$(wc -l <"$TEST_ROOT/created.p7")" 3 &&
  berth down p7 -q &&
  cp "$TEST_ROOT/base.ini" .berth.ini
'

test_done
