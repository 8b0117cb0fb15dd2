// Everything `sluice gc` collects, in its order: shared memory nothing will read again
// (shared_memory_gc.h), run branches past their retention (run_branch_gc.h), then the
// warehouse files no commit reaches (orphan_file_gc.h; after the branches, whose deletion
// may orphan files). A server also runs it in the background (PeriodicGarbageCollection).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "common/status.h"
#include "exec/lakehouse.h"
#include "exec/orphan_file_gc.h"
#include "exec/run_branch_gc.h"
#include "exec/shared_memory_gc.h"

namespace sluice {

struct GarbageCollectionOptions {
  int64_t run_retention_seconds = 7 * 86400;  // run branches of jobs that ended longer ago go
  int64_t orphan_age_seconds = 3 * 86400;     // unreferenced files older than this go
  bool dry_run = false;                       // report, remove nothing
};

struct GarbageCollectionReport {
  SharedMemoryGcReport shared_memory;
  RunBranchGcReport run_branches;
  OrphanFileGcReport orphan_files;
};

Result<GarbageCollectionReport> CollectGarbage(Lakehouse& lake, const GarbageCollectionOptions& options);

// Runs CollectGarbage with default options on a thread of its own every `interval_seconds`,
// the first time one interval after it starts (a server gives back shared memory, the cheap
// and urgent part, itself as it starts), until destroyed (which waits for a pass in progress). Each pass's
// outcome goes to `log` (one line), failures included; they never stop the next pass.
// The interval comes from $SLUICE_GC_INTERVAL_SECONDS when set (0 turns it off).
class PeriodicGarbageCollection {
 public:
  PeriodicGarbageCollection(Lakehouse* lake, std::function<void(const std::string&)> log,
                            double interval_seconds = 3600);
  ~PeriodicGarbageCollection();

 private:
  void Loop(double interval_seconds);

  Lakehouse* lake_;
  std::function<void(const std::string&)> log_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;  // GUARDED_BY(mutex_)
  std::thread thread_;
};

}  // namespace sluice
