#include "data/memory_budget.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "common/byte_size.h"
#include "common/file_util.h"

namespace sluice {

std::string MemoryBudget::GroupOf(const std::string& key) {
  size_t first = key.find('/');
  if (first == std::string::npos) return key;
  size_t second = key.find('/', first + 1);
  return second == std::string::npos ? key.substr(0, first) : key.substr(0, second);
}

void MemoryBudget::CountLocked(const std::string& key, int64_t delta) {
  live_ += delta;
  peak_ = std::max(peak_, live_);
  auto& group = groups_[GroupOf(key)];
  group.live_bytes += delta;
  group.peak_bytes = std::max(group.peak_bytes, group.live_bytes);
}

void MemoryBudget::EraseLocked(const std::string& key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  Entry& entry = it->second;
  if (Counted(entry.state)) {
    CountLocked(key, -entry.bytes);
    lru_.erase(entry.lru);
  }
  if (entry.state == State::kLeaving) leaving_ -= entry.bytes;
  entries_.erase(it);
}

void MemoryBudget::AddWriting(const std::string& key, int64_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  EraseLocked(key);
  Entry entry;
  entry.bytes = std::max<int64_t>(bytes, 0);
  entry.state = State::kWriting;
  entry.lru = lru_.insert(lru_.end(), key);
  entries_[key] = entry;
  CountLocked(key, entry.bytes);
}

void MemoryBudget::AddResident(const std::string& key, int64_t bytes, bool spillable) {
  std::lock_guard<std::mutex> lock(mutex_);
  EraseLocked(key);
  Entry entry;
  entry.bytes = std::max<int64_t>(bytes, 0);
  entry.state = State::kResident;
  entry.spillable = spillable;
  entry.lru = lru_.insert(lru_.end(), key);
  entries_[key] = entry;
  CountLocked(key, entry.bytes);
}

void MemoryBudget::Touch(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() || !Counted(it->second.state)) return;
  lru_.splice(lru_.end(), lru_, it->second.lru);
}

void MemoryBudget::Remove(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  EraseLocked(key);
}

void MemoryBudget::RemoveGroup(const std::string& group) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> keys;
  for (const auto& [key, _] : entries_) {
    if (GroupOf(key) == group) keys.push_back(key);
  }
  for (const auto& key : keys) EraseLocked(key);
  groups_.erase(group);
}

std::vector<MemoryBudget::Victim> MemoryBudget::PickVictims(int64_t incoming, const std::string& keep) {
  std::vector<Victim> victims;
  if (limit_ <= 0) return victims;
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = lru_.begin(); it != lru_.end() && live_ - leaving_ + incoming > limit_; ++it) {
    Entry& entry = entries_.at(*it);
    if (entry.state != State::kResident || !entry.spillable || *it == keep) continue;
    entry.state = State::kLeaving;
    leaving_ += entry.bytes;
    victims.push_back({*it, entry.bytes});
  }
  return victims;
}

void MemoryBudget::Spilled(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.state != State::kLeaving) return;
  Entry& entry = it->second;
  leaving_ -= entry.bytes;
  CountLocked(key, -entry.bytes);
  lru_.erase(entry.lru);
  entry.state = State::kSpilled;
  spilled_ += entry.bytes;
  auto& group = groups_[GroupOf(key)];
  group.spilled_bytes += entry.bytes;
  group.spilled_objects += 1;
}

void MemoryBudget::SpillFailed(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  if (it == entries_.end() || it->second.state != State::kLeaving) return;
  leaving_ -= it->second.bytes;
  it->second.state = State::kResident;
}

bool MemoryBudget::IsSpilled(const std::string& key) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = entries_.find(key);
  return it != entries_.end() && it->second.state == State::kSpilled;
}

int64_t MemoryBudget::live_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return live_;
}

int64_t MemoryBudget::peak_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return peak_;
}

int64_t MemoryBudget::spilled_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return spilled_;
}

MemoryBudgetGroupStats MemoryBudget::GroupStats(const std::string& group) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = groups_.find(group);
  return it == groups_.end() ? MemoryBudgetGroupStats{} : it->second;
}

namespace {

int64_t MemTotalBytes() {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  int64_t value = 0;
  while (meminfo >> key >> value >> unit) {
    if (key == "MemTotal:") return value * 1024;
  }
  return 0;
}

// "off", "none" and "0" turn the budget off; anything else must be a size.
Result<int64_t> ParseBudget(std::string text, const std::string& what) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  if (text == "off" || text == "none" || text == "0") return 0;
  return ParseByteSize(text, what);
}

}  // namespace

std::string MemoryBudgetSettingPath(const std::string& data_home) { return data_home + "/memory-budget"; }

Status SetMemoryBudgetSetting(const std::string& data_home, const std::string& value) {
  std::string path = MemoryBudgetSettingPath(data_home);
  if (value.empty()) return RemoveAll(path);
  SLUICE_RETURN_NOT_OK(ParseBudget(value, std::string(kMemoryBudgetSetting) + " '" + value + "'").status());
  SLUICE_RETURN_NOT_OK(MakeDirs(data_home));
  return WriteFileAtomic(path, value + "\n", 0600);
}

Result<MemoryBudgetSetting> ResolveMemoryBudget(const std::string& data_home, const std::string& shared_memory_root) {
  MemoryBudgetSetting setting;
  if (const char* env = std::getenv("SLUICE_MEMORY_BUDGET"); env && *env) {
    SLUICE_ASSIGN_OR_RAISE(setting.bytes, ParseBudget(env, std::string("SLUICE_MEMORY_BUDGET '") + env + "'"));
    setting.source = "SLUICE_MEMORY_BUDGET";
    return setting;
  }
  std::string path = MemoryBudgetSettingPath(data_home);
  if (PathExists(path)) {
    SLUICE_ASSIGN_OR_RAISE(std::string text, ReadFile(path));
    SLUICE_ASSIGN_OR_RAISE(setting.bytes, ParseBudget(text, std::string(kMemoryBudgetSetting) + " in '" + path + "'"));
    setting.source = std::string(kMemoryBudgetSetting) + " of the data home";
    return setting;
  }
  int64_t budget = MemTotalBytes() / 2;
  struct statvfs info;
  if (::statvfs(shared_memory_root.c_str(), &info) == 0) {
    int64_t filesystem = static_cast<int64_t>(info.f_blocks) * static_cast<int64_t>(info.f_frsize);
    if (filesystem > 0 && (budget == 0 || filesystem < budget)) budget = filesystem;
  }
  setting.bytes = budget;
  setting.source = "default: half of RAM, at most the size of " + shared_memory_root;
  return setting;
}

}  // namespace sluice
