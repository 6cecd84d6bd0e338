#!/usr/bin/env python3
"""bench/watch/watchbench.py: the timing side of bench/watch/run.sh.

    watchbench.py kills     parts 1 and 2: kill -9 of a session's berth-shim
                            under `berth watch` (until the "shim-died" line,
                            until the service listens again), beside a pidfd
                            floor and 100 ms /proc polls on the same and on
                            equivalent kills, a berth-shim's own restart of its
                            service, supervisord and pm2 restarting theirs
    watchbench.py memory    part 3: RSS and PSS of the watcher with 0 and
                            SESSIONS sessions up, of the sessions' shims, of
                            supervisord and pm2's daemon with as many listeners
    watchbench.py cleanup   stop whatever the benchmark left (watchers,
                            sessions, daemons, processes); print how many
                            processes it had to kill

Configuration comes from the environment (run.sh sets it): BENCH_WORK (the
scratch directory), BENCH_BERTH, BENCH_SHIM, BENCH_LISTEN, KILLS, SESSIONS,
BENCH_PARTS, BENCH_NO_WATCH (non-empty: this berth has no `watch`, only the
peers run), BENCH_PM2 and BENCH_SUPERVISORD (empty: skipped, BENCH_PM2_WHY /
BENCH_SUP_WHY say why).

Every process the benchmark starts gets BENCH_TAG=<scratch dir> in its
environment; `cleanup` finds leftovers by that tag (never by name) and kills
them by pid. "Listens again" is this process reading /proc/net/tcp every
0.5 ms until the killed listener is gone and its port listens: the same
observer for every system. Kill times are taken right before kill(2), in
time.monotonic_ns() and, to compare with the watcher's ts_ms, time.time_ns().
"""
import json
import math
import os
import queue
import random
import select
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import alive, cmdline, die as _die, fmt, kill_pids, kill_tagged  # noqa: E402
from benchlib import listener_pids, listening_ports, med, ms, now, run_logged  # noqa: E402
from benchlib import scratch_env, sessions_down, spawn as _spawn, tagged_pids, tail  # noqa: E402
from benchlib import supervisor_conf as benchlib_supervisor_conf, wait_until as _wait_until  # noqa: E402


def die(msg):
    _die("watchbench", msg)


WORK = os.environ.get("BENCH_WORK", "")
BERTH = os.environ.get("BENCH_BERTH", "")
SHIM = os.environ.get("BENCH_SHIM", "")
LISTEN = os.environ.get("BENCH_LISTEN", "")
KILLS = int(os.environ.get("KILLS", "50"))
SESSIONS = int(os.environ.get("SESSIONS", "20"))
PARTS = os.environ.get("BENCH_PARTS", "1 2 3").split()
NO_WATCH = bool(os.environ.get("BENCH_NO_WATCH"))
TICK = 0.0005          # the outside observer's period (listening again)
POLL = 0.100           # the poll baseline's period
TICK_MODEL_S = 60.0    # the reconcile tick modelled in part 1
SHIM_QUIET_S = 2.5     # a berth-shim gives up after 5 deaths each within 2 s
                       # of starting: its service is killed only after this
SETTLE_S = 3.0         # part 3: how long processes run before they are read
CPU_S = 10.0           # part 3: the window in which their CPU time is taken
GIVE_UP_S = 30.0

# the reader and pidfd threads stamp their times as soon as they wake: hand
# the GIL over quickly (the default 5 ms interval would show in the floor)
sys.setswitchinterval(0.0001)

ENV = scratch_env(WORK, os.path.join(WORK, "run"), pm2=True,
                  drop=("BENCH_PARTS", "KILLS", "SESSIONS"))

# ports: part 1/2 berth 29101 (watched), 29111 (shim alone); supervisord
# 29201; pm2 29211; the equivalent shim 29221; part 3 berth 29301.., peers
# 29401.. and 29441..
P_WATCHED, P_SHIMONLY, P_SUP, P_PM2, P_EQUIV = 29101, 29111, 29201, 29211, 29221
P_MEM_BERTH, P_MEM_SUP, P_MEM_PM2 = 29300, 29400, 29440


# ---------------------------------------------------------------------------
# Figures.

def pct(v, p):
    """The P-th percentile by nearest rank (p99 of 50 samples is the largest)."""
    if not v:
        return float("nan")
    s = sorted(v)
    return s[max(0, math.ceil(p / 100.0 * len(s)) - 1)]


