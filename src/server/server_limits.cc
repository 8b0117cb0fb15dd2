#include "server/server_limits.h"

#include <cmath>
#include <cstdlib>
#include <sstream>

namespace sluice {
namespace {

Result<double> ParseSeconds(const char* variable, const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || !std::isfinite(value) || value < 0 || value > kMaxLimitSeconds) {
    return InvalidInput("$", variable, " is '", text, "': expected seconds from 0 (no limit) to ", kMaxLimitSeconds);
  }
  return value;
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
    size_t used = 0;
    int value = 0;
    try {
      value = std::stoi(text, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || text[used] != '\0' || value < 1 || value > ServerLimits::kMaxRemoteWorkers) {
      return InvalidInput("$", kRemoteWorkersPerUserVariable, " is '", text, "': expected a whole number from 1 to ",
                          ServerLimits::kMaxRemoteWorkers, " (the server's limit)");
    }
    limits.remote_workers_per_user = value;
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
