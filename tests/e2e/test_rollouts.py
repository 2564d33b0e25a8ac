"""Rollouts (spec §7, issue "rollouts"): `deploy ... with canary | blue_green`
against a real nginx in front of real backends on 127.0.0.1; analyses; manual
promotion and abort from a second process; resume of a killed run
mid-rollout; the command provider; the k8s provider against a recording
stand-in for kubectl (no cluster exists here)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest
import urllib.request
from pathlib import Path

from e2e_support import OK, ROLLED_BACK, RealPrometheus, TrixTestCase, free_port

REPO = Path(__file__).resolve().parents[2]
RELOAD = f"sh {REPO}/examples/local-canary/reload.sh"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


class Nginx:
    """A real nginx on a free loopback port, proxying to upstream `app`."""

    def __init__(self, test, stable_port):
        self.dir = test.dir / "nginx"
        self.dir.mkdir()
        self.port = free_port()
        d = self.dir
        (d / "upstream.conf").write_text(f"upstream app {{\n    server 127.0.0.1:{stable_port};\n    keepalive 4;\n}}\n")
        (d / "nginx.conf").write_text(f"""worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {d}/t1; proxy_temp_path {d}/t2; fastcgi_temp_path {d}/t3; uwsgi_temp_path {d}/t4; scgi_temp_path {d}/t5;
    include {d}/upstream.conf;
    server {{ listen 127.0.0.1:{self.port}; location / {{ proxy_pass http://app; }} }}
}}
""")
        self.args = [NGINX, "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log")]
        subprocess.run(self.args, check=True)
        test.addCleanup(self.stop)
        test.wait_for(lambda: self._up(), timeout=10, what="nginx to listen")

    def _up(self):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=1).read()
            return True
        except Exception:
            return False

    def stop(self):
        subprocess.run(self.args + ["-s", "stop"], stderr=subprocess.DEVNULL, check=False)

    def reload_cmd(self):
        return f"{RELOAD} {self.dir}"

    def traffic(self, n=40):
        counts = {}
        for _ in range(n):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=5).read().decode().strip()
            except Exception as e:
                log = (self.dir / "error.log").read_text() if (self.dir / "error.log").exists() else ""
                raise AssertionError(f"request through nginx failed: {e}\nnginx error.log:\n{log[-3000:]}")
            body = body.replace("-broken", "")
            counts[body] = counts.get(body, 0) + 1
        # nginx retries a failed upstream on the other server, which would skew
        # the shares silently: any upstream error fails the test instead.
        log = (self.dir / "error.log").read_text() if (self.dir / "error.log").exists() else ""
        errors = [line for line in log.splitlines() if "[error]" in line or "[crit]" in line]
        if errors:
            raise AssertionError("nginx logged upstream errors:\n" + "\n".join(errors[-10:]))
        return counts


class NginxRollouts(TrixTestCase):
    def backends(self, canary_health=200):
        # Not a skip: CI installs nginx (tools/setup.sh), and a missing one must be seen.
        self.assertTrue(NGINX, "nginx is not installed: run tools/setup.sh (Debian package nginx-light)")
        # Real backend processes (the local canary example's): GET / answers the
        # version, /health answers 500 for a version ending in "-broken".
        self.stable = self.backend("v1")
        self.canary = self.backend("v2" if canary_health == 200 else "v2-broken")
        self.nginx = Nginx(self, self.stable.port)

    def backend(self, version):
        port = free_port()
        p = subprocess.Popen([sys.executable, str(REPO / "examples" / "local-canary" / "backend.py"), str(port), version])
        self.addCleanup(lambda: (p.kill(), p.wait()))

        def up():
            try:
                return urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read().decode().strip() == version
            except Exception:
                return False
        self.wait_for(up, timeout=20, what=f"backend {version} on port {port}")
        b = type("Backend", (), {})()
        b.port, b.url, b.version = port, f"http://127.0.0.1:{port}", version
        return b

    def runbook_for(self, strategy, analysis_url="${env.canary}/health", interval="200ms", count=2, extra=""):
        return self.runbook(f"""
environment local {{
  canary = "{self.canary.url}"
  web    = "http://127.0.0.1:{self.nginx.port}"
}}
service web {{
  provider = nginx
  config   = "{self.nginx.dir}/upstream.conf"
  upstream = "app"
  stable   = "127.0.0.1:{self.stable.port}"
  canary   = "127.0.0.1:{self.canary.port}"
  reload   = "{self.nginx.reload_cmd()}"
}}
analysis healthy {{
  metric health {{
    http GET "{analysis_url}"
    interval = {interval}  count = {count}
  }}
}}
{extra}
pipeline p {{
  stage before {{
    run "echo before >> log"
    undo {{ run "echo undo-before >> log" }}
  }}
  stage rollout {{
    deploy web version "v2" with {strategy}
  }}
}}
""")

    def rollout_records(self, run_id, what=None):
        if not (self.state / "runs" / run_id / "journal.jsonl").exists():
            return []  # the run directory exists a moment before its journal
        return [r for r in self.journal(run_id) if r.get("event") == "rollout" and (what is None or r.get("what") == what)]

    def wait_paused(self, p):
        def paused():
            ids = self.run_ids()
            return ids and any(r.get("what") == "paused" for r in self.rollout_records(ids[0]))
        self.wait_for(paused, timeout=30, what="the rollout to pause", proc=p)
        return self.run_ids()[0]

    def test_canary_shifts_real_traffic_and_promotes_by_hand(self):
        self.backends()
        self.runbook_for("canary { weight 25% \n analyze healthy \n pause \n weight 100% }")
        p = self.start_rb()
        run_id = self.wait_paused(p)
        counts = self.nginx.traffic(40)
        # nginx's smooth weighted round robin at 3:1 sends exactly a quarter; allow a little slack.
        self.assertTrue(8 <= counts.get("v2", 0) <= 12, counts)
        self.assertEqual(counts.get("v1", 0) + counts.get("v2", 0), 40)
        r = self.trixc("promote", run_id, "--state-dir", "st", "--as", "carol")
        self.assertExit(r, OK)
        rc, out, err = self.finish(p)
        self.assertExit((rc, out, err), OK)
        self.assertEqual(self.nginx.traffic(40), {"v2": 40})
        self.assertIn("weight  25% [#####...............]", out)
        self.assertIn("health #2/2: ok", out)
        whats = [r["what"] for r in self.rollout_records(run_id)]
        self.assertEqual(whats[:2], ["released", "weight"])
        self.assertIn("measurement", whats)
        self.assertIn("promoted", whats)
        self.assertEqual(whats[-1], "finished")
        sig = self.rollout_records(run_id, "signal")
        self.assertEqual([(s["signal"], s["by"]) for s in sig], [("promote", "carol")])
        # promoting again after the end is refused
        self.assertExit(self.trixc("promote", run_id, "--state-dir", "st"), 1)

    def test_failed_analysis_aborts_and_rolls_back(self):
        self.backends(canary_health=500)
        self.runbook_for("canary { weight 25% \n analyze healthy \n weight 100% }")
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.nginx.traffic(40), {"v1": 40})
        conf = (self.nginx.dir / "upstream.conf").read_text()
        self.assertNotIn(str(self.canary.port), conf)
        self.assertIn("keepalive 4;", conf)  # other directives of the block are kept
        self.assertIn("analysis `healthy` failed: metric `health` failed 1 of 1", r.stdout)
        # then the normal rollback of §9: the undo of the earlier stage ran
        self.assertEqual(self.lines("log"), ["before", "undo-before"])

    def test_abort_from_a_second_process(self):
        self.backends()
        self.runbook_for("canary { weight 50% \n pause \n weight 100% }")
        p = self.start_rb()
        run_id = self.wait_paused(p)
        counts = self.nginx.traffic(40)
        self.assertTrue(18 <= counts.get("v2", 0) <= 22, counts)
        self.assertExit(self.trixc("abort", run_id, "--state-dir", "st"), OK)
        rc, out, err = self.finish(p)
        self.assertExit((rc, out, err), ROLLED_BACK)
        self.assertEqual(self.nginx.traffic(40), {"v1": 40})
        self.assertIn("aborted by `trixc abort`", out)

    def test_promote_full_skips_the_remaining_steps(self):
        self.backends()
        self.runbook_for("canary { weight 10% \n pause \n weight 50% \n pause 1h \n weight 100% }")
        p = self.start_rb()
        run_id = self.wait_paused(p)
        self.assertExit(self.trixc("promote", run_id, "--full", "--state-dir", "st"), OK)
        rc, out, err = self.finish(p)
        self.assertExit((rc, out, err), OK)
        self.assertEqual(self.nginx.traffic(20), {"v2": 20})
        self.assertEqual([r["weight"] for r in self.rollout_records(run_id, "weight")], [10])

    def test_a_first_weight_of_zero_percent_sends_no_traffic_until_the_next_step(self):
        # §7/E403: weights strictly increase and end at 100%; 0% may start them
        # (as Argo's setWeight: 0), e.g. to look at the new version before traffic.
        self.backends()
        self.runbook_for("canary { weight 0% \n pause \n weight 100% }")
        p = self.start_rb()
        run_id = self.wait_paused(p)
        self.assertEqual(self.nginx.traffic(20), {"v1": 20})
        self.assertExit(self.trixc("promote", run_id, "--state-dir", "st"), OK)
        rc, out, err = self.finish(p)
        self.assertExit((rc, out, err), OK)
        self.assertEqual(self.nginx.traffic(20), {"v2": 20})
        self.assertEqual([r["weight"] for r in self.rollout_records(run_id, "weight")], [0])

    def test_a_release_that_changes_nothing_fails_as_rolled_back_not_as_rollback_failed(self):
        # The upstream block does not exist: the release cannot change the
        # config, so traffic never moved and there is nothing to restore
        # (exit 11, not 12 "needs a human").
        self.backends()
        self.runbook_for("canary { weight 25% \n weight 100% }")
        self.runbook(self.read("rb.trix").replace('upstream = "app"', 'upstream = "nosuch"'))
        before = (self.nginx.dir / "upstream.conf").read_text()
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertIn("no `upstream nosuch { ... }` block", r.stdout)
        self.assertNotIn("ABORT FAILED", r.stdout)
        self.assertEqual((self.nginx.dir / "upstream.conf").read_text(), before)
        self.assertEqual(self.nginx.traffic(20), {"v1": 20})
        self.assertEqual(self.lines("log"), ["before", "undo-before"])

    def test_blue_green_failed_post_promotion_analysis_switches_back(self):
        self.backends(canary_health=500)
        # pre-promotion: the new colour is ready; post-promotion: health through nginx fails
        self.runbook_for("blue_green { analyze ready \n promote \n analyze healthy \n scale_down_delay = 1s }",
                         analysis_url="${env.web}/health",
                         extra='analysis ready { metric ready { http GET "${env.canary}/ready" \n interval = 100ms count = 2 } }')
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        run_id = self.run_ids()[0]
        whats = [x["what"] for x in self.rollout_records(run_id)]
        self.assertLess(whats.index("promoted"), whats.index("aborted"))
        self.assertEqual(self.nginx.traffic(40), {"v1": 40})

    def test_blue_green_success(self):
        self.backends()
        self.runbook_for("blue_green { analyze healthy \n promote \n analyze healthy \n scale_down_delay = 200ms }")
        r = self.run_rb()
        self.assertExit(r, OK)
        self.assertEqual(self.nginx.traffic(20), {"v2": 20})
        whats = [x["what"] for x in self.rollout_records(self.run_ids()[0])]
        self.assertEqual([w for w in whats if w in ("released", "promoted", "retired", "finished")], ["released", "promoted", "retired", "finished"])

    def test_resume_of_a_killed_run_mid_rollout(self):
        self.backends()
        self.runbook_for("canary { weight 25% \n pause \n weight 50% \n pause \n weight 100% }")
        p = self.start_rb()
        run_id = self.wait_paused(p)
        self.assertExit(self.trixc("promote", run_id, "--state-dir", "st"), OK)
        # now at 50%, paused again
        self.wait_for(lambda: len(self.rollout_records(run_id, "paused")) == 2, timeout=30, what="the second pause", proc=p)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        # somebody reset nginx meanwhile: resume must put the traffic state back
        conf = self.nginx.dir / "upstream.conf"
        conf.write_text(f"upstream app {{\n    server 127.0.0.1:{self.stable.port};\n}}\n")
        subprocess.run(self.nginx.reload_cmd().split() , check=True)
        self.assertEqual(self.nginx.traffic(8), {"v1": 8})
        q = self.start("run", "--resume", run_id, "--state-dir", "st")
        self.wait_for(lambda: len(self.rollout_records(run_id, "paused")) == 3, timeout=30, what="the resumed pause", proc=q)
        counts = self.nginx.traffic(40)
        self.assertTrue(18 <= counts.get("v2", 0) <= 22, counts)
        self.assertExit(self.trixc("promote", run_id, "--state-dir", "st"), OK)
        rc, out, err = self.finish(q)
        self.assertExit((rc, out, err), OK)
        self.assertIn("resuming at strategy step 4 with weight 50%", out)
        self.assertEqual(len(self.rollout_records(run_id, "released")), 1)  # not released twice
        self.assertEqual(self.lines("log"), ["before"])  # finished steps never rerun
        self.assertEqual(self.nginx.traffic(20), {"v2": 20})


class CommandProvider(TrixTestCase):
    RB = """
environment dev {}
service app {
  provider   = command
  release    = "echo release ${version} >> log"
  set_weight = "echo weight ${version} ${weight} >> log"
  promote    = "echo promote ${version} >> log"
  abort      = "echo abort ${version} >> log"
}
param v: string = "v2"
pipeline p {
  stage s {
    deploy app version v with canary { weight 10% \n weight 40% \n weight 100% }
  }
  verify { check "fails on demand" run "test ! -f fail" }
}
"""

    def test_commands_get_version_and_weight_shell_quoted(self):
        self.runbook(self.RB)
        r = self.run_rb("--param", "v=v2; touch pwned")
        self.assertExit(r, OK)
        self.assertFalse(self.exists("pwned"))
        self.assertEqual(self.lines("log"), ["release v2; touch pwned", "weight v2; touch pwned 10", "weight v2; touch pwned 40",
                                             "promote v2; touch pwned"])

    def test_a_later_failure_undoes_the_promoted_deploy(self):
        self.runbook(self.RB)
        self.write("fail", "")
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.lines("log")[-1], "abort v2")

    def test_sigint_during_a_pause_aborts_and_rolls_back(self):
        self.runbook(self.RB.replace("weight 10% \n weight 40%", "weight 10% \n pause \n weight 40%"))
        p = self.start_rb()
        self.wait_for(lambda: self.lines("log") == ["release v2", "weight v2 10"], timeout=20, what="weight 10%", proc=p)
        self.wait_for(lambda: '"what":"paused"' in (self.state / "runs" / self.run_ids()[0] / "journal.jsonl").read_text(), timeout=20,
                      what="the pause", proc=p)
        p.send_signal(signal.SIGINT)
        rc, out, err = self.finish(p)
        self.assertExit((rc, out, err), ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["release v2", "weight v2 10", "abort v2"])

    def test_weight_is_the_percentage_as_written(self):
        # 7% is the fraction 0.07 in the plan; `${weight}` must still be 7, not 7.000000000000001.
        self.runbook(self.RB.replace("weight 10% \n weight 40%", "weight 7% \n weight 29% \n weight 57%"))
        r = self.run_rb()
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["release v2", "weight v2 7", "weight v2 29", "weight v2 57", "promote v2"])
        self.assertEqual([x["weight"] for x in self.journal(self.run_ids()[0]) if x.get("what") == "weight"], [7, 29, 57])
        plan = self.trixc("plan", "rb.trix")
        self.assertIn("weight 7%", plan.stdout)
        self.assertIn("weight 29%", plan.stdout)

    def test_an_abort_given_during_a_weight_change_acts_before_the_next_step(self):
        # No pause or analysis follows: the abort must still be obeyed (it was
        # accepted with exit 0), not ignored while the rollout completes.
        self.runbook(self.RB.replace('set_weight = "echo weight ${version} ${weight} >> log"',
                                     'set_weight = "echo weight ${version} ${weight} >> log; sleep 1"'))
        p = self.start_rb()
        self.wait_for(lambda: self.lines("log") == ["release v2", "weight v2 10"], timeout=20, what="weight 10%", proc=p)
        self.assertExit(self.trixc("abort", self.run_ids()[0], "--state-dir", "st", "--as", "dave"), OK)
        rc, out, err = self.finish(p)
        self.assertExit((rc, out, err), ROLLED_BACK)
        self.assertIn("aborted by `trixc abort`", out)
        self.assertEqual(self.lines("log"), ["release v2", "weight v2 10", "abort v2"])

    def test_status_says_a_run_waits_for_promote(self):
        self.runbook(self.RB.replace("weight 10% \n weight 40%", "weight 10% \n pause \n weight 40%"))
        p = self.start_rb()
        self.wait_for(lambda: self.run_ids() and (self.state / "runs" / self.run_ids()[0] / "journal.jsonl").exists()
                      and '"what":"paused"' in (self.state / "runs" / self.run_ids()[0] / "journal.jsonl").read_text(),
                      timeout=20, what="the pause", proc=p)
        run_id = self.run_ids()[0]
        st = self.trixc("status", "--state-dir", "st")
        self.assertIn(f"paused in a rollout: `trixc promote {run_id}` to go on", st.stdout)
        self.assertExit(self.trixc("promote", run_id, "--state-dir", "st"), OK)
        self.assertExit(self.finish(p), OK)
        self.assertIn("succeeded (exit 0)", self.trixc("status", "--state-dir", "st").stdout)

    def test_a_full_promotion_still_holds_after_a_crash_and_resume(self):
        rb = self.RB.replace("weight 10% \n weight 40%", "weight 10% \n pause \n weight 40% \n pause")
        rb = rb.replace('promote    = "echo promote ${version} >> log"', 'promote    = "echo promote ${version} >> log; test -f fast || sleep 30"')
        self.runbook(rb)
        p = self.start_rb()
        self.wait_for(lambda: self.run_ids() and (self.state / "runs" / self.run_ids()[0] / "journal.jsonl").exists()
                      and '"what":"paused"' in (self.state / "runs" / self.run_ids()[0] / "journal.jsonl").read_text(),
                      timeout=20, what="the pause", proc=p)
        run_id = self.run_ids()[0]
        self.assertExit(self.trixc("promote", run_id, "--full", "--state-dir", "st"), OK)
        self.wait_for(lambda: self.lines("log")[-1:] == ["promote v2"], timeout=20, what="the promote command", proc=p)
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)
        self.write("fast", "")  # the resumed promote returns at once
        q = self.start("run", "--resume", run_id, "--state-dir", "st")
        rc, out, err = self.finish(q)
        self.assertExit((rc, out, err), OK)
        # no second pause, no 40% step: the full promotion was already given
        # (resume first puts back the journalled 10%, then promotes)
        self.assertEqual(self.lines("log"), ["release v2", "weight v2 10", "promote v2", "weight v2 10", "promote v2"])
        self.assertEqual(len([r for r in self.journal(run_id) if r.get("what") == "paused"]), 1)

    def test_abort_reaches_every_rollout_of_a_parallel_block(self):
        # Two deploys in `parallel`, both paused: one `trixc abort` aborts
        # both (it used to reach only the last one started; the other stayed
        # paused and a second abort said the run was not in a rollout).
        self.runbook("""
environment dev {}
service a { provider = command \n set_weight = "echo a ${weight} >> log" \n abort = "echo abort-a >> log" }
service b { provider = command \n set_weight = "echo b ${weight} >> log" \n abort = "echo abort-b >> log" }
pipeline p {
  trigger dispatch
  stage s {
    parallel {
      deploy a version "v2" with canary { weight 10% \n pause \n weight 100% }
      deploy b version "v2" with canary { weight 20% \n pause \n weight 100% }
    }
  }
}
""")
        p = self.start_rb()
        self.wait_for(lambda: self.run_ids() and (self.state / "runs" / self.run_ids()[0] / "journal.jsonl").exists()
                      and (self.state / "runs" / self.run_ids()[0] / "journal.jsonl").read_text().count('"what":"paused"') == 2,
                      timeout=20, what="both pauses", proc=p)
        self.assertExit(self.trixc("abort", self.run_ids()[0], "--state-dir", "st"), OK)
        rc, out, err = self.finish(p)
        self.assertExit((rc, out, err), ROLLED_BACK)
        self.assertEqual(sorted(self.lines("log")), ["a 10", "abort-a", "abort-b", "b 20"])

    def test_blue_green_with_auto_promote_false_waits_for_promote(self):
        # As the emitted Argo Rollout (autoPromotionEnabled: false): the switch waits for a human.
        self.runbook("""
environment dev {}
service app {
  provider = command
  release  = "echo release ${version} >> log"
  promote  = "echo promote ${version} >> log"
  abort    = "echo abort ${version} >> log"
}
analysis ok { metric m { run "true" } }
pipeline p {
  trigger dispatch
  stage s {
    deploy app version "v2" with blue_green { analyze ok \n scale_down_delay = 100ms \n auto_promote = false }
  }
}
""")
        p = self.start_rb()
        journal = lambda: (self.state / "runs" / self.run_ids()[0] / "journal.jsonl")  # noqa: E731
        self.wait_for(lambda: self.run_ids() and journal().exists() and '"what":"paused"' in journal().read_text(),
                      timeout=20, what="the switch to wait", proc=p)
        self.assertEqual(self.lines("log"), ["release v2"])
        self.assertExit(self.trixc("promote", self.run_ids()[0], "--state-dir", "st"), OK)
        self.assertExit(self.finish(p), OK)
        self.assertEqual(self.lines("log"), ["release v2", "promote v2"])

    def test_dry_run_changes_nothing(self):
        self.runbook(self.RB)
        r = self.run_rb("--dry-run")
        self.assertExit(r, OK)
        self.assertIn("would set weight 40%", r.stdout)
        self.assertFalse(self.exists("log"))


KUBECTL = r"""#!/bin/sh
# A recording stand-in for kubectl: no Kubernetes API server exists here.
printf 'kubectl %s\n' "$*" >> "$KUBECTL_LOG"
case "$*" in
  *"get deployment"*"-o json"*) cat "$KUBECTL_DEPLOYMENT" ;;
  *"get service"*) printf blue ;;
  *"apply -f"*) f=$(printf '%s' "$*" | sed 's/.*apply -f //'); cp "$f" "$KUBECTL_APPLIED.$(basename "$f")" ;;
