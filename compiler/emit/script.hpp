// Plan instructions as POSIX shell scripts, for the backends whose steps run
// shell: GitHub Actions `run:` steps and Argo `script` templates.
//
// The scripts follow the runtime's semantics (docs/plan-format.md): probes
// fail closed, `expect` is evaluated (by awk over exported results, with jq
// for `json(ptr)`), retries back off as the runtime does, timeouts kill the
// command. Parameters are read from `TRIX_PARAM_<NAME>` and secrets from
// `TRIX_SECRET_<NAME>` environment variables that the backend binds, so no
// value is ever spliced into shell text. What has no shell form (`header()`,
// `baseline.X`, ...) is reported through `Unsupported` and becomes an E6xx.
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "compiler/ast/ast.hpp"

namespace trix::emit {

struct ScriptContext {
  /// Declared type of each parameter (from the checked program).
  std::map<std::string, ast::TypeKind> param_types;
  /// Called with the instruction's `loc` and a description of what cannot be expressed.
  std::function<void(const nlohmann::json& loc, const std::string& what)> unsupported;
  /// The line that records a step as finished (`{id}` is replaced), or empty.
  std::string done_line;
  /// Filled while writing: parameters, secrets and `steps.LABEL.ok` read.
  std::set<std::string> params, secrets, step_refs, baselines;
  /// Seconds left before the pipeline deadline, as a shell expression, or empty (no deadline).
  std::string deadline_var;
};

std::string ParamVar(const std::string& name);
std::string SecretEnvVar(const std::string& name);
std::string StepOkVar(const std::string& label);
std::string BaselineVar(const std::string& name);

/// A `baseline` measurement: runs its probe (failing closed) and leaves the
/// number in the shell variable `trix_value`; the caller records it.
std::string BaselineScript(const nlohmann::json& instr, ScriptContext& ctx);

/// A mutating or plain step (run, http, wait, wait_until, notify, parallel,
/// and a deploy's degraded rolling form is built by the caller). The script
/// exits non-zero when the step fails; a `when` guard skips it.
std::string StepScript(const nlohmann::json& instr, ScriptContext& ctx);
/// A `check` (gate, verify, rollback verify) as a script that fails when the check fails.
std::string CheckScript(const nlohmann::json& check, ScriptContext& ctx);
/// A shell condition for a `when` guard (`awk ... 'BEGIN { exit !(...) }'`), or empty when unsupported.
std::string GuardCondition(const nlohmann::json& when, const nlohmann::json& loc, ScriptContext& ctx);
/// Plan text (a string or a list of parts) as one shell word.
std::string TextWord(const nlohmann::json& text, const nlohmann::json& loc, ScriptContext& ctx);
/// Plan command text as shell source (parts already marked `quote` become quoted variables).
std::string CommandText(const nlohmann::json& text, const nlohmann::json& loc, ScriptContext& ctx);
/// The check of an environment's `window` and `freeze` (plan `env`) as a script that fails outside
/// the window or inside a freeze unless the variable `override_var` holds a reason; empty when the
/// environment has neither.
std::string WindowScript(const nlohmann::json& env, const std::string& override_var);
/// The Trix expression as text, for messages (`status == 200 and ...`).
std::string ExprText(const nlohmann::json& e);

}  // namespace trix::emit
