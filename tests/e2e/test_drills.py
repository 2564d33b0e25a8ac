"""Rollback drills (§12, `trixc run --drill`): the stages run, then the
rollback path is taken on purpose — undo blocks newest first, the rollback
block and its verify — instead of the pipeline's verify. Exit 0 when that
path works, 12 when not; the journal, `trixc status` and the metrics mark
the run as a drill; a protected environment needs the same approvals."""

import unittest

from e2e_support import OK, ROLLBACK_FAILED, ROLLED_BACK, STOPPED, TrixTestCase

RUNBOOK = """\
role ops = ["alice", "bob"]
approval release {
  require ops
  timeout = 30s
}
environment dev { x = 1 }
environment prod {
  protected = true
  approvals = [release]
}

pipeline p {
  approve release when env.protected
  stage one {
    run "echo one >> log"
    undo { run "echo undo-one >> log" }
  }
  stage two {
    run "echo two >> log"
    undo { run "echo undo-two >> log" }
    run "test ! -f fail-stage"
  }
  verify { check "main verify" run "echo main-verify >> log" }
  rollback {
    run "echo rollback-block >> log"
    verify { check "rollback verify" run "echo rollback-verify >> log; test ! -f fail-rollback" }
  }
}
"""


class Drill(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.runbook(RUNBOOK)

    def test_a_drill_takes_the_rollback_path_and_passes(self):
        r = self.run_rb("--env", "dev", "--drill", "--metrics-file", "m.prom")
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["one", "two", "undo-two", "undo-one", "rollback-block", "rollback-verify"])
        self.assertIn("drill_passed", r.stdout)
        [run_id] = self.run_ids()
        journal = self.journal(run_id)
        self.assertTrue(journal[0]["drill"])
        self.assertEqual(journal[-1]["status"], "drill_passed")
        self.assertIn("drill_rollback", [x["event"] for x in journal])
        self.assertIn("(drill)", self.status().stdout)
        metrics = self.read("m.prom")
        self.assertIn('trix_drills_total{pipeline="p",environment="dev",status="passed"} 1', metrics)
        self.assertIn('trix_rollbacks_total{pipeline="p",environment="dev"} 0', metrics)
        self.assertIn('trix_deployments_total{pipeline="p",environment="dev",status="succeeded"} 0', metrics)

    def test_drills_and_real_runs_are_counted_apart(self):
        self.assertExit(self.run_rb("--env", "dev", "--metrics-file", "m.prom"), OK)
        self.assertExit(self.run_rb("--env", "dev", "--drill", "--metrics-file", "m.prom"), OK)
        self.write("fail-stage", "")
        self.assertExit(self.run_rb("--env", "dev", "--metrics-file", "m.prom"), ROLLED_BACK)
        m = self.read("m.prom")
        self.assertIn('trix_deployments_total{pipeline="p",environment="dev",status="succeeded"} 1', m)
        self.assertIn('trix_deployments_total{pipeline="p",environment="dev",status="rolled_back"} 1', m)
        self.assertIn('trix_rollbacks_total{pipeline="p",environment="dev"} 1', m)
        self.assertIn('trix_drills_total{pipeline="p",environment="dev",status="passed"} 1', m)
        self.assertIn('trix_drills_total{pipeline="p",environment="dev",status="failed"} 0', m)

    def test_a_drill_whose_rollback_verify_fails_exits_12(self):
        self.write("fail-rollback", "")
        r = self.run_rb("--env", "dev", "--drill")
        self.assertExit(r, ROLLBACK_FAILED)
        self.assertIn("drill_failed", r.stdout)
        self.assertNotIn("main-verify", self.lines("log"))

    def test_a_drill_that_fails_for_real_rolls_back_as_a_run_does(self):
        self.write("fail-stage", "")
        r = self.run_rb("--env", "dev", "--drill")
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["one", "two", "undo-two", "undo-one", "rollback-block", "rollback-verify"])

    def test_a_drill_on_a_protected_environment_needs_the_approvals(self):
        # Nobody approves: the approval times out and nothing is changed.
        rb = RUNBOOK.replace("timeout = 30s", "timeout = 1s")
        self.runbook(rb)
        r = self.run_rb("--env", "prod", "--drill", "--as", "alice")
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"))

    def test_a_dry_run_drill_shows_the_undo_blocks_it_would_run(self):
        r = self.run_rb("--env", "dev", "--drill", "--dry-run")
        self.assertExit(r, OK)
        out = r.stdout
        order = [out.index(x) for x in ("would run: echo undo-two", "would run: echo undo-one", "would run: echo rollback-block")]
        self.assertEqual(order, sorted(order), out)
        self.assertFalse(self.exists("log"))

    def test_a_verify_that_starts_with_a_confirm_is_skipped_too(self):
        # "as if verify had failed": none of the verify runs, its `confirm` included
        # (it used to be asked, fail without an attestation, and end the drill as a real failure, 11).
        self.runbook(RUNBOOK.replace('verify { check "main verify"', 'verify { confirm "smoke-tested by hand" \n check "main verify"'))
        r = self.run_rb("--env", "dev", "--drill")
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["one", "two", "undo-two", "undo-one", "rollback-block", "rollback-verify"])
        s = self.trixc("simulate", "rb.trix", "--env", "dev", "--drill")
        self.assertNotIn("smoke-tested", s.stdout)
        self.assertIn("Result: drill passed (exit 0)", s.stdout)

    def test_a_verify_between_two_stages_does_not_end_the_drill_early(self):
        # "after the last stage": stage two still runs, the mid verify runs as in any run.
        self.runbook(RUNBOOK.replace("  stage two {", '  verify "between" { check "mid" run "echo mid >> log" }\n  stage two {'))
        r = self.run_rb("--env", "dev", "--drill")
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["one", "mid", "two", "undo-two", "undo-one", "rollback-block", "rollback-verify"])
        s = self.trixc("simulate", "rb.trix", "--env", "dev", "--drill")
        self.assertIn("two: run `echo two >> log` ok", s.stdout)
        self.assertNotIn("main verify", s.stdout)

    def test_simulate_shows_what_a_drill_would_do(self):
        r = self.trixc("simulate", "rb.trix", "--env", "dev", "--drill")
        self.assertExit(r, OK)
        self.assertIn("rollback path is taken on purpose", r.stdout)
        self.assertIn("Result: drill passed (exit 0)", r.stdout)
        self.assertNotIn("main verify", r.stdout)
        r = self.trixc("simulate", "rb.trix", "--env", "dev", "--drill", "--fail", "rollback verify")
        self.assertIn("Result: drill failed", r.stdout)


if __name__ == "__main__":
    unittest.main()
