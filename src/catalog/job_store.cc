#include "catalog/job_store.h"

#include "catalog/sql_connection.h"

namespace sluice {
namespace {

// Schema version 2 of the catalog: the job tables. "user" is a reserved word in
// PostgreSQL, hence user_name.
constexpr const char* kJobSchema = R"(
  CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, user_name TEXT NOT NULL,
    ref TEXT NOT NULL, created_ms BIGINT NOT NULL, started_ms BIGINT NOT NULL,
    finished_ms BIGINT NOT NULL, runner TEXT NOT NULL, cancel_requested BIGINT NOT NULL,
    error TEXT NOT NULL, detail TEXT NOT NULL);
  CREATE INDEX IF NOT EXISTS jobs_by_created ON jobs (created_ms);
  CREATE TABLE IF NOT EXISTS job_logs (
    job_id TEXT NOT NULL, seq BIGINT NOT NULL, time_ms BIGINT NOT NULL, level TEXT NOT NULL,
    stream TEXT NOT NULL, type TEXT NOT NULL, model TEXT NOT NULL, message TEXT NOT NULL,
    PRIMARY KEY (job_id, seq));
)";

constexpr const char* kJobColumns =
    "SELECT id, kind, status, user_name, ref, created_ms, started_ms, finished_ms, runner, "
    "cancel_requested, error, detail FROM jobs ";

JobRecord JobFromRow(const SqlStatement& row) {
  JobRecord job;
  job.id = row.Text(0);
  job.kind = row.Text(1);
  job.status = row.Text(2);
  job.user = row.Text(3);
  job.ref = row.Text(4);
  job.created_ms = row.Int(5);
  job.started_ms = row.Int(6);
  job.finished_ms = row.Int(7);
  job.runner = row.Text(8);
  job.cancel_requested = row.Int(9) != 0;
  job.error = row.Text(10);
  job.detail = row.Text(11);
  return job;
}

JobLogRecord LogFromRow(const SqlStatement& row) {
  JobLogRecord line;
  line.seq = row.Int(0);
  line.time_ms = row.Int(1);
  line.level = row.Text(2);
  line.stream = row.Text(3);
  line.type = row.Text(4);
  line.model = row.Text(5);
  line.message = row.Text(6);
  return line;
}

Status JobNotFound(const std::string& id) {
  return WithHint(NotFound("job '", id, "' not found"), "list jobs with: sluice job ls --all-users");
}

// "col IN (?, ?, ...)" for a non-empty list, binding nothing yet.
std::string InClause(const char* column, size_t n) {
  std::string out = std::string(column) + " IN (";
  for (size_t i = 0; i < n; ++i) out += i ? ", ?" : "?";
  return out + ")";
}

}  // namespace

bool IsFinalJobStatus(const std::string& status) {
  return status == kJobComplete || status == kJobAbort || status == kJobFail;
}

Status JobStore::Migrate(SqlConnection* db) {
  SLUICE_ASSIGN_OR_RAISE(auto version, db->Prepare("SELECT value FROM catalog_info WHERE key = 'schema_version'"));
  SLUICE_ASSIGN_OR_RAISE(bool row, version->Step());
  int current = row ? std::atoi(version->Text(0).c_str()) : 1;
  version.reset();
  if (current >= 2) return Status::OK();  // a newer binary may have gone further: leave it
  SLUICE_RETURN_NOT_OK(db->Exec(kJobSchema));
  return db->Exec("UPDATE catalog_info SET value = '2' WHERE key = 'schema_version'");
}

Status JobStore::Create(const JobRecord& job) {
  std::lock_guard<std::mutex> lock(*mutex_);
  SLUICE_ASSIGN_OR_RAISE(auto existing, db_->Prepare("SELECT id FROM jobs WHERE id = ?"));
  existing->Bind(1, job.id);
  SLUICE_ASSIGN_OR_RAISE(bool taken, existing->Step());
  if (taken) return AlreadyExists("job '", job.id, "' already exists");
  SLUICE_ASSIGN_OR_RAISE(
      auto stmt,
      db_->Prepare("INSERT INTO jobs (id, kind, status, user_name, ref, created_ms, started_ms, finished_ms, "
                   "runner, cancel_requested, error, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"));
  return BindAll(*stmt, job.id, job.kind, job.status, job.user, job.ref, job.created_ms, job.started_ms,
                 job.finished_ms, job.runner, job.cancel_requested, job.error, job.detail)
      .Run();
}

Result<JobRecord> JobStore::Get(const std::string& id) const {
  std::lock_guard<std::mutex> lock(*mutex_);
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db_->Prepare(std::string(kJobColumns) + "WHERE id = ?"));
  stmt->Bind(1, id);
  SLUICE_ASSIGN_OR_RAISE(bool row, stmt->Step());
  if (!row) return JobNotFound(id);
  return JobFromRow(*stmt);
}

