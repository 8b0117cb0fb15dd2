// The Iceberg REST catalog API over the lakehouse, as plain request -> response handling
// (the HTTP server in http_server.h only moves bytes). The ref is the path prefix, as in
// Nessie: /v1/{ref}/namespaces/... reads a branch, a tag or `name@hash`; a client picks it
// with the `warehouse` property, which /v1/config turns into the prefix. Commits to a table
// become one commit on the branch; main is protected.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "exec/lakehouse.h"
#include "server/rest_request.h"

namespace sluice {

struct RestResponse {
  int status = 200;
  nlohmann::json body;  // null for 204
};

class IcebergRestCatalog {
 public:
  explicit IcebergRestCatalog(Lakehouse* lake) : lake_(lake) {}

  // Serves one request; never throws. Errors use the REST error model
  // {"error": {"message", "type", "code"}}.
  RestResponse Handle(const RestRequest& request);

 private:
  Result<RestResponse> Route(const RestRequest& request);
  Result<RestResponse> LoadTable(const ResolvedRef& ref, const std::string& table);
  Result<RestResponse> CommitTable(const ResolvedRef& ref, const std::string& table, const nlohmann::json& body,
                                   const std::string& author);
  Lakehouse* lake_;
};

}  // namespace sluice
