#!/usr/bin/env python3
"""Grammar tests for the VS Code extension (editor-support/vscode).

1. Installs the extension's pinned npm dependencies (`npm ci` from its
   package-lock.json) into BUILD_DIR/vscode-deps, once per lock file.
2. Runs vscode-tmgrammar-test over editor-support/vscode/tests/*.trix (files
   with `# SYNTAX TEST "source.trix"` assertions).
3. Checks those files are real Trix (`trixc check` accepts them) and that every
   keyword of the PEGTL grammar (grammar/grammar.hpp) is highlighted.

No npm means failure, not a skip: CI must not pass without running these.
Usage: test_grammar.py --trixc PATH --work DIR
"""
import argparse
import json
import pathlib
import re
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[2]
EXT = REPO / "editor-support" / "vscode"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trixc", required=True)
    ap.add_argument("--work", required=True)
    args = ap.parse_args()
    failures = []

    npm = shutil.which("npm")
    if not npm:
        print("FAIL: npm is not installed; the grammar tests need node and npm (tools/setup.sh installs them)", file=sys.stderr)
        return 1
    work = pathlib.Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    lock = (EXT / "package-lock.json").read_bytes()
    stamp = work / "installed-lock.json"
    runner = work / "node_modules" / ".bin" / "vscode-tmgrammar-test"
    if not runner.exists() or not stamp.exists() or stamp.read_bytes() != lock:
        shutil.copy(EXT / "package.json", work / "package.json")
        shutil.copy(EXT / "package-lock.json", work / "package-lock.json")
        r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=work)
        if r.returncode != 0:
            print("FAIL: npm ci failed", file=sys.stderr)
            return 1
        stamp.write_bytes(lock)

    tests = sorted((EXT / "tests").glob("*.trix"))
    if not tests:
        print("FAIL: no grammar test files", file=sys.stderr)
        return 1
    r = subprocess.run([str(runner), "-g", str(EXT / "syntaxes" / "trix.tmLanguage.json")] + [str(t) for t in tests],
                       cwd=EXT, capture_output=True, text=True)
    print(r.stdout + r.stderr)
    if r.returncode != 0:
        failures.append("vscode-tmgrammar-test reported failures")
    for t in tests:
        c = subprocess.run([args.trixc, "check", str(t)], capture_output=True, text=True)
        if c.returncode != 0:
            failures.append(f"{t.name} is not valid Trix:\n{c.stderr}")
        if not t.read_text(encoding="utf-8").startswith('# SYNTAX TEST "source.trix"'):
            failures.append(f"{t.name} lacks the SYNTAX TEST header")

    # Every keyword of the language appears in a keyword pattern of the grammar.
    keywords = set(re.findall(r'TRIX_KW\(\w+, "(\w+)"\)', (REPO / "grammar" / "grammar.hpp").read_text()))
    grammar = json.dumps(json.loads((EXT / "syntaxes" / "trix.tmLanguage.json").read_text()))
    missing = sorted(k for k in keywords if not re.search(r"[|(]" + re.escape(k) + r"[|)]", grammar))
    if len(keywords) < 40:
        failures.append(f"found only {len(keywords)} keywords in grammar.hpp; the TRIX_KW pattern changed?")
    if missing:
        failures.append(f"keywords not highlighted by the TextMate grammar: {missing}")

    # The Vim syntax file, when Vim is installed (it is optional editor support).
    vim = shutil.which("vim")
    if vim:
        out = work / "vim-syntax.txt"
        probe = ('echo &ft synIDattr(synID(7,1,1),"name") synIDattr(synID(7,9,1),"name") '
                 'synIDattr(synID(7,17,1),"name") synIDattr(synID(1,1,1),"name")')
        subprocess.run([vim, "-Nu", "NONE", "-es", "-c", f"set rtp^={REPO / 'editor-support' / 'vim'}",
                        "-c", "filetype plugin on", "-c", "syntax on", "-c", f"e {REPO / 'examples' / 'booking.trix'}",
                        "-c", f"redir! > {out}", "-c", probe, "-c", "redir END", "-c", "qa!"], timeout=60)
        got = out.read_text().split() if out.exists() else []
        if got != ["trix", "trixDeclaration", "trixDeclName", "trixString", "trixComment"]:
            failures.append(f"Vim syntax of examples/booking.trix line 7: {got}")
    else:
        print("note: vim is not installed; editor-support/vim not checked")

    for f in failures:
        print("FAIL:", f, file=sys.stderr)
    print(f"{len(tests)} grammar test files, {len(keywords)} keywords checked")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
