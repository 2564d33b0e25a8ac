// The abstract syntax tree of one .trix file.
//
// Invariants: a purely syntactic tree; no names are resolved and no types are
// attached (that is sema's job). Every node carries a half-open SourceRange in
// its file. Children are owned by value or unique_ptr, so a Module can be
// moved as a whole. Comments are kept on the Module (trivia) for `trixc fmt`;
// a declaration's doc comment is the comment block directly above it.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/ast/packed_vec.hpp"
#include "compiler/diag/source.hpp"

namespace trix::ast {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Ident {
  std::string name;
  SourceRange range;
};

/// One argument of a call: `name: value` or a positional `value`.
struct Arg {
  std::optional<Ident> name;
  ExprPtr value;
};

/// `key = value` in a block or map literal. String keys are allowed in map
/// literals (`headers = { "Content-Type" = "json" }`).
struct Attr {
  Ident key;
  bool key_is_string = false;
  ExprPtr value;
  SourceRange range;
};

/// A piece of a string literal: literal text, or an interpolated `${expr}`.
struct StrPart {
  std::string text;  // unescaped literal text (when expr is null)
  ExprPtr expr;      // interpolation
  SourceRange range;
};

enum class ExprKind {
  String, Int, Float, Duration, Percent, Bool, Name, List, Map,
  Unary, Binary, Member, Index, Call,
};

// The members are ordered so that the small ones share words, and the lists
// are PackedVecs (one pointer each): 208 bytes became 120, and a large
// runbook has millions of expressions.
struct Expr {
  ExprKind kind;
  SourceRange range;
  SourceRange name_range;  // Member: the member name
  bool triple = false;        // String
  bool interpolated = false;  // String: a part is `${...}` (the parser sets it)
  bool boolean = false;       // Bool
  // String with interpolation (`interpolated`): its runs of text and its
  // `${...}`s. A string without one has no parts: its unescaped value is
  // `text` (most strings are plain; a parts vector each was ~1/6 of the AST).
  PackedVec<StrPart> parts;
  // Int / Float / Duration(ms) / Percent(fraction)
  double number = 0;
  std::string text;  // value of a plain String; source spelling of a number/duration/percent; operator for Unary/Binary; name for Name/Member
  PackedVec<ExprPtr> items;  // List
  PackedVec<Attr> attrs;     // Map
  PackedVec<Arg> args;       // Call
  ExprPtr lhs, rhs;          // Unary (lhs), Binary, Member (lhs), Index, Call (lhs = callee)

