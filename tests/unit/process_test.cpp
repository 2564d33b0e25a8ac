// Unit tests for runtime/process: real /bin/sh children — exit codes, output
// streaming and capture, environment and directory, timeouts, cancellation,
// no processes left behind, and shell quoting.
#include "runtime/process.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace trix::rt;

namespace {

struct Lines {
  std::vector<std::string> out, err;
  LineSink Sink() {
    return [this](bool is_stderr, const std::string& line) { (is_stderr ? err : out).push_back(line); };
  }
};

ProcessResult Run(const std::string& command, ProcessSpec spec = {}) {
  spec.command = command;
  return RunProcess(spec, nullptr);
}

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "trix-process-XXXXXX").string();
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
  std::string str() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

std::vector<pid_t> ReadPids(const std::string& file) {
  std::vector<pid_t> pids;
  std::ifstream in(file);
  long pid;
  while (in >> pid) pids.push_back(static_cast<pid_t>(pid));
  return pids;
}

// Dead means gone, or a zombie: an orphan's zombie waits for whoever reaps
// orphans here (PID 1 in a container may never do it).
bool IsDead(pid_t pid) {
  if (::kill(pid, 0) != 0 && errno == ESRCH) return true;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  auto paren = text.rfind(')');
  if (paren == std::string::npos || paren + 2 >= text.size()) return true;  // vanished meanwhile
  char state = text[paren + 2];
  return state == 'Z' || state == 'X';
}

