#include "env/worker_cgroup.h"

#include <unistd.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <vector>

#include "common/byte_size.h"
#include "common/file_util.h"

namespace sluice {
namespace {

constexpr const char* kMemoryRoot = "/sys/fs/cgroup/memory/sluice";
constexpr const char* kCpuRoot = "/sys/fs/cgroup/cpu/sluice";
constexpr const char* kPidsRoot = "/sys/fs/cgroup/pids/sluice";
// cgroup v2 (one unified hierarchy): a "sluice" group under the root, with the memory and
// cpu controllers delegated to its children, one child per worker.
constexpr const char* kUnifiedRoot = "/sys/fs/cgroup";
constexpr const char* kUnifiedGroup = "/sys/fs/cgroup/sluice";

bool UnifiedHierarchy() { return PathExists(std::string(kUnifiedRoot) + "/cgroup.controllers"); }

Status WriteValue(const std::string& path, const std::string& value) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return IOError("cannot open '", path, "'");
  bool ok = std::fputs(value.c_str(), f) >= 0;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok) return IOError("cannot write '", value, "' to '", path, "'");
  return Status::OK();
}

int64_t ReadNumber(const std::string& path) {
  auto text = ReadFile(path);
  return text.ok() ? std::atoll(text->c_str()) : 0;
}

// `pid` and its descendants, parents first, from /proc (the engine's view of every PID
// namespace below its own).
std::vector<int> ProcessTree(int pid) {
  std::map<int, std::vector<int>> children;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", error)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
    std::ifstream file(entry.path() / "stat");  // procfs files report no size: read as a stream
    std::string stat;
    if (!std::getline(file, stat)) continue;
    size_t close = stat.rfind(')');  // the command may hold spaces and parentheses
    int parent = 0;
    if (close == std::string::npos || std::sscanf(stat.c_str() + close + 1, " %*c %d", &parent) != 1) continue;
    children[parent].push_back(std::atoi(name.c_str()));
  }
  std::vector<int> tree = {pid};
  for (size_t i = 0; i < tree.size(); ++i) {
    for (int child : children[tree[i]]) tree.push_back(child);
  }
  return tree;
}

}  // namespace

Result<int64_t> ParseMemorySize(const std::string& text) { return ParseByteSize(text, "memory"); }

Result<std::unique_ptr<WorkerCgroup>> WorkerCgroup::Create(const std::string& name, int64_t memory_bytes, double cpus,
                                                           int64_t max_processes) {
  std::unique_ptr<WorkerCgroup> group(new WorkerCgroup());
  std::string quota = std::to_string(static_cast<int64_t>(std::ceil(cpus * 100000)));
  if (UnifiedHierarchy()) {
    group->unified_ = true;
    // Controllers must be enabled on every level above the worker's group.
    SLUICE_RETURN_NOT_OK(
        WithContext(WriteValue(std::string(kUnifiedRoot) + "/cgroup.subtree_control", "+memory +cpu +pids"),
                    "resource limits need the memory, cpu and pids cgroup controllers"));
    SLUICE_RETURN_NOT_OK(MakeDirs(kUnifiedGroup));
    SLUICE_RETURN_NOT_OK(WriteValue(std::string(kUnifiedGroup) + "/cgroup.subtree_control", "+memory +cpu +pids"));
    group->memory_dir_ = std::string(kUnifiedGroup) + "/" + name;
    SLUICE_RETURN_NOT_OK(MakeDirs(group->memory_dir_));
    if (memory_bytes > 0) {
      SLUICE_RETURN_NOT_OK(WriteValue(group->memory_dir_ + "/memory.max", std::to_string(memory_bytes)));
      (void)WriteValue(group->memory_dir_ + "/memory.swap.max", "0");
    }
    if (cpus > 0) SLUICE_RETURN_NOT_OK(WriteValue(group->memory_dir_ + "/cpu.max", quota + " 100000"));
    if (max_processes > 0) {
      SLUICE_RETURN_NOT_OK(WriteValue(group->memory_dir_ + "/pids.max", std::to_string(max_processes)));
    }
    return group;
  }
  if (memory_bytes > 0) {
    group->memory_dir_ = std::string(kMemoryRoot) + "/" + name;
    SLUICE_RETURN_NOT_OK(WithContext(MakeDirs(group->memory_dir_), "memory limits need cgroups"));
    SLUICE_RETURN_NOT_OK(WriteValue(group->memory_dir_ + "/memory.limit_in_bytes", std::to_string(memory_bytes)));
    // Without swap accounting the limit would leak into swap; best effort where it exists.
    (void)WriteValue(group->memory_dir_ + "/memory.memsw.limit_in_bytes", std::to_string(memory_bytes));
  }
  if (cpus > 0) {
    group->cpu_dir_ = std::string(kCpuRoot) + "/" + name;
    SLUICE_RETURN_NOT_OK(WithContext(MakeDirs(group->cpu_dir_), "cpu limits need cgroups"));
    SLUICE_RETURN_NOT_OK(WriteValue(group->cpu_dir_ + "/cpu.cfs_period_us", "100000"));
    SLUICE_RETURN_NOT_OK(WriteValue(group->cpu_dir_ + "/cpu.cfs_quota_us", quota));
  }
  if (max_processes > 0) {
    group->pids_dir_ = std::string(kPidsRoot) + "/" + name;
    SLUICE_RETURN_NOT_OK(WithContext(MakeDirs(group->pids_dir_), "process limits need cgroups"));
    SLUICE_RETURN_NOT_OK(WriteValue(group->pids_dir_ + "/pids.max", std::to_string(max_processes)));
  }
  return group;
}

