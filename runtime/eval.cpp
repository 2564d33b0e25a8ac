// The plan expression evaluator.
#include "runtime/eval.hpp"

#include <cmath>
#include <fmt/format.h>

#include "compiler/util/plan_text.hpp"
#include "runtime/http.hpp"
#include "runtime/process.hpp"

namespace trix::rt {
namespace {

using json = nlohmann::json;

double Num(const json& v, const char* what) {
  if (v.is_number()) return v.get<double>();
  if (v.is_boolean()) throw EvalError(fmt::format("{} needs a number, found a boolean", what));
  throw EvalError(fmt::format("{} needs a number, found {}", what, v.dump()));
}

bool Truth(const json& v) {
  if (v.is_boolean()) return v.get<bool>();
  throw EvalError(fmt::format("expected true or false, found {}", v.dump()));
}

int Compare(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    double x = a.get<double>(), y = b.get<double>();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.is_string() && b.is_string()) return a.get<std::string>().compare(b.get<std::string>()) < 0 ? -1 : a == b ? 0 : 1;
  throw EvalError(fmt::format("cannot order {} and {}", a.dump(), b.dump()));
}

}  // namespace

std::string ValueToText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) {
    double d = v.get<double>();
    if (d == std::floor(d) && std::abs(d) < 1e15) return std::to_string(static_cast<long long>(d));
    return fmt::format("{}", d);
  }
  if (v.is_null()) return "";
  return v.dump();
}

