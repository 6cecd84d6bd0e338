# bench/benchlib.sh: what the benchmarks' run.sh scripts share, sourced
# (`. "$here/bench/benchlib.sh"`) once they have set `bench`, the name that
# starts their messages ("services: ..."). POSIX sh; it defines functions
# and sets `root` (yes: apt_install may run), nothing else.
# shellcheck shell=sh disable=SC2034,SC2154 # bench, and the BENCH_* it sets, are the script's

# need_built DIR FILE...: every FILE is an executable, or the script stops
# (exit 1) saying to build DIR first
need_built() {
  nb_dir=$1
  shift
  for nb_f in "$@"; do
    if [ ! -x "$nb_f" ]; then
      echo "$bench: $nb_f is missing; build first: ninja -C $nb_dir" >&2
      exit 1
    fi
  done
}

# buildtype DIR: the meson build type of the build directory DIR (empty when
# it cannot be read)
buildtype() {
  python3 -c 'import json, sys
print([o["value"] for o in json.load(open(sys.argv[1])) if o["name"] == "buildtype"][0])' \
    "$1/meson-info/intro-buildoptions.json" 2>/dev/null
}

# scratch_dirs NAME PREFIX: BENCH_WORK, a new ${TMPDIR:-/tmp}/berth-bench-NAME.XXXXXX
# with a home/ in it, and BENCH_RUNTIME, a new private /tmp/PREFIX.XXXXXX
# (berth's XDG_RUNTIME_DIR: short, for the tmux runner's socket,
# $XDG_RUNTIME_DIR/berth/<root id>, at most 107 bytes); both exported. The
# script stops (exit 1) when either cannot be made.
scratch_dirs() {
  BENCH_WORK=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-$1.XXXXXX") || exit 1
  export BENCH_WORK
  mkdir -p "$BENCH_WORK/home"
  BENCH_RUNTIME=$(mktemp -d "/tmp/$2.XXXXXX") || { rm -rf "$BENCH_WORK"; exit 1; }
  chmod 700 "$BENCH_RUNTIME"
  export BENCH_RUNTIME
}

# apt_install PKG...: apt-get install, quietly, as root only (an update and
# a second try when the first fails); fails when it cannot
root=no
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && root=yes
apt_install() {
  [ $root = yes ] || return 1
  echo "$bench: apt-get install $*" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1; }
}

# pm2_install PREFIX: pm2 from PREFIX/node_modules, installed there with npm
# (kept for the next run) when it is not yet, node and npm with apt-get when
# missing; sets BENCH_PM2, or BENCH_PM2_WHY to why not
pm2_install() {
  if [ -x "$1/node_modules/.bin/pm2" ]; then
    BENCH_PM2=$1/node_modules/.bin/pm2
    return
  fi
  { command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; } || apt_install nodejs npm
  if command -v npm >/dev/null 2>&1; then
    echo "$bench: npm install pm2 into $1" >&2
    mkdir -p "$1" &&
      { [ -f "$1/package.json" ] ||
          echo '{"name": "berth-bench-peers", "private": true}' >"$1/package.json"; } &&
      (cd "$1" && npm install --no-audit --no-fund --loglevel=error pm2 >/dev/null 2>&1)
    if [ -x "$1/node_modules/.bin/pm2" ]; then
      BENCH_PM2=$1/node_modules/.bin/pm2
    else
      BENCH_PM2_WHY="npm install pm2 failed"
    fi
  else
    BENCH_PM2_WHY="no npm, and it cannot be installed (needs root and apt-get)"
  fi
}

# pm2_pkg_version: the version of $BENCH_PM2, read from its package (`pm2
# --version` would start a daemon); empty without one
pm2_pkg_version() {
  [ -n "$BENCH_PM2" ] || return 0
  node -p "require('$(dirname "$(readlink -f "$BENCH_PM2")")/../package.json').version" 2>/dev/null
}

# supervisord_install: supervisor with apt-get; sets BENCH_SUPERVISORD, or
# BENCH_SUP_WHY to why not
supervisord_install() {
  apt_install supervisor
  BENCH_SUPERVISORD=$(command -v supervisord 2>/dev/null)
  [ -n "$BENCH_SUPERVISORD" ] ||
    BENCH_SUP_WHY="not installed, and apt-get install supervisor failed or needs root"
}
