// The client configuration file and its profiles (bauplan's ~/.config/bauplan.yaml, ours):
//
//   profiles:
//     default:
//       api_key: "..."                      # sent as Authorization: Bearer <key>
//       endpoint: "http://127.0.0.1:8181"   # absent: the local data home (embedded)
//       active_branch: "alice.dev"
//
// The file is $SLUICE_CONFIG_PATH, else $BAUPLAN_CONFIG_PATH, else ~/.sluice/config.yml. It
// holds API keys, so it is written with mode 0600, and reading one that other users can
// read prints a warning. The Python SDK reads the same file (python/sluice/).
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace sluice::cli {

std::string ConfigFilePath();

// Profile names are YAML keys, never paths, yet they also travel in messages and env
// variables: letters, digits, '_', '-' and '.', not starting with '.', at most 64.
Status ValidateProfileName(const std::string& name);

struct Profile {
  std::string name;      // "default" unless chosen
  bool in_file = false;  // the config file defines it
  std::string api_key, endpoint, active_branch;
};

// The settings `sluice config set` knows: api_key, endpoint (or bauplan's api_endpoint),
// active_branch. Returns the canonical key, or InvalidInput listing them.
Result<std::string> CanonicalSetting(const std::string& key);

// The profile to use: `explicit_name` (--profile), else $SLUICE_PROFILE / $BAUPLAN_PROFILE,
// else "default". A profile named explicitly or by the environment must exist in the file
// (NotFound listing the ones that do); "default" may be absent (an empty profile).
Result<Profile> ResolveProfile(const std::string& explicit_name);

// Every profile in the file, in file order.
Result<std::vector<Profile>> LoadProfiles();

// Sets `key` (canonical) of profile `name` in the file, creating the file (0600), the
// profile and its parent directory as needed. Other profiles and keys are kept.
Status SetProfileSetting(const std::string& name, const std::string& key, const std::string& value);

}  // namespace sluice::cli
