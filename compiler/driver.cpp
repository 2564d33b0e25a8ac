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
  // A regular file is read in one go into a string of its size (one copy
  // instead of two through a stringstream); a pipe or a device, which
  // cannot seek, through a stream.
  std::streamoff size = -1;
  if (in.seekg(0, std::ios::end)) size = in.tellg();
  in.clear();
  if (size > 0 && in.seekg(0)) {
    out->resize(static_cast<std::size_t>(size));
    in.read(out->data(), size);
    if (in.gcount() == size && in.peek() == std::ifstream::traits_type::eof()) return true;
    if (in.bad()) {
      *error = "read error";
      return false;
    }
    // The file changed size while being read: read it again as a stream.
    in.clear();
    in.seekg(0);
  } else {
    in.clear();
    in.seekg(0);
    in.clear();  // a pipe cannot seek: read it from where it is (the start)
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
