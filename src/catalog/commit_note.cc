#include "catalog/commit_note.h"

#include "catalog/catalog.h"

namespace sluice {

namespace {
constexpr size_t kMaxProperties = 64;
constexpr size_t kMaxNoteBytes = 64 * 1024;
constexpr const char* kReservedPrefix = "sluice.";
}  // namespace

std::string CommitNote::Message(const std::string& message) const {
  return body.empty() ? message : message + "\n\n" + body;
}

void CommitNote::ApplyTo(CommitRequest* request) const {
  request->message = Message(request->message);
  for (const auto& [key, value] : properties) request->properties.emplace(key, value);
}

Status CommitNote::Validate() const {
  if (properties.size() > kMaxProperties) {
    return InvalidInput("commit_properties: ", properties.size(), " properties, at most ", kMaxProperties);
  }
  size_t bytes = body.size();
  for (const auto& [key, value] : properties) {
    if (key.empty()) return InvalidInput("commit_properties: a property has an empty name");
    if (key.rfind(kReservedPrefix, 0) == 0) {
      return WithHint(InvalidInput("commit_properties: '", key, "' is Sluice's own property"),
                      "choose a name that does not start with 'sluice.'");
    }
    bytes += key.size() + value.size();
  }
  if (bytes > kMaxNoteBytes) {
    return InvalidInput("commit_body and commit_properties: ", bytes, " bytes, at most ", kMaxNoteBytes);
  }
  return Status::OK();
}

}  // namespace sluice
