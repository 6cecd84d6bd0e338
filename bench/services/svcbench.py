#!/usr/bin/env python3
"""bench/services/svcbench.py: the timing side of bench/services/run.sh.

    svcbench.py updown    `berth up`/`down` of 0, 1 and 10 listener services
                          against the same listeners started by a shell; 1
                          and 10 again under runner = tmux, beside tmux
                          alone starting them; with BENCH_BERTH_BASE, the
                          runners again with that baseline build
    svcbench.py fail      instant failure: `berth up` -> exit 6, against the
                          bare spawn and a fixed 1.5 s survival window
    svcbench.py peers     5 listeners: berth, a shell, pm2, supervisord
    svcbench.py cleanup   stop whatever the benchmark left (sessions, daemons,
                          processes) and print how many processes it found

Configuration comes from the environment (run.sh sets it): BENCH_WORK (the
scratch directory), BENCH_RUNTIME (XDG_RUNTIME_DIR for berth: short, so that
the tmux socket path fits; default BENCH_WORK/run), BENCH_BERTH, BENCH_LISTEN,
RUNS, COLD_RUNS, BENCH_TMUX (tmux's version), BENCH_PM2 and BENCH_SUPERVISORD
(empty: skipped, BENCH_TMUX_WHY / BENCH_PM2_WHY / BENCH_SUP_WHY say why).

Every process the benchmark starts gets BENCH_TAG=<scratch dir> in its
environment; `cleanup` finds leftovers by that tag (never by name) and kills
them by pid. Times are time.monotonic_ns() around each step in this process;
"all listen" is this process reading /proc/net/tcp every 0.5 ms, the same
observer for every system.
"""
import json
import re
import os
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import alive, answering, die as _die, fmt, kill_pids, kill_tagged  # noqa: E402
from benchlib import listener_pids, listening_ports, med, ms, now, run_logged  # noqa: E402
from benchlib import scratch_env, sessions_down, spawn as _spawn, timed_lines  # noqa: E402
from benchlib import supervisor_conf as benchlib_supervisor_conf, wait_until as _wait_until  # noqa: E402


def die(msg):
    _die("svcbench", msg)

WORK = os.environ.get("BENCH_WORK", "")
BERTH = os.environ.get("BENCH_BERTH", "")
# a baseline build's berth (BENCH_BASE of run.sh): section 1 again with it,
# in the same rounds, for a before/after table; sections 2, 4 and 5 add its rows
BERTH_BASE = os.environ.get("BENCH_BERTH_BASE", "")
BUILDS = [("", BERTH)] + ([(" (base build)", BERTH_BASE)] if BERTH_BASE else [])
LISTEN = os.environ.get("BENCH_LISTEN", "")
RUNTIME = os.environ.get("BENCH_RUNTIME") or os.path.join(WORK, "run")
RUNS = int(os.environ.get("RUNS", "10"))
COLD_RUNS = int(os.environ.get("COLD_RUNS", "5"))
SURVIVOR_WAIT = 1.0  # survivors are counted this long after the stop returned
TICK = 0.0005

ENV = scratch_env(WORK, RUNTIME, pm2=True)


# ---------------------------------------------------------------------------
# Commands (processes and ports come from benchlib).

def spawn(argv, cwd=None, log=None, env=None, **kw):
    return _spawn(argv, env or ENV, cwd=cwd, log=log, **kw)


def run(argv, cwd=None, log=None, check=True):
    return run_logged("svcbench", argv, ENV, cwd=cwd, log=log, check=check)


def timed(argv, cwd=None, log=None):
    """(exit status, ms) of one command."""
    t0 = now()
    p = spawn(argv, cwd=cwd, log=log)
    rc = p.wait()
    return rc, ms(now() - t0)


# ---------------------------------------------------------------------------
# berth repositories.

