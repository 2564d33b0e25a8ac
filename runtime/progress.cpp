// Plain and live progress views; see progress.hpp.
#include "runtime/progress.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fmt/format.h>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "compiler/util/literals.hpp"

namespace trix::rt {
namespace {

using Clock = std::chrono::steady_clock;

// Plain lines: what logs, pipes and tests see.
class PlainView : public ProgressView {
 public:
  void StageStarted(const std::string&) override {}
  void StepStarted(const std::string&, const std::string&) override {}
  void StepFinished(const std::string&, bool) override {}
  void Line(const std::string& text) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::cout << text << '\n' << std::flush;
  }
  void Prompt(const std::string& text) override { Line(text); }
  void EndPrompt() override {}
  void Close() override {}

 private:
  std::mutex mu_;
};

std::string Elapsed(Clock::duration d) {
  const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  const long long s = ms / 1000;
  if (s < 60) return fmt::format("{}.{}s", s, (ms % 1000) / 100);
  if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m{:02}s", s / 3600, s / 60 % 60, s % 60);
}

// Cuts `s` to at most `width` terminal columns (UTF-8 aware: counts code
// points, which is right for the ASCII and Latin text of step names).
std::string FitColumns(const std::string& s, int width) {
  if (width <= 0) return "";
  std::string out;
  int cols = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if ((c & 0xC0) != 0x80) {
      if (cols == width) break;
      ++cols;
    }
    out += (c < 0x20 || c == 0x7f) ? ' ' : s[i];  // a control character would move the cursor
  }
  return out;
}

int TerminalWidth() {
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 80;
}

// The live view: output lines scroll above a status line that a thread
// redraws ten times a second: spinner, stage, running step(s), the step's
// and the run's elapsed time. The status line is always cut to the
// terminal's width, so `\r` + erase-line redraws it in place.
class LiveView : public ProgressView {
 public:
  explicit LiveView(bool color) : color_(color), run_start_(Clock::now()) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~LiveView() override { Close(); }

  void StageStarted(const std::string& name) override {
    std::lock_guard<std::mutex> lock(mu_);
    stage_ = name;
  }
  void StepStarted(const std::string& key, const std::string& what) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& s : steps_) {
      if (s.key == key) {
        s.what = what;
        return;
      }
    }
    steps_.push_back({key, what, Clock::now()});
  }
  void StepFinished(const std::string& key, bool) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = steps_.begin(); it != steps_.end(); ++it) {
      if (it->key == key) {
        steps_.erase(it);
        break;
      }
    }
  }
  void Line(const std::string& text) override {
    std::lock_guard<std::mutex> lock(mu_);
    std::string out = "\r\x1b[K" + text + "\n";
    out += prompt_.empty() ? StatusLocked() : prompt_;
    Write(out);
  }
  void Prompt(const std::string& text) override {
    std::lock_guard<std::mutex> lock(mu_);
    prompt_ = text;
    Write("\r\x1b[K" + prompt_);
  }
  void EndPrompt() override {
    std::lock_guard<std::mutex> lock(mu_);
    prompt_.clear();
    // The answer's newline (echoed by the terminal) already moved down a line.
    Write("\r\x1b[K" + StatusLocked());
  }
  void Close() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (closed_) return;
      closed_ = true;
      Write("\r\x1b[K");
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  struct Running {
    std::string key, what;
    Clock::time_point since;
  };

  void Write(const std::string& s) {
    std::fwrite(s.data(), 1, s.size(), stdout);
    std::fflush(stdout);
  }

  std::string StatusLocked() {
    static const char kSpin[] = {'|', '/', '-', '\\'};
    const auto now = Clock::now();
    std::string text = fmt::format("{} ", kSpin[frame_ % 4]);
    if (!stage_.empty()) text += stage_;
    if (!steps_.empty()) {
      text += fmt::format("{}{} ({})", stage_.empty() ? "" : " > ", steps_.front().what, Elapsed(now - steps_.front().since));
      if (steps_.size() > 1) text += fmt::format(" +{} more", steps_.size() - 1);
    }
    text += fmt::format("  [run {}]", Elapsed(now - run_start_));
    text = FitColumns(text, TerminalWidth() - 1);
    if (!color_) return text;
    // Spinner in cyan, the rest dim.
    return "\x1b[36m" + text.substr(0, 1) + "\x1b[0m\x1b[2m" + text.substr(1) + "\x1b[0m";
  }

  void Loop() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!closed_) {
      if (prompt_.empty()) {
        ++frame_;
        Write("\r\x1b[K" + StatusLocked());
      }
      cv_.wait_for(lock, std::chrono::milliseconds(100));
    }
  }

  const bool color_;
  const Clock::time_point run_start_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  std::string stage_;
  std::vector<Running> steps_;
  std::string prompt_;
  unsigned frame_ = 0;
  bool closed_ = false;
};

}  // namespace

ProgressOptions DetectProgressOptions(bool json_output) {
  ProgressOptions o;
  const char* term = std::getenv("TERM");
  const char* no_color = std::getenv("NO_COLOR");
  o.live = !json_output && ::isatty(STDOUT_FILENO) && !(term && std::strcmp(term, "dumb") == 0);
  o.color = o.live && !(no_color && *no_color);
  return o;
}

std::unique_ptr<ProgressView> MakeProgressView(const ProgressOptions& options) {
  if (options.live) return std::make_unique<LiveView>(options.color);
  return std::make_unique<PlainView>();
}

}  // namespace trix::rt
