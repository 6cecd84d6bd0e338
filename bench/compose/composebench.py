#!/usr/bin/env python3
"""bench/compose/composebench.py: the timing side of bench/compose/run.sh.

    composebench.py run       `berth up`/`down` of 1 and 3 docker services
                              (mode = hybrid) against the same compose file
                              brought up and down directly, `berth up` of 0
                              services (mode = host), and the docker commands
                              berth runs besides compose's own, each alone
    composebench.py projects  the compose project names the run uses (for
                              run.sh's cleanup)

Configuration comes from the environment (run.sh sets it): BENCH_WORK (the
scratch directory), BENCH_RUNTIME (XDG_RUNTIME_DIR for berth and docker),
BENCH_TAG (a lowercase tag that starts every compose project name of the
run), BENCH_BERTHS ("label=path ...": one berth or more, each measured in
every round; BENCH_BERTH=path for one), BENCH_IMAGE, RUNS; BENCH_RAW=FILE
also writes every counted time there (JSON).

Times are time.monotonic_ns() around each process in this driver. berth's
stderr is read line by line as it arrives, which dates its "docker: ..."
steps. Each round runs every case in turn, so a change of load hits all of
them alike; round 0 is a warm-up and is not counted.
"""
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import die as _die, fmt, listening_ports, med, ms, now, scratch_env  # noqa: E402
from benchlib import timed_lines as _timed_lines  # noqa: E402


def die(msg):
    _die("composebench", msg)

WORK = os.environ.get("BENCH_WORK", "")
BERTHS = [tuple(x.split("=", 1)) for x in os.environ.get("BENCH_BERTHS", "").split()] or \
    [("berth", os.environ.get("BENCH_BERTH", ""))]
RUNTIME = os.environ.get("BENCH_RUNTIME") or os.path.join(WORK, "run")
TAG = os.environ.get("BENCH_TAG", "berthbench")
IMAGE = os.environ.get("BENCH_IMAGE", "berth-test/busybox")
RUNS = int(os.environ.get("RUNS", "5"))
SLUG = "bench"
LABEL = "com.docker.compose.project"
READY_TIMEOUT = 60.0  # seconds, for the direct wait (berth's default ready_timeout)
DIRECT_TICK = 0.01  # the direct wait's pause between two failed tries
STOP_GRACE_S = 1  # the repositories' stop_grace; the direct down gives compose the same

# BENCH_TAG is the run's own (a compose project prefix), not the work dir
ENV = scratch_env(WORK, RUNTIME, tag=False)

# The docker services: (name, container port, berth's host_port). Slot 1 is
# host_port + 1 (port_search_range = 1 keeps a taken port from moving far).
SERVICES1 = [("db", 5432, 37000)]
SERVICES3 = [("db", 5432, 37100), ("cache", 6379, 37110), ("mq", 5672, 37120)]
def note(msg):
    print("composebench: " + msg, file=sys.stderr)


# ---------------------------------------------------------------------------
# Processes, ports and docker objects.

