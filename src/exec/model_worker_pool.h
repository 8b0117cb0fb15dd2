// Where a run's model workers come from. Each node of the plan gets its worker from its
// environment's zygote (one per environment and sandbox, preloading what every model file of
// that environment imports; env/zygote.h), or from a fresh sandboxed interpreter when
// zygotes are off or the zygote cannot serve. A node's worker may be started ahead of it
// (Prestart), while its inputs are still being computed, so that its interpreter and imports
// are ready when they are. Thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/status.h"
#include "common/subprocess.h"
#include "env/sandbox.h"
#include "env/zygote.h"
#include "exec/model_environments.h"
#include "plan/plan.h"

namespace sluice {

struct ModelWorkerPoolOptions {
  std::string project_dir;         // visible read-only to every worker
  std::string data_home;           // hidden from workers when it lies inside the project
  std::string shared_memory_root;  // the home's; names the sandbox's outer uid and holds zygote sockets
  // Where a node's worker prints and how long it may run (SubprocessOptions' callbacks and
  // timeout); called from any thread.
  std::function<SubprocessOptions(size_t node)> worker_options;
};

class ModelWorkerPool {
 public:
  ModelWorkerPool(const Plan& plan, const PreparedEnvironments& environments, ModelWorkerPoolOptions options);
  ~ModelWorkerPool();  // StopIdle()

  // Works out, before anything runs, which zygote of `zygotes` each node forks from (nothing
  // when zygotes are off: ZygotePool::Enabled). The key also holds the model files' contents,
  // so a long-lived pool never serves edited code's old imports.
  Status PlanZygotes(ZygotePool* zygotes);

  // Starts the zygote of node `i` (its imports go on in the background).
  void WarmUp(size_t i);

  // Best effort: starts node i's worker now, to be taken by Take(i); at most a few at once.
  void Prestart(size_t i);

  // Node i's worker: the one prestarted for it (waiting for a fork under way), else a fork of
  // its zygote, else a fresh interpreter (which then reports what went wrong, if anything).
  Result<std::unique_ptr<Subprocess>> Take(size_t i);

  // Once no node will Take again: waits for forks under way and stops the workers started
  // ahead for nodes that never ran.
  void StopIdle();

  // The sandbox node i's worker runs in (also that of the functions it maps).
  SandboxSpec SandboxFor(size_t i) const;

 private:
  Result<std::unique_ptr<Subprocess>> Fork(size_t i);
  Result<std::unique_ptr<Subprocess>> Start(size_t i);

  static constexpr size_t kMaxIdleWorkers = 4;
  static constexpr double kZygoteReadySeconds = 300;

  const Plan& plan_;
  const PreparedEnvironments& environments_;
  ModelWorkerPoolOptions options_;
  ZygotePool* zygotes_ = nullptr;                                    // null: zygotes off
  std::vector<std::pair<std::string, ZygoteOptions>> zygote_plans_;  // by node: key and options

  std::mutex mutex_;
  std::condition_variable prestarted_;                     // a fork under way ended
  std::map<size_t, std::unique_ptr<Subprocess>> workers_;  // GUARDED_BY(mutex_): started ahead
  std::set<size_t> prestarting_;                           // GUARDED_BY(mutex_): forks under way
  std::set<size_t> taken_;                                 // GUARDED_BY(mutex_)
  std::vector<std::thread> prestart_threads_;              // GUARDED_BY(mutex_)
};

}  // namespace sluice
