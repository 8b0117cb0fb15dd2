#include "cli/cli_context.h"

#include <cstdlib>
#include <iostream>

#include "common/config.h"
#include "common/file_util.h"

namespace sluice::cli {

Result<Lakehouse*> CliContext::lakehouse() {
  if (!lakehouse_) {
    SLUICE_ASSIGN_OR_RAISE(lakehouse_, Lakehouse::Open(DataHome()));
  }
  return lakehouse_.get();
}

Result<const Profile*> CliContext::profile() {
  if (!profile_) profile_ = ResolveProfile(profile_name);
  if (!profile_->ok()) return profile_->status();
  return &profile_->ValueUnsafe();
}

Result<Backend*> CliContext::backend() {
  if (!backend_) {
    SLUICE_ASSIGN_OR_RAISE(const Profile* chosen, profile());
    std::string url = endpoint.empty() ? chosen->endpoint : endpoint;
    std::string api_key = chosen->api_key;
    for (const char* name : {"SLUICE_API_KEY", "BAUPLAN_API_KEY"}) {
      const char* value = std::getenv(name);
      if (value && *value) {
        api_key = value;
        break;
      }
    }
    if (!url.empty()) {
      if (client_timeout_seconds == 0 || client_timeout_seconds < -1) {
        return InvalidInput("--client-timeout ", client_timeout_seconds, ": expected seconds > 0, or -1 for none");
      }
      backend_ = MakeRemoteBackend(url, api_key, client_timeout_seconds);
    } else {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, lakehouse());
      backend_ = MakeLocalBackend(lake);
    }
  }
  return backend_.get();
}

std::string CliContext::ActiveBranch() {
  auto chosen = profile();
  if (chosen.ok() && !(*chosen)->active_branch.empty()) return (*chosen)->active_branch;
  auto text = ReadFile(DataHome() + "/state.json");
  if (!text.ok()) return "main";
  try {
    auto state = nlohmann::json::parse(*text);
    return state.value("active_branch", "main");
  } catch (const std::exception&) {
    return "main";
  }
}

Status CliContext::SetActiveBranch(const std::string& branch) {
  nlohmann::json state = {{"active_branch", branch}};
  SLUICE_RETURN_NOT_OK(MakeDirs(DataHome()));
  SLUICE_RETURN_NOT_OK(WriteFileAtomic(DataHome() + "/state.json", state.dump(2) + "\n"));
  // A profile of the config file remembers its branch, as bauplan's `checkout` does.
  SLUICE_ASSIGN_OR_RAISE(const Profile* chosen, profile());
  if (!chosen->in_file) return Status::OK();
  SLUICE_RETURN_NOT_OK(SetProfileSetting(chosen->name, "active_branch", branch));
  profile_.reset();
  return Status::OK();
}

void CliContext::PrintJson(const nlohmann::json& value) const { std::cout << value.dump(2) << std::endl; }

namespace {
bool json_errors = false;
}  // namespace

void SetJsonErrors(bool on) { json_errors = on; }

int ReportError(const Status& status) {
  if (status.ok()) return 0;
  std::string hint = HintOf(status);
  if (json_errors) {
    nlohmann::json error = {
        {"kind", std::string(ErrorKindName(KindOf(status)))}, {"message", status.message()}, {"hint", hint}};
    std::cerr << nlohmann::json{{"error", error}}.dump() << std::endl;
  } else {
    std::cerr << "error: " << status.message() << std::endl;
    if (!hint.empty()) std::cerr << "hint: " << hint << std::endl;
  }
  return KindOf(status) == ErrorKind::kInternal ? 3 : 1;
}

std::string FormatCount(int64_t value) {
  std::string digits = std::to_string(value < 0 ? -value : value);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return value < 0 ? "-" + out : out;
}

}  // namespace sluice::cli