def run_out(argv, cwd=None):
    """(exit status, stdout) of a command, stderr dropped."""
    r = subprocess.run(argv, cwd=cwd, env=ENV, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.returncode, r.stdout


def timed(argv, cwd=None, log=None, quiet=False):
    """(exit status, ms) of one command; its output appended to LOG."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        t0 = now()
        p = subprocess.Popen(argv, cwd=cwd, env=ENV, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.DEVNULL if quiet else subprocess.STDOUT)
        rc = p.wait()
        return rc, ms(now() - t0)
    finally:
        if log:
            out.close()


def timed_lines(argv, cwd, log):
    """benchlib.timed_lines with our environment."""
    return _timed_lines(argv, cwd, ENV, log)


def port_accepts(port):
    """berth's test (src/docker/portcheck.c): 127.0.0.1:PORT takes a
    connection that stays up 100 ms, or that speaks first. docker's proxy
    accepts at once and closes when the container does not listen yet."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    try:
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        except OSError:
            return False
        _, w, _ = select.select([], [s], [], 0.3)
        if not w or s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            return False
        r, _, _ = select.select([s], [], [], 0.1)
        if not r:
            return True  # open, and quiet: a server waiting for its client
        try:
            return len(s.recv(1, socket.MSG_PEEK)) > 0  # a server that speaks first
        except OSError:
            return False
    finally:
        s.close()




def project_objects(project):
    """Containers, networks and volumes carrying the exact compose project
    label: [(kind, id)]."""
    flt = "label=%s=%s" % (LABEL, project)
    got = []
    for kind, argv in (("container", ["docker", "ps", "-aq", "--filter", flt]),
                       ("network", ["docker", "network", "ls", "-q", "--filter", flt]),
                       ("volume", ["docker", "volume", "ls", "-q", "--filter", flt])):
        _, out = run_out(argv)
        got += [(kind, x) for x in out.split()]
    return got


def remove_objects(objs):
    for kind, x in objs:
        if kind == "container":
            run_out(["docker", "rm", "-f", "-v", x])
    for kind, x in objs:
        if kind != "container":
            run_out(["docker", kind, "rm", x])


def compose_cmd():
    """The flavour berth picks: the v2 plugin when it runs, else v1."""
    if run_out(["docker", "compose", "version"])[0] == 0:
        return ["docker", "compose"]
    return ["docker-compose"]


# ---------------------------------------------------------------------------
# The repositories.

def compose_yaml(services):
    y = ['version: "3.7"', "services:"]
    for name, port, _ in services:
        y += ["  %s:" % name,
              "    image: %s" % IMAGE,
              '    command: ["sh", "-c", "exec httpd -f -p %d -h /"]' % port,
              "    ports:",
              '      - "%d:%d"' % (port, port)]
    return "\n".join(y) + "\n"


def make_repo(name, services, prefix):
    """A git repository with one commit: .berth.ini (mode = hybrid with
    SERVICES as run = docker services, or mode = host with no service when
    SERVICES is empty), its docker-compose.yml, .gitignore with .berth/."""
    repo = os.path.join(WORK, name)
    os.makedirs(repo)
    ini = ["[berth]", "mode = %s" % ("hybrid" if services else "host"), "max_slots = 4",
           "port_search_range = 1", "stop_grace = 1s", "prefix = " + prefix, ""]
    for svc, port, host in services:
        ini += ['[service "%s"]' % svc, "run = docker", "base_port = %d" % port,
                "host_port = %d" % host, ""]
    with open(os.path.join(repo, ".berth.ini"), "w") as f:
        f.write("\n".join(ini))
    if services:
        with open(os.path.join(repo, "docker-compose.yml"), "w") as f:
            f.write(compose_yaml(services))
    with open(os.path.join(repo, ".gitignore"), "w") as f:
        f.write(".berth/\n")
    log = os.path.join(WORK, "git.log")
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                 ["git", "commit", "-q", "-m", "initial"]):
        rc, _ = timed(argv, cwd=repo, log=log)
        if rc != 0:
            die("%s failed in %s; see %s" % (" ".join(argv), repo, log))
    return repo


def first(lines, words, start=0.0):
    for t, line in lines:
        if t >= start and words in line:
            return t
    return None


# ---------------------------------------------------------------------------
# One case: berth, or compose directly.

class Case:
    def __init__(self, label, n, repo=None, project=None, ports=(), direct_of=None, berth=None):
        self.label, self.n, self.repo, self.project = label, n, repo, project
        self.berth = berth  # (label, path) of the berth it runs
        self.ports = list(ports)
        self.direct_of = direct_of  # the berth case whose session file it runs
        self.file = None
        self.t = {}  # measure -> [ms]
        self.failures = 0
        self.leftovers = 0
        self.first_failure = None

    def add(self, key, v):
        if v is not None:
            self.t.setdefault(key, []).append(v)

    def med(self, key):
        return med(self.t.get(key, []))


