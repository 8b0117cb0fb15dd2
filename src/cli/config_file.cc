#include "cli/config_file.h"

#include <sys/stat.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <iostream>

#include "common/file_util.h"

namespace sluice::cli {
namespace {

const char* Env(const char* name) {
  const char* value = std::getenv(name);
  return value && *value ? value : nullptr;
}

// Warns once per process when the file holding API keys can be read by others.
void WarnIfShared(const std::string& path) {
  static bool warned = false;
  struct stat info {};
  if (warned || ::stat(path.c_str(), &info) != 0 || (info.st_mode & 077) == 0) return;
  warned = true;
  std::cerr << "warning: config file '" << path << "' is readable by other users; it holds API keys "
            << "(fix: chmod 600 " << path << ")" << std::endl;
}

// The parsed file, or an empty map when there is none.
Result<YAML::Node> LoadDocument(const std::string& path) {
  if (!PathExists(path)) return YAML::Node(YAML::NodeType::Map);
  WarnIfShared(path);
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return InvalidInput("config file '", path, "':", e.mark.line + 1, ": invalid YAML: ", e.msg);
  }
  if (!root || root.IsNull()) return YAML::Node(YAML::NodeType::Map);
  if (!root.IsMap() || (root["profiles"] && !root["profiles"].IsNull() && !root["profiles"].IsMap())) {
    return InvalidInput("config file '", path, "': expected 'profiles:' mapping names to settings");
  }
  return root;
}

std::string Text(const YAML::Node& node) { return node && node.IsScalar() ? node.as<std::string>() : ""; }

Profile FromNode(const std::string& name, const YAML::Node& node) {
  Profile profile;
  profile.name = name;
  profile.in_file = true;
  if (!node || !node.IsMap()) return profile;
  profile.api_key = Text(node["api_key"]);
  profile.endpoint = Text(node["endpoint"]);
  if (profile.endpoint.empty()) profile.endpoint = Text(node["api_endpoint"]);
  profile.active_branch = Text(node["active_branch"]);
  return profile;
}

}  // namespace

std::string ConfigFilePath() {
  if (const char* path = Env("SLUICE_CONFIG_PATH")) return path;
  if (const char* path = Env("BAUPLAN_CONFIG_PATH")) return path;
  const char* home = Env("HOME");
  return std::string(home ? home : ".") + "/.sluice/config.yml";
}

Status ValidateProfileName(const std::string& name) {
  bool ok = !name.empty() && name.size() <= 64 && name[0] != '.';
  for (char c : name) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.');
  if (!ok) {
    return WithHint(InvalidInput("invalid profile name '", name, "'"),
                    "use letters, digits, '_', '-' and '.', not starting with '.'");
  }
  return Status::OK();
}

Result<std::string> CanonicalSetting(const std::string& key) {
  if (key == "api_key" || key == "active_branch" || key == "endpoint") return key;
  if (key == "api_endpoint") return std::string("endpoint");
  return InvalidInput("unknown setting '", key, "' (known: api_key, endpoint, active_branch)");
}

Result<std::vector<Profile>> LoadProfiles() {
  SLUICE_ASSIGN_OR_RAISE(YAML::Node root, LoadDocument(ConfigFilePath()));
  std::vector<Profile> out;
  if (root["profiles"] && root["profiles"].IsMap()) {
    for (const auto& entry : root["profiles"]) out.push_back(FromNode(entry.first.as<std::string>(), entry.second));
  }
  return out;
}

Result<Profile> ResolveProfile(const std::string& explicit_name) {
  std::string name = explicit_name, source = "--profile";
  if (name.empty()) {
    if (const char* env = Env("SLUICE_PROFILE")) {
      name = env, source = "$SLUICE_PROFILE";
    } else if (const char* env = Env("BAUPLAN_PROFILE")) {
      name = env, source = "$BAUPLAN_PROFILE";
    }
  }
  if (name.empty()) name = "default", source.clear();
  SLUICE_RETURN_NOT_OK(ValidateProfileName(name));
  SLUICE_ASSIGN_OR_RAISE(std::vector<Profile> profiles, LoadProfiles());
  std::string known;
  for (const auto& profile : profiles) {
    if (profile.name == name) return profile;
    known += (known.empty() ? "" : ", ") + profile.name;
  }
  if (source.empty()) {
    Profile empty;
    empty.name = name;
    return empty;
  }
  return WithHint(NotFound("profile '", name, "' (from ", source, ") is not in the config file '", ConfigFilePath(),
                           "'", known.empty() ? "" : " (profiles: " + known + ")"),
                  "create it with: sluice config set api_key KEY --profile " + name);
}

Status SetProfileSetting(const std::string& name, const std::string& key, const std::string& value) {
  SLUICE_RETURN_NOT_OK(ValidateProfileName(name));
  std::string path = ConfigFilePath();
  SLUICE_ASSIGN_OR_RAISE(YAML::Node root, LoadDocument(path));
  if (!root["profiles"] || !root["profiles"].IsMap()) root["profiles"] = YAML::Node(YAML::NodeType::Map);
  YAML::Node profile = root["profiles"][name];
  if (!profile.IsMap()) profile = YAML::Node(YAML::NodeType::Map);
  profile[key] = value;
  root["profiles"][name] = profile;
  YAML::Emitter out;
  out << root;
  if (!out.good()) return Internal("cannot write the config file: ", out.GetLastError());
  size_t slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) SLUICE_RETURN_NOT_OK(MakeDirs(path.substr(0, slash)));
  return WriteFileAtomic(path, std::string(out.c_str()) + "\n", 0600);
}

}  // namespace sluice::cli
