#!/bin/sh
# How berth asks docker, against the real engine: `up` talks to the engine's
# socket itself (no `docker info`, no `docker ps` polls) and asks for the
# compose flavour once, kept in .berth/cache while docker and its plugins
# stay the same; the wait follows the project's events: a healthcheck that
# passes after a while, a container that exits in the middle of the wait;
# Ctrl-C while `up` waits rolls everything back; a named docker context goes
# through the docker CLI instead (`docker events`, `docker ps`), with the
# same outcomes: ready, a container that exits, docker that stops answering
# in the middle of the wait.
. "$BERTH_SRCDIR/tests/lib.sh"
test_require_docker

P=37500
export BERTH_TEST_LISTEN

# every docker command berth runs, logged (then the real one)
REAL_DOCKER=$(command -v docker)
LOG=$TEST_ROOT/docker.log
mkdir -p "$TEST_ROOT/bin"
cat >"$TEST_ROOT/bin/docker" <<EOF_SH
#!/bin/sh
echo "\$*" >>"$LOG"
exec "$REAL_DOCKER" "\$@"
EOF_SH
chmod +x "$TEST_ROOT/bin/docker"
PATH=$TEST_ROOT/bin:$PATH
export PATH

cat >"$REPO/docker-compose.yml" <<'EOF_YML'
version: "3.7"
services:
  db:
    image: berth-test/busybox
    command: ["sh", "-c", "echo db starting; exec httpd -f -p 5432 -h /www"]
    volumes:
      - ./www:/www:ro
    ports:
      - "5432:5432"
EOF_YML
mkdir -p "$REPO/www" && echo main >"$REPO/www/index.html"
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
ready_timeout = 60s
EOF_INI
PREFIX=$(berth config show | sed -n 's/^prefix = //p')
project() { echo "${PREFIX}_$1"; }
labelled() { docker ps -a -q --filter "label=com.docker.compose.project=$(project "$1")"; }
http_get() { curl -s --max-time 5 "http://127.0.0.1:$1/$2"; }
# change docker-compose.yml with sed expression $1 and commit it
compose_edit() { sed "$1" docker-compose.yml >dc.tmp && cp dc.tmp docker-compose.yml && git commit -qam "$2"; }

test_expect_success 'up asks the engine itself: no docker info, no docker ps; the flavour asked once, then kept' '
  : >"$LOG" &&
  berth up w1 >out 2>err &&
  test_grep "docker: 1 service ready" err &&
  test_eq "$(http_get $((P + 1)) index.html)" main &&
  test_grep "^compose version$" "$LOG" &&
  test_grep_not "^info" "$LOG" &&
  test_grep_not "^ps" "$LOG" &&
  test_grep_not "^events" "$LOG" &&
  test -s .berth/cache/compose-flavour &&
  berth down w1 >out 2>err &&
  test -z "$(labelled w1)" &&
  : >"$LOG" &&
  berth up w1 >out 2>err &&
  test_eq "$(http_get $((P + 1)) index.html)" main &&
  berth down w1 >out 2>err &&
  test_grep_not "^compose version" "$LOG" &&
  mkdir -p "$HOME/.docker/cli-plugins" &&
  : >"$LOG" &&
  berth up w1 >out 2>err &&
  berth down w1 >out 2>err &&
  test_grep "^compose version$" "$LOG"
'

test_expect_success 'a healthcheck that passes after a while: up returns once the container is healthy and serves' '
  python3 - <<EOF_PY &&
s = open("docker-compose.yml").read()
s = s.replace("echo db starting; exec httpd", "sleep 2; touch /tmp/ok; exec httpd")
s = s.replace("    ports:\n", "    healthcheck:\n      test: [\"CMD\", \"test\", \"-e\", \"/tmp/ok\"]\n      interval: 1s\n      timeout: 1s\n      retries: 30\n    ports:\n")
open("docker-compose.yml", "w").write(s)
EOF_PY
  git commit -qam "db healthy after 2 s" &&
  berth up hc >out 2>err &&
  git revert --no-edit HEAD >/dev/null &&
  test_grep "docker: 1 service ready" err &&
  test_eq "$(docker inspect -f "{{.State.Health.Status}}" "$(labelled hc)")" healthy &&
  test_eq "$(http_get $((P + 1)) index.html)" main &&
  berth status hc --json >st.json &&
  test_eq "$(json_get st.json "d[\"docker\"][\"services\"][0][\"health\"]")" healthy &&
  berth down hc >out 2>err &&
  test -z "$(labelled hc)"
'

test_expect_success 'a container that exits while up waits (not at its start): up fails with its status and last lines, rolled back' '
  compose_edit "s/echo db starting; exec httpd -f -p 5432 -h \\/www/echo db starting; sleep 3; echo db giving up late; exit 4/" "db exits late" &&
  test_must_fail code=6 berth up lx 2>err &&
  git revert --no-edit HEAD >/dev/null &&
  test_grep "docker: waiting for" err &&
  test_grep "up: docker service .db. Exited (4)" err &&
  test_grep "db giving up late" err &&
  test -z "$(labelled lx)" &&
  test_eq "$(session_count)" 0
