// Iceberg schemas and their Arrow counterparts. Iceberg fields carry ids that stay with a
// column name for the life of a table; Arrow fields written to Parquet carry them as
// "PARQUET:field_id" metadata.
#pragma once

#include <memory>
#include <string>

#include <arrow/api.h>
#include <nlohmann/json.hpp>

#include "common/status.h"

namespace sluice {

// The Iceberg schema JSON ({"type": "struct", "schema-id": id, "fields": [...]}) for an Arrow
// schema. Ids come from `previous` (an Iceberg schema JSON, may be null) by column name; new
// columns get ids after *last_column_id, which is updated. Top-level primitive columns only.
// InvalidInput names a column whose type Iceberg cannot hold.
Result<nlohmann::json> IcebergSchemaFromArrow(const arrow::Schema& schema, int schema_id,
                                              const nlohmann::json& previous, int* last_column_id);

// The Arrow schema for an Iceberg schema JSON, without field-id metadata.
Result<std::shared_ptr<arrow::Schema>> ArrowSchemaFromIceberg(const nlohmann::json& schema);

// `table` cast to the Arrow types Iceberg stores (int8/16 -> int32, timestamps -> us,
// views -> plain strings, ...) with each field carrying its "PARQUET:field_id".
Result<std::shared_ptr<arrow::Table>> PrepareForParquet(const std::shared_ptr<arrow::Table>& table,
                                                        const nlohmann::json& iceberg_schema);

// The table schema (id `schema_id`) after an append of rows whose schema is `incoming`
// (IcebergSchemaFromArrow against `current`, so shared names share ids): columns only in
// `incoming` are added, nullable, with their new ids; int -> long and float -> double widen
// a column; columns only in `current` stay (the appended rows hold NULL there). Sets
// `*write` to `incoming` with each column typed as the table will store it. InvalidInput
// names the column and both types for any other type change.
Result<nlohmann::json> EvolveSchemaForAppend(const nlohmann::json& current, const nlohmann::json& incoming,
                                             int schema_id, nlohmann::json* write);

// Whether two Iceberg schemas have the same columns (names and types, ignoring ids);
// otherwise a description of the first differences.
std::string DescribeSchemaDifference(const nlohmann::json& expected, const nlohmann::json& actual);

}  // namespace sluice
