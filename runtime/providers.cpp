// Traffic providers: nginx (an upstream block rewritten atomically, then a
// reload), command (the user's own commands) and k8s (kubectl against
// Deployments and a Service, as the seed guide does by hand).
#include "runtime/providers.hpp"

#include <cmath>
#include <fmt/format.h>
#include <fstream>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "runtime/journal.hpp"
#include "runtime/process.hpp"

namespace trix::rt {
namespace {

using json = nlohmann::json;

std::string Str(const json& service, const char* key, const std::string& dflt = "") {
  if (service.contains(key) && service[key].is_string()) return service[key].get<std::string>();
  return dflt;
}

std::string ReadFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}


// ---- nginx --------------------------------------------------------------------------------

class NginxProvider : public Provider {
 public:
  NginxProvider(const json& svc, std::string who, RolloutHost& host) : who_(std::move(who)), host_(host) {
    config_ = Str(svc, "config");
    upstream_ = Str(svc, "upstream");
    stable_ = Str(svc, "stable");
    canary_ = Str(svc, "canary");
    for (const char* k : {"config", "upstream", "stable", "canary"}) {
      if (Str(svc, k).empty()) throw std::runtime_error(fmt::format("an nginx service needs `{}`", k));
    }
    reload_ = svc.contains("reload") ? host_.Render(svc["reload"], {}) : std::string("nginx -s reload");
    env_ = host_.Env(svc.value("env", json::object()));
  }
  bool Release(json&, std::string* error) override {
    const bool ok = Apply(0, error);
    // A failed Apply leaves the file and nginx as they were (unless putting
    // the file back failed too): the abort that follows has nothing to undo,
    // and repeating the failing rewrite would report a failed rollback.
    unreleased_ = !ok && !dirty_;
    return ok;
  }
  bool SetWeight(double p, const json&, std::string* error) override { return Apply(p, error); }
  bool Promote(const json&, std::string* error) override { return Apply(100, error); }
  bool Abort(bool, bool, const json&, std::string* error) override { return unreleased_ || Apply(0, error); }
  bool Retire(const json&, std::string*) override { return true; }  // the old backend is not nginx's to stop
  bool Rolling(json&, std::string* error) override { return Apply(100, error); }

 private:
  bool Apply(double percent, std::string* error) {
    bool ok = false;
    const std::string before = ReadFile(config_, &ok);
    if (!ok) {
      *error = fmt::format("cannot read nginx config {}", config_);
      return false;
    }
    std::string after;
    try {
      after = RewriteUpstream(before, upstream_, NginxServers(stable_, canary_, percent));
    } catch (const std::exception& e) {
      *error = e.what();
      return false;
    }
    try {
      WriteFileAtomic(config_, after);
    } catch (const std::exception& e) {
      *error = fmt::format("cannot write {}: {}", config_, e.what());
      return false;
    }
    RolloutHost::CommandResult r = host_.Command(who_, reload_, env_);
    if (r.ok) return true;
    // nginx kept the old configuration; so does the file.
    try {
      WriteFileAtomic(config_, before);
    } catch (const std::exception&) {
      dirty_ = true;
    }
    *error = fmt::format("nginx reload (`{}`) failed: {}; {} restored", reload_, r.error, config_);
    return false;
  }

  std::string who_, config_, upstream_, stable_, canary_, reload_;
  std::vector<std::pair<std::string, std::string>> env_;
  RolloutHost& host_;
  bool dirty_ = false;       // a failed change could not be put back
  bool unreleased_ = false;  // the release failed and changed nothing
};

// ---- command ------------------------------------------------------------------------------

class CommandProvider : public Provider {
 public:
  CommandProvider(const json& svc, std::string version, std::string who, RolloutHost& host)
      : svc_(svc), version_(std::move(version)), who_(std::move(who)), host_(host) {
    env_ = host_.Env(svc.value("env", json::object()));
  }
  bool Release(json&, std::string* error) override { return Do("release", 0, false, error); }
  bool SetWeight(double p, const json&, std::string* error) override { return Do("set_weight", p, true, error); }
  bool Promote(const json&, std::string* error) override { return Do("promote", 100, false, error); }
  bool Abort(bool promoted, bool, const json&, std::string* error) override {
    // After promotion the old version is gone from traffic: `rollback` says how to bring it back.
    if (promoted && svc_.contains("rollback")) return Do("rollback", 0, true, error);
    return Do("abort", 0, true, error);
  }
  bool Retire(const json&, std::string*) override { return true; }
  bool Rolling(json& memo, std::string* error) override { return Release(memo, error) && Promote(memo, error); }

