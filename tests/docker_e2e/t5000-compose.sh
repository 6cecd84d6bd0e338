#!/bin/sh
# Docker compose against the real engine (compose v1 in CI): hybrid sessions
# side by side on their own ports and volumes, the base host port never
# published, down of one leaving the other alone, failures (a container that
# exits, one that turns unhealthy, a failing post_up) rolling everything
# back, --keep-volumes, container mode building the worktree's Dockerfile,
# and a daemon that does not answer.
. "$BERTH_SRCDIR/tests/lib.sh"
test_require_docker

P=36000
export BERTH_TEST_LISTEN

write_compose() {
  cat >"$1" <<'EOF_YML'
version: "3.7"
services:
  db:
    image: berth-test/busybox
    command: ["sh", "-c", "echo db starting; [ -s /data/marker ] || echo $$RANDOM-$$$$ >/data/marker; cp /www/index.html /data/index.html; exec httpd -f -p 5432 -h /data"]
    ports:
      - "5432:5432"
      - "9187:9187"
    volumes:
      - dbdata:/data
      - ./www:/www:ro
    container_name: fixed-db
volumes:
  dbdata:
EOF_YML
}

ini() {
  cat <<EOF_INI
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

[service "web"]
command = echo "web sees db at \$BERTH_DB_PORT"; exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $((P + 100))
depends_on = db
EOF_INI
}
mkdir -p "$REPO/www" && echo main >"$REPO/www/index.html"
write_compose "$REPO/docker-compose.yml"
ini | setup_repo
PREFIX=$(berth config show | sed -n 's/^prefix = //p')
project() { echo "${PREFIX}_$1"; }
labelled() { docker ps -a -q --filter "label=com.docker.compose.project=$(project "$1")"; }
http_get() { curl -s --max-time 5 "http://127.0.0.1:$1/$2"; }

test_expect_success 'two hybrid sessions side by side: own ports, own volumes, the base port not published' '
  berth up hy-a >out.a 2>err.a &&
  berth up hy-b >out.b 2>err.b &&
  test_grep "docker: 1 service ready" err.a &&
  test_grep "web sees db at $((P + 1))" .berth/logs/hy-a/web.log &&
  test "$(http_get $((P + 1)) index.html)" = main &&
  test "$(http_get $((P + 1)) marker)" != "" &&
  test "$(http_get $((P + 2)) marker)" != "" &&
  test "$(http_get $((P + 1)) marker)" != "$(http_get $((P + 2)) marker)" &&
  test "$(labelled hy-a | wc -l)" = 1 && test "$(labelled hy-b | wc -l)" = 1 &&
  docker ps --format "{{.Ports}}" --filter "label=com.docker.compose.project=$(project hy-a)" >ports &&
  test_grep "0.0.0.0:$((P + 1))->5432" ports &&
  ! grep -q "0.0.0.0:5432->" ports &&
  ! grep -q "9187" ports &&
  docker volume ls -q >vols &&
  test_grep "$(project hy-a)_dbdata" vols && test_grep "$(project hy-b)_dbdata" vols &&
  docker ps --format "{{.Names}}" >names &&
  test_grep "^${PREFIX}-db-1$" names && test_grep "^${PREFIX}-db-2$" names
'

test_expect_success 'down of one session leaves the other untouched' '
  b_id=$(labelled hy-b) &&
  berth down hy-a >out 2>err &&
  test -z "$(labelled hy-a)" &&
  ! docker volume ls -q | grep -q "$(project hy-a)_dbdata" &&
  ! docker network ls --format "{{.Name}}" | grep -q "^$(project hy-a)_" &&
  test "$(labelled hy-b)" = "$b_id" &&
  test -n "$(http_get $((P + 2)) marker)"
'

test_expect_success 'status shows the container, health and port; whose names the container; a stopped container is unhealthy' '
  berth status hy-b >st &&
  test_grep "db  *running  *-  *$((P + 2))  *yes" st &&
  berth status hy-b --json >st.json &&
  test "$(json_get st.json "d[\"docker\"][\"services\"][0][\"healthy\"]")" = True &&
  test "$(json_get st.json "d[\"docker\"][\"project\"]")" = "$(project hy-b)" &&
  berth whose :$((P + 2)) >w &&
  test_grep "compose project $(project hy-b), service db: session .hy-b." w &&
  docker stop "$(labelled hy-b)" >/dev/null &&
  test_must_fail code=6 berth status hy-b >st &&
  test_grep "db  *exited" st &&
  docker start "$(labelled hy-b)" >/dev/null &&
  wait_for 30 "berth status hy-b >/dev/null 2>&1" "the container to serve again"
'

test_expect_success '--keep-volumes keeps the data across down and up' '
  before=$(http_get $((P + 2)) marker) &&
  test -n "$before" &&
  berth down hy-b --keep-volumes >out 2>err &&
  test -z "$(labelled hy-b)" &&
  docker volume ls -q | grep -q "$(project hy-b)_dbdata" &&
  berth up hy-b >out 2>err &&
  port=$(berth env hy-b | sed -n "s/^BERTH_DB_PORT=//p") &&
  test "$(http_get "$port" marker)" = "$before" &&
  berth down hy-b >out 2>err &&
  ! docker volume ls -q | grep -q "$(project hy-b)_dbdata"
'

