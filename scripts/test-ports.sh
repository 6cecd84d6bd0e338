#!/bin/sh
# Keep the kernel from handing out the suites' fixed ports (20000-43999) as
# the local port of an outgoing connection while they run: a connection
# that happens to get 36002 makes a test's listener, or docker's proxy for
# a published port, fail with "address already in use" (seen in CI: t5000,
# t4200). As root the range is added to net.ipv4.ip_local_reserved_ports,
# which only affects ports the kernel picks itself (binding them explicitly
# still works), and the previous value is put back by `release`.
# Usage: scripts/test-ports.sh reserve|release [BUILD]
set -u
what=$1
build=${2:-build}
knob=/proc/sys/net/ipv4/ip_local_reserved_ports
saved=$build/reserved-ports.saved
range=20000-43999

say() { echo "test-ports: $*" >&2; }

case $what in
reserve)
  if [ "$(id -u)" != 0 ] || [ ! -w "$knob" ]; then
    say "not root: ports $range stay available to outgoing connections (a test may rarely find its port taken)"
    exit 0
  fi
  mkdir -p "$build"
  old=$(cat "$knob")
  [ -e "$saved" ] || printf '%s\n' "$old" >"$saved"
  if echo "${old:+$old,}$range" >"$knob" 2>/dev/null; then
    say "ports $range reserved from outgoing connections for the run"
  else
    say "cannot reserve ports $range: a test may rarely find its port taken"
  fi
  ;;
release)
  [ -e "$saved" ] || exit 0
  if [ -w "$knob" ]; then
    cat "$saved" >"$knob" 2>/dev/null || say "cannot restore $knob (it keeps $range reserved)"
  fi
  rm -f "$saved"
  ;;
*)
  echo "usage: $0 reserve|release [BUILD]" >&2
  exit 2
  ;;
esac
