// Renderers of diagnostics: human text with source snippets, JSON, SARIF 2.1.0,
// and the long explanations read from the embedded docs/diagnostics.md.
#include "compiler/diag/render.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace trix::embedded {
std::string_view DiagnosticsReference();
}  // namespace trix::embedded

namespace trix {

namespace {

// ordered_json keeps keys in the order written, so output reads like the
// documented shape and is byte-for-byte deterministic.
using Json = nlohmann::ordered_json;

// Longest line (in code points) shown whole. Longer lines (minified JSON in a
// string, generated files) are cut to a window around the range so a single
// diagnostic cannot flood the terminal.
constexpr std::size_t kMaxLineCells = 160;
// Size of that window, and how much of it comes before the range.
constexpr std::size_t kWindowCells = 120;
constexpr std::size_t kContextBefore = 40;
// Minimum width of the line-number gutter ("   12 | "), so most snippets of a
// file line up; wider numbers widen it.
constexpr std::size_t kMinGutter = 5;

constexpr std::string_view kReset = "\x1b[0m";
constexpr std::string_view kBold = "\x1b[1m";
constexpr std::string_view kBoldRed = "\x1b[1;31m";
constexpr std::string_view kBoldYellow = "\x1b[1;33m";
constexpr std::string_view kBoldCyan = "\x1b[1;36m";
constexpr std::string_view kGreen = "\x1b[32m";

constexpr std::string_view kToolName = "trixc";
constexpr std::string_view kToolUri = "https://github.com/trixtech/trix";
constexpr std::string_view kToolVersion = "0.1.0";
constexpr std::string_view kDocsUri = "https://github.com/trixtech/trix/blob/main/docs/diagnostics.md";

std::string Paint(std::string_view text, std::string_view color, bool on) {
  if (!on) return std::string(text);
  return fmt::format("{}{}{}", color, text, kReset);
}

// ---- display of untrusted text ----------------------------------------------

bool IsContinuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

/// The code point of `s` (a lead byte and the continuation bytes after it), or
/// -1 when that is not well-formed UTF-8 (bad lead, wrong length, overlong,
/// surrogate, beyond U+10FFFF).
std::int32_t Decode(std::string_view s) {
  const auto c0 = static_cast<unsigned char>(s[0]);
  std::size_t len = 0;
  std::uint32_t cp = 0;
  if (c0 < 0x80) {
    len = 1;
    cp = c0;
  } else if ((c0 & 0xE0) == 0xC0) {
    len = 2;
    cp = c0 & 0x1Fu;
  } else if ((c0 & 0xF0) == 0xE0) {
    len = 3;
    cp = c0 & 0x0Fu;
  } else if ((c0 & 0xF8) == 0xF0) {
    len = 4;
    cp = c0 & 0x07u;
  } else {
    return -1;
  }
  if (s.size() != len) return -1;
  for (std::size_t i = 1; i < len; ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[i]) & 0x3Fu);
  static constexpr std::uint32_t kMinForLength[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMinForLength[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  return static_cast<std::int32_t>(cp);
}

/// Code points that must not reach a terminal: C0/C1 controls and DEL, and
/// the invisible format characters that reorder or hide text (bidi overrides
/// as in "Trojan Source", line/paragraph separators, BOM, interlinear marks).
bool IsUnsafe(std::uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x200B || cp == 0x200E || cp == 0x200F ||
         (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) ||
         cp == 0xFEFF || (cp >= 0xFFF9 && cp <= 0xFFFB);
}

/// Terminal cells a printable code point takes. An approximation of Unicode
/// East Asian Width (common combining marks 0, CJK and emoji 2, else 1): a
/// wrong guess only shifts the caret, never the reported column.
std::size_t CellWidth(std::uint32_t cp) {
  auto in = [cp](std::uint32_t lo, std::uint32_t hi) { return cp >= lo && cp <= hi; };
  if (in(0x0300, 0x036F) || in(0x0483, 0x0489) || in(0x0591, 0x05BD) || in(0x1AB0, 0x1AFF) || in(0x1DC0, 0x1DFF) ||
      in(0x200C, 0x200D) || in(0x20D0, 0x20FF) || in(0xFE00, 0xFE0F) || in(0xFE20, 0xFE2F)) {
    return 0;
  }
  if (in(0x1100, 0x115F) || in(0x2E80, 0x303E) || in(0x3041, 0x33FF) || in(0x3400, 0x4DBF) || in(0x4E00, 0x9FFF) ||
      in(0xA000, 0xA4CF) || in(0xAC00, 0xD7A3) || in(0xF900, 0xFAFF) || in(0xFE30, 0xFE4F) || in(0xFF00, 0xFF60) ||
      in(0xFFE0, 0xFFE6) || in(0x1F300, 0x1F64F) || in(0x1F680, 0x1F6FF) || in(0x1F900, 0x1F9FF) ||
      in(0x1FA70, 0x1FAFF) || in(0x20000, 0x3FFFD)) {
    return 2;
  }
  return 1;
}

/// One character of a shown line: the bytes [begin, end) it stands for, the
/// text printed for it, and the terminal cells that takes.
struct Cell {
  std::uint32_t begin = 0;
  std::uint32_t end = 0;
  std::string shown;
  std::size_t width = 1;
};

/// Splits text into display cells the way SourceFile::Locate counts columns
/// (a non-continuation byte plus the continuation bytes after it is one code
/// point), so the caret lands on the reported column. Tabs become one space;
/// controls, invalid UTF-8 and invisible format characters become `?`.
std::vector<Cell> Cells(std::string_view text) {
  std::vector<Cell> cells;
  const auto n = static_cast<std::uint32_t>(text.size());
  std::uint32_t i = 0;
  while (i < n) {
    std::uint32_t j = i + 1;
    while (j < n && IsContinuation(text[j])) ++j;
    Cell cell{i, j, "?", 1};
    if (text[i] == '\t') {
      cell.shown = " ";
    } else if (!IsContinuation(text[i])) {
      const std::int32_t cp = Decode(text.substr(i, j - i));
      if (cp >= 0 && !IsUnsafe(static_cast<std::uint32_t>(cp))) {
        cell.shown = std::string(text.substr(i, j - i));
        cell.width = CellWidth(static_cast<std::uint32_t>(cp));
      }
    }
    cells.push_back(std::move(cell));
    i = j;
  }
  return cells;
}

/// Untrusted text (a message quoting source, a path) made safe to print:
/// newlines are kept, everything else goes through the same rules as a line.
std::string Sanitize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const Cell& c : Cells(text)) {
    if (c.end - c.begin == 1 && text[c.begin] == '\n') {
      out += '\n';
    } else {
      out += c.shown;
    }
  }
  return out;
}

// ---- text -------------------------------------------------------------------

const SourceFile* FileOf(const SourceManager& sm, SourceRange r) {
  return r.file < sm.size() ? &sm.Get(r.file) : nullptr;
}

std::string Where(const SourceFile& f, std::uint32_t offset) {
  const LineCol lc = f.Locate(offset);
  return fmt::format("{}:{}:{}: ", Sanitize(f.path()), lc.line, lc.col);
}

/// The first line of `r` with a gutter, and a caret line under the range.
void AppendSnippet(std::string& out, const SourceFile& f, SourceRange r, bool color) {
  const auto size = static_cast<std::uint32_t>(f.text().size());
  const std::uint32_t begin = std::min(r.begin, size);
  const std::uint32_t end = std::max(begin, std::min(r.end, size));
  const std::uint32_t line_no = f.Locate(begin).line;
  std::string_view line = f.Line(line_no);
  std::uint32_t line_start = f.LineStart(line_no);
  // On a huge line (minified or generated text) only a byte window around the
  // range is decoded: enough for the shown cells, and O(1) in the line length.
  // The window always leaves more cells on each side than are shown, so the
  // `…` markers below still appear.
  constexpr std::uint32_t kByteWindowBefore = 1024, kByteWindowAfter = 2048;
  if (line.size() > 4 * (kByteWindowBefore + kByteWindowAfter)) {
    std::uint32_t wb = begin - line_start > kByteWindowBefore ? begin - line_start - kByteWindowBefore : 0;
    while (wb > 0 && IsContinuation(line[wb])) --wb;
    std::uint32_t we = std::min<std::uint32_t>(static_cast<std::uint32_t>(line.size()), begin - line_start + kByteWindowAfter);
    while (we < line.size() && IsContinuation(line[we])) ++we;
    line = line.substr(wb, we - wb);
    line_start += wb;
  }
  const auto line_size = static_cast<std::uint32_t>(line.size());
  const std::uint32_t rel_begin = std::min(begin - line_start, line_size);
  const std::uint32_t rel_end = std::min(end - line_start, line_size);

  const std::vector<Cell> cells = Cells(line);
  const std::size_t n = cells.size();
  // cb: the cell holding the first byte (n when the range starts at the end
  // of the line); ce: one past the last cell touched on this line.
  const std::size_t cb = static_cast<std::size_t>(
      std::find_if(cells.begin(), cells.end(), [&](const Cell& c) { return c.end > rel_begin; }) - cells.begin());
  std::size_t ce = static_cast<std::size_t>(
      std::find_if(cells.begin(), cells.end(), [&](const Cell& c) { return c.begin >= rel_end; }) - cells.begin());
  ce = std::max(ce, cb + 1);  // at least one `^`, even for an empty range

  std::size_t ws = 0;
  std::size_t we = n;
  if (n > kMaxLineCells) {
    ws = cb > kContextBefore ? cb - kContextBefore : 0;
    we = std::min(n, ws + kWindowCells);
    if (we == n) ws = n - kWindowCells;  // n > kWindowCells here, and ws stays <= cb
  }

  std::string shown;
  if (ws > 0) shown += "…";
  for (std::size_t k = ws; k < we; ++k) shown += cells[k].shown;
  if (we < n) shown += "…";

  std::size_t pad = ws > 0 ? 1 : 0;
  for (std::size_t k = ws; k < std::min(cb, we); ++k) pad += cells[k].width;
  std::string marks;
  for (std::size_t k = cb; k < ce && (k < we || k == n); ++k) {
    std::size_t w = k < n ? cells[k].width : 1;
    if (marks.empty()) w = std::max<std::size_t>(w, 1);
    for (std::size_t c = 0; c < w; ++c) marks += marks.empty() ? '^' : '~';
  }

  const std::string number = std::to_string(line_no);
  const std::size_t gutter = std::max(kMinGutter, number.size());
  if (shown.empty()) {
    out += fmt::format("{:>{}} |\n", number, gutter);
  } else {
    out += fmt::format("{:>{}} | {}\n", number, gutter, shown);
  }
  out += fmt::format("{} | {}{}\n", std::string(gutter, ' '), std::string(pad, ' '), Paint(marks, kGreen, color));
}

std::string_view SeverityColor(Severity s) {
  switch (s) {
    case Severity::Error: return kBoldRed;
    case Severity::Warning: return kBoldYellow;
    case Severity::Note: return kBoldCyan;
  }
  return kBoldRed;
}

std::string Plural(std::size_t n, std::string_view word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

// ---- JSON ---------------------------------------------------------------------

Json Position(const SourceFile& f, std::uint32_t offset) {
  offset = std::min(offset, static_cast<std::uint32_t>(f.text().size()));
  const LineCol lc = f.Locate(offset);
  return Json{{"line", lc.line}, {"column", lc.col}, {"offset", offset}};
}

Json Range(const SourceFile& f, SourceRange r) {
  return Json{{"start", Position(f, r.begin)}, {"end", Position(f, std::max(r.begin, r.end))}};
}

void Dump(const Json& j, std::ostream& out) {
  // Invalid UTF-8 (a message quoting broken source) is replaced, not thrown on.
  out << j.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
}

// ---- SARIF --------------------------------------------------------------------

/// A path as an RFC 3986 URI reference: relative paths stay relative (with
/// `/`), absolute ones become `file://` URIs; bytes outside the unreserved
/// set and `/` are percent-encoded (`:` too in relative paths, where it would
/// read as a scheme).
std::string PathToUri(std::string_view path) {
  std::string p(path);
  std::replace(p.begin(), p.end(), '\\', '/');
  std::string prefix;
  std::string_view rest = p;
  bool keep_colon = false;
  if (!rest.empty() && rest[0] == '/') {
    prefix = "file://";
  } else if (rest.size() >= 3 && ((rest[0] >= 'A' && rest[0] <= 'Z') || (rest[0] >= 'a' && rest[0] <= 'z')) &&
             rest[1] == ':' && rest[2] == '/') {
    prefix = fmt::format("file:///{}:", rest[0]);
    rest.remove_prefix(2);
    keep_colon = true;
  }
  std::string out = prefix;
  for (char ch : rest) {
    const auto c = static_cast<unsigned char>(ch);
    const bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                       c == '.' || c == '_' || c == '~' || c == '/' || (keep_colon && c == ':');
    if (plain) {
      out += ch;
    } else {
      out += fmt::format("%{:02X}", c);
    }
  }
  return out;
}

std::string_view SarifLevel(Severity s) {
  switch (s) {
    case Severity::Error: return "error";
    case Severity::Warning: return "warning";
    case Severity::Note: return "note";
  }
  return "error";
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

/// The first paragraph of an explanation, its lines joined by single spaces.
std::string FirstParagraph(std::string_view text) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(pos, nl - pos);
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty()) {
      if (!out.empty()) break;
    } else {
      if (!out.empty()) out += ' ';
      out += line;
    }
    pos = nl + 1;
  }
  return out;
}

