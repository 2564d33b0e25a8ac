// The run loop: gates, approvals, stages, verify, rollback, journal, resume.
#include "runtime/executor.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <pwd.h>
#include <set>
#include <sstream>
#include <thread>
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <unistd.h>

#include "compiler/util/literals.hpp"
#include "compiler/util/sha256.hpp"
#include "runtime/eval.hpp"
#include "runtime/http.hpp"
#include "runtime/journal.hpp"
#include "runtime/process.hpp"
#include "runtime/rollout.hpp"
#include "runtime/progress.hpp"

namespace trix::rt {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// SIGINT/SIGTERM: the first stops the current step and starts rollback; a
// second one during rollback stops that too (the run is then resumable, 13).
std::atomic<bool> g_stop_main{false};
std::atomic<bool> g_stop_rollback{false};
std::atomic<int> g_signals{0};

extern "C" void OnSignal(int) {
  const int n = ++g_signals;
  g_stop_main = true;
  if (n >= 2) g_stop_rollback = true;
}

std::string LoginName() {
  if (const char* u = std::getenv("USER"); u && *u) return u;
  if (struct passwd* pw = getpwuid(getuid())) return pw->pw_name;
  return "unknown";
}

std::string Now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
  return buf;
}

// Wall-clock time in Unix seconds.
double WallNow() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

// The journal's "ts" ("2026-11-28T08:41:07.123Z", journal.cpp) in Unix
// seconds, or nullopt when it is not in that form.
std::optional<double> ParseJournalTime(const std::string& ts) {
  std::tm tm{};
  int ms = 0, used = 0;
  if (std::sscanf(ts.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &used) != 6)
    return std::nullopt;
  if (ts.size() > static_cast<std::size_t>(used) + 4 && ts[used] == '.') ms = std::atoi(ts.c_str() + used + 1);
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const std::time_t t = timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return static_cast<double>(t) + ms / 1000.0;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

double NumOr(const json& j, const char* key, double dflt) {
  if (j.contains(key) && j[key].is_number()) return j[key].get<double>();
  return dflt;
}

/// Records one answer to a run's pending approval as a file under
/// runs/ID/approvals/ (written atomically); the waiting run reads it. Both
/// `trixc approve` and answers typed at the run's terminal go this way.
/// `step` is the id of the `approve` instruction waiting for it: an answer
/// counts for that wait only, not for a later `approve` of the run.
void WriteAnswer(const std::string& run_dir, const std::string& approval, const std::string& step, const std::string& who, bool deny,
                 const std::string& plan_hash, const std::string& comment, const std::string& via) {
  fs::create_directories(run_dir + "/approvals");
  json ans{{"approval", approval}, {"step", step}, {"who", who}, {"decision", deny ? "deny" : "approve"}, {"plan_sha256", plan_hash},
           {"comment", comment}, {"via", via}};
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  ans["at"] = buf;
  // The name is only part of the file name for readability; keep it a plain file name.
  std::string safe;
  for (char c : who) safe += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '_';
  static std::atomic<int> n{0};
  WriteFileAtomic(fmt::format("{}/approvals/{}-{}-{}-{}.json", run_dir, buf, getpid(), n++, safe), ans.dump() + "\n");
}

class Runner {
  friend class DeployHost;

 public:
  Runner(json plan, RunOptions opt) : plan_(std::move(plan)), opt_(std::move(opt)) {}

  int Run();

 private:
  // ---- output and journal ---------------------------------------------------------------
  std::string Redact(std::string s) const {
    for (const auto& v : redact_) {
      if (v.empty()) continue;
      for (std::size_t pos = s.find(v); pos != std::string::npos; pos = s.find(v, pos + 3)) s.replace(pos, v.size(), "***");
    }
    return s;
  }
  json RedactJson(const json& j) const {
    if (j.is_string()) return Redact(j.get<std::string>());
    if (j.is_array() || j.is_object()) {
      json out = j;
      for (auto it = out.begin(); it != out.end(); ++it) it.value() = RedactJson(it.value());
      return out;
    }
    return j;
  }
  void Say(const std::string& who, const std::string& msg) {
    std::lock_guard<std::mutex> lock(out_mu_);
    const std::string line = opt_.json_output ? json{{"ts", Now()}, {"run", run_id_}, {"source", who}, {"message", Redact(msg)}}.dump()
                                              : Now() + " " + (who.empty() ? "" : "[" + Redact(who) + "] ") + Redact(msg);
    if (progress_) progress_->Line(line);
    else std::cout << line << std::endl;
  }
  // Returns the record's "ts", or "" when there is no journal (a dry run).
  std::string Record(json r, Journal::Durability d = Journal::Durability::kSynced) {
    if (!journal_) return "";
    std::lock_guard<std::mutex> lock(journal_mu_);
    r["run"] = run_id_;
    return journal_->Append(RedactJson(r), d);
  }

  // ---- evaluation -------------------------------------------------------------------------
  EvalContext Ctx() const {
    EvalContext c;
    c.steps = &steps_;
    c.baselines = &baselines_;
    c.secret = [this](const std::string& name) {
      auto it = secret_values_.find(name);
      if (it == secret_values_.end()) throw EvalError(fmt::format("secret `{}` is not available", name));
      return it->second;
    };
    return c;
  }
  std::vector<std::pair<std::string, std::string>> EnvOf(const json& env) {
    std::vector<std::pair<std::string, std::string>> out;
    if (!env.is_object()) return out;
    for (auto it = env.begin(); it != env.end(); ++it) {
      const json& v = it.value();
      if (v.is_object() && v.contains("secret")) {
        out.emplace_back(it.key(), secret_values_[v["secret"].get<std::string>()]);
      } else if (v.is_object()) {
        out.emplace_back(it.key(), ValueToText(Eval(v, Ctx())));
      } else {
        out.emplace_back(it.key(), ValueToText(v));
      }
    }
    return out;
  }
  bool Guard(const json& instr) {
    if (!instr.contains("when")) return true;
    try {
      return EvalBool(instr["when"], Ctx());
    } catch (const EvalError& e) {
      Say("", fmt::format("guard of {} cannot be evaluated ({}); the step is skipped", instr.value("id", "?"), e.what()));
      return false;
    }
  }
  std::string Where(const json& instr) const {
    const json& l = instr["loc"];
    return fmt::format("{}:{}", l.value("file", "?"), l.value("line", 0));
  }

  struct ProbeOutcome {
    bool pass = false;
    bool inconclusive = false;
    std::string detail;
    EvalContext ctx;
  };
  ProbeOutcome ProbeOnce(const json& p, const std::string& who);
  ProbeOutcome Probe(const json& p, const std::string& who) {
    const int retries = static_cast<int>(NumOr(p, "retries", 0));
    const double interval = NumOr(p, "interval_s", 2);
    ProbeOutcome r;
    for (int attempt = 0; attempt <= retries; ++attempt) {
      if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(interval * 1000)));
      r = ProbeOnce(p, who);
      if (r.pass || Stopped()) break;
    }
    return r;
  }

  // ---- instructions -----------------------------------------------------------------------------
  bool Stopped() const { return in_rollback_ ? g_stop_rollback.load() : g_stop_main.load(); }
  const std::atomic<bool>* CancelFlag() const { return in_rollback_ ? &g_stop_rollback : &g_stop_main; }
  /// Top and Step run one instruction; a value that cannot be computed
  /// (EvalError: `steps.X` of a step that has not run, an environment
  /// attribute with no value) fails the instruction like a failed command,
  /// so the run rolls back and ends with exit 1 instead of aborting.
  bool Top(const json& instr);
  bool TopUnguarded(const json& instr);
  bool Steps(const json& steps, const std::string& who);
  bool Step(const json& s, const std::string& who);
  bool StepUnguarded(const json& s, const std::string& who);
  bool EvalFailed(const json& instr, const std::string& who, const EvalError& e);
  bool RunStep(const json& s, const std::string& who, json* result);
  bool HttpStep(const json& s, const std::string& who, json* result);
  bool Check(const json& c);
  bool Confirm(const json& c);
  bool ApproveWait(const json& a, const std::string& id);
  void TerminalAnswer(std::string line, const std::string& approval, const std::string& step, const std::string& plan_hash);
  bool WindowOpen();
  bool BeforeChange(const json& s);
  void Rollback();
  /// Publishes the metrics file and/or pushgateway group: "running" when the
  /// run starts, its outcome when it ends.
  void WriteMetrics(std::string status);
  void PushMetrics(const std::string& text, bool running, const char* method);
  bool Done(const std::string& id) const { return done_.count(id) > 0; }
  /// How output names the step an undo block belongs to: its label, else its source line.
  std::string OwnerName(const json& s) const { return s.contains("label") ? s["label"].get<std::string>() : Where(s); }
  bool InDoubt(const json& s);
  bool Deploy(const json& s, const std::string& who);
  bool DeployAbort(const json& s, const std::string& who);
  void IndexDeploys(const json& instrs);

  std::map<std::string, RolloutState> rollouts_;   // deploy id -> progress (rebuilt on resume)
  std::map<std::string, const json*> deploys_;      // deploy id -> its instruction
  bool abort_failed_ = false;                       // a rollout's abort failed: rollback cannot be clean
  json plan_;
  RunOptions opt_;
  std::unique_ptr<ProgressView> progress_;
  std::string run_id_;
  std::string run_dir_;
  std::unique_ptr<Journal> journal_;
  std::mutex out_mu_, journal_mu_, state_mu_;
  std::map<std::string, std::string> secret_values_;
  std::vector<std::string> redact_;
  std::map<std::string, StepOutcome> steps_;
  std::map<std::string, double> baselines_;
  std::vector<std::pair<std::string, json>> undo_stack_;  // (owner id, undo steps)
  std::set<std::string> done_;
  std::set<std::string> started_;
  std::map<std::string, json> approvals_given_;  // approval name -> journal record
  bool changed_ = false;
  bool window_checked_ = false;
  bool in_rollback_ = false;
  // Resuming a run that was interrupted during its rollback (the journal has
  // `rollback_start`): the rollback is finished, nothing runs forward.
  bool resume_rollback_ = false;
  bool resume_rollback_ended_ = false;  // ... and `rollback_end` too: only the run's end is missing
  bool resume_rollback_ok_ = false;
  std::string resume_reason_;
  bool replay_only_ = false;  // walking the plan to rebuild the undo stack; nothing runs
  bool rollback_ok_ = true;
  bool ask_in_doubt_ = false;
  std::string failure_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  double start_unix_ = 0;  // when the run first started (Unix seconds); a resume keeps it from the journal
};

