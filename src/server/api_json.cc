#include "server/api_json.h"

namespace sluice {

std::string JsonText(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ApiResponse Json(const nlohmann::json& body, int status) {
  ApiResponse response;
  response.status = status;
  response.body = JsonText(body);
  return response;
}

}  // namespace sluice
