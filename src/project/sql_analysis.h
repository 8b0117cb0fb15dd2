// What an SQL statement reads, found with the PostgreSQL parser (libpg_query), not regexes.
#pragma once

#include <functional>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace sluice {

struct SqlAnalysis {
  std::vector<std::string> tables;     // tables in FROM/JOIN as written ("t" or "ns.t"),
                                       // without CTE names, in order of first use
  std::set<std::string> columns;       // every column name referenced (last name component)
  bool uses_star = false;              // SELECT * or t.* somewhere
};

// `$name` parameters are accepted (treated as literals), and so is a trailing comma before
// FROM. InvalidInput quotes the parser's message and the line of the error.
Result<SqlAnalysis> AnalyzeSql(const std::string& sql);

// Replaces `$name` outside string literals and comments with `literal(name)`. InvalidInput
// naming the parameter when `literal` has none (returns false).
Result<std::string> SubstituteParameters(
    const std::string& sql, const std::function<bool(const std::string&, std::string*)>& literal);

}  // namespace sluice
