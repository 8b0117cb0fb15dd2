// Who may call a data home's server, and what each caller may do. Keys are the catalog's
// (catalog/key_store.h: `sluice key create/ls/rm`), read at every request, so a key made or
// removed takes effect at once. Without any key nothing is checked: a local data home whose
// socket only its owner can open. With keys, every request carries
// `Authorization: Bearer <key>`; the key's user is the request's only identity (the author of
// what it writes), and its role bounds what it may do (RoleNeeded). Thread-safe.
#pragma once

#include <string>

#include "catalog/key_store.h"
#include "common/status.h"

namespace sluice {

struct Caller {
  std::string user;
  std::string role;
  std::string key_id;  // the key's id (catalog/key_store.h), empty without keys
};

class ApiKeys {
 public:
  explicit ApiKeys(KeyStore* store) : store_(store) {}

  // Whether the server checks keys now: whether the data home has any.
  Result<bool> enabled() const { return store_->Any(); }

  // The caller of an `Authorization` header value ("Bearer <key>"); an error whose message
  // says what is wrong when the header is missing, malformed or the key unknown.
  Result<Caller> Authenticate(const std::string& authorization) const;

 private:
  KeyStore* store_;
};

// The least role a request needs: reads (GET, HEAD, and a query) need a reader; moving or
// changing `main` (merging into it, deleting or renaming it) needs an admin; every other
// write needs a writer.
std::string RoleNeeded(const std::string& method, const std::string& path);

}  // namespace sluice
