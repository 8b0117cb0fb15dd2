// Runs a project against a branch: loads and plans it, executes the DAG (independent models
// at the same time, each Python model in its own worker process, tables handed over through
// the shared-memory object store), and commits materialized outputs as one transaction.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include "env/zygote.h"
#include "exec/lakehouse.h"
#include "exec/run_report.h"
#include "plan/plan.h"

namespace sluice {

struct RunOptions {
  std::string project_dir;                    // required
  std::string ref;                            // branch to run on (or any ref with dry_run)
  std::string namespace_name;                 // empty: the project's default namespace
  std::map<std::string, std::string> params;  // --param k=v
  bool strict = false;                        // expectation and column mismatches fail the run
  bool dry_run = false;                       // run the models, write nothing to the catalog
  bool transaction = true;                    // false: commit directly on the branch
  int max_parallel = 0;                       // concurrent models; 0 = number of cores
  std::string author;                         // commit author; empty = CurrentAuthor()
  ZygotePool* zygotes = nullptr;              // warm interpreters kept across runs; null: the run's own
  std::string job_id;                         // the run's job id; empty = a new one
  // Set (from any thread) to stop the run: running models are killed, nothing new starts,
  // nothing is committed or merged, and the run ends with a Cancelled status.
  std::shared_ptr<const std::atomic<bool>> cancel;
  // "off", "on"/"head" (first rows of each model's output) or "tail" (last rows), in
  // ModelReport::preview_*.
  std::string preview = "off";
  bool cache = true;  // false: scans bypass the column cache (--no-cache, --cache off)
};

// Receives progress as the run goes; called from several threads, one call at a time.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void OnPlan(const Plan& plan, const std::string& job_id) {}
  // The project's id and name from its project file, before OnPlan.
  virtual void OnProject(const std::string& id, const std::string& name) {}
  virtual void OnModelStart(const std::string& model) {}
  virtual void OnModelOutput(const std::string& model, const std::string& line) {}
  virtual void OnModelFinish(const ModelReport& report) {}
  virtual void OnWarning(const std::string& message) {}
};

// Errors that stop a run before any model starts (a bad project, an unknown ref, a protected
// branch) come back as an error status. Once models run, the result is a RunReport whose
// status says whether the run succeeded; on failure the target branch is unchanged.
Result<RunReport> RunProject(Lakehouse& lakehouse, const RunOptions& options, RunObserver* observer);

}  // namespace sluice
