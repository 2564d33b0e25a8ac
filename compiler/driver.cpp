// The front-end driver shared by `trixc check`, the fuzzer and the tests.
#include "compiler/driver.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

namespace trix {

std::optional<sema::Program> CompileSource(SourceManager& sm, const std::string& path, std::string text, Diagnostics& diags) {
  LoadResult load = Load(sm, path, std::move(text), diags);
  if (load.parse_failed) {
    diags.Sort();
    return std::nullopt;
  }
  sema::Program p = sema::Check(std::move(load), sm, diags);
  diags.Sort();
  return p;
}

bool ReadFile(const std::string& path, std::string* out, std::string* error) {
  if (path == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    *out = ss.str();
    return true;
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = std::strerror(errno);
    return false;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) {
    *error = "read error";
    return false;
  }
  *out = ss.str();
  return true;
}

}  // namespace trix
