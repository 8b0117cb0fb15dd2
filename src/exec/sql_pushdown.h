// Column pushdown for SQL: the columns of a table that a statement can possibly use, so a
// scan for an SQL model or `sluice query` reads nothing else.
#pragma once

#include <string>
#include <vector>

#include <arrow/api.h>

#include "project/sql_analysis.h"

namespace sluice {

// The fields of `schema` (in schema order) whose names the statement references; empty
// (= all) when it uses '*'. When it references none (COUNT(*)), the first field, so the
// row count survives.
std::vector<std::string> SqlScanColumns(const arrow::Schema& schema, const SqlAnalysis& analysis);

}  // namespace sluice
