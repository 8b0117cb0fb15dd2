// A small RAII layer over SQLite: a connection, prepared statements with positional binds,
// and transactions. Errors carry SQLite's message and the statement.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace sluice {

class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  ~SqliteStatement() { sqlite3_finalize(stmt_); }
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;

  SqliteStatement& Bind(int index, const std::string& value);
  SqliteStatement& Bind(int index, int64_t value);
  // Advances to the next row: true when there is one.
  Result<bool> Step();
  // Runs to completion, ignoring rows.
  Status Run();
  std::string Text(int column) const;
  int64_t Int(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class SqliteDb {
 public:
  // Opens (creating) the file with WAL journaling and a busy timeout, so several processes
  // can share it.
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path);
  ~SqliteDb();

  Status Exec(const std::string& sql);
  Result<std::unique_ptr<SqliteStatement>> Prepare(const std::string& sql);
  // Number of rows the last statement changed.
  int Changes() const { return sqlite3_changes(db_); }
  const std::string& path() const { return path_; }

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

}  // namespace sluice
