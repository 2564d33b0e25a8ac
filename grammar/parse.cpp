// The only translation unit that includes the grammar: runs PEGTL with a
// parse-tree selector, one declaration at a time, and builds the AST from
// each declaration's tree before parsing the next (memory stays bounded by
// the AST, not by the parse tree of the whole file).
#include "grammar/parse.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <type_traits>
#include <fmt/format.h>
#include <tao/pegtl/contrib/analyze.hpp>
#include <tao/pegtl/contrib/parse_tree.hpp>

#include "compiler/util/literals.hpp"
#include "grammar/errors.hpp"
#include "grammar/grammar.hpp"

// Grammar analysis (AnalyzeGrammar) of the hand-written rules: line_rest
// always succeeds and may consume nothing, like the `star` it replaces.
template <typename Name>
struct tao::pegtl::analyze_traits<Name, trix::grammar::line_rest> : analyze_opt_traits<> {};
// ws is `star<sp>`: may consume nothing; what it calls is `comment`.
template <typename Name>
struct tao::pegtl::analyze_traits<Name, trix::grammar::ws> : analyze_opt_traits<trix::grammar::comment> {};

namespace trix {
namespace {

namespace pegtl = tao::pegtl;
namespace pt = tao::pegtl::parse_tree;
using namespace trix::grammar;  // NOLINT

// ---- what the parse tree keeps ------------------------------------------------
// Rules that get a node, holding the text they matched.
template <typename Rule, typename... Rules>
inline constexpr bool kOneOf = (std::is_same_v<Rule, Rules> || ...);

template <typename Rule>
inline constexpr bool kStored = kOneOf<
    Rule, identifier, name_ref, member_name, str_text, tq_text, str_escape, str_dollar, int_lit, float_lit, duration_lit,
    percent_lit, true_lit, false_lit, mul_op, add_op, cmp_op, method, type_name, trigger_kind, plain_string,
    triple_string, interp, list_lit, map_lit, map_attr, member, index, call_args, arg, arg_name, neg, not_expr,
    attr, attrs, title, target, expect_clause, when_clause, at_clause, read_clause, version_clause, run_probe,
    http_probe, prom_probe, run_step, http_step, deploy_step, wait_step, wait_until, parallel_step,
    notify_step, approve_step, call_step, call_module, label, undo_clause, step_full, steps, canary,
    blue_green, rolling, weight_item, pause_item, analyze_item, promote_item, check_item, confirm_item,
    misplaced_step, list_type, default_value, runbook_decl, import_decl, import_as, param_decl, secret_decl,
    role_decl, environment_decl, gate_decl, approval_decl, analysis_decl, service_decl, action_decl,
    pipeline_decl, alert_decl, gitops_decl, quorum, role_list, require_item, metric_item, param_def,
    action_params, trigger_item, baseline_item, gate_ref, approve_ref, stage_item, verify_item,
    rollback_item>;

// The expression levels: a node only when it has more than one child (a
// binary operator, a postfix chain); otherwise its only child stands in.
template <typename Rule>
inline constexpr bool kFolded = kOneOf<Rule, expr, and_expr, cmp, add, mul, postfix>;

template <typename Rule>
struct is_selected : std::bool_constant<kStored<Rule> || kFolded<Rule>> {};

// One address per rule: a node's type is compared by pointer.
template <typename Rule>
inline constexpr std::string_view kTag = pegtl::demangle<Rule>();  // and its name, for internal errors

struct Node;

/// A node's children: a slice of the tree's child-pointer buffer.
struct Kids {
  const Node* const* first = nullptr;
  std::uint32_t count = 0;
  std::size_t size() const { return count; }
  bool empty() const { return count == 0; }
  const Node* operator[](std::size_t i) const { return first[i]; }
  const Node* at(std::size_t i) const {
    if (i >= count) throw std::out_of_range("parse tree child index");
    return first[i];
  }
  const Node* const* begin() const { return first; }
  const Node* const* end() const { return first + count; }
};

/// A parse-tree node: the rule, the text it matched and its children.
struct Node {
  const std::string_view* tag;  // &kTag<Rule>
  const char* b;
  const char* e;
  std::uint32_t first;    // index of the first node of its subtree (post-order)
  Kids children;

  template <typename Rule>
  bool is_type() const { return tag == &kTag<Rule>; }
  std::string_view string_view() const { return {b, static_cast<std::size_t>(e - b)}; }
  std::string string() const { return std::string(b, e); }
};

/// The parse tree of one declaration, built without a heap allocation per
/// node: PEGTL's generic parse tree allocated a node (and a child vector) for
/// every attempt of every rule on the way to a selected one, failed
/// alternatives included, which was most of the time of `trixc check`.
/// Nodes go into one vector in post-order. A rule attempt remembers (on the
/// C++ stack, in `control::match`) how many nodes there were and where it
/// started; a failed one truncates back. The buffers are reused from one
/// declaration to the next.
struct Tree {
  std::vector<Node> nodes;
  std::vector<const Node*> kids;
  // Comments are trivia: collected by offset from `base` while parsing
  // (control<comment>; duplicates from backtracking are removed afterwards).
  std::vector<std::uint32_t> comments;
  const char* base = nullptr;

