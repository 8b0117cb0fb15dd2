#include "cli/cli_context.h"

#include <cstdlib>
#include <iostream>

#include "cli/server_commands.h"
#include "cli/warm_server.h"
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

Result<std::string> CliContext::RemoteUrl() {
  SLUICE_ASSIGN_OR_RAISE(const Profile* chosen, profile());
  return endpoint.empty() ? chosen->endpoint : endpoint;
}

Result<std::string> CliContext::ApiKey() {
  for (const char* name : {"SLUICE_API_KEY", "BAUPLAN_API_KEY"}) {
    const char* value = std::getenv(name);
    if (value && *value) return std::string(value);
  }
  SLUICE_ASSIGN_OR_RAISE(const Profile* chosen, profile());
  return chosen->api_key;
}

int64_t CliContext::AnswerTimeout() const {
  return client_timeout_seconds > 0 ? client_timeout_seconds + answer_grace_seconds : client_timeout_seconds;
}

Result<Backend*> CliContext::backend() {
  if (!backend_) {
    SLUICE_ASSIGN_OR_RAISE(std::string url, RemoteUrl());
    if (!url.empty()) {
      if (client_timeout_seconds == 0 || client_timeout_seconds < -1) {
        return InvalidInput("--client-timeout ", client_timeout_seconds, ": expected seconds > 0, or -1 for none");
      }
      SLUICE_ASSIGN_OR_RAISE(std::string api_key, ApiKey());
      backend_ = MakeRemoteBackend(url, api_key, AnswerTimeout());
    } else {
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, lakehouse());
      SLUICE_ASSIGN_OR_RAISE(backend_, MakeLocalBackend(lake));
    }
  }
  return backend_.get();
}

Result<Backend*> CliContext::run_backend() {
  if (server_backend_) return server_backend_.get();
  SLUICE_ASSIGN_OR_RAISE(std::string url, RemoteUrl());
  std::string home = AbsolutePath(DataHome());
  if (!url.empty() || !ServerWanted(home)) return backend();
  WarmServer server = ReachServer(home, SluiceBinary());
  if (server.pid > 0) {
    auto connected = ConnectToServer(home, server.pid);
    if (connected.ok()) {
      server_backend_ = std::move(*connected);
      server_pid_ = server.pid;
      return server_backend_.get();
    }
    server.why_not = connected.status().message();
  }
  std::cerr << "sluice: " << server.why_not << "; running in this process instead" << std::endl;
  return backend();
}

Result<std::unique_ptr<Backend>> CliContext::NewConnection() {
  if (server_pid_ > 0) return ConnectToServer(AbsolutePath(DataHome()), server_pid_);
  SLUICE_ASSIGN_OR_RAISE(std::string url, RemoteUrl());
  if (url.empty()) return std::unique_ptr<Backend>();
  SLUICE_ASSIGN_OR_RAISE(std::string api_key, ApiKey());
  return MakeRemoteBackend(url, api_key, AnswerTimeout());
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
