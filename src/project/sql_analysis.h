// What an SQL statement reads, found with DuckDB's own parser: SQL models and `sluice query`
// are DuckDB SQL, so they are parsed by the dialect that runs them. The parser runs in a
// Python process (python -m sluice._sql_analysis, with the duckdb package), once for all the
// texts of a project or a query.
#pragma once

#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/status.h"

namespace sluice {

class Subprocess;

// A conjunct of a statement's WHERE that a scan of `table` may apply first (see
// python/sluice/_sql_analysis.py): `column op value`, or `column in (values...)`. Each value
// is typed as DuckDB parsed it: VARCHAR, INTEGER, DOUBLE, TIMESTAMP or DATE (text as written).
struct SqlPushdownFilter {
  std::string table;                                        // as written
  std::string column;                                       // as written
  std::string op;                                           // = <> < <= > >= in
  std::vector<std::pair<std::string, std::string>> values;  // (type, text)
};

struct SqlAnalysis {
  std::vector<std::string> tables;         // lake tables as written ("t" or "ns.t", case kept),
                                           // without CTE names, in order of first use
  std::set<std::string> columns;           // every name a column reference uses (all its parts,
                                           // case kept): a superset of the columns read
  bool uses_star = false;                  // may read columns it does not name ('*', COLUMNS(...),
                                           // NATURAL joins, PIVOT, ...): read every column
  std::vector<SqlPushdownFilter> filters;  // what scans may filter on first (DuckDB still does)
  // The tables of `tables` the statement surely scans once (named once, not in a CTE used
  // twice or a recursive one, no PIVOT): a query may hand those to DuckDB as a stream, which
  // can be read only once. Empty from a parser that does not say.
  std::set<std::string> read_once;
};

// Analyses SQL texts in one parser process, started by Start so that the caller can do other
// work (model discovery) while DuckDB loads. Not thread-safe.
class SqlAnalyzer {
 public:
  // `python` runs the parser with `package_dir` on PYTHONPATH. Fails when it cannot start.
  static Result<std::unique_ptr<SqlAnalyzer>> Start(const std::vector<std::string>& texts, const std::string& python,
                                                    const std::string& package_dir);
  ~SqlAnalyzer();

  // One result per text, in order: the analysis, or InvalidInput "line N: <DuckDB's message>"
  // for a text DuckDB cannot parse, or one that is not exactly one query (SELECT, FROM-first,
  // PIVOT, UNPIVOT): a second statement or any other kind of statement is refused. `$name`
  // parameters and trailing commas are DuckDB SQL. The outer Result fails only when the
  // parser process itself fails.
  Result<std::vector<Result<SqlAnalysis>>> Finish();

 private:
  SqlAnalyzer() = default;
  std::unique_ptr<Subprocess> process_;
  size_t count_ = 0;
};

// One text, parsed with PythonExecutable() and PythonPackageDir() (common/config.h).
Result<SqlAnalysis> AnalyzeSql(const std::string& sql);

// The analysis the parser prints for one text (see python/sluice/_sql_analysis.py), e.g. as a
// query worker sends it. InvalidInput when `text` is not such an object, or an error's.
Result<SqlAnalysis> SqlAnalysisFromJson(const std::string& text);

// Replaces `$name` outside string literals and comments with `literal(name)`. InvalidInput
// naming the parameter when `literal` has none (returns false).
Result<std::string> SubstituteParameters(const std::string& sql,
                                         const std::function<bool(const std::string&, std::string*)>& literal);

}  // namespace sluice
