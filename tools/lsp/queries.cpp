// Language queries for editors (see queries.hpp): definition, hover,
// completion, symbols and formatting, answered from the checker's
// references (sema::ReferenceAt) and the ASTs.
#include "tools/lsp/queries.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

#include "compiler/check/loader.hpp"
#include "compiler/fmt/format.hpp"
#include "grammar/parse.hpp"

namespace trix::embedded {
const std::vector<std::pair<std::string_view, std::string_view>>& StdlibModules();
}

namespace trix::lsp {
namespace fs = std::filesystem;

namespace {

bool Inside(const SourceRange& r, FileId file, std::uint32_t offset) {
  return r.file == file && r.begin <= offset && offset <= r.end && r.end > r.begin;
}

bool IsIdent(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

std::string_view Slice(const SourceFile& f, SourceRange r) {
  return std::string_view(f.text()).substr(r.begin, r.end - r.begin);
}

std::string CollapseSpace(std::string_view s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

/// The declaration's header: up to its block's `{` (outside strings and
/// parentheses); attribute blocks short enough are shown whole.
std::string Signature(const SourceFile& f, const ast::Decl& d) {
  std::string_view t = Slice(f, d.range);
  const bool attr_block = d.kind == ast::DeclKind::Environment || d.kind == ast::DeclKind::Service ||
                          d.kind == ast::DeclKind::Alert || d.kind == ast::DeclKind::Gitops;
  if (attr_block && std::count(t.begin(), t.end(), '\n') <= 20) return std::string(t);
  const bool block = attr_block || d.kind == ast::DeclKind::Gate || d.kind == ast::DeclKind::Approval ||
                     d.kind == ast::DeclKind::Analysis || d.kind == ast::DeclKind::Action ||
                     d.kind == ast::DeclKind::Pipeline;
  if (!block) return CollapseSpace(t);
  bool in_str = false;
  int parens = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (in_str) {
      if (c == '\\') ++i;
      else if (c == '"') in_str = false;
      continue;
    }
    if (c == '"') in_str = true;
    else if (c == '(') ++parens;
    else if (c == ')') --parens;
    else if (c == '{' && parens <= 0) return CollapseSpace(t.substr(0, i)) + " { ... }";
  }
  return CollapseSpace(t);
}

const ast::Decl* DeclNamedAt(const ast::Module& m, FileId file, std::uint32_t offset) {
  for (const auto& d : m.decls) {
    if (d.kind != ast::DeclKind::Import && d.kind != ast::DeclKind::Runbook && Inside(d.name.range, file, offset)) return &d;
  }
  return nullptr;
}

}  // namespace

Analysis Analyze(const std::string& path, std::string text) {
  Analysis a;
  a.sm = std::make_unique<SourceManager>();
  LoadResult load = Load(*a.sm, path, std::move(text), a.diags);
  a.file = load.modules.empty() ? 0 : load.modules[0]->file;
  if (load.parse_failed) {
    a.program.load = std::move(load);  // syntax only: the checker needs every file parsed (as `trixc check`)
  } else {
    a.program = sema::Check(std::move(load), *a.sm, a.diags, sema::CheckOptions{.references = true});
  }
  a.diags.Sort();
  return a;
}

std::string StdlibFile(const std::string& key) {
  std::string_view body;
  bool found = false;
  for (const auto& [name, text] : embedded::StdlibModules()) {
    if (name == key) {
      body = text;
      found = true;
    }
  }
  if (!found) return {};
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  fs::path base = xdg && *xdg ? fs::path(xdg) : fs::path(home && *home ? home : "/tmp") / ".cache";
  fs::path file = base / "trix" / "stdlib" / TRIX_VERSION / (key + ".trix");
  std::error_code ec;
  // Rewritten only when missing or different, through a rename so a reader
  // never sees half a file; read-only, since edits there would change nothing.
  {
    std::ifstream in(file, std::ios::binary);
    std::string have((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in && have == body) return file.string();
  }
  fs::create_directories(file.parent_path(), ec);
  fs::path tmp = file;
  tmp += ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << body;
    if (!out) return {};
  }
  ::chmod(tmp.c_str(), 0444);
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return {};
  }
  return file.string();
}

std::string DiskPath(const Analysis& a, FileId file) {
  for (const auto& m : a.program.load.modules) {
    if (m->file == file && m->stdlib) return StdlibFile(m->key);
  }
  return a.sm->Get(file).path();
}

std::optional<Location> Definition(const Analysis& a, std::uint32_t offset) {
  if (const sema::Reference* r = sema::ReferenceAt(a.program, a.file, offset)) {
    return Location{DiskPath(a, r->target.file), r->target};
  }
  // An import's path opens the imported file.
  const auto& entry = *a.program.load.modules.at(0);
  for (const auto& e : entry.imports) {
    if (e.module >= 0 && e.decl->title && Inside(e.decl->title->range, a.file, offset)) {
      FileId f = a.program.load.modules[e.module]->file;
      return Location{DiskPath(a, f), SourceRange{f, 0, 0}};
    }
  }
  if (const ast::Decl* d = DeclNamedAt(a.module(), a.file, offset)) return Location{DiskPath(a, a.file), d->name.range};
  for (const auto& d : a.module().decls) {
    for (const auto& p : d.params) {
      if (Inside(p.name.range, a.file, offset)) return Location{DiskPath(a, a.file), p.name.range};
    }
  }
  return std::nullopt;
}

std::optional<HoverText> Hover(const Analysis& a, std::uint32_t offset) {
  const ast::Decl* decl = nullptr;
  SourceRange word, target;
  if (const sema::Reference* r = sema::ReferenceAt(a.program, a.file, offset)) {
    decl = r->decl;
    word = r->use;
    target = r->target;
  } else if ((decl = DeclNamedAt(a.module(), a.file, offset))) {
    word = target = decl->name.range;
  } else {
    for (const auto& d : a.module().decls) {
      for (const auto& p : d.params) {
        if (Inside(p.name.range, a.file, offset)) {
          decl = &d;
          word = target = p.name.range;
        }
      }
    }
  }
  if (!decl) return std::nullopt;
  const SourceFile& f = a.sm->Get(decl->range.file);
  std::string md;
  if (decl->kind == ast::DeclKind::Action && target.begin != decl->name.range.begin) {
    for (const auto& p : decl->params) {
      if (p.name.range.begin == target.begin) {
        md = "```trix\n" + CollapseSpace(Slice(f, p.range)) + "\n```\nparameter of action `" + decl->name.name + "`";
      }
    }
  } else if (decl->kind == ast::DeclKind::Import) {
    md = "```trix\n" + CollapseSpace(Slice(f, decl->range)) + "\n```";
    for (const auto& e : a.program.load.modules.at(0)->imports) {
      if (e.decl == decl && e.module >= 0) {
        const auto& mod = a.program.load.modules[e.module]->ast;
        std::string names;
        for (const auto& d : mod.decls) {
          if (d.kind == ast::DeclKind::Action) names += (names.empty() ? "" : ", ") + ("`" + d.name.name + "`");
        }
        if (!names.empty()) md += "\nactions: " + names;
      }
    }
  } else {
    md = "```trix\n" + Signature(f, *decl) + "\n```";
    if (!decl->doc.empty()) md += "\n---\n" + decl->doc;
  }
  const SourceFile& here = a.source();
  std::string from = f.path() == here.path() ? "" : f.path();
  for (const auto& m : a.program.load.modules) {
    if (m->file == decl->range.file && m->stdlib) from = m->key;
  }
  if (!from.empty()) md += "\n\n*from* `" + from + "`";
  return HoverText{md, word};
}

// ---- completion --------------------------------------------------------------------------

namespace {

enum class Ctx { Top, Pipeline, Steps, Checks, Approval, Analysis, Metric, Strategy, Attrs, Interp, String, Comment };

std::string FirstWordOfLine(const std::string& text, std::size_t pos) {
  std::size_t b = text.rfind('\n', pos == 0 ? 0 : pos - 1);
  b = b == std::string::npos ? 0 : b + 1;
  while (b < pos && (text[b] == ' ' || text[b] == '\t' || text[b] == '}')) ++b;
  std::size_t e = b;
  while (e < pos && IsIdent(text[e])) ++e;
  std::string w = text.substr(b, e - b);
  // `label: step` names the step after the label.
  std::size_t c = e;
  while (c < pos && text[c] == ' ') ++c;
  if (c < pos && text[c] == ':') {
    ++c;
    while (c < pos && text[c] == ' ') ++c;
    std::size_t e2 = c;
    while (e2 < pos && IsIdent(text[e2])) ++e2;
    w = text.substr(c, e2 - c);
  }
  return w;
}

/// What a `{` at `pos` opens, from the statement it ends.
Ctx Opener(const std::string& text, std::size_t pos) {
  static const std::set<std::string> kSteps = {"stage", "action", "rollback", "undo", "parallel"};
  // The last word before the brace: `with canary {`.
  std::size_t e = pos;
  while (e > 0 && (text[e - 1] == ' ' || text[e - 1] == '\t')) --e;
  std::size_t b = e;
  while (b > 0 && IsIdent(text[b - 1])) --b;
  std::string last = text.substr(b, e - b);
  if (last == "canary" || last == "blue_green") return Ctx::Strategy;
  // The first word of the statement; a header may span lines (action parameters).
  std::size_t at = pos;
  for (int i = 0; i < 6; ++i) {
    std::string w = FirstWordOfLine(text, at);
    if (w == "pipeline") return Ctx::Pipeline;
    if (kSteps.count(w)) return Ctx::Steps;
    if (w == "gate" || w == "verify") return Ctx::Checks;
    if (w == "approval") return Ctx::Approval;
    if (w == "analysis") return Ctx::Analysis;
    if (w == "metric") return Ctx::Metric;
    if (!w.empty()) return Ctx::Attrs;
    std::size_t nl = text.rfind('\n', at == 0 ? 0 : at - 1);
    if (nl == std::string::npos || nl == 0) break;
    at = nl;
  }
  return Ctx::Attrs;
}

/// The context at `offset`: the innermost open block, string, interpolation or comment.
Ctx ContextAt(const std::string& text, std::size_t offset) {
  std::vector<Ctx> stack;
  bool in_str = false, triple = false;
  for (std::size_t i = 0; i < offset && i < text.size(); ++i) {
    char c = text[i];
    if (in_str) {
      if (c == '\\') {
        ++i;
      } else if (c == '$' && i + 1 < text.size() && text[i + 1] == '{') {
        stack.push_back(Ctx::Interp);
        in_str = false;
        ++i;
      } else if (c == '"' && (!triple || text.compare(i, 3, "\"\"\"") == 0)) {
        in_str = false;
        if (triple) i += 2;
      }
      continue;
    }
    if (c == '#') {
      std::size_t nl = text.find('\n', i);
      if (nl == std::string::npos || nl >= offset) return Ctx::Comment;
      i = nl;
    } else if (c == '"') {
      in_str = true;
      triple = text.compare(i, 3, "\"\"\"") == 0;
      if (triple) i += 2;
    } else if (c == '{') {
      stack.push_back(Opener(text, i));
    } else if (c == '}' && !stack.empty()) {
      bool interp = stack.back() == Ctx::Interp;
      stack.pop_back();
      if (interp) in_str = true;
    }
  }
  if (in_str) return Ctx::String;
  return stack.empty() ? Ctx::Top : stack.back();
}

void Keywords(std::vector<Completion>& out, std::initializer_list<const char*> words) {
  for (const char* w : words) out.push_back({w, CompletionKind::Keyword, "keyword"});
}

void Names(std::vector<Completion>& out, const ast::Module& m, ast::DeclKind kind, CompletionKind ck) {
  for (const auto& d : m.decls) {
    if (d.kind == kind && !d.name.name.empty()) out.push_back({d.name.name, ck, ast::DeclKeyword(kind)});
  }
}

void Expression(std::vector<Completion>& out, const ast::Module& m) {
  Names(out, m, ast::DeclKind::Param, CompletionKind::Variable);
  Names(out, m, ast::DeclKind::Secret, CompletionKind::Variable);
  out.push_back({"env", CompletionKind::Variable, "the target environment"});
  Keywords(out, {"true", "false", "and", "or", "not", "in"});
}

}  // namespace

std::vector<Completion> Complete(const Analysis& a, const std::string& text, std::uint32_t offset) {
  std::vector<Completion> out;
  offset = std::min<std::uint32_t>(offset, static_cast<std::uint32_t>(text.size()));
  const ast::Module& m = a.module();
  const Ctx ctx = ContextAt(text, offset);
  if (ctx == Ctx::String && FirstWordOfLine(text, offset) == "import") {
    // `import "std/...`: the standard modules.
    for (const auto& name : StdlibNames()) out.push_back({name, CompletionKind::Module, "standard module"});
    return out;
  }
  if (ctx == Ctx::Comment || ctx == Ctx::String) return out;
  std::size_t b = offset;
  while (b > 0 && IsIdent(text[b - 1])) --b;
  // `X.` : members of env, or the actions of an imported module.
  if (b > 0 && text[b - 1] == '.') {
    std::size_t e = b - 1, s = e;
    while (s > 0 && IsIdent(text[s - 1])) --s;
    std::string base = text.substr(s, e - s);
    if (base == "env") {
      std::set<std::string> keys = {"name"};
      for (const auto& d : m.decls) {
        if (d.kind == ast::DeclKind::Environment) {
          for (const auto& at : d.attrs) keys.insert(at.key.name);
        }
      }
      for (const auto& k : keys) out.push_back({k, CompletionKind::Property, "environment attribute"});
      return out;
    }
    for (const auto& e2 : a.program.load.modules.at(0)->imports) {
      if (e2.binding != base || e2.module < 0) continue;
      const auto& mod = *a.program.load.modules[e2.module];
      for (const auto& d : mod.ast.decls) {
        if (d.kind == ast::DeclKind::Action) {
          out.push_back({d.name.name, CompletionKind::Function, "action from " + mod.key.substr(mod.key.rfind('/') + 1)});
        }
      }
    }
    return out;
  }
  // The word before the one being typed, on the same line.
  std::size_t pe = b;
  while (pe > 0 && (text[pe - 1] == ' ' || text[pe - 1] == '\t')) --pe;
  std::size_t ps = pe;
  while (ps > 0 && IsIdent(text[ps - 1])) --ps;
  const std::string prev = text.substr(ps, pe - ps);
  const char prev_char = pe > 0 ? text[pe - 1] : '\n';
  const std::string line_word = FirstWordOfLine(text, b);

  if (ctx == Ctx::Pipeline && prev == "gate") {
    Names(out, m, ast::DeclKind::Gate, CompletionKind::Declaration);
    return out;
  }
  if ((ctx == Ctx::Pipeline || ctx == Ctx::Steps) && prev == "approve") {
    Names(out, m, ast::DeclKind::Approval, CompletionKind::Declaration);
    return out;
  }
  if (ctx == Ctx::Steps && prev == "deploy") {
    Names(out, m, ast::DeclKind::Service, CompletionKind::Declaration);
    return out;
  }
  if (prev == "analyze") {
    Names(out, m, ast::DeclKind::Analysis, CompletionKind::Declaration);
    return out;
  }
  if (ctx == Ctx::Approval && line_word == "require") {
    Names(out, m, ast::DeclKind::Role, CompletionKind::Declaration);
    return out;
  }
  if (line_word == "environments" && prev_char != '=') {
    Names(out, m, ast::DeclKind::Environment, CompletionKind::Declaration);
    return out;
  }
  if (line_word == "approvals" && prev_char != '=') {
    Names(out, m, ast::DeclKind::Approval, CompletionKind::Declaration);
    return out;
  }
  const bool expr_pos = ctx == Ctx::Interp || prev == "when" || prev == "and" || prev == "or" || prev == "not" ||
                        prev == "expect" || prev == "read" || prev == "version" ||
                        (prev.empty() && std::string_view("=(,[<>!+-*/").find(prev_char) != std::string_view::npos);
  if (expr_pos) {
    Expression(out, m);
    return out;
  }
  switch (ctx) {
    case Ctx::Top:
      Keywords(out, {"runbook", "import", "param", "secret", "role", "environment", "gate", "approval", "analysis",
                     "service", "action", "pipeline", "alert", "gitops"});
      break;
    case Ctx::Pipeline:
      Keywords(out, {"trigger", "baseline", "gate", "approve", "stage", "verify", "rollback", "environments",
                     "concurrency", "timeout", "image", "when"});
      break;
    case Ctx::Steps:
      Keywords(out, {"run", "http", "deploy", "wait", "parallel", "notify", "approve", "when", "undo", "verify"});
      Names(out, m, ast::DeclKind::Action, CompletionKind::Function);
      for (const auto& e : a.program.load.modules.at(0)->imports) {
        out.push_back({e.binding, CompletionKind::Module, "imported module"});
      }
      break;
    case Ctx::Checks: Keywords(out, {"check", "confirm", "run", "http", "prometheus", "expect"}); break;
    case Ctx::Approval: Keywords(out, {"require", "timeout", "description"}); break;
    case Ctx::Analysis: Keywords(out, {"metric"}); break;
    case Ctx::Metric: Keywords(out, {"prometheus", "http", "run", "expect", "interval", "count", "failure_limit", "timeout"}); break;
    case Ctx::Strategy: Keywords(out, {"weight", "pause", "analyze", "promote"}); break;
    default: break;
  }
  return out;
}

// ---- symbols and formatting -----------------------------------------------------------------

namespace {

SymbolKind DeclSymbolKind(ast::DeclKind k) {
  switch (k) {
    case ast::DeclKind::Runbook: return SymbolKind::Module;
    case ast::DeclKind::Import: return SymbolKind::Namespace;
    case ast::DeclKind::Param: return SymbolKind::Variable;
    case ast::DeclKind::Secret: return SymbolKind::Key;
    case ast::DeclKind::Role: return SymbolKind::Object;
    case ast::DeclKind::Environment: return SymbolKind::Namespace;
    case ast::DeclKind::Gate: return SymbolKind::Interface;
    case ast::DeclKind::Approval: return SymbolKind::Event;
    case ast::DeclKind::Analysis: return SymbolKind::Struct;
    case ast::DeclKind::Service: return SymbolKind::Module;
    case ast::DeclKind::Action: return SymbolKind::Function;
    case ast::DeclKind::Pipeline: return SymbolKind::Class;
    case ast::DeclKind::Alert: return SymbolKind::Event;
    case ast::DeclKind::Gitops: return SymbolKind::Module;
  }
  return SymbolKind::Variable;
}

SourceRange Sel(const SourceRange& name, const SourceRange& whole) { return name.end > name.begin ? name : whole; }

}  // namespace

std::vector<Symbol> Symbols(const Analysis& a) {
  std::vector<Symbol> out;
  const SourceFile& f = a.source();
  for (const auto& d : a.module().decls) {
    Symbol s;
    s.kind = DeclSymbolKind(d.kind);
    s.detail = ast::DeclKeyword(d.kind);
    s.range = d.range;
    if (d.kind == ast::DeclKind::Import) {
      s.name = d.title ? std::string(Slice(f, d.title->range)) : "import";
      s.selection = d.title ? d.title->range : d.range;
    } else {
      s.name = d.name.name.empty() ? ast::DeclKeyword(d.kind) : d.name.name;
      s.selection = Sel(d.name.range, d.range);
    }
    for (const auto& p : d.params) {
      s.children.push_back({p.name.name, "parameter", SymbolKind::Variable, p.range, p.name.range, {}});
    }
    for (const auto& at : d.attrs) {
      s.children.push_back({at.key.name, "attribute", SymbolKind::Property, at.range, at.key.range, {}});
    }
    for (const auto& mt : d.metrics) {
      s.children.push_back({mt.name.name, "metric", SymbolKind::Field, mt.range, mt.name.range, {}});
    }
    for (const auto& it : d.items) {
      Symbol c;
      c.range = it.range;
      c.selection = Sel(it.name.range, it.range);
      switch (it.kind) {
        case ast::PipelineItemKind::Trigger: c = {"trigger " + it.name.name, "trigger", SymbolKind::Event, it.range, c.selection, {}}; break;
        case ast::PipelineItemKind::Baseline: c = {it.name.name, "baseline", SymbolKind::Constant, it.range, c.selection, {}}; break;
        case ast::PipelineItemKind::Gate: c = {"gate " + it.name.name, "gate", SymbolKind::Interface, it.range, c.selection, {}}; break;
        case ast::PipelineItemKind::Approve: c = {"approve " + it.name.name, "approval", SymbolKind::Event, it.range, c.selection, {}}; break;
        case ast::PipelineItemKind::Stage: c = {it.name.name, "stage", SymbolKind::Method, it.range, c.selection, {}}; break;
        case ast::PipelineItemKind::Verify: c = {"verify", "verify", SymbolKind::Interface, it.range, it.range, {}}; break;
        case ast::PipelineItemKind::Rollback: c = {"rollback", "rollback", SymbolKind::Method, it.range, it.range, {}}; break;
        case ast::PipelineItemKind::Attr: c = {it.attr.key.name, "attribute", SymbolKind::Property, it.range, it.attr.key.range, {}}; break;
      }
      s.children.push_back(std::move(c));
    }
    out.push_back(std::move(s));
  }
  return out;
}

std::optional<std::string> FormatText(const std::string& path, const std::string& text) {
  SourceManager sm;
  Diagnostics diags;
  FileId id = sm.Add(path, text);
  ast::Module m;
  if (!ParseModule(sm.Get(id), id, &m, diags)) return std::nullopt;
  return Format(m, sm.Get(id));
}

}  // namespace trix::lsp
