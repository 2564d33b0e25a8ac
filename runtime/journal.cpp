// The run journal, the run lock, atomic file replacement and run ids.
//
// Everything here is plain POSIX I/O so the durability story can be read off
// the code: which write(2) makes a record visible, which fsync makes it
// survive a crash, and which directory fsync makes a new name survive one.
#include "runtime/journal.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>
#include <vector>

namespace trix::rt {
namespace {

using nlohmann::json;

std::string ErrnoText(int err) { return std::strerror(err); }

[[noreturn]] void ThrowErrno(const std::string& what, int err) {
  throw std::runtime_error(what + ": " + ErrnoText(err));
}

/// The directory part of `path` ("." when there is none).
std::string DirName(const std::string& path) {
  std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

/// fsyncs a directory so that a name just created, renamed or removed in it
/// survives a crash (fsync on the file covers only its contents).
void SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) ThrowErrno("cannot open directory " + dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  // Some filesystems do not support fsync on a directory; nothing to flush.
  if (rc != 0 && err != EINVAL && err != EROFS) ThrowErrno("cannot fsync directory " + dir, err);
}

/// Creates `dir` and its missing parents with `mode` (0700: run directories
/// hold journals and approvals). Each new directory's parent is fsynced so the
/// new entry is durable before anything inside it is relied upon.
void MakeDirs(const std::string& dir, mode_t mode) {
  if (dir.empty() || dir == "." || dir == "/") return;
  std::size_t pos = 0;
  while (pos != std::string::npos) {
    pos = dir.find('/', pos + 1);
    std::string prefix = dir.substr(0, pos);
    if (prefix.empty() || prefix.back() == '/') continue;  // leading or doubled slash
    if (::mkdir(prefix.c_str(), mode) == 0) {
      SyncDir(DirName(prefix));
      continue;
    }
    int err = errno;
    struct stat st {};
    if (err == EEXIST && ::stat(prefix.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    if (err == EEXIST) throw std::runtime_error("cannot create directory " + prefix + ": a file is in the way");
    ThrowErrno("cannot create directory " + prefix, err);
  }
}

/// Writes all of `data`: write(2) may be interrupted or write less than asked
/// (signals, a full disk, pipes), so loop until done or a real error.
/// Returns 0 or the errno of the failure.
int WriteAll(int fd, std::string_view data) {
  const char* p = data.data();
  std::size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (n == 0) return EIO;  // cannot happen for regular files; do not spin
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  return 0;
}

/// fdatasync flushes the data and the size (what a reader needs), not the
/// timestamps; fall back to fsync where fdatasync is not supported.
int SyncData(int fd) {
  if (::fdatasync(fd) == 0) return 0;
  if (errno != EINVAL) return errno;
  return ::fsync(fd) == 0 ? 0 : errno;
}

std::string ReadWholeFile(const std::string& path, const std::string& what) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ThrowErrno("cannot open " + what + " " + path, errno);
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ThrowErrno("cannot read " + what + " " + path, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

/// "2026-11-28T01:45:01.123Z" (with_ms) or "2026-11-28T01:45:01Z".
std::string Rfc3339Utc(const struct timespec& ts, bool with_ms) {
  struct tm tm {};
  time_t secs = ts.tv_sec;
  ::gmtime_r(&secs, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out(buf, n);
  if (with_ms) {
    std::snprintf(buf, sizeof buf, ".%03ldZ", static_cast<long>(ts.tv_nsec / 1000000));
    out += buf;
  } else {
    out += 'Z';
  }
  return out;
}

std::string NowRfc3339Ms() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return Rfc3339Utc(ts, true);
}

/// Strips nlohmann's "[json.exception.parse_error.101] parse error at line 1, "
/// prefix: the exception id means nothing to a user and "line 1" is the line
/// within the record, which would contradict the journal line we name.
std::string ParseErrorText(const json::parse_error& e) {
  std::string msg = e.what();
  if (std::size_t close = msg.find("] "); close != std::string::npos) msg.erase(0, close + 2);
  const std::string kLine1 = "parse error at line 1, ";
  if (msg.rfind(kLine1, 0) == 0) msg = "parse error at " + msg.substr(kLine1.size());
  return msg;
}

struct ParsedJournal {
  std::vector<json> records;
  std::size_t valid_bytes = 0;  // length of the prefix holding exactly `records`
};

/// Splits journal text into records. The final line is dropped when it has
/// no newline or does not parse as a JSON object: that is what a crash in
/// the middle of an Append (or a power loss that persisted the file size but
/// not all of its blocks) leaves behind. Any other bad line means the file
/// was damaged or edited, and guessing would be worse than stopping.
ParsedJournal ParseJournal(const std::string& data, const std::string& path) {
  ParsedJournal out;
  std::size_t pos = 0;
  long long line_no = 0;
  while (pos < data.size()) {
    ++line_no;
    std::size_t nl = data.find('\n', pos);
    if (nl == std::string::npos) break;  // torn final line
    bool last = nl + 1 == data.size();
    std::string_view line(data.data() + pos, nl - pos);
    std::string problem;
    json record;
    try {
      record = json::parse(line);
      if (!record.is_object()) problem = "not a JSON object";
    } catch (const json::parse_error& e) {
      problem = line.empty() ? "empty line" : ParseErrorText(e);
    }
    if (!problem.empty()) {
      if (last) break;  // a torn final record
      throw std::runtime_error(path + " line " + std::to_string(line_no) + " is corrupt: " + problem);
    }
    out.records.push_back(std::move(record));
    pos = nl + 1;
    out.valid_bytes = pos;
  }
  return out;
}

/// A lock file's content: "PID HOSTNAME\n".
struct LockOwner {
  long pid = 0;
  std::string host;
};

bool ParseLockOwner(const std::string& text, LockOwner* owner) {
  std::istringstream in(text);
  long pid = 0;
  std::string host;
  if (!(in >> pid) || pid <= 0 || pid > INT_MAX) return false;
  in >> host;  // optional: older or foreign lock files may carry only a pid
  owner->pid = pid;
  owner->host = host;
  return true;
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown-host";
  return buf;
}

enum class LockState { kHeld, kStale, kGone };

/// Reads the lock at `path` and decides whether its owner is alive. On kHeld
/// `holder` says who holds it; `seen` is the stat of the file that was read.
LockState InspectLock(const std::string& path, std::string* holder, struct stat* seen) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return LockState::kGone;  // released meanwhile
    ThrowErrno("cannot open lock file " + path, errno);
  }
  std::string text;
  char buf[512];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) != 0) {
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ThrowErrno("cannot read lock file " + path, err);
    }
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > 4096) break;  // a pid and a host name; ignore the rest
  }
  if (::fstat(fd, seen) != 0) {
    int err = errno;
    ::close(fd);
    ThrowErrno("cannot stat lock file " + path, err);
  }
  ::close(fd);

  struct timespec mtime = seen->st_mtim;
  std::string since = Rfc3339Utc(mtime, false);
  LockOwner owner;
  if (!ParseLockOwner(text, &owner)) {
    // Either its creator is between open and write right now, or a crash hit
    // exactly there. We cannot tell which, so we do not take it over.
    *holder = "a lock file without a pid since " + since + " (" + path +
              "; remove it if no run is active)";
    return LockState::kHeld;
  }
  std::string host = owner.host.empty() ? "an unknown host" : owner.host;
  *holder = "pid " + std::to_string(owner.pid) + " on " + host + " since " + since;
  // A pid only means something on the host that wrote it (the run directory
  // may be on a shared filesystem): a foreign lock is never judged stale.
  if (!owner.host.empty() && owner.host != HostName()) return LockState::kHeld;
  if (::kill(static_cast<pid_t>(owner.pid), 0) != 0 && errno == ESRCH) return LockState::kStale;
  return LockState::kHeld;  // alive, or EPERM: alive but someone else's
}

