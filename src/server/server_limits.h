// What one client or one query may take of a server (`sluice serve` and the data home's
// background server), beside the limits of the requests themselves (http_server.h): a share
// of the remote function workers per user, a time limit per query, and how long a
// principal's persistent query worker is kept idle. Each comes from the server's environment
// (the variable named below; `sluice serve` also has a flag for each, which wins), else its
// default. Being SLUICE_* variables, they are part of the background server's fingerprint
// (server_fingerprint.h): a client with other limits gets a server with its own.
#pragma once

#include <string>

#include "common/status.h"

namespace sluice {

struct ServerLimits {
  // The remote function workers a server runs at once over all clients (api_executors.h):
  // each holds a request thread for its byte stream.
  static constexpr int kMaxRemoteWorkers = 16;
  // How many of them one user (an API key's user) may hold at once: half the server's, so
  // that one user can never lock every other out. $SLUICE_REMOTE_WORKERS_PER_USER, from 1 to
  // kMaxRemoteWorkers. A server without keys has one user, who may take all of them.
  int remote_workers_per_user = kMaxRemoteWorkers / 2;
  // A query running longer is stopped (its worker killed) and fails naming this limit; a
  // client may ask for less, never more. $SLUICE_QUERY_TIMEOUT_SECONDS; 0 means none.
  double query_timeout_seconds = 600;
  // A principal's persistent query worker (exec/query_worker_pool.h) idle this long is
  // stopped; the principal's next query starts another. $SLUICE_QUERY_WORKER_IDLE_SECONDS;
  // 0 keeps them as long as the server runs.
  double query_worker_idle_seconds = 300;
};

// The longest time limit or idle time there is (a week): longer than anything these limits
// are meant for, and far from what would overflow a deadline.
inline constexpr double kMaxLimitSeconds = 7 * 24 * 3600.0;

inline constexpr const char* kRemoteWorkersPerUserVariable = "SLUICE_REMOTE_WORKERS_PER_USER";
inline constexpr const char* kQueryTimeoutVariable = "SLUICE_QUERY_TIMEOUT_SECONDS";
inline constexpr const char* kQueryWorkerIdleVariable = "SLUICE_QUERY_WORKER_IDLE_SECONDS";

// The defaults above, each replaced by its variable when set and not empty. InvalidInput
// naming the variable when a value is not a number in range.
Result<ServerLimits> ServerLimitsFromEnvironment();

// Checks `limits` (as the flags of `sluice serve` may have set them): InvalidInput naming the
// limit that is out of range.
Status CheckServerLimits(const ServerLimits& limits);

// "600", "1.5": a number of seconds as messages show it.
std::string SecondsText(double seconds);

}  // namespace sluice
