#!/usr/bin/env python3
"""bench/db_clone.py: how fast a session gets its own copy of a PostgreSQL
database with data, for a source of about 10 MB and one of about 100 MB
(pg_database_size), the ways side by side in one run:

  1. clone by file copy: `CREATE DATABASE s TEMPLATE seed` (seed: a copy of
     the source nobody connects to, what berth clones from), once with
     STRATEGY = FILE_COPY and once with WAL_LOG (PostgreSQL 15's default);
     then `DROP DATABASE s` (timed apart); both again on a "busy" cluster,
     right after BUSY_MB (50) MB were written in another database of the
     cluster and not checkpointed (FILE_COPY checkpoints before it copies)
  2. `CREATE DATABASE t TEMPLATE template0` + `pg_dump -Fc source |
     pg_restore -d t`: a fresh empty database loaded from a dump, the usual way
  3. a fresh cluster per session (what a fresh container per session does, a
     cluster here since no image can be pulled): initdb + start until the
     postmaster says ready + pg_restore of a dump made beforehand into its
     `postgres` database; stopping it and removing it is timed apart
  4. `berth db reset <slug>` in a repository whose .berth.ini has a
     [database] section pointing at the benchmark's cluster (url, source):
     berth copies the source into its seed again, then drops the session's
     database and clones it from the seed; `berth db refresh` (the seed copy
     alone) is timed beside it, and `berth up` and `berth down` once. Only
     when the berth binary knows `db` (else a line says it is skipped)

Usage: bench/db_clone.py [--berth PATH] [--runs N | --quick] [--sizes 10,100]
                         [--pg-bin DIR] [--raw FILE]

The benchmark makes its own throwaway cluster (initdb into a scratch
directory, trust authentication, 127.0.0.1 on the first free port from 41500
on, the default postgresql.conf: fsync on, shared_buffers 128 MB). When run as
root, every server-side program (initdb, pg_ctl, postgres) runs as the
`postgres` user, which owns the scratch directory; the client programs (psql,
pg_dump, pg_restore) connect over TCP as the cluster's superuser `bench`. At
exit, Ctrl-C and errors included, the clusters are stopped, berth's session
is brought down and the scratch directory is removed.

The data is deterministic SQL (generate_series): accounts, orders and
order_lines with primary keys, two foreign keys, a unique constraint and
three secondary indexes, then VACUUM ANALYZE. An empty database of
PostgreSQL 15 is already about 7.5 MB (the catalogs), which the sizes
include.

Times are time.monotonic_ns() around the processes this driver runs (psql,
pg_dump | pg_restore, initdb...), so each includes a process start and a
connection; a `psql -c 'SELECT 1'` row gives that cost. For (1) the server's
own time (psql's \\timing) is shown too. Before every timed step the driver
runs CHECKPOINT and sync(2) (untimed), so no step pays for the dirty buffers
or the dirty page cache of the one before it (the "busy" variants then
dirty the cluster on purpose). Each round runs every case in turn, so a
change of load hits all alike; round 0 is a warm-up, not counted, in which
every copy is checked (row counts of the three tables against the source).
"""
import argparse
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import fmt, listening_ports, med, ms, now  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUPERUSER = "bench"
TABLES = ("accounts", "orders", "order_lines")
SLUG = "dbbench"
READY_TIMEOUT = 60.0  # seconds, for a postmaster to say ready
READY_TICK = 0.005    # the poll of postmaster.pid (pg_ctl -w polls every 100 ms)
FIRST_PORT = 41500
BUSY_MB = 50          # written elsewhere in the cluster before a "busy" clone

# bytes of pg_database_size per unit of scale (measured on PostgreSQL 15.18:
# 1000 -> 10.6 MB, 10000 -> 32.2 MB, 42000 -> 103.4 MB) and an empty database
BYTES_PER_SCALE = 2300
EMPTY_DB = 7_700_000

