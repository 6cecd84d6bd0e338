#!/usr/bin/env python3
"""bench/status/statusbench.py: the driver of bench/status/run.sh.

    statusbench.py run      make the sessions and the peers' daemons, time
                            every command, check that both berth builds print
                            the same, count syscalls; Markdown on stdout
    statusbench.py cleanup  stop whatever the benchmark left (sessions, tmux,
                            daemons, processes) and print how many processes
                            it had to kill

Configuration comes from the environment (run.sh sets it): BENCH_WORK (the
scratch directory), BENCH_RUNTIME (XDG_RUNTIME_DIR for berth: short, for the
tmux socket), BENCH_BERTH (this build), BENCH_BASE_BERTH (the base build, or
empty), BENCH_LABEL / BENCH_BASE_LABEL (their commits), SESSIONS, RUNS,
HF_RUNS, BENCH_HYPERFINE and BENCH_STRACE (empty: none), BENCH_TMUX (tmux's
version; empty: skipped), BENCH_PM2 and BENCH_SUPERVISORD (empty: skipped;
BENCH_*_WHY say why).

Every process the benchmark starts carries BENCH_TAG=<scratch dir> in its
environment; `cleanup` finds leftovers by that tag (never by name) and kills
them by pid.

Times: every command is run RUNS times (after one warm-up run each), one run
of each command in turn (the order rotated every time), so that a change of
load (the machine is shared) hits every command alike; each run is timed here
with time.monotonic_ns() from spawn to exit, and a command's figure is the
median. Then, as a cross-check, HF_RUNS runs of each under `hyperfine -N`
(one command after the other: it cannot interleave, nor set a directory or
an environment per command).
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import alive, die as _die, fmt, kill_tagged, med, ms, now, scratch_env  # noqa: E402
from benchlib import sessions_down, supervisor_conf, tagged_pids, wait_until as _wait_until  # noqa: E402


def die(msg):
    _die("statusbench", msg)


WORK = os.environ.get("BENCH_WORK", "")
RUNTIME = os.environ.get("BENCH_RUNTIME") or os.path.join(WORK, "run")
BERTH = os.environ.get("BENCH_BERTH", "")
BASE = os.environ.get("BENCH_BASE_BERTH", "")
LABEL = os.environ.get("BENCH_LABEL") or "this build"
BASE_LABEL = os.environ.get("BENCH_BASE_LABEL") or "base"
SESSIONS = int(os.environ.get("SESSIONS", "50"))
RUNS = int(os.environ.get("RUNS", "30"))
HF_RUNS = int(os.environ.get("HF_RUNS", "10"))
HYPERFINE = os.environ.get("BENCH_HYPERFINE", "")
STRACE = os.environ.get("BENCH_STRACE", "")
TMUX = os.environ.get("BENCH_TMUX", "")
PM2 = os.environ.get("BENCH_PM2", "")
SUPERVISORD = os.environ.get("BENCH_SUPERVISORD", "")
SLEEP = "/bin/sleep"
LISTEN = os.environ.get("BENCH_LISTEN", "")
GIVE_UP_S = 120.0

ENV = scratch_env(WORK, RUNTIME, drop=("SESSIONS", "RUNS", "HF_RUNS"))

# the repositories: name -> (services per session, runner, listeners); in
# "listen" the first service of each session listens on its port
# (berth-test-listen, ready = port), the others sleep
REPOS = {"one": (1, "process", 0), "three": (3, "process", 0), "listen": (3, "process", 1),
         "tmux": (1, "tmux", 0)}
LISTEN_BASE_PORT = 32000


# ---------------------------------------------------------------------------
# Processes.

def nprocs():
    return sum(1 for d in os.listdir("/proc") if d.isdigit())


def run(argv, cwd=None, env=None, check=True, log=None):
    r = subprocess.run(argv, cwd=cwd, env=env or ENV, stdin=subprocess.DEVNULL,
                       capture_output=True)
    if log:
        with open(log, "ab") as f:
            f.write(r.stdout + r.stderr)
    if check and r.returncode != 0:
        die("%s exited %d:\n%s" % (" ".join(argv), r.returncode,
                                   (r.stdout + r.stderr).decode(errors="replace")[-3000:]))
    return r


def wait_until(cond, what, timeout=GIVE_UP_S):
    return _wait_until("statusbench", cond, what, timeout, 0.05)


# ---------------------------------------------------------------------------
# berth: the repositories and their sessions.

def shape(name):
    """"50 × 3 (process)", "50 × 3, 1 listening (process)": a repository's sessions."""
    services, runner, listeners = REPOS[name]
    return "%d × %d%s (%s)" % (SESSIONS, services,
                               ", %d listening" % listeners if listeners else "", runner)


