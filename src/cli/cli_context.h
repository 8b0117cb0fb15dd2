// What every CLI command shares: the data home, the active branch, the output format,
// and one way of printing results and errors.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/backend.h"
#include "cli/config_file.h"
#include "common/status.h"
#include "exec/lakehouse.h"

namespace sluice::cli {

enum class OutputFormat { kTty, kJson };

class CliContext {
 public:
  OutputFormat output = OutputFormat::kTty;
  bool verbose = false;

  std::string endpoint;                 // --endpoint or $SLUICE_ENDPOINT: talk to `sluice serve` there
  std::string profile_name;             // -P/--profile; empty: $SLUICE_PROFILE, $BAUPLAN_PROFILE, "default"
  int64_t client_timeout_seconds = -1;  // --client-timeout: a remote answer's limit; -1: none
  // Seconds a remote answer may take past client_timeout_seconds, set before the first
  // backend() call by a command that asks the server for that same limit (a query's time
  // limit): the server's error saying so then arrives before the client gives up.
  int64_t answer_grace_seconds = 0;

  // The profile of the config file (config_file.h) in use, read on first use. Its endpoint
  // and API key apply when neither --endpoint / $SLUICE_ENDPOINT nor $SLUICE_API_KEY /
  // $BAUPLAN_API_KEY say otherwise.
  Result<const Profile*> profile();

  // Opens the data home on first use.
  Result<Lakehouse*> lakehouse();
  // The API the commands call: the remote server when an endpoint is set, else the data home.
  Result<Backend*> backend();
  // Where `run` and `query` go: as backend() when an endpoint is set; else the data home's
  // background server when wanted and usable for this environment (cli/warm_server.h), else
  // the data home in-process, saying why on stderr in one line when the server was wanted.
  Result<Backend*> run_backend();
  // The background server's pid when run_backend() chose it, else 0.
  int server_pid() const { return server_pid_; }
  // A connection of its own to where run_backend() goes, for a cancel sent while a stream
  // holds the first; null when that is the in-process API (which is thread-safe: share it).
  Result<std::unique_ptr<Backend>> NewConnection();

  // The branch `sluice checkout` last selected: the profile's active_branch when the config
  // file sets one, else state.json in the data home; "main" at first.
  std::string ActiveBranch();
  Status SetActiveBranch(const std::string& branch);

  bool json() const { return output == OutputFormat::kJson; }
  // Prints a JSON document on stdout.
  void PrintJson(const nlohmann::json& value) const;

 private:
  // How long a remote answer may take: client_timeout_seconds and its grace.
  int64_t AnswerTimeout() const;
  std::unique_ptr<Lakehouse> lakehouse_;
  // The endpoint of --endpoint, $SLUICE_ENDPOINT or the profile; empty for the local home.
  Result<std::string> RemoteUrl();
  Result<std::string> ApiKey();

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Backend> server_backend_;
  int server_pid_ = 0;
  std::optional<Result<Profile>> profile_;
};

// Prints "error: ..." (and "hint: ..." when the status has one) on stderr and returns the
// process exit code for the status (0 when ok). With JSON errors on (-O json), prints one
// JSON object instead: {"error": {"kind", "message", "hint"}}, so SDKs can raise typed errors.
int ReportError(const Status& status);
void SetJsonErrors(bool on);

// "1,234,567"
std::string FormatCount(int64_t value);

}  // namespace sluice::cli
