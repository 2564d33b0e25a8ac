// libFuzzer target: the whole front end (parse, imports, check) on arbitrary
// bytes, then the text renderer over whatever it reported. Any crash, hang,
// sanitizer report or exception escaping here is a bug: the front end
// promises to turn every input into diagnostics.
//
// Build: CC=clang CXX=clang++ cmake -S . -B build-fuzz -DTRIX_FUZZ=ON -DTRIX_TESTS=OFF
// Run:   build-fuzz/trix_fuzz CORPUS_DIR -max_total_time=60
// (tools/test.sh does this, seeded from examples/ and tests/golden/).
#include <cstddef>
#include <cstdint>
#include <sstream>
#include <string>

#include "compiler/diag/render.hpp"
#include "compiler/driver.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  trix::SourceManager sm;
  trix::Diagnostics diags;
  trix::CompileSource(sm, "fuzz.trix", std::string(reinterpret_cast<const char*>(data), size), diags);
  diags.Sort();
  std::ostringstream out;
  trix::RenderText(diags, sm, out);
  return 0;
}
