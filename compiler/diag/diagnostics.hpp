// Diagnostics: the records phases report, and the sink they report into.
//
// Invariants: phases never print; they add Diagnostic records to a
// Diagnostics sink. Every record has a code from diagnostics.def, a primary
// range, and a message that starts lower-case with no trailing period.
// Renderers (render.hpp) turn the records into text, JSON or SARIF.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "compiler/diag/source.hpp"

namespace trix {

enum class Severity { Error, Warning, Note };

enum class DiagCode {
#define TRIX_DIAG(code, sev, title) code,
#include "compiler/diag/diagnostics.def"
#undef TRIX_DIAG
};

struct DiagInfo {
  std::string_view code;
  Severity severity;
  std::string_view title;
};

const DiagInfo& Info(DiagCode code);
/// Looks a code up by its name ("E201"); false when there is none.
bool FindCode(std::string_view name, DiagCode* out);
const std::vector<DiagCode>& AllCodes();
std::string_view SeverityName(Severity s);

struct DiagNote {
  bool has_range = false;
  SourceRange range;
  std::string message;
};

struct Diagnostic {
  DiagCode code;
  Severity severity;
  SourceRange range;
  std::string message;
  std::vector<DiagNote> notes;
  std::string help;  // a fix-it hint, shown as "help: ..."

  Diagnostic& Note(SourceRange r, std::string msg) {
    notes.push_back({true, r, std::move(msg)});
    return *this;
  }
  Diagnostic& Note(std::string msg) {
    notes.push_back({false, {}, std::move(msg)});
    return *this;
  }
  Diagnostic& Help(std::string h) {
    help = std::move(h);
    return *this;
  }
};

class Diagnostics {
 public:
  Diagnostic& Report(DiagCode code, SourceRange range, std::string message);
  const std::vector<Diagnostic>& all() const { return diags_; }
  std::size_t ErrorCount() const;
  std::size_t WarningCount() const;
  /// Turns every warning into an error (`--werror`).
  void PromoteWarnings();
  /// Sorts by file, position, then code, and drops exact repeats, so output is deterministic.
  void Sort();

 private:
  std::vector<Diagnostic> diags_;
};

}  // namespace trix
