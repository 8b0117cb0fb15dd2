#include "catalog/postgres_db.h"

#include <cstdlib>
#include <vector>

namespace sluice {
namespace {

// A fixed key for pg_advisory_xact_lock: "sluice" as a number.
constexpr int64_t kWriterLock = 0x736c75696365;

// '?' placeholders to PostgreSQL's $1, $2, ... (the catalog's SQL has no '?' in literals).
std::string NumberPlaceholders(const std::string& sql) {
  std::string out;
  int n = 0;
  for (char c : sql) {
    if (c == '?') {
      out += "$" + std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

class PostgresStatement : public SqlStatement {
 public:
  PostgresStatement(PostgresDb* db, std::string sql) : db_(db), sql_(std::move(sql)) {}
  ~PostgresStatement() override {
    if (result_) PQclear(result_);
  }
  SqlStatement& Bind(int index, const std::string& value) override {
    if (params_.size() < static_cast<size_t>(index)) params_.resize(index);
    params_[index - 1] = value;
    return *this;
  }
  SqlStatement& Bind(int index, int64_t value) override { return Bind(index, std::to_string(value)); }
  Result<bool> Step() override {
    if (!result_) {
      SLUICE_ASSIGN_OR_RAISE(result_, db_->Execute(sql_, params_));
      row_ = -1;
    }
    ++row_;
    return row_ < PQntuples(result_);
  }
  std::string Text(int column) const override {
    return std::string(PQgetvalue(result_, row_, column), PQgetlength(result_, row_, column));
  }
  int64_t Int(int column) const override { return std::atoll(PQgetvalue(result_, row_, column)); }

 private:
  PostgresDb* db_;
  std::string sql_;
  std::vector<std::string> params_;
  PGresult* result_ = nullptr;
  int row_ = -1;
};

}  // namespace

Result<std::unique_ptr<PostgresDb>> PostgresDb::Open(const std::string& uri) {
  PGconn* conn = PQconnectdb(uri.c_str());
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = PQerrorMessage(conn);
    PQfinish(conn);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return IOError("cannot connect to the PostgreSQL catalog: ", message);
  }
  std::string description =
      std::string("postgresql ") + PQdb(conn) + " on " + (PQhost(conn) ? PQhost(conn) : "localhost");
  std::unique_ptr<PostgresDb> db(new PostgresDb(conn, description));
  SLUICE_RETURN_NOT_OK(db->Exec("SET client_min_messages = WARNING"));
  return db;
}

PostgresDb::~PostgresDb() { PQfinish(conn_); }

Result<PGresult*> PostgresDb::Execute(const std::string& sql, const std::vector<std::string>& params) {
  std::vector<const char*> values;
  for (const auto& p : params) values.push_back(p.c_str());
  PGresult* result = PQexecParams(conn_, NumberPlaceholders(sql).c_str(), static_cast<int>(values.size()), nullptr,
                                  values.data(), nullptr, nullptr, 0);
  ExecStatusType status = PQresultStatus(result);
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    std::string message = PQresultErrorMessage(result);
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    bool conflict = state && (std::string(state) == "40001" || std::string(state) == "40P01");
    PQclear(result);
    while (!message.empty() && message.back() == '\n') message.pop_back();
    if (conflict) return Conflict("catalog is busy: ", message);
    return IOError("catalog (", description_, "): ", message);
  }
  const char* tuples = PQcmdTuples(result);
  changes_ = tuples && *tuples ? std::atoi(tuples) : 0;
  return result;
}

Status PostgresDb::Exec(const std::string& sql) {
  PGresult* result = PQexec(conn_, sql.c_str());
  ExecStatusType status = PQresultStatus(result);
  std::string message = PQresultErrorMessage(result);
  PQclear(result);
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return IOError("catalog (", description_, "): ", message);
  }
  return Status::OK();
}

Result<std::unique_ptr<SqlStatement>> PostgresDb::Prepare(const std::string& sql) {
  return std::unique_ptr<SqlStatement>(new PostgresStatement(this, sql));
}

Status PostgresDb::BeginWrite() {
  SLUICE_RETURN_NOT_OK(Exec("BEGIN"));
  return Exec("SELECT pg_advisory_xact_lock(" + std::to_string(kWriterLock) + ")");
}

}  // namespace sluice
