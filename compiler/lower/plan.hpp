// plan::Plan: the flat instruction plan ("trix-plan/1") for one pipeline,
// one environment and one parameter set.
//
// Invariants: produced only by Lower() from a program with no errors. It is
// immutable and self-contained: the runtime and the emitters read nothing
// else (no syntax). Every instruction has a unique id ("i1", "i2", ...), an
// `op`, and a `loc` ({file, line, col}) in the .trix source it came from.
// Everything that could be decided before the run is folded to values
// (environment attributes, parameters, action arguments); what depends on the
// run (`steps.X`, probe results, baselines) stays an expression tree. Secret
// values never appear: a secret is {"secret": NAME} with its source in
// `secrets`, and commands reference it as "$TRIX_SECRET_NAME". `sources`
// holds the sha256 of every file read and `plan_sha256` the hash of the plan
// itself (computed with that field absent). The schema is in docs/plan-format.md.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "compiler/check/sema.hpp"

namespace trix::plan {

struct Plan {
  nlohmann::json doc;
};

/// What to plan: one pipeline on one environment with `--param` values (raw text).
struct Target {
  std::string pipeline;                       // may be empty when the file has one pipeline
  std::string environment;                    // may be empty when the pipeline has one environment
  std::map<std::string, std::string> params;  // --param k=v
  /// Leave parameters unknown (for `trixc emit`): text and guards that read
  /// one keep it as {"name": P}; `params` still holds the defaults.
  bool symbolic_params = false;
};

/// Lowers a checked program. Usage errors (unknown pipeline, bad --param)
/// return nullopt with `error` set (exit 2); policy errors that depend on the
/// actual parameters (E401 re-checked with them) are reported to `diags`.
std::optional<Plan> Lower(const sema::Program& program, const SourceManager& sm, const Target& target,
                          Diagnostics& diags, std::string* error);

/// The plan as a person reads it, in the spirit of `terraform plan`.
std::string Describe(const Plan& plan);

/// Plan expressions, text (string or parts) and probes as `trixc plan` shows them.
std::string ExprText(const nlohmann::json& e);
std::string PlanText(const nlohmann::json& t);
std::string ProbeText(const nlohmann::json& p);

/// sha256 over the canonical JSON of the plan without its `plan_sha256` field.
std::string PlanHash(const nlohmann::json& doc);

}  // namespace trix::plan
