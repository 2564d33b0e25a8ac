"""Journal and resume (§9): trixc is SIGKILLed in the middle of a step;
`trixc status` shows the run resumable; `trixc run --resume ID` continues
without running finished steps again; a non-idempotent step that was running
needs --retry-in-doubt or --skip-in-doubt."""

import os
import signal
import unittest

from e2e_support import OK, ROLLED_BACK, USAGE, TrixTestCase, pid_alive

RUNBOOK = """\
environment dev { x = 1 }

pipeline p {
  stage one {
    first: run "echo first >> log"
    undo { run "echo undo-first >> log" }
  }
  stage two {
    second: run "echo second >> log; echo $$ > second.pid; test -f fast || sleep 5; test ! -f fail" { IDEMPOTENT }
    third: run "echo third >> log"
  }
  verify { check "all ran" run "grep -q third log" }
}
"""


class Resume(TrixTestCase):
    def crash_in_second(self, idempotent, runbook=RUNBOOK):
        """Starts a run, SIGKILLs trixc while `second` sleeps; returns the run id."""
        self.runbook(runbook.replace("{ IDEMPOTENT }", "{ idempotent = true }" if idempotent else ""))
        p = self.start_rb()
        pid = int(self.wait_for_file("second.pid", proc=p))
        self.track_pgid(pid)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        self.assertEqual(self.lines("log"), ["first", "second"])
        # trixc died without cleaning up; its watchdog kills the step's process group.
        self.wait_for(lambda: not pid_alive(pid), timeout=5, what="the killed run's step to die")
        [run_id] = self.run_ids()
        # let the test continue quickly when the step runs again
        self.write("fast", "")
        return run_id

    def test_status_shows_a_killed_run_as_resumable(self):
        run_id = self.crash_in_second(idempotent=True)
        st = self.status()
        self.assertExit(st, OK)
        self.assertIn(run_id, st.stdout)
        self.assertIn(f"--resume {run_id}", st.stdout)
        st = self.status(run_id)
        self.assertIn("resume", st.stdout)

    def test_resume_runs_an_idempotent_in_doubt_step_again_but_not_finished_ones(self):
        run_id = self.crash_in_second(idempotent=True)
        r = self.trixc("run", "--resume", run_id, "--state-dir", "st")
        self.assertExit(r, OK)
        # `first` finished before the crash: not run again. `second` was in doubt
        # and is idempotent: run again. `third` never started.
        self.assertEqual(self.lines("log"), ["first", "second", "second", "third"])
        st = self.status(run_id)
        self.assertIn("succeeded", st.stdout)
        events = [x.get("event") for x in self.journal(run_id)]
        self.assertIn("run_resume", events)
        self.assertEqual(events[-1], "run_end")

    def test_resume_of_a_non_idempotent_in_doubt_step_asks_what_to_do(self):
        run_id = self.crash_in_second(idempotent=False)
        r = self.trixc("run", "--resume", run_id, "--state-dir", "st")
        self.assertNotEqual(r.returncode, OK)
        out = r.stdout + r.stderr
        self.assertIn("--retry-in-doubt", out)
        self.assertIn("--skip-in-doubt", out)
        self.assertNotIn("third", self.lines("log"))
        self.assertEqual(self.lines("log").count("second"), 1, "the in-doubt step ran again without a flag")

    def test_asking_about_an_in_doubt_step_changes_nothing(self):
        run_id = self.crash_in_second(idempotent=False)
        r = self.trixc("run", "--resume", run_id, "--state-dir", "st")
        self.assertNotEqual(r.returncode, OK)
        self.assertEqual(self.lines("log"), ["first", "second"], "resume undid/ran steps while asking what to do")
        self.assertIn(f"--resume {run_id}", self.status(run_id).stdout)

    def test_retry_in_doubt_after_being_asked(self):
        run_id = self.crash_in_second(idempotent=False)
        r = self.trixc("run", "--resume", run_id, "--state-dir", "st")
        self.assertNotEqual(r.returncode, OK)
        self.assertEqual(self.lines("log"), ["first", "second"], "resume undid/ran steps while asking what to do")
        r = self.trixc("run", "--resume", run_id, "--retry-in-doubt", "--state-dir", "st")
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["first", "second", "second", "third"])

    def test_skip_in_doubt_after_being_asked(self):
        run_id = self.crash_in_second(idempotent=False)
        r = self.trixc("run", "--resume", run_id, "--state-dir", "st")
        self.assertNotEqual(r.returncode, OK)
        r = self.trixc("run", "--resume", run_id, "--skip-in-doubt", "--state-dir", "st")
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["first", "second", "third"])

    def test_retry_in_doubt_runs_the_step_again(self):
        run_id = self.crash_in_second(idempotent=False)
        r = self.trixc("run", "--resume", run_id, "--retry-in-doubt", "--state-dir", "st")
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["first", "second", "second", "third"])

    def test_skip_in_doubt_treats_the_step_as_done(self):
        run_id = self.crash_in_second(idempotent=False)
        r = self.trixc("run", "--resume", run_id, "--skip-in-doubt", "--state-dir", "st")
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["first", "second", "third"])

    def test_resumed_run_still_undoes_steps_finished_before_the_crash(self):
        run_id = self.crash_in_second(idempotent=True)
        self.write("fail", "")  # `second` fails when it runs again
        self.runbook("")  # a resumed run works from its journalled plan, not the file
        r = self.trixc("run", "--resume", run_id, "--state-dir", "st")
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["first", "second", "second", "undo-first"])

    def test_steps_that_finished_before_the_crash_keep_ok_and_exit_code(self):
        # A later step and a rollback guard read `first`, which finished before the crash.
        rb = RUNBOOK.replace('third: run "echo third >> log"',
                             'third: run "echo third ok=${steps.first.ok} code=${steps.first.exit_code} out=[${steps.first.stdout}] >> log"')
        rb = rb.replace("  verify {", '  rollback { run "echo rollback-saw-first >> log" when steps.first.ok }\n  verify {')
        run_id = self.crash_in_second(idempotent=True, runbook=rb)
        r = self.trixc("run", "--resume", run_id, "--state-dir", "st")
        self.assertExit(r, OK)
        # ok and exit_code come from the journal; stdout is not journalled (empty).
        self.assertEqual(self.lines("log"), ["first", "second", "second", "third ok=true code=0 out=[]"])

    def test_a_rollback_guard_on_a_step_finished_before_the_crash_still_holds(self):
        rb = RUNBOOK.replace("  verify {", '  rollback { run "echo rollback-saw-first >> log" when steps.first.ok }\n  verify {')
        run_id = self.crash_in_second(idempotent=True, runbook=rb)
        self.write("fail", "")  # `second` fails when it runs again
        r = self.trixc("run", "--resume", run_id, "--state-dir", "st")
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["first", "second", "second", "undo-first", "rollback-saw-first"])

    def test_resume_of_a_finished_run_is_refused(self):
        self.runbook(RUNBOOK.replace("{ IDEMPOTENT }", ""))
        self.write("fast", "")
        self.assertExit(self.run_rb(), OK)
        [run_id] = self.run_ids()
        r = self.trixc("run", "--resume", run_id, "--state-dir", "st")
        self.assertExit(r, USAGE)
        self.assertIn("already ended", r.stderr)
        self.assertEqual(self.lines("log"), ["first", "second", "third"])

    def test_resume_of_an_unknown_run_is_refused(self):
        r = self.trixc("run", "--resume", "20200101-000000-beef", "--state-dir", "st")
        self.assertExit(r, USAGE)


if __name__ == "__main__":
    unittest.main()
