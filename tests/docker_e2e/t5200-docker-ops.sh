#!/bin/sh
# Docker services operated like native ones, against the real engine: the
# extra ports of a docker service published (host: the session's port,
# container: the extra's base).
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

test_expect_success 'down removes everything' '
  berth down s1 >out 2>err &&
  test -z "$(container s1 db)" &&
  ! docker volume ls -q | grep -q "$(project s1)_dbdata" &&
  test_eq "$(session_count)" 0
'

test_done