Runner::ProbeOutcome Runner::ProbeOnce(const json& p, const std::string& who) {
  ProbeOutcome r;
  r.ctx = Ctx();
  const std::string kind = p.value("kind", "");
  try {
    if (kind == "run") {
      ProcessSpec spec;
      spec.command = RenderText(p["command"], r.ctx);
      spec.env = EnvOf(p.value("env", json::object()));
      if (p.contains("dir")) spec.dir = ValueToText(p["dir"]);
      spec.timeout_s = NumOr(p, "timeout_s", 300);
      ProcessResult pr = RunProcess(spec, [&](bool err, const std::string& line) { Say(who, (err ? "! " : "| ") + line); }, CancelFlag());
      if (pr.spawn_failed) {
        r.detail = "could not start: " + pr.error;
        return r;
      }
      if (pr.timed_out) {
        r.detail = fmt::format("timed out after {}", lit::FormatDuration(std::round(spec.timeout_s * 1000)));
        return r;
      }
      r.ctx.names["exit_code"] = pr.exit_code;
      r.ctx.names["stdout"] = pr.out;
      r.ctx.names["stderr"] = pr.err;
      r.detail = fmt::format("exit code {}", pr.exit_code);
    } else if (kind == "http") {
      HttpRequest req;
      req.method = p.value("method", "GET");
      req.url = RenderText(p["url"], r.ctx);
      req.timeout_s = NumOr(p, "timeout_s", 30);
      req.insecure = p.value("insecure", false);
      for (const auto& [k, v] : EnvOf(p.value("headers", json::object()))) req.headers.emplace_back(k, v);
      if (p.contains("body")) req.body = p["body"].is_string() ? p["body"].get<std::string>() : ValueToText(Eval(p["body"], r.ctx));
      HttpResponse resp = HttpCall(req);
      if (!resp.ok) {
        r.detail = req.method + " " + req.url + ": " + resp.error;
        return r;
      }
      r.ctx.names["status"] = resp.status;
      r.ctx.names["body"] = resp.body;
      r.ctx.names["latency"] = resp.latency_s;
      r.ctx.body = resp.body;
      r.ctx.headers = resp.headers;
      r.detail = fmt::format("{} {} -> {} in {:.0f} ms", req.method, req.url, resp.status, resp.latency_s * 1000);
    } else if (kind == "prometheus") {
      const std::string at = p.contains("at") ? RenderText(p["at"], r.ctx) : std::string();
      const std::string q = RenderText(p["query"], r.ctx);
      if (at.empty()) {
        r.detail = "no Prometheus address";
        return r;
      }
      PromResult pr = PromQuery(at, q, NumOr(p, "timeout_s", 30));
      if (!pr.ok) {
        r.detail = "query failed: " + pr.error;
        return r;
      }
      if (!pr.has_sample) {
        const std::string nd = p.value("on_no_data", "fail");
        r.detail = "no data";
        if (nd == "pass") r.pass = true;
        if (nd == "inconclusive") r.inconclusive = true;
        return r;
      }
      r.ctx.names["value"] = pr.value;
      r.detail = fmt::format("value {}", pr.value);
    }
    if (!p.contains("expect")) {
      r.pass = true;
      return r;
    }
    r.pass = EvalBool(p["expect"], r.ctx);
    if (!r.pass) r.detail += "; expect is false";
  } catch (const EvalError& e) {
    r.pass = false;
    r.detail += std::string("; ") + e.what();
  }
  return r;
}

bool Runner::WindowOpen() {
  const json& env = plan_["env"];
  std::string why;
  const std::time_t now = std::time(nullptr);
  if (env.contains("freeze") && env["freeze"].is_array()) {
    const std::int64_t today = static_cast<std::int64_t>(now / 86400);
    for (const auto& f : env["freeze"]) {
      std::string err;
      auto fr = lit::ParseFreeze(ValueToText(f), &err);
      if (fr && today >= fr->first_day && today <= fr->last_day) why = fmt::format("inside the freeze {}", ValueToText(f));
    }
  }
  if (why.empty() && env.contains("window") && env["window"].is_string()) {
    std::string err;
    auto ws = lit::ParseWindow(env["window"].get<std::string>(), &err);
    bool open = false;
    if (ws) {
      for (const auto& w : *ws) {
        const std::time_t local = now + w.utc_offset_minutes * 60;
        std::tm tm{};
        gmtime_r(&local, &tm);
        const int wday = (tm.tm_wday + 6) % 7;  // Monday = 0
        const int minute = tm.tm_hour * 60 + tm.tm_min;
        const int prev = (wday + 6) % 7;
        if (w.end_minute > w.start_minute) {
          open = open || ((w.days >> wday & 1) && minute >= w.start_minute && minute < w.end_minute);
        } else {
          // Crosses midnight: the part after midnight belongs to the previous day's window.
          open = open || ((w.days >> wday & 1) && minute >= w.start_minute) || ((w.days >> prev & 1) && minute < w.end_minute);
        }
      }
    }
    if (!open) why = fmt::format("outside the deployment window `{}`", env["window"].get<std::string>());
  }
  if (why.empty()) return true;
  if (!opt_.override_window.empty()) {
    Say("window", fmt::format("{}; overridden: {}", why, opt_.override_window));
    Record({{"event", "window_override"}, {"why", why}, {"reason", opt_.override_window}, {"by", opt_.started_by}});
    return true;
  }
  failure_ = fmt::format("environment `{}` is {}; nothing was changed (use --override-window \"reason\" to deploy anyway)",
                         plan_["environment"].get<std::string>(), why);
  Say("window", failure_);
  return false;
}

bool Runner::BeforeChange(const json& s) {
  if (!s.value("mutating", false)) return true;
  if (!window_checked_) {
    window_checked_ = true;
    if (!WindowOpen()) return false;
  }
  changed_ = true;
  return true;
}

bool Runner::InDoubt(const json& s) {
  // Started before a crash but never finished: run again only when that is safe.
  const std::string id = s.value("id", "");
  if (!started_.count(id) || done_.count(id)) return false;
  // A deploy journals every strategy step: it continues where it was (runtime/rollout.hpp).
  const bool safe = !s.value("mutating", false) || s.value("idempotent", false) || s.value("op", "") == "deploy";
  if (safe || opt_.retry_in_doubt) {
    Say("resume", fmt::format("{} ({}) was running when the run stopped; running it again", id, Where(s)));
    return false;
  }
  if (opt_.skip_in_doubt) {
    Say("resume", fmt::format("{} ({}) was running when the run stopped; treated as done (--skip-in-doubt)", id, Where(s)));
    done_.insert(id);
    return false;
  }
  failure_ = fmt::format("{} ({}) was running when the run stopped and is not idempotent; resume with --retry-in-doubt to run it again "
                         "or --skip-in-doubt if it completed",
                         id, Where(s));
  return true;
}

// ---- rollouts -------------------------------------------------------------------------------

