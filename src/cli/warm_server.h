// How `sluice run` and `sluice query` reach a local data home: through its background
// server (server/background_server.h), started on first use and reused, so a run finds
// interpreters, zygotes and DuckDB already started, as Gradle's daemon does for builds.
// The server must have been started with this client's code and environment
// (server/server_fingerprint.h); one that was not is replaced when idle and passed by when
// busy. A server that does not answer, or whose socket cannot be verified as this user's
// server of this home, is replaced. Opt out with $SLUICE_SERVER=off or the data home's
// setting server.auto=off.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/backend.h"
#include "common/status.h"

namespace sluice::cli {

// The data home's setting that turns the server off for local commands, kept as
// <home>/server-auto ("on" or "off"; absent means on).
inline constexpr const char* kServerAutoSetting = "server.auto";
// "on" or "off".
std::string ReadServerAuto(const std::string& home);
// InvalidInput unless `value` is on or off.
Status SetServerAuto(const std::string& home, const std::string& value);

// Whether local runs and queries go to the background server: yes unless $SLUICE_SERVER is
// off/0/false/no or the home's server.auto is off.
bool ServerWanted(const std::string& home);

// A connection to the server of `home` whose listening process was checked to be `pid`, of
// this uid, on a socket file owned by this uid and mode 0600 (never a symlink). IOError
// saying what did not match. `timeout_seconds` bounds each answer (-1: as long as runs take).
Result<std::unique_ptr<Backend>> ConnectToServer(const std::string& home, int pid, int64_t timeout_seconds = -1);

// The server's own account (GET /api/v1/server) within a few seconds, checked to come from
// `pid` serving `home`. IOError when it does not answer in time or is someone else.
Result<nlohmann::json> AskServer(const std::string& home, int pid);

struct WarmServer {
  int pid = 0;  // 0: no server for this command; run it in-process
  // Why not, for the one line the caller prints on stderr (empty when the server is used,
  // or when the user turned it off).
  std::string why_not;
  bool busy_elsewhere = false;  // a busy server with another environment is why
};

// The server of `home` for this process's environment, ready to take a run: started when
// none runs; replaced when it is stale (its socket refuses, does not answer within a few
// seconds, or cannot be verified) or idle with another fingerprint; passed by when busy with
// another fingerprint. Never returns a server started with another environment.
WarmServer ReachServer(const std::string& home, const std::string& sluice_binary);

}  // namespace sluice::cli
