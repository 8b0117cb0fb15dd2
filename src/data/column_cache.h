// The differential column cache: byte ranges of data files (a Parquet column chunk of one row
// group, or a file's footer) kept on local disk, so a scan reads from storage only what no
// earlier scan read. Entries are keyed by the data file's identity (its location and size,
// see docs/decisions.md: committed data files never change) and the part of it they hold; an
// entry holds the stored (compressed) bytes, so the decoder above it is unchanged and the cache
// can never change what a scan returns. Under a byte budget, least recently used first out.
//
// On disk (docs/column_cache_format.md): one file per entry, written to a temporary name and
// renamed into place, with a header carrying the full key and an XXH3 checksum of key and
// payload. A reader checks both; anything else (truncated, damaged, another key's file) is
// dropped and counts as a miss, never returned.
//
// A ColumnCache is safe for concurrent use from many threads, and any number of processes may
// share one directory: writes are atomic renames, reads take no lock, and eviction only
// unlinks, which never disturbs a reader that already has the file open.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <arrow/buffer.h>

#include "common/status.h"

namespace sluice {

struct ColumnCacheOptions {
  // Created (mode 0700) when missing. Must belong to this user and be writable by no one else.
  std::string directory;
  // Bytes the entries may take; 0: ColumnCacheBudget(directory).
  int64_t budget_bytes = 0;
};

// The budget when none is given: $SLUICE_COLUMN_CACHE_BYTES (bytes, or with a K/M/G suffix),
// else the number in `directory`/budget (written by `sluice cache budget`), else
// min(10 GiB, a quarter of the space free on the directory's filesystem). InvalidInput for a
// value that is not a size.
Result<int64_t> ColumnCacheBudget(const std::string& directory);

// Writes the budget setting of `directory` (0: back to the default).
Status SetColumnCacheBudget(const std::string& directory, int64_t bytes);

struct ColumnCacheUsage {
  std::string directory;
  int64_t entries = 0;
  int64_t bytes = 0;  // of entry files, headers included
  int64_t budget = 0;
};

class ColumnCache {
 public:
  static Result<std::unique_ptr<ColumnCache>> Open(const ColumnCacheOptions& options);

  const std::string& directory() const { return directory_; }
  int64_t budget() const { return budget_; }

  // The bytes stored under (file, part), or null when there are none. `file` identifies an
  // immutable data file (e.g. "s3://b/t/data/x.parquet@1048576"); `part` what of it
  // ("rg 3 col PULocationID"). An entry that fails its checks is removed, counted in
  // damaged_entries() and reported as a miss (`*damaged` set when given). Errors only for
  // an unreadable cache directory. A hit marks the entry as recently used.
  Result<std::shared_ptr<arrow::Buffer>> Get(const std::string& file, const std::string& part, bool* damaged = nullptr);

  // Stores `data` under (file, part), replacing any entry there; then evicts least recently
  // used entries while the cache is over its budget. Data larger than the budget is not kept.
  Status Put(const std::string& file, const std::string& part, const arrow::Buffer& data);

  // Entries and bytes now (walks the directory).
  Result<ColumnCacheUsage> Usage() const;

  // Removes least recently used entries until at most `max_bytes` remain (0: all). Returns
  // what was (with `dry_run`: would be) removed. Safe while other processes read and write.
  Result<ColumnCacheUsage> Prune(int64_t max_bytes, bool dry_run = false);

  int64_t damaged_entries() const { return damaged_.load(); }

 private:
  ColumnCache(std::string directory, int64_t budget) : directory_(std::move(directory)), budget_(budget) {}
  std::string EntryPath(const std::string& key) const;

  std::string directory_;
  int64_t budget_;
  std::atomic<int64_t> damaged_{0};
  std::mutex mutex_;
  // Bytes in the directory as of the last walk plus what this process added since; -1 before
  // the first walk. Other processes' additions are seen at the next walk.
  int64_t approximate_bytes_ = -1;  // GUARDED_BY(mutex_)
};

}  // namespace sluice
