// The language server's protocol layer and queries, below the JSON-RPC
// sessions of tests/lsp: UTF-16 positions, URIs, framing, and the checker's
// references.
#include <catch2/catch.hpp>

#include <sstream>

#include "tools/lsp/protocol.hpp"
#include "tools/lsp/queries.hpp"

using trix::lsp::LineIndex;
using trix::lsp::Position;

namespace {
Position P(std::uint32_t l, std::uint32_t c) { return {l, c}; }
bool Same(Position a, Position b) { return a.line == b.line && a.character == b.character; }
}  // namespace

TEST_CASE("LineIndex counts UTF-16 code units", "[lsp]") {
  // "é" is 2 bytes / 1 unit, "🚀" 4 bytes / 2 units (a surrogate pair).
  const std::string text = "aé🚀b\nx";
  LineIndex idx(text);
  CHECK(Same(idx.ToPosition(0), P(0, 0)));
  CHECK(Same(idx.ToPosition(1), P(0, 1)));   // before é
  CHECK(Same(idx.ToPosition(3), P(0, 2)));   // before 🚀
  CHECK(Same(idx.ToPosition(7), P(0, 4)));   // before b
  CHECK(Same(idx.ToPosition(8), P(0, 5)));   // end of line 0
  CHECK(Same(idx.ToPosition(9), P(1, 0)));
  CHECK(idx.ToOffset(P(0, 4)) == 7);
  CHECK(idx.ToOffset(P(0, 3)) == 7);         // inside the pair: never split a code point
  CHECK(idx.ToOffset(P(0, 99)) == 8);        // clamped to the line's end, before "\n"
  CHECK(idx.ToOffset(P(7, 0)) == text.size());
  CHECK(Same(idx.End(), P(1, 1)));
}

TEST_CASE("LineIndex line terminators: \\n, \\r\\n and \\r", "[lsp]") {
  const std::string text = "a\r\nb\rc\nd";
  LineIndex idx(text);
  CHECK(Same(idx.ToPosition(1), P(0, 1)));  // the \r of \r\n ends line 0
  CHECK(Same(idx.ToPosition(3), P(1, 0)));
  CHECK(Same(idx.ToPosition(5), P(2, 0)));  // a lone \r ends a line too
  CHECK(Same(idx.ToPosition(7), P(3, 0)));
  CHECK(idx.ToOffset(P(0, 5)) == 1);
  CHECK(idx.ToOffset(P(2, 1)) == 6);
}

TEST_CASE("file URIs round-trip with percent-encoding", "[lsp]") {
  CHECK(trix::lsp::PathToUri("/tmp/a b/ü.trix") == "file:///tmp/a%20b/%C3%BC.trix");
  CHECK(trix::lsp::UriToPath("file:///tmp/a%20b/%C3%BC.trix") == "/tmp/a b/ü.trix");
  CHECK(trix::lsp::UriToPath("file://host/x.trix") == "/x.trix");
  CHECK(trix::lsp::UriToPath("untitled:Untitled-1") == "untitled:Untitled-1");
}

TEST_CASE("framing reads Content-Length bodies and reports the end", "[lsp]") {
  std::istringstream in("Content-Length: 2\r\nContent-Type: x\r\n\r\n{}Content-Length: 3\r\n\r\n[1]");
  std::string body;
  REQUIRE(trix::lsp::ReadMessage(in, &body) == trix::lsp::ReadStatus::Ok);
  CHECK(body == "{}");
  REQUIRE(trix::lsp::ReadMessage(in, &body) == trix::lsp::ReadStatus::Ok);
  CHECK(body == "[1]");
  CHECK(trix::lsp::ReadMessage(in, &body) == trix::lsp::ReadStatus::Eof);
  std::istringstream bad("Nonsense\r\n\r\n");
  CHECK(trix::lsp::ReadMessage(bad, &body) == trix::lsp::ReadStatus::Malformed);
  std::ostringstream out;
  trix::lsp::WriteMessage(out, nlohmann::json{{"a", 1}});
  CHECK(out.str() == "Content-Length: 7\r\n\r\n{\"a\":1}");
}

TEST_CASE("the checker records references; queries answer from them", "[lsp]") {
  const std::string text =
      "role ops = [\"ana\"]\n"
      "approval ok {\n  require ops\n}\n"
      "environment prod {\n  protected = true\n  approvals = [ok]\n}\n"
      "pipeline p {\n  environments = [prod]\n  approve ok\n  stage s {\n    run \"true\"\n  }\n}\n";
  auto a = trix::lsp::Analyze("/tmp/refs.trix", text);
  REQUIRE(a.diags.ErrorCount() == 0);
  auto at = [&](const std::string& needle, int nth = 0) {
    std::size_t i = std::string::npos;
    for (int k = 0; k <= nth; ++k) i = text.find(needle, i == std::string::npos ? 0 : i + 1);
    return static_cast<std::uint32_t>(i);
  };
  // `require ops` -> role ops; `[ok]` and `approve ok` -> approval ok; `[prod]` -> environment prod.
  const trix::sema::Reference* r = trix::sema::ReferenceAt(a.program, a.file, at("ops", 1) + 1);
  REQUIRE(r);
  CHECK(r->target.begin == at("ops"));
  REQUIRE(r->decl);
  CHECK(r->decl->kind == trix::ast::DeclKind::Role);
  auto d = trix::lsp::Definition(a, at("approve ok") + 9);
  REQUIRE(d);
  CHECK(d->range.begin == at("ok {"));
  d = trix::lsp::Definition(a, at("[prod]") + 2);
  REQUIRE(d);
  CHECK(d->range.begin == at("prod {"));
  CHECK_FALSE(trix::lsp::Definition(a, at("stage") + 1));  // a keyword
  auto h = trix::lsp::Hover(a, at("require ops") + 9);
  REQUIRE(h);
  CHECK(h->markdown.find("role ops = [\"ana\"]") != std::string::npos);
}
