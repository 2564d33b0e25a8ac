// Placeholder replaced below.
#include "compiler/fmt/format.hpp"
namespace trix {
std::string Format(const ast::Module&, const SourceFile& src) { return src.text(); }
}
