#!/usr/bin/env python3
"""`trixc fmt` invariants over every runbook in the repository.

For every .trix file under examples/ and tests/golden/ (and the stdlib) that
`trixc fmt -` accepts:
  - formatting is idempotent: fmt(fmt(x)) == fmt(x);
  - `trixc fmt --check` accepts the formatted text (exit 0, nothing listed);
  - every comment of the source is in the output, in the same order;
  - the formatted text still parses (fmt of it exits 0).
Files fmt rejects (syntax-error golden cases) must be rejected with exit 1
and an E101/E102 diagnostic, never a crash.

Usage: fmt_invariants.py --trixc PATH
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def comments(text):
    """The comments of a Trix source, in order (strings skipped, `${...}` nesting followed)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith('"""', i):
            j = text.find('"""', i + 3)
            i = n if j < 0 else j + 3
            continue
        c = text[i]
        if c == '"':
            i += 1
            depth = 0
            while i < n:
                if text[i] == "\\":
                    i += 2
                    continue
                if text.startswith("${", i):
                    depth += 1
                    i += 2
                    continue
                if text[i] == "}" and depth:
                    depth -= 1
                elif text[i] == '"' and not depth:
                    i += 1
                    break
                elif text[i] == "\n" and not depth:
                    break  # unterminated: the parser rejects it
                i += 1
            continue
        if c == "#":
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(text[i:j].rstrip())
            i = j
            continue
        i += 1
    return out


def fmt(trixc, text):
    env = dict(os.environ, NO_COLOR="1")
    p = subprocess.run([trixc, "fmt", "-"], input=text.encode("utf-8", "surrogateescape"), capture_output=True,
                       timeout=60, env=env)
    return p.returncode, p.stdout.decode("utf-8", "surrogateescape"), p.stderr.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trixc", required=True)
    a = ap.parse_args()
    trixc = str(Path(a.trixc).resolve())
    files = sorted(p for d in ("examples", "tests/golden", "stdlib") for p in (REPO / d).rglob("*.trix"))
    failures, formatted, rejected = [], 0, 0
    written = {}  # formatted copy -> the file it came from
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            rel = path.relative_to(REPO)
            src = path.read_bytes().decode("utf-8", "surrogateescape")
            code, once, err = fmt(trixc, src)
            if code != 0:
                if code != 1 or not ("error[E101]" in err or "error[E102]" in err):
                    failures.append(f"{rel}: fmt exited {code} without a syntax diagnostic:\n{err}")
                rejected += 1
                continue
            formatted += 1
            code2, twice, err2 = fmt(trixc, once)
            if code2 != 0:
                failures.append(f"{rel}: the formatted text does not parse (exit {code2}):\n{err2}")
                continue
            if twice != once:
                failures.append(f"{rel}: fmt is not idempotent")
            if comments(once) != comments(src):
                lost = [c for c in comments(src) if c not in comments(once)]
                failures.append(f"{rel}: comments changed" + (f"; lost {lost}" if lost else " (order)"))
            out = Path(tmp) / f"{formatted:04d}.trix"
            out.write_text(once, encoding="utf-8", errors="surrogateescape")
            written[str(out)] = rel
        # One `fmt --check` over every formatted file: it must accept them all.
        if written:
            chk = subprocess.run([trixc, "fmt", "--check", *written], capture_output=True, text=True, timeout=300)
            if chk.returncode != 0 or chk.stdout.strip():
                listed = [written.get(line.strip(), line.strip()) for line in chk.stdout.splitlines() if line.strip()]
                failures.append(f"`fmt --check` rejects formatted text (exit {chk.returncode}): {listed} {chk.stderr}")
    for f in failures:
        print("FAIL " + f)
    print(f"{formatted} files formatted, {rejected} rejected with a syntax error, {len(failures)} failures")
    return 1 if failures or formatted == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
