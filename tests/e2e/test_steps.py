"""`run` steps as processes: timeouts (the whole process tree dies), retries,
options (`dir`, `env`), and shell quoting of interpolated values (§6)."""

import time
import unittest

from e2e_support import OK, ROLLED_BACK, TrixTestCase, pid_alive


class Timeouts(TrixTestCase):
    def test_hung_step_is_killed_at_its_timeout_with_its_children(self):
        # The shell starts a background `sleep 30` (a grandchild of trixc), records
        # both pids, then waits: only killing the whole tree ends the step.
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  stage s {
    first: run "echo first >> log"
    undo { run "echo undo-first >> log" }
    hung: run "sleep 30 & echo $! >> pids; echo $$ >> pids; wait" { timeout = 1s }
  }
}
""")
        t0 = time.monotonic()
        r = self.run_rb()
        elapsed = time.monotonic() - t0
        self.assertExit(r, ROLLED_BACK)
        pids = [int(p) for p in self.lines("pids")]
        self.assertEqual(len(pids), 2, "the step should have recorded its shell and sleep pids")
        for pid in pids:
            self.track_pgid(pid)
        self.assertLess(elapsed, 10, "the step was not stopped near its 1s timeout")
        self.assertGreaterEqual(elapsed, 0.9)
        alive = self.wait_for(lambda: not any(pid_alive(p) for p in pids) or None, timeout=5,
                              what="the step's processes to be gone") if any(pid_alive(p) for p in pids) else True
        self.assertTrue(alive)
        for pid in pids:
            self.assertFalse(pid_alive(pid), f"process {pid} of the timed-out step is still alive")
        self.assertEqual(self.lines("log"), ["first", "undo-first"])
        self.assertIn("timed out", r.stdout)

    def test_step_that_ignores_sigterm_is_still_killed(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  stage s {
    hung: run "trap '' TERM; echo $$ >> pids; while true; do sleep 0.1; done" { timeout = 1s }
  }
}
""")
        t0 = time.monotonic()
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertLess(time.monotonic() - t0, 10)
        [pid] = [int(p) for p in self.lines("pids")]
        self.track_pgid(pid)
        self.assertFalse(pid_alive(pid), "a step ignoring SIGTERM survived its timeout")

    def test_pipeline_timeout_stops_a_step(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  timeout = 1s
  stage s {
    a: run "echo a >> log"
    undo { run "echo undo-a >> log" }
    b: run "echo $$ >> pids; sleep 30"
  }
}
""")
        t0 = time.monotonic()
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(self.lines("log"), ["a", "undo-a"])


    def test_pipeline_timeout_message_is_readable(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  timeout = 500ms
  stage s {
    b: run "sleep 30"
  }
}
""")
        r = self.run_rb()
        self.assertIn("timed out after", r.stdout)
        self.assertNotRegex(r.stdout, r"timed out after \d+\.\d{4,}")


class Retries(TrixTestCase):
    def test_failing_step_is_tried_retries_plus_one_times(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  stage s {
    flaky: run "echo attempt >> attempts; exit 3" { retries = 2, backoff = 100ms }
  }
}
""")
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(len(self.lines("attempts")), 3)

    def test_retry_stops_at_the_first_success(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  stage s {
    flaky: run "echo attempt >> attempts; test $(wc -l < attempts) -ge 2" { retries = 2, backoff = 100ms }
    next: run "echo next >> log"
  }
}
""")
        r = self.run_rb()
        self.assertExit(r, OK)
        self.assertEqual(len(self.lines("attempts")), 2)
        self.assertEqual(self.lines("log"), ["next"])

    def test_timed_out_attempts_are_retried(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  stage s {
    slow: run "echo attempt >> attempts; sleep 30" { timeout = 300ms, retries = 1, backoff = 100ms }
  }
}
""")
        t0 = time.monotonic()
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(len(self.lines("attempts")), 2)
        self.assertLess(time.monotonic() - t0, 10)


class Options(TrixTestCase):
    def test_dir_and_env_options(self):
        (self.dir / "sub").mkdir()
        self.runbook("""\
