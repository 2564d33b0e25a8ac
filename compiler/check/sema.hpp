// sema::Program: the checked runbook.
//
// Invariants: produced by Check() only. When Diagnostics holds no error,
// every name in the entry module and its imports resolves (symbol tables
// below), every expression has a type compatible with where it is used, and
// the policy checks (E401-E405) hold for every pipeline and every environment
// it may target. The AST is owned here (inside `load`) and never modified.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "compiler/check/loader.hpp"
#include "compiler/diag/diagnostics.hpp"

namespace trix::sema {

/// Per-module symbol tables: one namespace per kind of declaration (§3).
struct ModuleScope {
  std::map<std::string, const ast::Decl*> params, secrets, roles, environments, gates, approvals, analyses,
      services, actions, pipelines, alerts, gitops;
  std::map<std::string, int> imports;  // binding -> module index (-1 when it failed to load)
  const ast::Decl* runbook = nullptr;
};

struct Program {
  LoadResult load;
  std::vector<ModuleScope> scopes;  // parallel to load.modules; [0] is the entry file
  /// Environments each pipeline of the entry module may target, in declaration order.
  std::map<std::string, std::vector<std::string>> pipeline_envs;
  /// The action each call step resolved to (call steps that failed to resolve are absent).
  std::map<const ast::Step*, const ast::Decl*> call_targets;
  /// Actions whose bodies change something (a run, a mutating http, a deploy, or a call to such an action).
  std::set<const ast::Decl*> mutating_actions;
  /// The module each action was declared in (index into scopes).
  std::map<const ast::Decl*, int> action_module;

  const ast::Module& entry() const { return load.modules.at(0)->ast; }
};

/// Resolves names, checks types and policies. Reports into `diags`; never throws on bad input.
Program Check(LoadResult load, const SourceManager& sm, Diagnostics& diags);

}  // namespace trix::sema
