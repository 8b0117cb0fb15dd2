#include "catalog/key_store.h"

#include <openssl/rand.h>

#include "catalog/sql_connection.h"
#include "common/hash.h"

namespace sluice {
namespace {

// "user" is a reserved word in PostgreSQL, hence user_name.
constexpr const char* kKeySchema = R"(
  CREATE TABLE IF NOT EXISTS api_keys (
    hash TEXT PRIMARY KEY, user_name TEXT NOT NULL, role TEXT NOT NULL, created_ms BIGINT NOT NULL);
)";
constexpr const char* kKeyColumns = "SELECT hash, user_name, role, created_ms FROM api_keys ";
constexpr int kKeyBytes = 32;
constexpr size_t kIdLength = 12;

ApiKeyRecord KeyFromRow(const SqlStatement& row) {
  return ApiKeyRecord{row.Text(0).substr(0, kIdLength), row.Text(1), row.Text(2), row.Int(3)};
}

int RoleRank(const std::string& role) {
  if (role == kRoleReader) return 1;
  if (role == kRoleWriter) return 2;
  if (role == kRoleAdmin) return 3;
  return 0;
}

}  // namespace

Status CheckRole(const std::string& role) {
  if (RoleRank(role) > 0) return Status::OK();
  return InvalidInput("unknown role '", role, "': expected reader, writer or admin");
}

bool RoleAllows(const std::string& role, const std::string& needed) {
  return RoleRank(role) > 0 && RoleRank(role) >= RoleRank(needed);
}

Status KeyStore::Migrate(SqlConnection* db) { return db->Exec(kKeySchema); }

Result<std::string> KeyStore::Create(const std::string& user, const std::string& role, int64_t created_ms) {
  SLUICE_RETURN_NOT_OK(CheckRole(role));
  if (user.empty() || user.size() > 128 || user.find_first_of(" \t\r\n\"'\\/") != std::string::npos) {
    return InvalidInput("user '", user, "': a key's user is a name without spaces, quotes or slashes");
  }
  unsigned char bytes[kKeyBytes];
  if (RAND_bytes(bytes, kKeyBytes) != 1) return Internal("cannot draw random bytes for an API key");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string key = "sk_";
  for (unsigned char b : bytes) {
    key += kHex[b >> 4];
    key += kHex[b & 15];
  }
  std::lock_guard<std::mutex> lock(*mutex_);
  SLUICE_ASSIGN_OR_RAISE(auto stmt,
                         db_->Prepare("INSERT INTO api_keys (hash, user_name, role, created_ms) VALUES (?, ?, ?, ?)"));
  SLUICE_RETURN_NOT_OK(BindAll(*stmt, Sha256Hex(key), user, role, created_ms).Run());
  return key;
}

Result<std::vector<ApiKeyRecord>> KeyStore::List() const {
  std::lock_guard<std::mutex> lock(*mutex_);
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db_->Prepare(std::string(kKeyColumns) + "ORDER BY created_ms, hash"));
  return ReadRows(*stmt, KeyFromRow);
}

Result<ApiKeyRecord> KeyStore::Remove(const std::string& id_prefix) {
  if (id_prefix.size() < 6 || id_prefix.size() > 64 ||
      id_prefix.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return InvalidInput("'", id_prefix, "' is not a key id (6 or more lower-case hex characters, see: sluice key ls)");
  }
  std::lock_guard<std::mutex> lock(*mutex_);
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db_->Prepare(std::string(kKeyColumns) + "WHERE hash >= ? AND hash < ?"));
  BindAll(*stmt, id_prefix, id_prefix + "g");
  SLUICE_ASSIGN_OR_RAISE(auto found, ReadRows(*stmt, [](const SqlStatement& row) {
                           return std::make_pair(row.Text(0), KeyFromRow(row));
                         }));
  if (found.empty()) return WithHint(NotFound("no API key '", id_prefix, "'"), "list keys with: sluice key ls");
  if (found.size() > 1) return InvalidInput("key id '", id_prefix, "' names ", found.size(), " keys: give more of it");
  SLUICE_ASSIGN_OR_RAISE(auto remove, db_->Prepare("DELETE FROM api_keys WHERE hash = ?"));
  SLUICE_RETURN_NOT_OK(BindAll(*remove, found[0].first).Run());
  return found[0].second;
}

Result<bool> KeyStore::Any() const {
  std::lock_guard<std::mutex> lock(*mutex_);
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db_->Prepare("SELECT hash FROM api_keys LIMIT 1"));
  return stmt->Step();
}

Result<ApiKeyRecord> KeyStore::Find(const std::string& key) const {
  std::lock_guard<std::mutex> lock(*mutex_);
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db_->Prepare(std::string(kKeyColumns) + "WHERE hash = ?"));
  BindAll(*stmt, Sha256Hex(key));
  SLUICE_ASSIGN_OR_RAISE(bool row, stmt->Step());
  if (!row) return NotFound("unknown API key");
  return KeyFromRow(*stmt);
}

}  // namespace sluice
