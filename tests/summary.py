#!/usr/bin/env python3
"""Count TAP results in meson's testlog.json files.

Prints one line: "N passed, N failed, N skipped". A test program that
failed without printing any TAP result counts as one failure.
"""
import json
import re
import sys


def count(path):
    passed = failed = skipped = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            out = t.get("stdout", "") or ""
            nok = 0
            seen = 0
            for l in out.splitlines():
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
    return passed, failed, skipped


def main():
    p = f = s = 0
    for path in sys.argv[1:]:
        try:
            a, b, c = count(path)
        except FileNotFoundError:
            print(f"summary: no test log at {path}", file=sys.stderr)
            b, a, c = 1, 0, 0
        p, f, s = p + a, f + b, s + c
    print(f"{p} passed, {f} failed, {s} skipped")


if __name__ == "__main__":
    main()