/// The run as a rollout sees it (runtime/rollout.hpp).
class DeployHost : public RolloutHost {
 public:
  explicit DeployHost(Runner& r) : r_(r) {}
  void Say(const std::string& who, const std::string& msg) override { r_.Say(who, msg); }
  void Record(json record) override { r_.Record(std::move(record)); }
  CommandResult Command(const std::string& who, const std::string& command, const std::vector<std::pair<std::string, std::string>>& env) override {
    ProcessSpec spec;
    spec.command = command;
    spec.env = env;
    r_.Say(who, "$ " + command);
    const std::atomic<bool>* cancel = restoring_ ? &g_stop_rollback : r_.CancelFlag();
    ProcessResult pr = RunProcess(spec, [&](bool err, const std::string& line) { r_.Say(who, (err ? "! " : "| ") + line); }, cancel);
    CommandResult out;
    out.ok = pr.exit_code == 0 && !pr.timed_out && !pr.spawn_failed && !pr.cancelled;
    out.out = pr.out;
    out.error = pr.spawn_failed ? "could not start: " + pr.error : pr.cancelled ? "interrupted" : fmt::format("exit code {}", pr.exit_code);
    return out;
  }
  std::string Render(const json& text, const std::map<std::string, json>& names) override {
    EvalContext c = r_.Ctx();
    for (const auto& [k, v] : names) c.names[k] = v;
    return RenderText(text, c);
  }
  std::vector<std::pair<std::string, std::string>> Env(const json& env) override { return r_.EnvOf(env); }
  Measurement Measure(const json& probe, const std::string& who) override {
    Runner::ProbeOutcome o = r_.ProbeOnce(probe, who);
    return {o.pass, o.inconclusive, o.detail};
  }
  std::string StopReason() override {
    if (r_.Stopped()) return "interrupted";
    if (!r_.in_rollback_ && std::chrono::steady_clock::now() >= r_.deadline_) return "the pipeline timeout passed";
    return "";
  }
  void Restoring(bool on) override { restoring_ = on; }
  std::string RunDir() override { return r_.run_dir_; }
  bool DryRun() override { return r_.opt_.dry_run; }

 private:
  Runner& r_;
  bool restoring_ = false;
};

namespace {
/// Calls `f` on every instruction of `instrs` and, depth first, of their
/// children and undo blocks.
void ForEachInstruction(const json& instrs, const std::function<void(const json&)>& f) {
  if (!instrs.is_array()) return;
  for (const auto& in : instrs) {
    f(in);
    for (const char* k : {"children", "undo"}) {
      if (in.contains(k)) ForEachInstruction(in[k], f);
    }
  }
}
}  // namespace

void Runner::IndexDeploys(const json& instrs) {
  ForEachInstruction(instrs, [&](const json& in) {
    if (in.value("op", "") == "deploy") deploys_[in.value("id", "")] = &in;
  });
}

bool Runner::Deploy(const json& s, const std::string& who) {
  (void)who;
  DeployHost host(*this);
  std::string error;
  RolloutState& st = rollouts_[s.value("id", "")];
  const RolloutResult r = ExecuteDeploy(s, st, host, &error);
  if (r == RolloutResult::kCompleted) return true;
  if (r == RolloutResult::kAbortFailed) abort_failed_ = true;
  failure_ = fmt::format("{}: {}", Where(s), error);
  return false;
}

bool Runner::DeployAbort(const json& s, const std::string& who) {
  auto it = deploys_.find(s.value("deploy", ""));
  if (it == deploys_.end()) {
    Say(who, fmt::format("{}: the deploy to undo is not in the plan", Where(s)));
    return false;
  }
  DeployHost host(*this);
  std::string error;
  if (UndoDeploy(*it->second, rollouts_[it->first], host, &error)) return true;
  Say(who, "FAILED: " + error);
  return false;
}

bool Runner::RunStep(const json& s, const std::string& who, json* result) {
  const int retries = static_cast<int>(NumOr(s, "retries", 0));
  const double backoff = NumOr(s, "backoff_s", 1);
  ProcessSpec spec;
  bool pipeline_deadline_bound = false;
  EvalContext ctx = Ctx();
  if (opt_.dry_run) {
    Say(who, "would run: " + RenderTextPreview(s["command"], ctx));
    return true;
  }
  spec.command = RenderText(s["command"], ctx);
  spec.env = EnvOf(s.value("env", json::object()));
  if (s.contains("dir")) spec.dir = ValueToText(s["dir"]);
  spec.timeout_s = NumOr(s, "timeout_s", 0);
  const auto left = std::chrono::duration<double>(deadline_ - std::chrono::steady_clock::now()).count();
  // The pipeline timeout bounds the run, not its rollback (which must be allowed to finish).
  if (!in_rollback_ && deadline_ != std::chrono::steady_clock::time_point::max() && (spec.timeout_s == 0 || spec.timeout_s > left)) {
    spec.timeout_s = std::max(0.001, left);
    pipeline_deadline_bound = true;
  }
  ProcessResult pr;
  for (int attempt = 0; attempt <= retries; ++attempt) {
    if (attempt) {
      const double wait = backoff * (1 << std::min(attempt - 1, 10));
      Say(who, fmt::format("retry {}/{} in {}", attempt, retries, lit::FormatDuration(wait * 1000)));
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(wait * 1000)));
    }
    Say(who, "$ " + spec.command);
    if (progress_ && s.contains("id")) progress_->StepStarted(s["id"].get<std::string>(), Redact(who + ": " + spec.command));
    pr = RunProcess(spec, [&](bool err, const std::string& line) { Say(who, (err ? "! " : "| ") + line); }, CancelFlag());
    if (pr.exit_code == 0 && !pr.timed_out && !pr.spawn_failed) break;
    if (pr.cancelled || Stopped()) break;
  }
  StepOutcome out;
  out.ok = pr.exit_code == 0 && !pr.timed_out && !pr.spawn_failed && !pr.cancelled;
  out.exit_code = pr.exit_code;
  out.stdout_text = Redact(pr.out);
  out.stderr_text = Redact(pr.err);
  if (s.contains("label")) {
    std::lock_guard<std::mutex> lock(state_mu_);
    steps_[s["label"].get<std::string>()] = out;
  }
  // Journalled with the step's `end` record: one fsync per step end, not two.
  *result = json{{"exit_code", pr.exit_code}, {"timed_out", pr.timed_out}, {"stdout_sha256", Sha256Hex(pr.out)}, {"seconds", pr.seconds}};
  if (!out.ok) {
    failure_ = pr.spawn_failed ? fmt::format("{} could not start: {}", Where(s), pr.error)
               : pr.timed_out && pipeline_deadline_bound ? fmt::format("{} timed out after {} (the pipeline's timeout)", Where(s), lit::FormatDuration(std::round(spec.timeout_s * 1000)))
               : pr.timed_out  ? fmt::format("{} timed out after {}", Where(s), lit::FormatDuration(std::round(spec.timeout_s * 1000)))
               : pr.cancelled  ? fmt::format("{} was interrupted", Where(s))
                               : fmt::format("{} failed with exit code {}", Where(s), pr.exit_code);
    Say(who, "failed: " + failure_);
  }
  return out.ok;
}

bool Runner::HttpStep(const json& s, const std::string& who, json* result) {
  json p = s;
  p["kind"] = "http";
  if (opt_.dry_run) {
    Say(who, fmt::format("would request: {} {}", s.value("method", "GET"), RenderTextPreview(s["url"], Ctx())));
    return true;
  }
  ProbeOutcome r;
  const int retries = static_cast<int>(NumOr(s, "retries", 0));
  for (int attempt = 0; attempt <= retries; ++attempt) {
    if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(NumOr(s, "backoff_s", 1) * 1000)));
    p.erase("retries");
    r = ProbeOnce(p, who);
    if (r.pass || Stopped()) break;
  }
  StepOutcome out;
  out.ok = r.pass;
  if (r.ctx.names.count("status")) out.status = r.ctx.names["status"].get<long>();
  out.body = Redact(r.ctx.body);
  if (s.contains("label")) {
    std::lock_guard<std::mutex> lock(state_mu_);
    steps_[s["label"].get<std::string>()] = out;
  }
  if (r.ctx.names.count("status")) *result = json{{"status", out.status}};  // with the `end` record, for a resume
  Say(who, (r.pass ? "ok: " : "failed: ") + r.detail);
  if (!r.pass) failure_ = fmt::format("{}: {}", Where(s), r.detail);
  return r.pass;
}

bool Runner::EvalFailed(const json& instr, const std::string& who, const EvalError& e) {
  failure_ = fmt::format("{}: a value cannot be computed: {}", Where(instr), e.what());
  Say(who, "FAILED: " + failure_);
  Record({{"event", "end"}, {"id", instr.value("id", "")}, {"ok", false}, {"error", e.what()}});
  return false;
}

bool Runner::Step(const json& s, const std::string& who) {
  try {
    return StepUnguarded(s, who);
  } catch (const EvalError& e) {
    return EvalFailed(s, who, e);
  }
}

