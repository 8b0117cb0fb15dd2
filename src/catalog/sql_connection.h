// What the catalog needs from a SQL database, so one catalog runs on SQLite (embedded) and
// PostgreSQL (shared). Statements use '?' placeholders and SQL both databases accept;
// BeginWrite() starts a transaction that excludes every other writer of the catalog.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace sluice {

class SqlStatement {
 public:
  virtual ~SqlStatement() = default;
  virtual SqlStatement& Bind(int index, const std::string& value) = 0;  // 1-based
  virtual SqlStatement& Bind(int index, int64_t value) = 0;
  // Advances to the next row (executing on the first call): true when there is one.
  virtual Result<bool> Step() = 0;
  virtual std::string Text(int column) const = 0;
  virtual int64_t Int(int column) const = 0;
  // Runs to completion, ignoring rows.
  Status Run() {
    while (true) {
      SLUICE_ASSIGN_OR_RAISE(bool row, Step());
      if (!row) return Status::OK();
    }
  }
};

class SqlConnection {
 public:
  virtual ~SqlConnection() = default;
  virtual Status Exec(const std::string& sql) = 0;
  virtual Result<std::unique_ptr<SqlStatement>> Prepare(const std::string& sql) = 0;
  // Rows changed by the last statement that was run.
  virtual int Changes() const = 0;
  // Starts a write transaction holding the catalog's writer lock until COMMIT/ROLLBACK.
  virtual Status BeginWrite() = 0;
  virtual std::string Describe() const = 0;  // for messages: the file or the server
};

// A write transaction (BeginWrite) that rolls back unless committed.
class SqlWriteTransaction {
 public:
  explicit SqlWriteTransaction(SqlConnection* db) : db_(db) {}
  SqlWriteTransaction(const SqlWriteTransaction&) = delete;
  SqlWriteTransaction& operator=(const SqlWriteTransaction&) = delete;
  Status Begin() { return db_->BeginWrite(); }
  Status Commit() {
    SLUICE_RETURN_NOT_OK(db_->Exec("COMMIT"));
    done_ = true;
    return Status::OK();
  }
  ~SqlWriteTransaction() {
    if (!done_) (void)db_->Exec("ROLLBACK");
  }

 private:
  SqlConnection* db_;
  bool done_ = false;
};

}  // namespace sluice
