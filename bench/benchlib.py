"""bench/benchlib.py: what the Python drivers of the benchmarks share: time
in ns and ms, medians, figures formatted for the tables, fatal errors, the
scratch environment of the processes they start, those processes found (by
their BENCH_TAG, or as listeners) and stopped, waits, the TCP ports that
listen (read from /proc, no tool), and a command timed with its stderr
lines."""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time


def now():
    return time.monotonic_ns()


def ms(ns):
    return ns / 1e6


def med(v):
    return statistics.median(v) if v else float("nan")


def fmt(x):
    """A duration in ms for a table: "—" for none, s from 1000 ms up."""
    if x is None or x != x:
        return "—"
    if abs(x) >= 1000:
        return "%.2f s" % (x / 1000)
    if abs(x) >= 100:
        return "%.0f ms" % x
    if abs(x) >= 10:
        return "%.1f ms" % x
    return "%.2f ms" % x


def die(prog, msg):
    print("%s: %s" % (prog, msg), file=sys.stderr)
    sys.exit(1)


def scratch_env(work, runtime, tag=True, pm2=False, drop=()):
    """The environment of every process a driver starts: ours, with HOME and
    XDG_* under WORK (XDG_RUNTIME_DIR: RUNTIME), PM2_HOME WORK/pm2home when
    PM2, git's identity fixed, no colour, the C locale; BENCH_TAG=WORK when
    TAG (tagged_pids finds them by it); the variables named in DROP left out."""
    env = dict(os.environ)
    if tag:
        env["BENCH_TAG"] = work
    env.update(
        HOME=os.path.join(work, "home"),
        XDG_CONFIG_HOME=os.path.join(work, "home/.config"),
        XDG_DATA_HOME=os.path.join(work, "home/.local/share"),
        XDG_STATE_HOME=os.path.join(work, "home/.local/state"),
        XDG_CACHE_HOME=os.path.join(work, "home/.cache"),
        XDG_RUNTIME_DIR=runtime,
    )
    if pm2:
        env["PM2_HOME"] = os.path.join(work, "pm2home")
    env.update(
        GIT_CONFIG_NOSYSTEM="1",
        GIT_AUTHOR_NAME="berth-bench",
        GIT_AUTHOR_EMAIL="bench@berth.invalid",
        GIT_COMMITTER_NAME="berth-bench",
        GIT_COMMITTER_EMAIL="bench@berth.invalid",
        NO_COLOR="1",
        LC_ALL="C",
    )
    for k in drop:
        env.pop(k, None)
    return env


# ---------------------------------------------------------------------------
# Processes, observed from outside.

def proc_state(pid):
    """The state letter of PID ('Z' zombie), or None when /proc/PID is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def alive(pid):
    """A live process (gone, zombie and dead all count as dead)."""
    return proc_state(pid) not in (None, "Z", "X")


def cmdline(pid):
    """PID's argv as bytes ([] when it is gone)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def listener_pids(ports):
    """Pids of live berth-test-listen processes serving one of PORTS."""
    want = {str(p) for p in ports}
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        argv = cmdline(int(d))
        if len(argv) >= 2 and argv[0].endswith(b"berth-test-listen") and \
                argv[1].decode(errors="replace") in want and alive(int(d)):
            out.append(int(d))
    return out


def tagged_pids(work):
    """Pids of the live processes (this one aside) whose environment holds
    BENCH_TAG=WORK: what a run started, found without a name."""
    me = os.getpid()
    tag = ("BENCH_TAG=" + work).encode()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if tag in env and alive(int(d)):
            out.append(int(d))
    return out


def kill_pids(pids, sig=signal.SIGKILL):
    """SIG to each of PIDS; one already gone is passed over."""
    for p in pids:
        try:
            os.kill(p, sig)
        except OSError:
            pass


def kill_tagged(work):
    """Anything still carrying BENCH_TAG=WORK stopped (no respawn), then
    killed, until none is left (20 tries); how many processes that was."""
    found = set()
    for _ in range(20):
        pids = tagged_pids(work)
        if not pids:
            break
        found.update(pids)
        kill_pids(pids, signal.SIGSTOP)
        kill_pids(pids, signal.SIGKILL)
        time.sleep(0.05)
    return len(found)


