// Model input filters: an SQL predicate ("pickup_at >= '2024-01-01' AND miles > 2.5") parsed
// with libpg_query and bound to a schema as an Arrow compute expression, so the same
// predicate prunes row groups (statistics) and filters rows exactly.
#pragma once

#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/compute/expression.h>

#include "common/status.h"

namespace sluice {

// Supported: comparisons (= <> != < <= > >=), AND, OR, NOT, IS [NOT] NULL, [NOT] IN (list),
// [NOT] BETWEEN, [NOT] LIKE, parentheses; literals: integers, decimals, 'strings', TRUE,
// FALSE, NULL. A string literal compared with a timestamp/date column is parsed as an ISO
// timestamp or date (a naive one is UTC). Literals are cast to the column's type.
// InvalidInput names the unknown column (listing the available ones) or the unsupported
// construct, quoting the filter.
Result<arrow::compute::Expression> ParseFilter(const std::string& filter, const arrow::Schema& schema);

// The column names a filter references (in order of first use, without duplicates).
Result<std::vector<std::string>> FilterColumns(const std::string& filter);

}  // namespace sluice
