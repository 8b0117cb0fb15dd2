// The embedded catalog database: SQLite with WAL journaling and a busy timeout, so several
// processes can share the file.
#pragma once

#include <sqlite3.h>

#include <memory>
#include <string>

#include "catalog/sql_connection.h"

namespace sluice {

class SqliteDb : public SqlConnection {
 public:
  static Result<std::unique_ptr<SqliteDb>> Open(const std::string& path);
  ~SqliteDb() override;

  Status Exec(const std::string& sql) override;
  Result<std::unique_ptr<SqlStatement>> Prepare(const std::string& sql) override;
  int Changes() const override { return sqlite3_changes(db_); }
  // BEGIN IMMEDIATE takes SQLite's write lock up front.
  Status BeginWrite() override { return Exec("BEGIN IMMEDIATE"); }
  std::string Describe() const override { return path_; }

 private:
  SqliteDb(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

}  // namespace sluice
