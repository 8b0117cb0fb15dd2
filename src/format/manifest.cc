#include "format/manifest.h"

#include <map>

#include "common/ids.h"
#include "format/avro.h"
#include "format/partition_transform.h"
#include "storage/file_io.h"

namespace sluice {
namespace {

using nlohmann::json;

// The Avro schema of a manifest entry whose partition struct is `partition` (r102).
json ManifestEntrySchema(const json& partition_fields) {
  json schema = json::parse(R"({
    "type": "record", "name": "manifest_entry", "fields": [
      {"name": "status", "type": "int", "field-id": 0},
      {"name": "snapshot_id", "type": ["null", "long"], "default": null, "field-id": 1},
      {"name": "sequence_number", "type": ["null", "long"], "default": null, "field-id": 3},
      {"name": "file_sequence_number", "type": ["null", "long"], "default": null, "field-id": 4},
      {"name": "data_file", "field-id": 2, "type": {"type": "record", "name": "r2", "fields": [
        {"name": "content", "type": "int", "field-id": 134},
        {"name": "file_path", "type": "string", "field-id": 100},
        {"name": "file_format", "type": "string", "field-id": 101},
        {"name": "partition", "type": {"type": "record", "name": "r102", "fields": []},
         "field-id": 102},
        {"name": "record_count", "type": "long", "field-id": 103},
        {"name": "file_size_in_bytes", "type": "long", "field-id": 104}
      ]}}
    ]})");
  schema["fields"][4]["type"]["fields"][3]["type"]["fields"] = partition_fields;
  return schema;
}

const json& ManifestFileSchema() {
  static const json schema = json::parse(R"({
    "type": "record", "name": "manifest_file", "fields": [
      {"name": "manifest_path", "type": "string", "field-id": 500},
      {"name": "manifest_length", "type": "long", "field-id": 501},
      {"name": "partition_spec_id", "type": "int", "field-id": 502},
      {"name": "content", "type": "int", "field-id": 517},
      {"name": "sequence_number", "type": "long", "field-id": 515},
      {"name": "min_sequence_number", "type": "long", "field-id": 516},
      {"name": "added_snapshot_id", "type": "long", "field-id": 503},
      {"name": "added_files_count", "type": "int", "field-id": 504},
      {"name": "existing_files_count", "type": "int", "field-id": 505},
      {"name": "deleted_files_count", "type": "int", "field-id": 506},
      {"name": "added_rows_count", "type": "long", "field-id": 512},
      {"name": "existing_rows_count", "type": "long", "field-id": 513},
      {"name": "deleted_rows_count", "type": "long", "field-id": 514},
      {"name": "partitions", "type": ["null", {"type": "array", "element-id": 508, "items": {
        "type": "record", "name": "r508", "fields": [
          {"name": "contains_null", "type": "boolean", "field-id": 509},
          {"name": "contains_nan", "type": ["null", "boolean"], "default": null, "field-id": 518},
          {"name": "lower_bound", "type": ["null", "bytes"], "default": null, "field-id": 510},
          {"name": "upper_bound", "type": ["null", "bytes"], "default": null, "field-id": 511}]}}],
       "default": null, "field-id": 507}
    ]})");
  return schema;
}

Result<AvroFile> ReadAvro(const std::string& uri) {
  SLUICE_ASSIGN_OR_RAISE(std::string bytes, FileIO::Default().ReadAll(uri));
  return WithContext(DecodeAvroFile(bytes), "'" + uri + "'");
}

// The Iceberg type of each partition field's values.
Result<std::vector<std::string>> PartitionTypes(const Schema& schema, const PartitionSpec& spec) {
  std::vector<std::string> types;
  for (const auto& field : spec.fields) {
    const SchemaField* source = schema.FindField(field.source_id);
    if (!source || !source->is_primitive()) {
      return InvalidInput("partition field '", field.name, "': its source column (id ", field.source_id,
                          ") is not a primitive column of the schema");
    }
    SLUICE_ASSIGN_OR_RAISE(auto transform, PartitionTransform::Parse(field.transform));
    types.push_back(transform.ResultType(source->type.get<std::string>()));
  }
  return types;
}