/// Whether the lock file at `path` names this process.
bool LockIsOurs(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[128];
  ssize_t n;
  do {
    n = ::read(fd, buf, sizeof buf - 1);
  } while (n < 0 && errno == EINTR);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  LockOwner owner;
  return ParseLockOwner(buf, &owner) && owner.pid == static_cast<long>(::getpid());
}

}  // namespace

// ---- Journal ---------------------------------------------------------------

Journal::Journal(const std::string& path) : path_(path) {
  std::string dir = DirName(path_);
  MakeDirs(dir, 0700);

  // O_EXCL first, so we know whether this call created the file (and must
  // make its name durable) or must continue an existing journal.
  bool created = false;
  for (int attempt = 0; attempt < 2 && fd_ < 0; ++attempt) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ >= 0) {
      created = true;
      break;
    }
    if (errno != EEXIST) ThrowErrno("cannot create journal " + path_, errno);
    fd_ = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd_ < 0 && errno != ENOENT) ThrowErrno("cannot open journal " + path_, errno);
  }
  if (fd_ < 0) throw std::runtime_error("cannot open journal " + path_ + ": it keeps disappearing");

  try {
    if (created) {
      SyncDir(dir);
      return;
    }
    ParsedJournal parsed = ParseJournal(ReadWholeFile(path_, "journal"), path_);
    struct stat st {};
    if (::fstat(fd_, &st) != 0) ThrowErrno("cannot stat journal " + path_, errno);
    if (static_cast<std::size_t>(st.st_size) > parsed.valid_bytes) {
      // The only rewrite the journal ever does: drop a torn final record (a
      // crash mid-Append) so the next record starts on a line of its own.
      // Appending after it would glue the new record onto the fragment and
      // turn a harmless torn tail into a corrupt line in the middle. The
      // fragment was never acknowledged to anyone (Append had not returned),
      // so nothing that happened is lost.
      if (::ftruncate(fd_, static_cast<off_t>(parsed.valid_bytes)) != 0)
        ThrowErrno("cannot truncate the torn last line of journal " + path_, errno);
      if (int err = SyncData(fd_)) ThrowErrno("cannot fsync journal " + path_, err);
    }
    // Continue the sequence after the last record. Records we wrote always
    // carry an integer "seq"; fall back to the count for anything else.
    seq_ = static_cast<long long>(parsed.records.size());
    if (!parsed.records.empty()) {
      const json& last = parsed.records.back();
      if (auto it = last.find("seq"); it != last.end() && it->is_number_integer()) seq_ = it->get<long long>();
    }
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

Journal::~Journal() {
  if (fd_ >= 0) {
    if (unsynced_) (void)SyncData(fd_);
    ::close(fd_);
  }
}

void Journal::Sync() {
  if (fd_ < 0 || !unsynced_) return;
  if (int err = SyncData(fd_)) ThrowErrno("cannot fsync journal " + path_, err);
  unsynced_ = false;
}

std::string Journal::Append(nlohmann::json record, Durability durability) {
  if (!record.is_object()) throw std::invalid_argument("journal record must be a JSON object");
  if (fd_ < 0) throw std::runtime_error("journal " + path_ + " is not open");
  long long seq = seq_ + 1;
  record["seq"] = seq;
  std::string ts = NowRfc3339Ms();
  record["ts"] = ts;
  // dump() without indent is one line (newlines inside strings are escaped).
  // Invalid UTF-8 (command output, say) is replaced with U+FFFD rather than
  // throwing: losing a journal record over one bad byte would be worse.
  std::string line = record.dump(-1, ' ', false, json::error_handler_t::replace);
  line += '\n';

  // Remember where this record starts so a failed write (disk full, I/O
  // error) can be cut off again instead of leaving a fragment that the next
  // Append would turn into a corrupt middle line.
  off_t start = ::lseek(fd_, 0, SEEK_END);
  if (int err = WriteAll(fd_, line)) {
    if (start >= 0 && ::ftruncate(fd_, start) == 0) (void)SyncData(fd_);
    ThrowErrno("cannot write to journal " + path_, err);
  }
  // After a failed fsync the kernel may already have dropped the dirty pages
  // and report success next time, so we never retry: the caller must treat
  // the record (and the run) as not durably journalled.
  if (durability == Durability::kSynced) {
    // One fdatasync also covers every record written before it unsynced.
    if (int err = SyncData(fd_)) ThrowErrno("cannot fsync journal " + path_, err);
    unsynced_ = false;
  } else {
    unsynced_ = true;
  }
  seq_ = seq;
  return ts;
}

std::vector<nlohmann::json> ReadJournal(const std::string& path) {
  return ParseJournal(ReadWholeFile(path, "journal"), path).records;
}

// ---- LockFile --------------------------------------------------------------

bool LockFile::Acquire(const std::string& path, LockFile* out, std::string* holder) {
  if (out == nullptr) throw std::invalid_argument("LockFile::Acquire needs somewhere to put the lock");
  MakeDirs(DirName(path), 0700);
  std::string content = std::to_string(::getpid()) + " " + HostName() + "\n";
  // Two attempts: the second only after removing a stale lock. If someone
  // else wins the race for it, they hold the lock and we report them.
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
      int err = WriteAll(fd, content);
      if (::close(fd) != 0 && err == 0) err = errno;
      if (err != 0) {
        ::unlink(path.c_str());
        ThrowErrno("cannot write lock file " + path, err);
      }
      *out = LockFile();
      out->path_ = path;
      if (holder) holder->clear();
      return true;
    }
    if (errno != EEXIST) ThrowErrno("cannot create lock file " + path, errno);

    std::string who;
    struct stat seen {};
    LockState state = InspectLock(path, &who, &seen);
    if (state == LockState::kGone) continue;  // released between our two calls
    if (state == LockState::kHeld || attempt == 1) {
      if (holder) *holder = who;
      return false;
    }
    // Stale. Remove it only if the name still points at the file we judged,
    // so a fresh lock taken by a racing process in between is not deleted.
    // (A window between this stat and the unlink remains; closing it would
    // need a second lock, which is not worth it for a crash-recovery path.)
    struct stat now {};
    if (::stat(path.c_str(), &now) == 0 && now.st_ino == seen.st_ino && now.st_dev == seen.st_dev) {
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) ThrowErrno("cannot remove stale lock " + path, errno);
    }
  }
  if (holder) *holder = "another process (the lock kept changing hands)";
  return false;
}

