#include "catalog/sqlite_db.h"

namespace sluice {
namespace {

class SqliteStatement : public SqlStatement {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~SqliteStatement() override { sqlite3_finalize(stmt_); }

  SqlStatement& Bind(int index, const std::string& value) override {
    sqlite3_bind_text(stmt_, index, value.data(), static_cast<int>(value.size()), SQLITE_TRANSIENT);
    return *this;
  }
  SqlStatement& Bind(int index, int64_t value) override {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  Result<bool> Step() override {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      return Conflict("catalog is busy (another process holds it): ", sqlite3_errmsg(db_));
    }
    return IOError("catalog: ", sqlite3_errmsg(db_), " in: ", sqlite3_sql(stmt_));
  }
  std::string Text(int column) const override {
    const unsigned char* text = sqlite3_column_text(stmt_, column);
    return text ? std::string(reinterpret_cast<const char*>(text), sqlite3_column_bytes(stmt_, column)) : std::string();
  }
  int64_t Int(int column) const override { return sqlite3_column_int64(stmt_, column); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

}  // namespace

Result<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return IOError("cannot open catalog '", path, "': ", message);
  }
  sqlite3_busy_timeout(db, 30000);
  std::unique_ptr<SqliteDb> out(new SqliteDb(db, path));
  SLUICE_RETURN_NOT_OK(out->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"));
  return out;
}

SqliteDb::~SqliteDb() { sqlite3_close(db_); }

Status SqliteDb::Exec(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    if (message.find("locked") != std::string::npos || message.find("busy") != std::string::npos) {
      return Conflict("catalog is busy: ", message);
    }
    return IOError("catalog '", path_, "': ", message);
  }
  return Status::OK();
}

Result<std::unique_ptr<SqlStatement>> SqliteDb::Prepare(const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
    return Internal("catalog: cannot prepare '", sql, "': ", sqlite3_errmsg(db_));
  }
  return std::unique_ptr<SqlStatement>(new SqliteStatement(db_, stmt));
}

}  // namespace sluice
