"""Baselines (§12) against a real Prometheus (Debian's `prometheus`, on a
loopback port) scraping a real metrics server whose value the test changes
between before and after: a latency that doubles fails a
`<= baseline.p95 * 1.1` check and the run rolls back; the measured value is
journalled and reused by --resume; a baseline with no data stops the run
before anything changes."""

import shutil
import signal
import subprocess
import sys
import unittest
import urllib.parse
import urllib.request
import json

from e2e_support import OK, ROLLED_BACK, STOPPED, TrixTestCase, free_port

PROMETHEUS = shutil.which("prometheus")

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
        self.assertTrue(PROMETHEUS, "prometheus is not installed: run tools/setup.sh (Debian package prometheus)")
        self.write("latency", "0.2\n")
        self.write("metrics_server.py", METRICS_SERVER)
        mport = free_port()
        ms = subprocess.Popen([sys.executable, str(self.dir / "metrics_server.py"), str(mport), str(self.dir / "latency")])
        self.addCleanup(lambda: (ms.kill(), ms.wait()))
        pport = free_port()
        self.write("prometheus.yml", f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: app
    static_configs:
      - targets: ['127.0.0.1:{mport}']
""")
        (self.dir / "tsdb").mkdir()
        log = open(self.dir / "prometheus.log", "w")
        prom = subprocess.Popen([PROMETHEUS, f"--config.file={self.dir}/prometheus.yml", f"--storage.tsdb.path={self.dir}/tsdb",
                                 f"--web.listen-address=127.0.0.1:{pport}"], stdout=log, stderr=log)
        self.addCleanup(lambda: (prom.terminate(), prom.wait(timeout=20), log.close()))
        self.prom = f"http://127.0.0.1:{pport}"
        self.wait_value(0.2)

    def query(self, q):
        url = f"{self.prom}/api/v1/query?" + urllib.parse.urlencode({"query": q})
        try:
            data = json.load(urllib.request.urlopen(url, timeout=2))
        except Exception:
            return None
        result = data.get("data", {}).get("result", [])
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, v):
        # Prometheus scrapes a new target about 5 s after it starts: poll, never sleep.
        self.wait_for(lambda: self.query("app_latency_p95_seconds") == v, timeout=60, what=f"prometheus to scrape {v}")

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
