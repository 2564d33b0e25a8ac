// The checker: symbol tables, name resolution, types, and the per-block
// rules of §3-§12 (attributes, probes, steps, strategies, pipelines).
// The approval path analysis lives in policy.cpp.
#include <algorithm>
#include <array>
#include <cstring>
#include <stdexcept>
#include <fmt/format.h>
#include <functional>
#include <optional>
#include <set>
#include <utility>

#include "compiler/check/checker.hpp"
#include "compiler/util/literals.hpp"
#include "compiler/util/text.hpp"

namespace trix::sema {
namespace {

using ast::ExprKind;

// ---- attribute tables -------------------------------------------------------------
enum class AT { Str, Int, Bool, Dur, Map, StrList, Cron, Window, FreezeList, EnvList, ApprovalList, Enum, Any, NumOrPercent, NonNegInt, PosInt };

struct AttrSpec {
  std::string_view name;
  AT type;
  std::string_view values = {};  // Enum: allowed bare names separated by '|'
  bool required = false;
};

using Specs = std::vector<AttrSpec>;

const Specs kRunOpts = {{"timeout", AT::Dur}, {"retries", AT::NonNegInt}, {"backoff", AT::Dur}, {"dir", AT::Str},
                        {"env", AT::Map}, {"idempotent", AT::Bool}};
const Specs kHttpStepOpts = {{"timeout", AT::Dur}, {"retries", AT::NonNegInt}, {"backoff", AT::Dur}, {"interval", AT::Dur},
                             {"headers", AT::Map}, {"body", AT::Str}, {"insecure", AT::Bool}, {"idempotent", AT::Bool}};
const Specs kRunProbeOpts = {{"timeout", AT::Dur}, {"retries", AT::NonNegInt}, {"interval", AT::Dur}, {"dir", AT::Str},
                             {"env", AT::Map}, {"on_no_data", AT::Enum, "fail|pass|inconclusive"}};
const Specs kHttpProbeOpts = {{"timeout", AT::Dur}, {"retries", AT::NonNegInt}, {"interval", AT::Dur}, {"headers", AT::Map},
                              {"body", AT::Str}, {"insecure", AT::Bool}, {"on_no_data", AT::Enum, "fail|pass|inconclusive"}};
const Specs kPromProbeOpts = {{"timeout", AT::Dur}, {"retries", AT::NonNegInt}, {"interval", AT::Dur},
                              {"on_no_data", AT::Enum, "fail|pass|inconclusive"}};
const Specs kWaitUntilOpts = {{"timeout", AT::Dur}, {"interval", AT::Dur}, {"headers", AT::Map}, {"retries", AT::NonNegInt},
                              {"on_no_data", AT::Enum, "fail|pass|inconclusive"}, {"dir", AT::Str}, {"env", AT::Map}};
const Specs kMetricAttrs = {{"interval", AT::Dur}, {"count", AT::PosInt}, {"failure_limit", AT::NonNegInt},
                            {"inconclusive_limit", AT::NonNegInt}, {"on_no_data", AT::Enum, "fail|pass|inconclusive"},
                            {"timeout", AT::Dur}};
const Specs kApprovalAttrs = {{"timeout", AT::Dur}, {"description", AT::Str}};
const Specs kPipelineAttrs = {{"environments", AT::EnvList}, {"concurrency", AT::Str}, {"timeout", AT::Dur}, {"image", AT::Str}};
const Specs kPushAttrs = {{"branch", AT::Str}, {"branches", AT::StrList}, {"tags", AT::StrList}, {"paths", AT::StrList}};
const Specs kScheduleAttrs = {{"cron", AT::Cron, {}, true}};
const Specs kDispatchAttrs = {};
const Specs kServiceCommon = {{"provider", AT::Enum, "k8s|nginx|command", true}};
const Specs kK8sAttrs = {{"deployment", AT::Str, {}, true}, {"container", AT::Str}, {"namespace", AT::Str}, {"service", AT::Str},
                         {"replicas", AT::NonNegInt}, {"context", AT::Str}, {"selector", AT::Str}};
const Specs kNginxAttrs = {{"config", AT::Str}, {"upstream", AT::Str}, {"stable", AT::Str}, {"canary", AT::Str}, {"reload", AT::Str}};
const Specs kCommandAttrs = {{"release", AT::Str}, {"set_weight", AT::Str}, {"promote", AT::Str}, {"abort", AT::Str}, {"rollback", AT::Str}};
const Specs kAnyProviderAttrs = [] {
  Specs all;
  for (const Specs* s : {&kK8sAttrs, &kNginxAttrs, &kCommandAttrs}) all.insert(all.end(), s->begin(), s->end());
  return all;
}();
const Specs kCanaryAttrs = {{"max_surge", AT::NumOrPercent}, {"max_unavailable", AT::NumOrPercent}};
const Specs kBlueGreenAttrs = {{"scale_down_delay", AT::Dur}, {"auto_promote", AT::Bool}};
const Specs kRollingAttrs = {{"max_surge", AT::NumOrPercent}, {"max_unavailable", AT::NumOrPercent}, {"timeout", AT::Dur}};
const Specs kAlertAttrs = {{"expr", AT::Str, {}, true}, {"for", AT::Dur}, {"severity", AT::Str}, {"summary", AT::Str},
                           {"description", AT::Str}, {"labels", AT::Map}, {"annotations", AT::Map}, {"runbook_url", AT::Str}};
const Specs kGitopsAttrs = {{"repo", AT::Str, {}, true}, {"path", AT::Str}, {"revision", AT::Str}, {"prune", AT::Bool},
                            {"self_heal", AT::Bool}, {"project", AT::Str}, {"namespace", AT::Str}, {"server", AT::Str},
                            {"app", AT::Str}};
// Reserved environment attributes; all other attributes are free.
const Specs kEnvReserved = {{"protected", AT::Bool}, {"approvals", AT::ApprovalList}, {"window", AT::Window},
                            {"freeze", AT::FreezeList}, {"notify", AT::Str}, {"prometheus", AT::Str}};

/// lit::CronError's text describes the problem ("hour field `24` is out of
/// range 0-23", "cron expression `...` has 6 fields ..."); the caret shows the
/// expression, so it is not repeated in the message.
std::string CronMessage(const std::string& err) { return err.starts_with("cron ") ? err : "cron " + err; }


// ---- what a declaration uses, for pipeline-level checks -------------------------------
struct Uses {
  struct EnvRead {
    SourceRange at;                     // where the pipeline reads it (a call, a gate, a deploy ...)
    std::optional<SourceRange> origin;  // the `env.X` expression itself, when `at` is elsewhere
  };
  std::map<std::string, EnvRead> env_reads;  // env.X -> first read
  std::vector<SourceRange> prom_no_at;               // prometheus probes without `at` (E405)
  std::vector<std::pair<std::string, SourceRange>> baseline_reads;
  std::vector<SourceRange> untimed_pauses;  // an action's `pause`s with no duration (W503 where it is called)
  bool mutating = false;
  bool has_undo = false;

  void Merge(const Uses& o, std::optional<SourceRange> at = std::nullopt, bool with_baseline_reads = true) {
    for (auto& [k, r] : o.env_reads) env_reads.emplace(k, at ? EnvRead{*at, r.origin ? r.origin : r.at} : r);
    for (auto& r : o.prom_no_at) prom_no_at.push_back(at ? *at : r);
    if (with_baseline_reads) {
      for (auto& [n, r] : o.baseline_reads) baseline_reads.push_back({n, r});
    }
    mutating = mutating || o.mutating;
    has_undo = has_undo || o.has_undo;
  }
};

// ---- expression scope ----------------------------------------------------------------
struct Scope {
  int module = 0;
  const std::map<std::string, Type>* locals = nullptr;   // action parameters
  const ast::Decl* locals_owner = nullptr;               // the action declaring `locals`
  const std::map<std::string, Type>* results = nullptr;  // probe result names inside `expect`/`read`
  bool http_expect = false;                              // json()/header() allowed
  bool env_functions = false;                            // env()/file() allowed (param defaults, secrets)
  bool in_interp = false;
  bool allow_env = true;
  Uses* uses = nullptr;
  const std::map<std::string, const ast::Step*>* labels = nullptr;
  bool allow_baseline = false;
  std::string_view secret_forbidden;  // non-empty: a secret here is E307 (names the place)
  std::string_view what;              // what is being checked, for messages
};

const std::map<std::string, Type> kRunResults = {{"exit_code", Type::Of(Kind::Int)}, {"stdout", Type::Of(Kind::String)}, {"stderr", Type::Of(Kind::String)}};
const std::map<std::string, Type> kHttpResults = {{"status", Type::Of(Kind::Int)}, {"body", Type::Of(Kind::String)}, {"latency", Type::Of(Kind::Duration)}};
const std::map<std::string, Type> kPromResults = {{"value", Type::Of(Kind::Float)}};
// Names a `command` service's commands may interpolate: the version being
// deployed and the canary weight being set.
const std::map<std::string, Type> kCommandVars = {{"version", Type::Of(Kind::String)}, {"weight", Type::Of(Kind::Percent)}};

/// The type a declared `TypeExpr` denotes (no type written: `string`).
Type DeclaredType(const ast::TypeExpr* t) {
  auto scalar = [](ast::TypeKind k) {
    switch (k) {
      case ast::TypeKind::Int: return Kind::Int;
      case ast::TypeKind::Float: return Kind::Float;
      case ast::TypeKind::Bool: return Kind::Bool;
      case ast::TypeKind::Duration: return Kind::Duration;
      case ast::TypeKind::Percent: return Kind::Percent;
      case ast::TypeKind::Cron: return Kind::Cron;
      case ast::TypeKind::Secret: return Kind::Secret;
      case ast::TypeKind::Environment: return Kind::Environment;
      case ast::TypeKind::Role: return Kind::Role;
      case ast::TypeKind::String:
      case ast::TypeKind::List: break;
    }
    return Kind::String;
  };
  if (!t) return Type::Of(Kind::String);
  if (t->kind != ast::TypeKind::List) return Type::Of(scalar(t->kind));
  // List elements are scalars; cron, secret, environment and role lists hold strings.
  const Kind e = t->elem ? scalar(t->elem->kind) : Kind::String;
  const bool plain = e == Kind::Int || e == Kind::Float || e == Kind::Bool || e == Kind::Duration || e == Kind::Percent;
  return Type::ListOf(plain ? e : Kind::String);
}

/// An action parameter's type inside the action: environments and roles are
/// passed by name (strings), and list elements are strings.
Type ActionParamType(const ast::Param& p) {
  Type t = DeclaredType(p.type ? &*p.type : nullptr);
  if (t.kind == Kind::Environment || t.kind == Kind::Role) return Type::Of(Kind::String);
  if (t.kind == Kind::List) return Type::ListOf(Kind::String);
  return t;
}

class Checker final : public MutationOracle {
 public:
  Checker(Program& p, Diagnostics& d, bool references) : p_(p), d_(d), references_(references) {}

  void Run();
  /// Copies what later phases need (call resolution, mutating actions) into the Program.
  void Export() {
    p_.call_targets = call_targets_;
    p_.action_module = action_module_;
    for (const auto& [action, uses] : action_uses_) {
      if (uses.mutating) p_.mutating_actions.insert(action);
    }
  }

  bool Mutates(const ast::Step& s) const override {
    return StepMutates(s, [&](const ast::Step& call) {
      auto it = call_targets_.find(&call);
      if (it == call_targets_.end()) return true;  // unresolved: assume the worst
      auto u = action_uses_.find(it->second);
      return u == action_uses_.end() || u->second.mutating;
    });
  }

 private:
  // ---- symbol tables ------------------------------------------------------------
  DeclTable* Table(ModuleScope& s, ast::DeclKind k) {
    switch (k) {
      case ast::DeclKind::Param: return &s.params;
      case ast::DeclKind::Secret: return &s.secrets;
      case ast::DeclKind::Role: return &s.roles;
      case ast::DeclKind::Environment: return &s.environments;
      case ast::DeclKind::Gate: return &s.gates;
      case ast::DeclKind::Approval: return &s.approvals;
      case ast::DeclKind::Analysis: return &s.analyses;
      case ast::DeclKind::Service: return &s.services;
      case ast::DeclKind::Action: return &s.actions;
      case ast::DeclKind::Pipeline: return &s.pipelines;
      case ast::DeclKind::Alert: return &s.alerts;
      case ast::DeclKind::Gitops: return &s.gitops;
      default: return nullptr;
    }
  }
  // The name of a kind of declaration in messages: its keyword, but "parameter" for `param`.
  static const char* KindName(ast::DeclKind k) { return k == ast::DeclKind::Param ? "parameter" : ast::DeclKeyword(k); }

