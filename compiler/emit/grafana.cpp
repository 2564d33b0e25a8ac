// `trixc emit grafana`: one dashboard (Grafana JSON, schemaVersion 42 as in
// @grafana/schema 13) over the metrics the runtime writes (runtime/executor.cpp
// WriteMetrics: trix_deployment_status{status}, trix_deployment_duration_seconds,
// trix_deployments_total{status}, trix_rollbacks_total; labels pipeline,
// environment) plus trix_drills_total{status}, and one panel per Prometheus
// query of the runbook (analysis metrics, checks, baselines, wait until).
//
// Invariants: rows are pipelines in name order; panel ids count up from 1 in
// output order; gridPos is computed (two panels of 12 columns per line, rows
// of height 8); same input, same bytes. http and run probes have no query and
// get no panel.
#include <fmt/format.h>

#include <map>
#include <set>

#include "compiler/emit/common.hpp"

namespace trix::emit {
namespace {

using json = nlohmann::json;

struct Query {
  std::string title;
  std::string expr;
  std::vector<std::string> names;  // the `${name}`s it reads (parameters)
};

/// Prometheus probes of a plan, in plan order: {what, name} -> query.
void Collect(const json& j, std::vector<Query>* out) {
  if (j.is_array()) {
    for (const auto& x : j) Collect(x, out);
    return;
  }
  if (!j.is_object()) return;
  if (j.contains("probe") && j["probe"].is_object() && j["probe"].value("kind", "") == "prometheus") {
    std::string title;
    const std::string op = j.value("op", "");
    if (op == "check") title = "check: " + PlainText(j["label"]);
    else if (op == "baseline") title = "baseline: " + j.value("name", "");
    else if (op == "wait_until") title = "wait until";
    else if (j.contains("name")) title = "metric: " + j.value("name", "");
    else title = "query";
    Query q{title, PlainText(j["probe"]["query"]), {}};
    if (j["probe"]["query"].is_array()) {
      for (const auto& part : j["probe"]["query"]) {
        if (part.is_object() && part.contains("name") && part["name"].is_string()) q.names.push_back(part["name"].get<std::string>());
      }
    }
    out->push_back(std::move(q));
  }
  for (const auto& [k, v] : j.items()) {
    if (k != "probe") Collect(v, out);
  }
}

class Layout {
 public:
  int next_id = 1;
  int y = 0;
  int x = 0;
  json panels = json::array();

  void Row(const std::string& title) {
    if (x) { y += 8; x = 0; }
    json r;
    r["collapsed"] = false;
    r["gridPos"] = json{{"h", 1}, {"w", 24}, {"x", 0}, {"y", y}};
    r["id"] = next_id++;
    r["panels"] = json::array();
    r["title"] = title;
    r["type"] = "row";
    panels.push_back(r);
    y += 1;
  }
  void Panel(const std::string& type, const std::string& title, const std::string& expr, const std::string& legend,
             const std::string& unit, const std::string& description) {
    json p;
    p["datasource"] = json{{"type", "prometheus"}, {"uid", "${datasource}"}};
    if (!description.empty()) p["description"] = description;
    json defaults = json::object();
    if (!unit.empty()) defaults["unit"] = unit;
    p["fieldConfig"] = json{{"defaults", defaults}, {"overrides", json::array()}};
    p["gridPos"] = json{{"h", 8}, {"w", 12}, {"x", x}, {"y", y}};
    p["id"] = next_id++;
    json t{{"datasource", {{"type", "prometheus"}, {"uid", "${datasource}"}}}, {"expr", expr}, {"refId", "A"}};
    if (!legend.empty()) t["legendFormat"] = legend;
    p["targets"] = json::array({t});
    p["title"] = title;
    p["type"] = type;
    panels.push_back(p);
    x += 12;
    if (x >= 24) { x = 0; y += 8; }
  }
};

std::string Quote(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    o += c;
  }
  return o;
}

}  // namespace