// The SIGKILL has been sent when RunProcess() returns, but the kernel may
// need a moment to finish off a process; allow it one second.
bool AllDead(const std::vector<pid_t>& pids) {
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  for (;;) {
    bool all = true;
    for (pid_t pid : pids) all = all && IsDead(pid);
    if (all || std::chrono::steady_clock::now() > until) return all;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace

TEST_CASE("exit codes", "[process]") {
  CHECK(Run("true").exit_code == 0);
  CHECK(Run("exit 3").exit_code == 3);
  CHECK(Run("exit 255").exit_code == 255);
  CHECK(Run("kill -9 $$").exit_code == 128 + SIGKILL);
  CHECK(Run("kill -TERM $$").exit_code == 128 + SIGTERM);
  auto r = Run("no-such-command-trix-test");
  CHECK(r.exit_code == 127);
  CHECK_FALSE(r.spawn_failed);
  CHECK_FALSE(r.timed_out);
  CHECK_FALSE(r.cancelled);
  CHECK(r.seconds >= 0);
  CHECK(r.seconds < 2);
}

TEST_CASE("stdout and stderr are captured and streamed line by line", "[process]") {
  Lines lines;
  ProcessSpec spec;
  spec.command = "echo one; echo two >&2; echo; echo three; printf 'no newline'; printf 'err tail' >&2";
  auto r = RunProcess(spec, lines.Sink());
  CHECK(r.exit_code == 0);
  CHECK(r.out == "one\n\nthree\nno newline");
  CHECK(r.err == "two\nerr tail");
  CHECK(lines.out == std::vector<std::string>{"one", "", "three", "no newline"});
  CHECK(lines.err == std::vector<std::string>{"two", "err tail"});
}

TEST_CASE("order within a stream is kept", "[process]") {
  Lines lines;
  ProcessSpec spec;
  spec.command = "i=0; while [ $i -lt 300 ]; do echo $i; echo e$i >&2; i=$((i+1)); done";
  auto r = RunProcess(spec, lines.Sink());
  REQUIRE(r.exit_code == 0);
  REQUIRE(lines.out.size() == 300);
  REQUIRE(lines.err.size() == 300);
  for (int i = 0; i < 300; ++i) {
    CHECK(lines.out[static_cast<std::size_t>(i)] == std::to_string(i));
    CHECK(lines.err[static_cast<std::size_t>(i)] == "e" + std::to_string(i));
  }
}

TEST_CASE("capture is capped, streaming is not; long lines come in pieces", "[process]") {
  Lines lines;
  ProcessSpec spec;
  spec.command = "head -c 70000 /dev/zero | tr '\\0' x; echo; echo end";
  spec.capture_limit = 100;
  auto r = RunProcess(spec, lines.Sink());
  CHECK(r.exit_code == 0);
  CHECK(r.out == std::string(100, 'x'));
  REQUIRE(lines.out.size() == 3);
  CHECK(lines.out[0] == std::string(64 * 1024, 'x'));
  CHECK(lines.out[1] == std::string(70000 - 64 * 1024, 'x'));
  CHECK(lines.out[2] == "end");
}

TEST_CASE("stdin is /dev/null", "[process]") {
  auto r = Run("cat; echo rc=$?");
  CHECK(r.out == "rc=0\n");
}

TEST_CASE("environment: inherited, overridden, and secrets stay out of argv", "[process]") {
  ::setenv("TRIX_TEST_KEEP", "kept", 1);
  ::setenv("TRIX_TEST_OVERRIDE", "old", 1);
  ProcessSpec spec;
  spec.env = {{"TRIX_TEST_OVERRIDE", "new"}, {"TRIX_SECRET", "s3cr3t value; $(id)"}};
  spec.command =
      "printf '%s|%s|%s|' \"$TRIX_TEST_KEEP\" \"$TRIX_TEST_OVERRIDE\" \"$TRIX_SECRET\"; "
      "env | grep -c '^TRIX_TEST_OVERRIDE='; tr '\\0' ' ' < /proc/$$/cmdline";
  auto r = RunProcess(spec, nullptr);
  ::unsetenv("TRIX_TEST_KEEP");
  ::unsetenv("TRIX_TEST_OVERRIDE");
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.rfind("kept|new|s3cr3t value; $(id)|1\n", 0) == 0);
  // The shell's own argv is /bin/sh -c COMMAND, and the value is not in it.
  auto argv = r.out.substr(r.out.find('\n') + 1);
  CHECK(argv.rfind("/bin/sh -c ", 0) == 0);
  CHECK(argv.find("s3cr3t") == std::string::npos);
}

TEST_CASE("of two env entries with one name the last wins", "[process]") {
  ProcessSpec spec;
  spec.env = {{"TRIX_DUP", "first"}, {"TRIX_DUP", "second"}};
  auto r = Run("echo \"$TRIX_DUP\"; env | grep -c '^TRIX_DUP='", spec);
  CHECK(r.out == "second\n1\n");
}

TEST_CASE("invalid environment names and NUL bytes are refused", "[process]") {
  ProcessSpec spec;
  spec.command = "true";
  spec.env = {{"A=B", "x"}};
  auto r = RunProcess(spec, nullptr);
  CHECK(r.spawn_failed);
  CHECK(r.error.find("A=B") != std::string::npos);
  spec.env = {};
  spec.command = std::string("echo a\0b", 8);
  CHECK(RunProcess(spec, nullptr).spawn_failed);
}

TEST_CASE("working directory", "[process]") {
  TempDir dir;
  ProcessSpec spec;
  spec.dir = dir.str();
  auto r = Run("pwd -P", spec);
  CHECK(r.exit_code == 0);
  CHECK(r.out == std::filesystem::canonical(dir.str()).string() + "\n");
}

TEST_CASE("a missing directory is a spawn failure", "[process]") {
  TempDir dir;
  ProcessSpec spec;
  spec.dir = dir.File("does-not-exist");
  auto r = Run("echo should not run", spec);
  CHECK(r.spawn_failed);
  CHECK(r.exit_code == -1);
  CHECK(r.error.find("does-not-exist") != std::string::npos);
  CHECK(r.error.find("No such file or directory") != std::string::npos);
  CHECK(r.out.empty());
}

TEST_CASE("a hung step is killed at its timeout with all its children", "[process]") {
  TempDir dir;
  auto pids = ShellQuote(dir.File("pids"));
  // A background child, a grandchild under a nested shell, the nested shell
  // and the step's shell itself.
  ProcessSpec spec;
  spec.timeout_s = 0.5;
  spec.kill_grace_s = 2;
  spec.command = "sleep 30 & echo $! >> " + pids + "; sh -c 'sleep 30 & echo $! >> " + dir.File("pids") +
                 "; wait' & echo $! >> " + pids + "; echo $$ >> " + pids + "; echo started; wait";
  Lines lines;
  auto r = RunProcess(spec, lines.Sink());
  CHECK(r.timed_out);
  CHECK_FALSE(r.cancelled);
  CHECK(r.exit_code == 128 + SIGTERM);
  CHECK(r.seconds >= 0.45);
  CHECK(r.seconds < 1.5);  // SIGTERM was enough; no grace period spent
  CHECK(lines.out == std::vector<std::string>{"started"});
  auto recorded = ReadPids(dir.File("pids"));
  REQUIRE(recorded.size() == 4);
  CHECK(AllDead(recorded));
}

TEST_CASE("a step that ignores SIGTERM is killed after the grace period", "[process]") {
  TempDir dir;
  ProcessSpec spec;
  spec.timeout_s = 0.3;
  spec.kill_grace_s = 0.3;
  spec.command = "trap '' TERM; sleep 30 & echo $! > " + ShellQuote(dir.File("pids")) + "; wait";
  auto r = RunProcess(spec, nullptr);
  CHECK(r.timed_out);
  CHECK(r.exit_code == 128 + SIGKILL);
  CHECK(r.seconds >= 0.55);  // the grace period was granted
  CHECK(r.seconds < 1.5);
  auto recorded = ReadPids(dir.File("pids"));
  REQUIRE(recorded.size() == 1);
  CHECK(AllDead(recorded));
}

TEST_CASE("cancellation from another thread", "[process]") {
  std::atomic<bool> cancel{false};
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel = true;
  });
  ProcessSpec spec;
  spec.command = "sleep 30";
  auto r = RunProcess(spec, nullptr, &cancel);
  canceller.join();
  CHECK(r.cancelled);
  CHECK_FALSE(r.timed_out);
  CHECK(r.exit_code == 128 + SIGTERM);
  CHECK(r.seconds >= 0.15);
  CHECK(r.seconds < 1);
}