std::optional<int64_t> OptionalLong(const json& value) {
  if (value.is_number_integer()) return value.get<int64_t>();
  return std::nullopt;
}

}  // namespace

Result<json> WriteManifest(const std::string& table_location, const Schema& schema, const PartitionSpec& spec,
                           int64_t snapshot_id, int64_t sequence, const std::vector<ManifestEntry>& entries) {
  SLUICE_ASSIGN_OR_RAISE(auto types, PartitionTypes(schema, spec));
  json partition_fields = json::array();
  for (size_t k = 0; k < spec.fields.size(); ++k) {
    partition_fields.push_back({{"name", spec.fields[k].name},
                                {"type", {"null", AvroTypeOfPartitionValue(types[k])}},
                                {"default", nullptr},
                                {"field-id", spec.fields[k].field_id}});
  }
  AvroFile manifest;
  manifest.schema = ManifestEntrySchema(partition_fields);
  manifest.metadata = {{"schema", schema.ToJson().dump()},
                       {"schema-id", std::to_string(schema.schema_id)},
                       {"partition-spec", spec.FieldsJson().dump()},
                       {"partition-spec-id", std::to_string(spec.spec_id)},
                       {"format-version", "2"},
                       {"content", "data"}};
  int64_t counts[3] = {0, 0, 0}, rows[3] = {0, 0, 0};
  int64_t min_sequence = sequence;
  // Partition summaries: over every entry of the manifest, as Java and pyiceberg write them.
  std::vector<bool> contains_null(spec.fields.size(), false);
  std::vector<json> lower(spec.fields.size()), upper(spec.fields.size());
  for (const auto& entry : entries) {
    int status = static_cast<int>(entry.status);
    ++counts[status];
    rows[status] += entry.file.record_count;
    if (entry.sequence_number) min_sequence = std::min(min_sequence, *entry.sequence_number);
    json partition = json::object();
    for (size_t k = 0; k < spec.fields.size(); ++k) {
      const std::string& name = spec.fields[k].name;
      json value = entry.file.partition.contains(name) ? entry.file.partition[name] : json();
      partition[name] = value;
      if (value.is_null()) {
        contains_null[k] = true;
      } else {
        if (lower[k].is_null() || value < lower[k]) lower[k] = value;
        if (upper[k].is_null() || upper[k] < value) upper[k] = value;
      }
    }
    json seq = entry.sequence_number ? json(*entry.sequence_number) : json();
    json file_seq = entry.file_sequence_number ? json(*entry.file_sequence_number) : json();
    manifest.records.push_back({{"status", status},
                                {"snapshot_id", entry.snapshot_id},
                                {"sequence_number", seq},
                                {"file_sequence_number", file_seq},
                                {"data_file",
                                 {{"content", 0},
                                  {"file_path", entry.file.path},
                                  {"file_format", entry.file.format},
                                  {"partition", partition},
                                  {"record_count", entry.file.record_count},
                                  {"file_size_in_bytes", entry.file.file_size_in_bytes}}}});
  }
  SLUICE_ASSIGN_OR_RAISE(std::string bytes, EncodeAvroFile(manifest));
  std::string path = table_location + "/metadata/" + NewUuid() + "-m0.avro";
  SLUICE_RETURN_NOT_OK(FileIO::Default().WriteAtomically(path, bytes));
  json summaries = json::array();
  for (size_t k = 0; k < spec.fields.size(); ++k) {
    json summary = {{"contains_null", contains_null[k]}, {"contains_nan", false}};
    if (!lower[k].is_null()) {
      SLUICE_ASSIGN_OR_RAISE(std::string low, SingleValueBytes(lower[k], types[k]));
      SLUICE_ASSIGN_OR_RAISE(std::string high, SingleValueBytes(upper[k], types[k]));
      summary["lower_bound"] = json::binary(std::vector<uint8_t>(low.begin(), low.end()));
      summary["upper_bound"] = json::binary(std::vector<uint8_t>(high.begin(), high.end()));
    }
    summaries.push_back(summary);
  }
  json record = {{"manifest_path", path},
                 {"manifest_length", static_cast<int64_t>(bytes.size())},
                 {"partition_spec_id", spec.spec_id},
                 {"content", 0},
                 {"sequence_number", sequence},
                 {"min_sequence_number", min_sequence},
                 {"added_snapshot_id", snapshot_id},
                 {"added_files_count", counts[1]},
                 {"existing_files_count", counts[0]},
                 {"deleted_files_count", counts[2]},
                 {"added_rows_count", rows[1]},
                 {"existing_rows_count", rows[0]},
                 {"deleted_rows_count", rows[2]}};
  if (!spec.fields.empty()) record["partitions"] = summaries;
  return record;
}