esac
exit 0
"""

DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment",
    "metadata": {"name": "api", "namespace": "prod", "labels": {"app": "api"}, "resourceVersion": "42", "uid": "x"},
    "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "api"}},
             "template": {"metadata": {"labels": {"app": "api"}},
                          "spec": {"containers": [{"name": "api", "image": "api:v1"}, {"name": "sidecar", "image": "proxy:1"}]}}},
    "status": {"readyReplicas": 4},
}


class K8sProvider(TrixTestCase):
    """The stand-in logs the argv kubectl would get (after the shell's quoting)."""

    def setUp(self):
        super().setUp()
        bindir = self.dir / "bin"
        bindir.mkdir()
        k = bindir / "kubectl"
        k.write_text(KUBECTL)
        k.chmod(0o755)
        self.write("deployment.json", json.dumps(DEPLOYMENT))
        self.kenv = {"PATH": f"{bindir}:{os.environ['PATH']}", "KUBECTL_LOG": str(self.dir / "kubectl.log"),
                     "KUBECTL_DEPLOYMENT": str(self.dir / "deployment.json"), "KUBECTL_APPLIED": str(self.dir / "applied")}

    def rb(self, strategy):
        self.runbook(f"""
environment prod {{ namespace = "prod" }}
service api {{
  provider   = k8s
  deployment = "api"
  container  = "api"
  namespace  = env.namespace
}}
pipeline p {{
  stage s {{ deploy api version "api:v2" {strategy} }}
  verify {{ check "fails on demand" run "test ! -f fail" }}
}}
""")

    def test_canary_as_a_second_deployment_scaled_by_weight(self):
        self.rb("with canary { weight 25% \n weight 100% }")
        r = self.run_rb(env=self.kenv)
        self.assertExit(r, OK)
        k = "kubectl -n prod "
        self.assertEqual(self.lines("kubectl.log"), [
            k + "get deployment api -o json",
            k + f"apply -f st/runs/{self.run_ids()[0]}/api-canary.json",
            k + "scale deployment/api-canary --replicas=1",
            k + "scale deployment/api --replicas=3",
            k + "set image deployment/api api=api:v2",
            k + "scale deployment/api --replicas=4",
            k + "rollout status deployment/api --timeout=600s",
            k + "delete deployment/api-canary --ignore-not-found",
        ])
        m = json.loads(self.read("applied.api-canary.json"))
        self.assertEqual(m["metadata"]["name"], "api-canary")
        self.assertNotIn("resourceVersion", m["metadata"])
        self.assertEqual(m["spec"]["replicas"], 0)
        self.assertEqual(m["spec"]["selector"]["matchLabels"], {"app": "api", "track": "canary"})
        self.assertEqual([c["image"] for c in m["spec"]["template"]["spec"]["containers"]], ["api:v2", "proxy:1"])

    def test_a_zero_percent_canary_weight_gives_the_canary_no_pod(self):
        self.rb("with canary { weight 0% \n weight 100% }")
        r = self.run_rb(env=self.kenv)
        self.assertExit(r, OK)
        k = "kubectl -n prod "
        self.assertEqual(self.lines("kubectl.log")[2:4], [
            k + "scale deployment/api-canary --replicas=0",
            k + "scale deployment/api --replicas=4",
        ])

    def test_blue_green_switches_the_service_selector_and_back(self):
        self.rb("with blue_green { promote \n scale_down_delay = 100ms }")
        self.write("fail", "")
        r = self.run_rb(env=self.kenv)
        self.assertExit(r, ROLLED_BACK)
        k = "kubectl -n prod "
        run_dir = f"st/runs/{self.run_ids()[0]}"
        self.assertEqual(self.lines("kubectl.log"), [
            k + "get service api -o jsonpath={.spec.selector.color}",
            k + "get deployment api-blue -o json",
            k + f"apply -f {run_dir}/api-green.json",
            k + "rollout status deployment/api-green --timeout=600s",
            k + "patch service api -p {\"spec\":{\"selector\":{\"color\":\"green\"}}}",
            k + "scale deployment/api-blue --replicas=0",
            # the verify failed: undo of the deploy brings blue back and switches to it
            k + "scale deployment/api-blue --replicas=4",
            k + "rollout status deployment/api-blue --timeout=600s",
            k + "patch service api -p {\"spec\":{\"selector\":{\"color\":\"blue\"}}}",
            k + "delete deployment/api-green --ignore-not-found",
        ])

    def test_rolling_update_and_its_undo(self):
        self.rb("")
        self.write("fail", "")
        r = self.run_rb(env=self.kenv)
        self.assertExit(r, ROLLED_BACK)
        k = "kubectl -n prod "
        self.assertEqual(self.lines("kubectl.log"), [
            k + "set image deployment/api api=api:v2",
            k + "rollout status deployment/api --timeout=600s",
            k + "rollout undo deployment/api",
            k + "rollout status deployment/api --timeout=600s",
        ])



class LocalCanaryExample(TrixTestCase):
    """examples/local-canary.trix, the README's main job, as a user runs it:
    from a copy of the examples, on fixed ports 18080-18082."""

    def test_the_example_rolls_out_and_a_broken_version_rolls_back(self):
        self.assertTrue(NGINX, "nginx is not installed: run tools/setup.sh (Debian package nginx-light)")
        for port in (18080, 18081, 18082):
            with socket.socket() as s:
                self.assertNotEqual(s.connect_ex(("127.0.0.1", port)), 0, f"port {port} is in use; the example needs 18080-18082")
        shutil.copytree(REPO / "examples" / "local-canary", self.dir / "examples" / "local-canary")
        shutil.copy(REPO / "examples" / "local-canary.trix", self.dir / "examples")
        stack = ["python3", "examples/local-canary/localstack.py"]
        self.addCleanup(lambda: subprocess.run(stack + ["down", ".trix/local-canary"], cwd=self.dir, check=False))
        share = lambda: subprocess.run(stack + ["share", "http://127.0.0.1:18080/", "20"], cwd=self.dir, check=True,
                                       capture_output=True, text=True).stdout.strip()
        r = self.trixc("run", "examples/local-canary.trix", "--state-dir", "st", timeout=120)
        self.assertExit(r, OK)
        self.assertIn("v1=75% v2=25%", r.stdout)
        self.assertIn("v1=50% v2=50%", r.stdout)
        self.assertEqual(share(), "v2=100%")
        r = self.trixc("run", "examples/local-canary.trix", "--state-dir", "st", "--param", "version=v3-broken", timeout=120)
        self.assertExit(r, ROLLED_BACK)
        self.assertIn("aborted: weight 0%", r.stdout)
        self.assertEqual(share(), "v1=100%")


class PrometheusAnalysis(TrixTestCase):
    """Analyses against a real Prometheus (Debian's `prometheus`) on a loopback
    port. Constant queries (`vector(0.5)`) and a metric nobody writes need no
    scrape, so the test does not wait for one."""

    def setUp(self):
        super().setUp()
        prometheus = RealPrometheus(self.dir / "prometheus")
        self.addCleanup(prometheus.close)
        self.url = prometheus.url

    def rb(self, probe):
        self.runbook(f"""
environment dev {{ prometheus = "{self.url}" }}
service app {{
  provider   = command
  set_weight = "echo weight ${{weight}} >> log"
  promote    = "echo promote >> log"
  abort      = "echo abort >> log"
}}
analysis a {{
  metric m {{
    {probe}
    interval = 100ms  count = 2
  }}
}}
pipeline p {{
  stage s {{ deploy app version "v2" with canary {{ weight 20% \n analyze a \n weight 100% }} }}
}}
""")

    def test_analysis_passes_and_fails_on_real_query_results(self):
        self.rb('prometheus "vector(0.5)" expect value < 1')
        self.assertExit(self.run_rb(), OK)
        self.assertEqual(self.lines("log"), ["weight 20", "promote"])
        self.rb('prometheus "vector(2)" expect value < 1')
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertIn("m #1/2: failed (value 2; expect is false)", r.stdout)
        self.assertEqual(self.lines("log")[-2:], ["weight 20", "abort"])

    def test_no_data_fails_closed_by_default(self):
        self.rb('prometheus "trix_metric_nobody_writes" expect value < 1')
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertIn("failed (no data)", r.stdout)

    def test_inconclusive_pauses_for_a_human(self):
        self.rb('prometheus "trix_metric_nobody_writes" { on_no_data = inconclusive } expect value < 1')
        p = self.start_rb()

        def paused():
            ids = self.run_ids()
            path = self.state / "runs" / ids[0] / "journal.jsonl" if ids else None
            return path and path.exists() and '"what":"paused"' in path.read_text()
        self.wait_for(paused, timeout=30, what="the inconclusive analysis to pause the rollout", proc=p)
        run_id = self.run_ids()[0]
        self.assertExit(self.trixc("promote", run_id, "--state-dir", "st"), OK)
        rc, out, err = self.finish(p)
        self.assertExit((rc, out, err), OK)
        self.assertIn("inconclusive", out)
        self.assertEqual(self.lines("log"), ["weight 20", "promote"])

    def test_an_inconclusive_result_over_the_limit_pauses_at_once(self):
        # As Argo: over inconclusive_limit the analysis is inconclusive now,
        # not after the 4 remaining measurements (4 more seconds here).
        self.rb('prometheus "trix_metric_nobody_writes" { on_no_data = inconclusive } expect value < 1')
        self.runbook(self.read("rb.trix").replace("interval = 100ms  count = 2", "interval = 1s  count = 5"))
        p = self.start_rb()

        def paused():
            ids = self.run_ids()
            path = self.state / "runs" / ids[0] / "journal.jsonl" if ids else None
            return path and path.exists() and '"what":"paused"' in path.read_text()
        self.wait_for(paused, timeout=30, what="the inconclusive analysis to pause the rollout", proc=p)
        run_id = self.run_ids()[0]
        measured = [r for r in self.journal(run_id) if r.get("what") == "measurement"]
        self.assertEqual([r["result"] for r in measured], ["inconclusive"])
        self.assertExit(self.trixc("abort", run_id, "--state-dir", "st"), OK)
        rc, out, err = self.finish(p)
        self.assertExit((rc, out, err), ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["weight 20", "abort"])


if __name__ == "__main__":
    unittest.main()
