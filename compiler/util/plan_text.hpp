// The source form of an instruction-plan expression (docs/plan-format.md):
// `trixc plan` prints guards and interpolations with it, and the runtime's
// dry-run previews show a value it cannot compute yet as `<source form>`.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace trix {

/// `{"step": "build", "field": "stdout"}` -> `steps.build.stdout`, binary
/// operations in parentheses, a string literal quoted, a secret as `secret NAME`.
std::string PlanExprText(const nlohmann::json& e);
/// A plan literal: a string quoted, anything else as JSON.
std::string PlanLiteralText(const nlohmann::json& v);

}  // namespace trix
