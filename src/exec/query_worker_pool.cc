#include "exec/query_worker_pool.h"

#include <algorithm>

namespace sluice {

QueryWorkerPool::QueryWorkerPool(size_t max_workers, double idle_seconds)
    : max_workers_(max_workers), idle_seconds_(idle_seconds) {
  if (idle_seconds_ > 0) idle_stopper_ = std::thread([this] { StopIdleWorkers(); });
}

QueryWorkerPool::~QueryWorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  changed_.notify_all();
  if (idle_stopper_.joinable()) idle_stopper_.join();
}

void QueryWorkerPool::StopIdleWorkers() {
  const auto idle = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(idle_seconds_));
  std::unique_lock<std::mutex> lock(mutex_);
  while (!stopping_) {
    std::vector<std::shared_ptr<QueryWorker>> stopped;
    auto now = Clock::now();
    auto next = now + std::chrono::hours(1);
    for (auto it = workers_.begin(); it != workers_.end();) {
      Entry& entry = it->second;
      if (entry.leased || !entry.worker) {
        ++it;
        continue;
      }
      if (now - entry.idle_since >= idle) {
        stopped.push_back(std::move(entry.worker));
        it = workers_.erase(it);
        continue;
      }
      next = std::min(next, entry.idle_since + idle);
      ++it;
    }
    if (!stopped.empty()) {
      // Killed and reaped unlocked: queries go on meanwhile (a principal whose worker is
      // going gets a new one).
      lock.unlock();
      stopped.clear();
      lock.lock();
      continue;
    }
    changed_.wait_until(lock, next);
  }
}

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
    it->second.idle_since = Clock::now();
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
  changed_.notify_all();  // its idle time starts now
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
