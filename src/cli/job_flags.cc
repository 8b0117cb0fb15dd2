#include "cli/job_flags.h"

namespace sluice::cli {

Result<bool> Switch(const std::string& flag, const std::string& value, bool fallback) {
  if (value == "unset") return fallback;
  if (value.empty() || value == "on" || value == "true") return true;
  if (value == "off" || value == "false") return false;
  return InvalidInput(flag, " takes on or off, not '", value, "'");
}

Result<std::map<std::string, std::string>> KeyValues(const char* flag, const std::vector<std::string>& pairs) {
  std::map<std::string, std::string> out;
  for (const auto& kv : pairs) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return InvalidInput(flag, " '", kv, "': expected name=value");
    out[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return out;
}

void JobFlags::Register(CLI::App* command) {
  command->add_option("-a,--arg", args, "Job argument, key=value (repeatable; recorded on the job)");
  command->add_option("--priority", priority, "Job priority, 1 to 10 (recorded on the job)");
  command->add_option("--cache", cache, "Column cache, on|off: off reads every byte from storage")->expected(0, 1);
  command->add_flag("--no-cache", no_cache, "= --cache off");
}

Status JobFlags::WriteTo(nlohmann::json* body) const {
  SLUICE_ASSIGN_OR_RAISE(auto job_args, KeyValues("--arg", args));
  SLUICE_ASSIGN_OR_RAISE(bool cached, Switch("--cache", cache, !no_cache));
  if (priority && (*priority < 1 || *priority > 10)) {
    return InvalidInput("--priority takes a number from 1 to 10, not ", *priority);
  }
  (*body)["args"] = job_args;
  (*body)["cache"] = cached ? "on" : "off";
  if (priority) (*body)["priority"] = *priority;
  return Status::OK();
}

}  // namespace sluice::cli
