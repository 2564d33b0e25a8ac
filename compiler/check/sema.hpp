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

/// One use of a declared name and where that name is declared: what `go to
/// definition` and hover need. `decl` is the declaration (for an action
/// parameter, the action; null for `steps.LABEL` and `baseline.NAME`);
/// `target` the declaring identifier's range (for an action parameter, the
/// parameter's name; for `steps.LABEL`, the step's label; for
/// `baseline.NAME`, the baseline's name in the pipeline).
struct Reference {
  SourceRange use;
  SourceRange target;
  const ast::Decl* decl = nullptr;
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
  /// Every resolved use of a declared name, in the order the checker met them
  /// (a use may appear more than once). Names that failed to resolve are absent.
  std::vector<Reference> references;

  const ast::Module& entry() const { return load.modules.at(0)->ast; }
};

/// The reference whose use covers byte `offset` of `file` (the innermost one), or null.
const Reference* ReferenceAt(const Program& program, FileId file, std::uint32_t offset);

/// Resolves names, checks types and policies. Reports into `diags`; never throws on bad input.
Program Check(LoadResult load, const SourceManager& sm, Diagnostics& diags);

}  // namespace trix::sema
