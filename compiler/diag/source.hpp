// Source files and locations.
//
// Invariants: a SourceRange is half-open [begin, end) in bytes of one file's
// text; file ids are indices into one SourceManager and never reused. Columns
// shown to users are 1-based and count Unicode code points (not bytes), so a
// caret lines up under the character a reader sees.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace trix {

using FileId = std::uint32_t;

struct SourceRange {
  FileId file = 0;
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
};

struct LineCol {
  std::uint32_t line = 1;  // 1-based
  std::uint32_t col = 1;   // 1-based, in code points
};

class SourceFile {
 public:
  SourceFile(std::string path, std::string text);
  const std::string& path() const { return path_; }
  const std::string& text() const { return text_; }
  /// Line and column of a byte offset (offsets past the end clamp to it).
  LineCol Locate(std::uint32_t offset) const;
  /// The text of a 1-based line, without its line terminator.
  std::string_view Line(std::uint32_t line) const;
  std::uint32_t LineCount() const { return static_cast<std::uint32_t>(line_starts_.size()); }
  std::uint32_t LineStart(std::uint32_t line) const { return line_starts_[line - 1]; }

 private:
  std::string path_;
  std::string text_;
  std::vector<std::uint32_t> line_starts_;
};

/// Owns every file read during one compilation; FileIds index into it.
class SourceManager {
 public:
  FileId Add(std::string path, std::string text);
  const SourceFile& Get(FileId id) const { return *files_[id]; }
  std::size_t size() const { return files_.size(); }

 private:
  // unique_ptr so references stay valid while files are added.
  std::vector<std::unique_ptr<SourceFile>> files_;
};

}  // namespace trix
