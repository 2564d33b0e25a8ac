// Front-end unit tests: the embedded stdlib goes through the normal front
// end, the formatter is idempotent and keeps comments, and the E401 path
// analysis decides guards the way the spec says.
#include <catch2/catch.hpp>

#include <map>

#include "compiler/check/loader.hpp"
#include "compiler/check/sema.hpp"
#include "compiler/driver.hpp"
#include "compiler/fmt/format.hpp"
#include "compiler/util/plan_text.hpp"
#include "grammar/parse.hpp"

namespace trix::embedded {
const std::vector<std::pair<std::string_view, std::string_view>>& StdlibModules();
}

namespace {

using namespace trix;

std::vector<std::string> Codes(const std::string& text) {
  SourceManager sm;
  Diagnostics d;
  CompileSource(sm, "test.trix", text, d);
  std::vector<std::string> out;
  for (const auto& x : d.all()) out.emplace_back(Info(x.code).code);
  return out;
}

bool Has(const std::vector<std::string>& codes, const std::string& c) {
  return std::find(codes.begin(), codes.end(), c) != codes.end();
}

std::string Fmt(const std::string& text) {
  SourceManager sm;
  Diagnostics d;
  FileId id = sm.Add("f.trix", text);
  ast::Module m;
  REQUIRE(ParseModule(sm.Get(id), id, &m, d));
  return Format(m, sm.Get(id));
}

const char* kEnvs = R"(
role ops = ["alice", "bob"]
approval release { require ops }
approval other { require ops }
environment staging { protected = false }
environment production { protected = true  approvals = [release] }
)";

}  // namespace

TEST_CASE("every stdlib module checks without errors and formats idempotently") {
  REQUIRE(embedded::StdlibModules().size() >= 5);
  for (const auto& [name, text] : embedded::StdlibModules()) {
    INFO(name);
    SourceManager sm;
    Diagnostics d;
    CompileSource(sm, std::string(name) + ".trix", std::string(text), d);
    CHECK(d.ErrorCount() == 0);
    std::string once = Fmt(std::string(text));
    CHECK(Fmt(once) == once);
  }
}

TEST_CASE("E401: an approve guarded by env.protected covers the protected environment") {
  auto codes = Codes(std::string(kEnvs) + R"(
pipeline p {
  approve release when env.protected
  stage s { run "deploy" undo { run "undeploy" } }
})");
  CHECK_FALSE(Has(codes, "E401"));
}

TEST_CASE("E401: a mutation before the approve is reported") {
  auto codes = Codes(std::string(kEnvs) + R"(
pipeline p {
  stage s { run "deploy" undo { run "undeploy" } }
  approve release
})");
  CHECK(Has(codes, "E401"));
}

TEST_CASE("E401: an approval the environment does not accept does not count") {
  auto codes = Codes(std::string(kEnvs) + R"(
pipeline p {
  approve other
  approve release when env.name == "staging"
  stage s { run "deploy" undo { run "undeploy" } }
})");
  CHECK(Has(codes, "E401"));
}

TEST_CASE("E401: a guard that cannot be decided is conservative") {
  auto codes = Codes(std::string(kEnvs) + R"(
param go: bool
pipeline p {
  approve release when go
  stage s { run "deploy" undo { run "undeploy" } }
})");
  CHECK(Has(codes, "E401"));
}

TEST_CASE("E401: a parameter default decides a guard") {
  auto codes = Codes(std::string(kEnvs) + R"(
param go: bool = true
pipeline p {
  approve release when go
  stage s { run "deploy" undo { run "undeploy" } }
})");
  CHECK_FALSE(Has(codes, "E401"));
}

TEST_CASE("E401: a mutation guarded off for the protected environment is not reached") {
  auto codes = Codes(std::string(kEnvs) + R"(
pipeline p {
  stage s { run "seed test data" when not env.protected undo { run "x" } }
  approve release
  stage t { run "deploy" undo { run "undeploy" } }
})");
  CHECK_FALSE(Has(codes, "E401"));
}

TEST_CASE("E401: read-only steps before the approve are fine") {
  auto codes = Codes(std::string(kEnvs) + R"(
pipeline p {
  stage s { wait 1s  http GET "http://127.0.0.1/" notify "starting" }
  approve release
  stage t { run "deploy" undo { run "undeploy" } }
})");
  CHECK_FALSE(Has(codes, "E401"));
}

TEST_CASE("fmt keeps every comment and is idempotent") {
  const std::string src = "# head\n\nparam a: int = 1 # tail\n# before env\nenvironment e {\n  # inside\n  x = 1\n  # at end\n}\n";
  std::string once = Fmt(src);
  CHECK(Fmt(once) == once);
  for (const char* c : {"# head", "# tail", "# before env", "# inside", "# at end"}) CHECK(once.find(c) != std::string::npos);
}

TEST_CASE("fmt puts back parentheses the AST needs") {
  std::string out = Fmt("param b: bool = (1 + 2) * 3 > 4 and not (true or false)\n");
  CHECK(out == "param b: bool = (1 + 2) * 3 > 4 and not (true or false)\n");
  CHECK(Fmt("param c: int = 1 - (2 - 3)\n") == "param c: int = 1 - (2 - 3)\n");
}

