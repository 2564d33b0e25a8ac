// trixc: the command-line front door. Parses arguments (CLI11) and calls
// the phases; all language logic lives in the libraries.
#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <unistd.h>

#include "compiler/diag/render.hpp"
#include "compiler/driver.hpp"
#include "compiler/fmt/format.hpp"
#include "grammar/parse.hpp"

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

int CmdCheck(const std::vector<std::string>& files, const std::string& format, bool werror) {
  SourceManager sm;
  Diagnostics diags;
  int io_errors = 0;
  for (const auto& f : files) {
    std::string text, err;
    if (std::filesystem::is_directory(f) || !ReadFile(f, &text, &err)) {
      std::cerr << fmt::format("trixc: cannot read `{}`: {}\n", f, std::filesystem::is_directory(f) ? "is a directory" : err);
      ++io_errors;
      continue;
    }
    CompileSource(sm, f, std::move(text), diags);
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

int CmdExplain(const std::string& code) {
  DiagCode c;
  if (!FindCode(code, &c)) {
    std::cerr << fmt::format("trixc: no diagnostic `{}`; codes are E101-E405 and W501-W505 (see `trixc explain --list`)\n", code);
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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (check->parsed()) return CmdCheck(files, format, werror);
  if (fmtc->parsed()) return CmdFmt(fmt_files, fmt_check);
  if (explain->parsed()) {
    if (list || code.empty()) {
      for (DiagCode c : AllCodes()) std::cout << Info(c).code << "  " << Info(c).title << "\n";
      return code.empty() && !list ? 2 : 0;
    }
    return CmdExplain(code);
  }
  return 2;
}