def berth_round(c, counted):
    log = os.path.join(WORK, "%s.log" % os.path.basename(c.repo))
    rc, t_up, lines = timed_lines([c.berth[1], "up", SLUG], c.repo, log)
    ok = rc == 0
    if ok and c.ports:
        # berth says ready: every published port must take a connection
        bad = [p for p in c.ports if not port_accepts(p)]
        if bad:
            ok = False
            note("%s: berth up returned 0 but ports %s do not accept; see %s"
                 % (c.label, bad, log))
    if ok and c.n and c.file is None:
        # the session's compose file, which the direct case runs as it is
        src = os.path.join(c.repo, ".berth", "compose", SLUG, "docker-compose.yml")
        c.file = os.path.join(WORK, "direct-%s.yml" % os.path.basename(c.repo))
        shutil.copyfile(src, c.file)
    if rc != 0:
        # berth rolled the session back itself: nothing to bring down
        c.failures += 1
        if c.first_failure is None:
            c.first_failure = "berth up exited %d; see %s" % (rc, log)
        note("%s: berth up exited %d; see %s" % (c.label, rc, log))
        check_left(c, "berth up (failed)")
        return
    if not ok:
        c.failures += 1
        if c.first_failure is None:
            c.first_failure = "berth up returned before its ports accepted; see %s" % log
    elif counted:
        c.add("up", t_up)
        a = first(lines, "docker: starting")
        w = first(lines, "docker: waiting for")
        b = first(lines, "ready (")
        if a is not None and b is not None:
            c.add("up_pre", a)
            c.add("up_docker", b - a)
            c.add("up_post", t_up - b)
            if w is not None:
                c.add("up_compose", w - a)
                c.add("up_wait", b - w)
                # everything but compose's own `up -d` (the same program as direct)
                c.add("up_own", t_up - (w - a))
    rc, t_down, lines = timed_lines([c.berth[1], "down", SLUG], c.repo, log)
    if rc != 0:
        c.failures += 1
        note("%s: berth down exited %d; see %s" % (c.label, rc, log))
        if c.first_failure is None:
            c.first_failure = "berth down exited %d; see %s" % (rc, log)
    elif ok and counted:
        c.add("down", t_down)
        a = first(lines, "docker: removing project")
        b = first(lines, "removing the worktree")
        if a is not None and b is not None:
            c.add("down_pre", a)
            c.add("down_docker", b - a)
            c.add("down_post", t_down - b)
    check_left(c, "berth down")


def check_left(c, what):
    """Count and remove what WHAT left of C's compose project."""
    if not c.project:
        return
    left = project_objects(c.project)
    if left:
        c.leftovers += len(left)
        note("%s: %s left %s" % (c.label, what, left))
        remove_objects(left)


def direct_round(c, compose, counted):
    b = c.direct_of
    if b.file is None:
        die("%s: no session compose file to run (berth up failed in the warm-up)" % c.label)
    log = os.path.join(WORK, "direct-%d.log" % c.n)
    base = compose + ["-p", c.project, "-f", b.file]
    t0 = now()
    rc, _ = timed(base + ["up", "-d"], log=log)
    t1 = now()
    ok = rc == 0
    if ok:
        deadline = time.monotonic() + READY_TIMEOUT
        for p in b.ports:
            while not port_accepts(p):
                if time.monotonic() > deadline:
                    ok = False
                    note("%s: port %d not ready after %.0f s" % (c.label, p, READY_TIMEOUT))
                    break
                time.sleep(DIRECT_TICK)
            if not ok:
                break
    t2 = now()
    if not ok:
        c.failures += 1
        if c.first_failure is None:
            c.first_failure = "compose up failed (exit %d); see %s" % (rc, log)
    elif counted:
        c.add("up", ms(t2 - t0))
        c.add("up_cli", ms(t1 - t0))
        c.add("wait", ms(t2 - t1))
    # what berth's down runs (src/docker/docker.c), stop_grace as --timeout
    rc, t_down = timed(base + ["down", "--timeout", str(STOP_GRACE_S), "--remove-orphans",
                               "--volumes"], log=log)
    if rc != 0:
        c.failures += 1
        if c.first_failure is None:
            c.first_failure = "compose down exited %d; see %s" % (rc, log)
    elif ok and counted:
        c.add("down", t_down)
    check_left(c, "compose down")