Result<std::vector<JobRecord>> JobStore::List(const JobFilter& filter) const {
  std::string sql = kJobColumns;
  std::vector<std::string> where;
  std::vector<const std::vector<std::string>*> lists;
  auto add_list = [&](const char* column, const std::vector<std::string>& values) {
    if (values.empty()) return;
    where.push_back(InClause(column, values.size()));
    lists.push_back(&values);
  };
  add_list("id", filter.ids);
  add_list("user_name", filter.users);
  add_list("kind", filter.kinds);
  add_list("status", filter.statuses);
  if (filter.created_after_ms) where.push_back("created_ms > ?");
  if (filter.created_before_ms) where.push_back("created_ms < ?");
  for (size_t i = 0; i < where.size(); ++i) sql += (i ? " AND " : "WHERE ") + where[i];
  sql += " ORDER BY created_ms DESC, id DESC LIMIT ?";
  std::lock_guard<std::mutex> lock(*mutex_);
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db_->Prepare(sql));
  int index = 0;
  for (const auto* values : lists) {
    for (const auto& value : *values) stmt->Bind(++index, value);
  }
  if (filter.created_after_ms) stmt->Bind(++index, filter.created_after_ms);
  if (filter.created_before_ms) stmt->Bind(++index, filter.created_before_ms);
  stmt->Bind(++index, static_cast<int64_t>(filter.limit));
  return ReadRows(*stmt, JobFromRow);
}

Status JobStore::Update(const JobRecord& job) {
  std::lock_guard<std::mutex> lock(*mutex_);
  SLUICE_ASSIGN_OR_RAISE(
      auto stmt, db_->Prepare("UPDATE jobs SET status = ?, started_ms = ?, finished_ms = ?, runner = ?, error = ?, "
                              "detail = ?, ref = ? WHERE id = ?"));
  SLUICE_RETURN_NOT_OK(
      BindAll(*stmt, job.status, job.started_ms, job.finished_ms, job.runner, job.error, job.detail, job.ref, job.id)
          .Run());
  if (db_->Changes() != 1) return JobNotFound(job.id);
  return Status::OK();
}

Result<bool> JobStore::EndIfActive(const std::string& id, const std::string& status, int64_t finished_ms,
                                   const std::string& error) {
  std::lock_guard<std::mutex> lock(*mutex_);
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db_->Prepare("UPDATE jobs SET status = ?, finished_ms = ?, error = ? "
                                                 "WHERE id = ? AND status IN ('NOT_STARTED', 'RUNNING')"));
  SLUICE_RETURN_NOT_OK(BindAll(*stmt, status, finished_ms, error, id).Run());
  return db_->Changes() == 1;
}

Status JobStore::RequestCancel(const std::string& id) {
  std::lock_guard<std::mutex> lock(*mutex_);
  SLUICE_ASSIGN_OR_RAISE(auto stmt, db_->Prepare("UPDATE jobs SET cancel_requested = 1 WHERE id = ?"));
  SLUICE_RETURN_NOT_OK(stmt->Bind(1, id).Run());
  if (db_->Changes() != 1) return JobNotFound(id);
  return Status::OK();
}

Result<int64_t> JobStore::AppendLogs(const std::string& id, std::vector<JobLogRecord> lines) {
  std::lock_guard<std::mutex> lock(*mutex_);
  SqlWriteTransaction txn(db_);
  SLUICE_RETURN_NOT_OK(txn.Begin());
  SLUICE_ASSIGN_OR_RAISE(auto last, db_->Prepare("SELECT COALESCE(MAX(seq), 0) FROM job_logs WHERE job_id = ?"));
  last->Bind(1, id);
  SLUICE_ASSIGN_OR_RAISE(bool row, last->Step());
  int64_t seq = row ? last->Int(0) : 0;
  last.reset();
  for (auto& line : lines) {
    line.seq = ++seq;
    // SqlStatement runs once, so each line prepares its own (cheap next to the commit).
    SLUICE_ASSIGN_OR_RAISE(
        auto insert, db_->Prepare("INSERT INTO job_logs (job_id, seq, time_ms, level, stream, type, model, message) "
                                  "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    SLUICE_RETURN_NOT_OK(
        BindAll(*insert, id, line.seq, line.time_ms, line.level, line.stream, line.type, line.model, line.message)
            .Run());
  }
  SLUICE_RETURN_NOT_OK(txn.Commit());
  return seq;
}

Result<std::vector<JobLogRecord>> JobStore::Logs(const std::string& id, int64_t after_seq, size_t limit,
                                                 bool include_system) const {
  std::lock_guard<std::mutex> lock(*mutex_);
  SLUICE_ASSIGN_OR_RAISE(
      auto stmt, db_->Prepare(std::string("SELECT seq, time_ms, level, stream, type, model, message FROM job_logs "
                                          "WHERE job_id = ? AND seq > ?") +
                              (include_system ? "" : " AND type = 'user'") + " ORDER BY seq LIMIT ?"));
  BindAll(*stmt, id, after_seq, limit);
  return ReadRows(*stmt, LogFromRow);
}

}  // namespace sluice
