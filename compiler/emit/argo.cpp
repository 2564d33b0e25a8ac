// `trixc emit argo`: per pipeline and environment, an Argo Workflow (or a
// CronWorkflow for schedule triggers), a Rollout per canary / blue-green
// `deploy` with an AnalysisTemplate per analysis it runs, and an Argo CD
// Application per environment when the runbook has a `gitops` declaration.
//
// Steps run as `script` templates (sh) in the image chosen by `--image`, the
// pipeline's `image` attribute, or kDefaultImage. Approvals and `confirm`
// become `suspend` templates without a duration (a timed suspend resumes,
// that is approves, when it runs out); their timeout is the template's
// activeDeadlineSeconds, which fails the node. Rollback runs from `onExit`
// when the workflow did not succeed; which steps finished is carried by
// global output parameters (`done-<id>`), all set to "no" by the first step.
#include <fmt/format.h>

#include <cmath>

#include "compiler/check/checker.hpp"
#include "compiler/emit/common.hpp"
#include "compiler/util/text.hpp"

namespace trix::emit {
namespace {

using json = nlohmann::json;

/// kubectl, helm, curl, jq and a POSIX shell: what the stdlib's actions and emitted probes call.
constexpr const char* kDefaultImage = "alpine/k8s:1.30.4";
constexpr const char* kSecretName = "trix-secrets";

std::string Secs(double s) { return std::to_string(static_cast<long long>(std::ceil(s))) + "s"; }

class ArgoEmitter {
 public:
  ArgoEmitter(const sema::Program& p, const SourceManager& sm, const Options& opt, Diagnostics& d)
      : p_(p), sm_(sm), opt_(opt), diags_(d), param_types_(ParamTypes(p)) {}

  std::vector<ojson> Pipeline(const PipelinePlans& pp, std::size_t env_index);
  std::vector<ojson> Applications(const std::string& env);

 private:
  void Unsupported(DiagCode code, const json& loc, const std::string& what, const std::string& help = "") {
    ReportFidelity(diags_, sm_, opt_, code, loc, what, help);
  }
  ScriptContext Ctx() {
    ScriptContext ctx;
    ctx.param_types = param_types_;
    ctx.unsupported = [this](const json& loc, const std::string& what) {
      Unsupported(DiagCode::E603, loc, fmt::format("{} has no Argo Workflows form", what),
                  "rewrite it with parameters, literals and the probe's results, or run the pipeline with `trixc run`");
    };
    ctx.done_line = "echo done > /tmp/trix-done-{id}";
    return ctx;
  }
  /// A `script` template; `done_ids` gain global outputs.
  ojson ScriptTemplate(const std::string& name, const std::string& script, ScriptContext& ctx, const json& instr, bool mutating);
  std::string Leaf(const json& s, bool mutating);  // returns the template name
  ojson StepGroupFor(const json& s);               // a step group (list of parallel steps)
  /// Appends the group for `s` to `list`; an approval's group is framed by the step that
  /// records when the wait began and the step that fails an approval given after its timeout.
  void PushGroup(ojson& list, const json& s, bool continue_on_failure = false);
  std::string DeployScript(const json& d, ScriptContext& ctx, bool undo);
  void Rollout(const json& d);
  void AnalysisTemplate(const json& a);
  /// Text of an AnalysisTemplate field: secrets become `{{args.secret-NAME}}` (added to `args`), a
  /// parameter or other open value is E603 (`what` names the field).
  std::string AnalysisText(const json& text, const json& loc, const std::string& what, ojson& args);
  std::optional<std::string> Condition(const json& e, const json& loc, const std::string& kind, std::string* json_path);
  /// A step `when` over workflow parameters; E603 (and nullopt) for anything else.
  std::optional<std::string> When(const json& e, const json& loc);

