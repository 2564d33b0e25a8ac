// The canonical printer behind `trixc fmt`.
//
// Layout rules (terraform fmt in spirit): two-space indentation; one item per
// line; at most one blank line kept between items where the source had one;
// `=` aligned in runs of consecutive attributes and probes aligned in runs of
// consecutive `check`s; option blocks inline when they fit in 100 columns.
// String literals are copied from the source byte for byte, so escapes and
// interpolations are never rewritten. Comments come back before the item
// they preceded, or at the end of the line they ended.
#include "compiler/fmt/format.hpp"

#include <algorithm>

namespace trix {
namespace {

constexpr std::size_t kMaxInline = 100;

class Printer {
 public:
  Printer(const ast::Module& m, const SourceFile& src) : m_(m), src_(src) {}

  std::string Run() {
    for (const auto& d : m_.decls) {
      BeginItem(d.range);
      Decl(d);
      EndItem(d.range);
    }
    FlushComments(static_cast<std::uint32_t>(src_.text().size()) + 1);
    std::string out = std::move(out_);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    if (!out.empty()) out += '\n';
    return out;
  }

 private:
  // ---- layout primitives -----------------------------------------------------------------
  void Line(const std::string& text) {
    out_.append(static_cast<std::size_t>(indent_) * 2, ' ');
    out_ += text;
    out_ += '\n';
  }
  std::uint32_t LineOf(std::uint32_t off) const { return src_.Locate(off).line; }
  std::string_view Src(SourceRange r) const { return std::string_view(src_.text()).substr(r.begin, r.end - r.begin); }

  // Leading comments of an item, and a blank line where the source had one.
  void BeginItem(SourceRange r) {
    FlushComments(r.begin);
    BlankLineIfGap(LineOf(r.begin));
    have_prev_ = true;
  }
  void BlankLineIfGap(std::uint32_t line) {
    if (have_prev_ && line > prev_end_line_ + 1 && !EndsWithOpen() && !(out_.size() >= 2 && out_[out_.size() - 2] == '\n')) out_ += '\n';
  }
  // A trailing comment on the item's last line goes at the end of that
  // line, when nothing but spaces and commas comes between the item and the
  // comment (otherwise it ends a later item on that line, or the block).
  void EndItem(SourceRange r) {
    const std::uint32_t end_line = LineOf(r.end > r.begin ? r.end - 1 : r.end);
    if (next_comment_ < m_.comments.size()) {
      const auto& c = m_.comments[next_comment_];
      const std::string_view between =
          c.range.begin >= r.end ? Src({r.file, r.end, c.range.begin}) : std::string_view("?");
      if (LineOf(c.range.begin) == end_line && between.find_first_not_of(" \t,") == std::string_view::npos) {
        if (!out_.empty() && out_.back() == '\n') out_.pop_back();
        out_ += "  ";
        out_ += Src(c.range);
        out_ += '\n';
        ++next_comment_;
      }
    }
    prev_end_line_ = end_line;
  }
  bool EndsWithOpen() const {
    return out_.size() >= 2 && out_[out_.size() - 2] == '{' && out_.back() == '\n';
  }
  void FlushComments(std::uint32_t before) {
    while (next_comment_ < m_.comments.size() && m_.comments[next_comment_].range.begin < before) {
      const auto& c = m_.comments[next_comment_];
      const std::uint32_t line = LineOf(c.range.begin);
      BlankLineIfGap(line);
      Line(std::string(Src(c.range)));
      prev_end_line_ = line;
      have_prev_ = true;
      ++next_comment_;
    }
  }
  void OpenBlock(const std::string& head) {
    Line(head + " {");
    ++indent_;
    have_prev_ = false;
  }
  void CloseBlock(SourceRange whole) {
    // Comments inside the block before its closing brace stay inside.
    FlushComments(whole.end > 0 ? whole.end - 1 : 0);
    --indent_;
    Line("}");
    have_prev_ = true;
  }