Result<std::vector<ManifestEntry>> ReadManifest(const json& record) {
  std::string path = record.at("manifest_path").get<std::string>();
  int spec_id = record.value("partition_spec_id", 0);
  std::optional<int64_t> inherited = OptionalLong(record.value("sequence_number", json()));
  SLUICE_ASSIGN_OR_RAISE(AvroFile file, ReadAvro(path));
  std::vector<ManifestEntry> out;
  try {
    for (const auto& e : file.records) {
      ManifestEntry entry;
      int status = e.at("status").get<int>();
      if (status < 0 || status > 2) return InvalidInput("manifest '", path, "': an entry has status ", status);
      entry.status = static_cast<EntryStatus>(status);
      entry.snapshot_id = OptionalLong(e.value("snapshot_id", json())).value_or(record.value("added_snapshot_id", 0));
      entry.sequence_number = OptionalLong(e.value("sequence_number", json()));
      entry.file_sequence_number = OptionalLong(e.value("file_sequence_number", json()));
      if (!entry.sequence_number) entry.sequence_number = inherited;
      if (!entry.file_sequence_number) entry.file_sequence_number = inherited;
      const json& data = e.at("data_file");
      if (data.value("content", 0) != 0) continue;  // delete files: not written by us
      entry.file.path = data.at("file_path").get<std::string>();
      entry.file.format = data.at("file_format").get<std::string>();
      entry.file.record_count = data.at("record_count").get<int64_t>();
      entry.file.file_size_in_bytes = data.at("file_size_in_bytes").get<int64_t>();
      entry.file.spec_id = spec_id;
      entry.file.partition = data.value("partition", json::object());
      if (!entry.file.partition.is_object()) entry.file.partition = json::object();
      out.push_back(std::move(entry));
    }
  } catch (const json::exception& e) {
    return InvalidInput("malformed manifest '", path, "': ", e.what());
  }
  return out;
}

Result<std::vector<DataFile>> ReadManifestDataFiles(const std::string& manifest_path, int spec_id) {
  json record = {{"manifest_path", manifest_path}, {"partition_spec_id", spec_id}};
  SLUICE_ASSIGN_OR_RAISE(auto entries, ReadManifest(record));
  std::vector<DataFile> out;
  for (auto& entry : entries) {
    if (entry.status != EntryStatus::kDeleted) out.push_back(std::move(entry.file));
  }
  return out;
}

Result<std::string> WriteManifestList(const std::string& location, int64_t snapshot_id, std::optional<int64_t> parent,
                                      int64_t sequence, const std::vector<json>& manifests) {
  AvroFile list;
  list.schema = ManifestFileSchema();
  list.metadata = {{"snapshot-id", std::to_string(snapshot_id)},
                   {"parent-snapshot-id", parent ? std::to_string(*parent) : "null"},
                   {"sequence-number", std::to_string(sequence)},
                   {"format-version", "2"}};
  list.records = manifests;
  SLUICE_ASSIGN_OR_RAISE(std::string bytes, EncodeAvroFile(list));
  std::string path = location + "/metadata/snap-" + std::to_string(snapshot_id) + "-1-" + NewUuid() + ".avro";
  SLUICE_RETURN_NOT_OK(FileIO::Default().WriteAtomically(path, bytes));
  return path;
}

Result<std::vector<json>> ReadManifestList(const Snapshot* snapshot) {
  if (!snapshot) return std::vector<json>();
  SLUICE_ASSIGN_OR_RAISE(AvroFile list, ReadAvro(snapshot->manifest_list));
  return std::move(list.records);
}

}  // namespace sluice
