"""bench/benchlib.py: what the Python drivers of the benchmarks share: time
in ns and ms, medians, figures formatted for the tables, fatal errors, the
TCP ports that listen (read from /proc, no tool), and a command timed with
its stderr lines."""
import os
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


def timed_lines(argv, cwd, env, log, mode="ab"):
    """ARGV with its stderr read line by line as it comes: (exit status, ms
    until exit, [(ms since start, line)]). stdout and stderr go to LOG
    (opened with MODE)."""
    lines, buf = [], b""
    with open(log, mode) as out:
        t0 = now()
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                             stderr=subprocess.PIPE)
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
                out.write(line + b"\n")
        rc = p.wait()
        t1 = now()
        p.stderr.close()
    return rc, ms(t1 - t0), lines