Json PhysicalLocation(const SourceFile& f, SourceRange r) {
  const auto size = static_cast<std::uint32_t>(f.text().size());
  const std::uint32_t begin = std::min(r.begin, size);
  const std::uint32_t end = std::max(begin, std::min(r.end, size));
  const LineCol s = f.Locate(begin);
  const LineCol e = f.Locate(end);
  return Json{{"artifactLocation", {{"uri", PathToUri(f.path())}}},
              {"region", {{"startLine", s.line}, {"startColumn", s.col}, {"endLine", e.line}, {"endColumn", e.col}}}};
}

// ---- explanations ---------------------------------------------------------------

std::string_view TrimSpace(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

/// An HTML anchor alone on a line (`<a id="e201"></a>`): docs/diagnostics.md
/// puts one above each heading so the short `#e201` links of SARIF's helpUri
/// resolve on GitHub; it is markup, not part of the explanation.
bool IsAnchorLine(std::string_view line) {
  line = TrimSpace(line);
  return line.starts_with("<a ") && line.ends_with("</a>");
}

}  // namespace

void RenderText(const Diagnostics& diags, const SourceManager& sm, std::ostream& out, TextStyle style) {
  const bool color = style.color;
  std::string text;
  for (const Diagnostic& d : diags.all()) {
    const SourceFile* file = FileOf(sm, d.range);
    if (file) text += Where(*file, d.range.begin);
    text += Paint(fmt::format("{}[{}]", SeverityName(d.severity), Info(d.code).code), SeverityColor(d.severity), color);
    text += ": ";
    text += Paint(Sanitize(d.message), kBold, color);
    text += '\n';
    if (file) AppendSnippet(text, *file, d.range, color);
    for (const DiagNote& note : d.notes) {
      const SourceFile* note_file = note.has_range ? FileOf(sm, note.range) : nullptr;
      if (note_file) text += Where(*note_file, note.range.begin);
      text += Paint("note", kBoldCyan, color);
      text += ": ";
      text += Sanitize(note.message);
      text += '\n';
      if (note_file) AppendSnippet(text, *note_file, note.range, color);
    }
    if (!d.help.empty()) {
      text += Paint("help", kBoldCyan, color);
      text += ": ";
      text += Sanitize(d.help);
      text += '\n';
    }
  }
  const std::size_t errors = diags.ErrorCount();
  const std::size_t warnings = diags.WarningCount();
  if (errors + warnings > 0) {
    std::string summary;
    if (errors > 0) summary += Plural(errors, "error");
    if (warnings > 0) summary += fmt::format("{}{}", summary.empty() ? "" : ", ", Plural(warnings, "warning"));
    text += summary + " generated\n";
  }
  out << text;
}

