#include "format/partitioning.h"

#include <arrow/compute/api.h>

#include <cstring>
#include <unordered_map>

#include "format/partition_transform.h"

namespace sluice {
namespace {

using nlohmann::json;

// A byte key for a partition value; distinct values give distinct keys within one field.
void AppendKey(const json& value, std::string* key) {
  if (value.is_null()) {
    key->push_back('n');
  } else if (value.is_number_integer()) {
    int64_t v = value.get<int64_t>();
    key->push_back('i');
    key->append(reinterpret_cast<const char*>(&v), sizeof(v));
  } else if (value.is_boolean()) {
    key->push_back(value.get<bool>() ? 't' : 'f');
  } else if (value.is_number()) {
    double v = value.get<double>();
    key->push_back('d');
    key->append(reinterpret_cast<const char*>(&v), sizeof(v));
  } else {
    std::string bytes = value.is_string() ? value.get<std::string>()
                                          : std::string(value.get_binary().begin(), value.get_binary().end());
    uint64_t size = bytes.size();
    key->push_back('s');
    key->append(reinterpret_cast<const char*>(&size), sizeof(size));
    key->append(bytes);
  }
}

}  // namespace

Result<std::vector<PartitionedRows>> SplitByPartition(const std::shared_ptr<arrow::Table>& table, const Schema& schema,
                                                      const PartitionSpec& spec) {
  if (spec.fields.empty()) return std::vector<PartitionedRows>{{json::object(), table}};
  SLUICE_ASSIGN_OR_RAISE(auto combined, table->CombineChunks());
  std::vector<std::shared_ptr<arrow::Array>> sources;
  std::vector<PartitionTransform> transforms;
  for (const auto& field : spec.fields) {
    const SchemaField* source = schema.FindField(field.source_id);
    auto column = source ? combined->GetColumnByName(source->name) : nullptr;
    if (!column) {
      return InvalidInput("partition field '", field.name, "': its source column (id ", field.source_id,
                          ") is not in the data");
    }
    SLUICE_ASSIGN_OR_RAISE(auto transform, PartitionTransform::Parse(field.transform));
    SLUICE_RETURN_NOT_OK(transform.CheckSource(*column->type(), source->name));
    if (column->num_chunks() == 1) {
      sources.push_back(column->chunk(0));
    } else {
      SLUICE_ASSIGN_OR_RAISE(auto whole, arrow::Concatenate(column->chunks()));
      sources.push_back(whole);
    }
    transforms.push_back(transform);
  }
  std::unordered_map<std::string, size_t> group_of;
  std::vector<json> tuples;
  std::vector<arrow::Int64Builder> indices;
  std::string key;
  std::vector<json> values(spec.fields.size());
  for (int64_t row = 0; row < combined->num_rows(); ++row) {
    key.clear();
    for (size_t k = 0; k < spec.fields.size(); ++k) {
      SLUICE_ASSIGN_OR_RAISE(values[k], transforms[k].Apply(*sources[k], row));
      AppendKey(values[k], &key);
    }
    auto [it, added] = group_of.emplace(key, tuples.size());
    if (added) {
      json tuple = json::object();
      for (size_t k = 0; k < spec.fields.size(); ++k) tuple[spec.fields[k].name] = values[k];
      tuples.push_back(std::move(tuple));
      indices.emplace_back();
    }
    SLUICE_RETURN_NOT_OK(indices[it->second].Append(row));
  }
  std::vector<PartitionedRows> out;
  for (size_t g = 0; g < tuples.size(); ++g) {
    SLUICE_ASSIGN_OR_RAISE(auto selection, indices[g].Finish());
    SLUICE_ASSIGN_OR_RAISE(arrow::Datum taken, arrow::compute::Take(combined, selection));
    out.push_back({std::move(tuples[g]), taken.table()});
  }
  return out;
}

}  // namespace sluice
