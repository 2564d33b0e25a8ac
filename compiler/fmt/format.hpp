// `trixc fmt`: canonical text of a module.
//
// Invariant: Format(parse(Format(x))) == Format(x) (idempotent), comments are
// all kept (each leading comment before the item it preceded, trailing ones
// on the line they ended), string literals are reproduced byte for byte.
#pragma once

#include <string>

#include "compiler/ast/ast.hpp"

namespace trix {

std::string Format(const ast::Module& module, const SourceFile& src);

}  // namespace trix