  void BuildTables();
  /// `env`, `steps` and `baseline` are read like parameters and secrets, so
  /// one of those named so would hide the built-in (docs/decisions.md): E202.
  /// Returns false when it reported.
  bool CheckNotBuiltin(const ast::Ident& name, std::string_view what) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 3> kBuiltins{
        {{"env", "the environment being deployed"}, {"steps", "the results of finished steps"}, {"baseline", "the measured baselines"}}};
    for (const auto& [builtin, meaning] : kBuiltins) {
      if (name.name != builtin) continue;
      d_.Report(DiagCode::E202, name.range, fmt::format("a {} cannot be named `{}`: the name is built in", what, builtin))
          .Note(fmt::format("`{}` reads {}", builtin, meaning))
          .Help(fmt::format("rename it, for example to `my_{}`", builtin));
      return false;
    }
    return true;
  }
  static std::vector<std::string> Keys(const DeclTable& m) {
    std::vector<std::string> out;
    out.reserve(m.size());
    for (auto& [k, v] : m) out.emplace_back(k);
    return out;
  }
  const ast::Decl* Resolve(int module, ast::DeclKind kind, const ast::Ident& id, bool report = true);
  /// Reports E201 and returns the suggested name, if any.
  std::optional<std::string> Undefined(const ast::Ident& id, std::string_view what, const std::vector<std::string>& candidates);
  void Use(const ast::Decl* d) {
    if (char* flag = UsedFlag(d)) *flag = 1;
    else used_other_.insert(d);
  }
  bool Used(const ast::Decl* d) {
    const char* flag = UsedFlag(d);
    return flag ? *flag != 0 : used_other_.count(d) > 0;
  }
  /// The "used" flag of a declaration of a loaded module (all of them are),
  /// found by address: a flat array per module, not a set of pointers
  /// (the set's inserts were 3 % of `check` on large files).
  char* UsedFlag(const ast::Decl* d) {
    const std::less<const ast::Decl*> before;
    for (std::size_t m = 0; m < p_.load.modules.size() && m < used_.size(); ++m) {
      const auto& decls = p_.load.modules[m]->ast.decls;
      if (decls.empty() || before(d, decls.data()) || !before(d, decls.data() + decls.size())) continue;
      return &used_[m][static_cast<std::size_t>(d - decls.data())];
    }
    return nullptr;
  }
  /// Records a resolved use of a name for the editor queries (sema::ReferenceAt).
  void Refer(SourceRange use, const ast::Decl* d, const SourceRange* target = nullptr) {
    if (references_) p_.references.push_back({use, target ? *target : d->name.range, d});
  }

  // ---- expressions -----------------------------------------------------------------
  Type TypeOf(const ast::Expr& e, Scope& sc);
  Type Builtin(const ast::Expr& call, const std::string& name, Scope& sc);
  Type MemberOf(const ast::Expr& e, Scope& sc);
  void Expect(const ast::Expr& e, Type want, Scope& sc, std::string_view what);
  void CheckUrl(const ast::Expr& url, Scope& sc);
  bool HasSecret(const ast::Expr& e, Scope& sc);

  // ---- blocks -----------------------------------------------------------------------
  void CheckAttrs(std::span<const ast::Attr> attrs, const Specs& specs, Scope& sc, std::string_view block,
                  SourceRange block_range, bool free = false, const Specs* extra = nullptr);
  void CheckAttrValue(const ast::Attr& a, const AttrSpec& spec, Scope& sc);
  /// `needs_expect`: a `prometheus` probe must have `expect` (not in a baseline, whose value is the result).
  void CheckProbe(const ast::Probe& p, Scope& sc, std::string_view where, bool needs_expect = true);
  void CheckChecks(const std::vector<ast::CheckItem>& items, Scope& sc, std::string_view where);
  struct StepCtx {
    std::vector<SourceRange> untimed_pauses;
    std::vector<const ast::Step*> uncovered;  // mutating steps with no undo (W502)
    bool top = true;
  };
  void CheckSteps(const ast::Steps& steps, Scope& sc, StepCtx& ctx);
  void CheckStep(const ast::Step& s, Scope& sc, StepCtx& ctx);
  void CheckCall(const ast::Step& s, Scope& sc);
  void CheckStrategy(const ast::Step& s, const ast::Strategy& st, Scope& sc, StepCtx& ctx);
  /// What an action's body does, computed once; `call` is the call being checked (for E206).
  const Uses& ActionUses(int module, const ast::Decl* action, const ast::Step* call = nullptr);

  void CheckEnvironments();
  void CheckParamsSecretsRoles(int module);
  void ReportDefaultCycles(int module);
  void CheckGate(const ast::Decl& d);
  void CheckApproval(const ast::Decl& d);
  void CheckAnalysis(const ast::Decl& d);
  void CheckService(const ast::Decl& d);
  void CheckPipeline(const ast::Decl& d);
  void CheckAlertOrGitops(const ast::Decl& d);
  void CheckUnused();
  void CollectLabels(const ast::Steps& steps, std::map<std::string, const ast::Step*>& labels);
  /// For one `env.X` read over a list of target environments: the ones
  /// lacking X, and the ones defining it grouped by the type of their value.
  struct EnvReadSummary {
    std::vector<std::string> missing;
    std::map<std::string, std::vector<std::string>> by_type;
  };
  using EnvReadCache = std::map<std::string, EnvReadSummary>;
  static EnvReadSummary SummarizeEnvRead(const std::string& attr, const std::vector<const ast::Decl*>& targets);
  /// E304 for each `env.X` in `uses`. `cache`, when given, belongs to this
  /// exact `targets` list and keeps each attribute's summary, so checking
  /// many declarations against every environment stays linear.
  void CheckEnvReads(const std::string& who, const Uses& uses, const std::vector<const ast::Decl*>& targets,
                     EnvReadCache* cache = nullptr);

  /// The declarations of one kind in module `module` that its symbol table
  /// holds (not a duplicate), in source order: the order the checks walk
  /// them in, which is the order they lie in memory. (Name order jumped
  /// across a large AST and made most node reads of `check` cache misses.)
  const std::vector<const ast::Decl*>& InOrder(int module, ast::DeclKind k) const {
    return in_order_[static_cast<std::size_t>(module)][static_cast<std::size_t>(k)];
  }

  Program& p_;
  Diagnostics& d_;
  const bool references_;  // record Program::references
  std::vector<std::array<std::vector<const ast::Decl*>, ast::kDeclKinds>> in_order_;  // InOrder()
  std::vector<std::vector<char>> used_;        // per module, per declaration (UsedFlag)
  /// The steps that have finished at the point being checked, in a pipeline's
  /// stages and verify and in an action's body (null elsewhere: rollback may
  /// read any step): `steps.X` of a step not in it is E201.
  std::set<const ast::Step*>* finished_ = nullptr;
  /// Points finished_ at `now` until the end of the enclosing scope.
  class FinishedScope {
   public:
    FinishedScope(Checker& c, std::set<const ast::Step*>* now) : c_(c), old_(std::exchange(c.finished_, now)) {}
    ~FinishedScope() { c_.finished_ = old_; }
    FinishedScope(const FinishedScope&) = delete;
    FinishedScope& operator=(const FinishedScope&) = delete;

   private:
    Checker& c_;
    std::set<const ast::Step*>* old_;
  };
  std::set<const ast::Decl*> used_other_;      // anything else (none expected)
  std::map<const ast::Decl*, Uses> decl_uses_;     // gates, analyses, services, approvals
  std::map<const ast::Decl*, Uses> action_uses_;   // actions (body)
  std::map<const ast::Decl*, int> action_module_;
  std::set<const ast::Decl*> action_active_;       // for E206
  std::vector<const ast::Decl*> action_stack_;     // actions being checked, outermost first (E206's chain)
  std::set<const ast::Decl*> recursion_reported_;
  std::set<std::pair<int, std::string>> used_imports_;
  std::map<const ast::Step*, const ast::Decl*> call_targets_;
  std::map<std::string, Type> env_attr_types_;     // attribute -> type (first environment defining it)
  int module_ = 0;                                 // module being checked
  // Every environment of the entry module, by name (gitops targets them
  // all), and E304's summaries over that list, built on first use.
  std::optional<std::vector<const ast::Decl*>> all_envs_by_name_;
  EnvReadCache all_envs_by_name_reads_;
  // The same in declaration order (pipelines without `environments`).
  EnvReadCache all_envs_in_order_reads_;
};

// ---- symbol tables ------------------------------------------------------------------------
}  // namespace

DeclTable::Key DeclTable::KeyOf(std::string_view name) {
  unsigned char b[16] = {};
  std::memcpy(b, name.data(), std::min<std::size_t>(name.size(), sizeof b));
  Key k;
  for (int i = 0; i < 8; ++i) k.hi = (k.hi << 8) | b[i];
  for (int i = 8; i < 16; ++i) k.lo = (k.lo << 8) | b[i];
  return k;
}

bool DeclTable::Less(const Key& a, std::string_view an, const Key& b, std::string_view bn) {
  if (a.hi != b.hi) return a.hi < b.hi;
  if (a.lo != b.lo) return a.lo < b.lo;
  // The same first 16 bytes (names hold no NUL, so shorter ones differ in the padding).
  if (an.size() <= 16 && bn.size() <= 16) return an.size() < bn.size();
  return an < bn;
}

std::vector<std::pair<const ast::Decl*, const ast::Decl*>> DeclTable::Seal(std::vector<const ast::Decl*>* kept) {
  std::vector<std::pair<Key, std::size_t>> order;
  order.reserve(pending_.size());
  for (std::size_t i = 0; i < pending_.size(); ++i) order.emplace_back(KeyOf(pending_[i]->name.name), i);
  std::stable_sort(order.begin(), order.end(), [&](const auto& x, const auto& y) {
    return Less(x.first, pending_[x.second]->name.name, y.first, pending_[y.second]->name.name);
  });
  std::vector<std::pair<const ast::Decl*, const ast::Decl*>> again;
  keys_.clear();
  items_.clear();
  keys_.reserve(order.size());
  items_.reserve(order.size());
  std::vector<char> repeated(pending_.size(), 0);
  for (const auto& [key, i] : order) {
    const ast::Decl* d = pending_[i];
    if (!items_.empty() && items_.back().first == d->name.name) {
      again.emplace_back(d, items_.back().second);
      repeated[i] = 1;
      continue;
    }
    keys_.push_back(key);
    items_.emplace_back(d->name.name, d);
  }
  if (kept) {
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      if (!repeated[i]) kept->push_back(pending_[i]);
    }
  }
  pending_.clear();
  pending_.shrink_to_fit();
  return again;
}

DeclTable::const_iterator DeclTable::find(std::string_view name) const {
  const Key k = KeyOf(name);
  std::size_t lo = 0, hi = keys_.size();
  while (lo < hi) {
    const std::size_t mid = lo + (hi - lo) / 2;
    if (Less(keys_[mid], items_[mid].first, k, name)) lo = mid + 1;
    else hi = mid;
  }
  if (lo == items_.size() || keys_[lo].hi != k.hi || keys_[lo].lo != k.lo || items_[lo].first.size() != name.size())
    return items_.end();
  // Equal keys and lengths: equal names, unless they are longer than the key.
  if (name.size() > 16 && items_[lo].first.substr(16) != name.substr(16)) return items_.end();
  return items_.begin() + static_cast<std::ptrdiff_t>(lo);
}

const ast::Decl* DeclTable::at(std::string_view name) const {
  auto it = find(name);
  if (it == end()) throw std::out_of_range("DeclTable::at: no declaration named " + std::string(name));
  return it->second;
}

