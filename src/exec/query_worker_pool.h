// A server's persistent query workers (query_worker.h), one per principal: an API key, or the
// data home's owner when the server checks none. A principal's queries run in its own worker,
// one at a time; a worker never runs another principal's query. A query that finds its
// principal's worker busy gets none here (the caller forks a worker for it alone, as before
// persistent workers). A worker that ended (killed, crashed) is replaced at its principal's
// next query. At most `max_workers` are kept; the least recently used idle one goes first.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "exec/query_worker.h"

namespace sluice {

class QueryWorkerPool {
 public:
  explicit QueryWorkerPool(size_t max_workers = 8) : max_workers_(max_workers) {}

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
  struct Entry {
    std::shared_ptr<QueryWorker> worker;
    bool leased = false;
    uint64_t last_used = 0;
  };
  void GiveBack(const std::string& principal, const std::shared_ptr<QueryWorker>& worker);

  size_t max_workers_;
  mutable std::mutex mutex_;
  uint64_t clock_ = 0;                    // GUARDED_BY(mutex_)
  std::map<std::string, Entry> workers_;  // GUARDED_BY(mutex_)
};

}  // namespace sluice