SCHEMA = """
CREATE TABLE accounts (
  id bigint PRIMARY KEY,
  email text NOT NULL UNIQUE,
  name text NOT NULL,
  created_at timestamptz NOT NULL,
  balance numeric(12,2) NOT NULL);
CREATE TABLE orders (
  id bigint PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES accounts,
  status text NOT NULL,
  amount numeric(12,2) NOT NULL,
  created_at timestamptz NOT NULL,
  note text);
CREATE TABLE order_lines (
  order_id bigint NOT NULL REFERENCES orders,
  line int NOT NULL,
  sku text NOT NULL,
  qty int NOT NULL,
  price numeric(10,2) NOT NULL,
  PRIMARY KEY (order_id, line));
INSERT INTO accounts
  SELECT i, 'user' || i || '@example.invalid', 'name ' || md5(i::text),
         timestamptz '2020-01-01 00:00+00' + i * interval '17 minutes',
         (i * 7919 % 100000) / 100.0
  FROM generate_series(1::bigint, :n) i;
INSERT INTO orders
  SELECT i, 1 + (i * 7919) % :n, (ARRAY['new','paid','shipped','done'])[1 + i % 4],
         (i * 104729 % 1000000) / 100.0,
         timestamptz '2020-01-01 00:00+00' + i * interval '3 minutes',
         CASE WHEN i % 3 = 0 THEN md5(i::text) || md5((i + 1)::text) END
  FROM generate_series(1::bigint, 4 * :n) i;
INSERT INTO order_lines
  SELECT o, l, 'SKU-' || lpad(((o * 31 + l) % 50000)::text, 6, '0'), 1 + (o + l) % 5,
         ((o * 13 + l) % 10000) / 100.0
  FROM generate_series(1::bigint, 4 * :n) o, generate_series(1, 3) l;
CREATE INDEX orders_account ON orders (account_id);
CREATE INDEX orders_created ON orders (created_at);
CREATE INDEX order_lines_sku ON order_lines (sku);
VACUUM ANALYZE;
"""


def note(msg):
    print("db_clone: " + msg, file=sys.stderr, flush=True)


class Fail(Exception):
    pass


# ---------------------------------------------------------------------------
# Processes.

class Env:
    """Where the run lives: the scratch directory, the PostgreSQL programs,
    the user the server side runs as, the environment of every process."""

    def __init__(self, work, pg_bin):
        self.work = work
        self.pg_bin = pg_bin
        self.as_postgres = os.geteuid() == 0
        self.env = dict(os.environ)
        for k in list(self.env):
            if k.startswith("PG"):
                del self.env[k]
        home = os.path.join(work, "home")
        self.env.update(
            HOME=home, PGUSER=SUPERUSER, PGHOST="127.0.0.1", PGCONNECT_TIMEOUT="10",
            XDG_CONFIG_HOME=os.path.join(home, ".config"),
            XDG_DATA_HOME=os.path.join(home, ".local/share"),
            XDG_STATE_HOME=os.path.join(home, ".local/state"),
            XDG_CACHE_HOME=os.path.join(home, ".cache"),
            XDG_RUNTIME_DIR=os.path.join(work, "run"),
            GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="berth-bench",
            GIT_AUTHOR_EMAIL="bench@berth.invalid", GIT_COMMITTER_NAME="berth-bench",
            GIT_COMMITTER_EMAIL="bench@berth.invalid", NO_COLOR="1", LC_ALL="C")
        self.log = os.path.join(work, "commands.log")

    def pg(self, prog):
        return os.path.join(self.pg_bin, prog)

    def popen(self, argv, server=False, stdin=subprocess.DEVNULL, stdout=None, cwd=None):
        """ARGV started; SERVER: as the postgres user when we are root.
        stderr (and stdout unless given) go to the log."""
        kw = {}
        if server and self.as_postgres:
            kw = dict(user="postgres", group="postgres", extra_groups=[])
        with open(self.log, "ab") as log:
            log.write(("$ %s\n" % " ".join(argv)).encode())
            log.flush()
            return subprocess.Popen(argv, cwd=cwd or self.work, env=self.env, stdin=stdin,
                                    stdout=stdout if stdout is not None else log,
                                    stderr=log, **kw)

    def run(self, argv, server=False, cwd=None):
        """(ms, exit status) of ARGV."""
        t0 = now()
        rc = self.popen(argv, server=server, cwd=cwd).wait()
        return ms(now() - t0), rc

    def must(self, argv, server=False, cwd=None):
        t, rc = self.run(argv, server=server, cwd=cwd)
        if rc != 0:
            raise Fail("%s exited %d; see %s" % (" ".join(argv), rc, self.log))
        return t

    def out(self, argv, server=False):
        """(ms, exit status, stdout) of ARGV."""
        t0 = now()
        p = self.popen(argv, server=server, stdout=subprocess.PIPE)
        data = p.stdout.read()
        rc = p.wait()
        t = ms(now() - t0)
        p.stdout.close()
        return t, rc, data.decode(errors="replace")


