#!/usr/bin/env python3
"""Count TAP results in meson's testlog.json files.

Prints one line: "N passed, N failed, N skipped". A test program that
failed without printing any TAP result counts as one failure. Before that
line, each failure is shown with its diagnostics (or, for a program that
crashed or timed out, its last lines), so a CI log that keeps only its tail
still says what failed.
"""
import json
import re
import sys


def context(lines, i, around=30):
    """A "not ok" line and the diagnostics ("#" lines) next to it: the unit
    tests print theirs before it (the failing child's own lines), the shell
    suites after it."""
    before = []
    for l in reversed(lines[max(0, i - around):i]):
        if not l.startswith("#"):
            break
        before.insert(0, l)
    out = before + [lines[i]]
    for l in lines[i + 1:i + 1 + around]:
        if not l.startswith("#"):
            break
        out.append(l)
    return "\n".join("    " + l for l in out)


def tail(lines, n=25):
    return "\n".join("    " + l for l in lines[-n:])


def count(path, report):
    passed = failed = skipped = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                t = json.loads(line)
            except ValueError:
                # a log cut short (a run killed while it wrote): one failure
                failed += 1
                report.append(f"FAILED {path}: a line of the test log does not parse")
                continue
            out = t.get("stdout", "") or ""
            nok = 0
            seen = 0
            lines = out.splitlines()
            for i, l in enumerate(lines):
                if re.match(r"^1\.\.0\b.*#\s*SKIP", l, re.I):
                    skipped += 1
                    seen += 1
                elif re.match(r"^not ok\b", l):
                    seen += 1
                    if re.search(r"#\s*TODO", l, re.I):
                        skipped += 1
                    else:
                        failed += 1
                        nok += 1
                        report.append(f"FAILED {t.get('name')}: {l}\n"
                                      + context(lines, i))
                elif re.match(r"^ok\b", l):
                    seen += 1
                    if re.search(r"#\s*SKIP", l, re.I):
                        skipped += 1
                    else:
                        passed += 1
            result = t.get("result")
            if result == "SKIP" and seen == 0:
                skipped += 1
            elif result not in ("OK", "SKIP", "EXPECTEDFAIL") and nok == 0:
                # crashed, timed out or broke its plan without a "not ok"
                failed += 1
                err = (t.get("stderr", "") or "").splitlines()
                report.append(f"FAILED {t.get('name')}: {result}\n" + tail(lines + err))
    return passed, failed, skipped


def main():
    p = f = s = 0
    report = []
    for path in sys.argv[1:]:
        try:
            a, b, c = count(path, report)
        except FileNotFoundError:
            print(f"summary: no test log at {path}", file=sys.stderr)
            b, a, c = 1, 0, 0
        p, f, s = p + a, f + b, s + c
    for r in report:
        print(r)
    print(f"{p} passed, {f} failed, {s} skipped")


if __name__ == "__main__":
    main()
