// Lowering: sema::Program + target -> plan::Plan (JSON "trix-plan/1").
//
// Actions are expanded inline (their arguments folded in the caller's
// context), gates are expanded into their checks, `when` guards that fold to
// false drop the step, guards that fold to true disappear, and the rest stay
// as expression trees for the runtime.
#include "compiler/lower/plan.hpp"

#include <fmt/format.h>

#include "compiler/check/checker.hpp"
#include "compiler/util/literals.hpp"
#include "compiler/util/sha256.hpp"
#include "compiler/util/text.hpp"

namespace trix::plan {
namespace {

using json = nlohmann::json;
using sema::FoldEnv;
using sema::Value;
using ast::ExprKind;

/// `10m` as seconds, `10%` as a fraction; plain numbers as they are.
/// `status >= 200 and status < 400`, the default `expect` of http probes and steps (§4).
json DefaultHttpExpect() {
  return json{{"op", "and"},
              {"a", {{"op", ">="}, {"a", {{"name", "status"}}}, {"b", {{"lit", 200}}}}},
              {"b", {{"op", "<"}, {"a", {{"name", "status"}}}, {"b", {{"lit", 400}}}}}};
}

json ToJson(const Value& v) {
  switch (v.k) {
    case Value::Bool: return v.b;
    case Value::Num:
      if (v.unit == Value::Plain && v.n == static_cast<double>(static_cast<long long>(v.n)) && std::abs(v.n) < 1e15) return static_cast<long long>(v.n);
      return v.n;
    case Value::Str: return v.s;
    case Value::List: {
      json a = json::array();
      for (const auto& x : v.l) a.push_back(ToJson(x));
      return a;
    }
    case Value::Unknown: break;
  }
  return nullptr;
}

std::string SecretVar(const std::string& name) {
  std::string v = "TRIX_SECRET_";
  for (char c : name) v += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return v;
}

class Lowerer {
 public:
  Lowerer(const sema::Program& p, const SourceManager& sm, Diagnostics& diags) : p_(p), sm_(sm), diags_(diags) {}

  std::optional<Plan> Run(const Target& t, std::string* error);

 private:
  struct Ctx {
    int module = 0;
    std::map<std::string, Value> bindings;     // params (module 0) or action arguments
    std::map<std::string, std::string> secret_alias;  // action parameter -> secret name
    /// Action parameters bound to an argument that does not fold (a symbolic
    /// parameter, a step result): the caller's expression, substituted where
    /// the parameter is read so the plan never names an action's parameter.
    std::map<std::string, json> symbolic;
  };

  FoldEnv Env(const Ctx& c) const { return FoldEnv{env_, &p_.scopes[static_cast<std::size_t>(c.module)], &c.bindings}; }

  json Loc(SourceRange r) const {
    const SourceFile& f = sm_.Get(r.file);
    LineCol lc = f.Locate(r.begin);
    return json{{"file", f.path()}, {"line", lc.line}, {"col", lc.col}};
  }
  std::string NextId() { return "i" + std::to_string(++next_id_); }
  json Instr(const char* op, SourceRange r) {
    json j;
    j["id"] = NextId();
    j["op"] = op;
    j["loc"] = Loc(r);
    return j;
  }

  std::optional<std::string> SecretOf(const ast::Expr& e, const Ctx& c) const {
    if (e.kind != ExprKind::Name) return std::nullopt;
    if (auto a = c.secret_alias.find(e.text); a != c.secret_alias.end()) return a->second;
    if (c.bindings.count(e.text)) return std::nullopt;
    if (p_.scopes[static_cast<std::size_t>(c.module)].secrets.count(e.text)) return e.text;
    return std::nullopt;
  }

  json Expr(const ast::Expr& e, const Ctx& c);
  /// A string with interpolation: a plain value when everything folds, else {"concat": [...]}.
  json Text(const ast::Expr& e, const Ctx& c, bool shell, json* env = nullptr);
  json Attrs(std::span<const ast::Attr> attrs, const Ctx& c, bool strings_for_env = false, json* secret_env = nullptr);
  json Probe(const ast::Probe& p, const Ctx& c);
  void Steps(const ast::Steps& steps, const Ctx& c, json& out);
  void Step(const ast::Step& s, const Ctx& c, json& out);
  void Checks(const std::vector<ast::CheckItem>& items, const Ctx& c, const std::string& phase, const std::string& group, json& out);
  json Approval(const ast::Decl& d, const Ctx& c);
  json Service(const ast::Decl& d, const Ctx& c);
  json Analysis(const ast::Decl& d, const Ctx& c);
  /// Folds a guard: false drops the instruction (returns false), true removes the guard.
  bool Guard(const ast::Expr* when, const Ctx& c, json& instr);

