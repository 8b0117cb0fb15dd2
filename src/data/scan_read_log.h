// What one scan read and from where: each read of a data file (a column chunk of a row group,
// or another range such as the footer), from the column cache or from storage. It sums the
// bytes and says, in a user's words, why storage was read: "cold cache", "3 new data files",
// "new column trip_miles", "2 new row groups", "5 chunks evicted or damaged", "cache off".
// Safe for concurrent use (the scan's threads record into one log).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace sluice {

class ScanReadLog {
 public:
  // One read of `bytes` of file number `file` (in scan order); `row_group` -1 and `column`
  // empty for a read that is not one column chunk (the footer).
  void Record(int file, int row_group, const std::string& column, int64_t bytes, bool from_cache);
  // A cache entry for `file` failed its checks and was read again from storage.
  void RecordDamaged(int file);

  int64_t bytes_from_storage() const;
  int64_t bytes_from_cache() const;

  // Why storage was read, most important first; empty when it was not. `cache_off`: the scan
  // ran without the cache (every storage read is then "cache off", or `cache_problem`, why
  // the cache could not be used, when given).
  std::vector<std::string> StorageReasons(bool cache_off, const std::string& cache_problem = "") const;

 private:
  struct FileReads {
    int64_t hits = 0, misses = 0;
    int64_t other_misses = 0;  // misses that are not column chunks (e.g. the footer again)
    int64_t damaged = 0;
    // (row group, column) -> read from cache?
    std::map<std::pair<int, std::string>, bool> chunks;
  };
  mutable std::mutex mutex_;
  std::map<int, FileReads> files_;  // GUARDED_BY(mutex_)
  int64_t from_storage_ = 0;        // GUARDED_BY(mutex_)
  int64_t from_cache_ = 0;          // GUARDED_BY(mutex_)
};

}  // namespace sluice
