// `trixc emit github`: one GitHub Actions workflow per pipeline, plus the
// settings of the GitHub environments its approvals use (docs/emit.md).
//
// Shape: a chain of jobs per target environment (`start`, one job per gate,
// attestation, approval requirement, stage and verify, linked by `needs`),
// and a `rollback` job that runs when the chain failed after a change. Push
// and schedule runs target the pipeline's first environment; a dispatch run
// picks one with the `environment` input. Steps are shell scripts built by
// script.cpp; parameters reach them as TRIX_PARAM_* variables, never spliced
// into shell text.
#include <fmt/format.h>

#include <cmath>

#include "compiler/check/checker.hpp"
#include "compiler/emit/common.hpp"
#include "compiler/util/text.hpp"

namespace trix::emit {
namespace {

using json = nlohmann::json;

constexpr int kMaxReviewers = 6;  // GitHub: at most six required reviewers per environment

std::string GhString(const std::string& s) {
  std::string o = "'";
  for (char c : s) {
    if (c == '\'') o += "''";
    else o += c;
  }
  return o + "'";
}

std::string Upper(const std::string& s) {
  std::string u;
  for (char c : s) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

std::string ValueText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return v.dump();
}

struct Job {
  std::string id;
  ojson body;
};

class GithubEmitter {
 public:
  GithubEmitter(const sema::Program& p, const SourceManager& sm, const Options& opt, Diagnostics& d)
      : p_(p), sm_(sm), opt_(opt), diags_(d), param_types_(ParamTypes(p)) {}

  File Workflow(const PipelinePlans& pp);
  std::vector<File> EnvironmentFiles();

 private:
  // Context of one chain (one environment).
  struct Chain {
    std::string prefix;   // job id prefix ("" or "staging-")
    std::string select;   // GitHub expression: this chain was chosen
    const json* plan = nullptr;
    std::vector<Job> jobs;
    std::vector<std::string> last;  // jobs the next one needs
    std::vector<std::string> mutating_jobs;
    struct Label {
      std::string job, step, output;  // the job, the GitHub step id, the output it writes (`<instruction id>=done`)
    };
    std::map<std::string, Label> labels;  // step label -> where its completion is recorded
    struct Undo {
      std::string job, id;
      json steps;  // the undo block (a copy: stage parts are temporaries)
      json owner;  // the step it undoes
    };
    std::vector<Undo> undos;  // in completion order
    bool timeout = false;
    std::map<std::string, std::string> baselines;  // baseline name -> the job that measured it
  };

  void Unsupported(DiagCode code, const json& loc, const std::string& what, const std::string& help = "") {
    ReportFidelity(diags_, sm_, opt_, code, loc, what, help);
  }
  ScriptContext Ctx(const Chain& c, bool with_done) {
    ScriptContext ctx;
    ctx.param_types = param_types_;
    ctx.unsupported = [this](const json& loc, const std::string& what) {
      Unsupported(DiagCode::E603, loc, fmt::format("{} has no GitHub Actions form", what),
                  "rewrite it with parameters, literals and the probe's results, or emit to another backend");
    };
    if (with_done) ctx.done_line = "echo \"{id}=done\" >> \"$GITHUB_OUTPUT\"";
    if (c.timeout && with_done) ctx.deadline_var = "TRIX_DEADLINE";
    return ctx;
  }
  std::string ParamExpr(const std::string& name) {
    const json& plan = *chains_.front().plan;
    const json def = plan["params"].value(name, json());
    // Without a dispatch trigger there are no inputs: a run uses the defaults.
    if (!dispatch_) return GhString(ValueText(def));
    return fmt::format("(github.event_name == 'workflow_dispatch' && format('{{0}}', inputs.{}) || {})", name, GhString(ValueText(def)));
  }
  std::optional<std::string> GhExpr(const json& e, const json& loc);
  ojson NewJob(Chain& c, const std::string& name, const std::string& guard);
  void AddJob(Chain& c, const std::string& id, ojson job, bool mutating);
  ojson StepFor(const json& instr, ScriptContext& ctx, const std::string& name, const std::string& script, const Chain& c,
                const std::string& job_id);
  void StageSteps(Chain& c, const json& steps, ojson& job_steps, const std::string& job_id, std::vector<std::pair<std::string, std::string>>* outputs);
  std::string DeployScript(const json& d, ScriptContext& ctx, bool undo);
  void Approval(Chain& c, const json& instr);
  void Gate(Chain& c, const std::vector<const json*>& items);
  void Rollback(Chain& c);
  void Finish(ojson& job);
  /// Checkout, then the files earlier stage jobs of this chain left (the runtime runs in one folder).
  ojson Checkout(const Chain& c) const;
  static ojson Upload(const std::string& job_id);

