#include "exec/task_scheduler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "common/test_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;

// Records the order tasks ran in and on which thread, from every executor at once.
class Log {
 public:
  void Ran(TaskId id) {
    std::lock_guard<std::mutex> lock(mutex_);
    order_.push_back(id);
    threads_[id] = std::this_thread::get_id();
  }
  std::vector<TaskId> order() {
    std::lock_guard<std::mutex> lock(mutex_);
    return order_;
  }
  std::thread::id thread_of(TaskId id) {
    std::lock_guard<std::mutex> lock(mutex_);
    return threads_[id];
  }
  size_t position(TaskId id) {
    auto order = this->order();
    return std::find(order.begin(), order.end(), id) - order.begin();
  }

 private:
  std::mutex mutex_;
  std::vector<TaskId> order_;
  std::map<TaskId, std::thread::id> threads_;
};

TaskId MustAdd(TaskGraph& graph, std::function<Status()> body, const std::vector<TaskId>& deps = {}) {
  auto id = graph.Add(std::move(body), deps);
  EXPECT_TRUE(id.ok()) << id.status().ToString();
  return id.ValueOr(0);
}

TEST(TaskSchedulerTest, ATaskRunsOnlyAfterEveryDependency) {
  // A diamond, then a random DAG: each task after all it depends on.
  for (int parallel : {1, 2, 8}) {
    TaskGraph graph;
    Log log;
    std::mt19937 random(parallel);
    std::vector<std::vector<TaskId>> deps;
    for (TaskId id = 0; id < 300; ++id) {
      std::vector<TaskId> d;
      for (int k = 0; k < 3 && id > 0; ++k) d.push_back(random() % id);
      deps.push_back(d);
      MustAdd(
          graph, [&log, id] { return log.Ran(id), Status::OK(); }, d);
    }
    TaskSchedulerOptions options;
    options.max_parallel = parallel;
    TaskGraphResult result = RunTaskGraph(graph, options);
    ASSERT_OK(result.first_failure);
    ASSERT_EQ(log.order().size(), 300u);
    for (TaskId id = 0; id < 300; ++id) {
      EXPECT_EQ(result.outcomes[id], TaskOutcome::kSucceeded);
      for (TaskId dep : deps[id]) EXPECT_LT(log.position(dep), log.position(id)) << dep << " before " << id;
    }
  }
}

TEST(TaskSchedulerTest, AnExecutorBecomesItsOnlyReadySuccessor) {
  // Wukong's "becomes": a chain never goes back through the queue, so it stays on one thread
  // even with idle executors beside it.
  TaskGraph graph;
  Log log;
  TaskId previous = MustAdd(graph, [&log] { return log.Ran(0), Status::OK(); });
  for (TaskId id = 1; id < 200; ++id) {
    previous = MustAdd(graph, [&log, id] { return log.Ran(id), Status::OK(); }, {previous});
  }
  TaskSchedulerOptions options;
  options.max_parallel = 4;
  ASSERT_OK(RunTaskGraph(graph, options).first_failure);
  for (TaskId id = 1; id < 200; ++id) EXPECT_EQ(log.thread_of(id), log.thread_of(0));
}

TEST(TaskSchedulerTest, AFanOutIsSharedAndItsFanInRunsOnce) {
  TaskGraph graph;
  std::atomic<int> leaves{0}, joins{0}, running{0}, most{0};
  TaskId root = MustAdd(graph, [] { return Status::OK(); });
  std::vector<TaskId> middle;
  for (int i = 0; i < 1000; ++i) {
    middle.push_back(MustAdd(graph,
                             [&] {
                               int now = ++running;
                               int seen = most.load();
                               while (now > seen && !most.compare_exchange_weak(seen, now)) {
                               }
                               if (leaves.load() % 100 == 0) std::this_thread::sleep_for(1ms);
                               ++leaves;
                               --running;
                               return Status::OK();
                             },
                             {root}));
  }
  MustAdd(
      graph, [&] { return ++joins, Status::OK(); }, middle);
  TaskSchedulerOptions options;
  options.max_parallel = 3;
  TaskGraphResult result = RunTaskGraph(graph, options);
  ASSERT_OK(result.first_failure);
  EXPECT_EQ(leaves.load(), 1000);
  EXPECT_EQ(joins.load(), 1);
  EXPECT_LE(most.load(), 3);  // the bound on concurrency holds
  EXPECT_GE(most.load(), 2);  // and the fan-out did spread
}

