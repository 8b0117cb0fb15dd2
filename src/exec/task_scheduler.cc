#include "exec/task_scheduler.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace sluice {

Result<TaskId> TaskGraph::Add(std::function<Status()> body, const std::vector<TaskId>& depends_on) {
  TaskId id = tasks_.size();
  for (TaskId dependency : depends_on) {
    if (dependency >= id) return InvalidInput("task ", id, " depends on task ", dependency, ", not added before it");
  }
  tasks_.push_back({std::move(body), {}, 0});
  for (TaskId dependency : depends_on) {
    auto& successors = tasks_[dependency].successors;
    if (std::find(successors.begin(), successors.end(), id) != successors.end()) continue;  // named twice
    successors.push_back(id);
    ++tasks_[id].dependencies;
  }
  return id;
}

// One execution of a graph: the executors, the queue of invoked tasks, the counters.
class TaskRun {
 public:
  TaskRun(const TaskGraph& graph, const TaskSchedulerOptions& options)
      : graph_(graph), options_(options), remaining_(new std::atomic<size_t>[graph.size()]) {
    result_.outcomes.assign(graph.size(), TaskOutcome::kSkipped);
    result_.statuses.assign(graph.size(), Status::OK());
    ran_.assign(graph.size(), 0);
    for (TaskId id = 0; id < graph.size(); ++id) {
      remaining_[id].store(graph.tasks_[id].dependencies, std::memory_order_relaxed);
      if (graph.tasks_[id].dependencies == 0) ready_.push_back(id);
    }
    active_ = ready_.size();
  }

  TaskGraphResult Run() {
    size_t threads = std::min<size_t>(std::max(options_.max_parallel, 1), graph_.size());
    std::vector<std::thread> executors;
    executors.reserve(threads);
    for (size_t i = 0; i < threads; ++i) executors.emplace_back([this] { Execute(); });
    // The calling thread only watches for a cancel request: running bodies may be blocked
    // for a long time, so no executor may be the one to notice it.
    {
      std::unique_lock<std::mutex> lock(mutex_);
      while (true) {
        done_.wait_for(lock, std::chrono::milliseconds(100),
                       [this] { return active_ == 0 || (CancelRequested() && !result_.cancelled); });
        // Also when the request came before anything started, and so ended the run at once.
        if (CancelRequested() && !result_.cancelled) CancelLocked(lock);
        if (active_ == 0) break;
      }
    }
    for (auto& executor : executors) executor.join();
    for (TaskId id = 0; id < graph_.size(); ++id) {
      if (!ran_[id]) result_.outcomes[id] = result_.cancelled ? TaskOutcome::kCancelled : TaskOutcome::kSkipped;
    }
    return std::move(result_);
  }

 private:
  bool CancelRequested() const { return options_.cancel && options_.cancel->load(std::memory_order_acquire); }

  // REQUIRES: lock holds mutex_. Releases it around on_cancel, which may take its own locks.
  void CancelLocked(std::unique_lock<std::mutex>& lock) {
    result_.cancelled = true;
    if (result_.first_failure.ok()) result_.first_failure = Cancelled("the run was cancelled");
    StopLocked();
    if (options_.on_cancel) {
      lock.unlock();
      options_.on_cancel();
      lock.lock();
    }
  }

  // Nothing new starts: invoked tasks that no executor took are dropped. REQUIRES: mutex_.
  void StopLocked() {
    stopping_ = true;
    active_ -= ready_.size();
    ready_.clear();
    wake_.notify_all();
    done_.notify_all();
  }

  void Execute() {
    TaskId current = 0;
    bool have = false;  // a task this executor became, run without going through the queue
    while (true) {
      if (!have) {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return !ready_.empty() || active_ == 0 || stopping_; });
        if (ready_.empty()) {
          if (active_ == 0 || stopping_) return;
          continue;
        }
        current = ready_.front();
        ready_.pop_front();
      }
      have = false;
      {
        // A task this executor became after the run stopped, or one taken while a cancel
        // request is not acted on yet, does not start.
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_ || CancelRequested()) {
          if (--active_ == 0) Finished();
          continue;
        }
      }
      ran_[current] = 1;
      Status status = graph_.tasks_[current].body ? graph_.tasks_[current].body() : Status::OK();
      std::vector<TaskId> now_ready;
      if (status.ok()) {
        for (TaskId successor : graph_.tasks_[current].successors) {
          // The last dependency to finish decides who runs a fan-in: the executor finishing it.
          if (remaining_[successor].fetch_sub(1, std::memory_order_acq_rel) == 1) now_ready.push_back(successor);
        }
      }
      result_.outcomes[current] = status.ok() ? TaskOutcome::kSucceeded : TaskOutcome::kFailed;
      result_.statuses[current] = status;
      std::lock_guard<std::mutex> lock(mutex_);
      if (!status.ok()) {
        if (result_.first_failure.ok()) result_.first_failure = status;
        if (options_.stop_on_failure) StopLocked();
      }
      if (!stopping_ && !now_ready.empty()) {
        // Becomes the first, invokes the rest.
        current = now_ready.front();
        have = true;
        ready_.insert(ready_.end(), now_ready.begin() + 1, now_ready.end());
        active_ += now_ready.size() - 1;
        if (now_ready.size() > 1) wake_.notify_all();
      } else if (--active_ == 0) {
        Finished();
      }
    }
  }

  // Every task has ended or will never start. REQUIRES: mutex_.
  void Finished() {
    wake_.notify_all();
    done_.notify_all();
  }

  const TaskGraph& graph_;
  const TaskSchedulerOptions& options_;
  std::unique_ptr<std::atomic<size_t>[]> remaining_;  // dependencies still to finish, per task
  // Written per task by the one executor that runs it, read after every executor joined.
  TaskGraphResult result_;
  std::vector<char> ran_;  // a byte per task (vector<bool> packs bits: executors would race)

  std::mutex mutex_;
  std::condition_variable wake_;  // an executor may take a task, or stop
  std::condition_variable done_;  // active_ reached 0, or the run stopped
  std::deque<TaskId> ready_;      // GUARDED_BY(mutex_): invoked, not yet taken
  size_t active_ = 0;             // GUARDED_BY(mutex_): tasks ready or running
  bool stopping_ = false;         // GUARDED_BY(mutex_)
};

TaskGraphResult RunTaskGraph(const TaskGraph& graph, const TaskSchedulerOptions& options) {
  if (graph.size() == 0) return {};
  return TaskRun(graph, options).Run();
}

}  // namespace sluice