def mb(kb):
    return "%.2f MB" % (kb / 1024.0) if kb is not None else "—"


# ---------------------------------------------------------------------------
# Processes and ports, observed from outside.

def smaps(pid):
    """(RSS, PSS, anonymous) in kB from /proc/PID/smaps_rollup. Anonymous is
    the process's own heap, stacks and written data: unlike PSS (and Private_*,
    where a library's pages count as private while no other process maps that
    library) it does not move with what else runs."""
    got = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("Rss", "Pss", "Anonymous"):
                got[k] = int(v.split()[0])
    return got["Rss"], got["Pss"], got["Anonymous"]


def cpu_ms(pid):
    """utime + stime of PID so far, in ms."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def kmsg_read_ms():
    """(ms, records): reading /dev/kmsg to its end, non-blocking, one record
    per read(2), as the watcher's forensics do before a "shim-died" line."""
    t0 = now()
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None, 0
    n = 0
    while True:
        try:
            if not os.read(fd, 8192):
                break
        except BlockingIOError:
            break
        except BrokenPipeError:
            continue
        n += 1
    os.close(fd)
    return ms(now() - t0), n


def nfds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return None


def spawn(argv, cwd=None, log=None, env=None, **kw):
    return _spawn(argv, env or ENV, cwd=cwd, log=log, **kw)


def run(argv, cwd=None, log=None, env=None, check=True):
    return run_logged("watchbench", argv, env or ENV, cwd=cwd, log=log, check=check)


def wait_until(cond, what, timeout=GIVE_UP_S, tick=TICK):
    return _wait_until("watchbench", cond, what, timeout, tick)


def wait_listening_again(port, old_pid, timeout=GIVE_UP_S, gone=None):
    """monotonic ns at which OLD_PID is dead and PORT listens (a new listener);
    None after TIMEOUT, or as soon as GONE() says the restarter is gone."""
    end = time.monotonic() + timeout
    while True:
        if not alive(old_pid) and port in listening_ports():
            return now()
        if time.monotonic() > end or (gone and gone()):
            return None
        time.sleep(TICK)


def wait_port_free(port, what):
    wait_until(lambda: port not in listening_ports(), "port %d (%s) to be free" % (port, what))


def check_ports_free(ports):
    busy = sorted(set(ports) & listening_ports())
    if busy:
        die("ports already in use: %s (another benchmark or service?)" % busy)


class PollThread(threading.Thread):
    """Checks every POLL s whether /proc/PID is gone (the first check at
    once); .t is the monotonic ns of the check that found it gone."""

    def __init__(self, pid, timeout=GIVE_UP_S):
        super().__init__(daemon=True)
        self.pid, self.timeout, self.t = pid, timeout, None

    def run(self):
        end = time.monotonic() + self.timeout
        while time.monotonic() < end:
            if not os.path.exists("/proc/%d" % self.pid):
                self.t = now()
                return
            time.sleep(POLL)


class PidfdThread(threading.Thread):
    """pidfd_open(PID) + poll: .t is when the kernel said it exited (the
    floor for any watcher that is not the parent)."""

    def __init__(self, pid, timeout=GIVE_UP_S):
        super().__init__(daemon=True)
        self.t = None
        self.timeout = timeout
        self.fd = os.pidfd_open(pid)

    def run(self):
        p = select.poll()
        p.register(self.fd, select.POLLIN)
        if p.poll(self.timeout * 1000):
            self.t = now()
        os.close(self.fd)


# ---------------------------------------------------------------------------
# berth: repositories, status, the watcher.

def make_repo(name, ini_lines):
    repo = os.path.join(WORK, name)
    os.makedirs(repo)
    with open(os.path.join(repo, ".berth.ini"), "w") as f:
        f.write("\n".join(ini_lines) + "\n")
    with open(os.path.join(repo, ".gitignore"), "w") as f:
        f.write(".berth/\n")
    with open(os.path.join(repo, "README"), "w") as f:
        f.write("bench\n")
    log = os.path.join(WORK, "git.log")
    run(["git", "init", "-q", "-b", "main"], cwd=repo, log=log)
    run(["git", "add", "-A"], cwd=repo, log=log)
    run(["git", "commit", "-q", "-m", "initial"], cwd=repo, log=log)
    return repo


