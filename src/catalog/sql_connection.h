// What the catalog needs from a SQL database, so one catalog runs on SQLite (embedded) and
// PostgreSQL (shared). Statements use '?' placeholders and SQL both databases accept;
// BeginWrite() starts a transaction that excludes every other writer of the catalog.
#pragma once

#include <memory>
#include <string>
#include <type_traits>
#include <vector>

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

// Binds `values` to ?1, ?2, ... in order (a bool as 0/1, any integer as int64).
template <typename... Values>
SqlStatement& BindAll(SqlStatement& stmt, const Values&... values) {
  int index = 0;
  auto bind = [&](const auto& value) {
    using V = std::decay_t<decltype(value)>;
    if constexpr (std::is_same_v<V, std::string>) {
      stmt.Bind(++index, value);
    } else {
      stmt.Bind(++index, static_cast<int64_t>(value));
    }
  };
  (bind(values), ...);
  return stmt;
}

// Every row of `stmt`, each read by `from_row`.
template <typename FromRow>
auto ReadRows(SqlStatement& stmt, FromRow from_row) -> Result<std::vector<decltype(from_row(stmt))>> {
  std::vector<decltype(from_row(stmt))> rows;
  while (true) {
    SLUICE_ASSIGN_OR_RAISE(bool row, stmt.Step());
    if (!row) return rows;
    rows.push_back(from_row(stmt));
  }
}

}  // namespace sluice
