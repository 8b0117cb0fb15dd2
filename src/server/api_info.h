// GET /api/v1/info: who the server takes the caller for and what runs the jobs, for the
// SDK's Client.info() (bauplan's InfoState). A local data home has no organization.
#pragma once

#include "server/sluice_api.h"

namespace sluice {

// `user`: who the request acts as (its API key's user, or the server's).
ApiResponse InfoResponse(const std::string& user);

}  // namespace sluice
