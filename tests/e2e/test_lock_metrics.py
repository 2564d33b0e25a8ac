"""One run per pipeline and environment at a time (the lock), and the
Prometheus metrics file of §11 (`--metrics-file`)."""

import json
import re
import shutil
import signal
import subprocess
import time
import unittest

from e2e_support import INTERRUPTED, OK, ROLLED_BACK, ROLLBACK_FAILED, STOPPED, Route, TrixTestCase, free_port

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


def status_of(metrics):
    """The status whose trix_deployment_status sample is 1 (and every other 0)."""
    ones = [labels["status"] for labels, v in metrics["trix_deployment_status"] if v == 1]
    zeros = [labels["status"] for labels, v in metrics["trix_deployment_status"] if v == 0]
    assert len(ones) == 1 and len(ones) + len(zeros) == 4, metrics["trix_deployment_status"]
    return ones[0]


def promtool_lint(test, text):
    """`promtool check metrics` (Debian's prometheus package), when it is installed."""
    if not shutil.which("promtool"):
        return
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    test.assertEqual(r.returncode, 0, f"promtool check metrics:\n{r.stdout}{r.stderr}\n{text}")


def stuck_alerts_fired(test, metrics):
    """Runs the TrixDeploymentStuck rule of `trixc emit prometheus` with
    `promtool test rules` over these metrics (each sample a constant series;
    promtool's clock starts at 0, so the start time is moved to 0) and
    returns whether the alert fires 31 minutes later; None without promtool."""
    if not shutil.which("promtool"):
        return None
    test.assertExit(test.trixc("emit", "prometheus", "rb.trix", "-o", "rules.yml"), OK)
    series = []
    for name, samples in metrics.items():
        for labels, value in samples:
            if name == "trix_deployment_start_time":
                value = 0
            sel = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
            series.append({"series": f"{name}{{{sel}}}", "values": f"{value:g}x40"})
    fired = {"alertname": "TrixDeploymentStuck", "eval_time": "31m", "exp_alerts": [{
        "exp_labels": {"pipeline": "rel", "environment": "dev", "severity": "warning", "runbook": "trix"},
        "exp_annotations": {"summary": "Deployment stuck",
                            "description": "A run of rel on dev started over 30 minutes ago and has not finished."}}]}
    spec = {"rule_files": ["rules.yml"], "evaluation_interval": "1m",
            "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": [fired]}]}
    test.write("stuck_test.yml", json.dumps(spec))
    r = subprocess.run(["promtool", "test", "rules", "stuck_test.yml"], cwd=test.dir, capture_output=True, text=True, timeout=60)
    return r.returncode == 0


APPROVAL_METRICS_RUNBOOK = """\
role ops = ["alice"]
approval release { require ops  timeout = 60s }
environment dev { x = 1 }
pipeline rel {
  approve release
  stage s { run "echo a >> log" }
}
"""