bool EmitGrafana(const sema::Program& program, const SourceManager& sm, const Options& opt, Diagnostics& diags, std::vector<File>* out,
                 std::string* error) {
  std::vector<PipelinePlans> pipes;
  if (!PlanPipelines(program, sm, opt, diags, &pipes, error)) return false;
  const auto& scope = program.scopes.at(0);
  const std::string runbook = scope.runbook ? scope.runbook->name.name : "trix";

  Layout l;
  // Parameters read by a query: a textbox variable each, holding the
  // parameter's default, so the panel shows data (Grafana substitutes
  // `${name}`) and the viewer can type another value.
  std::map<std::string, std::string> param_vars;
  for (const auto& pp : pipes) {
    l.Row("pipeline " + pp.name);
    const std::string sel = fmt::format("pipeline=\"{}\", environment=~\"$environment\"", Quote(pp.name));
    l.Panel("stat", "Deployment status", fmt::format("max by (environment, status) (trix_deployment_status{{{}}}) == 1", sel),
            "{{environment}}: {{status}}", "", "Outcome of the last run per environment (trix_deployment_status).");
    l.Panel("timeseries", "Deployment duration", fmt::format("trix_deployment_duration_seconds{{{}}}", sel), "{{environment}}", "s",
            "Duration of the last run (trix_deployment_duration_seconds).");
    l.Panel("timeseries", "Success rate",
            fmt::format("sum by (environment) (increase(trix_deployments_total{{{0}, status=\"succeeded\"}}[$__range])) / sum by (environment) "
                        "(increase(trix_deployments_total{{{0}}}[$__range]))",
                        sel),
            "{{environment}}", "percentunit", "Succeeded runs / all runs over the dashboard's time range (trix_deployments_total).");
    l.Panel("timeseries", "Rollbacks", fmt::format("sum by (environment) (increase(trix_rollbacks_total{{{}}}[$__rate_interval]))", sel),
            "{{environment}}", "", "Rollbacks started (trix_rollbacks_total).");
    l.Panel("timeseries", "Drills",
            fmt::format("sum by (environment, status) (increase(trix_drills_total{{{}, status=~\"passed|failed\"}}[$__rate_interval]))", sel),
            "{{environment}}: {{status}}", "", "Rollback drills by outcome (trix_drills_total).");
    std::vector<Query> qs;
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& plan : pp.plans) {
      std::vector<Query> one;
      Collect(plan["instructions"], &one);
      for (const auto& [k, v] : plan.items()) {
        if (k != "instructions") Collect(v, &one);
      }
      for (auto& q : one) {
        if (seen.insert({q.title, q.expr}).second) qs.push_back(q);
      }
    }
    const json params = pp.plans.empty() ? json::object() : pp.plans.front().value("params", json::object());
    for (const auto& q : qs) {
      l.Panel("timeseries", q.title, q.expr, "", "", "Query as written in the runbook.");
      for (const auto& n : q.names) {
        if (!param_vars.count(n)) param_vars[n] = params.contains(n) && !params[n].is_null() ? PlainText(params[n]) : std::string();
      }
    }
  }
  if (l.x) l.y += 8;

  json ds_var{{"hide", 0}, {"includeAll", false}, {"label", "Data source"}, {"multi", false},
              {"name", "datasource"}, {"options", json::array()}, {"query", "prometheus"}, {"refresh", 1}, {"regex", ""}, {"type", "datasource"}};
  auto label_var = [](const char* name, const char* label, const std::string& query) {
    return json{{"datasource", {{"type", "prometheus"}, {"uid", "${datasource}"}}}, {"hide", 0},
                {"includeAll", true}, {"allValue", ".*"}, {"label", label}, {"multi", true}, {"name", name}, {"options", json::array()},
                {"query", json{{"qryType", 1}, {"query", query}, {"refId", "PrometheusVariableQueryEditor-VariableQuery"}}},
                {"refresh", 2}, {"regex", ""}, {"sort", 1}, {"type", "query"}};
  };
  json vars = json::array({ds_var, label_var("pipeline", "Pipeline", "label_values(trix_deployments_total, pipeline)"),
                           label_var("environment", "Environment", "label_values(trix_deployments_total{pipeline=~\"$pipeline\"}, environment)")});
  for (const auto& [name, value] : param_vars) {
    if (name == "datasource" || name == "pipeline" || name == "environment") continue;  // taken by the variables above
    json current{{"selected", false}, {"text", value}, {"value", value}};
    vars.push_back(json{{"current", current}, {"description", "Parameter `" + name + "` of the runbook" + (value.empty() ? " (it has no default: type a value)." : " (its default).")}, {"hide", 0},
                        {"label", "param " + name}, {"name", name}, {"options", json::array({json{{"selected", true}, {"text", value}, {"value", value}}})},
                        {"query", value}, {"type", "textbox"}});
  }
  json doc;
  doc["annotations"] = json{{"list", json::array()}};
  doc["description"] = "Deployments of runbook " + runbook + " (generated by trixc emit grafana; do not edit).";
  doc["editable"] = true;
  doc["graphTooltip"] = 1;
  doc["links"] = json::array();
  doc["panels"] = l.panels;
  doc["refresh"] = "1m";
  doc["schemaVersion"] = 42;
  doc["tags"] = json::array({"trix", runbook});
  doc["templating"] = json{{"list", vars}};
  doc["time"] = json{{"from", "now-7d"}, {"to", "now"}};
  doc["timezone"] = "utc";
  doc["title"] = "trix: " + runbook;
  doc["uid"] = DnsName("trix-" + runbook).substr(0, 40);
  doc["version"] = 1;
  out->push_back(File{"dashboard.json", doc.dump(2) + "\n"});
  return true;
}

}  // namespace trix::emit