def make_repo(name, services, runner=None):
    """A git repository with one commit whose .berth.ini has SERVICES: a list
    of (name, command, base_port), and `runner = RUNNER` unless None (berth's
    default, process). Slot 1 gets base_port + 1; no bumping, so a taken port
    fails `up` instead of moving the service elsewhere."""
    repo = os.path.join(WORK, name)
    os.makedirs(repo)
    ini = ["[berth]", "mode = host", "max_slots = 2", "port_search_range = 0"]
    if runner:
        ini.append("runner = " + runner)
    ini.append("")
    for svc, cmd, base in services:
        ini += ['[service "%s"]' % svc, "command = " + cmd, "base_port = %d" % base,
                "ready = port", "ready_timeout = 20s", ""]
    with open(os.path.join(repo, ".berth.ini"), "w") as f:
        f.write("\n".join(ini))
    with open(os.path.join(repo, ".gitignore"), "w") as f:
        f.write(".berth/\n")
    with open(os.path.join(repo, "README"), "w") as f:
        f.write("bench\n")
    log = os.path.join(WORK, "git.log")
    run(["git", "init", "-q", "-b", "main"], cwd=repo, log=log)
    run(["git", "add", "-A"], cwd=repo, log=log)
    run(["git", "commit", "-q", "-m", "initial"], cwd=repo, log=log)
    return repo


def listeners_repo(name, n, base, runner=None):
    """N listener services s1..sN on base + 10*k + 1 (slot 1)."""
    svcs = [("s%d" % k, 'exec %s "$BERTH_S%d_PORT"' % (LISTEN, k), base + 10 * k)
            for k in range(1, n + 1)]
    return make_repo(name, svcs, runner), [b + 1 for _, _, b in svcs]


def berth_log(repo):
    return os.path.join(repo, "..", os.path.basename(repo) + ".log")


def berth_up(repo, slug, berth=None):
    return timed([berth or BERTH, "up", slug], cwd=repo, log=berth_log(repo))


def berth_down(repo, slug, berth=None):
    return timed([berth or BERTH, "down", slug], cwd=repo, log=berth_log(repo))


def check_ports_free(ports):
    busy = sorted(set(ports) & listening_ports())
    if busy:
        die("ports already in use: %s (another benchmark or service?)" % busy)


# ---------------------------------------------------------------------------
# The same listeners, started directly by one shell.

DIRECT_SH = 'for p in "$@"; do "%s" "$p" & done; wait'


def direct_start(ports):
    """Start one listener per port from one sh; (proc, pids, ms until every
    listener printed its "ready" line)."""
    t0 = now()
    p = subprocess.Popen(["/bin/sh", "-c", DIRECT_SH % LISTEN, "sh"] + [str(x) for x in ports],
                         env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         start_new_session=True)
    buf = b""
    while buf.count(b"\n") < len(ports):
        chunk = os.read(p.stdout.fileno(), 4096)
        if not chunk:
            die("direct listeners: a listener failed (port taken?)")
        buf += chunk
    t1 = now()
    pids = [int(line.split()[1]) for line in buf.decode().splitlines() if line.startswith("ready")]
    return p, pids, ms(t1 - t0)


def direct_stop(p, pids):
    """SIGTERM to the shell's process group; ms until every listener is gone."""
    t0 = now()
    os.killpg(p.pid, signal.SIGTERM)
    while any(alive(x) for x in pids):
        time.sleep(TICK / 5)
    t1 = now()
    p.wait()
    p.stdout.close()
    return ms(t1 - t0)


def direct_tmux(ports):
    """tmux alone, the floor of runner = tmux: one client call makes a session
    (its first window runs sleep, like berth's shell window) and a window per
    listener on a private server (-f /dev/null), started cold as berth's is;
    ms until every port listens (/proc/net/tcp read every TICK). The server
    is then killed and the ports awaited free."""
    sock = os.path.join(RUNTIME, "direct-tmux")
    tm = ["tmux", "-S", sock, "-f", "/dev/null"]
    args = tm + ["new-session", "-d", "-s", "d", "-x", "200", "-y", "50", "sleep", "600"]
    for x in ports:
        args += [";", "new-window", "-d", "-P", "-F", "#{pane_pid}", "-t", "=d:", "-n",
                 "w%d" % x, LISTEN, str(x)]
    want = set(ports)
    t0 = now()
    run(args)
    seen = set()
    while want - seen:
        seen |= answering(want - seen)
        time.sleep(TICK)
    t1 = now()
    run(tm + ["kill-server"], check=False)
    deadline = time.monotonic() + 10
    while want & listening_ports():
        if time.monotonic() > deadline:
            die("tmux alone: the listeners outlived their server")
        time.sleep(TICK)
    return ms(t1 - t0)


# ---------------------------------------------------------------------------
# 1. up / down overhead.

