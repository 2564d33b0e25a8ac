// The human-readable plan (`trixc plan`): what will be checked, who must
// approve, what changes and how each change is undone, what rollback runs.
#include <fmt/format.h>

#include "compiler/lower/plan.hpp"
#include "compiler/util/literals.hpp"
#include "compiler/util/plan_text.hpp"

namespace trix::plan {
namespace {

using json = nlohmann::json;

std::string Expr(const json& e) { return PlanExprText(e); }
std::string Lit(const json& v) { return PlanLiteralText(v); }

std::string Text(const json& t) {
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("concat")) return Text(t["concat"]);  // an interpolated string as an expression (`at` URLs)
  if (t.is_array()) {
    std::string s;
    for (const auto& p : t) s += p.contains("lit") && p["lit"].is_string() ? p["lit"].get<std::string>() : "${" + Expr(p) + "}";
    return s;
  }
  return t.dump();
}

std::string Seconds(const json& v) {
  if (!v.is_number()) return "none";
  return lit::FormatDuration(v.get<double>() * 1000.0);
}

std::string Probe(const json& p) {
  std::string s;
  const std::string kind = p.value("kind", "");
  if (kind == "run") s = "run `" + Text(p["command"]) + "`";
  else if (kind == "http") s = "http " + p.value("method", "GET") + " " + Text(p["url"]);
  else s = "prometheus `" + Text(p["query"]) + "` at " + (p.contains("at") ? Text(p["at"]) : std::string("?"));
  if (p.contains("expect")) s += " expect " + Expr(p["expect"]);
  return s;
}

struct Counts {
  int checks = 0, confirms = 0, approvals = 0, changes = 0, with_undo = 0, verify = 0;
};

class Writer {
 public:
  std::string out;
  Counts n;
  Counts discard;     // counts of undo and rollback steps are not the plan's
  Counts* c = &n;

  void Line(int indent, const std::string& s) {
    out.append(static_cast<std::size_t>(indent) * 2, ' ');
    out += s;
    out += '\n';
  }
  // A declaration's documentation comment, one `# ` line per line.
  void Doc(int indent, const std::string& doc) {
    std::size_t start = 0;
    while (!doc.empty() && start <= doc.size()) {
      const std::size_t nl = std::min(doc.find('\n', start), doc.size());
      const std::string line = doc.substr(start, nl - start);
      Line(indent, line.empty() ? "#" : "# " + line);
      start = nl + 1;
    }
  }

  std::string Approval(const json& a) {
    std::vector<std::string> parts;
    for (const auto& r : a["requires"]) {
      std::string roles;
      for (std::size_t i = 0; i < r["roles"].size(); ++i) roles += (i ? ", " : "") + r["roles"][i].get<std::string>();
      std::string people;
      for (std::size_t i = 0; i < r["people"].size(); ++i) people += (i ? ", " : "") + r["people"][i].get<std::string>();
      std::string q = r.value("quorum", 1) > 1 || r["roles"].size() > 1 ? fmt::format("{} of [{}]", r.value("quorum", 1), roles) : roles;
      std::string w = r.contains("when") ? " when " + Expr(r["when"]) : "";
      parts.push_back(fmt::format("{} ({}){}", q, people, w));
    }
    std::string s;
    for (std::size_t i = 0; i < parts.size(); ++i) s += (i ? "; " : "") + parts[i];
    return fmt::format("approve {} — needs {}; times out after {}; the person who starts the run does not count",
                       a.value("name", "?"), s.empty() ? std::string("nobody") : s, Seconds(a["timeout_s"]));
  }

  void Steps(const json& steps, int indent) {
    for (const auto& s : steps) Step(s, indent);
  }

