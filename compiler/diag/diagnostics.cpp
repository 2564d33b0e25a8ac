// The diagnostics registry and sink.
#include "compiler/diag/diagnostics.hpp"

#include <algorithm>
#include <tuple>

namespace trix {

namespace {
const DiagInfo kInfos[] = {
#define TRIX_DIAG(code, sev, title) {#code, Severity::sev, title},
#include "compiler/diag/diagnostics.def"
#undef TRIX_DIAG
};
}  // namespace

const DiagInfo& Info(DiagCode code) { return kInfos[static_cast<int>(code)]; }

const std::vector<DiagCode>& AllCodes() {
  static const std::vector<DiagCode> kAll = {
#define TRIX_DIAG(code, sev, title) DiagCode::code,
#include "compiler/diag/diagnostics.def"
#undef TRIX_DIAG
  };
  return kAll;
}

bool FindCode(std::string_view name, DiagCode* out) {
  for (DiagCode c : AllCodes()) {
    std::string_view n = Info(c).code;
    if (n.size() == name.size() &&
        std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) { return a == (b >= 'a' && b <= 'z' ? b - 32 : b); })) {
      *out = c;
      return true;
    }
  }
  return false;
}

std::string_view SeverityName(Severity s) {
  switch (s) {
    case Severity::Error: return "error";
    case Severity::Warning: return "warning";
    case Severity::Note: return "note";
  }
  return "error";
}

Diagnostic& Diagnostics::Report(DiagCode code, SourceRange range, std::string message) {
  diags_.push_back(Diagnostic{code, Info(code).severity, range, std::move(message), {}, {}});
  return diags_.back();
}

std::size_t Diagnostics::ErrorCount() const {
  return static_cast<std::size_t>(std::count_if(diags_.begin(), diags_.end(), [](const Diagnostic& d) { return d.severity == Severity::Error; }));
}

std::size_t Diagnostics::WarningCount() const {
  return static_cast<std::size_t>(std::count_if(diags_.begin(), diags_.end(), [](const Diagnostic& d) { return d.severity == Severity::Warning; }));
}

void Diagnostics::PromoteWarnings() {
  for (auto& d : diags_) {
    if (d.severity == Severity::Warning) d.severity = Severity::Error;
  }
}

void Diagnostics::Sort() {
  auto key = [](const Diagnostic& d) { return std::tuple(d.range.file, d.range.begin, static_cast<int>(d.code), d.range.end, std::string_view(d.message)); };
  std::stable_sort(diags_.begin(), diags_.end(), [&](const Diagnostic& a, const Diagnostic& b) { return key(a) < key(b); });
  diags_.erase(std::unique(diags_.begin(), diags_.end(), [&](const Diagnostic& a, const Diagnostic& b) { return key(a) == key(b); }), diags_.end());
}

}  // namespace trix