void RenderJson(const Diagnostics& diags, const SourceManager& sm, std::ostream& out) {
  Json list = Json::array();
  for (const Diagnostic& d : diags.all()) {
    Json item{{"code", Info(d.code).code}, {"severity", SeverityName(d.severity)}, {"message", d.message}};
    if (const SourceFile* file = FileOf(sm, d.range)) {
      item["file"] = file->path();
      item["range"] = Range(*file, d.range);
    } else {
      item["file"] = nullptr;
      item["range"] = nullptr;
    }
    Json notes = Json::array();
    for (const DiagNote& note : d.notes) {
      Json n{{"message", note.message}};
      if (const SourceFile* nf = note.has_range ? FileOf(sm, note.range) : nullptr) {
        n["file"] = nf->path();
        n["range"] = Range(*nf, note.range);
      }
      notes.push_back(std::move(n));
    }
    item["notes"] = std::move(notes);
    if (!d.help.empty()) item["help"] = d.help;
    list.push_back(std::move(item));
  }
  Json doc{{"diagnostics", std::move(list)}, {"errors", diags.ErrorCount()}, {"warnings", diags.WarningCount()}};
  Dump(doc, out);
}

void RenderSarif(const Diagnostics& diags, const SourceManager& sm, std::ostream& out) {
  // Every registry code is a rule, so ruleIndex is the code's registry index
  // and stays the same whichever codes a run happens to report.
  Json rules = Json::array();
  for (DiagCode code : AllCodes()) {
    const DiagInfo& info = Info(code);
    const std::string_view explanation = Explanation(code);
    std::string full = FirstParagraph(explanation);
    if (full.empty()) full = std::string(info.title);
    Json rule{{"id", info.code},
              {"shortDescription", {{"text", info.title}}},
              {"fullDescription", {{"text", full}}},
              {"helpUri", fmt::format("{}#{}", kDocsUri, Lower(info.code))}};
    if (!explanation.empty()) rule["help"] = {{"text", explanation}, {"markdown", explanation}};
    rule["defaultConfiguration"] = {{"level", SarifLevel(info.severity)}};
    rules.push_back(std::move(rule));
  }

  Json results = Json::array();
  for (const Diagnostic& d : diags.all()) {
    Json result{{"ruleId", Info(d.code).code},
                {"ruleIndex", static_cast<int>(d.code)},
                {"level", SarifLevel(d.severity)},
                {"message", {{"text", d.message}}}};
    if (const SourceFile* file = FileOf(sm, d.range)) {
      result["locations"] = Json::array({{{"physicalLocation", PhysicalLocation(*file, d.range)}}});
    }
    Json related = Json::array();
    Json unplaced = Json::array();
    for (const DiagNote& note : d.notes) {
      if (const SourceFile* nf = note.has_range ? FileOf(sm, note.range) : nullptr) {
        related.push_back({{"id", related.size()},
                           {"physicalLocation", PhysicalLocation(*nf, note.range)},
                           {"message", {{"text", note.message}}}});
      } else {
        unplaced.push_back(note.message);
      }
    }
    if (!related.empty()) result["relatedLocations"] = std::move(related);
    // SARIF has no slot for a location-less note or a textual hint; a
    // property bag keeps them for consumers that want them.
    Json props = Json::object();
    if (!unplaced.empty()) props["notes"] = std::move(unplaced);
    if (!d.help.empty()) props["help"] = d.help;
    if (!props.empty()) result["properties"] = std::move(props);
    results.push_back(std::move(result));
  }

  Json driver{{"name", kToolName},
              {"informationUri", kToolUri},
              {"version", kToolVersion},
              {"rules", std::move(rules)}};
  Json run{{"tool", {{"driver", std::move(driver)}}}, {"columnKind", "unicodeCodePoints"}, {"results", std::move(results)}};
  Json log{{"$schema", "https://json.schemastore.org/sarif-2.1.0.json"},
           {"version", "2.1.0"},
           {"runs", Json::array({std::move(run)})}};
  Dump(log, out);
}

