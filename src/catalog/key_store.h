// The API keys of a data home: who may call its server, and in which role. Only the SHA-256
// of a key is stored; the key itself exists in clear once, when it is made, and is shown to
// whoever made it. Lives in the catalog's database, so `sluice key create` takes effect on a
// running server at its next request. Thread-safe: calls share the catalog's connection
// under its lock.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace sluice {

class SqlConnection;

// Roles, each allowing what the one before it allows: a reader reads (and queries), a writer
// also writes to any branch but main, an admin also merges into main.
inline constexpr const char* kRoleReader = "reader";
inline constexpr const char* kRoleWriter = "writer";
inline constexpr const char* kRoleAdmin = "admin";

// InvalidInput naming the roles unless `role` is one of them.
Status CheckRole(const std::string& role);
// Whether a key of `role` may do what needs `needed`.
bool RoleAllows(const std::string& role, const std::string& needed);

struct ApiKeyRecord {
  std::string id;  // the first 12 hex characters of the key's SHA-256: names it in `key ls/rm`
  std::string user;
  std::string role;
  int64_t created_ms = 0;
};

class KeyStore {
 public:
  // Uses the catalog's connection and lock, which must outlive it.
  KeyStore(SqlConnection* db, std::mutex* mutex) : db_(db), mutex_(mutex) {}

  // Creates the key table when missing. Idempotent; called by Catalog when it opens.
  static Status Migrate(SqlConnection* db);

  // Makes a random key for `user` in `role` and returns it: the only time it is in clear.
  Result<std::string> Create(const std::string& user, const std::string& role, int64_t created_ms);
  // Oldest first.
  Result<std::vector<ApiKeyRecord>> List() const;
  // Removes the key whose id starts with `id_prefix` (6 characters at least); NotFound, or
  // InvalidInput when the prefix names several keys.
  Result<ApiKeyRecord> Remove(const std::string& id_prefix);
  // Whether any key exists: without keys a server checks nothing (a local data home).
  Result<bool> Any() const;
  // The key `key`'s record; NotFound when it is no key of this data home.
  Result<ApiKeyRecord> Find(const std::string& key) const;

 private:
  SqlConnection* db_;
  std::mutex* mutex_;
};

}  // namespace sluice
