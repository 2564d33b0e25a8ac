#include "compiler/util/plan_text.hpp"

namespace trix {

using json = nlohmann::json;

std::string PlanLiteralText(const json& v) {
  if (v.is_string()) return "\"" + v.get<std::string>() + "\"";
  return v.dump();
}

std::string PlanExprText(const json& e) {
  if (!e.is_object()) return e.dump();
  if (e.contains("lit")) return PlanLiteralText(e["lit"]);
  if (e.contains("name")) return e["name"].get<std::string>();
  if (e.contains("secret")) return "secret " + e["secret"].get<std::string>();
  if (e.contains("step")) return "steps." + e["step"].get<std::string>() + "." + e["field"].get<std::string>();
  if (e.contains("baseline")) return "baseline." + e["baseline"].get<std::string>();
  if (e.contains("member")) return PlanExprText(e.value("of", json::object())) + "." + e["member"].get<std::string>();
  if (e.contains("call")) {
    std::string s = e["call"].get<std::string>() + "(";
    for (std::size_t i = 0; i < e["args"].size(); ++i) s += (i ? ", " : "") + PlanExprText(e["args"][i]);
    return s + ")";
  }
  if (e.contains("concat")) {
    const json& parts = e["concat"];
    if (parts.is_string()) return "\"" + parts.get<std::string>() + "\"";
    std::string s = "\"";
    for (const auto& p : parts) s += p.contains("lit") && p["lit"].is_string() ? p["lit"].get<std::string>() : "${" + PlanExprText(p) + "}";
    return s + "\"";
  }
  if (e.contains("op")) {
    const std::string op = e["op"];
    if (!e.contains("b")) return op == "not" ? "not " + PlanExprText(e["a"]) : "-" + PlanExprText(e["a"]);
    if (op == "[]") return PlanExprText(e["a"]) + "[" + PlanExprText(e["b"]) + "]";
    return "(" + PlanExprText(e["a"]) + " " + op + " " + PlanExprText(e["b"]) + ")";
  }
  if (e.contains("list")) {
    std::string s = "[";
    for (std::size_t i = 0; i < e["list"].size(); ++i) s += (i ? ", " : "") + PlanExprText(e["list"][i]);
    return s + "]";
  }
  return e.dump();
}

}  // namespace trix
