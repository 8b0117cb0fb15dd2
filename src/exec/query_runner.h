// Ad-hoc SQL over the lake (`sluice query`, the SDK, the server): the tables a query names are
// scanned at a ref with column pushdown into shared memory, and DuckDB runs the query over
// them in a Python process (python -m sluice._query).
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "exec/lakehouse.h"

namespace sluice {

struct QueryRequest {
  std::string sql;
  std::string ref;                         // required
  std::string namespace_name = "bauplan";  // of bare table names
  std::optional<int64_t> max_rows;         // none = all
  std::string output = "tty";              // tty, json (lines to on_line) or arrow (a file)
  std::string output_path;                 // with output == "arrow"
  bool cache = true;                       // false: scans bypass the column cache
};

// InvalidInput with DuckDB's message when the query fails; NotFound for an unknown table.
Status RunQuery(Lakehouse& lake, const QueryRequest& request, const std::function<void(const std::string&)>& on_line);

}  // namespace sluice
