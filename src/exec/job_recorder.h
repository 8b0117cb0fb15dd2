// Records one job (a run, an import, a table plan, a query) in the catalog's job store as it
// goes: RUNNING when it starts, the DAG and each model's status and timings, what models
// print, warnings and the error, then COMPLETE, FAIL or ABORT. Also the other direction: a
// cancel request written to the catalog (`sluice job kill`, from any process) reaches the
// job through cancel_flag(). The catalog keeps an opaque JSON `detail`; its shape is the one
// server/README.md documents for GET /api/v1/jobs/{id}.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "catalog/catalog.h"
#include "exec/runner.h"

namespace sluice {

// bauplan's JobKind names.
inline constexpr const char* kJobKindRun = "RUN";
inline constexpr const char* kJobKindQuery = "QUERY";
inline constexpr const char* kJobKindTableImport = "TABLE_IMPORT";
inline constexpr const char* kJobKindTablePlanCreate = "TABLE_PLAN_CREATE";
inline constexpr const char* kJobKindTablePlanCreateApply = "TABLE_PLAN_CREATE_APPLY";
inline constexpr const char* kJobKindUnspecified = "UNSPECIFIED";

struct JobStart {
  std::string id;                  // empty: a new one
  std::string kind = kJobKindRun;  // a JobKind name
  std::string operation = "run";   // what the job does, finer than kind ("table_create", ...)
  std::string user, ref;
  nlohmann::json options = nlohmann::json::object();  // args, priority, cache, preview, detached
  std::string project_dir;                            // runs: the project's files are kept as the job's snapshot
};

class JobRecorder : public RunObserver {
 public:
  // Records the job as RUNNING, started now. `forward` (may be null, must outlive the
  // recorder) receives every run event too.
  static Result<std::unique_ptr<JobRecorder>> Start(Catalog& catalog, JobStart start, RunObserver* forward = nullptr);
  // A recorder that was never finished ends its job as FAIL: a job never stays RUNNING.
  ~JobRecorder() override;

  const std::string& id() const { return job_.id; }
  // Becomes true once someone asks the job to stop (polled from the catalog).
  std::shared_ptr<const std::atomic<bool>> cancel_flag() const { return cancel_; }
  // Asks the job to stop, as a cancel request in the catalog would.
  void Cancel() { cancel_->store(true); }

  void OnProject(const std::string& id, const std::string& name) override;
  void OnPlan(const Plan& plan, const std::string& job_id) override;
  void OnModelStart(const std::string& model) override;
  void OnModelOutput(const std::string& model, const std::string& line) override;
  void OnModelFinish(const ModelReport& report) override;
  void OnWarning(const std::string& message) override;

  // Sets a top-level field of the job's detail ("tx_ref", "commit_id", ...).
  void SetDetail(const std::string& key, nlohmann::json value);
  // Ends the job: COMPLETE when ok, ABORT when cancelled, else FAIL with the error logged.
  // Idempotent.
  void Finish(const Status& status);

  // What one job keeps at most, so a model printing forever cannot fill the catalog.
  static constexpr size_t kMaxLogLines = 20000;
  static constexpr size_t kMaxLineBytes = 16 * 1024;

 private:
  JobRecorder(Catalog& catalog, JobRecord job, nlohmann::json detail, RunObserver* forward);
  void AddLog(JobLogRecord line);  // REQUIRES: mutex_ held
  void Flush();                    // writes buffered lines and a changed detail
  void Background();               // flushes and polls for cancellation until finished

  Catalog& catalog_;
  RunObserver* forward_;
  std::shared_ptr<std::atomic<bool>> cancel_ = std::make_shared<std::atomic<bool>>(false);

  std::mutex mutex_;
  std::condition_variable wake_;
  JobRecord job_;                      // GUARDED_BY(mutex_)
  nlohmann::json detail_;              // GUARDED_BY(mutex_)
  bool detail_dirty_ = false;          // GUARDED_BY(mutex_)
  std::vector<JobLogRecord> pending_;  // GUARDED_BY(mutex_)
  size_t logged_ = 0;                  // GUARDED_BY(mutex_): lines kept so far
  bool finished_ = false;              // GUARDED_BY(mutex_)
  std::mutex flush_mutex_;             // one Flush at a time, so lines keep their order
  std::thread background_;
};

// "host:pid" of this process, as jobs record their runner.
std::string JobRunnerName();

// A job still RUNNING whose process (on this host) is gone is ended as ABORT, naming it, so
// a killed CLI never leaves a job running forever. Returns the job as it now is.
Result<JobRecord> ReconcileJob(JobStore& jobs, JobRecord job);

}  // namespace sluice