 private:
  // `required`: without the command the operation cannot happen (traffic
  // would silently stay where it is), so its absence is a failure.
  bool Do(const char* op, double weight, bool required, std::string* error) {
    if (!svc_.contains(op)) {
      if (!required) return true;
      *error = fmt::format("service `{}` has no `{}` command", Str(svc_, "name"), op);
      return false;
    }
    const std::string cmd = host_.Render(svc_[op], {{"version", version_}, {"weight", weight}});
    RolloutHost::CommandResult r = host_.Command(who_, cmd, env_);
    if (!r.ok) *error = fmt::format("`{}` command failed: {}", op, r.error);
    return r.ok;
  }

  json svc_;
  std::string version_, who_;
  std::vector<std::pair<std::string, std::string>> env_;
  RolloutHost& host_;
};

// ---- k8s ----------------------------------------------------------------------------------

class K8sProvider : public Provider {
 public:
  K8sProvider(const json& svc, std::string kind, std::string version, std::string who, RolloutHost& host)
      : kind_(std::move(kind)), version_(std::move(version)), who_(std::move(who)), host_(host) {
    deployment_ = Str(svc, "deployment");
    if (deployment_.empty()) throw std::runtime_error("a k8s service needs `deployment`");
    container_ = Str(svc, "container", deployment_);
    service_ = Str(svc, "service", deployment_);
    selector_ = Str(svc, "selector", "color");
    if (svc.contains("replicas") && svc["replicas"].is_number()) replicas_ = svc["replicas"].get<int>();
    kubectl_ = "kubectl";
    if (!Str(svc, "context").empty()) kubectl_ += " --context " + ShellQuote(Str(svc, "context"));
    if (!Str(svc, "namespace").empty()) kubectl_ += " -n " + ShellQuote(Str(svc, "namespace"));
  }

  bool Release(json& memo, std::string* error) override {
    if (kind_ == "blue_green") {
      std::string colour;
      if (!Kubectl(fmt::format("get service {} -o jsonpath={}", Q(service_), Q("{.spec.selector." + selector_ + "}")), error, &colour)) return false;
      colour = Trim(colour);
      if (colour != "blue" && colour != "green") {
        *error = fmt::format("service `{}` selects `{}={}`; blue-green needs it to select `{}=blue` or `{}=green` "
                             "(Deployments {}-blue and {}-green)",
                             service_, selector_, colour, selector_, selector_, deployment_, deployment_);
        return false;
      }
      const std::string next = colour == "blue" ? "green" : "blue";
      json base;
      if (!GetDeployment(deployment_ + "-" + colour, &base, error)) return false;
      memo["old"] = colour;
      memo["new"] = next;
      memo["replicas"] = Replicas(base);
      json m = Derived(base, deployment_ + "-" + next, selector_, next, Replicas(base));
      return Apply(m, error) && Kubectl("rollout status deployment/" + Q(deployment_ + "-" + next) + " --timeout=600s", error);
    }
    json base;
    if (!GetDeployment(deployment_, &base, error)) return false;
    memo["replicas"] = Replicas(base);
    return Apply(Derived(base, deployment_ + "-canary", "track", "canary", 0), error);
  }

  bool SetWeight(double p, const json& memo, std::string* error) override {
    const int total = memo.value("replicas", 1);
    // 0% (a canary's first weight may be 0%) gives the canary no pod, so no traffic.
    const int canary = p <= 0 ? 0 : std::max(1, static_cast<int>(std::lround(total * p / 100.0)));
    const int stable = std::max(1, total - canary);
    return Kubectl(fmt::format("scale deployment/{} --replicas={}", Q(deployment_ + "-canary"), canary), error) &&
           Kubectl(fmt::format("scale deployment/{} --replicas={}", Q(deployment_), stable), error);
  }

  bool Promote(const json& memo, std::string* error) override {
    if (kind_ == "blue_green") return Switch(memo.value("new", ""), error);
    return Kubectl(fmt::format("set image deployment/{} {}", Q(deployment_), Q(container_ + "=" + version_)), error) &&
           Kubectl(fmt::format("scale deployment/{} --replicas={}", Q(deployment_), memo.value("replicas", 1)), error) &&
           Kubectl("rollout status deployment/" + Q(deployment_) + " --timeout=600s", error) &&
           Kubectl("delete deployment/" + Q(deployment_ + "-canary") + " --ignore-not-found", error);
  }

