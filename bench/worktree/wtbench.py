#!/usr/bin/env python3
"""bench/worktree/wtbench.py: the timing side of bench/worktree/run.sh.

    wtbench.py run       every case, RUNS counted rounds (one warm-up more),
                         then the Markdown tables
    wtbench.py cleanup   bring down every session the benchmark left

Configuration comes from the environment (run.sh sets it): BENCH_WORK (the
scratch directory; BENCH_WORK/<build>/berth is each build), BENCH_BUILDS
("new", or "base new"), RUNS, BENCH_FILES, BENCH_DIRS, BENCH_RAW.

Times are time.monotonic_ns() around each process, from spawn to exit; the
removal phase of `berth down` runs from its "removing the worktree" line on
stderr (read as it comes) to its exit, which also covers the git prune and
the state update after the removal (both well under a millisecond, as the
down of an empty worktree shows). CPU is the process's own user + system
time (wait4). Before each timed removal the files just copied are written
out (sync(2), untimed), so that no write-back of the copy lands in it. Each
round runs every case of every build, the builds in alternating order.
"""
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from benchlib import die as _die, fmt, med, ms, now, scratch_env, stderr_lines  # noqa: E402


def die(msg):
    _die("wtbench", msg)


WORK = os.environ.get("BENCH_WORK", "")
BUILDS = os.environ.get("BENCH_BUILDS", "new").split()
RUNS = int(os.environ.get("RUNS", "10"))
NFILES = int(os.environ.get("BENCH_FILES", "9000"))
NDIRS = int(os.environ.get("BENCH_DIRS", "900"))
RAW = os.environ.get("BENCH_RAW", "")
SLUG = "bench"
REMOVING = "removing the worktree"

ENV = scratch_env(WORK, os.path.join(WORK, "run"), tag=False)


def berth_of(build):
    return os.path.join(WORK, build, "berth")


def repo_of(build):
    return os.path.join(WORK, "repo-" + build)


def wt_of(build):
    return os.path.join(repo_of(build), ".berth/worktrees", SLUG)


def timed(argv, cwd):
    """ARGV run to its exit: (status, ms, cpu ms, [(ms since start, stderr line)])."""
    t0 = now()
    p = subprocess.Popen(argv, cwd=cwd, env=ENV, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    lines = stderr_lines(p, t0)
    _, status, ru = os.wait4(p.pid, 0)
    t1 = now()
    p.returncode = os.waitstatus_to_exitcode(status)
    p.stderr.close()
    return p.returncode, ms(t1 - t0), (ru.ru_utime + ru.ru_stime) * 1e3, lines


def run_ok(argv, cwd, what):
    rc, t, cpu, lines = timed(argv, cwd)
    if rc != 0:
        die("%s exited %d:\n%s" % (what, rc, "\n".join(l for _, l in lines)))
    return t, cpu, lines


def git(repo, *args):
    subprocess.run(["git", "-C", repo] + list(args), env=ENV, check=True,
                   stdout=subprocess.DEVNULL)


def make_repo(path):
    """One commit: 20 small source files, a .gitignore that ignores .berth/
    and node_modules/, and a .berth.ini with mode = host and no service."""
    os.makedirs(os.path.join(path, "src"))
    git(path, "init", "-q", "-b", "main")
    with open(os.path.join(path, ".gitignore"), "w") as f:
        f.write(".berth/\nnode_modules/\n")
    with open(os.path.join(path, ".berth.ini"), "w") as f:
        f.write("[berth]\nmode = host\n")
    with open(os.path.join(path, "README"), "w") as f:
        f.write("bench\n")
    for i in range(20):
        with open(os.path.join(path, "src", "m%02d.js" % i), "w") as f:
            f.write("export const m%d = %d;\n" % (i, i))
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "bench")


