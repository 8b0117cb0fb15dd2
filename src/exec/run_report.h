// What `sluice run` did: per-model outcomes and the run's fate. Plain values.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace sluice {

enum class ModelStatus { kSuccess, kWarning, kFailed, kSkipped };
std::string_view ModelStatusName(ModelStatus status);

struct TableScanReport;
// "bauplan.taxi: 1.2 MB from storage (new column trip_miles), 40.1 MB from cache", the line
// a model's output shows for each table it reads.
std::string ScanSummary(const TableScanReport& scan);

// One scan of a lake table, told on the line of the model that reads it (the first reader
// when several share it): where its bytes came from, and why storage was read.
struct TableScanReport {
  std::string table;  // "ns.table"
  int64_t bytes_from_storage = 0;
  int64_t bytes_from_cache = 0;
  std::vector<std::string> storage_reasons;  // "cold cache", "new column trip_miles", ...
  int64_t row_groups_read = 0, row_groups_total = 0;
  int64_t files_read = 0, files_total = 0;  // the others skipped by their partition tuples
  std::string shared_with;                  // another model that reads the same scan, when there is one
  double seconds = 0;                       // the scan, into shared memory
};

struct ModelReport {
  std::string name;
  std::string kind;      // "python", "sql" or "expectation"
  std::string location;  // "models.py:12"
  ModelStatus status = ModelStatus::kSkipped;
  double seconds = 0;
  int64_t rows = -1;         // -1 when the model produced no table
  std::string output_table;  // "ns.table" when materialized
  std::string message;       // warning or error text (one line)
  std::string traceback;     // the user's traceback when their code raised
  // CLOCK_MONOTONIC seconds at which user code was entered and returned (0 when unknown);
  // comparable across processes, so hand-off latency between models can be measured.
  double user_start = 0, user_return = 0, output_written = 0;
  // When the call asked for its worker (a fork from a zygote, or a fresh interpreter), in
  // the same clock; user_start - worker_start is what starting a worker costs.
  double worker_start = 0;
  // Bytes of its output handed on where the model built them (a heap table), not copied.
  int64_t output_shared_bytes = 0;
  // With RunOptions::preview: the output's column names and up to 10 rows as text.
  std::vector<std::string> preview_columns;
  std::vector<std::vector<std::string>> preview_rows;
  std::vector<TableScanReport> scans;  // the lake tables it reads (see TableScanReport)
};

struct RunReport {
  std::string job_id;
  std::string target_ref;        // the branch (or ref, for dry runs) the run read from
  std::string run_branch;        // the temporary branch; empty with --no-transaction / --dry-run
  bool run_branch_kept = false;  // true after a failure, so the user can inspect it
  std::string commit_id;         // the target's new head when the run committed something
  std::vector<ModelReport> models;
  std::vector<std::string> warnings;
  Status status;  // OK, or why the run failed
  double seconds = 0;
  double environment_seconds = 0;  // of which: resolving and assembling model environments
  // The object store's memory budget (data/memory_budget.h; 0: none), the most bytes this
  // run's objects held in shared memory at once, and the bytes of them spilled to disk.
  int64_t memory_budget_bytes = 0;
  int64_t peak_shared_memory_bytes = 0;
  int64_t spilled_bytes = 0;
  bool ok() const { return status.ok(); }
};

}  // namespace sluice
