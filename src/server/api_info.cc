#include "server/api_info.h"

#include <unistd.h>

#include <nlohmann/json.hpp>

namespace sluice {

ApiResponse InfoResponse(const std::string& user) {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  nlohmann::json body = {
      {"user", user}, {"organization", nullptr}, {"runners", nlohmann::json::array({std::string(host)})}};
  ApiResponse response;
  response.body = body.dump();
  return response;
}

}  // namespace sluice
