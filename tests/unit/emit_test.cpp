// The emitters' YAML writer: strings that a YAML reader could take for
// something else are quoted, scripts become literal blocks, key order is kept.
#include <catch2/catch.hpp>

#include "compiler/emit/yaml.hpp"

using trix::emit::ojson;
using trix::emit::ToYaml;
using trix::emit::YamlScalar;

TEST_CASE("yaml: plain strings stay plain, ambiguous ones are quoted") {
  CHECK(YamlScalar("main") == "main");
  CHECK(YamlScalar("actions/checkout@v4") == "actions/checkout@v4");
  CHECK(YamlScalar("${{ inputs.tag }}") == "${{ inputs.tag }}");
  for (const char* s : {"on", "off", "yes", "No", "true", "FALSE", "null", "~", "1.0", "42", "0x1f", "1e3", "12:30", ".inf"}) {
    INFO(s);
    CHECK(YamlScalar(s).front() == '"');
  }
  for (const char* s : {"- item", "*alias", "&anchor", "!tag", "a: b", "x #comment", "{a}", "[a]", "'q'", "\"q\"", "%x", "@x", "`x`", "", " lead",
                        "trail ", "ends:"}) {
    INFO(s);
    CHECK(YamlScalar(s).front() == '"');
  }
  CHECK(YamlScalar("tab\there") == "\"tab\\there\"");
}

TEST_CASE("yaml: multi-line strings are literal blocks with the right chomping") {
  CHECK(ToYaml(ojson{{"run", "a\nb\n"}}) == "run: |\n  a\n  b\n");
  CHECK(ToYaml(ojson{{"run", "a\nb"}}) == "run: |-\n  a\n  b\n");
  CHECK(ToYaml(ojson{{"run", "a\n\nb\n"}}) == "run: |\n  a\n\n  b\n");
  // A leading space or a control character cannot be a block: quoted instead.
  CHECK(ToYaml(ojson{{"run", " a\nb"}}) == "run: \" a\\nb\"\n");
}

TEST_CASE("yaml: nesting, order, empty collections and nested sequences") {
  ojson doc;
  doc["z"] = 1;
  doc["a"] = ojson::array({ojson{{"name", "x"}, {"with", ojson{{"k", true}}}}, "s"});
  doc["e"] = ojson::object();
  doc["l"] = ojson::array();
  doc["steps"] = ojson::array({ojson::array({ojson{{"name", "a"}}, ojson{{"name", "b"}}})});
  CHECK(ToYaml(doc) ==
        "z: 1\n"
        "a:\n"
        "  - name: x\n"
        "    with:\n"
        "      k: true\n"
        "  - s\n"
        "e: {}\n"
        "l: []\n"
        "steps:\n"
        "  -\n"
        "    - name: a\n"
        "    - name: b\n");
}