  const sema::Program& p_;
  const SourceManager& sm_;
  const Options& opt_;
  Diagnostics& diags_;
  std::map<std::string, ast::TypeKind> param_types_;
  std::vector<Chain> chains_;
  std::map<std::string, ojson> environments_;  // GitHub environment name -> API body
  const PipelinePlans* pp_ = nullptr;
  bool dispatch_ = false;
  bool window_ = false;  // some target environment has a `window` or `freeze`
  std::string override_input_;  // the dispatch input that overrides them
  std::string env_input_;       // the dispatch input that chooses the environment
};

/// Whether any step in `steps` (nested included) changes something.
bool AnyMutating(const json& steps) {
  for (const auto& s : steps) {
    if (s.value("mutating", false)) return true;
    if (s.contains("children") && AnyMutating(s["children"])) return true;
  }
  return false;
}

std::optional<std::string> GithubEmitter::GhExpr(const json& e, const json& loc) {
  if (e.contains("lit")) {
    const json& v = e["lit"];
    if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
    if (v.is_number()) return v.dump();
    if (v.is_string()) return GhString(v.get<std::string>());
  }
  if (e.contains("name") && param_types_.count(e["name"].get<std::string>())) {
    const std::string n = e["name"].get<std::string>();
    if (param_types_.at(n) == ast::TypeKind::Bool) return "(" + ParamExpr(n) + " == 'true')";
    return ParamExpr(n);
  }
  if (e.contains("op")) {
    const std::string op = e["op"].get<std::string>();
    auto a = GhExpr(e["a"], loc);
    if (!a) return std::nullopt;
    if (!e.contains("b")) {
      if (op == "not") return "!" + *a;
    } else {
      auto b = GhExpr(e["b"], loc);
      if (!b) return std::nullopt;
      static const std::map<std::string, std::string> ops = {{"and", "&&"}, {"or", "||"}, {"==", "=="}, {"!=", "!="},
                                                             {"<", "<"},    {"<=", "<="}, {">", ">"},   {">=", ">="}};
      if (auto o = ops.find(op); o != ops.end()) return "(" + *a + " " + o->second + " " + *b + ")";
    }
  }
  Unsupported(DiagCode::E603, loc, fmt::format("the condition `{}` has no GitHub Actions job form", ExprText(e)),
              "a job condition may read parameters and literals only");
  return std::nullopt;
}

ojson GithubEmitter::NewJob(Chain& c, const std::string& name, const std::string& guard) {
  ojson job;
  job["name"] = name + (chains_.size() > 1 || pp_->envs.size() > 1 ? " (" + c.plan->value("environment", "") + ")" : "");
  std::vector<std::string> needs = {c.prefix + "start"};
  for (const auto& l : c.last) {
    if (std::find(needs.begin(), needs.end(), l) == needs.end()) needs.push_back(l);
  }
  job["needs"] = needs;
  std::string cond = "!cancelled() && !failure() && needs." + c.prefix + "start.result == 'success'";
  if (!guard.empty()) cond += " && " + guard;
  job["if"] = "${{ " + cond + " }}";
  job["runs-on"] = "ubuntu-latest";
  if (c.plan->contains("timeout_s") && (*c.plan)["timeout_s"].is_number())
    job["timeout-minutes"] = static_cast<long long>(std::ceil((*c.plan)["timeout_s"].get<double>() / 60.0));
  return job;
}

ojson GithubEmitter::Checkout(const Chain& c) const {
  ojson steps = ojson::array();
  steps.push_back(ojson{{"uses", "actions/checkout@v4"}});
  if (!c.mutating_jobs.empty()) {
    steps.push_back(ojson{{"name", "Files left by earlier stages"},
                          {"uses", "actions/download-artifact@v4"},
                          {"with", ojson{{"pattern", "trix-" + c.prefix + "workspace-*"}, {"merge-multiple", true}}}});
  }
  return steps;
}

ojson GithubEmitter::Upload(const std::string& job_id) {
  return ojson{{"name", "Keep this stage's files for later jobs and rollback"},
               {"if", "${{ always() }}"},
               {"uses", "actions/upload-artifact@v4"},
               {"with", ojson{{"name", "trix-" + job_id.substr(0, job_id.find("stage-")) + "workspace-" + job_id}, {"path", "."}, {"retention-days", 1}}}};
}

void GithubEmitter::Finish(ojson& job) {
  // When the job ended: an approval after it measures its wait from here.
  job["steps"].push_back(ojson{{"id", "finished"}, {"if", "${{ always() }}"}, {"run", "echo \"at=$(date +%s)\" >> \"$GITHUB_OUTPUT\""}});
  if (!job.contains("outputs")) job["outputs"] = ojson::object();
  job["outputs"]["finished_at"] = "${{ steps.finished.outputs.at }}";
}

/// Adds to `needs` every job whose outputs the steps read (`needs.J.outputs`), which may not be the job just before.
void EnsureNeeds(ojson& job) {
  if (!job.contains("needs")) return;
  std::vector<std::string> needs = job["needs"].get<std::vector<std::string>>();
  const std::string text = job.contains("steps") ? job["steps"].dump() : "";
  for (std::size_t pos = 0; (pos = text.find("needs.", pos)) != std::string::npos;) {
    pos += 6;
    std::size_t end = pos;
    while (end < text.size() && (std::isalnum(static_cast<unsigned char>(text[end])) || text[end] == '-' || text[end] == '_')) ++end;
    const std::string j = text.substr(pos, end - pos);
    if (!j.empty() && std::find(needs.begin(), needs.end(), j) == needs.end()) needs.push_back(j);
  }
  job["needs"] = needs;
}

/// `base` when no job of the chain is named `base` or `base-...` yet, else `base-<instruction id>`:
/// the same gate or approval may be used twice in a pipeline, and job ids are keys.
std::string FreeId(const std::vector<Job>& jobs, const std::string& base, const json& instr) {
  for (const auto& j : jobs) {
    if (j.id == base || j.id.rfind(base + "-", 0) == 0) return base + "-" + instr.value("id", std::string("x"));
  }
  return base;
}

void GithubEmitter::AddJob(Chain& c, const std::string& id, ojson job, bool mutating) {
  EnsureNeeds(job);
  // `outputs` reads better after `steps`: move it to the end.
  if (job.contains("outputs")) {
    ojson outs = job["outputs"];
    job.erase("outputs");
    job["outputs"] = outs;
  }
  c.jobs.push_back(Job{id, job});
  c.last = {id};
  if (mutating) c.mutating_jobs.push_back(id);
}

ojson GithubEmitter::StepFor(const json& instr, ScriptContext& ctx, const std::string& name, const std::string& script, const Chain& c,
                             const std::string& job_id) {
  ojson step;
  step["name"] = name;
  if (!ctx.done_line.empty() && (instr.contains("undo") || instr.contains("label"))) step["id"] = instr["id"].get<std::string>();
  ojson env = ojson::object();
  std::string pre;
  for (const auto& s : ctx.secrets) {
    const json& src = (*c.plan)["secrets"].value(s, json::object());
    if (src.value("from", "") == "file") pre += SecretEnvVar(s) + "=$(cat " + ShellQuote(src.value("ref", "")) + ")\n";
    else env[SecretEnvVar(s)] = "${{ secrets." + src.value("ref", Upper(s)) + " }}";
  }
  for (const auto& l : ctx.step_refs) {
    auto it = c.labels.find(l);
    if (it == c.labels.end()) {
      Unsupported(DiagCode::E603, instr["loc"], fmt::format("`steps.{}.ok` before that step has run", l));
      continue;
    }
    if (it->second.job == job_id) env[StepOkVar(l)] = "${{ steps." + it->second.step + ".outputs." + it->second.output + " == 'done' }}";
    else env[StepOkVar(l)] = "${{ needs." + it->second.job + ".outputs." + it->second.output + " == 'done' }}";
  }
  for (const auto& b : ctx.baselines) {
    auto it = c.baselines.find(b);
    if (it == c.baselines.end()) {
      Unsupported(DiagCode::E603, instr["loc"], fmt::format("`baseline.{}` before it is measured", b));
      continue;
    }
    env[BaselineVar(b)] = "${{ needs." + it->second + ".outputs.value }}";
  }
  if (!env.empty()) step["env"] = env;
  step["run"] = pre + script;
  ctx.secrets.clear();
  ctx.step_refs.clear();
  ctx.baselines.clear();
  return step;
}

std::string GithubEmitter::DeployScript(const json& d, ScriptContext& ctx, bool undo) {
  const json& svc = d.value("service", json::object());
  const std::string provider = svc.value("provider", "");
  const std::string kind = d["strategy"].value("kind", "rolling");
  if (provider != "k8s") {
    if (!undo)
      Unsupported(DiagCode::E602, d["loc"], fmt::format("`deploy` with provider `{}` has no GitHub Actions form", provider),
                  "emit it to Argo, or run it with `trixc run`");
    return "echo 'deploy with provider " + provider + " cannot run in GitHub Actions'\nexit 1\n";
  }
  if (kind != "rolling" && !undo) {
    Unsupported(DiagCode::E602, d["loc"],
                fmt::format("a `{}` rollout has no GitHub Actions form (no traffic steps, pauses or analyses)", kind == "blue_green" ? "blue_green" : kind),
                "emit it with `trixc emit argo` (an Argo Rollout), or use a rolling update here");
  }
  const std::string ns = svc.contains("namespace") && svc["namespace"].is_string() ? "-n " + ShellQuote(svc["namespace"].get<std::string>()) + " " : "";
  const std::string dep = "deployment/" + svc.value("deployment", svc.value("name", ""));
  if (undo) return "set -e\nkubectl " + ns + "rollout undo " + ShellQuote(dep) + "\nkubectl " + ns + "rollout status " + ShellQuote(dep) + " --timeout=600s\n";
  const std::string container = svc.contains("container") && svc["container"].is_string() ? svc["container"].get<std::string>() : "*";
  return "set -e\nkubectl " + ns + "set image " + ShellQuote(dep) + " " + ShellQuote(container + "=") + TextWord(d["version"], d["loc"], ctx) +
         "\nkubectl " + ns + "rollout status " + ShellQuote(dep) + " --timeout=600s\n";
}

void GithubEmitter::StageSteps(Chain& c, const json& steps, ojson& job_steps, const std::string& job_id,
                               std::vector<std::pair<std::string, std::string>>* outputs) {
  for (const auto& s : steps) {
    const std::string op = s.value("op", "");
    if (op == "call" && !s.contains("when") && !s.contains("undo")) {
      StageSteps(c, s["children"], job_steps, job_id, outputs);
      continue;
    }
    ScriptContext ctx = Ctx(c, true);
    std::string script;
    std::string name;
    if (op == "deploy") {
      script = DeployScript(s, ctx, false);
      std::string line = ctx.done_line;
      line.replace(line.find("{id}"), 4, s["id"].get<std::string>());
      script += line + "\n";
      name = "Deploy " + s["service"].value("name", "") + " " + PlainText(s["version"]);
    } else {
      script = StepScript(s, ctx);
      if (op == "run") name = PlainText(s["command"]);
      else if (op == "http") name = s.value("method", "") + " " + PlainText(s["url"]);
      else if (op == "call") name = s.value("action", "");
      else if (op == "notify") name = "notify " + PlainText(s["text"]);
      else name = op;
    }
    if (name.size() > 80) name = name.substr(0, 77) + "...";
    if (s.contains("label")) name = s["label"].get<std::string>() + ": " + name;
    ojson step = StepFor(s, ctx, name, script, c, job_id);
    const std::string sid = s["id"].get<std::string>();
    bool reports = false;
    if (s.contains("undo") || s.contains("label")) {
      reports = true;
      outputs->push_back({sid, sid});
      if (s.contains("label")) c.labels[s["label"].get<std::string>()] = {job_id, sid, sid};
    }
    if (s.contains("undo")) c.undos.push_back({job_id, sid, s["undo"], s});
    // Steps inside a parallel block or a guarded call finish inside this one
    // GitHub step: their `<id>=done` lines are outputs of this step's id.
    if (op == "parallel" || op == "call") {
      std::function<void(const json&)> nested = [&](const json& list) {
        for (const auto& ch : list) {
          const std::string cid = ch["id"].get<std::string>();
          if (ch.contains("undo") || ch.contains("label")) {
            reports = true;
            outputs->push_back({cid, sid});
          }
          if (ch.contains("undo")) c.undos.push_back({job_id, cid, ch["undo"], ch});
          if (ch.contains("label")) c.labels[ch["label"].get<std::string>()] = {job_id, sid, cid};
          if (ch.contains("children")) nested(ch["children"]);
        }
      };
      nested(s["children"]);
    }
    if (reports && !step.contains("id")) {
      ojson with_id;
      with_id["name"] = step["name"];
      with_id["id"] = sid;
      for (auto f = step.begin(); f != step.end(); ++f) {
        if (f.key() != "name") with_id[f.key()] = f.value();
      }
      step = with_id;
    }
    job_steps.push_back(step);
  }
}

/// The body of a GitHub environment's API call (PUT repos/O/R/environments/NAME)
/// whose required reviewers are `people`.
ojson EnvironmentBody(const std::vector<std::string>& people, bool prevent_self_review) {
  ojson body;
  body["wait_timer"] = 0;
  body["prevent_self_review"] = prevent_self_review;
  ojson reviewers = ojson::array();
  for (const auto& who : people) reviewers.push_back(ojson{{"type", "User"}, {"login", who}});
  body["reviewers"] = reviewers;
  body["deployment_branch_policy"] = nullptr;
  return body;
}

void GithubEmitter::Approval(Chain& c, const json& instr) {
  const json& a = instr.value("approval", json::object());
  const std::string aname = a.value("name", "approval");
  std::string guard;
  if (instr.contains("when")) {
    if (auto g = GhExpr(instr["when"], instr["loc"])) guard = *g;
  }
  std::vector<std::string> ids;
  const std::vector<std::string> before = c.last;
  int n = 0;
  const json& reqs = a.value("requires", json::array());
  const std::string approval_base = FreeId(c.jobs, c.prefix + "approve-" + DnsName(aname), instr);
  for (const auto& r : reqs) {
    ++n;
    std::vector<std::string> roles = r.value("roles", std::vector<std::string>{});
    std::vector<std::string> people = r.value("people", std::vector<std::string>{});
    const int quorum = r.value("quorum", 1);
    std::string what = quorum > 1 ? fmt::format("{} of [{}]", quorum, Join(roles, ", ")) : Join(roles, ", ");
    if (static_cast<int>(people.size()) > kMaxReviewers) {
      Unsupported(DiagCode::E601, instr["loc"],
                  fmt::format("approval `{}` names {} possible reviewers for `{}`; a GitHub environment takes at most {}", aname, people.size(), what,
                              kMaxReviewers),
                  "use a smaller role, or a GitHub team");
      people.resize(kMaxReviewers);
    }
    const ojson body = EnvironmentBody(people, true);

    std::string g = guard;
    if (r.contains("when")) {
      if (auto w = GhExpr(r["when"], instr["loc"])) g = g.empty() ? *w : g + " && " + *w;
    }
    // A GitHub environment takes one reviewer's approval, so a quorum of k
    // is k environments with the same reviewers, one job each, and then a
    // job that counts the distinct people who approved them (one reviewer
    // may approve several pending environments at once).
    const int slots = std::max(quorum, 1);
    const std::string env_base = DnsName(aname + (reqs.size() > 1 ? "-" + Join(roles, "-") : ""));
    const std::string id_base = approval_base + (reqs.size() > 1 ? "-" + std::to_string(n) : "");
    const long long timeout = static_cast<long long>(a.value("timeout_s", 86400.0));
    std::vector<std::string> slot_ids, slot_envs;
    std::vector<std::string> lower;
    for (std::string who : people) {
      for (char& ch : who) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      lower.push_back(who);  // GitHub logins compare without case
    }
    // The review history of this run decides, not the environment's settings: an environment that
    // was never configured (GitHub creates it without reviewers), or an administrator's bypass of
    // its protection rules, leaves no approval there, and the step fails.
    auto count_step = [&](int needed, const std::vector<std::string>& envs) {
      ojson env = ojson::object();
      env["TRIX_GITHUB_TOKEN"] = "${{ github.token }}";
      const std::string script = fmt::format(
          "set -eu\n"
          "# Approval `{0}` needs {1} distinct people of [{2}], never the one who started the run.\n"
          "# The environments {3} take reviewers' approvals; count the distinct approvers in this\n"
          "# run's review history (one reviewer may approve several environments at once).\n"
          "reviews=$(curl -fsSL --retry 3 -H \"Authorization: Bearer $TRIX_GITHUB_TOKEN\" -H 'Accept: application/vnd.github+json' \\\n"
          "  \"$GITHUB_API_URL/repos/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID/approvals\")\n"
          "approvers=$(printf '%s' \"$reviews\" | jq -r --argjson envs {4} --argjson people {5} \\\n"
          "  --arg actor \"$(printf '%s' \"${{GITHUB_TRIGGERING_ACTOR:-$GITHUB_ACTOR}}\" | tr '[:upper:]' '[:lower:]')\" \\\n"
          "  '[.[] | select(.state == \"approved\") | select(any(.environments[]; .name | IN($envs[])))\n"
          "    | .user.login | ascii_downcase | select(. != $actor and IN($people[]))] | unique | .[]')\n"
          "count=$(printf '%s' \"$approvers\" | grep -c . || true)\n"
          "echo \"approval \\`{0}\\`: approved by $(printf '%s' \"$approvers\" | paste -sd, -) ($count of {1} needed)\"\n"
          "if [ \"$count\" -lt {1} ]; then\n"
          "  echo \"approval \\`{0}\\` needs {1} distinct people of [{2}] other than the one who started the run\"; exit 1\n"
          "fi\n",
          aname, needed, Join(roles, ", "), Join(envs, ", "), ShellQuote(ojson(envs).dump()), ShellQuote(ojson(lower).dump()));
      return ojson{{"name", needed > 1 ? fmt::format("{} distinct approvers", needed) : std::string("Approved by a reviewer other than the one who started the run")},
                   {"env", env},
                   {"run", script}};
    };
    for (int k = 1; k <= slots; ++k) {
      const std::string env_name = env_base + (slots > 1 ? "-" + std::to_string(k) : "");
      environments_[env_name] = body;
      c.last = before;
      ojson job = NewJob(c, fmt::format("Approve {}: {}", aname, what) + (slots > 1 ? fmt::format(" ({} of {})", k, slots) : ""), g);
      job["environment"] = env_name;
      if (slots == 1) job["permissions"] = ojson{{"actions", "read"}, {"contents", "read"}};
      ojson steps = ojson::array();
      ojson env = ojson::object();
      env["TRIX_WAIT_START"] = "${{ needs." + before.front() + ".outputs.finished_at }}";
      steps.push_back(ojson{{"name", fmt::format("Approval within its timeout ({})", timeout)},
                            {"env", env},
                            {"run", fmt::format("set -e\n"
                                                "# An approval given after its timeout does not count (the approval fails).\n"
                                                "if [ $(( $(date +%s) - TRIX_WAIT_START )) -gt {} ]; then\n"
                                                "  echo 'approval `{}` came after its timeout'; exit 1\n"
                                                "fi\n"
                                                "echo 'approval `{}` given through environment {}; who approved is in the deployment reviews of this run'\n",
                                                timeout, aname, aname, env_name)}});
      if (slots == 1) steps.push_back(count_step(1, {env_name}));
      job["steps"] = steps;
      Finish(job);
      const std::string id = id_base + (slots > 1 ? "-" + std::to_string(k) : "");
      c.jobs.push_back(Job{id, job});
      slot_ids.push_back(id);
      slot_envs.push_back(env_name);
    }
    if (slots == 1) {
      ids.push_back(slot_ids.front());
      continue;
    }
    c.last = slot_ids;
    ojson job = NewJob(c, fmt::format("Approve {}: {} distinct people", aname, what), g);
    job["permissions"] = ojson{{"actions", "read"}, {"contents", "read"}};
    job["steps"] = ojson::array({count_step(slots, slot_envs)});
    Finish(job);
    const std::string vid = id_base + "-quorum";
    c.jobs.push_back(Job{vid, job});
    ids.push_back(vid);
  }
  if (!ids.empty()) c.last = ids;
}

void GithubEmitter::Gate(Chain& c, const std::vector<const json*>& items) {
  const json& first = *items.front();
  const std::string phase = first.value("phase", "gate");
  const std::string group = first.value("group", "verify");
  std::string title = phase == "gate" ? "Gate: " + (first.contains("gate_title") ? PlainText(first["gate_title"]) : group) : "Verify: " + group;
  const std::string id = FreeId(c.jobs, c.prefix + (phase == "gate" ? "gate-" + DnsName(group) : "verify"), first);
  ojson steps = Checkout(c);
  const std::size_t setup_steps = steps.size();
  std::vector<std::string> confirms;
  std::string confirm_guard;
  for (const json* it : items) {
    if (it->value("op", "") == "confirm") {
      confirms.push_back(PlainText((*it)["text"]));
      if (it->contains("when") && confirm_guard.empty()) {
        if (auto g = GhExpr((*it)["when"], (*it)["loc"])) confirm_guard = *g;
      }
      continue;
    }
    ScriptContext ctx = Ctx(c, false);
    std::string script = CheckScript(*it, ctx);
    steps.push_back(StepFor(*it, ctx, PlainText((*it)["label"]), script, c, id));
  }
  if (steps.size() > setup_steps) {
    ojson job = NewJob(c, title, "");
    job["steps"] = steps;
    Finish(job);
    AddJob(c, id, job, false);
  }
  if (!confirms.empty()) {
    // Attestations: a person of the runbook's roles approves a GitHub environment whose job lists the statements.
    std::set<std::string> people;
    for (const auto& [name, d] : p_.scopes.at(0).roles) {
      if (!d->value) continue;
      for (const auto& m : d->value->items) {
        std::string who;
        if (m->IsPlainString(&who)) people.insert(who);
      }
    }
    if (people.empty()) {
      Unsupported(DiagCode::E601, first["loc"], fmt::format("`confirm` in `{}` has no GitHub Actions form: the runbook declares no role whose members could attest", group),
                  "declare a role with the people who may attest");
    }
    std::vector<std::string> list(people.begin(), people.end());
    if (static_cast<int>(list.size()) > kMaxReviewers) {
      Unsupported(DiagCode::E601, first["loc"],
                  fmt::format("`confirm` in `{}`: {} people may attest, a GitHub environment takes at most {} reviewers", group, list.size(), kMaxReviewers),
                  "use fewer role members, or a GitHub team");
      list.resize(kMaxReviewers);
    }
    environments_["attest"] = EnvironmentBody(list, false);
    ojson job = NewJob(c, "Attest: " + (phase == "gate" && first.contains("gate_title") ? PlainText(first["gate_title"]) : group), confirm_guard);
    job["environment"] = "attest";
    std::string text = "# Approving this job's environment attests every statement below.\n";
    for (const auto& s : confirms) text += "echo " + ShellQuote("attested: " + s) + "\n";
    text += "echo \"by a reviewer of environment attest, run ${{ github.run_id }}\"\n";
    // As for approvals, the run's review history decides: an `attest` environment that was never
    // configured (GitHub creates it without reviewers) would otherwise let every `confirm` pass
    // unanswered, where section 4 says an unanswered confirm fails.
    job["permissions"] = ojson{{"actions", "read"}, {"contents", "read"}};
    std::vector<std::string> lower;
    for (std::string who : list) {
      for (char& ch : who) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      lower.push_back(who);
    }
    const std::string check = fmt::format(
        "set -eu\n"
        "# Someone of the runbook's roles approved environment attest in this run.\n"
        "reviews=$(curl -fsSL --retry 3 -H \"Authorization: Bearer $TRIX_GITHUB_TOKEN\" -H 'Accept: application/vnd.github+json' \\\n"
        "  \"$GITHUB_API_URL/repos/$GITHUB_REPOSITORY/actions/runs/$GITHUB_RUN_ID/approvals\")\n"
        "who=$(printf '%s' \"$reviews\" | jq -r --argjson people {} \\\n"
        "  '[.[] | select(.state == \"approved\") | select(any(.environments[]; .name == \"attest\"))\n"
        "    | .user.login | ascii_downcase | select(IN($people[]))] | unique | .[]')\n"
        "if [ -z \"$who\" ]; then echo 'no member of the roles of the runbook attested through environment attest'; exit 1; fi\n"
        "echo \"attested by $(printf '%s' \"$who\" | paste -sd, -)\"\n",
        ShellQuote(ojson(lower).dump()));
    job["steps"] = ojson::array({ojson{{"name", "Statements attested"}, {"run", text}},
                                 ojson{{"name", "Attested by a member of the runbook's roles"},
                                       {"env", ojson{{"TRIX_GITHUB_TOKEN", "${{ github.token }}"}}},
                                       {"run", check}}});
    Finish(job);
    AddJob(c, FreeId(c.jobs, c.prefix + (phase == "gate" ? "attest-" + DnsName(group) : "attest-verify"), first), job, false);
  }
}

void GithubEmitter::Rollback(Chain& c) {
  const json& plan = *c.plan;
  if (c.mutating_jobs.empty()) return;
  ojson job;
  job["name"] = std::string("Rollback") + (pp_->envs.size() > 1 ? " (" + plan.value("environment", "") + ")" : "");
  std::vector<std::string> needs;
  for (const auto& j : c.jobs) needs.push_back(j.id);
  job["needs"] = needs;
  // Only after something changed: a failed gate or refused approval stops with nothing to roll back.
  // A stage job ran when its `finished` step (`always()`) left a time: it succeeded, failed, or was
  // cancelled while running (a cancelled run is an interrupt, which rolls back); a job cancelled or
  // skipped before it started has no outputs.
  std::vector<std::string> ran;
  for (const auto& j : c.mutating_jobs) ran.push_back("needs." + j + ".outputs.finished_at != ''");
  job["if"] = "${{ (failure() || cancelled()) && (" + Join(ran, " || ") + ") }}";
  job["runs-on"] = "ubuntu-latest";
  ojson steps = Checkout(c);
  // After a cancel, `success()` and `!cancelled()` are false in every later step: the rollback's
  // steps use `always()`, so a cancelled run is rolled back too.
  for (auto& st : steps) {
    ojson ordered;
    if (st.contains("name")) ordered["name"] = st["name"];
    ordered["if"] = "${{ always() }}";
    for (auto f = st.begin(); f != st.end(); ++f) {
      if (f.key() != "name") ordered[f.key()] = f.value();
    }
    st = ordered;
  }
  // The undo blocks of what finished, newest first; then the rollback block and its verify.
  // Each step runs even when an earlier rollback step failed or the run was cancelled (`always()`).
  for (auto it = c.undos.rbegin(); it != c.undos.rend(); ++it) {
    for (const auto& u : it->steps) {
      ScriptContext ctx = Ctx(c, false);
      const bool abort = u.value("op", "") == "deploy_abort";
      std::string script = abort ? DeployScript(it->owner, ctx, true) : StepScript(u, ctx);
      ojson step = StepFor(u, ctx, "Undo " + it->id + ": " + (u.contains("command") ? PlainText(u["command"]) : u.value("op", "")), script, c, "");
      step.erase("id");
      ojson ordered;
      ordered["name"] = step["name"];
      ordered["if"] = "${{ always() && needs." + it->job + ".outputs." + it->id + " == 'done' }}";
      for (auto f = step.begin(); f != step.end(); ++f) {
        if (f.key() != "name") ordered[f.key()] = f.value();
      }
      if (ordered["name"].get<std::string>().size() > 90) ordered["name"] = ordered["name"].get<std::string>().substr(0, 87) + "...";
      steps.push_back(ordered);
    }
  }
  std::function<void(const json&)> add = [&](const json& list) {
    for (const auto& s : list) {
      if (s.value("op", "") == "call" && !s.contains("when")) {
        add(s["children"]);
        continue;
      }
      ScriptContext ctx = Ctx(c, false);
      std::string script = s.value("op", "") == "deploy" ? DeployScript(s, ctx, false) : StepScript(s, ctx);
      std::string name = s.contains("command") ? PlainText(s["command"]) : s.value("action", s.value("op", ""));
      if (name.size() > 80) name = name.substr(0, 77) + "...";
      ojson step = StepFor(s, ctx, "Rollback: " + name, script, c, "");
      ojson ordered;
      ordered["name"] = step["name"];
      ordered["if"] = "${{ always() }}";
      for (auto f = step.begin(); f != step.end(); ++f) {
        if (f.key() != "name" && f.key() != "id") ordered[f.key()] = f.value();
      }
      steps.push_back(ordered);
    }
  };
  add(plan["rollback"]);
  for (const auto& chk : plan["rollback_verify"]) {
    if (chk.value("op", "") != "check") continue;
    ScriptContext ctx = Ctx(c, false);
    ojson step = StepFor(chk, ctx, "Verify: " + PlainText(chk["label"]), CheckScript(chk, ctx), c, "");
    ojson ordered;
    ordered["name"] = step["name"];
    ordered["if"] = "${{ always() }}";
    for (auto f = step.begin(); f != step.end(); ++f) {
      if (f.key() != "name") ordered[f.key()] = f.value();
    }
    steps.push_back(ordered);
  }
  job["steps"] = steps;
  c.jobs.push_back(Job{c.prefix + "rollback", job});
}

File GithubEmitter::Workflow(const PipelinePlans& pp) {
  pp_ = &pp;
  chains_.clear();
  const json& first_plan = pp.plans.front();
  bool dispatch = false, push = false, schedule = false;
  for (const auto& t : first_plan["triggers"]) {
    const std::string k = t.value("kind", "");
    dispatch = dispatch || k == "dispatch";
    push = push || k == "push";
    schedule = schedule || k == "schedule";
  }
  if (!dispatch && !push && !schedule) dispatch = true;  // no trigger: it can only be run by hand
  dispatch_ = dispatch;
  window_ = false;
  for (const auto& pl : pp.plans) window_ = window_ || !WindowScript(pl.value("env", json::object()), "X").empty();
  // Inputs of our own, renamed when a parameter (whose input has its name) takes the name.
  override_input_ = "override_window";
  env_input_ = "environment";
  for (const auto& d : p_.entry().decls) {
    if (d.kind == ast::DeclKind::Param && d.name.name == override_input_) override_input_ = "trix_override_window";
    if (d.kind == ast::DeclKind::Param && d.name.name == env_input_) env_input_ = "trix_environment";
  }
  // Environments a run can reach: all with dispatch, else the first.
  const std::size_t nenv = dispatch ? pp.envs.size() : 1;
  const bool choice = dispatch && nenv > 1;
  for (std::size_t i = 0; i < nenv; ++i) {
    Chain c;
    c.plan = &pp.plans[i];
    c.prefix = nenv > 1 ? DnsName(pp.envs[i]) + "-" : "";
    if (choice) {
      c.select = i == 0 ? "(github.event_name != 'workflow_dispatch' || inputs." + env_input_ + " == " + GhString(pp.envs[i]) + ")"
                        : "(github.event_name == 'workflow_dispatch' && inputs." + env_input_ + " == " + GhString(pp.envs[i]) + ")";
    }
    c.timeout = c.plan->contains("timeout_s") && (*c.plan)["timeout_s"].is_number();
    chains_.push_back(std::move(c));
  }

  ojson wf;
  wf["name"] = first_plan.contains("pipeline_title") ? PlainText(first_plan["pipeline_title"]) : pp.name;
  ojson on = ojson::object();
  for (const auto& t : first_plan["triggers"]) {
    const std::string k = t.value("kind", "");
    if (k == "push") {
      ojson push_on = ojson::object();
      std::vector<std::string> branches;
      if (t.contains("branch")) branches.push_back(ValueText(t["branch"]));
      if (t.contains("branches")) {
        if (t["branches"].is_array()) for (const auto& b : t["branches"]) branches.push_back(ValueText(b));
        else branches.push_back(ValueText(t["branches"]));
      }
      if (!branches.empty()) push_on["branches"] = branches;
      for (const char* key : {"tags", "paths"}) {
        if (!t.contains(key)) continue;
        std::vector<std::string> v;
        if (t[key].is_array()) for (const auto& b : t[key]) v.push_back(ValueText(b));
        else v.push_back(ValueText(t[key]));
        push_on[key] = v;
      }
      if (push_on.empty()) on["push"] = nullptr;
      else on["push"] = push_on;
    } else if (k == "schedule") {
      if (!on.contains("schedule")) on["schedule"] = ojson::array();
      on["schedule"].push_back(ojson{{"cron", ValueText(t["cron"])}});
    }
  }
  if (dispatch) {
    ojson inputs = ojson::object();
    if (choice) {
      inputs[env_input_] = ojson{{"description", "Target environment"}, {"type", "choice"}, {"options", pp.envs}, {"default", pp.envs.front()},
                                    {"required", true}};
    }
    for (const auto& d : p_.entry().decls) {
      if (d.kind != ast::DeclKind::Param) continue;
      const std::string n = d.name.name;
      const json def = first_plan["params"].value(n, json());
      ojson in;
      in["description"] = d.doc.empty() ? "parameter " + n : d.doc;
      const ast::TypeKind k = param_types_.at(n);
      in["type"] = k == ast::TypeKind::Bool ? "boolean" : (k == ast::TypeKind::Int || k == ast::TypeKind::Float) ? "number" : "string";
      in["required"] = def.is_null();
      if (!def.is_null()) {
        if (k == ast::TypeKind::Bool && def.is_boolean()) in["default"] = def.get<bool>();
        else if ((k == ast::TypeKind::Int || k == ast::TypeKind::Float) && def.is_number()) in["default"] = def;
        else in["default"] = ValueText(def);
      }
      inputs[n] = in;
    }
    if (window_) {
      inputs[override_input_] = ojson{{"description", "Deploy outside the deployment window or inside a freeze: the reason (shown in the log)"},
                                      {"type", "string"}, {"required", false}, {"default", ""}};
    }
    on["workflow_dispatch"] = inputs.empty() ? ojson(nullptr) : ojson{{"inputs", inputs}};
  }
  wf["on"] = on;
  wf["permissions"] = ojson{{"contents", "read"}};
  // concurrency: the key of the chosen environment.
  std::vector<std::string> keys;
  bool any_key = false;
  for (std::size_t i = 0; i < nenv; ++i) {
    const json& k = pp.plans[i].value("concurrency", json());
    if (!k.is_null()) any_key = true;
    keys.push_back(k.is_string() ? k.get<std::string>() : "");
  }
  if (any_key) {
    bool same = std::all_of(keys.begin(), keys.end(), [&](const std::string& k) { return k == keys.front(); });
    std::string group;
    if (same) {
      group = keys.front();
    } else {
      group = "${{ ";
      for (std::size_t i = 1; i < nenv; ++i) group += "inputs." + env_input_ + " == " + GhString(pp.envs[i]) + " && " + GhString(keys[i]) + " || ";
      group += GhString(keys.front()) + " }}";
    }
    if (group.empty()) {
      ReportFidelity(diags_, opt_, DiagCode::E603, pp.decl->range, "a `concurrency` key that reads a parameter has no GitHub Actions form", "");
    } else {
      wf["concurrency"] = ojson{{"group", group}, {"cancel-in-progress", false}};
    }
  }
  ojson wenv = ojson::object();
  for (const auto& d : p_.entry().decls) {
    if (d.kind == ast::DeclKind::Param) wenv[ParamVar(d.name.name)] = "${{ " + ParamExpr(d.name.name) + " }}";
  }
  if (!wenv.empty()) wf["env"] = wenv;

  ojson jobs = ojson::object();
  for (auto& c : chains_) {
    const json& plan = *c.plan;
    // start: chosen environment, deadline.
    ojson start;
    start["name"] = "Start " + pp.name + " on " + plan.value("environment", "");
    if (!c.select.empty()) start["if"] = "${{ " + c.select + " }}";
    start["runs-on"] = "ubuntu-latest";
    ojson ssteps = ojson::array();
    std::string run = fmt::format("echo {}\n", ShellQuote("pipeline " + pp.name + ", environment " + plan.value("environment", "") +
                                                           ", plan " + plan.value("plan_sha256", "").substr(0, 12)));
    // A parameter without a default must be given (the runtime refuses to start without it); a push
    // or schedule run has no inputs, so it stops here rather than run with an empty value.
    for (const auto& d : p_.entry().decls) {
      if (d.kind != ast::DeclKind::Param || !plan["params"].value(d.name.name, json()).is_null()) continue;
      run += fmt::format("if [ -z \"${{{}:-}}\" ]; then echo {}; exit 1; fi\n", ParamVar(d.name.name),
                         ShellQuote("parameter `" + d.name.name + "` has no default and no value: only a dispatch run can set it (input `" +
                                    d.name.name + "`); nothing was changed"));
    }
    if (c.timeout) run += fmt::format("echo \"deadline=$(( $(date +%s) + {} ))\" >> \"$GITHUB_OUTPUT\"\n", static_cast<long long>(plan["timeout_s"].get<double>()));
    ssteps.push_back(ojson{{"id", "start"}, {"run", run}});
    start["steps"] = ssteps;
    ojson sout = ojson::object();
    if (c.timeout) sout["deadline"] = "${{ steps.start.outputs.deadline }}";
    start["steps"].push_back(ojson{{"id", "finished"}, {"run", "echo \"at=$(date +%s)\" >> \"$GITHUB_OUTPUT\""}});
    sout["finished_at"] = "${{ steps.finished.outputs.at }}";
    start["outputs"] = sout;
    c.jobs.push_back(Job{c.prefix + "start", start});
    c.last = {c.prefix + "start"};

    const json& instrs = plan["instructions"];
    bool window_done = false;
    for (std::size_t i = 0; i < instrs.size(); ++i) {
      const json& in = instrs[i];
      const std::string op = in.value("op", "");
      if (op == "check" || op == "confirm") {
        std::vector<const json*> items = {&in};
        while (i + 1 < instrs.size() && (instrs[i + 1].value("op", "") == "check" || instrs[i + 1].value("op", "") == "confirm") &&
               instrs[i + 1].value("group", "") == in.value("group", "") && instrs[i + 1].value("phase", "") == in.value("phase", ""))
          items.push_back(&instrs[++i]);
        Gate(c, items);
      } else if (op == "approve") {
        Approval(c, in);
      } else if (op == "baseline") {
        // Measured by a job of its own; checks read it from that job's output.
        const std::string name = in.value("name", "baseline");
        const std::string id = c.prefix + "baseline-" + DnsName(name);
        ojson job = NewJob(c, "Baseline: " + name, "");
        ojson steps = Checkout(c);
        ScriptContext ctx = Ctx(c, false);
        std::string script = BaselineScript(in, ctx) + "echo \"value=$trix_value\" >> \"$GITHUB_OUTPUT\"\necho \"baseline " + name + " = $trix_value\"\n";
        ojson step = StepFor(in, ctx, "Measure " + name, script, c, id);
        ojson with_id{{"name", step["name"]}, {"id", "measure"}};
        for (auto f = step.begin(); f != step.end(); ++f) {
          if (f.key() != "name") with_id[f.key()] = f.value();
        }
        steps.push_back(with_id);
        job["steps"] = steps;
        job["outputs"] = ojson{{"value", "${{ steps.measure.outputs.value }}"}};
        Finish(job);
        AddJob(c, id, job, false);
        c.baselines[name] = id;
      } else if (op == "stage") {
        // A stage becomes one job; an `approve` inside it splits it.
        const std::string base = c.prefix + "stage-" + DnsName(in.value("name", "stage"));
        const std::string title = "Stage: " + (in.contains("title") ? PlainText(in["title"]) : in.value("name", ""));
        json part = json::array();
        int n = 0;
        auto flush = [&]() {
          if (part.empty()) return;
          if (!window_done && AnyMutating(part)) {
            // The window and freezes, checked by a job of its own right before the first change
            // (after any approval before it): failing there stops the run with nothing changed
            // (no stage job ran, so no rollback).
            window_done = true;
            const std::string wscript = WindowScript(plan.value("env", json::object()), "TRIX_OVERRIDE_WINDOW");
            if (!wscript.empty()) {
              ojson wjob = NewJob(c, "Deployment window", "");
              ojson window_env = ojson::object();
              window_env["TRIX_OVERRIDE_WINDOW"] = dispatch_ ? "${{ inputs." + override_input_ + " }}" : "";
              wjob["steps"] = ojson::array({ojson{{"name", "Inside the deployment window, outside freezes"}, {"env", window_env}, {"run", wscript}}});
              Finish(wjob);
              AddJob(c, c.prefix + "window", wjob, false);
            }
          }
          const std::string id = n == 0 ? base : base + "-" + std::to_string(n + 1);
          ++n;
          ojson job = NewJob(c, title, "");
          if (c.timeout) job["env"] = ojson{{"TRIX_DEADLINE", "${{ needs." + c.prefix + "start.outputs.deadline }}"}};
          ojson steps = Checkout(c);
          std::vector<std::pair<std::string, std::string>> outs;  // (output, GitHub step id)
          StageSteps(c, part, steps, id, &outs);
          steps.push_back(Upload(id));
          job["steps"] = steps;
          ojson outputs = ojson::object();
          for (const auto& [o, step_id] : outs) outputs[o] = "${{ steps." + step_id + ".outputs." + o + " }}";
          job["outputs"] = outputs;
          Finish(job);
          AddJob(c, id, job, true);
          part = json::array();
        };
        for (const auto& s : in["children"]) {
          if (s.value("op", "") == "approve") {
            flush();
            Approval(c, s);
            continue;
          }
          part.push_back(s);
        }
        flush();
      }
    }
    Rollback(c);
    for (auto& j : c.jobs) jobs[j.id] = j.body;
  }
  wf["jobs"] = jobs;
  std::string header = fmt::format("# Generated by `trixc emit github` from pipeline `{}`; do not edit.\n", pp.name);
  if (!environments_.empty()) header += "# Approvals use GitHub environments; their settings are in environments/*.json.\n";
  return File{pp.name + ".yml", header + ToYaml(wf)};
}

std::vector<File> GithubEmitter::EnvironmentFiles() {
  std::vector<File> files;
  if (environments_.empty()) return files;
  std::string apply =
      "#!/bin/sh\n"
      "# Generated by `trixc emit github`: creates or updates the GitHub environments that\n"
      "# approvals use. Usage: sh environments/apply.sh OWNER/REPO (needs gh and jq).\n"
      "# Reviewer logins are turned into the numeric ids the API takes.\n"
      "set -eu\n"
      "repo=$1\n"
      "dir=$(dirname \"$0\")\n"
      "for f in \"$dir\"/*.json; do\n"
      "  name=$(basename \"$f\" .json)\n"
      "  body=$(jq -c '.' \"$f\")\n"
      "  for login in $(jq -r '.reviewers[].login' \"$f\"); do\n"
      "    id=$(gh api \"users/$login\" --jq .id)\n"
      "    body=$(printf '%s' \"$body\" | jq -c --arg l \"$login\" --argjson id \"$id\" '.reviewers |= map(if .login == $l then {type, id: $id} else . end)')\n"
      "  done\n"
      "  printf '%s' \"$body\" | gh api -X PUT \"repos/$repo/environments/$name\" --input - >/dev/null\n"
      "  echo \"environment $name updated\"\n"
      "done\n";
  for (const auto& [name, body] : environments_) files.push_back(File{"environments/" + name + ".json", body.dump(2) + "\n"});
  files.push_back(File{"environments/apply.sh", apply});
  return files;
}

}  // namespace

bool EmitGithub(const sema::Program& program, const SourceManager& sm, const Options& opt, Diagnostics& diags, std::vector<File>* out,
                std::string* error) {
  std::vector<PipelinePlans> pps;
  if (!PlanPipelines(program, sm, opt, diags, &pps, error)) return false;
  GithubEmitter g(program, sm, opt, diags);
  for (const auto& pp : pps) {
    if (pp.plans.empty()) continue;
    out->push_back(g.Workflow(pp));
  }
  for (auto& f : g.EnvironmentFiles()) out->push_back(std::move(f));
  return true;
}

}  // namespace trix::emit
