# tests/integration/pglib.sh: PostgreSQL helpers for the suites that test
# berth's per-session databases, sourced after tests/lib.sh:
#
#   . "$BERTH_SRCDIR/tests/lib.sh"
#   . "$BERTH_SRCDIR/tests/integration/pglib.sh"
#   pg_require                      # skips the script when PostgreSQL is missing
#   pg_cluster_start 41000 41049    # a throwaway cluster on a free port
#   pgq "select datname from pg_database"
#
# The cluster lives in a directory of its own under /tmp (the postgres user
# cannot enter the test's 0700 directory), is initialised as `postgres` when
# the test runs as root (initdb refuses root) and as the current user
# otherwise, listens on 127.0.0.1 only (password auth, scram) and on a Unix
# socket in its directory (trust: the test's superuser access). The exit
# trap stops it, every postmaster whose data directory is under the test's
# directories (berth's managed servers a failed test left running), and
# removes the directories. Nothing sleeps to wait for state: pg_ctl -w and
# wait_for are bounded.

PG_BINDIR=
PGC_DIR=
PGC_PORT=
# Directories (besides $TEST_ROOT) whose postmasters the exit trap stops and
# which it removes: pg_track_dir adds one.
PG_EXTRA_DIRS=

# pg_require: set PG_BINDIR, or skip the whole script when the PostgreSQL
# server binaries are not installed (make test installs them).
pg_require() {
  for d in "$(pg_config --bindir 2>/dev/null)" $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4,4n -r); do
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && [ -x "$d/postgres" ]; then
      PG_BINDIR=$d
      break
    fi
  done
  if [ -z "$PG_BINDIR" ]; then
    echo "1..0 # SKIP the PostgreSQL server (initdb, pg_ctl, postgres) is not installed (make test installs postgresql)"
    exit 0
  fi
  for c in psql pg_isready; do
    if ! command -v $c >/dev/null 2>&1 && [ ! -x "$PG_BINDIR/$c" ]; then
      echo "1..0 # SKIP $c is not installed (make test installs postgresql)"
      exit 0
    fi
  done
  case ":$PATH:" in *":$PG_BINDIR:"*) ;; *) PATH=$PATH:$PG_BINDIR ;; esac
  export PATH
  # libpq's own variables of the caller must not leak into the tests
  unset PGHOST PGHOSTADDR PGPORT PGDATABASE PGUSER PGPASSWORD PGPASSFILE PGSERVICE PGSERVICEFILE PGOPTIONS PGAPPNAME PGSSLMODE PGCONNECT_TIMEOUT
  trap 'pg_cleanup; test_cleanup' EXIT
}

# The user who owns the test clusters when the test runs as root (initdb
# refuses root): postgres, which Debian's packages make, else nobody.
PG_OWNER=postgres
id postgres >/dev/null 2>&1 || PG_OWNER=nobody

# as_pg_owner CMD...: CMD as the user who owns the test clusters ($PG_OWNER
# when root, else ourselves).
as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then
    # (from /: the owner may not enter the test's directory)
    (cd / && runuser -u "$PG_OWNER" -- "$@")
  else
    "$@"
  fi
}

# pg_free_port LO HI: the first port in LO..HI that no TCP socket uses as
# its local port (IPv4 or IPv6, any state: the range is inside the kernel's
# ephemeral one, so a client's connection may hold a port for a while and a
# listener could not bind it); fails when there is none. Take it right
# before it is used.
pg_free_port() {
  p=$1
  while [ "$p" -le "$2" ]; do
    if [ -z "$(ss -Htan "sport = :$p")" ]; then
      echo "$p"
      return 0
    fi
    p=$((p + 1))
  done
  echo "pg_free_port: every port of $1..$2 is taken" >&2
  return 1
}

# pg_track_dir DIR: the exit trap stops DIR's postmasters and removes DIR.
pg_track_dir() {
  PG_EXTRA_DIRS="$PG_EXTRA_DIRS $1"
}

# pg_cluster_start LO HI: initdb and start a throwaway cluster on a free port
# of LO..HI. Sets PGC_DIR (its directory: data/, log, the socket) and
# PGC_PORT. The superuser is `postgres` (trust on the socket only).
pg_cluster_start() {
  PGC_DIR=$(mktemp -d /tmp/berth-t1900-pg.XXXXXX) || return 1
  pg_track_dir "$PGC_DIR"
  chmod 755 "$PGC_DIR"
  if [ "$(id -u)" = 0 ]; then
    chown "$PG_OWNER": "$PGC_DIR" || return 1
  fi
  as_pg_owner "$PG_BINDIR/initdb" -D "$PGC_DIR/data" -U postgres -A trust \
    --auth-host=scram-sha-256 -E UTF8 --locale=C --no-sync \
    >"$PGC_DIR/initdb.log" 2>&1 || {
    echo "pg_cluster_start: initdb failed:" >&2
    sed 's/^/    /' "$PGC_DIR/initdb.log" >&2
    return 1
  }
  # a port another process takes between the probe and the start: try the next
  tries=0
  while [ $tries -lt 5 ]; do
    PGC_PORT=$(pg_free_port "$1" "$2") || return 1
    if as_pg_owner "$PG_BINDIR/pg_ctl" -D "$PGC_DIR/data" -l "$PGC_DIR/log" -w -t 60 \
      -o "-p $PGC_PORT -k $PGC_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100" \
      start >"$PGC_DIR/pg_ctl.log" 2>&1; then
      return 0
    fi
    tries=$((tries + 1))
    set -- $((PGC_PORT + 1)) "$2"
  done
  echo "pg_cluster_start: the server did not start:" >&2
  sed 's/^/    /' "$PGC_DIR/pg_ctl.log" "$PGC_DIR/log" >&2
  return 1
}

