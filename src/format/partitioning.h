// Splitting a table's rows by the partition tuples of a partition spec, so that each data
// file holds one partition (what lets scans skip whole files by their tuples).
#pragma once

#include <memory>
#include <vector>

#include <arrow/api.h>
#include <nlohmann/json.hpp>

#include "common/status.h"
#include "format/table_metadata.h"

namespace sluice {

struct PartitionedRows {
  nlohmann::json partition;  // {partition field name: value}, as a manifest holds it
  std::shared_ptr<arrow::Table> rows;
};

// The rows of `table` (columns named as in `schema`) grouped by their partition tuple under
// `spec`, groups in the order of their first row; one group with an empty tuple when the
// spec is unpartitioned. Rows are not copied where they need not be: a table of one
// partition comes back as it is, and a group whose rows come in long runs (data sorted by
// its partition columns, as time-ordered data is by day) is those runs' slices; only a group
// scattered in short runs is gathered into new buffers. InvalidInput names a source column
// that is missing or whose type the transform does not apply to.
Result<std::vector<PartitionedRows>> SplitByPartition(const std::shared_ptr<arrow::Table>& table, const Schema& schema,
                                                      const PartitionSpec& spec);

// The distinct partition tuples of `table`'s rows under `spec`, in the order of their first
// row, without grouping the rows themselves. `table` needs only the spec's source columns.
Result<std::vector<nlohmann::json>> PartitionTuplesOf(const std::shared_ptr<arrow::Table>& table, const Schema& schema,
                                                      const PartitionSpec& spec);

}  // namespace sluice
