// A server's persistent query workers (query_worker.h), one per principal: an API key, or the
// data home's owner when the server checks none. A principal's queries run in its own worker,
// one at a time; a worker never runs another principal's query. A query that finds its
// principal's worker busy gets none here (the caller forks a worker for it alone, as before
// persistent workers). A worker that ended (killed, crashed) is replaced at its principal's
// next query. At most `max_workers` are kept; the least recently used idle one goes first.
// A worker idle (not leased) for `idle_seconds` is stopped (killed, reaped) by a thread of
// the pool's own, and the principal's next query starts another: an idle worker holds a
// process and its DuckDB caches, which nobody may be coming back for. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "exec/query_worker.h"

namespace sluice {

class QueryWorkerPool {
 public:
  // `idle_seconds` 0: idle workers are kept as long as the pool.
  explicit QueryWorkerPool(size_t max_workers = 8, double idle_seconds = 0);
  // Stops every worker (leases still out keep theirs until they go).
  ~QueryWorkerPool();
  QueryWorkerPool(const QueryWorkerPool&) = delete;
  QueryWorkerPool& operator=(const QueryWorkerPool&) = delete;

  // A worker leased to one query: given back to the pool when the lease goes.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    QueryWorker* get() const { return worker_.get(); }
    explicit operator bool() const { return worker_ != nullptr; }

   private:
    friend class QueryWorkerPool;
    QueryWorkerPool* pool_ = nullptr;
    std::string principal_;
    std::shared_ptr<QueryWorker> worker_;
  };

  // The worker of `principal`, started with `fork` when it has none (or none alive); an empty
  // lease when its worker is serving another query. Errors are `fork`'s.
  Result<Lease> Acquire(const std::string& principal, const QueryWorker::ForkFn& fork);

  // The pids of the workers kept, by principal (for the server's status).
  std::map<std::string, int> Pids() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::shared_ptr<QueryWorker> worker;
    bool leased = false;
    uint64_t last_used = 0;
    Clock::time_point idle_since;  // when its last lease went
  };
  void GiveBack(const std::string& principal, const std::shared_ptr<QueryWorker>& worker);
  // The idle-timeout thread: stops workers idle for idle_seconds_, until stopping_.
  void StopIdleWorkers();

  size_t max_workers_;
  double idle_seconds_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;       // a lease went back, or stopping_
  uint64_t clock_ = 0;                    // GUARDED_BY(mutex_)
  std::map<std::string, Entry> workers_;  // GUARDED_BY(mutex_)
  bool stopping_ = false;                 // GUARDED_BY(mutex_)
  std::thread idle_stopper_;              // when idle_seconds_ > 0
};

}  // namespace sluice
