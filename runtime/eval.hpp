// Evaluating plan expressions at run time (expect, when, read, text parts).
//
// Values are JSON: numbers (durations in seconds, percents as fractions),
// strings, booleans, arrays, objects (json() results). A comparison of
// mismatched kinds, a missing name or a bad conversion is an EvalError: the
// caller treats it as a failed check (probes fail closed, §4).
#pragma once

#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

namespace trix::rt {

struct EvalError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct StepOutcome {
  bool ok = false;
  int exit_code = 0;
  std::string stdout_text;
  std::string stderr_text;
  long status = 0;
  std::string body;
};

struct EvalContext {
  std::map<std::string, nlohmann::json> names;              // probe results: exit_code, stdout, status, value, ...
  const std::map<std::string, StepOutcome>* steps = nullptr;  // finished labelled steps
  const std::map<std::string, double>* baselines = nullptr;
  std::function<std::string(const std::string&)> secret;      // a secret's value (for `concat` outside shells)
  std::string body;                                           // http body, for json()
  std::map<std::string, std::string> headers;                 // http headers (lower-case), for header()
};

nlohmann::json Eval(const nlohmann::json& expr, const EvalContext& ctx);
bool EvalBool(const nlohmann::json& expr, const EvalContext& ctx);

/// Renders text: a string as is, or parts (`{"lit"}` / expressions, `quote`
/// parts shell-quoted). Secrets in non-shell text are resolved through ctx.secret.
std::string RenderText(const nlohmann::json& text, const EvalContext& ctx);
/// RenderText for showing what would run (a dry run): a part with no value
/// yet (`steps.X.stdout` of a step a dry run does not run) is shown as
/// `<steps.X.stdout>` instead of failing.
std::string RenderTextPreview(const nlohmann::json& text, const EvalContext& ctx);

/// The text of a value as interpolation shows it (numbers without trailing zeros).
std::string ValueToText(const nlohmann::json& v);

}  // namespace trix::rt
