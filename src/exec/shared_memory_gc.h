// Gives back shared memory nothing will read again. Each data home keeps its handed-off
// tables under its own directory in /dev/shm (common/config.h), which outlives the data home
// and every killed run. Collect removes, for the calling user only:
//   - the directories of data homes that no longer exist (each names its home in a `home`
//     file, written when the home is opened);
//   - this data home's run folders whose job is not running, and query folders over an hour
//     old (a killed `query` leaves one);
//   - this data home's spill files (<home>/spill, data/spill_dir.h) of runs that are not
//     running and of queries over an hour old;
//   - arena files past the arena's cap.
// Nothing is followed through a link, and nothing owned by another user is touched.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"
#include "exec/lakehouse.h"

namespace sluice {

struct SharedMemoryGcReport {
  std::vector<std::string> removed;  // the directories removed (or that would be, dry run)
  std::vector<std::string> unknown;  // directories naming no home (older releases): kept
  int64_t bytes = 0;                 // their size
};

// Writes `root`/home naming `home`, so Collect can tell when the home is gone.
Status MarkSharedMemoryHome(const std::string& root, const std::string& home);

// With `dry_run`, reports what it would remove and removes nothing.
Result<SharedMemoryGcReport> CollectSharedMemory(Lakehouse& lake, bool dry_run);

}  // namespace sluice
