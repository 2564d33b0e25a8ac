"""`trixc run`: exit codes, the rollback order, `when` guards, usage errors."""

import unittest

from e2e_support import ERRORS, OK, ROLLBACK_FAILED, ROLLED_BACK, STOPPED, USAGE, TrixTestCase

# A runbook whose gate, stage steps, undo blocks, rollback and verify all
# append to `log`, so the order in which things ran can be read back.
# `fail_at` picks which item fails: "none", "gate", "c", "verify".
ORDER_RUNBOOK = """\
runbook t "Order"
param fail_at: string = "none"
param undo_a1_fails: bool = false

environment dev {
  region = "local"
}

gate g "Gate" {
  check "gate passes" run "test ${fail_at} != gate"
}

pipeline p "P" {
  gate g

  stage one "One" {
    a: run "echo a >> log"
    undo {
      run "echo undo-a1 >> log; test ${undo_a1_fails} = false"
      run "echo undo-a2 >> log"
    }
    b: run "echo b >> log"
    undo { run "echo undo-b >> log" }
  }

  stage two "Two" {
    c: run "echo c >> log; test ${fail_at} != c"
    undo { run "echo undo-c >> log" }
    d: run "echo d >> log"
    undo { run "echo undo-d >> log" }
  }

  verify "Check" {
    check "verify passes" run "echo verify >> log; test ${fail_at} != verify"
  }

  rollback {
    run "echo rollback-1 >> log"
    run "echo rollback-2 >> log"
    verify {
      check "after rollback" run "echo rollback-verify >> log"
    }
  }
}
"""


class ExitCodes(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.runbook(ORDER_RUNBOOK)

    def test_success_exits_0_and_runs_everything_in_order(self):
        r = self.run_rb()
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["a", "b", "c", "d", "verify"])
        self.assertIn("succeeded", r.stdout)

    def test_failing_gate_exits_10_and_nothing_runs(self):
        r = self.run_rb("--param", "fail_at=gate")
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"), "a stage step or rollback ran although the gate failed")
        self.assertIn("gate passes", r.stdout)

    def test_failing_step_exits_11_undo_newest_first_then_rollback_then_its_verify(self):
        r = self.run_rb("--param", "fail_at=c")
        self.assertExit(r, ROLLED_BACK)
        # c failed, so its own undo does not run; d never started.
        self.assertEqual(self.lines("log"), [
            "a", "b", "c",
            "undo-b", "undo-a1", "undo-a2",
            "rollback-1", "rollback-2",
            "rollback-verify",
        ])

    def test_failing_verify_exits_11_and_undoes_every_step(self):
        r = self.run_rb("--param", "fail_at=verify")
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.lines("log"), [
            "a", "b", "c", "d", "verify",
            "undo-d", "undo-c", "undo-b", "undo-a1", "undo-a2",
            "rollback-1", "rollback-2", "rollback-verify",
        ])

    def test_failing_undo_step_exits_12_and_the_rest_of_rollback_still_runs(self):
        r = self.run_rb("--param", "fail_at=c", "--param", "undo_a1_fails=true")
        self.assertExit(r, ROLLBACK_FAILED)
        self.assertEqual(self.lines("log"), [
            "a", "b", "c",
            "undo-b", "undo-a1", "undo-a2",
            "rollback-1", "rollback-2", "rollback-verify",
        ])
        self.assertIn("ROLLBACK FAILED", r.stdout)

    def test_failing_rollback_verify_exits_12(self):
        self.runbook(ORDER_RUNBOOK.replace('run "echo rollback-verify >> log"', 'run "echo rollback-verify >> log; false"'))
        r = self.run_rb("--param", "fail_at=c")
        self.assertExit(r, ROLLBACK_FAILED)
        self.assertEqual(self.lines("log")[-1], "rollback-verify")

    def test_journal_records_the_outcome(self):
        r = self.run_rb("--param", "fail_at=c")
        self.assertExit(r, ROLLED_BACK)
        [run_id] = self.run_ids()
        ends = [rec for rec in self.journal(run_id) if rec.get("event") == "run_end"]
        self.assertEqual(len(ends), 1)
        self.assertEqual(ends[0]["status"], "rolled_back")
        self.assertEqual(ends[0]["exit_code"], ROLLED_BACK)
        st = self.status(run_id)
        self.assertExit(st, OK)
        self.assertIn("rolled_back", st.stdout)
        log = self.trixc("log", run_id, "--state-dir", "st")
        self.assertExit(log, OK)
        self.assertIn('"rollback_start"', log.stdout)

    def test_status_and_log_of_an_unknown_run_are_usage_errors(self):
        self.run_rb()
        for cmd in ("status", "log"):
            r = self.trixc(cmd, "no-such-run", "--state-dir", "st")
            self.assertExit(r, USAGE, cmd)
            self.assertIn("no run `no-such-run`", r.stderr, cmd)
            self.assertEqual(r.stdout, "", cmd)


