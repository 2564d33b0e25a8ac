// JSON-RPC framing, UTF-16 positions and file URIs (see protocol.hpp).
#include "tools/lsp/protocol.hpp"

#include <algorithm>
#include <istream>
#include <ostream>

namespace trix::lsp {

ReadStatus ReadMessage(std::istream& in, std::string* body) {
  long long length = -1;
  std::string line;
  bool any = false;
  while (std::getline(in, line)) {
    any = true;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;  // end of headers
    auto colon = line.find(':');
    if (colon == std::string::npos) return ReadStatus::Malformed;
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    if (name == "content-length") {
      try {
        length = std::stoll(line.substr(colon + 1));
      } catch (...) {
        return ReadStatus::Malformed;
      }
    }
  }
  if (!any && in.eof()) return ReadStatus::Eof;
  if (length < 0 || length > (1ll << 30)) return in.eof() ? ReadStatus::Eof : ReadStatus::Malformed;
  body->assign(static_cast<std::size_t>(length), '\0');
  in.read(body->data(), length);
  if (in.gcount() != length) return ReadStatus::Eof;
  return ReadStatus::Ok;
}

void WriteMessage(std::ostream& out, const nlohmann::json& message) {
  // Invalid UTF-8 from a source file is replaced rather than thrown on.
  const std::string body = message.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  out << "Content-Length: " << body.size() << "\r\n\r\n" << body;
  out.flush();
}

LineIndex::LineIndex(std::string_view text) : text_(text) {
  starts_.push_back(0);
  for (std::uint32_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') starts_.push_back(i + 1);
    else if (text[i] == '\r' && (i + 1 >= text.size() || text[i + 1] != '\n')) starts_.push_back(i + 1);
  }
}

std::uint32_t LineIndex::LineEnd(std::uint32_t line) const {
  std::uint32_t e = line + 1 < starts_.size() ? starts_[line + 1] : static_cast<std::uint32_t>(text_.size());
  while (e > starts_[line] && (text_[e - 1] == '\n' || text_[e - 1] == '\r') && line + 1 < starts_.size()) --e;
  return e;
}

namespace {
/// Length in bytes of the UTF-8 sequence its lead byte announces (1 for a stray byte).
std::uint32_t SeqLen(unsigned char c) {
  if (c >= 0xF0 && c < 0xF8) return 4;
  if (c >= 0xE0) return c < 0xF0 ? 3 : 1;
  if (c >= 0xC0) return 2;
  return 1;
}
}  // namespace

Position LineIndex::ToPosition(std::uint32_t offset) const {
  offset = std::min<std::uint32_t>(offset, static_cast<std::uint32_t>(text_.size()));
  auto it = std::upper_bound(starts_.begin(), starts_.end(), offset);
  const auto line = static_cast<std::uint32_t>(it - starts_.begin() - 1);
  const std::uint32_t end = std::min(offset, LineEnd(line));
  std::uint32_t units = 0;
  for (std::uint32_t i = starts_[line]; i < end;) {
    std::uint32_t n = SeqLen(static_cast<unsigned char>(text_[i]));
    units += n == 4 ? 2 : 1;  // beyond the BMP: a surrogate pair
    i += n;
  }
  return {line, units};
}

std::uint32_t LineIndex::ToOffset(Position p) const {
  if (p.line >= starts_.size()) return static_cast<std::uint32_t>(text_.size());
  const std::uint32_t end = LineEnd(p.line);
  std::uint32_t i = starts_[p.line], units = 0;
  while (i < end && units < p.character) {
    std::uint32_t n = SeqLen(static_cast<unsigned char>(text_[i]));
    units += n == 4 ? 2 : 1;
    i = std::min(i + n, end);
  }
  return i;
}

std::string UriToPath(const std::string& uri) {
  if (uri.rfind("file://", 0) != 0) return uri;
  std::string rest = uri.substr(7);
  auto slash = rest.find('/');  // skip an authority ("file://host/path")
  rest = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string out;
  for (std::size_t i = 0; i < rest.size(); ++i) {
    if (rest[i] == '%' && i + 2 < rest.size() && std::isxdigit(static_cast<unsigned char>(rest[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(rest[i + 2]))) {
      out += static_cast<char>(std::stoi(rest.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      out += rest[i];
    }
  }
  return out;
}

std::string PathToUri(const std::string& path) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out = "file://";
  for (unsigned char c : path) {
    if (std::isalnum(c) || c == '/' || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace trix::lsp
