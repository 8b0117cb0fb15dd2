// The job flags bauplan's run and query share: -a/--arg key=value (repeatable), --priority
// 1..10 and --cache on|off / --no-cache, registered and checked in one place and written
// into the API request, which records them on the job. Also the on/off and key=value
// parsers those and other flags use.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/status.h"

namespace sluice::cli {

// "on"/"off"/"true"/"false" (or "" for a bare flag, meaning on) -> bool; `fallback` when
// the flag is absent ("unset"). InvalidInput naming the flag otherwise.
Result<bool> Switch(const std::string& flag, const std::string& value, bool fallback);

// "name=value" pairs of a repeated flag. InvalidInput naming the flag and the pair.
Result<std::map<std::string, std::string>> KeyValues(const char* flag, const std::vector<std::string>& pairs);

struct JobFlags {
  std::vector<std::string> args;
  std::optional<int> priority;  // none unless given (then 1..10)
  std::string cache = "unset";  // "" when given bare (= on)
  bool no_cache = false;

  void Register(CLI::App* command);
  // Checks them and sets "args", "cache" and (when given) "priority" in `body`.
  Status WriteTo(nlohmann::json* body) const;
};

}  // namespace sluice::cli
