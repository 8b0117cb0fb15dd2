// Resource limits of one model's worker (@bauplan.resources(memory=, cpus=), and a process
// limit for every worker), enforced with a cgroup of its own: the v1 memory, cpu and pids
// controllers, as on these machines, or, where the host has the unified v2 hierarchy,
// /sys/fs/cgroup/sluice/<name> with memory.max, cpu.max and pids.max.
// Removed when destroyed. Where cgroups cannot be created, Create says why and the caller
// decides.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace sluice {

// "512M", "4G", "1.5g", "1024" (bytes) -> bytes. InvalidInput otherwise.
Result<int64_t> ParseMemorySize(const std::string& text);

class WorkerCgroup {
 public:
  // memory_bytes <= 0 / cpus <= 0 / max_processes <= 0: no limit of that kind.
  static Result<std::unique_ptr<WorkerCgroup>> Create(const std::string& name, int64_t memory_bytes, double cpus,
                                                      int64_t max_processes = 0);
  ~WorkerCgroup();

  Status AddProcess(int pid);
  // Whether the memory limit was reached (the kernel's OOM killer then stops the worker).
  bool MemoryLimitHit() const;

 private:
  WorkerCgroup() = default;
  bool unified_ = false;  // v2: memory_dir_ is the one group, for both limits
  std::string memory_dir_, cpu_dir_, pids_dir_;
};

}  // namespace sluice
