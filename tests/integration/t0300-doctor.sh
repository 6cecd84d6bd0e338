#!/bin/sh
# berth doctor: one line per item, the containment line, --json, the
# BERTH_CONTAINMENT=subreaper fallback, outside a repository, the state store
# checked read-only (never created; a corrupt one fails).
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
  for n in libgit2 repository config pidfd subreaper proc proc-children containment \
      tmux docker state.db; do
    grep -q "^[a-z]* *$n " out || { echo "no line for $n" >&2; cat out >&2; return 1; }
  done &&
  test_grep "^ok    libgit2 " out &&
  test_grep "^ok    repository " out &&
  test_grep "^ok    proc " out &&
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
