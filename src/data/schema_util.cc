#include "data/schema_util.h"

namespace sluice {

std::shared_ptr<arrow::Schema> WithoutFieldMetadata(const arrow::Schema& schema) {
  arrow::FieldVector fields;
  for (const auto& field : schema.fields()) fields.push_back(field->RemoveMetadata());
  return arrow::schema(fields);
}

std::shared_ptr<arrow::Table> WithoutFieldMetadata(const std::shared_ptr<arrow::Table>& table) {
  return arrow::Table::Make(WithoutFieldMetadata(*table->schema()), table->columns(), table->num_rows());
}

std::string FieldNames(const arrow::Schema& schema) {
  std::string names;
  for (const auto& field : schema.fields()) names += (names.empty() ? "" : ", ") + field->name();
  return names;
}

}  // namespace sluice
