// The API keys a server checks. Keys live in `$SLUICE_HOME/api_keys`, one `user sha256hex`
// line per key (the SHA-256 of the key, never the key itself; '#' starts a comment):
//
//     printf 'alice %s\n' "$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)" >> $SLUICE_HOME/api_keys
//
// No file, or no key in it: nothing is checked (the local default). With keys, every request
// must carry `Authorization: Bearer <key>`, and the key's user is the request's user: the
// author of what it writes, whatever the request body says. Thread-safe once loaded.
#pragma once

#include <map>
#include <string>

#include "common/status.h"

namespace sluice {

class ApiKeys {
 public:
  // InvalidInput naming the line when the file is malformed; an absent file is no keys.
  static Result<ApiKeys> Load(const std::string& path);

  bool enabled() const { return !users_by_hash_.empty(); }
  // The user of an `Authorization` header value ("Bearer <key>"); an error message when the
  // header is missing or the key unknown.
  Result<std::string> Authenticate(const std::string& authorization) const;

 private:
  std::map<std::string, std::string> users_by_hash_;
};

}  // namespace sluice
