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
/// `a`, `a` or `b`, `a`, `b` or `c` (each in backticks).
std::string OrList(const std::vector<std::string>& parts);

}  // namespace trix