param who: string = "it's me"
environment dev { x = 1 }
pipeline p {
  stage s {
    run "pwd > where; printf %s \\"$GREETING\\" > greeting" { dir = "sub", env = { GREETING = "hello ${who}" } }
  }
}
""")
        r = self.run_rb()
        self.assertExit(r, OK)
        self.assertEqual(self.read("sub/where").strip(), str((self.dir / "sub").resolve()))
        self.assertEqual(self.read("sub/greeting"), "hello it's me")

    def test_step_output_is_streamed_with_its_label(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  stage s {
    hello: run "echo out-line; echo err-line >&2"
  }
}
""")
        r = self.run_rb()
        self.assertExit(r, OK)
        self.assertRegex(r.stdout, r"\[hello\] \| out-line")
        self.assertRegex(r.stdout, r"\[hello\] ! err-line")

    def test_steps_label_stdout_and_exit_code_are_readable(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  stage s {
    probe: run "echo ready"
    run "echo saw-ready >> log" when steps.probe.stdout == "ready\\n" and steps.probe.exit_code == 0
  }
}
""")
        r = self.run_rb()
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["saw-ready"])


INJECTION = "$(touch pwned); `touch pwned2`; rm -f y; echo 'q\"uote' \\ ${HOME} *"


class Injection(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.write("y", "keep me\n")
        self.runbook("""\
param x: string = "safe"
environment dev { x = 1 }
pipeline p {
  stage s {
    run "echo ${x} > out"
    run "printf '%s\\n' ${x} ${x} > twice"
  }
}
""")

    def assertNotInjected(self):
        for name in ("pwned", "pwned2"):
            self.assertFalse(self.exists(name), f"`{name}` exists: a parameter value ran as shell code")
        self.assertTrue(self.exists("y"), "`rm -f y` inside a parameter value ran")

    def test_param_value_is_one_literal_word(self):
        r = self.run_rb("--param", f"x={INJECTION}")
        self.assertExit(r, OK)
        self.assertNotInjected()
        self.assertEqual(self.read("out"), INJECTION + "\n")
        self.assertEqual(self.read("twice"), INJECTION + "\n" + INJECTION + "\n")

    def test_param_value_with_quotes_and_newline(self):
        value = "it's \"quoted\"\nsecond line; touch pwned"
        r = self.run_rb("--param", f"x={value}")
        self.assertExit(r, OK)
        self.assertNotInjected()
        self.assertEqual(self.read("out"), value + "\n")

    def test_injection_through_a_saved_plan(self):
        r = self.trixc("plan", "rb.trix", "--param", f"x={INJECTION}", "-o", "plan.json")
        self.assertExit(r, OK)
        r = self.trixc("run", "plan.json", "--state-dir", "st")
        self.assertExit(r, OK)
        self.assertNotInjected()
        self.assertEqual(self.read("out"), INJECTION + "\n")

    def test_param_default_is_quoted_too(self):
        self.runbook(self.read("rb.trix").replace('param x: string = "safe"',
                                                  'param x: string = "; touch pwned; echo \\$(touch pwned2)"'))
        r = self.run_rb()
        self.assertExit(r, OK)
        self.assertNotInjected()
        self.assertEqual(self.read("out"), "; touch pwned; echo $(touch pwned2)\n")


if __name__ == "__main__":
    unittest.main()


class ValuesThatCannotBeComputed(TrixTestCase):
    """A value with none at run time (a step its guard skipped) fails the step
    like a failed command: rollback, exit 10, a message; never an abort."""

    RUNBOOK = """\
param build: bool = false
environment dev { x = 1 }
pipeline p {
  stage s {
    first: run "echo first >> log"
    undo { run "echo undo-first >> log" }
    built: run "echo built" when build
    run "echo got-${steps.built.stdout} >> log"
  }
}
"""

    def test_reading_a_skipped_step_fails_the_run_and_rolls_back(self):
        self.runbook(self.RUNBOOK)
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["first", "undo-first"])
        self.assertIn("a value cannot be computed", r.stdout)
        self.assertIn("built", r.stdout)
        self.assertNotIn("terminate called", r.stderr)

    def test_a_dry_run_shows_a_result_it_cannot_know_as_a_placeholder(self):
        self.runbook(self.RUNBOOK.replace(" when build", ""))
        r = self.run_rb("--dry-run")
        self.assertExit(r, OK)
        self.assertIn("would run: echo got-<steps.built.stdout> >> log", r.stdout)
        self.assertFalse(self.exists("log"))