bool Runner::StepUnguarded(const json& s, const std::string& who) {
  const std::string id = s.value("id", "");
  const std::string op = s.value("op", "");
  if (Done(id)) {
    // Finished before a crash: never run again, but its undo still counts.
    if (s.value("mutating", false)) changed_ = true;
    if (op != "call" && op != "parallel") {
      if (s.contains("undo")) undo_stack_.push_back({OwnerName(s), s["undo"]});
      return true;
    }
  }
  if (replay_only_) {
    // Rebuilding the undo stack of a run interrupted in its rollback: the
    // finished steps' undo blocks (above), in plan order; nothing runs.
    if (s.contains("children")) {
      for (const auto& c : s["children"]) Step(c, who);
    }
    return true;
  }
  if (Stopped()) {
    failure_ = "interrupted";
    return false;
  }
  if (!Guard(s)) return true;
  if (InDoubt(s)) {
    ask_in_doubt_ = true;
    return false;
  }
  if (Done(id)) {  // --skip-in-doubt: taken as finished
    if (s.value("mutating", false)) changed_ = true;
    if (s.contains("undo")) undo_stack_.push_back({OwnerName(s), s["undo"]});
    return true;
  }
  if (!BeforeChange(s)) return false;
  const std::string name = s.contains("label") ? s["label"].get<std::string>() : who;
  if (!Done(id)) Record({{"event", "start"}, {"id", id}, {"op", op}, {"loc", s["loc"]}});
  if (progress_) progress_->StepStarted(id, s.contains("label") ? s["label"].get<std::string>() : op + " at " + Where(s));
  bool ok = true;
  json result = json::object();
  if (op == "run") {
    ok = RunStep(s, name, &result);
  } else if (op == "http") {
    ok = HttpStep(s, name, &result);
  } else if (op == "wait") {
    const double secs = NumOr(s, "seconds", 0);
    Say(name, "wait " + lit::FormatDuration(secs * 1000));
    for (double t = 0; t < secs && !Stopped() && !opt_.dry_run; t += 0.05) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ok = !Stopped();
  } else if (op == "wait_until") {
    const double timeout = NumOr(s, "timeout_s", 300), interval = NumOr(s, "interval_s", 5);
    const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(timeout * 1000));
    ok = false;
    while (!opt_.dry_run) {
      ProbeOutcome r = ProbeOnce(s["probe"], name);
      if (r.pass) {
        ok = true;
        Say(name, "ready: " + r.detail);
        break;
      }
      if (std::chrono::steady_clock::now() >= end || Stopped()) {
        failure_ = fmt::format("{}: not ready after {} ({})", Where(s), lit::FormatDuration(timeout * 1000), r.detail);
        Say(name, "failed: " + failure_);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(interval * 1000)));
    }
    if (opt_.dry_run) ok = true;
  } else if (op == "notify") {
    const std::string text = RenderText(s["text"], Ctx());
    if (s.contains("url") && !opt_.dry_run) {
      HttpRequest req;
      req.method = "POST";
      req.url = s["url"].get<std::string>();
      req.headers = {{"Content-Type", "application/json"}};
      req.body = json{{"text", Redact(text)}}.dump();
      HttpResponse resp = HttpCall(req);
      Say("notify", resp.ok && resp.status < 400 ? "sent: " + text : "could not notify (" + (resp.ok ? std::to_string(resp.status) : resp.error) + "): " + text);
    } else {
      Say("notify", text);
    }
  } else if (op == "approve") {
    ok = ApproveWait(s["approval"], id);
  } else if (op == "parallel") {
    std::vector<std::thread> threads;
    std::vector<char> results(s["children"].size(), 0);
    std::size_t i = 0;
    for (const auto& child : s["children"]) {
      threads.emplace_back([&, i, child] { results[i] = Step(child, name) ? 1 : 0; });
      ++i;
    }
    for (auto& t : threads) t.join();
    ok = std::all_of(results.begin(), results.end(), [](char c) { return c != 0; });
  } else if (op == "call") {
    Say(name, "call " + s.value("action", "?"));
    ok = Steps(s["children"], name);
  } else if (op == "deploy") {
    ok = Deploy(s, name);
  } else if (op == "deploy_abort") {
    ok = DeployAbort(s, name);
  } else {
    failure_ = fmt::format("{}: unknown instruction `{}`", Where(s), op);
    ok = false;
  }
  if (ok && s.contains("label") && op != "run" && op != "http") {
    std::lock_guard<std::mutex> lock(state_mu_);
    steps_[s["label"].get<std::string>()].ok = true;
  }
  json end{{"event", "end"}, {"id", id}, {"ok", ok}};
  end.update(result);
  // Written now (a crash of trixc cannot lose it) but synced by the next
  // synced record: the next step's start, a check, an approval wait or the
  // run's end. One fdatasync per step instead of two.
  Record(end, Journal::Durability::kDeferred);
  if (progress_) progress_->StepFinished(id, ok);
  if (ok) {
    std::lock_guard<std::mutex> lock(state_mu_);
    done_.insert(id);
    // A dry run rolls back only as a drill, which then shows these undo blocks too.
    if (s.contains("undo") && (!opt_.dry_run || opt_.drill)) undo_stack_.push_back({OwnerName(s), s["undo"]});
  }
  return ok;
}

bool Runner::Steps(const json& steps, const std::string& who) {
  for (const auto& s : steps) {
    if (!Step(s, who)) return false;
  }
  return true;
}

bool Runner::Check(const json& c) {
  const std::string who = c.value("phase", "") == "gate" ? "gate " + c.value("group", "") : c.value("phase", "") == "verify" ? "verify" : "rollback verify";
  const std::string label = RenderText(c["label"], Ctx());
  if (opt_.dry_run) {
    const json& p = c["probe"];
    const std::string kind = p.value("kind", "");
    std::string what = kind == "run" ? "would run: " + RenderTextPreview(p["command"], Ctx())
                       : kind == "http" ? "would request: " + p.value("method", "GET") + " " + RenderTextPreview(p["url"], Ctx())
                                        : "would query " + (p.contains("at") ? RenderTextPreview(p["at"], Ctx()) : std::string("?")) + ": " + RenderTextPreview(p["query"], Ctx());
    Say(who, fmt::format("check \"{}\": {}", label, what));
    return true;
  }
  // As a step: nothing new starts once the run (or its rollback) is told to
  // stop. A probe started anyway could finish before its cancellation was seen.
  if (Stopped()) {
    failure_ = "interrupted";
    return false;
  }
  if (progress_) progress_->StageStarted(who);
  if (progress_) progress_->StepStarted(c.value("id", ""), "check \"" + label + "\"");
  ProbeOutcome r = Probe(c["probe"], who);
  if (progress_) progress_->StepFinished(c.value("id", ""), r.pass);
  Say(who, fmt::format("{} \"{}\": {}", r.pass ? "ok" : "FAILED", label, r.detail));
  Record({{"event", "check"}, {"id", c["id"]}, {"label", label}, {"ok", r.pass}, {"detail", r.detail}});
  if (!r.pass) failure_ = fmt::format("check \"{}\" failed ({}) at {}", label, r.detail, Where(c));
  return r.pass;
}

bool Runner::Confirm(const json& c) {
  const std::string text = RenderText(c["text"], Ctx());
  const std::string who_group = "gate " + c.value("group", "");
  if (!opt_.attest_file.empty()) {
    json att = json::parse(ReadText(opt_.attest_file), nullptr, false);
    if (att.is_object() && att.contains(text) && att[text].is_string() && !att[text].get<std::string>().empty()) {
      Say(who_group, fmt::format("confirmed \"{}\" (attested by {})", text, att[text].get<std::string>()));
      Record({{"event", "confirm"}, {"id", c["id"]}, {"text", text}, {"by", att[text]}, {"via", "attest"}});
      return true;
    }
  }
  if (isatty(0) && isatty(1) && !opt_.dry_run) {
    progress_->Prompt(fmt::format("Confirm: {} [y/N] ", Redact(text)));
    std::string answer;
    std::getline(std::cin, answer);
    progress_->EndPrompt();
    if (answer == "y" || answer == "Y" || answer == "yes") {
      Record({{"event", "confirm"}, {"id", c["id"]}, {"text", text}, {"by", opt_.started_by}, {"via", "terminal"}});
      return true;
    }
    failure_ = fmt::format("\"{}\" was not confirmed", text);
    return false;
  }
  if (opt_.dry_run) {
    Say(who_group, fmt::format("would ask to confirm \"{}\"", text));
    return true;
  }
  failure_ = fmt::format("\"{}\" needs a confirmation: answer at a terminal, or pass --attest FILE with {{\"{}\": \"your name\"}}", text, text);
  Say(who_group, "FAILED: " + failure_);
  return false;
}

