#include "exec/query_worker_pool.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "common/test_util.h"

namespace sluice {
namespace {

using namespace std::chrono_literals;

// A stand-in worker: a process that reads its socket and never answers (no task is sent
// here: the pool's bookkeeping is what is tested).
QueryWorker::ForkFn Sleeper(int* started) {
  return [started](const SubprocessOptions& output) {
    ++*started;
    SubprocessOptions options = output;
    options.argv = {"sleep", "600"};
    options.stdin_socket = true;
    return Subprocess::Start(options);
  };
}

bool Alive(int pid) { return ::kill(pid, 0) == 0; }

template <typename Predicate>
bool WaitFor(Predicate predicate, std::chrono::milliseconds timeout = 10s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return predicate();
}

TEST(QueryWorkerPool, AnIdleWorkerIsStoppedAndTheNextAcquireStartsAnother) {
  int started = 0;
  QueryWorkerPool pool(8, /*idle_seconds=*/0.3);
  int first;
  {
    ASSERT_OK_AND_ASSIGN(auto lease, pool.Acquire("ann", Sleeper(&started)));
    ASSERT_TRUE(lease);
    first = lease.get()->pid();
    // Leased, it is never idle, however long the lease lasts.
    std::this_thread::sleep_for(600ms);
    EXPECT_TRUE(Alive(first));
    EXPECT_EQ(pool.Pids().at("ann"), first);
  }
  // Given back and used again within its idle time: the same worker.
  std::this_thread::sleep_for(100ms);
  {
    ASSERT_OK_AND_ASSIGN(auto lease, pool.Acquire("ann", Sleeper(&started)));
    EXPECT_EQ(lease.get()->pid(), first);
  }
  EXPECT_EQ(started, 1);
  // Then left alone: stopped (killed and reaped: the pid is no process of ours any more).
  ASSERT_TRUE(WaitFor([&] { return pool.Pids().empty(); }));
  EXPECT_FALSE(Alive(first));
  ASSERT_OK_AND_ASSIGN(auto lease, pool.Acquire("ann", Sleeper(&started)));
  EXPECT_EQ(started, 2);
  EXPECT_NE(lease.get()->pid(), first);
}

TEST(QueryWorkerPool, WithoutAnIdleTimeWorkersStay) {
  int started = 0;
  QueryWorkerPool pool(8, 0);
  { ASSERT_OK_AND_ASSIGN(auto lease, pool.Acquire("ann", Sleeper(&started))); }
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(pool.Pids().size(), 1u);
}

TEST(QueryWorkerPool, AWorkerPastItsTimeLimitIsKilled) {
  int started = 0;
  QueryWorkerPool pool(8, 0);
  ASSERT_OK_AND_ASSIGN(auto lease, pool.Acquire("ann", Sleeper(&started)));
  auto begun = std::chrono::steady_clock::now();
  ASSERT_OK_AND_ASSIGN(auto ended, lease.get()->Serve(
                                       {}, [](int, const std::string&) {}, 0.3));
  EXPECT_GE(std::chrono::steady_clock::now() - begun, 300ms);
  ASSERT_TRUE(ended.has_value());
  EXPECT_TRUE(ended->timed_out);
  EXPECT_EQ(ended->term_signal, SIGKILL);
  EXPECT_FALSE(lease.get()->alive());
}

}  // namespace
}  // namespace sluice
