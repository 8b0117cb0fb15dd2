#include "data/scan_read_log.h"

namespace sluice {
namespace {

std::string Count(int64_t n, const std::string& singular, const std::string& plural) {
  return std::to_string(n) + " " + (n == 1 ? singular : plural);
}

}  // namespace

void ScanReadLog::Record(int file, int row_group, const std::string& column, int64_t bytes, bool from_cache) {
  std::lock_guard<std::mutex> lock(mutex_);
  FileReads& reads = files_[file];
  (from_cache ? reads.hits : reads.misses) += 1;
  (from_cache ? from_cache_ : from_storage_) += bytes;
  if (row_group >= 0) {
    reads.chunks[{row_group, column}] = from_cache;
  } else if (!from_cache) {
    reads.other_misses += 1;
  }
}

void ScanReadLog::RecordDamaged(int file) {
  std::lock_guard<std::mutex> lock(mutex_);
  files_[file].damaged += 1;
}

int64_t ScanReadLog::bytes_from_storage() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return from_storage_;
}

int64_t ScanReadLog::bytes_from_cache() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return from_cache_;
}

std::vector<std::string> ScanReadLog::StorageReasons(bool cache_off, const std::string& cache_problem) const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (from_storage_ == 0) return {};
  if (cache_off) return {cache_problem.empty() ? "cache off" : "cache not used: " + cache_problem};
  int64_t new_files = 0, damaged = 0;
  // Over the files the cache knew: columns read from it anywhere, and per row group whether
  // any of its chunks came from it.
  std::set<std::string> cached_columns;
  std::map<std::pair<int, int>, bool> row_group_cached;
  for (const auto& [file, reads] : files_) {
    damaged += reads.damaged;
    if (reads.hits == 0) {
      if (reads.misses > 0) ++new_files;
      continue;
    }
    for (const auto& [chunk, hit] : reads.chunks) {
      if (hit) cached_columns.insert(chunk.second);
      row_group_cached[{file, chunk.first}] |= hit;
    }
  }
  bool any_hit = false;
  for (const auto& [_, reads] : files_) any_hit |= reads.hits > 0;
  if (!any_hit) {
    std::vector<std::string> out = {"cold cache"};
    if (damaged > 0) out.push_back(Count(damaged, "damaged cache entry", "damaged cache entries"));
    return out;
  }
  std::vector<std::string> out;
  if (new_files > 0) out.push_back(Count(new_files, "new data file", "new data files"));
  std::set<std::string> new_columns;
  int64_t new_row_groups = 0, evicted = 0;
  for (const auto& [key, cached] : row_group_cached) {
    if (!cached) ++new_row_groups;
  }
  for (const auto& [file, reads] : files_) {
    if (reads.hits == 0) continue;
    evicted += reads.other_misses;
    for (const auto& [chunk, hit] : reads.chunks) {
      if (hit || !row_group_cached[{file, chunk.first}]) continue;
      if (cached_columns.count(chunk.second)) {
        ++evicted;
      } else {
        new_columns.insert(chunk.second);
      }
    }
  }
  for (const auto& column : new_columns) out.push_back("new column " + column);
  if (new_row_groups > 0) out.push_back(Count(new_row_groups, "new row group", "new row groups"));
  if (damaged > 0) out.push_back(Count(damaged, "damaged cache entry", "damaged cache entries"));
  evicted -= std::min(evicted, damaged);
  if (evicted > 0) out.push_back(Count(evicted, "chunk evicted", "chunks evicted"));
  return out;
}

}  // namespace sluice
