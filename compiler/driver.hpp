// The front end as one call: load (parse + imports), then check.
#pragma once

#include <optional>
#include <string>

#include "compiler/check/sema.hpp"

namespace trix {

/// Parses `text` (read from `path`; "-" for stdin) and its imports, then
/// checks the program unless a file failed to parse. Diagnostics are sorted.
std::optional<sema::Program> CompileSource(SourceManager& sm, const std::string& path, std::string text, Diagnostics& diags);

/// Reads a file; false (with `error` set) when it cannot be read.
bool ReadFile(const std::string& path, std::string* out, std::string* error);

}  // namespace trix
