// Parsing: source text to ast::Module.
#pragma once

#include "compiler/ast/ast.hpp"
#include "compiler/diag/diagnostics.hpp"

namespace trix {

/// Deepest nesting of expressions and step blocks the parser accepts. Deeper
/// input is rejected with E102 rather than risking the stack (each level of
/// a recursive-descent PEG costs a dozen frames).
inline constexpr std::size_t kMaxNesting = 128;

/// Parses one file. Reports E101 (syntax) or E102 (unreadable input) and
/// returns false on the first error; `out` then holds the declarations that
/// parsed before it. Never throws on bad input.
bool ParseModule(const SourceFile& src, FileId id, ast::Module* out, Diagnostics& diags);

/// "expected a declaration (`runbook`, `import`, ...)": the E101 message
/// where a declaration must come.
std::string_view ExpectedDeclaration();

/// Runs PEGTL's grammar analysis (infinite loops without progress); returns the issue count.
std::size_t AnalyzeGrammar();

}  // namespace trix