json Eval(const json& e, const EvalContext& ctx) {
  if (!e.is_object()) return e;
  if (e.contains("lit")) return e["lit"];
  if (e.contains("name")) {
    const std::string n = e["name"];
    auto it = ctx.names.find(n);
    if (it == ctx.names.end()) throw EvalError(fmt::format("`{}` has no value here", n));
    return it->second;
  }
  if (e.contains("step")) {
    const std::string label = e["step"], field = e["field"];
    if (!ctx.steps) throw EvalError("steps are not available here");
    auto it = ctx.steps->find(label);
    if (it == ctx.steps->end()) {
      if (field == "ok") return false;  // a step that never finished did not succeed
      throw EvalError(fmt::format("step `{}` has not finished", label));
    }
    const StepOutcome& s = it->second;
    if (field == "ok") return s.ok;
    if (field == "exit_code") return s.exit_code;
    if (field == "stdout") return s.stdout_text;
    if (field == "stderr") return s.stderr_text;
    if (field == "status") return s.status;
    if (field == "body") return s.body;
    throw EvalError(fmt::format("a step has no `{}`", field));
  }
  if (e.contains("baseline")) {
    const std::string n = e["baseline"];
    if (!ctx.baselines || !ctx.baselines->count(n)) throw EvalError(fmt::format("baseline `{}` was not measured", n));
    return ctx.baselines->at(n);
  }
  if (e.contains("secret")) {
    if (!ctx.secret) throw EvalError("a secret cannot be read here");
    return ctx.secret(e["secret"].get<std::string>());
  }
  if (e.contains("concat")) return RenderText(e["concat"], ctx);
  if (e.contains("list")) {
    json a = json::array();
    for (const auto& x : e["list"]) a.push_back(Eval(x, ctx));
    return a;
  }
  if (e.contains("map")) {
    json m = json::object();
    for (auto it = e["map"].begin(); it != e["map"].end(); ++it) m[it.key()] = Eval(it.value(), ctx);
    return m;
  }
  if (e.contains("call")) {
    const std::string f = e["call"];
    const json& args = e["args"];
    if (args.size() != 1) throw EvalError(fmt::format("`{}()` takes one argument", f));
    if (f == "json") {
      const std::string ptr = ValueToText(Eval(args[0], ctx));
      json doc = json::parse(ctx.body, nullptr, false);
      if (doc.is_discarded()) throw EvalError("the response body is not JSON");
      try {
        return doc.at(json::json_pointer(ptr));
      } catch (const std::exception&) {
        throw EvalError(fmt::format("the JSON pointer `{}` does not resolve in the response", ptr));
      }
    }
    json a = Eval(args[0], ctx);
    if (f == "header") {
      std::string name = ValueToText(a);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto it = ctx.headers.find(name);
      return it == ctx.headers.end() ? std::string() : it->second;
    }
    if (f == "len") {
      if (a.is_string()) return a.get<std::string>().size();
      if (a.is_array() || a.is_object()) return a.size();
      throw EvalError(fmt::format("`len()` needs a string, list or JSON array/object, found {}", a.dump()));
    }
    if (f == "string" || f == "raw") return ValueToText(a);
    if (f == "int" || f == "float") {
      double x = 0;
      if (a.is_number()) {
        x = a.get<double>();
      } else if (a.is_boolean()) {
        x = a.get<bool>() ? 1 : 0;
      } else if (a.is_string()) {
        std::string s = a.get<std::string>();
        while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
        std::size_t i = 0;
        while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
        s = s.substr(i);
        char* end = nullptr;
        x = std::strtod(s.c_str(), &end);
        if (s.empty() || *end != '\0') throw EvalError(fmt::format("`{}` is not a number", a.get<std::string>()));
      } else {
        throw EvalError(fmt::format("`{}()` cannot convert {}", f, a.dump()));
      }
      if (f == "int") return static_cast<long long>(x);
      return x;
    }
    throw EvalError(fmt::format("unknown function `{}`", f));
  }
  if (e.contains("op")) {
    const std::string op = e["op"];
    if (op == "and" || op == "or") {
      bool l = Truth(Eval(e["a"], ctx));
      if (op == "and" && !l) return false;
      if (op == "or" && l) return true;
      return Truth(Eval(e["b"], ctx));
    }
    if (!e.contains("b")) {
      json a = Eval(e["a"], ctx);
      if (op == "not") return !Truth(a);
      return -Num(a, "`-`");
    }
    json a = Eval(e["a"], ctx);
    json b = Eval(e["b"], ctx);
    if (op == "==") return a.is_number() && b.is_number() ? a.get<double>() == b.get<double>() : a == b;
    if (op == "!=") return a.is_number() && b.is_number() ? a.get<double>() != b.get<double>() : a != b;
    if (op == "<") return Compare(a, b) < 0;
    if (op == "<=") return Compare(a, b) <= 0;
    if (op == ">") return Compare(a, b) > 0;
    if (op == ">=") return Compare(a, b) >= 0;
    if (op == "in") {
      if (b.is_array()) {
        for (const auto& x : b) {
          if (x == a || (x.is_number() && a.is_number() && x.get<double>() == a.get<double>())) return true;
        }
        return false;
      }
      if (b.is_string() && a.is_string()) return b.get<std::string>().find(a.get<std::string>()) != std::string::npos;
      if (b.is_object() && a.is_string()) return b.contains(a.get<std::string>());
      throw EvalError(fmt::format("`in` needs a list or a string, found {}", b.dump()));
    }
    if (op == "[]") {
      if (a.is_array()) {
        double i = Num(b, "an index");
        if (i < 0 || i >= static_cast<double>(a.size())) throw EvalError(fmt::format("index {} is out of range", i));
        return a[static_cast<std::size_t>(i)];
      }
      if (a.is_object() && b.is_string()) {
        if (!a.contains(b.get<std::string>())) throw EvalError(fmt::format("no key {}", b.dump()));
        return a[b.get<std::string>()];
      }
      throw EvalError("only lists and JSON objects can be indexed");
    }
    if (op == "+" && a.is_string() && b.is_string()) return a.get<std::string>() + b.get<std::string>();
    double x = Num(a, "arithmetic"), y = Num(b, "arithmetic");
    if (op == "+") return x + y;
    if (op == "-") return x - y;
    if (op == "*") return x * y;
    if (op == "/") {
      if (y == 0) throw EvalError("division by zero");
      return x / y;
    }
    throw EvalError(fmt::format("unknown operator `{}`", op));
  }
  if (e.contains("member")) throw EvalError(fmt::format("`{}` cannot be read at run time", e["member"].get<std::string>()));
  throw EvalError("malformed expression in the plan: " + e.dump());
}

bool EvalBool(const json& expr, const EvalContext& ctx) { return Truth(Eval(expr, ctx)); }

std::string RenderTextPreview(const json& text, const EvalContext& ctx) {
  if (!text.is_array()) return RenderText(text, ctx);
  std::string out;
  for (const auto& part : text) {
    try {
      out += RenderText(json::array({part}), ctx);
    } catch (const EvalError&) {
      out += "<" + PlanExprText(part) + ">";
    }
  }
  return out;
}

std::string RenderText(const json& text, const EvalContext& ctx) {
  if (text.is_string()) return text.get<std::string>();
  if (!text.is_array()) return ValueToText(text);
  std::string out;
  for (const auto& part : text) {
    if (part.contains("lit") && part.size() == 1 && part["lit"].is_string()) {
      out += part["lit"].get<std::string>();
      continue;
    }
    std::string v = ValueToText(Eval(part, ctx));
    out += part.value("quote", false) ? ShellQuote(v) : v;
  }
  return out;
}

}  // namespace trix::rt
