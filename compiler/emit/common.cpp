// Shared emitter helpers (see common.hpp).
#include "compiler/emit/common.hpp"

#include <fmt/format.h>

#include "compiler/util/text.hpp"

namespace trix::emit {

using json = nlohmann::json;

namespace {

/// `env.X` left open by lowering (an optional reserved attribute the
/// environment does not set, such as `protected`) reads as that attribute's
/// absent value: false for `protected`, else the plan's `env` value.
void ResolveEnv(json& j, const json& env) {
  if (j.is_object()) {
    if (j.contains("member") && j.contains("of") && j["of"] == json{{"name", "env"}}) {
      const std::string k = j["member"].get<std::string>();
      j = json{{"lit", env.contains(k) ? env[k] : json(false)}};
      return;
    }
    for (auto it = j.begin(); it != j.end(); ++it) ResolveEnv(it.value(), env);
  } else if (j.is_array()) {
    for (auto& x : j) ResolveEnv(x, env);
  }
}

/// Drops instructions whose guard became `false` and guards that became `true`.
void DropDecided(json& list) {
  if (!list.is_array()) return;
  json kept = json::array();
  for (auto& in : list) {
    if (in.is_object() && in.contains("when") && in["when"].contains("lit") && in["when"]["lit"].is_boolean()) {
      if (!in["when"]["lit"].get<bool>()) continue;
      in.erase("when");
    }
    if (in.is_object()) {
      for (const char* k : {"children", "undo"}) {
        if (in.contains(k)) DropDecided(in[k]);
      }
    }
    kept.push_back(in);
  }
  list = kept;
}

}  // namespace

bool PlanPipelines(const sema::Program& program, const SourceManager& sm, const Options& opt, Diagnostics& diags,
                   std::vector<PipelinePlans>* out, std::string* error) {
  const auto& scope = program.scopes.at(0);
  std::vector<std::string> names;
  if (!opt.pipeline.empty()) {
    if (!scope.pipelines.count(opt.pipeline)) {
      std::vector<std::string> all;
      for (const auto& [k, v] : scope.pipelines) all.emplace_back(k);
      *error = fmt::format("no pipeline `{}`", opt.pipeline);
      if (auto s = ClosestName(opt.pipeline, all)) *error += fmt::format("; did you mean `{}`?", *s);
      return false;
    }
    names.push_back(opt.pipeline);
  } else {
    for (const auto& [k, v] : scope.pipelines) names.emplace_back(k);
    if (names.empty()) {
      *error = "the file declares no pipeline";
      return false;
    }
  }
  for (const auto& name : names) {
    PipelinePlans pp;
    pp.name = name;
    pp.decl = scope.pipelines.at(name);
    auto envs = program.pipeline_envs.find(name);
    if (envs != program.pipeline_envs.end()) pp.envs = envs->second;
    for (const auto& env : pp.envs) {
      plan::Target t;
      t.pipeline = name;
      t.environment = env;
      t.symbolic_params = true;
      auto p = plan::Lower(program, sm, t, diags, error);
      if (!p) return false;
      json doc = p->doc;
      const json env_attrs = doc["env"];
      for (const char* k : {"instructions", "rollback", "rollback_verify"}) {
        ResolveEnv(doc[k], env_attrs);
        DropDecided(doc[k]);
      }
      pp.plans.push_back(doc);
    }
    out->push_back(std::move(pp));
  }
  return true;
}

void ReportFidelity(Diagnostics& diags, const Options& opt, DiagCode code, SourceRange range, const std::string& message,
                    const std::string& help) {
  Diagnostic& d = diags.Report(code, range, message);
  if (!help.empty()) d.Help(help);
  if (opt.allow_degraded) {
    d.severity = Severity::Warning;
    d.Note("--allow-degraded: the weaker form is emitted");
  }
}

void ReportFidelity(Diagnostics& diags, const SourceManager& sm, const Options& opt, DiagCode code, const json& loc, const std::string& message,
                    const std::string& help) {
  SourceRange r{};
  const std::string path = loc.value("file", "");
  for (std::size_t i = 0; i < sm.size(); ++i) {
    const SourceFile& f = sm.Get(static_cast<FileId>(i));
    if (f.path() != path) continue;
    const auto line = static_cast<std::uint32_t>(loc.value("line", 1));
    const auto col = static_cast<std::uint32_t>(loc.value("col", 1));
    if (line < 1 || line > f.LineCount()) break;
    std::uint32_t off = f.LineStart(line);
    const std::string& t = f.text();
    // Columns count code points: step over continuation bytes.
    for (std::uint32_t c = 1; c < col && off < t.size(); ++c) {
      ++off;
      while (off < t.size() && (static_cast<unsigned char>(t[off]) & 0xC0) == 0x80) ++off;
    }
    std::uint32_t end = off;
    while (end < t.size() && (std::isalnum(static_cast<unsigned char>(t[end])) || t[end] == '_')) ++end;
    if (end == off && off < t.size()) ++end;
    r = SourceRange{static_cast<FileId>(i), off, end};
    break;
  }
  ReportFidelity(diags, opt, code, r, message, help);
}

std::map<std::string, ast::TypeKind> ParamTypes(const sema::Program& program) {
  std::map<std::string, ast::TypeKind> m;
  for (const auto& [name, d] : program.scopes.at(0).params) m[std::string(name)] = d->type ? d->type->kind : ast::TypeKind::String;
  return m;
}

std::string DnsName(const std::string& s) {
  std::string o;
  for (char c : s) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (std::isalnum(u)) o += static_cast<char>(std::tolower(u));
    else if (!o.empty() && o.back() != '-') o += '-';
  }
  while (!o.empty() && o.back() == '-') o.pop_back();
  return o.empty() ? "x" : o;
}

std::string PlainText(const json& text) {
  if (text.is_string()) return text.get<std::string>();
  if (!text.is_array()) return text.dump();
  std::string o;
  for (const auto& p : text) {
    if (p.contains("lit")) o += p["lit"].is_string() ? p["lit"].get<std::string>() : p["lit"].dump();
    else if (p.contains("name")) o += "${" + p["name"].get<std::string>() + "}";
    else if (p.contains("secret")) o += "***";
    else o += "${" + ExprText(p) + "}";
  }
  return o;
}

}  // namespace trix::emit
