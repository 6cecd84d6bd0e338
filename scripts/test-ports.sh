#!/bin/sh
# Keep the kernel from handing out the suites' fixed ports (20000-43999) as
# the local port of an outgoing connection, or of a bind to port 0, while
# they run: a connection that happened to get 36002 made docker's proxy for
# a published port fail with "address already in use" (CI: t5000), one on
# 34402 a test's listener (t4200). As root the kernel's range for those
# ports, net.ipv4.ip_local_port_range, becomes 44000-60999 (it is 32768-60999
# by default) and `release` puts the previous one back. (Reserving the
# suites' range instead, ip_local_reserved_ports, made the kernel's picks
# clump at 44000: two binds to port 0 got the same number in one run.)
# Usage: scripts/test-ports.sh reserve|release [BUILD]
set -u
what=$1
build=${2:-build}
knob=/proc/sys/net/ipv4/ip_local_port_range
saved=$build/port-range.saved
low=44000

say() { echo "test-ports: $*" >&2; }

case $what in
reserve)
  if [ "$(id -u)" != 0 ] || [ ! -w "$knob" ]; then
    say "not root: the kernel may give a suite's port to an outgoing connection (rarely: a test then finds its port taken)"
    exit 0
  fi
  # (sh's read takes a byte at a time, which this file does not serve)
  set -- $(cat "$knob")
  old_low=${1:-0} old_high=${2:-0}
  if [ "$old_low" -ge "$low" ] || [ "$old_high" -le $((low + 4096)) ]; then
    say "the kernel's local port range is $old_low-$old_high: left as it is"
    exit 0
  fi
  mkdir -p "$build"
  [ -e "$saved" ] || echo "$old_low $old_high" >"$saved"
  if echo "$low $old_high" >"$knob" 2>/dev/null; then
    say "local ports for outgoing connections: $low-$old_high while the suites run"
  else
    say "cannot set $knob: the kernel may give a suite's port to an outgoing connection"
  fi
  ;;
release)
  [ -e "$saved" ] || exit 0
  cat "$saved" >"$knob" 2>/dev/null || say "cannot restore $knob"
  rm -f "$saved"
  ;;
*)
  echo "usage: $0 reserve|release [BUILD]" >&2
  exit 2
  ;;
esac
