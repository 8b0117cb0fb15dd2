// Applies a model input's declared columns and filter to a table that is already in memory
// (the output of an upstream model), with the same semantics as a pushed-down scan.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <arrow/api.h>

#include "common/status.h"

namespace sluice {

// Rows of `table` matching the SQL predicate `filter`, restricted to `columns` (empty or
// ["*"] = all), names resolved as in a scan (data/table_scanner.h: ResolveColumns).
Result<std::shared_ptr<arrow::Table>> FilterTable(const std::shared_ptr<arrow::Table>& table,
                                                  const std::vector<std::string>& columns, const std::string& filter);

// The rows of `table` for which the SQL predicate `filter` is false or NULL (all columns).
Result<std::shared_ptr<arrow::Table>> RowsNotMatching(const std::shared_ptr<arrow::Table>& table,
                                                      const std::string& filter);

}  // namespace sluice