  bool Abort(bool promoted, bool retired, const json& memo, std::string* error) override {
    if (kind_ == "blue_green") {
      const std::string old = memo.value("old", ""), next = memo.value("new", "");
      if (old.empty()) return true;  // never released: nothing to undo
      bool ok = true;
      std::string e;
      // Every step is tried, as rollback steps are: a failure is reported, not a reason to stop.
      if (retired) ok = Kubectl(fmt::format("scale deployment/{} --replicas={}", Q(deployment_ + "-" + old), memo.value("replicas", 1)), &e) &&
                        Kubectl("rollout status deployment/" + Q(deployment_ + "-" + old) + " --timeout=600s", &e);
      if (promoted) ok = Switch(old, &e) && ok;
      ok = Kubectl("delete deployment/" + Q(deployment_ + "-" + next) + " --ignore-not-found", &e) && ok;
      if (!ok) *error = e;
      return ok;
    }
    if (promoted || kind_ == "rolling") {
      return Kubectl("rollout undo deployment/" + Q(deployment_), error) &&
             Kubectl("rollout status deployment/" + Q(deployment_) + " --timeout=600s", error);
    }
    std::string e;
    bool ok = Kubectl(fmt::format("scale deployment/{} --replicas={}", Q(deployment_), memo.value("replicas", 1)), &e);
    ok = Kubectl("delete deployment/" + Q(deployment_ + "-canary") + " --ignore-not-found", &e) && ok;
    if (!ok) *error = e;
    return ok;
  }

  bool Retire(const json& memo, std::string* error) override {
    if (kind_ != "blue_green") return true;
    return Kubectl(fmt::format("scale deployment/{} --replicas=0", Q(deployment_ + "-" + memo.value("old", ""))), error);
  }

  bool Rolling(json&, std::string* error) override {
    return Kubectl(fmt::format("set image deployment/{} {}", Q(deployment_), Q(container_ + "=" + version_)), error) &&
           Kubectl("rollout status deployment/" + Q(deployment_) + " --timeout=600s", error);
  }

 private:
  static std::string Q(const std::string& s) { return ShellQuote(s); }
  static std::string Trim(std::string s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.erase(0, 1);
    return s;
  }
  int Replicas(const json& d) const {
    if (replicas_ > 0) return replicas_;
    const json* r = d.contains("spec") ? &d["spec"] : nullptr;
    if (r && r->contains("replicas") && (*r)["replicas"].is_number_integer()) return std::max(1, (*r)["replicas"].get<int>());
    return 1;
  }
  bool Kubectl(const std::string& args, std::string* error, std::string* out = nullptr) {
    RolloutHost::CommandResult r = host_.Command(who_, kubectl_ + " " + args, {});
    if (!r.ok) *error = fmt::format("`{} {}` failed: {}", kubectl_, args, r.error);
    if (out) *out = r.out;
    return r.ok;
  }
  bool GetDeployment(const std::string& name, json* out, std::string* error) {
    std::string text;
    if (!Kubectl("get deployment " + Q(name) + " -o json", error, &text)) return false;
    *out = json::parse(text, nullptr, false);
    if (!out->is_object() || !out->contains("spec")) {
      *error = fmt::format("`kubectl get deployment {}` did not return a Deployment as JSON", name);
      return false;
    }
    return true;
  }
  bool Switch(const std::string& colour, std::string* error) {
    const std::string patch = json{{"spec", {{"selector", {{selector_, colour}}}}}}.dump();
    return Kubectl(fmt::format("patch service {} -p {}", Q(service_), Q(patch)), error);
  }
  // A copy of Deployment `base` named `name`, its pods labelled key=value,
  // running the new version, with `replicas` replicas.
  json Derived(const json& base, const std::string& name, const std::string& key, const std::string& value, int replicas) const {
    json m;
    m["apiVersion"] = "apps/v1";
    m["kind"] = "Deployment";
    json meta;
    meta["name"] = name;
    if (base["metadata"].contains("namespace")) meta["namespace"] = base["metadata"]["namespace"];
    meta["labels"] = base["metadata"].value("labels", json::object());
    meta["labels"][key] = value;
    m["metadata"] = meta;
    json spec = base["spec"];
    spec.erase("replicas");
    spec["replicas"] = replicas;
    spec["selector"]["matchLabels"][key] = value;
    spec["template"]["metadata"]["labels"][key] = value;
    bool found = false;
    for (auto& c : spec["template"]["spec"]["containers"]) {
      if (c.value("name", "") == container_) {
        c["image"] = version_;
        found = true;
      }
    }
    if (!found && spec["template"]["spec"]["containers"].size() == 1) spec["template"]["spec"]["containers"][0]["image"] = version_;
    m["spec"] = spec;
    return m;
  }
  bool Apply(const json& manifest, std::string* error) {
    const std::string path = fmt::format("{}/{}.json", host_.RunDir(), manifest["metadata"]["name"].get<std::string>());
    try {
      WriteFileAtomic(path, manifest.dump(2) + "\n");
    } catch (const std::exception& e) {
      *error = e.what();
      return false;
    }
    return Kubectl("apply -f " + Q(path), error);
  }

