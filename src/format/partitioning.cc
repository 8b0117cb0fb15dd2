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

// Each row's group under a spec, and where each group's rows lie (runs of consecutive rows).
struct RowGroups {
  std::vector<json> tuples;                                    // by group, in order of first row
  std::vector<std::vector<std::pair<int64_t, int64_t>>> runs;  // by group: (first row, length)
};

Result<RowGroups> GroupRows(const arrow::Table& table, const Schema& schema, const PartitionSpec& spec) {
  std::vector<std::shared_ptr<arrow::ChunkedArray>> sources;
  std::vector<PartitionTransform> transforms;
  for (const auto& field : spec.fields) {
    const SchemaField* source = schema.FindField(field.source_id);
    auto column = source ? table.GetColumnByName(source->name) : nullptr;
    if (!column) {
      return InvalidInput("partition field '", field.name, "': its source column (id ", field.source_id,
                          ") is not in the data");
    }
    SLUICE_ASSIGN_OR_RAISE(auto transform, PartitionTransform::Parse(field.transform));
    SLUICE_RETURN_NOT_OK(transform.CheckSource(*column->type(), source->name));
    sources.push_back(column);
    transforms.push_back(transform);
  }
  RowGroups groups;
  std::unordered_map<std::string, size_t> group_of;
  std::string key;
  std::vector<json> values(spec.fields.size());
  // Columns of one table may be chunked differently: walk each by its own chunk and offset.
  std::vector<int> chunk(sources.size(), 0);
  std::vector<int64_t> offset(sources.size(), 0);
  for (int64_t row = 0; row < table.num_rows(); ++row) {
    key.clear();
    for (size_t k = 0; k < sources.size(); ++k) {
      while (row - offset[k] >= sources[k]->chunk(chunk[k])->length())
        offset[k] += sources[k]->chunk(chunk[k]++)->length();
      SLUICE_ASSIGN_OR_RAISE(values[k], transforms[k].Apply(*sources[k]->chunk(chunk[k]), row - offset[k]));
      AppendKey(values[k], &key);
    }
    auto [it, added] = group_of.emplace(key, groups.tuples.size());
    if (added) {
      json tuple = json::object();
      for (size_t k = 0; k < spec.fields.size(); ++k) tuple[spec.fields[k].name] = values[k];
      groups.tuples.push_back(std::move(tuple));
      groups.runs.emplace_back();
    }
    auto& runs = groups.runs[it->second];
    if (!runs.empty() && runs.back().first + runs.back().second == row) {
      ++runs.back().second;
    } else {
      runs.push_back({row, 1});
    }
  }
  return groups;
}

// Runs this long on average or more are handed on as slices of the input; shorter ones are
// gathered (a table of thousands of one-row chunks would write slowly).
constexpr int64_t kMinAverageRun = 64;

}  // namespace

Result<std::vector<PartitionedRows>> SplitByPartition(const std::shared_ptr<arrow::Table>& table, const Schema& schema,
                                                      const PartitionSpec& spec) {
  if (spec.fields.empty()) return std::vector<PartitionedRows>{{json::object(), table}};
  SLUICE_ASSIGN_OR_RAISE(RowGroups groups, GroupRows(*table, schema, spec));
  std::vector<PartitionedRows> out;
  for (size_t g = 0; g < groups.tuples.size(); ++g) {
    const auto& runs = groups.runs[g];
    int64_t count = 0;
    for (const auto& run : runs) count += run.second;
    std::shared_ptr<arrow::Table> rows;
    if (runs.size() == 1) {
      rows = table->Slice(runs[0].first, runs[0].second);  // the whole table, when one partition
    } else if (count / static_cast<int64_t>(runs.size()) >= kMinAverageRun) {
      std::vector<std::shared_ptr<arrow::Table>> slices;
      for (const auto& [first, length] : runs) slices.push_back(table->Slice(first, length));
      SLUICE_ASSIGN_OR_RAISE(rows, arrow::ConcatenateTables(slices));  // chunks side by side, no copy
    } else {
      arrow::Int64Builder indices;
      SLUICE_RETURN_NOT_OK(indices.Reserve(count));
      for (const auto& [first, length] : runs) {
        for (int64_t r = first; r < first + length; ++r) indices.UnsafeAppend(r);
      }
      SLUICE_ASSIGN_OR_RAISE(auto selection, indices.Finish());
      SLUICE_ASSIGN_OR_RAISE(arrow::Datum taken, arrow::compute::Take(table, selection));
      rows = taken.table();
    }
    out.push_back({std::move(groups.tuples[g]), std::move(rows)});
  }
  return out;
}

Result<std::vector<json>> PartitionTuplesOf(const std::shared_ptr<arrow::Table>& table, const Schema& schema,
                                            const PartitionSpec& spec) {
  if (spec.fields.empty()) return std::vector<json>{json::object()};
  SLUICE_ASSIGN_OR_RAISE(RowGroups groups, GroupRows(*table, schema, spec));
  return std::move(groups.tuples);
}

}  // namespace sluice