# The docker commands berth runs besides compose up/down themselves
# (src/docker.c): (label, argv, times per `up`, times per `down`).
def probe_commands(compose):
    flt = "label=%s=%s_%s" % (LABEL, TAG, "none")
    ps_fmt = '{{.ID}}\t{{.Label "com.docker.compose.service"}}\t{{.State}}\t{{.Status}}'
    return [
        ("`docker info --format {{.ServerVersion}}` (is the daemon up?)",
         ["docker", "info", "--format", "{{.ServerVersion}}"], "1", "1"),
        ("`docker compose version` (the v2 plugin? %s)"
         % ("yes" if compose[0] == "docker" else "no: fails here"),
         ["docker", "compose", "version"], "1", "1"),
        ("`docker-compose version` (v1: Python start-up)",
         ["docker-compose", "version"], "1" if compose[0] != "docker" else "0",
         "1" if compose[0] != "docker" else "0"),
        ("`docker ps --all --filter label=...` (one poll of the wait; the container sweep)",
         ["docker", "ps", "--all", "--no-trunc", "--filter", flt, "--format", ps_fmt],
         "1 per 100 ms of wait", "1"),
        ("`docker network ls --filter label=...` (network sweep)",
         ["docker", "network", "ls", "--quiet", "--filter", flt], "0", "1"),
        ("`docker volume ls --filter label=...` (volume sweep)",
         ["docker", "volume", "ls", "--quiet", "--filter", flt], "0", "1"),
    ]


def engine_get(path):
    """GET path on the engine's unix socket (as src/docker/engine.c does):
    the answer's status line, or None without a socket."""
    host = ENV.get("DOCKER_HOST", "")
    sock = host[len("unix://"):] if host.startswith("unix://") else \
        (None if host else "/var/run/docker.sock")
    if not sock:
        return None
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(sock)
        s.sendall(("GET %s HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"
                   % path).encode())
        got = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
        return got.split(b"\r\n", 1)[0]
    finally:
        s.close()


def timed_get(path):
    t0 = now()
    ok = engine_get(path)
    return ms(now() - t0) if ok else None


def engine_probes():
    """The engine requests berth makes instead of CLI runs: (label, path,
    per up, per down)."""
    flt = json.dumps({"label": {"%s=%s_%s" % (LABEL, TAG, "none"): True}},
                     separators=(",", ":"))
    q = "filters=" + "".join(c if c.isalnum() or c in "-._~" else "%%%02X" % ord(c)
                             for c in flt)
    return [
        ("engine `GET /_ping` (is the daemon up?)", "/_ping", "1", "1"),
        ("engine `GET /containers/json?all=1&filters=...` (a look of the wait; "
         "the container sweep)", "/containers/json?all=1&" + q, "1 + 1 per change", "1"),
        ("engine `GET /networks?filters=...` (network sweep)", "/networks?" + q, "0", "1"),
        ("engine `GET /volumes?filters=...` (volume sweep)", "/volumes?" + q, "0", "1"),
    ]


# ---------------------------------------------------------------------------

