#!/bin/sh
# berth doctor: one line per item, the containment line, --json, the
# BERTH_CONTAINMENT=subreaper fallback, outside a repository, the state store
# checked read-only (never created; a corrupt one fails), tmux missing from
# PATH, a Docker daemon nobody answers for at DOCKER_HOST, the tmux socket
# directory's mode.
. "$BERTH_SRCDIR/tests/lib.sh"

# doctor exits 0, or 1 when this machine lacks something berth needs: the
# tests below check what it says, not the machine (a failing line is shown).
doctor_ran() {
  rc=$1
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; then
    echo "doctor exited $rc" >&2
    return 1
  fi
  if [ "$rc" -eq 1 ]; then
    say "doctor found a failure on this machine:"
    grep "^fail" out | sed 's/^/#   /'
  fi
  return 0
}

# json_assert FILE 'python statements': run them with the JSON document in
# d and each check by name in c (one python3 per document: it starts slowly).
json_assert() {
  python3 - "$1" "$2" <<'EOF_PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = {x["name"]: x for x in d["checks"]}
exec(sys.argv[2])
EOF_PY
}

test_expect_success 'doctor in a repository: exit 0, every item, the containment line' '
  setup_repo <<-EOF &&
	[berth]
	runner = process
	EOF
  berth doctor >out 2>err &&
  for n in git libgit2 repository config pidfd subreaper proc proc-children sock_diag \
      containment tmux socket-dir docker state.db; do
    grep -q "^[a-z]* *$n " out || { echo "no line for $n" >&2; cat out >&2; return 1; }
  done &&
  test_grep "^ok    git  *git version [0-9]" out &&
  test_grep "^ok    libgit2 " out &&
  test_grep "^ok    repository " out &&
  test_grep "^ok    subreaper  *prctl(PR_SET_CHILD_SUBREAPER) works" out &&
  test_grep "^ok    proc " out &&
  test_grep "^[a-z]* *sock_diag  *\(a NETLINK_SOCK_DIAG dump works\|a NETLINK_SOCK_DIAG dump fails .*falls back\)" out &&
  test_grep "^[a-z]* *containment  *\(cgroup v2 at .*contained\|none: \)" out &&
  test_grep "[0-9]* ok, [0-9]* warnings\{0,1\}, 0 failures$" out &&
  test ! -s err
'

test_expect_success 'doctor does not create the state store' '
  test ! -e .berth/state.db &&
  test_grep "^ok    state.db  *no state store yet" out
'

test_expect_success '--json parses and has the containment' '
  berth doctor --json >out.json &&
  json_assert out.json "
