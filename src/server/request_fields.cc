#include "server/request_fields.h"

#include "exec/lakehouse.h"

namespace sluice {

std::string Param(const RestRequest& request, const std::string& key, const std::string& fallback) {
  auto it = request.query.find(key);
  return it == request.query.end() || it->second.empty() ? fallback : it->second;
}

std::string Field(const nlohmann::json& body, const char* key, const std::string& fallback) {
  return body.is_object() && body.contains(key) && body[key].is_string() ? body[key].get<std::string>() : fallback;
}

std::string RequestAuthor(const RestRequest& request, const nlohmann::json& body) {
  if (!request.user.empty()) return request.user;
  return Field(body, "author", CurrentAuthor());
}

}  // namespace sluice
