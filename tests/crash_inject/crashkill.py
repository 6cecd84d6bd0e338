#!/usr/bin/env python3
"""crashkill.py: start a berth command and SIGKILL it, for the crash-injection
suite (t1450-crash-inject.sh).

  crashkill.py random MAX_S SEED RESULT -- CMD...
      SIGKILL CMD after a delay drawn uniformly from [0, MAX_S] seconds
      (random.Random(SEED): the same seed gives the same delay), counted from
      the moment CMD was executed, unless CMD ended first.
  crashkill.py pause POINT TIMEOUT_S RESULT -- CMD...
      Run CMD with BERTH_TEST_PAUSE=POINT and BERTH_TEST_PAUSE_FILE set;
      SIGKILL it as soon as it has created the pause file. When CMD ends
      first (the point was never reached) or TIMEOUT_S passes, say so.

RESULT gets one line:
  killed MS DELAY_MS    CMD was killed MS ms after it started
  exited RC MS          CMD ended by itself with status RC (never killed)
  timeout MS            (pause) neither the pause file nor CMD's end came in
                        time; CMD was killed
CMD's stdin, stdout and stderr are this process's: redirect them to files,
never to a pipe someone waits on (services a killed `up` started keep what
they inherited).

Waiting out the injection delay is the point of the helper, not a wait for
state: it waits on CMD's pidfd with that timeout, so that an end of CMD is
seen at once. The pause file is polled in a bounded loop (every 2 ms, on the
same pidfd, with a deadline).
"""
import os
import random
import select
import signal
import subprocess
import sys
import time


def usage():
    sys.stderr.write(__doc__)
    sys.exit(2)


def write_result(path, line):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(line + "\n")
    os.rename(tmp, path)


def ms_since(t0):
    return int((time.monotonic() - t0) * 1000)


def kill_and_reap(p):
    try:
        p.send_signal(signal.SIGKILL)
    except ProcessLookupError:
        pass
    return p.wait()


def kill_on_signals(p):
    """When the suite is interrupted, CMD (maybe paused for good) goes too."""
    def handler(signum, frame):
        kill_and_reap(p)
        sys.exit(128 + signum)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


def main(argv):
    if len(argv) < 2:
        usage()
    mode = argv[1]
    try:
        sep = argv.index("--")
    except ValueError:
        usage()
    args, cmd = argv[2:sep], argv[sep + 1:]
    if not cmd:
        usage()

    if mode == "random":
        if len(args) != 3:
            usage()
        max_s, seed, result = float(args[0]), args[1], args[2]
        delay = random.Random(seed).uniform(0.0, max_s)
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, close_fds=True)
        kill_on_signals(p)
        pidfd = os.pidfd_open(p.pid)
        ended, _, _ = select.select([pidfd], [], [], delay)
        os.close(pidfd)
        if ended:
            write_result(result, "exited %d %d" % (p.wait(), ms_since(t0)))
            return 0
        rc = kill_and_reap(p)
        if rc == -signal.SIGKILL:
            write_result(result, "killed %d %d" % (ms_since(t0), int(delay * 1000)))
        else:  # it ended between the timeout and the kill
            write_result(result, "exited %d %d" % (rc, ms_since(t0)))
        return 0

    if mode == "pause":
        if len(args) != 3:
            usage()
        point, timeout_s, result = args[0], float(args[1]), args[2]
        pause_file = result + ".paused"
        try:
            os.unlink(pause_file)
        except FileNotFoundError:
            pass
        env = dict(os.environ, BERTH_TEST_PAUSE=point, BERTH_TEST_PAUSE_FILE=pause_file)
        t0 = time.monotonic()
        deadline = t0 + timeout_s
        p = subprocess.Popen(cmd, env=env, close_fds=True)
        kill_on_signals(p)
        pidfd = os.pidfd_open(p.pid)
        while True:
            if os.path.exists(pause_file):
                rc = kill_and_reap(p)
                if rc == -signal.SIGKILL:
                    write_result(result, "killed %d 0" % ms_since(t0))
                else:
                    write_result(result, "exited %d %d" % (rc, ms_since(t0)))
                return 0
            if time.monotonic() >= deadline:
                kill_and_reap(p)
                write_result(result, "timeout %d" % ms_since(t0))
                return 0
            ended, _, _ = select.select([pidfd], [], [], 0.002)
            if ended and not os.path.exists(pause_file):  # it ended without pausing
                write_result(result, "exited %d %d" % (p.wait(), ms_since(t0)))
                return 0

    usage()
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
