"""`trixc plan` and saved plans: plan -> run, stale plans are refused, no
secret values in the plan, `--dry-run` prints and changes nothing."""

import json
import unittest

from e2e_support import ERRORS, OK, USAGE, TrixTestCase

SECRET = "pl4n-s3cret-value-0042"

RUNBOOK = """\
runbook demo "Demo"
param msg: string = "default message"
param count: int = 1
secret tok = env("TOK")

environment dev { greeting = "hello-dev" }
environment prod { greeting = "hello-prod" }

gate g {
  check "ready" run "test -n ${env.greeting}"
}

pipeline p {
  gate g
  stage s {
    a: run "echo ${env.greeting} ${msg} ${count} >> log"
    undo { run "echo undo >> log" }
    b: run "printf %s ${tok} > tokfile"
  }
  verify { check "log written" run "test -s log" }
}
"""


class SavedPlan(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.runbook(RUNBOOK)
        self.env = {"TOK": SECRET}

    def make_plan(self, *extra):
        r = self.trixc("plan", "rb.trix", "--env", "dev", "-o", "plan.json", *extra, env=self.env)
        self.assertExit(r, OK)
        return r

    def test_plan_then_run_the_saved_plan(self):
        r = self.make_plan("--param", "msg=from plan", "--param", "count=7")
        self.assertIn("Saved to plan.json", r.stdout)
        self.assertFalse(self.exists("log"), "`trixc plan` ran something")
        doc = json.loads(self.read("plan.json"))
        self.assertEqual(doc["format"], "trix-plan/1")
        self.assertEqual(doc["environment"], "dev")
        self.assertEqual(doc["pipeline"], "p")
        self.assertRegex(doc["plan_sha256"], r"^[0-9a-f]{64}$")
        self.assertTrue(any(s["path"].endswith("rb.trix") and len(s["sha256"]) == 64 for s in doc["sources"]))
        r = self.trixc("run", "plan.json", "--state-dir", "st", env=self.env)
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["hello-dev from plan 7"])
        self.assertEqual(self.read("tokfile"), SECRET)
        [run_id] = self.run_ids()
        start = [x for x in self.journal(run_id) if x.get("event") == "run_start"][0]
        self.assertEqual(start["plan_sha256"], doc["plan_sha256"])

    def test_plan_carries_no_secret_value(self):
        self.make_plan()
        text = self.read("plan.json")
        self.assertNotIn(SECRET, text)
        doc = json.loads(text)
        self.assertEqual(doc["secrets"]["tok"]["from"], "env")
        self.assertEqual(doc["secrets"]["tok"]["ref"], "TOK")
        r = self.trixc("plan", "rb.trix", "--env", "dev", "--json", env=self.env)
        self.assertExit(r, OK)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        self.assertEqual(json.loads(r.stdout)["plan_sha256"], doc["plan_sha256"], "plan is not deterministic")

    def test_editing_the_runbook_makes_the_saved_plan_stale(self):
        self.make_plan()
        self.runbook(RUNBOOK.replace('"default message"', '"edited message"'))
        r = self.trixc("run", "plan.json", "--state-dir", "st", env=self.env)
        self.assertExit(r, ERRORS)
        self.assertIn("stale", r.stderr)
        self.assertFalse(self.exists("log"))
        self.assertEqual(self.run_ids(), [])

    def test_whitespace_edit_also_makes_the_plan_stale(self):
        self.make_plan()
        self.runbook(RUNBOOK + "\n# a comment\n")
        r = self.trixc("run", "plan.json", "--state-dir", "st", env=self.env)
        self.assertExit(r, ERRORS)
        self.assertFalse(self.exists("log"))

    def test_editing_the_plan_file_is_refused(self):
        self.make_plan()
        doc = json.loads(self.read("plan.json"))
        doc["params"]["msg"] = "tampered"
        text = json.dumps(doc).replace("default message", "tampered")
        self.write("plan.json", text)
        r = self.trixc("run", "plan.json", "--state-dir", "st", env=self.env)
        self.assertExit(r, ERRORS)
        self.assertIn("stale", r.stderr)
        self.assertFalse(self.exists("log"))

    def test_deleted_runbook_makes_the_plan_stale(self):
        self.make_plan()
        (self.dir / "rb.trix").unlink()
        r = self.trixc("run", "plan.json", "--state-dir", "st", env=self.env)
        self.assertExit(r, ERRORS)
        self.assertFalse(self.exists("log"))

    def test_plan_for_another_environment(self):
        self.assertExit(self.trixc("plan", "rb.trix", "--env", "prod", "-o", "prod.json", env=self.env), OK)
        self.assertExit(self.trixc("run", "prod.json", "--state-dir", "st", env=self.env), OK)
        self.assertEqual(self.lines("log"), ["hello-prod default message 1"])

    def test_params_given_with_a_saved_plan_are_refused(self):
        self.make_plan()
        r = self.trixc("run", "plan.json", "--state-dir", "st", "--param", "msg=other", env=self.env)
        self.assertExit(r, USAGE)
        self.assertFalse(self.exists("log"))

    def test_plan_errors(self):
        self.assertExit(self.trixc("plan", "rb.trix", "--env", "nowhere"), USAGE)
        self.assertExit(self.trixc("plan", "rb.trix", "--env", "dev", "--param", "count=many"), USAGE)
        self.assertExit(self.trixc("plan", "missing.trix", "--env", "dev"), USAGE)
        self.runbook(RUNBOOK.replace("gate g\n", "gate nope\n"))
        self.assertExit(self.trixc("plan", "rb.trix", "--env", "dev", "-o", "plan.json"), ERRORS)
        self.assertFalse(self.exists("plan.json"))


