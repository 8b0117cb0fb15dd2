// Column pushdown for SQL: the columns of a table that a statement can possibly use, so a
// scan for an SQL model or `sluice query` reads nothing else.
#pragma once

#include <string>
#include <vector>

#include <arrow/api.h>

#include "common/status.h"
#include "project/sql_analysis.h"

namespace sluice {

// The fields of `schema` (in schema order, stored names) that the statement may read: every
// field whose name equals a name the statement uses, ignoring case (DuckDB resolves names so);
// empty (= all) when it may read columns it does not name ('*', ...). When it uses none
// (COUNT(*)), the first field, so the row count survives. DuckDB cannot tell apart fields
// whose names differ only in case (`Age`, `age`): a statement naming one of them is
// InvalidInput naming both, rather than reading a column the user did not mean.
Result<std::vector<std::string>> SqlScanColumns(const arrow::Schema& schema, const SqlAnalysis& analysis);

// Row pushdown for SQL: the statement's WHERE conjuncts on the table written `table` (as the
// statement names it) that a scan of `schema` may apply first, as one predicate for
// data/filter_expression.h ("" when none). A conjunct is kept only where our filter and DuckDB
// compare the same way: a string with a string column, an integer with a numeric column, a
// decimal with a double column (not a float one: DuckDB widens the column where our filter
// would narrow the literal), a TIMESTAMP or DATE literal with a timestamp or date
// column, each column found by the name rule and the predicate accepted by ParseFilter. It
// only ever removes rows the statement's WHERE removes; DuckDB still applies all of it.
std::string SqlScanFilter(const arrow::Schema& schema, const SqlAnalysis& analysis, const std::string& table);

}  // namespace sluice
