// The rollout engine: strategy steps, analyses, manual promotion and abort.
#include "runtime/rollout.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>
#include <pwd.h>
#include <unistd.h>

#include "compiler/util/literals.hpp"
#include "runtime/journal.hpp"
#include "runtime/providers.hpp"

namespace trix::rt {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string Bar(double percent) {
  const int full = static_cast<int>(std::lround(std::clamp(percent, 0.0, 100.0) / 5));
  return "[" + std::string(static_cast<std::size_t>(full), '#') + std::string(static_cast<std::size_t>(20 - full), '.') + "]";
}

std::string Dur(double seconds) { return lit::FormatDuration(std::llround(seconds * 1000)); }

/// A signal left by `trixc promote` / `trixc abort`, not yet consumed.
struct Signal {
  std::string file;
  std::string kind;  // promote | abort
  bool full = false;
  std::string who;
};

class Rollout {
 public:
  Rollout(const json& deploy, RolloutState& state, RolloutHost& host)
      : d_(deploy), st_(state), host_(host), id_(deploy.value("id", "")) {
    who_ = "deploy " + d_["service"].value("name", "?");
    kind_ = d_["strategy"].value("kind", "rolling");
    version_ = host_.Render(d_["version"], {});
  }

  RolloutResult Run(std::string* error);
  bool Undo(std::string* error);

 private:
  enum class Wait { kDone, kPromoted, kFull, kAbort, kStop };

  void Rec(json r) {
    r["event"] = "rollout";
    r["id"] = id_;
    host_.Record(r);
    st_.Apply(r);
  }
  std::vector<Signal> Signals();
  void Consume(const Signal& s) { Rec({{"what", "signal"}, {"file", s.file}, {"signal", s.kind}, {"full", s.full}, {"by", s.who}}); }
  /// Sleeps up to `seconds` (forever when < 0), watching for signals. A plain
  /// promote ends the wait only when `promote_ends` (pauses).
  Wait Hold(double seconds, bool promote_ends);
  bool Weight(double percent, std::string* error);
  /// Runs an analysis: "pass", "fail" or "inconclusive"; `why` says which metric.
  std::string Analyze(const json& a, int step, std::string* why, Wait* interrupted);
  RolloutResult Fail(const std::string& why, std::string* error);
  bool Promote(std::string* error);
  /// Blue-green with `auto_promote = false`: the switch waits for `trixc
  /// promote` (Argo's autoPromotionEnabled: false), unless a promote was
  /// already given (it ended a pause, which is the same manual gate).
  Wait SwitchGate(int step);

  const json& d_;
  RolloutState& st_;
  RolloutHost& host_;
  std::string id_, who_, kind_, version_;
  std::unique_ptr<Provider> provider_;
  bool full_promote_ = false;
};

std::vector<Signal> Rollout::Signals() {
  std::vector<Signal> out;
  const std::string dir = host_.RunDir() + "/signals";
  std::error_code ec;
  if (!fs::exists(dir, ec)) return out;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json") names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    if (st_.consumed_signals.count(n)) continue;
    std::ifstream in(dir + "/" + n);
    std::stringstream ss;
    ss << in.rdbuf();
    json j = json::parse(ss.str(), nullptr, false);
    if (!j.is_object()) continue;
    // `deploys`: every rollout in progress when the signal was given (deploys in `parallel`).
    bool mine = j.value("deploy", id_) == id_;
    if (j.contains("deploys") && j["deploys"].is_array()) {
      for (const auto& d : j["deploys"]) mine = mine || (d.is_string() && d.get<std::string>() == id_);
    }
    if (!mine) continue;
    out.push_back({n, j.value("signal", ""), j.value("full", false), j.value("who", "")});
  }
  return out;
}

