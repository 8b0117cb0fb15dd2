#include "format/iceberg_table.h"

#include <arrow/io/file.h>
#include <parquet/arrow/writer.h>

#include <cstdio>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "format/avro.h"
#include "format/iceberg_schema.h"

namespace sluice {
namespace {

using nlohmann::json;

// Rows per Parquet row group: small enough that statistics let scans skip row groups.
constexpr int64_t kRowGroupRows = 128 * 1024;

const json& ManifestEntrySchema() {
  static const json schema = json::parse(R"({
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
      {"name": "deleted_rows_count", "type": "long", "field-id": 514}
    ]})");
  return schema;
}

Result<json> ReadJsonFile(const std::string& uri) {
  SLUICE_ASSIGN_OR_RAISE(std::string path, LocalPathFromUri(uri));
  SLUICE_ASSIGN_OR_RAISE(std::string text, ReadFile(path));
  try {
    return json::parse(text);
  } catch (const std::exception& e) {
    return InvalidInput("unreadable table metadata '", uri, "': ", e.what());
  }
}

Result<AvroFile> ReadAvro(const std::string& uri) {
  SLUICE_ASSIGN_OR_RAISE(std::string path, LocalPathFromUri(uri));
  SLUICE_ASSIGN_OR_RAISE(std::string bytes, ReadFile(path));
  return WithContext(DecodeAvroFile(bytes), "'" + uri + "'");
}

Status WriteBytes(const std::string& uri, const std::string& bytes) {
  SLUICE_ASSIGN_OR_RAISE(std::string path, LocalPathFromUri(uri));
  SLUICE_RETURN_NOT_OK(MakeDirs(path.substr(0, path.find_last_of('/'))));
  return WriteFileAtomic(path, bytes);
}

const json* CurrentSchema(const json& metadata) {
  int id = metadata.value("current-schema-id", 0);
  for (const auto& schema : metadata.at("schemas")) {
    if (schema.value("schema-id", 0) == id) return &schema;
  }
  return nullptr;
}

std::optional<int64_t> CurrentSnapshotId(const json& metadata) {
  if (!metadata.contains("current-snapshot-id") || metadata["current-snapshot-id"].is_null()) {
    return std::nullopt;
  }
  int64_t id = metadata["current-snapshot-id"].get<int64_t>();
  if (id < 0) return std::nullopt;
  return id;
}

const json* FindSnapshot(const json& metadata, int64_t id) {
  if (!metadata.contains("snapshots")) return nullptr;
  for (const auto& snapshot : metadata["snapshots"]) {
    if (snapshot.at("snapshot-id").get<int64_t>() == id) return &snapshot;
  }
  return nullptr;
}

// The version number of a metadata file name "00003-<uuid>.metadata.json" (or "v3...").
int MetadataVersion(const std::string& location) {
  std::string name = location.substr(location.find_last_of('/') + 1);
  if (!name.empty() && name[0] == 'v') name = name.substr(1);
  try {
    return std::stoi(name.substr(0, name.find_first_of("-.")));
  } catch (...) {
    return 0;
  }
}

Result<DataFile> WriteParquetFile(const std::shared_ptr<arrow::Table>& table,
                                  const std::string& location) {
  DataFile file;
  file.path = location + "/data/" + NewUuid() + ".parquet";
  SLUICE_ASSIGN_OR_RAISE(std::string path, LocalPathFromUri(file.path));
  SLUICE_RETURN_NOT_OK(MakeDirs(path.substr(0, path.find_last_of('/'))));
  std::string temp = path + ".tmp";
  {
    SLUICE_ASSIGN_OR_RAISE(auto out, arrow::io::FileOutputStream::Open(temp));
    auto properties = parquet::WriterProperties::Builder()
                          .compression(parquet::Compression::ZSTD)
                          ->max_row_group_length(kRowGroupRows)
                          ->build();
    SLUICE_RETURN_NOT_OK(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), out,
                                                    kRowGroupRows, properties));
    SLUICE_RETURN_NOT_OK(out->Close());
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) return IOError("cannot rename '", temp, "'");
  SLUICE_ASSIGN_OR_RAISE(auto in, arrow::io::ReadableFile::Open(path));
  SLUICE_ASSIGN_OR_RAISE(file.file_size_in_bytes, in->GetSize());
  file.record_count = table->num_rows();
  return file;
}

}  // namespace

Result<std::string> LocalPathFromUri(const std::string& uri) {
  if (uri.rfind("file://", 0) == 0) return uri.substr(7);
  if (uri.find("://") != std::string::npos) {
    return InvalidInput("unsupported location '", uri, "': only local files (file://) for now");
  }
  return uri;
}

