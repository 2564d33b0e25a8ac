// Small text helpers shared by the checker and the renderers.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trix {

/// Edit distance (insert, delete, substitute, adjacent transpose).
std::size_t EditDistance(std::string_view a, std::string_view b);
/// The candidate closest to `name` when it is close enough to be a likely typo.
std::optional<std::string> ClosestName(std::string_view name, const std::vector<std::string>& candidates);
std::string Join(const std::vector<std::string>& parts, std::string_view sep);
/// Shell-quotes one word for /bin/sh (§6): unchanged when it is a plain word
/// ([A-Za-z0-9_@%+=:,./-]+), else in single quotes with ' written as '\''.
/// The empty string becomes ''.
std::string ShellQuote(const std::string& word);

/// `a`, `a` or `b`, `a`, `b` or `c` (each in backticks).
std::string OrList(const std::vector<std::string>& parts);

}  // namespace trix
