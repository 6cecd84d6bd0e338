#!/bin/sh
# Install what berth needs to build, test and run its demo, on Debian.
# Idempotent: installs only missing packages (apt, as root; `apt-get update` first).
# Usage: scripts/install-deps.sh [build|demo|test|fuzz]
set -eu

want="build"
[ $# -gt 0 ] && want=$1

build_pkgs="gcc meson ninja-build pkg-config libev-dev libgit2-dev libinih-dev libsqlite3-dev libjansson-dev libyaml-dev libpq-dev git"
# fuzz: clang with libFuzzer and the sanitizer runtimes (libclang-rt-dev is only
# recommended by clang), llvm-symbolizer (llvm) for readable crash reports.
fuzz_pkgs="clang libclang-rt-dev llvm"
test_pkgs="python3 lsof iproute2 procps valgrind clang-format sqlite3 tmux docker.io docker-compose busybox-static curl strace postgresql postgresql-client zsh fish"

# demo: PostgreSQL's server (berth runs one for the demo's databases) and psql
demo_pkgs="postgresql postgresql-client"

pkgs=$build_pkgs
[ "$want" = demo ] && pkgs="$build_pkgs $demo_pkgs"
[ "$want" = test ] && pkgs="$build_pkgs $test_pkgs"
[ "$want" = fuzz ] && pkgs="$build_pkgs $fuzz_pkgs"

missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "berth: missing packages:$missing" >&2
  echo "berth: run as root (or: sudo apt-get install$missing)" >&2
  exit 1
fi
echo "berth: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
