// Running shell commands: `/bin/sh -c CMD` in its own process group.
//
// Invariants: a child never outlives RunProcess() — on timeout, cancellation
// or any return path the whole process group gets SIGTERM, then SIGKILL after
// a grace period, and is reaped. Output is streamed line by line to the sink
// (the sink adds the step's prefix) as it arrives, and also captured (capped)
// for `expect`. Secrets reach the child only through `env`, never argv.
//
// Choices worth knowing:
// - When the direct child (the shell) exits, whatever is left in its process
//   group is a leftover (`sleep 100 &`): it gets SIGTERM at once. Leftovers
//   still holding stdout/stderr get the grace period to exit, then SIGKILL;
//   leftovers that already let go of the pipes get SIGKILL right away, since
//   nothing cheap tells us whether they are still alive. A step that wants a
//   daemon must start it through something that outlives the step (systemd,
//   a container), not `&`.
// - After SIGKILL, output is read for at most 0.5 s more: a process that left
//   the group (setsid) can hold the pipes open forever and must not hang us.
// - The shell is started with vfork (no copy of the runtime's page tables)
//   and is itself the leader of the step's process group.
// - If the runtime itself dies, even by SIGKILL, every step's whole process
//   group is killed: one watchdog process per runtime process (forked on the
//   first RunProcess(), in its own process group, ignoring SIGINT, SIGTERM,
//   SIGHUP and SIGQUIT) holds the registration of every live group and
//   SIGKILLs them when its socket to the runtime reaches EOF. Each shell
//   registers itself before it execs; a group is deregistered before its
//   leader is reaped, so a reused pid is never signalled. A watchdog that
//   was killed is replaced on the next RunProcess() and told the live
//   groups. On a normal stop the runtime kills its steps itself
//   (KillAllChildren() from its SIGINT/SIGTERM path).
// - Output lines longer than 64 KiB are delivered to the sink in 64 KiB
//   pieces, so a step printing binary data cannot grow memory without bound.
// - The runtime must not set SIGCHLD to SIG_IGN (children would be reaped
//   by the kernel and their exit status lost).
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "compiler/util/text.hpp"

namespace trix::rt {

struct ProcessSpec {
  std::string command;                                     // passed to /bin/sh -c
  std::string dir;                                         // working directory; empty = inherit
  std::vector<std::pair<std::string, std::string>> env;    // added to (or overriding) the inherited environment
  double timeout_s = 0;                                    // 0 = no timeout
  double kill_grace_s = 2;                                 // SIGTERM -> SIGKILL delay
  std::size_t capture_limit = 1 << 20;                     // bytes kept per stream for expect (stdout/stderr)
};

struct ProcessResult {
  int exit_code = -1;      // exit status; 128+signal when killed by a signal
  bool timed_out = false;
  bool cancelled = false;  // stopped because `cancel` became true
  bool spawn_failed = false;
  std::string error;       // why spawning failed
  std::string out;         // captured stdout (capped)
  std::string err;         // captured stderr (capped)
  double seconds = 0;
};

/// Receives output lines as they arrive: (is_stderr, line without newline).
using LineSink = std::function<void(bool is_stderr, const std::string& line)>;

/// Runs one command to completion. `cancel` (may be null) is polled at least
/// every 50 ms; when it becomes true the group is terminated as on timeout.
ProcessResult RunProcess(const ProcessSpec& spec, const LineSink& sink, const std::atomic<bool>* cancel = nullptr);

/// Sends SIGKILL to every process group RunProcess() has started and not yet
/// reaped; the RunProcess() calls then return as if the step was killed
/// (exit_code 137). For the runtime's SIGINT/SIGTERM path: call it from a
/// normal thread after the signal handler set a flag — it locks a mutex, so
/// it is not async-signal-safe. For a graceful stop, set `cancel` instead.
void KillAllChildren();

/// The watchdog's pid, or -1 before the first RunProcess(). For tests.
int StepWatchdogPid();

/// Shell quoting lives with the other text helpers (compiler/util/text.hpp);
/// the runtime renders plan text with it.
using trix::ShellQuote;

}  // namespace trix::rt