class Errors(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.runbook(ORDER_RUNBOOK)

    def test_runbook_with_errors_exits_1_and_runs_nothing(self):
        self.runbook(ORDER_RUNBOOK.replace("gate g\n", "gate nosuchgate\n"))
        r = self.run_rb()
        self.assertExit(r, ERRORS)
        self.assertIn("E201", r.stderr)
        self.assertFalse(self.exists("log"))
        self.assertFalse(self.state.exists() and any(self.state.rglob("journal.jsonl")))

    def test_syntax_error_exits_1(self):
        self.runbook(ORDER_RUNBOOK.replace('stage one "One" {', 'stage one "One" {{'))
        r = self.run_rb()
        self.assertExit(r, ERRORS)
        self.assertFalse(self.exists("log"))

    def test_unknown_env_exits_2(self):
        r = self.run_rb("--env", "nowhere")
        self.assertExit(r, USAGE)
        self.assertIn("nowhere", r.stderr)
        self.assertFalse(self.exists("log"))

    def test_bad_param_type_exits_2(self):
        self.runbook(ORDER_RUNBOOK.replace('param undo_a1_fails: bool = false', 'param undo_a1_fails: bool = false\nparam n: int = 1'))
        r = self.run_rb("--param", "n=lots")
        self.assertExit(r, USAGE)
        self.assertIn("n", r.stderr)
        self.assertFalse(self.exists("log"))

    def test_bad_bool_param_exits_2(self):
        r = self.run_rb("--param", "undo_a1_fails=perhaps")
        self.assertExit(r, USAGE)
        self.assertFalse(self.exists("log"))

    def test_unknown_param_exits_2(self):
        r = self.run_rb("--param", "no_such_param=1")
        self.assertExit(r, USAGE)
        self.assertFalse(self.exists("log"))

    def test_param_without_equals_exits_2(self):
        r = self.run_rb("--param", "fail_at")
        self.assertExit(r, USAGE)
        self.assertFalse(self.exists("log"))

    def test_unknown_option_exits_2(self):
        r = self.run_rb("--no-such-option")
        self.assertExit(r, USAGE)
        self.assertFalse(self.exists("log"))

    def test_missing_runbook_exits_2(self):
        r = self.run_rb(rb="missing.trix")
        self.assertExit(r, USAGE)

    def test_env_may_be_left_out_only_with_one_environment(self):
        self.runbook(ORDER_RUNBOOK.replace("environment dev {", "environment prod {\n  region = \"eu\"\n}\nenvironment dev {"))
        r = self.run_rb()
        self.assertExit(r, USAGE)
        self.assertFalse(self.exists("log"))
        self.assertExit(self.run_rb("--env", "dev"), OK)


GUARD_RUNBOOK = """\
runbook t "Guards"
param n: int = 1
param flag: bool = false

environment dev {
  kind = "dev"
}

pipeline p {
  stage s {
    a: run "echo a >> log"
    two: run "echo two >> log" when n == 2
    not_two: run "echo not-two >> log" when n != 2
    flagged: run "echo flagged >> log" when flag
    envd: run "echo env-dev >> log" when env.kind == "dev"
    c: run "echo c >> log; test ${n} -lt 3"
    after: run "echo after >> log"
  }
  rollback {
    run "echo rb-a-ok >> log" when steps.a.ok
    run "echo rb-two-ok >> log" when steps.two.ok
    run "echo rb-c-ok >> log" when steps.c.ok
    run "echo rb-c-failed >> log" when not steps.c.ok
    run "echo rb-always >> log"
  }
}
"""


class Guards(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.runbook(GUARD_RUNBOOK)

    def test_when_guards_follow_params_and_env(self):
        self.assertExit(self.run_rb(), OK)
        self.assertEqual(self.lines("log"), ["a", "not-two", "env-dev", "c", "after"])

    def test_when_guards_with_other_values(self):
        self.assertExit(self.run_rb("--param", "n=2", "--param", "flag=true"), OK)
        self.assertEqual(self.lines("log"), ["a", "two", "flagged", "env-dev", "c", "after"])

    def test_steps_label_ok_in_rollback_guards(self):
        r = self.run_rb("--param", "n=5")
        self.assertExit(r, ROLLED_BACK)
        # `two` was skipped by its guard (not ok); `c` ran and failed.
        self.assertEqual(self.lines("log"), ["a", "not-two", "env-dev", "c", "rb-a-ok", "rb-c-failed", "rb-always"])

    def test_steps_label_ok_true_for_a_guarded_step_that_ran(self):
        r = self.run_rb("--param", "n=4")
        self.assertExit(r, ROLLED_BACK)
        self.assertNotIn("rb-two-ok", self.lines("log"))
        self.runbook(GUARD_RUNBOOK.replace("test ${n} -lt 3", "test ${n} -lt 2"))
        (self.dir / "log").unlink()
        r = self.run_rb("--param", "n=2")
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["a", "two", "env-dev", "c", "rb-a-ok", "rb-two-ok", "rb-c-failed", "rb-always"])


if __name__ == "__main__":
    unittest.main()
