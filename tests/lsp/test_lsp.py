#!/usr/bin/env python3
"""Scripted sessions with the real language server: spawns `trixc lsp`,
speaks JSON-RPC with Content-Length framing over its stdin/stdout, and
asserts on what it answers. Run: python3 test_lsp.py --trixc build/trixc"""
import json
import os
import pathlib
import select
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

REPO = pathlib.Path(__file__).resolve().parents[2]
TRIXC = None


def uri(path):
    return "file://" + urllib.parse.quote(str(path))


def path_of(u):
    assert u.startswith("file://"), u
    return urllib.parse.unquote(u[len("file://"):])


def utf16_position(text, offset):
    """LSP position of a byte offset, computed independently of the server."""
    data = text.encode("utf-8")
    before = data[:offset].decode("utf-8")
    line = before.count("\n")
    col_text = before[before.rfind("\n") + 1:]
    return {"line": line, "character": len(col_text.encode("utf-16-le")) // 2}


def position_of(text, needle, nth=0, delta=0):
    """LSP position of the nth occurrence of needle (+delta characters)."""
    i = -1
    for _ in range(nth + 1):
        i = text.index(needle, i + 1)
    return utf16_position(text, len(text[:i + delta].encode("utf-8")))


class Server:
    def __init__(self, cache):
        env = dict(os.environ, XDG_CACHE_HOME=str(cache))
        self.proc = subprocess.Popen([TRIXC, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.next_id = 0
        self.pending = []  # notifications read while waiting for a response
        self.buf = b""

    def send(self, msg):
        body = json.dumps(msg).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def read(self, timeout=20):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            head_end = self.buf.find(b"\r\n\r\n")
            if head_end >= 0:
                headers = self.buf[:head_end].decode("ascii").split("\r\n")
                length = next(int(h.split(":", 1)[1]) for h in headers if h.lower().startswith("content-length:"))
                if len(self.buf) >= head_end + 4 + length:
                    body = self.buf[head_end + 4:head_end + 4 + length]
                    self.buf = self.buf[head_end + 4 + length:]
                    return json.loads(body)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no message from trixc lsp")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise EOFError("trixc lsp closed its output")
                self.buf += chunk

    def request(self, method, params=None):
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}})
        while True:
            msg = self.read()
            if msg.get("id") == self.next_id and "method" not in msg:
                return msg
            self.pending.append(msg)

    def notify(self, method, params):
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def diagnostics(self, u):
        """The next publishDiagnostics for u."""
        while True:
            for i, m in enumerate(self.pending):
                if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == u:
                    del self.pending[i]
                    return m["params"]["diagnostics"]
            self.pending.append(self.read())

    def initialize(self, root):
        r = self.request("initialize", {"processId": os.getpid(), "rootUri": uri(root), "capabilities": {}})
        self.notify("initialized", {})
        return r

    def open(self, path, text):
        u = uri(path)
        self.notify("textDocument/didOpen", {"textDocument": {"uri": u, "languageId": "trix", "version": 1, "text": text}})
        return u, self.diagnostics(u)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