bool Runner::ApproveWait(const json& a, const std::string& id) {
  const std::string name = a.value("name", "?");
  if (approvals_given_.count(id)) {
    Say("approve " + name, "already approved before the run stopped");
    return true;
  }
  // Requirements that apply (guards evaluated now).
  std::vector<json> reqs;
  for (const auto& r : a["requires"]) {
    if (r.contains("when")) {
      try {
        if (!EvalBool(r["when"], Ctx())) continue;
      } catch (const EvalError&) {
      }
    }
    reqs.push_back(r);
  }
  if (opt_.dry_run) {
    Say("approve " + name, "would wait for approval");
    return true;
  }
  const std::string dir = run_dir_ + "/approvals";
  fs::create_directories(dir);
  std::string needs;
  std::set<std::string> eligible_people;
  for (const auto& r : reqs) {
    std::string people;
    for (const auto& p : r["people"]) {
      people += (people.empty() ? "" : ", ") + p.get<std::string>();
      if (p != opt_.started_by) eligible_people.insert(p.get<std::string>());
    }
    needs += fmt::format("{}{} of [{}]", needs.empty() ? "" : "; ", r.value("quorum", 1), people);
  }
  // `people` and `started_by` let `trixc approve` refuse an answer that
  // cannot count before writing it; this wait checks every answer again.
  Record({{"event", "approval_wait"}, {"id", id}, {"approval", name}, {"needs", needs}, {"people", eligible_people},
          {"started_by", opt_.started_by}});
  Say("approve " + name, fmt::format("waiting for approval: {} (not {}, who started the run). Approve with `trixc approve {} --as NAME`"
                                      " or refuse with `--deny`; times out after {}",
                                      needs, opt_.started_by, run_id_, lit::FormatDuration(NumOr(a, "timeout_s", 86400) * 1000)));
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(NumOr(a, "timeout_s", 86400) * 1000));
  // Answers typed at the run's own terminal (see TerminalAnswer); `trixc approve` keeps working meanwhile.
  bool tty_answers = ::isatty(STDIN_FILENO) != 0;
  std::string typed;
  const std::string prompt = fmt::format("approve `{}`: type the approver's name, `deny NAME` to refuse, or Enter to keep waiting "
                                         "({} started the run and does not count): ",
                                         name, opt_.started_by);
  if (tty_answers) progress_->Prompt(prompt);
  struct EndPrompt {
    ProgressView* v;
    bool on;
    ~EndPrompt() {
      if (on) v->EndPrompt();
    }
  } end_prompt{progress_.get(), tty_answers};
  std::set<std::string> seen;
  std::vector<std::set<std::string>> counted(reqs.size());
  const std::string plan_hash = plan_.value("plan_sha256", "");
  while (true) {
    std::vector<std::string> files;
    if (fs::exists(dir)) {
      for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() == ".json") files.push_back(e.path().string());
      }
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      if (seen.count(f)) continue;
      seen.insert(f);
      json ans = json::parse(ReadText(f), nullptr, false);
      if (!ans.is_object()) continue;
      const std::string who = ans.value("who", "");
      if (ans.value("plan_sha256", "") != plan_hash) {
        Say("approve " + name, fmt::format("answer from {} is void: it was given for another plan", who));
        continue;
      }
      // An answer to another `approve` of this run (an earlier one, or another approval) does not count here.
      if (ans.value("approval", "") != name || ans.value("step", "") != id) continue;
      if (who == opt_.started_by) {
        Say("approve " + name, fmt::format("{} started this run and cannot approve it (separation of duties)", who));
        continue;
      }
      bool eligible = false;
      for (std::size_t i = 0; i < reqs.size(); ++i) {
        for (const auto& p : reqs[i]["people"]) eligible = eligible || p == who;
      }
      if (!eligible) {
        Say("approve " + name, fmt::format("{} is not in a role this approval requires; ignored", who));
        continue;
      }
      const bool deny = ans.value("decision", "") == "deny";
      Record({{"event", "approval"}, {"id", id}, {"approval", name}, {"who", who}, {"decision", deny ? "deny" : "approve"},
              {"plan_sha256", plan_hash}, {"at", ans.value("at", "")}, {"via", ans.value("via", "approve")}});
      if (deny) {
        failure_ = fmt::format("approval `{}` was refused by {}", name, who);
        Say("approve " + name, "REFUSED by " + who);
        return false;
      }
      for (std::size_t i = 0; i < reqs.size(); ++i) {
        for (const auto& p : reqs[i]["people"]) {
          if (p == who) counted[i].insert(who);
        }
      }
      Say("approve " + name, "approved by " + who + (ans.value("via", "") == "terminal" ? " (at the run's terminal)" : ""));
    }
    bool satisfied = true;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      satisfied = satisfied && counted[i].size() >= static_cast<std::size_t>(reqs[i].value("quorum", 1));
    }
    if (satisfied) {
      Record({{"event", "approved"}, {"id", id}, {"approval", name}});
      approvals_given_[id] = json::object();
      return true;
    }
    if (std::chrono::steady_clock::now() >= end) {
      failure_ = fmt::format("approval `{}` timed out, which counts as a refusal", name);
      Say("approve " + name, failure_);
      return false;
    }
    if (Stopped()) {
      failure_ = "interrupted while waiting for approval";
      return false;
    }
    if (!tty_answers) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      continue;
    }
    pollfd pfd{STDIN_FILENO, POLLIN, 0};
    if (::poll(&pfd, 1, 200) <= 0) continue;
    char buf[1024];
    const ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n <= 0) {  // end of input (Ctrl-D) or a read error: only `trixc approve` from now on
      tty_answers = false;
      continue;
    }
    typed.append(buf, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = typed.find('\n')) != std::string::npos;) {
      const std::string line = typed.substr(0, nl);
      typed.erase(0, nl + 1);
      TerminalAnswer(line, name, id, plan_hash);
      progress_->Prompt(prompt);
    }
  }
}

void Runner::TerminalAnswer(std::string line, const std::string& approval, const std::string& step, const std::string& plan_hash) {
  // A line typed at the run's terminal: `NAME` approves as NAME, `deny NAME`
  // refuses as NAME, `y`/`yes`/`deny` alone answer as the person presumed
  // at this terminal, who started the run and therefore never counts; an
  // empty line or `n` keeps waiting. The answer then goes through the same
  // checks as one from `trixc approve` (role, plan hash).
  auto trim = [](std::string t) {
    const auto b = t.find_first_not_of(" \t\r");
    if (b == std::string::npos) return std::string();
    return t.substr(b, t.find_last_not_of(" \t\r") - b + 1);
  };
  line = trim(line);
  bool deny = false;
  if (line == "deny" || line.rfind("deny ", 0) == 0) {
    deny = true;
    line = trim(line.substr(4));
  }
  if (line.empty() && !deny) return;
  if (line == "n" || line == "N" || line == "no") {
    Say("approve " + approval, "no answer given; still waiting (Ctrl-C stops the run)");
    return;
  }
  const std::string who = line.empty() || line == "y" || line == "Y" || line == "yes" ? opt_.started_by : line;
  if (who == opt_.started_by) {
    Say("approve " + approval, fmt::format("{} started this run and cannot {} it (separation of duties): another member of the role "
                                           "must answer, by typing their name here or with `trixc approve {} --as NAME`",
                                           who, deny ? "refuse" : "approve", run_id_));
    return;
  }
  if (who.find_first_of(" \t") != std::string::npos) {
    Say("approve " + approval, fmt::format("`{}` is not a name; type one name, or `deny NAME`", who));
    return;
  }
  WriteAnswer(run_dir_, approval, step, who, deny, plan_hash, "typed at the run's terminal", "terminal");
}

bool Runner::Top(const json& in) {
  try {
    return TopUnguarded(in);
  } catch (const EvalError& e) {
    return EvalFailed(in, in.value("op", "") == "stage" ? "stage " + in.value("name", "") : in.value("op", ""), e);
  }
}

bool Runner::TopUnguarded(const json& in) {
  const std::string op = in.value("op", "");
  const std::string id = in.value("id", "");
  if (replay_only_) {
    if (op == "stage") {
      for (const auto& c : in["children"]) Step(c, "stage " + in.value("name", ""));
    }
    return true;
  }
  if (Done(id) && op != "stage") return true;
  if (!Guard(in)) return true;
  bool ok = true;
  if (op == "check") {
    ok = Check(in);
  } else if (op == "confirm") {
    ok = Confirm(in);
  } else if (op == "baseline") {
    ProbeOutcome r = Probe(in["probe"], "baseline " + in.value("name", ""));
    double v = 0;
    try {
      if (r.pass && in.contains("read")) v = Eval(in["read"], r.ctx).get<double>();
      else if (r.pass) v = r.ctx.names.at("value").get<double>();
    } catch (const std::exception& e) {
      r.pass = false;
      r.detail += std::string("; ") + e.what();
    }
    if (!r.pass) {
      failure_ = fmt::format("baseline `{}` could not be measured ({})", in.value("name", ""), r.detail);
      ok = false;
    } else {
      baselines_[in.value("name", "")] = v;
      Record({{"event", "baseline"}, {"id", id}, {"name", in["name"]}, {"value", v}});
      Say("baseline " + in.value("name", ""), fmt::format("measured {}", v));
    }
  } else if (op == "approve") {
    ok = ApproveWait(in["approval"], id);
  } else if (op == "stage") {
    Say("stage " + in.value("name", ""), in.contains("title") ? RenderText(in["title"], Ctx()) : std::string("start"));
    if (progress_) progress_->StageStarted("stage " + in.value("name", ""));
    ok = Steps(in["children"], "stage " + in.value("name", ""));
    if (ok) Record({{"event", "end"}, {"id", id}, {"ok", true}});
    if (ok) done_.insert(id);
    return ok;
  }
  if (ok && op != "stage") {
    Record({{"event", "end"}, {"id", id}, {"ok", true}});
    done_.insert(id);
  }
  return ok;
}

