"""Baselines (§12) against a real Prometheus (Debian's `prometheus`, on a
loopback port) scraping a real metrics server whose value the test changes
between before and after: a latency that doubles fails a
`<= baseline.p95 * 1.1` check and the run rolls back; the measured value is
journalled and reused by --resume; a baseline with no data stops the run
before anything changes."""

import signal
import subprocess
import sys
import unittest

from e2e_support import OK, ROLLED_BACK, STOPPED, RealPrometheus, TrixTestCase, free_port

METRICS_SERVER = r'''
import http.server, sys
path = sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        value = open(path).read().strip()
        body = ("# TYPE app_latency_p95_seconds gauge\napp_latency_p95_seconds " + value + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
'''

RUNBOOK = """\
environment dev {{ prometheus = "{prom}" }}

pipeline release {{
  baseline p95 = prometheus "{query}"
  stage deploy {{
    run "touch deployed; test -f go || sleep 30; cat after > latency"
    undo {{ run "echo undone >> log" }}
    wait 3s
  }}
  verify {{
    check "p95 no worse than 10% over before" prometheus "app_latency_p95_seconds" expect value <= baseline.p95 * 1.1
  }}
}}
"""


class Baselines(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.write("latency", "0.2\n")
        self.write("metrics_server.py", METRICS_SERVER)
        mport = free_port()
        ms = subprocess.Popen([sys.executable, str(self.dir / "metrics_server.py"), str(mport), str(self.dir / "latency")])
        self.addCleanup(lambda: (ms.kill(), ms.wait()))
        prometheus = RealPrometheus(self.dir / "prometheus", targets=[f"127.0.0.1:{mport}"])
        self.addCleanup(prometheus.close)
        self.prom = prometheus.url
        self.query = prometheus.query
        self.wait_value = lambda v: prometheus.wait_value("app_latency_p95_seconds", v)
        self.wait_value(0.2)

    def rb(self, after, query="app_latency_p95_seconds"):
        self.runbook(RUNBOOK.format(prom=self.prom, query=query))
        self.write("after", after + "\n")
        self.write("go", "")

    def test_a_latency_that_doubles_fails_the_check_and_rolls_back(self):
        self.rb("0.4")
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertIn("[baseline p95] measured 0.2", r.stdout)
        self.assertIn('FAILED "p95 no worse than 10% over before": value 0.4', r.stdout)
        self.assertEqual(self.lines("log"), ["undone"])
        [run_id] = self.run_ids()
        self.assertIn({"name": "p95", "value": 0.2}, [{"name": x["name"], "value": x["value"]} for x in self.journal(run_id) if x.get("event") == "baseline"])

    def test_a_latency_within_ten_percent_passes(self):
        self.rb("0.21")
        r = self.run_rb()
        self.assertExit(r, OK)

    def test_resume_reuses_the_journalled_baseline(self):
        self.rb("0.2")
        (self.dir / "go").unlink()
        p = self.start_rb()
        self.wait_for(lambda: self.exists("deployed"), timeout=30, what="the deploy step", proc=p)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        [run_id] = self.run_ids()
        # The system changed meanwhile: measured again, the baseline would be 1.0 and 1.0 would pass.
        self.write("latency", "1.0\n")
        self.wait_value(1.0)
        self.write("after", "1.0\n")
        self.write("go", "")
        r = self.trixc("run", "--resume", run_id, "--state-dir", "st", "--retry-in-doubt", timeout=60)
        self.assertExit(r, ROLLED_BACK)
        self.assertNotIn("[baseline p95] measured", r.stdout)
        self.assertIn("value 1", r.stdout)

    def test_a_baseline_without_data_stops_before_anything_changes(self):
        self.rb("0.4", query="app_metric_nobody_writes")
        r = self.run_rb()
        self.assertExit(r, STOPPED)
        self.assertIn("baseline `p95` could not be measured (no data)", r.stdout)
        self.assertFalse(self.exists("deployed"))


if __name__ == "__main__":
    unittest.main()
