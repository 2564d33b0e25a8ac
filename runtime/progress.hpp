// How a run shows its progress: plain timestamped lines, or a live view on a
// terminal (a status line at the bottom, redrawn in place, with output lines
// printed above it).
//
// Invariants: every line given to Line() is printed exactly once, whole, in
// order, and the status line never mixes into it; the plain view prints
// nothing but those lines (no escape codes), so logs and tests can parse it.
// The interface is what the Runner tells the view; a view may ignore any of
// it. Callers may call from several threads (parallel steps).
#pragma once

#include <memory>
#include <string>

namespace trix::rt {

class ProgressView {
 public:
  virtual ~ProgressView() = default;
  /// A stage (or the rollback, or a gate) begins; shown until the next one.
  virtual void StageStarted(const std::string& name) = 0;
  /// A step begins (or, with the same key, its description changes).
  /// `key` is unique among running steps (the instruction id).
  virtual void StepStarted(const std::string& key, const std::string& what) = 0;
  virtual void StepFinished(const std::string& key, bool ok) = 0;
  /// One finished output line (already formatted, without the newline).
  virtual void Line(const std::string& text) = 0;
  /// A question to the person at the terminal: shown as the last line (the
  /// live view stops redrawing until EndPrompt, so typing is not disturbed).
  virtual void Prompt(const std::string& text) = 0;
  virtual void EndPrompt() = 0;
  /// The run is over: the live view clears its status line and stops its thread.
  virtual void Close() = 0;
};

struct ProgressOptions {
  bool live = false;   // redraw a status line in place (stdout is a terminal, TERM is not dumb)
  bool color = false;  // ANSI colour in the status line (live, and NO_COLOR unset or empty)
};

/// What the environment allows: live when stdout is a terminal and TERM is
/// not `dumb` (and `json_output` is false); colour when live and NO_COLOR is
/// unset or empty.
ProgressOptions DetectProgressOptions(bool json_output);

/// A view writing to stdout.
std::unique_ptr<ProgressView> MakeProgressView(const ProgressOptions& options);

}  // namespace trix::rt
