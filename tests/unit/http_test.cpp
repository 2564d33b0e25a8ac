// Unit tests for runtime/http: HttpCall, PromQuery and JsonPointerDump
// against a real HTTP server (a small Python http.server started by the
// test on 127.0.0.1) and, in one hidden [.slow] case, a real Prometheus.
#include "runtime/http.hpp"

#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

using namespace trix::rt;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using Clock = std::chrono::steady_clock;

namespace {

// The test server. It binds port 0 and prints the port it got, so there is
// no window in which another process could take a port picked for it.
// /api/v1/query answers canned Prometheus JSON chosen by the query string.
constexpr const char* kServerPy = R"PY(
import json, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def vec(v):
    return (200, {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "up", "job": "x"}, "value": [1700000000.123, v]}]}})

PROM = {
    "up": vec("1"),
    "rate": vec("1.5"),
    "nan": vec("NaN"),
    "inf": vec("+Inf"),
    "neginf": vec("-Inf"),
    "badvalue": vec("abc"),
    "empty": (200, {"status": "success", "data": {"resultType": "vector", "result": []}}),
    "scalar": (200, {"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "2.5"]}}),
    "matrix": (200, {"status": "success", "data": {"resultType": "matrix",
                                                    "result": [{"metric": {}, "values": [[1, "1"]]}]}}),
    "nodata": (200, {"status": "success"}),
    "error200": (200, {"status": "error", "errorType": "bad_data", "error": "parse error at char 1"}),
    "error400": (400, {"status": "error", "errorType": "bad_data", "error": "parse error at char 1"}),
}

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, code, body, ctype="text/plain", extra=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Trix", "yes")
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def any(self):
        u = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(n) if n else b""
        if u.path == "/hello":
            self.reply(200, "hello world")
        elif u.path == "/echo":
            x = self.headers.get("X-Test", "")
            self.reply(200, json.dumps({"method": self.command, "body": data.decode(), "x_test": x,
                                        "empty": self.headers.get("X-Empty")}),
                       "application/json", [("X-Echo-Test", x)])
        elif u.path == "/status/500":
            self.reply(500, "boom")
        elif u.path == "/redirect":
            self.reply(301, "moved", extra=[("Location", "/hello")])
        elif u.path == "/slow":
            time.sleep(2)
            self.reply(200, "late")
        elif u.path == "/big":
            self.reply(200, b"x" * ((16 << 20) + 1))
        elif u.path == "/api/v1/query":
            q = urllib.parse.parse_qs(u.query).get("query", [""])[0]
            if q == "notjson":
                return self.reply(200, "<html>not json</html>", "text/html")
            if q.startswith("echo:"):
                return self.reply(200, json.dumps({"status": "error", "errorType": "echo", "error": q}),
                                  "application/json")
            code, ans = PROM.get(q, (400, {"status": "error", "errorType": "bad_data", "error": "unknown " + q}))
            self.reply(code, json.dumps(ans), "application/json")
        else:
            self.reply(404, "not found")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = any

class Server(ThreadingHTTPServer):
    daemon_threads = True
    def handle_error(self, request, client_address):
        pass  # a client that timed out and left is expected here

srv = Server(("127.0.0.1", 0), H)
if len(sys.argv) > 2:
    import ssl
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[1], sys.argv[2])
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
)PY";

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "trix-http-XXXXXX").string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path_ = templ;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string File(const std::string& name) const { return (path_ / name).string(); }
  void Write(const std::string& name, const std::string& text) const {
    std::ofstream out(File(name));
    out << text;
    REQUIRE(out.good());
  }

 private:
  std::filesystem::path path_;
};