  // ---- expressions ------------------------------------------------------------------------
  static int Prec(const ast::Expr& e) {
    using K = ast::ExprKind;
    if (e.kind == K::Binary) {
      const std::string& op = e.text;
      if (op == "or") return 1;
      if (op == "and") return 2;
      if (op == "==" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=" || op == "in") return 4;
      if (op == "+" || op == "-") return 5;
      return 6;
    }
    if (e.kind == K::Unary) return e.text == "not" ? 3 : 7;
    return 8;
  }
  std::string Wrap(const ast::Expr& e, int min_prec) {
    std::string s = Expr(e);
    return Prec(e) < min_prec ? "(" + s + ")" : s;
  }
  std::string Arg(const ast::Arg& a) { return (a.name ? a.name->name + ": " : std::string()) + Expr(*a.value); }
  // `(args)`, where `open` and `close` are the offsets of the parentheses.
  std::string Args(std::span<const ast::Arg> args, std::uint32_t open, std::uint32_t close) {
    if (HasComment(open, close)) {
      return Broken(open, close, args.size(), '(', ')', [&](std::size_t i) {
        const ast::Arg& a = args[i];
        return SourceRange{a.value->range.file, a.name ? a.name->range.begin : a.value->range.begin, a.value->range.end};
      }, [&](std::size_t i) { return Arg(args[i]); });
    }
    std::string s = "(";
    for (std::size_t i = 0; i < args.size(); ++i) s += (i ? ", " : "") + Arg(args[i]);
    return s + ")";
  }

  // ---- comments inside a bracketed list ---------------------------------------------------
  // The offset of the first `ch` at or after `pos`, skipping comments (only
  // spaces, commas and comments come between the places this is used from
  // and the bracket it finds).
  std::uint32_t Find(std::uint32_t pos, char ch) const {
    const std::string& t = src_.text();
    while (pos < t.size() && t[pos] != ch) {
      if (t[pos] == '#') {
        while (pos < t.size() && t[pos] != '\n') ++pos;
        continue;
      }
      ++pos;
    }
    return pos;
  }
  // Whether a comment not printed yet starts in [begin, end).
  bool HasComment(std::uint32_t begin, std::uint32_t end) const {
    for (std::size_t i = next_comment_; i < m_.comments.size() && m_.comments[i].range.begin < end; ++i) {
      if (m_.comments[i].range.begin >= begin) return true;
    }
    return false;
  }
  // A list, map, argument or parameter list with comments inside: one item
  // per line, each followed by a comma, and every comment where it was (at
  // the end of the line it ended, or on its own line before the next item),
  // so that they are kept in place rather than moved out of the list.
  // `open`/`close` are the offsets of the brackets.
  template <typename RangeOf, typename TextOf>
  std::string Broken(std::uint32_t open, std::uint32_t close, std::size_t n, char open_ch, char close_ch, RangeOf range_of, TextOf text_of) {
    ++depth_;
    const std::string pad(static_cast<std::size_t>(indent_ + depth_) * 2, ' ');
    std::string s(1, open_ch);
    std::uint32_t after = open + 1;  // the source offset of the end of what was printed last
    auto comments_before = [&](std::uint32_t limit) {
      while (next_comment_ < m_.comments.size() && m_.comments[next_comment_].range.begin < limit) {
        const SourceRange c = m_.comments[next_comment_++].range;
        const bool same_line = c.begin >= after && Src({c.file, after, c.begin}).find('\n') == std::string_view::npos;
        s += same_line ? std::string("  ") : "\n" + pad;
        s += Src(c);
        after = c.end;
      }
    };
    for (std::size_t i = 0; i < n; ++i) {
      const SourceRange r = range_of(i);
      comments_before(r.begin);
      s += "\n" + pad;
      s += text_of(i);
      s += ',';
      after = r.end;
    }
    comments_before(close);
    --depth_;
    s += "\n" + std::string(static_cast<std::size_t>(indent_ + depth_) * 2, ' ');
    s += close_ch;
    return s;
  }

  std::string InlineAttrs(std::span<const ast::Attr> attrs) {
    if (attrs.empty()) return "{}";
    std::string s = "{ ";
    for (std::size_t i = 0; i < attrs.size(); ++i) {
      if (i) s += ", ";
      s += Key(attrs[i]) + " = " + Expr(*attrs[i].value);
    }
    return s + " }";
  }
  std::string Key(const ast::Attr& a) { return a.key_is_string ? std::string(Src(a.key.range)) : a.key.name; }
  std::string Expr(const ast::Expr& e) {
    using K = ast::ExprKind;
    switch (e.kind) {
      case K::String: return std::string(Src(e.range));
      case K::Int:
      case K::Float:
      case K::Duration:
      case K::Percent:
      case K::Bool:
      case K::Name: return e.text;
      case K::List: {
        const std::uint32_t close = e.range.end - 1;
        if (HasComment(e.range.begin, close)) {
          return Broken(e.range.begin, close, e.items.size(), '[', ']', [&](std::size_t i) { return e.items[i]->range; },
                        [&](std::size_t i) { return Expr(*e.items[i]); });
        }
        std::string s = "[";
        for (std::size_t i = 0; i < e.items.size(); ++i) {
          if (i) s += ", ";
          s += Expr(*e.items[i]);
        }
        return s + "]";
      }
      case K::Map: {
        const std::uint32_t close = e.range.end - 1;
        if (HasComment(e.range.begin, close)) {
          return Broken(e.range.begin, close, e.attrs.size(), '{', '}', [&](std::size_t i) { return e.attrs[i].range; },
                        [&](std::size_t i) { return Key(e.attrs[i]) + " = " + Expr(*e.attrs[i].value); });
        }
        return InlineAttrs(e.attrs);
      }
      case K::Unary: return e.text == "not" ? "not " + Wrap(*e.lhs, 3) : "-" + Wrap(*e.lhs, 7);
      case K::Binary: {
        const int p = Prec(e);
        // Left-associative: the right operand needs a strictly higher level; comparisons do not chain.
        const int lp = p == 4 ? 5 : p;
        return Wrap(*e.lhs, lp) + " " + e.text + " " + Wrap(*e.rhs, p + 1);
      }
      case K::Member: return Wrap(*e.lhs, 8) + "." + e.text;
      case K::Index: return Wrap(*e.lhs, 8) + "[" + Expr(*e.rhs) + "]";
      case K::Call: {
        std::string callee = Wrap(*e.lhs, 8);
        return callee + Args(e.args, Find(e.lhs->range.end, '('), e.range.end - 1);
      }
    }
    return "";
  }

  // ---- attribute blocks -----------------------------------------------------------------------
  // Prints attributes one per line, aligning `=` within runs not broken by blank lines or comments.
  void AttrLines(const std::vector<const ast::Attr*>& attrs) {
    std::size_t i = 0;
    while (i < attrs.size()) {
      std::size_t j = i + 1;
      while (j < attrs.size() && Adjacent(attrs[j - 1]->range, attrs[j]->range)) ++j;
      std::size_t width = 0;
      for (std::size_t k = i; k < j; ++k) width = std::max(width, Key(*attrs[k]).size());
      for (std::size_t k = i; k < j; ++k) {
        BeginItem(attrs[k]->range);
        std::string key = Key(*attrs[k]);
        key.resize(width, ' ');
        Line(key + " = " + Expr(*attrs[k]->value));
        EndItem(attrs[k]->range);
      }
      i = j;
    }
  }
  // Two items are in one alignment run when nothing but a newline separates them in the source.
  bool Adjacent(SourceRange a, SourceRange b) const {
    if (LineOf(b.begin) > LineOf(a.end) + 1) return false;
    // Comments are in source order: is there one in [a.end, b.begin)?
    auto c = std::lower_bound(m_.comments.begin(), m_.comments.end(), a.end,
                              [](const auto& comment, std::uint32_t at) { return comment.range.begin < at; });
    return c == m_.comments.end() || c->range.begin >= b.begin;
  }
  void AttrBlock(const std::string& head, std::span<const ast::Attr> attrs, SourceRange whole) {
    OpenBlock(head);
    std::vector<const ast::Attr*> ptrs;
    for (const auto& a : attrs) ptrs.push_back(&a);
    AttrLines(ptrs);
    CloseBlock(whole);
  }
  // An option block after a step or probe: inline when short, else one attribute per line.
  // `after` is the source offset where the text before the block ends.
  std::string Opts(std::span<const ast::Attr> attrs, bool has, std::size_t head_len, std::uint32_t after) {
    if (!has) return "";
    const std::uint32_t open = Find(after, '{');
    const std::uint32_t close = Find(attrs.empty() ? open + 1 : attrs.back().range.end, '}');
    if (HasComment(open, close)) {
      return " " + Broken(open, close, attrs.size(), '{', '}', [&](std::size_t i) { return attrs[i].range; },
                          [&](std::size_t i) { return Key(attrs[i]) + " = " + Expr(*attrs[i].value); });
    }
    std::string inl = InlineAttrs(attrs);
    if (head_len + 1 + inl.size() + static_cast<std::size_t>(indent_) * 2 <= kMaxInline) return " " + inl;
    std::string s = " {\n";
    std::size_t width = 0;
    for (const auto& a : attrs) width = std::max(width, Key(a).size());
    for (const auto& a : attrs) {
      std::string key = Key(a);
      key.resize(width, ' ');
      s.append(static_cast<std::size_t>(indent_ + 1) * 2, ' ');
      s += key + " = " + Expr(*a.value) + "\n";
    }
    s.append(static_cast<std::size_t>(indent_) * 2, ' ');
    return s + "}";
  }

  // ---- probes, checks, steps ------------------------------------------------------------------------
  std::string Probe(const ast::Probe& p, std::size_t prefix_len) {
    std::string s;
    switch (p.kind) {
      case ast::ProbeKind::Run: s = "run " + Expr(*p.target); break;
      case ast::ProbeKind::Http: s = "http " + p.method + " " + Expr(*p.target); break;
      case ast::ProbeKind::Prometheus:
        s = "prometheus " + Expr(*p.target);
        if (p.at) s += " at " + Expr(*p.at);
        break;
    }
    s += Opts(p.opts, p.has_opts, prefix_len + s.size(), (p.at ? p.at : p.target)->range.end);
    if (p.expect) s += " expect " + Expr(*p.expect);
    return s;
  }
  void Checks(const std::vector<ast::CheckItem>& items) {
    std::size_t i = 0;
    while (i < items.size()) {
      std::size_t j = i + 1;
      while (j < items.size() && Adjacent(items[j - 1].range, items[j].range)) ++j;
      std::size_t width = 0;
      for (std::size_t k = i; k < j; ++k) {
        if (items[k].kind == ast::CheckItem::Check) width = std::max(width, Src(items[k].text->range).size());
      }
      for (std::size_t k = i; k < j; ++k) {
        const auto& it = items[k];
        BeginItem(it.range);
        if (it.kind == ast::CheckItem::Check) {
          std::string label(Src(it.text->range));
          label.resize(width, ' ');
          std::string head = "check " + label + " ";
          Line(head + Probe(*it.probe, head.size()));
        } else if (it.kind == ast::CheckItem::Confirm) {
          Line("confirm " + Expr(*it.text));
        } else {
          Step(*it.step);
        }
        EndItem(it.range);
      }
      i = j;
    }
  }
  void Steps(const ast::Steps& steps) {
    for (const auto& s : steps) {
      BeginItem(s.range);
      Step(s);
      EndItem(s.range);
    }
  }
  void Step(const ast::Step& s) {
    std::string head = s.label ? s.label->name + ": " : "";
    switch (s.kind) {
      case ast::StepKind::Run:
        head += "run " + Expr(*s.target);
        head += Opts(s.opts, s.has_opts, head.size(), s.target->range.end);
        break;
      case ast::StepKind::Http:
        head += "http " + s.method + " " + Expr(*s.target);
        head += Opts(s.opts, s.has_opts, head.size(), s.target->range.end);
        if (s.expect) head += " expect " + Expr(*s.expect);
        break;
      case ast::StepKind::Deploy: head += "deploy " + s.service.name + " version " + Expr(*s.version); break;
      case ast::StepKind::Wait: head += "wait " + s.wait_spelling; break;
      case ast::StepKind::WaitUntil: head += "wait until " + Probe(*s.probe, head.size() + 11); break;
      case ast::StepKind::Parallel: head += "parallel"; break;
      case ast::StepKind::Notify: head += "notify " + Expr(*s.target); break;
      case ast::StepKind::Approve: head += "approve " + s.name.name; break;
      case ast::StepKind::Call: {
        const std::uint32_t open = Find(s.name.range.end, '(');
        const std::uint32_t close = Find(s.args.empty() ? open + 1 : s.args.back().value->range.end, ')');
        head += (s.module ? s.module->name + "." : std::string()) + s.name.name + Args(s.args, open, close);
        break;
      }
    }
    if (s.kind == ast::StepKind::Parallel) {
      OpenBlock(head);
      Steps(s.children);
      const SourceRange body = s.undo ? SourceRange{s.range.file, s.range.begin, s.undo_range.begin} : s.range;
      FlushComments(body.end > 0 ? body.end - 1 : 0);
      --indent_;
      Line(s.when ? "} when " + Expr(*s.when) : "}");
      have_prev_ = true;
    } else if (s.kind == ast::StepKind::Deploy && s.strategy) {
      const ast::Strategy& st = *s.strategy;
      if (st.kind == ast::StrategyKind::Rolling) {
        head += " with rolling" + Opts(st.attrs, st.has_attrs, head.size() + 13, s.version->range.end);
        if (s.when) head += " when " + Expr(*s.when);
        Line(head);
      } else {
        // A guard reads best before the block opens: `deploy ... with canary when x {` is not valid
        // Trix, so the guard goes after the closing brace.
        OpenBlock(head + (st.kind == ast::StrategyKind::Canary ? " with canary" : " with blue_green"));
        std::vector<const ast::Attr*> attrs;
        for (const auto& it : st.items) {
          if (it.kind == ast::StrategyItemKind::Attr) {
            if (!attrs.empty() && !Adjacent(attrs.back()->range, it.attr.range)) {
              AttrLines(attrs);
              attrs.clear();
            }
            attrs.push_back(&it.attr);
            continue;
          }
          if (!attrs.empty()) {
            AttrLines(attrs);
            attrs.clear();
          }
          BeginItem(it.range);
          switch (it.kind) {
            case ast::StrategyItemKind::Weight: Line("weight " + it.spelling); break;
            case ast::StrategyItemKind::Pause: Line(it.duration_ms ? "pause " + it.spelling : "pause"); break;
            case ast::StrategyItemKind::Analyze: Line("analyze " + it.name.name); break;
            case ast::StrategyItemKind::Promote: Line("promote"); break;
            case ast::StrategyItemKind::Attr: break;
          }
          EndItem(it.range);
        }
        if (!attrs.empty()) AttrLines(attrs);
        FlushComments(st.range.end > 0 ? st.range.end - 1 : 0);
        --indent_;
        Line(s.when ? "} when " + Expr(*s.when) : "}");
        have_prev_ = true;
      }
    } else {
      if (s.when) head += " when " + Expr(*s.when);
      Line(head);
      // A comment ending the step's line stays there, not inside its undo block.
      if (s.undo) EndItem({s.range.file, s.range.begin, s.when ? s.when->range.end : s.head_range.end});
    }
    if (s.undo) {
      OpenBlock("undo");
      Steps(*s.undo);
      CloseBlock(s.undo_range);
    }
  }

  // ---- declarations -------------------------------------------------------------------------------------
  std::string TypeText(const ast::TypeExpr& t) { return ast::TypeToString(t); }

  void Decl(const ast::Decl& d) {
    using K = ast::DeclKind;
    switch (d.kind) {
      case K::Runbook: Line("runbook " + d.name.name + (d.title ? " " + Expr(*d.title) : "")); break;
      case K::Import: {
        std::string s = "import " + Expr(*d.title);
        if (!d.name.name.empty()) s += " as " + d.name.name;
        Line(s);
        break;
      }
      case K::Param: Line("param " + d.name.name + ": " + TypeText(*d.type) + (d.value ? " = " + Expr(*d.value) : "")); break;
      case K::Secret: Line("secret " + d.name.name + " = " + Expr(*d.value)); break;
      case K::Role: Line("role " + d.name.name + " = " + Expr(*d.value)); break;
      case K::Environment: AttrBlock("environment " + d.name.name, d.attrs, d.range); break;
      case K::Service: AttrBlock("service " + d.name.name, d.attrs, d.range); break;
      case K::Alert: AttrBlock("alert " + d.name.name, d.attrs, d.range); break;
      case K::Gitops: AttrBlock("gitops " + d.name.name, d.attrs, d.range); break;
      case K::Gate:
        OpenBlock("gate " + d.name.name + (d.title ? " " + Expr(*d.title) : ""));
        Checks(d.checks);
        CloseBlock(d.range);
        break;
      case K::Approval: {
        OpenBlock("approval " + d.name.name);
        // Requirements and attributes in source order.
        std::vector<std::pair<std::uint32_t, int>> order;
        for (std::size_t i = 0; i < d.requires_.size(); ++i) order.push_back({d.requires_[i].range.begin, static_cast<int>(i)});
        for (std::size_t i = 0; i < d.attrs.size(); ++i) order.push_back({d.attrs[i].range.begin, -1 - static_cast<int>(i)});
        std::sort(order.begin(), order.end());
        std::vector<const ast::Attr*> run;
        for (auto [off, idx] : order) {
          if (idx < 0) {
            const ast::Attr* a = &d.attrs[static_cast<std::size_t>(-1 - idx)];
            if (!run.empty() && !Adjacent(run.back()->range, a->range)) {
              AttrLines(run);
              run.clear();
            }
            run.push_back(a);
            continue;
          }
          if (!run.empty()) {
            AttrLines(run);
            run.clear();
          }
          const ast::Require& r = d.requires_[static_cast<std::size_t>(idx)];
          BeginItem(r.range);
          std::string s = "require ";
          if (r.quorum > 0) {
            s += std::to_string(r.quorum) + " of ";
            const std::uint32_t open = Find(r.range.begin, '[');
            const std::uint32_t close = Find(r.roles.empty() ? open + 1 : r.roles.back().range.end, ']');
            if (HasComment(open, close)) {
              s += Broken(open, close, r.roles.size(), '[', ']', [&](std::size_t i) { return r.roles[i].range; },
                          [&](std::size_t i) { return r.roles[i].name; });
            } else {
              s += "[";
              for (std::size_t i = 0; i < r.roles.size(); ++i) s += (i ? ", " : "") + r.roles[i].name;
              s += "]";
            }
          } else {
            s += r.roles.empty() ? std::string() : r.roles[0].name;
          }
          if (r.when) s += " when " + Expr(*r.when);
          Line(s);
          EndItem(r.range);
        }
        if (!run.empty()) AttrLines(run);
        CloseBlock(d.range);
        break;
      }
      case K::Analysis:
        OpenBlock("analysis " + d.name.name);
        for (const auto& m : d.metrics) {
          BeginItem(m.range);
          OpenBlock("metric " + m.name.name);
          BeginItem(m.probe->range);
          {
            std::string line = Probe(*m.probe, 0);
            const std::size_t width = static_cast<std::size_t>(indent_) * 2 + line.size();
            if (m.probe->expect && width > kMaxInline) {
              // A long query reads better with its condition on the next line.
              const std::string cond = " expect " + Expr(*m.probe->expect);
              Line(line.substr(0, line.size() - cond.size()));
              Line(cond.substr(1));
            } else {
              Line(line);
            }
          }
          EndItem(m.probe->range);
          std::vector<const ast::Attr*> ptrs;
          for (const auto& a : m.attrs) ptrs.push_back(&a);
          AttrLines(ptrs);
          CloseBlock(m.range);
          EndItem(m.range);
        }
        CloseBlock(d.range);
        break;
      case K::Action: {
        std::string head = "action " + d.name.name + "(";
        auto param = [&](const ast::Param& p) {
          std::string s = p.name.name;
          if (p.type) s += ": " + TypeText(*p.type);
          if (p.default_value) s += " = " + Expr(*p.default_value);
          return s;
        };
        const std::uint32_t open = Find(d.name.range.end, '(');
        const std::uint32_t close = Find(d.params.empty() ? open + 1 : d.params.back().range.end, ')');
        if (HasComment(open, close)) {
          OpenBlock("action " + d.name.name + Broken(open, close, d.params.size(), '(', ')', [&](std::size_t i) { return d.params[i].range; },
                                                      [&](std::size_t i) { return param(d.params[i]); }));
          Steps(d.steps);
          CloseBlock(d.range);
          break;
        }
        std::vector<std::string> ps;
        for (const auto& p : d.params) ps.push_back(param(p));
        std::string one;
        for (std::size_t i = 0; i < ps.size(); ++i) one += (i ? ", " : "") + ps[i];
        if (head.size() + one.size() + 3 <= kMaxInline) {
          OpenBlock(head + one + ")");
        } else {
          // One parameter per line, aligned under the first.
          std::string s = head;
          const std::string pad(head.size(), ' ');
          for (std::size_t i = 0; i < ps.size(); ++i) {
            s += ps[i];
            if (i + 1 < ps.size()) s += ",\n" + std::string(static_cast<std::size_t>(indent_) * 2, ' ') + pad;
          }
          OpenBlock(s + ")");
        }
        Steps(d.steps);
        CloseBlock(d.range);
        break;
      }
      case K::Pipeline: {
        OpenBlock("pipeline " + d.name.name + (d.title ? " " + Expr(*d.title) : ""));
        std::vector<const ast::Attr*> run;
        const ast::PipelineItem* prev_attr_item = nullptr;
        for (const auto& it : d.items) {
          if (it.kind == ast::PipelineItemKind::Attr) {
            if (!run.empty() && !Adjacent(prev_attr_item->range, it.range)) {
              AttrLines(run);
              run.clear();
            }
            run.push_back(&it.attr);
            prev_attr_item = &it;
            continue;
          }
          if (!run.empty()) {
            AttrLines(run);
            run.clear();
          }
          BeginItem(it.range);
          PipelineItem(it);
          EndItem(it.range);
        }
        if (!run.empty()) AttrLines(run);
        CloseBlock(d.range);
        break;
      }
    }
  }

  void PipelineItem(const ast::PipelineItem& it) {
    using PK = ast::PipelineItemKind;
    switch (it.kind) {
      case PK::Trigger: {
        std::string head = "trigger " + it.name.name;
        Line(head + Opts(it.attrs, it.has_attrs, head.size(), it.name.range.end));
        break;
      }
      case PK::Baseline: {
        std::string head = "baseline " + it.name.name + " = ";
        std::string s = head + Probe(*it.probe, head.size());
        if (it.read) s += " read " + Expr(*it.read);
        Line(s);
        break;
      }
      case PK::Gate:
      case PK::Approve:
        Line(std::string(it.kind == PK::Gate ? "gate " : "approve ") + it.name.name + (it.when ? " when " + Expr(*it.when) : ""));
        break;
      case PK::Stage:
        OpenBlock("stage " + it.name.name + (it.title ? " " + Expr(*it.title) : ""));
        Steps(it.steps);
        CloseBlock(it.range);
        break;
      case PK::Verify:
        OpenBlock(std::string("verify") + (it.title ? " " + Expr(*it.title) : ""));
        Checks(it.checks);
        CloseBlock(it.range);
        break;
      case PK::Rollback:
        OpenBlock("rollback");
        Steps(it.steps);
        if (it.has_verify) {
          BeginItem(it.verify_range);
          OpenBlock(std::string("verify") + (it.verify_title ? " " + Expr(*it.verify_title) : ""));
          Checks(it.checks);
          CloseBlock(it.verify_range);
          EndItem(it.verify_range);
        }
        CloseBlock(it.range);
        break;
      case PK::Attr: break;
    }
  }

  const ast::Module& m_;
  const SourceFile& src_;
  std::string out_;
  int indent_ = 0;
  int depth_ = 0;  // bracketed lists open in the expression being printed (Broken)
  std::size_t next_comment_ = 0;
  bool have_prev_ = false;
  std::uint32_t prev_end_line_ = 0;
};

}  // namespace

std::string Format(const ast::Module& module, const SourceFile& src) { return Printer(module, src).Run(); }

}  // namespace trix
