// trixc: the command-line front door. Parses arguments (CLI11) and calls
// the phases; all language logic lives in the libraries.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__) && defined(__GLIBC__)
#include <malloc.h>
#include <sys/mman.h>
#endif

extern char** environ;

#include "compiler/diag/render.hpp"
#include "compiler/driver.hpp"
#include "compiler/emit/emit.hpp"
#include "compiler/fmt/format.hpp"
#include "compiler/lower/graph.hpp"
#include "compiler/lower/plan.hpp"
#include "grammar/parse.hpp"
#include "runtime/executor.hpp"
#include "runtime/rollout.hpp"
#include "runtime/simulate.hpp"
#include "tools/lsp/server.hpp"
#include "compiler/util/sha256.hpp"

namespace trix::embedded {
const std::vector<std::pair<std::string_view, std::string_view>>& StdlibModules();
}

namespace {

using namespace trix;

bool UseColor(int fd) {
  const char* nc = std::getenv("NO_COLOR");
  if (nc && *nc) return false;
  const char* term = std::getenv("TERM");
  if (term && std::string_view(term) == "dumb") return false;
  return isatty(fd);
}

void Render(const Diagnostics& diags, const SourceManager& sm, const std::string& format) {
  if (format == "json") RenderJson(diags, sm, std::cout);
  else if (format == "sarif") RenderSarif(diags, sm, std::cout);
  else RenderText(diags, sm, std::cerr, TextStyle{UseColor(2)});
}

#if defined(__SANITIZE_ADDRESS__)
#define TRIX_OWN_MALLOC 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define TRIX_OWN_MALLOC 0
#endif
#endif
#ifndef TRIX_OWN_MALLOC
#define TRIX_OWN_MALLOC 1
#endif

/// Before parsing a large input, grows the heap once by about `bytes` and
/// asks the kernel for transparent huge pages there (MADV_HUGEPAGE; a no-op
/// when THP is off). The AST of a big runbook is ~20x its source in small
/// allocations; with 4 KiB pages the page faults alone were 15-25% of
/// `trixc check` (docs/performance.md). Best effort: any step that fails
/// leaves the ordinary heap. Only for glibc's malloc on Linux.
void PrepareHeap([[maybe_unused]] std::size_t bytes) {
#if defined(__linux__) && defined(__GLIBC__) && TRIX_OWN_MALLOC
  constexpr std::size_t kHuge = std::size_t{2} << 20;
  constexpr std::size_t kMax = std::size_t{1} << 30;  // mallopt takes an int
  bytes = std::min(bytes, kMax);
  if (bytes < 2 * kHuge) return;  // below one huge page after alignment: nothing to gain
  // Keep the heap once grown (no trimming on free), and take the whole
  // reservation with the next sbrk.
  if (!mallopt(M_TRIM_THRESHOLD, static_cast<int>(kMax)) || !mallopt(M_MMAP_THRESHOLD, 4 << 20) ||
      !mallopt(M_TOP_PAD, static_cast<int>(bytes)))
    return;
  // An allocation just larger than the free top of the heap makes malloc
  // call sbrk, which now grows the heap by `bytes`.
  const std::size_t top = mallinfo2().keepcost;
  char* before = static_cast<char*>(sbrk(0));
  void* p = top + 4096 < (std::size_t{4} << 20) ? std::malloc(top + 4096) : nullptr;
  char* after = static_cast<char*>(sbrk(0));
  if (p && after > before) {
    auto begin = (reinterpret_cast<std::uintptr_t>(before) + kHuge - 1) & ~(kHuge - 1);
    auto end = reinterpret_cast<std::uintptr_t>(after) & ~(kHuge - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
  }
  std::free(p);
  mallopt(M_TOP_PAD, 128 << 10);  // glibc's default again for later growth
#endif
}

int CmdCheck(const std::vector<std::string>& files, const std::string& format, bool werror) {
  SourceManager sm;
  Diagnostics diags;
  int io_errors = 0;
  // The checked programs are not freed: the process ends right after the
  // diagnostics are printed, and taking a large AST apart node by node was
  // ~20% of `trixc check` (clang's -disable-free does the same). Held from a
  // static, so leak checkers see them as reachable.
  static auto* keep = new std::vector<sema::Program>();
  std::uintmax_t total = 0;
  for (const auto& f : files) {
    std::error_code ec;
    auto size = std::filesystem::file_size(f, ec);
    if (!ec) total += size;
  }
  // About the peak memory per source byte measured for check (~19x).
  PrepareHeap(static_cast<std::size_t>(std::min<std::uintmax_t>(total, std::uintmax_t{1} << 40)) * 20);
  for (const auto& f : files) {
    std::string text, err;
    if (std::filesystem::is_directory(f) || !ReadFile(f, &text, &err)) {
      std::cerr << fmt::format("trixc: cannot read `{}`: {}\n", f, std::filesystem::is_directory(f) ? "is a directory" : err);
      ++io_errors;
      continue;
    }
    if (auto program = CompileSource(sm, f, std::move(text), diags)) keep->push_back(std::move(*program));
  }
  if (werror) diags.PromoteWarnings();
  diags.Sort();
  Render(diags, sm, format);
  if (io_errors) return 2;
  return diags.ErrorCount() ? 1 : 0;
}

int CmdFmt(const std::vector<std::string>& files, bool check) {
  int status = 0;
  for (const auto& f : files) {
    std::string text, err;
    if (std::filesystem::is_directory(f) || !ReadFile(f, &text, &err)) {
      std::cerr << fmt::format("trixc: cannot read `{}`: {}\n", f, std::filesystem::is_directory(f) ? "is a directory" : err);
      status = 2;
      continue;
    }
    SourceManager sm;
    Diagnostics diags;
    FileId id = sm.Add(f == "-" ? "<stdin>" : f, text);
    ast::Module m;
    if (!ParseModule(sm.Get(id), id, &m, diags)) {
      Render(diags, sm, "text");
      if (status == 0) status = 1;
      continue;
    }
    std::string out = Format(m, sm.Get(id));
    if (f == "-") {
      if (check) {
        if (out != text) status = std::max(status, 1);
      } else {
        std::cout << out;
      }
      continue;
    }
    if (out == text) continue;
    if (check) {
      std::cout << f << "\n";
      status = std::max(status, 1);
      continue;
    }
    // Write beside the file and rename over it, so a crash never leaves half a file.
    std::string tmp = f + ".trixfmt.tmp";
    {
      std::ofstream o(tmp, std::ios::binary | std::ios::trunc);
      o << out;
      if (!o) {
        std::cerr << fmt::format("trixc: cannot write `{}`\n", tmp);
        status = 2;
        continue;
      }
    }
    std::error_code ec;
    std::filesystem::permissions(tmp, std::filesystem::status(f, ec).permissions(), ec);
    std::filesystem::rename(tmp, f, ec);
    if (ec) {
      std::cerr << fmt::format("trixc: cannot replace `{}`: {}\n", f, ec.message());
      std::filesystem::remove(tmp, ec);
      status = 2;
      continue;
    }
    std::cout << f << "\n";
  }
  return status;
}

/// Compiles and lowers a runbook; prints diagnostics; returns the exit code on failure.
std::optional<plan::Plan> PlanFor(const std::string& file, const plan::Target& target, int* rc) {
  SourceManager sm;
  Diagnostics diags;
  std::string text, err;
  if (std::filesystem::is_directory(file) || !ReadFile(file, &text, &err)) {
    std::cerr << fmt::format("trixc: cannot read `{}`: {}\n", file, std::filesystem::is_directory(file) ? "is a directory" : err);
    *rc = 2;
    return std::nullopt;
  }
  auto program = CompileSource(sm, file, std::move(text), diags);
  if (!program || diags.ErrorCount()) {
    Render(diags, sm, "text");
    *rc = 1;
    return std::nullopt;
  }
  std::string error;
  auto p = plan::Lower(*program, sm, target, diags, &error);
  if (!p) {
    diags.Sort();
    if (diags.ErrorCount()) {
      Render(diags, sm, "text");
      *rc = 1;
    } else {
      std::cerr << "trixc: " << error << "\n";
      *rc = 2;
    }
  } else if (diags.WarningCount()) {
    Render(diags, sm, "text");
  }
  return p;
}

/// Parses `--param NAME=VALUE` arguments; false (after saying why) on a malformed one.
bool ParseParams(const std::vector<std::string>& args, plan::Target* target) {
  for (const auto& kv : args) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << fmt::format("trixc: --param needs NAME=VALUE, got `{}`\n", kv);
      return false;
    }
    target->params[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return true;
}

int CmdPlan(const std::string& file, const plan::Target& target, const std::string& out_path, bool json_stdout) {
  int rc = 0;
  auto p = PlanFor(file, target, &rc);
  if (!p) return rc;
  const std::string body = p->doc.dump(2) + "\n";
  if (!out_path.empty()) {
    std::ofstream o(out_path + ".tmp", std::ios::binary | std::ios::trunc);
    o << body;
    o.close();
    std::error_code ec;
    std::filesystem::rename(out_path + ".tmp", out_path, ec);
    if (!o || ec) {
      std::cerr << fmt::format("trixc: cannot write `{}`\n", out_path);
      return 2;
    }
  }
  if (json_stdout) {
    std::cout << body;
  } else {
    std::cout << plan::Describe(*p);
    if (!out_path.empty()) std::cout << fmt::format("Saved to {}; run it with `trixc run {}`.\n", out_path, out_path);
  }
  return 0;
}

// A saved plan is refused when any source it came from has changed since
// (Terraform's "saved plan is stale").
bool PlanIsFresh(const nlohmann::json& plan, std::string* why) {
  for (const auto& src : plan.value("sources", nlohmann::json::array())) {
    const std::string path = src.value("path", "");
    std::string text, err;
    bool found = false;
    if (src.value("stdlib", false)) {
      for (const auto& [name, body] : trix::embedded::StdlibModules()) {
        if (std::string(name) + ".trix" == path) {
          text = std::string(body);
          found = true;
        }
      }
    } else {
      found = ReadFile(path, &text, &err);
    }
    if (!found) {
      *why = fmt::format("`{}` cannot be read", path);
      return false;
    }
    if (Sha256Hex(text) != src.value("sha256", "")) {
      *why = fmt::format("`{}` changed since the plan was made", path);
      return false;
    }
  }
  if (plan::PlanHash(plan) != plan.value("plan_sha256", "")) {
    *why = "the plan file was edited after it was made (its hash does not match)";
    return false;
  }
  return true;
}

int CmdSimulate(const std::string& file, const plan::Target& target, const std::vector<std::string>& fail, bool drill) {
  int rc = 0;
  auto p = PlanFor(file, target, &rc);
  if (!p) return rc;
  rt::Simulate(p->doc, std::set<std::string>(fail.begin(), fail.end()), std::cout, drill);
  return 0;
}

int CmdRun(const std::string& file, const plan::Target& target, rt::RunOptions opt) {
  if (!opt.resume_id.empty()) return rt::Execute(nlohmann::json::object(), opt);
  std::string text, err;
  if (file.empty()) {
    std::cerr << "trixc: run needs a runbook or a saved plan (or --resume RUN_ID)\n";
    return 2;
  }
  if (std::filesystem::is_directory(file) || !ReadFile(file, &text, &err)) {
    std::cerr << fmt::format("trixc: cannot read `{}`: {}\n", file, std::filesystem::is_directory(file) ? "is a directory" : err);
    return 2;
  }
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.value("format", "") == "trix-plan/1") {
    if (!target.params.empty() || !target.environment.empty() || !target.pipeline.empty()) {
      std::cerr << "trixc: a saved plan already fixes its pipeline, environment and parameters; make a new plan with `trixc plan` to change them\n";
      return 2;
    }
    std::string why;
    if (!PlanIsFresh(doc, &why)) {
      std::cerr << fmt::format("trixc: the saved plan is stale: {}; make a new one with `trixc plan`\n", why);
      return 1;
    }
    return rt::Execute(doc, opt);
  }
  int rc = 0;
  auto p = PlanFor(file, target, &rc);
  if (!p) return rc;
  return rt::Execute(p->doc, opt);
}

/// `trixc graph`: the plan as DOT, or as SVG through Graphviz `dot`.
int CmdGraph(const std::string& file, const plan::Target& target, const std::string& format, const std::string& out_path) {
  int rc = 0;
  auto p = PlanFor(file, target, &rc);
  if (!p) return rc;
  const std::string dot = plan::ToDot(*p);
  if (format == "dot") {
    if (out_path.empty() || out_path == "-") {
      std::cout << dot;
      return 0;
    }
    std::ofstream o(out_path + ".tmp", std::ios::binary | std::ios::trunc);
    o << dot;
    o.close();
    std::error_code ec;
    if (o) std::filesystem::rename(out_path + ".tmp", out_path, ec);
    if (!o || ec) {
      std::cerr << fmt::format("trixc: cannot write `{}`\n", out_path);
      std::filesystem::remove(out_path + ".tmp", ec);
      return 2;
    }
    return 0;
  }
  // SVG: Graphviz reads the DOT from a temporary file and writes the SVG itself.
  char tmpl[] = "/tmp/trixc-graph-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0 || write(fd, dot.data(), dot.size()) != static_cast<ssize_t>(dot.size())) {
    std::cerr << "trixc: cannot write a temporary file for Graphviz\n";
    if (fd >= 0) close(fd), unlink(tmpl);
    return 2;
  }
  close(fd);
  std::vector<std::string> args = {"dot", "-Tsvg", tmpl};
  if (!out_path.empty() && out_path != "-") args.insert(args.end(), {"-o", out_path});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::cout.flush();
  pid_t pid = 0;
  int err = posix_spawnp(&pid, "dot", nullptr, nullptr, argv.data(), environ);
  int status = 0;
  if (err == 0) waitpid(pid, &status, 0);
  unlink(tmpl);
  if (err != 0) {
    std::cerr << "trixc: --format svg needs Graphviz `dot` on PATH, and it was not found; install graphviz "
                 "(tools/setup.sh does) or use --format dot\n";
    return 2;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::cerr << "trixc: Graphviz `dot` failed to render the graph\n";
    return 2;
  }
  return 0;
}

