#!/usr/bin/env python3
"""The repository's hooks for other tools, run by those tools:
- .pre-commit-hooks.yaml through the real pre-commit framework (`pre-commit
  try-repo` against this checkout, with trixc from the build on PATH);
- the example GitHub Actions job (editor-support/ci/trix-sarif.yml) through
  actionlint (shared validators' gha-lint), and the SARIF it uploads is what
  `trixc check --format sarif` prints for a broken runbook.
Run: test_integrations.py --trixc PATH"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

REPO = pathlib.Path(__file__).resolve().parents[2]
TRIXC = None
sys.dont_write_bytecode = True
sys.path.insert(0, str(REPO / "tests"))
from validators import validators_dir  # noqa: E402  (tests/validators.py: where shared/validators is)

VALIDATORS = validators_dir()


class PreCommitTest(unittest.TestCase):
    def setUp(self):
        self.assertIsNotNone(shutil.which("pre-commit"), "pre-commit is required (tools/setup.sh installs it)")
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="trix-pc-"))
        subprocess.run(["git", "init", "-q", "."], cwd=self.tmp, check=True)
        # The booking example, in canonical format (the example itself keeps its hand alignment).
        good = subprocess.run([TRIXC, "fmt", "-"], input=(REPO / "examples" / "booking.trix").read_text(),
                              capture_output=True, text=True, check=True).stdout
        (self.tmp / "good.trix").write_text(good)
        (self.tmp / "bad.trix").write_text((REPO / "examples" / "broken" / "typo.trix").read_text())
        (self.tmp / "ugly.trix").write_text('environment   dev {\n protected=false\n}\n')
        subprocess.run(["git", "add", "."], cwd=self.tmp, check=True)
        self.env = dict(os.environ, PATH=str(pathlib.Path(TRIXC).parent) + os.pathsep + os.environ["PATH"],
                        PRE_COMMIT_HOME=str(self.tmp / ".pre-commit-home"), NO_COLOR="1")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def hook(self, hook_id, *files):
        return subprocess.run(["pre-commit", "try-repo", str(REPO), hook_id, "--files", *files], cwd=self.tmp,
                              env=self.env, capture_output=True, text=True, timeout=300)

    def test_check_hook(self):
        r = self.hook("trixc-check", "good.trix")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = self.hook("trixc-check", "good.trix", "bad.trix")
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad.trix:14:19: error[E201]", r.stdout)

    def test_fmt_check_hook(self):
        r = self.hook("trixc-fmt-check", "good.trix")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        before = (self.tmp / "ugly.trix").read_text()
        r = self.hook("trixc-fmt-check", "ugly.trix")
        self.assertEqual(r.returncode, 1)
        self.assertIn("ugly.trix", r.stdout)
        self.assertEqual((self.tmp / "ugly.trix").read_text(), before)

    def test_fmt_hook_rewrites(self):
        r = self.hook("trixc-fmt", "ugly.trix")
        self.assertNotEqual(r.returncode, 0)  # pre-commit fails a hook that modified files
        self.assertEqual((self.tmp / "ugly.trix").read_text(), "environment dev {\n  protected = false\n}\n")


class WorkflowTest(unittest.TestCase):
    def test_actionlint_accepts_the_example_job(self):
        lint = VALIDATORS / "gha-lint"
        self.assertTrue(lint.exists(), f"{lint} is missing (the shared validators)")
        r = subprocess.run([str(lint), str(REPO / "editor-support" / "ci" / "trix-sarif.yml")], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_the_job_uploads_sarif_from_trixc(self):
        text = (REPO / "editor-support" / "ci" / "trix-sarif.yml").read_text()
        self.assertIn("trixc check --format sarif", text)
        self.assertIn("github/codeql-action/upload-sarif@v3", text)
        self.assertIn("security-events: write", text)
        out = subprocess.run([TRIXC, "check", "--format", "sarif", str(REPO / "examples" / "broken" / "typo.trix")],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 1)
        sarif = json.loads(out.stdout)
        self.assertEqual(sarif["version"], "2.1.0")
        self.assertEqual(sarif["runs"][0]["results"][0]["ruleId"], "E201")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "tests"))
    import suite_main  # noqa: E402  (tests/suite_main.py: --trixc and unittest)
    suite_main.run(sys.modules[__name__])
