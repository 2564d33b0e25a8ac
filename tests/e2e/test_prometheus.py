"""`prometheus` probes against a real Prometheus (the Debian binary, started
here on a loopback port) scraping a real HTTP server that serves metrics.

The whole class shares one Prometheus (its first scrape comes a few seconds
after start); the served values are changed by the tests. Fails when the
`prometheus` binary is not installed (tools/setup.sh installs it)."""

import shutil
import tempfile
import time
import unittest
from pathlib import Path

from e2e_support import OK, ROLLED_BACK, STOPPED, LocalHttpServer, RealPrometheus, Route, TrixTestCase


def metrics_text(errors, ready):
    return (f"# TYPE app_errors_ratio gauge\napp_errors_ratio {errors}\n"
            f"# TYPE app_ready gauge\napp_ready {ready}\n")


class RealPrometheusProbes(TrixTestCase):
    @classmethod
    def setUpClass(cls):
        cls.pdir = Path(tempfile.mkdtemp(prefix="trix-prom-"))
        cls.route = Route(200, metrics_text(0.002, 0), content_type="text/plain; version=0.0.4")
        cls.app = LocalHttpServer({"/metrics": cls.route})
        try:
            cls.prometheus = RealPrometheus(cls.pdir, targets=[f"127.0.0.1:{cls.app.port}"])
            cls.prometheus.wait_value("app_ready", 0, timeout=90)
        except BaseException:
            cls.app.close()
            raise
        cls.prom_url = cls.prometheus.url
        cls.query = cls.prometheus.query

    @classmethod
    def tearDownClass(cls):
        cls.prometheus.close()
        cls.app.close()
        shutil.rmtree(cls.pdir, ignore_errors=True)

    def serve(self, errors, ready):
        """Changes what the app serves and waits until Prometheus has it."""
        self.route.body = metrics_text(errors, ready)
        self.wait_for(lambda: self.query("app_errors_ratio") == errors and self.query("app_ready") == ready,
                      timeout=30, what="Prometheus to scrape the new values")

    def setUp(self):
        super().setUp()
        self.serve(0.002, 0)

    def runbook_with(self, body):
        self.runbook(f'environment dev {{ prometheus = "{self.prom_url}" }}\n' + body)

    def test_gate_passes_on_a_real_value_and_verify_failure_rolls_back(self):
        self.runbook_with("""
gate health "Health" {
  check "errors low" prometheus "app_errors_ratio" expect value < 0.01
}
pipeline p {
  gate health
  stage s {
    run "echo changed >> log"
    undo { run "echo undone >> log" }
  }
  verify {
    check "errors very low" prometheus "app_errors_ratio" expect value < 0.001
  }
}
""")
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertRegex(r.stdout, r'ok "errors low": .*0\.002')
        self.assertIn('FAILED "errors very low"', r.stdout)
        self.assertEqual(self.lines("log"), ["changed", "undone"])

    def test_gate_fails_on_a_real_value_and_nothing_changes(self):
        self.serve(0.05, 0)
        self.runbook_with("""
gate health "Health" {
  check "errors low" prometheus "app_errors_ratio" expect value < 0.01
}
pipeline p {
  gate health
  stage s { run "echo changed >> log" }
}
""")
        r = self.run_rb()
        self.assertExit(r, STOPPED)
        self.assertIn('FAILED "errors low"', r.stdout)
        self.assertFalse(self.exists("log"))

    def test_a_query_without_data_fails_closed(self):
        self.runbook_with("""
gate health "Health" {
  check "no such series" prometheus "app_not_exported_anywhere" expect value < 1
}
pipeline p {
  gate health
  stage s { run "echo changed >> log" }
}
""")
        r = self.run_rb()
        self.assertExit(r, STOPPED)
        self.assertIn('FAILED "no such series"', r.stdout)
        self.assertIn("no data", r.stdout)
        self.assertFalse(self.exists("log"))

    def test_wait_until_polls_prometheus_until_the_value_turns(self):
        self.runbook_with("""
pipeline p {
  stage s {
    run "echo before >> log"
    wait until prometheus "app_ready" { timeout = 60s, interval = 1s } expect value == 1
    run "echo after >> log"
  }
}
""")
        p = self.start_rb()
        def polling():
            ids = self.run_ids()  # the run's directory exists a moment before its journal
            return ids and (self.state / "runs" / ids[0] / "journal.jsonl").exists() and any(r.get("event") == "start" and r.get("op") == "wait_until" for r in self.journal(ids[0]))
        self.wait_for(polling, timeout=30, what="the journal to show the wait started", proc=p)
        time.sleep(1.5)  # a few polls see 0
        self.assertIsNone(p.poll(), "the wait passed while app_ready was 0")
        self.assertEqual(self.lines("log"), ["before"])
        self.route.body = metrics_text(0.002, 1)
        res = self.finish(p, timeout=60)
        self.assertExit(res, OK)
        self.assertEqual(self.lines("log"), ["before", "after"])
        self.assertIn("ready:", res[1])

    def test_wait_until_times_out_and_rolls_back(self):
        self.runbook_with("""
pipeline p {
  stage s {
    run "echo changed >> log"
    undo { run "echo undone >> log" }
    wait until prometheus "app_ready" { timeout = 3s, interval = 1s } expect value == 1
  }
}
""")
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertIn("not ready after 3s", r.stdout)
        self.assertEqual(self.lines("log"), ["changed", "undone"])


if __name__ == "__main__":
    unittest.main()