def make_repo(name, services, runner, listeners):
    repo = os.path.join(WORK, name)
    os.makedirs(repo)
    lines = ["[berth]", "mode = host", "max_slots = 64", "port_search_range = 1",
             "startup_window = 0", "runner = %s" % runner, ""]
    for k in range(1, services + 1):
        if k <= listeners:
            lines += ['[service "s%d"]' % k, 'command = exec %s "$PORT"' % LISTEN,
                      "base_port = %d" % (LISTEN_BASE_PORT + 100 * (k - 1)), "ready = port", ""]
        else:
            lines += ['[service "s%d"]' % k, "command = exec %s 100000" % SLEEP, ""]
    with open(os.path.join(repo, ".berth.ini"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(repo, ".gitignore"), "w") as f:
        f.write(".berth/\n")
    run(["git", "init", "-q", "-b", "main"], cwd=repo)
    run(["git", "add", "-A"], cwd=repo)
    run(["git", "commit", "-q", "-m", "initial"], cwd=repo)
    return repo


def sessions_up(repo, services):
    log = os.path.join(WORK, "up.log")
    for i in range(1, SESSIONS + 1):
        run([BERTH, "up", "-q", "s%d" % i], cwd=repo, log=log)

    def all_up():
        r = run([BERTH, "ls", "--json"], cwd=repo, check=False)
        try:
            v = json.loads(r.stdout)
        except ValueError:
            return False
        return len(v) == SESSIONS and all(s["health"]["up"] == services for s in v)
    wait_until(all_up, "every service of %s to be up" % repo)


# ---------------------------------------------------------------------------
# Peers: supervisord and pm2, each with as many sleeping processes.

def supervisor_start(n):
    d = os.path.join(WORK, "sup%d" % n)
    conf = supervisor_conf(d, [
        ("p%d" % k, ["command=%s 100000" % SLEEP, "autostart=true", "startsecs=0",
                     "stdout_logfile=%s/p%d.log" % (d, k), "redirect_stderr=true"])
        for k in range(1, n + 1)])
    with open(os.path.join(d, "out.log"), "ab") as out:
        subprocess.Popen([SUPERVISORD, "-c", conf], env=ENV, stdin=subprocess.DEVNULL,
                         stdout=out, stderr=subprocess.STDOUT)
    ctl = [os.path.join(os.path.dirname(SUPERVISORD), "supervisorctl"), "-c", conf, "status"]

    def all_running():
        r = run(ctl, check=False)
        lines = r.stdout.decode(errors="replace").splitlines()
        return r.returncode == 0 and len(lines) == n and all(" RUNNING " in x for x in lines)
    wait_until(all_running, "supervisord's %d programs" % n)
    return ctl


def pm2_env(n):
    return dict(ENV, PM2_HOME=os.path.join(WORK, "pm2-%d" % n))


def pm2_start(n):
    eco = os.path.join(WORK, "pm2-%d.json" % n)
    with open(eco, "w") as f:
        json.dump({"apps": [{"name": "p%d" % k, "script": SLEEP, "args": "100000",
                             "interpreter": "none", "exec_mode": "fork", "autorestart": False}
                            for k in range(1, n + 1)]}, f)
    run([PM2, "start", eco], env=pm2_env(n))

    def all_online():
        r = run([PM2, "jlist"], env=pm2_env(n), check=False)
        try:
            v = json.loads(r.stdout)
        except ValueError:
            return False
        return len(v) == n and all(a["pm2_env"]["status"] == "online" for a in v)
    wait_until(all_online, "pm2's %d apps" % n)
    return [PM2, "jlist"]


# ---------------------------------------------------------------------------
# Timing.

class Cmd:
    def __init__(self, key, argv, cwd=None, env=None):
        self.key, self.argv, self.cwd, self.env = key, argv, cwd, env or ENV
        self.times = []  # interleaved runs
        self.hf = []     # hyperfine's


def check_runs(c):
    r = run(c.argv, cwd=c.cwd, env=c.env, check=False)
    if r.returncode != 0:
        die("%s (in %s) exited %d, expected 0:\n%s" % (
            " ".join(c.argv), c.cwd, r.returncode,
            (r.stdout + r.stderr).decode(errors="replace")[-2000:]))


def spawn_wait(c):
    """One run of c, spawn to exit, in ms."""
    t0 = now()
    subprocess.run(c.argv, cwd=c.cwd, env=c.env, stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return ms(now() - t0)


def time_interleaved(cmds):
    """RUNS runs of every command, one run of each in turn (the order
    rotated each time), after one warm-up run of each."""
    for c in cmds:
        spawn_wait(c)
    for r in range(RUNS):
        k = r % len(cmds)
        for c in cmds[k:] + cmds[:k]:
            c.times.append(spawn_wait(c))


def time_hyperfine(cmds):
    """HF_RUNS runs of each of cmds (one cwd and environment) under
    `hyperfine -N`, one command after the other."""
    with tempfile.NamedTemporaryFile(dir=WORK, suffix=".json", delete=False) as f:
        out = f.name
    argv = [HYPERFINE, "-N", "--style", "none", "--warmup", "1", "--runs", str(HF_RUNS),
            "--export-json", out]
    for c in cmds:
        argv += ["-n", " ".join(map(str, c.key)), " ".join(c.argv)]
    run(argv, cwd=cmds[0].cwd, env=cmds[0].env)
    with open(out) as f:
        res = json.load(f)["results"]
    os.unlink(out)
    for c, r in zip(cmds, res):
        c.hf += [t * 1000 for t in r["times"]]


def strace_counts(c):
    """Syscalls of one run of c: {name: calls} and the total."""
    with tempfile.NamedTemporaryFile(dir=WORK, suffix=".strace", delete=False) as f:
        out = f.name
    run([STRACE, "-f", "-c", "-o", out] + c.argv, cwd=c.cwd, env=c.env)
    calls = {}
    total = 0
    with open(out) as f:
        for line in f:
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
            if m:
                calls[m.group(2)] = int(m.group(1))
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?total\s*$", line)
            if m:
                total = int(m.group(1))
    os.unlink(out)
    return calls, total


# ---------------------------------------------------------------------------
# Same output: the two builds, times aside.

def timeless_text(text, header, col):
    """The rows of a table (the lines under a header line starting with
    header, up to a blank line) have a time in column col (UPTIME, AGE): it
    is replaced, and every run of spaces squeezed (a wider time moves the
    columns)."""
    out, under = [], False
    for line in text.splitlines():
        f = line.split()
        if not f:
            under = False
        elif f[0] == header:
            under = True
        elif under and not line[0].isspace() and len(f) > col:
            f[col] = "T"
        out.append(" ".join(f))
    return "\n".join(out)


def timeless_json(text):
    v = json.loads(text)
    for o in v if isinstance(v, list) else [v]:
        for s in o.get("services", []) or []:
            s.pop("uptime_s", None)
    return json.dumps(v, sort_keys=True)


def same_output(repo, argv, norm, env=None):
    a = run([BASE] + argv, cwd=repo, check=False)
    b = run([BERTH] + argv, cwd=repo, check=False, env=env)
    if a.returncode != b.returncode:
        return "exit %d against %d" % (a.returncode, b.returncode)
    if norm(a.stdout.decode()) != norm(b.stdout.decode()):
        return "stdout differs"
    if a.stderr != b.stderr:
        return "stderr differs"
    return "identical"


# ---------------------------------------------------------------------------
# The run.

def cmd_run():
    builds = [(LABEL, BERTH)] + ([(BASE_LABEL, BASE)] if BASE else [])
    repos = {}
    notes = []
    t0 = now()
    for name, (services, runner, listeners) in REPOS.items():
        if runner == "tmux" and not TMUX:
            notes.append("runner = tmux: skipped (%s)" % os.environ.get("BENCH_TMUX_WHY", "no tmux"))
            continue
        if listeners and not LISTEN:
            notes.append("listeners: skipped (no berth-test-listen in the build)")
            continue
        repos[name] = make_repo(name, services, runner, listeners)
        sessions_up(repos[name], services)
    peers = {}
    for n in sorted({SESSIONS * v[0] for v in REPOS.values()}):
        if SUPERVISORD:
            peers["sup", n] = supervisor_start(n)
        if PM2:
            peers["pm2", n] = pm2_start(n)
    if not SUPERVISORD:
        notes.append("supervisord: skipped (%s)" % os.environ.get("BENCH_SUP_WHY", "not available"))
    if not PM2:
        notes.append("pm2: skipped (%s)" % os.environ.get("BENCH_PM2_WHY", "not available"))
    setup_s = (now() - t0) / 1e9

    # what is timed, grouped by cwd and environment (a hyperfine run each):
    # each build's commands in every repository; this build's `status` again
    # with the process table forced and forbidden (BERTH_PROC_TABLE)
    groups = []
    for name, repo in repos.items():
        g = []
        for label, berth in builds:
            g.append(Cmd((label, name, "status"), [berth, "status"], repo))
            if name == "tmux":
                continue
            g.append(Cmd((label, name, "status --json"), [berth, "status", "--json"], repo))
            g.append(Cmd((label, name, "status one"), [berth, "status", "s%d" % (SESSIONS // 2)],
                         repo))
            g.append(Cmd((label, name, "ls"), [berth, "ls"], repo))
        groups.append(g)
        if name == "tmux":
            continue
        for way in ("always", "never"):
            env = dict(ENV, BERTH_PROC_TABLE=way)
            groups.append([Cmd((way, name, "status"), [BERTH, "status"], repo, env),
                           Cmd((way, name, "status one"),
                               [BERTH, "status", "s%d" % (SESSIONS // 2)], repo, env)])
    for (kind, n), argv in sorted(peers.items()):
        env = pm2_env(n) if kind == "pm2" else ENV
        groups.append([Cmd((kind, n), argv, WORK, env)])
    for g in groups:
        for c in g:
            check_runs(c)
    procs_before = nprocs()
    with open("/proc/loadavg") as f:
        tasks = int(f.read().split()[3].split("/")[1])
    t1 = now()
    time_interleaved([c for g in groups for c in g])
    if HYPERFINE and HF_RUNS:
        for g in groups:
            time_hyperfine(g)
    measure_s = (now() - t1) / 1e9
    by = {c.key: c for g in groups for c in g}

    def t(key):
        c = by.get(key)
        return med(c.times) if c else None

    def ratio(a, b):
        return "%.1fx" % (a / b) if a and b else "—"

    print("%d processes (%d tasks) on the machine while timing (the sessions' shims and "
          "sleeps, the peers' daemons and sleeps, and the rest); setup took %.0f s, the timing "
          "%.0f s." % (procs_before, tasks, setup_s, measure_s))
    print()

    # 1. every session, as a process, beside the peers
    print("**`berth status` of every session, as a process, beside the peers managing as "
          "many sleeping processes** (medians of %d runs, every command run in turn)" % RUNS)
    print()
    head = "| sessions × services (runner) | command |"
    line = "|---|---|"
    if BASE:
        head += " berth %s (base) |" % BASE_LABEL
        line += "---|"
    head += " berth %s |" % LABEL
    line += "---|"
    if BASE:
        head += " base ÷ this |"
        line += "---|"
    head += " `pm2 jlist` (same number of processes) | `supervisorctl status` (same) | pm2 ÷ berth | supervisorctl ÷ berth |"
    line += "---|---|---|---|"
    print(head)
    print(line)
    for name, what in (("one", "status"), ("three", "status"), ("three", "status --json"),
                       ("listen", "status"), ("tmux", "status"), ("three", "status one"),
                       ("listen", "status one"), ("one", "ls"), ("three", "ls")):
        if name not in repos:
            continue
        n = SESSIONS * REPOS[name][0]
        mine = t((LABEL, name, what))
        base = t((BASE_LABEL, name, what)) if BASE else None
        cmd = {"status": "`berth status`", "status --json": "`berth status --json`",
               "status one": "`berth status s%d` (one session)" % (SESSIONS // 2),
               "ls": "`berth ls`"}[what]
        peer = what != "status one"
        pm2, sup = (t(("pm2", n)), t(("sup", n))) if peer else (None, None)
        row = "| %s | %s |" % (shape(name), cmd)
        if BASE:
            row += " %s |" % fmt(base)
        row += " **%s** |" % fmt(mine)
        if BASE:
            row += " %s |" % ratio(base, mine)
        row += " %s | %s | %s | %s |" % (fmt(pm2), fmt(sup), ratio(pm2, mine) if peer else "—",
                                        ratio(sup, mine) if peer else "—")
        print(row)
    print()

    # 1a. the same under hyperfine
    if HYPERFINE and HF_RUNS:
        print("**The same under `hyperfine -N`** (%d runs of each command, one command after "
              "the other, grouped by directory and environment; medians)" % HF_RUNS)
        print()
        print("| sessions × services (runner) | command | %sberth %s | `pm2 jlist` | "
              "`supervisorctl status` |" % ("berth %s (base) | " % BASE_LABEL if BASE else "",
                                            LABEL))
        print("|---|---|%s---|---|---|" % ("---|" if BASE else ""))

        def h(key):
            c = by.get(key)
            return med(c.hf) if c and c.hf else None
        for name, what in (("one", "status"), ("three", "status"), ("listen", "status"),
                           ("tmux", "status"), ("three", "ls")):
            if name not in repos:
                continue
            n = SESSIONS * REPOS[name][0]
            print("| %s | `berth %s` | %s%s | %s | %s |" % (
                shape(name), what,
                "%s | " % fmt(h((BASE_LABEL, name, what))) if BASE else "",
                fmt(h((LABEL, name, what))), fmt(h(("pm2", n))), fmt(h(("sup", n)))))
        print()

    # 1b. the process table or each service's processes
    # (5: PROC_READS_PER_SERVICE in src/cmd/cmd_status.c)
    print("**`berth status` %s: the process table (one walk of /proc) or each service's "
          "processes** (`BERTH_PROC_TABLE=always` / `never`; by default the table when "
          "the machine's tasks, %d here, are at most 5 per service)" % (LABEL, tasks))
    print()
    print("| sessions × services | command | table (`always`) | each service (`never`) | "
          "default | default takes |")
    print("|---|---|---|---|---|---|")
    for name in ("one", "three", "listen"):
        if name not in repos:
            continue
        services = REPOS[name][0]
        for what, n_svc in (("status", SESSIONS * services), ("status one", services)):
            cmd = "`berth status`" if what == "status" else \
                "`berth status s%d` (one session)" % (SESSIONS // 2)
            print("| %s | %s | %s | %s | %s | %s |" % (
                shape(name), cmd, fmt(t(("always", name, what))),
                fmt(t(("never", name, what))), fmt(t((LABEL, name, what))),
                "the table" if tasks <= n_svc * 5 else "each service"))
    print()

    # 2. syscalls
    if STRACE:
        print("**Syscalls of one run** (`strace -f -c`; the whole process, start-up included)")
        print()
        names = ("openat", "read", "getdents64", "readlinkat", "newfstatat")
        print("| command | build | total | " + " | ".join(names) + " |")
        print("|---|---|---|" + "---|" * len(names))
        for name, what in (("one", "status"), ("three", "status"), ("three", "status one"),
                           ("listen", "status"), ("three", "ls"), ("tmux", "status")):
            if name not in repos:
                continue
            labels = [(b, b) for b, _ in reversed(builds)]
            if name != "tmux" and what != "ls":
                labels += [("always", "%s, `BERTH_PROC_TABLE=always`" % LABEL),
                           ("never", "%s, `BERTH_PROC_TABLE=never`" % LABEL)]
            for key, label in labels:
                c = by[(key, name, what)]
                calls, total = strace_counts(c)
                print("| `berth %s`, %s | %s | %d | %s |" % (
                    " ".join(c.argv[1:]), shape(name), label, total,
                    " | ".join(str(calls.get(x, 0)) for x in names)))
        print()

    # 3. the same output
    if BASE:
        print("**The two builds print the same** (times aside: UPTIME and AGE columns, "
              "`uptime_s`)")
        print()
        print("| repository | this build | `status` | `status --json` | `status s%d` | `ls` | "
              "`ls --json` |" % (SESSIONS // 2))
        print("|---|---|---|---|---|---|---|")
        one = "s%d" % (SESSIONS // 2)
        for name, repo in repos.items():
            for way in ("", "always", "never"):
                env = dict(ENV, BERTH_PROC_TABLE=way) if way else None
                if way and name == "tmux":
                    continue
                cells = [
                    same_output(repo, ["status"], lambda x: timeless_text(x, "SERVICE", 3), env),
                    same_output(repo, ["status", "--json"], timeless_json, env),
                    same_output(repo, ["status", one], lambda x: timeless_text(x, "SERVICE", 3),
                                env),
                ]
                if not way:
                    cells += [same_output(repo, ["ls"], lambda x: timeless_text(x, "SLUG", 5)),
                              same_output(repo, ["ls", "--json"], lambda x: x)]
                else:
                    cells += ["—", "—"]
                print("| %s | %s | %s |" % (
                    shape(name),
                    "`BERTH_PROC_TABLE=%s`" % way if way else "default",
                    " | ".join(cells)))
        print()
    for x in notes:
        print(x)
        print()


def cmd_cleanup():
    if not os.path.isdir(WORK):
        print(0)
        return
    if BERTH:
        sessions_down(BERTH, [os.path.join(WORK, name) for name in REPOS], ENV)
    for d in os.listdir(WORK):
        if d.startswith("pm2-") and PM2 and os.path.exists(os.path.join(WORK, d, "pm2.pid")):
            try:
                subprocess.run([PM2, "kill"], env=dict(ENV, PM2_HOME=os.path.join(WORK, d)),
                               stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
            except subprocess.TimeoutExpired:
                pass
        pidfile = os.path.join(WORK, d, "supervisord.pid")
        if d.startswith("sup") and os.path.exists(pidfile):
            try:
                with open(pidfile) as f:
                    pid = int(f.read().strip())
                if pid in tagged_pids(WORK):
                    os.kill(pid, signal.SIGTERM)
                    deadline = time.monotonic() + 60
                    while alive(pid) and time.monotonic() < deadline:
                        time.sleep(0.05)
            except (OSError, ValueError):
                pass
    # then anything still carrying the tag: stop it (no respawn), kill it
    print(kill_tagged(WORK))


def main():
    if len(sys.argv) != 2 or not WORK:
        die("usage: BENCH_WORK=DIR ... statusbench.py run|cleanup")
    os.makedirs(RUNTIME, mode=0o700, exist_ok=True)
    {"run": cmd_run, "cleanup": cmd_cleanup}[sys.argv[1]]()


if __name__ == "__main__":
    main()