  void Reset() { nodes.clear(); }
  [[gnu::always_inline]] void Truncate(std::uint32_t size) {
    // Node is trivially destructible: this only moves the end.
    nodes.erase(nodes.begin() + size, nodes.end());
  }
  // The number of direct children of a node whose subtree starts at `from`
  // and ends before index `end`.
  std::uint32_t CountKids(std::uint32_t from, std::uint32_t end) const {
    std::uint32_t n = 0;
    for (std::uint32_t i = end; i > from; i = nodes[i - 1].first) ++n;
    return n;
  }
  template <typename Rule>
  void Succeed(std::uint32_t first, const char* begin, const char* at) {
    if constexpr (kFolded<Rule>) {
      if (CountKids(first, static_cast<std::uint32_t>(nodes.size())) == 1) return;
    }
    nodes.push_back({&kTag<Rule>, begin, at, first, {}});
  }
  /// Links every node to its children once the declaration is parsed.
  const Node& Finish() {
    kids.resize(nodes.size());
    std::size_t pos = 0;
    for (std::uint32_t j = 0; j < nodes.size(); ++j) {
      Node& n = nodes[j];
      const std::uint32_t count = CountKids(n.first, j);
      n.children = {kids.data() + pos, count};
      std::size_t slot = pos + count;
      for (std::uint32_t i = j; i > n.first; i = nodes[i - 1].first) kids[--slot] = &nodes[i - 1];
      pos += count;
    }
    return nodes.back();
  }
};

// ---- nesting guard -------------------------------------------------------------------
template <typename Rule>
inline constexpr bool kNests = std::is_same_v<Rule, postfix> || std::is_same_v<Rule, neg> ||
                               std::is_same_v<Rule, not_expr> || std::is_same_v<Rule, step_full>;

template <typename Rule>
struct depth_control : pegtl::normal<Rule> {
  template <pegtl::apply_mode A, pegtl::rewind_mode M, template <typename...> class Action,
            template <typename...> class Control, typename ParseInput, typename... States>
  static bool match(ParseInput& in, States&&... st) {
    if constexpr (kNests<Rule>) {
      struct Guard {
        std::size_t& d;
        explicit Guard(std::size_t& x) : d(x) { ++d; }
        ~Guard() { --d; }
      } guard(in.private_depth);
      if (in.private_depth > kMaxNesting) throw pegtl::parse_error("nesting too deep", in);
      return pegtl::normal<Rule>::template match<A, M, Action, Control>(in, st...);
    } else {
      return pegtl::normal<Rule>::template match<A, M, Action, Control>(in, st...);
    }
  }
};

template <typename Rule>
using base_control = pegtl::must_if<errors, depth_control>::control<Rule>;

// Rules that never fail after a sub-rule added nodes, so they need no mark
// to truncate back to: `sor` fails only when every alternative failed (and
// each alternative cleaned up after itself), `opt` and `star` never fail,
// `plus` fails only when its first repetition did, and `must`/`if_must`
// throw (ending the parse) once their condition matched. Every sub-rule is
// matched through the control, so by induction a failed rule of any kind
// leaves the tree as it found it.
template <typename R>
inline constexpr bool kCleanFailure = false;
template <typename... R>
inline constexpr bool kCleanFailure<pegtl::internal::sor<R...>> = true;
template <typename... R>
inline constexpr bool kCleanFailure<pegtl::internal::opt<R...>> = true;
template <typename R, typename... Rs>
inline constexpr bool kCleanFailure<pegtl::internal::star<R, Rs...>> = true;
template <typename R, typename... Rs>
inline constexpr bool kCleanFailure<pegtl::internal::plus<R, Rs...>> = true;
template <typename... R>
inline constexpr bool kCleanFailure<pegtl::internal::must<R...>> = true;
template <bool D, typename C, typename... R>
inline constexpr bool kCleanFailure<pegtl::internal::if_must<D, C, R...>> = true;

// Builds the Tree: a selected rule adds a node when it matched; a rule that
// may contain selected ones (PEGTL's parse_tree::internal::is_leaf tells
// which) drops what it added when it fails, unless it cannot fail after a
// sub-rule succeeded (kCleanFailure: most `sor`s, such as the expression
// levels and `primary`, which are tried for every operand). Both wrap the
// match itself rather than using the start/success/failure hooks, so the
// attempt's start lives in registers, not in a stack of marks.
template <typename Rule>
struct control : base_control<Rule> {
  static constexpr bool kSelected = pt::internal::is_selected_node<Rule, is_selected>;
  static constexpr bool kLeaf = pt::internal::is_leaf<8, typename Rule::subs_t, is_selected>;
  // Whether a failed attempt may leave nodes of its sub-rules behind.
  static constexpr bool kTruncates = !kLeaf && !kCleanFailure<typename Rule::rule_t> && !kCleanFailure<Rule>;

  template <pegtl::apply_mode A, pegtl::rewind_mode M, template <typename...> class Action,
            template <typename...> class Control, typename ParseInput>
  static bool match(ParseInput& in, Tree& t) {
    if constexpr (kSelected || kTruncates) {
      const auto size = static_cast<std::uint32_t>(t.nodes.size());
      const char* begin = in.current();
      if (base_control<Rule>::template match<A, M, Action, Control>(in, t)) {
        if constexpr (kSelected) t.Succeed<Rule>(size, begin, in.current());
        return true;
      }
      if constexpr (kTruncates) t.Truncate(size);
      return false;
    } else if constexpr (std::is_same_v<Rule, comment>) {
      const char* begin = in.current();
      if (!base_control<Rule>::template match<A, M, Action, Control>(in, t)) return false;
      // Not inside `at`/`not_at` look-ahead (apply_mode::nothing), as
      // with the action this replaces.
      if constexpr (A == pegtl::apply_mode::action) t.comments.push_back(static_cast<std::uint32_t>(begin - t.base));
      return true;
    } else {
      return base_control<Rule>::template match<A, M, Action, Control>(in, t);
    }
  }
};

// ---- the AST builder ----------------------------------------------------------------
struct SyntaxError {
  std::uint32_t begin, end;
  std::string message;
};

class Builder {
 public:
  Builder(FileId file, const char* base) : file_(file), base_(base) {}

  SourceRange R(const Node& n) const {
    return {file_, static_cast<std::uint32_t>(n.b - base_), static_cast<std::uint32_t>(n.e - base_)};
  }
  [[noreturn]] void Fail(const Node& n, std::string msg) const {
    auto r = R(n);
    throw SyntaxError{r.begin, r.end, std::move(msg)};
  }

