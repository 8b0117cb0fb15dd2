#include "server/api_keys.h"

#include "catalog/catalog.h"
#include "server/rest_request.h"

namespace sluice {

Result<Caller> ApiKeys::Authenticate(const std::string& authorization) const {
  static const std::string kBearer = "Bearer ";
  if (authorization.compare(0, kBearer.size(), kBearer) != 0 || authorization.size() == kBearer.size()) {
    return InvalidInput("this server needs an API key: send Authorization: Bearer <key>");
  }
  auto key = store_->Find(authorization.substr(kBearer.size()));
  if (!key.ok()) {
    if (KindOf(key.status()) == ErrorKind::kNotFound) return InvalidInput("unknown API key");
    return key.status();
  }
  return Caller{key->user, key->role, key->id};
}

std::string RoleNeeded(const std::string& method, const std::string& path) {
  if (method == "GET" || method == "HEAD") return kRoleReader;
  auto parts = SplitPath(path);  // api, v1, resource, ...
  bool sluice_api = parts.size() >= 3 && parts[0] == "api" && parts[1] == "v1";
  if (sluice_api && parts.size() == 3 && parts[2] == "query" && method == "POST") return kRoleReader;
  // The column cache is the server's, shared by every user.
  if (sluice_api && parts[2] == "cache") return kRoleAdmin;
  if (sluice_api && parts.size() >= 4 && parts[2] == "branches" && Catalog::IsProtectedBranch(parts[3])) {
    return kRoleAdmin;
  }
  return kRoleWriter;
}

}  // namespace sluice
