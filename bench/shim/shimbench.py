"""bench/shim/shimbench.py: the Python side of bench/shim/run.sh. Each
subcommand prints one Markdown table:

  log     a generator's 21-byte lines through berth-shim into its log, against
          the same generator writing straight to a file (`sh -c 'GEN > file'`)
  flood   SIGTERM to a shim whose service floods its output (`yes`): time
          until the shim has exited, its final state, the service's survival
  memory  RSS and PSS of a shim supervising `sleep 1000`, of that `sleep`,
          and of a bare `sleep`

Environment (run.sh sets it): BENCH_SHIM (the berth-shim binary),
BENCH_LOGGEN (bench_loggen), BENCH_WORK (a scratch directory, removed by
run.sh), RUNS (rounds; round 0 is a warm-up and is not counted),
BENCH_LINES (2000000), BENCH_SHIM_ALSO ("LABEL=PATH,..." more shims measured
in the same rounds, e.g. another build), BENCH_FLOOD_TIMEOUT (20 s)."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import die, fmt, med, ms, now  # noqa: E402

PROG = "shim"
WORK = os.environ.get("BENCH_WORK") or die(PROG, "BENCH_WORK is not set")
LOGGEN = os.environ.get("BENCH_LOGGEN", "")
RUNS = int(os.environ.get("RUNS", "5"))
LINES = int(os.environ.get("BENCH_LINES", "2000000"))
LINE_BYTES = 21
FLOOD_TIMEOUT = float(os.environ.get("BENCH_FLOOD_TIMEOUT", "20"))
FLOOD_BYTES = 256 << 10  # SIGTERM once the flood has logged this much
LOG_KEEP_DEFAULT = 5


def shims():
    """[(label, path)]: this build's berth-shim, then BENCH_SHIM_ALSO's."""
    out = [("berth-shim", os.environ.get("BENCH_SHIM") or die(PROG, "BENCH_SHIM is not set"))]
    for item in filter(None, os.environ.get("BENCH_SHIM_ALSO", "").split(",")):
        label, _, path = item.partition("=")
        if not path or not os.access(path, os.X_OK):
            die(PROG, "BENCH_SHIM_ALSO: '%s' is not LABEL=PATH of an executable" % item)
        out.append(("berth-shim (%s)" % label, path))
    return out


def log_files(path, keep):
    """path's kept files, oldest first, then path: those that exist."""
    names = ["%s.%d" % (path, i) for i in range(keep, 0, -1)] + [path]
    return [n for n in names if os.path.exists(n)]


def logged_bytes(path):
    """Bytes in path and its kept files (0 when there are none yet)."""
    total = 0
    for f in log_files(path, LOG_KEEP_DEFAULT):
        try:
            total += os.path.getsize(f)
        except OSError:
            pass
    return total


def remove_logs(path, keep=LOG_KEEP_DEFAULT):
    for n in log_files(path, keep) + [path + ".new"]:
        if os.path.lexists(n):
            os.unlink(n)


def read_status(path):
    """The status file as a dict ({} when it cannot be read)."""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("=")
                out[k] = v
    except OSError:
        pass
    return out