  ast::Ident Id(const Node& n) const { return {std::string(n.string_view()), R(n)}; }

  ast::Decl BuildDecl(const Node& n);

 private:
  template <typename T>
  static bool Is(const Node& n) { return n.is_type<T>(); }
  template <typename T>
  static const Node* Find(const Node& n) {
    for (const Node* c : n.children) if (c->is_type<T>()) return c;
    return nullptr;
  }

  ast::ExprPtr Expr(const Node& n);
  ast::ExprPtr String(const Node& n);
  ast::ExprPtr StringOf(const Node& wrapper) { return String(*wrapper.children.at(0)); }
  template <typename Vec = std::vector<ast::Attr>>
  Vec Attrs(const Node& n);
  ast::Attr Attr(const Node& n);
  template <typename Vec = std::vector<ast::Arg>>
  Vec Args(const Node& n);
  ast::Probe Probe(const Node& n);
  void ProbeTail(const Node& n, std::size_t from, ast::Probe& p);
  ast::Steps Steps(const Node& n);
  ast::Step Step(const Node& full);
  ast::Strategy Strategy(const Node& n);
  std::vector<ast::CheckItem> Checks(const Node& n, std::size_t from);
  ast::TypeExpr Type(const Node& n);
  ast::PipelineItem PipelineItem(const Node& n);
  double DurationOf(const Node& n);

