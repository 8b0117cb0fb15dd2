// Field metadata handling shared by the data layer: tables handed to users carry no
// "PARQUET:field_id" (or any other) field metadata.
#pragma once

#include <memory>
#include <string>

#include <arrow/api.h>

namespace sluice {

std::shared_ptr<arrow::Schema> WithoutFieldMetadata(const arrow::Schema& schema);

// "a, b, c": the field names, for error messages listing the available columns.
std::string FieldNames(const arrow::Schema& schema);

// The same columns under a schema without field or schema metadata (no data is copied).
std::shared_ptr<arrow::Table> WithoutFieldMetadata(const std::shared_ptr<arrow::Table>& table);

}  // namespace sluice
