// sluice config get / set: the profiles of the client configuration file (config_file.h),
// as bauplan's `config` command manages them. `-P/--profile` picks the profile. Settings
// named `storage.*` (exec/allowed_sources.h), `server.auto` (cli/warm_server.h) and
// `memory.budget` (data/memory_budget.h) are the local data home's instead.
#include <iostream>

#include "cli/commands.h"
#include "cli/warm_server.h"
#include "common/config.h"
#include "common/file_util.h"
#include "data/memory_budget.h"
#include "exec/allowed_sources.h"

namespace sluice::cli {
namespace {

using nlohmann::json;

// API keys are never printed whole.
std::string Masked(const std::string& key) {
  if (key.empty()) return "";
  return key.size() > 8 ? "********" + key.substr(key.size() - 4) : "********";
}

json ProfileJson(const Profile& profile) {
  return {{"name", profile.name},
          {"api_key", profile.api_key.empty() ? json(nullptr) : json(Masked(profile.api_key))},
          {"endpoint", profile.endpoint.empty() ? json(nullptr) : json(profile.endpoint)},
          {"active_branch", profile.active_branch.empty() ? "main" : profile.active_branch},
          {"config_path", ConfigFilePath()}};
}

void PrintProfile(const Profile& profile) {
  std::cout << "Profile \"" << profile.name << "\"\n"
            << "API Key        " << (profile.api_key.empty() ? "-" : Masked(profile.api_key)) << "\n"
            << "Endpoint       " << (profile.endpoint.empty() ? "(embedded: the local data home)" : profile.endpoint)
            << "\n"
            << "Active Branch  " << (profile.active_branch.empty() ? "main" : profile.active_branch) << "\n";
}

bool IsHomeSetting(const std::string& name) { return name.rfind("storage.", 0) == 0; }

Status CheckHomeSetting(const std::string& name) {
  if (name == kAllowedSourcesSetting) return Status::OK();
  return InvalidInput("unknown data home setting '", name, "': the one there is is ", kAllowedSourcesSetting);
}

json PrefixList(const std::vector<StorageUri>& prefixes) {
  json out = json::array();
  for (const auto& prefix : prefixes) out.push_back(prefix.ToString());
  return out;
}

void PrintHomeSetting(CliContext& context, const std::string& name, const std::vector<StorageUri>& prefixes) {
  if (context.json()) {
    context.PrintJson({{name, PrefixList(prefixes)}});
    return;
  }
  std::string text;
  for (const auto& prefix : prefixes) text += (text.empty() ? "" : ",") + prefix.ToString();
  std::cout << text << "\n";
}

void PrintServerAuto(CliContext& context, const std::string& home) {
  std::string value = ReadServerAuto(home);
  if (context.json()) {
    context.PrintJson({{kServerAutoSetting, value}});
  } else {
    std::cout << value << "\n";
  }
}

// The budget in force and where it comes from ($SLUICE_MEMORY_BUDGET wins over the setting).
void PrintMemoryBudget(CliContext& context, const std::string& home) {
  auto budget = ResolveMemoryBudget(home, SharedMemoryRootFor(home));
  int64_t bytes = budget.ok() ? budget->bytes : 0;
  std::string source = budget.ok() ? budget->source : budget.status().message();
  if (context.json()) {
    context.PrintJson({{kMemoryBudgetSetting, bytes}, {"source", source}});
  } else {
    std::cout << bytes << " (" << source << ")\n";
  }
}

}  // namespace

void AddConfigCommands(CLI::App& app, CliContext& context, int* exit_code) {
  auto* config = app.add_subcommand("config", "Show and change the profiles of the config file");
  config->require_subcommand(1);

  auto* set = config->add_subcommand("set", "Set api_key, endpoint or active_branch of the profile");
  auto name = std::make_shared<std::string>();
  auto value = std::make_shared<std::string>();
  set->add_option(
         "name", *name,
         "api_key, endpoint, active_branch, or the data home's storage.allowed_sources, server.auto or memory.budget")
      ->required();
  set->add_option("value", *value, "The value")->required();
  set->callback([&context, exit_code, name, value] {
    *exit_code = ReportError([&]() -> Status {
      if (*name == kMemoryBudgetSetting) {
        // The local data home's: the object store's memory budget (data/memory_budget.h).
        std::string home = AbsolutePath(DataHome());
        SLUICE_RETURN_NOT_OK(SetMemoryBudgetSetting(home, *value));
        if (!context.json()) std::cerr << "Set " << *name << " of the data home " << home << "\n";
        PrintMemoryBudget(context, home);
        return Status::OK();
      }
      if (*name == kServerAutoSetting) {
        // The local data home's: whether its background server serves local runs.
        std::string home = AbsolutePath(DataHome());
        SLUICE_RETURN_NOT_OK(SetServerAuto(home, *value));
        if (!context.json()) std::cerr << "Set " << *name << " of the data home " << home << "\n";
        PrintServerAuto(context, home);
        return Status::OK();
      }
      if (IsHomeSetting(*name)) {
        // The local data home's, never a remote server's: only its owner widens what it reads.
        SLUICE_RETURN_NOT_OK(CheckHomeSetting(*name));
        SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
        SLUICE_ASSIGN_OR_RAISE(auto prefixes, SetAllowedSources(lake->home(), *value));
        if (!context.json()) std::cerr << "Set " << *name << " of the data home " << lake->home() << "\n";
        PrintHomeSetting(context, *name, prefixes);
        return Status::OK();
      }
      SLUICE_ASSIGN_OR_RAISE(std::string key, CanonicalSetting(*name));
      std::string profile = context.profile_name;
      if (profile.empty()) {
        for (const char* env : {"SLUICE_PROFILE", "BAUPLAN_PROFILE"}) {
          const char* text = std::getenv(env);
          if (text && *text) {
            profile = text;
            break;
          }
        }
      }
      if (profile.empty()) profile = "default";
      if (key == "endpoint" && !value->empty() && value->rfind("http://", 0) != 0 && value->rfind("https://", 0) != 0) {
        return InvalidInput("endpoint '", *value, "' is not an http:// or https:// URL");
      }
      SLUICE_RETURN_NOT_OK(SetProfileSetting(profile, key, *value));
      // A new API key starts on main, as in bauplan.
      if (key == "api_key") SLUICE_RETURN_NOT_OK(SetProfileSetting(profile, "active_branch", "main"));
      if (context.json()) {
        context.PrintJson({{"profile", profile}, {"set", key}, {"config_path", ConfigFilePath()}});
      } else {
        std::cerr << "Set " << key << " for profile \"" << profile << "\" in " << ConfigFilePath() << "\n";
        if (key == "api_key") std::cerr << "Active branch reset to \"main\" for profile \"" << profile << "\"\n";
      }
      return Status::OK();
    }());
  });

  auto* get = config->add_subcommand("get", "Show the profile in use (or every profile with --all)");
  auto all = std::make_shared<bool>(false);
  auto setting = std::make_shared<std::string>();
  get->add_option("name", *setting, "Only this setting: api_key, endpoint or active_branch");
  get->add_flag("-a,--all", *all, "Show every profile");
  get->callback([&context, exit_code, all, setting] {
    *exit_code = ReportError([&]() -> Status {
      if (*all) {
        SLUICE_ASSIGN_OR_RAISE(std::vector<Profile> profiles, LoadProfiles());
        if (context.json()) {
          json out = json::array();
          for (const auto& profile : profiles) out.push_back(ProfileJson(profile));
          context.PrintJson(out);
        } else {
          for (size_t i = 0; i < profiles.size(); ++i) {
            if (i > 0) std::cout << "\n";
            PrintProfile(profiles[i]);
          }
        }
        return Status::OK();
      }
      if (*setting == kMemoryBudgetSetting) {
        PrintMemoryBudget(context, AbsolutePath(DataHome()));
        return Status::OK();
      }
      if (*setting == kServerAutoSetting) {
        PrintServerAuto(context, AbsolutePath(DataHome()));
        return Status::OK();
      }
      if (IsHomeSetting(*setting)) {
        SLUICE_RETURN_NOT_OK(CheckHomeSetting(*setting));
        SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
        SLUICE_ASSIGN_OR_RAISE(auto prefixes, ReadAllowedSources(lake->home()));
        PrintHomeSetting(context, *setting, prefixes);
        return Status::OK();
      }
      SLUICE_ASSIGN_OR_RAISE(const Profile* profile, context.profile());
      if (!setting->empty()) {
        SLUICE_ASSIGN_OR_RAISE(std::string key, CanonicalSetting(*setting));
        json shown = ProfileJson(*profile);
        if (context.json()) {
          context.PrintJson({{key, shown[key]}});
        } else {
          std::cout << (shown[key].is_null() ? "" : shown[key].get<std::string>()) << "\n";
        }
        return Status::OK();
      }
      if (context.json()) {
        context.PrintJson(ProfileJson(*profile));
      } else {
        PrintProfile(*profile);
      }
      return Status::OK();
    }());
  });
}

}  // namespace sluice::cli
