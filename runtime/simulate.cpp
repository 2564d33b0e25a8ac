// `trixc simulate`: walks a plan with chosen steps, checks or approvals
// failing and prints the path taken, what rolls back and the exit code the
// run would have. Nothing is executed: every probe passes and every step
// succeeds unless it is named with --fail.
#include "runtime/simulate.hpp"

#include <fmt/format.h>

#include "runtime/eval.hpp"
#include "runtime/executor.hpp"

namespace trix::rt {
namespace {

using json = nlohmann::json;

class Sim {
 public:
  Sim(const json& plan, const std::set<std::string>& fail, std::ostream& out) : plan_(plan), fail_(fail), out_(out) {}
  bool drill_ = false;  // --drill: roll back on purpose after the last stage

  int Run() {
    out_ << fmt::format("Simulating {}pipeline `{}` on `{}`{}\n\n", drill_ ? "a rollback drill of " : "", plan_.value("pipeline", ""),
                        plan_.value("environment", ""), fail_.empty() ? std::string(" with nothing failing") : " with failing: " + Join(fail_));
    bool ok = true;
    // As the run: a drill rolls back at the first verify item after the last stage.
    std::size_t last_stage = 0, at = 0;
    for (std::size_t i = 0; i < plan_["instructions"].size(); ++i) {
      if (plan_["instructions"][i].value("op", "") == "stage") last_stage = i;
    }
    for (const auto& in : plan_["instructions"]) {
      if (drill_ && at++ > last_stage && in.value("phase", "") == "verify") break;
      if (!Top(in)) {
        ok = false;
        break;
      }
    }
    if (ok && !drill_) {
      Notes();
      out_ << "\nResult: succeeded (exit 0)\n";
      return kSucceeded;
    }
    if (!ok && !changed_) {
      Notes();
      out_ << "\nResult: stopped, nothing changed (exit 10)\n";
      return kStoppedNothingChanged;
    }
    out_ << (ok ? "\nDrill: every stage passed; the rollback path is taken on purpose, as if verify had failed\n" : "")
         << "\nRollback: undo blocks of completed steps, newest first, then the rollback block and its verify\n";
    bool rb_ok = true;
    for (auto it = undo_.rbegin(); it != undo_.rend(); ++it) {
      for (const auto& s : it->second) rb_ok = Step(s, 1, "undo of " + it->first) && rb_ok;
    }
    for (const auto& s : plan_["rollback"]) rb_ok = Step(s, 1, "rollback") && rb_ok;
    for (const auto& c : plan_["rollback_verify"]) {
      if (c.value("op", "") == "check") rb_ok = Item(c, 1, "rollback verify") && rb_ok;
    }
    // After the rollback walk: a name given with --fail may be a rollback step or check.
    Notes();
    if (ok) {
      out_ << (rb_ok ? "\nResult: drill passed (exit 0)\n" : "\nResult: drill failed: the rollback path does not work (exit 12)\n");
      return rb_ok ? kSucceeded : kRollbackFailed;
    }
    if (rb_ok) {
      out_ << "\nResult: failed and rolled back (exit 11)\n";
      return kRolledBack;
    }
    out_ << "\nResult: rollback failed; the environment needs repair by hand (exit 12)\n";
    return kRollbackFailed;
  }

 private:
  void Notes() {
    for (const auto& f : fail_) {
      if (!matched_.count(f)) out_ << fmt::format("note: nothing on the path is called `{}`\n", f);
    }
  }
  static std::string Join(const std::set<std::string>& s) {
    std::string o;
    for (const auto& x : s) o += (o.empty() ? "" : ", ") + x;
    return o;
  }
  bool Fails(const std::vector<std::string>& names) {
    for (const auto& n : names) {
      if (!n.empty() && fail_.count(n)) {
        matched_.insert(n);
        return true;
      }
    }
    return false;
  }
  std::string Text(const json& t) {
    try {
      return RenderText(t, Ctx());
    } catch (const EvalError&) {
      return t.is_string() ? t.get<std::string>() : t.dump();
    }
  }
  EvalContext Ctx() const {
    EvalContext c;
    c.steps = &steps_;
    c.baselines = &baselines_;
    c.secret = [](const std::string&) { return std::string("***"); };
    return c;
  }
  // A guard: evaluated against the simulated outcomes; undecidable ones are taken as true.
  bool Guard(const json& s, int indent) {
    if (!s.contains("when")) return true;
    try {
      return EvalBool(s["when"], Ctx());
    } catch (const EvalError& e) {
      Line(indent, fmt::format("(guard cannot be decided without running: {}; assumed true)", e.what()));
      return true;
    }
  }
  void Line(int indent, const std::string& s) { out_ << std::string(static_cast<std::size_t>(indent) * 2, ' ') << s << "\n"; }

  // `group`: the gate the item belongs to, so `--fail GATE` fails the gate.
  bool Item(const json& c, int indent, const std::string& where, const std::string& group = "") {
    const std::string op = c.value("op", "");
    if (op == "check") {
      const std::string label = Text(c["label"]);
      const bool f = Fails({label, c.value("id", ""), group});
      Line(indent, fmt::format("{}: check \"{}\" {}", where, label, f ? "FAILS" : "passes"));
      return !f;
    }
    const std::string text = Text(c["text"]);
    const bool f = Fails({text, c.value("id", ""), group});
    Line(indent, fmt::format("{}: confirm \"{}\" {}", where, text, f ? "is NOT confirmed" : "is confirmed"));
    return !f;
  }

