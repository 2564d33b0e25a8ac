// Shared by the emitters: plans per environment, E6xx reporting, names.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compiler/emit/emit.hpp"
#include "compiler/emit/script.hpp"
#include "compiler/emit/yaml.hpp"
#include "compiler/lower/plan.hpp"

namespace trix::emit {

/// One pipeline lowered for each environment it may target (parameters open).
struct PipelinePlans {
  std::string name;
  const ast::Decl* decl = nullptr;
  std::vector<std::string> envs;
  std::vector<nlohmann::json> plans;  // parallel to envs
};

/// The pipelines to emit (`opt.pipeline` or all, in name order); false with `error` set on a usage error.
bool PlanPipelines(const sema::Program& program, const SourceManager& sm, const Options& opt, Diagnostics& diags,
                   std::vector<PipelinePlans>* out, std::string* error);

/// Reports an E6xx at a plan `loc` ({file, line, col}); a warning when degraded output is allowed.
void ReportFidelity(Diagnostics& diags, const SourceManager& sm, const Options& opt, DiagCode code, const nlohmann::json& loc,
                    const std::string& message, const std::string& help);
void ReportFidelity(Diagnostics& diags, const Options& opt, DiagCode code, SourceRange range, const std::string& message,
                    const std::string& help);

/// Parameter types of the entry module.
std::map<std::string, ast::TypeKind> ParamTypes(const sema::Program& program);

/// A name usable as a GitHub job id, Kubernetes object name or Argo template name: lower-case, `-` for other characters.
std::string DnsName(const std::string& s);

/// Plan text with its parameters shown as `${name}` (for titles and descriptions).
std::string PlainText(const nlohmann::json& text);

}  // namespace trix::emit
