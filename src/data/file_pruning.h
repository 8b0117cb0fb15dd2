// Skipping whole data files before any of their bytes are read: a filter (filter_expression.h)
// is projected through each partition field's transform onto the file's partition tuple
// (Iceberg's inclusive projection: `day(ts) = d` from `ts >= '2024-01-02'`, `bucket(zone)
// = b` from `zone = 7`, ...), and a file whose tuple cannot satisfy it is skipped. Inclusive:
// a file is only skipped when no row in it can match; anything the projection cannot decide
// (an unknown function, a tuple of the wrong type) keeps the file. The query engine calls it
// with a snapshot's files as the table scanner does.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/expression.h>

#include "common/status.h"
#include "format/iceberg_table.h"

namespace sluice {

// A table's partition specs by id, source columns by name (TableSnapshot::specs).
using PartitionSpecs = std::map<int, std::vector<PartitionFieldInfo>>;

// Whether a file with partition tuple `tuple` under spec `spec_id` may hold rows matching
// `filter` (an expression from ParseFilter). Never fails: what it cannot decide is kept.
bool FileMayMatch(const arrow::compute::Expression& filter, const PartitionSpecs& specs, int spec_id,
                  const nlohmann::json& tuple);

// The files of `files` (a snapshot's data files, with their partition tuples) that may hold
// rows matching `filter` (SQL, see filter_expression.h; empty: all), in their order.
// InvalidInput as ParseFilter for a filter that does not parse against `schema`.
Result<std::vector<DataFile>> DataFilesToRead(const std::vector<DataFile>& files, const PartitionSpecs& specs,
                                              const arrow::Schema& schema, const std::string& filter);

}  // namespace sluice