  std::string kind_, version_, who_, deployment_, container_, service_, selector_, kubectl_;
  int replicas_ = 0;
  RolloutHost& host_;
};

}  // namespace

std::vector<std::string> NginxServers(const std::string& stable, const std::string& canary, double percent) {
  if (percent <= 0) return {stable};
  if (percent >= 100) return {canary};
  // Weights in tenths of a percent, reduced: 25% -> stable 3, canary 1.
  const long c = std::lround(percent * 10), s = 1000 - c;
  const long g = std::gcd(c, s);
  return {fmt::format("{} weight={}", stable, s / g), fmt::format("{} weight={}", canary, c / g)};
}

std::string RewriteUpstream(const std::string& config, const std::string& upstream, const std::vector<std::string>& servers) {
  // Find `upstream NAME {` as whole words, outside comments.
  auto is_word = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '-' || ch == '.'; };
  std::size_t i = 0, open = std::string::npos;
  while (i < config.size()) {
    if (config[i] == '#') {
      while (i < config.size() && config[i] != '\n') ++i;
      continue;
    }
    if (config.compare(i, 8, "upstream") == 0 && (i == 0 || !is_word(config[i - 1])) && i + 8 < config.size() && !is_word(config[i + 8])) {
      std::size_t j = i + 8;
      while (j < config.size() && std::isspace(static_cast<unsigned char>(config[j]))) ++j;
      std::size_t k = j;
      while (k < config.size() && is_word(config[k])) ++k;
      std::size_t b = k;
      while (b < config.size() && std::isspace(static_cast<unsigned char>(config[b]))) ++b;
      if (config.compare(j, k - j, upstream) == 0 && k - j == upstream.size() && b < config.size() && config[b] == '{') {
        open = b;
        break;
      }
    }
    ++i;
  }
  if (open == std::string::npos) throw std::runtime_error(fmt::format("no `upstream {} {{ ... }}` block in the nginx config", upstream));
  std::size_t close = open + 1;
  int depth = 1;
  for (; close < config.size(); ++close) {
    if (config[close] == '#') {
      while (close < config.size() && config[close] != '\n') ++close;
      continue;
    }
    if (config[close] == '{') ++depth;
    if (config[close] == '}' && --depth == 0) break;
  }
  if (close >= config.size()) throw std::runtime_error(fmt::format("the `upstream {}` block is not closed", upstream));
  // Keep every directive but `server`; statements end with `;`.
  std::string body = config.substr(open + 1, close - open - 1);
  std::vector<std::string> kept;
  std::string stmt;
  for (std::size_t p = 0; p < body.size(); ++p) {
    if (body[p] == '#') {
      while (p < body.size() && body[p] != '\n') ++p;
      continue;
    }
    stmt += body[p];
    if (body[p] == ';') {
      std::size_t a = stmt.find_first_not_of(" \t\r\n");
      std::string s = a == std::string::npos ? "" : stmt.substr(a);
      if (s.rfind("server", 0) != 0 || (s.size() > 6 && !std::isspace(static_cast<unsigned char>(s[6])))) kept.push_back(s);
      stmt.clear();
    }
  }
  std::string out = config.substr(0, open + 1) + "\n";
  out += "    # managed by trixc: server lines are rewritten on every traffic change\n";
  for (const auto& s : servers) out += "    server " + s + ";\n";
  for (const auto& s : kept) out += "    " + s + "\n";
  out += config.substr(close);
  return out;
}

std::unique_ptr<Provider> MakeProvider(const json& service, const std::string& kind, const std::string& version, const std::string& who,
                                       RolloutHost& host) {
  const std::string p = Str(service, "provider");
  if (p == "nginx") return std::make_unique<NginxProvider>(service, who, host);
  if (p == "command") return std::make_unique<CommandProvider>(service, version, who, host);
  if (p == "k8s") return std::make_unique<K8sProvider>(service, kind, version, who, host);
  throw std::runtime_error(fmt::format("service `{}` has no provider this trixc knows (`{}`)", Str(service, "name"), p));
}

}  // namespace trix::rt
