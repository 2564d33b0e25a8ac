"""SIGINT/SIGTERM to a running trixc (§9): the current step is stopped with
its children, the undo blocks of completed steps and the rollback block run,
and the run exits 11; a second signal during rollback stops that too (13)."""

import signal
import time
import unittest

from e2e_support import INTERRUPTED, OK, ROLLED_BACK, TrixTestCase, pid_alive

RUNBOOK = """\
environment dev { x = 1 }

pipeline p {
  stage s {
    a: run "echo a >> log"
    undo { run "echo undo-a >> log" }
    b: run "echo b >> log"
    undo { run "echo undo-b >> log" }
    long: run "sleep 30 & echo $! >> pids; echo $$ >> pids; wait"
    undo { run "echo undo-long >> log" }
    after: run "echo after >> log"
  }
  rollback {
    run "echo rollback >> log"
    verify { check "after rollback" run "echo rollback-verify >> log" }
  }
}
"""


class Signals(TrixTestCase):
    def start_and_wait_for_long_step(self):
        self.runbook(RUNBOOK)
        p = self.start_rb()
        self.wait_for(lambda: len(self.lines("pids")) == 2, timeout=10, what="the long step to start", proc=p)
        pids = [int(x) for x in self.lines("pids")]
        for pid in pids:
            self.track_pgid(pid)
        return p, pids

    def assertInterruptedAndRolledBack(self, sig):
        p, pids = self.start_and_wait_for_long_step()
        t0 = time.monotonic()
        p.send_signal(sig)
        res = self.finish(p, timeout=15)
        self.assertExit(res, ROLLED_BACK)
        self.assertLess(time.monotonic() - t0, 8, "the long step was not stopped promptly")
        for pid in pids:
            self.assertFalse(pid_alive(pid), f"process {pid} of the interrupted step is still alive")
        self.assertEqual(self.lines("log"), ["a", "b", "undo-b", "undo-a", "rollback", "rollback-verify"])
        [run_id] = self.run_ids()
        self.assertIn("rolled_back", self.status(run_id).stdout)

    def test_sigint_stops_the_step_and_rolls_back_with_11(self):
        self.assertInterruptedAndRolledBack(signal.SIGINT)

    def test_sigterm_stops_the_step_and_rolls_back_with_11(self):
        self.assertInterruptedAndRolledBack(signal.SIGTERM)

    def interrupt_the_rollback_in_undo_b(self, undo_b_wait):
        """SIGINT in the long step, a second SIGINT while `undo b` runs
        (`undo_b_wait` is the shell that keeps it running): the run exits 13."""
        self.runbook(RUNBOOK.replace('run "echo undo-b >> log"', f'run "echo undo-b >> log; echo started > undo-b.started; {undo_b_wait}"'))
        p = self.start_rb()
        self.wait_for(lambda: len(self.lines("pids")) == 2, timeout=10, what="the long step to start", proc=p)
        for pid in [int(x) for x in self.lines("pids")]:
            self.track_pgid(pid)
        p.send_signal(signal.SIGINT)
        self.wait_for_file("undo-b.started", proc=p)
        p.send_signal(signal.SIGINT)
        self.assertExit(self.finish(p, timeout=15), INTERRUPTED)

    def test_second_sigint_during_rollback_stops_it_with_13(self):
        self.interrupt_the_rollback_in_undo_b("sleep 30")
        self.assertNotIn("rollback", self.lines("log"))
        # Nor does the rollback's verify start: its check was started (and
        # journalled) after the second signal, and under load could finish.
        [run_id] = self.run_ids()
        self.assertEqual([x for x in self.journal(run_id) if x.get("event") == "check"], [])
        self.assertNotIn("rollback-verify", self.lines("log"))

    def test_resume_after_a_second_sigint_finishes_the_rollback(self):
        self.interrupt_the_rollback_in_undo_b("test -f undo-b.fast || sleep 30")
        self.write("undo-b.fast", "")
        [run_id] = self.run_ids()
        r = self.trixc("run", "--resume", run_id, "--state-dir", "st")
        # The rollback goes on: `undo b` (interrupted) runs again, then `undo a`,
        # the rollback block and its verify; the failed step `long` and `after` never run.
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["a", "b", "undo-b", "undo-b", "undo-a", "rollback", "rollback-verify"])
        self.assertIn("finishing the rollback", r.stdout)
        self.assertIn("rolled_back", self.status(run_id).stdout)


APPROVAL_RUNBOOK = """\
role ops = ["alice", "bob"]
approval release { require ops  timeout = 30s }
environment dev { x = 1 }
pipeline p {
  approve release
  stage s { run "echo changed >> log" }
}
"""


class SignalBeforeAnyChange(TrixTestCase):
    def start_waiting(self):
        self.runbook(APPROVAL_RUNBOOK)
        p = self.start_rb("--as", "carol")
        self.wait_for(lambda: "waiting for approval" in self.status().stdout, timeout=10, what="the run to wait", proc=p)
        [run_id] = self.run_ids()
        return p, run_id

    def test_sigint_while_waiting_for_approval_changes_nothing(self):
        p, run_id = self.start_waiting()
        p.send_signal(signal.SIGINT)
        res = self.finish(p, timeout=10)
        self.assertIn(res[0], (INTERRUPTED, 10), f"unexpected exit {res[0]}: {res[1]}{res[2]}")
        self.assertFalse(self.exists("log"))

    def test_run_interrupted_with_13_is_resumable(self):
        p, run_id = self.start_waiting()
        p.send_signal(signal.SIGINT)
        res = self.finish(p, timeout=10)
        self.assertExit(res, INTERRUPTED)
        self.assertIn(f"--resume {run_id}", self.status(run_id).stdout)
        q = self.start("run", "--resume", run_id, "--state-dir", "st")
        self.wait_for(lambda: "waiting for approval" in self.output_of(q), timeout=10, what="the resumed run to wait", proc=q)
        self.assertExit(self.trixc("approve", run_id, "--as", "alice", "--state-dir", "st"), OK)
        self.assertExit(self.finish(q), OK)
        self.assertEqual(self.lines("log"), ["changed"])


if __name__ == "__main__":
    unittest.main()
