// `trixc lsp`: a Language Server Protocol 3.17 server over stdio.
//
// Invariants: single-threaded; one request is answered before the next is
// read. Documents are kept in full (text sync "full"; ranged changes are
// applied too) and re-analysed on every open and change, after which their
// diagnostics are published. The language questions are answered by
// queries.hpp; this layer only converts between LSP and compiler terms.
#pragma once

#include <iosfwd>

namespace trix::lsp {

/// Serves until `exit`; returns 0 when `shutdown` came first, else 1 (LSP's rule).
int RunServer(std::istream& in, std::ostream& out);

}  // namespace trix::lsp