class MetricsWhileRunning(TrixTestCase):
    """trix_deployment_start_time is published when a run starts, so the
    TrixDeploymentStuck alert (`trixc emit prometheus`) can see a run that
    does not end: start time, status running, no duration yet."""

    def setUp(self):
        super().setUp()
        self.runbook(APPROVAL_METRICS_RUNBOOK)

    def start_waiting(self, *args):
        p = self.start_rb("--as", "carol", "--metrics-file", "metrics.prom", *args)
        self.wait_for(lambda: "waiting for approval" in self.status().stdout, timeout=10, what="the run to wait", proc=p)
        [run_id] = [r for r in self.run_ids() if "waiting for approval" in self.status(r).stdout]
        return p, run_id

    def test_start_time_and_running_status_are_published_before_the_end(self):
        # A finished run first: its duration and counters are what the next run starts from.
        self.write("rb2.trix", APPROVAL_METRICS_RUNBOOK.replace("approve release\n", ""))
        self.assertExit(self.run_rb("--metrics-file", "metrics.prom", rb="rb2.trix"), OK)
        before = parse_metrics(self.read("metrics.prom"))
        self.assertIn("trix_deployment_duration_seconds", before)

        t0 = time.time()
        p, run_id = self.start_waiting()
        text = self.read("metrics.prom")
        promtool_lint(self, text)
        during = parse_metrics(text)
        [(labels, start)] = during["trix_deployment_start_time"]
        self.assertEqual(labels, {"pipeline": "rel", "environment": "dev"})
        self.assertLessEqual(start, time.time())
        self.assertGreaterEqual(start, int(t0) - 1)
        # No duration for this pipeline and environment until the run ends.
        self.assertNotIn("trix_deployment_duration_seconds", during)
        self.assertEqual(status_of(during), "running")
        # The counters are carried over, not counted yet.
        self.assertEqual(during["trix_deployments_total"], before["trix_deployments_total"])
        self.assertEqual(during["trix_rollbacks_total"], before["trix_rollbacks_total"])
        # What the file says now is what the standard alert needs to see a stuck run.
        self.assertIn(stuck_alerts_fired(self, during), (True, None))

        time.sleep(1.1)  # so a start time computed back from the end would differ
        self.assertExit(self.trixc("approve", run_id, "--as", "alice", "--state-dir", "st"), OK)
        self.assertExit(self.finish(p), OK)
        text = self.read("metrics.prom")
        promtool_lint(self, text)
        after = parse_metrics(text)
        self.assertEqual(after["trix_deployment_start_time"], during["trix_deployment_start_time"])
        [(_labels, duration)] = after["trix_deployment_duration_seconds"]
        self.assertGreaterEqual(duration, 1.0)
        self.assertEqual(status_of(after), "succeeded")
        totals = {labels["status"]: v for labels, v in after["trix_deployments_total"]}
        self.assertEqual(totals["succeeded"], 2)
        self.assertEqual(sum(totals.values()), 2)
        self.assertIn(stuck_alerts_fired(self, after), (False, None))

    def test_a_run_interrupted_before_any_change_stands_as_stopped_not_failed(self):
        p, _run_id = self.start_waiting()
        p.send_signal(signal.SIGINT)
        self.assertExit(self.finish(p), INTERRUPTED)
        text = self.read("metrics.prom")
        promtool_lint(self, text)
        after = parse_metrics(text)
        self.assertEqual(status_of(after), "stopped")  # TrixDeploymentFailed stays quiet
        totals = {labels["status"]: v for labels, v in after["trix_deployments_total"]}
        self.assertEqual(totals["interrupted"], 1)
        self.assertEqual(sum(totals.values()), 1)

    def test_a_resumed_run_keeps_its_first_start_time(self):
        p, run_id = self.start_waiting()
        first = parse_metrics(self.read("metrics.prom"))["trix_deployment_start_time"]
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        time.sleep(1.1)  # a new start time would be a later second
        q = self.start("run", "--resume", run_id, "--state-dir", "st", "--metrics-file", "metrics.prom")
        self.wait_for(lambda: "waiting for approval" in self.output_of(q), timeout=10, what="the resumed run to wait", proc=q)
        during = parse_metrics(self.read("metrics.prom"))
        self.assertEqual(status_of(during), "running")
        self.assertEqual(during["trix_deployment_start_time"], first)
        self.assertExit(self.trixc("approve", run_id, "--as", "alice", "--state-dir", "st"), OK)
        self.assertExit(self.finish(q), OK)
        after = parse_metrics(self.read("metrics.prom"))
        self.assertEqual(after["trix_deployment_start_time"], first)
        [(_labels, duration)] = after["trix_deployment_duration_seconds"]
        self.assertGreaterEqual(duration, 1.0, "the duration of a resumed run counts from its first start")
        self.assertEqual(status_of(after), "succeeded")


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


class SharedMetricsFile(TrixTestCase):
    """Several pipelines and environments may write one --metrics-file (one
    node_exporter textfile): each run replaces only its own series."""

    RB = """\
environment dev { x = 1 }
environment prod { x = 2 }
pipeline api { stage s { run "true" undo { run "true" } } }
pipeline web { stage s { run "test ! -e fail" undo { run "true" } } }
"""

    def test_each_run_keeps_the_other_pipelines_series(self):
        self.runbook(self.RB)
        self.assertExit(self.run_rb("--pipeline", "api", "--env", "dev", "--metrics-file", "m.prom"), OK)
        self.write("fail", "")
        self.assertExit(self.run_rb("--pipeline", "web", "--env", "dev", "--metrics-file", "m.prom"), ROLLED_BACK)
        self.assertExit(self.run_rb("--pipeline", "api", "--env", "prod", "--metrics-file", "m.prom"), OK)
        self.assertExit(self.run_rb("--pipeline", "api", "--env", "dev", "--metrics-file", "m.prom"), OK)
        text = self.read("m.prom")
        promtool_lint(self, text)
        # One HELP/TYPE header per family, whoever wrote its samples.
        for family in ("trix_deployments_total", "trix_deployment_status", "trix_deployment_start_time"):
            self.assertEqual(text.count(f"# TYPE {family} "), 1, text)
        metrics = parse_metrics(text)
        totals = {}
        for labels, v in metrics["trix_deployments_total"]:
            totals[(labels["pipeline"], labels["environment"], labels["status"])] = v
        self.assertEqual(totals[("api", "dev", "succeeded")], 2)
        self.assertEqual(totals[("web", "dev", "rolled_back")], 1)
        self.assertEqual(totals[("api", "prod", "succeeded")], 1)
        self.assertEqual(sum(totals.values()), 4)
        rollbacks = {(l["pipeline"], l["environment"]): v for l, v in metrics["trix_rollbacks_total"]}
        self.assertEqual(rollbacks, {("api", "dev"): 0, ("web", "dev"): 1, ("api", "prod"): 0})
        status = {(l["pipeline"], l["environment"]) for l, v in metrics["trix_deployment_status"] if v == 1}
        self.assertEqual(len(metrics["trix_deployment_status"]), 12)
        failed = [l for l, v in metrics["trix_deployment_status"] if v == 1 and l["status"] == "failed"]
        self.assertEqual([(l["pipeline"], l["environment"]) for l in failed], [("web", "dev")])
        self.assertEqual(status, {("api", "dev"), ("web", "dev"), ("api", "prod")})
        durations = {(l["pipeline"], l["environment"]) for l, v in metrics["trix_deployment_duration_seconds"]}
        self.assertEqual(durations, {("api", "dev"), ("web", "dev"), ("api", "prod")})


