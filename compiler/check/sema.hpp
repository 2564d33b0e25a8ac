// sema::Program: the checked runbook.
//
// Invariants: produced by Check() only. When Diagnostics holds no error,
// every name in the entry module and its imports resolves (symbol tables
// below), every expression has a type compatible with where it is used, and
// the policy checks (E401-E405) hold for every pipeline and every environment
// it may target. The AST is owned here (inside `load`) and never modified.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "compiler/check/loader.hpp"
#include "compiler/diag/diagnostics.hpp"

namespace trix::sema {

/// The declarations of one kind in one module, by name, in name order: a
/// sorted array searched by binary search. Each name's first 16 bytes are
/// kept beside it as two integers, so comparing names rarely leaves the
/// array. (A std::map's compares chased every node, and the string in it,
/// across memory: 7 % of `trixc check` on a large runbook.) Filled with Add,
/// then Seal; the names are views of the declarations' own.
class DeclTable {
 public:
  using value_type = std::pair<std::string_view, const ast::Decl*>;
  using const_iterator = std::vector<value_type>::const_iterator;

  void Add(const ast::Decl* d) { pending_.push_back(d); }
  /// Sorts what was added by name, keeping the first of each name (in the
  /// order added); returns each later one with the first of its name, and
  /// appends the kept ones, in the order added, to `kept` when given.
  std::vector<std::pair<const ast::Decl*, const ast::Decl*>> Seal(std::vector<const ast::Decl*>* kept = nullptr);

  const_iterator find(std::string_view name) const;
  std::size_t count(std::string_view name) const { return find(name) == end() ? 0 : 1; }
  bool contains(std::string_view name) const { return count(name) > 0; }
  /// The declaration named `name`; throws std::out_of_range when there is none.
  const ast::Decl* at(std::string_view name) const;
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  bool empty() const { return items_.empty(); }
  std::size_t size() const { return items_.size(); }

 private:
  struct Key {
    std::uint64_t hi = 0, lo = 0;  // the first 16 bytes, big-endian, zero-padded
  };
  static Key KeyOf(std::string_view name);
  static bool Less(const Key& a, std::string_view an, const Key& b, std::string_view bn);

  std::vector<const ast::Decl*> pending_;
  std::vector<Key> keys_;  // parallel to items_
  std::vector<value_type> items_;
};

/// Per-module symbol tables: one namespace per kind of declaration (§3).
struct ModuleScope {
  DeclTable params, secrets, roles, environments, gates, approvals, analyses,
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
  /// Empty unless CheckOptions::references was set.
  std::vector<Reference> references;

  const ast::Module& entry() const { return load.modules.at(0)->ast; }
};

/// The reference whose use covers byte `offset` of `file` (the innermost one), or null.
const Reference* ReferenceAt(const Program& program, FileId file, std::uint32_t offset);

struct CheckOptions {
  /// Fill Program::references (the editor queries need them; `trixc check`
  /// and the lowering do not, and on a large runbook they are ~2 % of its time).
  bool references = false;
};

/// Resolves names, checks types and policies. Reports into `diags`; never throws on bad input.
Program Check(LoadResult load, const SourceManager& sm, Diagnostics& diags, CheckOptions options = {});

}  // namespace trix::sema