namespace {

void Checker::BuildTables() {
  used_.clear();
  for (const auto& m : p_.load.modules) used_.emplace_back(m->ast.decls.size(), 0);
  in_order_.assign(p_.load.modules.size(), {});
  p_.scopes.resize(p_.load.modules.size());
  for (std::size_t mi = 0; mi < p_.load.modules.size(); ++mi) {
    const LoadedModule& m = *p_.load.modules[mi];
    ModuleScope& s = p_.scopes[mi];
    std::map<std::string, const ast::Decl*> import_decls;
    for (const auto& d : m.ast.decls) {
      if (d.kind == ast::DeclKind::Runbook) {
        if (s.runbook) {
          d_.Report(DiagCode::E202, d.range, "a file declares `runbook` more than once").Note(s.runbook->range, "first declared here");
        } else {
          s.runbook = &d;
        }
        continue;
      }
      if (d.kind == ast::DeclKind::Import) continue;
      if ((d.kind == ast::DeclKind::Param || d.kind == ast::DeclKind::Secret) && !CheckNotBuiltin(d.name, KindName(d.kind))) {
        Use(&d);  // no W501 on top of the E202
      }
      Table(s, d.kind)->Add(&d);
    }
    for (std::size_t k = 0; k < ast::kDeclKinds; ++k) {
      DeclTable* table = Table(s, static_cast<ast::DeclKind>(k));
      if (!table) continue;
      for (const auto& [again, first] : table->Seal(&in_order_[mi][k])) {
        d_.Report(DiagCode::E202, again->name.range, fmt::format("{} `{}` is declared twice", KindName(again->kind), again->name.name))
            .Note(first->name.range, "first declared here");
      }
    }

    for (const auto& e : m.imports) {
      auto [it, inserted] = s.imports.emplace(e.binding, e.module);
      if (!inserted) {
        d_.Report(DiagCode::E202, e.decl->range, fmt::format("a module is already imported as `{}`", e.binding))
            .Note(import_decls.at(e.binding)->range, "first declared here")
            .Help(fmt::format("write `as` and another name: `import \"...\" as {}2`", e.binding));
      }
      import_decls.emplace(e.binding, e.decl);
    }
  }
}

std::optional<std::string> Checker::Undefined(const ast::Ident& id, std::string_view what, const std::vector<std::string>& candidates) {
  auto& diag = d_.Report(DiagCode::E201, id.range, fmt::format("{} `{}` is not declared", what, id.name));
  auto s = ClosestName(id.name, candidates);
  if (s) diag.message += fmt::format("; did you mean `{}`?", *s);
  return s;
}

const ast::Decl* Checker::Resolve(int module, ast::DeclKind kind, const ast::Ident& id, bool report) {
  auto* table = Table(p_.scopes[module], kind);
  auto it = table->find(id.name);
  if (it != table->end()) {
    Use(it->second);
    Refer(id.range, it->second);
    return it->second;
  }
  if (report) {
    // Recover as if the suggested name had been written, so the declaration
    // the typo was meant for is not also reported as unused (W501).
    if (auto s = Undefined(id, KindName(kind), Keys(*table))) Use(table->at(*s));
  }
  return nullptr;
}

// ---- expressions ----------------------------------------------------------------------------
void Checker::Expect(const ast::Expr& e, Type want, Scope& sc, std::string_view what) {
  Type t = TypeOf(e, sc);
  if (!Assignable(t, want)) {
    d_.Report(DiagCode::E301, e.range, fmt::format("{} must be `{}`, found `{}`", what, ToString(want), ToString(t)));
  }
}

bool Checker::HasSecret(const ast::Expr& e, Scope& sc) {
  if (e.kind == ExprKind::Name) {
    if (sc.locals) {
      auto it = sc.locals->find(e.text);
      if (it != sc.locals->end()) return it->second.kind == Kind::Secret;
    }
    return p_.scopes[sc.module].secrets.count(e.text) > 0;
  }
  return false;
}

Type Checker::TypeOf(const ast::Expr& e, Scope& sc) {
  switch (e.kind) {
    case ExprKind::String: {
      if (!e.interpolated) return Type::Of(Kind::String);
      for (const auto& part : e.parts) {
        if (!part.expr) continue;
        Scope inner = sc;
        inner.in_interp = true;
        Type t = TypeOf(*part.expr, inner);
        if (t.kind == Kind::Secret && !sc.secret_forbidden.empty()) {
          d_.Report(DiagCode::E307, part.expr->range, fmt::format("a secret cannot appear in {}", sc.secret_forbidden))
              .Help("secrets may be used in `run` commands (passed as environment variables), headers and bodies");
        }
        if (t.kind == Kind::List || t.kind == Kind::Map || t.kind == Kind::StepsObject || t.kind == Kind::BaselineObject ||
            t.kind == Kind::StepRef) {
          d_.Report(DiagCode::E301, part.expr->range, fmt::format("only scalar values can be interpolated, found `{}`", ToString(t)));
        }
      }
      return Type::Of(Kind::String);
    }
    case ExprKind::Int: return Type::Of(Kind::Int);
    case ExprKind::Float: return Type::Of(Kind::Float);
    case ExprKind::Duration: return Type::Of(Kind::Duration);
    case ExprKind::Percent: return Type::Of(Kind::Percent);
    case ExprKind::Bool: return Type::Of(Kind::Bool);
    case ExprKind::Name: {
      if (sc.results) {
        auto it = sc.results->find(e.text);
        if (it != sc.results->end()) return it->second;
      }
      if (sc.locals) {
        auto it = sc.locals->find(e.text);
        if (it != sc.locals->end()) {
          if (sc.locals_owner && references_) {
            for (const auto& p : sc.locals_owner->params) {
              if (p.name.name == e.text) Refer(e.range, sc.locals_owner, &p.name.range);
            }
          }
          return it->second;
        }
      }
      auto& scope = p_.scopes[sc.module];
      if (auto it = scope.params.find(e.text); it != scope.params.end()) {
        Use(it->second);
        Refer(e.range, it->second);
        return DeclaredType(it->second->type ? &*it->second->type : nullptr);
      }
      if (auto it = scope.secrets.find(e.text); it != scope.secrets.end()) {
        Use(it->second);
        Refer(e.range, it->second);
        return Type::Of(Kind::Secret);
      }
      if (e.text == "env") {
        if (!sc.allow_env) {
          d_.Report(DiagCode::E201, e.range, fmt::format("`env` is not available in {}", sc.what));
          return Type::Of(Kind::Error);
        }
        return Type::Of(Kind::EnvObject);
      }
      if (e.text == "steps" && sc.labels) return Type::Of(Kind::StepsObject);
      if (e.text == "baseline") return Type::Of(Kind::BaselineObject);
      std::vector<std::string> cands = Keys(scope.params);
      for (auto& k : Keys(scope.secrets)) cands.push_back(k);
      if (sc.locals) for (auto& [k, v] : *sc.locals) cands.push_back(k);
      if (sc.results) for (auto& [k, v] : *sc.results) cands.push_back(k);
      auto& diag = d_.Report(DiagCode::E201, e.range, fmt::format("`{}` is not declared", e.text));
      if (e.text == "steps") {
        diag.Note("`steps.LABEL` reads a finished step; it exists only in a pipeline's items and in actions");
      } else if (auto s = ClosestName(e.text, cands)) {
        diag.message += fmt::format("; did you mean `{}`?", *s);
        if (auto p = scope.params.find(*s); p != scope.params.end()) Use(p->second);  // no W501 cascade
        if (auto p = scope.secrets.find(*s); p != scope.secrets.end()) Use(p->second);
      } else if (!sc.results && (kRunResults.count(e.text) || kHttpResults.count(e.text) || kPromResults.count(e.text)))
        diag.Note(fmt::format("`{}` is a probe result; it exists only inside `expect`", e.text));
      return Type::Of(Kind::Error);
    }
    case ExprKind::List: {
      Kind elem = Kind::Any;
      for (const auto& it : e.items) {
        Type t = TypeOf(*it, sc);
        if (t.kind == Kind::Error || t.kind == Kind::Any) continue;
        if (elem == Kind::Any) {
          elem = t.kind == Kind::List ? Kind::Any : t.kind;
        } else if (!Assignable(t, Type::Of(elem)) && !(elem == Kind::Int && t.kind == Kind::Float)) {
          d_.Report(DiagCode::E301, it->range, fmt::format("list items must all have one type: expected `{}`, found `{}`", ToString(Type::Of(elem)), ToString(t)));
        } else if (elem == Kind::Int && t.kind == Kind::Float) {
          elem = Kind::Float;
        }
      }
      return Type::ListOf(elem);
    }
    case ExprKind::Map: {
      std::set<std::string> seen;
      for (const auto& a : e.attrs) {
        if (!seen.insert(a.key.name).second) d_.Report(DiagCode::E202, a.key.range, fmt::format("key `{}` appears twice", a.key.name));
        Type t = TypeOf(*a.value, sc);
        if (t.kind == Kind::List || t.kind == Kind::Map) {
          d_.Report(DiagCode::E301, a.value->range, fmt::format("map values must be scalars, found `{}`", ToString(t)));
        }
      }
      return Type::Of(Kind::Map);
    }
    case ExprKind::Unary: {
      Type t = TypeOf(*e.lhs, sc);
      if (e.text == "not") {
        if (!Assignable(t, Type::Of(Kind::Bool))) d_.Report(DiagCode::E301, e.lhs->range, fmt::format("`not` needs a `bool`, found `{}`", ToString(t)));
        return Type::Of(Kind::Bool);
      }
      if (t.kind != Kind::Any && t.kind != Kind::Error && !IsNumeric(t.kind)) {
        d_.Report(DiagCode::E301, e.lhs->range, fmt::format("`-` needs a number, found `{}`", ToString(t)));
        return Type::Of(Kind::Error);
      }
      return t;
    }
    case ExprKind::Binary: {
      Type l = TypeOf(*e.lhs, sc);
      Type r = TypeOf(*e.rhs, sc);
      const std::string& op = e.text;
      auto bad = [&](const char* need) {
        d_.Report(DiagCode::E301, e.range, fmt::format("`{}` {}, found `{}` and `{}`", op, need, ToString(l), ToString(r)));
      };
      const bool quiet = l.kind == Kind::Error || r.kind == Kind::Error;
      if (op == "and" || op == "or") {
        if (!quiet && (!Assignable(l, Type::Of(Kind::Bool)) || !Assignable(r, Type::Of(Kind::Bool)))) bad("needs two `bool` values");
        return Type::Of(Kind::Bool);
      }
      if (op == "==" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=") {
        if (!quiet && !Comparable(l, r)) bad("cannot compare these types");
        if (!quiet && (op != "==" && op != "!=") && (l.kind == Kind::Bool || r.kind == Kind::Bool)) bad("cannot order `bool` values");
        return Type::Of(Kind::Bool);
      }
      if (op == "in") {
        if (!quiet && !(r.kind == Kind::Any || (r.kind == Kind::List && Assignable(l, Type::Of(r.elem))) ||
                        (r.kind == Kind::String && l.kind == Kind::String) || (r.kind == Kind::String && l.kind == Kind::Any)))
          bad("needs a value and a list of that type (or two strings)");
        return Type::Of(Kind::Bool);
      }
      // Arithmetic.
      if (quiet) return Type::Of(Kind::Error);
      if (op == "+" && l.kind == Kind::String && r.kind == Kind::String) return Type::Of(Kind::String);
      if (l.kind == Kind::Any || r.kind == Kind::Any) return Type::Of(Kind::Any);
      if (!IsNumeric(l.kind) || !IsNumeric(r.kind)) {
        bad("needs numbers");
        return Type::Of(Kind::Error);
      }
      for (Kind unit : {Kind::Duration, Kind::Percent}) {
        if (l.kind == unit || r.kind == unit) {
          Kind other = l.kind == unit ? r.kind : l.kind;
          if (other != unit && other != Kind::Int && other != Kind::Float) {
            bad("cannot mix `duration` and `percent`");
            return Type::Of(Kind::Error);
          }
          if ((op == "*" || op == "/") && other == unit) return Type::Of(Kind::Float);
          return Type::Of(unit);
        }
      }
      if (l.kind == Kind::Int && r.kind == Kind::Int && op != "/") return Type::Of(Kind::Int);
      return Type::Of(Kind::Float);
    }
    case ExprKind::Member: return MemberOf(e, sc);
    case ExprKind::Index: {
      Type l = TypeOf(*e.lhs, sc);
      Type i = TypeOf(*e.rhs, sc);
      if (l.kind == Kind::Any || l.kind == Kind::Error) return Type::Of(l.kind);
      if (l.kind != Kind::List) {
        d_.Report(DiagCode::E301, e.lhs->range, fmt::format("only lists can be indexed, found `{}`", ToString(l)));
        return Type::Of(Kind::Error);
      }
      if (!Assignable(i, Type::Of(Kind::Int))) d_.Report(DiagCode::E301, e.rhs->range, fmt::format("a list index must be `int`, found `{}`", ToString(i)));
      return Type::Of(l.elem);
    }
    case ExprKind::Call: {
      if (e.lhs->kind != ExprKind::Name) {
        d_.Report(DiagCode::E301, e.lhs->range, "only built-in functions can be called in an expression");
        return Type::Of(Kind::Error);
      }
      return Builtin(e, e.lhs->text, sc);
    }
  }
  return Type::Of(Kind::Any);
}

Type Checker::Builtin(const ast::Expr& call, const std::string& name, Scope& sc) {
  struct Fn {
    std::string_view name;
    Kind result;
  };
  static const std::vector<std::string> kNames = {"env", "file", "int", "float", "string", "len", "json", "header", "raw"};
  auto arity = [&](std::size_t n) {
    for (const auto& a : call.args) {
      if (a.name) {
        d_.Report(DiagCode::E205, a.name->range, fmt::format("`{}()` takes no named arguments", name));
        return false;
      }
    }
    if (call.args.size() != n) {
      d_.Report(DiagCode::E205, call.range, fmt::format("`{}()` takes {} argument{}, {} given", name, n, n == 1 ? "" : "s", call.args.size()));
      return false;
    }
    return true;
  };
  auto string_arg = [&]() {
    if (arity(1)) Expect(*call.args[0].value, Type::Of(Kind::String), sc, fmt::format("the argument of `{}()`", name));
  };
  if (name == "env" || name == "file") {
    if (!sc.env_functions || (name == "file" && sc.what != "a secret")) {
      d_.Report(DiagCode::E201, call.lhs->range,
                fmt::format("`{}()` is only available in {}", name, name == "env" ? "parameter defaults and secrets" : "secrets"));
    }
    string_arg();
    return Type::Of(Kind::String);
  }
  if (name == "int" || name == "float" || name == "string") {
    if (arity(1)) {
      Type t = TypeOf(*call.args[0].value, sc);
      if (t.kind == Kind::Secret) d_.Report(DiagCode::E307, call.args[0].value->range, fmt::format("a secret cannot be converted with `{}()`", name));
      else if (t.kind == Kind::List || t.kind == Kind::Map) d_.Report(DiagCode::E301, call.args[0].value->range, fmt::format("`{}()` needs a scalar, found `{}`", name, ToString(t)));
    }
    return Type::Of(name == "int" ? Kind::Int : name == "float" ? Kind::Float : Kind::String);
  }
  if (name == "len") {
    if (arity(1)) {
      Type t = TypeOf(*call.args[0].value, sc);
      if (!(t.kind == Kind::String || t.kind == Kind::List || t.kind == Kind::Any || t.kind == Kind::Error || t.kind == Kind::Map))
        d_.Report(DiagCode::E301, call.args[0].value->range, fmt::format("`len()` needs a string, list or JSON value, found `{}`", ToString(t)));
    }
    return Type::Of(Kind::Int);
  }
  if (name == "json" || name == "header") {
    if (!sc.http_expect) {
      d_.Report(DiagCode::E201, call.lhs->range, fmt::format("`{}()` is only available inside the `expect` (or `read`) of an `http` probe", name));
    }
    string_arg();
    if (name == "json" && call.args.size() == 1) {
      std::string ptr;
      if (call.args[0].value->IsPlainString(&ptr) && !ptr.empty() && ptr[0] != '/') {
        d_.Report(DiagCode::E309, call.args[0].value->range, fmt::format("`{}` is not a JSON pointer; it must be empty or start with `/` (RFC 6901)", ptr))
            .Help(fmt::format("write `json(\"/{}\")`", ptr));
      }
    }
    return Type::Of(name == "json" ? Kind::Any : Kind::String);
  }
  if (name == "raw") {
    if (!sc.in_interp) d_.Report(DiagCode::E201, call.lhs->range, "`raw()` is only available inside `${...}` interpolation");
    else d_.Report(DiagCode::W505, call.range, "`raw()` inserts text unquoted; a value with shell syntax in it will run as shell")
        .Help("remove `raw()` unless the value is trusted shell text");
    if (arity(1)) TypeOf(*call.args[0].value, sc);
    return Type::Of(Kind::String);
  }
  auto& diag = d_.Report(DiagCode::E201, call.lhs->range, fmt::format("`{}` is not a built-in function", name));
  if (auto s = ClosestName(name, kNames)) diag.message += fmt::format("; did you mean `{}`?", *s);
  for (const auto& a : call.args) TypeOf(*a.value, sc);
  return Type::Of(Kind::Error);
}

Type Checker::MemberOf(const ast::Expr& e, Scope& sc) {
  // steps.LABEL.field
  if (e.lhs->kind == ExprKind::Member && e.lhs->lhs->kind == ExprKind::Name && e.lhs->lhs->text == "steps" && sc.labels) {
    Type ref = TypeOf(*e.lhs, sc);
    if (ref.kind == Kind::Error) return ref;
    static const std::map<std::string, Kind> kFields = {{"ok", Kind::Bool}, {"exit_code", Kind::Int}, {"stdout", Kind::String},
                                                        {"stderr", Kind::String}, {"status", Kind::Int}, {"body", Kind::String}};
    auto it = kFields.find(e.text);
    if (it == kFields.end()) {
      std::vector<std::string> names;
      for (auto& [k, v] : kFields) names.push_back(k);
      auto& diag = d_.Report(DiagCode::E201, e.name_range, fmt::format("a finished step has no `{}`", e.text));
      if (auto s = ClosestName(e.text, names)) diag.message += fmt::format("; did you mean `{}`?", *s);
      diag.Note(fmt::format("a step offers {}", OrList(names)));
      return Type::Of(Kind::Error);
    }
    return Type::Of(it->second);
  }
  Type l = TypeOf(*e.lhs, sc);
  switch (l.kind) {
    case Kind::EnvObject: {
      if (e.text == "name") return Type::Of(Kind::String);
      if (sc.uses) sc.uses->env_reads.emplace(e.text, Uses::EnvRead{e.range, std::nullopt});
      for (const auto& spec : kEnvReserved) {
        if (spec.name == e.text) {
          switch (spec.type) {
            case AT::Bool: return Type::Of(Kind::Bool);
            case AT::ApprovalList:
            case AT::FreezeList: return Type::ListOf(Kind::String);
            default: return Type::Of(Kind::String);
          }
        }
      }
      auto it = env_attr_types_.find(e.text);
      if (it != env_attr_types_.end()) return it->second;
      return Type::Of(Kind::Any);  // E304 reports the missing attribute per pipeline
    }
    case Kind::StepsObject: {
      if (!sc.labels->count(e.text)) {
        std::vector<std::string> names;
        for (auto& [k, v] : *sc.labels) names.push_back(k);
        auto& diag = d_.Report(DiagCode::E201, e.name_range, fmt::format("no step is labelled `{}`", e.text));
        if (auto s = ClosestName(e.text, names)) diag.message += fmt::format("; did you mean `{}`?", *s);
        else diag.Help(fmt::format("label a step with `{}: run \"...\"`", e.text));
        return Type::Of(Kind::Error);
      }
      const ast::Step* st = sc.labels->at(e.text);
      if (st->label) Refer(e.name_range, nullptr, &st->label->range);
      if (finished_ && !finished_->count(st)) {
        auto& diag = d_.Report(DiagCode::E201, e.range, fmt::format("`steps.{}` is read before step `{}` has finished", e.text, e.text));
        if (st->label) diag.Note(st->label->range, fmt::format("`{}` runs here, later (or alongside, in the same `parallel`)", e.text));
        diag.Help("read a step's result only in steps after it, or in `rollback`");
        return Type::Of(Kind::Error);
      }
      return Type::Of(Kind::StepRef);
    }
    case Kind::BaselineObject: {
      if (!sc.allow_baseline) {
        d_.Report(DiagCode::E308, e.range, fmt::format("`baseline.{}` can only be read in a pipeline's `expect` after it is measured", e.text));
        return Type::Of(Kind::Float);
      }
      if (sc.uses) sc.uses->baseline_reads.push_back({e.text, e.range});
      return Type::Of(Kind::Float);
    }
    case Kind::Any:
    case Kind::Error: return l;
    default:
      d_.Report(DiagCode::E301, e.name_range, fmt::format("a value of type `{}` has no attribute `{}`", ToString(l), e.text));
      return Type::Of(Kind::Error);
  }
}

void Checker::CheckUrl(const ast::Expr& url, Scope& sc) {
  bool in_query = false;
  for (const auto& part : url.parts) {
    if (!part.expr) {
      if (part.text.find('?') != std::string::npos) in_query = true;
      continue;
    }
    if (in_query && HasSecret(*part.expr, sc)) {
      d_.Report(DiagCode::E307, part.expr->range, "a secret cannot appear in a URL's query string (it would be logged by proxies and servers)")
          .Help("send it in a header instead: `{ headers = { Authorization = \"Bearer ${token}\" } }`");
    }
  }
  Scope inner = sc;
  TypeOf(url, inner);
}

// ---- attributes -------------------------------------------------------------------------------
void Checker::CheckAttrValue(const ast::Attr& a, const AttrSpec& spec, Scope& sc) {
  const ast::Expr& v = *a.value;
  std::string what;  // "`name`"; not fmt::format: this runs for every attribute
  what.reserve(a.key.name.size() + 2);
  what += '`';
  what += a.key.name;
  what += '`';
  switch (spec.type) {
    case AT::Str: Expect(v, Type::Of(Kind::String), sc, what); break;
    case AT::Int: Expect(v, Type::Of(Kind::Int), sc, what); break;
    case AT::NonNegInt:
      Expect(v, Type::Of(Kind::Int), sc, what);
      if (v.kind == ExprKind::Unary && v.text == "-") d_.Report(DiagCode::E309, v.range, fmt::format("{} cannot be negative", what));
      break;
    case AT::PosInt:
      Expect(v, Type::Of(Kind::Int), sc, what);
      if ((v.kind == ExprKind::Unary && v.text == "-") || (v.kind == ExprKind::Int && v.number < 1))
        d_.Report(DiagCode::E309, v.range, fmt::format("{} must be at least 1", what));
      break;
    case AT::Bool: Expect(v, Type::Of(Kind::Bool), sc, what); break;
    case AT::Dur: Expect(v, Type::Of(Kind::Duration), sc, what); break;
    case AT::Map: Expect(v, Type::Of(Kind::Map), sc, what); break;
    case AT::Any: TypeOf(v, sc); break;
    case AT::NumOrPercent: {
      Type t = TypeOf(v, sc);
      if (!(t.kind == Kind::Int || t.kind == Kind::Percent || t.kind == Kind::Any || t.kind == Kind::Error))
        d_.Report(DiagCode::E301, v.range, fmt::format("{} must be `int` or `percent`, found `{}`", what, ToString(t)));
      break;
    }
    case AT::StrList: {
      Type t = TypeOf(v, sc);
      if (t.kind == Kind::String) break;  // a single value is accepted where a list is
      if (!Assignable(t, Type::ListOf(Kind::String))) d_.Report(DiagCode::E301, v.range, fmt::format("{} must be `[string]`, found `{}`", what, ToString(t)));
      break;
    }
    case AT::Cron: {
      Expect(v, Type::Of(Kind::Cron), sc, what);
      std::string text;
      if (v.IsPlainString(&text)) {
        if (auto err = lit::CronError(text)) d_.Report(DiagCode::E305, v.range, CronMessage(*err));
      }
      break;
    }
    case AT::Window: {
      Expect(v, Type::Of(Kind::String), sc, what);
      std::string text, err;
      if (v.IsPlainString(&text) && !lit::ParseWindow(text, &err))
        d_.Report(DiagCode::E306, v.range, fmt::format("`{}` is not a valid window: {}", text, err)).Help("a window looks like `Mon-Thu 09:00-16:00 UTC`");
      break;
    }
    case AT::FreezeList: {
      if (v.kind != ExprKind::List) {
        Expect(v, Type::ListOf(Kind::String), sc, what);
        break;
      }
      for (const auto& it : v.items) {
        std::string text, err;
        Expect(*it, Type::Of(Kind::String), sc, "a freeze period");
        if (it->IsPlainString(&text) && !lit::ParseFreeze(text, &err))
          d_.Report(DiagCode::E306, it->range, fmt::format("`{}` is not a valid freeze period: {}", text, err)).Help("a freeze period is a day `2027-04-02` or a range of days `2026-12-20..2027-01-03`");
      }
      break;
    }
    case AT::EnvList:
    case AT::ApprovalList: {
      const bool envs = spec.type == AT::EnvList;
      if (v.kind != ExprKind::List) {
        d_.Report(DiagCode::E301, v.range, fmt::format("{} must be a list of {} names, e.g. `[{}]`", what, envs ? "environment" : "approval", envs ? "staging, production" : "release"));
        break;
      }
      for (const auto& it : v.items) {
        if (it->kind != ExprKind::Name) {
          d_.Report(DiagCode::E301, it->range, fmt::format("expected the name of {} (not a string)", envs ? "an environment" : "an approval"));
          continue;
        }
        ast::Ident id{it->text, it->range};
        Resolve(sc.module, envs ? ast::DeclKind::Environment : ast::DeclKind::Approval, id);
      }
      break;
    }
    case AT::Enum: {
      std::vector<std::string> values;
      std::string_view rest = spec.values;
      while (!rest.empty()) {
        auto bar = rest.find('|');
        values.emplace_back(rest.substr(0, bar));
        rest = bar == std::string_view::npos ? std::string_view() : rest.substr(bar + 1);
      }
      std::string got;
      if (v.kind == ExprKind::Name) got = v.text;
      else if (v.IsPlainString(&got)) {}
      if (std::find(values.begin(), values.end(), got) == values.end()) {
        auto& diag = d_.Report(DiagCode::E309, v.range, fmt::format("{} must be one of {}", what, OrList(values)));
        if (auto s = ClosestName(got, values)) diag.message += fmt::format("; did you mean `{}`?", *s);
      }
      break;
    }
  }
}

void Checker::CheckAttrs(std::span<const ast::Attr> attrs, const Specs& specs, Scope& sc, std::string_view block,
                         SourceRange block_range, bool free, const Specs* extra) {
  std::map<std::string, const ast::Attr*> seen;
  for (const auto& a : attrs) {
    auto [it, inserted] = seen.emplace(a.key.name, &a);
    if (!inserted) {
      d_.Report(DiagCode::E202, a.key.range, fmt::format("`{}` is set twice in {}", a.key.name, block)).Note(it->second->key.range, "first set here");
      continue;
    }
    const AttrSpec* spec = nullptr;
    for (const auto* list : {&specs, extra}) {
      if (!list) continue;
      for (const auto& s : *list) {
        if (s.name == a.key.name) spec = &s;
      }
    }
    if (spec) {
      CheckAttrValue(a, *spec, sc);
    } else if (free) {
      TypeOf(*a.value, sc);
    } else {
      std::vector<std::string> names;
      for (const auto* list : {&specs, extra}) {
        if (!list) continue;
        for (const auto& s : *list) names.emplace_back(s.name);
      }
      auto& diag = d_.Report(DiagCode::E302, a.key.range, fmt::format("{} has no attribute `{}`", block, a.key.name));
      if (auto s = ClosestName(a.key.name, names)) diag.message += fmt::format("; did you mean `{}`?", *s);
      else if (!names.empty()) diag.Note(fmt::format("{} takes {}", block, OrList(names)));
      else diag.Note(fmt::format("{} takes no attributes", block));
      TypeOf(*a.value, sc);
    }
  }
  for (const auto* list : {&specs, extra}) {
    if (!list) continue;
    for (const auto& s : *list) {
      if (s.required && !seen.count(std::string(s.name))) {
        d_.Report(DiagCode::E303, block_range, fmt::format("{} needs `{}`", block, s.name));
      }
    }
  }
}

// ---- probes and check lists ------------------------------------------------------------------------
void Checker::CheckProbe(const ast::Probe& p, Scope& sc, std::string_view where, bool needs_expect) {
  Scope s = sc;
  s.secret_forbidden = {};
  const Specs* opts = &kRunProbeOpts;
  const std::map<std::string, Type>* results = &kRunResults;
  switch (p.kind) {
    case ast::ProbeKind::Run: TypeOf(*p.target, s); break;
    case ast::ProbeKind::Http:
      opts = &kHttpProbeOpts;
      results = &kHttpResults;
      if (IsMutatingMethod(p.method)) {
        d_.Report(DiagCode::E404, p.method_range, fmt::format("`http {}` changes things and cannot be used as a probe in {}", p.method, where))
            .Help("probes only observe; move the request into a `stage`");
      }
      CheckUrl(*p.target, s);
      break;
    case ast::ProbeKind::Prometheus:
      opts = &kPromProbeOpts;
      results = &kPromResults;
      TypeOf(*p.target, s);
      if (p.at) {
        CheckUrl(*p.at, s);  // the query-string rule for secrets (E307)
        Expect(*p.at, Type::Of(Kind::String), s, "the Prometheus address after `at`");
      } else if (sc.uses) {
        sc.uses->prom_no_at.push_back(p.range);
      }
      if (!p.expect && needs_expect) {
        d_.Report(DiagCode::E303, p.range, "a `prometheus` probe needs `expect` (there is no default condition)")
            .Help("add e.g. `expect value < 1%`");
      }
      break;
  }
  CheckAttrs(p.opts, *opts, s, fmt::format("a `{}` probe", p.kind == ast::ProbeKind::Run ? "run" : p.kind == ast::ProbeKind::Http ? "http" : "prometheus"), p.range);
  if (p.expect) {
    Scope ex = s;
    ex.results = results;
    ex.http_expect = p.kind == ast::ProbeKind::Http;
    Expect(*p.expect, Type::Of(Kind::Bool), ex, "`expect`");
  }
}

void Checker::CheckChecks(const std::vector<ast::CheckItem>& items, Scope& sc, std::string_view where) {
  std::set<std::string> labels;
  for (const auto& it : items) {
    switch (it.kind) {
      case ast::CheckItem::Check: {
        Scope ts = sc;
        ts.secret_forbidden = "a check's label";
        TypeOf(*it.text, ts);
        CheckProbe(*it.probe, sc, where);
        break;
      }
      case ast::CheckItem::Confirm: {
        Scope ts = sc;
        ts.secret_forbidden = "a `confirm` text";
        TypeOf(*it.text, ts);
        break;
      }
      case ast::CheckItem::StepItem: {
        const ast::Step& s = *it.step;
        std::string what = s.kind == ast::StepKind::Run ? "`run`" : s.kind == ast::StepKind::Http ? fmt::format("`http {}`", s.method) : "a step";
        auto& diag = d_.Report(DiagCode::E404, s.head_range, fmt::format("{} is a step, and {} may hold only `check` probes and `confirm`", what, where));
        if (s.kind == ast::StepKind::Run || (s.kind == ast::StepKind::Http && !IsMutatingMethod(s.method)))
          diag.Help("to observe, write `check \"what it checks\" " + std::string(s.kind == ast::StepKind::Run ? "run" : "http") + " ...`; to change something, move it into a `stage`");
        else
          diag.Help("move it into a `stage`");
        break;
      }
    }
  }
}

// ---- steps --------------------------------------------------------------------------------------------
void Checker::CollectLabels(const ast::Steps& steps, std::map<std::string, const ast::Step*>& labels) {
  for (const auto& s : steps) {
    if (s.label) {
      auto [it, inserted] = labels.emplace(s.label->name, &s);
      if (!inserted) {
        d_.Report(DiagCode::E202, s.label->range, fmt::format("step label `{}` is used twice", s.label->name)).Note(it->second->label->range, "first used here");
      }
    }
    CollectLabels(s.children, labels);
    if (s.undo) CollectLabels(*s.undo, labels);
  }
}

void Checker::CheckSteps(const ast::Steps& steps, Scope& sc, StepCtx& ctx) {
  for (const auto& s : steps) CheckStep(s, sc, ctx);
}

void Checker::CheckStep(const ast::Step& s, Scope& sc, StepCtx& ctx) {
  Scope plain = sc;
  plain.secret_forbidden = {};
  switch (s.kind) {
    case ast::StepKind::Run:
      TypeOf(*s.target, plain);
      CheckAttrs(s.opts, kRunOpts, plain, "a `run` step", s.head_range);
      break;
    case ast::StepKind::Http:
      CheckUrl(*s.target, plain);
      CheckAttrs(s.opts, kHttpStepOpts, plain, "an `http` step", s.head_range);
      if (s.expect) {
        Scope ex = plain;
        ex.results = &kHttpResults;
        ex.http_expect = true;
        Expect(*s.expect, Type::Of(Kind::Bool), ex, "`expect`");
      }
      break;
    case ast::StepKind::Deploy: {
      const ast::Decl* svc = Resolve(sc.module, ast::DeclKind::Service, s.service);
      if (svc && sc.uses) {
        auto it = decl_uses_.find(svc);
        if (it != decl_uses_.end()) sc.uses->Merge(it->second, s.head_range);
      }
      Expect(*s.version, Type::Of(Kind::String), plain, "the version");
      if (s.strategy) CheckStrategy(s, *s.strategy, plain, ctx);
      break;
    }
    case ast::StepKind::Wait: break;
    case ast::StepKind::WaitUntil: {
      // The probe's option block holds the wait's own options (timeout = give up after, interval = poll every).
      const ast::Probe& p = *s.probe;
      Scope ps = plain;
      if (p.kind == ast::ProbeKind::Http && IsMutatingMethod(p.method))
        d_.Report(DiagCode::E404, p.method_range, fmt::format("`wait until http {}` would repeat a change; a probe must only observe", p.method));
      if (p.kind == ast::ProbeKind::Http) CheckUrl(*p.target, ps);
      else TypeOf(*p.target, ps);
      if (p.kind == ast::ProbeKind::Prometheus) {
        if (p.at) Expect(*p.at, Type::Of(Kind::String), ps, "the Prometheus address after `at`");
        else if (sc.uses) sc.uses->prom_no_at.push_back(p.range);
        if (!p.expect) d_.Report(DiagCode::E303, p.range, "a `prometheus` probe needs `expect` (there is no default condition)");
      }
      CheckAttrs(p.opts, kWaitUntilOpts, ps, "`wait until`", p.range);
      if (p.expect) {
        Scope ex = ps;
        ex.results = p.kind == ast::ProbeKind::Run ? &kRunResults : p.kind == ast::ProbeKind::Http ? &kHttpResults : &kPromResults;
        ex.http_expect = p.kind == ast::ProbeKind::Http;
        Expect(*p.expect, Type::Of(Kind::Bool), ex, "`expect`");
      }
      break;
    }
    case ast::StepKind::Parallel: {
      // Its children are judged one by one for W502, like steps outside it.
      StepCtx inner = ctx;
      inner.uncovered.clear();
      if (finished_) {
        // Children run side by side: none sees another finished.
        std::set<const ast::Step*> after = *finished_;
        for (const auto& child : s.children) {
          std::set<const ast::Step*> mine = *finished_;
          {
            FinishedScope alone(*this, &mine);
            CheckStep(child, sc, inner);
          }
          after.insert(mine.begin(), mine.end());
        }
        *finished_ = std::move(after);
      } else {
        CheckSteps(s.children, sc, inner);
      }
      ctx.untimed_pauses = inner.untimed_pauses;
      ctx.uncovered.insert(ctx.uncovered.end(), inner.uncovered.begin(), inner.uncovered.end());
      break;
    }
    case ast::StepKind::Notify: {
      Scope ns = sc;
      ns.secret_forbidden = "`notify` text";
      TypeOf(*s.target, ns);
      break;
    }
    case ast::StepKind::Approve: Resolve(sc.module, ast::DeclKind::Approval, s.name); break;
    case ast::StepKind::Call: {
      CheckCall(s, plain);
      // A pause with no duration inside the action is one in the pipeline that calls it (W503).
      if (auto it = call_targets_.find(&s); it != call_targets_.end()) {
        if (auto u = action_uses_.find(it->second); u != action_uses_.end())
          ctx.untimed_pauses.insert(ctx.untimed_pauses.end(), u->second.untimed_pauses.begin(), u->second.untimed_pauses.end());
      }
      break;
    }
  }
  if (s.when) Expect(*s.when, Type::Of(Kind::Bool), plain, "a `when` guard");
  if (finished_) finished_->insert(&s);  // from here on (its undo included) it has finished
  if (s.undo) {
    if (sc.uses) sc.uses->has_undo = true;
    StepCtx inner;
    inner.top = false;
    // An undo may never run: what finishes inside it is not finished for the steps after.
    std::set<const ast::Step*> in_undo = finished_ ? *finished_ : std::set<const ast::Step*>{};
    FinishedScope undo_scope(*this, finished_ ? &in_undo : nullptr);
    CheckSteps(*s.undo, sc, inner);
  }
  if (Mutates(s)) {
    if (sc.uses) sc.uses->mutating = true;
    bool covered = s.undo.has_value() || s.kind == ast::StepKind::Deploy;
    if (s.kind == ast::StepKind::Call) {
      auto it = call_targets_.find(&s);
      // An unresolved call was already reported (E201/E203); do not warn about it too.
      covered = covered || it == call_targets_.end() || action_uses_[it->second].has_undo;
    }
    if (s.kind == ast::StepKind::Parallel) covered = true;  // its children are judged one by one
    if (!covered && ctx.top) ctx.uncovered.push_back(&s);
  }
}

void Checker::CheckCall(const ast::Step& s, Scope& sc) {
  int module = sc.module;
  if (s.module) {
    auto& imports = p_.scopes[sc.module].imports;
    auto it = imports.find(s.module->name);
    if (it == imports.end()) {
      std::vector<std::string> names;
      for (auto& [k, v] : imports) names.push_back(k);
      auto& diag = d_.Report(DiagCode::E201, s.module->range, fmt::format("module `{}` is not imported", s.module->name));
      if (auto c = ClosestName(s.module->name, names)) {
        diag.message += fmt::format("; did you mean `{}`?", *c);
        used_imports_.insert({sc.module, *c});  // no W501 cascade for the import meant
      } else diag.Help(fmt::format("add `import \"std/{}\"` or `import \"./{}.trix\"`", s.module->name, s.module->name));
      for (const auto& a : s.args) TypeOf(*a.value, sc);
      return;
    }
    used_imports_.insert({sc.module, s.module->name});
    for (const auto& e : p_.load.modules[sc.module]->imports) {
      if (e.binding == s.module->name) Refer(s.module->range, e.decl, &e.decl->title->range);
    }
    if (it->second < 0) {
      for (const auto& a : s.args) TypeOf(*a.value, sc);
      return;  // E203 already reported
    }
    module = it->second;
  }
  auto& actions = p_.scopes[module].actions;
  auto at = actions.find(s.name.name);
  if (at == actions.end()) {
    auto& diag = d_.Report(DiagCode::E201, s.name.range,
                           s.module ? fmt::format("module `{}` has no action `{}`", s.module->name, s.name.name)
                                    : fmt::format("action `{}` is not declared", s.name.name));
    if (auto c = ClosestName(s.name.name, Keys(actions))) {
      diag.message += fmt::format("; did you mean `{}`?", *c);
      Use(actions.at(*c));  // no W501 cascade for the action meant
    }
    for (const auto& a : s.args) TypeOf(*a.value, sc);
    return;
  }
  const ast::Decl* action = at->second;
  Use(action);
  Refer(s.name.range, action);
  call_targets_[&s] = action;
  const Uses& au = ActionUses(module, action, &s);
  // Arguments: positional first, then named; each parameter once; defaults fill the rest.
  const auto& params = action->params;
  std::vector<const ast::Arg*> bound(params.size(), nullptr);
  bool named_seen = false;
  std::size_t pos = 0;
  std::string callee = s.module ? s.module->name + "." + s.name.name : s.name.name;
  for (const auto& a : s.args) {
    if (!a.name) {
      if (named_seen) {
        d_.Report(DiagCode::E205, a.value->range, fmt::format("a positional argument cannot follow a named one in `{}(...)`", callee));
        continue;
      }
      if (pos >= params.size()) {
        d_.Report(DiagCode::E205, a.value->range, fmt::format("`{}` takes {} argument{}, but {} were given", callee, params.size(), params.size() == 1 ? "" : "s", s.args.size()))
            .Note(action->name.range, fmt::format("`{}` is declared here", s.name.name));
        continue;
      }
      bound[pos++] = &a;
      continue;
    }
    named_seen = true;
    std::size_t idx = params.size();
    for (std::size_t i = 0; i < params.size(); ++i) {
      if (params[i].name.name == a.name->name) idx = i;
    }
    if (idx == params.size()) {
      std::vector<std::string> names;
      for (const auto& p : params) names.push_back(p.name.name);
      auto& diag = d_.Report(DiagCode::E205, a.name->range, fmt::format("`{}` has no parameter `{}`", callee, a.name->name));
      if (auto c = ClosestName(a.name->name, names)) {
        diag.message += fmt::format("; did you mean `{}`?", *c);
        // Recover as if the suggestion had been written, so the parameter is
        // not also reported as missing.
        for (std::size_t i = 0; i < params.size(); ++i) {
          if (params[i].name.name == *c && !bound[i]) bound[i] = &a;
        }
      } else {
        diag.Note(fmt::format("its parameters are {}", OrList(names)));
      }
      continue;
    }
    if (bound[idx]) {
      d_.Report(DiagCode::E205, a.name->range, fmt::format("parameter `{}` of `{}` is given twice", a.name->name, callee));
      continue;
    }
    bound[idx] = &a;
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    const ast::Param& p = params[i];
    const Type want = ActionParamType(p);
    if (!bound[i]) {
      if (!p.default_value) {
        d_.Report(DiagCode::E205, s.head_range, fmt::format("`{}` needs argument `{}`", callee, p.name.name))
            .Note(p.name.range, "the parameter is declared here");
      } else if (sc.uses) {
        // Reads of `env.X` in the default happen at this call site.
        Uses du;
        Scope ds;
        ds.module = module;
        ds.uses = &du;
        ast::ForEachExpr(*p.default_value, [&](const ast::Expr& e) {
          if (e.kind == ExprKind::Member && e.lhs && e.lhs->kind == ExprKind::Name && e.lhs->text == "env" && e.text != "name")
            du.env_reads.emplace(e.text, Uses::EnvRead{e.range, std::nullopt});
        });
        sc.uses->Merge(du, s.head_range);
      }
      continue;
    }
    Type t = TypeOf(*bound[i]->value, sc);
    const Type w = want.kind == Kind::List ? Type::Of(Kind::Any) : want;
    if (want.kind == Kind::String && t.kind == Kind::Secret) {
      d_.Report(DiagCode::E301, bound[i]->value->range, fmt::format("parameter `{}` of `{}` is a `string`, and a secret must not become one", p.name.name, callee))
          .Help(fmt::format("declare the parameter as `{}: secret`", p.name.name));
    } else if (!Assignable(t, w)) {
      d_.Report(DiagCode::E301, bound[i]->value->range, fmt::format("parameter `{}` of `{}` is `{}`, found `{}`", p.name.name, callee, ToString(w), ToString(t)));
    }
  }
  if (sc.uses) sc.uses->Merge(au, s.head_range);
}

void Checker::CheckStrategy(const ast::Step& s, const ast::Strategy& st, Scope& sc, StepCtx& ctx) {
  if (st.kind == ast::StrategyKind::Rolling) {
    CheckAttrs(st.attrs, kRollingAttrs, sc, "`rolling`", st.range);
    return;
  }
  const bool canary = st.kind == ast::StrategyKind::Canary;
  double last = 0;
  const ast::StrategyItem* last_weight = nullptr;
  bool promoted = false;
  for (const auto& it : st.items) {
    switch (it.kind) {
      case ast::StrategyItemKind::Weight:
        if (it.percent > 1.0 + 1e-12) {
          d_.Report(DiagCode::E403, it.range, fmt::format("canary weight `{}` is above 100%", it.spelling));
        } else if (last_weight && it.percent <= last + 1e-12) {
          d_.Report(DiagCode::E403, it.range, fmt::format("canary weights must strictly increase: `{}` follows `{}`", it.spelling, last_weight->spelling))
              .Note(last_weight->range, "the previous weight");
        }
        last = std::max(last, it.percent);
        last_weight = &it;
        break;
      case ast::StrategyItemKind::Pause:
        if (!it.duration_ms) ctx.untimed_pauses.push_back(it.range);
        break;
      case ast::StrategyItemKind::Analyze: {
        const ast::Decl* a = Resolve(sc.module, ast::DeclKind::Analysis, it.name);
        if (a && sc.uses) {
          auto u = decl_uses_.find(a);
          if (u != decl_uses_.end()) sc.uses->Merge(u->second, it.range);
        }
        break;
      }
      case ast::StrategyItemKind::Promote:
        if (promoted) d_.Report(DiagCode::E202, it.range, "`promote` appears twice in one blue-green rollout");
        promoted = true;
        break;
      case ast::StrategyItemKind::Attr: break;  // checked below
    }
  }
  // Check attributes in place (they are owned by the items).
  std::vector<const ast::Attr*> attr_ptrs;
  for (const auto& it : st.items) {
    if (it.kind == ast::StrategyItemKind::Attr) attr_ptrs.push_back(&it.attr);
  }
  {
    std::map<std::string, const ast::Attr*> seen;
    const Specs& specs = canary ? kCanaryAttrs : kBlueGreenAttrs;
    for (const ast::Attr* a : attr_ptrs) {
      if (!seen.emplace(a->key.name, a).second) {
        d_.Report(DiagCode::E202, a->key.range, fmt::format("`{}` is set twice", a->key.name));
        continue;
      }
      const AttrSpec* spec = nullptr;
      for (const auto& sp : specs) {
        if (sp.name == a->key.name) spec = &sp;
      }
      if (spec) {
        CheckAttrValue(*a, *spec, sc);
      } else {
        std::vector<std::string> names;
        for (const auto& sp : specs) names.emplace_back(sp.name);
        auto& diag = d_.Report(DiagCode::E302, a->key.range, fmt::format("`{}` has no attribute `{}`", canary ? "canary" : "blue_green", a->key.name));
        if (auto c = ClosestName(a->key.name, names)) diag.message += fmt::format("; did you mean `{}`?", *c);
        else diag.Note(fmt::format("it takes {}", OrList(names)));
      }
    }
  }
  if (canary) {
    if (!last_weight) {
      d_.Report(DiagCode::E403, st.range, "a canary needs at least one `weight`, and the last must be `100%`").Help("end the steps with `weight 100%`");
    } else if (std::abs(last_weight->percent - 1.0) > 1e-12 && last_weight->percent <= 1.0) {
      d_.Report(DiagCode::E403, last_weight->range, fmt::format("the last canary weight is `{}`; a canary must end at `100%`", last_weight->spelling))
          .Help("add `weight 100%` as the last step");
    }
  }
  (void)s;
}

const Uses& Checker::ActionUses(int module, const ast::Decl* action, const ast::Step* call) {
  auto it = action_uses_.find(action);
  if (it != action_uses_.end() && !action_active_.count(action)) return it->second;
  if (action_active_.count(action)) {
    // Recursion: reported once per action, at the call that closes the cycle.
    if (!recursion_reported_.count(action)) {
      recursion_reported_.insert(action);
      std::vector<std::string> chain;
      bool on = false;
      for (const ast::Decl* a : action_stack_) {
        on = on || a == action;
        if (on) chain.push_back("`" + a->name.name + "`");
      }
      chain.push_back("`" + action->name.name + "`");
      const SourceRange at = call ? call->head_range : action->name.range;
      if (chain.size() <= 2) {
        d_.Report(DiagCode::E206, at, fmt::format("action `{}` calls itself", action->name.name))
            .Help("actions are expanded inline, so recursion has no end; to repeat, use `retries` or `wait until`");
      } else {
        d_.Report(DiagCode::E206, at, fmt::format("action `{}` calls itself through other actions: {}", action->name.name, Join(chain, " -> ")))
            .Note(action->name.range, fmt::format("`{}` is declared here", action->name.name))
            .Help("actions are expanded inline, so recursion has no end; to repeat, use `retries` or `wait until`");
      }
    }
    return action_uses_[action];
  }
  action_active_.insert(action);
  action_stack_.push_back(action);
  action_module_[action] = module;
  Uses uses;
  std::map<std::string, Type> locals;
  std::set<std::string> names;
  Scope ps;
  ps.module = module;
  ps.what = "an action parameter's default";
  for (const auto& p : action->params) {
    if (!names.insert(p.name.name).second) {
      d_.Report(DiagCode::E202, p.name.range, fmt::format("parameter `{}` is declared twice", p.name.name));
    }
    CheckNotBuiltin(p.name, "parameter");
    const Type t = ActionParamType(p);
    if (p.default_value) {
      Uses ignored;  // default reads are attributed to call sites
      ps.uses = &ignored;
      Type dt = TypeOf(*p.default_value, ps);
      if (!Assignable(dt, t)) d_.Report(DiagCode::E301, p.default_value->range, fmt::format("the default of `{}` must be `{}`, found `{}`", p.name.name, ToString(t), ToString(dt)));
    }
    locals[p.name.name] = t;
  }
  std::map<std::string, const ast::Step*> labels;
  CollectLabels(action->steps, labels);
  Scope sc;
  sc.module = module;
  sc.locals = &locals;
  sc.locals_owner = action;
  sc.uses = &uses;
  sc.labels = &labels;
  sc.what = "an action";
  StepCtx ctx;
  std::set<const ast::Step*> finished;
  {
    FinishedScope in_action(*this, &finished);
    CheckSteps(action->steps, sc, ctx);
  }
  uses.untimed_pauses = ctx.untimed_pauses;
  action_stack_.pop_back();
  action_active_.erase(action);
  action_uses_[action] = uses;
  return action_uses_[action];
}

// ---- declarations ---------------------------------------------------------------------------------------
void Checker::CheckEnvironments() {
  for (const ast::Decl* d : InOrder(0, ast::DeclKind::Environment)) {
    Scope sc;
    sc.module = 0;
    sc.allow_env = false;
    sc.what = "an environment's attributes";
    // An environment's attributes reach plans, URLs and emitted files as text (`env.api`).
    sc.secret_forbidden = "an environment's attributes";
    CheckAttrs(d->attrs, kEnvReserved, sc, fmt::format("environment `{}`", d->name.name), d->range, /*free=*/true);
  }
  // The type of `env.X` is that of the first environment, by name, that defines X.
  for (const auto& [name, d] : p_.scopes[0].environments) {
    for (const auto& a : d->attrs) {
      bool reserved = false;
      for (const auto& s : kEnvReserved) reserved = reserved || s.name == a.key.name;
      if (reserved || a.key.name == "name") {
        if (a.key.name == "name") d_.Report(DiagCode::E309, a.key.range, "`name` is set by Trix (`env.name` is the environment's name)");
        continue;
      }
      Type t;  // the type other declarations see for env.X (values were checked above)
      switch (a.value->kind) {
        case ExprKind::String: t = Type::Of(Kind::String); break;
        case ExprKind::Int: t = Type::Of(Kind::Int); break;
        case ExprKind::Float: t = Type::Of(Kind::Float); break;
        case ExprKind::Bool: t = Type::Of(Kind::Bool); break;
        case ExprKind::Duration: t = Type::Of(Kind::Duration); break;
        case ExprKind::Percent: t = Type::Of(Kind::Percent); break;
        case ExprKind::List: t = Type::ListOf(Kind::Any); break;
        case ExprKind::Map: t = Type::Of(Kind::Map); break;
        default: t = Type::Of(Kind::Any); break;
      }
      env_attr_types_.emplace(a.key.name, t);
    }
  }
}

// Parameter defaults that depend on each other in a circle (`a = b`, `b = a`)
// have no value: E301 at the first parameter of each circle, naming it.
void Checker::ReportDefaultCycles(int module) {
  const auto& params = p_.scopes[module].params;
  std::map<const ast::Decl*, std::vector<const ast::Decl*>> deps;
  for (const ast::Decl* d : InOrder(module, ast::DeclKind::Param)) {
    if (!d->value) continue;
    ast::ForEachExpr(*d->value, [&](const ast::Expr& e) {
      if (e.kind != ExprKind::Name) return;
      if (auto it = params.find(e.text); it != params.end() && it->second != d) deps[d].push_back(it->second);
    });
  }
  std::set<const ast::Decl*> done;  // on a reported circle, or known to reach none
  for (const ast::Decl* start : InOrder(module, ast::DeclKind::Param)) {
    if (done.count(start)) continue;
    // Depth-first from `start`, looking for a way back to it.
    std::vector<const ast::Decl*> path{start};
    std::vector<std::size_t> next{0};
    std::set<const ast::Decl*> seen{start};
    bool found = false;
    while (!path.empty() && !found) {
      const auto& out = deps[path.back()];
      if (next.back() == out.size()) {
        path.pop_back();
        next.pop_back();
        continue;
      }
      const ast::Decl* n = out[next.back()++];
      if (n == start) {
        found = true;
      } else if (!seen.count(n) && !done.count(n)) {
        seen.insert(n);
        path.push_back(n);
        next.push_back(0);
      }
    }
    if (!found) continue;
    std::string chain;
    for (const ast::Decl* p : path) {
      chain += "`" + p->name.name + "` -> ";
      done.insert(p);
    }
    chain += "`" + start->name.name + "`";
    d_.Report(DiagCode::E301, start->value->range, fmt::format("the default of `{}` depends on itself: {}", start->name.name, chain))
        .Help("give one of these parameters a default that does not name the others");
  }
}

void Checker::CheckParamsSecretsRoles(int module) {
  for (const ast::Decl* d : InOrder(module, ast::DeclKind::Param)) {
    const std::string& name = d->name.name;
    if (!d->value) {
      if (d->type && d->type->kind == ast::TypeKind::Secret) {
        d_.Report(DiagCode::E301, d->type->range, fmt::format("a parameter cannot be a `secret`; declare `secret {} = env(\"...\")` instead", name));
      }
      continue;
    }
    Scope sc;
    sc.module = module;
    sc.env_functions = true;
    sc.allow_env = false;
    sc.what = "a parameter default";
    ast::TypeKind k = d->type ? d->type->kind : ast::TypeKind::String;
    if (k == ast::TypeKind::Environment || k == ast::TypeKind::Role) {
      if (d->value->kind != ExprKind::Name) {
        d_.Report(DiagCode::E301, d->value->range, fmt::format("the default of `{}` must name {}", name, k == ast::TypeKind::Environment ? "an environment" : "a role"));
      } else {
        Resolve(module, k == ast::TypeKind::Environment ? ast::DeclKind::Environment : ast::DeclKind::Role, {d->value->text, d->value->range});
      }
      continue;
    }
    if (d->value->kind == ExprKind::Name && d->value->text == name) {
      d_.Report(DiagCode::E301, d->value->range, fmt::format("the default of `{}` refers to itself", name));
      continue;
    }
    Type t = TypeOf(*d->value, sc);
    const Type want = DeclaredType(d->type ? &*d->type : nullptr);
    if (k == ast::TypeKind::Secret) {
      d_.Report(DiagCode::E301, d->type->range, fmt::format("a parameter cannot be a `secret`; declare `secret {} = env(\"...\")` instead", name));
    } else if (!Assignable(t, want)) {
      d_.Report(DiagCode::E301, d->value->range, fmt::format("parameter `{}` is `{}`, but its default is `{}`", name, ToString(want), ToString(t)));
    }
    std::string text;
    if (k == ast::TypeKind::Cron && d->value->IsPlainString(&text)) {
      if (auto err = lit::CronError(text)) d_.Report(DiagCode::E305, d->value->range, CronMessage(*err));
    }
  }
  ReportDefaultCycles(module);
  for (const ast::Decl* d : InOrder(module, ast::DeclKind::Secret)) {
    const std::string& name = d->name.name;
    const ast::Expr& v = *d->value;
    bool ok = v.kind == ExprKind::Call && v.lhs->kind == ExprKind::Name && (v.lhs->text == "env" || v.lhs->text == "file");
    if (!ok) {
      d_.Report(DiagCode::E301, v.range, fmt::format("secret `{}` must be read with `env(\"NAME\")` or `file(\"path\")`", name))
          .Help("secrets never appear as literals in a runbook");
      continue;
    }
    Scope sc;
    sc.module = module;
    sc.env_functions = true;
    sc.allow_env = false;
    sc.what = "a secret";
    TypeOf(v, sc);
  }
  for (const ast::Decl* d : InOrder(module, ast::DeclKind::Role)) {
    const std::string& name = d->name.name;
    const ast::Expr& v = *d->value;
    if (v.kind != ExprKind::List) {
      d_.Report(DiagCode::E301, v.range, fmt::format("role `{}` must be a list of people, e.g. `[\"alice\", \"bob\"]`", name));
      continue;
    }
    for (const auto& it : v.items) {
      if (!it->IsPlainString()) d_.Report(DiagCode::E301, it->range, "a role member must be a plain string (a login name)");
    }
  }
}

void Checker::CheckGate(const ast::Decl& d) {
  Uses& u = decl_uses_[&d];
  Scope sc;
  sc.module = module_;
  sc.uses = &u;
  sc.allow_baseline = true;
  sc.what = "a gate";
  Scope title = sc;
  title.secret_forbidden = "a title";
  if (d.title) TypeOf(*d.title, title);
  CheckChecks(d.checks, sc, fmt::format("gate `{}`", d.name.name));
}

void Checker::CheckApproval(const ast::Decl& d) {
  Uses& u = decl_uses_[&d];
  Scope sc;
  sc.module = module_;
  sc.uses = &u;
  sc.what = "an approval";
  CheckAttrs(d.attrs, kApprovalAttrs, sc, fmt::format("approval `{}`", d.name.name), d.range);
  if (d.requires_.empty()) {
    d_.Report(DiagCode::E402, d.name.range, fmt::format("approval `{}` requires nobody; add `require ROLE`", d.name.name));
  }
  for (const auto& r : d.requires_) {
    std::set<std::string> people;
    bool all_resolved = true;
    for (const auto& role : r.roles) {
      const ast::Decl* rd = Resolve(module_, ast::DeclKind::Role, role);
      if (!rd) {
        all_resolved = false;
        continue;
      }
      std::size_t before = people.size();
      if (rd->value && rd->value->kind == ExprKind::List) {
        for (const auto& it : rd->value->items) {
          std::string who;
          if (it->IsPlainString(&who)) people.insert(who);
        }
      }
      if (r.quorum == 0 && people.size() == before) {
        d_.Report(DiagCode::E402, role.range, fmt::format("approval `{}` requires role `{}`, which has no members", d.name.name, role.name))
            .Note(rd->name.range, "the role is declared here");
      } else if (r.quorum > 0 && rd->value && rd->value->kind == ExprKind::List && rd->value->items.empty()) {
        // Listed in a quorum, an empty role is a mistake even when the others have people enough.
        d_.Report(DiagCode::E402, role.range, fmt::format("approval `{}` counts role `{}` in its quorum, but the role has no members", d.name.name, role.name))
            .Note(rd->name.range, "the role is declared here");
      }
    }
    if (r.quorum > 0 && all_resolved && people.size() < static_cast<std::size_t>(r.quorum)) {
      d_.Report(DiagCode::E402, r.range, fmt::format("approval `{}` needs {} distinct people, but its roles have only {}", d.name.name, r.quorum, people.size()));
    }
    if (r.when) Expect(*r.when, Type::Of(Kind::Bool), sc, "a `when` guard");
  }
}

void Checker::CheckAnalysis(const ast::Decl& d) {
  Uses& u = decl_uses_[&d];
  Scope sc;
  sc.module = module_;
  sc.uses = &u;
  sc.what = "an analysis";
  std::map<std::string, const ast::Metric*> seen;
  if (d.metrics.empty()) d_.Report(DiagCode::E303, d.name.range, fmt::format("analysis `{}` has no `metric`", d.name.name));
  for (const auto& m : d.metrics) {
    auto [it, inserted] = seen.emplace(m.name.name, &m);
    if (!inserted) d_.Report(DiagCode::E202, m.name.range, fmt::format("metric `{}` is declared twice", m.name.name)).Note(it->second->name.range, "first declared here");
    CheckProbe(*m.probe, sc, fmt::format("analysis `{}`", d.name.name));
    CheckAttrs(m.attrs, kMetricAttrs, sc, fmt::format("metric `{}`", m.name.name), m.range);
  }
}

void Checker::CheckService(const ast::Decl& d) {
  Uses& u = decl_uses_[&d];
  Scope sc;
  sc.module = module_;
  sc.uses = &u;
  sc.what = "a service";
  const ast::Attr* prov = FindAttr(d.attrs, "provider");
  std::string provider;
  if (prov && prov->value->kind == ExprKind::Name) provider = prov->value->text;
  else if (prov) prov->value->IsPlainString(&provider);
  // Without a valid provider (E303/E309 says so) the provider-specific
  // attributes cannot be told apart: accept those of any provider, so only
  // names no provider knows are reported.
  const Specs* extra = &kAnyProviderAttrs;
  std::string block = fmt::format("service `{}`", d.name.name);
  if (provider == "k8s" || provider == "nginx" || provider == "command") {
    extra = provider == "k8s" ? &kK8sAttrs : provider == "nginx" ? &kNginxAttrs : &kCommandAttrs;
    block += fmt::format(" ({})", provider);
  }
  // `command` providers run user commands with `${version}` and `${weight}` (spec §7).
  if (provider == "command") sc.locals = &kCommandVars;
  CheckAttrs(d.attrs, kServiceCommon, sc, block, d.range, false, extra);
}

void Checker::CheckAlertOrGitops(const ast::Decl& d) {
  Scope sc;
  sc.module = module_;
  Uses u;
  sc.uses = &u;
  sc.what = d.kind == ast::DeclKind::Alert ? "an alert" : "gitops";
  sc.allow_env = d.kind == ast::DeclKind::Gitops;
  CheckAttrs(d.attrs, d.kind == ast::DeclKind::Alert ? kAlertAttrs : kGitopsAttrs, sc,
             fmt::format("{} `{}`", d.kind == ast::DeclKind::Alert ? "alert" : "gitops", d.name.name), d.range);
  if (d.kind == ast::DeclKind::Gitops && !u.env_reads.empty()) {
    if (!all_envs_by_name_) {
      all_envs_by_name_.emplace();
      for (auto& [k, e] : p_.scopes[0].environments) all_envs_by_name_->push_back(e);
    }
    CheckEnvReads(fmt::format("gitops `{}`", d.name.name), u, *all_envs_by_name_, &all_envs_by_name_reads_);
  }
}

Checker::EnvReadSummary Checker::SummarizeEnvRead(const std::string& attr, const std::vector<const ast::Decl*>& targets) {
  EnvReadSummary out;
  for (const ast::Decl* env : targets) {
    const ast::Attr* a = FindAttr(env->attrs, attr);
    if (!a) {
      // Only `protected` has a value when left out (false); reading any other attribute an environment lacks is E304.
      if (attr != "protected") out.missing.push_back(env->name.name);
      continue;
    }
    std::string t;
    switch (a->value->kind) {
      case ExprKind::String: t = "string"; break;
      case ExprKind::Int: t = "int"; break;
      case ExprKind::Float: t = "float"; break;
      case ExprKind::Bool: t = "bool"; break;
      case ExprKind::Duration: t = "duration"; break;
      case ExprKind::Percent: t = "percent"; break;
      case ExprKind::List: t = "list"; break;
      default: t = "any"; break;
    }
    if (t != "any") out.by_type[t].push_back(env->name.name);
  }
  return out;
}

void Checker::CheckEnvReads(const std::string& who, const Uses& uses, const std::vector<const ast::Decl*>& targets,
                            EnvReadCache* cache) {
  for (const auto& [attr, read] : uses.env_reads) {
    const SourceRange range = read.at;
    EnvReadSummary local;
    const EnvReadSummary* summary = &local;
    if (cache) {
      auto it = cache->find(attr);
      if (it == cache->end()) it = cache->emplace(attr, SummarizeEnvRead(attr, targets)).first;
      summary = &it->second;
    } else {
      local = SummarizeEnvRead(attr, targets);
    }
    const std::vector<std::string>& missing = summary->missing;
    const std::map<std::string, std::vector<std::string>>& by_type = summary->by_type;
    if (!missing.empty()) {
      std::vector<std::string> have;
      std::vector<std::string> all_attrs;
      for (auto& [k, v] : env_attr_types_) all_attrs.push_back(k);
      // OrList joins with "or"; for a list of lacking environments "and" reads better.
      std::string joined;
      for (std::size_t i = 0; i < missing.size(); ++i) joined += (i ? (i + 1 == missing.size() ? " and " : ", ") : "") + ("`" + missing[i] + "`");
      auto& diag = d_.Report(DiagCode::E304, range,
                             fmt::format("{} reads `env.{}`, but environment{} {} {} not define it", who, attr, missing.size() == 1 ? "" : "s",
                                         joined, missing.size() == 1 ? "does" : "do"));
      if (auto c = ClosestName(attr, all_attrs)) diag.Help(fmt::format("did you mean `env.{}`?", *c));
      else if (who.starts_with("pipeline ")) diag.Help(fmt::format("add `{} = ...` to {}, or limit the pipeline with `environments = [...]`", attr, joined));
      else diag.Help(fmt::format("add `{} = ...` to {}", attr, joined));
      if (read.origin) diag.Note(*read.origin, fmt::format("`env.{}` is read here", attr));
    }
    if (by_type.size() > 1) {
      std::vector<std::string> parts;
      for (auto& [t, envs] : by_type) {
        std::vector<std::string> quoted;
        for (const auto& e : envs) quoted.push_back("`" + e + "`");
        parts.push_back(fmt::format("`{}` in {}", t, Join(quoted, ", ")));
      }
      d_.Report(DiagCode::E304, range, fmt::format("{} reads `env.{}`, which has different types: {}", who, attr, Join(parts, "; ")));
    }
  }
}

void Checker::CheckPipeline(const ast::Decl& d) {
  auto& scope = p_.scopes[0];
  // Items run in order: a step has finished for the items after it.
  std::set<const ast::Step*> finished;
  FinishedScope in_pipeline(*this, &finished);
  Uses uses;
  std::map<std::string, const ast::Step*> labels;
  const ast::PipelineItem* rollback = nullptr;
  for (const auto& it : d.items) {
    if (it.kind == ast::PipelineItemKind::Stage || it.kind == ast::PipelineItemKind::Rollback) CollectLabels(it.steps, labels);
  }
  // Target environments.
  std::vector<const ast::Decl*> targets;
  const ast::PipelineItem* envs_attr = nullptr;
  for (const auto& it : d.items) {
    if (it.kind == ast::PipelineItemKind::Attr && it.attr.key.name == "environments") envs_attr = &it;
  }
  if (envs_attr && envs_attr->attr.value->kind == ExprKind::List) {
    for (const auto& e : envs_attr->attr.value->items) {
      if (e->kind != ExprKind::Name) continue;
      auto f = scope.environments.find(e->text);
      if (f != scope.environments.end()) targets.push_back(f->second);
    }
  } else {
    targets = InOrder(0, ast::DeclKind::Environment);
  }
  for (const ast::Decl* t : targets) p_.pipeline_envs[d.name.name].push_back(t->name.name);

  Scope sc;
  sc.module = 0;
  sc.uses = &uses;
  sc.labels = &labels;
  sc.what = "a pipeline";
  Scope title = sc;
  title.secret_forbidden = "a title";
  if (d.title) TypeOf(*d.title, title);

  StepCtx ctx;
  bool has_dispatch = false;
  std::map<std::string, const ast::PipelineItem*> baselines;
  std::map<std::string, const ast::PipelineItem*> stages;
  std::set<std::string> measured;
  std::vector<std::pair<std::string, SourceRange>> rollback_baseline_reads;
  auto check_baseline_reads = [&](const std::vector<std::pair<std::string, SourceRange>>& reads, std::string_view where) {
    for (const auto& [name, range] : reads) {
      for (const auto& it : d.items) {
        if (it.kind == ast::PipelineItemKind::Baseline && it.name.name == name) Refer(range, nullptr, &it.name.range);
      }
      if (measured.count(name)) continue;
      if (baselines.count(name)) continue;  // declared later: reported below with the order
      bool later = false;
      for (const auto& it : d.items) later = later || (it.kind == ast::PipelineItemKind::Baseline && it.name.name == name);
      auto& diag = d_.Report(DiagCode::E308, range,
                             later ? fmt::format("`baseline.{}` is read in {} before it is measured", name, where)
                                   : fmt::format("`baseline.{}` is never measured in pipeline `{}`", name, d.name.name));
      if (!later) {
        std::vector<std::string> names(measured.begin(), measured.end());
        if (auto c = ClosestName(name, names)) diag.message += fmt::format("; did you mean `baseline.{}`?", *c);
        else diag.Help(fmt::format("declare `baseline {} = prometheus \"...\"` before the first stage", name));
      } else {
        for (const auto& it : d.items) {
          if (it.kind == ast::PipelineItemKind::Baseline && it.name.name == name) {
            diag.Note(it.name.range, fmt::format("`{}` is measured here", name));
            break;
          }
        }
        diag.Help("move the `baseline` above the item that reads it");
      }
    }
  };
  for (const auto& it : d.items) {
    using PK = ast::PipelineItemKind;
    switch (it.kind) {
      case PK::Trigger: {
        const std::string& k = it.name.name;
        if (k == "dispatch") has_dispatch = true;
        CheckAttrs(it.attrs, k == "push" ? kPushAttrs : k == "schedule" ? kScheduleAttrs : kDispatchAttrs, sc, fmt::format("`trigger {}`", k), it.range);
        break;
      }
      case PK::Baseline: {
        if (baselines.count(it.name.name)) {
          d_.Report(DiagCode::E202, it.name.range, fmt::format("baseline `{}` is declared twice", it.name.name)).Note(baselines[it.name.name]->name.range, "first declared here");
        }
        Uses bu;
        Scope bs = sc;
        bs.uses = &bu;
        CheckProbe(*it.probe, bs, "a baseline", /*needs_expect=*/false);
        if (it.read) {
          if (it.probe->kind == ast::ProbeKind::Prometheus) {
            d_.Report(DiagCode::E309, it.read->range, "a `prometheus` baseline is its value; `read` is for `run` and `http` probes");
          }
          Scope rs = sc;
          rs.uses = &bu;
          rs.results = it.probe->kind == ast::ProbeKind::Run ? &kRunResults : it.probe->kind == ast::ProbeKind::Http ? &kHttpResults : &kPromResults;
          rs.http_expect = it.probe->kind == ast::ProbeKind::Http;
          Type t = TypeOf(*it.read, rs);
          if (!(IsNumeric(t.kind) || t.kind == Kind::Any || t.kind == Kind::Error))
            d_.Report(DiagCode::E301, it.read->range, fmt::format("`read` must give a number, found `{}`", ToString(t))).Help("convert it, e.g. `read float(body)`");
        } else if (it.probe->kind != ast::ProbeKind::Prometheus) {
          d_.Report(DiagCode::E303, it.range, fmt::format("baseline `{}` needs `read EXPR` to pick a number out of the probe's result", it.name.name))
              .Help("e.g. `read float(stdout)`");
        }
        bu.baseline_reads.clear();  // a baseline's own probe cannot read baselines
        uses.Merge(bu);
        baselines[it.name.name] = &it;
        measured.insert(it.name.name);
        break;
      }
      case PK::Gate: {
        const ast::Decl* g = Resolve(0, ast::DeclKind::Gate, it.name);
        if (g) {
          const Uses& gu = decl_uses_[g];
          if (!gu.baseline_reads.empty()) check_baseline_reads(gu.baseline_reads, fmt::format("gate `{}`", g->name.name));
          uses.Merge(gu, it.range, /*with_baseline_reads=*/false);
        }
        if (it.when) Expect(*it.when, Type::Of(Kind::Bool), sc, "a `when` guard");
        break;
      }
      case PK::Approve: {
        const ast::Decl* a = Resolve(0, ast::DeclKind::Approval, it.name);
        if (a) uses.Merge(decl_uses_[a], it.range);
        if (it.when) Expect(*it.when, Type::Of(Kind::Bool), sc, "a `when` guard");
        break;
      }
      case PK::Stage: {
        if (auto [prev, inserted] = stages.emplace(it.name.name, &it); !inserted) {
          d_.Report(DiagCode::E202, it.name.range, fmt::format("stage `{}` appears twice in pipeline `{}`", it.name.name, d.name.name))
              .Note(prev->second->name.range, "first declared here");
        }
        Scope ts = sc;
        ts.secret_forbidden = "a title";
        if (it.title) TypeOf(*it.title, ts);
        Uses su;
        Scope ss = sc;
        ss.uses = &su;
        ss.allow_baseline = true;
        CheckSteps(it.steps, ss, ctx);
        if (!su.baseline_reads.empty()) check_baseline_reads(su.baseline_reads, fmt::format("stage `{}`", it.name.name));
        uses.Merge(su, std::nullopt, /*with_baseline_reads=*/false);
        break;
      }
      case PK::Verify:
      case PK::Rollback: {
        if (it.kind == PK::Rollback) {
          if (rollback) {
            d_.Report(DiagCode::E202, it.range, fmt::format("pipeline `{}` has two `rollback` blocks", d.name.name)).Note(rollback->range, "the first one");
          }
          rollback = &it;
          StepCtx rctx;
          rctx.top = false;
          // Rollback runs after the first change, when every baseline has been measured.
          Uses ru;
          Scope rs = sc;
          rs.uses = &ru;
          rs.allow_baseline = true;
          // Rollback runs after a failure anywhere: it may read any step (one that did not run reads as not ok).
          {
            FinishedScope any_step(*this, nullptr);
            CheckSteps(it.steps, rs, rctx);
          }
          rollback_baseline_reads = ru.baseline_reads;
          ru.baseline_reads.clear();
          uses.Merge(ru);
        }
        Uses vu;
        Scope vs = sc;
        vs.uses = &vu;
        vs.allow_baseline = true;
        Scope ts = sc;
        ts.secret_forbidden = "a title";
        if (it.title) TypeOf(*it.title, ts);
        if (it.verify_title) TypeOf(*it.verify_title, ts);
        CheckChecks(it.checks, vs, it.kind == PK::Verify ? "`verify`" : "a rollback's `verify`");
        check_baseline_reads(vu.baseline_reads, "`verify`");
        vu.baseline_reads.clear();
        uses.Merge(vu);
        break;
      }
      case PK::Attr: break;  // checked together below
    }
  }
  {
    std::map<std::string, const ast::Attr*> seen;
    for (const auto& it : d.items) {
      if (it.kind != ast::PipelineItemKind::Attr) continue;
      const ast::Attr& a = it.attr;
      if (!seen.emplace(a.key.name, &a).second) {
        d_.Report(DiagCode::E202, a.key.range, fmt::format("`{}` is set twice in pipeline `{}`", a.key.name, d.name.name));
        continue;
      }
      const AttrSpec* spec = nullptr;
      for (const auto& s : kPipelineAttrs) {
        if (s.name == a.key.name) spec = &s;
      }
      if (!spec) {
        std::vector<std::string> names;
        for (const auto& s : kPipelineAttrs) names.emplace_back(s.name);
        auto& diag = d_.Report(DiagCode::E302, a.key.range, fmt::format("pipeline `{}` has no attribute `{}`", d.name.name, a.key.name));
        if (auto c = ClosestName(a.key.name, names)) diag.message += fmt::format("; did you mean `{}`?", *c);
        else diag.Note(fmt::format("a pipeline takes {}", OrList(names)));
        continue;
      }
      Scope as = sc;
      if (a.key.name == "concurrency") as.secret_forbidden = "`concurrency`";
      CheckAttrValue(a, *spec, as);
    }
  }
  for (const auto& it : d.items) {
    if (it.kind == ast::PipelineItemKind::Baseline) measured.insert(it.name.name);
  }
  check_baseline_reads(rollback_baseline_reads, "`rollback`");
  // Whole-pipeline checks.
  CheckEnvReads(fmt::format("pipeline `{}`", d.name.name), uses, targets, envs_attr ? nullptr : &all_envs_in_order_reads_);
  if (!uses.prom_no_at.empty()) {
    std::vector<std::string> lacking;
    for (const ast::Decl* t : targets) {
      if (!FindAttr(t->attrs, "prometheus")) lacking.push_back(t->name.name);
    }
    if (!lacking.empty()) {
      d_.Report(DiagCode::E405, uses.prom_no_at.front(),
                fmt::format("pipeline `{}` queries Prometheus, but environment{} {} {} no `prometheus` address", d.name.name,
                            lacking.size() == 1 ? "" : "s", OrList(lacking), lacking.size() == 1 ? "has" : "have"))
          .Help(fmt::format("add `prometheus = \"http://...:9090\"` to {}, or write `prometheus \"...\" at \"http://...\"`", OrList(lacking)));
    }
  }
  if (!has_dispatch) {
    for (const auto& r : ctx.untimed_pauses) {
      d_.Report(DiagCode::W503, r, fmt::format("`pause` with no duration waits for `trixc promote`, but pipeline `{}` has no `trigger dispatch`", d.name.name))
          .Help("give the pause a duration (`pause 10m`) or add `trigger dispatch`");
    }
  }
  if (!rollback) {
    for (const ast::Step* s : ctx.uncovered) {
      d_.Report(DiagCode::W502, s->head_range, fmt::format("this step changes things but has no `undo`, and pipeline `{}` has no `rollback` block", d.name.name))
          .Help("add `undo { ... }` after the step, or a `rollback { ... }` block to the pipeline");
    }
  }
  CheckApprovalPaths(d, targets, scope, *this, d_);
}

void Checker::CheckUnused() {
  // Names starting with `_` are exempt (and so is the empty name of a
  // declaration whose name failed to parse).
  auto check = [&](ast::DeclKind k, const char* kind) {
    for (const ast::Decl* d : InOrder(0, k)) {
      const std::string& name = d->name.name;
      if (name.empty() || name[0] == '_') continue;
      if (!Used(d)) {
        d_.Report(DiagCode::W501, d->name.range, fmt::format("{} `{}` is never used", kind, name)).Help("remove it, or prefix the name with `_` to keep it");
      }
    }
  };
  check(ast::DeclKind::Param, "parameter");
  check(ast::DeclKind::Secret, "secret");
  check(ast::DeclKind::Role, "role");
  check(ast::DeclKind::Gate, "gate");
  check(ast::DeclKind::Approval, "approval");
  check(ast::DeclKind::Analysis, "analysis");
  check(ast::DeclKind::Service, "service");
  check(ast::DeclKind::Action, "action");
  for (const auto& e : p_.load.modules[0]->imports) {
    if (e.module < 0) continue;  // failed to load: E203/E204 says so already
    if (!used_imports_.count({0, e.binding})) {
      d_.Report(DiagCode::W501, e.decl->range, fmt::format("module `{}` is imported but never used", e.binding));
    }
  }
}

void Checker::Run() {
  BuildTables();
  CheckEnvironments();
  for (std::size_t m = 0; m < p_.scopes.size(); ++m) CheckParamsSecretsRoles(static_cast<int>(m));
  // A runbook's title may interpolate parameters, like other titles (and, like them, no secrets).
  for (std::size_t m = 0; m < p_.scopes.size(); ++m) {
    const ast::Decl* rb = p_.scopes[m].runbook;
    if (!rb || !rb->title) continue;
    Scope sc;
    sc.module = static_cast<int>(m);
    sc.allow_env = false;
    sc.what = "a runbook's title";
    sc.secret_forbidden = "a title";
    TypeOf(*rb->title, sc);
  }
  // Declarations that pipelines depend on come first, so their uses are known.
  for (std::size_t m = 0; m < p_.scopes.size(); ++m) {
    module_ = static_cast<int>(m);
    for (const ast::Decl* d : InOrder(module_, ast::DeclKind::Service)) CheckService(*d);
    for (const ast::Decl* d : InOrder(module_, ast::DeclKind::Analysis)) CheckAnalysis(*d);
    for (const ast::Decl* d : InOrder(module_, ast::DeclKind::Gate)) CheckGate(*d);
    for (const ast::Decl* d : InOrder(module_, ast::DeclKind::Approval)) CheckApproval(*d);
    // By name: where a recursive action is reported (E206) depends on which one is checked first.
    for (auto& [k, d] : p_.scopes[m].actions) ActionUses(module_, d);
  }
  module_ = 0;
  for (const ast::Decl* d : InOrder(0, ast::DeclKind::Pipeline)) CheckPipeline(*d);
  for (const ast::Decl* d : InOrder(0, ast::DeclKind::Alert)) CheckAlertOrGitops(*d);
  for (const ast::Decl* d : InOrder(0, ast::DeclKind::Gitops)) CheckAlertOrGitops(*d);
  CheckUnused();
}

}  // namespace

const Reference* ReferenceAt(const Program& program, FileId file, std::uint32_t offset) {
  const Reference* best = nullptr;
  for (const auto& r : program.references) {
    if (r.use.file != file || offset < r.use.begin || offset > r.use.end) continue;
    if (!best || r.use.end - r.use.begin < best->use.end - best->use.begin) best = &r;
  }
  return best;
}

Program Check(LoadResult load, const SourceManager& sm, Diagnostics& diags, CheckOptions options) {
  Program p;
  p.load = std::move(load);
  (void)sm;  // locations are resolved by the renderers
  Checker c(p, diags, options.references);
  c.Run();
  c.Export();
  return p;
}

}  // namespace trix::sema
