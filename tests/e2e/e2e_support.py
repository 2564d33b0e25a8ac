"""Shared helpers for the end-to-end tests of `trixc`.

Every test gets its own temporary directory (`self.dir`): the runbook is
written there, `trixc` runs with that directory as its working directory and
`--state-dir` inside it, and the steps of the runbook write their side
effects (log files, pid files) there too. Nothing outside it is touched.

The binary comes from the environment variable TRIXC (set by run_e2e.py);
when it is unset, ../../build/trixc relative to this file is used, so a
single file can be run with `python3 -m unittest test_run_basic` from here.
"""

import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
TRIXC = os.environ.get("TRIXC") or str(HERE.parent.parent / "build" / "trixc")

# No single trixc invocation in this suite should take longer than this; a
# hang is a failure, not a stuck CI job.
DEFAULT_TIMEOUT = 30

STATE = "st"  # --state-dir, relative to the test directory

# Exit codes of spec §13.
OK, ERRORS, USAGE, STOPPED, ROLLED_BACK, ROLLBACK_FAILED, INTERRUPTED = 0, 1, 2, 10, 11, 12, 13


def pid_alive(pid):
    """True when `pid` is a live (non-zombie) process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    # state is the first field after the parenthesised command name
    state = stat[stat.rfind(")") + 2:].split(" ", 1)[0]
    return state not in ("Z", "X")


def free_port():
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PROMETHEUS = shutil.which("prometheus")


class RealPrometheus:
    """A real Prometheus (Debian's `prometheus`) on a free loopback port, with
    its configuration, data and log in `workdir`, scraping `targets`
    ("127.0.0.1:PORT") every second. Ready (`/-/ready`) when the constructor
    returns; the first scrape of a target comes about 5 s later, so wait for
    a value with `wait_value`, never with a sleep. `close()` stops it."""

    def __init__(self, workdir, targets=(), ready_timeout=90):
        if PROMETHEUS is None:
            raise AssertionError("the `prometheus` binary is not installed: run tools/setup.sh (Debian package prometheus)")
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        config = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        if targets:
            config += "scrape_configs:\n  - job_name: app\n    static_configs:\n"
            config += f"      - targets: [{', '.join(repr(t) for t in targets)}]\n"
        (self.dir / "prometheus.yml").write_text(config)
        self._log = open(self.dir / "prometheus.log", "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.dir / 'prometheus.yml'}", f"--storage.tsdb.path={self.dir / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        if not self._poll(self._ready, ready_timeout):
            log = (self.dir / "prometheus.log").read_text()
            self.close()
            raise AssertionError(f"Prometheus was not ready within {ready_timeout} s; its log:\n{log}")

    def _ready(self):
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def _poll(self, predicate, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                return False
            if predicate():
                return True
            time.sleep(0.1)
        return False

    def query(self, q):
        """The value of the first sample of an instant query, or None."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": q}), timeout=2) as r:
                data = json.load(r)
        except (OSError, ValueError):
            return None
        result = data.get("data", {}).get("result", [])
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, q, value, timeout=60):
        """Waits until the instant query `q` gives `value`; AssertionError after `timeout` s."""
        if not self._poll(lambda: self.query(q) == value, timeout):
            raise AssertionError(f"Prometheus did not give {q} == {value} within {timeout} s (last: {self.query(q)}); "
                                 f"its log:\n{(self.dir / 'prometheus.log').read_text()}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


class Route:
    def __init__(self, status=200, body="", content_type="application/json", headers=None, delay=0):
        self.delay = delay  # seconds to wait before answering (a slow or hung service)
        self.status = status
        self.body = body if isinstance(body, (bytes, str)) else json.dumps(body)
        self.content_type = content_type
        self.headers = headers or {}


class LocalHttpServer:
    """A real HTTP server on 127.0.0.1 (port 0) in a thread of the test process.

    `routes` maps a path to a Route; other paths answer 404. Every request is
    recorded in `requests` as (method, path, body, headers)."""

    def __init__(self, routes=None):
        self.routes = dict(routes or {})
        self.requests = []
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                with outer._lock:
                    outer.requests.append((self.command, self.path, body.decode("utf-8", "replace"), dict(self.headers)))
                route = outer.routes.get(path)
                if route is None:
                    route = Route(404, {"error": "not found"})
                if route.delay:
                    time.sleep(route.delay)
                data = route.body.encode() if isinstance(route.body, str) else route.body
                self.send_response(route.status)
                self.send_header("Content-Type", route.content_type)
                self.send_header("Content-Length", str(len(data)))
                for k, v in route.headers.items():
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _serve

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def paths(self, method=None):
        with self._lock:
            return [p for (m, p, _b, _h) in self.requests if method is None or m == method]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class PtyProcess:
    """trixc on a real pseudo-terminal (stdin, stdout and stderr all on it).

    A thread reads the terminal into `output` (bytes, as the terminal got
    them: escape codes and CR LF included); `send()` types a line."""

    def __init__(self, argv, cwd, env, rows=24, cols=100):
        import fcntl
        import pty
        import struct
        import termios
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self._lock = threading.Lock()
        self._out = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every slave end is closed
                return
            if not data:
                return
            with self._lock:
                self._out += data

    @property
    def output(self):
        with self._lock:
            return bytes(self._out)

    def text(self):
        return self.output.decode("utf-8", "replace")

    def send(self, line):
        os.write(self.master, (line + "\n").encode())

    def wait(self, timeout=DEFAULT_TIMEOUT):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"trixc on a pty did not finish within {timeout}s; output:\n{self.text()}")
        self.reader.join(timeout=5)
        return rc

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        try:
            os.close(self.master)
        except OSError:
            pass