void Runner::Rollback() {
  in_rollback_ = true;
  Say("rollback", "starting: undo blocks newest first, then the rollback block");
  if (progress_) progress_->StageStarted("rollback");
  Record({{"event", "rollback_start"}, {"reason", failure_}});
  bool ok = true;
  for (auto it = undo_stack_.rbegin(); it != undo_stack_.rend(); ++it) {
    for (const auto& s : it->second) {
      // Rollback steps are never skipped because an earlier one failed.
      if (!Step(s, "undo " + it->first)) ok = false;
    }
  }
  for (const auto& s : plan_["rollback"]) {
    if (!Step(s, "rollback")) ok = false;
  }
  for (const auto& c : plan_["rollback_verify"]) {
    if (c.value("op", "") == "check" && !Check(c)) ok = false;
  }
  if (abort_failed_) ok = false;  // a rollout's traffic could not be restored
  // An interrupted rollback (a second signal) is not over: a resume finishes it.
  Record({{"event", "rollback_end"}, {"ok", ok}, {"interrupted", g_stop_rollback.load()}});
  rollback_ok_ = ok;
}

namespace {
/// Holds flock(LOCK_EX) on `path` (created if missing) until Release or the
/// end of the scope; does nothing for an empty path or a file that cannot be
/// opened (what the lock protects then reports its own error).
class FlockGuard {
 public:
  explicit FlockGuard(const std::string& path) {
    if (path.empty()) return;
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ >= 0) {
      while (::flock(fd_, LOCK_EX) != 0 && errno == EINTR) {
      }
    }
  }
  FlockGuard(const FlockGuard&) = delete;
  FlockGuard& operator=(const FlockGuard&) = delete;
  ~FlockGuard() { Release(); }
  void Release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};
}  // namespace

void Runner::WriteMetrics(std::string status) {
  if (opt_.metrics_file.empty() && opt_.pushgateway.empty()) return;
  // "running" is what a run publishes when it starts (or resumes): its start
  // time and no duration, so TrixDeploymentStuck (`trixc emit prometheus`)
  // sees a run that never ends. The counters move only at the end.
  const bool running = status == "running";
  // Drills are counted apart (trix_drills_total); the deployment series keep
  // what the last real run said, so a drill publishes nothing when it starts.
  const bool drill = opt_.drill;
  if (running && drill) return;
  // Counters accumulate across runs: read what the file says so far. Runs
  // of other pipelines may share the file: read, update and replace it under
  // a lock (FILE.lock beside it; node_exporter reads only *.prom).
  FlockGuard file_lock(opt_.metrics_file.empty() ? std::string() : opt_.metrics_file + ".lock");
  std::map<std::string, double> prev;
  {
    std::istringstream in(opt_.metrics_file.empty() ? std::string() : ReadText(opt_.metrics_file));
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto sp = line.rfind(' ');
      if (sp == std::string::npos) continue;
      prev[line.substr(0, sp)] = std::strtod(line.c_str() + sp + 1, nullptr);
    }
  }
  auto counter = [&](const std::string& key, double add) { return fmt::format("{} {}\n", key, prev[key] + (running ? 0 : add)); };
  const std::string labels = fmt::format("pipeline=\"{}\",environment=\"{}\"", plan_.value("pipeline", ""), plan_.value("environment", ""));
  // This run's samples by metric family; the file also keeps the samples of
  // other pipelines and environments that share it (each family's samples
  // under one HELP/TYPE header, as the text format requires).
  struct Family {
    const char* name;
    const char* help;
    const char* type;
  };
  static const Family kFamilies[] = {
      {"trix_deployment_duration_seconds", "Duration of the last deployment run.", "gauge"},
      {"trix_deployment_start_time", "Unix time the last run started.", "gauge"},
      {"trix_deployments_total", "Deployment runs by outcome.", "counter"},
      {"trix_rollbacks_total", "Rollbacks started.", "counter"},
      {"trix_deployment_status", "Outcome of the last run (1 for its status; running while it runs).", "gauge"},
      {"trix_drills_total", "Rollback drills (trixc run --drill) by outcome.", "counter"},
  };
  std::map<std::string, std::string> mine;
  auto gauge = [&](const std::string& key, double value) {
    if (!drill) return fmt::format("{} {}\n", key, value);
    return prev.count(key) ? fmt::format("{} {}\n", key, prev[key]) : std::string();
  };
  if (drill) status = status == "drill_passed" || status == "drill_failed" ? status : "drill_" + status;
  // Measured from the run's first start, so a resumed run's duration covers
  // the time it lay interrupted, like its start time does.
  const double seconds = std::max(0.0, WallNow() - start_unix_);
  if (!running) mine["trix_deployment_duration_seconds"] += gauge(fmt::format("trix_deployment_duration_seconds{{{}}}", labels), seconds);
  mine["trix_deployment_start_time"] += gauge(fmt::format("trix_deployment_start_time{{{}}}", labels), std::floor(start_unix_));
  for (const char* st : {"succeeded", "stopped", "rolled_back", "rollback_failed", "interrupted"}) {
    mine["trix_deployments_total"] += counter(fmt::format("trix_deployments_total{{{},status=\"{}\"}}", labels, st), status == st ? 1 : 0);
  }
  mine["trix_rollbacks_total"] += counter(fmt::format("trix_rollbacks_total{{{}}}", labels), (status == "rolled_back" || status == "rollback_failed") ? 1 : 0);
  for (const char* st : {"running", "succeeded", "stopped", "failed"}) {
    // A run interrupted before it changed anything (exit 13) stands as
    // stopped, not failed: it raises no TrixDeploymentFailed.
    const bool stopped = status == "stopped" || (status == "interrupted" && !changed_);
    const std::string now = running ? "running" : status == "succeeded" ? "succeeded" : stopped ? "stopped" : "failed";
    mine["trix_deployment_status"] += gauge(fmt::format("trix_deployment_status{{{},status=\"{}\"}}", labels, st), now == st ? 1 : 0);
  }
  for (const char* st : {"passed", "failed"}) {
    const bool counted = drill && (st == std::string("passed") ? status == "drill_passed" : status != "drill_passed");
    mine["trix_drills_total"] += counter(fmt::format("trix_drills_total{{{},status=\"{}\"}}", labels, st), counted ? 1 : 0);
  }
  // `with_others`: the metrics file's text; without, this run's alone (the
  // Pushgateway groups by pipeline and environment).
  // `only`: just that family (a drill's push).
  auto compose = [&](bool with_others, const char* only = nullptr) {
    std::string out;
    for (const Family& f : kFamilies) {
      if (only && std::string(f.name) != only) continue;
      std::string others;
      if (with_others) {
        const std::string family = std::string(f.name) + "{";
        const std::string ours = family + labels;
        for (const auto& [key, value] : prev) {
          if (key.compare(0, family.size(), family) != 0) continue;
          const bool is_mine = key.compare(0, ours.size(), ours) == 0 && ours.size() < key.size() && (key[ours.size()] == ',' || key[ours.size()] == '}');
          if (!is_mine) others += fmt::format("{} {}\n", key, value);
        }
      }
      const std::string& own = mine[f.name];
      if (others.empty() && own.empty()) continue;
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", f.name, f.help, f.name, f.type);
      out += others;
      out += own;
    }
    return out;
  };
  // A drill pushes only its own counter, with POST, which replaces just the
  // families pushed: a PUT would wipe the group's deployment series (and
  // resolve a TrixDeploymentFailed that a real run raised).
  const std::string m = drill ? compose(false, "trix_drills_total") : compose(false);
  if (!opt_.metrics_file.empty()) {
    try {
      WriteFileAtomic(opt_.metrics_file, compose(true));
    } catch (const std::exception& e) {
      // As with a failed push: the deployment does not depend on its monitoring.
      Say("metrics", fmt::format("warning: could not write the metrics file ({}); the run's outcome is unchanged", e.what()));
    }
  }
  file_lock.Release();
  if (!opt_.pushgateway.empty()) PushMetrics(m, running, drill ? "POST" : "PUT");
}

void Runner::PushMetrics(const std::string& text, bool running, const char* method) {
  // The Pushgateway API: PUT replaces the group job/trix/pipeline/P/environment/E;
  // POST replaces only the metric families it carries.
  auto seg = [](const std::string& v) {
    std::string out;
    for (unsigned char c : v) out += std::isalnum(c) || c == '-' || c == '_' || c == '.' ? std::string(1, static_cast<char>(c)) : fmt::format("%{:02X}", c);
    return out;
  };
  std::string base = opt_.pushgateway;
  while (!base.empty() && base.back() == '/') base.pop_back();
  HttpRequest req;
  req.method = method;
  req.url = fmt::format("{}/metrics/job/trix/pipeline/{}/environment/{}", base, seg(plan_.value("pipeline", "")), seg(plan_.value("environment", "")));
  req.headers = {{"Content-Type", "text/plain; version=0.0.4"}};
  req.body = text;
  req.timeout_s = 10;
  HttpResponse resp = HttpCall(req);
  if (resp.ok && resp.status >= 200 && resp.status < 300) {
    Say("metrics", "pushed to " + req.url + (running ? " (the run has started)" : ""));
  } else {
    // The deployment's outcome does not depend on its monitoring.
    Say("metrics", fmt::format("warning: could not push the metrics to {} ({}); the run's outcome is unchanged", req.url,
                               resp.ok ? fmt::format("HTTP {}", resp.status) : resp.error));
  }
}

