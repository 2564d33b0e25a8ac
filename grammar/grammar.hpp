// The Trix grammar (PEGTL 3.2), one struct per rule.
//
// Included by exactly one translation unit (grammar/parse.cpp), following
// PEGTL's advice, to keep compile times low. Keywords are contextual: they
// are matched only where the grammar expects them, so `weight` or `status`
// stay usable as names. Every keyword that starts a construct commits with
// `if_must`, so a syntax error points at the token after the keyword, and
// every rule that can raise has a message in grammar/errors.hpp.
//
// Whitespace convention: rules do not consume whitespace around themselves;
// sequences put `ws` between their parts.
#pragma once

#include <cstring>
#include <tao/pegtl.hpp>

namespace trix::grammar {

using namespace tao::pegtl;  // NOLINT: the grammar reads like EBNF this way

// ---- lexical ----------------------------------------------------------------
/// The rest of the line up to (not including) `\n` or the end of input:
/// `star<not_one<'\n'>>` with one memchr instead of a rule match per byte.
struct line_rest {
  using rule_t = line_rest;
  using subs_t = empty_list;
  template <typename ParseInput>
  static bool match(ParseInput& in) noexcept {
    const auto n = in.size();
    const void* nl = std::memchr(in.current(), '\n', n);
    in.bump_in_this_line(nl ? static_cast<std::size_t>(static_cast<const char*>(nl) - in.current()) : n);
    return true;
  }
};
struct comment : seq<one<'#'>, line_rest> {};
struct sp : sor<plus<space>, comment> {};
/// Whitespace and comments: `star<sp>` as one loop (it runs between almost
/// every two tokens). Comments still go through the control (parse.cpp
/// collects them there).
struct ws {
  using rule_t = ws;
  using subs_t = type_list<comment>;
  template <apply_mode A, rewind_mode M, template <typename...> class Action, template <typename...> class Control,
            typename ParseInput, typename... States>
  static bool match(ParseInput& in, States&&... st) {
    while (true) {
      const char* b = in.current();
      const char* e = in.end();
      const char* p = b;
      while (p != e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t' || *p == '\v' || *p == '\f')) ++p;
      in.bump(static_cast<std::size_t>(p - b));
      if (p == e || *p != '#') return true;
      if (!Control<comment>::template match<A, rewind_mode::required, Action, Control>(in, st...)) return true;
    }
  }
};
struct comma : one<','> {};
struct sep : seq<ws, opt<comma, ws>> {};

struct ident_first : ranges<'a', 'z', 'A', 'Z', '_'> {};
struct ident_other : ranges<'a', 'z', 'A', 'Z', '0', '9', '_'> {};
struct identifier : seq<ident_first, star<ident_other>> {};

#define TRIX_KW(name, text) \
  struct kw_##name : TAO_PEGTL_KEYWORD(text) {}
TRIX_KW(runbook, "runbook");
TRIX_KW(import, "import");
TRIX_KW(as, "as");
TRIX_KW(param, "param");
TRIX_KW(secret, "secret");
TRIX_KW(role, "role");
TRIX_KW(environment, "environment");
TRIX_KW(gate, "gate");
TRIX_KW(approval, "approval");
TRIX_KW(analysis, "analysis");
TRIX_KW(service, "service");
TRIX_KW(action, "action");
TRIX_KW(pipeline, "pipeline");
TRIX_KW(alert, "alert");
TRIX_KW(gitops, "gitops");
TRIX_KW(check, "check");
TRIX_KW(confirm, "confirm");
TRIX_KW(require, "require");
TRIX_KW(of, "of");
TRIX_KW(when, "when");
TRIX_KW(metric, "metric");
TRIX_KW(trigger, "trigger");
TRIX_KW(push, "push");
TRIX_KW(schedule, "schedule");
TRIX_KW(dispatch, "dispatch");
TRIX_KW(baseline, "baseline");
TRIX_KW(read, "read");
TRIX_KW(approve, "approve");
TRIX_KW(stage, "stage");
TRIX_KW(verify, "verify");
TRIX_KW(rollback, "rollback");
TRIX_KW(undo, "undo");
TRIX_KW(run, "run");
TRIX_KW(http, "http");
TRIX_KW(prometheus, "prometheus");
TRIX_KW(at, "at");
TRIX_KW(expect, "expect");
TRIX_KW(deploy, "deploy");
TRIX_KW(version, "version");
TRIX_KW(with, "with");
TRIX_KW(wait, "wait");
TRIX_KW(until, "until");
TRIX_KW(parallel, "parallel");
TRIX_KW(notify, "notify");
TRIX_KW(canary, "canary");
TRIX_KW(blue_green, "blue_green");
TRIX_KW(rolling, "rolling");
TRIX_KW(weight, "weight");
TRIX_KW(pause, "pause");
TRIX_KW(analyze, "analyze");
TRIX_KW(promote, "promote");
TRIX_KW(true, "true");
TRIX_KW(false, "false");
TRIX_KW(and, "and");
TRIX_KW(or, "or");
TRIX_KW(not, "not");
TRIX_KW(in, "in");
#undef TRIX_KW

/// A keyword that starts a construct, unless the word is used as a name:
/// `deploy.roll(x)` calls an action of a module bound as `deploy`, `run = 1` is an attribute.
template <typename Keyword>
struct ckw : seq<Keyword, not_at<star<sp>, one<'.', '(', ':', '='>>> {};

// ---- literals ---------------------------------------------------------------
struct expr;

struct str_escape_char : one<'"', '\\', 'n', 't', '$'> {};
struct str_escape : seq<one<'\\'>, must<str_escape_char>> {};
struct interp_close : one<'}'> {};
struct interp : if_must<string<'$', '{'>, ws, expr, ws, interp_close> {};
struct str_dollar : seq<one<'$'>, not_at<one<'{'>>> {};
struct str_text : plus<not_one<'"', '\\', '$', '\n', '\r'>> {};
struct str_close : one<'"'> {};
struct plain_string : if_must<one<'"'>, star<sor<str_escape, interp, str_text, str_dollar>>, str_close> {};
struct tq : string<'"', '"', '"'> {};
struct tq_text : plus<not_at<tq>, not_one<'\\', '$'>> {};
struct tq_close : tq {};
struct triple_string : if_must<tq, star<sor<str_escape, interp, tq_text, str_dollar>>, tq_close> {};
struct string_lit : sor<triple_string, plain_string> {};

struct digits : plus<digit> {};
struct number_text : seq<digits, opt<one<'.'>, digits>> {};
struct dur_unit : sor<string<'m', 's'>, one<'s', 'm', 'h', 'd'>> {};
struct duration_lit : seq<plus<number_text, dur_unit>, not_at<ident_other>> {};
struct percent_lit : seq<number_text, one<'%'>> {};
struct float_lit : seq<digits, one<'.'>, digits, not_at<ident_other>> {};
struct int_lit : seq<digits, not_at<ident_other>> {};
struct true_lit : kw_true {};
struct false_lit : kw_false {};

// ---- expressions --------------------------------------------------------------
struct list_close : one<']'> {};
struct list_lit : if_must<one<'['>, ws, star<expr, sep>, list_close> {};
struct attr_eq : seq<one<'='>, not_at<one<'='>>> {};
struct attr_key : sor<identifier, plain_string> {};
struct attrs_close : one<'}'> {};
struct steps_close : one<'}'> {};
struct checks_close : one<'}'> {};
struct strategy_close : one<'}'> {};
struct approval_close : one<'}'> {};
struct metric_close : one<'}'> {};
struct analysis_close : one<'}'> {};
struct rollback_close : one<'}'> {};
struct pipeline_close : one<'}'> {};
struct attr_value : must<expr> {};
struct map_attr : seq<attr_key, ws, attr_eq, ws, attr_value> {};
struct map_lit : if_must<one<'{'>, ws, star<map_attr, sep>, attrs_close> {};
struct paren_close : one<')'> {};
struct paren : if_must<one<'('>, ws, expr, ws, paren_close> {};
struct name_ref : identifier {};
struct primary : sor<string_lit, duration_lit, percent_lit, float_lit, int_lit, true_lit, false_lit,
                     list_lit, map_lit, paren, name_ref> {};

struct member_name : identifier {};
struct member : if_must<one<'.'>, ws, member_name> {};
struct index_close : one<']'> {};
struct index : if_must<one<'['>, ws, expr, ws, index_close> {};
struct arg_name : seq<identifier, ws, one<':'>, ws> {};
struct arg : seq<opt<arg_name>, expr> {};
struct args_close : one<')'> {};
struct call_args : if_must<one<'('>, ws, opt<arg, star<ws, comma, ws, arg>, opt<ws, comma>>, ws, args_close> {};
struct postfix_op : sor<member, index, call_args> {};
struct postfix : seq<primary, star<ws, postfix_op>> {};

struct operand : must<struct unary> {};
struct neg : seq<one<'-'>, ws, operand> {};
struct unary : sor<neg, postfix> {};
struct mul_op : one<'*', '/'> {};
struct mul : seq<unary, star<ws, mul_op, ws, operand>> {};
struct add_operand : must<mul> {};
struct add_op : seq<one<'+', '-'>> {};
struct add : seq<mul, star<ws, add_op, ws, add_operand>> {};
struct cmp_operand : must<add> {};
struct cmp_op : sor<string<'=', '='>, string<'!', '='>, string<'<', '='>, string<'>', '='>, one<'<'>, one<'>'>, kw_in> {};
struct cmp : seq<add, opt<ws, cmp_op, ws, cmp_operand>> {};
struct not_operand : must<struct not_level> {};
struct not_expr : seq<kw_not, ws, not_operand> {};
struct not_level : sor<not_expr, cmp> {};
struct and_operand : must<not_level> {};
struct and_expr : seq<not_level, star<ws, kw_and, ws, and_operand>> {};
struct or_operand : must<and_expr> {};
struct or_expr : seq<and_expr, star<ws, kw_or, ws, or_operand>> {};
struct expr : or_expr {};

// ---- shared pieces --------------------------------------------------------------
struct attr : seq<identifier, ws, attr_eq, ws, attr_value> {};
struct block_open : one<'{'> {};
struct attrs : if_must<one<'{'>, ws, star<attr, sep>, attrs_close> {};
struct title : string_lit {};
struct expect_clause : if_must<kw_expect, ws, expr> {};
/// `when` starts a guard unless the word is a name: `when: run "..."` labels
/// the next step. (`when (a or b)` is a guard, so `(` does not count here.)
struct when_kw : seq<kw_when, not_at<star<sp>, one<'.', ':', '='>>> {};
struct when_clause : if_must<when_kw, ws, expr> {};
struct method : sor<TAO_PEGTL_KEYWORD("GET"), TAO_PEGTL_KEYWORD("HEAD"), TAO_PEGTL_KEYWORD("POST"),
                    TAO_PEGTL_KEYWORD("PUT"), TAO_PEGTL_KEYWORD("PATCH"), TAO_PEGTL_KEYWORD("DELETE")> {};
struct target : string_lit {};
struct run_probe : if_must<ckw<kw_run>, ws, target, opt<ws, attrs>, opt<ws, expect_clause>> {};
struct http_probe : if_must<ckw<kw_http>, ws, method, ws, target, opt<ws, attrs>, opt<ws, expect_clause>> {};
struct at_clause : if_must<kw_at, ws, expr> {};
struct prom_probe : if_must<kw_prometheus, ws, target, opt<ws, at_clause>, opt<ws, attrs>, opt<ws, expect_clause>> {};
struct probe : sor<run_probe, http_probe, prom_probe> {};
struct probe_expected : must<probe> {};

// ---- steps -----------------------------------------------------------------------
struct steps;
struct run_step : if_must<ckw<kw_run>, ws, target, opt<ws, attrs>> {};
struct http_step : if_must<ckw<kw_http>, ws, method, ws, target, opt<ws, attrs>, opt<ws, expect_clause>> {};
struct weight_item : if_must<kw_weight, ws, percent_lit> {};
struct pause_item : seq<kw_pause, opt<ws, duration_lit>> {};
struct analyze_item : if_must<kw_analyze, ws, identifier> {};
struct promote_item : kw_promote {};
struct canary : if_must<kw_canary, ws, block_open, ws, star<sor<weight_item, pause_item, analyze_item, attr>, sep>, strategy_close> {};
struct blue_green : if_must<kw_blue_green, ws, block_open, ws, star<sor<analyze_item, pause_item, promote_item, attr>, sep>, strategy_close> {};
struct rolling : seq<kw_rolling, opt<ws, attrs>> {};
struct strategy : sor<canary, blue_green, rolling> {};
struct with_clause : if_must<kw_with, ws, strategy> {};
struct version_clause : if_must<kw_version, ws, expr> {};
struct deploy_step : if_must<ckw<kw_deploy>, ws, identifier, ws, version_clause, opt<ws, with_clause>> {};
struct wait_until : if_must<kw_until, ws, probe> {};
struct wait_what : sor<wait_until, duration_lit> {};
struct wait_step : if_must<ckw<kw_wait>, ws, wait_what> {};
struct parallel_step : if_must<ckw<kw_parallel>, ws, block_open, ws, steps, steps_close> {};
struct notify_step : if_must<ckw<kw_notify>, ws, target> {};
struct approve_step : if_must<ckw<kw_approve>, ws, identifier> {};
struct call_module : seq<identifier, ws, one<'.'>, ws> {};
struct call_step : seq<opt<call_module>, identifier, ws, call_args> {};
struct step : sor<run_step, http_step, deploy_step, wait_step, parallel_step, notify_step, approve_step, call_step> {};
struct label : seq<identifier, ws, one<':'>, ws> {};
struct undo_clause : if_must<ckw<kw_undo>, ws, block_open, ws, steps, steps_close> {};  // `undo:` labels, `undo(...)` calls
struct step_full : seq<opt<label>, step, opt<ws, when_clause>, opt<ws, undo_clause>> {};
struct steps : star<step_full, ws> {};

// ---- declarations -------------------------------------------------------------------
struct check_item : if_must<ckw<kw_check>, ws, title, ws, probe_expected> {};
struct confirm_item : if_must<ckw<kw_confirm>, ws, title> {};
struct misplaced_step : step_full {};
struct check_list : star<sor<check_item, confirm_item, misplaced_step>, ws> {};

struct type;
struct type_name : sor<TAO_PEGTL_KEYWORD("string"), TAO_PEGTL_KEYWORD("int"), TAO_PEGTL_KEYWORD("float"),
                       TAO_PEGTL_KEYWORD("bool"), TAO_PEGTL_KEYWORD("duration"), TAO_PEGTL_KEYWORD("percent"),
                       TAO_PEGTL_KEYWORD("cron"), TAO_PEGTL_KEYWORD("secret"), TAO_PEGTL_KEYWORD("environment"),
                       TAO_PEGTL_KEYWORD("role")> {};
struct list_type : if_must<one<'['>, ws, type, ws, list_close> {};
struct type : sor<list_type, type_name> {};
struct type_expected : must<type> {};
struct default_value : seq<one<'='>, ws, must<expr>> {};

struct runbook_decl : if_must<kw_runbook, ws, identifier, opt<ws, title>> {};
struct import_as : if_must<kw_as, ws, identifier> {};
struct import_decl : if_must<kw_import, ws, target, opt<ws, import_as>> {};
struct param_colon : one<':'> {};
struct param_decl : if_must<kw_param, ws, identifier, ws, param_colon, ws, type_expected, opt<ws, default_value>> {};
struct decl_eq : one<'='> {};
struct secret_decl : if_must<kw_secret, ws, identifier, ws, decl_eq, ws, expr> {};
struct role_decl : if_must<kw_role, ws, identifier, ws, decl_eq, ws, expr> {};
struct environment_decl : if_must<kw_environment, ws, identifier, ws, attrs> {};
struct gate_decl : if_must<ckw<kw_gate>, ws, identifier, ws, opt<title, ws>, block_open, ws, check_list, checks_close> {};
struct role_list : if_must<one<'['>, ws, identifier, star<sep, identifier>, ws, opt<comma, ws>, list_close> {};
struct quorum : seq<int_lit, ws, kw_of, ws, role_list> {};
struct require_what : sor<quorum, identifier> {};
struct require_item : if_must<ckw<kw_require>, ws, require_what, opt<ws, when_clause>> {};
struct approval_decl : if_must<kw_approval, ws, identifier, ws, block_open, ws, star<sor<require_item, attr>, sep>, approval_close> {};
struct metric_item : if_must<ckw<kw_metric>, ws, identifier, ws, block_open, ws, probe_expected, ws, star<attr, sep>, metric_close> {};
struct analysis_decl : if_must<kw_analysis, ws, identifier, ws, block_open, ws, star<metric_item, ws>, analysis_close> {};
struct service_decl : if_must<kw_service, ws, identifier, ws, attrs> {};
struct param_def : seq<identifier, opt<ws, param_colon, ws, type_expected>, opt<ws, default_value>> {};
struct params_close : one<')'> {};
struct action_params : if_must<one<'('>, ws, opt<param_def, star<ws, comma, ws, param_def>, opt<ws, comma>>, ws, params_close> {};
struct action_decl : if_must<kw_action, ws, identifier, ws, action_params, ws, block_open, ws, steps, steps_close> {};
struct alert_decl : if_must<kw_alert, ws, identifier, ws, attrs> {};
struct gitops_decl : if_must<kw_gitops, ws, identifier, ws, attrs> {};

struct trigger_kind : sor<kw_push, kw_schedule, kw_dispatch> {};
struct trigger_item : if_must<ckw<kw_trigger>, ws, trigger_kind, opt<ws, attrs>> {};
struct read_clause : if_must<kw_read, ws, expr> {};
struct baseline_item : if_must<ckw<kw_baseline>, ws, identifier, ws, decl_eq, ws, probe_expected, opt<ws, read_clause>> {};
struct gate_ref : if_must<ckw<kw_gate>, ws, identifier, opt<ws, when_clause>> {};
struct approve_ref : if_must<ckw<kw_approve>, ws, identifier, opt<ws, when_clause>> {};
struct stage_item : if_must<ckw<kw_stage>, ws, identifier, ws, opt<title, ws>, block_open, ws, steps, steps_close> {};
struct verify_item : if_must<ckw<kw_verify>, ws, opt<title, ws>, block_open, ws, check_list, checks_close> {};
struct rollback_verify_close : one<'}'> {};
// A rollback's `verify` comes after its steps and last.
struct rollback_end : sor<rollback_close, seq<verify_item, ws, must<rollback_verify_close>>> {};
struct rollback_item : if_must<ckw<kw_rollback>, ws, block_open, ws, steps, rollback_end> {};
struct pipeline_item : sor<trigger_item, baseline_item, gate_ref, approve_ref, stage_item, verify_item, rollback_item, attr> {};
struct pipeline_decl : if_must<kw_pipeline, ws, identifier, ws, opt<title, ws>, block_open, ws, star<pipeline_item, sep>, pipeline_close> {};

struct decl : sor<runbook_decl, import_decl, param_decl, secret_decl, role_decl, environment_decl, gate_decl,
                  approval_decl, analysis_decl, service_decl, action_decl, pipeline_decl, alert_decl, gitops_decl> {};
struct decl_or_end : sor<eof, decl> {};
/// One step of the incremental parse: whitespace, then a declaration or the end.
struct next_decl : seq<ws, must<decl_or_end>> {};
/// The whole file, for analysis and documentation; parse.cpp parses it one
/// declaration at a time with `next_decl` so memory stays bounded by the AST.
struct file : must<ws, star<decl, ws>, eof> {};

}  // namespace trix::grammar
