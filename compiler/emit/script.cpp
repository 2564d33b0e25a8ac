// Plan instructions as POSIX shell (see script.hpp).
#include "compiler/emit/script.hpp"

#include <fmt/format.h>

#include <cmath>

#include "compiler/util/literals.hpp"
#include "compiler/util/text.hpp"

namespace trix::emit {
namespace {

using json = nlohmann::json;

std::string Upper(const std::string& s) {
  std::string u;
  for (char c : s) u += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return u;
}

std::string Num(double x) {
  if (x == std::floor(x) && std::abs(x) < 1e15) return std::to_string(static_cast<long long>(x));
  return fmt::format("{}", x);
}

/// Whole seconds for `timeout`/`sleep` (rounded up: never shorter than asked).
std::string Secs(const json& v) { return Num(std::ceil(v.is_number() ? v.get<double>() : 0.0)); }

std::string AwkString(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o + "\"";
}

/// A JSON pointer (RFC 6901) as a jq path array: `/data/0` -> ["data",0].
std::string JqPath(const std::string& ptr) {
  json path = json::array();
  std::size_t pos = 1;
  while (pos <= ptr.size() && !ptr.empty()) {
    std::size_t slash = ptr.find('/', pos);
    std::string seg = ptr.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    std::string un;
    for (std::size_t i = 0; i < seg.size(); ++i) {
      if (seg[i] == '~' && i + 1 < seg.size()) {
        un += seg[i + 1] == '1' ? '/' : '~';
        ++i;
      } else {
        un += seg[i];
      }
    }
    const bool index = !un.empty() && std::all_of(un.begin(), un.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    if (index) path.push_back(std::stoll(un));
    else path.push_back(un);
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return path.dump();
}

/// Translates plan expressions to awk over ENVIRON; values a probe produced are exported first.
class AwkWriter {
 public:
  AwkWriter(ScriptContext& ctx, const json& loc, std::string probe_kind) : ctx_(ctx), loc_(loc), probe_(std::move(probe_kind)) {}

  struct Out {
    std::string code;
    char type = 'a';  // n number, s string, b bool, a any
  };

  std::optional<Out> Expr(const json& e) {
    if (e.contains("lit")) {
      const json& v = e["lit"];
      if (v.is_boolean()) return Out{v.get<bool>() ? "1" : "0", 'b'};
      if (v.is_number()) return Out{Num(v.get<double>()), 'n'};
      if (v.is_string()) return Out{AwkString(v.get<std::string>()), 's'};
      return Fail("a list or null value");
    }
    if (e.contains("name")) {
      const std::string n = e["name"].get<std::string>();
      static const std::map<std::string, std::pair<std::string, char>> results = {
          {"exit_code", {"run", 'n'}}, {"stdout", {"run", 's'}},     {"stderr", {"run", 's'}}, {"status", {"http", 'n'}},
          {"body", {"http", 's'}},     {"latency", {"http", 'n'}}, {"value", {"prometheus", 'n'}}};
      if (auto r = results.find(n); r != results.end() && r->second.first == probe_) return Env(n, r->second.second);
      if (auto p = ctx_.param_types.find(n); p != ctx_.param_types.end()) {
        ctx_.params.insert(n);
        switch (p->second) {
          case ast::TypeKind::Bool: return Out{fmt::format("(ENVIRON[\"{}\"] == \"true\")", ParamVar(n)), 'b'};
          case ast::TypeKind::Int:
          case ast::TypeKind::Float:
          case ast::TypeKind::Duration:
          case ast::TypeKind::Percent: return Env(ParamVar(n), 'n');
          default: return Env(ParamVar(n), 's');
        }
      }
      return Fail(fmt::format("the name `{}`", n));
    }
    if (e.contains("step")) {
      if (e.value("field", "") != "ok") return Fail(fmt::format("`steps.{}.{}`", e["step"].get<std::string>(), e.value("field", "")));
      ctx_.step_refs.insert(e["step"].get<std::string>());
      return Out{fmt::format("(ENVIRON[\"{}\"] == \"true\")", StepOkVar(e["step"].get<std::string>())), 'b'};
    }
    if (e.contains("baseline")) {
      ctx_.baselines.insert(e["baseline"].get<std::string>());
      return Env(BaselineVar(e["baseline"].get<std::string>()), 'n');
    }
    if (e.contains("secret")) return Fail("a secret in an expression");
    if (e.contains("call")) return Call(e);
    if (e.contains("concat")) {
      std::string code = "(";
      for (const auto& p : e["concat"]) {
        auto x = p.contains("lit") && p["lit"].is_string() ? std::optional<Out>(Out{AwkString(p["lit"].get<std::string>()), 's'}) : Expr(p);
        if (!x) return std::nullopt;
        code += " " + x->code;
      }
      return Out{code + " \"\")", 's'};
    }
    if (e.contains("op")) return Op(e);
    return Fail("this expression");
  }

  /// Shell lines that compute json() values before awk runs.
  std::string prelude;
  std::vector<std::string> exported;

 private:
  std::optional<Out> Fail(const std::string& what) {
    if (ctx_.unsupported) ctx_.unsupported(loc_, what);
    return std::nullopt;
  }
  Out Env(const std::string& var, char type) {
    if (std::find(exported.begin(), exported.end(), var) == exported.end() && var.rfind("TRIX_", 0) != 0) exported.push_back(var);
    const std::string v = fmt::format("ENVIRON[\"{}\"]", var);
    return Out{type == 'n' ? "(" + v + " + 0)" : v, type};
  }
  std::optional<Out> Jq(const std::string& program) {
    if (probe_ != "http") return Fail("`json()` outside an http probe");
    const std::string var = fmt::format("trix_j{}", ++jq_count_);
    prelude += fmt::format("{}=$(jq -r {} \"$trix_body\") || {{ echo 'the response body is not JSON or lacks the value'; return 1; }}\n", var,
                           ShellQuote(program));
    exported.push_back(var);
    return Out{fmt::format("ENVIRON[\"{}\"]", var), 'a'};
  }
  std::optional<Out> Call(const json& e) {
    const std::string f = e["call"].get<std::string>();
    const json& args = e["args"];
    auto pointer = [&](const json& a) -> std::optional<std::string> {
      if (a.contains("lit") && a["lit"].is_string()) return a["lit"].get<std::string>();
      return std::nullopt;
    };
    if (f == "json" && args.size() == 1) {
      auto p = pointer(args[0]);
      if (!p) return Fail("`json()` with a computed pointer");
      const std::string path = JqPath(*p);
      return Jq(fmt::format("getpath({0}) as $v | if $v == null then error(\"no value\") elif ($v | type) == \"array\" or ($v | type) == \"object\" then ($v | tojson) else $v end", path));
    }
    if (f == "len" && args.size() == 1) {
      const json& a = args[0];
      if (a.contains("call") && a["call"] == "json" && a["args"].size() == 1) {
        auto p = pointer(a["args"][0]);
        if (!p) return Fail("`json()` with a computed pointer");
        auto j = Jq(fmt::format("getpath({}) as $v | if $v == null then error(\"no value\") else ($v | length) end", JqPath(*p)));
        if (!j) return std::nullopt;
        return Out{"(" + j->code + " + 0)", 'n'};
      }
      auto x = Expr(a);
      if (!x) return std::nullopt;
      return Out{"length(" + x->code + ")", 'n'};
    }
    if ((f == "int" || f == "float") && args.size() == 1) {
      auto x = Expr(args[0]);
      if (!x) return std::nullopt;
      return Out{f == "int" ? "int(" + x->code + " + 0)" : "(" + x->code + " + 0)", 'n'};
    }
    if (f == "string" && args.size() == 1) {
      auto x = Expr(args[0]);
      if (!x) return std::nullopt;
      return Out{"(" + x->code + " \"\")", 's'};
    }
    return Fail(fmt::format("`{}()`", f));
  }
  std::optional<Out> Op(const json& e) {
    const std::string op = e["op"].get<std::string>();
    auto a = Expr(e["a"]);
    if (!a) return std::nullopt;
    if (!e.contains("b")) {
      if (op == "not") return Out{"(!" + a->code + ")", 'b'};
      if (op == "-") return Out{"(-" + a->code + ")", 'n'};
      return Fail(fmt::format("the operator `{}`", op));
    }
    auto b = Expr(e["b"]);
    if (!b) return std::nullopt;
    if (op == "and") return Out{"(" + a->code + " && " + b->code + ")", 'b'};
    if (op == "or") return Out{"(" + a->code + " || " + b->code + ")", 'b'};
    if (op == "+" || op == "-" || op == "*" || op == "/") return Out{"(" + Numeric(*a) + " " + op + " " + Numeric(*b) + ")", 'n'};
    if (op == "==" || op == "!=" || op == "<" || op == "<=" || op == ">" || op == ">=") {
      std::string x = a->code, y = b->code;
      // A number on one side makes the comparison numeric, as the runtime compares `any` values.
      if (a->type == 'n' || b->type == 'n') {
        x = Numeric(*a);
        y = Numeric(*b);
      }
      return Out{"(" + x + " " + op + " " + y + ")", 'b'};
    }
    return Fail(fmt::format("the operator `{}`", op));
  }
  static std::string Numeric(const Out& o) { return o.type == 'n' ? o.code : "(" + o.code + " + 0)"; }

  ScriptContext& ctx_;
  const json& loc_;
  std::string probe_;
  int jq_count_ = 0;
};

std::string Indent(const std::string& s, const std::string& pad) {
  std::string o;
  std::size_t pos = 0;
  while (pos < s.size()) {
    std::size_t nl = s.find('\n', pos);
    std::string line = s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    o += line.empty() ? "\n" : pad + line + "\n";
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  return o;
}

/// `awk 'BEGIN { exit !(...) }'` for an expect or guard; empty when not expressible.
std::string AwkTest(AwkWriter& w, const json& e, std::string* prelude) {
  auto x = w.Expr(e);
  if (!x) return "";
  std::string pre = w.prelude;
  if (!w.exported.empty()) pre += "export " + Join(w.exported, " ") + "\n";
  *prelude = pre;
  return "awk " + ShellQuote("BEGIN { exit !(" + x->code + ") }");
}

/// Environment assignments (`K=v `) for a step's `env` option.
std::string EnvPrefix(const json& env, const json& loc, ScriptContext& ctx) {
  std::string o;
  if (!env.is_object()) return o;
  for (auto it = env.begin(); it != env.end(); ++it) {
    const json& v = it.value();
    if (v.is_object() && v.contains("secret")) {
      const std::string s = v["secret"].get<std::string>();
      ctx.secrets.insert(s);
      if (it.key() != SecretEnvVar(s)) o += it.key() + "=\"$" + SecretEnvVar(s) + "\" ";
      continue;
    }
    if (v.is_string()) {
      o += it.key() + "=" + ShellQuote(v.get<std::string>()) + " ";
      continue;
    }
    o += it.key() + "=" + TextWord(v.contains("concat") ? v["concat"] : v, loc, ctx) + " ";
  }
  return o;
}

/// One command invocation: `(cd DIR && K=v timeout T sh -c 'CMD')`.
std::string Invocation(const json& s, const json& command, const json& loc, ScriptContext& ctx) {
  std::string inv = EnvPrefix(s.value("env", json::object()), loc, ctx);
  std::string limit;
  if (s.contains("timeout_s") && s["timeout_s"].is_number()) limit = Secs(s["timeout_s"]);
  if (!ctx.deadline_var.empty()) limit = limit.empty() ? "\"$trix_left\"" : fmt::format("\"$(( trix_left < {0} ? trix_left : {0} ))\"", limit);
  if (!limit.empty()) inv += "timeout " + limit + " ";
  inv += "sh -c " + ShellQuote(CommandText(command, loc, ctx));
  if (s.contains("dir") && s["dir"].is_string()) inv = "cd " + ShellQuote(s["dir"].get<std::string>()) + " && " + inv;
  return "(" + inv + ")";
}

std::string DeadlinePrelude(const ScriptContext& ctx) {
  if (ctx.deadline_var.empty()) return "";
  return fmt::format(
      "trix_left=$(( {} - $(date +%s) ))\n"
      "if [ \"$trix_left\" -le 0 ]; then echo 'the pipeline timeout has passed'; exit 1; fi\n",
      ctx.deadline_var);
}

/// Runs `body` (a command that fails or succeeds) with the runtime's retries and doubling backoff.
std::string WithRetries(const std::string& body, const json& s, const std::string& what) {
  const int retries = s.value("retries", 0);
  if (retries <= 0) return body + " || { echo " + ShellQuote(what + " failed") + "; exit 1; }\n";
  const double backoff = s.contains("backoff_s") && s["backoff_s"].is_number() ? s["backoff_s"].get<double>() : 1.0;
  return fmt::format(
      "trix_try=0\n"
      "trix_wait={0}\n"
      "until {1}; do\n"
      "  trix_try=$((trix_try + 1))\n"
      "  if [ \"$trix_try\" -gt {2} ]; then echo {3}; exit 1; fi\n"
      "  echo \"retry $trix_try/{2} in ${{trix_wait}}s\"\n"
      "  sleep \"$trix_wait\"\n"
      "  trix_wait=$((trix_wait * 2))\n"
      "done\n",
      Secs(json(backoff)), body, retries, ShellQuote(what + " failed after " + std::to_string(retries) + " retries"));
}

/// A shell function `trix_probe` that returns 0 when the probe passes.
std::string ProbeFunction(const json& p, const json& loc, ScriptContext& ctx) {
  const std::string kind = p.value("kind", "");
  AwkWriter w(ctx, loc, kind);
  std::string body;
  const std::string limit = p.contains("timeout_s") && p["timeout_s"].is_number() ? Secs(p["timeout_s"]) : "";
  std::string pre;
  const json& expect = p.contains("expect") ? p["expect"] : json();
  const std::string expect_text = expect.is_null() ? "" : ExprText(expect);
  if (kind == "run") {
    const bool plain = expect.is_null() || expect == json{{"op", "=="}, {"a", {{"name", "exit_code"}}}, {"b", {{"lit", 0}}}};
    std::string inv = EnvPrefix(p.value("env", json::object()), loc, ctx) + (limit.empty() ? "" : "timeout " + limit + " ") + "sh -c " +
                      ShellQuote(CommandText(p["command"], loc, ctx));
    if (p.contains("dir") && p["dir"].is_string()) inv = "cd " + ShellQuote(p["dir"].get<std::string>()) + " && " + inv;
    if (plain) {
      body = "(" + inv + ")\n";
    } else {
      std::string test = AwkTest(w, expect, &pre);
      if (test.empty()) return "";
      body = "trix_err=$(mktemp)\nexit_code=0\nstdout=$(" + inv + " 2>\"$trix_err\") || exit_code=$?\n" +
             "stderr=$(cat \"$trix_err\"); rm -f \"$trix_err\"\nprintf '%s\\n' \"$stdout\"\n" + pre + test + " || { echo " +
             ShellQuote("expect failed: " + expect_text) + " \"(exit code $exit_code)\"; return 1; }\n";
    }
  } else if (kind == "http") {
    std::string curl = "curl -sS -o \"$trix_body\" -w '%{http_code} %{time_total}' -X " + p.value("method", "GET") + " --max-time " +
                       (limit.empty() ? "30" : limit);
    if (p.value("insecure", false)) curl += " -k";
    if (p.contains("headers") && p["headers"].is_object()) {
      for (auto it = p["headers"].begin(); it != p["headers"].end(); ++it) {
        const json& v = it.value();
        if (v.is_object() && v.contains("secret")) {
          ctx.secrets.insert(v["secret"].get<std::string>());
          curl += " -H \"" + it.key() + ": $" + SecretEnvVar(v["secret"].get<std::string>()) + "\"";
        } else {
          curl += " -H " + ShellQuote(it.key() + ": ") + TextWord(v.contains("concat") ? v["concat"] : v, loc, ctx);
        }
      }
    }
    if (p.contains("body")) curl += " --data-binary " + TextWord(p["body"].contains("concat") ? p["body"]["concat"] : p["body"], loc, ctx);
    curl += " " + TextWord(p["url"], loc, ctx);
    std::string test = expect.is_null() ? "" : AwkTest(w, expect, &pre);
    if (!expect.is_null() && test.empty()) return "";
    body = "trix_body=$(mktemp)\ntrix_res=$(" + curl + ") || trix_res='0 0'\nstatus=${trix_res%% *}\nlatency=${trix_res#* }\n" +
           "body=$(cat \"$trix_body\")\n" + pre + (test.empty() ? "" : test + " || { echo " + ShellQuote("expect failed: " + expect_text) +
                                                                     " \"(status $status)\"; return 1; }\n");
  } else if (kind == "prometheus") {
    if (!p.contains("at")) {
      if (ctx.unsupported) ctx.unsupported(loc, "a `prometheus` probe with no address");
      return "";
    }
    const std::string at = TextWord(p["at"].is_object() && p["at"].contains("concat") ? p["at"]["concat"] : p["at"], loc, ctx);
    const json query_text = p["query"].is_string() ? json(json::array({json{{"lit", "query=" + p["query"].get<std::string>()}}})) : p["query"];
    json qparts = query_text;
    if (!p["query"].is_string()) qparts.insert(qparts.begin(), json{{"lit", "query="}});
    std::string test = AwkTest(w, expect, &pre);
    if (test.empty()) return "";
    const std::string no_data = p.value("on_no_data", "fail");
    std::string on_empty = no_data == "pass" ? "echo 'no data (on_no_data = pass)'; return 0"
                                             : no_data == "inconclusive" ? "echo 'no data: inconclusive, which fails a check'; return 1"
                                                                         : "echo 'no data: the query returned no sample'; return 1";
    body = "trix_resp=$(curl -sS --fail --max-time " + (limit.empty() ? "30" : limit) + " --get --data-urlencode " + TextWord(qparts, loc, ctx) +
           " " + at + "/api/v1/query) || { echo 'Prometheus did not answer'; return 1; }\n" +
           "value=$(printf '%s' \"$trix_resp\" | jq -r '.data.result[0].value[1] // empty') || return 1\n" + "if [ -z \"$value\" ]; then " +
           on_empty + "; fi\n" + pre + test + " || { echo " + ShellQuote("expect failed: " + expect_text) + " \"(value $value)\"; return 1; }\n";
  } else {
    return "";
  }
  return "trix_probe() {\n" + Indent(body, "  ") + "}\n";
}

/// Runs trix_probe with the probe's retries (interval between tries).
std::string ProbeRetries(const json& p, const std::string& what) {
  const int retries = p.value("retries", 0);
  if (retries <= 0) return "trix_probe || { echo " + ShellQuote(what + ": failed") + "; exit 1; }\n";
  const std::string interval = p.contains("interval_s") && p["interval_s"].is_number() ? Secs(p["interval_s"]) : "5";
  return fmt::format(
      "trix_try=0\n"
      "until trix_probe; do\n"
      "  trix_try=$((trix_try + 1))\n"
      "  if [ \"$trix_try\" -gt {0} ]; then echo {1}; exit 1; fi\n"
      "  sleep {2}\n"
      "done\n",
      retries, ShellQuote(what + ": failed after " + std::to_string(retries) + " retries"), interval);
}

std::string GuardPrelude(const json& s, ScriptContext& ctx) {
  if (!s.contains("when")) return "";
  std::string cond = GuardCondition(s["when"], s["loc"], ctx);
  if (cond.empty()) return "";
  return "if ! " + cond + "; then echo " + ShellQuote("skipped: `when " + ExprText(s["when"]) + "` is false") + "; exit 0; fi\n";
}

std::string Done(const json& s, const ScriptContext& ctx) {
  if (ctx.done_line.empty() || !(s.contains("undo") || s.contains("label"))) return "";
  std::string line = ctx.done_line;
  for (std::size_t pos; (pos = line.find("{id}")) != std::string::npos;) line.replace(pos, 4, s["id"].get<std::string>());
  return line + "\n";
}

}  // namespace

std::string ParamVar(const std::string& name) { return "TRIX_PARAM_" + Upper(name); }
std::string SecretEnvVar(const std::string& name) { return "TRIX_SECRET_" + Upper(name); }
std::string StepOkVar(const std::string& label) { return "TRIX_STEP_" + Upper(label) + "_OK"; }
std::string BaselineVar(const std::string& name) { return "TRIX_BASELINE_" + Upper(name); }

std::string BaselineScript(const json& b, ScriptContext& ctx) {
  json probe = b["probe"];
  const std::string kind = probe.value("kind", "");
  probe["expect"] = json{{"lit", true}};  // a baseline has no expect: any answer is measured
  std::string fn = ProbeFunction(probe, b["loc"], ctx);
  if (fn.empty()) return "exit 1\n";
  std::string o = "set -e\n" + fn + "trix_probe || { echo " + ShellQuote("baseline " + b.value("name", "") + ": the probe failed") + "; exit 1; }\n";
  if (kind == "prometheus") return o + "trix_value=$value\n";
  if (!b.contains("read")) {
    if (ctx.unsupported) ctx.unsupported(b["loc"], "a `run` or `http` baseline without `read`");
    return "exit 1\n";
  }
  AwkWriter w(ctx, b["loc"], kind);
  auto x = w.Expr(b["read"]);
  if (!x) return "exit 1\n";
  std::string read = w.prelude;
  if (!w.exported.empty()) read += "export " + Join(w.exported, " ") + "\n";
  read += "awk " + ShellQuote("BEGIN { printf \"%.17g\", (" + x->code + ") + 0 }") + "\n";
  return o + "trix_read() {\n" + Indent(read, "  ") + "}\ntrix_value=$(trix_read) || { echo " +
         ShellQuote("baseline " + b.value("name", "") + ": `read` failed") + "; exit 1; }\n";
}

std::string ExprText(const json& e) {
  if (e.contains("lit")) return e["lit"].is_string() ? json(e["lit"]).dump() : e["lit"].dump();
  if (e.contains("name")) return e["name"].get<std::string>();
  if (e.contains("step")) return "steps." + e["step"].get<std::string>() + "." + e.value("field", "");
  if (e.contains("baseline")) return "baseline." + e["baseline"].get<std::string>();
  if (e.contains("secret")) return e["secret"].get<std::string>();
  if (e.contains("call")) {
    std::vector<std::string> a;
    for (const auto& x : e["args"]) a.push_back(ExprText(x));
    return e["call"].get<std::string>() + "(" + Join(a, ", ") + ")";
  }
  if (e.contains("op")) {
    const std::string op = e["op"].get<std::string>();
    if (!e.contains("b")) return op == "not" ? "not " + ExprText(e["a"]) : op + ExprText(e["a"]);
    if (op == "[]") return ExprText(e["a"]) + "[" + ExprText(e["b"]) + "]";
    return ExprText(e["a"]) + " " + op + " " + ExprText(e["b"]);
  }
  if (e.contains("concat")) return "\"...\"";
  return "?";
}

std::string CommandText(const json& text, const json& loc, ScriptContext& ctx) {
  if (text.is_string()) return text.get<std::string>();
  std::string o;
  for (const auto& p : text) {
    if (p.contains("lit")) {
      o += p["lit"].is_string() ? p["lit"].get<std::string>() : p["lit"].dump();
    } else if (p.contains("name") && ctx.param_types.count(p["name"].get<std::string>())) {
      ctx.params.insert(p["name"].get<std::string>());
      o += p.value("quote", false) ? "\"$" + ParamVar(p["name"].get<std::string>()) + "\"" : "$" + ParamVar(p["name"].get<std::string>());
    } else if (p.contains("secret")) {
      ctx.secrets.insert(p["secret"].get<std::string>());
      o += "\"$" + SecretEnvVar(p["secret"].get<std::string>()) + "\"";
    } else {
      if (ctx.unsupported) ctx.unsupported(loc, "the interpolation `${" + ExprText(p) + "}`");
      o += "false";
    }
  }
  return o;
}

std::string TextWord(const json& text, const json& loc, ScriptContext& ctx) {
  if (text.is_string()) return ShellQuote(text.get<std::string>());
  if (text.is_object() && text.contains("concat")) return TextWord(text["concat"], loc, ctx);
  if (text.is_object() && text.contains("lit")) return ShellQuote(text["lit"].is_string() ? text["lit"].get<std::string>() : text["lit"].dump());
  if (!text.is_array()) return ShellQuote(text.dump());
  std::string o;
  for (const auto& p : text) {
    if (p.contains("lit")) {
      const std::string t = p["lit"].is_string() ? p["lit"].get<std::string>() : p["lit"].dump();
      if (!t.empty()) o += ShellQuote(t);
    } else if (p.contains("name") && ctx.param_types.count(p["name"].get<std::string>())) {
      ctx.params.insert(p["name"].get<std::string>());
      o += "\"$" + ParamVar(p["name"].get<std::string>()) + "\"";
    } else if (p.contains("secret")) {
      ctx.secrets.insert(p["secret"].get<std::string>());
      o += "\"$" + SecretEnvVar(p["secret"].get<std::string>()) + "\"";
    } else {
      if (ctx.unsupported) ctx.unsupported(loc, "the interpolation `${" + ExprText(p) + "}`");
      o += "''";
    }
  }
  return o.empty() ? "''" : o;
}

std::string GuardCondition(const json& when, const json& loc, ScriptContext& ctx) {
  AwkWriter w(ctx, loc, "");
  std::string pre;
  std::string test = AwkTest(w, when, &pre);
  return test;
}

std::string CheckScript(const json& c, ScriptContext& ctx) {
  const json& p = c["probe"];
  std::string label = "check";
  if (c["label"].is_string()) {
    label = c["label"].get<std::string>();
  } else if (c["label"].is_array()) {
    label.clear();
    for (const auto& p2 : c["label"]) label += p2.contains("lit") && p2["lit"].is_string() ? p2["lit"].get<std::string>() : "${" + ExprText(p2) + "}";
  }
  std::string fn = ProbeFunction(p, c["loc"], ctx);
  if (fn.empty()) return "exit 1\n";
  return "set -e\n" + GuardPrelude(c, ctx) + "echo " + ShellQuote("check: " + label) + "\n" + fn + ProbeRetries(p, label);
}

std::string StepScript(const json& s, ScriptContext& ctx) {
  const std::string op = s.value("op", "");
  const json& loc = s["loc"];
  std::string o = "set -e\n" + GuardPrelude(s, ctx);
  if (op == "run") {
    o += DeadlinePrelude(ctx);
    o += WithRetries(Invocation(s, s["command"], loc, ctx), s, "the command");
  } else if (op == "http") {
    json probe = s;
    probe["kind"] = "http";
    std::string fn = ProbeFunction(probe, loc, ctx);
    if (fn.empty()) return "exit 1\n";
    o += fn + WithRetries("trix_probe", s, s.value("method", "") + " request");
  } else if (op == "wait") {
    if (!ctx.deadline_var.empty()) {
      // The pipeline timeout ends a wait that would outlast it, as it ends any step in the runtime.
      o += DeadlinePrelude(ctx) + fmt::format(
               "if [ {0} -gt \"$trix_left\" ]; then sleep \"$trix_left\"; echo 'the pipeline timeout has passed'; exit 1; fi\n", Secs(s["seconds"]));
    }
    o += "sleep " + Secs(s["seconds"]) + "\n";
  } else if (op == "wait_until") {
    const json& p = s["probe"];
    std::string fn = ProbeFunction(p, loc, ctx);
    if (fn.empty()) return "exit 1\n";
    o += fn + fmt::format("trix_until=$(( $(date +%s) + {0} ))\n", Secs(s["timeout_s"]));
    if (!ctx.deadline_var.empty())
      o += fmt::format("trix_why='wait until: timed out after {0}s'\n"
                       "if [ \"${1}\" -lt \"$trix_until\" ]; then trix_until=${1}; trix_why='the pipeline timeout has passed'; fi\n",
                       Secs(s["timeout_s"]), ctx.deadline_var);
    else
      o += fmt::format("trix_why='wait until: timed out after {0}s'\n", Secs(s["timeout_s"]));
    o += fmt::format(
        "until trix_probe; do\n"
        "  if [ \"$(date +%s)\" -ge \"$trix_until\" ]; then echo \"$trix_why\"; exit 1; fi\n"
        "  sleep {0}\n"
        "done\n",
        Secs(s["interval_s"]));
  } else if (op == "notify") {
    const std::string text = TextWord(s["text"], loc, ctx);
    if (s.contains("url") && s["url"].is_string()) {
      o += "jq -n --arg text " + text + " '{text: $text}' | curl -sS --fail -X POST -H 'Content-Type: application/json' --data-binary @- " +
           ShellQuote(s["url"].get<std::string>()) + " || echo 'notify: the webhook did not accept the message'\n";
    } else {
      o += "printf 'notify: %s\\n' " + text + "\n";
    }
  } else if (op == "parallel" || op == "call") {
    // Children run as subshells: in the background for `parallel`, one after another for a call.
    int n = 0;
    for (const auto& ch : s["children"]) {
      ++n;
      std::string body = StepScript(ch, ctx);
      if (op == "parallel") o += "(\n" + Indent(body, "  ") + ") &\ntrix_p" + std::to_string(n) + "=$!\n";
      else o += "(\n" + Indent(body, "  ") + ")\n";
    }
    if (op == "parallel") {
      o += "trix_failed=0\n";
      for (int i = 1; i <= n; ++i) o += "wait \"$trix_p" + std::to_string(i) + "\" || trix_failed=1\n";
      o += "[ \"$trix_failed\" -eq 0 ] || { echo 'a step of the parallel block failed'; exit 1; }\n";
    }
  } else {
    if (ctx.unsupported) ctx.unsupported(loc, fmt::format("a `{}` step here", op));
    return "exit 1\n";
  }
  return o + Done(s, ctx);
}

std::string WindowScript(const nlohmann::json& env, const std::string& override_var) {
  // The runtime's check (runtime/executor.cpp Runner::WindowOpen): a freeze is whole UTC days; a
  // window is weekly in its zone's fixed offset, and the part of a window that crosses midnight
  // belongs to the day it started on. Parsed here, at emit time; the script only compares numbers.
  std::string freeze_tests, window_tests;
  if (env.contains("freeze") && env["freeze"].is_array()) {
    for (const auto& f : env["freeze"]) {
      if (!f.is_string()) continue;
      std::string err;
      auto fr = lit::ParseFreeze(f.get<std::string>(), &err);
      if (!fr) continue;
      freeze_tests += fmt::format("if [ \"$trix_today\" -ge {} ] && [ \"$trix_today\" -le {} ]; then trix_why={}; fi\n", fr->first_day, fr->last_day,
                                  ShellQuote("inside the freeze " + f.get<std::string>()));
    }
  }
  std::string window_text;
  if (env.contains("window") && env["window"].is_string()) {
    window_text = env["window"].get<std::string>();
    std::string err;
    auto ws = lit::ParseWindow(window_text, &err);
    if (ws) {
      for (const auto& w : *ws) {
        window_tests += fmt::format(
            "trix_local=$((trix_now + ({}) * 60)); trix_wday=$(((trix_local / 86400 + 3) % 7)); trix_prev=$(((trix_wday + 6) % 7)); "
            "trix_min=$((trix_local % 86400 / 60))\n",
            w.utc_offset_minutes);
        if (w.end_minute > w.start_minute)
          window_tests += fmt::format("if [ $(({} >> trix_wday & 1)) -eq 1 ] && [ \"$trix_min\" -ge {} ] && [ \"$trix_min\" -lt {} ]; then trix_open=1; fi\n",
                                      static_cast<int>(w.days), w.start_minute, w.end_minute);
        else
          window_tests += fmt::format(
              "if {{ [ $(({} >> trix_wday & 1)) -eq 1 ] && [ \"$trix_min\" -ge {} ]; }} || {{ [ $(({} >> trix_prev & 1)) -eq 1 ] && [ \"$trix_min\" -lt {} ]; }}; then trix_open=1; fi\n",
              static_cast<int>(w.days), w.start_minute, static_cast<int>(w.days), w.end_minute);
      }
    }
  }
  if (freeze_tests.empty() && window_tests.empty() && window_text.empty()) return "";
  const std::string envname = env.value("name", "");
  std::string o = "set -e\n# The deployment window and freezes of environment " + envname + ", checked before the first change.\n";
  o += "trix_now=$(date +%s)\ntrix_today=$((trix_now / 86400))\ntrix_why=\n";
  o += freeze_tests;
  if (!window_text.empty()) {
    o += "if [ -z \"$trix_why\" ]; then\n  trix_open=0\n";
    std::string indented;
    for (std::size_t pos = 0; pos < window_tests.size();) {
      std::size_t nl = window_tests.find('\n', pos);
      indented += "  " + window_tests.substr(pos, nl - pos + 1);
      pos = nl + 1;
    }
    o += indented;
    o += "  if [ \"$trix_open\" -eq 0 ]; then trix_why=" + ShellQuote("outside the deployment window `" + window_text + "`") + "; fi\nfi\n";
  }
  o += "if [ -z \"$trix_why\" ]; then echo " + ShellQuote("environment " + envname + ": inside its deployment window") + "; exit 0; fi\n";
  o += "if [ -n \"${" + override_var + ":-}\" ]; then\n  echo \"environment " + envname + " is $trix_why; overridden: $" + override_var + "\"\n  exit 0\nfi\n";
  o += "echo \"environment " + envname + " is $trix_why; nothing was changed (run again with an override reason to deploy anyway)\"\nexit 1\n";
  return o;
}

}  // namespace trix::emit