int Runner::Run() {
  const auto t0 = std::chrono::steady_clock::now();
  start_unix_ = WallNow();
  if (opt_.started_by.empty()) opt_.started_by = LoginName();
  const std::string runs = opt_.state_dir + "/runs";
  // Resume: rebuild what finished from the journal.
  if (!opt_.resume_id.empty()) {
    run_id_ = opt_.resume_id;
    run_dir_ = runs + "/" + run_id_;
    if (!fs::exists(run_dir_ + "/journal.jsonl")) {
      std::cerr << fmt::format("trixc: no run `{}` under {}\n", run_id_, runs);
      return kUsage;
    }
    std::vector<json> recs;
    try {
      recs = ReadJournal(run_dir_ + "/journal.jsonl");
    } catch (const std::exception& e) {
      std::cerr << "trixc: " << e.what() << "\n";
      return kUsage;
    }
    for (const auto& r : recs) {
      const std::string ev = r.value("event", "");
      if (ev == "run_end") {
        std::cerr << fmt::format("trixc: run `{}` already ended ({}); nothing to resume\n", run_id_, r.value("status", "?"));
        return kUsage;
      }
      if (ev == "start") started_.insert(r.value("id", ""));
      if (ev == "end" && r.value("ok", false)) done_.insert(r.value("id", ""));
      if (ev == "rollout") rollouts_[r.value("id", "")].Apply(r);
      if (ev == "baseline") baselines_[r.value("name", "")] = r.value("value", 0.0);
      if (ev == "approved") approvals_given_[r.value("id", "")] = r;
      if (ev == "run_start" && r.contains("started_by")) opt_.started_by = r["started_by"];
      if (ev == "run_start" && r.contains("ts") && r["ts"].is_string()) {
        if (auto t = ParseJournalTime(r["ts"].get<std::string>())) start_unix_ = *t;  // the metrics keep the first start
      }
      if (ev == "run_start" && r.value("drill", false)) opt_.drill = true;
      if (ev == "rollback_start") {
        resume_rollback_ = true;
        resume_rollback_ended_ = false;
        resume_reason_ = r.value("reason", "");
      }
      if (ev == "rollback_end" && !r.value("interrupted", false)) {
        resume_rollback_ended_ = true;
        resume_rollback_ok_ = r.value("ok", false);
      }
    }
    plan_ = json::parse(ReadText(run_dir_ + "/plan.json"), nullptr, false);
    if (plan_.is_discarded()) {
      std::cerr << "trixc: the run's saved plan is unreadable\n";
      return kUsage;
    }
    // What `steps.LABEL.*` reads of the labelled steps that ended before the
    // run stopped: `ok`, `exit_code` and `status` from their `end` records
    // (the journal keeps digests of the output, not the output: `stdout`
    // and `body` are empty).
    std::map<std::string, std::string> labels;  // instruction id -> label
    for (const char* part : {"instructions", "rollback"}) {
      ForEachInstruction(plan_[part], [&](const json& in) {
        if (in.contains("label") && in["label"].is_string()) labels[in.value("id", "")] = in["label"];
      });
    }
    for (const auto& r : recs) {
      if (r.value("event", "") != "end") continue;
      auto l = labels.find(r.value("id", ""));
      if (l == labels.end()) continue;
      StepOutcome out;
      out.ok = r.value("ok", false);
      if (r.contains("exit_code") && r["exit_code"].is_number_integer()) out.exit_code = r["exit_code"].get<int>();
      if (r.contains("status") && r["status"].is_number_integer()) out.status = r["status"].get<long>();
      steps_[l->second] = out;
    }
  } else {
    run_id_ = NewRunId();
    run_dir_ = runs + "/" + run_id_;
  }
  // Secrets: read now, redact everywhere.
  for (auto it = plan_["secrets"].begin(); it != plan_["secrets"].end(); ++it) {
    const json& s = it.value();
    std::string value;
    if (s.value("from", "") == "env") {
      const char* v = std::getenv(s.value("ref", "").c_str());
      if (!v) {
        std::cerr << fmt::format("trixc: secret `{}` needs the environment variable {}; nothing was changed\n", it.key(), s.value("ref", ""));
        return kStoppedNothingChanged;
      }
      value = v;
    } else {
      std::ifstream in(s.value("ref", ""), std::ios::binary);
      if (!in) {
        std::cerr << fmt::format("trixc: secret `{}` needs the file {}; nothing was changed\n", it.key(), s.value("ref", ""));
        return kStoppedNothingChanged;
      }
      std::stringstream ss;
      ss << in.rdbuf();
      value = ss.str();
      while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    }
    secret_values_[it.key()] = value;
    if (!value.empty()) redact_.push_back(value);
  }
  // One run of a pipeline per environment at a time.
  fs::create_directories(opt_.state_dir + "/locks");
  LockFile lock;
  std::string holder;
  const std::string lock_path = fmt::format("{}/locks/{}@{}.lock", opt_.state_dir, plan_.value("pipeline", ""), plan_.value("environment", ""));
  if (!opt_.dry_run && !LockFile::Acquire(lock_path, &lock, &holder)) {
    std::cerr << fmt::format("trixc: pipeline `{}` is already running on `{}` ({}); nothing was changed\n", plan_.value("pipeline", ""),
                             plan_.value("environment", ""), holder);
    return kStoppedNothingChanged;
  }
  if (!opt_.dry_run) {
    // The run exists from here on: a dry run, a refused lock or a missing secret leave nothing behind.
    fs::create_directories(run_dir_);
    if (opt_.resume_id.empty()) WriteFileAtomic(run_dir_ + "/plan.json", plan_.dump(2) + "\n");
    journal_ = std::make_unique<Journal>(run_dir_ + "/journal.jsonl");
  }
  const std::string start_ts = Record({{"event", opt_.resume_id.empty() ? "run_start" : "run_resume"},
                                       {"pipeline", plan_["pipeline"]},
                                       {"environment", plan_["environment"]},
                                       {"plan_sha256", plan_["plan_sha256"]},
                                       {"started_by", opt_.started_by},
                                       {"drill", opt_.drill},
                                       {"pid", static_cast<long>(getpid())}});
  // The start time published now is the one a resume reads back from run_start.
  if (opt_.resume_id.empty()) {
    if (auto t = ParseJournalTime(start_ts)) start_unix_ = *t;
  }
  progress_ = MakeProgressView(DetectProgressOptions(opt_.json_output));
  Say("run", fmt::format("{} {} `{}` on `{}`{} (plan {})", opt_.resume_id.empty() ? "starting" : "resuming", run_id_,
                         plan_.value("pipeline", ""), plan_.value("environment", ""), opt_.dry_run ? " — dry run, nothing will change" : "",
                         plan_.value("plan_sha256", "").substr(0, 12)));
  if (plan_.contains("timeout_s") && plan_["timeout_s"].is_number()) {
    deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<long>(plan_["timeout_s"].get<double>() * 1000));
  }
  IndexDeploys(plan_["instructions"]);
  IndexDeploys(plan_["rollback"]);
  WriteMetrics("running");
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  bool ok = true;
  if (resume_rollback_) {
    // Interrupted during its rollback: finish the rollback (the undo blocks
    // and rollback steps that finished are not run again; the one that was
    // running when the run stopped runs again, unless --skip-in-doubt).
    ok = false;
    changed_ = true;
    failure_ = resume_reason_.empty() ? std::string("the run was interrupted during its rollback") : resume_reason_;
    if (!opt_.skip_in_doubt) opt_.retry_in_doubt = true;
    if (!resume_rollback_ended_) {
      Say("resume", "the run was interrupted during its rollback; finishing the rollback");
      replay_only_ = true;
      for (const auto& in : plan_["instructions"]) Top(in);
      replay_only_ = false;
    }
  }
  // A drill takes the rollback path after the last stage, as if verify had
  // failed (§12): at the first verify item (check or confirm) after it; a
  // verify between two stages runs as in any run.
  std::size_t last_stage = 0, at = 0;
  for (std::size_t i = 0; i < plan_["instructions"].size(); ++i) {
    if (plan_["instructions"][i].value("op", "") == "stage") last_stage = i;
  }
  for (const auto& in : plan_["instructions"]) {
    if (resume_rollback_) break;
    if (opt_.drill && at++ > last_stage && in.value("phase", "") == "verify") break;
    if (std::chrono::steady_clock::now() >= deadline_) {
      failure_ = "the pipeline timeout passed";
      ok = false;
      break;
    }
    if (!Top(in)) {
      ok = false;
      break;
    }
  }
  std::string status;
  int code = kSucceeded;
  if (!ok && ask_in_doubt_) {
    // Resume stops and asks; nothing is undone and the run stays resumable.
    Say("resume", failure_);
    Record({{"event", "resume_refused"}, {"reason", failure_}});
    // The run stays interrupted: say so, or its metrics would stay "running".
    WriteMetrics("interrupted");
    return kInterrupted;
  }
  // Takes the rollback path and sets the outcome: `passed` with exit
  // `passed_code`, `failed` with exit 12, or interrupted (13, resumable).
  // Returns whether the rollback path succeeded.
  auto roll_back = [&](const char* passed, int passed_code, const char* failed) {
    if (resume_rollback_ && resume_rollback_ended_) {
      // The rollback had ended before the run stopped: only its end is recorded now.
      rollback_ok_ = resume_rollback_ok_;
    } else {
      Rollback();
    }
    if (g_stop_rollback) {
      status = "interrupted";
      code = kInterrupted;
      return false;
    }
    status = rollback_ok_ ? passed : failed;
    code = rollback_ok_ ? passed_code : kRollbackFailed;
    return rollback_ok_;
  };
  if (ok && opt_.drill) {
    failure_ = "rollback drill: the rollback path is taken on purpose";
    Say("drill", "every stage passed; taking the rollback path on purpose, as if verify had failed");
    Record({{"event", "drill_rollback"}});
    if (roll_back("drill_passed", kSucceeded, "drill_failed")) {
      Say("drill", "passed: the undo blocks, the rollback block and its verify all succeeded");
    } else if (code == kRollbackFailed) {
      Say("drill", fmt::format("FAILED: the rollback path did not succeed; a real rollback would need a human. Check `trixc log {}` and "
                               "restore the environment by hand",
                               run_id_));
    }
  } else if (ok) {
    status = "succeeded";
  } else if (g_stop_main && !changed_) {
    status = "interrupted";
    code = kInterrupted;
  } else if (!changed_) {
    status = "stopped";
    code = kStoppedNothingChanged;
    Say("run", "stopped, nothing changed: " + failure_);
  } else {
    // Also a resumed run that had stopped in its rollback (ok is false and
    // changed_ set above); a drill's keeps the drill's outcomes.
    const bool drill = resume_rollback_ && opt_.drill;
    Say("run", "failed: " + failure_);
    if (!roll_back(drill ? "drill_passed" : "rolled_back", drill ? kSucceeded : kRolledBack, drill ? "drill_failed" : "rollback_failed") &&
        code == kRollbackFailed) {
      Say("run", fmt::format("ROLLBACK FAILED: some undo or rollback steps did not succeed; check the log (`trixc log {}`) and "
                             "restore the environment by hand",
                             run_id_));
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (code == kInterrupted) {
    // Not an end: `trixc run --resume` continues from here.
    Record({{"event", "interrupted"}, {"seconds", secs}, {"failure", failure_}});
  } else {
    Record({{"event", "run_end"}, {"status", status}, {"exit_code", code}, {"seconds", secs}, {"failure", failure_}});
  }
  WriteMetrics(status);
  Say("run", fmt::format("{} in {} (exit {})", status, lit::FormatDuration(std::round(secs * 1000)), code));
  progress_->Close();
  return code;
}

}  // namespace

