// Where CLI commands get their answers: the Sluice JSON API (server/sluice_api.h), served
// in-process over the local data home, or by `sluice serve` at --endpoint / SLUICE_ENDPOINT.
// Either way the answers have the JSON shapes of exec/json_views.h, so commands format them
// once.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "exec/lakehouse.h"
#include "server/unix_socket_address.h"

namespace sluice::cli {

class Backend {
 public:
  virtual ~Backend() = default;
  // Calls `method` on /api/v1/`path`. An error answer comes back as a status of the same
  // kind, message and hint.
  virtual Result<nlohmann::json> Call(const std::string& method, const std::string& path,
                                      const nlohmann::json& body = nullptr,
                                      const std::map<std::string, std::string>& query = {}) = 0;
  // POSTs to /api/v1/`path` an answer that streams newline-delimited JSON events, handing
  // each to `on_event` as it arrives. An error answer comes back as a status, as for Call.
  virtual Status Stream(const std::string& path, const nlohmann::json& body,
                        const std::function<void(const nlohmann::json&)>& on_event) = 0;
  // Calls `method` on /api/v1/`path` for an answer that is not JSON (an Arrow file): its
  // bytes. An error answer comes back as a status, as for Call.
  virtual Result<std::string> Fetch(const std::string& method, const std::string& path, const nlohmann::json& body) = 0;
  virtual bool remote() const = 0;
};

// The API served in this process, with the limits of server/server_limits.h as the
// environment sets them (InvalidInput naming a variable set wrong).
Result<std::unique_ptr<Backend>> MakeLocalBackend(Lakehouse* lake);
// "http://host:port". Connection failures are IOError naming the endpoint. A non-empty
// `api_key` is sent on every request as "Authorization: Bearer <api_key>".
// `timeout_seconds`: how long an answer may take; -1 waits as long as runs take (an hour).
std::unique_ptr<Backend> MakeRemoteBackend(const std::string& endpoint, const std::string& api_key = "",
                                           int64_t timeout_seconds = -1);

// The data home's background server (server/background_server.h) at its unix socket.
// IOError/InvalidInput when the path cannot be reached at all (unix_socket_address.h).
Result<std::unique_ptr<Backend>> MakeUnixSocketBackend(const std::string& socket_path);
// The same at an address already opened (and checked: UnixSocketAddress::ForOwnSocket), each
// answer within `timeout_seconds` (-1: as long as runs take).
std::unique_ptr<Backend> MakeUnixSocketBackend(UnixSocketAddress address, int64_t timeout_seconds);

// "a b/c" -> "a%20b%2Fc", for names inside paths.
std::string EncodePathPart(const std::string& text);

}  // namespace sluice::cli