test_expect_success 'a compose service that exits at start fails up with its logs; everything is rolled back' '
  sed "s/exec httpd -f -p 5432 -h \\/data/echo db giving up; exit 3/" docker-compose.yml >dc.tmp &&
  cp docker-compose.yml dc.orig && cp dc.tmp docker-compose.yml &&
  git commit -qam "db exits" &&
  test_must_fail code=6 berth up ex-a 2>err &&
  git revert --no-edit HEAD >/dev/null &&
  test_grep "docker service .db. Exited (3)" err &&
  test_grep "db giving up" err &&
  test -z "$(labelled ex-a)" &&
  ! docker network ls --format "{{.Name}}" | grep -q "^$(project ex-a)_" &&
  test "$(session_count)" = 0 &&
  test ! -d .berth/worktrees/ex-a
'

test_expect_success 'an unhealthy container fails up at once and is rolled back' '
  python3 - <<EOF_PY &&
import re
s = open("docker-compose.yml").read()
s = s.replace("    container_name: fixed-db\n", "    container_name: fixed-db\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 1s\n      timeout: 1s\n      retries: 1\n")
open("docker-compose.yml", "w").write(s)
EOF_PY
  git commit -qam "db unhealthy" &&
  test_must_fail code=6 berth up uh-a 2>err &&
  git revert --no-edit HEAD >/dev/null &&
  test_grep "docker service .db. is unhealthy" err &&
  test -z "$(labelled uh-a)" &&
  test "$(session_count)" = 0
'

test_expect_success 'a failing post_up rolls back containers, network, worktree and slot' '
  cp .berth.ini ini.bak &&
  printf "\n[hooks]\npost_up = exit 4\n" >>.berth.ini &&
  test_must_fail berth up pu-a 2>err &&
  cp ini.bak .berth.ini &&
  test_grep "hook post_up failed" err &&
  test -z "$(labelled pu-a)" &&
  ! docker network ls --format "{{.Name}}" | grep -q "^$(project pu-a)_" &&
  ! docker volume ls -q | grep -q "$(project pu-a)_" &&
  test "$(session_count)" = 0 &&
  test ! -d .berth/worktrees/pu-a &&
  ! port_listening $((P + 101))
'

test_expect_success 'a daemon that does not answer: a clear error within seconds, nothing left' '
  t0=$(date +%s) &&
  DOCKER_HOST=unix://$TEST_ROOT/no-docker.sock test_must_fail code=1 "$BERTH" up dd-a 2>err &&
  test $(( $(date +%s) - t0 )) -lt 20 &&
  test_grep "the Docker daemon does not answer" err &&
  test "$(session_count)" = 0 &&
  test ! -d .berth/worktrees/dd-a &&
  berth up dd-b >/dev/null 2>&1 &&
  DOCKER_HOST=unix://$TEST_ROOT/no-docker.sock test_must_fail code=1 "$BERTH" down dd-b 2>err &&
  test_grep "once docker answers" err &&
  test -n "$(labelled dd-b)" &&
  berth down dd-b >/dev/null 2>&1 &&
  test -z "$(labelled dd-b)"
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

test_expect_success 'docker stops answering while up waits: a clear error, the session kept for down' '
  real=${DOCKER_HOST:-unix:///var/run/docker.sock} &&
  case $real in unix://*) ;; *) echo "not a unix socket: $real"; exit 0 ;; esac &&
  python3 "$TEST_ROOT/proxy.py" "$TEST_ROOT/proxy.sock" "${real#unix://}" >"$TEST_ROOT/proxy.out" &
  proxy=$!
  test_track_pid $proxy
  wait_for 10 "grep -q ready $TEST_ROOT/proxy.out" "the proxy" &&
  sed "s/exec httpd -f -p 5432/sleep 30; exec httpd -f -p 5432/" docker-compose.yml >dc.tmp &&
  cp dc.tmp docker-compose.yml && git commit -qam "db slow" &&
  (DOCKER_HOST=unix://$TEST_ROOT/proxy.sock exec "$BERTH" up md-a >md.out 2>md.err) &
  upid=$!
  test_track_pid $upid
  wait_for 60 "grep -q \"docker: waiting for\" md.err" "up to wait for the containers" &&
  kill -9 $proxy &&
  t0=$(date +%s) &&
  test_must_fail code=1 wait $upid &&
  test $(( $(date +%s) - t0 )) -lt 30 &&
  git revert --no-edit HEAD >/dev/null &&
  test_grep "docker stopped answering" md.err &&
  test_grep "is kept (stopped)" md.err &&
  berth ls >ls && test_grep "^md-a .*stopped" ls &&
  test -n "$(labelled md-a)" &&
  berth down md-a >out 2>err &&
  test -z "$(labelled md-a)" &&
  test "$(session_count)" = 0
'

REPO2=$TEST_ROOT/crepo
test_expect_success 'container mode builds the worktree'"'"'s Dockerfile and serves the branch'"'"'s content' '
  mkdir -p "$REPO2" && cd "$REPO2" && git init -q -b main &&
  printf ".berth/\n" >.gitignore &&
  printf "FROM berth-test/busybox\nCOPY index.html /www/index.html\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n" >Dockerfile &&
  echo "content of main" >index.html &&
  printf "version: \"3.7\"\nservices:\n  app:\n    build: .\n    ports:\n      - \"8080:8080\"\n" >docker-compose.yml &&
  printf "[berth]\nmode = container\nmax_slots = 2\nport_search_range = 1\n\n[service \"app\"]\nrun = docker\nbase_port = 8080\nhost_port = $((P + 200))\n" >.berth.ini &&
  git add -A && git commit -qm initial &&
  git checkout -qb feat-c && echo "content of feat-c" >index.html && git commit -qam "branch content" &&
  git checkout -q main &&
  "$BERTH" up feat-c >out 2>err &&
  test "$(http_get $((P + 201)) index.html)" = "content of feat-c" &&
  "$BERTH" down feat-c >out 2>err &&
  ! port_listening $((P + 201))
'

test_done
