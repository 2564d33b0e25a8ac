// LSP requests and notifications -> language queries (see server.hpp).
#include "tools/lsp/server.hpp"

#include <istream>
#include <map>
#include <optional>
#include <ostream>

#include "tools/lsp/protocol.hpp"
#include "tools/lsp/queries.hpp"

namespace trix::lsp {
namespace {

using json = nlohmann::json;

// JSON-RPC and LSP error codes.
constexpr int kParseError = -32700;
constexpr int kInvalidRequest = -32600;
constexpr int kMethodNotFound = -32601;
constexpr int kInternalError = -32603;
constexpr int kInvalidParams = -32602;
constexpr int kServerNotInitialized = -32002;
constexpr int kRequestFailed = -32803;

struct Document {
  std::string uri;
  std::string path;
  std::string text;
  int version = 0;
  Analysis analysis;
  /// Line tables of the analysis' files, built on first use (one per file, not per range).
  mutable std::map<FileId, LineIndex> indexes;

  const LineIndex& Index(FileId f) const {
    auto it = indexes.find(f);
    if (it == indexes.end()) it = indexes.try_emplace(f, analysis.sm->Get(f).text()).first;
    return it->second;
  }
};

struct RpcError {
  int code;
  std::string message;
};

json ToJson(Position p) { return {{"line", p.line}, {"character", p.character}}; }

class Server {
 public:
  explicit Server(std::ostream& out) : out_(out) {}

  /// Handles one message; returns false after `exit`.
  bool Handle(const json& msg) {
    const bool is_request = msg.contains("id") && msg.contains("method");
    const std::string method = msg.value("method", "");
    const json params = msg.value("params", json::object());
    if (method == "exit") {
      exit_code_ = shutdown_ ? 0 : 1;
      return false;
    }
    if (!msg.contains("method")) return true;  // a response to us: we send no requests
    if (!is_request) {
      if (initialized_ && !shutdown_) Notify(method, params);
      return true;
    }
    const json id = msg["id"];
    if (!initialized_ && method != "initialize") return Error(id, {kServerNotInitialized, "the server is not initialized"});
    if (shutdown_) return Error(id, {kInvalidRequest, "the server is shutting down"});
    try {
      std::optional<json> result = Request(method, params);
      if (!result) return Error(id, {kMethodNotFound, "unknown method `" + method + "`"});
      WriteMessage(out_, {{"jsonrpc", "2.0"}, {"id", id}, {"result", *result}});
    } catch (const RpcError& e) {
      Error(id, e);
    } catch (const json::exception& e) {
      Error(id, {kInvalidParams, std::string("invalid params: ") + e.what()});
    } catch (const std::exception& e) {
      Error(id, {kInternalError, std::string("internal error: ") + e.what()});  // the server keeps serving
    }
    return true;
  }