  FileId file_;
  const char* base_;
};

double Builder::DurationOf(const Node& n) {
  auto d = lit::ParseDuration(n.string_view());
  if (!d) Fail(n, fmt::format("`{}` is not a valid duration; units must go from largest to smallest (d, h, m, s, ms), each at most once", n.string_view()));
  return *d;
}

ast::ExprPtr Builder::String(const Node& n) {
  auto e = std::make_unique<ast::Expr>();
  e->kind = ast::ExprKind::String;
  e->range = R(n);
  e->triple = Is<triple_string>(n);
  // The exact number of parts: runs of text (escapes included) and interpolations.
  std::size_t count = 0;
  bool in_text = false;
  for (auto& c : n.children) {
    const bool interpolation = Is<interp>(*c);
    if (interpolation || !in_text) ++count;
    in_text = !interpolation;
    e->interpolated = e->interpolated || interpolation;
  }
  auto unescaped = [](const Node& c) {
    char ch = c.string_view()[1];
    return ch == 'n' ? std::string_view("\n") : ch == 't' ? std::string_view("\t") : std::string_view(&c.string_view()[1], 1);
  };
  if (!e->interpolated && !e->triple) {
    // A plain string (most of them): its value in `text`, no parts.
    e->text.reserve(static_cast<std::size_t>(n.e - n.b));
    for (auto& c : n.children) {
      if (Is<str_escape>(*c)) e->text += unescaped(*c);
      else if (Is<str_text>(*c) || Is<tq_text>(*c) || Is<str_dollar>(*c)) e->text += c->string_view();
    }
    return e;
  }
  e->parts.reserve(count);
  auto add_text = [&](std::string_view t, SourceRange r) {
    if (!e->parts.empty() && !e->parts.back().expr) {
      e->parts.back().text += t;
      e->parts.back().range.end = r.end;
    } else {
      e->parts.push_back({std::string(t), nullptr, r});
    }
  };
  for (auto& c : n.children) {
    if (Is<str_text>(*c) || Is<tq_text>(*c) || Is<str_dollar>(*c)) {
      add_text(c->string_view(), R(*c));
    } else if (Is<str_escape>(*c)) {
      add_text(unescaped(*c), R(*c));
    } else if (Is<interp>(*c)) {
      e->parts.push_back({{}, Expr(*c->children.at(0)), R(*c)});
    }
  }
  if (e->triple) {
    // trimIndent: drop a blank first and last line, then the common indentation.
    auto is_blank = [](std::string_view s) { return s.find_first_not_of(" \t\r") == std::string_view::npos; };
    if (!e->parts.empty() && !e->parts.front().expr) {
      std::string& t = e->parts.front().text;
      auto nl = t.find('\n');
      if (nl != std::string::npos && is_blank(std::string_view(t).substr(0, nl))) t.erase(0, nl + 1);
    }
    if (!e->parts.empty() && !e->parts.back().expr) {
      std::string& t = e->parts.back().text;
      auto nl = t.rfind('\n');
      if (nl != std::string::npos && is_blank(std::string_view(t).substr(nl + 1))) t.erase(nl);
    }
    // Measure the indentation of each line that has content.
    std::size_t indent = std::string::npos;
    bool line_start = true;
    std::size_t cur = 0;
    for (auto& p : e->parts) {
      if (p.expr) {
        if (line_start) indent = std::min(indent, cur);
        line_start = false;
        continue;
      }
      for (char ch : p.text) {
        if (ch == '\n') {
          line_start = true;
          cur = 0;
        } else if (line_start && (ch == ' ' || ch == '\t')) {
          ++cur;
        } else if (line_start) {
          indent = std::min(indent, cur);
          line_start = false;
        }
      }
    }
    if (indent != std::string::npos && indent > 0) {
      line_start = true;
      std::size_t skipped = 0;
      for (auto& p : e->parts) {
        if (p.expr) {
          line_start = false;
          continue;
        }
        std::string out;
        for (char ch : p.text) {
          if (ch == '\n') {
            line_start = true;
            skipped = 0;
            out += ch;
          } else if (line_start && (ch == ' ' || ch == '\t') && skipped < indent) {
            ++skipped;
          } else {
            line_start = false;
            out += ch;
          }
        }
        p.text = std::move(out);
      }
    }
    if (!e->interpolated) {
      // A plain triple-quoted string: one run of text at most.
      if (!e->parts.empty()) e->text = std::move(e->parts.front().text);
      e->parts = {};
    }
  }
  return e;
}

ast::Attr Builder::Attr(const Node& n) {
  ast::Attr a;
  a.range = R(n);
  const Node& key = *n.children.at(0);
  if (Is<plain_string>(key)) {
    auto s = String(key);
    std::string text;
    if (!s->IsPlainString(&text)) Fail(key, "an attribute name cannot contain interpolation");
    a.key = {text, R(key)};
    a.key_is_string = true;
  } else {
    a.key = Id(key);
  }
  a.value = Expr(*n.children.at(1));
  return a;
}

template <typename Vec>
Vec Builder::Attrs(const Node& n) {
  Vec out;
  out.reserve(n.children.size());
  for (auto& c : n.children) out.push_back(Attr(*c));
  return out;
}

template <typename Vec>
Vec Builder::Args(const Node& n) {
  Vec out;
  out.reserve(n.children.size());
  for (auto& c : n.children) {
    ast::Arg a;
    std::size_t i = 0;
    if (Is<arg_name>(*c->children.at(0))) {
      a.name = Id(*c->children.at(0)->children.at(0));
      i = 1;
    }
    a.value = Expr(*c->children.at(i));
    out.push_back(std::move(a));
  }
  return out;
}

ast::ExprPtr Builder::Expr(const Node& n) {
  auto e = std::make_unique<ast::Expr>();
  e->range = R(n);
  auto binary = [&](std::string op, ast::ExprPtr l, ast::ExprPtr r) {
    auto b = std::make_unique<ast::Expr>();
    b->kind = ast::ExprKind::Binary;
    b->text = std::move(op);
    b->range = {file_, l->range.begin, r->range.end};
    b->lhs = std::move(l);
    b->rhs = std::move(r);
    return b;
  };
  if (Is<plain_string>(n) || Is<triple_string>(n)) return String(n);
  if (Is<int_lit>(n)) {
    e->kind = ast::ExprKind::Int;
    e->text = n.string();
    auto sv = n.string_view();
    long long integer = 0;
    auto [p, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), integer);
    if (ec != std::errc()) Fail(n, fmt::format("the number `{}` is too large", sv));
    e->number = static_cast<double>(integer);
    return e;
  }
  if (Is<float_lit>(n)) {
    e->kind = ast::ExprKind::Float;
    e->text = n.string();
    e->number = std::strtod(e->text.c_str(), nullptr);
    return e;
  }
  if (Is<duration_lit>(n)) {
    e->kind = ast::ExprKind::Duration;
    e->text = n.string();
    e->number = DurationOf(n);
    return e;
  }
  if (Is<percent_lit>(n)) {
    e->kind = ast::ExprKind::Percent;
    e->text = n.string();
    e->number = std::strtod(e->text.c_str(), nullptr) / 100.0;
    return e;
  }
  if (Is<true_lit>(n) || Is<false_lit>(n)) {
    e->kind = ast::ExprKind::Bool;
    e->boolean = Is<true_lit>(n);
    e->text = n.string();
    return e;
  }
  if (Is<name_ref>(n)) {
    e->kind = ast::ExprKind::Name;
    e->text = n.string();
    return e;
  }
  if (Is<list_lit>(n)) {
    e->kind = ast::ExprKind::List;
    e->items.reserve(n.children.size());
    for (auto& c : n.children) e->items.push_back(Expr(*c));
    return e;
  }
  if (Is<map_lit>(n)) {
    e->kind = ast::ExprKind::Map;
    e->attrs = Attrs<ast::PackedVec<ast::Attr>>(n);
    return e;
  }
  if (Is<neg>(n) || Is<not_expr>(n)) {
    e->kind = ast::ExprKind::Unary;
    e->text = Is<neg>(n) ? "-" : "not";
    e->lhs = Expr(*n.children.at(0));
    return e;
  }
  if (Is<postfix>(n)) {
    ast::ExprPtr cur = Expr(*n.children.at(0));
    for (std::size_t i = 1; i < n.children.size(); ++i) {
      const Node& op = *n.children[i];
      auto x = std::make_unique<ast::Expr>();
      x->range = {file_, cur->range.begin, R(op).end};
      if (Is<member>(op)) {
        x->kind = ast::ExprKind::Member;
        x->text = op.children.at(0)->string();
        x->name_range = R(*op.children.at(0));
      } else if (Is<index>(op)) {
        x->kind = ast::ExprKind::Index;
        x->rhs = Expr(*op.children.at(0));
      } else {
        x->kind = ast::ExprKind::Call;
        x->args = Args<ast::PackedVec<ast::Arg>>(op);
      }
      x->lhs = std::move(cur);
      cur = std::move(x);
    }
    return cur;
  }
  if (Is<mul>(n) || Is<add>(n)) {
    ast::ExprPtr cur = Expr(*n.children.at(0));
    for (std::size_t i = 1; i + 1 < n.children.size(); i += 2) {
      cur = binary(n.children[i]->string(), std::move(cur), Expr(*n.children[i + 1]));
    }
    return cur;
  }
  if (Is<cmp>(n)) {
    return binary(n.children.at(1)->string(), Expr(*n.children.at(0)), Expr(*n.children.at(2)));
  }
  if (Is<and_expr>(n) || Is<expr>(n)) {
    const char* op = Is<and_expr>(n) ? "and" : "or";
    ast::ExprPtr cur = Expr(*n.children.at(0));
    for (std::size_t i = 1; i < n.children.size(); ++i) cur = binary(op, std::move(cur), Expr(*n.children[i]));
    return cur;
  }
  Fail(n, fmt::format("internal: unexpected expression node `{}`", *n.tag));
}

void Builder::ProbeTail(const Node& n, std::size_t from, ast::Probe& p) {
  for (std::size_t i = from; i < n.children.size(); ++i) {
    const Node& c = *n.children[i];
    if (Is<attrs>(c)) {
      p.opts = Attrs(c);
      p.has_opts = true;
    } else if (Is<expect_clause>(c)) {
      p.expect = Expr(*c.children.at(0));
    } else if (Is<at_clause>(c)) {
      p.at = Expr(*c.children.at(0));
    }
  }
}

ast::Probe Builder::Probe(const Node& n) {
  ast::Probe p;
  p.range = R(n);
  std::size_t i = 0;
  if (Is<run_probe>(n)) {
    p.kind = ast::ProbeKind::Run;
  } else if (Is<http_probe>(n)) {
    p.kind = ast::ProbeKind::Http;
    p.method = n.children.at(0)->string();
    p.method_range = R(*n.children.at(0));
    i = 1;
  } else {
    p.kind = ast::ProbeKind::Prometheus;
  }
  p.target = StringOf(*n.children.at(i));
  ProbeTail(n, i + 1, p);
  return p;
}

ast::Strategy Builder::Strategy(const Node& n) {
  ast::Strategy s;
  s.range = R(n);
  if (Is<rolling>(n)) {
    s.kind = ast::StrategyKind::Rolling;
    if (auto* a = Find<attrs>(n)) {
      s.attrs = Attrs(*a);
      s.has_attrs = true;
    }
    return s;
  }
  s.kind = Is<canary>(n) ? ast::StrategyKind::Canary : ast::StrategyKind::BlueGreen;
  for (auto& c : n.children) {
    ast::StrategyItem it;
    it.range = R(*c);
    if (Is<weight_item>(*c)) {
      it.kind = ast::StrategyItemKind::Weight;
      it.spelling = c->children.at(0)->string();
      it.percent = std::strtod(it.spelling.c_str(), nullptr) / 100.0;
    } else if (Is<pause_item>(*c)) {
      it.kind = ast::StrategyItemKind::Pause;
      if (!c->children.empty()) {
        it.spelling = c->children[0]->string();
        it.duration_ms = DurationOf(*c->children[0]);
      }
    } else if (Is<analyze_item>(*c)) {
      it.kind = ast::StrategyItemKind::Analyze;
      it.name = Id(*c->children.at(0));
    } else if (Is<promote_item>(*c)) {
      it.kind = ast::StrategyItemKind::Promote;
    } else if (Is<attr>(*c)) {
      it.kind = ast::StrategyItemKind::Attr;
      it.attr = Attr(*c);
    } else {
      continue;
    }
    s.items.push_back(std::move(it));
  }
  return s;
}

ast::Steps Builder::Steps(const Node& n) {
  ast::Steps out;
  out.reserve(n.children.size());
  for (auto& c : n.children) out.push_back(Step(*c));
  return out;
}

ast::Step Builder::Step(const Node& full) {
  ast::Step s;
  s.range = R(full);
  for (auto& cp : full.children) {
    const Node& c = *cp;
    if (Is<label>(c)) {
      s.label = Id(*c.children.at(0));
    } else if (Is<when_clause>(c)) {
      s.when = Expr(*c.children.at(0));
    } else if (Is<undo_clause>(c)) {
      s.undo = c.children.empty() ? ast::Steps{} : Steps(*c.children.at(0));
      s.undo_range = R(c);
    } else {
      s.head_range = R(c);
      if (Is<run_step>(c)) {
        s.kind = ast::StepKind::Run;
        s.target = StringOf(*c.children.at(0));
        if (auto* a = Find<attrs>(c)) {
          s.opts = Attrs(*a);
          s.has_opts = true;
        }
      } else if (Is<http_step>(c)) {
        s.kind = ast::StepKind::Http;
        s.method = c.children.at(0)->string();
        s.method_range = R(*c.children.at(0));
        s.target = StringOf(*c.children.at(1));
        if (auto* a = Find<attrs>(c)) {
          s.opts = Attrs(*a);
          s.has_opts = true;
        }
        if (auto* x = Find<expect_clause>(c)) s.expect = Expr(*x->children.at(0));
      } else if (Is<deploy_step>(c)) {
        s.kind = ast::StepKind::Deploy;
        s.service = Id(*c.children.at(0));
        s.version = Expr(*c.children.at(1)->children.at(0));
        if (c.children.size() > 2) s.strategy = std::make_unique<ast::Strategy>(Strategy(*c.children[2]));
      } else if (Is<wait_step>(c)) {
        const Node& w = *c.children.at(0);
        if (Is<wait_until>(w)) {
          s.kind = ast::StepKind::WaitUntil;
          s.probe = std::make_unique<ast::Probe>(Probe(*w.children.at(0)));
        } else {
          s.kind = ast::StepKind::Wait;
          s.wait_spelling = w.string();
          s.wait_ms = DurationOf(w);
        }
      } else if (Is<parallel_step>(c)) {
        s.kind = ast::StepKind::Parallel;
        if (!c.children.empty()) s.children = Steps(*c.children.at(0));
      } else if (Is<notify_step>(c)) {
        s.kind = ast::StepKind::Notify;
        s.target = StringOf(*c.children.at(0));
      } else if (Is<approve_step>(c)) {
        s.kind = ast::StepKind::Approve;
        s.name = Id(*c.children.at(0));
      } else if (Is<call_step>(c)) {
        s.kind = ast::StepKind::Call;
        std::size_t i = 0;
        if (Is<call_module>(*c.children.at(0))) {
          s.module = Id(*c.children[0]->children.at(0));
          i = 1;
        }
        s.name = Id(*c.children.at(i));
        s.args = Args(*c.children.at(i + 1));
      }
    }
  }
  return s;
}

std::vector<ast::CheckItem> Builder::Checks(const Node& n, std::size_t from) {
  std::vector<ast::CheckItem> out;
  out.reserve(n.children.size() - std::min(from, n.children.size()));
  for (std::size_t i = from; i < n.children.size(); ++i) {
    const Node& c = *n.children[i];
    ast::CheckItem it;
    it.range = R(c);
    if (Is<check_item>(c)) {
      it.kind = ast::CheckItem::Check;
      it.text = StringOf(*c.children.at(0));
      it.probe = Probe(*c.children.at(1));
    } else if (Is<confirm_item>(c)) {
      it.kind = ast::CheckItem::Confirm;
      it.text = StringOf(*c.children.at(0));
    } else if (Is<misplaced_step>(c)) {
      it.kind = ast::CheckItem::StepItem;
      it.step = std::make_unique<ast::Step>(Step(c));
    } else {
      continue;
    }
    out.push_back(std::move(it));
  }
  return out;
}

ast::TypeExpr Builder::Type(const Node& n) {
  ast::TypeExpr t;
  t.range = R(n);
  if (Is<list_type>(n)) {
    t.kind = ast::TypeKind::List;
    t.elem = std::make_unique<ast::TypeExpr>(Type(*n.children.at(0)));
    return t;
  }
  static const std::pair<std::string_view, ast::TypeKind> kNames[] = {
      {"string", ast::TypeKind::String}, {"int", ast::TypeKind::Int}, {"float", ast::TypeKind::Float},
      {"bool", ast::TypeKind::Bool}, {"duration", ast::TypeKind::Duration}, {"percent", ast::TypeKind::Percent},
      {"cron", ast::TypeKind::Cron}, {"secret", ast::TypeKind::Secret}, {"environment", ast::TypeKind::Environment},
      {"role", ast::TypeKind::Role}};
  for (auto& [name, kind] : kNames) {
    if (n.string_view() == name) t.kind = kind;
  }
  return t;
}

ast::PipelineItem Builder::PipelineItem(const Node& n) {
  ast::PipelineItem it;
  it.range = R(n);
  if (Is<trigger_item>(n)) {
    it.kind = ast::PipelineItemKind::Trigger;
    it.name = Id(*n.children.at(0));
    if (auto* a = Find<attrs>(n)) {
      it.attrs = Attrs(*a);
      it.has_attrs = true;
    }
  } else if (Is<baseline_item>(n)) {
    it.kind = ast::PipelineItemKind::Baseline;
    it.name = Id(*n.children.at(0));
    it.probe = std::make_unique<ast::Probe>(Probe(*n.children.at(1)));
    if (auto* r = Find<read_clause>(n)) it.read = Expr(*r->children.at(0));
  } else if (Is<gate_ref>(n) || Is<approve_ref>(n)) {
    it.kind = Is<gate_ref>(n) ? ast::PipelineItemKind::Gate : ast::PipelineItemKind::Approve;
    it.name = Id(*n.children.at(0));
    if (auto* w = Find<when_clause>(n)) it.when = Expr(*w->children.at(0));
  } else if (Is<stage_item>(n)) {
    it.kind = ast::PipelineItemKind::Stage;
    it.name = Id(*n.children.at(0));
    if (auto* t = Find<title>(n)) it.title = StringOf(*t);
    if (auto* s = Find<steps>(n)) it.steps = Steps(*s);
  } else if (Is<verify_item>(n)) {
    it.kind = ast::PipelineItemKind::Verify;
    std::size_t from = 0;
    if (!n.children.empty() && Is<title>(*n.children[0])) {
      it.title = StringOf(*n.children[0]);
      from = 1;
    }
    it.checks = Checks(n, from);
  } else if (Is<rollback_item>(n)) {
    it.kind = ast::PipelineItemKind::Rollback;
    if (auto* s = Find<steps>(n)) it.steps = Steps(*s);
    if (auto* v = Find<verify_item>(n)) {
      it.has_verify = true;
      it.verify_range = R(*v);
      std::size_t from = 0;
      if (!v->children.empty() && Is<title>(*v->children[0])) {
        it.verify_title = StringOf(*v->children[0]);
        from = 1;
      }
      it.checks = Checks(*v, from);
    }
  } else {
    it.kind = ast::PipelineItemKind::Attr;
    it.attr = Attr(n);
  }
  return it;
}

ast::Decl Builder::BuildDecl(const Node& n) {
  ast::Decl d;
  d.range = R(n);
  auto name_at = [&](std::size_t i) { d.name = Id(*n.children.at(i)); };
  if (Is<runbook_decl>(n)) {
    d.kind = ast::DeclKind::Runbook;
    name_at(0);
    if (auto* t = Find<title>(n)) d.title = StringOf(*t);
  } else if (Is<import_decl>(n)) {
    d.kind = ast::DeclKind::Import;
    d.title = StringOf(*n.children.at(0));
    if (auto* a = Find<import_as>(n)) d.name = Id(*a->children.at(0));
  } else if (Is<param_decl>(n)) {
    d.kind = ast::DeclKind::Param;
    name_at(0);
    d.type = Type(*n.children.at(1));
    if (auto* v = Find<default_value>(n)) d.value = Expr(*v->children.at(0));
  } else if (Is<secret_decl>(n) || Is<role_decl>(n)) {
    d.kind = Is<secret_decl>(n) ? ast::DeclKind::Secret : ast::DeclKind::Role;
    name_at(0);
    d.value = Expr(*n.children.at(1));
  } else if (Is<environment_decl>(n) || Is<service_decl>(n) || Is<alert_decl>(n) || Is<gitops_decl>(n)) {
    d.kind = Is<environment_decl>(n) ? ast::DeclKind::Environment
             : Is<service_decl>(n)   ? ast::DeclKind::Service
             : Is<alert_decl>(n)     ? ast::DeclKind::Alert
                                     : ast::DeclKind::Gitops;
    name_at(0);
    d.attrs = Attrs(*n.children.at(1));
  } else if (Is<gate_decl>(n)) {
    d.kind = ast::DeclKind::Gate;
    name_at(0);
    std::size_t from = 1;
    if (n.children.size() > 1 && Is<title>(*n.children[1])) {
      d.title = StringOf(*n.children[1]);
      from = 2;
    }
    d.checks = Checks(n, from);
  } else if (Is<approval_decl>(n)) {
    d.kind = ast::DeclKind::Approval;
    name_at(0);
    for (std::size_t i = 1; i < n.children.size(); ++i) {
      const Node& c = *n.children[i];
      if (Is<attr>(c)) {
        d.attrs.push_back(Attr(c));
        continue;
      }
      ast::Require r;
      r.range = R(c);
      const Node& what = *c.children.at(0);
      if (Is<quorum>(what)) {
        const Node& num = *what.children.at(0);
        long long q = 0;
        auto sv = num.string_view();
        auto [p, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), q);
        if (ec != std::errc() || q > 1000000) Fail(num, fmt::format("the quorum `{}` is too large", sv));
        if (q == 0) Fail(num, "a quorum must be at least 1");
        r.quorum = static_cast<int>(q);
        for (auto& role : what.children.at(1)->children) r.roles.push_back(Id(*role));
      } else {
        r.roles.push_back(Id(what));
      }
      if (auto* w = Find<when_clause>(c)) r.when = Expr(*w->children.at(0));
      d.requires_.push_back(std::move(r));
    }
  } else if (Is<analysis_decl>(n)) {
    d.kind = ast::DeclKind::Analysis;
    name_at(0);
    d.metrics.reserve(n.children.size());
    for (std::size_t i = 1; i < n.children.size(); ++i) {
      const Node& c = *n.children[i];
      ast::Metric m;
      m.range = R(c);
      m.name = Id(*c.children.at(0));
      m.probe = Probe(*c.children.at(1));
      for (std::size_t j = 2; j < c.children.size(); ++j) m.attrs.push_back(Attr(*c.children[j]));
      d.metrics.push_back(std::move(m));
    }
  } else if (Is<action_decl>(n)) {
    d.kind = ast::DeclKind::Action;
    name_at(0);
    for (auto& pc : n.children.at(1)->children) {
      ast::Param p;
      p.range = R(*pc);
      p.name = Id(*pc->children.at(0));
      for (std::size_t j = 1; j < pc->children.size(); ++j) {
        const Node& x = *pc->children[j];
        if (Is<default_value>(x)) p.default_value = Expr(*x.children.at(0));
        else p.type = Type(x);
      }
      d.params.push_back(std::move(p));
    }
    if (auto* s = Find<steps>(n)) d.steps = Steps(*s);
  } else if (Is<pipeline_decl>(n)) {
    d.kind = ast::DeclKind::Pipeline;
    name_at(0);
    d.items.reserve(n.children.size());
    for (std::size_t i = 1; i < n.children.size(); ++i) {
      const Node& c = *n.children[i];
      if (Is<title>(c)) d.title = StringOf(c);
      else d.items.push_back(PipelineItem(c));
    }
  }
  return d;
}

