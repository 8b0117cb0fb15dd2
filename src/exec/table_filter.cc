#include "exec/table_filter.h"

#include <arrow/dataset/api.h>

#include "data/filter_expression.h"
#include "data/schema_util.h"

namespace sluice {

Result<std::shared_ptr<arrow::Table>> FilterTable(const std::shared_ptr<arrow::Table>& table,
                                                  const std::vector<std::string>& columns,
                                                  const std::string& filter) {
  auto dataset = std::make_shared<arrow::dataset::InMemoryDataset>(table);
  SLUICE_ASSIGN_OR_RAISE(auto builder, dataset->NewScan());
  if (!filter.empty()) {
    SLUICE_ASSIGN_OR_RAISE(auto expression, ParseFilter(filter, *table->schema()));
    SLUICE_RETURN_NOT_OK(builder->Filter(expression));
  }
  if (!columns.empty()) {
    for (const auto& column : columns) {
      if (table->schema()->GetFieldIndex(column) < 0) {
        return InvalidInput("column '", column, "' does not exist; available: ",
                            FieldNames(*table->schema()));
      }
    }
    SLUICE_RETURN_NOT_OK(builder->Project(columns));
  }
  SLUICE_ASSIGN_OR_RAISE(auto scanner, builder->Finish());
  return scanner->ToTable();
}

}  // namespace sluice
