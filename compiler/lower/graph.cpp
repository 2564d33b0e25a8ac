// DOT rendering of a plan (see graph.hpp).
#include "compiler/lower/graph.hpp"

#include <fmt/format.h>

#include "compiler/util/literals.hpp"

namespace trix::plan {
namespace {

using json = nlohmann::json;

constexpr std::size_t kMaxLabel = 60;

/// A DOT double-quoted string: quotes and backslashes escaped, control
/// characters dropped, long text cut with an ellipsis (by code point).
std::string Q(std::string_view s, std::size_t max = kMaxLabel) {
  std::string out = "\"";
  std::size_t cps = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80 && ++cps > max) {
      out += "…";
      break;
    }
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    if (c < 0x20 || c == 0x7f) continue;
    out += static_cast<char>(c);
  }
  return out + "\"";
}

/// Several lines, each quoted-and-cut, joined with DOT's centred line break.
std::string Lines(const std::vector<std::string>& lines) {
  std::string out = "\"";
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string q = Q(lines[i]);
    out += (i ? "\\n" : "") + q.substr(1, q.size() - 2);
  }
  return out + "\"";
}

std::string Seconds(const json& v) { return v.is_number() ? lit::FormatDuration(v.get<double>() * 1000.0) : "none"; }

std::string Percent(double f) {
  std::string s = fmt::format("{:.4g}", f * 100);
  return s + "%";
}

class Dot {
 public:
  explicit Dot(const json& plan) : plan_(plan) {}

  std::string Render() {
    const std::string pipe = plan_.value("pipeline", "");
    const std::string env = plan_.value("environment", "");
    std::string title = "pipeline " + pipe;
    if (plan_.contains("pipeline_title") && plan_["pipeline_title"].is_string()) title += ": " + plan_["pipeline_title"].get<std::string>();
    out_ += fmt::format("digraph {} {{\n", Q(pipe + "@" + env, 200));
    out_ += fmt::format("  graph [label={}, labelloc=t, fontname=\"Helvetica\", fontsize=14, rankdir=TB, compound=true, newrank=true];\n",
                        Lines({title, "environment " + env}));
    out_ += "  node [fontname=\"Helvetica\", fontsize=10, shape=box, style=\"rounded\"];\n";
    out_ += "  edge [fontname=\"Helvetica\", fontsize=9];\n";
    out_ += "  start [shape=circle, label=\"start\", width=0.5];\n";
    std::vector<std::string> failing;  // nodes (with their cluster) whose failure leads to rollback
    const json& ins = plan_["instructions"];
    for (std::size_t i = 0; i < ins.size();) {
      const json& in = ins[i];
      const std::string op = in.value("op", "");
      if ((op == "check" || op == "confirm") && in.value("phase", "") == "gate") {
        // One cluster per gate: its checks in a row.
        const std::string group = in.value("group", "");
        std::string cluster = "cluster_gate_" + in.value("id", "");
        std::string label = "gate " + group;
        if (in.contains("gate_title")) label += ": " + in["gate_title"].get<std::string>();
        out_ += fmt::format("  subgraph {} {{\n    label={}; style=\"dashed\"; color=\"#5b7db1\";\n", cluster, Q(label));
        entries_.push_back(Chain(ins, i, [&](const json& x) { return x.value("phase", "") == "gate" && x.value("group", "") == group; }));
        out_ += "  }\n";
        continue;
      }
      if (op == "check" || op == "confirm") {  // verify
        std::string cluster = "cluster_verify";
        out_ += fmt::format("  subgraph {} {{\n    label={}; style=\"dashed\"; color=\"#2e7d32\";\n", cluster,
                            Q("verify"));
        entries_.push_back(Chain(ins, i, [](const json& x) { return x.value("phase", "") == "verify"; }));
        out_ += "  }\n";
        failing.push_back(entries_.back().first + "|" + cluster);
        continue;
      }
      if (op == "stage") {
        std::string cluster = "cluster_" + in.value("id", "");
        std::string label = "stage " + in.value("name", "");
        if (in.contains("title") && in["title"].is_string()) label += ": " + in["title"].get<std::string>();
        out_ += fmt::format("  subgraph {} {{\n    label={}; style=\"rounded\"; color=\"#444444\";\n", cluster, Q(label));
        auto [first, last] = Steps(in["children"], "    ", in.value("id", ""));
        out_ += "  }\n";
        entries_.push_back({first, last});
        if (!first.empty()) failing.push_back(first + "|" + cluster);
        ++i;
        continue;
      }
      std::string id = Item(in, "  ");
      entries_.push_back({id, id});
      ++i;
    }
    out_ += "  done [shape=doublecircle, label=\"done\", width=0.4];\n";
    entries_.push_back({"done", "done"});
    // The main sequence.
    std::string prev = "start";
    for (const auto& [first, last] : entries_) {
      if (first.empty()) continue;
      if (prev != first) out_ += fmt::format("  {} -> {} [weight=10];\n", prev, first);
      prev = last;
    }
    Rollback(failing);
    out_ += "}\n";
    return out_;
  }

