// `trixc emit prometheus`: rule groups for Prometheus (§11).
//
// Group 1 holds the runbook's `alert` declarations, group 2 the standard
// deployment alerts and recording rules over the metrics the runtime writes
// (runtime/executor.cpp WriteMetrics): trix_deployments_total{pipeline,
// environment,status}, trix_rollbacks_total{pipeline,environment},
// trix_deployment_duration_seconds, trix_deployment_start_time and
// trix_deployment_status{status}. Only those names are used.
#include <fmt/format.h>

#include "compiler/check/checker.hpp"
#include "compiler/emit/common.hpp"
#include "compiler/util/literals.hpp"

namespace trix::emit {
namespace {

/// `5m`, `1h30m` in Prometheus duration syntax (units y w d h m s ms, largest first).
std::string PromDuration(double seconds) {
  long long ms = static_cast<long long>(seconds * 1000 + 0.5);
  if (ms <= 0) return "0s";
  std::string o;
  const std::pair<long long, const char*> units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}, {1, "ms"}};
  for (const auto& [size, name] : units) {
    if (ms >= size) {
      o += std::to_string(ms / size) + name;
      ms %= size;
    }
  }
  return o;
}

ojson StringMap(const ast::Expr* e, const sema::FoldEnv& env) {
  ojson m = ojson::object();
  if (!e || e->kind != ast::ExprKind::Map) return m;
  for (const auto& a : e->attrs) m[a.key.name] = sema::ValueText(sema::Fold(*a.value, env));
  return m;
}

}  // namespace

bool EmitPrometheus(const sema::Program& program, const SourceManager&, const Options&, Diagnostics&, std::vector<File>* out,
                    std::string*) {
  const auto& scope = program.scopes.at(0);
  const sema::FoldEnv env{nullptr, &scope, nullptr};
  const std::string runbook = scope.runbook ? scope.runbook->name.name : "trix";

  ojson user_rules = ojson::array();
  // Declaration order, as written in the runbook (not the symbol table's name order).
  for (const auto& d : program.entry().decls) {
    if (d.kind != ast::DeclKind::Alert) continue;
    ojson r;
    r["alert"] = d.name.name;
    auto attr = [&](const char* k) { return sema::FindAttr(d.attrs, k); };
    r["expr"] = attr("expr") ? sema::ValueText(sema::Fold(*attr("expr")->value, env)) : "";
    if (const ast::Attr* f = attr("for")) r["for"] = PromDuration(sema::Fold(*f->value, env).n);
    ojson labels = ojson::object();
    if (const ast::Attr* s = attr("severity")) labels["severity"] = sema::ValueText(sema::Fold(*s->value, env));
    labels["runbook"] = runbook;
    if (const ast::Attr* l = attr("labels")) labels.update(StringMap(l->value.get(), env));
    r["labels"] = labels;
    ojson ann = ojson::object();
    for (const char* k : {"summary", "description", "runbook_url"}) {
      if (const ast::Attr* a = attr(k)) ann[k] = sema::ValueText(sema::Fold(*a->value, env));
    }
    if (const ast::Attr* a = attr("annotations")) ann.update(StringMap(a->value.get(), env));
    if (!d.doc.empty() && !ann.contains("description")) ann["description"] = d.doc;
    if (!ann.empty()) r["annotations"] = ann;
    user_rules.push_back(r);
  }

  auto alert = [&](const char* name, const std::string& expr, const char* for_, const char* severity, const char* summary,
                   const std::string& description) {
    ojson r;
    r["alert"] = name;
    r["expr"] = expr;
    if (*for_) r["for"] = for_;
    r["labels"] = ojson{{"severity", severity}, {"runbook", runbook}};
    r["annotations"] = ojson{{"summary", summary}, {"description", description}};
    return r;
  };
  ojson std_rules = ojson::array();
  std_rules.push_back(alert("TrixDeploymentFailed", "trix_deployment_status{status=\"failed\"} == 1", "", "critical", "Deployment failed",
                            "The last run of {{ $labels.pipeline }} on {{ $labels.environment }} failed (rolled back or rollback failed)."));
  std_rules.push_back(alert("TrixDeploymentStuck",
                            "time() - trix_deployment_start_time > 1800 unless on (pipeline, environment) trix_deployment_duration_seconds",
                            "", "warning", "Deployment stuck",
                            "A run of {{ $labels.pipeline }} on {{ $labels.environment }} started over 30 minutes ago and has not finished."));
  std_rules.push_back(alert("TrixRollbackTriggered", "increase(trix_rollbacks_total[1h]) > 0", "", "warning", "Rollback in the last hour",
                            "{{ $labels.pipeline }} on {{ $labels.environment }} rolled back in the last hour."));
  std_rules.push_back(alert("TrixRollbackFailed", "increase(trix_deployments_total{status=\"rollback_failed\"}[1h]) > 0", "", "critical",
                            "Rollback failed", "A rollback of {{ $labels.pipeline }} on {{ $labels.environment }} failed: act by hand."));
  ojson recording = ojson::array();
  auto record = [&](const char* name, const char* expr) { recording.push_back(ojson{{"record", name}, {"expr", expr}}); };
  record("trix:deployments:increase1h", "sum by (pipeline, environment, status) (increase(trix_deployments_total[1h]))");
  record("trix:deployment_success_ratio:1d",
         "sum by (pipeline, environment) (increase(trix_deployments_total{status=\"succeeded\"}[1d])) / sum by (pipeline, environment) "
         "(increase(trix_deployments_total[1d]))");
  record("trix:rollbacks:increase1d", "sum by (pipeline, environment) (increase(trix_rollbacks_total[1d]))");
  record("trix:deployment_duration_seconds:max1d", "max by (pipeline, environment) (max_over_time(trix_deployment_duration_seconds[1d]))");

  ojson groups = ojson::array();
  if (!user_rules.empty()) groups.push_back(ojson{{"name", runbook + ".alerts"}, {"rules", user_rules}});
  groups.push_back(ojson{{"name", "trix.deployments"}, {"rules", std_rules}});
  groups.push_back(ojson{{"name", "trix.deployments.recording"}, {"interval", "1m"}, {"rules", recording}});
  ojson doc{{"groups", groups}};
  out->push_back(File{"", "# Generated by trixc emit prometheus; do not edit.\n" + ToYaml(doc)});
  return true;
}

}  // namespace trix::emit
