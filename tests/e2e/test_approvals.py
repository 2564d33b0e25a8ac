"""Approvals (§5) and confirmations (§4): a run waits; `trixc approve` from
another process lets it proceed; refusals, separation of duties, quorums,
timeouts; `confirm` answered by --attest or failing without a terminal."""

import json
import unittest

from e2e_support import ERRORS, OK, ROLLED_BACK, STOPPED, USAGE, TrixTestCase

RUNBOOK = """\
role ops = ["alice", "bob", "carol"]
role dba = ["dave"]

approval release {
  require ops
  timeout = 10m
}

approval quorum {
  require 2 of [ops]
  timeout = 10m
}

approval cond {
  require ops
  require dba when big
  timeout = 10m
}

param big: bool = false

approval short {
  require ops
  timeout = 2s
}

param which: string = "release"

environment dev { x = 1 }

pipeline p {
  approve release when which == "release"
  approve quorum when which == "quorum"
  approve short when which == "short"
  approve cond when which == "cond"
  stage s {
    run "echo changed >> log"
  }
}
"""


class Approvals(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.runbook(RUNBOOK)

    def start_waiting(self, which="release", starter="carol"):
        """Starts a run as `starter`; returns (process, run id) once status says it waits."""
        p = self.start_rb("--as", starter, "--param", f"which={which}")

        def waiting():
            st = self.status()
            for line in st.stdout.splitlines():
                if "waiting for approval" in line:
                    return line.split()[0]
            return None

        run_id = self.wait_for(waiting, timeout=60, what="`trixc status` to show the run waiting", proc=p)
        return p, run_id

    def approve(self, run_id, who, *extra):
        return self.trixc("approve", run_id, "--as", who, "--state-dir", "st", *extra)

    def answer_file(self, run_id, who, decision="approve"):
        """An answer written straight into the run's approvals directory, for
        the wait it is in, past the checks of `trixc approve`: the run must
        check it again itself."""
        [wait] = [x for x in self.journal(run_id) if x.get("event") == "approval_wait"][-1:]
        plan = json.loads((self.state / "runs" / run_id / "plan.json").read_text())
        approvals = self.state / "runs" / run_id / "approvals"
        approvals.mkdir(exist_ok=True)
        n = len(list(approvals.iterdir()))
        ans = {"approval": wait["approval"], "step": wait["id"], "who": who, "decision": decision,
               "plan_sha256": plan["plan_sha256"], "at": "2026-01-01T00:00:00Z", "via": "approve"}
        (approvals / f"{n:04d}-direct-{who}.json").write_text(json.dumps(ans) + "\n")

    def seen(self, p, text):
        return lambda: text in self.output_of(p)

    def test_approval_by_a_member_lets_the_run_proceed(self):
        p, run_id = self.start_waiting()
        self.assertFalse(self.exists("log"), "the stage ran before the approval")
        r = self.approve(run_id, "alice")
        self.assertExit(r, OK)
        res = self.finish(p, timeout=60)
        self.assertExit(res, OK)
        self.assertEqual(self.lines("log"), ["changed"])
        # the journal says who approved
        recs = [x for x in self.journal(run_id) if x.get("event") == "approval"]
        self.assertEqual([(x["who"], x["decision"]) for x in recs], [("alice", "approve")])
        self.assertIn("succeeded", self.status(run_id).stdout)

    def test_deny_stops_with_10_and_nothing_changed(self):
        p, run_id = self.start_waiting()
        r = self.approve(run_id, "bob", "--deny", "--comment", "not today")
        self.assertExit(r, OK)
        res = self.finish(p, timeout=60)
        self.assertExit(res, STOPPED)
        self.assertFalse(self.exists("log"))
        self.assertIn("bob", res[1])

    # These tests wait on what the run shows (its status, its output), never on
    # fixed sleeps, and only the `short` approval may expire: they hold on a
    # machine slowed down by a sanitizer or by load.

    def test_starter_cannot_approve_own_run(self):
        p, run_id = self.start_waiting(starter="carol")
        for extra in [(), ("--deny",)]:
            r = self.approve(run_id, "carol", *extra)
            self.assertExit(r, ERRORS)  # refused at once, and nothing written
            self.assertIn("carol started run", r.stderr)
            self.assertIn("separation of duties", r.stderr)
        self.assertFalse(any((self.state / "runs" / run_id / "approvals").glob("*carol*")))
        # The run checks too, whatever wrote the answer.
        self.answer_file(run_id, "carol")
        self.wait_for(self.seen(p, "separation of duties"), timeout=60, what="the run to ignore the starter", proc=p)
        self.assertIsNone(p.poll(), "the starter's answer ended the wait")
        self.assertIn("waiting for approval", self.status(run_id).stdout)
        self.assertFalse(self.exists("log"))
        self.assertExit(self.approve(run_id, "bob", "--deny"), OK)
        self.assertExit(self.finish(p, timeout=60), STOPPED)
        self.assertFalse(self.exists("log"))

    def test_approval_timeout_counts_as_a_refusal(self):
        r = self.run_rb("--as", "carol", "--param", "which=short", timeout=60)
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"))
        self.assertIn("timed out, which counts as a refusal", r.stdout)

    def test_non_member_does_not_count(self):
        p, run_id = self.start_waiting()
        for who in ["dave", "mallory"]:
            r = self.approve(run_id, who)
            self.assertExit(r, ERRORS)
            # who may answer instead: the role's members but the starter (carol)
            self.assertIn(f"{who} is not in a role that `release` requires, so cannot approve it; who can: alice, bob", r.stderr)
        r = self.approve(run_id, "dave", "--deny")
        self.assertExit(r, ERRORS)
        self.assertIn("cannot refuse it", r.stderr)
        self.answer_file(run_id, "dave")
        self.answer_file(run_id, "mallory")
        self.wait_for(lambda: "dave is not in a role" in self.output_of(p) and "mallory is not in a role" in self.output_of(p),
                      timeout=60, what="both answers to be read and ignored", proc=p)
        self.assertIsNone(p.poll(), "a non-member's answer ended the wait")
        self.assertFalse(self.exists("log"))
        self.assertExit(self.approve(run_id, "alice", "--deny"), OK)
        self.assertExit(self.finish(p, timeout=60), STOPPED)
        self.assertFalse(self.exists("log"))

    def test_quorum_needs_two_distinct_people(self):
        p, run_id = self.start_waiting(which="quorum", starter="carol")
        self.assertExit(self.approve(run_id, "alice"), OK)
        self.wait_for(self.seen(p, "approved by alice"), timeout=60, what="alice's approval to be seen", proc=p)
        self.assertExit(self.approve(run_id, "alice"), OK)  # the same person again counts once
        self.wait_for(lambda: self.output_of(p).count("approved by alice") >= 2, timeout=60, what="alice's second answer to be read", proc=p)
        self.assertExit(self.approve(run_id, "carol"), ERRORS)  # the starter never counts
        self.answer_file(run_id, "carol")
        self.wait_for(self.seen(p, "separation of duties"), timeout=60, what="carol's answer to be read", proc=p)
        self.assertIsNone(p.poll(), "the run went on with only one distinct approver")
        self.assertFalse(self.exists("log"))
        self.assertIn("waiting for approval", self.status(run_id).stdout)
        self.assertExit(self.approve(run_id, "bob"), OK)
        res = self.finish(p, timeout=60)
        self.assertExit(res, OK)
        self.assertEqual(self.lines("log"), ["changed"])

    def test_conditional_requirement_applies_only_when_its_guard_holds(self):
        p, run_id = self.start_waiting(which="cond")
        self.assertExit(self.approve(run_id, "alice"), OK)
        self.assertExit(self.finish(p), OK)
        self.assertEqual(self.lines("log"), ["changed"])

    def test_conditional_requirement_when_true_needs_both_roles(self):
        p = self.start_rb("--as", "carol", "--param", "which=cond", "--param", "big=true")
        self.wait_for(lambda: "waiting for approval" in self.status().stdout, timeout=60, what="the run to wait", proc=p)
        [run_id] = self.run_ids()
        self.assertExit(self.approve(run_id, "alice"), OK)
        self.wait_for(self.seen(p, "approved by alice"), timeout=60, what="alice's approval to be seen", proc=p)
        # A barrier: an answer the run reads only on a later poll, if it is still waiting.
        self.assertExit(self.approve(run_id, "mallory"), ERRORS)
        self.answer_file(run_id, "mallory")
        self.wait_for(self.seen(p, "mallory is not in a role"), timeout=60, what="the run to keep waiting for the dba", proc=p)
        self.assertIsNone(p.poll(), "the run went on without the dba approval")
        self.assertFalse(self.exists("log"))
        self.assertExit(self.approve(run_id, "dave"), OK)
        self.assertExit(self.finish(p), OK)
        self.assertEqual(self.lines("log"), ["changed"])

    def test_answer_for_another_plan_hash_is_void(self):
        p, run_id = self.start_waiting()
        approvals = self.state / "runs" / run_id / "approvals"
        approvals.mkdir(exist_ok=True)
        forged = {"approval": "release", "who": "alice", "decision": "approve", "plan_sha256": "0" * 64, "at": "2020-01-01T00:00:00Z"}
        (approvals / "0000-forged-alice.json").write_text(json.dumps(forged) + "\n")
        self.wait_for(self.seen(p, "void"), timeout=60, what="the answer for another plan to be rejected", proc=p)
        self.assertIsNone(p.poll())
        self.assertFalse(self.exists("log"))
        self.assertExit(self.approve(run_id, "bob"), OK)
        self.assertExit(self.finish(p), OK)
        self.assertEqual(self.lines("log"), ["changed"])

    def test_approve_a_run_that_is_not_waiting_exits_1(self):
        r = self.run_rb("--as", "carol", "--param", "which=none")
        self.assertExit(r, OK)
        [run_id] = self.run_ids()
        r = self.approve(run_id, "alice")
        self.assertExit(r, ERRORS)
        self.assertIn("not waiting", r.stderr)

    def test_approve_after_the_run_was_approved_exits_1(self):
        p, run_id = self.start_waiting()
        self.assertExit(self.approve(run_id, "alice"), OK)
        self.assertExit(self.finish(p), OK)
        self.assertExit(self.approve(run_id, "bob"), ERRORS)

    def test_status_stops_saying_waiting_once_approved(self):
        self.runbook(RUNBOOK.replace('run "echo changed >> log"',
                                     'run "echo changed >> log; while [ ! -f go ]; do sleep 0.02; done"'))
        p, run_id = self.start_waiting()
        self.assertExit(self.approve(run_id, "alice"), OK)
        self.wait_for(lambda: "changed" in self.lines("log"), timeout=60, what="the stage to start", proc=p)
        st = self.status(run_id)
        self.write("go", "")
        self.assertNotIn("waiting for approval", st.stdout)
        self.assertExit(self.finish(p), OK)

    def test_deny_of_an_approval_inside_a_stage_rolls_back(self):
        self.runbook(RUNBOOK.replace('    run "echo changed >> log"\n',
                                     '    run "echo changed >> log"\n'
                                     '    undo { run "echo undone >> log" }\n'
                                     '    approve release\n'
                                     '    run "echo after-approval >> log"\n'))
        p = self.start_rb("--as", "carol", "--param", "which=none")
        self.wait_for(lambda: "waiting for approval" in self.status().stdout, timeout=60, what="the run to wait", proc=p)
        [run_id] = self.run_ids()
        self.assertEqual(self.lines("log"), ["changed"])
        self.assertExit(self.approve(run_id, "bob", "--deny"), OK)
        self.assertExit(self.finish(p), ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["changed", "undone"])

    def test_approve_an_unknown_run_fails(self):
        self.assertExit(self.approve("20200101-000000-dead", "alice"), USAGE)

    def test_approval_wait_is_journalled_and_shown_by_log(self):
        p, run_id = self.start_waiting()
        log = self.trixc("log", run_id, "--state-dir", "st")
        self.assertExit(log, OK)
        self.assertIn("approval_wait", log.stdout)
        self.assertExit(self.approve(run_id, "alice"), OK)
        self.assertExit(self.finish(p), OK)


class TwoApprovals(TrixTestCase):
    """An answer counts for the `approve` it was given to: approving the
    first approval of a run does not approve a later one."""
    RB = """\
environment dev { x = 1 }
role leads = ["alice", "bob"]
approval first { require leads  timeout = 60s }
approval second { require leads  timeout = 3s }
pipeline p {
  approve first
  stage s {
    a: run "echo a >> log"
    undo { run "echo undo-a >> log" }
    approve second
    b: run "echo b >> log"
  }
}
"""

    def test_an_answer_to_one_approval_does_not_approve_the_next(self):
        self.runbook(self.RB)
        p = self.start_rb("--as", "carol")
        run_id = self.wait_for(lambda: next((l.split()[0] for l in self.status().stdout.splitlines() if "waiting for approval `first`" in l), None),
                               timeout=60, what="the run to wait for `first`", proc=p)
        self.assertExit(self.trixc("approve", run_id, "--as", "alice", "--state-dir", "st"), OK)
        # `second` times out (3s): alice's answer to `first` does not count for it.
        res = self.finish(p, timeout=60)
        self.assertExit(res, ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["a", "undo-a"])
        self.assertIn("approval `second` timed out", self.output_of(p))
        recs = [(x["approval"], x["who"]) for x in self.journal(run_id) if x.get("event") == "approval"]
        self.assertEqual(recs, [("first", "alice")])


class TerminalApprovals(TrixTestCase):
    """A run whose stdin is a terminal also takes the answer typed there."""

    def setUp(self):
        super().setUp()
        self.runbook(RUNBOOK)

    def start_on_pty(self, starter="carol", which="release"):
        p = self.start_pty("run", "rb.trix", "--state-dir", "st", "--as", starter, "--param", f"which={which}")
        self.wait_for(lambda: "type the approver's name" in p.text(), timeout=60, what="the approval prompt")
        return p

    def test_a_name_typed_at_the_terminal_approves_as_that_person(self):
        p = self.start_on_pty()
        self.assertFalse(self.exists("log"))
        p.send("alice")
        self.assertEqual(p.wait(), OK, p.text())
        self.assertEqual(self.lines("log"), ["changed"])
        [run_id] = self.run_ids()
        recs = [x for x in self.journal(run_id) if x.get("event") == "approval"]
        self.assertEqual([(x["who"], x["decision"], x["via"]) for x in recs], [("alice", "approve", "terminal")])
        self.assertIn("approved by alice (at the run's terminal)", p.text())

    def test_the_starter_typing_yes_is_refused_and_approve_from_elsewhere_still_works(self):
        p = self.start_on_pty(starter="carol")
        p.send("y")
        self.wait_for(lambda: "carol started this run and cannot approve it" in p.text(), timeout=60, what="the refusal")
        p.send("carol")
        self.wait_for(lambda: p.text().count("carol started this run and cannot approve it") >= 2, timeout=60,
                      what="the second refusal")
        self.assertIsNone(p.proc.poll(), "the starter's own answer let the run go on")
        self.assertFalse(self.exists("log"))
        [run_id] = self.run_ids()
        self.assertIn("waiting for approval", self.status(run_id).stdout)
        # Another person answers from another terminal while the prompt is up.
        self.assertExit(self.trixc("approve", run_id, "--as", "bob", "--state-dir", "st"), OK)
        self.assertEqual(p.wait(), OK, p.text())
        self.assertEqual(self.lines("log"), ["changed"])
        recs = [x for x in self.journal(run_id) if x.get("event") == "approval"]
        self.assertEqual([(x["who"], x["via"]) for x in recs], [("bob", "approve")])

    def test_deny_name_typed_at_the_terminal_stops_the_run(self):
        p = self.start_on_pty()
        p.send("deny bob")
        self.assertEqual(p.wait(), STOPPED, p.text())
        self.assertFalse(self.exists("log"))
        self.assertIn("REFUSED by bob", p.text())

    def test_a_typed_non_member_does_not_count_and_enter_keeps_waiting(self):
        p = self.start_on_pty()
        p.send("mallory")
        self.wait_for(lambda: "mallory is not in a role" in p.text(), timeout=60, what="the non-member to be ignored")
        p.send("")
        p.send("n")
        self.wait_for(lambda: "still waiting" in p.text(), timeout=60, what="`n` to keep waiting")
        self.assertIsNone(p.proc.poll())
        self.assertFalse(self.exists("log"))
        p.send("bob")
        self.assertEqual(p.wait(), OK, p.text())
        self.assertEqual(self.lines("log"), ["changed"])


CONFIRM_RUNBOOK = """\
environment dev { x = 1 }

gate g "Readiness" {
  check "tests" run "true"
  confirm "code review completed"
}

pipeline p {
  gate g
  stage s {
    run "echo changed >> log"
  }
}
"""


class Confirm(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.runbook(CONFIRM_RUNBOOK)

    def test_attest_file_answers_confirm(self):
        self.write("attest.json", json.dumps({"code review completed": "alice"}))
        r = self.run_rb("--attest", "attest.json")
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["changed"])
        [run_id] = self.run_ids()
        confirms = [x for x in self.journal(run_id) if x.get("event") == "confirm"]
        self.assertEqual(len(confirms), 1)
        self.assertEqual(confirms[0].get("by"), "alice")

    def test_without_attest_and_no_tty_stops_with_10(self):
        r = self.run_rb()
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"))
        self.assertIn("--attest", r.stdout + r.stderr)

    def test_attest_file_for_other_text_does_not_count(self):
        self.write("attest.json", json.dumps({"something else": "alice"}))
        r = self.run_rb("--attest", "attest.json")
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"))

    def test_attest_with_empty_name_does_not_count(self):
        self.write("attest.json", json.dumps({"code review completed": ""}))
        r = self.run_rb("--attest", "attest.json")
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"))

    def test_dry_run_without_attest_changes_nothing(self):
        r = self.run_rb("--dry-run")
        self.assertExit(r, OK)
        self.assertFalse(self.exists("log"))


if __name__ == "__main__":
    unittest.main()
