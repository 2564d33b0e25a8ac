// Executing a plan: `trixc run`, with the semantics of spec §9.
//
// Invariants: the plan is never modified; the run's state lives in its
// journal (.trix/runs/RUN_ID/journal.jsonl) and is rebuilt from it on
// --resume. Nothing changes before the first mutating instruction: gates,
// confirmations, approvals and the window are all settled first. After a
// change, any failure rolls back: undo blocks of completed steps newest
// first, then the rollback block and its verify. Secret values are redacted
// (`***`) from everything printed or journalled.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace trix::rt {

enum ExitCode {
  kSucceeded = 0,
  kErrors = 1,
  kUsage = 2,
  kStoppedNothingChanged = 10,
  kRolledBack = 11,
  kRollbackFailed = 12,
  kInterrupted = 13,
};

struct RunOptions {
  std::string state_dir = ".trix";
  std::string resume_id;          // --resume
  bool retry_in_doubt = false;
  bool skip_in_doubt = false;
  bool dry_run = false;
  std::string attest_file;        // --attest: {"confirm text": "who attests"}
  std::string override_window;    // --override-window "reason"
  std::string metrics_file;       // --metrics-file (textfile collector)
  std::string pushgateway;        // --pushgateway URL (Prometheus Pushgateway)
  bool json_output = false;       // --output json
  bool drill = false;             // --drill: roll back on purpose after the last stage (§12)
  std::string started_by;         // default: the OS login name
};

/// Runs `plan` (a trix-plan/1 document) and returns the exit code of §13.
int Execute(const nlohmann::json& plan, const RunOptions& options);

/// `trixc approve RUN_ID [--as NAME] [--deny]`: records an answer for the run's
/// pending approval. Returns an exit code and prints what it did.
int Approve(const std::string& state_dir, const std::string& run_id, const std::string& who, bool deny, const std::string& comment);

/// `trixc status [RUN_ID]` and `trixc log RUN_ID`.
int Status(const std::string& state_dir, const std::string& run_id);
int Log(const std::string& state_dir, const std::string& run_id);

}  // namespace trix::rt