Rollout::Wait Rollout::Hold(double seconds, bool promote_ends) {
  const auto end = seconds < 0 ? Clock::time_point::max() : Clock::now() + std::chrono::milliseconds(std::llround(seconds * 1000));
  auto next_poll = Clock::now();
  while (true) {
    if (!host_.StopReason().empty()) return Wait::kStop;
    if (Clock::now() >= next_poll) {
      next_poll = Clock::now() + std::chrono::milliseconds(200);
      for (const auto& s : Signals()) {
        if (s.kind == "abort") {
          Consume(s);
          host_.Say(who_, "abort requested by " + s.who);
          return Wait::kAbort;
        }
        if (s.kind == "promote" && (s.full || promote_ends)) {
          Consume(s);
          host_.Say(who_, fmt::format("{}promoted by {}", s.full ? "fully " : "", s.who));
          return s.full ? Wait::kFull : Wait::kPromoted;
        }
      }
    }
    if (Clock::now() >= end) return Wait::kDone;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool Rollout::Weight(double percent, std::string* error) {
  const auto t0 = Clock::now();
  if (!provider_->SetWeight(percent, st_.memo, error)) return false;
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  host_.Say(who_, fmt::format("weight {:>4} {} (applied in {:.0f} ms)", fmt::format("{:g}%", percent), Bar(percent), ms));
  return true;
}

bool Rollout::Promote(std::string* error) {
  if (!provider_->Promote(st_.memo, error)) return false;
  Rec({{"what", "promoted"}, {"weight", 100}});
  host_.Say(who_, fmt::format("promoted: weight 100% {} — {} serves all traffic", Bar(100), version_));
  return true;
}

Rollout::Wait Rollout::SwitchGate(int step) {
  const json& attrs = d_["strategy"]["attrs"];
  const bool manual = kind_ == "blue_green" && attrs.is_object() && attrs.contains("auto_promote") && attrs["auto_promote"].is_boolean() &&
                      !attrs["auto_promote"].get<bool>();
  if (!manual || st_.promote_given || st_.promoted) return Wait::kDone;
  const std::string run = fs::path(host_.RunDir()).filename().string();
  host_.Say(who_, fmt::format("auto_promote = false: waiting for `trixc promote {}` to switch traffic to {} (`trixc abort {}` to abort)", run,
                              version_, run));
  Rec({{"what", "paused"}, {"step", step}});
  return Hold(-1, true);
}

std::string Rollout::Analyze(const json& a, int step, std::string* why, Wait* interrupted) {
  const std::string name = a.value("name", "?");
  struct M {
    const json* j;
    std::string name;
    int count, failure_limit, inconclusive_limit;
    double interval;
    Clock::time_point due;
  };
  std::vector<M> ms;
  for (const auto& m : a["metrics"]) {
    ms.push_back({&m, m.value("name", "?"), std::max(1, m.value("count", 1)), m.value("failure_limit", 0), m.value("inconclusive_limit", 0),
                  m.value("interval_s", 60.0), Clock::now()});
  }
  host_.Say(who_, fmt::format("analysis `{}`: {} metric(s)", name, ms.size()));
  while (true) {
    // As Argo: once a metric is over its inconclusive_limit the analysis is
    // inconclusive at once (the rollout pauses for a human now, not after
    // the remaining measurements; a resumed pause does not measure again).
    bool over = false;
    for (auto& m : ms) over = over || st_.measured[{step, m.name}][2] > m.inconclusive_limit;
    if (over) break;
    M* next = nullptr;
    for (auto& m : ms) {
      if (st_.measured[{step, m.name}][0] >= m.count) continue;
      if (!next || m.due < next->due) next = &m;
    }
    if (!next) break;
    // Wait for it, watching for abort and full promotion.
    const double wait_s = std::chrono::duration<double>(next->due - Clock::now()).count();
    if (wait_s > 0) {
      Wait w = Hold(wait_s, false);
      if (w != Wait::kDone) {
        *interrupted = w;
        return "interrupted";
      }
    } else if (!host_.StopReason().empty()) {
      *interrupted = Wait::kStop;
      return "interrupted";
    }
    RolloutHost::Measurement r = host_.Measure((*next->j)["probe"], who_);
    auto& c = st_.measured[{step, next->name}];
    const int n = c[0] + 1;
    const std::string result = r.pass ? "ok" : r.inconclusive ? "inconclusive" : "failed";
    Rec({{"what", "measurement"}, {"step", step}, {"analysis", name}, {"metric", next->name}, {"n", n}, {"result", result}, {"detail", r.detail}});
    host_.Say(who_, fmt::format("  {} #{}/{}: {} ({})", next->name, n, next->count, result, r.detail));
    next->due = Clock::now() + std::chrono::milliseconds(std::llround(next->interval * 1000));
    if (c[1] > next->failure_limit) {
      *why = fmt::format("analysis `{}` failed: metric `{}` failed {} of {} measurements (failure_limit {})", name, next->name, c[1], n,
                         next->failure_limit);
      return "fail";
    }
  }
  for (auto& m : ms) {
    const auto& c = st_.measured[{step, m.name}];
    if (c[2] > m.inconclusive_limit) {
      *why = fmt::format("analysis `{}` is inconclusive: metric `{}` had {} inconclusive measurement(s) (inconclusive_limit {})", name, m.name,
                         c[2], m.inconclusive_limit);
      return "inconclusive";
    }
  }
  host_.Say(who_, fmt::format("analysis `{}` passed", name));
  return "pass";
}

RolloutResult Rollout::Fail(const std::string& why, std::string* error) {
  host_.Say(who_, "aborting: " + why);
  std::string e;
  host_.Restoring(true);
  const bool ok = provider_->Abort(st_.promoted, st_.retired, st_.memo, &e);
  host_.Restoring(false);
  Rec({{"what", "aborted"}, {"reason", why}, {"ok", ok}});
  if (ok) {
    host_.Say(who_, fmt::format("aborted: weight 0% {} — traffic is back on the stable version", Bar(0)));
    *error = why;
    return RolloutResult::kAborted;
  }
  *error = why + "; and the abort failed: " + e;
  host_.Say(who_, "ABORT FAILED: " + e);
  return RolloutResult::kAbortFailed;
}

RolloutResult Rollout::Run(std::string* error) {
  const json& steps = d_["strategy"]["steps"];
  if (host_.DryRun()) {
    host_.Say(who_, fmt::format("would roll {} to {} ({}, provider {})", d_["service"].value("name", "?"), version_, kind_,
                                d_["service"].value("provider", "?")));
    for (const auto& s : steps) {
      if (s.contains("weight")) host_.Say(who_, fmt::format("would set weight {:g}%", s["weight"].get<double>() * 100));
      if (s.contains("pause_s")) host_.Say(who_, "would pause " + Dur(s["pause_s"].get<double>()));
      if (s.contains("pause")) host_.Say(who_, "would pause until `trixc promote`");
      if (s.contains("analyze")) host_.Say(who_, "would run analysis `" + s["analyze"].value("name", "?") + "`");
      if (s.contains("promote")) host_.Say(who_, "would promote");
    }
    return RolloutResult::kCompleted;
  }
  try {
    provider_ = MakeProvider(d_["service"], kind_, version_, who_, host_);
  } catch (const std::exception& e) {
    *error = e.what();
    return RolloutResult::kAborted;  // nothing was released
  }
  if (st_.finished) return RolloutResult::kCompleted;
  std::string e;
  if (kind_ == "rolling") {
    host_.Say(who_, fmt::format("rolling update to {}", version_));
    json memo = st_.memo;
    if (!provider_->Rolling(memo, &e)) return Fail("rolling update failed: " + e, error);
    Rec({{"what", "promoted"}, {"weight", 100}, {"memo", memo}});
    Rec({{"what", "finished"}});
    return RolloutResult::kCompleted;
  }
  if (!st_.released) {
    host_.Say(who_, fmt::format("{}: releasing {} beside the stable version", kind_ == "canary" ? "canary" : "blue-green", version_));
    json memo = st_.memo;
    if (!provider_->Release(memo, &e)) {
      st_.memo = memo;
      return Fail("release failed: " + e, error);
    }
    Rec({{"what", "released"}, {"memo", memo}});
  } else if (!st_.promoted && st_.weight > 0) {
    // Resumed mid-rollout: put traffic back where the journal says it was.
    host_.Say(who_, fmt::format("resuming at strategy step {} with weight {:g}%", st_.next_step + 1, st_.weight));
    if (!Weight(st_.weight, &e)) return Fail("restoring the weight failed: " + e, error);
  } else if (st_.released) {
    host_.Say(who_, fmt::format("resuming at strategy step {}", st_.next_step + 1));
  }
  // A full promotion taken before a crash still holds after --resume.
  full_promote_ = st_.full_promote;
  for (int i = st_.next_step; i < static_cast<int>(steps.size()) && !full_promote_; ++i) {
    const json& s = steps[static_cast<std::size_t>(i)];
    // An abort or a full promotion given while the previous step ran (a
    // slow set_weight, say) acts now, not only at the next pause or analysis.
    if (const Wait pending = Hold(0, false); pending == Wait::kAbort) {
      return Fail("aborted by `trixc abort`", error);
    } else if (pending == Wait::kStop) {
      return Fail(host_.StopReason(), error);
    } else if (pending == Wait::kFull) {
      full_promote_ = true;
      break;
    }
    Wait w = Wait::kDone;
    if (s.contains("weight")) {
      // The plan holds a fraction (0.07 for 7%); `* 100` alone would give
      // 7.000000000000001, which `${weight}` and the journal would carry.
      const double p = std::round(s["weight"].get<double>() * 100 * 1e6) / 1e6;
      if (p >= 100) {
        if (!Promote(&e)) return Fail("promotion failed: " + e, error);
      } else {
        if (!Weight(p, &e)) return Fail(fmt::format("setting weight {:g}% failed: {}", p, e), error);
        Rec({{"what", "weight"}, {"weight", p}});
      }
    } else if (s.contains("pause_s")) {
      host_.Say(who_, fmt::format("pause {} (`trixc promote {}` ends it early)", Dur(s["pause_s"].get<double>()),
                                  fs::path(host_.RunDir()).filename().string()));
      w = Hold(s["pause_s"].get<double>(), true);
    } else if (s.contains("pause")) {
      const std::string run = fs::path(host_.RunDir()).filename().string();
      host_.Say(who_, fmt::format("paused at weight {:g}%: `trixc promote {}` to go on (`--full` to skip the remaining steps), "
                                  "`trixc abort {}` to abort",
                                  st_.weight, run, run));
      Rec({{"what", "paused"}, {"step", i}});
      w = Hold(-1, true);
    } else if (s.contains("analyze")) {
      std::string why;
      Wait iw = Wait::kDone;
      const std::string r = Analyze(s["analyze"], i, &why, &iw);
      if (r == "fail") return Fail(why, error);
      if (r == "interrupted") w = iw;
      if (r == "inconclusive") {
        const std::string run = fs::path(host_.RunDir()).filename().string();
        host_.Say(who_, fmt::format("{}; paused for a human: `trixc promote {}` to go on, `trixc abort {}` to abort", why, run, run));
        Rec({{"what", "paused"}, {"step", i}, {"reason", why}});
        w = Hold(-1, true);
      }
      // A passed analysis after promotion (blue-green post-promotion) changes nothing.
    } else if (s.contains("promote")) {
      if (!st_.promoted) {
        w = SwitchGate(i);
        if (w != Wait::kAbort && w != Wait::kStop && !Promote(&e)) return Fail("promotion failed: " + e, error);
      }
    }
    if (w == Wait::kAbort) return Fail("aborted by `trixc abort`", error);
    if (w == Wait::kStop) return Fail(host_.StopReason(), error);
    if (w == Wait::kFull) full_promote_ = true;
    Rec({{"what", "step_done"}, {"step", i}});
  }
  // The same for an abort given during the last step: the rollout has not
  // finished, so it still goes back.
  if (const Wait pending = Hold(0, false); pending == Wait::kAbort) return Fail("aborted by `trixc abort`", error);
  else if (pending == Wait::kStop) return Fail(host_.StopReason(), error);
  if (!st_.promoted) {
    const Wait g = SwitchGate(static_cast<int>(steps.size()));
    if (g == Wait::kAbort) return Fail("aborted by `trixc abort`", error);
    if (g == Wait::kStop) return Fail(host_.StopReason(), error);
    if (!Promote(&e)) return Fail("promotion failed: " + e, error);
  }
  if (kind_ == "blue_green" && !st_.retired) {
    const json& attrs = d_["strategy"]["attrs"];
    const double delay = attrs.contains("scale_down_delay") && attrs["scale_down_delay"].is_number() ? attrs["scale_down_delay"].get<double>() : 30;
    host_.Say(who_, fmt::format("old colour scaled down after {}", Dur(delay)));
    Wait w = Hold(delay, false);
    if (w == Wait::kAbort) return Fail("aborted by `trixc abort`", error);
    if (w == Wait::kStop) return Fail(host_.StopReason(), error);
    if (!provider_->Retire(st_.memo, &e)) return Fail("scaling down the old colour failed: " + e, error);
    Rec({{"what", "retired"}});
  }
  Rec({{"what", "finished"}});
  return RolloutResult::kCompleted;
}

bool Rollout::Undo(std::string* error) {
  if (host_.DryRun()) {
    host_.Say(who_, "would abort the rollout (traffic back to the previous version)");
    return true;
  }
  try {
    provider_ = MakeProvider(d_["service"], kind_, version_, who_, host_);
  } catch (const std::exception& e) {
    *error = e.what();
    return false;
  }
  host_.Say(who_, kind_ == "rolling" ? "rolling back to the previous version" : "aborting: traffic back to the previous version");
  std::string e;
  const bool ok = provider_->Abort(st_.promoted || kind_ == "rolling", st_.retired, st_.memo, &e);
  Rec({{"what", "undone"}, {"ok", ok}});
  if (!ok) *error = e;
  else host_.Say(who_, fmt::format("weight 0% {} — the previous version serves all traffic", Bar(0)));
  return ok;
}

}  // namespace

void RolloutState::Apply(const json& r) {
  const std::string what = r.value("what", "");
  if (what == "released") {
    released = true;
    if (r.contains("memo")) memo = r["memo"];
  } else if (what == "weight") {
    weight = r.value("weight", 0.0);
  } else if (what == "promoted") {
    promoted = true;
    weight = 100;
    if (r.contains("memo")) memo = r["memo"];
  } else if (what == "retired") {
    retired = true;
  } else if (what == "finished") {
    finished = true;
  } else if (what == "step_done") {
    next_step = std::max(next_step, r.value("step", 0) + 1);
  } else if (what == "measurement") {
    auto& c = measured[{r.value("step", 0), r.value("metric", "")}];
    c[0] += 1;
    if (r.value("result", "") == "failed") c[1] += 1;
    if (r.value("result", "") == "inconclusive") c[2] += 1;
  } else if (what == "signal") {
    consumed_signals.insert(r.value("file", ""));
    if (r.value("signal", "") == "promote" && r.value("full", false)) full_promote = true;
    if (r.value("signal", "") == "promote") promote_given = true;
  } else if (what == "aborted" || what == "undone") {
    weight = 0;
  }
}

RolloutResult ExecuteDeploy(const json& deploy, RolloutState& state, RolloutHost& host, std::string* error) {
  Rollout r(deploy, state, host);
  return r.Run(error);
}

bool UndoDeploy(const json& deploy, RolloutState& state, RolloutHost& host, std::string* error) {
  Rollout r(deploy, state, host);
  return r.Undo(error);
}

int SignalRollout(const std::string& state_dir, const std::string& run_id, const std::string& signal, bool full, const std::string& who_in) {
  std::string who = who_in;
  if (who.empty()) {
    if (const char* u = std::getenv("USER"); u && *u) who = u;
    else if (struct passwd* pw = getpwuid(getuid())) who = pw->pw_name;
    else who = "unknown";
  }
  const std::string dir = state_dir + "/runs/" + run_id;
  if (!fs::exists(dir + "/journal.jsonl")) {
    std::cerr << fmt::format("trixc: no run `{}` under {}/runs\n", run_id, state_dir);
    return 2;
  }
  // The rollouts in progress: every deploy started and not ended (several
  // when deploys run in `parallel`; the signal is for all of them).
  std::vector<std::string> open;
  bool ended = false;
  try {
    for (const auto& r : ReadJournal(dir + "/journal.jsonl")) {
      const std::string ev = r.value("event", "");
      if (ev == "start" && r.value("op", "") == "deploy") open.push_back(r.value("id", ""));
      if (ev == "end") open.erase(std::remove(open.begin(), open.end(), r.value("id", "")), open.end());
      if (ev == "run_end") ended = true;
    }
  } catch (const std::exception& e) {
    std::cerr << "trixc: " << e.what() << "\n";
    return 1;
  }
  if (ended) {
    std::cerr << fmt::format("trixc: run `{}` has ended; there is nothing to {}\n", run_id, signal);
    return 1;
  }
  if (open.empty()) {
    std::cerr << fmt::format("trixc: run `{}` is not in a rollout; there is nothing to {}\n", run_id, signal);
    return 1;
  }
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char at[32];
  std::strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", &tm);
  std::string deploy;
  for (const auto& d : open) deploy += (deploy.empty() ? "" : ", ") + d;
  json s{{"signal", signal}, {"deploy", open.back()}, {"deploys", open}, {"full", full}, {"who", who}, {"at", at}};
  fs::create_directories(dir + "/signals");
  static int n = 0;
  WriteFileAtomic(fmt::format("{}/signals/{}-{}-{}-{}.json", dir, at, getpid(), ++n, signal), s.dump() + "\n");
  std::cout << fmt::format("{} {} of run {} ({}) as {}\n", signal == "abort" ? "aborting" : full ? "fully promoting" : "promoting",
                           "the rollout", run_id, deploy, who);
  return 0;
}

}  // namespace trix::rt
