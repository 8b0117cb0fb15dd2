// A scheduler for a DAG of tasks that knows nothing of what they do (models, map calls,
// Dask keys). It follows Wukong's decentralized design, on threads of one process: each
// executor runs a task, then counts down the dependency counter of each successor; a
// successor whose counter reaches zero is ready. The executor "becomes" the first one ready
// (runs it itself: no hand-off, its inputs are still warm) and "invokes" the others (puts
// them where idle executors take them). A fan-in runs on whichever executor completed its last
// input, decided by an atomic counter: no central loop sits between two tasks.
//
// Thread-safe: a TaskGraph is built by one thread, then run by RunTaskGraph, which may be
// called for several graphs at once.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "common/status.h"

namespace sluice {

using TaskId = size_t;

// The tasks and their dependencies. A task's body runs once all its dependencies succeeded.
class TaskGraph {
 public:
  // Adds a task that runs after every task in `depends_on`, which must have been added before
  // it (so a graph never has a cycle; InvalidInput otherwise). Returns its id: 0, 1, 2... in
  // the order added.
  Result<TaskId> Add(std::function<Status()> body, const std::vector<TaskId>& depends_on = {});

  size_t size() const { return tasks_.size(); }
  const std::vector<TaskId>& successors(TaskId id) const { return tasks_[id].successors; }
  size_t dependency_count(TaskId id) const { return tasks_[id].dependencies; }

 private:
  friend class TaskRun;
  struct Task {
    std::function<Status()> body;
    std::vector<TaskId> successors;
    size_t dependencies = 0;
  };
  std::vector<Task> tasks_;
};

enum class TaskOutcome {
  kSucceeded,
  kFailed,     // its body returned an error
  kSkipped,    // never ran: a dependency failed, or the run stopped first
  kCancelled,  // never ran: the run was cancelled
};

struct TaskSchedulerOptions {
  int max_parallel = 1;  // executor threads, so at most this many bodies run at once
  // After the first failure nothing new starts (a pipeline's semantics). Otherwise only what
  // depends on a failed task is skipped, and everything else still runs.
  bool stop_on_failure = true;
  // Looked at whenever a task ends and a few times a second: once true, nothing new starts
  // and `on_cancel` is called once (to stop running bodies, which the scheduler cannot do).
  std::shared_ptr<const std::atomic<bool>> cancel;
  std::function<void()> on_cancel;
};

struct TaskGraphResult {
  std::vector<TaskOutcome> outcomes;  // by TaskId
  std::vector<Status> statuses;       // by TaskId: the body's own, OK when it did not run
  Status first_failure;               // the first failure in time (Cancelled when cancelled first)
  bool cancelled = false;
};

// Runs every task of `graph`, at most options.max_parallel at once, and returns when none is
// running. The graph must outlive the call.
TaskGraphResult RunTaskGraph(const TaskGraph& graph, const TaskSchedulerOptions& options);

}  // namespace sluice