  bool Step(const json& s, int indent, const std::string& where) {
    const std::string op = s.value("op", "");
    const std::string label = s.value("label", "");
    std::string what;
    if (op == "run") what = "run `" + Text(s["command"]) + "`";
    else if (op == "http") what = "http " + s.value("method", "GET") + " " + Text(s["url"]);
    else if (op == "deploy") what = "deploy " + s["service"].value("name", "?");
    else if (op == "deploy_abort") {
      auto d = deploys_.find(s.value("deploy", ""));
      what = fmt::format("abort the rollout of {} (traffic back to the previous version)", d == deploys_.end() ? std::string("?") : d->second);
    } else if (op == "call") what = "call " + s.value("action", "?");
    else if (op == "approve") what = "approve " + s["approval"].value("name", "?");
    else what = op;
    if (!Guard(s, indent)) {
      Line(indent, fmt::format("{}: {} skipped (its guard is false)", where, label.empty() ? what : label));
      return true;
    }
    std::vector<std::string> names = {label, s.value("id", "")};
    if (op == "approve") names.push_back(s["approval"].value("name", ""));
    if (op == "call") names.push_back(s.value("action", ""));
    if (op == "deploy") {
      for (const auto& st : s["strategy"]["steps"]) {
        if (st.contains("analyze")) names.push_back(st["analyze"].value("name", ""));
      }
    }
    if (s.value("mutating", false)) changed_ = true;
    bool ok = !Fails(names);
    Line(indent, fmt::format("{}: {}{} {}", where, label.empty() ? "" : label + ": ", what, ok ? "ok" : "FAILS"));
    if (op == "deploy") {
      deploys_[s.value("id", "")] = s["service"].value("name", "?");
      // The strategy steps up to the failing analysis, then the abort.
      bool aborted = false;
      for (const auto& st : s["strategy"]["steps"]) {
        if (st.contains("weight")) Line(indent + 1, fmt::format("weight {:g}%", st["weight"].get<double>() * 100));
        if (st.contains("pause_s")) Line(indent + 1, "pause");
        if (st.contains("pause")) Line(indent + 1, "pause until `trixc promote`");
        if (st.contains("promote")) Line(indent + 1, "promote");
        if (st.contains("analyze")) {
          const std::string a = st["analyze"].value("name", "");
          const bool fails = Fails({a});
          Line(indent + 1, fmt::format("analysis `{}` {}", a, fails ? "FAILS: the rollout aborts, traffic back to the stable version" : "passes"));
          if (fails) {
            aborted = true;
            break;
          }
        }
      }
      if (!ok && !aborted) Line(indent + 1, "the rollout FAILS: it aborts, traffic back to the stable version");
    }
    if (ok && (op == "call" || op == "parallel")) {
      for (const auto& c : s["children"]) {
        if (!Step(c, indent + 1, op == "call" ? s.value("action", "") : "parallel")) {
          ok = false;
          if (op == "call") break;
        }
      }
    }
    if (!label.empty()) {
      StepOutcome o;
      o.ok = ok;
      o.exit_code = ok ? 0 : 1;
      o.status = ok ? 200 : 500;
      steps_[label] = o;
    }
    if (ok && s.contains("undo")) {
      // Named as the run names it: by label, else by what it is and where.
      std::string name = label;
      if (name.empty()) {
        const json& loc = s.contains("loc") ? s["loc"] : json::object();
        name = fmt::format("{} ({}:{})", what, loc.value("file", "?"), loc.value("line", 0));
      }
      undo_.push_back({name, s["undo"]});
    }
    return ok;
  }

  bool Top(const json& in) {
    const std::string op = in.value("op", "");
    const std::string phase = in.value("phase", "");
    if (!Guard(in, 0)) return true;
    if (op == "check" || op == "confirm") {
      return phase == "gate" ? Item(in, 0, "gate " + in.value("group", ""), in.value("group", "")) : Item(in, 0, "verify");
    }
    if (op == "baseline") {
      const bool f = Fails({in.value("name", ""), in.value("id", "")});
      Line(0, fmt::format("baseline {}: {}", in.value("name", ""), f ? "cannot be measured (FAILS)" : "measured"));
      baselines_[in.value("name", "")] = 0;
      return !f;
    }
    if (op == "approve") {
      const std::string name = in["approval"].value("name", "");
      const bool f = Fails({name, in.value("id", "")});
      Line(0, fmt::format("approve {}: {}", name, f ? "REFUSED (or timed out)" : "approved"));
      return !f;
    }
    if (op == "stage") {
      const std::string name = in.value("name", "");
      if (Fails({name})) {
        Line(0, fmt::format("stage {}: FAILS at its first step", name));
        for (const auto& c : in["children"]) {
          if (c.value("mutating", false)) changed_ = true;
          break;
        }
        return false;
      }
      Line(0, "stage " + name);
      for (const auto& c : in["children"]) {
        if (!Step(c, 1, name)) return false;
      }
    }
    return true;
  }

  const json& plan_;
  const std::set<std::string>& fail_;
  std::ostream& out_;
  std::set<std::string> matched_;
  std::map<std::string, StepOutcome> steps_;
  std::map<std::string, double> baselines_;
  std::vector<std::pair<std::string, json>> undo_;  // (name of the step, its undo block)
  std::map<std::string, std::string> deploys_;       // deploy id -> service name
  bool changed_ = false;
};

}  // namespace

int Simulate(const nlohmann::json& plan, const std::set<std::string>& fail, std::ostream& out, bool drill) {
  Sim s(plan, fail, out);
  s.drill_ = drill;
  return s.Run();
}

}  // namespace trix::rt