// A background child process that is stopped (SIGTERM, then SIGKILL after
// 5 s) and reaped when the object goes away, whatever the test did.
class Child {
 public:
  // stdout_pipe: the child's stdout is readable through ReadLine();
  // otherwise stdout and stderr go to `log` (or /dev/null when empty).
  Child(const std::vector<std::string>& argv, bool stdout_pipe, const std::string& log = "") {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    int fds[2] = {-1, -1};
    if (stdout_pipe) {
      REQUIRE(::pipe2(fds, O_CLOEXEC) == 0);
      posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    } else {
      const char* out = log.empty() ? "/dev/null" : log.c_str();
      posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      posix_spawn_file_actions_adddup2(&fa, 1, 2);
    }
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int rc = posix_spawnp(&pid_, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (stdout_pipe) {
      ::close(fds[1]);
      out_fd_ = fds[0];
    }
    if (rc != 0) pid_ = -1;
    REQUIRE(rc == 0);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      auto deadline = Clock::now() + std::chrono::seconds(5);
      int status = 0;
      while (::waitpid(pid_, &status, WNOHANG) == 0) {
        if (Clock::now() > deadline) {
          ::kill(pid_, SIGKILL);
          ::waitpid(pid_, &status, 0);
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
    if (out_fd_ >= 0) ::close(out_fd_);
  }

  // One line of the child's stdout, or "" after `timeout_s` or at EOF.
  std::string ReadLine(double timeout_s) {
    std::string line;
    auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (Clock::now() < deadline) {
      pollfd p{out_fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char c;
      if (::read(out_fd_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line += c;
    }
    return "";
  }

  bool Running() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
};

bool PortAccepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

bool WaitForPort(int port, double timeout_s) {
  auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
  while (Clock::now() < deadline) {
    if (PortAccepts(port)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

// A loopback port nothing listens on right now (bound, then released).
int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The Python server above, as an RAII fixture; with cert and key it speaks
// HTTPS instead.
class PyServer {
 public:
  explicit PyServer(const std::string& cert = "", const std::string& key = "") {
    dir_.Write("server.py", kServerPy);
    std::vector<std::string> argv = {"python3", dir_.File("server.py")};
    if (!cert.empty()) {
      argv.push_back(cert);
      argv.push_back(key);
    }
    child_ = std::make_unique<Child>(argv, /*stdout_pipe=*/true);
    std::string line = child_->ReadLine(15);
    REQUIRE_FALSE(line.empty());
    port_ = std::stoi(line);
    REQUIRE(WaitForPort(port_, 10));
  }
  std::string Url(const std::string& path, const std::string& scheme = "http") const {
    return scheme + "://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  TempDir dir_;
  std::unique_ptr<Child> child_;
  int port_ = 0;
};

// One server for the whole run (started on first use, stopped at exit):
// Catch2 re-enters a test case for every SECTION, and each start of Python
// costs ~50 ms.
const PyServer& Server() {
  static PyServer server;
  return server;
}

HttpResponse Get(const std::string& url, double timeout_s = 10) {
  HttpRequest req;
  req.url = url;
  req.timeout_s = timeout_s;
  return HttpCall(req);
}

std::string PromBase() { return Server().Url(""); }

}  // namespace

TEST_CASE("http GET returns status, body, lower-cased headers and latency", "[http]") {
  HttpResponse r = Get(Server().Url("/hello"));
  REQUIRE(r.ok);
  CHECK(r.error.empty());
  CHECK(r.status == 200);
  CHECK(r.body == "hello world");
  CHECK(r.headers["x-trix"] == "yes");
  CHECK(r.headers["content-type"] == "text/plain");
  CHECK(r.headers["content-length"] == "11");
  CHECK(r.headers.count("X-Trix") == 0);
  CHECK(r.latency_s > 0);
  CHECK(r.latency_s < 5);
}

TEST_CASE("http POST sends body and headers", "[http]") {
  HttpRequest req;
  req.method = "POST";
  req.url = Server().Url("/echo");
  req.body = R"({"deploy":"v2"})";
  req.headers = {{"X-Test", "abc 123"}, {"Content-Type", "application/json"}, {"X-Empty", ""}};
  HttpResponse r = HttpCall(req);
  REQUIRE(r.ok);
  CHECK(r.status == 200);
  CHECK(r.headers["x-echo-test"] == "abc 123");
  auto echoed = nlohmann::json::parse(r.body);
  CHECK(echoed["method"] == "POST");
  CHECK(echoed["body"] == R"({"deploy":"v2"})");
  CHECK(echoed["x_test"] == "abc 123");
  CHECK(echoed["empty"] == "");  // an empty header value is sent, not dropped
}

TEST_CASE("http other methods go out as given", "[http]") {
  for (std::string method : {"PUT", "DELETE", "PATCH", "post"}) {
    CAPTURE(method);
    HttpRequest req;
    req.method = method;
    req.url = Server().Url("/echo");
    req.body = method == "DELETE" ? "" : "b-" + method;
    HttpResponse r = HttpCall(req);
    REQUIRE(r.ok);
    CHECK(r.status == 200);
    auto echoed = nlohmann::json::parse(r.body);
    std::string upper = method == "post" ? "POST" : method;
    CHECK(echoed["method"] == upper);
    CHECK(echoed["body"] == req.body);
  }
}

TEST_CASE("http HEAD has headers and no body", "[http]") {
  HttpRequest req;
  req.method = "HEAD";
  req.url = Server().Url("/hello");
  HttpResponse r = HttpCall(req);
  REQUIRE(r.ok);
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  CHECK(r.headers["content-length"] == "11");
  CHECK(r.headers["x-trix"] == "yes");
}

TEST_CASE("http error statuses are responses, not transport errors", "[http]") {
  HttpResponse r = Get(Server().Url("/status/500"));
  REQUIRE(r.ok);
  CHECK(r.status == 500);
  CHECK(r.body == "boom");

  HttpResponse missing = Get(Server().Url("/nope"));
  REQUIRE(missing.ok);
  CHECK(missing.status == 404);
}

TEST_CASE("http redirects are not followed", "[http]") {
  HttpResponse r = Get(Server().Url("/redirect"));
  REQUIRE(r.ok);
  CHECK(r.status == 301);
  CHECK(r.headers["location"] == "/hello");
  CHECK(r.body == "moved");
}

TEST_CASE("http connection refused is !ok", "[http]") {
  HttpResponse r = Get("http://127.0.0.1:" + std::to_string(FreePort()) + "/health");
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Contains("connect"));
  CHECK(r.body.empty());
}

TEST_CASE("http timeout is !ok and does not wait for the server", "[http]") {
  Server();  // started outside the timed part
  auto start = Clock::now();
  HttpResponse r = Get(Server().Url("/slow"), 0.3);
  double waited = std::chrono::duration<double>(Clock::now() - start).count();
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Contains("Timeout") && Contains("timed out"));
  CHECK(waited >= 0.25);
  CHECK(waited < 1.5);
}

TEST_CASE("http body over 16 MiB is !ok", "[http]") {
  HttpResponse r = Get(Server().Url("/big"), 30);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, StartsWith("body too large"));
  CHECK(r.body.empty());
}

TEST_CASE("http rejects other schemes and injected lines", "[http]") {
  HttpResponse file = Get("file:///etc/hostname");
  CHECK_FALSE(file.ok);
  CHECK_THAT(file.error, Contains("not supported") || Contains("disabled"));

  HttpRequest req;
  req.url = Server().Url("/hello");
  req.headers = {{"X-Test", "a\r\nX-Injected: 1"}};
  CHECK_FALSE(HttpCall(req).ok);
  req.headers = {{"Bad Name", "x"}};
  CHECK_FALSE(HttpCall(req).ok);
  req.headers = {};
  req.method = "GET /other HTTP/1.1\r\n";
  CHECK_FALSE(HttpCall(req).ok);
}

TEST_CASE("http TLS verification is on unless insecure", "[http]") {
  TempDir dir;
  std::string cert = dir.File("cert.pem"), key = dir.File("key.pem");
  std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
                    "-subj /CN=localhost -keyout '" + key + "' -out '" + cert + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    WARN("openssl could not make a self-signed certificate; TLS not tested");
    return;
  }
  PyServer tls(cert, key);
  HttpRequest req;
  req.url = tls.Url("/hello", "https");
  req.timeout_s = 10;
  HttpResponse strict = HttpCall(req);
  CHECK_FALSE(strict.ok);
  CHECK_THAT(strict.error, Contains("certificate"));

  req.insecure = true;
  HttpResponse lax = HttpCall(req);
  REQUIRE(lax.ok);
  CHECK(lax.status == 200);
  CHECK(lax.body == "hello world");
}

TEST_CASE("prometheus vector, scalar and special values", "[http]") {
  PromResult up = PromQuery(PromBase(), "up", 10);
  REQUIRE(up.ok);
  CHECK(up.error.empty());
  CHECK(up.has_sample);
  CHECK(up.value == 1);

  PromResult rate = PromQuery(PromBase() + "/", "rate", 10);  // a trailing slash on the base is fine
  REQUIRE(rate.ok);
  CHECK(rate.value == 1.5);

  PromResult scalar = PromQuery(PromBase(), "scalar", 10);
  REQUIRE(scalar.ok);
  CHECK(scalar.has_sample);
  CHECK(scalar.value == 2.5);

  PromResult nan = PromQuery(PromBase(), "nan", 10);
  REQUIRE(nan.ok);
  CHECK(nan.has_sample);
  CHECK(std::isnan(nan.value));

  PromResult inf = PromQuery(PromBase(), "inf", 10);
  REQUIRE(inf.ok);
  CHECK(std::isinf(inf.value));
  CHECK(inf.value > 0);

  PromResult neginf = PromQuery(PromBase(), "neginf", 10);
  REQUIRE(neginf.ok);
  CHECK(std::isinf(neginf.value));
  CHECK(neginf.value < 0);
}

TEST_CASE("prometheus empty vector is ok without a sample", "[http]") {
  PromResult r = PromQuery(PromBase(), "empty", 10);
  REQUIRE(r.ok);
  CHECK_FALSE(r.has_sample);
}

TEST_CASE("prometheus errors and unreadable answers are !ok", "[http]") {
  PromResult err200 = PromQuery(PromBase(), "error200", 10);
  CHECK_FALSE(err200.ok);
  CHECK_THAT(err200.error, Contains("bad_data") && Contains("parse error at char 1"));

  PromResult err400 = PromQuery(PromBase(), "error400", 10);
  CHECK_FALSE(err400.ok);
  CHECK_THAT(err400.error, Contains("400") && Contains("parse error at char 1"));

  PromResult notjson = PromQuery(PromBase(), "notjson", 10);
  CHECK_FALSE(notjson.ok);
  CHECK_THAT(notjson.error, Contains("not JSON") && Contains("<html>"));

  PromResult matrix = PromQuery(PromBase(), "matrix", 10);
  CHECK_FALSE(matrix.ok);
  CHECK_THAT(matrix.error, Contains("matrix"));

  CHECK_FALSE(PromQuery(PromBase(), "badvalue", 10).ok);
  CHECK_FALSE(PromQuery(PromBase(), "nodata", 10).ok);

  // Not a Prometheus at all: 404 with a plain-text body.
  PromResult wrong = PromQuery(Server().Url("/nope"), "up", 10);
  CHECK_FALSE(wrong.ok);
  CHECK_THAT(wrong.error, Contains("404") && Contains("not found"));

  PromResult refused = PromQuery("http://127.0.0.1:" + std::to_string(FreePort()), "up", 10);
  CHECK_FALSE(refused.ok);
  CHECK_THAT(refused.error, Contains("unreachable"));
}

TEST_CASE("prometheus query is URL-encoded", "[http]") {
  // The server sends the decoded query back as the error text.
  std::string q = R"(echo:sum(rate(http_requests_total{job="a b",code=~"5.."}[5m])) / 2 + 1 & x=#%)";
  PromResult r = PromQuery(PromBase(), q, 10);
  CHECK_FALSE(r.ok);
  CHECK_THAT(r.error, Contains("echo: " + q));
}

TEST_CASE("json pointer dump", "[http]") {
  const std::string doc =
      R"({"a":{"b":[1,"two",null,true,1.5]},"k/s":"slash","t~":"tilde","q":"say \"hi\"","":0})";
  CHECK(JsonPointerDump(doc, "/a/b/0") == "1");
  CHECK(JsonPointerDump(doc, "/a/b/1") == "\"two\"");  // strings keep their quotes
  CHECK(JsonPointerDump(doc, "/a/b/2") == "null");
  CHECK(JsonPointerDump(doc, "/a/b/3") == "true");
  CHECK(JsonPointerDump(doc, "/a/b/4") == "1.5");
  CHECK(JsonPointerDump(doc, "/a") == R"({"b":[1,"two",null,true,1.5]})");
  CHECK(JsonPointerDump(doc, "/k~1s") == "\"slash\"");
  CHECK(JsonPointerDump(doc, "/t~0") == "\"tilde\"");
  CHECK(JsonPointerDump(doc, "/q") == R"("say \"hi\"")");
  CHECK(JsonPointerDump(doc, "/") == "0");  // the key ""
  CHECK(JsonPointerDump("42", "") == "42");  // "" is the whole document
  CHECK(JsonPointerDump(R"("s")", "") == "\"s\"");

  // Does not resolve.
  CHECK_FALSE(JsonPointerDump(doc, "/missing"));
  CHECK_FALSE(JsonPointerDump(doc, "/a/b/9"));
  CHECK_FALSE(JsonPointerDump(doc, "/a/b/-"));
  CHECK_FALSE(JsonPointerDump(doc, "/a/b/x"));
  CHECK_FALSE(JsonPointerDump(doc, "/a/b/01"));
  CHECK_FALSE(JsonPointerDump(doc, "/a/b/0/deeper"));
  // Not a pointer.
  CHECK_FALSE(JsonPointerDump(doc, "a"));
  CHECK_FALSE(JsonPointerDump(doc, "/~2"));
  // Not JSON.
  CHECK_FALSE(JsonPointerDump("", ""));
  CHECK_FALSE(JsonPointerDump("<html>", "/a"));
  CHECK_FALSE(JsonPointerDump(R"({"a":1} trailing)", "/a"));
  CHECK_FALSE(JsonPointerDump(R"({"a":1)", "/a"));
}

TEST_CASE("prometheus: a real server's `up` is 1", "[prometheus][.slow]") {
  TempDir dir;
  int port = FreePort();
  std::string addr = "127.0.0.1:" + std::to_string(port);
  dir.Write("prometheus.yml",
            "global:\n"
            "  scrape_interval: 1s\n"
            "  evaluation_interval: 1s\n"
            "scrape_configs:\n"
            "  - job_name: prometheus\n"
            "    static_configs:\n"
            "      - targets: ['" + addr + "']\n");
  std::filesystem::create_directory(dir.File("data"));
  auto start = Clock::now();
  Child prom({"prometheus", "--config.file=" + dir.File("prometheus.yml"),
              "--storage.tsdb.path=" + dir.File("data"), "--web.listen-address=" + addr},
             /*stdout_pipe=*/false, dir.File("prometheus.log"));

  const std::string base = "http://" + addr;
  PromResult r;
  auto deadline = start + std::chrono::seconds(60);
  while (Clock::now() < deadline && prom.Running()) {
    r = PromQuery(base, "up", 2);
    if (r.ok && r.has_sample) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  if (!(r.ok && r.has_sample)) {
    std::ifstream log(dir.File("prometheus.log"));
    std::stringstream text;
    text << log.rdbuf();
    FAIL("no sample for `up` after " << took << " s; last error: " << r.error << "\nprometheus log:\n"
                                      << text.str());
  }
  WARN("prometheus answered `up` after " << took << " s");
  CHECK(r.value == 1);
}
