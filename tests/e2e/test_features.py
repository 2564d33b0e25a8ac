"""Other run-time features end to end: deployment windows and freezes,
`parallel`, `wait`, `wait until`, `notify`, actions (user and stdlib, with a
fake `kubectl` on PATH), and `--output json`."""

import datetime
import json
import os
import time
import unittest

from e2e_support import OK, ROLLED_BACK, STOPPED, Route, TrixTestCase

DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


class Windows(TrixTestCase):
    def runbook_with(self, attrs):
        self.runbook(f"""\
environment dev {{
  {attrs}
}}
gate g {{ check "c" run "echo gate >> log" }}
pipeline p {{
  gate g
  stage s {{ run "echo changed >> log" }}
}}
""")

    def test_freeze_stops_before_the_first_change_with_10(self):
        today = datetime.datetime.now(datetime.timezone.utc).date()
        self.runbook_with(f'freeze = ["{today - datetime.timedelta(days=1)}..{today + datetime.timedelta(days=1)}"]')
        r = self.run_rb()
        self.assertExit(r, STOPPED)
        self.assertEqual(self.lines("log"), ["gate"])
        self.assertIn("--override-window", r.stdout + r.stderr)

    def test_outside_window_stops_and_override_is_journalled(self):
        # a window on a day that is neither today nor tomorrow (UTC)
        other = DAYS[(datetime.datetime.now(datetime.timezone.utc).weekday() + 3) % 7]
        self.runbook_with(f'window = "{other} 00:00-23:59 UTC"')
        r = self.run_rb()
        self.assertExit(r, STOPPED)
        self.assertEqual(self.lines("log"), ["gate"])
        r = self.run_rb("--override-window", "incident 42")
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["gate", "gate", "changed"])
        journals = [self.journal(i) for i in self.run_ids()]
        overrides = [x for j in journals for x in j if x.get("event") == "window_override"]
        self.assertEqual(len(overrides), 1)
        self.assertEqual(overrides[0]["reason"], "incident 42")

    def test_past_freeze_does_not_block(self):
        self.runbook_with('freeze = ["2001-01-01..2001-01-31"]')
        self.assertExit(self.run_rb(), OK)


class ControlFlow(TrixTestCase):
    def test_parallel_steps_run_at_once(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  stage s {
    parallel {
      run "echo one > one.started; while [ ! -f two.started ]; do sleep 0.02; done; echo one >> log"
      run "echo two > two.started; while [ ! -f one.started ]; do sleep 0.02; done; echo two >> log"
    }
    run "echo after >> log"
  }
}
""")
        r = self.run_rb(timeout=15)
        self.assertExit(r, OK)
        self.assertEqual(sorted(self.lines("log")[:2]), ["one", "two"])
        self.assertEqual(self.lines("log")[2], "after")

    def test_failing_parallel_branch_rolls_back_the_completed_branch(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  stage s {
    parallel {
      good: run "echo good >> log"
      undo { run "echo undo-good >> log" }
      bad: run "while [ ! -f log ]; do sleep 0.02; done; exit 1"
      undo { run "echo undo-bad >> log" }
    }
    run "echo after >> log"
  }
}
""")
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["good", "undo-good"])

    def test_wait_step(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  stage s {
    run "echo before >> log"
    wait 300ms
    run "echo after >> log"
  }
}
""")
        t0 = time.monotonic()
        self.assertExit(self.run_rb(), OK)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertEqual(self.lines("log"), ["before", "after"])

    def test_wait_until_polls_a_probe(self):
        server = self.http_server()
        calls = {"n": 0}

        class Ready(dict):
            def get(self, path, default=None):
                calls["n"] += 1
                return Route(200, {"ready": True}) if calls["n"] >= 3 else Route(503, {"ready": False})

        server.routes = Ready()
        self.runbook(f"""\
environment dev {{ x = 1 }}
pipeline p {{
  stage s {{
    wait until http GET "{server.url}/ready" {{ timeout = 5s, interval = 50ms }}
    run "echo after >> log"
  }}
}}
""")
        self.assertExit(self.run_rb(), OK)
        self.assertEqual(calls["n"], 3)
        self.assertEqual(self.lines("log"), ["after"])

    def test_wait_until_timing_out_before_a_change_stops_with_10(self):
        server = self.http_server({"/ready": Route(503, {})})
        self.runbook(f"""\
environment dev {{ x = 1 }}
pipeline p {{
  stage s {{
    wait until http GET "{server.url}/ready" {{ timeout = 500ms, interval = 50ms }}
    run "echo after >> log"
  }}
}}
""")
        r = self.run_rb()
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"))

    def test_notify_posts_to_env_notify(self):
        server = self.http_server({"/hook": Route(200, {"ok": True})})
        self.runbook(f"""\
