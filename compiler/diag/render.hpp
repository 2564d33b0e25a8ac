// Renderers of diagnostics: human text, JSON, SARIF 2.1.0.
//
// All three read the same Diagnostic records; none changes them. Output is
// deterministic for the same records (callers sort first).
#pragma once

#include <ostream>
#include <string_view>

#include "compiler/diag/diagnostics.hpp"
#include "compiler/diag/source.hpp"

namespace trix {

struct TextStyle {
  bool color = false;  // ANSI colour; callers decide (TTY and no NO_COLOR)
};

/// `file:line:col: error[E201]: message`, the source line with a gutter, and a
/// caret underline spanning the range (first line of it only); notes follow
/// with their own locations, then `help:`. Ends with a summary line
/// ("2 errors, 1 warning generated") when there is at least one diagnostic.
void RenderText(const Diagnostics& diags, const SourceManager& sm, std::ostream& out, TextStyle style = {});

/// {"diagnostics":[{"code","severity","message","file","range":{"start":{"line","column","offset"},"end":{...}},"notes":[...],"help"}], "errors":N, "warnings":N}
void RenderJson(const Diagnostics& diags, const SourceManager& sm, std::ostream& out);

/// SARIF 2.1.0 log with one run (tool.driver.name "trixc", rules from the registry).
void RenderSarif(const Diagnostics& diags, const SourceManager& sm, std::ostream& out);

/// The long explanation of one code (section of docs/diagnostics.md); empty when none.
std::string_view Explanation(DiagCode code);

}  // namespace trix