  bool Error(const json& id, const RpcError& e) {
    WriteMessage(out_, {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", e.code}, {"message", e.message}}}});
    return true;
  }

  int exit_code() const { return exit_code_; }

 private:
  std::optional<json> Request(const std::string& method, const json& params) {
    if (method == "initialize") {
      initialized_ = true;
      return json{{"capabilities",
                   {{"positionEncoding", "utf-16"},
                    {"textDocumentSync", {{"openClose", true}, {"change", 1}}},
                    {"definitionProvider", true},
                    {"hoverProvider", true},
                    {"completionProvider", {{"triggerCharacters", {"."}}}},
                    {"documentFormattingProvider", true},
                    {"documentSymbolProvider", true}}},
                  {"serverInfo", {{"name", "trixc"}, {"version", TRIX_VERSION}}}};
    }
    if (method == "shutdown") {
      shutdown_ = true;
      return json(nullptr);
    }
    if (method == "textDocument/definition") return Definition(params);
    if (method == "textDocument/hover") return HoverAt(params);
    if (method == "textDocument/completion") return Completion(params);
    if (method == "textDocument/formatting") return Formatting(params);
    if (method == "textDocument/documentSymbol") return DocumentSymbols(params);
    return std::nullopt;
  }

  void Notify(const std::string& method, const json& params) {
    try {
      if (method == "textDocument/didOpen") {
        const json& td = params.at("textDocument");
        Document& d = docs_[td.at("uri").get<std::string>()];
        d.uri = td.at("uri");
        d.path = UriToPath(d.uri);
        d.text = td.at("text");
        d.version = td.value("version", 0);
        Reanalyse(d);
      } else if (method == "textDocument/didChange") {
        auto it = docs_.find(params.at("textDocument").at("uri").get<std::string>());
        if (it == docs_.end()) return;
        Document& d = it->second;
        for (const json& c : params.at("contentChanges")) {
          if (!c.contains("range")) {
            d.text = c.at("text");
            continue;
          }
          LineIndex idx(d.text);
          std::uint32_t b = idx.ToOffset(ToPos(c["range"]["start"])), e = idx.ToOffset(ToPos(c["range"]["end"]));
          if (e < b) std::swap(b, e);
          d.text.replace(b, e - b, c.at("text").get<std::string>());
        }
        d.version = params["textDocument"].value("version", d.version);
        Reanalyse(d);
      } else if (method == "textDocument/didClose") {
        const std::string uri = params.at("textDocument").at("uri");
        docs_.erase(uri);
        WriteMessage(out_, {{"jsonrpc", "2.0"}, {"method", "textDocument/publishDiagnostics"},
                            {"params", {{"uri", uri}, {"diagnostics", json::array()}}}});
      }
    } catch (const std::exception&) {
      // A malformed notification has no one to answer; it is dropped.
    }
  }

  static Position ToPos(const json& p) { return {p.at("line").get<std::uint32_t>(), p.at("character").get<std::uint32_t>()}; }

  static json Range(const Document& d, SourceRange r) {
    const LineIndex& idx = d.Index(r.file);
    return {{"start", ToJson(idx.ToPosition(r.begin))}, {"end", ToJson(idx.ToPosition(r.end))}};
  }

  void Reanalyse(Document& d) {
    d.analysis = Analyze(d.path, d.text);
    d.indexes.clear();
    const Analysis& a = d.analysis;
    json diags = json::array();
    for (const Diagnostic& g : a.diags.all()) {
      if (g.range.file != a.file) continue;  // an imported file's problems are shown in that file
      std::string message = g.message;
      json related = json::array();
      for (const auto& n : g.notes) {
        if (n.has_range) {
          related.push_back({{"location", {{"uri", PathToUri(DiskPath(a, n.range.file))}, {"range", Range(d, n.range)}}},
                             {"message", n.message}});
        } else {
          message += "\nnote: " + n.message;
        }
      }
      if (!g.help.empty()) message += "\nhelp: " + g.help;
      json j = {{"range", Range(d, g.range)},
                {"severity", g.severity == Severity::Error ? 1 : g.severity == Severity::Warning ? 2 : 3},
                {"code", std::string(Info(g.code).code)},
                {"codeDescription", {{"href", "https://github.com/trixtech/trix/blob/main/docs/diagnostics.md#"  /* as SARIF helpUri */ + Lower(std::string(Info(g.code).code))}}},
                {"source", "trixc"},
                {"message", message}};
      if (!related.empty()) j["relatedInformation"] = related;
      diags.push_back(std::move(j));
    }
    WriteMessage(out_, {{"jsonrpc", "2.0"},
                        {"method", "textDocument/publishDiagnostics"},
                        {"params", {{"uri", d.uri}, {"version", d.version}, {"diagnostics", diags}}}});
  }

  static std::string Lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  Document& Doc(const json& params) {
    auto it = docs_.find(params.at("textDocument").at("uri").get<std::string>());
    if (it == docs_.end()) throw RpcError{kInvalidParams, "the document is not open"};
    return it->second;
  }

  std::uint32_t Offset(const Document& d, const json& params) const {
    return d.Index(d.analysis.file).ToOffset(ToPos(params.at("position")));
  }

  json Definition(const json& params) {
    Document& d = Doc(params);
    auto loc = lsp::Definition(d.analysis, Offset(d, params));
    if (!loc || loc->path.empty()) return nullptr;
    return json{{"uri", PathToUri(loc->path)}, {"range", Range(d, loc->range)}};
  }

  json HoverAt(const json& params) {
    Document& d = Doc(params);
    auto h = lsp::Hover(d.analysis, Offset(d, params));
    if (!h) return nullptr;
    return {{"contents", {{"kind", "markdown"}, {"value", h->markdown}}}, {"range", Range(d, h->range)}};
  }

  json Completion(const json& params) {
    Document& d = Doc(params);
    json items = json::array();
    for (const auto& c : Complete(d.analysis, d.text, Offset(d, params))) {
      // LSP CompletionItemKind: Keyword 14, Module 9, Property 10, Variable 6, Function 3, Value 12, Reference 18.
      int kind = 14;
      switch (c.kind) {
        case CompletionKind::Keyword: kind = 14; break;
        case CompletionKind::Declaration: kind = 18; break;
        case CompletionKind::Module: kind = 9; break;
        case CompletionKind::Property: kind = 10; break;
        case CompletionKind::Variable: kind = 6; break;
        case CompletionKind::Function: kind = 3; break;
        case CompletionKind::Value: kind = 12; break;
      }
      items.push_back({{"label", c.label}, {"kind", kind}, {"detail", c.detail}});
    }
    return {{"isIncomplete", false}, {"items", items}};
  }

  json Formatting(const json& params) {
    Document& d = Doc(params);
    auto formatted = FormatText(d.path, d.text);
    if (!formatted) throw RpcError{kRequestFailed, "the document has a syntax error; fix it to format"};
    if (*formatted == d.text) return json::array();
    LineIndex idx(d.text);
    return json::array({{{"range", {{"start", ToJson({0, 0})}, {"end", ToJson(idx.End())}}}, {"newText", *formatted}}});
  }

  json SymbolJson(const Document& d, const Symbol& s) const {
    // LSP SymbolKind numbers.
    int kind = 13;
    switch (s.kind) {
      case SymbolKind::Module: kind = 2; break;
      case SymbolKind::Namespace: kind = 3; break;
      case SymbolKind::Class: kind = 5; break;
      case SymbolKind::Method: kind = 6; break;
      case SymbolKind::Property: kind = 7; break;
      case SymbolKind::Field: kind = 8; break;
      case SymbolKind::Function: kind = 12; break;
      case SymbolKind::Variable: kind = 13; break;
      case SymbolKind::Constant: kind = 14; break;
      case SymbolKind::Struct: kind = 23; break;
      case SymbolKind::Event: kind = 24; break;
      case SymbolKind::Key: kind = 20; break;
      case SymbolKind::Interface: kind = 11; break;
      case SymbolKind::Object: kind = 19; break;
    }
    json children = json::array();
    for (const auto& c : s.children) children.push_back(SymbolJson(d, c));
    return {{"name", s.name}, {"detail", s.detail}, {"kind", kind}, {"range", Range(d, s.range)},
            {"selectionRange", Range(d, s.selection)}, {"children", children}};
  }

  json DocumentSymbols(const json& params) {
    Document& d = Doc(params);
    json out = json::array();
    for (const auto& s : Symbols(d.analysis)) out.push_back(SymbolJson(d, s));
    return out;
  }

  std::ostream& out_;
  std::map<std::string, Document> docs_;
  bool initialized_ = false;
  bool shutdown_ = false;
  int exit_code_ = 1;
};

}  // namespace

int RunServer(std::istream& in, std::ostream& out) {
  Server server(out);
  std::string body;
  for (;;) {
    ReadStatus st = ReadMessage(in, &body);
    if (st == ReadStatus::Eof) return server.exit_code();
    if (st == ReadStatus::Malformed) {
      server.Error(nullptr, {kParseError, "malformed message header"});
      continue;
    }
    json msg = json::parse(body, nullptr, false);
    if (msg.is_discarded() || !msg.is_object()) {
      server.Error(nullptr, {kParseError, "the message is not a JSON object"});
      continue;
    }
    if (!server.Handle(msg)) return server.exit_code();
  }
}

}  // namespace trix::lsp