TEST_CASE("leftover background processes are killed when the shell exits", "[process]") {
  TempDir dir;
  auto pids = ShellQuote(dir.File("pids"));
  SECTION("still holding the output pipe") {
    auto r = Run("sleep 30 & echo $! > " + pids + "; echo done");
    CHECK(r.exit_code == 0);
    CHECK(r.out == "done\n");
    CHECK(r.seconds < 1);
  }
  SECTION("detached from the output pipe") {
    auto r = Run("sleep 30 >/dev/null 2>&1 & echo $! > " + pids + "; exit 4");
    CHECK(r.exit_code == 4);
    CHECK(r.seconds < 1);
  }
  auto recorded = ReadPids(dir.File("pids"));
  REQUIRE(recorded.size() == 1);
  CHECK(AllDead(recorded));
}

TEST_CASE("KillAllChildren kills running steps", "[process]") {
  ProcessResult r;
  std::thread runner([&] { r = Run("sleep 30"); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  KillAllChildren();
  runner.join();
  CHECK(r.exit_code == 128 + SIGKILL);
  CHECK(r.seconds < 1);
}

TEST_CASE("the shell is the leader of the step's own process group", "[process]") {
  auto r = Run("cut -d' ' -f5 /proc/$$/stat; echo $$");
  REQUIRE(r.exit_code == 0);
  std::istringstream in(r.out);
  long pgid = 0, pid = 0;
  in >> pgid >> pid;
  CHECK(pgid == pid);
  CHECK(pgid != static_cast<long>(::getpgrp()));
}

TEST_CASE("a step shell does not inherit the runtime's ignored or blocked signals", "[process]") {
  // The runtime blocks every signal around the vfork; the shell must not
  // keep that mask or an ignored disposition.
  struct sigaction ign{}, old{};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGPIPE, &ign, &old);
  // The shell reads its own status with builtins only: dash blocks every
  // signal around the fork of a command and clears the mask only after the
  // child execs, so a `grep` of /proc/$$/status can catch that moment.
  auto r = Run("while IFS= read -r l; do case $l in SigBlk:*|SigIgn:*) printf '%s\\n' \"$l\";; esac; done < /proc/$$/status");
  ::sigaction(SIGPIPE, &old, nullptr);
  CHECK(r.out == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
}

TEST_CASE("the watchdog kills a SIGKILLed runtime's steps, also after it was itself replaced", "[process]") {
  // A runtime of its own, in a child process, since this one cannot be
  // SIGKILLed: it starts a long step, kills its watchdog, starts a short
  // step (which replaces the watchdog and must tell it about the long one)
  // and waits to be killed.
  TempDir dir;
  const std::string pids = ShellQuote(dir.File("pids"));
  const std::string report = dir.File("report");
  const pid_t runtime = ::fork();
  REQUIRE(runtime >= 0);
  if (runtime == 0) {
    std::thread long_step([&] { Run("sleep 30 & echo $! >> " + pids + "; echo $$ >> " + pids + "; wait"); });
    long_step.detach();
    while (ReadPids(dir.File("pids")).size() < 2) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const int first = StepWatchdogPid();
    ::kill(first, SIGKILL);
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(first), &info, WEXITED | WNOWAIT);  // dead, still unreaped
    auto r = Run("echo short");
    std::ofstream(report) << first << " " << StepWatchdogPid() << " " << r.out;
    for (;;) ::pause();
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  std::string text;
  while (text.find('\n') == std::string::npos && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    std::ifstream in(report);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ::kill(runtime, SIGKILL);
  ::waitpid(runtime, nullptr, 0);
  std::istringstream in(text);
  long first = 0, second = 0;
  std::string word;
  in >> first >> second >> word;
  CHECK(first > 0);
  CHECK(second > 0);
  CHECK(second != first);
  CHECK(word == "short");
  auto recorded = ReadPids(dir.File("pids"));
  REQUIRE(recorded.size() == 2);
  CHECK(AllDead(recorded));
  CHECK(AllDead({static_cast<pid_t>(second)}));  // and the watchdog went with them
}

TEST_CASE("concurrent runs do not hold each other's pipes open", "[process]") {
  // Long steps are started while short ones run in other threads. Had a
  // long step's shell inherited a short step's pipe, the short step would
  // see no EOF and end only after its grace period (2 s) and drain (0.5 s).
  using Clock = std::chrono::steady_clock;
  std::atomic<bool> stop{false};
  std::vector<ProcessResult> long_results(5);
  std::vector<Clock::time_point> long_ended(long_results.size());
  std::vector<std::thread> long_runners;
  for (std::size_t k = 0; k < long_results.size(); ++k) {
    long_runners.emplace_back([k, &stop, &long_results, &long_ended] {
      std::this_thread::sleep_for(std::chrono::milliseconds(40 * k));
      ProcessSpec spec;
      spec.command = "sleep 30";
      long_results[k] = RunProcess(spec, nullptr, &stop);
      long_ended[k] = Clock::now();
    });
  }
  std::vector<std::thread> short_runners;
  std::atomic<int> wrong_output{0}, slow{0};
  for (int t = 0; t < 4; ++t) {
    short_runners.emplace_back([t, &wrong_output, &slow] {
      for (int i = 0; i < 10; ++i) {
        std::string word = std::to_string(t) + "-" + std::to_string(i);
        auto r = Run("echo " + word);
        if (r.out != word + "\n" || r.exit_code != 0) ++wrong_output;
        if (r.seconds >= 2) ++slow;  // generous: a loaded machine is slow, a leak is slower
      }
    });
  }
  for (auto& thread : short_runners) thread.join();
  const auto stopped = Clock::now();
  stop = true;
  for (auto& thread : long_runners) thread.join();
  CHECK(wrong_output == 0);
  CHECK(slow == 0);
  for (std::size_t k = 0; k < long_results.size(); ++k) {
    CHECK(long_results[k].cancelled);
    // Ends at SIGTERM, not held up by pipes another step's shell inherited.
    CHECK(std::chrono::duration<double>(long_ended[k] - stopped).count() < 1.5);
  }
}

TEST_CASE("ShellQuote", "[process]") {
  CHECK(ShellQuote("plain") == "plain");
  CHECK(ShellQuote("a/b.c:d,e=f+g@h%i_j-k") == "a/b.c:d,e=f+g@h%i_j-k");
  CHECK(ShellQuote("") == "''");
  CHECK(ShellQuote("two words") == "'two words'");
  CHECK(ShellQuote("it's") == "'it'\\''s'");
  CHECK(ShellQuote("$(id)") == "'$(id)'");
  CHECK(ShellQuote("a\nb") == "'a\nb'");
  CHECK(ShellQuote("*") == "'*'");
}

TEST_CASE("ShellQuote round-trips nasty values through /bin/sh", "[process]") {
  TempDir dir;  // a directory with a file in it, so an unquoted * would expand
  std::ofstream(dir.File("decoy")) << "x";
  const std::vector<std::string> values = {
      "; rm -rf /", "$(id)", "`id`", "it's", "\"double\"", "a'b\"c", "line1\nline2\n", "*", "", "  spaced  ",
      "\\n\\t", "$HOME", "-n", "!x", "~", "a;b|c&d>e<f", "tab\there", "héllo", "'", "''", "${IFS}"};
  for (const auto& v : values) {
    ProcessSpec spec;
    spec.dir = dir.str();
    spec.command = "printf %s " + ShellQuote(v);
    auto r = RunProcess(spec, nullptr);
    INFO("value: " << v);
    CHECK(r.exit_code == 0);
    CHECK(r.out == v);
  }
}