// The next token at an offset, for "found ..." in syntax errors.
std::pair<std::uint32_t, std::string> TokenAt(std::string_view text, std::uint32_t off) {
  if (off >= text.size()) return {0, "end of file"};
  auto is_word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '%'; };
  std::uint32_t e = off;
  if (text[off] == '\n' || text[off] == '\r') return {0, "end of line"};
  if (is_word(text[off])) {
    while (e < text.size() && is_word(text[e]) && e - off < 40) ++e;
  } else {
    e = off + 1;
    while (e < text.size() && (static_cast<unsigned char>(text[e]) & 0xC0) == 0x80) ++e;
  }
  return {e - off, fmt::format("`{}`", text.substr(off, e - off))};
}

// Rejects what the grammar should never see: invalid UTF-8 and NUL bytes.
bool CheckEncoding(const SourceFile& src, FileId id, Diagnostics& diags) {
  const std::string& t = src.text();
  std::size_t i = 0;
  while (i < t.size()) {
    // Fast path: eight ASCII bytes with no NUL among them.
    while (i + 8 <= t.size()) {
      std::uint64_t w;
      std::memcpy(&w, t.data() + i, 8);
      constexpr std::uint64_t kLow = 0x0101010101010101ULL, kHigh = 0x8080808080808080ULL;
      if ((w & kHigh) != 0 || ((w - kLow) & ~w & kHigh) != 0) break;
      i += 8;
    }
    if (i >= t.size()) break;
    auto c = static_cast<unsigned char>(t[i]);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool ok = len != 0 && i + len <= t.size();
    for (std::size_t k = 1; ok && k < len; ++k) ok = (static_cast<unsigned char>(t[i + k]) & 0xC0) == 0x80;
    if (ok && len == 2) ok = c >= 0xC2;
    if (ok && len == 3) {
      auto c1 = static_cast<unsigned char>(t[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);
    }
    if (ok && len == 4) {
      auto c1 = static_cast<unsigned char>(t[i + 1]);
      ok = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90) && c <= 0xF4;
    }
    const auto at = static_cast<std::uint32_t>(i);
    if (!ok) {
      diags.Report(DiagCode::E102, {id, at, at + 1}, fmt::format("invalid UTF-8 byte 0x{:02X} at offset {}", c, i))
          .Help("save the file as UTF-8");
      return false;
    }
    if (c == 0) {
      diags.Report(DiagCode::E102, {id, at, at + 1}, fmt::format("NUL byte at offset {}; is this a binary file?", i));
      return false;
    }
    i += len;
  }
  return true;
}

}  // namespace