'

test_expect_success 'Ctrl-C while up waits for a docker service: exit 130, everything rolled back' '
  compose_edit "s/echo db starting; exec httpd/sleep 60; exec httpd/" "db slow" || exit 1
  "$BERTH" up ci >ci.out 2>ci.err &
  upid=$!
  test_track_pid $upid
  wait_for 60 "grep -q \"docker: waiting for\" ci.err" "up to wait for db" &&
  kill -INT $upid &&
  test_must_fail code=130 wait $upid &&
  git revert --no-edit HEAD >/dev/null &&
  test_grep "up: interrupted; rolling back session .ci." ci.err &&
  test -z "$(labelled ci)" &&
  ! docker network ls --format "{{.Name}}" | grep -q "^$(project ci)_" &&
  test_eq "$(session_count)" 0 &&
  test ! -d .berth/worktrees/ci
'

test_expect_success 'a named docker context: the docker CLI instead of the socket, the same outcomes' '
  sock=${DOCKER_HOST:-unix:///var/run/docker.sock} &&
  case $sock in unix://*) ;; *) echo "not a unix socket: $sock"; exit 0 ;; esac &&
  docker context create berth-cli --docker "host=$sock" >/dev/null &&
  : >"$LOG" &&
  (unset DOCKER_HOST; DOCKER_CONTEXT=berth-cli exec "$BERTH" up cx >out 2>err) &&
  test_grep "docker: 1 service ready" err &&
  test_eq "$(http_get $((P + 1)) index.html)" main &&
  test_grep "^info " "$LOG" &&
  test_grep "^events --since .* --filter event=health_status" "$LOG" &&
  test_grep "^ps --all --no-trunc --filter label=com.docker.compose.project=$(project cx)" "$LOG" &&
  (unset DOCKER_HOST; DOCKER_CONTEXT=berth-cli exec "$BERTH" status cx) >st &&
  test_grep "db  *running  *-  *$((P + 1))  *yes" st &&
  (unset DOCKER_HOST; DOCKER_CONTEXT=berth-cli exec "$BERTH" down cx >out 2>err) &&
  test -z "$(labelled cx)" &&
  compose_edit "s/echo db starting; exec httpd -f -p 5432 -h \\/www/echo db giving up; exit 3/" "db exits" &&
  (unset DOCKER_HOST; DOCKER_CONTEXT=berth-cli "$BERTH" up cx-ex 2>err; echo $? >rc) &&
  git revert --no-edit HEAD >/dev/null &&
  test_eq "$(cat rc)" 6 &&
  test_grep "docker service .db. Exited (3)" err &&
  test_grep "db giving up" err &&
  test -z "$(labelled cx-ex)" &&
  test_eq "$(session_count)" 0
'

# A unix-socket proxy to the real daemon: killing it is docker stopping to
# answer in the middle of an `up`, while the containers stay for the check.
cat >"$TEST_ROOT/proxy.py" <<'EOF_PY'
import socket, sys, threading
src, dst = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(src)
s.listen(64)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for x in (a, b):
        try:
            x.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def handle(c):
    u = socket.socket(socket.AF_UNIX)
    u.connect(dst)
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
print("ready", flush=True)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
EOF_PY

test_expect_success 'a named context whose docker stops answering while up waits: a clear error, the session kept for down' '
  real=${DOCKER_HOST:-unix:///var/run/docker.sock} &&
  case $real in unix://*) ;; *) echo "not a unix socket: $real"; exit 0 ;; esac &&
  python3 "$TEST_ROOT/proxy.py" "$TEST_ROOT/proxy.sock" "${real#unix://}" >"$TEST_ROOT/proxy.out" &
  proxy=$!
  test_track_pid $proxy
  wait_for 10 "grep -q ready $TEST_ROOT/proxy.out" "the proxy" &&
  docker context create berth-proxy --docker "host=unix://$TEST_ROOT/proxy.sock" >/dev/null &&
  : >"$LOG" &&
  compose_edit "s/echo db starting; exec httpd/sleep 60; exec httpd/" "db slow" || exit 1
  (unset DOCKER_HOST; DOCKER_CONTEXT=berth-proxy exec "$BERTH" up md-c >md.out 2>md.err) &
  upid=$!
  test_track_pid $upid
  wait_for 60 "grep -q \"docker: waiting for\" md.err" "up to wait for the containers" &&
  wait_for 30 "grep -q \"^events --since\" \"$LOG\"" "the docker events child" &&
  kill -9 $proxy &&
  t0=$(date +%s) &&
  test_must_fail code=1 wait $upid &&
  test $(( $(date +%s) - t0 )) -lt 30 &&
  git revert --no-edit HEAD >/dev/null &&
  test_grep "docker stopped answering" md.err &&
  test_grep "is kept (stopped)" md.err &&
  berth ls >ls && test_grep "^md-c .*stopped" ls &&
  test -n "$(labelled md-c)" &&
  berth down md-c >out 2>err &&
  test -z "$(labelled md-c)" &&
  test_eq "$(session_count)" 0
'

test_done
