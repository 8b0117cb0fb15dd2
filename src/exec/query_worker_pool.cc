#include "exec/query_worker_pool.h"

namespace sluice {

QueryWorkerPool::Lease::Lease(Lease&& other) noexcept
    : pool_(other.pool_), principal_(std::move(other.principal_)), worker_(std::move(other.worker_)) {
  other.pool_ = nullptr;
}

QueryWorkerPool::Lease::~Lease() {
  if (pool_ && worker_) pool_->GiveBack(principal_, worker_);
}

Result<QueryWorkerPool::Lease> QueryWorkerPool::Acquire(const std::string& principal, const QueryWorker::ForkFn& fork) {
  std::shared_ptr<QueryWorker> worker, ended;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Entry& entry = workers_[principal];
    if (entry.leased) return Lease();
    entry.leased = true;  // from here on, nobody else starts or takes this principal's worker
    entry.last_used = ++clock_;
    if (entry.worker && !entry.worker->alive()) ended = std::move(entry.worker);
    worker = entry.worker;
  }
  ended.reset();  // joins its pumping thread, outside the lock
  if (!worker) {
    auto started = QueryWorker::Start(fork);
    std::lock_guard<std::mutex> lock(mutex_);
    if (!started.ok()) {
      workers_.erase(principal);
      return started.status();
    }
    worker = std::move(*started);
    workers_[principal].worker = worker;
  }
  Lease lease;
  lease.pool_ = this;
  lease.principal_ = principal;
  lease.worker_ = std::move(worker);
  return lease;
}

void QueryWorkerPool::GiveBack(const std::string& principal, const std::shared_ptr<QueryWorker>& worker) {
  std::vector<std::shared_ptr<QueryWorker>> stopped;  // destroyed (killed, joined) unlocked
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = workers_.find(principal);
    if (it == workers_.end() || it->second.worker != worker) return;
    it->second.leased = false;
    if (!worker->alive()) {
      stopped.push_back(std::move(it->second.worker));
      workers_.erase(it);
    }
    while (workers_.size() > max_workers_) {
      auto oldest = workers_.end();
      for (auto e = workers_.begin(); e != workers_.end(); ++e) {
        if (!e->second.leased && (oldest == workers_.end() || e->second.last_used < oldest->second.last_used)) {
          oldest = e;
        }
      }
      if (oldest == workers_.end()) break;
      stopped.push_back(std::move(oldest->second.worker));
      workers_.erase(oldest);
    }
  }
}

std::map<std::string, int> QueryWorkerPool::Pids() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::map<std::string, int> pids;
  for (const auto& [principal, entry] : workers_) {
    if (entry.worker && entry.worker->alive()) pids[principal] = entry.worker->pid();
  }
  return pids;
}

}  // namespace sluice
