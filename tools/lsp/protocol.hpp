// The protocol layer of the language server: JSON-RPC 2.0 messages framed
// with `Content-Length` headers (LSP base protocol), and positions in
// UTF-16 code units.
//
// Invariants: nothing here knows the Trix language. A Position is what LSP
// says it is (0-based line, 0-based UTF-16 code unit offset in that line;
// lines end at \n, \r\n or \r); conversions clamp to the line and never split
// a code point.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace trix::lsp {

enum class ReadStatus { Ok, Eof, Malformed };

/// Reads one framed message body. Headers other than Content-Length are ignored.
ReadStatus ReadMessage(std::istream& in, std::string* body);

/// Writes one message with its Content-Length header and flushes.
void WriteMessage(std::ostream& out, const nlohmann::json& message);

struct Position {
  std::uint32_t line = 0;
  std::uint32_t character = 0;  // UTF-16 code units
};

/// Line starts of a text, for byte offset <-> LSP position conversion.
class LineIndex {
 public:
  explicit LineIndex(std::string_view text);
  Position ToPosition(std::uint32_t offset) const;
  std::uint32_t ToOffset(Position p) const;
  /// The position just past the last character.
  Position End() const { return ToPosition(static_cast<std::uint32_t>(text_.size())); }

 private:
  std::string_view text_;
  std::vector<std::uint32_t> starts_;
  std::uint32_t LineEnd(std::uint32_t line) const;  // offset of the line's terminator (or the end)
};

/// file:// URI <-> path (percent-encoding per RFC 3986). A URI of another
/// scheme is returned unchanged by UriToPath.
std::string UriToPath(const std::string& uri);
std::string PathToUri(const std::string& path);

}  // namespace trix::lsp
