"""`http` probes and steps against a real HTTP server on 127.0.0.1: gates
(status, `json()`, fail closed), verify checks (rollback), mutating steps."""

import json
import time
import unittest

from e2e_support import OK, ROLLED_BACK, STOPPED, Route, TrixTestCase, free_port

RUNBOOK = """\
param port: int = 1
param path: string = "/health"
param verify_path: string = "/health"

environment dev {
  host = "127.0.0.1"
}

gate health "Service health" {
  check "h" http GET "http://${env.host}:${port}${path}"
}

pipeline p {
  gate health
  stage s {
    a: run "echo a >> log"
    undo { run "echo undo-a >> log" }
  }
  verify {
    check "v" http GET "http://${env.host}:${port}${verify_path}"
  }
  rollback {
    run "echo rollback >> log"
  }
}
"""


class HttpGate(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.http_server({
            "/health": Route(200, {"status": "ok", "data": [1, 2, 3]}),
            "/empty": Route(200, {"status": "ok", "data": []}),
            "/broken": Route(500, {"error": "boom"}),
            "/text": Route(200, "plain text, not json", content_type="text/plain"),
            "/redirect": Route(302, "", headers={"Location": "/health"}),
            "/versioned": Route(200, {"version": "1.2.3"}, headers={"X-Version": "1.2.3"}),
        })
        self.runbook(RUNBOOK)

    def run_with(self, *params):
        args = ["--param", f"port={self.server.port}"]
        for p in params:
            args += ["--param", p]
        return self.run_rb(*args)

    def test_healthy_gate_and_verify_pass(self):
        r = self.run_with()
        self.assertExit(r, OK)
        self.assertEqual(self.lines("log"), ["a"])
        self.assertEqual(self.server.paths("GET"), ["/health", "/health"])

    def test_500_fails_the_gate_with_10(self):
        r = self.run_with("path=/broken")
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"))
        self.assertIn("500", r.stdout)
        self.assertIn("/broken", self.server.paths())

    def test_404_fails_the_gate(self):
        r = self.run_with("path=/nothing-here")
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"))

    def test_connection_refused_fails_closed_with_10(self):
        r = self.run_rb("--param", f"port={free_port()}")
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"))

    def test_probe_timeout_fails_closed(self):
        # The server answers after 10 s; the probe must give up at 300 ms. The
        # bound leaves room for a loaded machine (sanitizer builds in CI).
        self.server.routes["/slow"] = Route(200, {"data": []}, delay=10)
        self.runbook(RUNBOOK.replace('"http://${env.host}:${port}${path}"', '"http://${env.host}:${port}${path}" { timeout = 300ms }'))
        t0 = time.monotonic()
        r = self.run_with("path=/slow")
        self.assertExit(r, STOPPED)
        self.assertLess(time.monotonic() - t0, 6, "the probe did not give up at its timeout")
        self.assertFalse(self.exists("log"))

    def test_redirect_status_passes_the_default_expect(self):
        # default expect: status >= 200 and status < 400 (the 302 itself counts)
        r = self.run_with("path=/redirect")
        self.assertExit(r, OK)

    def test_failing_verify_check_rolls_back_with_11(self):
        r = self.run_with("verify_path=/broken")
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["a", "undo-a", "rollback"])

    def test_verify_against_a_server_that_went_away_rolls_back(self):
        r = self.run_rb("--param", f"port={self.server.port}", "--param", "verify_path=/health")
        self.assertExit(r, OK)
        (self.dir / "log").unlink()
        self.runbook(RUNBOOK.replace('"http://${env.host}:${port}${verify_path}"', f'"http://127.0.0.1:{free_port()}/health"'))
        r = self.run_with()
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.lines("log"), ["a", "undo-a", "rollback"])


EXPECT_RUNBOOK = """\
param port: int = 1
param path: string = "/health"
param want: int = 3

environment dev { x = 1 }

gate health {
  check "json" http GET "http://127.0.0.1:${port}${path}" expect status == 200 and len(json("/data")) == want
}

pipeline p {
  gate health
  stage s { run "echo changed >> log" }
}
"""


