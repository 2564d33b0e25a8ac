// Internal interface between the checker's files (check.cpp: names and
// types; policy.cpp: constant folding and the E401 path analysis).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "compiler/check/sema.hpp"
#include "compiler/check/types.hpp"

namespace trix::sema {

/// A value known at check time (folded from literals, environment
/// attributes and parameter defaults).
struct Value {
  enum K { Unknown, Bool, Num, Str, List } k = Unknown;
  enum Unit { Plain, Seconds, Fraction } unit = Plain;  // Num: a duration (seconds) or a percent (fraction)
  bool b = false;
  double n = 0;
  std::string s;
  std::vector<Value> l;
};

/// Text of a folded value as interpolation shows it: `10m` for durations,
/// `10%` for percents, integers without a fraction.
std::string ValueText(const Value& v);

/// What folding may read: one environment's attributes and parameter defaults.
struct FoldEnv {
  const ast::Decl* environment = nullptr;
  const ModuleScope* scope = nullptr;
  /// Names bound to known values (parameters given with --param, action
  /// arguments); looked up before parameter defaults.
  const std::map<std::string, Value>* bindings = nullptr;
};

Value Fold(const ast::Expr& e, const FoldEnv& env, int depth = 0);
/// The value of a parameter whose default names a declaration (an
/// `environment` or `role` parameter, `= staging`): that name. Null otherwise.
const std::string* NamedDefault(const ast::Decl& param);

/// Looks an attribute up in a declaration's attribute list.
const ast::Attr* FindAttr(std::span<const ast::Attr> attrs, std::string_view key);

/// POST, PUT, PATCH and DELETE change things; GET and HEAD only observe.
bool IsMutatingMethod(std::string_view method);

/// Whether a step changes something: `run`, `deploy`, a mutating `http`, a
/// `parallel` holding one, or a call for which `call_mutates` says so.
bool StepMutates(const ast::Step& step, const std::function<bool(const ast::Step&)>& call_mutates);

/// Whether a step changes something (run, mutating http, deploy, or an action call whose body does).
struct MutationOracle {
  virtual ~MutationOracle() = default;
  virtual bool Mutates(const ast::Step& step) const = 0;
};

/// E401 for one pipeline: for each protected target environment, every path
/// to the first mutating step must pass an acceptable `approve`.
void CheckApprovalPaths(const ast::Decl& pipeline, const std::vector<const ast::Decl*>& targets, const ModuleScope& scope,
                        const MutationOracle& oracle, Diagnostics& diags,
                        const std::map<std::string, Value>* param_values = nullptr);

}  // namespace trix::sema