std::string_view Explanation(DiagCode code) {
  const std::string_view doc = embedded::DiagnosticsReference();
  const std::string_view name = Info(code).code;
  bool in_fence = false;
  bool found = false;
  std::size_t body_begin = 0;
  std::size_t body_end = doc.size();
  std::size_t pos = 0;
  while (pos < doc.size()) {
    std::size_t nl = doc.find('\n', pos);
    if (nl == std::string_view::npos) nl = doc.size();
    const std::string_view line = doc.substr(pos, nl - pos);
    const std::size_t next = std::min(nl + 1, doc.size());
    // A `## ` inside a fenced block is a Trix comment in an example, not a heading.
    const std::string_view stripped = TrimSpace(line);
    if (stripped.starts_with("```") || stripped.starts_with("~~~")) {
      in_fence = !in_fence;
    } else if (!in_fence && line.starts_with("## ")) {
      if (found) {
        body_end = pos;
        break;
      }
      const std::string_view heading = TrimSpace(line.substr(3));
      if (heading.starts_with(name)) {
        const char after = heading.size() > name.size() ? heading[name.size()] : ':';
        const bool word_ends = !((after >= 'A' && after <= 'Z') || (after >= 'a' && after <= 'z') ||
                                 (after >= '0' && after <= '9') || after == '_');
        if (word_ends) {
          found = true;
          body_begin = next;
        }
      }
    }
    pos = next;
    if (nl == doc.size()) break;
  }
  if (!found) return {};
  std::string_view body = TrimSpace(doc.substr(body_begin, body_end - body_begin));
  // Drop anchor lines at either end (the next section's anchor sits above its heading).
  for (bool changed = true; changed && !body.empty();) {
    changed = false;
    const std::size_t first_nl = body.find('\n');
    if (IsAnchorLine(body.substr(0, first_nl))) {
      body = first_nl == std::string_view::npos ? std::string_view{} : TrimSpace(body.substr(first_nl + 1));
      changed = true;
      continue;
    }
    const std::size_t last_nl = body.rfind('\n');
    if (last_nl != std::string_view::npos && IsAnchorLine(body.substr(last_nl + 1))) {
      body = TrimSpace(body.substr(0, last_nl));
      changed = true;
    } else if (last_nl == std::string_view::npos && IsAnchorLine(body)) {
      body = {};
    }
  }
  return body;
}

}  // namespace trix
