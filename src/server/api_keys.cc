#include "server/api_keys.h"

#include <fstream>
#include <sstream>

#include "common/hash.h"

namespace sluice {

Result<ApiKeys> ApiKeys::Load(const std::string& path) {
  ApiKeys keys;
  std::ifstream in(path);
  if (!in) return keys;
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    line = line.substr(0, line.find('#'));
    std::istringstream fields(line);
    std::string user, hash, extra;
    if (!(fields >> user)) continue;
    if (!(fields >> hash) || (fields >> extra) || hash.size() != 64 ||
        hash.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return WithHint(InvalidInput(path, ":", number, ": expected 'user sha256hex'"),
                      "the second field is the lower-case hex SHA-256 of the key");
    }
    keys.users_by_hash_[hash] = user;
  }
  return keys;
}

Result<std::string> ApiKeys::Authenticate(const std::string& authorization) const {
  static const std::string kBearer = "Bearer ";
  if (authorization.compare(0, kBearer.size(), kBearer) != 0 || authorization.size() == kBearer.size()) {
    return InvalidInput("this server needs an API key: send Authorization: Bearer <key>");
  }
  auto it = users_by_hash_.find(Sha256Hex(std::string_view(authorization).substr(kBearer.size())));
  if (it == users_by_hash_.end()) return InvalidInput("unknown API key");
  return it->second;
}

}  // namespace sluice