 private:
  struct Span {
    std::string first, last;
  };

  /// A node for one instruction (not a stage); returns its name.
  std::string Item(const json& in, const std::string& indent) {
    const std::string id = in.value("id", "");
    const std::string op = in.value("op", "");
    std::vector<std::string> lines;
    std::string shape = "box", fill;
    if (op == "check") {
      lines = {"check: " + in.value("label", ""), ProbeText(in["probe"])};
      shape = "note";
    } else if (op == "confirm") {
      lines = {"confirm: " + PlanText(in["text"])};
      shape = "note";
    } else if (op == "baseline") {
      lines = {"baseline " + in.value("name", ""), ProbeText(in["probe"])};
      shape = "cylinder";
    } else if (op == "approve") {
      const json& a = in["approval"];
      lines.push_back("approve " + a.value("name", ""));
      for (const auto& r : a.value("requires", json::array())) {
        std::string roles, people;
        for (const auto& x : r.value("roles", json::array())) roles += (roles.empty() ? "" : ", ") + x.get<std::string>();
        for (const auto& x : r.value("people", json::array())) people += (people.empty() ? "" : ", ") + x.get<std::string>();
        std::string line = fmt::format("{} of [{}] ({})", r.value("quorum", 1), roles, people);
        if (r.contains("when")) line += " when " + ExprText(r["when"]);
        lines.push_back(line);
      }
      lines.push_back("timeout " + Seconds(a.value("timeout_s", json())));
      shape = "hexagon";
      fill = "#d6e4f0";
    } else {
      return Step(in, indent, "");
    }
    Node(indent, id, lines, shape, fill);
    return id;
  }

  void Node(const std::string& indent, const std::string& id, const std::vector<std::string>& lines, const std::string& shape,
            const std::string& fill, const std::string& extra = "") {
    std::string attrs = "label=" + Lines(lines);
    if (shape != "box") attrs += ", shape=" + shape;
    if (!fill.empty()) attrs += ", style=\"rounded,filled\", fillcolor=\"" + fill + "\"";
    if (!extra.empty()) attrs += ", " + extra;
    out_ += fmt::format("{}{} [{}];\n", indent, id, attrs);
  }

  /// The instructions from `i` on while `same` holds (at least the one at
  /// `i`), as nodes chained in a row inside a cluster; moves `i` past them.
  template <class Pred>
  Span Chain(const json& ins, std::size_t& i, Pred same) {
    Span s;
    while (i < ins.size() && same(ins[i])) {
      std::string id = Item(ins[i], "    ");
      if (s.first.empty()) s.first = id;
      else out_ += fmt::format("    {} -> {};\n", s.last, id);
      s.last = id;
      ++i;
    }
    return s;
  }