  const sema::Program& p_;
  const SourceManager& sm_;
  const Options& opt_;
  Diagnostics& diags_;
  std::map<std::string, ast::TypeKind> param_types_;
  // Per (pipeline, environment):
  const json* plan_ = nullptr;
  std::string image_;
  ojson templates_;
  std::vector<std::string> done_ids_;
  std::vector<std::pair<std::string, json>> undos_;  // (id of the step, its undo block) in completion order
  std::map<std::string, std::string> labels_;       // step label -> step id
  std::vector<ojson> extra_;                        // Rollouts, AnalysisTemplates
  struct TimeoutCheck {
    std::string approval, suspend_step;
    long long timeout_s = 0;
    std::optional<std::string> when;
  };
  std::vector<TimeoutCheck> approval_checks_;
  json analysis_loc_;  // the `deploy` whose Rollout runs the analysis being written (analyses carry no location)  // filled by StepGroupFor, emptied by PushGroup
  std::set<std::string> extra_names_;
};

ojson ArgoEmitter::ScriptTemplate(const std::string& name, const std::string& script, ScriptContext& ctx, const json& instr, bool mutating) {
  ojson t;
  t["name"] = name;
  ojson env = ojson::array();
  std::string pre;
  for (const auto& prm : ctx.params) env.push_back(ojson{{"name", ParamVar(prm)}, {"value", "{{workflow.parameters." + prm + "}}"}});
  for (const auto& s : ctx.secrets) {
    const json& src = (*plan_)["secrets"].value(s, json::object());
    if (src.value("from", "") == "file") pre += SecretEnvVar(s) + "=$(cat " + ShellQuote(src.value("ref", "")) + ")\n";
    else env.push_back(ojson{{"name", SecretEnvVar(s)}, {"valueFrom", ojson{{"secretKeyRef", ojson{{"name", kSecretName}, {"key", src.value("ref", s)}}}}}});
  }
  for (const auto& b : ctx.baselines)
    env.push_back(ojson{{"name", BaselineVar(b)}, {"value", "{{workflow.outputs.parameters.baseline-" + DnsName(b) + "}}"}});
  for (const auto& l : ctx.step_refs) {
    auto it = labels_.find(l);
    if (it == labels_.end()) {
      Unsupported(DiagCode::E603, instr["loc"], fmt::format("`steps.{}.ok` before that step has run", l));
      continue;
    }
    env.push_back(ojson{{"name", StepOkVar(l)}, {"value", "{{=workflow.outputs.parameters['done-" + it->second + "'] == 'done'}}"}});
  }
  if (mutating) pre = "echo yes > /tmp/trix-changed\n" + pre;
  ojson sc;
  sc["name"] = "main";  // Argo's own default; the schema wants it spelled out
  sc["image"] = image_;
  sc["command"] = ojson::array({"sh"});
  if (!env.empty()) sc["env"] = env;
  sc["source"] = pre + script;
  t["script"] = sc;
  ojson outputs = ojson::array();
  std::function<void(const json&)> collect = [&](const json& s) {
    if ((s.contains("undo") || s.contains("label")) && s.value("op", "") != "check") {
      const std::string id = s["id"].get<std::string>();
      outputs.push_back(ojson{{"name", "done-" + id}, {"globalName", "done-" + id},
                              {"valueFrom", ojson{{"path", "/tmp/trix-done-" + id}, {"default", "no"}}}});
      done_ids_.push_back(id);
      if (s.contains("undo")) undos_.push_back({id, s["undo"]});
      if (s.contains("label")) labels_[s["label"].get<std::string>()] = id;
    }
    if (s.contains("children")) {
      for (const auto& ch : s["children"]) collect(ch);
    }
  };
  if (!instr.is_null()) collect(instr);
  if (mutating) outputs.push_back(ojson{{"name", "changed"}, {"globalName", "trix-changed"}, {"valueFrom", ojson{{"path", "/tmp/trix-changed"}, {"default", "no"}}}});
  if (!outputs.empty()) t["outputs"] = ojson{{"parameters", outputs}};
  // `retries`, `backoff` and a step's `timeout` are in the script (per attempt, doubling backoff, as
  // the runtime and the GitHub scripts do): no retryStrategy or activeDeadlineSeconds on top, which
  // would multiply the attempts and cut the retries short.
  return t;
}

std::string ArgoEmitter::DeployScript(const json& d, ScriptContext& ctx, bool undo) {
  const json& svc = d.value("service", json::object());
  const std::string ns = svc.contains("namespace") && svc["namespace"].is_string() ? "-n " + ShellQuote(svc["namespace"].get<std::string>()) + " " : "";
  const std::string name = svc.value("deployment", svc.value("name", ""));
  const std::string kind = d["strategy"].value("kind", "rolling");
  const std::string container = svc.contains("container") && svc["container"].is_string() ? svc["container"].get<std::string>() : "*";
  if (kind == "rolling") {
    if (undo) return "set -e\nkubectl " + ns + "rollout undo " + ShellQuote("deployment/" + name) + "\nkubectl " + ns + "rollout status " + ShellQuote("deployment/" + name) + "\n";
    return "set -e\nkubectl " + ns + "set image " + ShellQuote("deployment/" + name) + " " + ShellQuote(container + "=") + TextWord(d["version"], d["loc"], ctx) +
           "\nkubectl " + ns + "rollout status " + ShellQuote("deployment/" + name) + "\n";
  }
  if (undo) {
    // Abort: traffic back to the stable version (what `kubectl argo rollouts abort` patches).
    return "set -e\nkubectl " + ns + "patch rollout " + ShellQuote(name) + " --subresource status --type merge -p '{\"status\":{\"abort\":true}}'\n";
  }
  // The Rollout references the Deployment (workloadRef): a new pod template starts the rollout.
  return "set -e\nkubectl " + ns + "set image " + ShellQuote("deployment/" + name) + " " + ShellQuote(container + "=") + TextWord(d["version"], d["loc"], ctx) +
         "\n# Wait for the Rollout: Healthy ends the step, Degraded (an aborted or failed analysis) fails it.\n"
         "sleep 5\n"
         "while :; do\n"
         "  phase=$(kubectl " + ns + "get rollout " + ShellQuote(name) + " -o jsonpath='{.status.phase}')\n"
         "  case \"$phase\" in\n"
         "    Healthy) echo 'rollout complete'; break ;;\n"
         "    Degraded) echo 'rollout aborted or degraded'; exit 1 ;;\n"
         "  esac\n"
         "  sleep 10\n"
         "done\n";
}

std::optional<std::string> ArgoEmitter::Condition(const json& e, const json& loc, const std::string& kind, std::string* json_path) {
  auto fail = [&](const std::string& what) -> std::optional<std::string> {
    Unsupported(DiagCode::E603, loc, fmt::format("{} in an analysis has no Argo Rollouts form", what),
                "an Argo metric sees `value` (prometheus) or one `json(ptr)` value (http)");
    return std::nullopt;
  };
  if (e.contains("lit")) {
    if (e["lit"].is_boolean()) return std::string(e["lit"].get<bool>() ? "true" : "false");
    if (e["lit"].is_number()) return e["lit"].dump();
    if (e["lit"].is_string()) return json(e["lit"]).dump();
    return fail("a list");
  }
  if (e.contains("name")) {
    if (e["name"] == "value" && kind == "prometheus") return std::string("result[0]");
    return fail(fmt::format("`{}`", e["name"].get<std::string>()));
  }
  if (e.contains("call")) {
    const std::string f = e["call"].get<std::string>();
    const json& args = e["args"];
    if (f == "json" && kind == "http" && args.size() == 1 && args[0].contains("lit") && args[0]["lit"].is_string()) {
      std::string ptr = args[0]["lit"].get<std::string>();
      std::string path = "{$";
      std::size_t pos = 1;
      while (pos <= ptr.size() && !ptr.empty()) {
        std::size_t slash = ptr.find('/', pos);
        path += "." + ptr.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
        if (slash == std::string::npos) break;
        pos = slash + 1;
      }
      path += "}";
      if (!json_path->empty() && *json_path != path) return fail("a second `json()` pointer");
      *json_path = path;
      return std::string("result");
    }
    if ((f == "len" || f == "float" || f == "int") && args.size() == 1) {
      auto x = Condition(args[0], loc, kind, json_path);
      if (!x) return std::nullopt;
      return f == "len" ? "len(" + *x + ")" : f == "int" ? "int(" + *x + ")" : "float(" + *x + ")";
    }
    return fail(fmt::format("`{}()`", f));
  }
  if (e.contains("op")) {
    const std::string op = e["op"].get<std::string>();
    auto a = Condition(e["a"], loc, kind, json_path);
    if (!a) return std::nullopt;
    if (!e.contains("b")) {
      if (op == "not") return "!(" + *a + ")";
      if (op == "-") return "-" + *a;
      return fail(fmt::format("`{}`", op));
    }
    auto b = Condition(e["b"], loc, kind, json_path);
    if (!b) return std::nullopt;
    static const std::map<std::string, std::string> ops = {{"and", "&&"}, {"or", "||"}, {"==", "=="}, {"!=", "!="}, {"<", "<"}, {"<=", "<="},
                                                           {">", ">"},    {">=", ">="}, {"+", "+"},   {"-", "-"},   {"*", "*"}, {"/", "/"}};
    if (auto o = ops.find(op); o != ops.end()) return "(" + *a + " " + o->second + " " + *b + ")";
    return fail(fmt::format("`{}`", op));
  }
  return fail(fmt::format("`{}`", ExprText(e)));
}

std::string ArgoEmitter::AnalysisText(const json& text, const json& loc, const std::string& what, ojson& args) {
  // Argo Rollouts applies the AnalysisTemplate as written: a secret becomes a template argument read
  // from the Kubernetes Secret (`{{args.NAME}}`); a parameter's value is chosen when the workflow
  // runs, which the template never sees.
  std::string o;
  std::function<void(const json&)> part = [&](const json& p) {
    if (p.is_string()) {
      o += p.get<std::string>();
    } else if (p.is_array()) {
      for (const auto& x : p) part(x);
    } else if (p.contains("lit")) {
      o += p["lit"].is_string() ? p["lit"].get<std::string>() : p["lit"].dump();
    } else if (p.contains("concat")) {
      part(p["concat"]);
    } else if (p.contains("secret")) {
      const std::string sname = p["secret"].get<std::string>();
      const json& src = (*plan_)["secrets"].value(sname, json::object());
      if (src.value("from", "") == "file") {
        Unsupported(DiagCode::E603, loc,
                    fmt::format("secret `{}` (read from a file) in the {} has no Argo Rollouts form", sname, what),
                    "read the secret with `env(\"...\")`: it becomes a key of the Kubernetes Secret `trix-secrets`");
        o += "***";
        return;
      }
      const std::string arg = DnsName("secret-" + sname);
      bool have = false;
      for (const auto& x : args) have = have || x["name"] == arg;
      if (!have) args.push_back(ojson{{"name", arg}, {"valueFrom", ojson{{"secretKeyRef", ojson{{"name", kSecretName}, {"key", src.value("ref", sname)}}}}}});
      o += "{{args." + arg + "}}";
    } else {
      const std::string shown = p.contains("name") ? "parameter `" + p["name"].get<std::string>() + "`" : "`" + ExprText(p) + "`";
      Unsupported(DiagCode::E603, loc, fmt::format("{} in the {} has no Argo Rollouts form (the AnalysisTemplate is applied as written, not by the workflow)", shown, what),
                  "use literals and `env.X` attributes in analyses, or run the pipeline with `trixc run`");
      o += "${" + ExprText(p) + "}";
    }
  };
  part(text);
  return o;
}

void ArgoEmitter::AnalysisTemplate(const json& a) {
  const std::string name = DnsName(a.value("name", "analysis"));
  if (!extra_names_.insert("AnalysisTemplate/" + name).second) return;
  ojson metrics = ojson::array();
  ojson args = ojson::array();
  for (const auto& m : a["metrics"]) {
    const json& p = m["probe"];
    const std::string kind = p.value("kind", "");
    ojson mj;
    mj["name"] = DnsName(m.value("name", "metric"));
    if (m.contains("interval_s") && m["interval_s"].is_number()) mj["interval"] = Secs(m["interval_s"].get<double>());
    mj["count"] = m.value("count", 1);
    mj["failureLimit"] = m.value("failure_limit", 0);
    if (m.value("inconclusive_limit", 0) > 0) mj["inconclusiveLimit"] = m.value("inconclusive_limit", 0);
    // Probes fail closed: a measurement that errors (no data, unreachable) fails the analysis at once.
    mj["consecutiveErrorLimit"] = 0;
    std::string jpath;
    const bool default_http = kind == "http" && p.contains("expect") &&
                              p["expect"] == json{{"op", "and"},
                                                  {"a", {{"op", ">="}, {"a", {{"name", "status"}}}, {"b", {{"lit", 200}}}}},
                                                  {"b", {{"op", "<"}, {"a", {{"name", "status"}}}, {"b", {{"lit", 400}}}}}};
    if (p.contains("expect") && !default_http && kind != "run") {  // a `run` metric's expect: below
      if (auto c = Condition(p["expect"], m.value("loc", a.value("loc", analysis_loc_)), kind, &jpath)) {
        std::string cond = *c;
        const std::string no_data = kind == "prometheus" ? p.value("on_no_data", "fail") : "fail";
        if (no_data == "pass") {
          cond = "len(result) == 0 || " + cond;
        } else if (no_data == "inconclusive") {
          // Argo counts a measurement that meets neither condition as Inconclusive (toward
          // inconclusiveLimit, which pauses the rollout); with only a successCondition, no data
          // would be an error, that is a failure.
          mj["successCondition"] = "len(result) > 0 && " + cond;
          cond = "len(result) > 0 && !(" + cond + ")";
          mj["failureCondition"] = cond;
          cond.clear();
        }
        if (!cond.empty()) mj["successCondition"] = cond;
      }
    }
    ojson provider;
    if (kind == "prometheus") {
      const json mloc = m.value("loc", a.value("loc", analysis_loc_));
      provider["prometheus"] = ojson{{"address", p.contains("at") ? AnalysisText(p["at"], mloc, "address of metric `" + m.value("name", "") + "`", args) : ""},
                                     {"query", AnalysisText(p["query"], mloc, "query of metric `" + m.value("name", "") + "`", args)}};
    } else if (kind == "http") {
      ojson web;
      const json mloc = m.value("loc", a.value("loc", analysis_loc_));
      web["url"] = AnalysisText(p["url"], mloc, "URL of metric `" + m.value("name", "") + "`", args);
      if (p.value("method", "GET") != "GET") web["method"] = p.value("method", "GET");
      if (p.contains("headers") && p["headers"].is_object()) {
        ojson hs = ojson::array();
        for (auto it = p["headers"].begin(); it != p["headers"].end(); ++it)
          hs.push_back(ojson{{"key", it.key()}, {"value", AnalysisText(it.value(), mloc, "header `" + it.key() + "` of metric `" + m.value("name", "") + "`", args)}});
        web["headers"] = hs;
      }
      if (p.contains("timeout_s") && p["timeout_s"].is_number()) web["timeoutSeconds"] = static_cast<long long>(std::ceil(p["timeout_s"].get<double>()));
      if (!jpath.empty()) web["jsonPath"] = jpath;
      if (p.value("insecure", false)) web["insecure"] = true;
      provider["web"] = web;
    } else {
      // A `run` probe: a Kubernetes Job in the step image; it passes when the command exits 0.
      const bool plain = p["expect"] == json{{"op", "=="}, {"a", {{"name", "exit_code"}}}, {"b", {{"lit", 0}}}};
      if (!plain)
        Unsupported(DiagCode::E603, m.value("loc", a.value("loc", analysis_loc_)), fmt::format("metric `{}`: a `run` probe with an `expect` has no Argo Rollouts form", m.value("name", "")),
                    "make the command exit non-zero when the check fails");
      ScriptContext ctx = Ctx();
      const json mloc = m.value("loc", a.value("loc", analysis_loc_));
      const std::string cmd = CommandText(p["command"], mloc, ctx);
      // The Job runs outside the workflow: it sees the Kubernetes Secret, not the workflow's parameters.
      for (const auto& prm : ctx.params)
        Unsupported(DiagCode::E603, mloc, fmt::format("parameter `{}` in the command of analysis metric `{}` has no Argo Rollouts form (the Job is applied as written, not by the workflow)", prm, m.value("name", "")),
                    "use literals and `env.X` attributes in analyses, or run the pipeline with `trixc run`");
      ojson cenv = ojson::array();
      std::set<std::string> secrets = ctx.secrets;
      std::map<std::string, std::string> var_of;  // secret -> the variable the command reads
      for (const auto& sname : secrets) var_of[sname] = SecretEnvVar(sname);
      if (p.contains("env") && p["env"].is_object()) {
        for (auto it = p["env"].begin(); it != p["env"].end(); ++it) {
          if (it.value().is_object() && it.value().contains("secret")) {
            secrets.insert(it.value()["secret"].get<std::string>());
            var_of[it.value()["secret"].get<std::string>()] = it.key();
          } else {
            ojson dummy = ojson::array();
            cenv.push_back(ojson{{"name", it.key()}, {"value", AnalysisText(it.value(), mloc, "command environment of metric `" + m.value("name", "") + "`", dummy)}});
          }
        }
      }
      for (const auto& sname : secrets) {
        const json& src = (*plan_)["secrets"].value(sname, json::object());
        if (src.value("from", "") == "file") {
          Unsupported(DiagCode::E603, mloc, fmt::format("secret `{}` (read from a file) in analysis metric `{}` has no Argo Rollouts form", sname, m.value("name", "")),
                      "read the secret with `env(\"...\")`: it becomes a key of the Kubernetes Secret `trix-secrets`");
          continue;
        }
        cenv.push_back(ojson{{"name", var_of[sname]}, {"valueFrom", ojson{{"secretKeyRef", ojson{{"name", kSecretName}, {"key", src.value("ref", sname)}}}}}});
      }
      ojson container{{"name", "probe"}, {"image", image_}, {"command", ojson::array({"sh", "-c", cmd})}};
      if (!cenv.empty()) container["env"] = cenv;
      provider["job"] = ojson{{"spec", ojson{{"backoffLimit", 0},
                                             {"template", ojson{{"spec", ojson{{"restartPolicy", "Never"},
                                                                               {"containers", ojson::array({container})}}}}}}}};
    }
    mj["provider"] = provider;
    metrics.push_back(mj);
  }
  ojson doc;
  doc["apiVersion"] = "argoproj.io/v1alpha1";
  doc["kind"] = "AnalysisTemplate";
  ojson meta{{"name", name}};
  if ((*plan_)["env"].contains("namespace") && (*plan_)["env"]["namespace"].is_string()) meta["namespace"] = (*plan_)["env"]["namespace"];
  doc["metadata"] = meta;
  ojson spec;
  if (!args.empty()) spec["args"] = args;
  spec["metrics"] = metrics;
  doc["spec"] = spec;
  extra_.push_back(doc);
}

void ArgoEmitter::Rollout(const json& d) {
  analysis_loc_ = d.value("loc", json());
  const json& svc = d.value("service", json::object());
  const std::string dep = svc.value("deployment", svc.value("name", ""));
  const std::string name = DnsName(dep);
  if (!extra_names_.insert("Rollout/" + name).second) return;
  const json& st = d["strategy"];
  const std::string kind = st.value("kind", "rolling");
  const json& attrs = st.value("attrs", json::object());
  ojson strategy;
  auto templates = [&](const json& a) {
    AnalysisTemplate(a);
    return ojson{{"templates", ojson::array({ojson{{"templateName", DnsName(a.value("name", ""))}}})}};
  };
  auto surge = [](const json& v) -> ojson {
    if (v.is_number() && v.get<double>() < 1.0 && v.get<double>() > 0) return std::to_string(static_cast<long long>(std::lround(v.get<double>() * 100))) + "%";
    return v;
  };
  if (kind == "canary") {
    ojson steps = ojson::array();
    for (const auto& s : st["steps"]) {
      if (s.contains("weight")) steps.push_back(ojson{{"setWeight", static_cast<long long>(std::lround(s["weight"].get<double>() * 100))}});
      else if (s.contains("pause_s")) steps.push_back(ojson{{"pause", ojson{{"duration", Secs(s["pause_s"].get<double>())}}}});
      else if (s.contains("pause")) steps.push_back(ojson{{"pause", ojson::object()}});
      else if (s.contains("analyze")) steps.push_back(ojson{{"analysis", templates(s["analyze"])}});
    }
    ojson canary;
    if (attrs.contains("max_surge")) canary["maxSurge"] = surge(attrs["max_surge"]);
    if (attrs.contains("max_unavailable")) canary["maxUnavailable"] = surge(attrs["max_unavailable"]);
    canary["steps"] = steps;
    strategy["canary"] = canary;
  } else {
    ojson bg;
    const std::string active = svc.contains("service") && svc["service"].is_string() ? svc["service"].get<std::string>() : dep;
    bg["activeService"] = active;
    bg["previewService"] = active + "-preview";
    bool promoted = false, manual = false;
    ojson pre = ojson::array(), post = ojson::array();
    for (const auto& s : st["steps"]) {
      if (s.contains("promote")) promoted = true;
      else if (s.contains("pause")) manual = true;
      else if (s.contains("pause_s")) bg["autoPromotionSeconds"] = static_cast<long long>(std::ceil(s["pause_s"].get<double>()));
      else if (s.contains("analyze")) {
        AnalysisTemplate(s["analyze"]);
        (promoted ? post : pre).push_back(ojson{{"templateName", DnsName(s["analyze"].value("name", ""))}});
      }
    }
    // A pause with no duration waits for `trixc promote` in the runtime,
    // whatever `auto_promote` says; Argo would promote by itself.
    const bool auto_promote = !manual && (!attrs.contains("auto_promote") || attrs["auto_promote"].get<bool>());
    bg["autoPromotionEnabled"] = auto_promote;
    if (!pre.empty()) bg["prePromotionAnalysis"] = ojson{{"templates", pre}};
    if (!post.empty()) bg["postPromotionAnalysis"] = ojson{{"templates", post}};
    if (attrs.contains("scale_down_delay") && attrs["scale_down_delay"].is_number())
      bg["scaleDownDelaySeconds"] = static_cast<long long>(std::ceil(attrs["scale_down_delay"].get<double>()));
    strategy["blueGreen"] = bg;
  }
  ojson labels = ojson::object();
  if (svc.contains("selector") && svc["selector"].is_string()) {
    for (const auto& kv : [](const std::string& s) {
           std::vector<std::string> v;
           std::size_t pos = 0;
           while (pos <= s.size()) {
             std::size_t c = s.find(',', pos);
             v.push_back(s.substr(pos, c == std::string::npos ? std::string::npos : c - pos));
             if (c == std::string::npos) break;
             pos = c + 1;
           }
           return v;
         }(svc["selector"].get<std::string>())) {
      auto eq = kv.find('=');
      if (eq != std::string::npos) labels[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
  }
  if (labels.empty()) labels["app"] = dep;
  ojson doc;
  doc["apiVersion"] = "argoproj.io/v1alpha1";
  doc["kind"] = "Rollout";
  ojson meta{{"name", name}};
  if (svc.contains("namespace") && svc["namespace"].is_string()) meta["namespace"] = svc["namespace"];
  doc["metadata"] = meta;
  ojson spec;
  if (svc.contains("replicas") && svc["replicas"].is_number()) spec["replicas"] = svc["replicas"];
  spec["selector"] = ojson{{"matchLabels", labels}};
  spec["workloadRef"] = ojson{{"apiVersion", "apps/v1"}, {"kind", "Deployment"}, {"name", dep}, {"scaleDown", "progressively"}};
  spec["strategy"] = strategy;
  doc["spec"] = spec;
  extra_.push_back(doc);
}

std::string ArgoEmitter::Leaf(const json& s, bool mutating) {
  const std::string op = s.value("op", "");
  ScriptContext ctx = Ctx();
  std::string script;
  // A step label is a name; a check's label is text (possibly with parameters), so checks are named by id.
  std::string name = DnsName(s.contains("label") && s["label"].is_string() && op != "check" ? s["label"].get<std::string>() + "-" + s["id"].get<std::string>()
                                                                                          : op + "-" + s["id"].get<std::string>());
  if (op == "check") {
    ctx.done_line.clear();
    script = CheckScript(s, ctx);
  } else if (op == "deploy") {
    const json& svc = s.value("service", json::object());
    const std::string kind = s["strategy"].value("kind", "rolling");
    if (svc.value("provider", "") != "k8s") {
      Unsupported(DiagCode::E602, s["loc"], fmt::format("`deploy` with provider `{}` has no Argo form (a Rollout drives Kubernetes workloads)", svc.value("provider", "")),
                  "use a `k8s` service, or run this pipeline with `trixc run`");
      script = "echo 'deploy with provider " + svc.value("provider", "") + " cannot run from Argo'\nexit 1\n";
    } else {
      if (kind != "rolling") Rollout(s);
      script = DeployScript(s, ctx, false);
      script += "echo done > /tmp/trix-done-" + s["id"].get<std::string>() + "\n";
    }
  } else {
    script = StepScript(s, ctx);
  }
  templates_.push_back(ScriptTemplate(name, script, ctx, s, mutating));
  return name;
}

std::optional<std::string> ArgoEmitter::When(const json& w, const json& loc) {
  std::function<std::optional<std::string>(const json&)> cond = [&](const json& e) -> std::optional<std::string> {
    if (e.contains("lit")) return e["lit"].is_string() ? "'" + e["lit"].get<std::string>() + "'" : e["lit"].dump();
    if (e.contains("name") && param_types_.count(e["name"].get<std::string>())) {
      const std::string n = e["name"].get<std::string>();
      return param_types_.at(n) == ast::TypeKind::Bool ? "{{workflow.parameters." + n + "}} == true" : "{{workflow.parameters." + n + "}}";
    }
    if (e.contains("op") && e.contains("b")) {
      auto x = cond(e["a"]), y = cond(e["b"]);
      if (!x || !y) return std::nullopt;
      static const std::map<std::string, std::string> ops = {{"and", "&&"}, {"or", "||"}, {"==", "=="}, {"!=", "!="}};
      if (auto o = ops.find(e["op"].get<std::string>()); o != ops.end()) return "(" + *x + " " + o->second + " " + *y + ")";
    }
    if (e.contains("op") && e["op"] == "not") {
      if (auto x = cond(e["a"])) return "!(" + *x + ")";
    }
    return std::nullopt;
  };
  auto c = cond(w);
  if (!c) Unsupported(DiagCode::E603, loc, fmt::format("the condition `{}` has no Argo `when` form", ExprText(w)), "a step condition may read parameters and literals only");
  return c;
}

ojson ArgoEmitter::StepGroupFor(const json& s) {
  const std::string op = s.value("op", "");
  ojson group = ojson::array();
  if (op == "parallel") {
    for (const auto& ch : s["children"]) {
      if (ch.value("op", "") == "approve" || ch.value("op", "") == "parallel") {
        ojson sub = StepGroupFor(ch);
        for (auto& x : sub) group.push_back(x);
        continue;
      }
      const std::string t = Leaf(ch, ch.value("mutating", false));
      group.push_back(ojson{{"name", t}, {"template", t}});
    }
    return group;
  }
  if (op == "approve") {
    const json& a = s.value("approval", json::object());
    int n = 0;
    for (const auto& r : a.value("requires", json::array())) {
      ++n;
      const int quorum = r.value("quorum", 1);
      std::vector<std::string> roles = r.value("roles", std::vector<std::string>{});
      std::vector<std::string> people = r.value("people", std::vector<std::string>{});
      if (quorum > 1)
        Unsupported(DiagCode::E601, s["loc"],
                    fmt::format("approval `{}` requires {} people ({} of [{}]); an Argo `suspend` is resumed once", a.value("name", ""), quorum, quorum, Join(roles, ", ")),
                    "require one member of each role with separate `require` lines, or run the approval with `trixc run`");
      const std::string t = DnsName("approve-" + a.value("name", "") + "-" + std::to_string(n) + "-" + s["id"].get<std::string>());
      ojson tpl;
      tpl["name"] = t;
      tpl["metadata"] = ojson{{"annotations", ojson{{"trix.dev/approval", a.value("name", "")},
                                                    {"trix.dev/requires", Join(roles, ", ")},
                                                    {"trix.dev/approvers", Join(people, ", ")}}}};
      // No `activeDeadlineSeconds`: Argo applies it to container and script templates only, so a
      // suspend would wait past it; PushGroup adds the step that fails a late approval.
      tpl["suspend"] = ojson::object();
      templates_.push_back(tpl);
      ojson step{{"name", t}, {"template", t}};
      if (r.contains("when") || s.contains("when")) {
        json w = r.contains("when") ? r["when"] : s["when"];
        if (r.contains("when") && s.contains("when")) w = json{{"op", "and"}, {"a", s["when"]}, {"b", r["when"]}};
        if (auto c = When(w, s["loc"])) step["when"] = *c;
      }
      approval_checks_.push_back({a.value("name", ""), t, static_cast<long long>(a.value("timeout_s", 86400.0)),
                                  step.contains("when") ? std::optional<std::string>(step["when"].get<std::string>()) : std::nullopt});
      group.push_back(step);
    }
    return group;
  }
  const std::string t = Leaf(s, s.value("mutating", false));
  group.push_back(ojson{{"name", t}, {"template", t}});
  return group;
}

void ArgoEmitter::PushGroup(ojson& list, const json& s, bool continue_on_failure) {
  approval_checks_.clear();
  ojson group = StepGroupFor(s);
  auto mark = [&](ojson g) {
    if (continue_on_failure) {
      for (auto& x : g) x["continueOn"] = ojson{{"failed", true}};
    }
    list.push_back(g);
  };
  if (approval_checks_.empty()) {
    mark(group);
    return;
  }
  // The approval's `timeout`: Argo gives a suspend no deadline of its own (and a suspend with a
  // `duration` resumes, that is approves, when it runs out), so the wait's start is recorded
  // before the suspends and an approval given after the timeout fails the step after them.
  const std::string id = s.value("id", "a");
  const std::string since = DnsName("approval-wait-" + id);
  templates_.push_back(ojson{{"name", since},
                             {"script", ojson{{"name", "main"}, {"image", image_}, {"command", ojson::array({"sh"})},
                                              {"source", "date +%s > /tmp/trix-since\n"}}},
                             {"outputs", ojson{{"parameters", ojson::array({ojson{{"name", "since"}, {"valueFrom", ojson{{"path", "/tmp/trix-since"}}}}})}}}});
  mark(ojson::array({ojson{{"name", since}, {"template", since}}}));
  mark(group);
  ojson checks = ojson::array();
  for (const auto& c : approval_checks_) {
    const std::string t = DnsName(c.suspend_step + "-in-time");
    const std::string script = fmt::format(
        "set -e\n"
        "# An approval given after its timeout does not count: the approval fails.\n"
        "if [ $(( $(date +%s) - TRIX_WAIT_START )) -gt {} ]; then\n"
        "  echo 'approval `{}` came after its timeout ({}s)'; exit 1\n"
        "fi\n",
        c.timeout_s, c.approval, c.timeout_s);
    ojson env = ojson::array({ojson{{"name", "TRIX_WAIT_START"}, {"value", "{{steps." + since + ".outputs.parameters.since}}"}}});
    templates_.push_back(ojson{{"name", t}, {"script", ojson{{"name", "main"}, {"image", image_}, {"command", ojson::array({"sh"})}, {"env", env}, {"source", script}}}});
    ojson step{{"name", t}, {"template", t}};
    if (c.when) step["when"] = *c.when;
    checks.push_back(step);
  }
  mark(checks);
  approval_checks_.clear();
}

std::vector<ojson> ArgoEmitter::Pipeline(const PipelinePlans& pp, std::size_t env_index) {
  const json& plan = pp.plans[env_index];
  const std::string env = pp.envs[env_index];
  plan_ = &plan;
  templates_ = ojson::array();
  done_ids_.clear();
  undos_.clear();
  labels_.clear();
  extra_.clear();
  extra_names_.clear();
  image_ = !opt_.image.empty() ? opt_.image : plan.contains("image") && plan["image"].is_string() ? plan["image"].get<std::string>() : kDefaultImage;

  ojson main_steps = ojson::array();
  bool mutating = false;
  const std::string window_script = WindowScript(plan.value("env", json::object()), "TRIX_OVERRIDE_WINDOW");
  const json& instrs = plan["instructions"];
  for (std::size_t i = 0; i < instrs.size(); ++i) {
    const json& in = instrs[i];
    const std::string op = in.value("op", "");
    if (op == "check" || op == "confirm") {
      // One group per gate: its checks run in parallel (all must pass), its confirms are one suspend.
      ojson group = ojson::array();
      std::vector<std::string> confirms;
      json confirm_when;
      const std::string phase = in.value("phase", ""), grp = in.value("group", "");
      std::size_t j = i;
      for (; j < instrs.size() && instrs[j].value("phase", "") == phase && instrs[j].value("group", "") == grp &&
             (instrs[j].value("op", "") == "check" || instrs[j].value("op", "") == "confirm");
           ++j) {
        if (instrs[j].value("op", "") == "confirm") {
          confirms.push_back(PlainText(instrs[j]["text"]));
          if (instrs[j].contains("when")) confirm_when = instrs[j]["when"];
          continue;
        }
        const std::string t = Leaf(instrs[j], false);
        group.push_back(ojson{{"name", t}, {"template", t}});
      }
      i = j - 1;
      if (!group.empty()) main_steps.push_back(group);
      if (!confirms.empty()) {
        const std::string t = DnsName("attest-" + grp + "-" + in["id"].get<std::string>());
        ojson tpl;
        tpl["name"] = t;
        tpl["metadata"] = ojson{{"annotations", ojson{{"trix.dev/attest", Join(confirms, "; ")}}}};
        tpl["suspend"] = ojson::object();
        templates_.push_back(tpl);
        ojson step{{"name", t}, {"template", t}};
        if (!confirm_when.is_null()) {
          if (auto c = When(confirm_when, in["loc"])) step["when"] = *c;
        }
        main_steps.push_back(ojson::array({step}));
      }
    } else if (op == "approve") {
      PushGroup(main_steps, in);
    } else if (op == "baseline") {
      // A step of its own; later steps read it as a global output parameter.
      const std::string name = in.value("name", "baseline");
      ScriptContext ctx = Ctx();
      std::string script = BaselineScript(in, ctx) + "printf '%s' \"$trix_value\" > /tmp/trix-baseline\necho \"baseline " + name + " = $trix_value\"\n";
      const std::string t = DnsName("baseline-" + name + "-" + in["id"].get<std::string>());
      ojson tpl = ScriptTemplate(t, script, ctx, json(), false);
      tpl["outputs"] = ojson{{"parameters", ojson::array({ojson{{"name", "value"}, {"globalName", "baseline-" + DnsName(name)},
                                                                 {"valueFrom", ojson{{"path", "/tmp/trix-baseline"}}}}})}};
      templates_.push_back(tpl);
      main_steps.push_back(ojson::array({ojson{{"name", t}, {"template", t}}}));
    } else if (op == "stage") {
      std::function<void(const json&)> add = [&](const json& steps) {
        for (const auto& s : steps) {
          if (s.value("op", "") == "call" && !s.contains("when") && !s.contains("undo")) {
            add(s["children"]);
            continue;
          }
          if (s.value("mutating", false) && !mutating && !window_script.empty()) {
            // The window and freezes, right before the first change: failing stops with nothing changed.
            templates_.push_back(ojson{{"name", "window"},
                                       {"script", ojson{{"name", "main"}, {"image", image_}, {"command", ojson::array({"sh"})},
                                                        {"env", ojson::array({ojson{{"name", "TRIX_OVERRIDE_WINDOW"}, {"value", "{{workflow.parameters.override-window}}"}}})},
                                                        {"source", window_script}}}});
            main_steps.push_back(ojson::array({ojson{{"name", "window"}, {"template", "window"}}}));
          }
          if (s.value("mutating", false)) mutating = true;
          PushGroup(main_steps, s);
        }
      };
      add(in["children"]);
    }
  }
  const bool has_rollback = mutating && (!undos_.empty() || !plan["rollback"].empty() || !plan["rollback_verify"].empty());

  // First step: every `done-<id>` global starts as "no", so the exit handler can always read it.
  if (!done_ids_.empty()) {
    std::string script = "set -e\n";
    ojson outs = ojson::array();
    for (const auto& id : done_ids_) {
      script += "echo no > /tmp/trix-done-" + id + "\n";
      outs.push_back(ojson{{"name", "done-" + id}, {"globalName", "done-" + id}, {"valueFrom", ojson{{"path", "/tmp/trix-done-" + id}}}});
    }
    script += "echo no > /tmp/trix-changed\n";
    outs.push_back(ojson{{"name", "changed"}, {"globalName", "trix-changed"}, {"valueFrom", ojson{{"path", "/tmp/trix-changed"}}}});
    ojson t{{"name", "start"}, {"script", ojson{{"name", "main"}, {"image", image_}, {"command", ojson::array({"sh"})}, {"source", script}}}, {"outputs", ojson{{"parameters", outs}}}};
    templates_.insert(templates_.begin(), t);
    main_steps.insert(main_steps.begin(), ojson::array({ojson{{"name", "start"}, {"template", "start"}}}));
  }
  ojson all = ojson::array();
  all.push_back(ojson{{"name", "main"}, {"steps", main_steps}});
  for (auto& t : templates_) all.push_back(t);

  if (has_rollback) {
    templates_ = ojson::array();
    ojson rb_steps = ojson::array();
    // Undo blocks of what finished, newest first; then the rollback block, then its verify. Each runs even if an earlier one failed.
    for (auto it = undos_.rbegin(); it != undos_.rend(); ++it) {
      for (const auto& u : it->second) {
        std::string t;
        if (u.value("op", "") == "deploy_abort") {
          const json* dep = nullptr;
          std::function<void(const json&)> find = [&](const json& list) {
            for (const auto& x : list) {
              if (x.value("id", "") == it->first) dep = &x;
              if (x.contains("children")) find(x["children"]);
            }
          };
          find(plan["instructions"]);
          ScriptContext ctx = Ctx();
          t = DnsName("undo-" + it->first + "-" + u.value("id", ""));
          templates_.push_back(ScriptTemplate(t, dep ? DeployScript(*dep, ctx, true) : "exit 1\n", ctx, json(), false));
        } else {
          t = Leaf(u, false);
        }
        rb_steps.push_back(ojson::array({ojson{{"name", t}, {"template", t}, {"continueOn", ojson{{"failed", true}}},
                                               {"when", "{{workflow.outputs.parameters.done-" + it->first + "}} == done"}}}));
      }
    }
    std::function<void(const json&)> add = [&](const json& steps) {
      for (const auto& s : steps) {
        if (s.value("op", "") == "call" && !s.contains("when") && !s.contains("undo")) {
          add(s["children"]);
          continue;
        }
        PushGroup(rb_steps, s, true);
      }
    };
    add(plan["rollback"]);
    for (const auto& c : plan["rollback_verify"]) {
      if (c.value("op", "") != "check") continue;
      const std::string t = Leaf(c, false);
      rb_steps.push_back(ojson::array({ojson{{"name", t}, {"template", t}, {"continueOn", ojson{{"failed", true}}}}}));
    }
    all.push_back(ojson{{"name", "exit-handler"},
                        {"steps", ojson::array({ojson::array({ojson{{"name", "rollback"}, {"template", "rollback"},
                                                                    {"when", "{{workflow.status}} != Succeeded && {{workflow.outputs.parameters.trix-changed}} == yes"}}})})}});
    all.push_back(ojson{{"name", "rollback"}, {"steps", rb_steps}});
    for (auto& t : templates_) all.push_back(t);
  }

  ojson spec;
  spec["entrypoint"] = "main";
  if (has_rollback) spec["onExit"] = "exit-handler";
  ojson params = ojson::array();
  for (const auto& d : p_.entry().decls) {
    if (d.kind != ast::DeclKind::Param) continue;
    const json v = plan["params"].value(d.name.name, json());
    ojson prm{{"name", d.name.name}};
    if (!v.is_null()) prm["value"] = v.is_string() ? v.get<std::string>() : v.dump();
    if (!d.doc.empty()) prm["description"] = d.doc;
    params.push_back(prm);
  }
  if (!window_script.empty())
    params.push_back(ojson{{"name", "override-window"}, {"value", ""},
                           {"description", "Deploy outside the deployment window or inside a freeze: the reason (shown in the log)"}});
  if (!params.empty()) spec["arguments"] = ojson{{"parameters", params}};
  if (plan.contains("timeout_s") && plan["timeout_s"].is_number()) spec["activeDeadlineSeconds"] = static_cast<long long>(plan["timeout_s"].get<double>());
  if (plan.contains("concurrency") && plan["concurrency"].is_string())
    spec["synchronization"] = ojson{{"mutexes", ojson::array({ojson{{"name", DnsName(plan["concurrency"].get<std::string>())}}})}};
  spec["templates"] = all;

  ojson meta;
  meta["generateName"] = DnsName(pp.name + "-" + env) + "-";
  meta["labels"] = ojson{{"trix.dev/pipeline", DnsName(pp.name)}, {"trix.dev/environment", DnsName(env)}};
  meta["annotations"] = ojson{{"trix.dev/plan-sha256", plan.value("plan_sha256", "")}};

  std::vector<ojson> docs;
  std::vector<std::string> crons;
  bool manual = false;
  for (const auto& t : plan["triggers"]) {
    if (t.value("kind", "") == "schedule") crons.push_back(t["cron"].get<std::string>());
    else manual = true;
  }
  if (crons.empty() || manual) {
    ojson wf;
    wf["apiVersion"] = "argoproj.io/v1alpha1";
    wf["kind"] = "Workflow";
    wf["metadata"] = meta;
    wf["spec"] = spec;
    docs.push_back(wf);
  }
  if (!crons.empty()) {
    ojson cw;
    cw["apiVersion"] = "argoproj.io/v1alpha1";
    cw["kind"] = "CronWorkflow";
    ojson cmeta{{"name", DnsName(pp.name + "-" + env)}, {"labels", meta["labels"]}, {"annotations", meta["annotations"]}};
    cw["metadata"] = cmeta;
    cw["spec"] = ojson{{"schedules", crons}, {"concurrencyPolicy", "Forbid"}, {"workflowSpec", spec}};
    docs.push_back(cw);
  }
  for (auto& x : extra_) docs.push_back(x);
  return docs;
}

std::vector<ojson> ArgoEmitter::Applications(const std::string& env_name) {
  std::vector<ojson> docs;
  const auto& scope = p_.scopes.at(0);
  auto env_it = scope.environments.find(env_name);
  if (env_it == scope.environments.end()) return docs;
  const sema::FoldEnv fenv{env_it->second, &scope, nullptr};
  for (const auto& d : p_.entry().decls) {
    if (d.kind != ast::DeclKind::Gitops) continue;
    auto get = [&](const char* k, const std::string& def) {
      const ast::Attr* a = sema::FindAttr(d.attrs, k);
      if (!a) return def;
      sema::Value v = sema::Fold(*a->value, fenv);
      return v.k == sema::Value::Unknown ? def : sema::ValueText(v);
    };
    auto flag = [&](const char* k) {
      const ast::Attr* a = sema::FindAttr(d.attrs, k);
      if (!a) return false;
      sema::Value v = sema::Fold(*a->value, fenv);
      return v.k == sema::Value::Bool && v.b;
    };
    std::string ns;
    if (const ast::Attr* a = sema::FindAttr(env_it->second->attrs, "namespace")) ns = sema::ValueText(sema::Fold(*a->value, fenv));
    const std::string runbook = scope.runbook ? scope.runbook->name.name : d.name.name;
    ojson app;
    app["apiVersion"] = "argoproj.io/v1alpha1";
    app["kind"] = "Application";
    app["metadata"] = ojson{{"name", DnsName(get("app", runbook + "-" + env_name))}, {"namespace", "argocd"},
                            {"labels", ojson{{"trix.dev/gitops", DnsName(d.name.name)}, {"trix.dev/environment", DnsName(env_name)}}}};
    ojson spec;
    spec["project"] = get("project", "default");
    ojson source{{"repoURL", get("repo", "")}, {"targetRevision", get("revision", "HEAD")}};
    source["path"] = get("path", ".");
    spec["source"] = source;
    spec["destination"] = ojson{{"server", get("server", "https://kubernetes.default.svc")}, {"namespace", get("namespace", ns.empty() ? env_name : ns)}};
    ojson automated{{"prune", flag("prune")}, {"selfHeal", flag("self_heal")}};
    spec["syncPolicy"] = ojson{{"automated", automated}};
    app["spec"] = spec;
    docs.push_back(app);
  }
  return docs;
}

std::string Docs(const std::vector<ojson>& docs, const std::string& header) {
  std::string out = header;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    if (i) out += "---\n";
    out += ToYaml(docs[i]);
  }
  return out;
}

}  // namespace

bool EmitArgo(const sema::Program& program, const SourceManager& sm, const Options& opt, Diagnostics& diags, std::vector<File>* out, std::string* error) {
  std::vector<PipelinePlans> pps;
  if (!PlanPipelines(program, sm, opt, diags, &pps, error)) return false;
  ArgoEmitter a(program, sm, opt, diags);
  for (const auto& pp : pps) {
    for (std::size_t i = 0; i < pp.envs.size(); ++i) {
      auto docs = a.Pipeline(pp, i);
      out->push_back(File{DnsName(pp.name) + "-" + DnsName(pp.envs[i]) + ".yaml",
                          Docs(docs, fmt::format("# Generated by `trixc emit argo` from pipeline `{}`, environment `{}`; do not edit.\n", pp.name, pp.envs[i]))});
    }
  }
  // Argo CD Applications: one per gitops declaration and environment.
  const auto& scope = program.scopes.at(0);
  if (!scope.gitops.empty() && opt.pipeline.empty()) {
    for (const auto& d : program.entry().decls) {
      if (d.kind != ast::DeclKind::Environment) continue;
      auto docs = a.Applications(d.name.name);
      if (!docs.empty())
        out->push_back(File{"application-" + DnsName(d.name.name) + ".yaml",
                            Docs(docs, fmt::format("# Generated by `trixc emit argo`: Argo CD Application for environment `{}`; do not edit.\n", d.name.name))});
    }
  }
  return true;
}

}  // namespace trix::emit