assert sorted(d) == [\"cgroup\", \"checks\", \"containment\"], d
assert [x[\"name\"] for x in d[\"checks\"]] == [\"git\", \"libgit2\", \"repository\", \"config\",
    \"pidfd\", \"subreaper\", \"proc\", \"proc-children\", \"sock_diag\", \"containment\",
    \"tmux\", \"socket-dir\", \"docker\", \"state.db\"], d
assert d[\"containment\"] in (\"cgroup\", \"subreaper\"), d
assert (d[\"cgroup\"] is not None) == (d[\"containment\"] == \"cgroup\"), d
for x in d[\"checks\"]:
    assert sorted(x) == [\"detail\", \"name\", \"status\"], x
    assert x[\"status\"] in (\"ok\", \"warn\", \"fail\"), x
    assert isinstance(x[\"detail\"], str) and x[\"detail\"], x
assert c[\"repository\"][\"status\"] == \"ok\", c
assert \"containment\" in c and \"state.db\" in c, c
"
'

test_expect_success 'BERTH_CONTAINMENT=subreaper: containment subreaper, with the reason' '
  BERTH_CONTAINMENT=subreaper berth doctor >out 2>err &&
  test_grep "^warn  containment  *none: BERTH_CONTAINMENT=subreaper is set; berth falls back to its shims. subreaper" out &&
  BERTH_CONTAINMENT=subreaper berth doctor --json >out.json &&
  json_assert out.json "
assert d[\"containment\"] == \"subreaper\" and d[\"cgroup\"] is None, d
assert c[\"containment\"][\"status\"] == \"warn\", c
assert \"BERTH_CONTAINMENT=subreaper is set\" in c[\"containment\"][\"detail\"], c
"
'

test_expect_success 'outside a repository it still runs: the repository is a warning' '
  mkdir -p "$TEST_ROOT/norepo" && cd "$TEST_ROOT/norepo" &&
  { berth doctor >out 2>err; doctor_ran $?; } &&
  test_grep "^warn  repository  *not inside a git repository" out &&
  test_grep "^ok    libgit2 " out &&
  test_grep_not "state.db" out &&
  test_grep_not "^[a-z]* *config " out &&
  { berth doctor --json >out.json; doctor_ran $?; } &&
  json_assert out.json "assert c[\"repository\"][\"status\"] == \"warn\" and \"state.db\" not in c, c" &&
  test ! -e .berth
'

test_expect_success 'a sound state store: quick_check ok, and it is left as it was' '
  berth ls >/dev/null 2>&1 &&
  test ! -e .berth &&
  test_quiet berth up doc-s &&
  test_quiet berth down doc-s &&
  test -s .berth/state.db &&
  sum=$(cksum <.berth/state.db) &&
  berth doctor >out 2>err &&
  test_grep "^ok    state.db  *.*state.db: quick_check ok" out &&
  test "$(cksum <.berth/state.db)" = "$sum"
'

test_expect_success 'a corrupt or foreign state store fails (exit 1), untouched' '
  cp .berth/state.db "$TEST_ROOT/good.db" &&
  printf "not a database at all, but long enough to have a header of a hundred bytes......................." >.berth/state.db &&
  sum=$(cksum <.berth/state.db) &&
  test_must_fail code=1 berth doctor >out 2>err &&
  test_grep "^fail  state.db  *.*not a berth state store" out &&
  test_grep "[0-9]* ok, [0-9]* warnings\{0,1\}, 1 failure$" out &&
  test "$(cksum <.berth/state.db)" = "$sum" &&
  test_must_fail code=1 berth doctor --json >out.json &&
  json_assert out.json "assert c[\"state.db\"][\"status\"] == \"fail\", c" &&
  cp "$TEST_ROOT/good.db" .berth/state.db &&
  rm -f .berth/state.db-wal .berth/state.db-shm &&
  printf "\377%.0s" $(seq 64) | dd of=.berth/state.db bs=1 seek=4096 conv=notrunc 2>/dev/null &&
  sum=$(cksum <.berth/state.db) &&
  test_must_fail code=1 berth doctor >out 2>err &&
  test_grep "^fail  state.db  *the state store .* is corrupt (.*malformed.*).*move it away" out &&
  test "$(cksum <.berth/state.db)" = "$sum" &&
  cp "$TEST_ROOT/good.db" .berth/state.db
'

test_expect_success 'runner = tmux without a usable tmux fails; runner = process only warns' '
  mkdir -p "$TEST_ROOT/bin" &&
  printf "#!/bin/sh\necho \"tmux 2.9a\"\n" >"$TEST_ROOT/bin/tmux" &&
  chmod +x "$TEST_ROOT/bin/tmux" &&
  env PATH="$TEST_ROOT/bin:$PATH" "$BERTH" doctor >out 2>err &&
  test_grep "^warn  tmux  *tmux 2.9a is too old (needed only for runner = tmux)" out &&
  printf "[berth]\nrunner = tmux\n" >.berth.ini &&
  test_must_fail code=1 env PATH="$TEST_ROOT/bin:$PATH" "$BERTH" doctor >out 2>err &&
  test_grep "^fail  tmux  *tmux 2.9a is too old: the tmux runner needs 3.2 or later" out
'

# A PATH with everything of ours but tmux: a directory of symlinks to every
# program of every PATH directory (the first of each name wins, as in PATH)
# except tmux.
make_path_without_tmux() {
  nt=$TEST_ROOT/no-tmux-bin
  rm -rf "$nt" && mkdir -p "$nt" &&
  ( IFS=:; for dir in $PATH; do
      [ -d "$dir" ] || continue
      for f in "$dir"/*; do
        name=${f##*/}
        [ "$name" = tmux ] && continue
        [ -x "$f" ] && [ ! -e "$nt/$name" ] && ln -s "$f" "$nt/$name"
      done
    done; true ) &&
  NO_TMUX_PATH=$nt &&
  ! PATH=$NO_TMUX_PATH command -v tmux >/dev/null 2>&1 &&
  PATH=$NO_TMUX_PATH command -v git >/dev/null
}

test_expect_success 'no tmux in PATH: a warning under runner = process, a failure under runner = tmux, with what to install' '
  make_path_without_tmux &&
  printf "[berth]\nrunner = process\n" >.berth.ini &&
  { env PATH="$NO_TMUX_PATH" "$BERTH" doctor >out 2>err; doctor_ran $?; } &&
  test_grep "^warn  tmux  *tmux is not installed (needed only for runner = tmux): install tmux 3.2 or later (apt-get install tmux)$" out &&
  test_grep "^ok    git " out &&
  printf "[berth]\nrunner = tmux\n" >.berth.ini &&
  test_must_fail code=1 env PATH="$NO_TMUX_PATH" "$BERTH" doctor >out 2>err &&
  test_grep "^fail  tmux  *tmux is not installed: install tmux 3.2 or later (apt-get install tmux)$" out &&
  test_must_fail code=1 env PATH="$NO_TMUX_PATH" "$BERTH" doctor --json >out.json &&
  json_assert out.json "
assert c[\"tmux\"][\"status\"] == \"fail\", c
assert \"apt-get install tmux\" in c[\"tmux\"][\"detail\"], c
"
'

test_expect_success 'a Docker daemon that does not answer at DOCKER_HOST: named, with what to do' '
  if ! command -v docker >/dev/null 2>&1; then
    say "docker is not installed: only the missing-docker line is checked" &&
    { berth doctor >out 2>err; doctor_ran $?; } &&
    test_grep "^[a-z]* *docker  *docker is not installed" out &&
    return 0
  fi &&
  sock=$TEST_ROOT/dead-docker.sock &&
  python3 -c "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])" "$sock" &&
  test -S "$sock" &&
  printf "[berth]\nrunner = process\n" >.berth.ini &&
  { DOCKER_HOST=unix://$sock berth doctor >out 2>err; doctor_ran $?; } &&
  test_grep "^warn  docker  *the Docker daemon at DOCKER_HOST=unix://$sock does not answer (this config uses no docker service) (.*): start it, or point DOCKER_HOST at one that runs" out &&
  printf "[berth]\nmode = container\n\n[service \"app\"]\nrun = docker\nbase_port = 8080\n" >.berth.ini &&
  test_must_fail code=1 env DOCKER_HOST=unix://$sock "$BERTH" doctor >out 2>err &&
  test_grep "^fail  docker  *the Docker daemon at DOCKER_HOST=unix://$sock does not answer (.*): start it, or point DOCKER_HOST" out &&
  test_must_fail code=1 env DOCKER_HOST=unix://$sock "$BERTH" doctor --json >out.json &&
  json_assert out.json "assert c[\"docker\"][\"status\"] == \"fail\" and \"DOCKER_HOST\" in c[\"docker\"][\"detail\"], c"
'

test_expect_success 'the tmux socket directory: not made by doctor; a mode others can enter is refused with chmod 700' '
  printf "[berth]\nrunner = process\n" >.berth.ini &&
  sd=$XDG_RUNTIME_DIR/berth &&
  rm -rf "$sd" &&
  { berth doctor >out 2>err; doctor_ran $?; } &&
  test_grep "^ok    socket-dir  *$sd (under \$XDG_RUNTIME_DIR) is not there yet: the tmux runner makes it, mode 0700" out &&
  test ! -e "$sd" &&
  mkdir -m 0755 "$sd" &&
  { berth doctor >out 2>err; doctor_ran $?; } &&
  test_grep "^warn  socket-dir  *$sd has mode 0755 (used only by runner = tmux): .*\`chmod 700 $sd\`" out &&
  printf "[berth]\nrunner = tmux\n" >.berth.ini &&
  test_must_fail code=1 berth doctor >out 2>err &&
  test_grep "^fail  socket-dir  *$sd has mode 0755: .*\`chmod 700 $sd\`" out &&
  chmod 700 "$sd" &&
  { berth doctor >out 2>err; doctor_ran $?; } &&
  test_grep "^ok    socket-dir  *$sd (under \$XDG_RUNTIME_DIR): yours, mode 0700" out &&
  rmdir "$sd"
'

# libgit2 is loaded when a command first works on worktrees (git/git2.c):
# a library of that soname that is not libgit2, found first through
# LD_LIBRARY_PATH, stands for a broken or missing install.
test_expect_success 'a libgit2 that cannot be loaded: doctor fails naming it, up and down fail (1) and change nothing, ls and env still run' '
  if ! command -v cc >/dev/null 2>&1; then
    say "no C compiler to build the stand-in library: not checked" &&
    return 0
  fi &&
  printf "[berth]\nrunner = process\n" >.berth.ini &&
  { berth doctor >out 2>err; doctor_ran $?; } &&
  ver=$(sed -n "s/^ok    libgit2  *libgit2 \([0-9]*\.[0-9]*\)\..*/\1/p" out) &&
  test -n "$ver" &&
  mkdir -p fakegit &&
  echo "int berth_not_libgit2;" >fakegit/e.c &&
  cc -shared -fPIC -o "fakegit/libgit2.so.$ver" fakegit/e.c &&
  test_must_fail code=1 env LD_LIBRARY_PATH="$PWD/fakegit" "$BERTH" doctor >out 2>err &&
  test_grep "^fail  libgit2  *libgit2.so.$ver has no git_[a-z_]*: it is not the libgit2 berth was built against; rebuild berth: berth cannot create or remove worktrees$" out &&
  test_must_fail code=1 env LD_LIBRARY_PATH="$PWD/fakegit" "$BERTH" up lg >out 2>err &&
  test_grep "^berth: up: libgit2.so.$ver has no git_" err &&
  test_must_fail code=2 env LD_LIBRARY_PATH="$PWD/fakegit" "$BERTH" up "bad..name" 2>err &&
  test_grep "must not contain" err &&
  env LD_LIBRARY_PATH="$PWD/fakegit" "$BERTH" ls --json >ls.json &&
  test "$(cat ls.json)" = "[]" &&
  test ! -e .berth/worktrees/lg &&
  ! git rev-parse -q --verify refs/heads/lg >/dev/null &&
  berth up lg >out 2>err &&
  env LD_LIBRARY_PATH="$PWD/fakegit" "$BERTH" env lg >env.out &&
  test_grep "^BERTH_SLUG=lg$" env.out &&
  env LD_LIBRARY_PATH="$PWD/fakegit" "$BERTH" status lg >out 2>err &&
  test_must_fail code=1 env LD_LIBRARY_PATH="$PWD/fakegit" "$BERTH" down lg >out 2>err &&
  test_grep "nothing was changed" err &&
  test -d .berth/worktrees/lg &&
  berth down lg >out 2>err &&
  test ! -e .berth/worktrees/lg &&
  rm -rf fakegit
'

# libgit2 built with mbedTLS parses the system's CA bundle at set-up (5-12
# ms); berth speaks to no remote and binds that parse to its own stand-in
# (git/git2.c): doctor says so only when the stand-in was called.
test_expect_success 'libgit2 built with mbedTLS: its set-up parses no CA bundle' '
  printf "[berth]\nrunner = process\n" >.berth.ini &&
  { berth doctor >out 2>err; doctor_ran $?; } &&
  ver=$(sed -n "s/^ok    libgit2  *libgit2 \([0-9]*\.[0-9]*\)\..*/\1/p" out) &&
  lib=$(ldconfig -p | sed -n "s/^[[:space:]]*libgit2\.so\.$ver .*=> //p" | head -n 1) &&
  if test -z "$lib" || ! ldd "$lib" | grep -q "libmbedx509"; then
    say "libgit2 ${lib:-(not found by ldconfig)} is not built with mbedTLS: nothing to skip" &&
    test_grep_not "CA bundle" out &&
    return 0
  fi &&
  test_grep "^ok    libgit2  *libgit2 [0-9.]* (its CA bundle is not parsed: berth speaks to no remote)$" out
'

test_expect_success 'an invalid .berth.ini fails with its line' '
  printf "[berth]\nrunnr = tmux\n" >.berth.ini &&
  test_must_fail code=1 berth doctor >out 2>err &&
  test_grep "^fail  config  *.*\.berth\.ini:2" out
'

test_expect_success 'doctor takes no argument but --json' '
  test_must_fail code=2 berth doctor extra 2>err &&
  test_grep "berth doctor --help" err &&
  test_must_fail code=2 berth doctor --bogus 2>err
'

test_done