# pgq SQL [DB]: run SQL as the superuser over the cluster's socket; unaligned,
# tuples only, stops at the first error.
pgq() {
  psql -X -q -v ON_ERROR_STOP=1 -h "$PGC_DIR" -p "$PGC_PORT" -U postgres -d "${2:-postgres}" -Atc "$1"
}

# pg_has_db NAME: the database NAME exists on the cluster.
pg_has_db() {
  test "$(pgq "select count(*) from pg_database where datname = '$1'")" = 1
}

# pg_dbs LIKE: the names of the databases matching the LIKE pattern, sorted,
# one a line ('_' is escaped for you: t1900_% means that prefix and '_').
pg_dbs() {
  pat=$(printf '%s' "$1" | sed 's/_/\\_/g')
  pgq "select datname from pg_database where datname like '$pat' order by datname collate \"C\""
}

# pg_backend_pids DB [APPNAME]: the server pids of the client backends
# connected to DB (with that application_name when given), sorted.
pg_backend_pids() {
  if [ -n "${2:-}" ]; then
    pgq "select pid from pg_stat_activity where datname = '$1' and application_name = '$2' order by pid"
  else
    pgq "select pid from pg_stat_activity where datname = '$1' and backend_type = 'client backend' order by pid"
  fi
}

# pg_hold URL APPNAME: a client that stays connected (pg_sleep) to the
# database of URL in the background, under application_name APPNAME; waits
# until the server lists it. Sets HOLD_PID (the psql process, tracked).
pg_hold() {
  # (the server notices within 100 ms that the client is gone, so a killed
  # holder's connection goes with it, not at the end of its pg_sleep)
  PGAPPNAME=$2 PGOPTIONS="-c client_connection_check_interval=100" \
    psql -X -q "$1" -c "select pg_sleep(120)" >/dev/null 2>&1 </dev/null &
  HOLD_PID=$!
  test_track_pid $HOLD_PID
  hold_db=$(printf '%s' "$1" | sed 's|^[^/]*//[^/]*/||; s|?.*||')
  wait_for 20 "test -n \"\$(pg_backend_pids '$hold_db' '$2')\" || ! pid_alive $HOLD_PID" \
    "a connection of $2 to $hold_db" &&
  pid_alive $HOLD_PID
}

# postmaster_pids DIR: the pids of the postgres processes (comm "postgres")
# whose working directory is DIR or under it (a postmaster and every backend
# chdir to their data directory), whoever runs them.
postmaster_pids() {
  python3 - "$1" <<'EOF_PY'
import os, sys
root = os.path.realpath(sys.argv[1])
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    try:
        cwd = os.readlink("/proc/%s/cwd" % p)
        if cwd.endswith(" (deleted)"):
            cwd = cwd[: -len(" (deleted)")]
        stat = open("/proc/%s/stat" % p).read()
    except OSError:
        continue
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    state = stat.rsplit(")", 1)[1].split()[0]
    if comm != "postgres" or state in ("Z", "X"):
        continue
    if cwd == root or cwd.startswith(root + "/"):
        print(p)
EOF_PY
}

# server_datadir PORT: the data directory of the PostgreSQL server that
# listens on PORT (the working directory of the listening process, which
# is a postgres one); empty when none does.
server_datadir() {
  sd_pid=$(ss -Hltnp "sport = :$1" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n 1)
  [ -n "$sd_pid" ] || return 1
  sd_comm=$(cat "/proc/$sd_pid/comm" 2>/dev/null)
  if [ "$sd_comm" != postgres ]; then
    echo "server_datadir: port $1 is held by pid $sd_pid ($sd_comm), not postgres" >&2
    return 1
  fi
  readlink "/proc/$sd_pid/cwd"
}

# pg_stop_dir DIR: stop every postmaster with a data directory under DIR
# (immediate shutdown, then SIGKILL of whatever is left), bounded.
pg_stop_dir() {
  [ -d "$1" ] || return 0
  for pidfile in $(find "$1" -name postmaster.pid 2>/dev/null); do
    pm=$(head -n 1 "$pidfile" 2>/dev/null)
    [ -n "$pm" ] && pid_alive "$pm" && kill -QUIT "$pm" 2>/dev/null
  done
  stop_deadline=$(($(date +%s) + 15))
  while [ -n "$(postmaster_pids "$1")" ] && [ "$(date +%s)" -lt "$stop_deadline" ]; do
    sleep 0.05
  done
  for p in $(postmaster_pids "$1"); do kill -9 "$p" 2>/dev/null; done
  return 0
}

pg_cleanup() {
  pg_stop_dir "$TEST_ROOT"
  for d in $PG_EXTRA_DIRS; do
    pg_stop_dir "$d"
    [ -n "${BERTH_TEST_KEEP:-}" ] || rm -rf "$d"
  done
  return 0
}
