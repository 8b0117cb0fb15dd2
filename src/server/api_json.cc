#include "server/api_json.h"

namespace sluice {

std::string JsonText(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

nlohmann::json ErrorJson(const Status& status) {
  return {
      {"kind", std::string(ErrorKindName(KindOf(status)))}, {"message", status.message()}, {"hint", HintOf(status)}};
}

ApiResponse Json(const nlohmann::json& body, int status) { return {status, "application/json", JsonText(body)}; }

}  // namespace sluice
