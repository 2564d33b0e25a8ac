"""One run per pipeline and environment at a time (the lock), and the
Prometheus metrics file of §11 (`--metrics-file`)."""

import re
import unittest

from e2e_support import OK, ROLLED_BACK, ROLLBACK_FAILED, STOPPED, Route, TrixTestCase, free_port

LOCK_RUNBOOK = """\
environment dev { x = 1 }
environment prod { x = 2 }

pipeline p {
  stage s {
    run "echo start-${env.name} >> log; while [ ! -f go ]; do sleep 0.02; done; echo end-${env.name} >> log"
  }
}

pipeline q {
  stage s {
    run "echo q-${env.name} >> log"
  }
}
"""


class Lock(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.runbook(LOCK_RUNBOOK)

    def hold_lock(self):
        p = self.start_rb("--pipeline", "p", "--env", "dev")
        self.wait_for(lambda: "start-dev" in self.lines("log"), timeout=10, what="the first run to start its step", proc=p)
        return p

    def test_second_run_of_same_pipeline_and_env_exits_10_naming_the_holder(self):
        first = self.hold_lock()
        r = self.run_rb("--pipeline", "p", "--env", "dev")
        self.assertExit(r, STOPPED)
        self.assertIn(str(first.pid), r.stdout + r.stderr, "the message does not name the process holding the lock")
        self.assertEqual(self.lines("log"), ["start-dev"], "the second run ran a step")
        self.write("go", "")
        self.assertExit(self.finish(first), OK)
        self.assertEqual(self.lines("log"), ["start-dev", "end-dev"])
        # the lock is released: the next run goes ahead
        self.assertExit(self.run_rb("--pipeline", "p", "--env", "dev"), OK)

    def test_other_environment_and_other_pipeline_are_not_blocked(self):
        first = self.hold_lock()
        self.write("go", "")  # the prod run should not wait for the dev run's lock
        self.assertExit(self.run_rb("--pipeline", "p", "--env", "prod"), OK)
        self.assertExit(self.run_rb("--pipeline", "q", "--env", "dev"), OK)
        self.assertExit(self.finish(first), OK)
        self.assertIn("start-prod", self.lines("log"))
        self.assertIn("q-dev", self.lines("log"))

    def test_resume_of_a_run_that_is_still_running_is_refused(self):
        first = self.hold_lock()
        [run_id] = self.run_ids()
        r = self.trixc("run", "--resume", run_id, "--state-dir", "st")
        self.assertExit(r, STOPPED)
        self.assertEqual(self.lines("log"), ["start-dev"])
        self.write("go", "")
        self.assertExit(self.finish(first), OK)
        self.assertEqual(self.lines("log"), ["start-dev", "end-dev"])

    def test_lock_of_a_killed_run_is_taken_over(self):
        first = self.hold_lock()
        first.kill()
        first.wait()
        self.write("go", "")
        self.assertExit(self.run_rb("--pipeline", "p", "--env", "dev"), OK)

    def test_refused_run_leaves_no_broken_entry(self):
        first = self.hold_lock()
        self.assertExit(self.run_rb("--pipeline", "p", "--env", "dev"), STOPPED)
        st = self.status()
        self.assertNotIn("unreadable", st.stdout)
        self.assertEqual(len(st.stdout.strip().splitlines()), 1, st.stdout)
        self.write("go", "")
        self.finish(first)


METRICS_RUNBOOK = """\
param mode: string = "ok"
environment dev { x = 1 }

gate g { check "gate" run "test ${mode} != gate" }

pipeline rel {
  gate g
  stage s {
    run "echo a >> log"
    undo { run "test ${mode} != undo" }
    run "test ${mode} != step && test ${mode} != undo"
  }
}
"""


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)$', line)
        assert m, f"not a Prometheus text line: {line!r}"
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out.setdefault(m.group(1), []).append((labels, float(m.group(4))))
    return out


