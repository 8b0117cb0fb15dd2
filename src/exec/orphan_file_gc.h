// Iceberg's orphan-file removal for this data home's warehouse: deletes the files under the
// warehouse that no table version any commit of any branch or tag can reach (a killed run's
// or import's written files, a rejected commit's), once they are older than `min_age_seconds`
// so that the files of a write still in flight are never taken. Every commit counts, not only
// the heads, because time travel reads any of them; and within each table version every
// snapshot it keeps. When any reachable file cannot be read, nothing is deleted. Links are
// never followed, and nothing outside the warehouse is touched (external tables' files
// included).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "exec/lakehouse.h"

namespace sluice {

struct OrphanFileGcReport {
  std::vector<std::string> removed;  // the files deleted (or that would be, dry run)
  int64_t bytes = 0;                 // their size
  size_t too_young = 0;              // unreferenced files kept for being newer than the age
  size_t reachable = 0;              // files some commit reaches
};

// With `dry_run`, reports what it would delete and deletes nothing.
Result<OrphanFileGcReport> CollectOrphanFiles(Lakehouse& lake, int64_t min_age_seconds, bool dry_run);

}  // namespace sluice
