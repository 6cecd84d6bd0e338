#!/bin/sh
# Docker services operated like native ones, against the real engine: the
# extra ports of a docker service published (host: the session's port,
# container: the extra's base), `logs` of a docker service (its container's
# output, -n, -f across a restart), `restart` (a new start of its container,
# waited for until its port answers; one that exits fails with exit 6 and
# its last lines), `stop` of a docker service (its container stopped, the
# native services and the session untouched), native and docker services
# named together.
. "$BERTH_SRCDIR/tests/lib.sh"
test_require_docker

P=39000
export BERTH_TEST_LISTEN

# db counts its runs in its volume (served on its main port as /runs),
# serves /admin.html on its extra port's container port, gives up at start
# when /data/fail exists, and is slow to serve (once) when /data/slow does.
cat >"$REPO/docker-compose.yml" <<EOF_YML
version: "3.7"
services:
  db:
    image: berth-test/busybox
    command: ["sh", "-c", "n=\$\$(cat /data/runs 2>/dev/null || echo 0); n=\$\$((n + 1)); echo \$\$n >/data/runs; echo db run \$\$n; if [ -e /data/fail ]; then echo db giving up; exit 3; fi; if [ -e /data/slow ]; then rm /data/slow; echo db slow; sleep 120; fi; echo admin-page >/tmp/admin.html; httpd -p $((P + 300)) -h /tmp; echo db serving; exec httpd -f -p 5432 -h /data"]
    volumes:
      - dbdata:/data
volumes:
  dbdata:
EOF_YML

setup_repo <<EOF_INI
[berth]
mode = hybrid
max_slots = 4
port_search_range = 1
stop_grace = 1s

[service "db"]
run = docker
base_port = 5432
host_port = $P
extra_ports = admin:$((P + 300))
ready_timeout = 60s

[service "web"]
command = echo "web sees db at \$BERTH_DB_PORT"; exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $((P + 100))
depends_on = db
EOF_INI
PREFIX=$(berth config show | sed -n 's/^prefix = //p')
project() { echo "${PREFIX}_$1"; }
container() {
  docker ps -a -q --no-trunc --filter "label=com.docker.compose.project=$(project "$1")" \
    --filter "label=com.docker.compose.service=$2"
}
started_at() { docker inspect -f '{{.State.StartedAt}}' "$(container "$1" "$2")"; }
running() { docker inspect -f '{{.State.Running}}' "$(container "$1" "$2")"; }
http_get() { curl -s --max-time 5 "http://127.0.0.1:$1/$2"; }
# the pid of native service $2 of session $1 (berth status --json; status
# may exit 6 while a service is stopped)
web_pid() {
  berth status "$1" --json >"$TEST_ROOT/st.json"
  json_get "$TEST_ROOT/st.json" "[x for x in d[\"services\"] if x[\"name\"] == \"$2\"][0][\"pid\"]"
}

test_expect_success 'the extra port of a docker service is published: the session port on the host, its base in the container' '
  berth up s1 >out 2>err &&
  test_eq "$(berth env s1 | sed -n "s/^BERTH_DB_ADMIN_PORT=//p")" $((P + 301)) &&
  test_grep "\"$((P + 301)):$((P + 300))\"" .berth/compose/s1/docker-compose.yml &&
  test_eq "$(http_get $((P + 301)) admin.html)" admin-page &&
  test_eq "$(http_get $((P + 1)) runs)" 1 &&
  docker ps --format "{{.Ports}}" --filter "label=com.docker.compose.project=$(project s1)" >ports &&
  test_grep "0.0.0.0:$((P + 301))->$((P + 300))" ports &&
  test_grep "0.0.0.0:$((P + 1))->5432" ports &&
  test_grep_not "5432->5432" ports &&
  test_grep_not "is not published" err
'

test_expect_success 'logs of a docker service: its container'"'"'s output, -n lines, with native services' '
  berth logs s1 db >lg 2>lg.err &&
  test_grep "^db | db run 1$" lg &&
  test_grep "^db | db serving$" lg &&
  berth logs -n 1 s1 db >lg1 &&
  test_eq "$(cat lg1)" "db | db serving" &&
  berth logs s1 web db >lg2 &&
  test_grep "^web | web sees db at $((P + 1))$" lg2 &&
  test_grep "^db  | db serving$" lg2 &&
  test_must_fail code=4 berth logs s1 nosuch 2>e
'

test_expect_success 'restart of a docker service: a new start of its container, waited for until its port answers; logs -f follows it' '
  "$BERTH" logs -f s1 db >lf 2>lf.err &
  lpid=$!
  test_track_pid $lpid
  t0=$(started_at s1 db) && wpid=$(web_pid s1 web) &&
  wait_for 30 "grep -q \"db serving\" lf" "logs -f to show the tail" &&
  berth restart s1 db >out 2>err &&
  test_grep "restarted 1 service of session .s1." out &&
  test_grep "docker: 1 service ready" err &&
  test_eq "$(http_get $((P + 1)) runs)" 2 &&
  test_eq "$(http_get $((P + 301)) admin.html)" admin-page &&
  test "$(started_at s1 db)" != "$t0" &&
  test_eq "$(running s1 db)" true &&
  test_eq "$(web_pid s1 web)" "$wpid" &&
  wait_for 30 "test \$(grep -c \"db serving\" lf) -ge 2" "logs -f to follow the restarted container" &&
  kill $lpid &&
  test_grep "^db | db run 2$" lf &&
  test_eq "$(grep -c "db run 1" lf)" 1 &&
  test_eq "$(grep -c "db run 2" lf)" 1 &&
  berth events s1 >ev && test_grep "restart" ev