class EnvDefaults(TrixTestCase):
    """A parameter whose default reads env("VAR") takes the variable's value at
    plan time; an unset variable is a usage error, not an empty value."""
    RB = """\
param tag: string = env("TRIX_TEST_TAG")
environment dev { x = 1 }
pipeline p {
  stage s { run "echo app:${tag} >> log" }
}
"""

    def test_the_default_reads_the_environment(self):
        self.runbook(self.RB)
        r = self.run_rb(env={"TRIX_TEST_TAG": "v1.2"})
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["app:v1.2"])

    def test_an_unset_variable_is_refused_and_nothing_runs(self):
        self.runbook(self.RB)
        r = self.run_rb(drop_env=("TRIX_TEST_TAG",))
        self.assertExit(r, USAGE)
        self.assertIn("TRIX_TEST_TAG", r.stderr)
        self.assertIn("--param tag=", r.stderr)
        self.assertFalse(self.exists("log"))
        r = self.trixc("plan", "rb.trix", drop_env=("TRIX_TEST_TAG",))
        self.assertExit(r, USAGE)
        # Given explicitly, the variable is not needed.
        r = self.run_rb("--param", "tag=v2", drop_env=("TRIX_TEST_TAG",))
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["app:v2"])
        # Set but empty is a value (the user chose it).
        r = self.run_rb(env={"TRIX_TEST_TAG": ""})
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["app:v2", "app:"])


class DryRun(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.runbook(RUNBOOK)
        self.env = {"TOK": SECRET}

    def test_dry_run_prints_commands_with_values_and_changes_nothing(self):
        r = self.run_rb("--env", "dev", "--param", "msg=dry", "--param", "count=3", "--dry-run", env=self.env)
        self.assertExit(r, OK)
        self.assertIn("echo hello-dev dry 3 >> log", r.stdout)
        self.assertIn("test -n hello-dev", r.stdout)
        self.assertIn("printf %s", r.stdout)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        self.assertFalse(self.exists("log"))
        self.assertFalse(self.exists("tokfile"))

    def test_dry_run_quotes_values_as_they_would_run(self):
        r = self.run_rb("--env", "dev", "--param", "msg=two words; rm -rf x", "--dry-run", env=self.env)
        self.assertExit(r, OK)
        self.assertIn("echo hello-dev 'two words; rm -rf x' 1 >> log", r.stdout)
        self.assertFalse(self.exists("log"))

    def test_dry_run_of_a_saved_plan(self):
        self.assertExit(self.trixc("plan", "rb.trix", "--env", "dev", "-o", "plan.json", env=self.env), OK)
        r = self.trixc("run", "plan.json", "--state-dir", "st", "--dry-run", env=self.env)
        self.assertExit(r, OK)
        self.assertIn("echo hello-dev 'default message' 1 >> log", r.stdout)
        self.assertFalse(self.exists("log"))

    def test_dry_run_leaves_no_run_in_the_state_dir(self):
        r = self.run_rb("--env", "dev", "--dry-run", env=self.env)
        self.assertExit(r, OK)
        st = self.status()
        self.assertExit(st, OK)
        self.assertNotIn("unreadable", st.stdout)
        self.assertEqual(st.stdout.strip(), "no runs")


if __name__ == "__main__":
    unittest.main()