  /// A sequence of steps chained; returns its first and last node.
  Span Steps(const json& steps, const std::string& indent, const std::string& owner) {
    Span s;
    for (const auto& st : steps) {
      Span one = StepSpan(st, indent, owner);
      if (one.first.empty()) continue;
      if (s.first.empty()) s.first = one.first;
      else out_ += fmt::format("{}{} -> {};\n", indent, s.last, one.first);
      s.last = one.last;
    }
    return s;
  }

  Span StepSpan(const json& st, const std::string& indent, const std::string& owner) {
    const std::string op = st.value("op", "");
    const std::string id = st.value("id", "");
    if (op == "parallel" || op == "call" || (op == "deploy" && !st["strategy"]["steps"].empty())) {
      // A cluster: parallel branches fan out and in; a call's inlined body; a rollout's strategy steps.
      std::vector<std::string> label;
      if (op == "parallel") label = {"parallel"};
      else if (op == "call") label = {"call " + st.value("action", ""), Args(st.value("args", json::object()))};
      else label = {"deploy " + st["service"].value("name", "") + " with " + st["strategy"].value("kind", "")};
      if (st.contains("when")) label.push_back("when " + ExprText(st["when"]));
      out_ += fmt::format("{}subgraph cluster_{} {{\n{}  label={}; style=\"{}\"; color=\"#888888\";\n", indent, id, indent,
                          Lines(label), st.value("mutating", false) ? "rounded,filled\"; fillcolor=\"#fff8e1" : "rounded");
      Span s;
      const std::string in2 = indent + "  ";
      if (op == "parallel") {
        s.first = id + "_fork";
        s.last = id + "_join";
        out_ += fmt::format("{}{} [shape=point, width=0.08];\n{}{} [shape=point, width=0.08];\n", in2, s.first, in2, s.last);
        for (const auto& child : st["children"]) {
          Span c = StepSpan(child, in2, owner);
          if (c.first.empty()) continue;
          out_ += fmt::format("{}{} -> {};\n{}{} -> {};\n", in2, s.first, c.first, in2, c.last, s.last);
        }
      } else if (op == "call") {
        s = Steps(st["children"], in2, owner);
        if (s.first.empty()) {
          s.first = s.last = id;
          Node(in2, id, {"(no steps)"}, "box", "");
        }
      } else {
        Node(in2, id, {"~ deploy " + st["service"].value("name", ""), "version " + PlanText(st["version"])}, "box", "#ffe0b2");
        s.first = s.last = id;
        int n = 0;
        for (const auto& item : st["strategy"]["steps"]) {
          std::string node = fmt::format("{}_s{}", id, ++n);
          std::string text;
          if (item.contains("weight")) text = "weight " + Percent(item["weight"].get<double>());
          else if (item.contains("pause_s")) text = "pause " + Seconds(item["pause_s"]);
          else if (item.contains("pause")) text = "pause (until `trixc promote`)";
          else if (item.contains("promote")) text = "promote";
          else if (item.contains("analyze")) {
            text = "analyze " + item["analyze"].value("name", "");
            std::string metrics;
            for (const auto& m : item["analyze"].value("metrics", json::array())) metrics += (metrics.empty() ? "" : ", ") + m.value("name", "");
            if (!metrics.empty()) text += "\n" + metrics;
          }
          std::string shape = item.contains("analyze") ? "diamond" : item.contains("pause") || item.contains("pause_s") ? "ellipse" : "box";
          Node(in2, node, {text}, shape, "");
          out_ += fmt::format("{}{} -> {};\n", in2, s.last, node);
          s.last = node;
        }
        Undo(st, in2, id);
      }
      out_ += indent + "}\n";
      if (op == "call") Undo(st, indent, s.last);
      return s;
    }
    std::string name = Step(st, indent, owner);
    return {name, name};
  }

