#!/usr/bin/env python3
"""Differential check of two trixc binaries (not a test; used by front-end speed work).

    tests/bench/compare_outputs.py OLD_TRIXC NEW_TRIXC [--count N] [--seed S]

Runs `check --format json` and `check` (text, on stderr) with both binaries
on every .trix file under examples/ and tests/golden/, and on N randomly
mutated copies of them (deleted, duplicated, swapped or replaced bytes and
lines, tokens from tests/fuzz/trix.dict spliced in), and reports every input
where stdout, stderr or the exit code differ. The mutated files are written
next to their original (so relative imports resolve the same way) under a
name starting with `.cmp-` and removed afterwards. Exits 1 when anything
differed, so a change meant to keep diagnostics byte-identical can be
checked with it. Deterministic for a given seed.
"""
import argparse
import os
import random
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def dict_tokens():
    toks = []
    for line in (ROOT / "tests/fuzz/trix.dict").read_text().splitlines():
        line = line.strip()
        if line.startswith('"') and line.endswith('"') and len(line) >= 2:
            toks.append(line[1:-1].encode().decode("unicode_escape").encode())
    return toks or [b"run", b"{", b"}"]


def mutate(data: bytes, rng: random.Random, toks) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not b:
            b += rng.choice(toks)
            continue
        op = rng.randrange(7)
        i = rng.randrange(len(b))
        if op == 0:  # delete a short range
            del b[i:i + rng.randint(1, 8)]
        elif op == 1:  # insert a token
            b[i:i] = rng.choice(toks)
        elif op == 2:  # replace a byte
            b[i] = rng.choice(b'{}[]()"=.,:$#\\\n -+*/<>%0123456789abz_')
        elif op == 3:  # duplicate a line
            lines = bytes(b).split(b"\n")
            k = rng.randrange(len(lines))
            lines.insert(k, lines[k])
            b = bytearray(b"\n".join(lines))
        elif op == 4:  # swap two lines
            lines = bytes(b).split(b"\n")
            k, m = rng.randrange(len(lines)), rng.randrange(len(lines))
            lines[k], lines[m] = lines[m], lines[k]
            b = bytearray(b"\n".join(lines))
        elif op == 5:  # delete a line
            lines = bytes(b).split(b"\n")
            del lines[rng.randrange(len(lines))]
            b = bytearray(b"\n".join(lines))
        else:  # cut the file short
            del b[i:]
    return bytes(b)


def run(trixc, path, fmt):
    args = [trixc, "check", str(path)] + (["--format", "json"] if fmt else [])
    env = dict(os.environ, NO_COLOR="1")
    try:
        p = subprocess.run(args, capture_output=True, timeout=60, env=env, cwd=path.parent)
    except subprocess.TimeoutExpired:
        return ("timeout", b"", b"")
    return (p.returncode, p.stdout, p.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--extra", nargs="*", default=[], help="more .trix files to compare unmutated")
    a = ap.parse_args()
    # Each run's working directory is its input's; binaries given relative to ours must still resolve.
    a.old, a.new = (str(Path(b).resolve()) if os.sep in b else b for b in (a.old, a.new))
    rng = random.Random(a.seed)
    toks = dict_tokens()
    seeds = sorted(p for d in ("examples", "tests/golden") for p in (ROOT / d).rglob("*.trix")
                   if not p.name.startswith(".cmp-"))
    diffs = 0
    checked = 0

    def compare(path, label):
        nonlocal diffs, checked
        for fmt in (True, False):
            o, n = run(a.old, path, fmt), run(a.new, path, fmt)
            checked += 1
            if o != n:
                diffs += 1
                print(f"DIFF ({'json' if fmt else 'text'}) {label}: exit {o[0]} vs {n[0]}", file=sys.stderr)
                return False
        return True

    for p in seeds:
        compare(p, str(p.relative_to(ROOT)))
    for e in a.extra:
        compare(Path(e).resolve(), e)
    for k in range(a.count):
        src = rng.choice(seeds)
        data = mutate(src.read_bytes(), rng, toks)
        tmp = src.parent / f".cmp-{k}-{src.name}"
        tmp.write_bytes(data)
        try:
            if not compare(tmp, f"mutation {k} of {src.relative_to(ROOT)}"):
                keep = Path("/tmp") / f"trix-cmp-{k}-{src.name}"
                keep.write_bytes(data)
                print(f"  kept as {keep}", file=sys.stderr)
        finally:
            tmp.unlink()
    print(f"{checked} runs per binary ({len(seeds)} seed files, {a.count} mutations), {diffs} differing")
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