class Metrics(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.runbook(METRICS_RUNBOOK)

    def run_with_metrics(self, mode, code):
        r = self.run_rb("--param", f"mode={mode}", "--metrics-file", "metrics.prom")
        self.assertExit(r, code)
        metrics = parse_metrics(self.read("metrics.prom"))
        totals = {labels["status"]: v for labels, v in metrics["trix_deployments_total"]}
        for labels, _v in metrics["trix_deployments_total"]:
            self.assertEqual(labels["pipeline"], "rel")
            self.assertEqual(labels["environment"], "dev")
        self.assertIn("trix_deployment_duration_seconds", metrics)
        self.assertIn("trix_rollbacks_total", metrics)
        return totals, metrics

    def test_success(self):
        totals, metrics = self.run_with_metrics("ok", OK)
        self.assertEqual(totals.get("succeeded"), 1)
        self.assertEqual(sum(totals.values()), 1)
        self.assertEqual(metrics["trix_rollbacks_total"][0][1], 0)

    def test_stopped(self):
        totals, _ = self.run_with_metrics("gate", STOPPED)
        self.assertEqual(totals.get("stopped"), 1)
        self.assertEqual(sum(totals.values()), 1)

    def test_rolled_back(self):
        totals, metrics = self.run_with_metrics("step", ROLLED_BACK)
        self.assertEqual(totals.get("rolled_back"), 1)
        self.assertEqual(sum(totals.values()), 1)
        self.assertEqual(metrics["trix_rollbacks_total"][0][1], 1)

    def test_rollback_failed(self):
        totals, _ = self.run_with_metrics("undo", ROLLBACK_FAILED)
        self.assertEqual(totals.get("rollback_failed"), 1)
        self.assertEqual(sum(totals.values()), 1)

    def test_counters_accumulate_across_runs(self):
        self.run_with_metrics("ok", OK)
        totals, _ = self.run_with_metrics("ok", OK)
        self.assertEqual(totals.get("succeeded"), 2)


class Pushgateway(TrixTestCase):
    """--pushgateway URL: the same metrics text, PUT to a real HTTP server."""

    PATH = "/metrics/job/trix/pipeline/rel/environment/dev"

    def setUp(self):
        super().setUp()
        self.runbook(METRICS_RUNBOOK)

    def test_metrics_are_pushed_to_the_grouping_key_path(self):
        gw = self.http_server({self.PATH: Route(200, "")})
        r = self.run_rb("--param", "mode=step", "--pushgateway", gw.url + "/", "--metrics-file", "metrics.prom")
        self.assertExit(r, ROLLED_BACK)
        pushes = [(m, p, b, h) for (m, p, b, h) in gw.requests if p == self.PATH]
        self.assertEqual(len(pushes), 1, gw.requests)
        method, _path, body, headers = pushes[0]
        self.assertEqual(method, "PUT")
        self.assertTrue(headers.get("Content-Type", "").startswith("text/plain"))
        # The body is exactly what --metrics-file got.
        self.assertEqual(body, self.read("metrics.prom"))
        metrics = parse_metrics(body)
        totals = {labels["status"]: v for labels, v in metrics["trix_deployments_total"]}
        self.assertEqual(totals["rolled_back"], 1)
        self.assertEqual(metrics["trix_rollbacks_total"][0][1], 1)
        self.assertIn("pushed to", r.stdout)

    def test_a_failed_push_is_a_warning_not_a_failure(self):
        gw = self.http_server({})  # every path answers 404
        r = self.run_rb("--param", "mode=ok", "--pushgateway", gw.url)
        self.assertExit(r, OK)
        self.assertEqual(gw.paths("PUT"), [self.PATH])
        self.assertIn("warning: could not push the metrics", r.stdout)
        self.assertIn("HTTP 404", r.stdout)

    def test_an_unreachable_pushgateway_does_not_change_the_exit_code(self):
        r = self.run_rb("--param", "mode=gate", "--pushgateway", f"http://127.0.0.1:{free_port()}")
        self.assertExit(r, STOPPED)
        self.assertIn("warning: could not push the metrics", r.stdout)


if __name__ == "__main__":
    unittest.main()
