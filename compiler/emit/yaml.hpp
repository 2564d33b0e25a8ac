// A small deterministic YAML writer for what `trixc emit` produces.
//
// Input is an nlohmann::ordered_json value, so keys come out in the order the
// emitter inserted them (stable output: the same plan gives the same bytes).
// Output is block-style YAML 1.2 that YAML 1.1 readers read the same way:
// a string is written plain only when it cannot be read as anything else
// (not a number, bool, null, `yes`/`on`, not starting with an indicator);
// otherwise it is double-quoted with JSON escapes. Multi-line strings
// (scripts) become literal blocks (`|`). No anchors, tags or flow style,
// except `[]` and `{}` for empty collections.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace trix::emit {

using ojson = nlohmann::ordered_json;

/// One YAML document (no leading `---`), ending with a newline.
std::string ToYaml(const ojson& doc);

/// A scalar as YAML would print it (plain or double-quoted), for tests.
std::string YamlScalar(const std::string& s);

}  // namespace trix::emit