Result<TableSnapshot> LoadTableSnapshot(const std::string& metadata_location) {
  SLUICE_ASSIGN_OR_RAISE(json metadata, ReadJsonFile(metadata_location));
  TableSnapshot out;
  out.metadata_location = metadata_location;
  try {
    out.metadata.table_uuid = metadata.value("table-uuid", "");
    out.metadata.location = metadata.at("location").get<std::string>();
    out.metadata.last_updated_ms = metadata.value("last-updated-ms", int64_t{0});
    out.metadata.last_sequence_number = metadata.value("last-sequence-number", int64_t{0});
    out.metadata.format_version = metadata.value("format-version", 2);
    const json* schema = CurrentSchema(metadata);
    if (!schema) return InvalidInput("table metadata '", metadata_location, "' has no current schema");
    SLUICE_ASSIGN_OR_RAISE(out.schema, ArrowSchemaFromIceberg(*schema));
    out.snapshot_id = CurrentSnapshotId(metadata);
    if (!out.snapshot_id) return out;
    const json* snapshot = FindSnapshot(metadata, *out.snapshot_id);
    if (!snapshot) return InvalidInput("table metadata '", metadata_location, "': current snapshot missing");
    SLUICE_ASSIGN_OR_RAISE(AvroFile list, ReadAvro(snapshot->at("manifest-list")));
    for (const auto& manifest : list.records) {
      if (manifest.value("content", 0) != 0) continue;  // delete manifests: not written by us
      SLUICE_ASSIGN_OR_RAISE(AvroFile entries, ReadAvro(manifest.at("manifest_path")));
      for (const auto& entry : entries.records) {
        if (entry.at("status").get<int>() == 2) continue;  // deleted
        const json& data = entry.at("data_file");
        if (data.value("content", 0) != 0) continue;
        DataFile file;
        file.path = data.at("file_path").get<std::string>();
        file.format = data.at("file_format").get<std::string>();
        file.record_count = data.at("record_count").get<int64_t>();
        file.file_size_in_bytes = data.at("file_size_in_bytes").get<int64_t>();
        out.total_records += file.record_count;
        out.data_files.push_back(std::move(file));
      }
    }
  } catch (const json::exception& e) {
    return InvalidInput("malformed table metadata '", metadata_location, "': ", e.what());
  }
  return out;
}

