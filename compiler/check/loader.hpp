// Loading a runbook and everything it imports.
//
// Invariants: modules[0] is the entry file; every other module is reachable
// from it through imports and appears once, keyed by its canonical name
// ("std/k8s" for the stdlib, an absolute lexically-normal path otherwise).
// An import edge whose target could not be loaded has module == -1 (E203 was
// reported); a cycle is reported as E204 and its closing edge is cut.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compiler/ast/ast.hpp"
#include "compiler/diag/diagnostics.hpp"

namespace trix {

struct ImportEdge {
  const ast::Decl* decl = nullptr;  // the `import` declaration
  std::string binding;              // `as` name, or the file's stem
  int module = -1;                  // index into LoadResult::modules
};

struct LoadedModule {
  FileId file = 0;
  std::string key;
  bool stdlib = false;
  bool parsed = false;  // false when the file had a syntax error
  ast::Module ast;
  std::vector<ImportEdge> imports;
};

struct LoadResult {
  std::vector<std::unique_ptr<LoadedModule>> modules;
  bool parse_failed = false;
};

/// Parses `text` (read from `path`) and, recursively, its imports.
LoadResult Load(SourceManager& sm, const std::string& path, std::string text, Diagnostics& diags);

/// The names of the embedded stdlib modules ("std/k8s", ...).
std::vector<std::string> StdlibNames();

}  // namespace trix