int Execute(const json& plan, const RunOptions& options) {
  Runner r(plan, options);
  return r.Run();
}

int Approve(const std::string& state_dir, const std::string& run_id, const std::string& who_in, bool deny, const std::string& comment) {
  const std::string who = who_in.empty() ? LoginName() : who_in;
  const std::string dir = state_dir + "/runs/" + run_id;
  if (!fs::exists(dir + "/plan.json")) {
    std::cerr << fmt::format("trixc: no run `{}` under {}/runs\n", run_id, state_dir);
    return kUsage;
  }
  json plan = json::parse(ReadText(dir + "/plan.json"), nullptr, false);
  std::string pending, pending_step;
  json wait;
  try {
    for (const auto& r : ReadJournal(dir + "/journal.jsonl")) {
      if (r.value("event", "") == "approval_wait") {
        pending = r.value("approval", "");
        pending_step = r.value("id", "");
        wait = r;
      }
      if (r.value("event", "") == "approved" || r.value("event", "") == "run_end") pending.clear();
    }
  } catch (const std::exception&) {
  }
  if (pending.empty()) {
    std::cerr << fmt::format("trixc: run `{}` is not waiting for an approval\n", run_id);
    return kErrors;
  }
  // Answers that the waiting run would ignore are refused here, so whoever
  // typed them learns it at once. (Journals written before these fields
  // existed have neither; the run still checks every answer.)
  const std::string verb = deny ? "refuse" : "approve";
  if (wait.contains("started_by") && wait["started_by"] == who) {
    std::cerr << fmt::format("trixc: {} started run {} and cannot {} `{}` (separation of duties); another member of its roles must "
                             "answer\n",
                             who, run_id, verb, pending);
    return kErrors;
  }
  if (wait.contains("people") && wait["people"].is_array()) {
    std::string people;
    bool member = false;
    for (const auto& p : wait["people"]) {
      member = member || p == who;
      people += (people.empty() ? "" : ", ") + p.get<std::string>();
    }
    if (!member) {
      std::cerr << fmt::format("trixc: {} is not in a role that `{}` requires, so cannot {} it; who can: {}\n", who, pending, verb,
                               people.empty() ? "nobody (every member started the run)" : people);
      return kErrors;
    }
  }
  WriteAnswer(dir, pending, pending_step, who, deny, plan.value("plan_sha256", ""), comment, "approve");
  std::cout << fmt::format("{} `{}` of run {} as {}\n", deny ? "refused" : "approved", pending, run_id, who);
  return kSucceeded;
}

int Status(const std::string& state_dir, const std::string& run_id) {
  const std::string runs = state_dir + "/runs";
  std::vector<std::string> ids;
  if (!run_id.empty()) {
    if (!fs::exists(runs + "/" + run_id)) {
      std::cerr << fmt::format("trixc: no run `{}` under {}\n", run_id, runs);
      return kUsage;
    }
    ids.push_back(run_id);
  } else if (fs::exists(runs)) {
    for (const auto& e : fs::directory_iterator(runs)) ids.push_back(e.path().filename().string());
    std::sort(ids.begin(), ids.end());
  }
  if (ids.empty()) {
    std::cout << "no runs\n";
    return kSucceeded;
  }
  for (const auto& id : ids) {
    std::string status = "interrupted (resume with `trixc run --resume " + id + "`)";
    std::string what;
    bool alive = false;
    long pid = 0;
    try {
      for (const auto& r : ReadJournal(runs + "/" + id + "/journal.jsonl")) {
        if (r.value("event", "") == "run_start")
          what = fmt::format("{} on {} by {}{}", r.value("pipeline", ""), r.value("environment", ""), r.value("started_by", ""),
                             r.value("drill", false) ? " (drill)" : "");
        if (r.value("event", "") == "run_start" || r.value("event", "") == "run_resume") {
          pid = r.value("pid", 0L);
          alive = pid > 0 && ::kill(static_cast<pid_t>(pid), 0) == 0;
          status = alive ? fmt::format("running (pid {})", pid) : "interrupted (resume with `trixc run --resume " + id + "`)";
        }
        if (r.value("event", "") == "approval_wait") status = "waiting for approval `" + r.value("approval", "") + "`";
        if (r.value("event", "") == "approved") status = alive ? "running" : "interrupted (resume with `trixc run --resume " + id + "`)";
        // A rollout paused for `trixc promote` (a pause without duration, or an inconclusive analysis).
        if (r.value("event", "") == "rollout" && alive) {
          const std::string w = r.value("what", "");
          if (w == "paused") {
            status = fmt::format("paused in a rollout{}: `trixc promote {}` to go on, `trixc abort {}` to abort",
                                 r.contains("reason") ? " (an analysis was inconclusive)" : "", id, id);
          } else if (w == "signal" || w == "step_done" || w == "aborted" || w == "finished") {
            status = fmt::format("running (pid {})", pid);
          }
        }
        if (r.value("event", "") == "interrupted" || r.value("event", "") == "resume_refused")
          status = "interrupted (resume with `trixc run --resume " + id + "`)";
        if (r.value("event", "") == "run_end") status = fmt::format("{} (exit {})", r.value("status", ""), r.value("exit_code", 0));
      }
    } catch (const std::exception& e) {
      status = std::string("unreadable journal: ") + e.what();
    }
    std::cout << fmt::format("{}  {}  {}\n", id, what, status);
  }
  return kSucceeded;
}

int Log(const std::string& state_dir, const std::string& run_id) {
  const std::string path = state_dir + "/runs/" + run_id + "/journal.jsonl";
  if (!fs::exists(path)) {
    std::cerr << fmt::format("trixc: no run `{}`\n", run_id);
    return kUsage;
  }
  try {
    for (const auto& r : ReadJournal(path)) std::cout << r.dump() << "\n";
  } catch (const std::exception& e) {
    std::cerr << "trixc: " << e.what() << "\n";
    return kErrors;
  }
  return kSucceeded;
}

}  // namespace trix::rt
