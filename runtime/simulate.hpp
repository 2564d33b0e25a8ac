// `trixc simulate`: the path a run would take with chosen items failing.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>

namespace trix::rt {

/// Walks `plan` with every item named in `fail` failing (a step label, a check
/// label, a confirm text, an approval, a baseline, a stage, an action or an
/// analysis name, or an instruction id). Prints the path and returns the exit
/// code the run would have (0, 10, 11 or 12). Executes nothing. `drill`:
/// as `trixc run --drill`, the rollback path is taken after the last stage.
int Simulate(const nlohmann::json& plan, const std::set<std::string>& fail, std::ostream& out, bool drill = false);

}  // namespace trix::rt
