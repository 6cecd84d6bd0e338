#!/bin/sh
# `berth flush` against a real Docker engine and the tmux runner: two
# hybrid repositories run sessions of the same names; a flush in A removes
# A's compose projects (containers, volumes, networks) and its tmux server,
# keeps the volumes of a session kept for its uncommitted work until
# --force, and leaves B's containers (same ids), volumes, tmux server and
# processes, and every project whose name merely contains A's prefix; a
# project of A's that no session record names any more goes too.
. "$BERTH_SRCDIR/tests/lib.sh"
test_require_docker
test_require_tmux

P=38000
export BERTH_TEST_LISTEN

write_compose() {
  cat >"$1" <<'EOF_YML'
version: "3.7"
services:
  db:
    image: berth-test/busybox
    command: ["sh", "-c", "echo db >/data/index.html; exec httpd -f -p 5432 -h /data"]
    ports:
      - "5432:5432"
    volumes:
      - dbdata:/data
volumes:
  dbdata:
EOF_YML
}

# ini BASE: a hybrid repository under the tmux runner, its ports from BASE.
ini() {
  cat <<EOF_INI
[berth]
mode = hybrid
runner = tmux
max_slots = 4
port_search_range = 1
stop_grace = 1s

[service "db"]
run = docker
base_port = 5432
host_port = $1
ready_timeout = 60s

[service "web"]
command = exec "\$BERTH_TEST_LISTEN" \$PORT
base_port = $(($1 + 100))
depends_on = db
EOF_INI
}

write_compose "$REPO/docker-compose.yml"
ini $P | setup_repo
ROOT_ID=$(root_id_of)
PREFIX=$(berth config show | sed -n 's/^prefix = //p')

OTHER=$TEST_ROOT/other
mkdir -p "$OTHER" && git -C "$OTHER" init -q -b main &&
  printf '.berth/\n' >"$OTHER/.gitignore" && write_compose "$OTHER/docker-compose.yml" &&
  ini $((P + 500)) >"$OTHER/.berth.ini" && git -C "$OTHER" add -A &&
  git -C "$OTHER" commit -q -m initial || exit 1
OTHER_ID=$(root_id_of "$OTHER")
OTHER_PREFIX=$(cd "$OTHER" && berth config show | sed -n 's/^prefix = //p')
# B's projects too, whatever happens (lib.sh's cleanup knows A's prefix)
trap '(PREFIX=$OTHER_PREFIX; test_kill_docker); docker rm -f flush-decoy-1 flush-decoy-2 flush-left-1 flush-shared-1 >/dev/null 2>&1; test_cleanup' EXIT

SOCK=$XDG_RUNTIME_DIR/berth/$ROOT_ID
OTHER_SOCK=$XDG_RUNTIME_DIR/berth/$OTHER_ID