class LspTest(unittest.TestCase):
    def setUp(self):
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="trix-lsp-"))
        self.cache = self.tmp / "cache"
        self.srv = Server(self.cache)
        init = self.srv.initialize(self.tmp)
        self.caps = init["result"]["capabilities"]

    def tearDown(self):
        self.srv.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, text):
        p = self.tmp / name
        p.write_text(text, encoding="utf-8")
        return p

    def check_json(self, path):
        out = subprocess.run([TRIXC, "check", "--format", "json", str(path)], capture_output=True, text=True)
        return json.loads(out.stdout)["diagnostics"]

    # ---- lifecycle -----------------------------------------------------------------------
    def test_capabilities(self):
        for cap in ("definitionProvider", "hoverProvider", "documentFormattingProvider", "documentSymbolProvider"):
            self.assertTrue(self.caps[cap], cap)
        self.assertEqual(self.caps["textDocumentSync"]["change"], 1)
        self.assertIn(".", self.caps["completionProvider"]["triggerCharacters"])

    def test_unknown_method_and_shutdown_exit(self):
        r = self.srv.request("textDocument/rename", {})
        self.assertEqual(r["error"]["code"], -32601)
        self.assertIsNone(self.srv.request("shutdown")["result"])
        self.srv.notify("exit", {})
        self.assertEqual(self.srv.proc.wait(timeout=10), 0)

    def test_exit_without_shutdown_is_1(self):
        self.srv.notify("exit", {})
        self.assertEqual(self.srv.proc.wait(timeout=10), 1)

    def test_request_before_initialize(self):
        other = Server(self.cache)
        try:
            r = other.request("textDocument/hover", {})
            self.assertEqual(r["error"]["code"], -32002)
        finally:
            other.close()

    # ---- diagnostics ---------------------------------------------------------------------
    def assert_same_as_check(self, path, text, diags):
        want = self.check_json(path)
        self.assertEqual(len(diags), len(want), diags)
        for d, w in zip(diags, want):
            self.assertEqual(d["code"], w["code"])
            self.assertEqual(d["severity"], 1 if w["severity"] == "error" else 2)
            self.assertTrue(d["message"].startswith(w["message"]), (d["message"], w["message"]))
            self.assertEqual(d["range"]["start"], utf16_position(text, w["range"]["start"]["offset"]))
            self.assertEqual(d["range"]["end"], utf16_position(text, w["range"]["end"]["offset"]))

    def test_diagnostics_match_check_on_broken_example(self):
        p = REPO / "examples" / "broken" / "typo.trix"
        text = p.read_text(encoding="utf-8")
        u, diags = self.srv.open(p, text)
        self.assertEqual([d["code"] for d in diags], ["E201"])
        self.assert_same_as_check(p, text, diags)

    def test_diagnostics_utf16_columns(self):
        # A code point beyond the BMP (two UTF-16 units, four bytes) and a
        # two-byte one precede the error on its line.
        text = ('environment staging {\n  namespace = "st"\n}\n'
                'pipeline p {\n  environments = [staging]\n'
                '  stage s { notify "🚀 déploiement ${stagng} ${nope}" }\n}\n')
        p = self.write("utf16.trix", text)
        u, diags = self.srv.open(p, text)
        self.assertEqual([d["code"] for d in diags], ["E201", "E201"])
        self.assert_same_as_check(p, text, diags)
        self.assertEqual(diags[0]["range"]["start"], position_of(text, "stagng}"))
        # The emoji counts two: the column is not the code-point column of `trixc check`.
        line = text.splitlines()[5]
        self.assertEqual(diags[0]["range"]["start"]["character"], len(line[:line.index("stagng")].encode("utf-16-le")) // 2)
        self.assertNotEqual(diags[0]["range"]["start"]["character"], line.index("stagng"))

    def test_diagnostics_follow_changes(self):
        p = REPO / "examples" / "broken" / "typo.trix"
        text = p.read_text(encoding="utf-8")
        u, diags = self.srv.open(p, text)
        self.assertEqual(len(diags), 1)
        fixed = text.replace("stagng", "staging")
        self.srv.notify("textDocument/didChange", {"textDocument": {"uri": u, "version": 2}, "contentChanges": [{"text": fixed}]})
        self.assertEqual(self.srv.diagnostics(u), [])
        broken = fixed.replace("pipeline deploy", "pipelin deploy", 1)
        self.srv.notify("textDocument/didChange", {"textDocument": {"uri": u, "version": 3}, "contentChanges": [{"text": broken}]})
        diags = self.srv.diagnostics(u)
        self.assertEqual([d["code"] for d in diags], ["E101"])
        # A ranged change (clients may send them even though we ask for full text).
        i = broken.index("pipelin ")
        start = utf16_position(broken, len(broken[:i].encode()))
        end = dict(start, character=start["character"] + len("pipelin"))
        self.srv.notify("textDocument/didChange", {"textDocument": {"uri": u, "version": 4},
                                                   "contentChanges": [{"range": {"start": start, "end": end}, "text": "pipeline"}]})
        self.assertEqual(self.srv.diagnostics(u), [])

    # ---- definition ----------------------------------------------------------------------
    def definition(self, u, pos):
        r = self.srv.request("textDocument/definition", {"textDocument": {"uri": u}, "position": pos})
        return r["result"]

    def test_definition_in_file_and_stdlib(self):
        p = REPO / "examples" / "booking.trix"
        text = p.read_text(encoding="utf-8")
        u, diags = self.srv.open(p, text)
        self.assertEqual([d for d in diags if d["severity"] == 1], [])
        # `gate code_quality` in pipeline release -> the gate declaration.
        loc = self.definition(u, position_of(text, "gate code_quality\n", 0, 6))
        self.assertEqual(loc["uri"], u)
        self.assertEqual(loc["range"]["start"], position_of(text, "gate code_quality \"", 0, 5))
        # A parameter use inside an interpolation.
        loc = self.definition(u, position_of(text, "${image_tag}", 0, 3))
        self.assertEqual(loc["range"]["start"], position_of(text, "param image_tag", 0, 6))
        # Roles inside an approval, an approval in an environment's attribute list.
        loc = self.definition(u, position_of(text, "require devops_lead", 0, 9))
        self.assertEqual(loc["range"]["start"], position_of(text, "role devops_lead", 0, 5))
        # `k8s.set_image(...)` -> the stdlib module, written to the cache.
        loc = self.definition(u, position_of(text, "k8s.set_image", 0, 5))
        target = pathlib.Path(path_of(loc["uri"]))
        self.assertTrue(str(target).startswith(str(self.cache / "trix" / "stdlib")), target)
        self.assertEqual(target.read_text(encoding="utf-8"), (REPO / "stdlib" / "k8s.trix").read_text(encoding="utf-8"))
        lib = target.read_text(encoding="utf-8")
        self.assertEqual(loc["range"]["start"], position_of(lib, "action set_image", 0, 7))
        # The module name of the call -> the import's path.
        loc = self.definition(u, position_of(text, "k8s.set_image", 0, 1))
        self.assertEqual(loc["range"]["start"], position_of(text, '"std/k8s"'))
        # The import path itself opens the module.
        loc = self.definition(u, position_of(text, '"std/helm"', 0, 3))
        self.assertTrue(path_of(loc["uri"]).endswith("std/helm.trix"))
        # `steps.migrate.ok` -> the step's label.
        loc = self.definition(u, position_of(text, "steps.migrate.ok", 0, 7))
        self.assertEqual(loc["range"]["start"], position_of(text, "migrate: run"))
        # Nothing there: a keyword.
        self.assertIsNone(self.definition(u, position_of(text, "trigger dispatch", 0, 2)))

    def test_definition_across_imports_and_action_params(self):
        self.write("lib.trix", "# Says hello.\naction greet(who: string, loud: bool = false) {\n  run \"echo hello ${who}\"\n}\n")
        main = ('import "./lib.trix" as lib\n\nenvironment dev {\n  protected = false\n}\n\n'
                'pipeline p {\n  environments = [dev]\n  stage s {\n    lib.greet("world")\n  }\n}\n')
        p = self.write("main.trix", main)
        u, diags = self.srv.open(p, main)
        self.assertEqual([d for d in diags if d["severity"] == 1], [])
        loc = self.definition(u, position_of(main, "greet("))
        self.assertEqual(path_of(loc["uri"]), str(self.tmp / "lib.trix"))
        self.assertEqual(loc["range"]["start"], {"line": 1, "character": 7})
        # Inside the library: `${who}` -> the action's parameter.
        libp = self.tmp / "lib.trix"
        libtext = libp.read_text()
        lu, _ = self.srv.open(libp, libtext)
        loc = self.definition(lu, position_of(libtext, "${who}", 0, 2))
        self.assertEqual(loc["range"]["start"], position_of(libtext, "who: string"))
        self.assertEqual(loc["range"]["end"], position_of(libtext, "who: string", 0, 3))

    # ---- hover ---------------------------------------------------------------------------
    def hover(self, u, pos):
        return self.srv.request("textDocument/hover", {"textDocument": {"uri": u}, "position": pos})["result"]

    def test_definition_of_baseline_reads(self):
        text = ('environment dev {\n  protected = false\n  prometheus = "http://127.0.0.1:9090"\n}\n'
                'pipeline p {\n  baseline errs = prometheus "sum(errors_total)"\n  stage s {\n    run "true"\n  }\n'
                '  verify {\n    check "no worse" prometheus "sum(errors_total)" expect value <= baseline.errs\n  }\n}\n')
        p = self.write("base.trix", text)
        u, diags = self.srv.open(p, text)
        self.assertEqual([d for d in diags if d["severity"] == 1], [])
        loc = self.definition(u, position_of(text, "baseline.errs", 0, 10))
        self.assertEqual(loc["range"]["start"], position_of(text, "errs ="))

    def test_hover_signature_and_doc(self):
        text = ('# Deploy only from a green build.\n# Second line of the doc.\ngate green "Green build" {\n'
                '  check "tests" run "true"\n}\n\nenvironment dev {\n  protected = false\n}\n\n'
                'pipeline p {\n  environments = [dev]\n  gate green\n  stage s {\n    k8s.scale("web", 3)\n  }\n}\n'
                'import "std/k8s"\n')
        p = self.write("hover.trix", text)
        u, _ = self.srv.open(p, text)
        h = self.hover(u, position_of(text, "gate green\n", 0, 6))
        value = h["contents"]["value"]
        self.assertIn('gate green "Green build" { ... }', value)
        self.assertIn("Deploy only from a green build.\nSecond line of the doc.", value)
        self.assertEqual(h["range"]["start"], position_of(text, "green\n  stage"))
        h = self.hover(u, position_of(text, "scale(", 0, 1))
        value = h["contents"]["value"]
        self.assertIn("action scale(deployment: string, replicas: int, namespace: string = env.namespace) { ... }", value)
        self.assertIn("Scale a deployment", value)
        self.assertIn("std/k8s", value)
        h = self.hover(u, position_of(text, "environment dev", 0, 13))
        self.assertIn("protected = false", h["contents"]["value"])
        self.assertIsNone(self.hover(u, position_of(text, "stage s", 0, 1)))

    # ---- completion ----------------------------------------------------------------------
    def complete(self, u, pos):
        r = self.srv.request("textDocument/completion", {"textDocument": {"uri": u}, "position": pos})
        return {i["label"] for i in r["result"]["items"]}

    def test_completion_in_context(self):
        p = REPO / "examples" / "booking.trix"
        text = p.read_text(encoding="utf-8")
        u, _ = self.srv.open(p, text)
        # Top level: declaration keywords, no step keywords.
        top = self.complete(u, position_of(text, "pipeline release"))
        self.assertIn("pipeline", top)
        self.assertIn("environment", top)
        self.assertNotIn("run", top)
        # In a stage: step keywords and imported modules.
        stage = self.complete(u, position_of(text, "k8s.set_image", 0, 0))
        self.assertTrue({"run", "http", "deploy", "k8s", "helm"} <= stage, stage)
        self.assertNotIn("pipeline", stage)
        # After `k8s.`: the module's actions.
        self.assertTrue({"set_image", "rollout_undo", "scale"} <= self.complete(u, position_of(text, "k8s.set_image", 0, 4)))
        # After `gate ` in a pipeline: the gates.
        self.assertEqual(self.complete(u, position_of(text, "gate code_quality\n", 0, 5)),
                         {"code_quality", "infrastructure", "business", "compliance_gate"})
        # After `approve `: approvals; after `deploy `: services; after `analyze `: analyses.
        self.assertEqual(self.complete(u, position_of(text, "approve release when", 0, 8)), {"release", "emergency"})
        self.assertEqual(self.complete(u, position_of(text, "deploy backend", 0, 7)), {"backend"})
        self.assertEqual(self.complete(u, position_of(text, "analyze healthy", 0, 8)), {"healthy"})
        # In a canary block: its items.
        self.assertTrue({"weight", "pause", "analyze"} <= self.complete(u, position_of(text, "weight 10%")))
        # After `env.`: environment attributes.
        envs = self.complete(u, position_of(text, "env.namespace", 0, 4))
        self.assertTrue({"namespace", "api", "prometheus", "protected", "name"} <= envs, envs)
        # In an interpolation: parameters and `env`.
        self.assertTrue({"image_tag", "major", "env"} <= self.complete(u, position_of(text, "${image_tag}", 0, 2)))
        # In an import's path: the standard modules.
        self.assertTrue({"std/k8s", "std/helm", "std/postgres"} <= self.complete(u, position_of(text, '"std/helm"', 0, 1)))
        # Inside a string or a comment: nothing.
        self.assertEqual(self.complete(u, position_of(text, "all automated tests", 0, 4)), set())
        self.assertEqual(self.complete(u, position_of(text, "technical review", 0, 3)), set())

    def test_completion_while_the_file_does_not_parse(self):
        text = ('import "std/k8s"\nparam tag: string = "1"\nenvironment dev {\n  protected = false\n}\n'
                'pipeline p {\n  stage s {\n    k8s.\n')
        p = self.write("partial.trix", text)
        u, diags = self.srv.open(p, text)
        self.assertEqual([d["code"] for d in diags], ["E101"])
        self.assertIn("set_image", self.complete(u, position_of(text, "k8s.\n", 0, 4)))

    # ---- formatting and symbols ------------------------------------------------------------
    def test_formatting_is_trixc_fmt(self):
        text = 'environment   dev {\n protected=false\n  namespace = "x"   # ns\n}\n'
        p = self.write("fmt.trix", text)
        u, _ = self.srv.open(p, text)
        r = self.srv.request("textDocument/formatting", {"textDocument": {"uri": u}, "options": {"tabSize": 2, "insertSpaces": True}})
        edits = r["result"]
        want = subprocess.run([TRIXC, "fmt", "-"], input=text, capture_output=True, text=True, check=True).stdout
        self.assertNotEqual(want, text)
        self.assertEqual(len(edits), 1)
        self.assertEqual(edits[0]["newText"], want)
        self.assertEqual(edits[0]["range"], {"start": {"line": 0, "character": 0}, "end": {"line": 4, "character": 0}})
        self.srv.notify("textDocument/didChange", {"textDocument": {"uri": u, "version": 2}, "contentChanges": [{"text": want}]})
        self.srv.diagnostics(u)
        r = self.srv.request("textDocument/formatting", {"textDocument": {"uri": u}, "options": {"tabSize": 2, "insertSpaces": True}})
        self.assertEqual(r["result"], [])
        self.srv.notify("textDocument/didChange", {"textDocument": {"uri": u, "version": 3}, "contentChanges": [{"text": "environment {"}]})
        self.srv.diagnostics(u)
        r = self.srv.request("textDocument/formatting", {"textDocument": {"uri": u}, "options": {"tabSize": 2, "insertSpaces": True}})
        self.assertIn("error", r)

    def test_document_symbols(self):
        p = REPO / "examples" / "booking.trix"
        text = p.read_text(encoding="utf-8")
        u, _ = self.srv.open(p, text)
        syms = self.srv.request("textDocument/documentSymbol", {"textDocument": {"uri": u}})["result"]
        names = [s["name"] for s in syms]
        self.assertEqual(names[0], "booking")
        self.assertIn('"std/k8s"', names)
        for n in ("image_tag", "production", "code_quality", "release", "backend", "healthy", "canary", "deployment_failed"):
            self.assertIn(n, names)
        release = next(s for s in syms if s["name"] == "release" and s["detail"] == "pipeline")
        self.assertEqual(release["kind"], 5)
        children = [c["name"] for c in release["children"]]
        self.assertIn("backup", children)
        self.assertIn("rollout", children)
        self.assertIn("gate code_quality", children)
        self.assertIn("rollback", children)
        self.assertEqual(release["selectionRange"]["start"], position_of(text, "pipeline release", 0, 9))
        for s in syms:  # selectionRange must be inside range
            self.assertLessEqual((s["range"]["start"]["line"], s["range"]["start"]["character"]),
                                 (s["selectionRange"]["start"]["line"], s["selectionRange"]["start"]["character"]))

    def test_every_position_answers(self):
        # Hover, definition and completion at every 5th character of the
        # example and of a broken edit of it: always a result, never an error.
        text = (REPO / "examples" / "booking.trix").read_text(encoding="utf-8")
        for name, body in (("whole.trix", text), ("cut.trix", text[:len(text) // 2] + "\n  stage x {\n    k8s.")):
            p = self.write(name, body)
            u, _ = self.srv.open(p, body)
            lines = body.split("\n")
            count = 0
            for ln, line in enumerate(lines):
                for ch in range(0, len(line.encode("utf-16-le")) // 2 + 1, 5):
                    pos = {"line": ln, "character": ch}
                    for method in ("textDocument/hover", "textDocument/definition", "textDocument/completion"):
                        r = self.srv.request(method, {"textDocument": {"uri": u}, "position": pos})
                        self.assertIn("result", r, (method, pos, r))
                        count += 1
            self.assertGreater(count, 1000)
        # Positions past the end are clamped, not errors.
        r = self.srv.request("textDocument/hover", {"textDocument": {"uri": u}, "position": {"line": 10**6, "character": 10**6}})
        self.assertIn("result", r)
        # A request for a document that is not open is an error response, and the server goes on.
        r = self.srv.request("textDocument/hover", {"textDocument": {"uri": "file:///nope.trix"}, "position": {"line": 0, "character": 0}})
        self.assertEqual(r["error"]["code"], -32602)
        self.assertIsNone(self.srv.request("shutdown")["result"])

    def test_framing_survives_bad_json(self):
        body = b"{not json"
        self.srv.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.srv.proc.stdin.flush()
        msg = self.srv.read()
        self.assertEqual(msg["error"]["code"], -32700)
        self.assertIsNone(self.srv.request("shutdown")["result"])


if __name__ == "__main__":
    sys.path.insert(0, str(REPO / "tests"))
    import suite_main  # noqa: E402  (tests/suite_main.py: --trixc and unittest)
    suite_main.run(sys.modules[__name__])
