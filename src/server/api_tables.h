// The tables and namespaces routes of the Sluice JSON API (/api/v1/tables...,
// /api/v1/table_plans..., /api/v1/namespaces...). Shapes: server/README.md, "Tables API".
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "exec/lakehouse.h"
#include "server/rest_request.h"
#include "server/sluice_api.h"

namespace sluice {

// The answer when `parts` ({"api", "v1", resource, ...}) names a tables or namespaces route;
// nullopt when it names another resource (the caller routes it). `author` is the request's
// commit author.
Result<std::optional<ApiResponse>> RouteTables(Lakehouse& lake, const RestRequest& request,
                                               const std::vector<std::string>& parts, const nlohmann::json& body,
                                               const std::string& author);

}  // namespace sluice