def listener_ini(base, max_slots, restart, interval):
    return ["[berth]", "mode = host", "max_slots = %d" % max_slots, "port_search_range = 0", "",
            "[watch]", "interval = %s" % interval, "",
            '[service "web"]', 'command = exec %s "$BERTH_WEB_PORT"' % LISTEN,
            "base_port = %d" % base, "ready = port", "ready_timeout = 20s",
            "restart = %s" % restart, ""]


def berth_log(repo):
    return repo + ".log"


def berth_up(repo, slug):
    run([BERTH, "up", slug], cwd=repo, log=berth_log(repo))


def berth_status(repo, slug):
    r = subprocess.run([BERTH, "status", slug, "--json"], cwd=repo, env=ENV,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return None


def service(repo, slug, name="web"):
    st = berth_status(repo, slug)
    for s in (st or {}).get("services", []):
        if s.get("name") == name:
            return s
    return None


def running_service(repo, slug, not_shim=None, what="the service"):
    """Wait until SLUG's web runs, healthy, under a shim other than NOT_SHIM;
    its status entry."""
    def ok():
        s = service(repo, slug)
        if s and s.get("state") == "running" and s.get("healthy") and s.get("pid") and \
                s.get("shim_pid") and s.get("shim_pid") != not_shim and alive(s["shim_pid"]):
            return s
        return None
    return wait_until(ok, "%s to run again (berth status %s)" % (what, slug), tick=0.02)


class Watcher:
    """`berth watch` in REPO, its stdout read line by line by a thread that
    stamps each line as it arrives (monotonic and epoch ns)."""

    def __init__(self, repo):
        self.repo = repo
        self.log = os.path.join(WORK, os.path.basename(repo) + ".watch.log")
        self.out = os.path.join(WORK, os.path.basename(repo) + ".watch.jsonl")
        self.q = queue.Queue()
        self.last_kind = None
        err = open(self.log, "ab")
        self.p = subprocess.Popen([BERTH, "watch"], cwd=repo, env=ENV, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=err)
        err.close()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        ev = self.wait(lambda e: e.get("kind") == "watch-start", "the watch-start line", 20)
        self.start_line = ev[2]

    def _read(self):
        with open(self.out, "ab") as out:
            for raw in iter(self.p.stdout.readline, b""):
                tm, te = now(), time.time_ns()
                out.write(raw)
                out.flush()
                try:
                    ev = json.loads(raw)
                    if not isinstance(ev, dict):
                        raise ValueError
                except ValueError:
                    ev = {"kind": "(not JSON)", "raw": raw.decode(errors="replace")}
                self.last_kind = ev.get("kind")
                self.q.put((tm, te, ev))
        self.q.put(None)

    def drain(self):
        """Forget the lines that came so far (counted by kind)."""
        while True:
            try:
                x = self.q.get_nowait()
            except queue.Empty:
                return
            if x is None:
                self.q.put(None)
                return

    def wait(self, pred, what, timeout=GIVE_UP_S, seen=None):
        """The first line for which PRED holds: (monotonic ns, epoch ns, event).
        Lines before it are counted in SEEN (kind -> count)."""
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            try:
                x = self.q.get(timeout=max(left, 0.001))
            except queue.Empty:
                x = False
            if x is None or x is False:
                if x is None:
                    self.q.put(None)
                state = "exited %s" % self.p.poll() if self.p.poll() is not None else "still runs"
                if self.last_kind == "watch-stop":
                    state += ("; its last line is watch-stop: it was sent SIGINT, SIGTERM or "
                              "SIGHUP, and not by this benchmark")
                when = "before its stdout closed" if x is None else "within %.0f s" % timeout
                die("berth watch in %s: no %s %s (the watcher %s); its stdout:\n%s\n"
                    "its stderr:\n%s" % (self.repo, what, when, state, tail(self.out),
                                         tail(self.log)))
            ev = x[2]
            if seen is not None:
                seen[ev.get("kind")] = seen.get(ev.get("kind"), 0) + 1
            if pred(ev):
                return x

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
                print("(berth watch did not stop within 10 s of SIGTERM: killed)", file=sys.stderr)
        self.t.join(5)
        self.p.stdout.close()


# ---------------------------------------------------------------------------
# Peers.

def supervisor_conf(d, programs):
    """PROGRAMS: (name, port). autorestart, startsecs=0: a process counts as
    started at once, so every death is restarted, none is 'backed off'."""
    return benchlib_supervisor_conf(d, [
        (name, ["command=%s %d" % (LISTEN, port),
                "autostart=true", "autorestart=true", "startsecs=0", "startretries=1000",
                "stopasgroup=true", "killasgroup=true",
                "stdout_logfile=%s/%s.log" % (d, name), "redirect_stderr=true"])
        for name, port in programs])


def pm2_env(home):
    return dict(ENV, PM2_HOME=os.path.join(WORK, home))


def pm2_eco(path, programs):
    """An ecosystem file: the listener itself (interpreter none), restarted on
    every exit, with no unstable-restart limit in reach (min_uptime 100 ms, its least)."""
    with open(path, "w") as f:
        json.dump({"apps": [{"name": name, "script": LISTEN, "args": str(port),
                             "interpreter": "none", "exec_mode": "fork", "autorestart": True,
                             "max_restarts": 1000000, "min_uptime": 100, "restart_delay": 0}
                            for name, port in programs]}, f)


def pm2_daemon_pid(home):
    try:
        with open(os.path.join(WORK, home, "pm2.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------------------
# Parts 1 and 2: the kills.

class System:
    def __init__(self, label):
        self.label = label
        self.restart = []    # ms: kill -> listening again
        self.notes = []


def ratio_str(x, base):
    if not base or x != x:
        return ""
    r = x / base
    return "%.0f×" % r if r >= 10 else "%.2g×" % r


def kill_at_random_phase():
    """A pause of U(0, POLL): a poll started just before lands at a uniform
    phase of its period when the kill comes."""
    time.sleep(random.uniform(0, POLL))


def cmd_kills():
    sup = os.environ.get("BENCH_SUPERVISORD", "")
    pm2 = os.environ.get("BENCH_PM2", "")
    with_peers = "2" in PARTS
    notes = []
    check_ports_free([P_WATCHED, P_SHIMONLY, P_SUP, P_PM2, P_EQUIV])
    rounds = []   # what each round does, in turn

    # --- berth watch: kill -9 of the session's shim ---------------------------
    w = {"watch_ts": [], "watch_read": [], "pidfd": [], "poll_self": [], "restart": [],
         "died_to_listen": [], "kmsg": [], "kmsg_n": 0, "kinds": {}, "line": None}
    watcher = None
    if NO_WATCH:
        notes.append("berth watch: skipped (this berth has no `watch` command)")
    else:
        repo_w = make_repo("kill-watched", listener_ini(P_WATCHED - 1, 4, "on-failure", "30s"))
        berth_up(repo_w, "watched")
        watcher = Watcher(repo_w)
        state = {"svc": running_service(repo_w, "watched")}

        def watched_round(counted):
            s = state["svc"]
            shim, svc = s["shim_pid"], s["pid"]
            watcher.drain()
            pidfd = PidfdThread(shim)
            poll = PollThread(shim, timeout=GIVE_UP_S)
            pidfd.start()
            poll.start()
            kill_at_random_phase()
            t_kill, e_kill = now(), time.time_ns()
            os.kill(shim, signal.SIGKILL)
            t_listen = wait_listening_again(P_WATCHED, svc,
                                            gone=lambda: watcher.p.poll() is not None)
            seen = {}
            tm, te, ev = watcher.wait(
                lambda e: e.get("kind") == "shim-died" and e.get("slug") == "watched" and
                e.get("service") == "web", "shim-died line for watched/web", seen=seen)
            if t_listen is None:
                rc = watcher.p.poll()
                die("berth watch: the service did not listen again within %.0f s of the shim's "
                    "kill (the shim-died line came: %s; the watcher %s); its stdout:\n%s\n"
                    "its stderr:\n%s"
                    % (GIVE_UP_S, json.dumps(ev),
                       "still runs" if rc is None else "exited %d, its last line %s"
                       % (rc, watcher.last_kind), tail(watcher.out), tail(watcher.log)))
            pidfd.join(GIVE_UP_S)
            state["svc"] = running_service(repo_w, "watched", not_shim=shim,
                                           what="the watched service")
            poll.join(GIVE_UP_S)
            # lines the restart printed meanwhile
            time.sleep(0.05)
            while True:
                try:
                    x = watcher.q.get_nowait()
                except queue.Empty:
                    break
                if x is None:
                    watcher.q.put(None)
                    break
                seen[x[2].get("kind")] = seen.get(x[2].get("kind"), 0) + 1
            if not counted:
                return
            k_ms, w["kmsg_n"] = kmsg_read_ms()
            if k_ms is not None:
                w["kmsg"].append(k_ms)
            if w["line"] is None:
                w["line"] = ev
            for k, n in seen.items():
                w["kinds"][k] = w["kinds"].get(k, 0) + n
            if "ts_ms" in ev:
                w["watch_ts"].append(float(ev["ts_ms"]) - e_kill / 1e6)
            w["watch_read"].append(ms(tm - t_kill))
            if pidfd.t:
                w["pidfd"].append(ms(pidfd.t - t_kill))
            if poll.t:
                w["poll_self"].append(ms(poll.t - t_kill))
            w["restart"].append(ms(t_listen - t_kill))
            w["died_to_listen"].append(ms(t_listen - tm))
        rounds.append(watched_round)

    # --- the equivalent shim: a berth-shim whose parent (sh) reaps it --------
    eq = {"poll": []}
    eq_dir = os.path.join(WORK, "equiv")
    os.makedirs(eq_dir)
    eq_sh = ('"$0" --status "$1/st" --log "$1/log" --cwd "$1" --log-max 0 -- '
             '"exec $2 %d" & echo $!; wait' % P_EQUIV)

    def equiv_round(counted):
        p = subprocess.Popen(["/bin/sh", "-c", eq_sh, SHIM, eq_dir, LISTEN], env=ENV,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             start_new_session=True)
        shim = int(p.stdout.readline())
        p.stdout.close()
        wait_until(lambda: P_EQUIV in listening_ports(), "the equivalent shim's listener")
        poll = PollThread(shim)
        poll.start()
        kill_at_random_phase()
        t_kill = now()
        os.kill(shim, signal.SIGKILL)
        poll.join(GIVE_UP_S)
        p.wait()
        wait_port_free(P_EQUIV, "the equivalent shim's listener")
        if counted and poll.t:
            eq["poll"].append(ms(poll.t - t_kill))
    if "1" in PARTS:
        rounds.append(equiv_round)

    systems = []
    # --- a berth-shim's own restart of its killed service (no watcher) -------
    shim_only = System("berth-shim alone (`restart = on-failure`): kill -9 of the service, "
                       "the shim restarts it (no watcher)")
    if with_peers:
        repo_s = make_repo("kill-shimonly", listener_ini(P_SHIMONLY - 1, 4, "on-failure", "30s"))
        berth_up(repo_s, "alone")
        so = {"svc": running_service(repo_s, "alone"), "since": now()}

        def shim_only_round(counted):
            s = so["svc"]
            left = SHIM_QUIET_S - ms(now() - so["since"]) / 1000
            if left > 0:
                time.sleep(left)
            kill_at_random_phase()
            t_kill = now()
            os.kill(s["pid"], signal.SIGKILL)
            t = wait_listening_again(P_SHIMONLY, s["pid"])
            if t is None:
                die("berth-shim did not restart its killed service within %.0f s: %s"
                    % (GIVE_UP_S, json.dumps(service(repo_s, "alone"))))
            so["since"] = t
            if counted:
                shim_only.restart.append(ms(t - t_kill))

            def ok():
                n = service(repo_s, "alone")
                return n if n and n.get("state") == "running" and n.get("pid") not in \
                    (None, s["pid"]) else None
            so["svc"] = wait_until(ok, "berth status to show the restarted service", tick=0.02)
        rounds.append(shim_only_round)
        systems.append(shim_only)

    # --- supervisord ---------------------------------------------------------
    daemons = {}
    sup_sys = System("supervisord (`autorestart=true`, `startsecs=0`): kill -9 of the program")
    if with_peers and sup:
        conf = supervisor_conf(os.path.join(WORK, "sup-kill"), [("web", P_SUP)])
        daemons["sup"] = spawn([sup, "-n", "-c", conf],
                               log=os.path.join(WORK, "sup-kill", "out.log"))
        wait_until(lambda: listener_pids([P_SUP]), "supervisord's listener", tick=0.01)

        def sup_round(counted):
            pids = wait_until(lambda: listener_pids([P_SUP]), "supervisord's listener",
                              tick=0.01)
            kill_at_random_phase()
            t_kill = now()
            os.kill(pids[0], signal.SIGKILL)
            t = wait_listening_again(P_SUP, pids[0])
            if t is None:
                die("supervisord did not restart its program within %.0f s:\n%s"
                    % (GIVE_UP_S, tail(os.path.join(WORK, "sup-kill", "supervisord.log"))))
            if counted:
                sup_sys.restart.append(ms(t - t_kill))
        rounds.append(sup_round)
        systems.append(sup_sys)
    elif with_peers:
        notes.append("supervisord: skipped (%s)" % os.environ.get("BENCH_SUP_WHY", "not available"))

    # --- pm2 -----------------------------------------------------------------
    pm2_sys = System("pm2 (autorestart, `restart_delay: 0`): kill -9 of the app")
    if with_peers and pm2:
        eco = os.path.join(WORK, "pm2-kill.json")
        pm2_eco(eco, [("web", P_PM2)])
        pm2_log = os.path.join(WORK, "pm2-kill.log")
        run([pm2, "start", eco], log=pm2_log, env=pm2_env("pm2home"))
        daemons["pm2"] = "pm2home"
        wait_until(lambda: listener_pids([P_PM2]), "pm2's listener", tick=0.01)

        def pm2_round(counted):
            pids = wait_until(lambda: listener_pids([P_PM2]), "pm2's listener", tick=0.01)
            kill_at_random_phase()
            t_kill = now()
            os.kill(pids[0], signal.SIGKILL)
            t = wait_listening_again(P_PM2, pids[0])
            if t is None:
                die("pm2 did not restart its app within %.0f s:\n%s" % (GIVE_UP_S, tail(pm2_log)))
            if counted:
                pm2_sys.restart.append(ms(t - t_kill))
        rounds.append(pm2_round)
        systems.append(pm2_sys)
    elif with_peers:
        notes.append("pm2: skipped (%s)" % os.environ.get("BENCH_PM2_WHY", "not available"))

    # --- the rounds: every system once per round, round 0 not counted -------
    try:
        for r in range(KILLS + 1):
            for f in rounds:
                f(r > 0)
                time.sleep(0.05)
    finally:
        if watcher:
            watcher.stop()
        if "sup" in daemons:
            daemons["sup"].send_signal(signal.SIGTERM)
            daemons["sup"].wait()
        if "pm2" in daemons:
            run([pm2, "kill"], log=os.path.join(WORK, "pm2-kill.log"),
                env=pm2_env(daemons["pm2"]), check=False)

    pid1 = (cmdline(1) or [b"?"])[0].decode(errors="replace").rsplit("/", 1)[-1]
    if "1" in PARTS:
        print("## 1. A shim's death → the watcher knows")
        print()
        print("kill -9 of the session's `berth-shim` (`restart = on-failure`, `[watch] interval "
              "= 30s`), %d counted kills; the other observers watch the same kills, except "
              "where said. Times from the kill, ms." % KILLS)
        print()
        print("| observer | n | median | p99 | max | median ÷ the watcher's |")
        print("|---|---|---|---|---|---|")
        base = med(w["watch_read"]) if w["watch_read"] else None

        def row(label, v, ratio=True):
            if not v:
                print("| %s | 0 | — | — | — | |" % label)
                return
            r = ratio_str(med(v), base) if ratio else ""
            print("| %s | %d | %s | %s | %s | %s |" % (label, len(v), fmt(med(v)),
                                                       fmt(pct(v, 99)), fmt(max(v)), r))
        if not NO_WATCH:
            row("**`berth watch`: its \"shim-died\" line, read by the bench**", w["watch_read"],
                ratio=False)
            row("`berth watch`: the same line's `ts_ms` (1 ms resolution) − the kill's epoch ms",
                w["watch_ts"], ratio=False)
            row("floor: pidfd_open + poll in the bench (not the parent)", w["pidfd"])
        row("100 ms poll: `/proc/<pid>` gone, a berth-shim killed the same way whose "
            "parent (`sh`) reaps it at once (separate kills)", eq["poll"])
        if not NO_WATCH:
            row("100 ms poll: `/proc/<pid>` gone, the session's shim itself (reaped by "
                "pid 1, `%s`)" % pid1, w["poll_self"])
        print("| %.0f s reconcile tick (**modelled**, not measured: a death lands uniformly "
              "inside the period) | — | %s | %s | %s | %s |"
              % (TICK_MODEL_S, fmt(TICK_MODEL_S * 500), fmt(TICK_MODEL_S * 990),
                 fmt(TICK_MODEL_S * 1000),
                 ratio_str(TICK_MODEL_S * 500, base)))
        print()
        if w["kmsg"]:
            print("Before its line the watcher reads the kernel log for an OOM kill of the shim "
                  "(`forensics_snapshot`: all of `/dev/kmsg`, one record per read). The same "
                  "read done by the bench (Python) after each kill: median %s, %d records. "
                  "The floor row is when the death could be known; the gap to the watcher's "
                  "line is mostly this read." % (fmt(med(w["kmsg"])), w["kmsg_n"]))
            print()
        if w["line"] is not None:
            print("The watcher's line, first counted kill: `%s`" % json.dumps(w["line"]))
            print()
        if w["kinds"]:
            print("Lines the watcher printed in the counted kills, by kind: %s."
                  % ", ".join("`%s` × %d" % kv for kv in sorted(w["kinds"].items())))
            print()
    if "2" in PARTS:
        print("## 2. A death → the service listens on its port again")
        print()
        print("From the kill until the killed listener is gone and its port listens again "
              "(a new process), read from /proc/net/tcp every 0.5 ms; the same "
              "`berth-test-listen` under every system. %d counted kills each, ms." % KILLS)
        print()
        print("| system | n | median | p99 | max | median ÷ `berth watch`'s |")
        print("|---|---|---|---|---|---|")
        base = med(w["restart"]) if w["restart"] else None

        def row2(label, v, ratio=True):
            print("| %s | %d | %s | %s | %s | %s |"
                  % (label, len(v), fmt(med(v)), fmt(pct(v, 99)), fmt(max(v) if v else None),
                     ratio_str(med(v), base) if ratio and v else ""))
        if not NO_WATCH:
            row2("**`berth watch` (`restart = on-failure`): kill -9 of the shim; the watcher "
                 "runs `berth restart`**", w["restart"], ratio=False)
            row2("of which: the \"shim-died\" line → listening again", w["died_to_listen"],
                 ratio=False)
        for sy in systems:
            row2(sy.label, sy.restart)
        print()
    for n in notes:
        print(n)
        print()


# ---------------------------------------------------------------------------
# Part 3: memory.

def measure(label, pid):
    """A row of part 3: after SETTLE_S, smaps_rollup and fds, then the CPU
    time used in the next CPU_S."""
    time.sleep(SETTLE_S)
    rss, pss, anon = smaps(pid)
    fds = nfds(pid)
    c0 = cpu_ms(pid)
    time.sleep(CPU_S)
    return (label, rss, pss, anon, fds, cpu_ms(pid) - c0)


def cmd_memory():
    sup = os.environ.get("BENCH_SUPERVISORD", "")
    pm2 = os.environ.get("BENCH_PM2", "")
    n = SESSIONS
    notes = []
    rows = []
    berth_ports = [P_MEM_BERTH + k for k in range(1, n + 1)]
    check_ports_free(berth_ports + [P_MEM_SUP + k for k in range(1, n + 1)] +
                     [P_MEM_PM2 + k for k in range(1, n + 1)])
    print("## 3. Memory with %d sessions up" % n)
    print()
    watcher = None
    try:
        if NO_WATCH:
            notes.append("berth watch: skipped (this berth has no `watch` command)")
        else:
            repo = make_repo("memory", listener_ini(P_MEM_BERTH, max(n, 20) + 4, "on-failure",
                                                    "1s"))
            watcher = Watcher(repo)
            rows.append(measure("`berth watch`, 0 sessions (`interval = 1s`)", watcher.p.pid))
            for k in range(1, n + 1):
                berth_up(repo, "m%d" % k)
            wait_until(lambda: set(berth_ports) <= listening_ports(), "the %d sessions' ports" % n)
            if watcher.p.poll() is not None:
                die("berth watch exited (%s) while %d sessions came up:\n%s"
                    % (watcher.p.returncode, n, tail(watcher.log)))
            rows.append(measure("**`berth watch`, %d sessions** (`interval = 1s`)" % n,
                                watcher.p.pid))
            rss, pss, anon = rows[-1][1:4]
            shims = []
            for k in range(1, n + 1):
                s = service(repo, "m%d" % k)
                if not s or not s.get("shim_pid"):
                    die("berth status m%d: no shim pid" % k)
                shims.append(s["shim_pid"])
            sr = [smaps(p) for p in shims]
            srss, spss, sanon = (sum(x[i] for x in sr) for i in range(3))
            rows.append(("the %d sessions' `berth-shim`s, summed" % n, srss, spss, sanon, None,
                         None))
            rows.append(("berth in all: the watcher + %d shims" % n, rss + srss, pss + spss,
                         anon + sanon, None, None))
            watcher.stop()
            watcher = None
            for k in range(1, n + 1):
                run([BERTH, "down", "--force", "m%d" % k], cwd=repo, log=berth_log(repo))

        if sup:
            d = os.path.join(WORK, "sup-mem")
            conf = supervisor_conf(d, [("m%d" % k, P_MEM_SUP + k) for k in range(1, n + 1)])
            p = spawn([sup, "-n", "-c", conf], log=os.path.join(d, "out.log"))
            try:
                wait_until(lambda: {P_MEM_SUP + k for k in range(1, n + 1)} <= listening_ports(),
                           "supervisord's %d listeners" % n)
                rows.append(measure("supervisord with %d programs" % n, p.pid))
            finally:
                p.send_signal(signal.SIGTERM)
                p.wait()
        else:
            notes.append("supervisord: skipped (%s)" % os.environ.get("BENCH_SUP_WHY",
                                                                      "not available"))
        if pm2:
            eco = os.path.join(WORK, "pm2-mem.json")
            pm2_eco(eco, [("m%d" % k, P_MEM_PM2 + k) for k in range(1, n + 1)])
            env = pm2_env("pm2home-mem")
            log = os.path.join(WORK, "pm2-mem.log")
            try:
                run([pm2, "start", eco], log=log, env=env)
                wait_until(lambda: {P_MEM_PM2 + k for k in range(1, n + 1)} <= listening_ports(),
                           "pm2's %d listeners" % n)
                pid = pm2_daemon_pid("pm2home-mem")
                if pid is None:
                    die("pm2: no pm2.pid in its PM2_HOME")
                rows.append(measure("pm2's daemon (`God Daemon`, node) with %d apps" % n, pid))
            finally:
                run([pm2, "kill"], log=log, env=env, check=False)
        else:
            notes.append("pm2: skipped (%s)" % os.environ.get("BENCH_PM2_WHY", "not available"))
    finally:
        if watcher:
            watcher.stop()

    print("`/proc/<pid>/smaps_rollup` and open fds of each daemon, %.0f s after its %d "
          "listeners all listened (the listeners themselves not counted). PSS divides a "
          "library's pages among the processes that map it, so it moves with what else runs; "
          "anonymous (heap, stacks, written data) does not. Then the CPU time "
          "(utime + stime, in ticks of %.0f ms) it used, idle, in the next %.0f s."
          % (SETTLE_S, n, 1000.0 / os.sysconf("SC_CLK_TCK"), CPU_S))
    print()
    print("| process | RSS | PSS | anonymous | open fds | CPU in %.0f s idle |" % CPU_S)
    print("|---|---|---|---|---|---|")
    for label, rss, pss, anon, fds, cpu in rows:
        print("| %s | %s | %s | %s | %s | %s |"
              % (label, mb(rss), mb(pss), mb(anon), "" if fds is None else fds,
                 "" if cpu is None else "%.0f ms" % cpu))
    print()
    for x in notes:
        print(x)
        print()


# ---------------------------------------------------------------------------
# Cleanup.

def cmd_cleanup():
    if not os.path.isdir(WORK):
        print(0)
        return
    # watchers first, so that nothing restarts what is being stopped
    for p in tagged_pids(WORK):
        argv = cmdline(p)
        if len(argv) >= 2 and argv[0] == BERTH.encode() and argv[1] == b"watch":
            kill_pids([p], signal.SIGTERM)
    time.sleep(0.2)
    sessions_down(BERTH, [os.path.join(WORK, d) for d in sorted(os.listdir(WORK))], ENV)
    pm2 = os.environ.get("BENCH_PM2", "")
    for home in ("pm2home", "pm2home-mem"):
        if pm2 and os.path.exists(os.path.join(WORK, home, "pm2.pid")):
            subprocess.run([pm2, "kill"], env=pm2_env(home), stdin=subprocess.DEVNULL,
                           capture_output=True)
    # then anything still carrying the tag: stop it (no respawn), kill it
    print(kill_tagged(WORK))


def main():
    if len(sys.argv) != 2 or not WORK:
        die("usage: BENCH_WORK=DIR ... watchbench.py kills|memory|cleanup")
    {"kills": cmd_kills, "memory": cmd_memory, "cleanup": cmd_cleanup}[sys.argv[1]]()


if __name__ == "__main__":
    main()