  void Step(const json& s, int indent) {
    const std::string op = s.value("op", "");
    std::string guard = s.contains("when") ? " when " + Expr(s["when"]) : "";
    std::string label = s.contains("label") ? s["label"].get<std::string>() + ": " : "";
    const bool mut = s.value("mutating", false);
    const char* mark = mut ? "~ " : "  ";
    if (op == "run") {
      ++c->changes;
      std::string opts = fmt::format(" [timeout {}, retries {}{}]", Seconds(s["timeout_s"]), s.value("retries", 0),
                                     s.value("idempotent", false) ? ", idempotent" : "");
      Line(indent, mark + label + "run `" + Text(s["command"]) + "`" + opts + guard);
    } else if (op == "http") {
      if (mut) ++c->changes;
      Line(indent, mark + label + "http " + s.value("method", "GET") + " " + Text(s["url"]) + " expect " + Expr(s["expect"]) + guard);
    } else if (op == "deploy") {
      ++c->changes;
      const json& st = s["strategy"];
      Line(indent, mark + label + fmt::format("deploy {} version {} with {} (provider {})", s["service"].value("name", "?"), Text(s["version"]),
                                            st.value("kind", "rolling"), s["service"].value("provider", "?")) + guard);
      for (const auto& x : st["steps"]) {
        if (x.contains("weight")) Line(indent + 2, fmt::format("weight {:g}%", x["weight"].get<double>() * 100));
        else if (x.contains("pause_s")) Line(indent + 2, "pause " + Seconds(x["pause_s"]));
        else if (x.contains("pause")) Line(indent + 2, "pause until `trixc promote RUN_ID`");
        else if (x.contains("promote")) Line(indent + 2, "promote");
        else if (x.contains("analyze")) {
          Line(indent + 2, "analyze " + x["analyze"].value("name", "?"));
          for (const auto& m : x["analyze"]["metrics"]) {
            Line(indent + 3, fmt::format("{}: {} — {} times every {}, fails after {} failure(s)", m.value("name", "?"), Probe(m["probe"]),
                                         m.value("count", 1), Seconds(m.value("interval_s", json(60))), m.value("failure_limit", 0) + 1));
          }
        }
      }
      Line(indent + 2, "undo: abort the rollout (traffic back to stable, new version removed)");
      ++c->with_undo;
      return;
    } else if (op == "wait") {
      Line(indent, "  " + label + "wait " + Seconds(s["seconds"]) + guard);
    } else if (op == "wait_until") {
      Line(indent, "  " + label + "wait until " + Probe(s["probe"]) + fmt::format(" [every {}, give up after {}]", Seconds(s["interval_s"]), Seconds(s["timeout_s"])) + guard);
    } else if (op == "notify") {
      Line(indent, "  " + label + "notify \"" + Text(s["text"]) + "\"" + (s.contains("url") ? " to " + s["url"].get<std::string>() : " (printed; no env.notify)") + guard);
    } else if (op == "approve") {
      ++c->approvals;
      Line(indent, "  " + Approval(s["approval"]) + guard);
      Doc(indent + 2, s["approval"].value("doc", ""));
    } else if (op == "parallel") {
      Line(indent, mark + label + "parallel (all must pass)" + guard);
      Steps(s["children"], indent + 2);
    } else if (op == "call") {
      std::string args;
      for (auto it = s["args"].begin(); it != s["args"].end(); ++it) {
        args += (args.empty() ? "" : ", ") + it.key() + ": " + (it.value().is_object() ? Expr(it.value()) : Lit(it.value()));
      }
      Line(indent, mark + label + s.value("action", "?") + "(" + args + ")" + guard);
      Steps(s["children"], indent + 2);
    }
    if (s.contains("undo")) {
      ++c->with_undo;
      Line(indent + 1, "undo:");
      Counts* saved = c;
      c = &discard;
      Steps(s["undo"], indent + 2);
      c = saved;
    }
  }
};

}  // namespace