  const sema::Program& p_;
  const SourceManager& sm_;
  Diagnostics& diags_;
  const ast::Decl* env_ = nullptr;
  int next_id_ = 0;
  json secrets_ = json::object();
  std::set<std::string> used_secrets_;
};

json Lowerer::Expr(const ast::Expr& e, const Ctx& c) {
  Value v = sema::Fold(e, Env(c));
  if (v.k != Value::Unknown) return json{{"lit", ToJson(v)}};
  switch (e.kind) {
    case ExprKind::Name: {
      if (auto sym = c.symbolic.find(e.text); sym != c.symbolic.end()) return sym->second;
      if (auto s = SecretOf(e, c)) {
        used_secrets_.insert(*s);
        return json{{"secret", *s}};
      }
      return json{{"name", e.text}};
    }
    case ExprKind::Member: {
      if (e.lhs->kind == ExprKind::Member && e.lhs->lhs->kind == ExprKind::Name && e.lhs->lhs->text == "steps")
        return json{{"step", e.lhs->text}, {"field", e.text}};
      if (e.lhs->kind == ExprKind::Name && e.lhs->text == "baseline") return json{{"baseline", e.text}};
      // `env.X` the environment does not set stays a read of `env` (not of its name, which `env` alone folds to).
      if (e.lhs->kind == ExprKind::Name && e.lhs->text == "env") return json{{"member", e.text}, {"of", json{{"name", "env"}}}};
      return json{{"member", e.text}, {"of", Expr(*e.lhs, c)}};
    }
    case ExprKind::Unary: return json{{"op", e.text}, {"a", Expr(*e.lhs, c)}};
    case ExprKind::Binary: return json{{"op", e.text}, {"a", Expr(*e.lhs, c)}, {"b", Expr(*e.rhs, c)}};
    case ExprKind::Index: return json{{"op", "[]"}, {"a", Expr(*e.lhs, c)}, {"b", Expr(*e.rhs, c)}};
    case ExprKind::Call: {
      json args = json::array();
      for (const auto& a : e.args) args.push_back(Expr(*a.value, c));
      return json{{"call", e.lhs->kind == ExprKind::Name ? e.lhs->text : "?"}, {"args", args}};
    }
    case ExprKind::String: return json{{"concat", Text(e, c, false)}};
    case ExprKind::List: {
      json a = json::array();
      for (const auto& it : e.items) a.push_back(Expr(*it, c));
      return json{{"list", a}};
    }
    case ExprKind::Map: {
      json m = json::object();
      for (const auto& a : e.attrs) m[a.key.name] = Expr(*a.value, c);
      return json{{"map", m}};
    }
    default: return json{{"lit", nullptr}};
  }
}

json Lowerer::Text(const ast::Expr& e, const Ctx& c, bool shell, json* env) {
  // Returns a string when fully known, else an array of parts for {"concat": ...}.
  if (!e.interpolated) return e.kind == ExprKind::String ? e.text : std::string();
  json parts = json::array();
  std::string acc;
  bool known = true;
  for (const auto& part : e.parts) {
    if (!part.expr) {
      acc += part.text;
      continue;
    }
    const ast::Expr& x = *part.expr;
    const bool raw = x.kind == ExprKind::Call && x.lhs->kind == ExprKind::Name && x.lhs->text == "raw" && x.args.size() == 1;
    const ast::Expr& inner = raw ? *x.args[0].value : x;
    if (auto s = SecretOf(inner, c)) {
      used_secrets_.insert(*s);
      if (shell && env) {
        // Secrets travel in the environment, never on the command line (§6).
        (*env)[SecretVar(*s)] = json{{"secret", *s}};
        acc += "\"$" + SecretVar(*s) + "\"";
      } else {
        if (!acc.empty()) parts.push_back(json{{"lit", acc}});
        acc.clear();
        parts.push_back(json{{"secret", *s}});
        known = false;
      }
      continue;
    }
    Value v = sema::Fold(inner, Env(c));
    if (v.k != Value::Unknown) {
      std::string t = sema::ValueText(v);
      acc += shell && !raw ? ShellQuote(t) : t;
      continue;
    }
    if (inner.kind == ExprKind::Name && c.symbolic.count(inner.text)) {
      // An action parameter bound to the caller's unknown text: splice its parts.
      const json& sym = c.symbolic.at(inner.text);
      if (sym.contains("concat")) {
        for (const auto& part_json : sym["concat"]) {
          if (part_json.contains("lit") && part_json["lit"].is_string()) {
            const std::string t = part_json["lit"].get<std::string>();
            acc += shell && !raw ? ShellQuote(t) : t;
            continue;
          }
          if (!acc.empty()) parts.push_back(json{{"lit", acc}});
          acc.clear();
          json ex = part_json;
          if (shell && !raw) ex["quote"] = true;
          parts.push_back(ex);
        }
        known = false;
        continue;
      }
    }
    if (!acc.empty()) parts.push_back(json{{"lit", acc}});
    acc.clear();
    json ex = Expr(inner, c);
    if (shell && !raw) ex["quote"] = true;
    parts.push_back(ex);
    known = false;
  }
  if (known) return acc;
  if (!acc.empty()) parts.push_back(json{{"lit", acc}});
  return parts;
}

json Lowerer::Attrs(std::span<const ast::Attr> attrs, const Ctx& c, bool strings_for_env, json* secret_env) {
  json o = json::object();
  for (const auto& a : attrs) {
    const ast::Expr& v = *a.value;
    if (strings_for_env) {
      // `env = { K = v }`: values become strings; secrets stay references.
      if (auto s = SecretOf(v, c)) {
        used_secrets_.insert(*s);
        o[a.key.name] = json{{"secret", *s}};
        continue;
      }
      Value fv = sema::Fold(v, Env(c));
      o[a.key.name] = fv.k != Value::Unknown ? json(sema::ValueText(fv)) : Expr(v, c);
      (void)secret_env;
      continue;
    }
    if (v.kind == ExprKind::Map) {
      o[a.key.name] = Attrs(v.attrs, c, true);
      continue;
    }
    if (v.kind == ExprKind::Name && (a.key.name == "provider" || a.key.name == "on_no_data")) {
      o[a.key.name] = v.text;
      continue;
    }
    Value fv = sema::Fold(v, Env(c));
    o[a.key.name] = fv.k != Value::Unknown ? ToJson(fv) : Expr(v, c);
  }
  return o;
}

bool Lowerer::Guard(const ast::Expr* when, const Ctx& c, json& instr) {
  if (!when) return true;
  Value v = sema::Fold(*when, Env(c));
  if (v.k == Value::Bool) return v.b;
  instr["when"] = Expr(*when, c);
  return true;
}

json Lowerer::Probe(const ast::Probe& p, const Ctx& c) {
  json j;
  json opts = Attrs(p.opts, c);
  switch (p.kind) {
    case ast::ProbeKind::Run: {
      j["kind"] = "run";
      json env = opts.contains("env") ? opts["env"] : json::object();
      j["command"] = Text(*p.target, c, true, &env);
      if (!env.empty()) j["env"] = env;
      if (opts.contains("dir")) j["dir"] = opts["dir"];
      break;
    }
    case ast::ProbeKind::Http:
      j["kind"] = "http";
      j["method"] = p.method;
      j["url"] = Text(*p.target, c, false);
      if (opts.contains("headers")) j["headers"] = opts["headers"];
      if (opts.contains("body")) j["body"] = opts["body"];
      if (opts.contains("insecure")) j["insecure"] = opts["insecure"];
      break;
    case ast::ProbeKind::Prometheus: {
      j["kind"] = "prometheus";
      j["query"] = Text(*p.target, c, false);
      if (p.at) {
        Value at = sema::Fold(*p.at, Env(c));
        j["at"] = at.k != Value::Unknown ? json(sema::ValueText(at)) : Expr(*p.at, c);
      } else if (const ast::Attr* a = sema::FindAttr(env_->attrs, "prometheus")) {
        Value at = sema::Fold(*a->value, Env(Ctx{}));
        j["at"] = sema::ValueText(at);
      }
      break;
    }
  }
  for (const char* k : {"timeout", "interval", "backoff"}) {
    if (opts.contains(k)) j[std::string(k) + "_s"] = opts[k];
  }
  if (opts.contains("retries")) j["retries"] = opts["retries"];
  j["on_no_data"] = opts.contains("on_no_data") ? opts["on_no_data"] : json("fail");
  if (p.expect) j["expect"] = Expr(*p.expect, c);
  else if (p.kind == ast::ProbeKind::Run) j["expect"] = json{{"op", "=="}, {"a", {{"name", "exit_code"}}}, {"b", {{"lit", 0}}}};
  else if (p.kind == ast::ProbeKind::Http) j["expect"] = DefaultHttpExpect();
  return j;
}

void Lowerer::Checks(const std::vector<ast::CheckItem>& items, const Ctx& c, const std::string& phase, const std::string& group, json& out) {
  for (const auto& it : items) {
    if (it.kind == ast::CheckItem::Check) {
      json j = Instr("check", it.range);
      j["phase"] = phase;
      j["group"] = group;
      j["label"] = Text(*it.text, c, false);
      j["probe"] = Probe(*it.probe, c);
      out.push_back(j);
    } else if (it.kind == ast::CheckItem::Confirm) {
      json j = Instr("confirm", it.range);
      j["phase"] = phase;
      j["group"] = group;
      j["text"] = Text(*it.text, c, false);
      out.push_back(j);
    }
  }
}

json Lowerer::Approval(const ast::Decl& d, const Ctx& c) {
  json j;
  j["name"] = d.name.name;
  if (!d.doc.empty()) j["doc"] = d.doc;
  j["timeout_s"] = 24 * 3600;
  if (const ast::Attr* t = sema::FindAttr(d.attrs, "timeout")) j["timeout_s"] = ToJson(sema::Fold(*t->value, Env(c)));
  json reqs = json::array();
  const auto& scope = p_.scopes[static_cast<std::size_t>(c.module)];
  for (const auto& r : d.requires_) {
    json rq;
    if (r.when) {
      Value w = sema::Fold(*r.when, Env(c));
      if (w.k == Value::Bool && !w.b) continue;
      if (w.k != Value::Bool) rq["when"] = Expr(*r.when, c);
    }
    rq["quorum"] = r.quorum == 0 ? 1 : r.quorum;
    json roles = json::array();
    std::set<std::string> people;
    for (const auto& role : r.roles) {
      roles.push_back(role.name);
      auto it = scope.roles.find(role.name);
      if (it == scope.roles.end() || !it->second->value) continue;
      for (const auto& m : it->second->value->items) {
        std::string who;
        if (m->IsPlainString(&who)) people.insert(who);
      }
    }
    rq["roles"] = roles;
    rq["people"] = json(std::vector<std::string>(people.begin(), people.end()));
    reqs.push_back(rq);
  }
  j["requires"] = reqs;
  return j;
}

json Lowerer::Service(const ast::Decl& d, const Ctx& c) {
  json j = Attrs(d.attrs, c);
  j["name"] = d.name.name;
  // Commands run by the provider are shell text: `${version}` and `${weight}`
  // (known only while rolling out) stay expressions and are quoted then;
  // secrets travel in `env`, as in `run`.
  json env = json::object();
  for (const auto& a : d.attrs) {
    static const std::set<std::string> kCommands = {"release", "set_weight", "promote", "abort", "rollback", "reload"};
    if (kCommands.count(a.key.name) && a.value->kind == ExprKind::String) j[a.key.name] = Text(*a.value, c, true, &env);
  }
  if (!env.empty()) j["env"] = env;
  return j;
}

json Lowerer::Analysis(const ast::Decl& d, const Ctx& c) {
  json j;
  j["name"] = d.name.name;
  json metrics = json::array();
  for (const auto& m : d.metrics) {
    json mj = Attrs(m.attrs, c);
    mj["name"] = m.name.name;
    mj["probe"] = Probe(*m.probe, c);
    if (mj.contains("interval")) {
      mj["interval_s"] = mj["interval"];
      mj.erase("interval");
    }
    if (!mj.contains("count")) mj["count"] = 1;
    if (!mj.contains("failure_limit")) mj["failure_limit"] = 0;
    if (!mj.contains("inconclusive_limit")) mj["inconclusive_limit"] = 0;
    metrics.push_back(mj);
  }
  j["metrics"] = metrics;
  return j;
}

void Lowerer::Steps(const ast::Steps& steps, const Ctx& c, json& out) {
  for (const auto& s : steps) Step(s, c, out);
}

void Lowerer::Step(const ast::Step& s, const Ctx& c, json& out) {
  json j;
  switch (s.kind) {
    case ast::StepKind::Run: {
      j = Instr("run", s.head_range);
      json opts = Attrs(s.opts, c);
      json env = opts.contains("env") ? opts["env"] : json::object();
      j["command"] = Text(*s.target, c, true, &env);
      if (!env.empty()) j["env"] = env;
      if (opts.contains("dir")) j["dir"] = opts["dir"];
      j["timeout_s"] = opts.contains("timeout") ? opts["timeout"] : json(nullptr);
      j["retries"] = opts.contains("retries") ? opts["retries"] : json(0);
      j["backoff_s"] = opts.contains("backoff") ? opts["backoff"] : json(1);
      j["idempotent"] = opts.contains("idempotent") ? opts["idempotent"] : json(false);
      j["mutating"] = true;
      break;
    }
    case ast::StepKind::Http: {
      j = Instr("http", s.head_range);
      json opts = Attrs(s.opts, c);
      j["method"] = s.method;
      j["url"] = Text(*s.target, c, false);
      for (const char* k : {"headers", "body", "insecure"}) {
        if (opts.contains(k)) j[k] = opts[k];
      }
      j["timeout_s"] = opts.contains("timeout") ? opts["timeout"] : json(30);
      j["retries"] = opts.contains("retries") ? opts["retries"] : json(0);
      j["backoff_s"] = opts.contains("backoff") ? opts["backoff"] : json(1);
      const bool mut = sema::IsMutatingMethod(s.method);
      j["mutating"] = mut;
      j["idempotent"] = opts.contains("idempotent") ? opts["idempotent"] : json(!mut || s.method == "PUT" || s.method == "DELETE");
      j["expect"] = s.expect ? Expr(*s.expect, c) : DefaultHttpExpect();
      break;
    }
    case ast::StepKind::Deploy: {
      j = Instr("deploy", s.head_range);
      const auto& scope = p_.scopes[static_cast<std::size_t>(c.module)];
      auto svc = scope.services.find(s.service.name);
      if (svc != scope.services.end()) j["service"] = Service(*svc->second, c);
      if (s.version->kind == ExprKind::String) {
        j["version"] = Text(*s.version, c, false);
      } else {
        // `version image_tag`: a value, rendered as text when it is known.
        Value v = sema::Fold(*s.version, Env(c));
        j["version"] = v.k != Value::Unknown ? json(sema::ValueText(v)) : json::array({Expr(*s.version, c)});
      }
      json st;
      st["kind"] = !s.strategy ? "rolling" : s.strategy->kind == ast::StrategyKind::Canary ? "canary" : s.strategy->kind == ast::StrategyKind::BlueGreen ? "blue_green" : "rolling";
      json ssteps = json::array();
      json sattrs = json::object();
      if (s.strategy) {
        for (const auto& it : s.strategy->items) {
          switch (it.kind) {
            case ast::StrategyItemKind::Weight: ssteps.push_back({{"weight", it.percent}}); break;
            case ast::StrategyItemKind::Pause:
              ssteps.push_back(it.duration_ms ? json{{"pause_s", *it.duration_ms / 1000.0}} : json{{"pause", "manual"}});
              break;
            case ast::StrategyItemKind::Analyze: {
              auto a = scope.analyses.find(it.name.name);
              if (a != scope.analyses.end()) ssteps.push_back({{"analyze", Analysis(*a->second, c)}});
              break;
            }
            case ast::StrategyItemKind::Promote: ssteps.push_back({{"promote", true}}); break;
            case ast::StrategyItemKind::Attr: {
              Value v = sema::Fold(*it.attr.value, Env(c));
              sattrs[it.attr.key.name] = ToJson(v);
              break;
            }
          }
        }
        if (s.strategy->has_attrs) sattrs.update(Attrs(s.strategy->attrs, c));
      }
      st["steps"] = ssteps;
      st["attrs"] = sattrs;
      j["strategy"] = st;
      j["mutating"] = true;
      j["undo"] = json::array({json{{"id", NextId()}, {"op", "deploy_abort"}, {"loc", Loc(s.head_range)}, {"deploy", j["id"]}}});
      break;
    }
    case ast::StepKind::Wait:
      j = Instr("wait", s.head_range);
      j["seconds"] = s.wait_ms / 1000.0;
      break;
    case ast::StepKind::WaitUntil: {
      j = Instr("wait_until", s.head_range);
      json opts = Attrs(s.probe->opts, c);
      j["probe"] = Probe(*s.probe, c);
      j["timeout_s"] = opts.contains("timeout") ? opts["timeout"] : json(300);
      j["interval_s"] = opts.contains("interval") ? opts["interval"] : json(5);
      break;
    }
    case ast::StepKind::Parallel: {
      j = Instr("parallel", s.head_range);
      json children = json::array();
      Steps(s.children, c, children);
      j["children"] = children;
      bool mut = false;
      for (const auto& ch : children) mut = mut || ch.value("mutating", false);
      j["mutating"] = mut;
      break;
    }
    case ast::StepKind::Notify: {
      j = Instr("notify", s.head_range);
      j["text"] = Text(*s.target, c, false);
      if (const ast::Attr* n = sema::FindAttr(env_->attrs, "notify")) j["url"] = sema::ValueText(sema::Fold(*n->value, Env(Ctx{})));
      break;
    }
    case ast::StepKind::Approve: {
      j = Instr("approve", s.head_range);
      auto a = p_.scopes[static_cast<std::size_t>(c.module)].approvals.find(s.name.name);
      if (a != p_.scopes[static_cast<std::size_t>(c.module)].approvals.end()) j["approval"] = Approval(*a->second, c);
      break;
    }
    case ast::StepKind::Call: {
      auto t = p_.call_targets.find(&s);
      if (t == p_.call_targets.end()) return;
      const ast::Decl& action = *t->second;
      j = Instr("call", s.head_range);
      j["action"] = (s.module ? s.module->name + "." : std::string()) + action.name.name;
      Ctx inner;
      auto mod = p_.action_module.find(&action);
      inner.module = mod != p_.action_module.end() ? mod->second : c.module;
      // Bind arguments (positional, then named), then defaults in the action's own context.
      std::vector<const ast::Arg*> bound(action.params.size(), nullptr);
      std::size_t pos = 0;
      for (const auto& a : s.args) {
        if (!a.name) {
          if (pos < bound.size()) bound[pos++] = &a;
          continue;
        }
        for (std::size_t i = 0; i < action.params.size(); ++i) {
          if (action.params[i].name.name == a.name->name) bound[i] = &a;
        }
      }
      json args = json::object();
      for (std::size_t i = 0; i < action.params.size(); ++i) {
        const ast::Param& prm = action.params[i];
        if (bound[i]) {
          if (auto sec = SecretOf(*bound[i]->value, c)) {
            inner.secret_alias[prm.name.name] = *sec;
            args[prm.name.name] = json{{"secret", *sec}};
            continue;
          }
          Value v = sema::Fold(*bound[i]->value, Env(c));
          inner.bindings[prm.name.name] = v;
          args[prm.name.name] = v.k != Value::Unknown ? ToJson(v) : Expr(*bound[i]->value, c);
          if (v.k == Value::Unknown) inner.symbolic[prm.name.name] = args[prm.name.name];
        } else if (prm.default_value) {
          Value v = sema::Fold(*prm.default_value, Env(inner));
          inner.bindings[prm.name.name] = v;
          args[prm.name.name] = ToJson(v);
        }
      }
      j["args"] = args;
      json children = json::array();
      Steps(action.steps, inner, children);
      j["children"] = children;
      j["mutating"] = p_.mutating_actions.count(&action) > 0;
      break;
    }
  }
  if (s.label) j["label"] = s.label->name;
  if (!Guard(s.when.get(), c, j)) return;
  if (s.undo) {
    json undo = json::array();
    Steps(*s.undo, c, undo);
    j["undo"] = undo;
  }
  out.push_back(j);
}

std::optional<Plan> Lowerer::Run(const Target& t, std::string* error) {
  const auto& scope = p_.scopes[0];
  // Pipeline.
  const ast::Decl* pipe = nullptr;
  if (t.pipeline.empty()) {
    if (scope.pipelines.size() != 1) {
      std::vector<std::string> names;
      for (auto& [k, v] : scope.pipelines) names.emplace_back(k);
      *error = scope.pipelines.empty() ? "the file declares no pipeline"
                                       : fmt::format("the file has {} pipelines; choose one with --pipeline ({})", names.size(), Join(names, ", "));
      return std::nullopt;
    }
    pipe = scope.pipelines.begin()->second;
  } else {
    auto it = scope.pipelines.find(t.pipeline);
    if (it == scope.pipelines.end()) {
      std::vector<std::string> names;
      for (auto& [k, v] : scope.pipelines) names.emplace_back(k);
      *error = fmt::format("no pipeline `{}`", t.pipeline);
      if (auto s = ClosestName(t.pipeline, names)) *error += fmt::format("; did you mean `{}`?", *s);
      return std::nullopt;
    }
    pipe = it->second;
  }
  // Environment.
  const auto envs_it = p_.pipeline_envs.find(pipe->name.name);
  const std::vector<std::string> envs = envs_it == p_.pipeline_envs.end() ? std::vector<std::string>{} : envs_it->second;
  std::string env_name = t.environment;
  if (env_name.empty()) {
    if (envs.size() != 1) {
      *error = envs.empty() ? fmt::format("pipeline `{}` targets no environment", pipe->name.name)
                            : fmt::format("pipeline `{}` may target {}; choose one with --env", pipe->name.name, Join(envs, ", "));
      return std::nullopt;
    }
    env_name = envs[0];
  }
  if (std::find(envs.begin(), envs.end(), env_name) == envs.end()) {
    *error = scope.environments.count(env_name)
                 ? fmt::format("pipeline `{}` does not target environment `{}` (it targets {})", pipe->name.name, env_name, Join(envs, ", "))
                 : fmt::format("no environment `{}`{}", env_name,
                               ClosestName(env_name, envs) ? fmt::format("; did you mean `{}`?", *ClosestName(env_name, envs)) : "");
    return std::nullopt;
  }
  env_ = scope.environments.at(env_name);

  // Parameters: --param values typed by their declarations, else defaults.
  Ctx top;
  json params = json::object();
  json params_text = json::object();
  for (const auto& [k, v] : t.params) {
    if (!scope.params.count(k)) {
      std::vector<std::string> names;
      for (auto& [n, d] : scope.params) names.emplace_back(n);
      *error = fmt::format("no parameter `{}`", k);
      if (auto s = ClosestName(k, names)) *error += fmt::format("; did you mean `{}`?", *s);
      return std::nullopt;
    }
  }
  for (const auto& [name_view, d] : scope.params) {
    const std::string& name = d->name.name;
    Value v;
    auto given = t.params.find(name);
    const ast::TypeKind kind = d->type ? d->type->kind : ast::TypeKind::String;
    if (given != t.params.end()) {
      const std::string& raw = given->second;
      switch (kind) {
        case ast::TypeKind::Bool:
          if (raw != "true" && raw != "false") {
            *error = fmt::format("parameter `{}` is a `bool`; `{}` is not `true` or `false`", name, raw);
            return std::nullopt;
          }
          v.k = Value::Bool;
          v.b = raw == "true";
          break;
        case ast::TypeKind::Int:
        case ast::TypeKind::Float: {
          char* end = nullptr;
          double x = std::strtod(raw.c_str(), &end);
          if (raw.empty() || *end != '\0' || (kind == ast::TypeKind::Int && x != static_cast<double>(static_cast<long long>(x)))) {
            *error = fmt::format("parameter `{}` is `{}`; `{}` is not one", name, ast::ToString(kind), raw);
            return std::nullopt;
          }
          v.k = Value::Num;
          v.n = x;
          break;
        }
        case ast::TypeKind::Duration: {
          auto ms = lit::ParseDuration(raw);
          if (!ms) {
            *error = fmt::format("parameter `{}` is a `duration`; `{}` is not one (e.g. `30s`, `5m`)", name, raw);
            return std::nullopt;
          }
          v.k = Value::Num;
          v.n = *ms / 1000.0;
          v.unit = Value::Seconds;
          break;
        }
        case ast::TypeKind::Percent: {
          auto f = lit::ParsePercent(raw);
          if (!f) {
            *error = fmt::format("parameter `{}` is a `percent`; `{}` is not one (e.g. `10%`)", name, raw);
            return std::nullopt;
          }
          v.k = Value::Num;
          v.n = *f;
          v.unit = Value::Fraction;
          break;
        }
        case ast::TypeKind::Cron:
          if (auto err = lit::CronError(raw)) {
            *error = fmt::format("parameter `{}`: {}", name, *err);
            return std::nullopt;
          }
          v.k = Value::Str;
          v.s = raw;
          break;
        default:
          v.k = Value::Str;
          v.s = raw;
          break;
      }
    } else if (const std::string* named = sema::NamedDefault(*d)) {
      v.k = Value::Str;  // names an environment or a role
      v.s = *named;
    } else if (d->value) {
      Ctx none;
      v = sema::Fold(*d->value, FoldEnv{nullptr, &scope, nullptr});
      if (v.k == Value::Unknown) {
        // env("VAR") defaults read the process environment now, at plan time.
        const ast::Expr& e = *d->value;
        if (e.kind == ExprKind::Call && e.lhs->text == "env" && e.args.size() == 1) {
          std::string var;
          if (e.args[0].value->IsPlainString(&var)) {
            const char* val = std::getenv(var.c_str());
            if (!val && !t.symbolic_params) {
              // An unset variable is not an empty value (`app:` is no image tag).
              *error = fmt::format("parameter `{}` defaults to env(\"{}\"), which is not set; set {} or give --param {}=VALUE",
                                   name, var, var, name);
              return std::nullopt;
            }
            v.k = Value::Str;
            v.s = val ? val : "";
          }
        }
      }
    } else if (!t.symbolic_params) {
      *error = fmt::format("parameter `{}` has no default; give it with --param {}=VALUE", name, name);
      return std::nullopt;
    }
    params[name] = ToJson(v);
    // Durations and percents are numbers in `params` (seconds, fractions);
    // the text plan prints them as written (`5m`, `10%`).
    if (v.k == Value::Num && v.unit != Value::Plain) params_text[name] = sema::ValueText(v);
    // Emitters plan with parameters left open: they are chosen when the
    // emitted workflow runs, so guards and text keep them as {"name": P}.
    if (t.symbolic_params) v = Value{};
    top.bindings[name] = v;
  }

  // E401 again, now with the actual parameter values.
  struct Oracle : sema::MutationOracle {
    const sema::Program& p;
    explicit Oracle(const sema::Program& pr) : p(pr) {}
    bool Mutates(const ast::Step& s) const override {
      return sema::StepMutates(s, [&](const ast::Step& call) {
        auto it = p.call_targets.find(&call);
        return it == p.call_targets.end() || p.mutating_actions.count(it->second) > 0;
      });
    }
  } oracle(p_);
  const std::size_t before = diags_.ErrorCount();
  sema::CheckApprovalPaths(*pipe, {env_}, scope, oracle, diags_, &top.bindings);
  if (diags_.ErrorCount() > before) {
    *error = "";
    return std::nullopt;
  }

  json doc;
  doc["format"] = "trix-plan/1";
  if (scope.runbook) {
    doc["runbook"] = scope.runbook->name.name;
    if (scope.runbook->title) doc["title"] = Text(*scope.runbook->title, top, false);
  }
  doc["pipeline"] = pipe->name.name;
  if (pipe->title) doc["pipeline_title"] = Text(*pipe->title, top, false);
  // Documentation comments (§1: shown by `trixc plan`).
  if (!pipe->doc.empty()) doc["pipeline_doc"] = pipe->doc;
  doc["environment"] = env_name;
  doc["params"] = params;
  if (!params_text.empty()) doc["params_text"] = params_text;
  json env_attrs = json::object();
  for (const auto& a : env_->attrs) {
    if (a.key.name == "approvals") {
      json names = json::array();
      if (a.value->kind == ExprKind::List) {
        for (const auto& it : a.value->items) names.push_back(it->text);
      }
      env_attrs["approvals"] = names;
      continue;
    }
    Value v = sema::Fold(*a.value, FoldEnv{env_, &scope, &top.bindings});
    env_attrs[a.key.name] = ToJson(v);
  }
  env_attrs["name"] = env_name;
  doc["env"] = env_attrs;
  // Pipeline attributes.
  doc["timeout_s"] = nullptr;
  json triggers = json::array();
  for (const auto& it : pipe->items) {
    if (it.kind == ast::PipelineItemKind::Attr) {
      Value v = sema::Fold(*it.attr.value, FoldEnv{env_, &scope, &top.bindings});
      if (it.attr.key.name == "timeout") doc["timeout_s"] = ToJson(v);
      else if (it.attr.key.name == "concurrency") doc["concurrency"] = ToJson(v);
      else if (it.attr.key.name == "image") doc["image"] = ToJson(v);
    } else if (it.kind == ast::PipelineItemKind::Trigger) {
      json tr = Attrs(it.attrs, top);
      tr["kind"] = it.name.name;
      triggers.push_back(tr);
    }
  }
  doc["triggers"] = triggers;

  json instrs = json::array();
  json rollback = json::array();
  json rollback_verify = json::array();
  for (const auto& it : pipe->items) {
    using PK = ast::PipelineItemKind;
    switch (it.kind) {
      case PK::Baseline: {
        json j = Instr("baseline", it.range);
        j["name"] = it.name.name;
        j["probe"] = Probe(*it.probe, top);
        if (it.read) j["read"] = Expr(*it.read, top);
        instrs.push_back(j);
        break;
      }
      case PK::Gate: {
        json guard;
        if (!Guard(it.when.get(), top, guard)) break;
        auto g = scope.gates.find(it.name.name);
        if (g == scope.gates.end()) break;
        json items = json::array();
        Checks(g->second->checks, top, "gate", it.name.name, items);
        for (auto& x : items) {
          if (guard.contains("when")) x["when"] = guard["when"];
          if (g->second->title) x["gate_title"] = Text(*g->second->title, top, false);
          if (!g->second->doc.empty()) x["gate_doc"] = g->second->doc;
          instrs.push_back(x);
        }
        break;
      }
      case PK::Approve: {
        json j = Instr("approve", it.range);
        if (!Guard(it.when.get(), top, j)) break;
        auto a = scope.approvals.find(it.name.name);
        if (a != scope.approvals.end()) j["approval"] = Approval(*a->second, top);
        instrs.push_back(j);
        break;
      }
      case PK::Stage: {
        json j = Instr("stage", it.range);
        j["name"] = it.name.name;
        if (it.title) j["title"] = Text(*it.title, top, false);
        json steps = json::array();
        Steps(it.steps, top, steps);
        j["children"] = steps;
        instrs.push_back(j);
        break;
      }
      case PK::Verify:
        Checks(it.checks, top, "verify", it.title ? std::string(Text(*it.title, top, false).is_string() ? Text(*it.title, top, false).get<std::string>() : "verify") : "verify", instrs);
        break;
      case PK::Rollback:
        Steps(it.steps, top, rollback);
        Checks(it.checks, top, "rollback_verify", "rollback verify", rollback_verify);
        break;
      default: break;
    }
  }
  // Baselines measure the system before it changes (§12): one declared after
  // a stage that changes things moves up to just before that stage.
  std::function<bool(const json&)> mutates = [&](const json& j) {
    if (j.value("mutating", false)) return true;
    if (j.contains("children")) {
      for (const auto& c : j["children"]) {
        if (mutates(c)) return true;
      }
    }
    return false;
  };
  std::size_t first_change = instrs.size();
  for (std::size_t i = 0; i < instrs.size(); ++i) {
    if (mutates(instrs[i])) {
      first_change = i;
      break;
    }
  }
  if (first_change < instrs.size()) {
    json head = json::array(), baselines = json::array(), tail = json::array();
    for (std::size_t i = 0; i < instrs.size(); ++i) {
      if (i < first_change) head.push_back(instrs[i]);
      else if (instrs[i].value("op", "") == "baseline") baselines.push_back(instrs[i]);
      else tail.push_back(instrs[i]);
    }
    for (auto& b : baselines) head.push_back(b);
    for (auto& x : tail) head.push_back(x);
    instrs = head;
  }
  doc["instructions"] = instrs;
  doc["rollback"] = rollback;
  doc["rollback_verify"] = rollback_verify;

  json secrets = json::object();
  for (const auto& name : used_secrets_) {
    auto s = scope.secrets.find(name);
    if (s == scope.secrets.end()) continue;
    const ast::Expr& v = *s->second->value;
    std::string ref;
    if (v.kind == ExprKind::Call && v.args.size() == 1 && v.args[0].value->IsPlainString(&ref))
      secrets[name] = json{{"from", v.lhs->text}, {"ref", ref}, {"var", SecretVar(name)}};
  }
  doc["secrets"] = secrets;

  json sources = json::array();
  for (const auto& m : p_.load.modules) {
    const SourceFile& f = sm_.Get(m->file);
    sources.push_back(json{{"path", f.path()}, {"sha256", Sha256Hex(f.text())}, {"stdlib", m->stdlib}});
  }
  doc["sources"] = sources;
  doc["plan_sha256"] = PlanHash(doc);
  return Plan{doc};
}

}  // namespace

std::string PlanHash(const nlohmann::json& doc) {
  json copy = doc;
  copy.erase("plan_sha256");
  return Sha256Hex(copy.dump());
}

std::optional<Plan> Lower(const sema::Program& program, const SourceManager& sm, const Target& target, Diagnostics& diags,
                          std::string* error) {
  Lowerer l(program, sm, diags);
  return l.Run(target, error);
}

}  // namespace trix::plan
