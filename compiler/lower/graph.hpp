// The plan as a picture: Graphviz DOT for `trixc graph`.
//
// Invariants: built only from a lowered plan (trix-plan/1), so the picture
// shows what a run would do for that environment and those parameters
// (guards folded, actions inlined). The output is deterministic: node names
// are the plan's instruction ids, items appear in plan order, nothing depends
// on pointers, time or the machine.
#pragma once

#include <string>

#include "compiler/lower/plan.hpp"

namespace trix::plan {

/// DOT of the plan: gates (clusters of their checks), approvals with roles and
/// people, stages with their steps, strategy steps, verify, undo edges (dotted)
/// and the edges to rollback when a stage or verify fails (dashed).
std::string ToDot(const Plan& plan);

}  // namespace trix::plan