Result<std::string> WriteTableSnapshot(const std::shared_ptr<arrow::Table>& data,
                                       const TableWriteOptions& options) {
  if (options.table_location.empty()) return InvalidInput("no table location");
  const std::string& location = options.table_location;
  int64_t now = NowMillis();
  json metadata;
  bool exists = !options.previous_metadata_location.empty();
  if (exists) {
    SLUICE_ASSIGN_OR_RAISE(metadata, ReadJsonFile(options.previous_metadata_location));
  } else {
    metadata = {{"format-version", 2},
                {"table-uuid", NewUuid()},
                {"location", location},
                {"last-sequence-number", 0},
                {"last-updated-ms", now},
                {"last-column-id", 0},
                {"current-schema-id", 0},
                {"schemas", json::array()},
                {"partition-specs", json::array({{{"spec-id", 0}, {"fields", json::array()}}})},
                {"default-spec-id", 0},
                {"last-partition-id", 999},
                {"sort-orders", json::array({{{"order-id", 0}, {"fields", json::array()}}})},
                {"default-sort-order-id", 0},
                {"properties", {{"write.format.default", "parquet"}}},
                {"current-snapshot-id", nullptr},
                {"refs", json::object()},
                {"snapshots", json::array()},
                {"snapshot-log", json::array()},
                {"metadata-log", json::array()}};
  }
  try {
    // Schema: ids kept by name; a new schema only when the columns changed.
    const json* current = exists ? CurrentSchema(metadata) : nullptr;
    int last_column_id = metadata.value("last-column-id", 0);
    int next_schema_id = 0;
    for (const auto& s : metadata["schemas"]) next_schema_id = std::max(next_schema_id, s.value("schema-id", 0) + 1);
    SLUICE_ASSIGN_OR_RAISE(json schema, IcebergSchemaFromArrow(*data->schema(), next_schema_id,
                                                               current ? *current : json(),
                                                               &last_column_id));
    std::string difference = current ? DescribeSchemaDifference(*current, schema) : "x";
    if (!difference.empty() && current && options.mode == WriteMode::kAppend) {
      return InvalidInput("cannot append: the schema differs from the table's: ", difference);
    }
    if (!difference.empty()) {
      metadata["schemas"].push_back(schema);
      metadata["current-schema-id"] = next_schema_id;
      metadata["last-column-id"] = last_column_id;
    } else {
      schema["schema-id"] = current->value("schema-id", 0);
    }
    int schema_id = schema["schema-id"];

    std::optional<int64_t> parent = CurrentSnapshotId(metadata);
    int64_t snapshot_id = NewSnapshotId();
    int64_t sequence = metadata.value("last-sequence-number", int64_t{0}) + 1;

    // Data file and its manifest (none for an empty table).
    json manifests = json::array();
    int64_t previous_records = 0, previous_files = 0;
    if (parent && options.mode == WriteMode::kAppend) {
      const json* previous = FindSnapshot(metadata, *parent);
      if (previous) {
        SLUICE_ASSIGN_OR_RAISE(AvroFile list, ReadAvro(previous->at("manifest-list")));
        for (auto& manifest : list.records) manifests.push_back(manifest);
        json summary = previous->value("summary", json::object());
        previous_records = std::stoll(summary.value("total-records", std::string("0")));
        previous_files = std::stoll(summary.value("total-data-files", std::string("0")));
      }
    }
    int64_t added_files = 0;
    if (data->num_rows() > 0) {
      SLUICE_ASSIGN_OR_RAISE(auto prepared, PrepareForParquet(data, schema));
      SLUICE_ASSIGN_OR_RAISE(DataFile file, WriteParquetFile(prepared, location));
      added_files = 1;
      AvroFile manifest;
      manifest.schema = ManifestEntrySchema();
      manifest.metadata = {{"schema", schema.dump()},
                           {"schema-id", std::to_string(schema_id)},
                           {"partition-spec", "[]"},
                           {"partition-spec-id", "0"},
                           {"format-version", "2"},
                           {"content", "data"}};
      manifest.records.push_back({{"status", 1},
                                  {"snapshot_id", snapshot_id},
                                  {"sequence_number", nullptr},
                                  {"file_sequence_number", nullptr},
                                  {"data_file",
                                   {{"content", 0},
                                    {"file_path", file.path},
                                    {"file_format", "PARQUET"},
                                    {"partition", json::object()},
                                    {"record_count", file.record_count},
                                    {"file_size_in_bytes", file.file_size_in_bytes}}}});
      SLUICE_ASSIGN_OR_RAISE(std::string bytes, EncodeAvroFile(manifest));
      std::string manifest_path = location + "/metadata/" + NewUuid() + "-m0.avro";
      SLUICE_RETURN_NOT_OK(WriteBytes(manifest_path, bytes));
      manifests.push_back({{"manifest_path", manifest_path},
                           {"manifest_length", static_cast<int64_t>(bytes.size())},
                           {"partition_spec_id", 0},
                           {"content", 0},
                           {"sequence_number", sequence},
                           {"min_sequence_number", sequence},
                           {"added_snapshot_id", snapshot_id},
                           {"added_files_count", 1},
                           {"existing_files_count", 0},
                           {"deleted_files_count", 0},
                           {"added_rows_count", file.record_count},
                           {"existing_rows_count", 0},
                           {"deleted_rows_count", 0}});
    }
    AvroFile list;
    list.schema = ManifestFileSchema();
    list.metadata = {{"snapshot-id", std::to_string(snapshot_id)},
                     {"parent-snapshot-id", parent ? std::to_string(*parent) : "null"},
                     {"sequence-number", std::to_string(sequence)},
                     {"format-version", "2"}};
    for (auto& m : manifests) list.records.push_back(m);
    SLUICE_ASSIGN_OR_RAISE(std::string list_bytes, EncodeAvroFile(list));
    std::string list_path = location + "/metadata/snap-" + std::to_string(snapshot_id) + "-1-" +
                            NewUuid() + ".avro";
    SLUICE_RETURN_NOT_OK(WriteBytes(list_path, list_bytes));

    bool append = options.mode == WriteMode::kAppend;
    json summary = {{"operation", append || !parent ? "append" : "overwrite"},
                    {"added-data-files", std::to_string(added_files)},
                    {"added-records", std::to_string(data->num_rows())},
                    {"total-records", std::to_string((append ? previous_records : 0) + data->num_rows())},
                    {"total-data-files", std::to_string((append ? previous_files : 0) + added_files)}};
    if (!options.operation_summary.empty()) summary["sluice.operation"] = options.operation_summary;
    json snapshot = {{"snapshot-id", snapshot_id},
                     {"sequence-number", sequence},
                     {"timestamp-ms", now},
                     {"manifest-list", list_path},
                     {"summary", summary},
                     {"schema-id", schema_id}};
    if (parent) snapshot["parent-snapshot-id"] = *parent;
    metadata["snapshots"].push_back(snapshot);
    metadata["current-snapshot-id"] = snapshot_id;
    metadata["refs"]["main"] = {{"snapshot-id", snapshot_id}, {"type", "branch"}};
    metadata["snapshot-log"].push_back({{"snapshot-id", snapshot_id}, {"timestamp-ms", now}});
    metadata["last-sequence-number"] = sequence;
    metadata["last-updated-ms"] = now;
    if (exists) {
      metadata["metadata-log"].push_back(
          {{"metadata-file", options.previous_metadata_location},
           {"timestamp-ms", metadata.value("last-updated-ms", now)}});
    }
  } catch (const json::exception& e) {
    return InvalidInput("malformed table metadata '", options.previous_metadata_location, "': ", e.what());
  }
  int version = exists ? MetadataVersion(options.previous_metadata_location) + 1 : 0;
  char prefix[16];
  std::snprintf(prefix, sizeof(prefix), "%05d", version);
  std::string metadata_location = location + "/metadata/" + prefix + "-" + NewUuid() + ".metadata.json";
  SLUICE_RETURN_NOT_OK(WriteBytes(metadata_location, metadata.dump(2)));
  SLUICE_RETURN_NOT_OK(WriteBytes(location + "/metadata/version-hint.text", std::to_string(version)));
  return metadata_location;
}

}  // namespace sluice
