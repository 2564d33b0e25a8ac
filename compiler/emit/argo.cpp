#include "compiler/emit/common.hpp"
namespace trix::emit {
bool EmitArgo(const sema::Program&, const SourceManager&, const Options&, Diagnostics&, std::vector<File>*, std::string* error) {
  *error = "not yet";
  return false;
}
}  // namespace trix::emit
