#!/usr/bin/env python3
"""Print the one-line result of meson test logs: 'N passed, N failed'.

Reads meson's testlog.json files (one JSON object per line). OK and SKIP
count as passed (skips are also shown); anything else is a failure. Exits
non-zero when something failed or no test ran.
"""
import json
import sys

passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        print(f"missing test log {path}")
        continue
    for line in lines:
        if not line.strip():
            continue
        t = json.loads(line)
        res = t.get("result")
        if res == "OK":
            passed += 1
        elif res in ("SKIP", "EXPECTEDFAIL"):
            skipped += 1
            passed += 1
        else:
            failed += 1
            print(f"FAILED: {t.get('name')} ({res})")
            # The failing checks themselves, so a CI log that keeps only its
            # tail still says what broke.
            out = (t.get("stdout") or "").splitlines()
            bad = [l for l in out if l.startswith("not ok") and "# TODO" not in l and "# SKIP" not in l]
            for l in (bad or out[-5:])[:8]:
                print(f"  {l[:300]}")
if skipped:
    print(f"({skipped} skipped)")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
