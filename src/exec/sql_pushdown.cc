#include "exec/sql_pushdown.h"

namespace sluice {

std::vector<std::string> SqlScanColumns(const arrow::Schema& schema, const SqlAnalysis& analysis) {
  std::vector<std::string> columns;
  if (analysis.uses_star) return columns;
  for (const auto& field : schema.fields()) {
    if (analysis.columns.count(field->name())) columns.push_back(field->name());
  }
  if (columns.empty() && schema.num_fields() > 0) columns.push_back(schema.field(0)->name());
  return columns;
}

}  // namespace sluice
