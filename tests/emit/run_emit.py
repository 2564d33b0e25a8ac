#!/usr/bin/env python3
"""Tests of `trixc emit`: what it writes must pass the real third-party
validators, be deterministic, and its shell steps must do what the runtime does.

1. Validators (shared/validators, next to the repository: ../shared/validators
   from the repository root, or $TRIX_VALIDATORS_DIR): every example in
   examples/ and every emit golden input that is expected to succeed is
   emitted for GitHub Actions (actionlint), Argo (Argo Workflows / Rollouts /
   CD schemas and types) and Prometheus (promtool). Zero findings is the bar.
   A missing validator is a FAILURE with a message, never a skip.
2. Determinism: emitting twice gives the same bytes.
3. Execution: the `run:` scripts of an emitted GitHub workflow are run with
   bash, in job order, against a real HTTP server and a real Prometheus on
   127.0.0.1: checks pass and fail as the runtime's would, parameters with
   shell syntax arrive as one word, probes fail closed.

Usage: run_emit.py --trixc PATH [-k SUBSTR]
"""

import argparse
import filecmp
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
TRIXC = None


sys.dont_write_bytecode = True
sys.path.insert(0, str(REPO / "tests"))
from validators import validators_dir  # noqa: E402  (tests/validators.py: where shared/validators is)


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, **kw)


class GitHubExpr:
    """A small evaluator of the GitHub Actions expressions the emitter writes
    (`${{ ... }}` or bare): literals, `needs.J.outputs.X`, `needs.J.result`,
    `steps.S.outputs.X`, `==` `!=` (strings compare without case), `!` `&&` `||`,
    parentheses, and the status functions from a context dict."""

    def __init__(self, text, ctx):
        import re
        text = text.strip()
        if text.startswith("${{") and text.endswith("}}"):
            text = text[3:-2]
        self.toks = re.findall(r"'(?:[^']|'')*'|[A-Za-z_][\w.-]*\(\)|[A-Za-z_][\w.-]*|==|!=|&&|\|\||[!()]|\S", text)
        self.i, self.ctx = 0, ctx

    @staticmethod
    def truthy(v):
        return v not in (False, None, "", 0)

    def peek(self):
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self):
        self.i += 1
        return self.toks[self.i - 1]

    def value(self):
        v = self.or_()
        assert self.peek() is None, f"unparsed expression tail {self.toks[self.i:]}"
        return v

    def or_(self):
        v = self.and_()
        while self.peek() == "||":
            self.take()
            w = self.and_()
            v = v if self.truthy(v) else w
        return v

    def and_(self):
        v = self.cmp()
        while self.peek() == "&&":
            self.take()
            w = self.cmp()
            v = w if self.truthy(v) else v
        return v

    def cmp(self):
        v = self.unary()
        if self.peek() in ("==", "!="):
            op = self.take()
            w = self.unary()
            norm = lambda x: str(x).lower() if not isinstance(x, bool) else x  # noqa: E731
            eq = norm(v) == norm(w)
            return eq if op == "==" else not eq
        return v

    def unary(self):
        if self.peek() == "!":
            self.take()
            return not self.truthy(self.unary())
        if self.peek() == "(":
            self.take()
            v = self.or_()
            assert self.take() == ")"
            return v
        t = self.take()
        if t.startswith("'"):
            return t[1:-1].replace("''", "'")
        if t in ("true", "false"):
            return t == "true"
        if t.endswith("()"):
            f = t[:-2]
            if f == "always":
                return True
            assert f in ("success", "failure", "cancelled"), f"unknown function {t}"
            return self.ctx[f]
        parts = t.split(".")
        if parts[0] == "needs" and len(parts) == 3 and parts[2] == "result":
            return self.ctx["needs"].get(parts[1], {}).get("result", "")
        if parts[0] == "needs" and len(parts) == 4 and parts[2] == "outputs":
            return self.ctx["needs"].get(parts[1], {}).get("outputs", {}).get(parts[3], "")
        if parts[0] == "inputs" and len(parts) == 2:
            return self.ctx.get("inputs", {}).get(parts[1], "")
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.ctx["steps"].get(parts[1], {}).get(parts[3], "")
        raise AssertionError(f"unexpected expression token {t}")


def emit(backend, src, out, *extra):
    env = dict(os.environ, NO_COLOR="1")
    return run([TRIXC, "emit", backend, str(src), "-o", str(out), *extra], env=env, cwd=src.parent)


# Backends that write one file (-o names the file).
SINGLE = {"prometheus": "rules.yml", "grafana": "dashboard.json"}