TEST(TaskSchedulerTest, AFailureStopsEverythingNewByDefault) {
  TaskGraph graph;
  TaskId a = MustAdd(graph, [] { return Status::OK(); });
  TaskId bad = MustAdd(graph, [] { return InvalidInput("broken"); }, {a});
  TaskId after_bad = MustAdd(graph, [] { return Status::OK(); }, {bad});
  TaskId unrelated = MustAdd(graph, [] { return Status::OK(); }, {bad, a});
  TaskSchedulerOptions options;
  TaskGraphResult result = RunTaskGraph(graph, options);
  EXPECT_EQ(result.first_failure.message(), "broken");
  EXPECT_EQ(result.outcomes[a], TaskOutcome::kSucceeded);
  EXPECT_EQ(result.outcomes[bad], TaskOutcome::kFailed);
  EXPECT_EQ(result.outcomes[after_bad], TaskOutcome::kSkipped);
  EXPECT_EQ(result.outcomes[unrelated], TaskOutcome::kSkipped);
  EXPECT_FALSE(result.cancelled);
}

TEST(TaskSchedulerTest, WithoutStopOnFailureOnlyDependentsAreSkipped) {
  TaskGraph graph;
  TaskId bad = MustAdd(graph, [] { return IOError("disk"); });
  TaskId child = MustAdd(graph, [] { return Status::OK(); }, {bad});
  TaskId grandchild = MustAdd(graph, [] { return Status::OK(); }, {child});
  std::atomic<int> others{0};
  std::vector<TaskId> independent;
  for (int i = 0; i < 50; ++i) independent.push_back(MustAdd(graph, [&] { return ++others, Status::OK(); }));
  TaskSchedulerOptions options;
  options.max_parallel = 2;
  options.stop_on_failure = false;
  TaskGraphResult result = RunTaskGraph(graph, options);
  EXPECT_EQ(result.first_failure.message(), "disk");
  EXPECT_EQ(result.outcomes[child], TaskOutcome::kSkipped);
  EXPECT_EQ(result.outcomes[grandchild], TaskOutcome::kSkipped);
  EXPECT_EQ(others.load(), 50);
  for (TaskId id : independent) EXPECT_EQ(result.outcomes[id], TaskOutcome::kSucceeded);
}

TEST(TaskSchedulerTest, CancellingStopsRunningBodiesThroughTheCallbackAndStartsNothing) {
  TaskGraph graph;
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> released{false};
  std::atomic<int> started{0};
  // Two long bodies that end only when on_cancel releases them (as killing a worker would).
  std::vector<TaskId> long_ones;
  for (int i = 0; i < 2; ++i) {
    long_ones.push_back(MustAdd(graph, [&] {
      ++started;
      while (!released.load()) std::this_thread::sleep_for(1ms);
      return Cancelled("killed");
    }));
  }
  TaskId later = MustAdd(
      graph, [&] { return ++started, Status::OK(); }, long_ones);
  int on_cancel_calls = 0;
  TaskSchedulerOptions options;
  options.max_parallel = 2;
  options.cancel = cancel;
  options.on_cancel = [&] {
    ++on_cancel_calls;
    released = true;
  };
  std::thread canceller([&] {
    while (started.load() < 2) std::this_thread::sleep_for(1ms);
    cancel->store(true);
  });
  TaskGraphResult result = RunTaskGraph(graph, options);
  canceller.join();
  EXPECT_TRUE(result.cancelled);
  EXPECT_EQ(on_cancel_calls, 1);
  EXPECT_EQ(result.first_failure.message(), "the run was cancelled");
  EXPECT_EQ(result.outcomes[later], TaskOutcome::kCancelled);
  EXPECT_EQ(started.load(), 2);
}

TEST(TaskSchedulerTest, ManyTinyGraphsNeverHang) {
  // No lost wake-ups: thousands of small random graphs, each must end (a hang fails the
  // test by its timeout), with every task run exactly once.
  std::mt19937 random(7);
  for (int round = 0; round < 2000; ++round) {
    TaskGraph graph;
    size_t n = 1 + random() % 12;
    std::vector<std::atomic<int>> runs(n);
    for (TaskId id = 0; id < n; ++id) {
      std::vector<TaskId> deps;
      if (id > 0 && random() % 2) deps.push_back(random() % id);
      if (id > 1 && random() % 3 == 0) deps.push_back(random() % id);
      MustAdd(
          graph, [&runs, id] { return ++runs[id], Status::OK(); }, deps);
    }
    TaskSchedulerOptions options;
    options.max_parallel = 1 + random() % 4;
    ASSERT_OK(RunTaskGraph(graph, options).first_failure);
    for (TaskId id = 0; id < n; ++id) ASSERT_EQ(runs[id].load(), 1) << "round " << round << " task " << id;
  }
}

TEST(TaskSchedulerTest, ADependencyMustBeAddedFirst) {
  TaskGraph graph;
  auto bad = graph.Add([] { return Status::OK(); }, {0});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("task 0 depends on task 0"), std::string::npos);
  TaskId a = MustAdd(graph, [] { return Status::OK(); });
  TaskId twice = MustAdd(graph, [] { return Status::OK(); }, {a, a});
  EXPECT_EQ(graph.dependency_count(twice), 1u);
  EXPECT_TRUE(RunTaskGraph(TaskGraph(), {}).outcomes.empty());
}

}  // namespace
}  // namespace sluice
