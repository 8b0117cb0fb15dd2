#include "server/server_limits.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace sluice {
namespace {

// The value of `variable`, `text`, as a number from `low` to `high` (a whole one if `whole`);
// InvalidInput naming the variable and saying what was `expected` otherwise.
Result<double> ParseLimit(const char* variable, const std::string& text, double low, double high, bool whole,
                          const std::string& expected) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(value) || value < low || value > high ||
      (whole && value != std::floor(value))) {
    return InvalidInput("$", variable, " is '", text, "': expected ", expected);
  }
  return value;
}

Result<double> ParseSeconds(const char* variable, const std::string& text) {
  std::ostringstream expected;
  expected << "seconds from 0 (no limit) to " << kMaxLimitSeconds;
  return ParseLimit(variable, text, 0, kMaxLimitSeconds, /*whole=*/false, expected.str());
}

}  // namespace

std::string SecondsText(double seconds) {
  std::ostringstream out;
  out << seconds;
  return out.str();
}

Status CheckServerLimits(const ServerLimits& limits) {
  if (limits.remote_workers_per_user < 1 || limits.remote_workers_per_user > ServerLimits::kMaxRemoteWorkers) {
    return InvalidInput("remote function workers per user must be from 1 to ", ServerLimits::kMaxRemoteWorkers,
                        " (the server's limit), not ", limits.remote_workers_per_user);
  }
  for (double seconds : {limits.query_timeout_seconds, limits.query_worker_idle_seconds}) {
    if (!std::isfinite(seconds) || seconds < 0 || seconds > kMaxLimitSeconds) {
      return InvalidInput("a query time limit or idle time must be from 0 (none) to ", kMaxLimitSeconds, " s, not ",
                          SecondsText(seconds));
    }
  }
  return Status::OK();
}

Result<ServerLimits> ServerLimitsFromEnvironment() {
  ServerLimits limits;
  if (const char* text = std::getenv(kRemoteWorkersPerUserVariable); text && *text) {
    SLUICE_ASSIGN_OR_RAISE(
        double value,
        ParseLimit(
            kRemoteWorkersPerUserVariable, text, 1, ServerLimits::kMaxRemoteWorkers, /*whole=*/true,
            "a whole number from 1 to " + std::to_string(ServerLimits::kMaxRemoteWorkers) + " (the server's limit)"));
    limits.remote_workers_per_user = static_cast<int>(value);
  }
  if (const char* text = std::getenv(kQueryTimeoutVariable); text && *text) {
    SLUICE_ASSIGN_OR_RAISE(limits.query_timeout_seconds, ParseSeconds(kQueryTimeoutVariable, text));
  }
  if (const char* text = std::getenv(kQueryWorkerIdleVariable); text && *text) {
    SLUICE_ASSIGN_OR_RAISE(limits.query_worker_idle_seconds, ParseSeconds(kQueryWorkerIdleVariable, text));
  }
  return limits;
}

}  // namespace sluice