  /// True when this is a string with no interpolation; `text_value` gets it.
  bool IsPlainString(std::string* text_value = nullptr) const;
};

/// Calls `f` on `e` and on every expression inside it (operands, list
/// items, map values, call arguments, interpolations), parents first.
void ForEachExpr(const Expr& e, const std::function<void(const Expr&)>& f);

enum class TypeKind { String, Int, Float, Bool, Duration, Percent, Cron, Secret, Environment, Role, List };
struct TypeExpr {
  TypeKind kind = TypeKind::String;
  std::unique_ptr<TypeExpr> elem;  // List
  SourceRange range;
};

enum class ProbeKind { Run, Http, Prometheus };
struct Probe {
  ProbeKind kind = ProbeKind::Run;
  std::string method;  // Http
  SourceRange method_range;
  ExprPtr target;      // command, URL or query (a String expr)
  ExprPtr at;          // Prometheus `at URL`
  std::vector<Attr> opts;
  bool has_opts = false;
  ExprPtr expect;
  SourceRange range;
};

struct Step;
using Steps = std::vector<Step>;

enum class StrategyKind { Canary, BlueGreen, Rolling };
enum class StrategyItemKind { Weight, Pause, Analyze, Promote, Attr };
struct StrategyItem {
  StrategyItemKind kind;
  double percent = 0;       // Weight (fraction)
  std::string spelling;     // Weight/Pause: source text of the literal
  std::optional<double> duration_ms;  // Pause
  Ident name;               // Analyze
  Attr attr;                // Attr
  SourceRange range;
};
struct Strategy {
  StrategyKind kind = StrategyKind::Rolling;
  std::vector<StrategyItem> items;
  std::vector<Attr> attrs;  // Rolling's attrs
  bool has_attrs = false;
  SourceRange range;
};

enum class StepKind { Run, Http, Deploy, Wait, WaitUntil, Parallel, Notify, Approve, Call };
struct Step {
  StepKind kind = StepKind::Run;
  std::optional<Ident> label;
  SourceRange range;           // the whole step, label to undo
  SourceRange head_range;      // the step itself without label/when/undo
  // Run: target = command; Http: method, target = URL, expect
  std::string method;
  SourceRange method_range;
  ExprPtr target;
  std::vector<Attr> opts;
  bool has_opts = false;
  ExprPtr expect;
  // Deploy (the strategy and WaitUntil's probe are on the heap: most steps have neither,
  // and a large runbook has hundreds of thousands of steps)
  Ident service;
  ExprPtr version;
  std::unique_ptr<Strategy> strategy;
  // Wait
  double wait_ms = 0;
  std::string wait_spelling;
  std::unique_ptr<Probe> probe;  // WaitUntil
  // Parallel
  Steps children;
  // Notify: target = text; Approve: name
  Ident name;
  // Call: module (optional) + name
  std::optional<Ident> module;
  std::vector<Arg> args;
  // modifiers
  ExprPtr when;
  std::optional<Steps> undo;
  SourceRange undo_range;
};

/// `check "label" probe`, `confirm "text"`, or (invalid there, E404) a step.
struct CheckItem {
  enum Kind { Check, Confirm, StepItem } kind = Check;
  ExprPtr text;  // label / confirm text (String)
  std::optional<Probe> probe;
  std::unique_ptr<Step> step;
  SourceRange range;
};

struct Require {
  int quorum = 0;  // 0: a single role (`require R`); else `N of [...]`
  std::vector<Ident> roles;
  ExprPtr when;
  SourceRange range;
};

struct Metric {
  Ident name;
  std::optional<Probe> probe;
  std::vector<Attr> attrs;
  SourceRange range;
};

struct Param {
  Ident name;
  std::optional<TypeExpr> type;
  ExprPtr default_value;
  SourceRange range;
};

enum class PipelineItemKind { Trigger, Baseline, Gate, Approve, Stage, Verify, Rollback, Attr };
struct PipelineItem {
  PipelineItemKind kind;
  SourceRange range;
  Ident name;          // Trigger kind (push/schedule/dispatch), Baseline/Gate/Approve/Stage name
  ExprPtr title;       // Stage / Verify title
  std::vector<Attr> attrs;  // Trigger attrs
  bool has_attrs = false;
  std::unique_ptr<Probe> probe;  // Baseline (on the heap: the other kinds have none)
  ExprPtr read;        // Baseline `read EXPR`
  ExprPtr when;        // Gate / Approve
  Steps steps;         // Stage / Rollback
  std::vector<CheckItem> checks;  // Verify, and Rollback's verify
  bool has_verify = false;        // Rollback has a verify block
  ExprPtr verify_title;           // Rollback's verify title
  SourceRange verify_range;
  Attr attr;
};

enum class DeclKind { Runbook, Import, Param, Secret, Role, Environment, Gate, Approval, Analysis, Service, Action, Pipeline, Alert, Gitops };
inline constexpr std::size_t kDeclKinds = static_cast<std::size_t>(DeclKind::Gitops) + 1;

struct Decl {
  DeclKind kind;
  SourceRange range;
  Ident name;              // Import: the `as` name when given
  ExprPtr title;           // Runbook/Gate/Pipeline title; Import path
  std::optional<TypeExpr> type;   // Param
  ExprPtr value;           // Param default, Secret call, Role list
  std::vector<Attr> attrs; // Environment/Service/Alert/Gitops; Approval attrs
  std::vector<CheckItem> checks;  // Gate
  std::vector<Require> requires_;  // Approval
  std::vector<Metric> metrics;     // Analysis
  std::vector<Param> params;       // Action
  Steps steps;                     // Action
  std::vector<PipelineItem> items; // Pipeline
  std::string doc;                 // doc comment above, without `#`
};

struct Comment {
  SourceRange range;  // from `#` to end of line (exclusive)
};

struct Module {
  FileId file = 0;
  std::vector<Decl> decls;
  std::vector<Comment> comments;  // in source order
};

std::string_view ToString(TypeKind k);
/// The keyword that declares a declaration of kind `k` (`param`, `environment`, ...).
const char* DeclKeyword(DeclKind k);
std::string TypeToString(const TypeExpr& t);

}  // namespace trix::ast
