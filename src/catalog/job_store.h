// Job records in the catalog: one row per run, import, table plan or query (who, what, on
// which ref, when, how it ended) and its log lines. The store knows nothing of runs: the
// DAG, per-model outcomes and options travel as an opaque JSON document (`detail`) that the
// exec layer writes and reads. Lives in the catalog's database (SQLite or PostgreSQL), so
// every process of a data home sees every job. Thread-safe: calls share the catalog's
// connection under its lock.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "common/status.h"

namespace sluice {

class SqlConnection;

// Job states, named as bauplan's JobState.
inline constexpr const char* kJobNotStarted = "NOT_STARTED";
inline constexpr const char* kJobRunning = "RUNNING";
inline constexpr const char* kJobComplete = "COMPLETE";
inline constexpr const char* kJobAbort = "ABORT";
inline constexpr const char* kJobFail = "FAIL";
// COMPLETE, ABORT and FAIL: the job will not change any more.
bool IsFinalJobStatus(const std::string& status);

struct JobRecord {
  std::string id;    // [A-Za-z0-9-]{1,64}
  std::string kind;  // bauplan's JobKind name: "RUN", "QUERY", "TABLE_IMPORT", ...
  std::string status = kJobNotStarted;
  std::string user;
  std::string ref;
  int64_t created_ms = 0, started_ms = 0, finished_ms = 0;  // 0 = not yet
  std::string runner;                                       // "host:pid" of the process running it
  bool cancel_requested = false;
  std::string error;          // JSON {"kind","message","hint"}, empty when none
  std::string detail = "{}";  // opaque JSON written by the exec layer
};

struct JobLogRecord {
  int64_t seq = 0;  // 1, 2, ... per job, assigned by AppendLogs
  int64_t time_ms = 0;
  std::string level = "INFO";  // INFO, WARN, ERROR, DEBUG
  std::string stream = "STDOUT";
  std::string type = "user";  // "user" (prints, warnings, errors) or "system"
  std::string model;          // empty when the line is about the whole job
  std::string message;
};

// Every non-empty list filters (any of its values matches); 0 times = unbounded.
struct JobFilter {
  std::vector<std::string> ids, users, kinds, statuses;
  int64_t created_after_ms = 0, created_before_ms = 0;
  size_t limit = 100;
};

class JobStore {
 public:
  // Uses the catalog's connection and lock, which must outlive it.
  JobStore(SqlConnection* db, std::mutex* mutex) : db_(db), mutex_(mutex) {}

  // Creates the job tables when missing and records schema version 2. Idempotent; called by
  // Catalog inside its opening transaction.
  static Status Migrate(SqlConnection* db);

  // AlreadyExists when the id is taken.
  Status Create(const JobRecord& job);
  // NotFound naming the id.
  Result<JobRecord> Get(const std::string& id) const;
  // Newest first.
  Result<std::vector<JobRecord>> List(const JobFilter& filter) const;
  // Writes status, times, runner, error and detail (not cancel_requested). NotFound.
  Status Update(const JobRecord& job);
  // Ends a job that is still NOT_STARTED or RUNNING with `status`; false when it had already
  // ended (nothing is changed then).
  Result<bool> EndIfActive(const std::string& id, const std::string& status, int64_t finished_ms,
                           const std::string& error);
  // Sets cancel_requested; the process running the job polls it. NotFound.
  Status RequestCancel(const std::string& id);

  // Appends lines after the job's last one, numbering them; returns the last seq.
  Result<int64_t> AppendLogs(const std::string& id, std::vector<JobLogRecord> lines);
  // Lines with seq > after_seq, oldest first, at most `limit`.
  Result<std::vector<JobLogRecord>> Logs(const std::string& id, int64_t after_seq, size_t limit,
                                         bool include_system) const;

 private:
  SqlConnection* db_;
  std::mutex* mutex_;
};

}  // namespace sluice