LockFile::LockFile(LockFile&& o) noexcept : path_(std::move(o.path_)) { o.path_.clear(); }

LockFile& LockFile::operator=(LockFile&& o) noexcept {
  if (this != &o) {
    LockFile old(std::move(*this));  // released at the end of this scope
    path_ = std::move(o.path_);
    o.path_.clear();
  }
  return *this;
}

LockFile::~LockFile() {
  // Only unlink a lock that still names this process: a forked child that
  // exits normally must not release its parent's lock, and a lock taken over
  // by someone else (who judged us dead) is theirs.
  if (!path_.empty() && LockIsOurs(path_)) ::unlink(path_.c_str());
}

// ---- WriteFileAtomic -------------------------------------------------------

void WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string dir = DirName(path);
  std::random_device rd;
  std::string tmp;
  int fd = -1;
  for (int attempt = 0; attempt < 8 && fd < 0; ++attempt) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, ".tmp.%ld.%08x", static_cast<long>(::getpid()),
                  static_cast<unsigned>(rd()));
    tmp = path + suffix;
    // 0666 minus the umask, like any new file: the target may be read by
    // others (a node_exporter textfile, an emitted workflow). Private state
    // lives in the 0700 run directory instead.
    fd = ::open(tmp.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0 && errno != EEXIST) ThrowErrno("cannot create temporary file " + tmp, errno);
  }
  if (fd < 0) throw std::runtime_error("cannot create a temporary file next to " + path);

  int err = WriteAll(fd, content);
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    ThrowErrno("cannot write " + path, err);
  }
  SyncDir(dir);
}

// ---- NewRunId --------------------------------------------------------------

std::string NewRunId() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm {};
  time_t secs = ts.tv_sec;
  ::gmtime_r(&secs, &tm);
  char buf[32];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "-%04x", static_cast<unsigned>(rd() & 0xffffu));
  return std::string(buf, n) + suffix;
}

}  // namespace trix::rt
