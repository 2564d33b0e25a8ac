// Import resolution: the embedded stdlib and files relative to the importer.
#include "compiler/check/loader.hpp"

#include <filesystem>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <sstream>

#include "compiler/util/text.hpp"
#include "grammar/parse.hpp"

namespace trix::embedded {
const std::vector<std::pair<std::string_view, std::string_view>>& StdlibModules();
}

namespace trix {
namespace {

namespace fs = std::filesystem;

class Loader {
 public:
  Loader(SourceManager& sm, Diagnostics& diags) : sm_(sm), diags_(diags) {}

  int LoadFile(const std::string& key, const std::string& display, std::string text, bool stdlib) {
    auto m = std::make_unique<LoadedModule>();
    m->key = key;
    m->stdlib = stdlib;
    m->file = sm_.Add(display, std::move(text));
    m->parsed = ParseModule(sm_.Get(m->file), m->file, &m->ast, diags_);
    if (!m->parsed) result_.parse_failed = true;
    if (m->parsed && m->ast.decls.empty() && !stdlib) {
      // An empty file (or one of comments only) is most likely the wrong
      // file, or one saved before it was written: say so rather than pass.
      diags_.Report(DiagCode::E101, {m->file, 0, 0}, fmt::format("the file has no declarations; {}", ExpectedDeclaration()));
    }
    const int index = static_cast<int>(result_.modules.size());
    index_[key] = index;
    result_.modules.push_back(std::move(m));
    state_[index] = kActive;
    stack_.push_back(index);
    ResolveImports(index);
    stack_.pop_back();
    state_[index] = kDone;
    return index;
  }

  LoadResult Take() { return std::move(result_); }

 private:
  enum State { kActive, kDone };

  void ResolveImports(int index) {
    // Copy what we need: result_.modules may grow (unique_ptr keeps the module itself stable).
    LoadedModule& m = *result_.modules[index];
    for (const auto& d : m.ast.decls) {
      if (d.kind != ast::DeclKind::Import) continue;
      std::string spec;
      if (!d.title->IsPlainString(&spec)) {
        diags_.Report(DiagCode::E203, d.title->range, "an import path cannot contain interpolation");
        continue;
      }
      ImportEdge edge;
      edge.decl = &d;
      edge.binding = d.name.name.empty() ? fs::path(spec).stem().string() : d.name.name;
      std::string key, display, text;
      bool stdlib = false;
      if (spec.rfind("std/", 0) == 0) {
        stdlib = true;
        key = spec;
        display = spec + ".trix";
        bool found = false;
        for (const auto& [name, body] : embedded::StdlibModules()) {
          if (name == spec) {
            text = std::string(body);
            found = true;
          }
        }
        if (!found) {
          auto& diag = diags_.Report(DiagCode::E203, d.title->range, fmt::format("no standard module `{}`", spec));
          if (auto s = ClosestName(spec, StdlibNames())) diag.Help(fmt::format("did you mean `{}`?", *s));
          else diag.Note(fmt::format("the standard modules are: {}", Join(StdlibNames(), ", ")));
          m.imports.push_back(edge);
          continue;
        }
      } else {
        const SourceFile& from = sm_.Get(m.file);
        fs::path base = m.stdlib ? fs::path() : fs::path(from.path()).parent_path();
        fs::path p = (base / spec).lexically_normal();
        std::error_code ec;
        fs::path abs = fs::absolute(p, ec).lexically_normal();
        key = abs.string();
        display = p.string();
        if (!index_.count(key)) {
          std::ifstream in(p, std::ios::binary);
          if (!in || fs::is_directory(p, ec)) {
            diags_.Report(DiagCode::E203, d.title->range, fmt::format("cannot open `{}` (looked for `{}`)", spec, p.string()))
                .Help("import paths are relative to the importing file; standard modules start with `std/`");
            m.imports.push_back(edge);
            continue;
          }
          std::stringstream ss;
          ss << in.rdbuf();
          text = ss.str();
        }
      }
      auto it = index_.find(key);
      if (it != index_.end()) {
        if (state_[it->second] == kActive) {
          std::vector<std::string> chain;
          bool on = false;
          for (int s : stack_) {
            if (s == it->second) on = true;
            if (on) chain.push_back(sm_.Get(result_.modules[s]->file).path());
          }
          chain.push_back(sm_.Get(result_.modules[it->second]->file).path());
          diags_.Report(DiagCode::E204, d.title->range, fmt::format("import cycle: {}", Join(chain, " -> ")))
              .Help("move what both files need into a third file that imports neither");
          m.imports.push_back(edge);
          continue;
        }
        edge.module = it->second;
      } else {
        edge.module = LoadFile(key, display, std::move(text), stdlib);
      }
      result_.modules[index]->imports.push_back(edge);
    }
  }

  SourceManager& sm_;
  Diagnostics& diags_;
  LoadResult result_;
  std::map<std::string, int> index_;
  std::map<int, State> state_;
  std::vector<int> stack_;
};

}  // namespace

std::vector<std::string> StdlibNames() {
  std::vector<std::string> out;
  for (const auto& [name, body] : embedded::StdlibModules()) out.emplace_back(name);
  return out;
}

LoadResult Load(SourceManager& sm, const std::string& path, std::string text, Diagnostics& diags) {
  Loader loader(sm, diags);
  std::error_code ec;
  std::string key = path == "-" ? "<stdin>" : std::filesystem::absolute(path, ec).lexically_normal().string();
  loader.LoadFile(key, path == "-" ? "<stdin>" : path, std::move(text), false);
  return loader.Take();
}

}  // namespace trix