param version: string = "1.0"
environment dev {{
  notify = "{server.url}/hook"
}}
pipeline p {{
  stage s {{
    run "echo changed >> log"
    notify "deployed ${{version}} to ${{env.name}}"
  }}
}}
""")
        self.assertExit(self.run_rb("--param", "version=2.5"), OK)
        [(method, path, body, _h)] = server.requests
        self.assertEqual((method, path), ("POST", "/hook"))
        self.assertEqual(json.loads(body), {"text": "deployed 2.5 to dev"})

    def test_notify_without_url_prints(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  stage s { notify "hello from ${env.name}" }
}
""")
        r = self.run_rb()
        self.assertExit(r, OK)
        self.assertIn("hello from dev", r.stdout)

    def test_json_output_is_one_event_per_line(self):
        self.runbook("""\
environment dev { x = 1 }
pipeline p {
  stage s { hello: run "echo hi" }
}
""")
        r = self.run_rb("--output", "json")
        self.assertExit(r, OK)
        events = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        self.assertTrue(events)
        self.assertTrue(all({"run", "source", "message"} <= set(e) for e in events))
        self.assertIn({"source": "hello", "message": "| hi"}, [{"source": e["source"], "message": e["message"]} for e in events])


class Actions(TrixTestCase):
    def test_user_action_with_undo_rolls_back_per_call(self):
        self.runbook("""\
environment dev { x = 1 }

action install(name: string, fail: bool = false) {
  run "echo install-${name} >> log; test ${fail} = false"
  undo { run "echo remove-${name} >> log" }
}

pipeline p {
  stage s {
    install("a")
    install(name: "b")
    install("c", true)
  }
  rollback { run "echo rollback >> log" }
}
""")
        r = self.run_rb()
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["install-a", "install-b", "install-c", "remove-b", "remove-a", "rollback"])

    def fake_kubectl(self, fail_rollout):
        bin_dir = self.dir / "bin"
        bin_dir.mkdir()
        script = bin_dir / "kubectl"
        script.write_text(f"""#!/bin/sh
# A recording stand-in for a cluster: with fail_rollout the new image never
# becomes ready, until `rollout undo` brings the old one back.
case "$*" in *"rollout status"*)
  if [ {1 if fail_rollout else 0} = 1 ] && ! grep -q "rollout undo" kubectl.log 2>/dev/null; then
    echo "kubectl $*" >> kubectl.log; exit 1
  fi;;
esac
echo "kubectl $*" >> kubectl.log
exit 0
""")
        script.chmod(0o755)
        return {"PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}

    K8S_RUNBOOK = """\
import "std/k8s"
environment dev { namespace = "shop" }
pipeline p {
  stage s {
    k8s.set_image("web", "app", "registry/web:${tag}")
  }
}
param tag: string = "1.2"
"""

    def test_stdlib_set_image_runs_kubectl(self):
        self.runbook(self.K8S_RUNBOOK)
        env = self.fake_kubectl(fail_rollout=False)
        r = self.run_rb("--param", "tag=2.0", env=env)
        self.assertExit(r, OK)
        self.assertEqual(self.lines("kubectl.log"), [
            "kubectl -n shop set image deployment/web app=registry/web:2.0",
            "kubectl -n shop rollout status deployment/web --timeout=600s",
        ])

    def test_stdlib_set_image_is_undone_when_the_rollout_fails(self):
        self.runbook(self.K8S_RUNBOOK)
        env = self.fake_kubectl(fail_rollout=True)
        r = self.run_rb(env=env)
        self.assertExit(r, ROLLED_BACK)
        self.assertIn("kubectl -n shop rollout undo deployment/web", self.lines("kubectl.log"))

    def test_stdlib_http_post_json(self):
        server = self.http_server({"/api": Route(200, {"ok": True})})
        self.runbook(f"""\
import "std/http"
environment dev {{ x = 1 }}
pipeline p {{
  stage s {{
    http.post_json("{server.url}/api", "{{\\"v\\": 1}}")
  }}
}}
""")
        r = self.run_rb()
        self.assertExit(r, OK)
        [(method, path, body, headers)] = server.requests
        self.assertEqual((method, path), ("POST", "/api"))
        self.assertEqual(json.loads(body), {"v": 1})
        self.assertEqual({k.lower(): v for k, v in headers.items()}.get("content-type"), "application/json")


if __name__ == "__main__":
    unittest.main()
