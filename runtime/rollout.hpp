// Rollouts: the `deploy` step of spec §7 — canary, blue-green and rolling
// strategies, analyses, manual promotion and abort, and the traffic
// providers (nginx, command, k8s) that carry them out.
//
// The rollout engine knows nothing of the run loop: it talks to the run
// through RolloutHost (output, journal, shell commands, probes, stop
// requests), so the executor stays the one owner of the journal and the
// process group. Every strategy step, every measurement and every traffic
// change is journalled as an `{"event": "rollout", ...}` record;
// RolloutState::Apply rebuilds the state from those records, so
// `trixc run --resume` continues a rollout at the step it was on, with the
// traffic state it had.
#pragma once

#include <array>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace trix::rt {

/// What a rollout needs from the run that hosts it.
class RolloutHost {
 public:
  virtual ~RolloutHost() = default;

  struct CommandResult {
    bool ok = false;
    std::string out;    // captured stdout
    std::string error;  // why it failed (exit code, timeout, could not start)
  };
  struct Measurement {
    bool pass = false;
    bool inconclusive = false;
    std::string detail;
  };

  virtual void Say(const std::string& who, const std::string& msg) = 0;
  virtual void Record(nlohmann::json record) = 0;
  /// Runs `/bin/sh -c command` (output streamed under `who`) and captures stdout.
  virtual CommandResult Command(const std::string& who, const std::string& command,
                                const std::vector<std::pair<std::string, std::string>>& env) = 0;
  /// Renders plan text (`"..."` or parts) with extra names (`version`, `weight`).
  virtual std::string Render(const nlohmann::json& text, const std::map<std::string, nlohmann::json>& names) = 0;
  /// Environment variables a service's commands need (secrets), from the plan's `env` object.
  virtual std::vector<std::pair<std::string, std::string>> Env(const nlohmann::json& env) = 0;
  /// One measurement of an analysis metric (a probe with its `expect`).
  virtual Measurement Measure(const nlohmann::json& probe, const std::string& who) = 0;
  /// Non-empty when the rollout must stop now (SIGINT/SIGTERM, pipeline timeout).
  virtual std::string StopReason() = 0;
  /// Commands from now on restore traffic (an abort): like rollback steps,
  /// the signal that stopped the rollout does not cancel them, a second one does.
  virtual void Restoring(bool on) = 0;
  /// The run's directory (signals from `trixc promote|abort`, manifests written for kubectl).
  virtual std::string RunDir() = 0;
  virtual bool DryRun() = 0;
};

/// A deploy's progress, rebuilt from the journal on resume.
struct RolloutState {
  bool released = false;
  bool promoted = false;
  bool retired = false;
  bool finished = false;
  bool full_promote = false;        // `trixc promote --full` was taken: skip every remaining step
  bool promote_given = false;       // a `trixc promote` was taken (it opens a manual blue-green switch)
  int next_step = 0;                // first strategy step not yet done
  double weight = 0;                // traffic to the new version, percent
  nlohmann::json memo = nlohmann::json::object();  // provider facts (replicas, colours)
  // (strategy step, metric) -> measurements taken / failed / inconclusive
  std::map<std::pair<int, std::string>, std::array<int, 3>> measured;
  std::set<std::string> consumed_signals;

  /// Folds one journal record (event "rollout") into the state.
  void Apply(const nlohmann::json& record);
};

enum class RolloutResult {
  kCompleted,    // the new version serves all traffic
  kAborted,      // failed; traffic is back on the stable version
  kAbortFailed,  // failed, and restoring traffic failed too: needs a human
};

/// Executes one `deploy` instruction of a plan.
RolloutResult ExecuteDeploy(const nlohmann::json& deploy, RolloutState& state, RolloutHost& host, std::string* error);

/// The undo of a completed `deploy` (instruction `deploy_abort`): canary and
/// blue-green go back to the old version through the provider's abort,
/// rolling updates through its rollback.
bool UndoDeploy(const nlohmann::json& deploy, RolloutState& state, RolloutHost& host, std::string* error);

/// `trixc promote RUN_ID [--full]` and `trixc abort RUN_ID`: leave a signal
/// for the run's rollout. Return an exit code and print what they did.
int SignalRollout(const std::string& state_dir, const std::string& run_id, const std::string& signal, bool full,
                  const std::string& who);

/// The server lines of an nginx upstream that send `percent` of the traffic
/// to `canary` and the rest to `stable` (exposed for tests).
std::vector<std::string> NginxServers(const std::string& stable, const std::string& canary, double percent);

/// `config` with the body of `upstream NAME { ... }` rewritten: its `server`
/// lines replaced by `servers`, its other directives kept. Throws
/// std::runtime_error when the block is missing.
std::string RewriteUpstream(const std::string& config, const std::string& upstream, const std::vector<std::string>& servers);

}  // namespace trix::rt
