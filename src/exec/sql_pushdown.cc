#include "exec/sql_pushdown.h"

#include <map>
#include <set>

#include "common/name_match.h"

namespace sluice {

Result<std::vector<std::string>> SqlScanColumns(const arrow::Schema& schema, const SqlAnalysis& analysis) {
  std::map<std::string, std::string> used;  // folded -> as written
  for (const auto& name : analysis.columns) used.emplace(FoldCase(name), name);
  std::map<std::string, std::vector<std::string>> by_folded;
  for (const auto& field : schema.fields()) by_folded[FoldCase(field->name())].push_back(field->name());
  for (const auto& [folded, names] : by_folded) {
    if (names.size() > 1 && used.count(folded)) {
      std::string list;
      for (const auto& name : names) list += (list.empty() ? "'" : ", '") + name + "'";
      return WithHint(InvalidInput("column '", used[folded], "' is ambiguous: it matches ", list,
                                   ", and DuckDB SQL does not tell names apart by case"),
                      "read the table from a Python model with columns=[...] naming one exactly, "
                      "or rename one of the columns");
    }
  }
  std::vector<std::string> columns;
  if (analysis.uses_star) return columns;
  for (const auto& field : schema.fields()) {
    if (used.count(FoldCase(field->name()))) columns.push_back(field->name());
  }
  if (columns.empty() && schema.num_fields() > 0) columns.push_back(schema.field(0)->name());
  return columns;
}

}  // namespace sluice
