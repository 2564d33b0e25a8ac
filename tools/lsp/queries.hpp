// Language queries for editors: what the language server asks about a
// document, in the compiler's own terms (byte offsets, SourceRanges, paths).
//
// Invariants: nothing here knows about LSP, JSON or UTF-16; the protocol
// layer (server.cpp) converts. An Analysis owns everything its ranges and
// pointers refer to (the SourceManager and the program's ASTs), so it can be
// kept and queried until the next edit replaces it. Queries never throw on
// bad input and work on a file that failed to parse (with the declarations
// that parsed before the error).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/check/sema.hpp"

namespace trix::lsp {

/// One document's compilation: diagnostics exactly as `trixc check` reports them.
struct Analysis {
  std::unique_ptr<SourceManager> sm;
  sema::Program program;  // not checked (empty scopes) when a file failed to parse
  Diagnostics diags;      // sorted
  FileId file = 0;        // the document itself

  const ast::Module& module() const { return program.load.modules.at(0)->ast; }
  const SourceFile& source() const { return sm->Get(file); }
};

/// Loads and checks `text` as the file at `path` (imports resolve from its folder).
Analysis Analyze(const std::string& path, std::string text);

/// A place in a file on disk. Stdlib modules are written to the cache (StdlibFile).
struct Location {
  std::string path;
  SourceRange range;  // in `path`'s text
};

/// The path on disk of a file of the analysis: its own path, or for a stdlib
/// module the cached copy written by StdlibFile.
std::string DiskPath(const Analysis& a, FileId file);

/// Writes (once, read-only) the embedded stdlib module `key` ("std/k8s") to
/// `$XDG_CACHE_HOME/trix/stdlib/<version>/std/k8s.trix` (default cache
/// `~/.cache`) and returns that path; empty when it cannot be written.
std::string StdlibFile(const std::string& key);

/// The declaration of the name at `offset`: a use resolves to its
/// declaration, an import path to the imported file, a declared name to itself.
std::optional<Location> Definition(const Analysis& a, std::uint32_t offset);

struct HoverText {
  std::string markdown;
  SourceRange range;  // the word hovered
};
/// The declaration's signature (as a `trix` code block) and its doc comment.
std::optional<HoverText> Hover(const Analysis& a, std::uint32_t offset);

enum class CompletionKind { Keyword, Declaration, Module, Property, Variable, Function, Value };
struct Completion {
  std::string label;
  CompletionKind kind = CompletionKind::Keyword;
  std::string detail;  // "action", "gate", "keyword", ...
};
/// Completions at `offset` of `text` (the document as it is now; it may not
/// parse). `a` gives the declared names (from the last analysis).
std::vector<Completion> Complete(const Analysis& a, const std::string& text, std::uint32_t offset);

enum class SymbolKind { Module, Namespace, Class, Method, Property, Field, Function, Variable, Constant, Struct, Event, Key, Interface, Object };
struct Symbol {
  std::string name;
  std::string detail;
  SymbolKind kind = SymbolKind::Variable;
  SourceRange range;      // the whole declaration
  SourceRange selection;  // its name
  std::vector<Symbol> children;
};
/// The document's declarations, with pipeline items, action parameters and block attributes as children.
std::vector<Symbol> Symbols(const Analysis& a);

/// `trixc fmt` of `text`; nullopt when it does not parse.
std::optional<std::string> FormatText(const std::string& path, const std::string& text);

}  // namespace trix::lsp
