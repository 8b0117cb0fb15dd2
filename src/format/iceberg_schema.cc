#include "format/iceberg_schema.h"

#include <arrow/compute/api.h>

#include <algorithm>
#include <map>

namespace sluice {
namespace {

using nlohmann::json;

Result<std::string> IcebergType(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::BOOL:
      return "boolean";
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::UINT8:
    case arrow::Type::UINT16:
      return "int";
    case arrow::Type::INT64:
    case arrow::Type::UINT32:
    case arrow::Type::UINT64:
      return "long";
    case arrow::Type::HALF_FLOAT:
    case arrow::Type::FLOAT:
      return "float";
    case arrow::Type::DOUBLE:
      return "double";
    case arrow::Type::DATE32:
    case arrow::Type::DATE64:
      return "date";
    case arrow::Type::TIME32:
    case arrow::Type::TIME64:
      return "time";
    case arrow::Type::TIMESTAMP:
      return static_cast<const arrow::TimestampType&>(type).timezone().empty() ? "timestamp" : "timestamptz";
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW:
    case arrow::Type::DICTIONARY:
      return "string";
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::BINARY_VIEW:
      return "binary";
    case arrow::Type::DECIMAL128: {
      const auto& d = static_cast<const arrow::Decimal128Type&>(type);
      return "decimal(" + std::to_string(d.precision()) + ", " + std::to_string(d.scale()) + ")";
    }
    case arrow::Type::NA:
      return "string";  // an all-null column of unknown type
    default:
      return InvalidInput("type ", type.ToString(), " cannot be stored in an Iceberg table yet");
  }
}

Result<std::shared_ptr<arrow::DataType>> ArrowType(const std::string& type) {
  if (type == "boolean") return arrow::boolean();
  if (type == "int") return arrow::int32();
  if (type == "long") return arrow::int64();
  if (type == "float") return arrow::float32();
  if (type == "double") return arrow::float64();
  if (type == "date") return arrow::date32();
  if (type == "time") return arrow::time64(arrow::TimeUnit::MICRO);
  if (type == "timestamp") return arrow::timestamp(arrow::TimeUnit::MICRO);
  if (type == "timestamptz") return arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
  if (type == "string") return arrow::utf8();
  if (type == "binary") return arrow::binary();
  if (type.rfind("decimal(", 0) == 0) {
    int precision = 0, scale = 0;
    if (std::sscanf(type.c_str(), "decimal(%d, %d)", &precision, &scale) == 2 ||
        std::sscanf(type.c_str(), "decimal(%d,%d)", &precision, &scale) == 2) {
      return arrow::decimal128(precision, scale);
    }
  }
  return InvalidInput("unsupported Iceberg type '", type, "'");
}

}  // namespace

Result<json> IcebergSchemaFromArrow(const arrow::Schema& schema, int schema_id, const json& previous,
                                    int* last_column_id) {
  std::map<std::string, int> ids;
  if (previous.is_object()) {
    for (const auto& field : previous.at("fields")) ids[field.at("name")] = field.at("id");
  }
  json fields = json::array();
  for (const auto& field : schema.fields()) {
    SLUICE_ASSIGN_OR_RAISE(std::string type,
                           WithContext(IcebergType(*field->type()), "column '" + field->name() + "'"));
    auto it = ids.find(field->name());
    int id = it != ids.end() ? it->second : ++*last_column_id;
    fields.push_back({{"id", id}, {"name", field->name()}, {"required", false}, {"type", type}});
  }
  return json{{"type", "struct"}, {"schema-id", schema_id}, {"fields", fields}};
}

Result<std::shared_ptr<arrow::Schema>> ArrowSchemaFromIceberg(const json& schema) {
  arrow::FieldVector fields;
  for (const auto& field : schema.at("fields")) {
    if (!field.at("type").is_string()) {
      return InvalidInput("nested column '", field.at("name").get<std::string>(), "' is not supported yet");
    }
    SLUICE_ASSIGN_OR_RAISE(auto type, ArrowType(field.at("type").get<std::string>()));
    fields.push_back(arrow::field(field.at("name").get<std::string>(), type, !field.value("required", false)));
  }
  return arrow::schema(fields);
}

Result<std::shared_ptr<arrow::Table>> PrepareForParquet(const std::shared_ptr<arrow::Table>& table,
                                                        const json& iceberg_schema) {
  const auto& fields = iceberg_schema.at("fields");
  arrow::FieldVector out_fields;
  arrow::ChunkedArrayVector columns;
  for (int i = 0; i < table->num_columns(); ++i) {
    const auto& field = fields.at(i);
    SLUICE_ASSIGN_OR_RAISE(auto type, ArrowType(field.at("type").get<std::string>()));
    auto column = table->column(i);
    if (!column->type()->Equals(*type)) {
      arrow::compute::CastOptions options = arrow::compute::CastOptions::Safe(type);
      // Sub-microsecond precision is not representable in Iceberg; truncating is expected.
      options.allow_time_truncate = true;
      SLUICE_ASSIGN_OR_RAISE(auto datum, arrow::compute::Cast(column, options));
      column = datum.chunked_array();
    }
    columns.push_back(column);
    out_fields.push_back(
        arrow::field(field.at("name").get<std::string>(), type, true,
                     arrow::key_value_metadata({"PARQUET:field_id"}, {std::to_string(field.at("id").get<int>())})));
  }
  return arrow::Table::Make(arrow::schema(out_fields), columns, table->num_rows());
}

Result<json> EvolveSchemaForAppend(const json& current, const json& incoming, int schema_id, json* write) {
  json fields = current.at("fields");
  *write = incoming;
  auto& written = (*write)["fields"];
  for (auto& column : written) {
    const std::string name = column.at("name");
    const std::string type = column.at("type").is_string() ? column["type"].get<std::string>() : "";
    auto it = std::find_if(fields.begin(), fields.end(), [&](const json& f) { return f.at("name") == name; });
    if (it == fields.end()) {
      fields.push_back(column);  // a new nullable column, with its new id
      continue;
    }
    const std::string have = (*it)["type"].is_string() ? (*it)["type"].get<std::string>() : (*it)["type"].dump();
    if (have == type) continue;
    bool widen = (have == "int" && type == "long") || (have == "float" && type == "double");
    bool narrower = (have == "long" && type == "int") || (have == "double" && type == "float");
    if (widen) {
      (*it)["type"] = type;
    } else if (narrower) {
      column["type"] = have;  // written in the table's wider type
    } else {
      return InvalidInput("cannot append: column '", name, "' is ", type, " in the data and ", have,
                          " in the table (only int -> long and float -> double widen a column)");
    }
  }
  return json{{"type", "struct"}, {"schema-id", schema_id}, {"fields", fields}};
}

std::string DescribeSchemaDifference(const json& expected, const json& actual) {
  std::map<std::string, std::string> want, got;
  for (const auto& f : expected.at("fields")) want[f.at("name")] = f.at("type").dump();
  for (const auto& f : actual.at("fields")) got[f.at("name")] = f.at("type").dump();
  std::string out;
  auto add = [&](const std::string& text) { out += (out.empty() ? "" : "; ") + text; };
  for (const auto& [name, type] : want) {
    auto it = got.find(name);
    if (it == got.end()) {
      add("column '" + name + "' is missing");
    } else if (it->second != type) {
      add("column '" + name + "' is " + it->second + ", the table has " + type);
    }
  }
  for (const auto& [name, type] : got) {
    if (!want.count(name)) add("column '" + name + "' is not in the table");
  }
  return out;
}

}  // namespace sluice