/// Writes `text` to `path` through a temporary file and a rename.
bool WriteAtomic(const std::string& path, const std::string& text) {
  std::error_code ec;
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  {
    std::ofstream o(path + ".tmp", std::ios::binary | std::ios::trunc);
    o << text;
    if (!o) return false;
  }
  std::filesystem::rename(path + ".tmp", path, ec);
  return !ec;
}

int CmdEmit(const std::string& backend, const std::string& file, const std::string& out, const emit::Options& opt) {
  SourceManager sm;
  Diagnostics diags;
  std::string text, err;
  if (std::filesystem::is_directory(file) || !ReadFile(file, &text, &err)) {
    std::cerr << fmt::format("trixc: cannot read `{}`: {}\n", file, std::filesystem::is_directory(file) ? "is a directory" : err);
    return 2;
  }
  auto program = CompileSource(sm, file, std::move(text), diags);
  if (!program || diags.ErrorCount()) {
    diags.Sort();
    Render(diags, sm, "text");
    return 1;
  }
  // Writing to stdout takes one pipeline (§13): --pipeline, or the file's only one.
  emit::Options o = opt;
  if (out.empty() && backend != "prometheus" && backend != "grafana" && o.pipeline.empty()) {
    const auto& pipes = program->scopes.at(0).pipelines;
    if (pipes.size() > 1) {
      std::vector<std::string> names;
      for (const auto& [k, v] : pipes) names.emplace_back(k);
      std::cerr << fmt::format("trixc: the file has {} pipelines; choose one with --pipeline ({}) or write them all with -o DIR\n", names.size(),
                               fmt::join(names, ", "));
      return 2;
    }
  }
  std::vector<emit::File> files;
  std::string error;
  bool ok = backend == "github" ? emit::EmitGithub(*program, sm, o, diags, &files, &error)
            : backend == "argo" ? emit::EmitArgo(*program, sm, o, diags, &files, &error)
            : backend == "grafana" ? emit::EmitGrafana(*program, sm, o, diags, &files, &error)
                                : emit::EmitPrometheus(*program, sm, o, diags, &files, &error);
  diags.Sort();
  if (!diags.all().empty()) Render(diags, sm, "text");
  if (diags.ErrorCount()) return 1;
  if (!ok) {
    if (!error.empty()) std::cerr << "trixc: " << error << "\n";
    return 2;
  }
  if (out.empty()) {
    bool first = true;
    for (const auto& f : files) {
      if (f.name.rfind("environments/", 0) == 0) continue;
      if (!first) std::cout << "---\n";
      first = false;
      std::cout << f.text;
    }
    if (std::any_of(files.begin(), files.end(), [](const emit::File& f) { return f.name.rfind("environments/", 0) == 0; }))
      std::cerr << "trixc: approvals use GitHub environments; write their settings too with -o DIR\n";
    return 0;
  }
  for (const auto& f : files) {
    const std::string path = backend == "prometheus" || backend == "grafana" ? out : (std::filesystem::path(out) / f.name).string();
    if (!WriteAtomic(path, f.text)) {
      std::cerr << fmt::format("trixc: cannot write `{}`\n", path);
      return 2;
    }
    if (f.name.size() > 3 && f.name.substr(f.name.size() - 3) == ".sh") {
      std::error_code ec;
      std::filesystem::permissions(path, std::filesystem::perms::owner_exec | std::filesystem::perms::group_exec | std::filesystem::perms::others_exec,
                                   std::filesystem::perm_options::add, ec);
    }
    std::cout << path << "\n";
  }
  return 0;
}

