// The run journal against real files: round trips, a crash at every byte,
// torn tails, corrupt lines, SIGKILL mid-append, the run lock, atomic writes.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "runtime/journal.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using trix::rt::Journal;
using trix::rt::LockFile;
using trix::rt::ReadJournal;

/// A fresh directory under $TMPDIR, removed with everything in it.
struct TempDir {
  fs::path path;
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "trix-journal-test-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

void AppendBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out << bytes;
}

std::string HostName() {
  char buf[256] = {};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

/// The pid of a process that has exited and been reaped.
pid_t DeadPid() {
  pid_t pid = 0;
  char arg0[] = "true";
  char* argv[] = {arg0, nullptr};
  REQUIRE(::posix_spawnp(&pid, "true", nullptr, nullptr, argv, environ) == 0);
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  return pid;
}

}  // namespace

TEST_CASE("journal append and read round trip, seq continues across reopen", "[journal]") {
  TempDir dir;
  std::string path = dir / "runs/R1/journal.jsonl";  // parents do not exist yet
  {
    Journal j(path);
    CHECK(j.path() == path);
    j.Append({{"event", "start"}, {"text", "two\nlines"}});
    j.Append({{"event", "step"}, {"id", 3}});
  }
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  REQUIRE(::stat((dir / "runs/R1").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0700);

  std::string bytes = ReadBytes(path);
  CHECK(std::count(bytes.begin(), bytes.end(), '\n') == 2);  // one line per record

  {
    Journal j(path);
    j.Append({{"event", "end"}});
  }
  auto records = ReadJournal(path);
  REQUIRE(records.size() == 3);
  CHECK(records[0]["event"] == "start");
  CHECK(records[0]["text"] == "two\nlines");
  CHECK(records[1]["id"] == 3);
  CHECK(records[2]["event"] == "end");
  std::regex ts_re(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  for (std::size_t i = 0; i < records.size(); ++i) {
    CHECK(records[i]["seq"] == static_cast<long long>(i + 1));
    CHECK(std::regex_match(records[i]["ts"].get<std::string>(), ts_re));
  }

  // Not an object: refused, and nothing written.
  Journal j(path);
  CHECK_THROWS_AS(j.Append(json::array({1, 2})), std::invalid_argument);
  CHECK(ReadJournal(path).size() == 3);
}

TEST_CASE("journal a deferred record is readable at once and keeps the order", "[journal]") {
  TempDir dir;
  std::string path = dir / "journal.jsonl";
  Journal j(path);
  j.Append({{"event", "start"}, {"id", "a"}});
  j.Append({{"event", "end"}, {"id", "a"}}, Journal::Durability::kDeferred);
  // Written with write(2) already: another process (or a resume after a
  // crash of this one) sees it before any sync.
  auto recs = ReadJournal(path);
  REQUIRE(recs.size() == 2);
  CHECK(recs[1]["event"] == "end");
  CHECK(recs[1]["seq"] == 2);
  j.Append({{"event", "start"}, {"id", "b"}});  // synced: carries the deferred record with it
  j.Sync();                                      // nothing pending: a no-op
  recs = ReadJournal(path);
  REQUIRE(recs.size() == 3);
  CHECK(recs[2]["id"] == "b");
  CHECK(recs[2]["seq"] == 3);
}

TEST_CASE("journal invalid UTF-8 is replaced, not fatal", "[journal]") {
  TempDir dir;
  std::string path = dir / "journal.jsonl";
  Journal j(path);
  j.Append({{"stdout", std::string("ok \xff\xfe bytes")}});
  auto records = ReadJournal(path);
  REQUIRE(records.size() == 1);
  CHECK(records[0]["stdout"].get<std::string>().find("ok ") == 0);
}

TEST_CASE("journal a crash at every byte leaves a readable prefix", "[journal]") {
  TempDir dir;
  std::string path = dir / "journal.jsonl";
  {
    Journal j(path);
    j.Append({{"event", "run_start"}, {"pipeline", "release"}});
    j.Append({{"event", "step_start"}, {"step", "migrate"}, {"note", "quote \" and \\ and \n"}});
    j.Append({{"event", "step_end"}, {"step", "migrate"}, {"exit_code", 0}, {"digest", "ab12"}});
    j.Append({{"event", "approval"}, {"by", "alice"}, {"nested", {{"a", {1, 2, 3}}}}});
    j.Append({{"event", "run_end"}, {"status", "ok"}});
  }
  std::string bytes = ReadBytes(path);
  auto full = ReadJournal(path);
  REQUIRE(full.size() == 5);

  std::string cut = dir / "cut.jsonl";
  for (std::size_t len = 0; len <= bytes.size(); ++len) {
    std::string prefix = bytes.substr(0, len);
    WriteBytes(cut, prefix);
    auto complete = static_cast<std::size_t>(std::count(prefix.begin(), prefix.end(), '\n'));
    std::vector<json> got;
    INFO("prefix length " << len);
    REQUIRE_NOTHROW(got = ReadJournal(cut));
    REQUIRE(got.size() == complete);
    for (std::size_t i = 0; i < complete; ++i) CHECK(got[i] == full[i]);
  }
}

TEST_CASE("journal reopen truncates a torn tail and appends cleanly", "[journal]") {
  TempDir dir;
  std::string path = dir / "journal.jsonl";
  {
    Journal j(path);
    for (int i = 0; i < 3; ++i) j.Append({{"event", "e"}, {"i", i}});
  }
  std::string good = ReadBytes(path);

  SECTION("a final line without a newline") { AppendBytes(path, R"({"event":"e","i":3,"se)"); }
  SECTION("a final line that does not parse") { AppendBytes(path, std::string("{\"ev\0\0\0", 7) + "\n"); }
  SECTION("a final line that is not an object") { AppendBytes(path, "42\n"); }

  CHECK(ReadJournal(path).size() == 3);
  {
    Journal j(path);
    CHECK(ReadBytes(path) == good);  // cut back before anything is appended
    j.Append({{"event", "after"}});
  }
  auto records = ReadJournal(path);
  REQUIRE(records.size() == 4);
  CHECK(records[3]["event"] == "after");
  CHECK(records[3]["seq"] == 4);
  CHECK(ReadBytes(path).substr(0, good.size()) == good);
}

TEST_CASE("journal a corrupt line in the middle is an error", "[journal]") {
  TempDir dir;
  std::string path = dir / "journal.jsonl";
  WriteBytes(path, "{\"seq\":1}\n{\"seq\":2,oops}\n{\"seq\":3}\n");
  CHECK_THROWS_WITH(ReadJournal(path), Catch::Contains("journal.jsonl line 2 is corrupt: parse error at column"));
  // Opening it for appending refuses too, rather than burying the damage.
  CHECK_THROWS_WITH(Journal(path), Catch::Contains("line 2 is corrupt"));

  WriteBytes(path, "{\"seq\":1}\n\n{\"seq\":3}\n");
  CHECK_THROWS_WITH(ReadJournal(path), Catch::Contains("line 2 is corrupt: empty line"));
  WriteBytes(path, "[1]\n{\"seq\":2}\n");
  CHECK_THROWS_WITH(ReadJournal(path), Catch::Contains("line 1 is corrupt: not a JSON object"));

  CHECK_THROWS_WITH(ReadJournal(dir / "missing.jsonl"), Catch::Contains("cannot open journal"));
}

TEST_CASE("journal SIGKILL during heavy appending leaves a readable prefix", "[journal]") {
  TempDir dir;
  std::string path = dir / "journal.jsonl";
  long long expected_next = 1;
  for (int round = 0; round < 3; ++round) {
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // Never return into Catch2 from here; the parent kills us. The deadline
      // only matters if the parent died first.
      try {
        Journal j(path);
        std::string payload(200 + 37 * round, 'x');
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        for (long i = 0; std::chrono::steady_clock::now() < deadline; ++i)
          j.Append({{"event", "tick"}, {"i", i}, {"payload", payload}});
      } catch (...) {
        ::_exit(1);
      }
      ::_exit(0);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + 7 * round));
    REQUIRE(::kill(child, SIGKILL) == 0);
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));

    std::vector<json> records;
    REQUIRE_NOTHROW(records = ReadJournal(path));
    REQUIRE(static_cast<long long>(records.size()) >= expected_next);  // the child wrote something
    for (std::size_t i = 0; i < records.size(); ++i) REQUIRE(records[i]["seq"] == static_cast<long long>(i + 1));
    expected_next = static_cast<long long>(records.size()) + 1;
  }
  // And the survivor can go on.
  Journal j(path);
  j.Append({{"event", "resumed"}});
  auto records = ReadJournal(path);
  CHECK(records.back()["seq"] == static_cast<long long>(records.size()));
}