def make_node_modules(root):
    """NFILES files in NDIRS directories, the shape of an npm tree: packages
    of three directories (the package, lib/, dist/), each holding a
    package.json or modules of 20 B-2 KB; and .bin/ symlinks into them."""
    rnd = random.Random(16)
    dirs = []
    for i in range(max(1, NDIRS // 3)):
        pkg = os.path.join(root, "pkg-%03d" % i)
        for sub in ("", "lib", "dist"):
            d = os.path.join(pkg, sub) if sub else pkg
            os.makedirs(d, exist_ok=True)
            dirs.append(d)
    os.makedirs(os.path.join(root, ".bin"))
    for j in range(NFILES):
        d = dirs[j % len(dirs)]
        # the first file of each package directory is its package.json
        name = "package.json" if j < len(dirs) and j % 3 == 0 else "f%05d.js" % j
        with open(os.path.join(d, name), "w") as f:
            f.write("module.exports = %d;\n" % j + "x" * rnd.randint(0, 2000))
    for i in range(0, len(dirs) // 3, 10):
        os.symlink("../pkg-%03d/lib/f%05d.js" % (i, 3 * i + 1),
                   os.path.join(root, ".bin", "cmd%03d" % i))


def count_tree(root):
    files = dirs = 0
    for _, ds, fs in os.walk(root):
        dirs += len(ds)
        files += len(fs)
    return files, dirs


def copy_tree(src, dst):
    subprocess.run(["cp", "-a", src, dst], check=True)


def removal_ms(total, lines):
    for t, line in lines:
        if REMOVING in line:
            return total - t
    return float("nan")


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def cmd_run():
    if not WORK:
        die("BENCH_WORK is not set; run bench/worktree/run.sh")
    for d in ("home", "run"):
        os.makedirs(os.path.join(WORK, d), exist_ok=True)
    os.chmod(os.path.join(WORK, "run"), 0o700)
    template = os.path.join(WORK, "template", "node_modules")
    make_node_modules(template)
    nfiles, ndirs = count_tree(template)
    for b in BUILDS:
        make_repo(repo_of(b))
    # the copy `rm -rf` removes: the worktree as berth checks it out, with
    # the same node_modules
    b = BUILDS[-1]
    golden = os.path.join(WORK, "golden")
    run_ok([berth_of(b), "up", SLUG], repo_of(b), b + " up")
    copy_tree(template, os.path.join(wt_of(b), "node_modules"))
    copy_tree(wt_of(b), golden)
    run_ok([berth_of(b), "down", "--force", SLUG], repo_of(b), b + " down")
    load0 = loadavg()
    # times[build][case] = [ms...]
    times = {b: {} for b in BUILDS}
    times["rm"] = {}

    def add(b, case, v):
        times[b].setdefault(case, []).append(v)

    for rnd in range(RUNS + 1):
        order = BUILDS if rnd % 2 == 0 else list(reversed(BUILDS))
        for b in order:
            berth, repo, wt = berth_of(b), repo_of(b), wt_of(b)
            # 3. up and down of 0 services (an empty worktree)
            t_up, c_up, _ = run_ok([berth, "up", SLUG], repo, b + " up")
            t_dn, c_dn, _ = run_ok([berth, "down", SLUG], repo, b + " down")
            # 1./2. the same with node_modules in the worktree
            run_ok([berth, "up", SLUG], repo, b + " up")
            copy_tree(template, os.path.join(wt, "node_modules"))
            with open(os.path.join(wt, "notes.txt"), "w") as f:
                f.write("a person's notes\n")
            os.sync()
            rc, t_ref, c_ref, lines = timed([berth, "down", SLUG], repo)
            if rc != 7:
                die("%s down with an untracked file exited %d, not 7:\n%s" %
                    (b, rc, "\n".join(l for _, l in lines)))
            if count_tree(os.path.join(wt, "node_modules")) != (nfiles, ndirs):
                die("%s: the refused down changed node_modules" % b)
            os.unlink(os.path.join(wt, "notes.txt"))
            os.sync()
            t_big, c_big, lines = run_ok([berth, "down", SLUG], repo, b + " down")
            if os.path.exists(wt) or os.listdir(os.path.dirname(wt)):
                die("%s down left something in %s" % (b, os.path.dirname(wt)))
            if rnd == 0:
                continue
            add(b, "up0", t_up)
            add(b, "up0 cpu", c_up)
            add(b, "down0", t_dn)
            add(b, "down0 cpu", c_dn)
            add(b, "refused", t_ref)
            add(b, "refused cpu", c_ref)
            add(b, "down", t_big)
            add(b, "down cpu", c_big)
            add(b, "removal", removal_ms(t_big, lines))
        # rm -rf of an identical copy of that worktree
        copy = os.path.join(WORK, "copy")
        copy_tree(golden, copy)
        os.sync()
        rc, t_rm, c_rm, _ = timed(["rm", "-rf", copy], WORK)
        if rc != 0 or os.path.exists(copy):
            die("rm -rf failed (%d)" % rc)
        if rnd:
            add("rm", "rm", t_rm)
            add("rm", "rm cpu", c_rm)
        print("wtbench: round %d of %d done (loadavg %s)" % (rnd, RUNS, loadavg()),
              file=sys.stderr)
    load1 = loadavg()
    if RAW:
        with open(RAW, "w") as f:
            json.dump(times, f, indent=1)
    report(times, nfiles, ndirs, load0, load1)


def report(times, nfiles, ndirs, load0, load1):
    def m(b, case):
        return med(times.get(b, {}).get(case, []))

    def rng(b, case):
        v = times.get(b, {}).get(case, [])
        return "%s–%s" % (fmt(min(v)), fmt(max(v))) if v else "—"

    names = {"base": "base", "new": "this build"}
    print("%s, loadavg %s at the start, %s at the end; medians of %d rounds "
          "(min–max beside them); node_modules: %d files, %d directories, %d symlinks "
          "among the files.\n" % (time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                  load0, load1, RUNS, nfiles, ndirs,
                                  len(os.listdir(os.path.join(WORK, "template",
                                                              "node_modules", ".bin")))))
    print("**1. Removing a worktree with node_modules**\n")
    print("| what | time | min–max | CPU (user + sys) | ÷ `rm -rf` |")
    print("|---|---|---|---|---|")
    rm = m("rm", "rm")
    print("| `rm -rf` of an identical copy | %s | %s | %s | 1.00 |" %
          (fmt(rm), rng("rm", "rm"), fmt(m("rm", "rm cpu"))))
    for b in BUILDS:
        print("| `berth down`, %s: removal phase | %s | %s | | %.2f |" %
              (names[b], fmt(m(b, "removal")), rng(b, "removal"), m(b, "removal") / rm))
        print("| `berth down`, %s: whole command | %s | %s | %s | %.2f |" %
              (names[b], fmt(m(b, "down")), rng(b, "down"), fmt(m(b, "down cpu")),
               m(b, "down") / rm))
    print("\n**2. `berth down` refused (exit 7) by an untracked file beside node_modules**\n")
    print("| build | time to exit 7 | min–max | CPU |")
    print("|---|---|---|---|")
    for b in BUILDS:
        print("| %s | %s | %s | %s |" % (names[b], fmt(m(b, "refused")), rng(b, "refused"),
                                        fmt(m(b, "refused cpu"))))
    print("\n**3. `berth up` and `berth down` of 0 services (mode = host)**\n")
    print("| build | `up` | min–max | CPU | `down` | min–max | CPU |")
    print("|---|---|---|---|---|---|---|")
    for b in BUILDS:
        print("| %s | %s | %s | %s | %s | %s | %s |" %
              (names[b], fmt(m(b, "up0")), rng(b, "up0"), fmt(m(b, "up0 cpu")),
               fmt(m(b, "down0")), rng(b, "down0"), fmt(m(b, "down0 cpu"))))


def cmd_cleanup():
    if not WORK:
        return
    for b in BUILDS:
        berth, repo = berth_of(b), repo_of(b)
        if os.path.exists(berth) and os.path.isdir(os.path.join(repo, ".berth")):
            subprocess.run([berth, "down", "--force", SLUG], cwd=repo, env=ENV,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in ("run", "cleanup"):
        die("usage: wtbench.py run|cleanup")
    if sys.argv[1] == "run":
        cmd_run()
    else:
        cmd_cleanup()


if __name__ == "__main__":
    main()