class HttpExpect(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.http_server({
            "/health": Route(200, {"status": "ok", "data": [1, 2, 3]}),
            "/empty": Route(200, {"status": "ok", "data": []}),
            "/text": Route(200, "plain text, not json", content_type="text/plain"),
            "/nodata": Route(200, {"status": "ok"}),
            "/versioned": Route(200, {"version": "1.2.3", "data": {"a": 1}}, headers={"X-Version": "1.2.3"}),
        })
        self.runbook(EXPECT_RUNBOOK)

    def run_with(self, *params):
        args = ["--param", f"port={self.server.port}"]
        for p in params:
            args += ["--param", p]
        return self.run_rb(*args)

    def test_expect_on_json_pointer_passes(self):
        self.assertExit(self.run_with(), OK)
        self.assertEqual(self.lines("log"), ["changed"])

    def test_expect_on_json_pointer_false_stops(self):
        r = self.run_with("path=/empty")
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"))

    def test_body_not_json_fails_closed(self):
        r = self.run_with("path=/text")
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"))

    def test_missing_json_pointer_fails_closed(self):
        r = self.run_with("path=/nodata", "want=0")
        self.assertExit(r, STOPPED)
        self.assertFalse(self.exists("log"))

    def test_expect_on_header_and_json_string(self):
        self.runbook(EXPECT_RUNBOOK.replace(
            'expect status == 200 and len(json("/data")) == want',
            'expect header("X-Version") == "1.2.3" and json("/version") == "1.2.3" and latency < 5s'))
        self.assertExit(self.run_with("path=/versioned"), OK)
        self.assertEqual(self.lines("log"), ["changed"])

    def test_probe_retries_until_the_service_is_healthy(self):
        # The first two requests get a 503; the probe retries (interval 100ms).
        calls = {"n": 0}
        server = self.server
        orig = server.routes

        class Flaky(dict):
            def get(self, path, default=None):
                if path == "/flaky":
                    calls["n"] += 1
                    return Route(503, {"data": []}) if calls["n"] <= 2 else Route(200, {"data": [1, 2, 3]})
                return orig.get(path, default)

        server.routes = Flaky()
        self.runbook(EXPECT_RUNBOOK.replace('"http://127.0.0.1:${port}${path}"', '"http://127.0.0.1:${port}${path}" { retries = 3, interval = 100ms }'))
        r = self.run_with("path=/flaky")
        self.assertExit(r, OK)
        self.assertEqual(calls["n"], 3)


STEP_RUNBOOK = """\
param port: int = 1
param payload: string = "{}"

environment dev { x = 1 }

pipeline p {
  stage s {
    post: http POST "http://127.0.0.1:${port}/deploy" { body = payload, headers = { X_Token = "abc" } } expect status == 201
    undo { http POST "http://127.0.0.1:${port}/undeploy" }
    run "echo after-post >> log; test ${port} = 0"
  }
}
"""


class HttpSteps(TrixTestCase):
    def setUp(self):
        super().setUp()
        self.server = self.http_server({
            "/deploy": Route(201, {"ok": True}),
            "/undeploy": Route(200, {"ok": True}),
        })
        self.runbook(STEP_RUNBOOK)

    def test_mutating_http_step_and_its_undo(self):
        r = self.run_rb("--param", f"port={self.server.port}", "--param", 'payload={"v": 2}')
        self.assertExit(r, ROLLED_BACK)
        self.assertEqual(self.server.paths("POST"), ["/deploy", "/undeploy"])
        _m, _p, body, headers = self.server.requests[0]
        self.assertEqual(json.loads(body), {"v": 2})
        self.assertEqual({k.lower(): v for k, v in headers.items()}.get("x_token"), "abc")
        self.assertEqual(self.lines("log"), ["after-post"])

    def test_dry_run_sends_no_request(self):
        r = self.run_rb("--param", f"port={self.server.port}", "--dry-run")
        self.assertExit(r, OK)
        self.assertEqual(self.server.requests, [])
        self.assertIn(f"127.0.0.1:{self.server.port}/deploy", r.stdout)
        self.assertFalse(self.exists("log"))

    def test_failing_http_step_rolls_back(self):
        self.server.routes["/deploy"] = Route(500, {"ok": False})
        r = self.run_rb("--param", f"port={self.server.port}")
        self.assertExit(r, ROLLED_BACK)
        # the failed step's own undo does not run
        self.assertEqual(self.server.paths("POST"), ["/deploy"])
        self.assertFalse(self.exists("log"))


if __name__ == "__main__":
    unittest.main()