'

test_expect_success 'stop of a docker service: its container stopped, the native services and the session untouched; restart starts it again' '
  wpid=$(web_pid s1 web) &&
  berth stop s1 db >out 2>err &&
  test_grep "stopped 1 service of session .s1." out &&
  test_eq "$(running s1 db)" false &&
  test_eq "$(ls_get s1 status)" active &&
  pid_alive "$wpid" &&
  test_must_fail code=6 berth status s1 --json >st.json &&
  test_eq "$(json_get st.json "[x for x in d[\"services\"] if x[\"name\"] == \"web\"][0][\"pid\"]")" "$wpid" &&
  test_eq "$(json_get st.json "d[\"docker\"][\"services\"][0][\"state\"]")" exited &&
  test_must_fail http_get $((P + 1)) runs >/dev/null &&
  berth restart s1 db >out 2>err &&
  test_eq "$(http_get $((P + 1)) runs)" 3 &&
  test_eq "$(web_pid s1 web)" "$wpid" &&
  berth status s1 >/dev/null
'

test_expect_success 'native and docker services named together: restart and stop both' '
  wpid=$(web_pid s1 web) && t0=$(started_at s1 db) &&
  berth restart s1 web db >out 2>err &&
  test_grep "restarted 2 services of session .s1." out &&
  test "$(web_pid s1 web)" != "$wpid" &&
  test "$(started_at s1 db)" != "$t0" &&
  test_eq "$(http_get $((P + 1)) runs)" 4 &&
  port_listening $((P + 101)) &&
  berth stop s1 db web >out 2>err &&
  test_grep "stopped 2 services of session .s1." out &&
  test_eq "$(running s1 db)" false &&
  ! port_listening $((P + 101)) &&
  test_eq "$(ls_get s1 status)" active &&
  berth restart s1 db web >out 2>err &&
  port_listening $((P + 101)) &&
  test_eq "$(http_get $((P + 1)) runs)" 5
'

test_expect_success 'start of a native service brings the docker service it depends on: stop both, start web, both serve again' '
  berth stop s1 db web >out 2>err &&
  test_eq "$(running s1 db)" false &&
  ! port_listening $((P + 101)) &&
  berth start s1 web >out 2>err &&
  test_grep "started 2 services of session .s1." out &&
  test_eq "$(running s1 db)" true &&
  port_listening $((P + 101)) &&
  test_eq "$(http_get $((P + 1)) runs)" 6 &&
  wpid=$(web_pid s1 web) &&
  berth stop s1 db >out 2>err &&
  berth start s1 >out 2>err &&
  test_eq "$(running s1 db)" true &&
  test_eq "$(web_pid s1 web)" "$wpid" &&
  test_eq "$(http_get $((P + 1)) runs)" 7
'

test_expect_success 'docker does not answer: logs, stop and restart of a docker service exit 1, the session kept active' '
  no=unix://$TEST_ROOT/no-docker.sock &&
  DOCKER_HOST=$no test_must_fail code=1 "$BERTH" logs s1 db 2>e &&
  test_grep "logs: the Docker daemon does not answer" e &&
  DOCKER_HOST=$no test_must_fail code=1 "$BERTH" stop s1 db 2>e &&
  test_grep "stop: the Docker daemon does not answer" e &&
  DOCKER_HOST=$no test_must_fail code=1 "$BERTH" restart s1 db 2>e &&
  test_grep "restart: the Docker daemon does not answer" e &&
  test_eq "$(ls_get s1 status)" active &&
  test_eq "$(running s1 db)" true &&
  berth status s1 >/dev/null
'

test_expect_success 'restart interrupted while it waits for a docker service: exit 130, its container stopped, the session free' '
  docker exec "$(container s1 db)" touch /data/slow &&
  "$BERTH" restart s1 db >ri.out 2>ri.err &
  rpid=$!
  test_track_pid $rpid
  wait_for 60 "grep -q \"docker: waiting for\" ri.err" "restart to wait for db" &&
  wait_for 30 "docker logs \"\$(container s1 db)\" 2>&1 | grep -q \"db slow\"" "db to be slow" &&
  kill -TERM $rpid &&
  test_must_fail code=130 wait $rpid &&
  test_eq "$(running s1 db)" false &&
  test_eq "$(ls_get s1 status)" active &&
  berth restart s1 db >out 2>err &&
  test_eq "$(http_get $((P + 1)) runs)" 9
'

test_expect_success 'a docker service that exits on restart: restart exits 6 with its last lines' '
  docker exec "$(container s1 db)" touch /data/fail &&
  test_must_fail code=6 berth restart s1 db >out 2>err &&
  test_grep "restart: docker service .db. Exited (3)" err &&
  test_grep "last 20 lines of its container" err &&
  test_grep "db giving up" err &&
  test_eq "$(running s1 db)" false &&
  test_eq "$(ls_get s1 status)" active &&
  berth events s1 >ev && test_grep "restart-failed.*db" ev
'

test_expect_success 'down removes everything' '
  berth down s1 >out 2>err &&
  test -z "$(container s1 db)" &&
  ! docker volume ls -q | grep -q "$(project s1)_dbdata" &&
  test_eq "$(session_count)" 0
'

test_done
