#include "server/api_json.h"

namespace sluice {

std::string JsonText(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ApiResponse Json(const nlohmann::json& body, int status) { return {status, "application/json", JsonText(body)}; }

}  // namespace sluice