bool ParseModule(const SourceFile& src, FileId id, ast::Module* out, Diagnostics& diags) {
  out->file = id;
  if (!CheckEncoding(src, id, diags)) return false;
  const std::string& text = src.text();
  pegtl::memory_input<pegtl::tracking_mode::lazy, pegtl::eol::lf_crlf> in(text.data(), text.data() + text.size(), src.path());
  // A UTF-8 byte-order mark (some Windows editors write one) is not part of the program.
  if (text.starts_with("\xEF\xBB\xBF")) in.bump(3);
  Builder builder(id, text.data());
  Tree tree;
  tree.base = text.data();
  std::vector<std::uint32_t>& comments = tree.comments;
  bool ok = true;
  try {
    while (true) {
      tree.Reset();
      pegtl::parse<next_decl, pegtl::nothing, control>(in, tree);
      if (tree.nodes.empty()) break;  // end of file
      out->decls.push_back(builder.BuildDecl(tree.Finish()));
    }
  } catch (const pegtl::parse_error& e) {
    const auto off = static_cast<std::uint32_t>(e.positions().empty() ? text.size() : e.positions().front().byte);
    std::string msg(e.message());
    if (msg == "nesting too deep") {
      diags.Report(DiagCode::E102, {id, off, off + 1},
                   fmt::format("nesting deeper than {} levels", kMaxNesting))
          .Help("split the expression or the step blocks into smaller pieces");
    } else if (msg == errors::message<str_escape_char> && off > 0 && off < text.size() && text[off - 1] == '\\' &&
               text[off] != '\n' && text[off] != '\r') {
      // The escape is the backslash and the character after it: point at both.
      std::uint32_t end = off + 1;
      while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
      diags.Report(DiagCode::E101, {id, off - 1, end},
                   fmt::format("unknown escape sequence `{}`; expected one of `\\\"` `\\\\` `\\n` `\\t` `\\$`",
                               std::string_view(text).substr(off - 1, end - off + 1)))
          .Help("write a backslash as `\\\\`");
    } else {
      std::uint32_t at = off;
      // A number missing its unit (`wait 30`, `weight 10`) fails after the
      // digits it matched: point at the number, not at what follows it.
      if (msg == errors::message<wait_what> || msg == errors::message<percent_lit>) {
        while (at > 0 && (std::isdigit(static_cast<unsigned char>(text[at - 1])) || text[at - 1] == '.')) --at;
      }
      auto [len, found] = TokenAt(text, at);
      // In a block of attributes, a name followed by anything but `=` is an
      // attribute missing its `=`: say so at the token after the name.
      bool reported = false;
      if (msg == errors::message<attrs_close> && at < text.size() &&
          (std::isalpha(static_cast<unsigned char>(text[at])) || text[at] == '_')) {
        std::uint32_t name_end = at;
        while (name_end < text.size() && (std::isalnum(static_cast<unsigned char>(text[name_end])) || text[name_end] == '_')) ++name_end;
        std::uint32_t next = name_end;
        while (next < text.size() && (text[next] == ' ' || text[next] == '\t')) ++next;
        if (next < text.size() && text[next] != '\n' && text[next] != '\r' && text[next] != '=' && text[next] != '}') {
          auto [next_len, next_found] = TokenAt(text, next);
          if (text[next] == '"') next_found = "a string";
          diags.Report(DiagCode::E101, {id, next, next + next_len},
                       fmt::format("expected `=` after `{}`; found {}", std::string_view(text).substr(at, name_end - at), next_found))
              .Help("an attribute is `name = value`");
          reported = true;
        }
      }
      if (!reported) diags.Report(DiagCode::E101, {id, at, at + len}, fmt::format("{}; found {}", msg, found));
    }
    ok = false;
  } catch (const SyntaxError& e) {
    diags.Report(DiagCode::E101, {id, e.begin, e.end}, e.message);
    ok = false;
  }
  std::sort(comments.begin(), comments.end());
  comments.erase(std::unique(comments.begin(), comments.end()), comments.end());
  for (std::uint32_t b : comments) {
    std::uint32_t e = b;
    while (e < text.size() && text[e] != '\n') ++e;
    if (e > b && text[e - 1] == '\r') --e;
    out->comments.push_back({{id, b, e}});
  }
  // Doc comments: the whole-line comments directly above a declaration.
  // Found from the text around them (a comment runs to the end of its line),
  // not through line numbers: a binary search per comment was 1 % of `check`.
  const std::string_view all(text);
  auto line_start = [&](std::uint32_t off) {
    while (off > 0 && all[off - 1] != '\n') --off;
    return off;
  };
  std::size_t ci = 0;
  for (auto& d : out->decls) {
    while (ci < out->comments.size() && out->comments[ci].range.begin < d.range.begin) ++ci;
    std::vector<std::string> lines;
    std::uint32_t want = line_start(d.range.begin);  // the next doc line ends just before this
    for (std::size_t k = ci; k-- > 0;) {
      const auto& c = out->comments[k];
      std::uint32_t eol = c.range.end;
      if (eol < all.size() && all[eol] == '\r') ++eol;
      if (eol >= all.size() || all[eol] != '\n' || eol + 1 != want) break;  // not on the line just above
      const std::uint32_t from = line_start(c.range.begin);
      if (all.substr(from, c.range.begin - from).find_first_not_of(" \t") != std::string_view::npos) break;  // a trailing comment, not a block
      std::string_view body = all.substr(c.range.begin + 1, c.range.end - c.range.begin - 1);
      if (!body.empty() && body[0] == ' ') body.remove_prefix(1);
      lines.emplace_back(body);
      want = from;
    }
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
      if (!d.doc.empty()) d.doc += '\n';
      d.doc += *it;
    }
  }
  return ok;
}

std::string_view ExpectedDeclaration() { return grammar::errors::message<grammar::eof>; }

std::size_t AnalyzeGrammar() { return pegtl::analyze<grammar::file>(-1); }

}  // namespace trix
