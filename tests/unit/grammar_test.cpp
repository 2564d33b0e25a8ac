// Runs PEGTL's static grammar analysis as a test: it finds rules that can
// loop forever without consuming input (e.g. `star<opt<x>>`), which would
// otherwise show up only as a hang on some input.
#include "grammar/parse.hpp"

#include <catch2/catch.hpp>

TEST_CASE("grammar has no rules that can loop without progress", "[grammar]") {
  // AnalyzeGrammar prints each issue it finds to stderr and returns the count.
  REQUIRE(trix::AnalyzeGrammar() == 0);
}
