"""Secrets (§6): the child gets the value through its environment; the value
never appears in trixc's output, the journal, the saved plan or any other
file under the state directory; a missing secret stops the run (10)."""

import os
import unittest

from e2e_support import OK, ROLLED_BACK, STOPPED, Route, TrixTestCase

SECRET = "s3cr3t-Tok3n-7f2a91"

RUNBOOK = """\
secret tok = env("TOK")

environment dev { x = 1 }

pipeline p {
  stage s {
    use: run "printf %s ${tok} > f; tr '\\\\0' ' ' < /proc/$$/cmdline > cmdline"
    echo: run "echo token=${tok}; echo err-token=${tok} >&2"
    leak: run "echo leaking ${tok}; echo to-stderr ${tok} >&2; exit ${code}"
  }
  rollback {
    run "echo rollback sees ${tok}"
  }
}
param code: int = 0
"""


class Secrets(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.runbook(RUNBOOK)

    def assertNoSecretUnder(self, root):
        found = []
        for dirpath, _dirs, files in os.walk(root):
            for name in files:
                path = os.path.join(dirpath, name)
                with open(path, "rb") as f:
                    if SECRET.encode() in f.read():
                        found.append(os.path.relpath(path, self.dir))
        self.assertEqual(found, [], f"the secret value is written in {found}")

    def test_secret_reaches_the_child_but_no_output_or_state_file(self):
        r = self.run_rb("--param", "code=0", env={"TOK": SECRET})
        self.assertExit(r, OK)
        self.assertEqual(self.read("f"), SECRET, "the child process did not get the secret's value")
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        self.assertIn("***", r.stdout, "echoed secret output should be shown redacted")
        self.assertTrue(self.state.exists())
        self.assertNoSecretUnder(self.state)

    def test_secret_is_not_on_the_command_line(self):
        r = self.run_rb(env={"TOK": SECRET})
        self.assertExit(r, OK)
        cmdline = self.read("cmdline")
        self.assertIn("printf %s", cmdline)
        self.assertNotIn(SECRET, cmdline, "the secret was passed in argv (visible in /proc/PID/cmdline)")

    def test_secret_in_a_failing_steps_output_and_in_rollback(self):
        r = self.run_rb("--param", "code=4", env={"TOK": SECRET})
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.read("f"), SECRET)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        self.assertIn("leaking ***", r.stdout)
        self.assertIn("rollback sees ***", r.stdout)
        self.assertNoSecretUnder(self.state)
        [run_id] = self.run_ids()
        for cmd in (["log", run_id], ["status", run_id], ["status"]):
            out = self.trixc(*cmd, "--state-dir", "st")
            self.assertExit(out, OK)
            self.assertNotIn(SECRET, out.stdout + out.stderr)

    def test_secret_in_json_output_and_metrics(self):
        r = self.run_rb("--param", "code=4", "--output", "json", "--metrics-file", "m.prom", env={"TOK": SECRET})
        self.assertExit(r, ROLLED_BACK)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        self.assertNotIn(SECRET, self.read("m.prom"))
        self.assertNoSecretUnder(self.state)

    def test_saved_plan_and_dry_run_carry_no_secret(self):
        r = self.trixc("plan", "rb.trix", "-o", "plan.json", env={"TOK": SECRET})
        self.assertExit(r, OK)
        self.assertNotIn(SECRET, self.read("plan.json"))
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        r = self.trixc("plan", "rb.trix", "--json", env={"TOK": SECRET})
        self.assertExit(r, OK)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        r = self.trixc("run", "plan.json", "--state-dir", "st", "--dry-run", env={"TOK": SECRET})
        self.assertExit(r, OK)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        self.assertFalse(self.exists("f"))
        r = self.trixc("run", "plan.json", "--state-dir", "st", env={"TOK": SECRET})
        self.assertExit(r, OK)
        self.assertEqual(self.read("f"), SECRET)
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        self.assertNoSecretUnder(self.state)

    def test_missing_secret_env_var_stops_with_10_and_nothing_runs(self):
        r = self.run_rb(drop_env=("TOK",))
        self.assertExit(r, STOPPED)
        self.assertIn("TOK", r.stderr)
        self.assertFalse(self.exists("f"))

    def test_file_secret(self):
        self.write("secret.txt", SECRET + "\n")
        self.runbook(RUNBOOK.replace('env("TOK")', 'file("secret.txt")'))
        r = self.run_rb("--param", "code=4")
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.read("f"), SECRET, "a file secret's trailing newline should be dropped")
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        self.assertNoSecretUnder(self.state)

    def test_missing_secret_file_stops_with_10(self):
        self.runbook(RUNBOOK.replace('env("TOK")', 'file("no-such-secret.txt")'))
        r = self.run_rb()
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("f"))


HTTP_RUNBOOK = """\
secret tok = env("TOK")
param port: int = 1
environment dev { x = 1 }
gate g {
  check "header" http GET "http://127.0.0.1:${port}/h" { headers = { Authorization = "Bearer ${tok}" } }
  check "path" http GET "http://127.0.0.1:${port}/x/${tok}/y"
}
pipeline p {
  gate g
  stage s {
    run "printf %s \\"$MYTOK\\" > f2" { env = { MYTOK = tok } }
    run "printf %s \\"$MYTOK2\\" > f3" { env = { MYTOK2 = "pre-${tok}" } }
  }
}
"""


class SecretsInRequestsAndEnv(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.http_server({"/h": Route(200, {}), f"/x/{SECRET}/y": Route(200, {})})
        self.runbook(HTTP_RUNBOOK)

    def assertNoSecretAnywhere(self, r):
        self.assertNotIn(SECRET, r.stdout + r.stderr)
        for path in self.state.rglob("*"):
            if path.is_file():
                self.assertNotIn(SECRET.encode(), path.read_bytes(), f"secret written in {path}")

    def test_secret_in_header_path_and_env_option(self):
        r = self.run_rb("--param", f"port={self.server.port}", env={"TOK": SECRET})
        self.assertExit(r, OK)
        auth = [{k.lower(): v for k, v in h.items()}.get("authorization") for (_m, p, _b, h) in self.server.requests if p == "/h"]
        self.assertEqual(auth, [f"Bearer {SECRET}"])
        self.assertEqual(self.read("f2"), SECRET)
        self.assertEqual(self.read("f3"), "pre-" + SECRET)
        self.assertNoSecretAnywhere(r)

    def test_secret_in_a_failing_probes_url_is_redacted(self):
        del self.server.routes[f"/x/{SECRET}/y"]  # now a 404: the check fails and prints its URL
        r = self.run_rb("--param", f"port={self.server.port}", env={"TOK": SECRET})
        self.assertExit(r, STOPPED)
        self.assertIn("/x/***/y", r.stdout)
        self.assertNoSecretAnywhere(r)
        self.assertFalse(self.exists("f2"))

    def test_plan_with_secret_in_env_option_has_no_value(self):
        r = self.trixc("plan", "rb.trix", "--json", env={"TOK": SECRET})
        self.assertExit(r, OK)
        self.assertNotIn(SECRET, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