# objects PREFIX KIND: the compose project names of KIND (ps, volume,
# network) that start with PREFIX_, sorted, each once.
objects() {
  case $2 in
  ps) docker ps -a --filter label=com.docker.compose.project --format '{{.Label "com.docker.compose.project"}}' ;;
  *) docker "$2" ls --filter label=com.docker.compose.project --format '{{.Label "com.docker.compose.project"}}' ;;
  esac | grep "^$1_" | sort -u
}
# ids PROJECT: its containers' full ids, sorted.
ids() {
  docker ps -a -q --no-trunc --filter "label=com.docker.compose.project=$1" | sort
}
test_expect_success 'flush in A (h2 dirty): A'"'"'s projects and tmux server gone but h2'"'"'s volume, exit 7; B and look-alike projects untouched' '
  for s in h1 h2; do
    berth up $s -q >/dev/null && (cd "$OTHER" && berth up $s -q >/dev/null) || return 1
  done &&
  echo draft >.berth/worktrees/h2/draft.txt &&
  docker run -d --rm --name flush-decoy-1 --label "com.docker.compose.project=${PREFIX}_not_a_slug" berth-test/busybox sleep 1000 >/dev/null &&
  docker run -d --rm --name flush-decoy-2 --label "com.docker.compose.project=x${PREFIX}_h1" berth-test/busybox sleep 1000 >/dev/null &&
  docker run -d --rm --name flush-left-1 --label "com.docker.compose.project=${PREFIX}_gone" berth-test/busybox sleep 1000 >/dev/null &&
  docker volume create --label "com.docker.compose.project=${PREFIX}_gone" "${PREFIX}_gone_data" >/dev/null &&
  test_eq "$(objects "$PREFIX" ps | wc -l)" 4 &&
  b_ids=$(ids "${OTHER_PREFIX}_h1"; ids "${OTHER_PREFIX}_h2") && test -n "$b_ids" &&
  b_vols=$(objects "$OTHER_PREFIX" volume) && test_eq "$(echo "$b_vols" | wc -l)" 2 &&
  b_nets=$(objects "$OTHER_PREFIX" network) &&
  b_pids=$(marked_snapshot "$OTHER_ID") && test -n "$b_pids" &&
  b_server=$(tmux -S "$OTHER_SOCK" display -p "#{pid}") &&
  test -S "$SOCK" &&
  test_must_fail code=7 berth flush --yes >out 2>err &&
  test_grep "h1  *removed" out &&
  test_grep "h2  *stopped and kept: its worktree" out &&
  test_grep "compose  *removed 1 project with its volumes and networks: ${PREFIX}_gone" out &&
  ! docker inspect flush-left-1 >/dev/null 2>&1 &&
  test_grep "flush: not every session was removed: .h2. (kept: uncommitted work" err &&
  test_eq "$(objects "$PREFIX" ps)" "${PREFIX}_not_a_slug" &&
  test_eq "$(objects "$PREFIX" volume)" "${PREFIX}_h2" &&
  test -z "$(ids "${PREFIX}_h1")" && test -z "$(ids "${PREFIX}_h2")" &&
  test ! -e "$SOCK" && test -z "$(marked_pids "$ROOT_ID")" &&
  test_eq "$(ls_get h2 status)" stopped && test -f .berth/worktrees/h2/draft.txt &&
  test ! -e .berth/worktrees/h1 &&
  test_eq "$(docker inspect -f "{{.State.Running}}" flush-decoy-1)" true &&
  test_eq "$(docker inspect -f "{{.State.Running}}" flush-decoy-2)" true &&
  test_eq "$(ids "${OTHER_PREFIX}_h1"; ids "${OTHER_PREFIX}_h2")" "$b_ids" &&
  test_eq "$(objects "$OTHER_PREFIX" volume)" "$b_vols" &&
  test_eq "$(objects "$OTHER_PREFIX" network)" "$b_nets" &&
  test_eq "$(marked_snapshot "$OTHER_ID")" "$b_pids" &&
  test_eq "$(tmux -S "$OTHER_SOCK" display -p "#{pid}")" "$b_server" &&
  curl -s --max-time 5 "http://127.0.0.1:$((P + 501))/index.html" | grep -q db &&
  port_listening $((P + 601)) && port_listening $((P + 602))
'

test_expect_success 'flush --yes --force in A: the kept session and its volume go too, exit 0; B still untouched' '
  b_ids=$(ids "${OTHER_PREFIX}_h1"; ids "${OTHER_PREFIX}_h2") &&
  b_pids=$(marked_snapshot "$OTHER_ID") &&
  berth flush --yes --force >out 2>err &&
  test_grep "h2  *removed" out &&
  test -z "$(objects "$PREFIX" volume)" && test -z "$(objects "$PREFIX" network)" &&
  test_eq "$(objects "$PREFIX" ps)" "${PREFIX}_not_a_slug" &&
  test ! -e .berth && test -f .berth.ini &&
  test_eq "$(git worktree list --porcelain | grep -c "^worktree ")" 1 &&
  test_eq "$(ids "${OTHER_PREFIX}_h1"; ids "${OTHER_PREFIX}_h2")" "$b_ids" &&
  test_eq "$(marked_snapshot "$OTHER_ID")" "$b_pids" &&
  (cd "$OTHER" && berth shutdown -q >/dev/null) &&
  test -z "$(objects "$OTHER_PREFIX" ps)" &&
  docker rm -f flush-decoy-1 flush-decoy-2 >/dev/null
'

test_expect_success 'prefix set in .berth.ini (shared by clones): flush keeps a project of that prefix no session of A left a file for, and says so' '
  printf "[berth]\nprefix = shared-t5100\n" >>.berth.ini &&
  docker run -d --rm --name flush-shared-1 --label "com.docker.compose.project=shared-t5100_feat" berth-test/busybox sleep 1000 >/dev/null &&
  berth flush --yes >out 2>err &&
  test_grep "kept shared-t5100_feat: the prefix .shared-t5100. is set in .berth.ini" out &&
  test_eq "$(docker inspect -f "{{.State.Running}}" flush-shared-1)" true &&
  docker rm -f flush-shared-1 >/dev/null &&
  git checkout -q .berth.ini
'

test_done
