// Traffic providers for rollouts (spec §7): the four operations — release,
// set weight, promote, abort — for nginx, user commands and kubectl.
// Internal to the runtime; runtime/rollout.cpp is the only user.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "runtime/rollout.hpp"

namespace trix::rt {

class Provider {
 public:
  virtual ~Provider() = default;
  /// Brings the new version up beside the old one, with no traffic. May
  /// store facts it needs later (replicas, colours) in `memo`, which is journalled.
  virtual bool Release(nlohmann::json& memo, std::string* error) = 0;
  /// Sends `percent` (0 < percent < 100) of the traffic to the new version.
  virtual bool SetWeight(double percent, const nlohmann::json& memo, std::string* error) = 0;
  /// All traffic to the new version, which becomes the stable one.
  virtual bool Promote(const nlohmann::json& memo, std::string* error) = 0;
  /// Traffic back to the old version and the new one removed. `promoted`:
  /// the new version had been promoted (this is then a rollback); `retired`:
  /// the old blue-green colour had been scaled down and must come back first.
  virtual bool Abort(bool promoted, bool retired, const nlohmann::json& memo, std::string* error) = 0;
  /// Blue-green, after `scale_down_delay`: the old colour is scaled down.
  virtual bool Retire(const nlohmann::json& memo, std::string* error) = 0;
  /// A rolling update (no strategy): the provider's default.
  virtual bool Rolling(nlohmann::json& memo, std::string* error) = 0;
};

/// The provider named by `service.provider`, for `version`, under strategy
/// `kind` (canary, blue_green, rolling). Throws std::runtime_error for an
/// incomplete service (e.g. nginx without `config`).
std::unique_ptr<Provider> MakeProvider(const nlohmann::json& service, const std::string& kind, const std::string& version,
                                       const std::string& who, RolloutHost& host);

}  // namespace trix::rt