class MetricsFileErrors(TrixTestCase):
    def test_an_unwritable_metrics_file_is_a_warning_not_a_failure(self):
        # Before, the exception ended trixc with an abort once the run was over.
        self.runbook(METRICS_RUNBOOK)
        r = self.run_rb("--param", "mode=ok", "--metrics-file", "no-such-dir/metrics.prom")
        self.assertExit(r, OK)
        self.assertEqual(r.stdout.count("warning: could not write the metrics file"), 2, r.stdout)
        self.assertIn("no-such-dir/metrics.prom", r.stdout)
        self.assertEqual(self.lines("log"), ["a"])


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
        # One push when the run starts, one when it ends.
        self.assertEqual(len(pushes), 2, gw.requests)
        for method, _path, _body, headers in pushes:
            self.assertEqual(method, "PUT")
            self.assertTrue(headers.get("Content-Type", "").startswith("text/plain"))
        first = parse_metrics(pushes[0][2])
        self.assertEqual(status_of(first), "running")
        self.assertNotIn("trix_deployment_duration_seconds", first)
        self.assertEqual(first["trix_deployment_start_time"], parse_metrics(pushes[1][2])["trix_deployment_start_time"])
        method, _path, body, headers = pushes[1]
        # The body is exactly what --metrics-file got.
        self.assertEqual(body, self.read("metrics.prom"))
        metrics = parse_metrics(body)
        totals = {labels["status"]: v for labels, v in metrics["trix_deployments_total"]}
        self.assertEqual(totals["rolled_back"], 1)
        self.assertEqual(metrics["trix_rollbacks_total"][0][1], 1)
        self.assertIn("pushed to", r.stdout)

    def test_a_drill_does_not_replace_the_deployment_series_of_the_group(self):
        # PUT replaces a Pushgateway group: a drill pushing that way would wipe
        # the last real run's status (resolving TrixDeploymentFailed) and reset
        # its counters. A drill POSTs its own counter only.
        gw = self.http_server({self.PATH: Route(200, "")})
        self.assertExit(self.run_rb("--param", "mode=step", "--pushgateway", gw.url), ROLLED_BACK)
        self.assertExit(self.run_rb("--param", "mode=ok", "--pushgateway", gw.url, "--drill"), OK)
        pushes = [(m, b) for (m, p, b, h) in gw.requests if p == self.PATH]
        self.assertEqual([m for m, _ in pushes], ["PUT", "PUT", "POST"])
        drill = parse_metrics(pushes[2][1])
        self.assertEqual(set(drill), {"trix_drills_total"})
        self.assertEqual({labels["status"]: v for labels, v in drill["trix_drills_total"]}, {"passed": 1, "failed": 0})

    def test_a_failed_push_is_a_warning_not_a_failure(self):
        gw = self.http_server({})  # every path answers 404
        r = self.run_rb("--param", "mode=ok", "--pushgateway", gw.url)
        self.assertExit(r, OK)
        self.assertEqual(gw.paths("PUT"), [self.PATH, self.PATH])
        self.assertIn("warning: could not push the metrics", r.stdout)
        self.assertIn("HTTP 404", r.stdout)

    def test_an_unreachable_pushgateway_does_not_change_the_exit_code(self):
        r = self.run_rb("--param", "mode=gate", "--pushgateway", f"http://127.0.0.1:{free_port()}")
        self.assertExit(r, STOPPED)
        self.assertIn("warning: could not push the metrics", r.stdout)


if __name__ == "__main__":
    unittest.main()
