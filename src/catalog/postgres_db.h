// The shared catalog database: PostgreSQL through libpq (SLUICE_CATALOG=postgresql://...).
// Writers serialize on a transaction-scoped advisory lock, the same guarantee SQLite's
// BEGIN IMMEDIATE gives the embedded catalog.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <string>
#include <vector>

#include "catalog/sql_connection.h"

namespace sluice {

class PostgresDb : public SqlConnection {
 public:
  // `uri`: a libpq connection string or URI. IOError naming the server when it is unreachable.
  static Result<std::unique_ptr<PostgresDb>> Open(const std::string& uri);
  ~PostgresDb() override;

  Status Exec(const std::string& sql) override;
  Result<std::unique_ptr<SqlStatement>> Prepare(const std::string& sql) override;
  int Changes() const override { return changes_; }
  Status BeginWrite() override;
  std::string Describe() const override { return description_; }

  // Used by statements: runs `sql` ($n placeholders) with text parameters.
  Result<PGresult*> Execute(const std::string& sql, const std::vector<std::string>& params);

 private:
  PostgresDb(PGconn* conn, std::string description) : conn_(conn), description_(std::move(description)) {}
  PGconn* conn_;
  std::string description_;
  int changes_ = 0;
};

}  // namespace sluice
