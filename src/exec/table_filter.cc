#include "exec/table_filter.h"

#include <arrow/dataset/api.h>

#include "data/filter_expression.h"
#include "data/schema_util.h"
#include "data/table_scanner.h"

namespace sluice {

Result<std::shared_ptr<arrow::Table>> FilterTable(const std::shared_ptr<arrow::Table>& table,
                                                  const std::vector<std::string>& columns, const std::string& filter) {
  auto dataset = std::make_shared<arrow::dataset::InMemoryDataset>(table);
  SLUICE_ASSIGN_OR_RAISE(auto builder, dataset->NewScan());
  if (!filter.empty()) {
    SLUICE_ASSIGN_OR_RAISE(auto expression, ParseFilter(filter, *table->schema()));
    SLUICE_RETURN_NOT_OK(builder->Filter(expression));
  }
  SLUICE_ASSIGN_OR_RAISE(std::vector<std::string> resolved, ResolveColumns(*table->schema(), columns));
  SLUICE_RETURN_NOT_OK(builder->Project(resolved));
  SLUICE_ASSIGN_OR_RAISE(auto scanner, builder->Finish());
  return scanner->ToTable();
}

Result<std::shared_ptr<arrow::Table>> RowsNotMatching(const std::shared_ptr<arrow::Table>& table,
                                                      const std::string& filter) {
  SLUICE_ASSIGN_OR_RAISE(auto expression, ParseFilter(filter, *table->schema()));
  namespace cp = arrow::compute;
  auto dataset = std::make_shared<arrow::dataset::InMemoryDataset>(table);
  SLUICE_ASSIGN_OR_RAISE(auto builder, dataset->NewScan());
  SLUICE_RETURN_NOT_OK(builder->Filter(cp::or_(cp::not_(expression), cp::is_null(expression))));
  SLUICE_ASSIGN_OR_RAISE(auto scanner, builder->Finish());
  return scanner->ToTable();
}

}  // namespace sluice