def alive(pid):
    """pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def kill_pid(pid, *comms):
    """SIGKILL pid if it is still a process named one of comms."""
    try:
        with open("/proc/%d/comm" % pid) as f:
            if f.read().strip() not in comms:
                return
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            die(PROG, "%s: not within %g s" % (what, timeout))
        time.sleep(0.002)


def timed(argv, out):
    """ARGV run to its end: (exit status, ms)."""
    t0 = now()
    rc = subprocess.call(argv, cwd=WORK, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    return rc, ms(now() - t0)


# ---- log: throughput ---------------------------------------------------------

def check_log(files, want_size, label):
    """The concatenation of files, without the shim's own lines, is the
    generator's output: LINES numbered lines, in order, none torn."""
    data = b"".join(open(f, "rb").read() for f in files)
    lines = [ln for ln in data.split(b"\n")[:-1] if not ln.startswith(b"[berth-shim]")]
    if data and not data.endswith(b"\n"):
        die(PROG, "%s: the log ends in the middle of a line" % label)
    if len(lines) != LINES or sum(len(ln) + 1 for ln in lines) != want_size:
        die(PROG, "%s: %d lines in the log, %d written" % (label, len(lines), LINES))
    for i in (0, LINES // 2, LINES - 1):
        if lines[i] != b"%020d" % i:
            die(PROG, "%s: line %d is %r" % (label, i, lines[i][:40]))
    for f in files[:-1]:
        if not open(f, "rb").read().endswith(b"\n"):
            die(PROG, "%s: %s does not end at a line boundary" % (label, f))
    # every line in order: the numbers go up by one
    prev = -1
    for ln in lines:
        n = int(ln)
        if n != prev + 1:
            die(PROG, "%s: line %d follows line %d" % (label, n, prev))
        prev = n


def cmd_log():
    if not os.access(LOGGEN, os.X_OK):
        die(PROG, "BENCH_LOGGEN: '%s' is not executable" % LOGGEN)
    gen = "%s %d" % (LOGGEN, LINES)
    size = LINES * LINE_BYTES
    direct = os.path.join(WORK, "direct.out")
    lg = os.path.join(WORK, "tp.log")
    st = os.path.join(WORK, "tp.st")
    piped = os.path.join(WORK, "piped.out")
    methods = [("direct: `sh -c 'GEN > file'`", ["sh", "-c", "exec %s > %s" % (gen, direct)],
                [direct], lambda: os.path.exists(direct) and os.unlink(direct)),
               # the floor of any logger on a pipe: a copy in and out, nothing else
               ("through a pipe: `sh -c 'GEN \\| cat > file'`",
                ["sh", "-c", "%s | cat > %s" % (gen, piped)],
                [piped], lambda: os.path.exists(piped) and os.unlink(piped))]
    for label, shim in shims():
        methods.append(("%s `--log-max 0`" % label,
                        [shim, "--status", st, "--log", lg, "--cwd", WORK, "--log-max", "0",
                         "--", gen],
                        None, lambda: remove_logs(lg)))
        methods.append(("%s, default `--log-max` (10 MiB, keep 5)" % label,
                        [shim, "--status", st, "--log", lg, "--cwd", WORK, "--", gen],
                        None, lambda: remove_logs(lg)))
    times = {m[0]: [] for m in methods}
    out = open(os.path.join(WORK, "log.out"), "ab")
    for r in range(RUNS + 1):
        for label, argv, files, clean in methods:
            clean()
            rc, t = timed(argv, out)
            if rc != 0:
                die(PROG, "%s exited %d (see %s/log.out)" % (label, rc, WORK))
            if files is None and read_status(st).get("exit_code") != "0":
                die(PROG, "%s: the service did not exit 0" % label)
            if r == 1:
                check_log(files or log_files(lg, LOG_KEEP_DEFAULT), size, label)
            if r > 0:
                times[label].append(t)
    for _, _, _, clean in methods:
        clean()
    base = med(times[methods[0][0]])
    print("%d lines of %d bytes (%.1f MB), generator `bench_loggen %d` (4 KiB writes)"
          % (LINES, LINE_BYTES, size / 1e6, LINES))
    print()
    print("| method | time | MB/s | rate against direct |")
    print("|---|---|---|---|")
    for label, _, _, _ in methods:
        t = med(times[label])
        print("| %s | %s | %.0f | %.2fx |" % (label, fmt(t), size / 1e6 / (t / 1000), base / t))


# ---- flood: stopping a service that floods its output ------------------------

def cmd_flood():
    grace = 1000
    rows = []
    for label, shim in shims():
        rows.append((label, shim, [], [], [], []))
    lg = os.path.join(WORK, "flood.log")
    st = os.path.join(WORK, "flood.st")
    out = open(os.path.join(WORK, "flood.out"), "ab")
    for r in range(RUNS + 1):
        for label, shim, times, states, survivors, logged in rows:
            remove_logs(lg)
            if os.path.exists(st):
                os.unlink(st)
            p = subprocess.Popen([shim, "--status", st, "--log", lg, "--cwd", WORK,
                                  "--stop-grace", str(grace), "--", "yes"],
                                 cwd=WORK, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
            try:
                wait_for(lambda: read_status(st).get("pid", "0") not in ("", "0") and
                         logged_bytes(lg) >= FLOOD_BYTES,
                         10, "%s: the flood to reach %d KiB of log" % (label, FLOOD_BYTES >> 10))
                svc = int(read_status(st)["pid"])
                t0 = now()
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=FLOOD_TIMEOUT)
                    t = ms(now() - t0)
                except subprocess.TimeoutExpired:
                    t = None
                state = read_status(st).get("state", "?") if t is not None else "(still running)"
                surv = 1 if alive(svc) else 0
                size = logged_bytes(lg)
            finally:
                if p.poll() is None:
                    kill_pid(p.pid, "berth-shim")
                    p.wait()
                svc_now = read_status(st).get("pid", "")
                if svc_now.isdigit() and alive(int(svc_now)):
                    kill_pid(int(svc_now), "yes", "sh")
            if r > 0:
                times.append(t)
                states.append(state)
                survivors.append(surv)
                logged.append(size)
    print("`berth-shim --stop-grace %d -- yes`, SIGTERM once the log holds %d KiB; "
          "time until the shim has exited (waited for up to %g s, then killed); target: "
          "within stop_grace + 100 ms = %d ms" % (grace, FLOOD_BYTES >> 10, FLOOD_TIMEOUT,
                                                    grace + 100))
    print()
    print("| shim | median | max | exited within %d ms | state after | `yes` alive after |"
          % (grace + 100))
    print("|---|---|---|---|---|---|")
    for label, _, times, states, survivors, logged in rows:
        done = [t for t in times if t is not None]
        hung = len(times) - len(done)
        median = med(done + [float("inf")] * hung) if times else float("nan")
        shown = fmt(median) if median != float("inf") else "> %g s" % FLOOD_TIMEOUT
        worst = "> %g s" % FLOOD_TIMEOUT if hung else fmt(max(done))
        within = sum(1 for t in done if t <= grace + 100)
        kinds = sorted(set(states))
        print("| %s | %s | %s | %d of %d | %s | %d of %d |"
              % (label, shown, worst, within, len(times),
                 ", ".join("`%s` %d" % (k, states.count(k)) for k in kinds),
                 sum(survivors), len(times)))


# ---- memory: an idle shim ----------------------------------------------------

def smaps(pid):
    """(RSS, PSS) in kB from /proc/<pid>/smaps_rollup."""
    rss = pss = None
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def cmd_memory():
    st = os.path.join(WORK, "mem.st")
    lg = os.path.join(WORK, "mem.log")
    label, shim = shims()[0]
    got = {"shim": [], "svc": [], "bare": []}
    out = open(os.path.join(WORK, "mem.out"), "ab")
    for _ in range(RUNS):
        if os.path.exists(st):
            os.unlink(st)
        p = subprocess.Popen([shim, "--status", st, "--log", lg, "--cwd", WORK, "--",
                              "exec sleep 1000"], cwd=WORK, stdin=subprocess.DEVNULL,
                             stdout=out, stderr=out)
        bare = subprocess.Popen(["sleep", "1000"], stdin=subprocess.DEVNULL)
        svc = None
        try:
            wait_for(lambda: read_status(st).get("state") == "running" and
                     read_status(st).get("pid", "0") not in ("", "0"),
                     10, "the shim to report running")
            svc = int(read_status(st)["pid"])
            # the service has exec'd sleep, and the shim is idle in its loop
            wait_for(lambda: open("/proc/%d/comm" % svc).read().strip() == "sleep", 10,
                     "the service to become sleep")
            time.sleep(0.2)
            got["shim"].append(smaps(p.pid))
            got["svc"].append(smaps(svc))
            got["bare"].append(smaps(bare.pid))
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_pid(p.pid, "berth-shim")
                p.wait()
            if svc and alive(svc):
                kill_pid(svc, "sleep", "sh")
            bare.kill()
            bare.wait()
    print("| process | RSS | PSS |")
    print("|---|---|---|")
    for key, name in (("shim", "%s supervising `sleep 1000` (target: PSS <= 0.5 MB)" % label),
                      ("svc", "that `sleep 1000`"), ("bare", "a bare `sleep 1000`")):
        v = got[key]
        print("| %s | %.2f MB | %.2f MB |" % (name, med([x[0] for x in v]) / 1024,
                                              med([x[1] for x in v]) / 1024))


def main():
    cmds = {"log": cmd_log, "flood": cmd_flood, "memory": cmd_memory}
    if len(sys.argv) != 2 or sys.argv[1] not in cmds:
        die(PROG, "usage: shimbench.py log|flood|memory")
    cmds[sys.argv[1]]()


if __name__ == "__main__":
    main()
