// A data file as Parquet's reader sees it, through the column cache: each range it reads
// (a column chunk of a row group, or the footer) comes from the cache when it has it, else
// from storage, and is then put in the cache. Storage is opened only at the first miss, with
// the size the catalog recorded, so a fully cached file costs no storage request at all.
// Every read is recorded in the scan's ScanReadLog. Thread-safe: Parquet reads row groups
// and columns from several threads through readers Open returns.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include <arrow/io/interfaces.h>
#include <parquet/metadata.h>

#include "common/status.h"
#include "data/column_cache.h"
#include "data/scan_read_log.h"

namespace sluice {

class CachedDataFile : public std::enable_shared_from_this<CachedDataFile> {
 public:
  // `cache` null: every read goes to storage (and is still recorded). `identity` names the
  // file's content in cache keys (its location and size; see docs/decisions.md). `index` is
  // the file's number in `log`. `cache` must outlive the readers; `log` is shared because a
  // streamed scan abandoned midway may leave reads in flight on Arrow's I/O threads.
  CachedDataFile(ColumnCache* cache, std::string uri, int64_t size, std::string identity, int index,
                 std::shared_ptr<ScanReadLog> log)
      : cache_(cache),
        uri_(std::move(uri)),
        size_(size),
        identity_(std::move(identity)),
        index_(index),
        log_(std::move(log)) {}

  int64_t size() const { return size_; }

  // Names the column chunks from the file's footer, so later reads are cached and reported
  // by (row group, column).
  void SetLayout(const parquet::FileMetaData& metadata);

  // A reader over the file (Parquet opens one per fragment).
  std::shared_ptr<arrow::io::RandomAccessFile> OpenReader();

  // The bytes [position, position + length): from the cache, else from storage.
  Result<std::shared_ptr<arrow::Buffer>> ReadRange(int64_t position, int64_t length);

 private:
  Result<std::shared_ptr<arrow::io::RandomAccessFile>> Storage();

  ColumnCache* cache_;
  std::string uri_;
  int64_t size_;
  std::string identity_;
  int index_;
  std::shared_ptr<ScanReadLog> log_;

  std::mutex mutex_;
  std::shared_ptr<arrow::io::RandomAccessFile> storage_;  // GUARDED_BY(mutex_); opened at the first miss
  // Column chunk start offset -> (row group, column path).
  std::map<int64_t, std::pair<int, std::string>> chunks_;  // GUARDED_BY(mutex_)
};

}  // namespace sluice
