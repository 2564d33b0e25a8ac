"""The live progress view on a terminal (a real pseudo-terminal), and plain
lines everywhere else."""

import re
import unittest

from e2e_support import OK, ROLLED_BACK, TrixTestCase, screen_lines

RUNBOOK = """\
environment dev { x = 1 }

pipeline p {
  stage build {
    compile: run "echo compiling; sleep 1.2; echo compiled >> log"
  }
  stage ship {
    upload: run "echo uploading >> log"
  }
}
"""

FAILING = """\
environment dev { x = 1 }

pipeline p {
  stage build {
    compile: run "echo compiled >> log"
    undo { run "echo undone >> log" }
    broken: run "sleep 0.5; exit 3"
  }
}
"""

ESC = re.compile(rb"\x1b")
LINE = re.compile(r"^\d\d:\d\d:\d\d \[[^\]]+\] ")


class LiveView(TrixTestCase):
    def run_on_pty(self, *extra, env=None, drop_env=("NO_COLOR",)):
        p = self.start_pty("run", "rb.trix", "--state-dir", "st", *extra, env=env, drop_env=drop_env)
        rc = p.wait()
        return rc, p.output

    def test_status_line_shows_spinner_stage_step_and_elapsed_time(self):
        self.runbook(RUNBOOK)
        rc, raw = self.run_on_pty()
        self.assertEqual(rc, OK, raw.decode(errors="replace"))
        text = re.sub(r"\x1b\[[0-9;]*m", "", raw.decode("utf-8", "replace"))
        # The status line is redrawn in place (CR + erase line) with a turning spinner.
        self.assertIn("\r\x1b[K", text)
        frames = re.findall(r"\r\x1b\[K([|/\\-]) stage build > compile[^\r\n]*\((\d+\.\d)s\)\s+\[run (\d+\.\d)s\]", text)
        self.assertGreaterEqual(len({f[0] for f in frames}), 3, f"the spinner did not turn:\n{text!r}")
        # The step's elapsed time grows while it runs (it sleeps 1.2 s).
        self.assertGreaterEqual(max(float(f[1]) for f in frames), 0.8)
        self.assertIn("stage ship > upload", text)
        # Colour is on (NO_COLOR unset): the spinner is cyan.
        self.assertIn(b"\x1b[36m", raw)

    def test_final_screen_is_the_plain_lines_without_the_status_line(self):
        self.runbook(RUNBOOK)
        rc, raw = self.run_on_pty()
        self.assertEqual(rc, OK)
        shown = [l for l in screen_lines(raw) if LINE.match(l)]
        # Every line the run printed is there, whole and in order; none is a status line.
        msgs = [LINE.sub("", l) for l in shown]
        self.assertIn("| compiling", msgs)
        self.assertLess(msgs.index("| compiling"), msgs.index("$ echo uploading >> log"))
        self.assertTrue(msgs[-1].startswith("succeeded in "), msgs)
        self.assertEqual(screen_lines(raw)[-1], "", "the status line was not cleared at the end")
        self.assertEqual(self.lines("log"), ["compiled", "uploading"])

    def test_rollback_is_shown_in_the_status_line(self):
        self.runbook(FAILING)
        rc, raw = self.run_on_pty()
        self.assertEqual(rc, ROLLED_BACK)
        text = raw.decode("utf-8", "replace")
        self.assertRegex(text, r"stage build > broken")
        self.assertIn("rollback", text)
        self.assertEqual(self.lines("log"), ["compiled", "undone"])

    def test_no_color_keeps_the_redraw_without_colour(self):
        self.runbook(RUNBOOK)
        rc, raw = self.run_on_pty(env={"NO_COLOR": "1"}, drop_env=())
        self.assertEqual(rc, OK)
        self.assertIn(b"\r\x1b[K", raw)
        self.assertNotRegex(raw, rb"\x1b\[[0-9;]*m")

    def test_term_dumb_gives_plain_lines(self):
        self.runbook(RUNBOOK)
        rc, raw = self.run_on_pty(env={"TERM": "dumb"})
        self.assertEqual(rc, OK)
        # The runbook's warnings are coloured by the checker's own rule; the run's lines are not redrawn.
        run_part = raw[raw.index(b"[run] starting"):]
        self.assertIsNone(ESC.search(run_part), run_part)
        self.assertNotIn(b"\r\x1b[K", raw)

    def test_json_output_on_a_terminal_is_plain_json_lines(self):
        self.runbook(RUNBOOK)
        rc, raw = self.run_on_pty("--output", "json")
        self.assertEqual(rc, OK)
        self.assertNotIn(b"\x1b[K", raw)


class NotATerminal(TrixTestCase):
    def test_piped_output_has_no_escape_codes_and_one_line_per_event(self):
        self.runbook(RUNBOOK)
        r = self.run_rb(drop_env=("NO_COLOR",), env={"TERM": "xterm"})
        self.assertExit(r, OK)
        self.assertNotIn("\x1b", r.stdout)
        self.assertNotIn("\r", r.stdout)
        for line in r.stdout.splitlines():
            self.assertRegex(line, LINE)


if __name__ == "__main__":
    unittest.main()