def cmd_run():
    compose = compose_cmd()
    flavour = "v2 (docker compose)" if compose[0] == "docker" else "v1 (docker-compose)"
    # per berth: 0 services (mode = host), 1 and 3 docker services
    per = []
    for k, b in enumerate(BERTHS, 1):
        lb = b[0]
        h0 = Case("%s 0" % lb, 0, repo=make_repo("host0-%d" % k, [], "%s-%dh0" % (TAG, k)),
                  berth=b)
        b1 = Case("%s 1" % lb, 1, repo=make_repo("hybrid1-%d" % k, SERVICES1, "%s-%dh1" % (TAG, k)),
                  project="%s-%dh1_%s" % (TAG, k, SLUG), ports=[h + 1 for _, _, h in SERVICES1],
                  berth=b)
        b3 = Case("%s 3" % lb, 3, repo=make_repo("hybrid3-%d" % k, SERVICES3, "%s-%dh3" % (TAG, k)),
                  project="%s-%dh3_%s" % (TAG, k, SLUG), ports=[h + 1 for _, _, h in SERVICES3],
                  berth=b)
        per.append((b, h0, b1, b3))
    # the direct cases run the first berth's session files
    d1 = Case("direct 1", 1, project=TAG + "-d1", direct_of=per[0][2])
    d3 = Case("direct 3", 3, project=TAG + "-d3", direct_of=per[0][3])
    cases = [c for _, h0, b1, b3 in per for c in (h0, b1, b3)] + [d1, d3]
    busy = sorted(set(per[0][2].ports + per[0][3].ports) & listening_ports())
    if busy:
        die("ports already in use: %s (another run of this benchmark?)" % busy)
    probes = probe_commands(compose)
    probe_t = [[] for _ in probes]
    eprobes = engine_probes()
    eprobe_t = [[] for _ in eprobes]

    for r in range(RUNS + 1):
        counted = r > 0
        note("round %d of %d%s" % (r, RUNS, " (warm-up)" if not counted else ""))
        # every other round the berths go in the other order
        order = per if r % 2 == 0 else per[::-1]
        for _, h0, _, _ in order:
            berth_round(h0, counted)
        for _, _, b1, _ in order:
            berth_round(b1, counted)
        direct_round(d1, compose, counted)
        for _, _, _, b3 in order:
            berth_round(b3, counted)
        direct_round(d3, compose, counted)
        for i, (_, argv, _, _) in enumerate(probes):
            _, t = timed(argv, quiet=True)
            if counted:
                probe_t[i].append(t)
        for i, (_, path, _, _) in enumerate(eprobes):
            t = timed_get(path)
            if counted and t is not None:
                eprobe_t[i].append(t)
        for c in cases:
            if c.failures > RUNS:
                die("%s: too many failures (%d); first: %s" % (c.label, c.failures,
                                                              c.first_failure))

    print("compose %s; the direct cases run berth's own session file "
          "(`%s -p P -f F up -d`, then a wait for each port, then "
          "`down --timeout %d --remove-orphans --volumes`, as berth's down)"
          % (flavour, " ".join(compose), STOP_GRACE_S))
    print()
    print("### `up` until every docker service is ready")
    print()
    print("| berth | services | `berth up` → ready | direct: `up -d` + wait for the port(s) "
          "| of which `up -d` returns | berth − direct | berth − direct − up(0 services) |")
    print("|---|---|---|---|---|---|---|")
    for b, h0, b1, b3 in per:
        up0 = h0.med("up")
        print("| %s | 0 (mode = host: worktree + state only) | %s | — | — | — | — |"
              % (b[0], fmt(up0)))
        for c, d in ((b1, d1), (b3, d3)):
            over = c.med("up") - d.med("up")
            print("| %s | %d (hybrid) | %s | %s | %s | %s | %s |" % (
                b[0], c.n, fmt(c.med("up")), fmt(d.med("up")), fmt(d.med("up_cli")),
                fmt(over), fmt(over - up0)))
    print()
    print("berth's own part of `up`: everything but compose's `up -d` (start → \"docker: "
          "starting\", then \"docker: waiting for\" → exit), against the direct wait. "
          "compose's `up -d` is the same program both ways; under load its spread is "
          "larger than berth's overhead, so this is the overhead measured without it:")
    print()
    print("| berth | services | berth's own part | direct: its wait | berth's own − direct's wait "
          "| `berth up` of 0 services (host mode) |")
    print("|---|---|---|---|---|---|")
    for b, h0, b1, b3 in per:
        for c, d in ((b1, d1), (b3, d3)):
            print("| %s | %d | %s | %s | %s | %s |" % (
                b[0], c.n, fmt(c.med("up_own")), fmt(d.med("wait")),
                fmt(c.med("up_own") - d.med("wait")), fmt(h0.med("up"))))
    print()
    print("### `down`")
    print()
    print("| berth | services | `berth down` | direct: `down` | berth − direct "
          "| berth − direct − down(0 services) | objects left after down (berth / direct) |")
    print("|---|---|---|---|---|---|---|")
    for b, h0, b1, b3 in per:
        down0 = h0.med("down")
        print("| %s | 0 (mode = host) | %s | — | — | — | — |" % (b[0], fmt(down0)))
        for c, d in ((b1, d1), (b3, d3)):
            over = c.med("down") - d.med("down")
            print("| %s | %d (hybrid) | %s | %s | %s | %s | %d / %d |" % (
                b[0], c.n, fmt(c.med("down")), fmt(d.med("down")), fmt(over),
                fmt(over - down0), c.leftovers, d.leftovers))
    print()
    print("### berth's commands by step (from its stderr lines)")
    print()
    print("| berth | services | `up`: start → \"docker: starting\" | → \"docker: waiting for\" "
          "(compose up) | → \"N services ready\" (berth's wait) | → exit "
          "| (compose up + wait) | direct: `up -d` returns | direct: its wait |")
    print("|---|---|---|---|---|---|---|---|---|")
    for b, _, b1, b3 in per:
        for c, d in ((b1, d1), (b3, d3)):
            print("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
                b[0], c.n, fmt(c.med("up_pre")), fmt(c.med("up_compose")),
                fmt(c.med("up_wait")), fmt(c.med("up_post")), fmt(c.med("up_docker")),
                fmt(d.med("up_cli")), fmt(d.med("wait"))))
    print()
    print("| berth | services | `down`: start → \"docker: removing project\" "
          "| → \"removing the worktree\" (compose down + label sweeps) | → exit "
          "| direct: `down` |")
    print("|---|---|---|---|---|---|")
    for b, _, b1, b3 in per:
        for c, d in ((b1, d1), (b3, d3)):
            print("| %s | %d | %s | %s | %s | %s |" % (
                b[0], c.n, fmt(c.med("down_pre")), fmt(c.med("down_docker")),
                fmt(c.med("down_post")), fmt(d.med("down"))))
    print()
    print("### the docker commands and engine requests besides compose's `up`/`down`, "
          "each alone")
    print()
    print("| command | median | runs per `berth up` | runs per `berth down` |")
    print("|---|---|---|---|")
    for (label, _, per_up, per_down), t in zip(probes, probe_t):
        print("| %s | %s | %s | %s |" % (label, fmt(med(t)), per_up, per_down))
    for (label, _, per_up, per_down), t in zip(eprobes, eprobe_t):
        print("| %s (from Python) | %s | %s | %s |" % (label, fmt(med(t)), per_up, per_down))
    raw = os.environ.get("BENCH_RAW")
    if raw:
        with open(raw, "w") as f:
            json.dump({c.label: c.t for c in cases}
                      | {"commands": {label: t for (label, _, _, _), t in zip(probes, probe_t)}}
                      | {"engine": {label: t for (label, _, _, _), t in zip(eprobes, eprobe_t)}},
                      f, indent=1)
    fails = [(c.label, c.failures, c.first_failure) for c in cases if c.failures]
    print()
    if fails:
        for label, n, why in fails:
            print("%s: %d failed runs (not counted); first: %s" % (label, n, why))
    else:
        print("no failed runs; counted rounds: %d" % RUNS)


def cmd_projects():
    names = []
    for k in range(1, len(BERTHS) + 1):
        names += ["%s-%dh1_%s" % (TAG, k, SLUG), "%s-%dh3_%s" % (TAG, k, SLUG)]
    print(" ".join(names + ["%s-d1" % TAG, "%s-d3" % TAG]))


def main():
    if len(sys.argv) != 2 or not WORK:
        die("usage: BENCH_WORK=DIR ... composebench.py run|projects")
    {"run": cmd_run, "projects": cmd_projects}[sys.argv[1]]()


if __name__ == "__main__":
    main()
