#include "exec/model_worker_pool.h"

#include <sys/stat.h>

#include "common/file_util.h"
#include "common/hash.h"
#include "exec/worker_call.h"

namespace sluice {

ModelWorkerPool::ModelWorkerPool(const Plan& plan, const PreparedEnvironments& environments,
                                 ModelWorkerPoolOptions options)
    : plan_(plan), environments_(environments), options_(std::move(options)) {}

ModelWorkerPool::~ModelWorkerPool() { StopIdle(); }

void ModelWorkerPool::StopIdle() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    threads.swap(prestart_threads_);
  }
  for (auto& thread : threads) thread.join();
  std::map<size_t, std::unique_ptr<Subprocess>> idle;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    idle.swap(workers_);
  }
}

SandboxSpec ModelWorkerPool::SandboxFor(size_t i) const {
  const ModelSpec& model = plan_.nodes[i].model;
  SandboxSpec sandbox;
  sandbox.project_dir = options_.project_dir;
  sandbox.hidden = {options_.data_home};
  sandbox.outer_uid = SandboxUidFor(options_.shared_memory_root);
  if (auto env = environments_.site_dirs.find(i); env != environments_.site_dirs.end()) sandbox.site_dirs = env->second;
  if (auto python = environments_.pythons.find(i); python != environments_.pythons.end()) {
    sandbox.python = python->second;
  }
  sandbox.internet_access = model.internet_access;
  return sandbox;
}

Status ModelWorkerPool::PlanZygotes(ZygotePool* zygotes) {
  if (!ZygotePool::Enabled()) return Status::OK();
  zygotes_ = zygotes;
  // Nodes of one environment and sandbox share a zygote, which preloads all their files.
  std::vector<std::string> env_keys(plan_.nodes.size());
  std::map<std::string, std::set<std::string>> files_by_env;
  for (size_t i = 0; i < plan_.nodes.size(); ++i) {
    const ModelSpec& model = plan_.nodes[i].model;
    std::string& key = env_keys[i];
    key = std::string(model.kind == ModelKind::kSql ? "sql" : "python") + "\n" +
          (model.internet_access ? "network" : "offline") + "\n" + options_.project_dir;
    if (auto python = environments_.pythons.find(i); python != environments_.pythons.end()) {
      key += "\n" + python->second;
    }
    if (auto env = environments_.site_dirs.find(i); env != environments_.site_dirs.end()) {
      for (const auto& site : env->second) key += "\n" + site;
    }
    if (model.kind != ModelKind::kSql) files_by_env[key].insert(model.location.file);
  }
  std::map<std::string, std::string> file_hashes;
  for (const auto& [_, files] : files_by_env) {
    for (const auto& file : files) {
      file_hashes.try_emplace(file, Sha256Hex(ReadFile(options_.project_dir + "/" + file).ValueOr("")));
    }
  }
  for (size_t i = 0; i < plan_.nodes.size(); ++i) {
    ZygoteOptions zygote;
    zygote.sandbox = SandboxFor(i);
    zygote.sandbox.role = SandboxRole::kZygote;
    zygote.duckdb = plan_.nodes[i].model.kind == ModelKind::kSql;
    zygote.keep_alive = environments_.in_use;
    std::string key = env_keys[i];
    for (const auto& file : files_by_env[env_keys[i]]) {
      zygote.preload_files.push_back(file);
      key += "\n" + file + " " + file_hashes[file];
    }
    SLUICE_RETURN_NOT_OK(ZygotePool::Place(options_.shared_memory_root, key, &zygote));
    zygote_plans_.push_back({key, std::move(zygote)});
  }
  return Status::OK();
}

void ModelWorkerPool::WarmUp(size_t i) {
  if (zygotes_) (void)zygotes_->Get(zygote_plans_[i].first, zygote_plans_[i].second);
}

Result<std::unique_ptr<Subprocess>> ModelWorkerPool::Start(size_t i) {
  const ModelSpec& model = plan_.nodes[i].model;
  return StartWorker(SandboxFor(i), model.kind == ModelKind::kSql ? "sql" : "python", model.location.file,
                     options_.worker_options(i));
}

// A worker forked from node i's zygote, importing the model's module while it waits.
Result<std::unique_ptr<Subprocess>> ModelWorkerPool::Fork(size_t i) {
  const auto& [key, options] = zygote_plans_[i];
  SLUICE_ASSIGN_OR_RAISE(auto zygote, zygotes_->Get(key, options));
  const ModelSpec& model = plan_.nodes[i].model;
  return zygote->Fork(options_.worker_options(i), kZygoteReadySeconds,
                      model.kind == ModelKind::kSql ? "" : model.location.file);
}

void ModelWorkerPool::Prestart(size_t i) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (taken_.count(i) || workers_.count(i) || prestarting_.count(i) ||
      workers_.size() + prestarting_.size() >= kMaxIdleWorkers) {
    return;
  }
  if (!zygotes_) {
    auto worker = Start(i);
    if (worker.ok()) workers_[i] = std::move(*worker);
    return;
  }
  // On a thread of its own: the zygote may still be importing.
  prestarting_.insert(i);
  prestart_threads_.emplace_back([this, i] {
    auto forked = Fork(i);
    std::lock_guard<std::mutex> guard(mutex_);
    prestarting_.erase(i);
    if (forked.ok() && !taken_.count(i)) workers_[i] = std::move(*forked);
    prestarted_.notify_all();
  });
}

Result<std::unique_ptr<Subprocess>> ModelWorkerPool::Take(size_t i) {
  {
    std::unique_lock<std::mutex> lock(mutex_);
    prestarted_.wait(lock, [&] { return !prestarting_.count(i); });
    taken_.insert(i);
    auto it = workers_.find(i);
    if (it != workers_.end()) {
      auto worker = std::move(it->second);
      workers_.erase(it);
      return worker;
    }
  }
  if (zygotes_) {
    auto forked = Fork(i);
    if (forked.ok()) return forked;
  }
  return Start(i);
}

}  // namespace sluice
