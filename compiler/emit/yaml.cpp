// Deterministic YAML writer; see yaml.hpp for the quoting rules.
#include "compiler/emit/yaml.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace trix::emit {
namespace {

bool LooksSpecial(const std::string& s) {
  // Words YAML 1.1 or 1.2 read as bool or null, in any case.
  static const std::array<const char*, 22> words = {"true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
                                                    "True", "False", "Yes", "No", "On", "Off", "Y", "N", "Null",
                                                    "TRUE", "FALSE", "NULL"};
  for (const char* w : words) {
    if (s == w) return true;
  }
  std::string low = s;
  std::transform(low.begin(), low.end(), low.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (low == "yes" || low == "no" || low == "on" || low == "off" || low == "true" || low == "false" || low == "null") return true;
  // Anything a reader could take for a number (ints, floats, hex, octal, sexagesimal, .inf).
  bool digits_only_punct = !s.empty();
  for (char c : s) {
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '+' || c == '_' || c == ':' || c == 'e' ||
          c == 'E' || c == 'x' || c == 'o' || c == 'b'))
      digits_only_punct = false;
  }
  if (digits_only_punct && std::any_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
    return true;
  if (low.size() > 2 && low[0] == '0' && (low[1] == 'x' || low[1] == 'o' || low[1] == 'b')) return true;
  if (low == ".inf" || low == "-.inf" || low == "+.inf" || low == ".nan") return true;
  return false;
}

bool CanBePlain(const std::string& s) {
  if (s.empty() || LooksSpecial(s)) return false;
  // Indicators that may not start a plain scalar.
  static const std::string first_bad = "-?:,[]{}#&*!|>'\"%@` \t";
  if (first_bad.find(s.front()) != std::string::npos) {
    // `-x`, `?x`, `:x` are allowed by YAML when followed by a safe char, but quoting is simpler.
    return false;
  }
  if (s.back() == ' ' || s.back() == ':') return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    if (c == '#' && i > 0 && s[i - 1] == ' ') return false;
    if (c == ':' && i + 1 < s.size() && s[i + 1] == ' ') return false;
    if (c == '$' && i + 2 < s.size() && s[i + 1] == '{' && s[i + 2] == '{') continue;  // GitHub expressions read fine plain
  }
  // Flow indicators are harmless in block context, but `{` or `[` inside confuse some readers; quote them.
  if (s.find_first_of("{}[],") != std::string::npos && s.find("${{") == std::string::npos) return false;
  return true;
}

std::string Quoted(const std::string& s) {
  // JSON string escapes are valid YAML double-quoted escapes.
  return ojson(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool BlockOk(const std::string& s) {
  if (s.find('\n') == std::string::npos) return false;
  if (s.front() == ' ' || s.front() == '\n') return false;
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
  }
  // Trailing spaces on a line survive in a literal block, but a line of only
  // spaces before the end is read as part of the chomping; keep it simple.
  return s.find(" \n") == std::string::npos;
}

void Scalar(const ojson& v, std::string& out, int indent) {
  switch (v.type()) {
    case ojson::value_t::null: out += "null"; break;
    case ojson::value_t::boolean: out += v.get<bool>() ? "true" : "false"; break;
    case ojson::value_t::number_integer:
    case ojson::value_t::number_unsigned:
    case ojson::value_t::number_float: out += v.dump(); break;
    case ojson::value_t::string: {
      const std::string& s = v.get_ref<const std::string&>();
      if (BlockOk(s)) {
        std::size_t trailing = 0;
        while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
        out += trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+";
        const std::string pad(static_cast<std::size_t>(indent), ' ');
        std::size_t pos = 0;
        const std::string body = trailing ? s.substr(0, s.size() - trailing) : s;
        while (pos <= body.size()) {
          std::size_t nl = body.find('\n', pos);
          std::string line = body.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
          out += "\n";
          if (!line.empty()) out += pad + line;
          if (nl == std::string::npos) break;
          pos = nl + 1;
        }
        for (std::size_t i = 1; i < trailing; ++i) out += "\n";
      } else {
        out += CanBePlain(s) ? s : Quoted(s);
      }
      break;
    }
    default: out += v.dump(); break;
  }
}

std::string Key(const std::string& k) { return CanBePlain(k) ? k : Quoted(k); }

bool IsEmptyCollection(const ojson& v) { return (v.is_object() || v.is_array()) && v.empty(); }

void Node(const ojson& v, std::string& out, int indent);

// Writes `v` after "key:" or "- " has been written.
void Value(const ojson& v, std::string& out, int indent, bool in_seq) {
  if (v.is_object() && !v.empty()) {
    if (in_seq) {
      // First key on the dash line, the rest aligned under it.
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (!first) out += std::string(static_cast<std::size_t>(indent), ' ');
        first = false;
        out += Key(it.key()) + ":";
        Value(it.value(), out, indent + 2, false);
      }
      return;
    }
    out += "\n";
    Node(v, out, indent);
    return;
  }
  if (v.is_array() && !v.empty()) {
    out += "\n";
    // Sequences under a mapping key are indented like their key's children.
    Node(v, out, indent);
    return;
  }
  if (!in_seq) out += " ";
  if (IsEmptyCollection(v)) out += v.is_object() ? "{}" : "[]";
  else Scalar(v, out, indent);
  out += "\n";
}

void Node(const ojson& v, std::string& out, int indent) {
  const std::string pad(static_cast<std::size_t>(indent), ' ');
  if (v.is_object()) {
    for (auto it = v.begin(); it != v.end(); ++it) {
      out += pad + Key(it.key()) + ":";
      Value(it.value(), out, indent + 2, false);
    }
  } else if (v.is_array()) {
    for (const auto& x : v) {
      out += pad + "- ";
      if (x.is_array() && !x.empty()) {
        // A sequence inside a sequence (Argo steps groups): start on the next line.
        out.pop_back();
        out += "\n";
        Node(x, out, indent + 2);
        continue;
      }
      Value(x, out, indent + 2, true);
    }
  } else {
    Scalar(v, out, indent);
    out += "\n";
  }
}

}  // namespace

std::string YamlScalar(const std::string& s) {
  std::string out;
  Scalar(ojson(s), out, 0);
  return out;
}

std::string ToYaml(const ojson& doc) {
  std::string out;
  Node(doc, out, 0);
  return out;
}

}  // namespace trix::emit
