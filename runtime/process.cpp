// Running shell commands with vfork/exec, one process group per command; see
// process.hpp for the guarantees and the choices behind them.
#include "runtime/process.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <csignal>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string_view>
#include <system_error>

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace trix::rt {
namespace {

// The cancel flag must be seen within 50 ms (process.hpp), so no wait in the
// loop below is longer than this.
constexpr double kPollInterval = 0.05;
// After SIGKILL every group member dies within milliseconds; a pipe still
// open after this long is held by a process outside the group (setsid).
constexpr double kDrainAfterKill = 0.5;
// Longest piece of a line handed to the sink, so memory stays bounded when
// a step prints megabytes without a newline.
constexpr std::size_t kMaxLine = 64 * 1024;
constexpr std::size_t kReadChunk = 64 * 1024;

// ---- registry of live process groups, for KillAllChildren() ---------------
//
// A pgid is registered under the mutex together with the vfork, so every
// child that exists is in the registry, and it is removed (here and in the
// watchdog) before the group leader is reaped: until then the leader (even
// as a zombie) keeps the pgid from being reused, so neither
// KillAllChildren() nor the watchdog can ever signal a stranger.
std::mutex g_registry_mutex;
std::set<pid_t> g_live_groups;

std::string ErrnoText(int err) { return std::system_category().message(err); }

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { Close(); }
  int get() const { return fd_; }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  void Reset(int fd) {
    Close();
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

// Moves `fd` to a number >= 3 (keeping close-on-exec), so the dup2() calls
// onto 0, 1 and 2 in the child cannot overwrite one another when the parent
// runs with a standard descriptor closed.
bool AboveStdio(Fd& fd) {
  if (fd.get() > 2) return true;
  int moved = ::fcntl(fd.get(), F_DUPFD_CLOEXEC, 3);
  if (moved < 0) return false;
  fd.Reset(moved);
  return true;
}

// A close-on-exec pipe: another thread's fork() may copy our descriptors,
// but its exec drops them again, so they cannot keep our pipes open.
bool MakePipe(Fd& read_end, Fd& write_end, std::string* error) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    *error = "cannot create a pipe: " + ErrnoText(errno);
    return false;
  }
  read_end.Reset(fds[0]);
  write_end.Reset(fds[1]);
  if (!AboveStdio(read_end) || !AboveStdio(write_end)) {
    *error = "cannot duplicate a pipe: " + ErrnoText(errno);
    return false;
  }
  return true;
}

bool HasNul(std::string_view s) { return s.find('\0') != std::string_view::npos; }

// ---- the watchdog: one per runtime process ---------------------------------
//
// A step's process group must die with the runtime, even when the runtime is
// killed with SIGKILL and cannot clean up. One small process per runtime
// process, forked on the first RunProcess(), takes care of that: every step
// shell registers its process group with it over a SOCK_SEQPACKET socket
// before it execs, the runtime deregisters the group before it reaps the
// leader, and when the socket reaches EOF (the runtime's end and every copy
// of it are close-on-exec, so that happens exactly when the runtime process
// is gone) the watchdog SIGKILLs every group still registered and exits.
//
// Why not PR_SET_PDEATHSIG: it fires when the *thread* that created the
// child ends, and `parallel {}` runs steps from worker threads that end
// while the run goes on. EOF on a descriptor belongs to the process.
struct WatchdogMessage {
  std::int32_t op;
  std::int32_t pgid;
};
constexpr std::int32_t kRegister = 1;
constexpr std::int32_t kDeregister = 2;

// Both under g_registry_mutex.
pid_t g_watchdog_pid = -1;
int g_watchdog_fd = -1;  // the runtime's end of the socket (close-on-exec)

// The watchdog's side of the fork. The runtime may have other threads (which
// may have held malloc's locks at the fork), so only system calls here, and
// memory straight from mmap.
[[noreturn]] void WatchdogMain(int sock) {
  // Its own process group: Ctrl-C (sent to the terminal's foreground group)
  // and `kill -- -PGID` of the runtime's group do not reach it. It ignores
  // the polite signals all the same; SIGKILL of the watchdog itself is the
  // one thing it cannot survive (the runtime then starts a new one, below).
  ::setpgid(0, 0);
  struct sigaction act;
  std::memset(&act, 0, sizeof act);
  for (int sig = 1; sig < NSIG; ++sig) {
    act.sa_handler = sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT || sig == SIGPIPE ? SIG_IGN : SIG_DFL;
    ::sigaction(sig, &act, nullptr);  // fails harmlessly for KILL/STOP and the real-time signals glibc reserves
  }
  sigset_t none;
  ::sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Hold nothing but the socket: not the terminal, not a caller's pipe
  // (someone may wait for its EOF), not a step's pipes, not the journal.
  if (sock != 0) {
    if (::dup2(sock, 0) < 0) ::_exit(1);
    sock = 0;
  }
  if (::close_range(1, ~0U, 0) != 0) {
    for (int fd = 1; fd < 65536; ++fd) ::close(fd);  // kernels before 5.9
  }
  std::size_t capacity = 1024, count = 0;
  auto* groups = static_cast<pid_t*>(::mmap(nullptr, capacity * sizeof(pid_t), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  if (groups == MAP_FAILED) ::_exit(1);
  for (;;) {
    WatchdogMessage m;
    ssize_t n = ::recv(sock, &m, sizeof m, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the runtime is gone
    if (n != static_cast<ssize_t>(sizeof m) || m.pgid <= 1) continue;
    if (m.op == kRegister) {
      if (count == capacity) {
        void* grown = ::mremap(groups, capacity * sizeof(pid_t), 2 * capacity * sizeof(pid_t), MREMAP_MAYMOVE);
        if (grown == MAP_FAILED) continue;  // cannot happen short of exhausting memory
        groups = static_cast<pid_t*>(grown);
        capacity *= 2;
      }
      groups[count++] = m.pgid;
    } else if (m.op == kDeregister) {
      for (std::size_t i = 0; i < count; ++i) {
        if (groups[i] != m.pgid) continue;
        groups[i] = groups[--count];
        break;
      }
    }
  }
  for (std::size_t i = 0; i < count; ++i) ::kill(-groups[i], SIGKILL);
  ::_exit(0);
}

bool SendToWatchdog(std::int32_t op, pid_t pgid) {
  WatchdogMessage m{op, static_cast<std::int32_t>(pgid)};
  ssize_t n;
  do n = ::send(g_watchdog_fd, &m, sizeof m, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof m);
}

// Starts the watchdog if there is none (or it died: someone killed it).
// Called under g_registry_mutex.
bool EnsureWatchdog(std::string* error) {
  if (g_watchdog_pid > 0) {
    int status;
    if (::waitpid(g_watchdog_pid, &status, WNOHANG) == 0) return true;  // alive
    ::close(g_watchdog_fd);
    g_watchdog_fd = -1;
    g_watchdog_pid = -1;
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
    *error = "cannot create the watchdog's socket: " + ErrnoText(errno);
    return false;
  }
  const pid_t pid = ::fork();
  if (pid == 0) WatchdogMain(sv[1]);
  const int fork_errno = errno;
  ::close(sv[1]);
  if (pid < 0) {
    ::close(sv[0]);
    *error = "cannot start the watchdog: " + ErrnoText(fork_errno);
    return false;
  }
  g_watchdog_pid = pid;
  g_watchdog_fd = sv[0];
  // Groups registered with a watchdog that died are still running: the new
  // one must know them too.
  for (pid_t pgid : g_live_groups) SendToWatchdog(kRegister, pgid);
  return true;
}

// Forgets a group before its leader is reaped, here and in the watchdog.
void Deregister(pid_t pgid) {
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  g_live_groups.erase(pgid);
  if (g_watchdog_fd >= 0) SendToWatchdog(kDeregister, pgid);
}

// ---- spawning a step -------------------------------------------------------

// What the child reports through the exec-status pipe when it cannot exec.
struct ChildFailure {
  int stage;  // kStageChdir, kStageExec or kStageWatchdog
  int err;
};
constexpr int kStageChdir = 1;
constexpr int kStageExec = 2;
constexpr int kStageWatchdog = 3;

struct SpawnArgs {
  const char* dir;
  char* const* argv;
  char* const* envp;
  int null_fd, out_fd, err_fd, status_fd, watchdog_fd;
};

// The shell's side of the vfork. It shares the runtime's memory and runs on
// the runtime thread's stack until execve, so: system calls only, nothing
// allocated, no return (execve or _exit). All signals are blocked (the
// parent blocked them before vfork), so no handler of the runtime can run
// here either.
[[noreturn]] __attribute__((noinline)) void ExecShell(const SpawnArgs& a) {
  // The shell must start with default signal handling and nothing blocked:
  // ignored signals (SIGPIPE, SIGINT in a runtime that handles Ctrl-C) would
  // otherwise stay ignored in every command of the step. (vfork does not
  // share the signal dispositions, so this leaves the runtime's alone.)
  struct sigaction dfl;
  std::memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) ::sigaction(sig, &dfl, nullptr);  // fails harmlessly for KILL/STOP
  ::setpgid(0, 0);
  ChildFailure failure{0, 0};
  // Registered before anything else can go wrong: from here on, the
  // runtime's death kills this group. If the runtime died already, our copy
  // of its socket end keeps the watchdog listening until this exec (the copy
  // is close-on-exec), so the registration is read before the EOF.
  WatchdogMessage m{kRegister, static_cast<std::int32_t>(::getpid())};
  if (::send(a.watchdog_fd, &m, sizeof m, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof m)) {
    failure = {kStageWatchdog, errno};
  } else if (::dup2(a.null_fd, 0) < 0 || ::dup2(a.out_fd, 1) < 0 || ::dup2(a.err_fd, 2) < 0) {
    failure = {kStageExec, errno};
  } else if (a.dir[0] != '\0' && ::chdir(a.dir) != 0) {
    failure = {kStageChdir, errno};
  } else {
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve("/bin/sh", a.argv, a.envp);
    failure = {kStageExec, errno};
  }
  ssize_t ignored = ::write(a.status_fd, &failure, sizeof failure);
  (void)ignored;
  ::_exit(127);
}

// vfork instead of fork: no copy of the runtime's page tables per step, which
// was most of the runtime's cost per step (docs/performance.md). The calling
// thread is suspended until the child execs or exits; other threads go on.
// Kept to a tiny frame of its own, as vfork's returning twice asks.
__attribute__((noinline)) pid_t SpawnShell(const SpawnArgs& a) {
  const pid_t pid = ::vfork();
  if (pid == 0) ExecShell(a);
  return pid;
}

// One output stream of the child: line splitting and capture.
struct Stream {
  Fd fd;
  bool is_stderr = false;
  std::string partial;
  std::string* capture = nullptr;
  std::size_t capture_limit = 0;

  bool open() const { return fd.get() >= 0; }

  void Emit(const LineSink& sink, const std::string& line) {
    if (sink) sink(is_stderr, line);
  }

  void Consume(const LineSink& sink, const char* data, std::size_t n) {
    if (capture->size() < capture_limit) capture->append(data, std::min(n, capture_limit - capture->size()));
    std::string_view rest(data, n);
    while (!rest.empty()) {
      std::size_t nl = rest.find('\n');
      std::size_t take = nl == std::string_view::npos ? rest.size() : nl;
      std::size_t room = kMaxLine - partial.size();
      if (take > room) {  // the line goes on past the cap: hand over a full piece
        partial.append(rest.substr(0, room));
        rest.remove_prefix(room);
        Flush(sink);
        continue;
      }
      partial.append(rest.substr(0, take));
      if (nl == std::string_view::npos) break;
      rest.remove_prefix(nl + 1);
      Flush(sink);
    }
  }

  void Flush(const LineSink& sink) {
    std::string line;
    line.swap(partial);
    Emit(sink, line);
  }

  // Reads what is available; on EOF (or a read error) flushes a final
  // partial line and closes the descriptor.
  void Read(const LineSink& sink) {
    char buf[kReadChunk];
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, sizeof buf);
      if (n > 0) {
        Consume(sink, buf, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (!partial.empty()) Flush(sink);
      fd.Close();
      return;
    }
  }
};

// The child between fork and reaping. Whatever way RunProcess() leaves
// (including an exception from the sink), the destructor kills the group
// and reaps the leader, so no child outlives the call.
class Child {
 public:
  explicit Child(pid_t pid) : pid_(pid) {}
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() {
    if (reaped_) return;
    ::kill(-pid_, SIGKILL);
    Reap();
  }
  pid_t pid() const { return pid_; }

  void Signal(int sig) const { ::kill(-pid_, sig); }

  // Has the leader exited? Leaves it a zombie (WNOWAIT) so its pgid stays
  // reserved while we still signal the group.
  bool Exited() const {
    siginfo_t info;
    std::memset(&info, 0, sizeof info);
    int rc;
    do rc = ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT);
    while (rc < 0 && errno == EINTR);
    if (rc < 0) return true;  // ECHILD: reaped behind our back (SIGCHLD ignored)
    return info.si_pid == pid_;
  }

  // Returns the wait status, or -1 if it cannot be known.
  int Reap() {
    Deregister(pid_);  // before waitpid: see the registry comment
    reaped_ = true;
    int status = 0;
    pid_t rc;
    do rc = ::waitpid(pid_, &status, 0);
    while (rc < 0 && errno == EINTR);
    return rc == pid_ ? status : -1;
  }

 private:
  pid_t pid_;
  bool reaped_ = false;
};

}  // namespace

int StepWatchdogPid() {
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  return g_watchdog_pid;
}

void KillAllChildren() {
  std::lock_guard<std::mutex> lock(g_registry_mutex);
  for (pid_t pgid : g_live_groups) ::kill(-pgid, SIGKILL);
}

ProcessResult RunProcess(const ProcessSpec& spec, const LineSink& sink, const std::atomic<bool>* cancel) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };

  ProcessResult result;
  auto fail = [&](std::string why) {
    result.spawn_failed = true;
    result.error = std::move(why);
    result.seconds = elapsed();
    return result;
  };

  // ---- everything the child needs is built before fork (no malloc after) --
  // c_str() would silently cut a string at a NUL byte, and a shortened
  // command can do something else than the one that was checked.
  if (HasNul(spec.command)) return fail("the command contains a NUL byte");
  if (HasNul(spec.dir)) return fail("the directory name contains a NUL byte");
  for (const auto& [name, value] : spec.env) {
    if (name.empty() || name.find('=') != std::string::npos || HasNul(name))
      return fail("`" + name + "` is not a valid environment variable name");
    if (HasNul(value)) return fail("the value of environment variable `" + name + "` contains a NUL byte");
  }
  // The last of several entries with one name wins, as with setenv.
  std::map<std::string, std::string, std::less<>> overrides;
  for (const auto& entry : spec.env) overrides[entry.first] = entry.second;
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry(*e);
    if (!overrides.count(entry.substr(0, entry.find('=')))) env_strings.emplace_back(entry);
  }
  for (const auto& [name, value] : overrides) env_strings.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string sh = "/bin/sh", dash_c = "-c", command = spec.command;
  char* argv[] = {sh.data(), dash_c.data(), command.data(), nullptr};

  Fd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (null_fd.get() < 0) return fail("cannot open /dev/null: " + ErrnoText(errno));
  if (!AboveStdio(null_fd)) return fail("cannot duplicate /dev/null: " + ErrnoText(errno));
  Stream out, err;
  out.capture = &result.out;
  err.capture = &result.err;
  err.is_stderr = true;
  out.capture_limit = err.capture_limit = spec.capture_limit;
  Fd out_w, err_w, status_r, status_w;
  std::optional<Child> child;
  {
    // The watchdog, the pipes, the vfork and closing our copies of the
    // write ends all happen under the registry mutex, so no other
    // RunProcess() spawns while this call's write ends are open: a sibling
    // step's shell never inherits them, not even for the moment before its
    // exec closes them. The same lock registers the group before
    // KillAllChildren() could miss it.
    std::lock_guard<std::mutex> lock(g_registry_mutex);
    std::string pipe_error;
    if (!EnsureWatchdog(&pipe_error)) return fail(pipe_error);
    if (!MakePipe(out.fd, out_w, &pipe_error) || !MakePipe(err.fd, err_w, &pipe_error) ||
        !MakePipe(status_r, status_w, &pipe_error))
      return fail(pipe_error);
    ::fcntl(out.fd.get(), F_SETFL, ::fcntl(out.fd.get(), F_GETFL) | O_NONBLOCK);
    ::fcntl(err.fd.get(), F_SETFL, ::fcntl(err.fd.get(), F_GETFL) | O_NONBLOCK);
    const SpawnArgs args{spec.dir.c_str(), argv, envp.data(), null_fd.get(), out_w.get(), err_w.get(), status_w.get(),
                         g_watchdog_fd};
    // No signal handler may run in the vfork child (it would run on our
    // stack, in our memory): block everything across the vfork.
    sigset_t all, old_mask;
    ::sigfillset(&all);
    ::pthread_sigmask(SIG_SETMASK, &all, &old_mask);
    const pid_t pid = SpawnShell(args);
    const int spawn_errno = errno;
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    if (pid < 0) return fail("cannot start /bin/sh: " + ErrnoText(spawn_errno));
    // The child has exec'd or exited by now: it is its own group leader.
    child.emplace(pid);
    g_live_groups.insert(pid);
    out_w.Close();
    err_w.Close();
    status_w.Close();
    null_fd.Close();
  }

  // EOF means exec succeeded (the pipe is close-on-exec); a record means
  // chdir or exec failed.
  ChildFailure failure{0, 0};
  ssize_t got;
  do got = ::read(status_r.get(), &failure, sizeof failure);
  while (got < 0 && errno == EINTR);
  status_r.Close();
  if (got == static_cast<ssize_t>(sizeof failure)) {
    child->Reap();
    if (failure.stage == kStageChdir)
      return fail("cannot change to directory `" + spec.dir + "`: " + ErrnoText(failure.err));
    if (failure.stage == kStageWatchdog)
      return fail("cannot register the step with the watchdog: " + ErrnoText(failure.err));
    return fail("cannot run /bin/sh: " + ErrnoText(failure.err));
  }

  // ---- supervise: read output, watch the clock, the flag and the leader ---
  enum class Phase { kRunning, kTerminating, kKilled };
  Phase phase = Phase::kRunning;
  const double timeout = spec.timeout_s > 0 ? spec.timeout_s : 0;
  const double grace = spec.kill_grace_s > 0 ? spec.kill_grace_s : 0;
  double kill_at = 0, drain_until = 0;
  bool exited = false;
  // Readable when the shell exits, so the loop wakes at its exit, not at
  // the next tick; the pid is ours and not reaped, so it cannot be reused.
  // Without it (kernels before 5.3) the loop sleeps 1, 2, 4 … 50 ms while
  // both pipes are closed and the shell has not exited.
  // (The system call, not glibc 2.36's <sys/pidfd.h>, whose declaration
  // lacks extern "C".)
  Fd exit_fd(static_cast<int>(::syscall(SYS_pidfd_open, child->pid(), 0)));
  int idle_ms = 1;

  auto terminate = [&](double now) {
    child->Signal(SIGTERM);
    phase = Phase::kTerminating;
    kill_at = now + grace;
  };
  for (;;) {
    const double now = elapsed();
    const bool pipes_open = out.open() || err.open();
    if (phase == Phase::kRunning) {
      if (exited) {
        terminate(now);  // leftovers of a finished step
      } else if (cancel && cancel->load()) {
        result.cancelled = true;
        terminate(now);
      } else if (timeout > 0 && now >= timeout) {
        result.timed_out = true;
        terminate(now);
      }
    }
    if (phase == Phase::kTerminating && (now >= kill_at || (exited && !pipes_open))) {
      child->Signal(SIGKILL);
      phase = Phase::kKilled;
      drain_until = now + kDrainAfterKill;
    }
    if (phase == Phase::kKilled && (!pipes_open || now >= drain_until)) break;

    double next = now + kPollInterval;
    if (phase == Phase::kRunning && timeout > 0) next = std::min(next, timeout);
    if (phase == Phase::kTerminating) next = std::min(next, kill_at);
    if (phase == Phase::kKilled) next = std::min(next, drain_until);
    int wait_ms = static_cast<int>(std::ceil(std::max(0.0, next - now) * 1000));
    const bool watch_exit = !exited && exit_fd.get() >= 0;
    if (pipes_open || watch_exit) {
      pollfd fds[3];
      Stream* streams[3];
      nfds_t n = 0;
      for (Stream* s : {&out, &err}) {
        if (!s->open()) continue;
        fds[n] = pollfd{s->fd.get(), POLLIN, 0};
        streams[n++] = s;
      }
      if (watch_exit) {
        fds[n] = pollfd{exit_fd.get(), POLLIN, 0};
        streams[n++] = nullptr;
      }
      int ready = ::poll(fds, n, wait_ms);
      for (nfds_t i = 0; ready > 0 && i < n; ++i)
        if (fds[i].revents != 0 && streams[i]) streams[i]->Read(sink);
    } else {
      // The shell closed its output but has not exited yet (or is just
      // exiting: the pipes close before the exit status is ready).
      ::poll(nullptr, 0, std::min(wait_ms, idle_ms));
      idle_ms = std::min(idle_ms * 2, static_cast<int>(kPollInterval * 1000));
    }
    if (!exited) exited = child->Exited();
  }

  // Output still buffered when we stop early is delivered, not dropped.
  for (Stream* s : {&out, &err})
    if (!s->partial.empty()) s->Flush(sink);
  int status = child->Reap();
  if (status != -1) {
    if (WIFEXITED(status))
      result.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status))
      result.exit_code = 128 + WTERMSIG(status);
  }
  result.seconds = elapsed();
  return result;
}


}  // namespace trix::rt