def sessions_down(berth, repos, env):
    """`berth down --force` of every session `berth ls` shows in each of
    REPOS that holds a .berth.ini; failures are ignored (a cleanup)."""
    for repo in repos:
        if not os.path.isfile(os.path.join(repo, ".berth.ini")):
            continue
        r = subprocess.run([berth, "ls", "--json"], cwd=repo, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True)
        try:
            sessions = json.loads(r.stdout or "[]")
        except ValueError:
            sessions = []
        for s in sessions:
            subprocess.run([berth, "down", "--force", s["slug"]], cwd=repo, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True)


def supervisor_conf(d, programs):
    """D/supervisord.conf (D made when missing): supervisord in the
    foreground, its socket, log and pid file in D, and PROGRAMS, a list of
    (name, [the program's "key=value" lines]); the file's path."""
    os.makedirs(d, exist_ok=True)
    conf = os.path.join(d, "supervisord.conf")
    lines = [
        "[unix_http_server]", "file=%s/sock" % d, "",
        "[supervisord]", "logfile=%s/supervisord.log" % d, "pidfile=%s/supervisord.pid" % d,
        "childlogdir=%s" % d, "nodaemon=true", "",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
        "[supervisorctl]", "serverurl=unix://%s/sock" % d, "",
    ]
    for name, settings in programs:
        lines += ["[program:%s]" % name] + settings + [""]
    with open(conf, "w") as f:
        f.write("\n".join(lines))
    return conf


# ---------------------------------------------------------------------------
# Commands and waits.

def spawn(argv, env, cwd=None, log=None, **kw):
    """ARGV started with ENV, stdin from /dev/null, stdout and stderr
    appended to LOG (or dropped): the Popen."""
    out = open(log, "ab") if log else subprocess.DEVNULL
    try:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, **kw)
    finally:
        if log:
            out.close()


def tail(path, n=3000):
    """The last N characters of the file PATH (a note when there is none)."""
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError:
        return "(no %s)" % path


def run_logged(prog, argv, env, cwd=None, log=None, check=True):
    """spawn() waited for: its exit status; with CHECK, a failure is fatal
    (die as PROG, with the end of LOG)."""
    rc = spawn(argv, env, cwd=cwd, log=log).wait()
    if check and rc != 0:
        die(prog, "%s exited %d\n%s" % (" ".join(argv), rc, tail(log) if log else ""))
    return rc


def wait_until(prog, cond, what, timeout, tick):
    """COND() polled every TICK s until it is true: its value; fatal (die as
    PROG, naming WHAT) after TIMEOUT s."""
    end = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > end:
            die(prog, "timed out after %.0f s waiting for %s" % (timeout, what))
        time.sleep(tick)


def listening_ports():
    """Ports with a TCP LISTEN socket (IPv4 and IPv6 tables)."""
    out = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split(None, 4)
                    if fields[3] == "0A":
                        out.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return out


def answering(ports):
    """The ports of PORTS on which 127.0.0.1 accepts a TCP connection. A
    connect costs ~0.03 ms here, a read of /proc/net/tcp (listening_ports)
    ~7 ms whatever the sockets (the kernel walks its whole table): timing
    loops poll with this one, so that the poll does not set the figure.
    Each answer stays in the listener's backlog until it accepts: a loop
    must not connect again to a port that answered (a full backlog drops
    the next connections)."""
    out = set()
    for port in ports:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(1.0)
        try:
            s.connect(("127.0.0.1", port))
            out.add(port)
        except OSError:
            pass
        finally:
            s.close()
    return out


def stderr_lines(p, t0, out=None):
    """P's stderr (a pipe) read line by line as it comes, to its end: [(ms
    since T0, line)], each line also written to OUT when given."""
    lines, buf = [], b""
    fd = p.stderr.fileno()
    while True:
        chunk = os.read(fd, 65536)
        t = now()
        if not chunk:
            break
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            lines.append((ms(t - t0), line.decode(errors="replace")))
            if out:
                out.write(line + b"\n")
    return lines


def timed_lines(argv, cwd, env, log, mode="ab"):
    """ARGV with its stderr read line by line as it comes: (exit status, ms
    until exit, [(ms since start, line)]). stdout and stderr go to LOG
    (opened with MODE)."""
    with open(log, mode) as out:
        t0 = now()
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.PIPE)
        lines = stderr_lines(p, t0, out)
        rc = p.wait()
        t1 = now()
        p.stderr.close()
    return rc, ms(t1 - t0), lines
