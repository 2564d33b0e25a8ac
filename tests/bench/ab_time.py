#!/usr/bin/env python3
"""Interleaved wall-time comparison of trixc binaries (a benchmark, not a test).

    tests/bench/ab_time.py FILE RUNS NAME=TRIXC [NAME=TRIXC ...]

Runs `TRIXC check FILE` for each binary in turn, RUNS rounds, and prints the
best and median wall time and MB/s of each. Interleaving puts every binary
under the same load, which on a shared VM matters more than the run count.
A NAME=... value may start with VAR=VALUE words for the environment.
"""
import os
import statistics
import subprocess
import sys
import time


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    path, runs = sys.argv[1], int(sys.argv[2])
    variants = [v.split("=", 1) for v in sys.argv[3:]]
    times = {name: [] for name, _ in variants}
    for _ in range(runs):
        for name, cmd in variants:
            env = dict(os.environ)
            words = cmd.split()
            while words and "=" in words[0]:
                k, v = words.pop(0).split("=", 1)
                env[k] = v
            t = time.perf_counter()
            subprocess.run(words + ["check", path], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            times[name].append(time.perf_counter() - t)
    mb = os.path.getsize(path) / 1e6
    for name, ts in times.items():
        ts.sort()
        print(f"{name:10s} best {ts[0] * 1000:8.1f} ms ({mb / ts[0]:5.1f} MB/s)  median {statistics.median(ts) * 1000:8.1f} ms  ({len(ts)} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
