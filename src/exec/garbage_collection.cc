#include "exec/garbage_collection.h"

#include <chrono>
#include <cstdlib>

namespace sluice {

Result<GarbageCollectionReport> CollectGarbage(Lakehouse& lake, const GarbageCollectionOptions& options) {
  GarbageCollectionReport report;
  SLUICE_ASSIGN_OR_RAISE(report.shared_memory, CollectSharedMemory(lake, options.dry_run));
  SLUICE_ASSIGN_OR_RAISE(report.run_branches, CollectRunBranches(lake, options.run_retention_seconds, options.dry_run));
  SLUICE_ASSIGN_OR_RAISE(report.orphan_files, CollectOrphanFiles(lake, options.orphan_age_seconds, options.dry_run));
  return report;
}

PeriodicGarbageCollection::PeriodicGarbageCollection(Lakehouse* lake, std::function<void(const std::string&)> log,
                                                     double interval_seconds)
    : lake_(lake), log_(std::move(log)) {
  if (const char* setting = std::getenv("SLUICE_GC_INTERVAL_SECONDS"); setting && *setting) {
    interval_seconds = std::atof(setting);
  }
  if (interval_seconds > 0) thread_ = std::thread([this, interval_seconds] { Loop(interval_seconds); });
}

PeriodicGarbageCollection::~PeriodicGarbageCollection() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicGarbageCollection::Loop(double interval_seconds) {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!wake_.wait_for(lock, std::chrono::duration<double>(interval_seconds), [this] { return stopping_; })) {
    lock.unlock();
    auto collected = CollectGarbage(*lake_, {});
    if (!collected.ok()) {
      log_("garbage collection failed: " + collected.status().ToString());
    } else if (int64_t bytes = collected->shared_memory.bytes + collected->orphan_files.bytes;
               bytes > 0 || !collected->run_branches.removed.empty()) {
      log_("garbage collection freed " + std::to_string(bytes) + " bytes and deleted " +
           std::to_string(collected->run_branches.removed.size()) + " run branches");
    }
    lock.lock();
  }
}

}  // namespace sluice
