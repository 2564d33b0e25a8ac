// The run journal: .trix/runs/RUN_ID/journal.jsonl, one JSON record per line.
//
// Invariants: each Append writes one complete line with a single write(2)
// and fsyncs it before returning (and fsyncs the directory when the file is
// new), so a crash at any byte leaves a readable prefix: ReadJournal returns
// every complete record and ignores a torn final line. Records are never
// rewritten. Secret values never reach Append (callers redact first).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace trix::rt {

class Journal {
 public:
  /// Opens (creating directories as needed) the journal at `path` for appending.
  /// Throws std::runtime_error with a readable message on failure.
  explicit Journal(const std::string& path);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  /// Appends one record (adds "ts": RFC 3339 UTC with milliseconds, and "seq": n).
  void Append(nlohmann::json record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  long long seq_ = 0;
};

/// Every complete record of a journal file, in order. A last line without a
/// newline or that fails to parse (a torn write) is dropped; a bad line in
/// the middle is an error (throws std::runtime_error naming the line).
std::vector<nlohmann::json> ReadJournal(const std::string& path);

/// An exclusive lock file (O_CREAT|O_EXCL holding our pid). A lock whose pid
/// is no longer alive is stale and taken over. Released by the destructor.
class LockFile {
 public:
  /// Tries to take the lock; on failure `holder` describes who holds it.
  static bool Acquire(const std::string& path, LockFile* out, std::string* holder);
  LockFile() = default;
  LockFile(LockFile&& o) noexcept;
  LockFile& operator=(LockFile&& o) noexcept;
  ~LockFile();

 private:
  std::string path_;
};

/// Writes a file atomically: temp file in the same directory, fsync, rename, fsync dir.
void WriteFileAtomic(const std::string& path, const std::string& content);

/// A new run id: UTC timestamp plus random suffix, e.g. "20261128-014501-7f3a".
std::string NewRunId();

}  // namespace trix::rt