int CmdExplain(const std::string& code) {
  DiagCode c;
  if (!FindCode(code, &c)) {
    std::cerr << fmt::format("trixc: no diagnostic `{}`; codes are E101-E405, E601-E603 and W501-W505 (see `trixc explain --list`)\n", code);
    return 2;
  }
  std::cout << Info(c).code << ": " << Info(c).title << "\n\n" << Explanation(c) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"trixc: check, format, plan and run Trix deployment runbooks", "trixc"};
  app.set_version_flag("--version", "trixc 0.1.0");
  app.require_subcommand(1);
  app.footer("Exit codes: 0 ok, 1 errors found (or `fmt --check` would change files), 2 usage or I/O error.\n"
             "Diagnostics are explained by `trixc explain CODE`. Colour is off when NO_COLOR is set or output is not a terminal.");

  std::vector<std::string> files;
  std::string format = "text";
  bool werror = false;
  auto* check = app.add_subcommand("check", "Parse, type-check and policy-check runbooks (for pre-commit)");
  check->add_option("files", files, "Runbook files (`-` reads standard input)")->required();
  check->add_option("--format", format, "Output format of diagnostics")->check(CLI::IsMember({"text", "json", "sarif"}));
  check->add_flag("--werror", werror, "Treat warnings as errors");

  std::vector<std::string> fmt_files;
  bool fmt_check = false;
  auto* fmtc = app.add_subcommand("fmt", "Rewrite runbooks in canonical format (in place; `-` filters stdin to stdout)");
  fmtc->add_option("files", fmt_files, "Runbook files")->required();
  fmtc->add_flag("--check", fmt_check, "Change nothing; list files that are not formatted and exit 1 if any");

  std::string code;
  bool list = false;
  auto* explain = app.add_subcommand("explain", "Explain a diagnostic code, with an example and its fix");
  explain->add_option("code", code, "A code such as E401");
  explain->add_flag("--list", list, "List every code with its title");

  std::string plan_file, plan_out;
  plan::Target target;
  std::vector<std::string> plan_params;
  bool plan_json = false;
  auto* planc = app.add_subcommand("plan", "Show (and save) the instruction plan for one pipeline and environment");
  planc->add_option("file", plan_file, "Runbook file")->required();
  planc->add_option("--env", target.environment, "Target environment (may be left out when the pipeline has one)");
  planc->add_option("--pipeline", target.pipeline, "Pipeline (may be left out when the file has one)");
  planc->add_option("--param", plan_params, "Parameter value, NAME=VALUE (repeatable)");
  planc->add_option("-o,--out", plan_out, "Save the plan as JSON (trix-plan/1) to this file");
  planc->add_flag("--json", plan_json, "Print the plan JSON instead of the description");

  std::string run_file;
  plan::Target run_target;
  std::vector<std::string> run_params;
  rt::RunOptions run_opt;
  auto* runc = app.add_subcommand("run", "Execute a runbook or a saved plan (exit 0 ok, 10 stopped with nothing changed, "
                                         "11 rolled back, 12 rollback failed, 13 interrupted)");
  runc->add_option("file", run_file, "Runbook file or saved plan (plan.json)");
  runc->add_option("--env", run_target.environment, "Target environment");
  runc->add_option("--pipeline", run_target.pipeline, "Pipeline");
  runc->add_option("--param", run_params, "Parameter value, NAME=VALUE (repeatable)");
  runc->add_option("--state-dir", run_opt.state_dir, "Where runs and journals live (default .trix)");
  runc->add_option("--resume", run_opt.resume_id, "Continue an interrupted run");
  runc->add_flag("--retry-in-doubt", run_opt.retry_in_doubt, "On resume, run again a step that was running when the run stopped");
  runc->add_flag("--skip-in-doubt", run_opt.skip_in_doubt, "On resume, treat such a step as done");
  runc->add_flag("--dry-run", run_opt.dry_run, "Print every command and request with values; change nothing");
  runc->add_flag("--drill", run_opt.drill, "Rollback drill: run the stages, then take the rollback path on purpose (exit 0 when rollback and its verify pass, 12 when not)");
  runc->add_option("--attest", run_opt.attest_file, "JSON file answering `confirm` items: {\"text\": \"who attests\"}");
  runc->add_option("--override-window", run_opt.override_window, "Deploy outside the window or in a freeze; the reason is journalled");
  runc->add_option("--metrics-file", run_opt.metrics_file, "Write Prometheus metrics here (textfile collector format)");
  runc->add_option("--pushgateway", run_opt.pushgateway, "Push the metrics to this Prometheus Pushgateway at the end of the run");
  runc->add_option("--as", run_opt.started_by, "Who starts the run (default: the login name)");
  std::string run_output = "text";
  runc->add_option("--output", run_output, "Progress as text lines or one JSON event per line")->check(CLI::IsMember({"text", "json"}));

  std::string sim_file;
  plan::Target sim_target;
  std::vector<std::string> sim_params, sim_fail;
  auto* simc = app.add_subcommand("simulate", "Walk the plan with chosen items failing; print the path, the rollback and the exit code. Runs nothing");
  simc->add_option("file", sim_file, "Runbook file")->required();
  simc->add_option("--env", sim_target.environment, "Target environment");
  simc->add_option("--pipeline", sim_target.pipeline, "Pipeline");
  simc->add_option("--param", sim_params, "Parameter value, NAME=VALUE (repeatable)");
  bool sim_drill = false;
  simc->add_flag("--drill", sim_drill, "Show what a rollback drill (trixc run --drill) would do");
  simc->add_option("--fail", sim_fail, "Make this fail: a step label, check label, confirm text, approval, baseline, stage, action or analysis (repeatable)");

  std::string ap_id, ap_as, ap_comment, ap_state = ".trix";
  bool ap_deny = false;
  auto* approvec = app.add_subcommand("approve", "Approve (or --deny) the approval a run is waiting for");
  approvec->add_option("run_id", ap_id, "Run id")->required();
  approvec->add_option("--as", ap_as, "Who approves (default: the login name)");
  approvec->add_flag("--deny", ap_deny, "Refuse instead of approving");
  approvec->add_option("--comment", ap_comment, "A note kept in the journal");
  approvec->add_option("--state-dir", ap_state, "Where runs live (default .trix)");

  // Rollout control from another terminal (spec §7): promote a paused rollout, or abort it.
  std::string ro_id, ro_as, ro_state = ".trix";
  bool ro_full = false;
  auto* promotec = app.add_subcommand("promote", "Let a paused rollout go on (--full: skip its remaining steps and promote now)");
  promotec->add_option("run_id", ro_id, "Run id")->required();
  promotec->add_flag("--full", ro_full, "Skip the remaining strategy steps (analyses included) and promote");
  promotec->add_option("--as", ro_as, "Who promotes (default: the login name)");
  promotec->add_option("--state-dir", ro_state, "Where runs live (default .trix)");
  auto* abortc = app.add_subcommand("abort", "Abort a run's rollout: traffic back to stable, then the run rolls back (exit 11)");
  abortc->add_option("run_id", ro_id, "Run id")->required();
  abortc->add_option("--as", ro_as, "Who aborts (default: the login name)");
  abortc->add_option("--state-dir", ro_state, "Where runs live (default .trix)");

  std::string st_id, st_state = ".trix";
  auto* statusc = app.add_subcommand("status", "List runs, or show one");
  statusc->add_option("run_id", st_id, "Run id");
  statusc->add_option("--state-dir", st_state, "Where runs live (default .trix)");
  std::string log_id, log_state = ".trix";
  auto* logc = app.add_subcommand("log", "Print a run's journal");
  logc->add_option("run_id", log_id, "Run id")->required();
  logc->add_option("--state-dir", log_state, "Where runs live (default .trix)");

  std::string graph_file, graph_out, graph_format = "dot";
  plan::Target graph_target;
  std::vector<std::string> graph_params;
  auto* graphc = app.add_subcommand("graph", "Draw a pipeline's plan: gates, approvals, stages, strategy steps, verify, undo and rollback (DOT or SVG)");
  graphc->add_option("file", graph_file, "Runbook file")->required();
  graphc->add_option("--pipeline", graph_target.pipeline, "Pipeline (may be left out when the file has one)");
  graphc->add_option("--env", graph_target.environment, "Target environment (may be left out when the pipeline has one)");
  graphc->add_option("--param", graph_params, "Parameter value, NAME=VALUE (repeatable)");
  graphc->add_option("--format", graph_format, "dot (Graphviz source) or svg (rendered by Graphviz `dot`)")->check(CLI::IsMember({"dot", "svg"}));
  graphc->add_option("-o,--out", graph_out, "Write to this file instead of standard output");

  auto* lspc = app.add_subcommand("lsp", "Language server (LSP 3.17) on stdin/stdout, for editors");

  std::string emit_backend, emit_file, emit_out;
  emit::Options emit_opt;
  auto* emitc = app.add_subcommand("emit", "Generate GitHub Actions workflows, Argo manifests or Prometheus rules from a runbook");
  emitc->add_option("backend", emit_backend, "github, argo, prometheus or grafana")->required()->check(CLI::IsMember({"github", "argo", "prometheus", "grafana"}));
  emitc->add_option("file", emit_file, "Runbook file")->required();
  emitc->add_option("-o,--out", emit_out, "Output folder (github, argo) or file (prometheus, grafana); standard output when left out");
  emitc->add_option("--pipeline", emit_opt.pipeline, "Only this pipeline (needed for standard output when the file has several)");
  emitc->add_flag("--allow-degraded", emit_opt.allow_degraded, "Turn E6xx fidelity errors into warnings and write the weaker form");
  emitc->add_option("--image", emit_opt.image, "Argo: container image for steps (default: the pipeline's `image`, else alpine/k8s:1.30.4)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (check->parsed()) return CmdCheck(files, format, werror);
  if (lspc->parsed()) return lsp::RunServer(std::cin, std::cout);
  if (graphc->parsed()) {
    if (!ParseParams(graph_params, &graph_target)) return 2;
    return CmdGraph(graph_file, graph_target, graph_format, graph_out);
  }
  if (fmtc->parsed()) return CmdFmt(fmt_files, fmt_check);
  if (planc->parsed()) {
    if (!ParseParams(plan_params, &target)) return 2;
    return CmdPlan(plan_file, target, plan_out, plan_json);
  }
  if (runc->parsed()) {
    if (!ParseParams(run_params, &run_target)) return 2;
    run_opt.json_output = run_output == "json";
    return CmdRun(run_file, run_target, run_opt);
  }
  if (simc->parsed()) {
    if (!ParseParams(sim_params, &sim_target)) return 2;
    return CmdSimulate(sim_file, sim_target, sim_fail, sim_drill);
  }
  if (emitc->parsed()) return CmdEmit(emit_backend, emit_file, emit_out, emit_opt);
  if (approvec->parsed()) return rt::Approve(ap_state, ap_id, ap_as, ap_deny, ap_comment);
  if (promotec->parsed()) return rt::SignalRollout(ro_state, ro_id, "promote", ro_full, ro_as);
  if (abortc->parsed()) return rt::SignalRollout(ro_state, ro_id, "abort", false, ro_as);
  if (statusc->parsed()) return rt::Status(st_state, st_id);
  if (logc->parsed()) return rt::Log(log_state, log_id);
  if (explain->parsed()) {
    if (list || code.empty()) {
      for (DiagCode c : AllCodes()) std::cout << Info(c).code << "  " << Info(c).title << "\n";
      return code.empty() && !list ? 2 : 0;
    }
    return CmdExplain(code);
  }
  return 2;
}
