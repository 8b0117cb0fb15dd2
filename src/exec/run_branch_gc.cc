#include "exec/run_branch_gc.h"

#include "common/clock.h"
#include "exec/job_recorder.h"

namespace sluice {

bool IsRunBranch(const std::string& branch, std::string* job_id) {
  static constexpr std::string_view kMarker = ".run-";
  size_t at = branch.rfind(kMarker);
  if (at == std::string::npos || at == 0 || at + kMarker.size() >= branch.size()) return false;
  if (job_id) *job_id = branch.substr(at + kMarker.size());
  return true;
}

Result<RunBranchGcReport> CollectRunBranches(Lakehouse& lake, int64_t retention_seconds, bool dry_run) {
  RunBranchGcReport report;
  SLUICE_ASSIGN_OR_RAISE(std::vector<Ref> branches, lake.catalog().ListBranches());
  const int64_t now_ms = NowMillis();
  for (const auto& branch : branches) {
    std::string job_id;
    if (!IsRunBranch(branch.name, &job_id)) continue;
    auto job = lake.catalog().jobs().Get(job_id);
    if (job.ok()) job = ReconcileJob(lake.catalog().jobs(), *job);  // a killed runner's job ends here
    if (job.ok()) {
      bool ended = IsFinalJobStatus(job->status);
      int64_t ended_ms = job->finished_ms ? job->finished_ms : job->created_ms;
      if (!ended || now_ms - ended_ms < retention_seconds * 1000) {
        ++report.kept;
        continue;
      }
    }
    report.removed.push_back(branch.name);
    if (!dry_run) {
      SLUICE_RETURN_NOT_OK(WithContext(lake.catalog().DeleteBranch(branch.name), "run branch '" + branch.name + "'"));
    }
  }
  return report;
}

}  // namespace sluice