def screen_lines(raw):
    """What a terminal would finally show, line by line, for output that
    redraws with CR and erase-line (ESC[K): each line is the text after its
    last CR, with the SGR colour codes removed."""
    import re
    text = raw.decode("utf-8", "replace")
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    lines = []
    for line in text.split("\n"):
        line = line.rstrip("\r")
        line = line.split("\r")[-1]
        lines.append(line.replace("\x1b[K", ""))
    return lines


class TrixTestCase(unittest.TestCase):
    """Base class: a fresh temp dir per test, helpers to run trixc in it."""

    maxDiff = 4000

    def setUp(self):
        if not os.access(TRIXC, os.X_OK):
            self.fail(f"trixc binary not found or not executable: {TRIXC} (pass --trixc or set TRIXC)")
        self.dir = Path(tempfile.mkdtemp(prefix="trix-e2e-"))
        self.state = self.dir / STATE
        self._procs = []      # background trixc processes started by this test
        self._pgids = []      # process groups of step children we know of (cleanup)
        self._servers = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for p in self._procs:
            if p.poll() is None:
                p.kill()
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        for pgid in self._pgids:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        for s in self._servers:
            s.close()
        if os.environ.get("TRIX_E2E_KEEP"):
            print(f"\n  kept {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # ---- files ---------------------------------------------------------------------------
    def write(self, name, text):
        path = self.dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def read(self, name):
        return (self.dir / name).read_text()

    def exists(self, name):
        return (self.dir / name).exists()

    def lines(self, name):
        path = self.dir / name
        if not path.exists():
            return []
        return [line for line in path.read_text().splitlines() if line]

    def runbook(self, text, name="rb.trix"):
        return self.write(name, text)

    # ---- servers -------------------------------------------------------------------------
    def http_server(self, routes=None):
        s = LocalHttpServer(routes)
        self._servers.append(s)
        return s

    # ---- trixc ---------------------------------------------------------------------------
    def env_for(self, extra=None, drop=()):
        env = dict(os.environ)
        env["NO_COLOR"] = "1"
        env.pop("TERM", None)
        for k in drop:
            env.pop(k, None)
        env.update(extra or {})
        return env

    def trixc(self, *args, env=None, drop_env=(), timeout=DEFAULT_TIMEOUT, stdin=subprocess.DEVNULL):
        """Runs trixc to completion in the test dir; returns CompletedProcess (text)."""
        try:
            return subprocess.run([TRIXC, *map(str, args)], cwd=self.dir, env=self.env_for(env, drop_env), stdin=stdin,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            self.fail(f"trixc {' '.join(map(str, args))} did not finish within {timeout}s; output so far:\n{e.stdout}\n{e.stderr}")

    def run_rb(self, *args, rb="rb.trix", **kw):
        """`trixc run rb.trix --state-dir st ARGS...`"""
        return self.trixc("run", rb, "--state-dir", STATE, *args, **kw)

    def start(self, *args, env=None, drop_env=(), new_session=False):
        """Starts trixc in the background; stdout/stderr go to files in the test dir.
        `new_session`: in a session and process group of its own (pgid == pid), as a shell's job."""
        n = len(self._procs)
        out = open(self.dir / f".trixc{n}.out", "w+")
        err = open(self.dir / f".trixc{n}.err", "w+")
        p = subprocess.Popen([TRIXC, *map(str, args)], cwd=self.dir, env=self.env_for(env, drop_env), stdin=subprocess.DEVNULL,
                             stdout=out, stderr=err, text=True, start_new_session=new_session)
        p.out_path = self.dir / f".trixc{n}.out"
        p.err_path = self.dir / f".trixc{n}.err"
        self._procs.append(p)
        return p

    def start_pty(self, *args, env=None, drop_env=()):
        """Starts trixc on a pseudo-terminal (a PtyProcess); TERM=xterm unless `env` says otherwise."""
        full = self.env_for(dict({"TERM": "xterm"}, **(env or {})), drop_env)
        p = PtyProcess([TRIXC, *map(str, args)], cwd=self.dir, env=full)
        self.addCleanup(p.close)
        return p

    def start_rb(self, *args, rb="rb.trix", **kw):
        return self.start("run", rb, "--state-dir", STATE, *args, **kw)

    def finish(self, p, timeout=DEFAULT_TIMEOUT):
        """Waits for a background trixc; returns (exit code, stdout, stderr)."""
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            self.fail(f"background trixc did not finish within {timeout}s; stdout:\n{p.out_path.read_text()}\nstderr:\n{p.err_path.read_text()}")
        return rc, p.out_path.read_text(), p.err_path.read_text()

    def output_of(self, p):
        return p.out_path.read_text() + p.err_path.read_text()

    def wait_for(self, predicate, timeout=10, what="condition", proc=None):
        """Polls `predicate` every 20 ms until it is true; fails after `timeout` s.
        When `proc` (a background trixc) exits first, fails with its output."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            value = predicate()
            if value:
                return value
            if proc is not None and proc.poll() is not None:
                value = predicate()
                if value:
                    return value
                self.fail(f"trixc exited ({proc.returncode}) before {what}; output:\n{self.output_of(proc)}")
            time.sleep(0.02)
        extra = f"; trixc output:\n{self.output_of(proc)}" if proc is not None else ""
        self.fail(f"timed out after {timeout}s waiting for {what}{extra}")

    def wait_for_file(self, name, timeout=10, proc=None):
        return self.wait_for(lambda: self.exists(name) and self.read(name).strip(), timeout, f"file {name}", proc)

    def status(self, run_id=None):
        args = ["status", "--state-dir", STATE] + ([run_id] if run_id else [])
        return self.trixc(*args)

    def run_ids(self):
        runs = self.state / "runs"
        return sorted(p.name for p in runs.iterdir()) if runs.exists() else []

    def journal(self, run_id):
        path = self.state / "runs" / run_id / "journal.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def track_pgid(self, pid):
        """Remembers a step child's process group so cleanup can kill leftovers."""
        try:
            self._pgids.append(os.getpgid(pid))
        except ProcessLookupError:
            pass

    def assertExit(self, result, code, msg=""):
        """result: a CompletedProcess or a (rc, out, err) tuple."""
        if isinstance(result, tuple):
            rc, out, err = result
        else:
            rc, out, err = result.returncode, result.stdout, result.stderr
        if rc != code:
            self.fail(f"exit code {rc}, expected {code}{' (' + msg + ')' if msg else ''}\n--- stdout\n{out}\n--- stderr\n{err}")
