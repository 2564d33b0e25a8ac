// Policy: constant folding of guards and the E401 approval path analysis.
#include <algorithm>
#include <fmt/format.h>

#include "compiler/check/checker.hpp"
#include "compiler/util/literals.hpp"
#include "compiler/util/text.hpp"

namespace trix::sema {

bool IsMutatingMethod(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

bool StepMutates(const ast::Step& s, const std::function<bool(const ast::Step&)>& call_mutates) {
  switch (s.kind) {
    case ast::StepKind::Run:
    case ast::StepKind::Deploy: return true;
    case ast::StepKind::Http: return IsMutatingMethod(s.method);
    case ast::StepKind::Parallel:
      return std::any_of(s.children.begin(), s.children.end(), [&](const ast::Step& c) { return StepMutates(c, call_mutates); });
    case ast::StepKind::Call: return call_mutates(s);
    default: return false;
  }
}

const ast::Attr* FindAttr(std::span<const ast::Attr> attrs, std::string_view key) {
  for (const auto& a : attrs) {
    if (a.key.name == key) return &a;
  }
  return nullptr;
}

namespace {

Value Unknown() { return {}; }
Value B(bool b) {
  Value v;
  v.k = Value::Bool;
  v.b = b;
  return v;
}
Value N(double n) {
  Value v;
  v.k = Value::Num;
  v.n = n;
  return v;
}
Value S(std::string s) {
  Value v;
  v.k = Value::Str;
  v.s = std::move(s);
  return v;
}

bool Equal(const Value& a, const Value& b) {
  if (a.k != b.k) return false;
  switch (a.k) {
    case Value::Bool: return a.b == b.b;
    case Value::Num: return a.n == b.n;
    case Value::Str: return a.s == b.s;
    case Value::List:
      if (a.l.size() != b.l.size()) return false;
      for (std::size_t i = 0; i < a.l.size(); ++i) {
        if (!Equal(a.l[i], b.l[i])) return false;
      }
      return true;
    case Value::Unknown: return false;
  }
  return false;
}

std::string Text(const Value& v) { return ValueText(v); }

}  // namespace

std::string ValueText(const Value& v) {
  switch (v.k) {
    case Value::Bool: return v.b ? "true" : "false";
    case Value::Num:
      if (v.unit == Value::Seconds) return lit::FormatDuration(v.n * 1000.0);
      if (v.unit == Value::Fraction) return fmt::format("{}%", v.n * 100.0);
      return fmt::format("{}", v.n);
    case Value::Str: return v.s;
    case Value::List: {
      std::string out;
      for (std::size_t i = 0; i < v.l.size(); ++i) out += (i ? " " : "") + ValueText(v.l[i]);
      return out;
    }
    default: return "";
  }
}

const std::string* NamedDefault(const ast::Decl& param) {
  const bool names_one = param.type && (param.type->kind == ast::TypeKind::Environment || param.type->kind == ast::TypeKind::Role);
  return names_one && param.value && param.value->kind == ast::ExprKind::Name ? &param.value->text : nullptr;
}

Value Fold(const ast::Expr& e, const FoldEnv& env, int depth) {
  if (depth > 64) return Unknown();  // a cycle through parameter defaults; the checker reports it elsewhere
  using K = ast::ExprKind;
  switch (e.kind) {
    case K::Bool: return B(e.boolean);
    case K::Int:
    case K::Float:
    case K::Duration:
    case K::Percent: {
      Value v = N(e.kind == K::Duration ? e.number / 1000.0 : e.number);
      v.unit = e.kind == K::Duration ? Value::Seconds : e.kind == K::Percent ? Value::Fraction : Value::Plain;
      return v;
    }
    case K::Call: {
      if (e.lhs->kind != K::Name || e.args.size() != 1) return Unknown();
      const std::string& f = e.lhs->text;
      Value a = Fold(*e.args[0].value, env, depth + 1);
      if (a.k == Value::Unknown) return Unknown();
      if (f == "string") return S(Text(a));
      if (f == "len") {
        if (a.k == Value::Str) return N(static_cast<double>(a.s.size()));
        if (a.k == Value::List) return N(static_cast<double>(a.l.size()));
        return Unknown();
      }
      if (f == "int" || f == "float") {
        double x = 0;
        if (a.k == Value::Num) {
          x = a.n;  // durations in seconds, percents as fractions
        } else if (a.k == Value::Str) {
          char* end = nullptr;
          x = std::strtod(a.s.c_str(), &end);
          if (a.s.empty() || (end && *end != '\0')) return Unknown();
        } else if (a.k == Value::Bool) {
          x = a.b ? 1 : 0;
        } else {
          return Unknown();
        }
        return N(f == "int" ? static_cast<double>(static_cast<long long>(x)) : x);
      }
      return Unknown();
    }
    case K::String: {
      if (!e.interpolated) return S(e.text);
      std::string out;
      for (const auto& p : e.parts) {
        if (!p.expr) {
          out += p.text;
          continue;
        }
        Value v = Fold(*p.expr, env, depth + 1);
        if (v.k == Value::Unknown || v.k == Value::List) return Unknown();
        out += Text(v);
      }
      return S(out);
    }
    case K::List: {
      Value v;
      v.k = Value::List;
      for (const auto& it : e.items) v.l.push_back(Fold(*it, env, depth + 1));
      return v;
    }
    case K::Name: {
      if (env.bindings) {
        auto b = env.bindings->find(e.text);
        if (b != env.bindings->end()) return b->second;
      }
      // `env` as a value is the environment's name (it compares with `environment` parameters).
      if (e.text == "env" && env.environment) return S(env.environment->name.name);
      if (!env.scope) return Unknown();
      auto it = env.scope->params.find(e.text);
      if (it != env.scope->params.end() && it->second->value) {
        if (const std::string* named = NamedDefault(*it->second)) return S(*named);
        return Fold(*it->second->value, env, depth + 1);
      }
      return Unknown();
    }
    case K::Member: {
      if (e.lhs->kind == K::Name && e.lhs->text == "env" && env.environment) {
        if (e.text == "name") return S(env.environment->name.name);
        if (const ast::Attr* a = FindAttr(env.environment->attrs, e.text)) {
          // Bare names in environment attributes (approvals = [release]) fold to their text.
          if (a->value->kind == K::List) {
            Value v;
            v.k = Value::List;
            for (const auto& it : a->value->items) {
              v.l.push_back(it->kind == K::Name ? S(it->text) : Fold(*it, env, depth + 1));
            }
            return v;
          }
          return Fold(*a->value, env, depth + 1);
        }
        if (e.text == "protected") return B(false);  // reserved and optional: absent is not protected (as E401 reads it)
      }
      return Unknown();
    }
    case K::Unary: {
      Value v = Fold(*e.lhs, env, depth + 1);
      if (e.text == "not") return v.k == Value::Bool ? B(!v.b) : Unknown();
      return v.k == Value::Num ? N(-v.n) : Unknown();
    }
    case K::Binary: {
      const std::string& op = e.text;
      if (op == "and" || op == "or") {
        Value l = Fold(*e.lhs, env, depth + 1);
        Value r = Fold(*e.rhs, env, depth + 1);
        const bool is_and = op == "and";
        // Three-valued logic: `false and unknown` is false, `true or unknown` is true.
        if (l.k == Value::Bool && l.b != is_and) return B(!is_and);
        if (r.k == Value::Bool && r.b != is_and) return B(!is_and);
        if (l.k == Value::Bool && r.k == Value::Bool) return B(is_and);
        return Unknown();
      }
      Value l = Fold(*e.lhs, env, depth + 1);
      Value r = Fold(*e.rhs, env, depth + 1);
      if (l.k == Value::Unknown || r.k == Value::Unknown) return Unknown();
      if (op == "==") return B(Equal(l, r));
      if (op == "!=") return B(!Equal(l, r));
      if (op == "in") {
        if (r.k == Value::List) {
          for (const auto& x : r.l) {
            if (x.k == Value::Unknown) return Unknown();
            if (Equal(x, l)) return B(true);
          }
          return B(false);
        }
        if (r.k == Value::Str && l.k == Value::Str) return B(r.s.find(l.s) != std::string::npos);
        return Unknown();
      }
      if (l.k == Value::Num && r.k == Value::Num) {
        if (op == "<") return B(l.n < r.n);
        if (op == "<=") return B(l.n <= r.n);
        if (op == ">") return B(l.n > r.n);
        if (op == ">=") return B(l.n >= r.n);
        if (op == "+") return N(l.n + r.n);
        if (op == "-") return N(l.n - r.n);
        if (op == "*") return N(l.n * r.n);
        if (op == "/") return r.n == 0 ? Unknown() : N(l.n / r.n);
      }
      if (l.k == Value::Str && r.k == Value::Str) {
        if (op == "+") return S(l.s + r.s);
        if (op == "<") return B(l.s < r.s);
        if (op == "<=") return B(l.s <= r.s);
        if (op == ">") return B(l.s > r.s);
        if (op == ">=") return B(l.s >= r.s);
      }
      return Unknown();
    }
    default: return Unknown();
  }
}

namespace {

std::string Describe(const ast::Step& s, const SourceManager* sm = nullptr) {
  (void)sm;
  switch (s.kind) {
    case ast::StepKind::Run: return "`run` step";
    case ast::StepKind::Http: return fmt::format("`http {}` step", s.method);
    case ast::StepKind::Deploy: return fmt::format("`deploy {}`", s.service.name);
    case ast::StepKind::Call:
      return s.module ? fmt::format("`{}.{}(...)`", s.module->name, s.name.name) : fmt::format("`{}(...)`", s.name.name);
    case ast::StepKind::Parallel: return "`parallel` block";
    default: return "step";
  }
}

struct PathWalker {
  const ast::Decl& env;
  const FoldEnv fold;
  std::optional<std::vector<std::string>> acceptable;  // nullopt: any approval
  const MutationOracle& oracle;
  bool approved = false;
  std::vector<std::string> path;
  std::vector<std::pair<SourceRange, std::string>> notes;
  const ast::Step* offender = nullptr;
  std::string offender_where;

  /// The note for an `approve` of an approval the environment does not list.
  std::string NotAccepted(const std::string& name) const {
    if (acceptable && acceptable->empty()) {
      return fmt::format("`approve {}` does not count: `{}` lists no `approvals`", name, env.name.name);
    }
    return fmt::format("`approve {}` does not count: `{}` accepts only {}", name, env.name.name, OrList(acceptable.value_or(std::vector<std::string>{})));
  }

  bool Acceptable(const std::string& name) const {
    if (!acceptable) return true;
    for (const auto& a : *acceptable) {
      if (a == name) return true;
    }
    return false;
  }

  /// An `approve NAME` whose guard folded to `g`: it counts from here on, or
  /// a note at `range` says why it does not.
  void Approve(const std::string& name, const Value& g, const SourceRange& range) {
    if (g.k == Value::Bool && !g.b) {
      notes.push_back({range, fmt::format("`approve {}` does not count: its guard is false for `{}` ({})", name, env.name.name,
                                          fold.bindings ? "with the parameters given" : "parameters at their defaults")});
    } else if (g.k == Value::Bool && Acceptable(name)) {
      approved = true;
      path.push_back("approve " + name);
    } else if (g.k == Value::Unknown) {
      notes.push_back({range, fmt::format("`approve {}` does not count: its guard cannot be decided before the run", name)});
    } else if (g.k == Value::Bool) {
      notes.push_back({range, NotAccepted(name)});
    }
  }

  // Returns true when the walk should stop (offender found).
  bool Steps(const ast::Steps& steps, const std::string& where) {
    for (const auto& s : steps) {
      Value g = s.when ? Fold(*s.when, fold) : B(true);
      if (s.kind == ast::StepKind::Approve) {
        Approve(s.name.name, g, s.range);
        continue;
      }
      if (g.k == Value::Bool && !g.b) continue;
      if (s.kind == ast::StepKind::Parallel) {
        // The children run at once, so an `approve` among them does not come
        // before a change among them: any change inside needs an earlier approval.
        if (!approved) {
          for (const auto& c : s.children) {
            Value cg = c.when ? Fold(*c.when, fold) : B(true);
            if (cg.k == Value::Bool && !cg.b) continue;
            if (oracle.Mutates(c)) {
              offender = &c;
              offender_where = where;
              return true;
            }
          }
        }
        // Nothing inside changes anything before an approval; when the block
        // surely runs, its approvals count for the steps after it.
        if (g.k == Value::Bool) Steps(s.children, where);
        continue;
      }
      if (oracle.Mutates(s) && !approved) {
        offender = &s;
        offender_where = where;
        return true;
      }
    }
    return false;
  }
};

}  // namespace

void CheckApprovalPaths(const ast::Decl& pipeline, const std::vector<const ast::Decl*>& targets, const ModuleScope& scope,
                        const MutationOracle& oracle, Diagnostics& diags, const std::map<std::string, Value>* param_values) {
  for (const ast::Decl* env : targets) {
    FoldEnv fold{env, &scope, param_values};
    const ast::Attr* prot = FindAttr(env->attrs, "protected");
    if (!prot) continue;
    Value pv = Fold(*prot->value, fold);
    if (pv.k == Value::Bool && !pv.b) continue;  // unknown counts as protected: be conservative
    if (pv.k != Value::Bool && pv.k != Value::Unknown) continue;  // not a bool: E301 was reported
    PathWalker w{*env, fold, std::nullopt, oracle, false, {}, {}, nullptr, {}};
    if (const ast::Attr* ap = FindAttr(env->attrs, "approvals")) {
      std::vector<std::string> names;
      bool unresolved = false;
      if (ap->value->kind == ast::ExprKind::List) {
        for (const auto& it : ap->value->items) {
          // Names that do not resolve were reported (E201); they cannot be approved.
          if (it->kind == ast::ExprKind::Name && scope.approvals.count(it->text)) names.push_back(it->text);
          else unresolved = true;
        }
      } else {
        unresolved = true;  // not a list: E301 was reported
      }
      if (unresolved && names.empty()) continue;  // nothing sound to check against
      w.acceptable = names;
    }
    for (const auto& item : pipeline.items) {
      using PK = ast::PipelineItemKind;
      if (item.kind == PK::Approve) {
        w.Approve(item.name.name, item.when ? Fold(*item.when, fold) : B(true), item.range);
      } else if (item.kind == PK::Gate) {
        Value g = item.when ? Fold(*item.when, fold) : B(true);
        if (!(g.k == Value::Bool && !g.b)) w.path.push_back("gate " + item.name.name);
      } else if (item.kind == PK::Stage) {
        w.path.push_back("stage " + item.name.name);
        if (w.Steps(item.steps, item.name.name)) break;
      }
    }
    if (!w.offender) continue;
    std::string which = !w.acceptable ? std::string("any `approve`")
                        : w.acceptable->empty() ? std::string("an `approve` (the environment's `approvals` is empty)")
                                                : fmt::format("an `approve` of {}", OrList(*w.acceptable));
    auto& d = diags.Report(DiagCode::E401, w.offender->head_range,
                           fmt::format("pipeline `{}` can change protected environment `{}` without approval: {} in stage `{}` runs before {}",
                                       pipeline.name.name, env->name.name, Describe(*w.offender), w.offender_where, which));
    d.Note(fmt::format("path for `{}`: {}", env->name.name, Join(w.path, " -> ")));
    d.Note(prot->range, fmt::format("`{}` is protected here", env->name.name));
    for (auto& [r, msg] : w.notes) d.Note(r, msg);
    // The approval to suggest: the first the environment accepts, else the
    // first declared by name that is not marked unused with a leading `_`.
    std::string first = w.acceptable && !w.acceptable->empty() ? (*w.acceptable)[0] : std::string();
    if (!w.acceptable) {
      for (const auto& [name, decl] : scope.approvals) {
        if (first.empty() || (first[0] == '_' && name[0] != '_')) first = std::string(name);
      }
    }
    if (first.empty()) first = "NAME";
    if (w.acceptable && w.acceptable->empty()) {
      d.Help(fmt::format("list the approvals that may change `{}` in its `approvals`", env->name.name));
    } else {
      d.Help(fmt::format("add `approve {}` before stage `{}`", first, w.offender_where));
    }
  }
}

}  // namespace trix::sema