  static std::string Args(const json& args) {
    std::string s = "(";
    bool first = true;
    for (const auto& [k, v] : args.items()) {
      s += (first ? "" : ", ") + k + ": " + (v.is_string() ? v.get<std::string>() : v.is_object() && v.contains("secret") ? "secret " + v["secret"].get<std::string>() : v.dump());
      first = false;
    }
    return s + ")";
  }

  /// A leaf step node, plus its undo steps (dotted edges).
  std::string Step(const json& st, const std::string& indent, const std::string& owner) {
    (void)owner;
    const std::string op = st.value("op", "");
    const std::string id = st.value("id", "");
    std::vector<std::string> lines;
    const bool mut = st.value("mutating", false);
    const std::string mark = mut ? "~ " : "";
    std::string label = st.contains("label") && st["label"].is_string() ? st["label"].get<std::string>() + ": " : "";
    if (op == "run") lines = {mark + label + "run", PlanText(st["command"])};
    else if (op == "http") lines = {mark + label + "http " + st.value("method", "GET"), PlanText(st["url"])};
    else if (op == "deploy") lines = {mark + label + "deploy " + st["service"].value("name", ""), "version " + PlanText(st["version"])};
    else if (op == "wait") lines = {"wait " + Seconds(st["seconds"])};
    else if (op == "wait_until") lines = {"wait until", ProbeText(st["probe"])};
    else if (op == "notify") lines = {"notify", PlanText(st["text"])};
    else if (op == "approve") return Item(st, indent);
    else if (op == "deploy_abort") lines = {"abort the rollout"};
    else lines = {op};
    if (st.contains("when")) lines.push_back("when " + ExprText(st["when"]));
    Node(indent, id, lines, "box", mut ? "#fff3c4" : "");
    Undo(st, indent, id);
    return id;
  }

  void Undo(const json& st, const std::string& indent, const std::string& from) {
    if (!st.contains("undo") || !st["undo"].is_array() || st["undo"].empty()) return;
    std::string prev = from;
    for (const auto& u : st["undo"]) {
      std::string id = Step(u, indent, "");
      // Beside the step it undoes, on the same row.
      out_ += fmt::format("{}{{ rank=same; {}; {}; }}\n", indent, prev, id);
      out_ += fmt::format("{}{} -> {} [style=dotted, arrowhead=onormal, label={}];\n", indent, prev, id,
                          prev == from ? "\"undo\"" : "\"\"");
      prev = id;
    }
  }

  void Rollback(const std::vector<std::string>& failing) {
    const json& rb = plan_.value("rollback", json::array());
    const json& rbv = plan_.value("rollback_verify", json::array());
    std::string entry;
    if (!rb.empty() || !rbv.empty()) {
      out_ += "  subgraph cluster_rollback {\n    label=\"rollback\"; style=\"dashed\"; color=\"#c62828\";\n";
      Span s = Steps(rb, "    ", "");
      std::string last = s.last;
      for (const auto& c : rbv) {
        std::string id = Item(c, "    ");
        if (s.first.empty()) s.first = id;
        else out_ += fmt::format("    {} -> {};\n", last, id);
        last = id;
      }
      out_ += "  }\n";
      entry = s.first;
    } else {
      entry = "undo_all";
      out_ += "  undo_all [label=\"undo what ran\\n(no rollback block)\", shape=box, style=\"rounded,dashed\", color=\"#c62828\"];\n";
    }
    for (const auto& f : failing) {
      auto bar = f.find('|');
      out_ += fmt::format("  {} -> {} [style=dashed, color=\"#c62828\", fontcolor=\"#c62828\", label=\"fails\", ltail={}, constraint=false];\n",
                          f.substr(0, bar), entry, f.substr(bar + 1));
    }
  }

  const json& plan_;
  std::string out_;
  std::vector<Span> entries_{{"start", "start"}};
};

}  // namespace

std::string ToDot(const Plan& plan) { return Dot(plan.doc).Render(); }

}  // namespace trix::plan