TEST_CASE("DeclTable orders and finds names as a std::map would, and reports repeats") {
  // Names sharing their first 16 bytes, shorter and longer than 16, and repeats.
  const std::vector<std::string> names = {"production_eu_west_1", "production_eu_west_10", "production_eu_wes", "a",
                                          "production_eu_west", "ab", "production_eu_west_1", "production_eu_we",
                                          "b", "production_eu_west_2", "a"};
  std::vector<ast::Decl> decls(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) decls[i].name.name = names[i];
  sema::DeclTable table;
  for (const auto& d : decls) table.Add(&d);
  const auto again = table.Seal();

  std::map<std::string, const ast::Decl*> expected;
  std::vector<std::pair<const ast::Decl*, const ast::Decl*>> expected_again;
  for (const auto& d : decls) {
    auto [it, added] = expected.emplace(d.name.name, &d);
    if (!added) expected_again.emplace_back(&d, it->second);
  }
  REQUIRE(table.size() == expected.size());
  auto it = table.begin();
  for (const auto& [name, d] : expected) {
    CHECK(it->first == name);
    CHECK(it->second == d);
    CHECK(table.find(name) == it);
    CHECK(table.at(name) == d);
    ++it;
  }
  CHECK(again.size() == expected_again.size());
  for (const auto& pair : expected_again) CHECK(std::find(again.begin(), again.end(), pair) != again.end());
  for (const char* missing : {"", "production_eu_west_", "production_eu_west_3", "c", "production_eu_w"}) {
    CHECK(table.find(missing) == table.end());
    CHECK(table.count(missing) == 0);
  }
  CHECK_THROWS_AS(table.at("zzz"), std::out_of_range);
}

// `source` formats as `expected`, and formatting that again changes nothing.
static void CheckFormatsAs(const std::string& source, const std::string& expected) {
  CAPTURE(source);
  const std::string once = Fmt(source);
  CHECK(once == expected);
  CHECK(Fmt(once) == once);
}

TEST_CASE("fmt puts a trailing comment after the last item of its line, and keeps it out of an undo block") {
  CheckFormatsAs("environment staging { namespace = \"s\" api = \"http://a\" # c1\n}\n",
                 "environment staging {\n  namespace = \"s\"\n  api       = \"http://a\"  # c1\n}\n");
  CheckFormatsAs("action f() {\n  run \"a\"  # note on a\n  undo { run \"u\" }\n}\n",
                 "action f() {\n  run \"a\"  # note on a\n  undo {\n    run \"u\"\n  }\n}\n");
}

TEST_CASE("fmt keeps comments inside lists, maps, arguments and parameters where they were") {
  // A list with comments stays one item per line (with trailing commas);
  // nothing is moved out of it and no blank line is added.
  CheckFormatsAs("param a: [string] = [\n  \"x\",\n  # own line\n  \"y\"\n]\nparam b: int = 1\n",
                 "param a: [string] = [\n  \"x\",\n  # own line\n  \"y\",\n]\nparam b: int = 1\n");
  CheckFormatsAs("role r = [   # after open\n  \"alice\",   # after item\n  \"bob\"\n]            # after close\n",
                 "role r = [  # after open\n  \"alice\",  # after item\n  \"bob\",\n]  # after close\n");
  CheckFormatsAs("action f(a: string, # in params\n         b: int = 1) {\n  run \"x ${a}\"\n}\n"
                 "pipeline p {\n  stage s {\n    f(\"1\", # in args\n      2)\n    run \"y\" { env = { A = \"1\" # in map\n    } }\n  }\n}\n",
                 "action f(\n  a: string,  # in params\n  b: int = 1,\n) {\n  run \"x ${a}\"\n}\n"
                 "pipeline p {\n  stage s {\n    f(\n      \"1\",  # in args\n      2,\n    )\n"
                 "    run \"y\" {\n      env = {\n        A = \"1\",  # in map\n      },\n    }\n  }\n}\n");
  // Nested: the inner list is indented one more level.
  CheckFormatsAs("param m: [[int]] = [[1, # one\n 2], [3]]\n", "param m: [[int]] = [\n  [\n    1,  # one\n    2,\n  ],\n  [3],\n]\n");
  // An option block with a comment: one option per line, the comment kept on its line.
  CheckFormatsAs("pipeline p {\n  stage s {\n    run \"x\" {\n      timeout = 5m  # why\n      retries = 2\n    }\n    run \"y\"\n  }\n}\n",
                 "pipeline p {\n  stage s {\n    run \"x\" {\n      timeout = 5m,  # why\n      retries = 2,\n    }\n    run \"y\"\n  }\n}\n");

  // Without comments a multi-line list still collapses onto one line.
  CHECK(Fmt("param a: [string] = [\n  \"x\",\n  \"y\"\n]\n") == "param a: [string] = [\"x\", \"y\"]\n");
}

TEST_CASE("plan expressions print in their source form (trixc plan, dry-run previews)") {
  using nlohmann::json;
  CHECK(trix::PlanExprText(json{{"step", "build"}, {"field", "stdout"}}) == "steps.build.stdout");
  CHECK(trix::PlanExprText(json{{"member", "region"}, {"of", json{{"name", "target"}}}}) == "target.region");
  CHECK(trix::PlanExprText(json{{"op", "=="}, {"a", json{{"name", "x"}}}, {"b", json{{"lit", "a"}}}}) == "(x == \"a\")");
  CHECK(trix::PlanExprText(json{{"op", "not"}, {"a", json{{"lit", true}}}}) == "not true");
  CHECK(trix::PlanExprText(json{{"concat", json::array({json{{"lit", "v"}}, json{{"name", "tag"}}})}}) == "\"v${tag}\"");
  CHECK(trix::PlanExprText(json{{"secret", "pg"}}) == "secret pg");
  CHECK(trix::PlanLiteralText(json(3)) == "3");
}