def inputs():
    """(path, allow_degraded) for every runbook that must emit. The degraded
    form is what a user gets with --allow-degraded, so it must be valid too."""
    cases = [(p, True) for p in sorted((REPO / "examples").glob("*.trix"))]
    for phase in ("emit-github", "emit-argo", "emit-prometheus", "emit-grafana", "emit-github-degraded"):
        for p in sorted((REPO / "tests" / "golden" / phase).glob("*.trix")):
            if not p.name.startswith("error."):
                cases.append((p, True))
    return cases


class Validators(unittest.TestCase):
    home = None

    @classmethod
    def setUpClass(cls):
        vd = validators_dir()
        missing = [n for n in ("install.sh", "gha-lint", "argo-validate", "prom-check", "grafana-check") if not (vd / n).exists()]
        if missing:
            raise AssertionError(f"validators not found in {vd} (missing {', '.join(missing)}); the repository must be "
                                 "cloned next to shared/, or set TRIX_VALIDATORS_DIR")
        r = run(["bash", str(vd / "install.sh")])
        if r.returncode != 0:
            raise AssertionError(f"validators/install.sh failed:\n{r.stdout}")
        cls.vd = vd
        cls.tmp = Path(tempfile.mkdtemp(prefix="trix-emit-"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def emit_all(self, backend, validator, pattern):
        checked = 0
        for src, degraded in inputs():
            with self.subTest(src=src.name, backend=backend):
                out = self.tmp / backend / src.stem
                shutil.rmtree(out, ignore_errors=True)
                target = out / SINGLE[backend] if backend in SINGLE else out
                extra = ["--allow-degraded"] if degraded else []
                r = emit(backend, src, target, *extra)
                self.assertEqual(r.returncode, 0, f"trixc emit {backend} {src}:\n{r.stdout}")
                files = sorted(out.rglob(pattern))
                self.assertTrue(files, f"nothing emitted for {src}")
                v = run(["bash", str(self.vd / validator)] + [str(f) for f in files])
                self.assertEqual(v.returncode, 0, f"{validator} found problems in what `trixc emit {backend} {src.name}` wrote:\n{v.stdout}")
                # Determinism: a second emission is byte-identical.
                again = self.tmp / (backend + "-again") / src.stem
                shutil.rmtree(again, ignore_errors=True)
                emit(backend, src, again / SINGLE[backend] if backend in SINGLE else again, *extra)
                for f in files:
                    twin = again / f.relative_to(out)
                    self.assertTrue(twin.exists() and filecmp.cmp(f, twin, shallow=False), f"{f.name} differs between two runs")
                # Every YAML document parses (the writer's quoting is read back as written).
                for f in files if backend != "grafana" else []:
                    list(yaml.safe_load_all(f.read_text()))
                checked += len(files)
        return checked

    def test_github_actionlint(self):
        n = self.emit_all("github", "gha-lint", "*.yml")
        self.assertGreater(n, 5)

    def test_argo_schemas(self):
        n = self.emit_all("argo", "argo-validate", "*.yaml")
        self.assertGreater(n, 5)

    def test_prometheus_promtool(self):
        self.emit_all("prometheus", "prom-check", "*.yml")

    def test_grafana_dashboard(self):
        n = self.emit_all("grafana", "grafana-check", "*.json")
        self.assertGreater(n, 5)
        # The booking example's analysis metrics and prometheus check are panels with their queries.
        out = self.tmp / "grafana" / "booking" / "dashboard.json"
        d = json.loads(out.read_text())
        exprs = {t["expr"] for p in d["panels"] for t in p.get("targets", [])}
        self.assertTrue(any("histogram_quantile(0.95" in e for e in exprs), exprs)
        ids = [p["id"] for p in d["panels"]]
        self.assertEqual(ids, list(range(1, len(ids) + 1)))

    def test_github_environments_json(self):
        out = self.tmp / "envs"
        r = emit("github", REPO / "examples" / "booking.trix", out, "--allow-degraded")
        self.assertEqual(r.returncode, 0, r.stdout)
        body = json.loads((out / "environments" / "release-devops-lead.json").read_text())
        self.assertTrue(body["prevent_self_review"])
        self.assertEqual(sorted(x["login"] for x in body["reviewers"]), ["alice", "bob"])
        wf = yaml.safe_load((out / "release.yml").read_text())
        envs = {j.get("environment") for j in wf["jobs"].values()}
        self.assertIn("release-devops-lead", envs)
        self.assertIn("release-security", envs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = {"/data": b'{"items": [1, 2], "name": "x"}', "/text": b"not json"}.get(self.path)
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write(body or b"missing")

    def log_message(self, *a):
        pass


class Execution(unittest.TestCase):
    """Runs the emitted GitHub step scripts with bash against real local servers."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="trix-exec-"))
        cls.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=cls.http.serve_forever, daemon=True).start()
        cls.prom_port = free_port()
        (cls.tmp / "prom.yml").write_text("global:\n  scrape_interval: 1h\n")
        cls.prom = subprocess.Popen(["prometheus", f"--config.file={cls.tmp / 'prom.yml'}", f"--web.listen-address=127.0.0.1:{cls.prom_port}",
                                     f"--storage.tsdb.path={cls.tmp / 'tsdb'}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", cls.prom_port), timeout=1):
                    break
            except OSError:
                time.sleep(0.2)
        r = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{cls.prom_port}/-/ready"], capture_output=True)
        while r.returncode != 0 and time.time() < deadline:
            time.sleep(0.3)
            r = subprocess.run(["curl", "-sf", f"http://127.0.0.1:{cls.prom_port}/-/ready"], capture_output=True)

    @classmethod
    def tearDownClass(cls):
        cls.http.shutdown()
        cls.prom.terminate()
        cls.prom.wait(timeout=30)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def runbook(self, gate_checks, stage_steps="", params=""):
        port = self.http.server_address[1]
        text = f"""
{params}
environment local {{
  api = "http://127.0.0.1:{port}"
  prometheus = "http://127.0.0.1:{self.prom_port}"
}}
gate g {{
{gate_checks}
}}
pipeline p {{
  trigger dispatch
  timeout = 5m
  gate g
  stage s {{
    run "true"
{stage_steps}
  }}
}}
"""
        src = self.tmp / f"case{abs(hash(text))}.trix"
        src.write_text(text)
        r = subprocess.run([TRIXC, "emit", "github", str(src)], env=dict(os.environ, NO_COLOR="1"), capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return yaml.safe_load(r.stdout)

    def fresh_work(self, wf):
        """An empty working folder and the environment of a workflow's steps outside GitHub."""
        work = self.tmp / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        env = dict(os.environ)
        for k, v in (wf.get("env") or {}).items():
            # Outside GitHub there are no inputs: the default is the literal after `||`.
            # (a GitHub expression string doubles its single quotes)
            env[k] = v.rsplit("|| '", 1)[1][: -len("') }}")].replace("''", "'") if "||" in v else v
        env["TRIX_DEADLINE"] = str(int(time.time()) + 300)
        return work, env

    def run_jobs(self, wf, env_extra=None):
        """Runs each job's `run:` steps in order; returns (job id, step name, exit code) of the first failure, or None."""
        work, env = self.fresh_work(wf)
        env.update(env_extra or {})
        for jid, job in wf["jobs"].items():
            if jid.endswith("rollback"):
                continue
            for step in job["steps"]:
                if "run" not in step:
                    continue
                out = work / "github_output"
                script = step["run"].replace("${{ github.run_id }}", "1").replace("${{ github.triggering_actor }}", "me")
                if "${{" in script:
                    continue  # the approval-timeout step reads GitHub's expressions
                p = subprocess.run(["bash", "-e", "-c", script], cwd=work, env=dict(env, GITHUB_OUTPUT=str(out)),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
                if p.returncode != 0:
                    return jid, step.get("name", step.get("id")), p.returncode, p.stdout
        return None

    def simulate_github(self, wf, cancel_at=None, inputs=None):
        """Runs the workflow as GitHub would for this shape: jobs in order, each job's and
        step's `if:` evaluated by GitHubExpr with GitHub's status functions (a step with
        no `if:` has `success()`), outputs as the jobs wrote them. `cancel_at` = (job id,
        step name): the run is cancelled as that step starts (it does not run), as when a
        user cancels the workflow. Returns the first failed (or cancelled) job id."""
        work, env = self.fresh_work(wf)
        outputs, results, failed = {}, {}, None
        state = {"cancelled": False}

        for jid, job in wf["jobs"].items():
            ctx = {"needs": {n: {"outputs": outputs.get(n, {}), "result": results.get(n, "skipped")} for n in job.get("needs", [])},
                   "cancelled": state["cancelled"], "failure": any(r == "failure" for r in results.values()),
                   "steps": {}, "inputs": inputs or {}}
            ctx["success"] = not ctx["failure"] and not ctx["cancelled"]
            if not GitHubExpr.truthy(GitHubExpr(job.get("if", "success()"), ctx).value()):
                results[jid] = "skipped"
                continue
            step_outputs = {}  # GitHub step id -> its outputs
            ctx["steps"] = step_outputs
            step_failed = False
            result = "success"
            for step in job["steps"]:
                cancelled_before = state["cancelled"]
                if cancel_at == (jid, step.get("name", step.get("id"))):
                    state["cancelled"] = True
                    result = "cancelled"
                sctx = dict(ctx, cancelled=state["cancelled"], failure=step_failed, success=not step_failed and not state["cancelled"])
                if not GitHubExpr.truthy(GitHubExpr(step.get("if", "success()"), sctx).value()):
                    continue
                if cancel_at == (jid, step.get("name", step.get("id"))) and not cancelled_before:
                    continue  # the step being cancelled
                if "run" not in step or "${{" in step["run"]:
                    continue
                step_env = dict(env)
                for k, v in (step.get("env") or {}).items():
                    x = GitHubExpr(v, sctx).value()
                    step_env[k] = str(x).lower() if isinstance(x, bool) else str(x)
                out = work / f"out-{jid}"
                out.write_text("")
                p = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=work, env=dict(step_env, GITHUB_OUTPUT=str(out)),
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
                if "id" in step:
                    step_outputs[step["id"]] = dict(line.partition("=")[::2] for line in out.read_text().splitlines())
                if p.returncode != 0:
                    step_failed = True
                    if result == "success":
                        result = "failure"
            results[jid] = result
            if result != "success" and failed is None:
                failed = jid
            # Job outputs as GitHub computes them: from the job's `outputs:` map over its steps' outputs.
            outputs[jid] = {name: GitHubExpr(expr, dict(ctx, steps=step_outputs)).value() or "" for name, expr in (job.get("outputs") or {}).items()}
        return failed

    def test_rollback_undoes_what_finished_newest_first(self):
        src = self.tmp / "rollback.trix"
        src.write_text("""
param go: bool = true
environment local {
}
action mark(x: string) {
  run "echo ${x} >> log"
  undo { run "echo undo-${x} >> log" }
}
pipeline p {
  trigger dispatch
  stage one {
    a: run "echo a >> log"
    undo { run "echo undo-a >> log" }
    parallel {
      p1: run "echo p1 >> log"
      undo { run "echo undo-p1 >> log" }
    }
    mark("m") when go
  }
  stage two {
    b: run "echo b >> log"
    undo { run "echo undo-b >> log" }
    run "exit 1"
    c: run "echo c >> log"
    undo { run "echo undo-c >> log" }
  }
  rollback {
    run "echo rollback-block >> log"
    run "echo guarded >> log" when steps.c.ok
    run "echo after-guard >> log" when steps.b.ok
  }
}
""")
        r = subprocess.run([TRIXC, "emit", "github", str(src)], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        wf = yaml.safe_load(r.stdout)
        self.assertEqual(self.simulate_github(wf), "stage-two")
        self.assertEqual((self.tmp / "work" / "log").read_text().split(),
                         ["a", "p1", "m", "b", "undo-b", "undo-m", "undo-p1", "undo-a", "rollback-block", "after-guard"])

    CANCEL_RUNBOOK = """
environment local {
}
pipeline p {
  trigger dispatch
  stage one {
    a: run "echo a >> log"
    undo { run "echo undo-a >> log" }
  }
  stage two {
    b: run "echo b >> log"
    undo { run "echo undo-b >> log" }
    run "echo interrupted-here >> log"
    c: run "echo c >> log"
    undo { run "echo undo-c >> log" }
  }
  rollback {
    run "echo rollback-block >> log"
  }
  verify {
    check "never reached" run "true"
  }
}
"""

    def emit_stdout(self, text, name):
        src = self.tmp / name
        src.write_text(text)
        r = subprocess.run([TRIXC, "emit", "github", str(src)], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return yaml.safe_load(r.stdout)

    def test_cancelled_run_rolls_back_what_finished(self):
        # A cancelled workflow is the runtime's SIGINT: the undo blocks of what finished, then the
        # rollback block (section 9). After a cancel GitHub skips every step whose `if:` is
        # `success()` or `!cancelled()`, so the rollback job's steps must still run.
        wf = self.emit_stdout(self.CANCEL_RUNBOOK, "cancel.trix")
        self.assertEqual(self.simulate_github(wf, cancel_at=("stage-two", "echo interrupted-here >> log")), "stage-two")
        self.assertEqual((self.tmp / "work" / "log").read_text().split(), ["a", "b", "undo-b", "undo-a", "rollback-block"])

    def test_cancel_before_any_change_rolls_nothing_back(self):
        # Cancelled while the first stage job had not started: nothing changed, nothing to undo,
        # and the rollback block must not run either.
        wf = self.emit_stdout(self.CANCEL_RUNBOOK, "cancel.trix")
        self.assertEqual(self.simulate_github(wf, cancel_at=("start", "finished")), "start")
        self.assertFalse((self.tmp / "work" / "log").exists())

    def window_case(self, attrs, inputs=None):
        """A protected-free environment with `attrs` (window / freeze); returns (failed job, log lines)."""
        wf = self.emit_stdout(f"""
environment local {{
  {attrs}
}}
pipeline p {{
  trigger dispatch
  gate g
  stage one {{
    a: run "echo a >> log"
    undo {{ run "echo undo-a >> log" }}
  }}
  rollback {{ run "echo rollback-block >> log" }}
}}
gate g {{ check "before" run "echo gate >> log" }}
""", "window.trix")
        failed = self.simulate_github(wf, inputs=inputs)
        log = self.tmp / "work" / "log"
        return failed, (log.read_text().split() if log.exists() else [])

    @staticmethod
    def day(offset):
        import datetime
        return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=offset)).strftime("%a")

    @staticmethod
    def date(offset):
        import datetime
        return (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=offset)).strftime("%Y-%m-%d")

    def test_window_open_deploys(self):
        # Today, all day, in UTC and at +14:00 / -12:00 (the zone's day may differ from UTC's).
        self.assertEqual(self.window_case(f'window = "{self.day(0)} 00:00-24:00 UTC"'), (None, ["gate", "a"]))
        failed, _ = self.window_case(f'window = "{self.day(-1)},{self.day(0)},{self.day(1)} 00:00-24:00 +14:00"')
        self.assertIsNone(failed)

    def test_outside_window_stops_with_nothing_changed(self):
        # Spec section 9: outside env.window a run stops before its first change; the gate ran, no
        # stage ran, and nothing is rolled back.
        self.assertEqual(self.window_case(f'window = "{self.day(2)} 00:00-24:00 UTC"'), ("window", ["gate"]))

    def test_inside_freeze_stops_and_override_deploys(self):
        attrs = f'freeze = ["{self.date(-1)}..{self.date(1)}"]'
        self.assertEqual(self.window_case(attrs), ("window", ["gate"]))
        self.assertEqual(self.window_case(attrs, inputs={"override_window": "hotfix INC-1"}), (None, ["gate", "a"]))
        self.assertEqual(self.window_case(f'freeze = ["{self.date(1)}"]'), (None, ["gate", "a"]))

    def test_required_parameter_without_value_stops_before_anything(self):
        # `param tag: string` has no default: the runtime will not start without it. A push run
        # has no inputs, so the emitted workflow must stop at its start, not deploy with "".
        wf = self.emit_stdout("""
param tag: string
environment local {
}
pipeline p {
  trigger push { branch = "main" }
  trigger dispatch
  stage s {
    run "echo deploy-${tag} >> log"
    undo { run "echo undo >> log" }
  }
}
""", "required.trix")
        self.assertEqual(self.simulate_github(wf), "start")
        self.assertFalse((self.tmp / "work" / "log").exists())

    def test_window_arithmetic_at_fixed_instants(self):
        # The emitted check with `date` replaced by chosen instants (UTC), against what
        # docs/decisions.md says the window and freeze syntax means.
        import datetime
        wf = yaml.safe_load((REPO / "tests" / "golden" / "emit-github" / "ok.window.trix.golden").read_text())
        [step] = [st for st in wf["jobs"]["window"]["steps"] if st.get("name", "").startswith("Inside the deployment window")]
        cases = {  # UTC instant -> open?
            "2027-02-01 09:00": True,    # Monday 09:00 UTC: the window starts (inclusive)
            "2027-02-01 08:59": False,
            "2027-02-04 15:59": True,    # Thursday
            "2027-02-04 16:00": False,   # the end is exclusive
            "2027-02-05 12:00": False,   # Friday noon: only the night window
            "2027-02-05 20:00": True,    # Friday 22:00 at +02:00
            "2027-02-05 23:30": True,    # Saturday 01:30 at +02:00: Friday's window crosses midnight
            "2027-02-06 00:30": False,   # Saturday 02:30 at +02:00
            "2027-02-06 21:00": False,   # Saturday 23:00 at +02:00
            "2026-12-21 10:00": False,   # a Monday inside the freeze
            "2027-01-04 10:00": True,    # the Monday after it
            "2027-03-01 10:00": False,   # a Monday frozen on its own
        }
        for when, is_open in cases.items():
            t = int(datetime.datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=datetime.timezone.utc).timestamp())
            script = step["run"].replace("trix_now=$(date +%s)", f"trix_now={t}")
            self.assertNotEqual(script, step["run"])
            p = subprocess.run(["bash", "-e", "-c", script], env=dict(os.environ, TRIX_OVERRIDE_WINDOW=""), capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode == 0, is_open, f"{when}: {p.stdout}{p.stderr}")
            p = subprocess.run(["sh", "-e", "-c", script], env=dict(os.environ, TRIX_OVERRIDE_WINDOW="INC-7"), capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout)

    def baseline_case(self, after):
        src = self.tmp / "baseline.trix"
        src.write_text(f"""
environment local {{
  prometheus = "http://127.0.0.1:{self.prom_port}"
}}
pipeline p {{
  trigger dispatch
  baseline b = prometheus "vector(2)"
  baseline r = run "echo 40" read float(stdout) / 2
  stage s {{
    run "true"
  }}
  verify {{
    check "no worse" prometheus "{after}" expect value <= baseline.b * 1.1 and baseline.r == 20
  }}
}}
""")
        r = subprocess.run([TRIXC, "emit", "github", str(src)], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return self.simulate_github(yaml.safe_load(r.stdout))

    def test_baseline_read_by_verify(self):
        self.assertIsNone(self.baseline_case("vector(2.1)"))

    def test_baseline_exceeded_fails_verify(self):
        self.assertEqual(self.baseline_case("vector(3)"), "verify")

    def test_checks_pass(self):
        wf = self.runbook("""
  check "a number" run "echo 85" expect float(stdout) > 80 and exit_code == 0
  check "json" http GET "${env.api}/data" expect status == 200 and len(json("/items")) == 2 and json("/name") == "x"
  check "default http" http GET "${env.api}/data"
  check "prometheus" prometheus "vector(0.005)" expect value < 1%
""", """    w: run "printf '%s' ${who} > out.txt"
    undo { run "rm out.txt" }
""", 'param who: string = "it\'s; $HOME `x`"')
        failure = self.run_jobs(wf)
        self.assertIsNone(failure, f"a step failed: {failure}")
        self.assertEqual((self.tmp / "work" / "out.txt").read_text(), "it's; $HOME `x`")
        self.assertRegex((self.tmp / "work" / "github_output").read_text(), r"i\d+=done")

    def assert_fails(self, check):
        wf = self.runbook(check)
        failure = self.run_jobs(wf)
        self.assertIsNotNone(failure, f"`{check.strip()}` passed; it must fail")
        self.assertEqual(failure[0], "gate-g", failure)

    def test_run_expect_fails(self):
        self.assert_fails('  check "low" run "echo 10" expect float(stdout) > 80')

    def test_run_exit_code_fails(self):
        self.assert_fails('  check "exit" run "exit 3"')

    def test_http_status_fails(self):
        self.assert_fails('  check "404" http GET "${env.api}/nothing"')

    def test_http_not_json_fails_closed(self):
        self.assert_fails('  check "json" http GET "${env.api}/text" expect len(json("/items")) >= 0')

    def test_http_missing_pointer_fails_closed(self):
        self.assert_fails('  check "json" http GET "${env.api}/data" expect json("/absent") == 1')

    def test_http_unreachable_fails(self):
        self.assert_fails(f'  check "down" http GET "http://127.0.0.1:{free_port()}/"')

    def test_prometheus_no_data_fails_closed(self):
        self.assert_fails('  check "no data" prometheus "trix_no_such_metric" expect value < 1')

    def test_prometheus_value_fails(self):
        self.assert_fails('  check "high" prometheus "vector(0.5)" expect value < 1%')

    def test_retries_then_pass(self):
        wf = self.runbook("""
  check "third time" run "n=$(cat n 2>/dev/null || echo 0); echo $((n+1)) > n; [ $n -ge 2 ]" { retries = 3, interval = 1s }
""")
        self.assertIsNone(self.run_jobs(wf))
        self.assertEqual((self.tmp / "work" / "n").read_text().strip(), "3")

    def test_step_timeout(self):
        wf = self.runbook('  check "ok" run "true"', '    run "sleep 30" { timeout = 1s }')
        started = time.time()
        failure = self.run_jobs(wf)
        self.assertIsNotNone(failure)
        self.assertLess(time.time() - started, 20)

    def test_pipeline_timeout_ends_waits(self):
        # The pipeline `timeout` ends any step (section 9), a `wait` or `wait until` included:
        # with 3 s left, a 10-minute wait and a wait for a probe that never passes both fail fast.
        port = self.http.server_address[1]
        for step in ('    wait 10m', f'    wait until http GET "http://127.0.0.1:{port}/missing" {{ timeout = 10m, interval = 1s }}'):
            wf = self.runbook('  check "ok" run "true"', step)
            started = time.time()
            failure = self.run_jobs(wf, {"TRIX_DEADLINE": str(int(time.time()) + 3)})
            self.assertIsNotNone(failure, step)
            self.assertIn("the pipeline timeout has passed", failure[3])
            self.assertLess(time.time() - started, 20, step)


class FakeGithubApi(http.server.BaseHTTPRequestHandler):
    """The GitHub REST API cannot exist here: this stand-in serves one run's
    review history (`reviews`) and records every request it was asked."""
    reviews = []
    asked = []

    def do_GET(self):
        type(self).asked.append((self.path, self.headers.get("Authorization")))
        if self.path != "/repos/acme/shop/actions/runs/42/approvals":
            self.send_response(404)
            self.end_headers()
            return
        body = json.dumps(type(self).reviews).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class GithubApiCase(unittest.TestCase):
    """Emits RUNBOOK to GitHub once per class, serves FakeGithubApi on a
    loopback port, and runs a job's step script against it."""

    RUNBOOK = ""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="trix-github-api-"))
        src = cls.tmp / "runbook.trix"
        src.write_text(cls.RUNBOOK)
        r = subprocess.run([TRIXC, "emit", "github", str(src), "-o", str(cls.tmp / "out")], env=dict(os.environ, NO_COLOR="1"),
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        cls.wf = yaml.safe_load((cls.tmp / "out" / "release.yml").read_text())
        cls.api = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeGithubApi)
        threading.Thread(target=cls.api.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.api.shutdown()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_step(self, step, reviews, actor, token, repo="acme/shop"):
        """Runs the step's script with bash as GitHub would (run 42 of REPO) and
        returns the finished process; FakeGithubApi.asked records its requests."""
        FakeGithubApi.reviews = reviews
        FakeGithubApi.asked = []
        env = dict(os.environ, GITHUB_API_URL=f"http://127.0.0.1:{self.api.server_address[1]}", GITHUB_REPOSITORY=repo,
                   GITHUB_RUN_ID="42", GITHUB_TRIGGERING_ACTOR=actor, TRIX_GITHUB_TOKEN=token)
        return subprocess.run(["bash", "-e", "-c", step["run"]], env=env, capture_output=True, text=True, timeout=60)


class QuorumApproval(GithubApiCase):
    """A quorum of two on GitHub: two environments with the same reviewers and a
    job that counts the distinct approvers in the run's review history. The
    counting script runs with bash, curl and jq against a recording stand-in of
    the GitHub API."""

    RUNBOOK = """
role ops = ["alice", "bob"]
role security = ["Dave", "erin"]
environment production { protected = true }
approval release { require 2 of [ops, security] }
pipeline release {
  trigger dispatch
  approve release
  stage rollout {
    run "./deploy.sh"
    undo { run "./undeploy.sh" }
  }
}
"""

    def count(self, reviews, actor="bob"):
        [step] = self.wf["jobs"]["approve-release-quorum"]["steps"][:1]
        p = self.run_step(step, reviews, actor, "tok-123")
        self.assertEqual(FakeGithubApi.asked, [("/repos/acme/shop/actions/runs/42/approvals", "Bearer tok-123")])
        return p.returncode, p.stdout + p.stderr

    @staticmethod
    def review(who, *envs, state="approved"):
        return {"state": state, "comment": "", "user": {"login": who}, "environments": [{"name": e} for e in envs]}

    def test_shape(self):
        jobs = self.wf["jobs"]
        self.assertEqual(jobs["approve-release-1"]["environment"], "release-1")
        self.assertEqual(jobs["approve-release-2"]["environment"], "release-2")
        self.assertEqual(jobs["approve-release-quorum"]["needs"], ["start", "approve-release-1", "approve-release-2"])
        self.assertEqual(jobs["approve-release-quorum"]["permissions"], {"actions": "read", "contents": "read"})
        self.assertIn("approve-release-quorum", jobs["stage-rollout"]["needs"])
        for e in ("release-1", "release-2"):
            body = json.loads((self.tmp / "out" / "environments" / f"{e}.json").read_text())
            self.assertTrue(body["prevent_self_review"])
            self.assertEqual(sorted(x["login"] for x in body["reviewers"]), ["Dave", "alice", "bob", "erin"])

    def test_two_people_pass(self):
        rc, out = self.count([self.review("alice", "release-1"), self.review("DAVE", "release-2")])
        self.assertEqual(rc, 0, out)
        self.assertIn("approved by alice,dave (2 of 2 needed)", out)

    def test_one_person_approving_both_environments_fails(self):
        rc, out = self.count([self.review("alice", "release-1", "release-2")])
        self.assertEqual(rc, 1, out)
        self.assertIn("needs 2 distinct people", out)

    def test_outsiders_rejections_other_environments_and_the_starter_do_not_count(self):
        rc, out = self.count([self.review("alice", "release-1"), self.review("mallory", "release-2"), self.review("erin", "release-2", state="rejected"),
                              self.review("dave", "production"), self.review("Bob", "release-2")], actor="bob")
        self.assertEqual(rc, 1, out)
        self.assertIn("approved by alice (1 of 2 needed)", out)

    def test_api_failure_fails_closed(self):
        [step] = self.wf["jobs"]["approve-release-quorum"]["steps"][:1]
        p = self.run_step(step, [], "bob", "tok", repo="acme/other")
        self.assertNotEqual(p.returncode, 0)


class SingleApproval(GithubApiCase):
    """`require ops` on GitHub: the approval job's environment has the role's members
    as required reviewers, and the job itself checks the run's review history, so an
    environment that was never configured (GitHub creates it with no reviewers) or an
    administrator's bypass of its protection rules cannot let the run through. The
    check runs with bash, curl and jq against the recording stand-in of the GitHub API."""

    RUNBOOK = """
role ops = ["alice", "Bob"]
environment production { protected = true }
approval release { require ops }
pipeline release {
  trigger dispatch
  approve release
  stage rollout { run "./deploy.sh" }
}
"""
    JOB = "approve-release"

    def check(self, reviews, actor="carol"):
        job = self.wf["jobs"][self.JOB]
        [step] = [st for st in job["steps"] if "TRIX_GITHUB_TOKEN" in (st.get("env") or {})]
        p = self.run_step(step, reviews, actor, "tok-1")
        self.assertEqual(FakeGithubApi.asked, [("/repos/acme/shop/actions/runs/42/approvals", "Bearer tok-1")])
        return p.returncode, p.stdout + p.stderr

    def test_shape(self):
        job = self.wf["jobs"]["approve-release"]
        self.assertEqual(job["environment"], "release")
        self.assertEqual(job["permissions"], {"actions": "read", "contents": "read"})
        self.assertIn("approve-release", self.wf["jobs"]["stage-rollout"]["needs"])

    def test_a_member_approved(self):
        rc, out = self.check([QuorumApproval.review("bob", "release")])
        self.assertEqual(rc, 0, out)
        self.assertIn("approved by bob (1 of 1 needed)", out)

    def test_no_review_unconfigured_environment_or_bypass_fails(self):
        rc, out = self.check([])
        self.assertEqual(rc, 1, out)
        self.assertIn("needs 1 distinct people of [ops]", out)

    def test_the_starter_an_outsider_or_another_environment_do_not_count(self):
        rc, out = self.check([QuorumApproval.review("alice", "release"), QuorumApproval.review("mallory", "release"),
                              QuorumApproval.review("bob", "staging")], actor="Alice")
        self.assertEqual(rc, 1, out)


class Attestation(SingleApproval):
    """`confirm` on GitHub: the attest job's environment takes the runbook's role members as
    reviewers, and the job checks the run's review history, so an `attest` environment that
    was never configured cannot pass an unanswered confirm (section 4: it fails)."""

    RUNBOOK = """
role ops = ["alice", "Bob"]
environment production { }
gate ready { confirm "change ticket filed" }
pipeline release {
  trigger dispatch
  gate ready
  stage rollout { run "./deploy.sh" }
}
"""
    JOB = "attest-ready"

    def test_shape(self):
        job = self.wf["jobs"][self.JOB]
        self.assertEqual(job["environment"], "attest")
        self.assertEqual(job["permissions"], {"actions": "read", "contents": "read"})
        self.assertIn(self.JOB, self.wf["jobs"]["stage-rollout"]["needs"])

    def test_a_member_approved(self):
        rc, out = self.check([QuorumApproval.review("BOB", "attest")])
        self.assertEqual(rc, 0, out)
        self.assertIn("attested by bob", out)

    def test_no_review_unconfigured_environment_or_bypass_fails(self):
        rc, out = self.check([])
        self.assertEqual(rc, 1, out)
        self.assertIn("no member of the roles of the runbook attested", out)

    def test_the_starter_an_outsider_or_another_environment_do_not_count(self):
        # The starter may attest (a confirm has no separation of duties); outsiders and
        # other environments do not count.
        rc, out = self.check([QuorumApproval.review("mallory", "attest"), QuorumApproval.review("alice", "release")])
        self.assertEqual(rc, 1, out)


def main():
    global TRIXC
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trixc", required=True)
    ap.add_argument("-k", default=None, help="only tests whose name contains this")
    args, rest = ap.parse_known_args()
    TRIXC = str(Path(args.trixc).resolve())
    argv = [sys.argv[0], "-v"] + (["-k", args.k] if args.k else []) + rest
    unittest.main(module=__name__, argv=argv)


if __name__ == "__main__":
    main()