std::string Describe(const Plan& plan) {
  const json& d = plan.doc;
  Writer w;
  w.Line(0, fmt::format("Plan: pipeline `{}`{} on environment `{}`", d.value("pipeline", "?"),
                        d.contains("pipeline_title") ? " (" + Text(d["pipeline_title"]) + ")" : "", d.value("environment", "?")));
  w.Doc(1, d.value("pipeline_doc", ""));
  std::string params;
  const json no_text = json::object();
  const json& params_text = d.contains("params_text") ? d["params_text"] : no_text;
  for (auto it = d["params"].begin(); it != d["params"].end(); ++it) {
    const bool as_written = params_text.contains(it.key()) && params_text[it.key()].is_string();
    params += (params.empty() ? "" : ", ") + it.key() + " = " + (as_written ? params_text[it.key()].get<std::string>() : Lit(it.value()));
  }
  if (!params.empty()) w.Line(1, "parameters: " + params);
  const json& env = d["env"];
  std::vector<std::string> facts;
  if (env.value("protected", false)) facts.push_back("protected");
  if (d.contains("timeout_s") && d["timeout_s"].is_number()) facts.push_back("timeout " + Seconds(d["timeout_s"]));
  if (d.contains("concurrency")) facts.push_back("concurrency `" + Text(d["concurrency"]) + "`");
  if (env.contains("window")) facts.push_back("window " + Text(env["window"]));
  if (env.contains("freeze")) {
    std::string f;
    for (const auto& x : env["freeze"]) f += (f.empty() ? "" : ", ") + Text(x);
    facts.push_back("freeze " + f);
  }
  if (!facts.empty()) {
    std::string s;
    for (std::size_t i = 0; i < facts.size(); ++i) s += (i ? " · " : "") + facts[i];
    w.Line(1, s);
  }
  w.out += '\n';

  std::string group;
  std::string section;
  bool after_stage = false;
  auto begin_section = [&](const std::string& name) {
    if (section == name) return;
    if (!section.empty()) w.out += '\n';
    section = name;
    w.Line(0, name);
  };
  for (const auto& in : d["instructions"]) {
    const std::string op = in.value("op", "");
    std::string guard = in.contains("when") ? " when " + Expr(in["when"]) : "";
    if (op == "check" || op == "confirm") {
      const std::string phase = in.value("phase", "");
      // Items run in source order: a gate after a stage runs after its changes.
      begin_section(phase != "gate" ? "Verify (a failure starts rollback)"
                    : after_stage   ? "Gates (after the stages above; a failure starts rollback)"
                                    : "Gates (before anything changes; a failure stops the run with nothing changed)");
      const std::string g = in.value("group", "");
      if (phase == "gate" && g != group) {
        w.Line(1, "gate " + g + (in.contains("gate_title") ? " \"" + Text(in["gate_title"]) + "\"" : "") + guard);
        w.Doc(2, in.value("gate_doc", ""));
        group = g;
      }
      const int ind = phase == "gate" ? 2 : 1;
      if (op == "check") {
        phase == "gate" ? ++w.n.checks : ++w.n.verify;
        w.Line(ind, "check \"" + Text(in["label"]) + "\": " + Probe(in["probe"]));
      } else {
        ++w.n.confirms;
        w.Line(ind, "confirm \"" + Text(in["text"]) + "\" (at the terminal, or --attest FILE)");
      }
    } else if (op == "baseline") {
      begin_section("Baselines (measured before the first change)");
      w.Line(1, "baseline " + in.value("name", "?") + " = " + Probe(in["probe"]) + (in.contains("read") ? " read " + Expr(in["read"]) : ""));
    } else if (op == "approve") {
      begin_section("Approvals");
      ++w.n.approvals;
      w.Line(1, w.Approval(in["approval"]) + guard);
      w.Doc(2, in["approval"].value("doc", ""));
    } else if (op == "stage") {
      after_stage = true;
      begin_section("Stages (~ marks a step that changes something)");
      w.Line(1, "stage " + in.value("name", "?") + (in.contains("title") ? " \"" + Text(in["title"]) + "\"" : ""));
      w.Steps(in["children"], 2);
    }
  }
  w.out += '\n';
  w.Line(0, "On failure after the first change: the undo blocks of completed steps run newest first, then:");
  if (d["rollback"].empty() && d["rollback_verify"].empty()) {
    w.Line(1, "(no rollback block)");
  } else {
    w.c = &w.discard;
    w.Steps(d["rollback"], 1);
    w.c = &w.n;
    for (const auto& c : d["rollback_verify"]) {
      if (c.value("op", "") == "check") w.Line(1, "verify: check \"" + Text(c["label"]) + "\": " + Probe(c["probe"]));
    }
  }
  w.out += '\n';
  w.Line(0, fmt::format("{} gate check(s), {} confirmation(s), {} approval(s), {} change(s) ({} with undo), {} verify check(s).", w.n.checks,
                        w.n.confirms, w.n.approvals, w.n.changes, w.n.with_undo, w.n.verify));
  w.Line(0, "plan sha256: " + d.value("plan_sha256", ""));
  return w.out;
}

std::string ExprText(const json& e) { return Expr(e); }
std::string PlanText(const json& t) { return Text(t); }
std::string ProbeText(const json& p) { return Probe(p); }

}  // namespace trix::plan
