// What every CLI command shares: the data home, the active branch, the output format,
// and one way of printing results and errors.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "cli/backend.h"
#include "exec/lakehouse.h"

namespace sluice::cli {

enum class OutputFormat { kTty, kJson };

class CliContext {
 public:
  OutputFormat output = OutputFormat::kTty;
  bool verbose = false;

  std::string endpoint;  // --endpoint or $SLUICE_ENDPOINT: talk to `sluice serve` there

  // Opens the data home on first use.
  Result<Lakehouse*> lakehouse();
  // The API the commands call: the remote server when an endpoint is set, else the data home.
  Result<Backend*> backend();

  // The branch `sluice checkout` last selected (state.json in the data home), "main" at first.
  std::string ActiveBranch() const;
  Status SetActiveBranch(const std::string& branch);

  bool json() const { return output == OutputFormat::kJson; }
  // Prints a JSON document on stdout.
  void PrintJson(const nlohmann::json& value) const;

 private:
  std::unique_ptr<Lakehouse> lakehouse_;
  std::unique_ptr<Backend> backend_;
};

// Prints "error: ..." (and "hint: ..." when the status has one) on stderr and returns the
// process exit code for the status (0 when ok). With JSON errors on (-O json), prints one
// JSON object instead: {"error": {"kind", "message", "hint"}}, so SDKs can raise typed errors.
int ReportError(const Status& status);
void SetJsonErrors(bool on);

// "1,234,567"
std::string FormatCount(int64_t value);

}  // namespace sluice::cli
