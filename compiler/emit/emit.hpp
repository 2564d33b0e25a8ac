// Emitters: the checked program and its lowered plans -> files for other
// systems (`trixc emit github|argo|prometheus`).
//
// Invariants: an emitter reads plans (lowered with parameters left open, one
// per environment the pipeline may target) and, where a plan does not carry
// it, the checked program's declarations (parameter types, alerts, gitops,
// roles). Output is deterministic: the same input gives the same bytes.
// What a backend cannot express is reported as an E6xx error naming the
// construct and the backend, never silently weakened; with
// `allow_degraded` those errors are warnings and the weaker form is written.
#pragma once

#include <string>
#include <vector>

#include "compiler/check/sema.hpp"
#include "compiler/diag/diagnostics.hpp"

namespace trix::emit {

struct Options {
  std::string pipeline;         // one pipeline, or all when empty
  bool allow_degraded = false;  // E6xx become warnings
  std::string image;            // Argo: container image (overrides the pipeline's `image`)
};

/// A file to write, its name relative to the output folder.
struct File {
  std::string name;
  std::string text;
};

/// Each returns false on a usage error (`error` says why: no such pipeline,
/// ...); E6xx go to `diags` (the caller fails when any is an error).
bool EmitGithub(const sema::Program& program, const SourceManager& sm, const Options& opt, Diagnostics& diags, std::vector<File>* out,
                std::string* error);
bool EmitArgo(const sema::Program& program, const SourceManager& sm, const Options& opt, Diagnostics& diags, std::vector<File>* out,
              std::string* error);
/// One file: the rule groups.
bool EmitPrometheus(const sema::Program& program, const SourceManager& sm, const Options& opt, Diagnostics& diags, std::vector<File>* out,
                    std::string* error);

/// One file: a Grafana dashboard (JSON).
bool EmitGrafana(const sema::Program& program, const SourceManager& sm, const Options& opt, Diagnostics& diags, std::vector<File>* out,
                 std::string* error);

}  // namespace trix::emit