TEST_CASE("journal lock file", "[journal]") {
  TempDir dir;
  std::string path = dir / "locks/run.lock";
  std::string holder;

  SECTION("acquire, contend, release") {
    LockFile lock;
    REQUIRE(LockFile::Acquire(path, &lock, &holder));
    CHECK(ReadBytes(path) == std::to_string(::getpid()) + " " + HostName() + "\n");

    LockFile second;
    CHECK_FALSE(LockFile::Acquire(path, &second, &holder));
    CHECK_THAT(holder, Catch::StartsWith("pid " + std::to_string(::getpid()) + " on " + HostName() + " since "));

    LockFile moved(std::move(lock));
    CHECK(fs::exists(path));  // moving does not release
    { LockFile gone(std::move(moved)); }
    CHECK_FALSE(fs::exists(path));
    REQUIRE(LockFile::Acquire(path, &second, &holder));
    second = LockFile();  // move-assigning releases the old lock
    CHECK_FALSE(fs::exists(path));
  }

  SECTION("a stale lock is taken over") {
    fs::create_directories(fs::path(path).parent_path());
    WriteBytes(path, std::to_string(DeadPid()) + " " + HostName() + "\n");
    LockFile lock;
    REQUIRE(LockFile::Acquire(path, &lock, &holder));
    CHECK(ReadBytes(path) == std::to_string(::getpid()) + " " + HostName() + "\n");
  }

  SECTION("a lock from another host is never judged stale") {
    fs::create_directories(fs::path(path).parent_path());
    WriteBytes(path, std::to_string(DeadPid()) + " some-other-host.example\n");
    LockFile lock;
    CHECK_FALSE(LockFile::Acquire(path, &lock, &holder));
    CHECK_THAT(holder, Catch::Contains("on some-other-host.example since "));
  }

  SECTION("a lock without a pid is not taken over") {
    fs::create_directories(fs::path(path).parent_path());
    WriteBytes(path, "");
    LockFile lock;
    CHECK_FALSE(LockFile::Acquire(path, &lock, &holder));
    CHECK_THAT(holder, Catch::Contains("without a pid"));
  }

  SECTION("a forked child does not release its parent's lock") {
    LockFile lock;
    REQUIRE(LockFile::Acquire(path, &lock, &holder));
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      { LockFile copy(std::move(lock)); }  // runs the destructor in the child
      ::_exit(0);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    CHECK(fs::exists(path));
  }
}

TEST_CASE("journal WriteFileAtomic replaces the file and leaves no temp file", "[journal]") {
  TempDir dir;
  std::string path = dir / "state.json";
  trix::rt::WriteFileAtomic(path, "first\n");
  CHECK(ReadBytes(path) == "first\n");
  trix::rt::WriteFileAtomic(path, "second, longer\n");
  CHECK(ReadBytes(path) == "second, longer\n");
  trix::rt::WriteFileAtomic(path, "");
  CHECK(ReadBytes(path).empty());
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir.path)) names.push_back(e.path().filename().string());
  CHECK(names == std::vector<std::string>{"state.json"});
  CHECK_THROWS_WITH(trix::rt::WriteFileAtomic(dir / "no/such/dir/x", "x"), Catch::Contains("cannot create temporary file"));
}

TEST_CASE("journal NewRunId format", "[journal]") {
  std::regex id_re(R"(\d{8}-\d{6}-[0-9a-f]{4})");
  std::string a = trix::rt::NewRunId();
  CHECK(std::regex_match(a, id_re));
  bool differs = false;
  for (int i = 0; i < 8 && !differs; ++i) differs = trix::rt::NewRunId() != a;
  CHECK(differs);
}