def port_free(port):
    if port in listening_ports():
        return False
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(start, taken=()):
    for p in range(start, start + 1000):
        if p not in taken and port_free(p):
            return p
    raise Fail("no free port in %d..%d" % (start, start + 999))


# ---------------------------------------------------------------------------
# Clusters.

class Cluster:
    def __init__(self, env, name, port):
        self.env, self.port = env, port
        self.dir = os.path.join(env.work, name)
        self.data = os.path.join(self.dir, "data")
        self.logfile = os.path.join(self.dir, "postgres.log")
        self.started = False
        self.fresh_port = None  # the main cluster's: where case 3's clusters listen

    def initdb(self):
        os.makedirs(self.dir)
        if self.env.as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        return self.env.must([self.env.pg("initdb"), "-D", self.data, "-U", SUPERUSER,
                              "--auth=trust", "-E", "UTF8", "--locale=C"], server=True)

    def start(self):
        """pg_ctl start without waiting, then a poll of postmaster.pid every
        READY_TICK until its status line says ready: ms."""
        t0 = now()
        opts = "-p %d -k %s -c listen_addresses=127.0.0.1" % (self.port, self.dir)
        self.started = True
        self.env.must([self.env.pg("pg_ctl"), "start", "-W", "-s", "-D", self.data,
                       "-l", self.logfile, "-o", opts], server=True)
        pidfile = os.path.join(self.data, "postmaster.pid")
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                with open(pidfile) as f:
                    lines = f.read().split("\n")
                if len(lines) > 7 and lines[7].strip() == "ready":
                    return ms(now() - t0)
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise Fail("the postmaster on port %d is not ready after %.0f s; see %s"
                           % (self.port, READY_TIMEOUT, self.logfile))
            time.sleep(READY_TICK)

    def stop(self, mode="fast"):
        if not self.started:
            return 0.0
        t, rc = self.env.run([self.env.pg("pg_ctl"), "stop", "-s", "-w", "-m", mode,
                              "-D", self.data], server=True)
        if rc == 0:
            self.started = False
        return t

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    # the client side
    def psql(self, db, *cmds):
        return [self.env.pg("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-p", str(self.port),
                "-d", db] + [a for c in cmds for a in ("-c", c)]

    def sql(self, db, *cmds):
        """Run SQL commands in DB (errors are fatal): ms."""
        return self.env.must(self.psql(db, *cmds))

    def value(self, db, query):
        _, rc, out = self.env.out(self.psql(db, query) + ["-At"])
        if rc != 0:
            raise Fail("psql -c %r exited %d; see %s" % (query, rc, self.env.log))
        return out.strip()

    def timed_sql(self, db, cmd):
        """CMD in its own psql: (wall ms, the server's ms from \\timing)."""
        t, rc, out = self.env.out(self.psql(db, "\\timing on", cmd))
        if rc != 0:
            raise Fail("psql -c %r exited %d; see %s" % (cmd, rc, self.env.log))
        m = re.search(r"Time: ([0-9.]+) ms", out)
        return t, float(m.group(1)) if m else None

    def checkpoint(self):
        """CHECKPOINT: ms."""
        return self.sql("postgres", "CHECKPOINT")

    def quiesce(self):
        """Before a timed step: CHECKPOINT, then sync(2), so that the step
        pays neither for the dirty buffers nor for the dirty page cache of
        the one before it (on ext4 an fsync commits the journal, which
        writes out other files' dirty data too)."""
        self.checkpoint()
        os.sync()

    def counts(self, db):
        q = " UNION ALL ".join("SELECT count(*) FROM %s" % t for t in TABLES)
        return self.value(db, q).split()

    def wal_lsn(self):
        return self.value("postgres", "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")


# ---------------------------------------------------------------------------
# One size.

class Size:
    def __init__(self, mb):
        self.mb = mb
        self.scale = max(1, int((mb * 1_000_000 - EMPTY_DB) / BYTES_PER_SCALE))
        self.src, self.seed = "src_%d" % mb, "seed_%d" % mb
        self.dump = None
        self.t = {}       # key -> [ms]
        self.info = {}
        self.berth_skip = None
        self.repo = None
        self.berth_up = False

    def add(self, key, v):
        if v is not None:
            self.t.setdefault(key, []).append(v)


def prepare(main, s):
    env = main.env
    note("%d MB: generating %s (scale %d)" % (s.mb, s.src, s.scale))
    main.sql("postgres", "CREATE DATABASE %s" % s.src)
    schema = os.path.join(env.work, "schema.sql")
    with open(schema, "w") as f:
        f.write(SCHEMA)
    t = env.must(main.psql(s.src) + ["-v", "n=%d" % s.scale, "-f", schema])
    main.sql("postgres", "CREATE DATABASE %s TEMPLATE %s STRATEGY = FILE_COPY" % (s.seed, s.src))
    s.info["generate_ms"] = t
    s.info["db_size"] = int(main.value("postgres", "SELECT pg_database_size('%s')" % s.src))
    s.info["rel_size"] = int(main.value(s.src, "SELECT sum(pg_total_relation_size(c.oid)) FROM "
                                        "pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                                        " WHERE n.nspname = 'public' AND c.relkind = 'r'"))
    s.info["counts"] = main.counts(s.src)
    s.dump = os.path.join(env.work, "%s.dump" % s.src)
    env.must([env.pg("pg_dump"), "-p", str(main.port), "-Fc", "-f", s.dump, s.src])
    s.info["dump_size"] = os.path.getsize(s.dump)
    if abs(s.info["db_size"] - s.mb * 1_000_000) > 0.25 * s.mb * 1_000_000:
        note("%d MB: the source is %.1f MB (BYTES_PER_SCALE is off for this PostgreSQL)"
             % (s.mb, s.info["db_size"] / 1e6))


def check(main, s, db, what, cluster=None):
    got = (cluster or main).counts(db)
    if got != s.info["counts"]:
        raise Fail("%s: row counts %s, the source has %s" % (what, got, s.info["counts"]))


def make_busy(main):
    """The database the "busy cluster" variants write to before a clone."""
    main.sql("postgres", "CREATE DATABASE busy")
    main.sql("busy", "CREATE TABLE churn (id int, pad text)")


def dirty(main):
    """About BUSY_MB of new table data in another database of the cluster,
    committed and not yet checkpointed: what other sessions' writes leave
    for the next checkpoint (in shared buffers, or written to the page
    cache and not yet fsynced)."""
    main.sql("busy", "TRUNCATE churn",
             "INSERT INTO churn SELECT i, repeat(md5(i::text), 6) "
             "FROM generate_series(1, %d) i" % (BUSY_MB * 1_000_000 // 240))


def case_clone(main, s, strategy, counted, warm, busy=False):
    main.quiesce()
    if busy:
        dirty(main)
    lsn0 = int(main.wal_lsn())
    t, srv = main.timed_sql("postgres", "CREATE DATABASE s_%d TEMPLATE %s STRATEGY = %s"
                            % (s.mb, s.seed, strategy))
    wal = int(main.wal_lsn()) - lsn0
    if warm:
        check(main, s, "s_%d" % s.mb, "clone (%s)" % strategy)
    t_ckpt = main.checkpoint()
    os.sync()
    t_drop, srv_drop = main.timed_sql("postgres", "DROP DATABASE s_%d" % s.mb)
    if counted:
        k = strategy.lower()
        if busy:
            s.add(k + "_busy", t)
            s.add(k + "_busy_srv", srv)
            return
        s.add(k, t)
        s.add(k + "_srv", srv)
        s.add(k + "_wal", wal / 1e6)
        s.add(k + "_ckpt", t_ckpt)
        s.add(k + "_drop", t_drop)
        s.add(k + "_drop_srv", srv_drop)
        s.add(k + "_reset", t + t_drop)


def case_dump(main, s, counted, warm):
    env = main.env
    main.quiesce()
    db = "d_%d" % s.mb
    t0 = now()
    t_create = main.sql("postgres", "CREATE DATABASE %s TEMPLATE template0" % db)
    t1 = now()
    dump = env.popen([env.pg("pg_dump"), "-p", str(main.port), "-Fc", s.src],
                     stdout=subprocess.PIPE)
    restore = env.popen([env.pg("pg_restore"), "-p", str(main.port), "--exit-on-error",
                         "-d", db], stdin=dump.stdout)
    dump.stdout.close()
    rc_r, rc_d = restore.wait(), dump.wait()
    t2 = now()
    if rc_r or rc_d:
        raise Fail("pg_dump | pg_restore exited %d | %d; see %s" % (rc_d, rc_r, env.log))
    if warm:
        check(main, s, db, "dump | restore")
    main.quiesce()
    t_drop = main.sql("postgres", "DROP DATABASE %s" % db)
    if counted:
        s.add("dump", ms(t2 - t0))
        s.add("dump_create", t_create)
        s.add("dump_pipe", ms(t2 - t1))
        s.add("dump_drop", t_drop)


def case_fresh(main, s, counted, warm):
    env = main.env
    fresh = Cluster(env, "fresh-%d" % s.mb, main.fresh_port)
    main.quiesce()
    try:
        t0 = now()
        t_init = fresh.initdb()
        t_start = fresh.start()
        t_load = env.must([env.pg("pg_restore"), "-p", str(fresh.port), "--exit-on-error",
                           "-d", "postgres", s.dump])
        t = ms(now() - t0)
        if warm:
            check(main, s, "postgres", "fresh cluster", cluster=fresh)
        t0 = now()
        fresh.stop()
        fresh.remove()
        t_down = ms(now() - t0)
    finally:
        fresh.stop("immediate")
        fresh.remove()
    if counted:
        s.add("fresh", t)
        s.add("fresh_initdb", t_init)
        s.add("fresh_start", t_start)
        s.add("fresh_restore", t_load)
        s.add("fresh_down", t_down)


# ---------------------------------------------------------------------------
# berth.

def berth_has_db(berth, env):
    """None when BERTH knows `db`, else why not."""
    if not os.access(berth, os.X_OK):
        return "no berth binary at %s (build it: ninja -C build, or give --berth PATH)" % berth
    p = subprocess.run([berth, "db", "--help"], env=env.env, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        first = (p.stdout.strip().splitlines() or [""])[0]
        return "%s does not know `db` (`berth db --help` exits %d: %s)" % (
            berth, p.returncode, first)
    return None


def berth_repo(main, s):
    """A git repository with one commit: .berth.ini (mode = host, no service,
    [database] on the benchmark's cluster with the source), .gitignore."""
    env = main.env
    repo = os.path.join(env.work, "repo-%d" % s.mb)
    os.makedirs(repo)
    ini = ["[berth]", "mode = host", "max_slots = 4", "",
           "[database]", "engine = postgres",
           "url = postgres://%s:bench@127.0.0.1:%d/postgres" % (SUPERUSER, main.port),
           "source = %s" % s.src, ""]
    with open(os.path.join(repo, ".berth.ini"), "w") as f:
        f.write("\n".join(ini))
    with open(os.path.join(repo, ".gitignore"), "w") as f:
        f.write(".berth/\n")
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                 ["git", "commit", "-q", "-m", "initial"]):
        env.must(argv, cwd=repo)
    return repo


def berth_dbs(main):
    """The databases of the cluster: a set of names."""
    return set(main.value("postgres", "SELECT datname FROM pg_database").split())


def case_berth(main, s, berth, counted, warm):
    env = main.env
    if s.repo is None:
        s.repo = berth_repo(main, s)
    if not s.berth_up:
        before = berth_dbs(main)
        main.quiesce()
        t, rc = env.run([berth, "up", SLUG], cwd=s.repo)
        if rc != 0:
            raise Fail("berth up %s exited %d; see %s" % (SLUG, rc, env.log))
        s.berth_up = True
        s.info["berth_up_ms"] = t
        s.info["berth_dbs"] = sorted(berth_dbs(main) - before)
    main.quiesce()
    t_refresh, rc = env.run([berth, "db", "refresh"], cwd=s.repo)
    if rc != 0:
        raise Fail("berth db refresh exited %d; see %s" % (rc, env.log))
    main.quiesce()
    t, rc = env.run([berth, "db", "reset", SLUG], cwd=s.repo)
    if rc != 0:
        raise Fail("berth db reset %s exited %d; see %s" % (SLUG, rc, env.log))
    if warm:
        new = [d for d in s.info["berth_dbs"] if not d.endswith("__seed")]
        if len(new) == 1:
            check(main, s, new[0], "berth db reset")
        else:
            note("%d MB: berth up made the databases %s; no row count check"
                 % (s.mb, s.info["berth_dbs"]))
    if counted:
        s.add("berth_reset", t)
        s.add("berth_refresh", t_refresh)


def berth_down(main, s, berth):
    if not s.berth_up:
        return
    t, rc = main.env.run([berth, "down", "--force", SLUG], cwd=s.repo)
    s.berth_up = False
    if rc == 0:
        s.info["berth_down_ms"] = t
    else:
        note("berth down %s exited %d; see %s" % (SLUG, rc, main.env.log))


# ---------------------------------------------------------------------------
# The report.

def cell(s, key):
    v = s.t.get(key)
    if not v:
        return "—", "—"
    return fmt(med(v)), "%s – %s" % (fmt(min(v)), fmt(max(v)))


def ratio(a, b):
    if a != a or b != b or not b:
        return "—"
    r = a / b
    return "%.0f×" % r if r >= 10 else "%.1f×" % r


def report(sizes, main, args, berth, berth_why):
    head = "| | " + " | ".join("%d MB: median | min – max" % s.mb for s in sizes) + " |"
    rule = "|---|" + "---|---|" * len(sizes)

    def row(label, key, bold=False):
        cells = []
        for s in sizes:
            m, r = cell(s, key)
            cells += ["**%s**" % m if bold and m != "—" else m, r]
        print("| %s | %s |" % (label, " | ".join(cells)))

    print("### The sources")
    print()
    print("| source | pg_database_size | of which the 3 tables with their indexes "
          "| rows (accounts / orders / order_lines) | `pg_dump -Fc` file | generated in |")
    print("|---|---|---|---|---|---|")
    for s in sizes:
        print("| %d MB (scale %d) | %.1f MB | %.1f MB | %s | %.1f MB | %s |" % (
            s.mb, s.scale, s.info["db_size"] / 1e6, s.info["rel_size"] / 1e6,
            " / ".join(s.info["counts"]), s.info["dump_size"] / 1e6, fmt(s.info["generate_ms"])))
    print()
    print("### A session's own copy (median of %d; min – max)" % args.runs)
    print()
    print(head)
    print(rule)
    row("**1a. clone: `CREATE DATABASE s TEMPLATE seed STRATEGY = FILE_COPY`**",
        "file_copy", True)
    row("  in the server (psql `\\timing`)", "file_copy_srv")
    row("**1b. clone: `… STRATEGY = WAL_LOG`** (PostgreSQL 15's default)", "wal_log", True)
    row("  in the server (psql `\\timing`)", "wal_log_srv")
    row("**1a, busy cluster: FILE_COPY** after %d MB were written in another database "
        "(no checkpoint since)" % BUSY_MB, "file_copy_busy", True)
    row("**1b, busy cluster: WAL_LOG**, the same", "wal_log_busy", True)
    row("**2. `CREATE DATABASE t TEMPLATE template0` + `pg_dump -Fc src \\| pg_restore -d t`**",
        "dump", True)
    row("  of which `CREATE DATABASE` (empty)", "dump_create")
    row("  of which `pg_dump \\| pg_restore`", "dump_pipe")
    row("**3. fresh cluster: initdb + start + `pg_restore` of the dump**", "fresh", True)
    row("  of which `initdb`", "fresh_initdb")
    row("  of which start until ready (postmaster.pid polled every 5 ms)", "fresh_start")
    row("  of which `pg_restore -d postgres FILE`", "fresh_restore")
    if berth_why is None:
        row("**4. `berth db reset %s`** (drop, then one file copy straight from the "
            "source, nobody being connected to it)" % SLUG, "berth_reset", True)
        row("  for comparison: `berth db refresh` (the seed copy alone)", "berth_refresh")
    else:
        print("| **4. `berth db reset`** | " + " | ".join(["skipped", ""] * len(sizes)) + " |")
    row("1a: the `CHECKPOINT` after it (the writes it left to the checkpointer)",
        "file_copy_ckpt")
    row("1b: the `CHECKPOINT` after it", "wal_log_ckpt")
    row("1a: `DROP DATABASE s` after it", "file_copy_drop")
    row("1b: `DROP DATABASE s` after it", "wal_log_drop")
    row("1a: drop + clone (what a reset does), FILE_COPY", "file_copy_reset")
    row("1b: drop + clone, WAL_LOG", "wal_log_reset")
    row("2: `DROP DATABASE t`", "dump_drop")
    row("3: `pg_ctl stop -m fast` + remove the data directory", "fresh_down")
    row("reference: `psql -c 'SELECT 1'` (a process and a connection)", "psql")
    print()
    print("WAL written by one clone: FILE_COPY %s, WAL_LOG %s." % (
        ", ".join("%.2f MB (%d MB)" % (med(s.t.get("file_copy_wal", [])), s.mb) for s in sizes),
        ", ".join("%.1f MB (%d MB)" % (med(s.t.get("wal_log_wal", [])), s.mb) for s in sizes)))
    if berth_why is not None:
        print()
        print("4 skipped: %s." % berth_why)
    else:
        print()
        for s in sizes:
            print("berth, %d MB: `berth up` (worktree, state, the clone) %s, databases it made: "
                  "%s; `berth down --force` %s." % (
                      s.mb, fmt(s.info.get("berth_up_ms")),
                      ", ".join(s.info.get("berth_dbs", [])) or "none",
                      fmt(s.info.get("berth_down_ms"))))
    print()
    print("### Speed-up of the clone (ratio of medians)")
    print()
    print("| | " + " | ".join("%d MB" % s.mb for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for label, a, b in (("2 (dump \\| restore) ÷ 1a (FILE_COPY)", "dump", "file_copy"),
                        ("3 (fresh cluster) ÷ 1a (FILE_COPY)", "fresh", "file_copy"),
                        ("2 (dump \\| restore) ÷ 1b (WAL_LOG)", "dump", "wal_log"),
                        ("3 (fresh cluster) ÷ 1b (WAL_LOG)", "fresh", "wal_log"),
                        ("1b (WAL_LOG) ÷ 1a (FILE_COPY)", "wal_log", "file_copy"),
                        ("busy cluster: 1b (WAL_LOG) ÷ 1a (FILE_COPY)", "wal_log_busy",
                         "file_copy_busy"),
                        ("2 (dump \\| restore) ÷ 1a on a busy cluster (FILE_COPY)", "dump",
                         "file_copy_busy"),
                        ("4 (berth db reset) ÷ 1a drop + clone (FILE_COPY)", "berth_reset",
                         "file_copy_reset"),
                        ("2 (dump \\| restore) ÷ 4 (berth db reset)", "dump", "berth_reset")):
        if "berth_reset" in (a, b) and berth_why is not None:
            continue
        print("| %s | %s |" % (label, " | ".join(
            ratio(med(s.t.get(a, [])), med(s.t.get(b, []))) for s in sizes)))
    print()
    big = max(sizes, key=lambda s: s.mb)
    fc, wl, dr = (med(big.t.get(k, [])) for k in ("file_copy", "wal_log", "dump"))
    best = "FILE_COPY" if fc <= wl else "WAL_LOG"
    print("Target, %d MB source: a clone well under 1 s and ≥ 10× faster than dump/restore. "
          "FILE_COPY: %s, %s faster (%s); WAL_LOG: %s, %s faster (%s). Faster here: **%s**." % (
              big.mb, fmt(fc), ratio(dr, fc), "met" if fc < 1000 and dr >= 10 * fc else "not met",
              fmt(wl), ratio(dr, wl), "met" if wl < 1000 and dr >= 10 * wl else "not met", best))


# ---------------------------------------------------------------------------

def find_pg_bin():
    """The newest /usr/lib/postgresql/<version>/bin with an initdb, else
    initdb's directory on PATH, else None."""
    root = "/usr/lib/postgresql"
    found = []
    for v in os.listdir(root) if os.path.isdir(root) else []:
        d = os.path.join(root, v, "bin")
        if v.isdigit() and os.access(os.path.join(d, "initdb"), os.X_OK):
            found.append((int(v), d))
    if found:
        return max(found)[1]
    initdb = shutil.which("initdb")
    return os.path.dirname(initdb) if initdb else None


def on_term(signum, frame):
    raise KeyboardInterrupt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--berth", default=os.path.join(REPO, "build", "berth"),
                    help="the berth binary (default: build/berth of this repository)")
    ap.add_argument("--runs", type=int, default=5, help="counted rounds (default 5)")
    ap.add_argument("--quick", action="store_true", help="2 counted rounds")
    ap.add_argument("--sizes", default="10,100", help="source sizes in MB (default 10,100)")
    ap.add_argument("--pg-bin", default=None, help="PostgreSQL's bin directory")
    ap.add_argument("--raw", default=None, help="also write every time to FILE (JSON)")
    args = ap.parse_args()
    if args.quick:
        args.runs = 2
    sizes = [Size(int(x)) for x in args.sizes.split(",")]
    berth = os.path.abspath(args.berth)
    pg_bin = args.pg_bin or find_pg_bin()
    if not pg_bin or not os.access(os.path.join(pg_bin, "initdb"), os.X_OK):
        print("db_clone: skipped: no PostgreSQL server programs (initdb); "
              "apt-get install postgresql, or --pg-bin DIR")
        return 0
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            print("db_clone: skipped: running as root and there is no `postgres` user "
                  "to run the server as")
            return 0

    signal.signal(signal.SIGTERM, on_term)
    work = tempfile.mkdtemp(prefix="berth-bench-db.")
    env = Env(work, pg_bin)
    os.makedirs(os.path.join(work, "home"))
    os.makedirs(os.path.join(work, "run"), mode=0o700)
    if env.as_postgres:
        pw = pwd.getpwnam("postgres")
        os.chown(work, pw.pw_uid, pw.pw_gid)
    os.chmod(work, 0o755)
    main_c = None
    rc = 1
    try:
        port = free_port(FIRST_PORT)
        main_c = Cluster(env, "main", port)
        main_c.fresh_port = free_port(port + 1)
        main_c.initdb()
        main_c.start()
        version = main_c.value("postgres", "SHOW server_version")
        berth_why = berth_has_db(berth, env)
        if berth_why:
            note("step 4 skipped: " + berth_why)
        make_busy(main_c)
        for s in sizes:
            prepare(main_c, s)

        for r in range(args.runs + 1):
            counted, warm = r > 0, r == 0
            note("round %d of %d%s" % (r, args.runs, " (warm-up)" if warm else ""))
            for s in sizes:
                case_clone(main_c, s, "FILE_COPY", counted, warm)
                case_clone(main_c, s, "WAL_LOG", counted, warm)
                case_clone(main_c, s, "FILE_COPY", counted, warm, busy=True)
                case_clone(main_c, s, "WAL_LOG", counted, warm, busy=True)
                case_dump(main_c, s, counted, warm)
                case_fresh(main_c, s, counted, warm)
                if berth_why is None:
                    try:
                        case_berth(main_c, s, berth, counted, warm)
                    except Fail as e:
                        berth_why = "it failed: %s" % e
                        note("step 4 stopped: %s" % e)
                t, _ = env.run(main_c.psql("postgres", "SELECT 1"))
                if counted:
                    s.add("psql", t)
        for s in sizes:
            berth_down(main_c, s, berth)

        print("%s, %d CPUs, Linux %s, loadavg %s at the end; PostgreSQL %s (%s), default "
              "postgresql.conf (fsync on); berth %s; median of %d counted rounds after a "
              "warm-up round" % (
                  time.strftime("%Y-%m-%d", time.gmtime()), os.cpu_count(), platform.release(),
                  " ".join(open("/proc/loadavg").read().split()[:3]), version, pg_bin,
                  berth if berth_why is None else "not run", args.runs))
        print()
        report(sizes, main_c, args, berth, berth_why)
        if args.raw:
            with open(args.raw, "w") as f:
                json.dump({"%d MB" % s.mb: {"times": s.t, "info": s.info} for s in sizes},
                          f, indent=1)
        rc = 0
    except Fail as e:
        note(str(e))
        log = os.path.join(work, "commands.log")
        try:
            with open(log) as f:
                tail = f.read().splitlines()[-20:]
            note("the last lines of the commands' output:\n" + "\n".join(tail))
        except OSError:
            pass
    except KeyboardInterrupt:
        note("interrupted")
        rc = 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for s in sizes:
            if s.berth_up:
                berth_down(main_c, s, berth)
        for name in os.listdir(work):
            if name.startswith("fresh-"):
                c = Cluster(env, name, 0)
                c.started = True
                c.stop("immediate")
        if main_c is not None:
            main_c.stop("immediate")
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
