// An HTTP request as the server's handlers see it: decoded path, query and body. Keeps the
// handlers testable without sockets.
#pragma once

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/status.h"

namespace sluice {

// The HTTP status for an error of this kind.
inline int HttpStatusFor(const Status& status) {
  switch (KindOf(status)) {
    case ErrorKind::kInvalidInput:
      return 400;
    case ErrorKind::kNotFound:
      return 404;
    case ErrorKind::kAlreadyExists:
    case ErrorKind::kConflict:
      return 409;
    case ErrorKind::kCancelled:
      return 409;
    case ErrorKind::kUserCodeFailed:
    case ErrorKind::kExpectationFailed:
      return 422;
    default:
      return 500;
  }
}

struct RestRequest {
  std::string method;  // GET, HEAD, POST, DELETE
  std::string path;    // decoded, e.g. "/v1/dev/namespaces"
  std::map<std::string, std::string> query;
  std::string body;
  std::string user;    // the API key's user when the server checks keys (server/api_keys.h)
  std::string role;    // that key's role ("reader", "writer", "admin"); empty without keys
  std::string key_id;  // that key's id (catalog/key_store.h); empty without keys
};

// "/v1/dev/namespaces/" -> {"v1", "dev", "namespaces"}.
inline std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  std::stringstream stream(path);
  std::string part;
  while (std::getline(stream, part, '/')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

// Runs a handler's `route()` (a Result<Response>) so that the handler never throws: an error
// status, or an exception such as malformed JSON in the body, becomes error_response(status).
template <typename Route, typename ErrorResponse>
auto HandleGuarded(Route&& route, ErrorResponse&& error_response) -> typename decltype(route())::ValueType {
  try {
    auto result = route();
    if (!result.ok()) return error_response(result.status());
    return std::move(result).ValueUnsafe();
  } catch (const std::exception& e) {
    return error_response(InvalidInput("bad request: ", e.what()));
  }
}

}  // namespace sluice
