// The run journal: .trix/runs/RUN_ID/journal.jsonl, one JSON record per line.
//
// Invariants: each Append writes one complete line with a single write(2)
// before returning, so a crash of the process never loses a record, and a
// crash at any byte leaves a readable prefix: ReadJournal returns every
// complete record and ignores a torn final line. A kSynced Append (the
// default) also fdatasyncs before returning, which makes it and every record
// before it survive a crash of the machine; a kDeferred record is made
// durable by the next kSynced one, Sync() or the destructor. (The runtime
// defers only a step's end record: the next step's start record, synced
// before that step runs, carries it to disk.) The directory is fsynced when
// the file is new. Records are never rewritten. Secret values never reach
// Append (callers redact first).
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

  enum class Durability { kSynced, kDeferred };
  /// Appends one record (adds "ts": RFC 3339 UTC with milliseconds, and "seq": n).
  // Returns the record's "ts" as written.
  std::string Append(nlohmann::json record, Durability durability = Durability::kSynced);
  /// Makes every record appended so far durable (no-op when nothing is pending).
  void Sync();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  long long seq_ = 0;
  bool unsynced_ = false;
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
