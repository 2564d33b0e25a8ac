#!/usr/bin/env python3
"""Golden-file tests for trixc.

For every tests/golden/<phase>/<name>.trix (top level of a phase folder only;
helper files for imports live in subfolders), run the command that the phase
folder names, with cwd = that folder and the file given by its base name (on
stdin for the `fmt` phase, which runs `trixc fmt -`), so
paths in the output do not depend on where the tree is checked out. The
output (stdout, then stderr, then a line `exit: N`) must equal
<name>.trix.golden byte for byte. A case may have extra arguments, written
in <name>.trix.args (shell words, e.g. `--pipeline release --env production`).

A case whose name starts with `error.` must exit non-zero; every other case
must exit 0.

Usage: run_golden.py --trixc PATH [--filter SUBSTR]
Set TRIX_UPDATE_GOLDEN=1 to (re)write the golden files instead of comparing.
"""

import argparse
import difflib
import os
import shlex
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# phase folder -> trixc arguments placed before the file name
PHASES = {
    "check": ["check"],
    "check-json": ["check", "--format", "json"],
    "check-werror": ["check", "--werror"],
    "graph": ["graph"],
    # The text plan (folded guards, rendered commands).
    "plan": ["plan"],
    # `trixc simulate` with the failures of NAME.trix.args: the path, the rollback, the result.
    "simulate": ["simulate"],
    # The emitted text on stdout (one pipeline per case), diagnostics on stderr.
    "emit-github": ["emit", "github"],
    "emit-github-degraded": ["emit", "github", "--allow-degraded"],
    "emit-argo": ["emit", "argo"],
    "emit-prometheus": ["emit", "prometheus"],
    "emit-grafana": ["emit", "grafana"],
    # `trixc fmt -`: the case is given on stdin and the formatted text is the output.
    "fmt": ["fmt", "-"],
}
STDIN_PHASES = {"fmt"}

# A case that hangs is a failure, not a stuck CI job.
TIMEOUT_SECONDS = 60


def run_case(trixc, phase, case):
    env = dict(os.environ)
    env["NO_COLOR"] = "1"
    env.pop("TERM", None)
    stdin = case.read_bytes() if phase in STDIN_PHASES else None
    cmd = [trixc] + PHASES[phase] + ([] if stdin is not None else [case.name])
    # Extra arguments for one case (e.g. `--pipeline P --env E`): <name>.trix.args.
    args_file = case.with_name(case.name + ".args")
    if args_file.exists():
        cmd += shlex.split(args_file.read_text(encoding="utf-8"))
    try:
        proc = subprocess.run(cmd, cwd=case.parent, env=env, input=stdin if stdin is not None else b"",
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {TIMEOUT_SECONDS}s\n"
    out = proc.stdout.decode("utf-8", "replace") + proc.stderr.decode("utf-8", "replace")
    if out and not out.endswith("\n"):
        out += "\n"
    return proc.returncode, out + f"exit: {proc.returncode}\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trixc", required=True, help="path to the trixc binary")
    ap.add_argument("--filter", default="", help="run only cases whose path contains this text")
    args = ap.parse_args()

    trixc = str(Path(args.trixc).resolve())
    update = os.environ.get("TRIX_UPDATE_GOLDEN", "") not in ("", "0")

    cases = []
    for phase in sorted(PHASES):
        folder = HERE / phase
        if folder.is_dir():
            cases += [(phase, p) for p in sorted(folder.glob("*.trix")) if p.is_file()]
    cases = [(ph, p) for ph, p in cases if args.filter in str(p.relative_to(HERE))]
    if not cases:
        print("no golden cases matched", file=sys.stderr)
        return 1

    failed = []
    updated = 0
    for phase, case in cases:
        rel = str(case.relative_to(HERE))
        code, actual = run_case(trixc, phase, case)
        problems = []
        if code is None:
            problems.append(actual.strip())
        elif case.name.startswith("error."):
            if code == 0:
                problems.append("an `error.` case must exit non-zero, but trixc exited 0")
        elif code != 0:
            problems.append(f"expected exit 0, got {code}")
        if code is not None and code < 0:
            problems.append(f"trixc was killed by signal {-code}")

        golden = case.with_name(case.name + ".golden")
        if update and code is not None:
            old = golden.read_text(encoding="utf-8") if golden.exists() else None
            if old != actual:
                golden.write_text(actual, encoding="utf-8")
                updated += 1
        elif not golden.exists():
            problems.append(f"missing {golden.name} (run with TRIX_UPDATE_GOLDEN=1)")
        else:
            expected = golden.read_text(encoding="utf-8")
            if expected != actual:
                diff = difflib.unified_diff(expected.splitlines(keepends=True), actual.splitlines(keepends=True),
                                            fromfile=f"{rel}.golden", tofile=f"{rel} (actual)")
                problems.append("output differs from the golden file:\n" + "".join(diff).rstrip("\n"))

        if problems:
            failed.append(rel)
            print(f"FAIL {rel}")
            for p in problems:
                print("  " + p.replace("\n", "\n  "))
        else:
            print(f"ok   {rel}")

    print(f"\n{len(cases) - len(failed)} passed, {len(failed)} failed" + (f", {updated} golden files written" if update else ""))
    for rel in failed:
        print(f"  failed: {rel}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
