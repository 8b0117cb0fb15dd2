#include "server/request_fields.h"

#include "common/bounded_json.h"
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

Result<CommitNote> CommitNoteOf(const RestRequest& request, const nlohmann::json& body) {
  CommitNote note;
  nlohmann::json properties;
  if (body.is_object() && (body.contains("commit_body") || body.contains("commit_properties"))) {
    if (body.contains("commit_body") && !body["commit_body"].is_null() && !body["commit_body"].is_string()) {
      return InvalidInput("'commit_body' must be a string");
    }
    note.body = Field(body, "commit_body");
    properties = body.value("commit_properties", nlohmann::json());
  } else {
    note.body = Param(request, "commit_body");
    std::string text = Param(request, "commit_properties");
    if (!text.empty()) {
      try {
        properties = ParseBoundedJson(text);
      } catch (const std::exception&) {
        return InvalidInput("'commit_properties' is not JSON");
      }
    }
  }
  if (!properties.is_null()) {
    if (!properties.is_object()) return InvalidInput("'commit_properties' must be an object of strings");
    for (const auto& [key, value] : properties.items()) {
      if (!value.is_string()) return InvalidInput("commit_properties: '", key, "' must be a string");
      note.properties[key] = value.get<std::string>();
    }
  }
  SLUICE_RETURN_NOT_OK(note.Validate());
  return note;
}

}  // namespace sluice
