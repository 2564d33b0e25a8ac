#!/usr/bin/env python3
"""Latency of `trixc lsp` on a generated runbook (a benchmark: prints numbers,
asserts nothing). Usage: lsp_bench.py TRIXC [LINES]"""
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "lsp"))
import test_lsp  # noqa: E402  (the scripted client)


def timed(fn, n=5):
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def main():
    trixc = str(pathlib.Path(sys.argv[1]).resolve())
    lines = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
    test_lsp.TRIXC = trixc
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "big.trix"
        subprocess.run([sys.executable, str(HERE / "gen_runbook.py"), str(lines), str(path)], check=True)
        text = path.read_text()
        srv = test_lsp.Server(pathlib.Path(tmp) / "cache")
        try:
            srv.initialize(pathlib.Path(tmp))
            t = time.perf_counter()
            u, diags = srv.open(path, text)
            open_ms = (time.perf_counter() - t) * 1000
            version = [1]

            def change():
                version[0] += 1
                srv.notify("textDocument/didChange", {"textDocument": {"uri": u, "version": version[0]},
                                                      "contentChanges": [{"text": text + f"\n# edit {version[0]}\n"}]})
                srv.diagnostics(u)

            last = {"line": text.count("\n") - 3, "character": 4}
            doc = {"textDocument": {"uri": u}}
            results = {
                "open + diagnostics": open_ms,
                "change + diagnostics": timed(change),
                "documentSymbol": timed(lambda: srv.request("textDocument/documentSymbol", doc)),
                "hover": timed(lambda: srv.request("textDocument/hover", dict(doc, position=last))),
                "definition": timed(lambda: srv.request("textDocument/definition", dict(doc, position=last))),
                "completion": timed(lambda: srv.request("textDocument/completion", dict(doc, position=last))),
                "formatting": timed(lambda: srv.request("textDocument/formatting", dict(doc, options={"tabSize": 2, "insertSpaces": True}))),
            }
            print(f"trixc lsp on {text.count(chr(10))} lines ({len(text)} bytes), {len(diags)} diagnostics; median ms:")
            for k, v in results.items():
                print(f"  {k:24s} {v:8.1f}")
        finally:
            srv.close()


if __name__ == "__main__":
    main()