def cmd_updown():
    tmux = os.environ.get("BENCH_TMUX", "")
    sizes = []
    cases = [("process", 0, 0, ""), ("process", 1, 27200, ""), ("process", 10, 27400, "")]
    if tmux:
        cases += [("tmux", 1, 27700, ""), ("tmux", 10, 27800, "")]
    if BERTH_BASE:
        cases += [("process", 1, 28200, "base"), ("process", 10, 28400, "base")]
        if tmux:
            cases += [("tmux", 1, 28700, "base"), ("tmux", 10, 28800, "base")]
    for runner, n, base, build in cases:
        tmuxed = runner == "tmux"
        repo, ports = listeners_repo("updown%s%s%d" % ("-" + build if build else "",
                                                       "-tmux" if tmuxed else "", n), n, base,
                                     runner if tmuxed else None)
        check_ports_free(ports)
        sizes.append((runner, n, repo, ports, {"up": [], "down": [], "dstart": [], "dstop": []},
                      build))
    # round r does every size, under both runners (and both builds), in
    # turn (a change of load hits them alike); round 0 warms up (new branch,
    # cold caches, the tmux binary) and is not counted
    for r in range(RUNS + 1):
        for runner, n, repo, ports, got, build in sizes:
            berth = BERTH_BASE if build else BERTH
            rc, t_up = berth_up(repo, "bench-up", berth)
            if rc != 0:
                die("berth up (%d services, runner = %s%s) exited %d; see %s"
                    % (n, runner, ", " + build if build else "", rc, berth_log(repo)))
            if set(ports) - listening_ports():
                die("berth up returned before every port listened")
            rc, t_down = berth_down(repo, "bench-up", berth)
            if rc != 0:
                die("berth down (runner = %s) exited %d; see %s" % (runner, rc, berth_log(repo)))
            left = [p for p in listener_pids(ports) if alive(p)]
            if left:
                kill_pids(left)
                die("berth down (runner = %s) left %d listeners" % (runner, len(left)))
            direct = n and runner == "process" and not build
            if direct:
                p, pids, t_ds = direct_start(ports)
                t_dk = direct_stop(p, pids)
            alone = runner == "tmux" and not build
            if alone:
                t_alone = direct_tmux(ports)
            if r == 0:
                continue
            got["up"].append(t_up)
            got["down"].append(t_down)
            if direct:
                got["dstart"].append(t_ds)
                got["dstop"].append(t_dk)
            if alone:
                got.setdefault("alone", []).append(t_alone)
    base_sizes = [x for x in sizes if x[5]]
    sizes = [x for x in sizes if not x[5]]
    rows = []
    for runner, n, _, _, got, _ in sizes:
        if runner != "process":
            continue
        rows.append((n, med(got["up"]), med(got["dstart"]) if n else None, med(got["down"]),
                     med(got["dstop"]) if n else None))
    up0 = rows[0][1]
    print("| services | `berth up` → all ready | direct: sh starts them → all \"ready\" "
          "| up − direct | up − direct − up(0 services) | `berth down` | direct: kill group → all gone |")
    print("|---|---|---|---|---|---|---|")
    for n, up, ds, down, dk in rows:
        label = "0 (worktree + state only)" if n == 0 else str(n)
        over = up - ds if ds is not None else None
        sup = up - ds - up0 if ds is not None else None
        print("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, fmt(up), fmt(ds), fmt(over), fmt(sup), fmt(down), fmt(dk)))
    with open(os.path.join(WORK, "up0.json"), "w") as f:
        json.dump({"up0": up0}, f)

    # the same services under both runners, from the same rounds
    print()
    if not tmux:
        print("runner = tmux: skipped (%s)" % os.environ.get("BENCH_TMUX_WHY", "not available"))
        return
    by = {(runner, n): got for runner, n, _, _, got, _ in sizes}
    print("| services | `berth up` → all ready: runner = process | runner = tmux (%s) "
          "| tmux − process | tmux ÷ process | tmux alone: one call, session + a window each "
          "→ all listen | tmux alone − sh alone "
          "| `berth down`: runner = process | runner = tmux | tmux − process |" % tmux)
    print("|---|---|---|---|---|---|---|---|---|---|")
    for n in (1, 10):
        pu, pd = med(by["process", n]["up"]), med(by["process", n]["down"])
        tu, td = med(by["tmux", n]["up"]), med(by["tmux", n]["down"])
        ta, ds = med(by["tmux", n]["alone"]), med(by["process", n]["dstart"])
        print("| %d | %s | %s | %s | %.2f× | %s | %s | %s | %s | %s |" % (
            n, fmt(pu), fmt(tu), fmt(tu - pu), tu / pu, fmt(ta), fmt(ta - ds), fmt(pd),
            fmt(td), fmt(td - pd)))
    if not base_sizes:
        return

    # before (the baseline build) and after (this one), same rounds
    old = {(runner, n): got for runner, n, _, _, got, _ in base_sizes}
    print()
    print("Before (%s) and after (%s), the same rounds:" % (BERTH_BASE, BERTH))
    print()
    print("| services | build | `berth up` → all ready: runner = process | runner = tmux "
          "| tmux ÷ process | `berth down`: runner = process | runner = tmux |")
    print("|---|---|---|---|---|---|---|")
    for n in (1, 10):
        for label, d in (("before", old), ("after", by)):
            pu, tu = med(d["process", n]["up"]), med(d["tmux", n]["up"])
            pd, td = med(d["process", n]["down"]), med(d["tmux", n]["down"])
            print("| %d | %s | %s | %s | %.2f× | %s | %s |" % (
                n, label, fmt(pu), fmt(tu), tu / pu, fmt(pd), fmt(td)))


# ---------------------------------------------------------------------------
# 2. Instant failure.

def berth_up_lines(repo, slug, berth=None):
    """`berth up SLUG` with its stderr read line by line as it comes: (exit
    status, ms until exit, [(ms since start, line)])."""
    return timed_lines([berth or BERTH, "up", slug], repo, ENV, berth_log(repo), "wb")


def cmd_fail():
    missing = "/nonexistent/berth-bench-missing"
    cases = [
        ("exit3", "exit 3", 3, "exited with status 3",
         "`berth up`, service `exit 3` → exit 6 with the report"),
        ("missing", '%s "$BERTH_S1_PORT" 2>&1' % missing, 127, "exited with status 127",
         "`berth up`, missing binary, command with shell syntax (`sh -c`) → exit 6 with the report"),
        # plain words: exec'd directly by a build that does so, else through sh
        ("plain", "berth-bench-missing-xyz --port 1", 127,
         "no such program in PATH|exited with status 127",
         "`berth up`, missing program, command of plain words → exit 6 with the report"),
    ]
    res = {}
    for name, cmd, status, words, _ in cases:
        repos = [make_repo("fail-%s%d" % (name, b), [("s1", cmd, 27600)])
                 for b in range(len(BUILDS))]
        check_ports_free([27601])
        got = [([], [], []) for _ in BUILDS]
        t_direct = []
        for r in range(RUNS + 1):
            for b, (_, berth) in enumerate(BUILDS):
                rc, t, lines = berth_up_lines(repos[b], "bench-fail", berth)
                text = "\n".join(line for _, line in lines)
                started = [t for t, line in lines if line.endswith(": started")]
                report = [(t, line) for t, line in lines if re.search(words, line)]
                if rc != 6 or not report or not started:
                    die("berth up of a failing service: exit %d (want 6), output:\n%s" % (rc, text))
                if r == 0:
                    res[(name, b, "report")] = report[0][1]
                if r:
                    got[b][0].append(t)
                    got[b][1].append(report[0][0])
                    got[b][2].append(report[0][0] - started[0])
            t0 = now()
            p = subprocess.Popen(["/bin/sh", "-c", cmd.replace('"$BERTH_S1_PORT"', "1")],
                                 env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            drc = p.wait()
            t1 = now()
            if drc != status:
                die("direct %r exited %d, want %d" % (cmd, drc, status))
            if r:
                t_direct.append(ms(t1 - t0))
        # the rollback must leave no session behind
        for b, (_, berth) in enumerate(BUILDS):
            out = subprocess.run([berth, "ls", "--json"], cwd=repos[b], env=ENV,
                                 capture_output=True, text=True).stdout
            if json.loads(out or "[]"):
                die("a failed up left a session behind: " + out)
            res[(name, b)] = (med(got[b][2]), med(got[b][1]), med(got[b][0]))
        res[(name, "direct")] = med(t_direct)
    up0 = None
    try:
        up0 = json.load(open(os.path.join(WORK, "up0.json")))["up0"]
    except (OSError, ValueError):
        pass
    spawn_ms = res[("exit3", "direct")]
    window = 1500.0 + spawn_ms
    print("| case | service started → failure reported | command start → failure reported "
          "| command start → exit | 1.5 s window ÷ this (to exit) |")
    print("|---|---|---|---|---|")
    print("| direct: `sh -c 'exit 3'` spawned and reaped (the spawn cost) | | %s | %s | |"
          % (fmt(spawn_ms), fmt(spawn_ms)))
    print("| direct: `sh -c '%s'` → 127 | | %s | %s | |"
          % (missing, fmt(res[("missing", "direct")]), fmt(res[("missing", "direct")])))
    for name, _, _, _, label in cases:
        for b, (suffix, _) in enumerate(BUILDS):
            after, rep, ex = res[(name, b)]
            print("| %s%s | %s | %s | %s | %.0f× |" % (label, suffix, fmt(after), fmt(rep),
                                                        fmt(ex), window / ex))
    print("| fixed 1.5 s \"did it survive\" window (ecluse): 1500 ms + the spawn | 1500 ms | %s | %s | 1× |"
          % (fmt(window), fmt(window)))
    if up0 is not None:
        print("| reference: `berth up` of 0 services (worktree + state, from §1) | | | %s | |" % fmt(up0))
    print()
    print("\"service started\" is berth's `» s1: started` progress line; \"reported\" its "
          "first line of the report, both timestamped as they reach the reading end of "
          "berth's stderr. The reports: %s."
          % "; ".join("`%s`%s" % (res[(name, b, "report")].strip(), BUILDS[b][0])
                      for name, *_ in cases for b in range(len(BUILDS))))


# ---------------------------------------------------------------------------
# 4. Peers: 5 listeners under berth, a shell, pm2, supervisord.

def wait_until(cond, what, timeout=60.0):
    return _wait_until("svcbench", cond, what, timeout, TICK)


def cycle(ports, start, stop, cli_start=True, cli_stop=True):
    """One start/stop cycle. START() returns the process it started (a CLI,
    or the daemon itself when cli_start is False); STOP(started) returns the
    process whose exit ends the stop. Returns (all listen, start CLI returned,
    all gone, stop CLI returned, survivors), in ms and a count."""
    want = set(ports)
    t0 = now()
    p = start()
    t_listen = t_cli = None
    seen = set()  # each port is connected to once: the listeners never accept
    end = time.monotonic() + 60
    while t_listen is None or (cli_start and t_cli is None):
        if t_listen is None:
            seen |= answering(want - seen)
            if want <= seen:
                t_listen = now()
        if cli_start and t_cli is None and p.poll() is not None:
            t_cli = now()
            if p.returncode != 0:
                die("start command exited %d" % p.returncode)
        if time.monotonic() > end:
            die("start: timed out (listening: %s)" % sorted(seen))
        time.sleep(TICK)
    pids = listener_pids(ports)
    if len(pids) != len(ports):
        die("found %d listener processes for %d ports" % (len(pids), len(ports)))
    t1 = now()
    q = stop(p)
    t_gone = t_stop = None
    end = time.monotonic() + 60
    while t_gone is None or (q is not None and t_stop is None):
        if t_gone is None and not any(alive(x) for x in pids):
            t_gone = now()
        if q is not None and t_stop is None and q.poll() is not None:
            t_stop = now()
        if time.monotonic() > end:
            die("stop: timed out")
        time.sleep(TICK)
    time.sleep(SURVIVOR_WAIT)
    left = [x for x in set(pids) | set(listener_pids(ports)) if alive(x)]
    kill_pids(left)
    return (ms(t_listen - t0), ms(t_cli - t0) if t_cli else None, ms(t_gone - t1),
            ms(t_stop - t1) if (t_stop and cli_stop) else None, len(left))


class System:
    """One row of the peers table: how to start and stop the 5 services, and
    what to do before and after each cycle (untimed: a daemon's own start or
    shutdown when the row is about a warm daemon)."""

    def __init__(self, label, ports, start, stop, runs, cli_start=True, cli_stop=True,
                 setup=None, teardown=None):
        self.label, self.ports, self.start, self.stop = label, ports, start, stop
        self.runs, self.cli_start, self.cli_stop = runs, cli_start, cli_stop
        self.setup, self.teardown = setup, teardown
        self.got = []

    def row(self):
        cols = list(zip(*self.got))
        some = lambda c: med([x for x in c if x is not None])  # noqa: E731
        return (self.label, med(cols[0]), some(cols[1]) if self.cli_start else None,
                med(cols[2]), some(cols[3]) if self.cli_stop else None,
                "%d in %d runs" % (sum(cols[4]), len(self.got)))


def bench_interleaved(systems):
    """Round r runs one cycle of every system that still needs runs, in turn,
    so that a change of the machine's load hits every row alike. Round 0 is a
    warm-up and is not counted."""
    for s in systems:
        check_ports_free(s.ports)
    for r in range(max(s.runs for s in systems) + 1):
        for s in systems:
            if r > s.runs:
                continue
            if s.setup:
                s.setup()
            try:
                res = cycle(s.ports, s.start, s.stop, s.cli_start, s.cli_stop)
            except SystemExit:
                sys.stderr.write("svcbench: in a cycle of %s\n" % s.label)
                raise
            if s.teardown:
                s.teardown()
            if r:
                s.got.append(res)
    return [s.row() for s in systems]


def supervisor_conf(d, ports, autostart):
    return benchlib_supervisor_conf(d, [
        ("svc%d" % k, ["command=%s %d" % (LISTEN, port),
                       "autostart=%s" % ("true" if autostart else "false"),
                       "stdout_logfile=%s/svc%d.log" % (d, k), "redirect_stderr=true"])
        for k, port in enumerate(ports, 1)])


def cmd_peers():
    sup = os.environ.get("BENCH_SUPERVISORD", "")
    supctl = os.path.join(os.path.dirname(sup), "supervisorctl") if sup else ""
    pm2 = os.environ.get("BENCH_PM2", "")
    systems, notes = [], []
    log = os.path.join(WORK, "peers.log")

    # berth (and the base build)
    for b, (suffix, berth) in enumerate(BUILDS):
        repo, ports = listeners_repo("peers-berth%d" % b, 5, 28000 + 600 * b)
        systems.append(System(
            "`berth up` / `berth down`" + suffix, ports,
            lambda berth=berth, repo=repo: spawn([berth, "up", "bench-peers"], cwd=repo,
                                                 log=berth_log(repo)),
            lambda p, berth=berth, repo=repo: spawn([berth, "down", "bench-peers"], cwd=repo,
                                                    log=berth_log(repo)), RUNS))

    # a shell
    sh_ports = [28401 + k for k in range(5)]

    def sh_start():
        return subprocess.Popen(["/bin/sh", "-c", DIRECT_SH % LISTEN, "sh"] +
                                [str(x) for x in sh_ports], env=ENV, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, start_new_session=True)

    def sh_stop(p):
        os.killpg(p.pid, signal.SIGTERM)
        p.wait()

    systems.append(System("direct: one `sh`, 5 × `listener &` / kill -TERM of the group",
                          sh_ports, sh_start, sh_stop, RUNS, cli_start=False, cli_stop=False))

    # pm2: cold and warm use separate homes, so the warm daemon's life does
    # not make the cold start warm
    if pm2:
        ports = [28201 + k for k in range(5)]
        eco = os.path.join(WORK, "pm2-eco.json")
        with open(eco, "w") as f:
            json.dump({"apps": [{"name": "svc%d" % k, "script": LISTEN, "args": str(port),
                                 "interpreter": "none", "exec_mode": "fork"}
                                for k, port in enumerate(ports, 1)]}, f)
        cold_env = dict(ENV, PM2_HOME=os.path.join(WORK, "pm2home-cold"))

        def pm2_cold(*args):
            return spawn([pm2] + list(args), log=log, env=cold_env)

        systems.append(System(
            "pm2 cold: `pm2 start` (starts the daemon) / `pm2 kill`", ports,
            lambda: pm2_cold("start", eco), lambda p: pm2_cold("kill"), COLD_RUNS))
        systems.append(System(
            "pm2 warm: `pm2 start` / `pm2 delete all` (daemon up)", ports,
            lambda: spawn([pm2, "start", eco], log=log),
            lambda p: spawn([pm2, "delete", "all"], log=log), RUNS,
            setup=lambda: run([pm2, "ping"], log=log)))
    else:
        notes.append("pm2: skipped (%s)" % os.environ.get("BENCH_PM2_WHY", "not available"))

    # supervisord
    if sup:
        ports = [28301 + k for k in range(5)]
        cold = supervisor_conf(os.path.join(WORK, "sup-cold"), ports, True)
        warm = supervisor_conf(os.path.join(WORK, "sup-warm"), ports, False)
        daemon = {}

        def sup_stop_daemon(p):
            p.send_signal(signal.SIGTERM)
            return p

        def sup_warm_up():
            if "p" in daemon and daemon["p"].poll() is None:
                return
            daemon["p"] = spawn([sup, "-n", "-c", warm], log=log)
            wait_until(lambda: subprocess.run([supctl, "-c", warm, "pid"], env=ENV,
                                              capture_output=True).returncode == 0,
                       "supervisord to answer")

        systems.append(System(
            "supervisord cold: `supervisord -n` (autostart) / SIGTERM to it", ports,
            lambda: spawn([sup, "-n", "-c", cold], log=log), sup_stop_daemon, COLD_RUNS,
            cli_start=False))
        systems.append(System(
            "supervisord warm: `supervisorctl start all` / `stop all` (daemon up)", ports,
            lambda: spawn([supctl, "-c", warm, "start", "all"], log=log),
            lambda p: spawn([supctl, "-c", warm, "stop", "all"], log=log), RUNS,
            setup=sup_warm_up))
    else:
        notes.append("supervisord: skipped (%s)" % os.environ.get("BENCH_SUP_WHY", "not available"))

    rows = bench_interleaved(systems)
    if pm2:
        run([pm2, "kill"], log=log)
    if sup and "p" in daemon:
        daemon["p"].send_signal(signal.SIGTERM)
        daemon["p"].wait()

    print("| system | start → all 5 listen | start command returns | stop → all 5 gone "
          "| stop command returns | survivors (1 s after) |")
    print("|---|---|---|---|---|---|")
    for label, listen, cli, gone, stop, surv in rows:
        print("| %s | %s | %s | %s | %s | %s |" % (label, fmt(listen), fmt(cli), fmt(gone),
                                                   fmt(stop), surv))
    for n in notes:
        print()
        print(n)


# ---------------------------------------------------------------------------
# 5. A service SIGKILLed under restart = always: listening again.

RESTART_AGE = 2.2  # a run this old is not a crash loop for any of the three


def restart_cycle(port, last):
    """SIGKILL the listener on PORT once its run is RESTART_AGE old (LAST:
    when it started listening); returns (ms until a new listener listens,
    when it did)."""
    pids = listener_pids([port])
    if len(pids) != 1:
        die("found %d listeners on %d" % (len(pids), port))
    wait = last + RESTART_AGE - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    t0 = now()
    os.kill(pids[0], signal.SIGKILL)
    end = time.monotonic() + 30
    while True:
        if answering([port]):
            new = [x for x in listener_pids([port]) if x != pids[0] and alive(x)]
            if new:
                return ms(now() - t0), time.monotonic()
        if time.monotonic() > end:
            die("restart on %d: timed out" % port)
        time.sleep(TICK)


def cmd_restart():
    sup = os.environ.get("BENCH_SUPERVISORD", "")
    supctl = os.path.join(os.path.dirname(sup), "supervisorctl") if sup else ""
    pm2 = os.environ.get("BENCH_PM2", "")
    log = os.path.join(WORK, "restart.log")
    rows, notes, stops = [], [], []

    def listens(port):
        wait_until(lambda: answering([port]), "port %d to listen" % port)
        return time.monotonic()

    # the service's own start: the listener spawned (posix_spawn: vfork and
    # exec, as a supervisor spawns; subprocess.Popen alone costs ~10 ms
    # more here) until it listens
    port = 28501
    check_ports_free([port])
    own = []
    for r in range(RUNS + 1):
        t0 = now()
        pid = os.posix_spawn(LISTEN, [LISTEN, str(port)], ENV)
        listens(port)
        if r:
            own.append(ms(now() - t0))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        wait_until(lambda: not answering([port]), "port %d to be free" % port)
    rows.append(("the listener's own start (posix_spawn → listens), for reference", own))

    systems = []  # (label, port, results)
    # berth (and the base build)
    for b, (suffix, berth) in enumerate(BUILDS):
        repo = os.path.join(WORK, "restart-berth%d" % b)
        os.makedirs(repo)
        with open(os.path.join(repo, ".berth.ini"), "w") as f:
            f.write("[berth]\nmode = host\nport_search_range = 0\n\n"
                    "[service \"s1\"]\ncommand = exec %s \"$PORT\"\nbase_port = %d\n"
                    "ready = port\nrestart = always\n" % (LISTEN, 28510 + 100 * b))
        with open(os.path.join(repo, ".gitignore"), "w") as f:
            f.write(".berth/\n")
        for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                     ["git", "commit", "-q", "-m", "initial"]):
            run(argv, cwd=repo, log=log)
        run([berth, "up", "bench-restart"], cwd=repo, log=berth_log(repo))
        stops.append(lambda berth=berth, repo=repo: run([berth, "down", "bench-restart"],
                                                        cwd=repo, log=berth_log(repo)))
        systems.append(["berth (`restart = always`)" + suffix, 28511 + 100 * b, []])
    # pm2 (autorestart, restart_delay 0: its defaults)
    if pm2:
        eco = os.path.join(WORK, "pm2-restart.json")
        with open(eco, "w") as f:
            json.dump({"apps": [{"name": "r1", "script": LISTEN, "args": "28521",
                                 "interpreter": "none", "exec_mode": "fork"}]}, f)
        run([pm2, "start", eco], log=log)
        stops.append(lambda: run([pm2, "kill"], log=log))
        systems.append(["pm2 (autorestart, its defaults)", 28521, []])
    else:
        notes.append("pm2: skipped (%s)" % os.environ.get("BENCH_PM2_WHY", "not available"))
    # supervisord (autorestart = true)
    if sup:
        d = os.path.join(WORK, "sup-restart")
        conf = supervisor_conf(d, [28531], True)
        with open(conf) as f:
            text = f.read()
        with open(conf, "w") as f:
            f.write(text.replace("autostart=true", "autostart=true\nautorestart=true"))
        daemon = spawn([sup, "-n", "-c", conf], log=log)

        def sup_stop():
            daemon.send_signal(signal.SIGTERM)
            daemon.wait()
        stops.append(sup_stop)
        systems.append(["supervisord (`autorestart = true`)", 28531, []])
    else:
        notes.append("supervisord: skipped (%s)" % os.environ.get("BENCH_SUP_WHY", "not available"))

    try:
        last = {}
        for sysrow in systems:
            last[sysrow[1]] = listens(sysrow[1])
        for r in range(RUNS + 1):
            for sysrow in systems:
                took, last[sysrow[1]] = restart_cycle(sysrow[1], last[sysrow[1]])
                if r:
                    sysrow[2].append(took)
    finally:
        for stop in stops:
            stop()
    rows += [(label, got) for label, _, got in systems]
    print("| system | SIGKILL of the service → listening again (median) | min | max | runs |")
    print("|---|---|---|---|---|")
    for label, got in rows:
        print("| %s | %s | %s | %s | %d |" % (label, fmt(med(got)), fmt(min(got)), fmt(max(got)),
                                             len(got)))
    for n in notes:
        print()
        print(n)


# ---------------------------------------------------------------------------
# Cleanup.

def cmd_cleanup():
    # sessions first, through berth itself
    if BERTH and os.path.isdir(WORK):
        sessions_down(BERTH, [os.path.join(WORK, d) for d in sorted(os.listdir(WORK))], ENV)
    pm2 = os.environ.get("BENCH_PM2", "")
    for home in ("pm2home", "pm2home-cold"):
        if pm2 and os.path.exists(os.path.join(WORK, home, "pm2.pid")):
            subprocess.run([pm2, "kill"], env=dict(ENV, PM2_HOME=os.path.join(WORK, home)),
                           capture_output=True)
    # then anything still carrying the tag: stop it (no respawn), kill it
    print(kill_tagged(WORK))


def main():
    if len(sys.argv) != 2 or not WORK:
        die("usage: BENCH_WORK=DIR ... svcbench.py updown|fail|peers|restart|cleanup")
    if not os.environ.get("BENCH_RUNTIME"):
        os.makedirs(RUNTIME, mode=0o700, exist_ok=True)
    {"updown": cmd_updown, "fail": cmd_fail, "peers": cmd_peers, "restart": cmd_restart,
     "cleanup": cmd_cleanup}[sys.argv[1]]()


if __name__ == "__main__":
    main()
