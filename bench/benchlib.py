"""bench/benchlib.py: what the Python drivers of the benchmarks share: time
in ns and ms, medians, figures formatted for the tables, fatal errors, and
the TCP ports that listen (read from /proc, no tool)."""
import statistics
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
