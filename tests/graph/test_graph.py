#!/usr/bin/env python3
"""`trixc graph` beyond the golden DOT: Graphviz accepts every golden graph,
--format svg renders through the real `dot`, a missing `dot` is a clear
error, and the output is deterministic. Run: test_graph.py --trixc PATH"""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

REPO = pathlib.Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden" / "graph"
TRIXC = None


def trixc(*args, env=None, cwd=None):
    return subprocess.run([TRIXC, *args], capture_output=True, text=True, env=env, cwd=cwd)


class GraphTest(unittest.TestCase):
    def test_graphviz_accepts_every_golden_graph(self):
        dot = shutil.which("dot")
        self.assertIsNotNone(dot, "Graphviz `dot` is required (tools/setup.sh installs graphviz)")
        cases = [p for p in sorted(GOLDEN.glob("*.trix")) if not p.name.startswith("error.")]
        self.assertGreater(len(cases), 3)
        for case in cases:
            golden = (GOLDEN / (case.name + ".golden")).read_text(encoding="utf-8")
            graph = golden[:golden.rindex("\n}\n") + 3]
            r = subprocess.run([dot, "-Tsvg"], input=graph, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, f"{case.name}: {r.stderr}")
            self.assertIn("<svg", r.stdout)
            self.assertEqual(r.stderr, "", f"{case.name}: Graphviz warned: {r.stderr}")

    def test_svg_output_file(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "release.svg"
            r = trixc("graph", "booking.trix", "--pipeline", "release", "--env", "production", "--format", "svg",
                      "-o", str(out), cwd=REPO / "examples")
            self.assertEqual(r.returncode, 0, r.stderr)
            svg = out.read_text(encoding="utf-8")
            self.assertIn("<svg", svg)
            for text in ("approve release", "gate code_quality", "stage rollout: Roll out", "rollback", "fails"):
                self.assertIn(text, svg)

    def test_missing_dot_is_a_clear_error(self):
        with tempfile.TemporaryDirectory() as empty:
            env = dict(os.environ, PATH=empty)
            r = trixc("graph", str(REPO / "examples" / "booking.trix"), "--pipeline", "canary", "--format", "svg", env=env)
            self.assertEqual(r.returncode, 2)
            self.assertIn("needs Graphviz `dot`", r.stderr)
            self.assertEqual(r.stdout, "")

    def test_deterministic_and_file_output(self):
        a = trixc("graph", str(GOLDEN / "steps.trix"))
        b = trixc("graph", str(GOLDEN / "steps.trix"))
        self.assertEqual(a.returncode, 0)
        self.assertEqual(a.stdout, b.stdout)
        with tempfile.TemporaryDirectory() as tmp:
            out = pathlib.Path(tmp) / "g.dot"
            r = trixc("graph", str(GOLDEN / "steps.trix"), "-o", str(out))
            self.assertEqual(r.returncode, 0)
            self.assertEqual(out.read_text(encoding="utf-8"), a.stdout)

    def test_docs_image_is_current(self):
        # docs/images/booking.svg is the release pipeline on production; it must
        # show what the current compiler draws (regenerate with the command in docs/cli.md).
        svg = (REPO / "docs" / "images" / "booking.svg").read_text(encoding="utf-8")
        dot = trixc("graph", "booking.trix", "--pipeline", "release", "--env", "production", cwd=REPO / "examples").stdout
        for line in dot.splitlines():
            if line.strip().startswith("i") and "label=" in line and "->" not in line:
                first = line.split('label="', 1)[1].split("\\n", 1)[0].split('"', 1)[0]
                first = first.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                self.assertIn(first, svg, "docs/images/booking.svg is stale")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "tests"))
    import suite_main  # noqa: E402  (tests/suite_main.py: --trixc and unittest)
    suite_main.run(sys.modules[__name__])
