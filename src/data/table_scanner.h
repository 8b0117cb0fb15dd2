// Scans Parquet data files with projection and predicate pushdown: only the requested
// columns are read, row groups whose statistics exclude the filter are skipped, and the
// filter is then applied exactly to the remaining rows. With a column cache, each column
// chunk (and footer) comes from it when it is there and from storage otherwise
// (cached_data_file.h), so a scan reads from storage only what no earlier scan read.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/api.h>

#include "common/status.h"
#include "data/column_cache.h"
#include "data/file_pruning.h"

namespace sluice {

struct ScanRequest {
  std::vector<std::string> files;         // locations storage/storage_uri.h accepts
  std::shared_ptr<arrow::Schema> schema;  // the table schema (no field-id metadata)
  std::vector<std::string> columns;       // output columns, in this order; empty or ["*"] = all
                                          // (resolved by common/name_match.h)
  std::string filter;                     // SQL predicate (see filter_expression.h); empty = none
  // The sizes the catalog recorded for `files`, in their order; missing or <= 0: asked from
  // storage. With the size known, a cached file needs no storage request.
  std::vector<int64_t> file_sizes;
  // Files a committed snapshot owns never change (docs/decisions.md). False (external tables:
  // files users may rewrite in place): each file's modification time joins its cache key.
  bool files_immutable = true;
  // Partition pruning (file_pruning.h): each file's spec id and partition tuple, in the order
  // of `files`, and the table's specs. Empty: no file is skipped by partition (an external
  // table's tuples are its writer's claims, which nothing checked).
  std::vector<int> spec_ids;
  std::vector<nlohmann::json> partitions;
  PartitionSpecs partition_specs;
  // Row groups read (and decoded) ahead of the consumer, at most; 0: Arrow's scanner defaults
  // (about 16), which suit a scan read whole. A stream to a slower consumer sets a few: what
  // it holds is then a few row groups, and S3 requests still overlap the consumer's work.
  int row_groups_ahead = 0;
  ColumnCache* cache = nullptr;  // null: everything is read from storage
  std::string cache_problem;     // why `cache` is null when it should not be, for the reasons
};

struct ScanStats {
  int64_t files = 0;          // data files read (their footers at least)
  int64_t files_total = 0;    // data files of the snapshot
  int64_t files_skipped = 0;  // skipped by their partition tuples, never opened
  int64_t row_groups_total = 0;
  int64_t row_groups_read = 0;     // the others were skipped by statistics
  int64_t rows_read = 0;           // rows decoded from the row groups read
  int64_t rows_out = 0;            // rows after the filter
  int64_t bytes_from_storage = 0;  // data file bytes read from storage (chunks and footers)
  int64_t bytes_from_cache = 0;    // and from the column cache
  // Why storage was read (scan_read_log.h): "cold cache", "new column trip_miles", ...
  std::vector<std::string> storage_reasons;
};

// The stored names of the columns a model asks for (`columns=`), in the order asked, by the
// name rule of common/name_match.h; a name in double quotes matches exactly. Empty or ["*"]:
// every field. Duplicates are dropped. InvalidInput names an unknown column (listing the
// available ones) or an ambiguous one (listing the candidates).
Result<std::vector<std::string>> ResolveColumns(const arrow::Schema& schema, const std::vector<std::string>& wanted);

// The scan as a stream: the files' footers are read and the row groups chosen here (errors
// in them, an unknown column or a bad filter fail this call); the batches are then read as
// the reader is pulled, in file and row-group order, a few row groups ahead (Arrow's scanner
// readahead), so a consumer that writes each batch on holds a bounded part of the table. Its
// schema and batches are as ScanTable's result. `stats` (may be null) must outlive the reader:
// its file and row-group counts are set here, rows_out grows with each batch, and the bytes
// and storage reasons are set once the reader has returned its end. The reader is pulled by
// one thread at a time.
Result<std::shared_ptr<arrow::RecordBatchReader>> ScanTableBatches(const ScanRequest& request,
                                                                   ScanStats* stats = nullptr);

// The whole scan as one table (ScanTableBatches, read to its end). The result has exactly the
// resolved `columns` (or the schema's fields), typed as in `schema`, without
// "PARQUET:field_id" metadata, even with no files or no matching rows. InvalidInput names an
// unknown column (listing the available ones).
Result<std::shared_ptr<arrow::Table>> ScanTable(const ScanRequest& request, ScanStats* stats = nullptr);

}  // namespace sluice
