#!/bin/sh
# Make a Docker engine answer for the docker suites, and build their test
# image locally (no registry is reachable): `make test` runs this.
#   - a daemon that answers `docker info` is used as it is;
#   - else, as root, dockerd is started in the background (its log in
#     $BUILD/dockerd.log) and waited for, at most 60 s;
#   - the image berth-test/busybox is a busybox rootfs (busybox-static)
#     turned into an image with `docker import`, made when missing.
# Never fails the build: when no engine can run it says why, and the docker
# suites skip with that reason (tests/docker_e2e/).
# Usage: scripts/docker-up.sh [BUILD]
set -u
build=${1:-build}
mkdir -p "$build"
status=$build/docker-status

say() { echo "docker-up: $*" >&2; }
unavailable() {
  say "$*"
  echo "$*" >"$status"
  exit 0
}

command -v docker >/dev/null 2>&1 || unavailable "no docker client (apt-get install docker.io)"
if ! docker info >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || unavailable "no Docker daemon answers and starting one needs root"
  dockerd=$(command -v dockerd || echo /usr/sbin/dockerd)
  [ -x "$dockerd" ] || unavailable "no dockerd (apt-get install docker.io)"
  say "starting dockerd (log: $build/dockerd.log)"
  # --iptables=false: published ports still work (docker-proxy); a sandbox
  # without iptables can run it too.
  nohup "$dockerd" --iptables=false >"$build/dockerd.log" 2>&1 </dev/null &
  i=0
  while ! docker info >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -gt 600 ] || ! kill -0 $! 2>/dev/null; then
      tail -n 5 "$build/dockerd.log" >&2
      unavailable "dockerd did not come up (see $build/dockerd.log)"
    fi
    sleep 0.1
  done
fi

if ! docker image inspect berth-test/busybox >/dev/null 2>&1; then
  bb=$(command -v busybox || echo /bin/busybox)
  [ -x "$bb" ] || unavailable "no busybox for the test image (apt-get install busybox-static)"
  root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/tmp" "$root/data" "$root/www"
  cp "$bb" "$root/bin/busybox"
  for a in sh ls cat echo sleep nc httpd wget mkdir rm true false env test printf grep \
    kill ps hostname date touch; do
    ln -s busybox "$root/bin/$a"
  done
  if ! tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' - \
    berth-test/busybox:latest >/dev/null; then
    rm -rf "$root"
    unavailable "docker import of the test image failed"
  fi
  rm -rf "$root"
  say "built the test image berth-test/busybox"
fi
echo ok >"$status"
