#!/usr/bin/env python3
"""End-to-end tests of trixc: runs every tests/e2e/test_*.py with unittest.

Each test runs the real `trixc` binary as a user would (in its own temporary
directory, with real child processes and real HTTP servers on 127.0.0.1)
and checks exit codes, side effects, output and the state directory.

Usage: run_e2e.py --trixc PATH [-k PATTERN]... [-v] [-j N]
Exits 0 when every test passed (expected failures count as passed), 1 when
not, 2 on bad usage. Set TRIX_E2E_KEEP=1 to keep the temporary directories.
"""

import argparse
import os
import re
import subprocess
import sys
import time
import unittest
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # keep the source tree clean


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trixc", required=True, help="path to the trixc binary")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="run only tests whose name contains this (unittest -k; repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    ap.add_argument("-j", "--jobs", type=int, default=int(os.environ.get("TRIX_E2E_JOBS", "4")),
                    help="test files run in this many parallel processes (default 4; 1 = in this process)")
    ap.add_argument("--file", action="append", default=[], help=argparse.SUPPRESS)
    args = ap.parse_args()

    trixc = Path(args.trixc).resolve()
    if not os.access(trixc, os.X_OK):
        print(f"run_e2e.py: not an executable: {trixc}", file=sys.stderr)
        return 2
    os.environ["TRIXC"] = str(trixc)
    sys.path.insert(0, str(HERE))
    files = sorted(p.name for p in HERE.glob("test_*.py"))
    if args.file:
        files = [f for f in files if f in args.file]

    if args.jobs <= 1 or len(files) <= 1:
        return run_in_process(files, args)

    # One child process per test file, a few at a time: the suite is mostly
    # waiting (timeouts, approvals), so this keeps it well under a minute.
    t0 = time.monotonic()

    def one(name):
        cmd = [sys.executable, __file__, "--trixc", str(trixc), "-j", "1", "--file", name]
        cmd += [a for p in args.patterns for a in ("-k", p)]
        if args.verbose:
            cmd.append("-v")
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return name, proc.returncode, proc.stdout

    failed = []
    tests = xfail = 0
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for name, rc, out in pool.map(one, files):
            print(f"===== {name} =====")
            print(out, end="" if out.endswith("\n") else "\n")
            tests += sum(int(m) for m in re.findall(r"^Ran (\d+) tests?", out, re.M))
            xfail += sum(int(m) for m in re.findall(r"expected failures=(\d+)", out))
            if rc != 0:
                failed.append(name)
    print(f"e2e: {tests} tests ({xfail} expected failures: known bugs) in {len(files)} files, "
          f"{time.monotonic() - t0:.1f}s; " + (f"FAILED: {', '.join(failed)}" if failed else "all passed"))
    return 1 if failed else 0


def run_in_process(files, args):
    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = [f"*{p}*" for p in args.patterns]
    suite = unittest.TestSuite()
    for name in files:
        suite.addTests(loader.loadTestsFromName(name[:-3]))
    runner = unittest.TextTestRunner(verbosity=2 if args.verbose else 1, stream=sys.stdout)
    result = runner.run(suite)
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
