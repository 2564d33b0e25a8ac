// Error messages for every grammar rule that can raise (PEGTL `must_if`).
//
// `raise_on_failure` is false for all rules: a rule only raises where the
// grammar commits to it (`must`, `if_must`), never when it merely fails as
// one alternative of a `sor`. The default message covers rules that cannot
// fail (`ws`, `opt`, `star`), so the static check of `must_if` holds.
#pragma once

#include "grammar/grammar.hpp"

namespace trix::grammar {

struct errors {
  template <typename Rule>
  static constexpr bool raise_on_failure = false;
  template <typename Rule>
  static constexpr const char* message = "unexpected input";
};

#define TRIX_ERR(rule, text) \
  template <>                \
  inline constexpr const char* errors::message<rule> = text

// A macro, not a `constexpr char[]`: must_if static_asserts `message != nullptr`,
// and GCC with -fsanitize=address does not treat the address of a named array
// as a constant there (string literals are fine).
#define TRIX_EXPECTED_DECL                                                                              \
  "expected a declaration (`runbook`, `import`, `param`, `secret`, `role`, `environment`, `gate`, " \
  "`approval`, `analysis`, `service`, `action`, `pipeline`, `alert` or `gitops`)"
TRIX_ERR(str_escape_char, "unknown escape sequence; expected one of `\\\"` `\\\\` `\\n` `\\t` `\\$`");
TRIX_ERR(interp_close, "expected `}` to close the interpolation");
TRIX_ERR(str_close, "unterminated string; expected `\"` before the end of the line");
TRIX_ERR(tq_close, "unterminated triple-quoted string; expected `\"\"\"`");
TRIX_ERR(list_close, "expected `]` or another list item");
TRIX_ERR(attrs_close, "expected `}` or an attribute `name = value`");
TRIX_ERR(steps_close, "expected `}` or a step (`run`, `http`, `deploy`, `wait`, `parallel`, `notify`, `approve` or an action call)");
TRIX_ERR(checks_close, "expected `}`, `check` or `confirm`");
TRIX_ERR(strategy_close, "expected `}` or a strategy step (`weight`, `pause`, `analyze`, `promote` or an attribute)");
TRIX_ERR(approval_close, "expected `}`, `require` or an attribute `name = value`");
TRIX_ERR(metric_close, "expected `}` or an attribute `name = value`");
TRIX_ERR(analysis_close, "expected `}` or `metric`");
TRIX_ERR(rollback_close, "expected `}`, a step or `verify`");
TRIX_ERR(rollback_end, "expected `}`, a step or `verify`");
TRIX_ERR(rollback_verify_close, "expected `}` to close `rollback`: its `verify` block comes last, after the steps");
TRIX_ERR(pipeline_close, "expected `}` or a pipeline item (`trigger`, `baseline`, `gate`, `approve`, `stage`, `verify`, `rollback` or an attribute `name = value`)");
TRIX_ERR(expr, "expected an expression");
TRIX_ERR(unary, "expected an expression");
TRIX_ERR(mul, "expected an expression");
TRIX_ERR(add, "expected an expression");
TRIX_ERR(not_level, "expected an expression");
TRIX_ERR(and_expr, "expected an expression");
TRIX_ERR(paren_close, "expected `)`");
TRIX_ERR(member_name, "expected a name after `.`");
TRIX_ERR(index_close, "expected `]`");
TRIX_ERR(args_close, "expected `)` or an argument");
TRIX_ERR(method, "expected an HTTP method (`GET`, `HEAD`, `POST`, `PUT`, `PATCH` or `DELETE`)");
TRIX_ERR(target, "expected a quoted string");
TRIX_ERR(title, "expected a quoted string");
TRIX_ERR(identifier, "expected a name");
TRIX_ERR(percent_lit, "expected a percentage such as `10%`");
TRIX_ERR(block_open, "expected `{`");
TRIX_ERR(attrs, "expected `{`");
TRIX_ERR(strategy, "expected a strategy: `canary`, `blue_green` or `rolling`");
TRIX_ERR(version_clause, "expected `version` and the version to deploy");
TRIX_ERR(wait_what, "expected a duration such as `30s`, or `until` and a probe");
TRIX_ERR(probe, "expected a probe: `run`, `http` or `prometheus`");
TRIX_ERR(type, "expected a type (`string`, `int`, `float`, `bool`, `duration`, `percent`, `cron`, `secret`, `environment`, `role` or `[type]`)");
TRIX_ERR(param_colon, "expected `:` and a type");
TRIX_ERR(decl_eq, "expected `=`");
TRIX_ERR(require_what, "expected a role name or a quorum `N of [role, ...]`");
TRIX_ERR(action_params, "expected `(` and the parameter list");
TRIX_ERR(params_close, "expected `)` or another parameter");
TRIX_ERR(trigger_kind, "expected `push`, `schedule` or `dispatch`");
TRIX_ERR(decl_or_end, TRIX_EXPECTED_DECL);
TRIX_ERR(eof, TRIX_EXPECTED_DECL);

#undef TRIX_EXPECTED_DECL
#undef TRIX_ERR

}  // namespace trix::grammar
