"""Runs lit (-sv) and, when tests fail, ends with the last lines of each
failed test's output: the failing command and its message, which a long
RUN trace would otherwise push out of a truncated CI log.

Usage: lit_with_failure_tails.py LIT TEST_DIR"""

import json
import os
import subprocess
import sys
import tempfile

TAIL_LINES = 25


def main() -> int:
    lit, tests = sys.argv[1], sys.argv[2]
    with tempfile.TemporaryDirectory() as tmp:
        results = os.path.join(tmp, "results.json")
        rc = subprocess.call([lit, "-sv", "--output", results, tests])
        if rc == 0:
            return 0
        try:
            with open(results, encoding="utf-8") as f:
                failed = [t for t in json.load(f)["tests"]
                          if t["code"] not in ("PASS", "UNSUPPORTED", "XFAIL")]
        except (OSError, ValueError, KeyError) as e:
            print(f"(no lit results to summarize: {e})")
            return rc
    print(f"\n==== {len(failed)} failed lit test(s): the last {TAIL_LINES} lines of each ====")
    for t in failed:
        print(f"---- {t['name']} ({t['code']})")
        print("\n".join(t.get("output", "").rstrip().splitlines()[-TAIL_LINES:]))
    return rc


if __name__ == "__main__":
    sys.exit(main())