WorkerCgroup::~WorkerCgroup() {
  // A cgroup can be removed once its processes are gone (the worker has been reaped).
  if (!memory_dir_.empty()) ::rmdir(memory_dir_.c_str());
  if (!cpu_dir_.empty()) ::rmdir(cpu_dir_.c_str());
  if (!pids_dir_.empty()) ::rmdir(pids_dir_.c_str());
}

Status WorkerCgroup::AddProcess(int pid) {
  for (const auto& dir : {memory_dir_, cpu_dir_, pids_dir_}) {
    if (!dir.empty()) SLUICE_RETURN_NOT_OK(WriteValue(dir + "/cgroup.procs", std::to_string(pid)));
  }
  // Its descendants go along (a sandbox's init and the program under it). What a moved
  // process forks is born in the group; a child forked by a parent not moved yet is not, so
  // the tree is walked again, parents first, until a walk finds nothing new. A process that
  // ended meanwhile is no error.
  std::set<int> moved = {pid};
  for (int pass = 0; pass < 5; ++pass) {
    bool found = false;
    for (int process : ProcessTree(pid)) {
      if (!moved.insert(process).second) continue;
      found = true;
      for (const auto& dir : {memory_dir_, cpu_dir_, pids_dir_}) {
        if (!dir.empty()) (void)WriteValue(dir + "/cgroup.procs", std::to_string(process));
      }
    }
    if (!found && pass > 0) break;
  }
  return Status::OK();
}

bool WorkerCgroup::MemoryLimitHit() const {
  if (memory_dir_.empty()) return false;
  if (unified_) {
    auto events = ReadFile(memory_dir_ + "/memory.events");
    if (!events.ok()) return false;
    auto at = events->find("oom_kill ");
    return at != std::string::npos && std::atoll(events->c_str() + at + 9) > 0;
  }
  // The OOM killer's count is the reliable signal; failcnt stays 0 on some kernels.
  auto control = ReadFile(memory_dir_ + "/memory.oom_control");
  if (control.ok()) {
    auto at = control->find("oom_kill ");
    if (at != std::string::npos && std::atoll(control->c_str() + at + 9) > 0) return true;
  }
  return ReadNumber(memory_dir_ + "/memory.failcnt") > 0 ||
         ReadNumber(memory_dir_ + "/memory.max_usage_in_bytes") >= ReadNumber(memory_dir_ + "/memory.limit_in_bytes");
}

}  // namespace sluice
