// Run branches that no one needs any more. A run writes on a branch of its own
// (`<target>.run-<job id>`, exec/runner.h) and deletes it once merged; a failed, cancelled or
// killed run keeps it, so what did materialize can be inspected. Collect deletes the run
// branches whose job has ended (a killed runner's job is ended first) more than `retention`
// ago, and those naming no job at all; a running job's branch is always kept.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "exec/lakehouse.h"

namespace sluice {

// Whether `branch` is a run's branch, and of which job.
bool IsRunBranch(const std::string& branch, std::string* job_id = nullptr);

struct RunBranchGcReport {
  std::vector<std::string> removed;  // the branches deleted (or that would be, dry run)
  size_t kept = 0;                   // run branches still within the retention or running
};

// With `dry_run`, reports what it would delete and deletes nothing.
Result<RunBranchGcReport> CollectRunBranches(Lakehouse& lake, int64_t retention_seconds, bool dry_run);

}  // namespace sluice
