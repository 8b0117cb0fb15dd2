#include "format/iceberg_table.h"

#include <parquet/arrow/writer.h>
#include <parquet/file_reader.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "common/bounded_json.h"
#include "common/clock.h"
#include "common/ids.h"
#include "format/avro.h"
#include "format/iceberg_schema.h"
#include "storage/file_io.h"
#include "storage/storage_uri.h"

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
  SLUICE_ASSIGN_OR_RAISE(std::string text, FileIO::Default().ReadAll(uri));
  try {
    return ParseBoundedJson(text);
  } catch (const std::exception& e) {
    return InvalidInput("unreadable table metadata '", uri, "': ", e.what());
  }
}

Result<AvroFile> ReadAvro(const std::string& uri) {
  SLUICE_ASSIGN_OR_RAISE(std::string bytes, FileIO::Default().ReadAll(uri));
  return WithContext(DecodeAvroFile(bytes), "'" + uri + "'");
}

Status WriteBytes(const std::string& uri, const std::string& bytes) {
  return FileIO::Default().WriteAtomically(uri, bytes);
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

// The manifest list of a new snapshot; returns its location.
Result<std::string> WriteManifestList(const std::string& location, int64_t snapshot_id, std::optional<int64_t> parent,
                                      int64_t sequence, const json& manifests) {
  AvroFile list;
  list.schema = ManifestFileSchema();
  list.metadata = {{"snapshot-id", std::to_string(snapshot_id)},
                   {"parent-snapshot-id", parent ? std::to_string(*parent) : "null"},
                   {"sequence-number", std::to_string(sequence)},
                   {"format-version", "2"}};
  for (const auto& m : manifests) list.records.push_back(m);
  SLUICE_ASSIGN_OR_RAISE(std::string bytes, EncodeAvroFile(list));
  std::string path = location + "/metadata/snap-" + std::to_string(snapshot_id) + "-1-" + NewUuid() + ".avro";
  SLUICE_RETURN_NOT_OK(WriteBytes(path, bytes));
  return path;
}

// Writes metadata as version `version` of the table at `location`; returns its location.
Result<std::string> WriteMetadataFile(const std::string& location, int version, const json& metadata) {
  char prefix[16];
  std::snprintf(prefix, sizeof(prefix), "%05d", version);
  std::string path = location + "/metadata/" + prefix + "-" + NewUuid() + ".metadata.json";
  SLUICE_RETURN_NOT_OK(WriteBytes(path, metadata.dump(2)));
  return path;
}

Result<DataFile> WriteParquetFile(const std::shared_ptr<arrow::Table>& table, const std::string& location) {
  DataFile file;
  file.path = location + "/data/" + NewUuid() + ".parquet";
  auto properties = parquet::WriterProperties::Builder()
                        .compression(parquet::Compression::ZSTD)
                        ->max_row_group_length(kRowGroupRows)
                        ->build();
  SLUICE_ASSIGN_OR_RAISE(
      file.file_size_in_bytes,
      FileIO::Default().WriteAtomically(file.path, [&](const std::shared_ptr<arrow::io::OutputStream>& out) {
        return parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), out, kRowGroupRows, properties);
      }));
  file.record_count = table->num_rows();
  return file;
}

}  // namespace

Result<TableSnapshot> LoadTableSnapshot(const std::string& metadata_location, const ReferencedFileCheck& check) {
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
    const json properties = metadata.value("properties", json::object());
    for (const auto& [key, value] : properties.items()) {
      if (value.is_string()) out.properties[key] = value.get<std::string>();
    }
    int default_spec = metadata.value("default-spec-id", 0);
    for (const auto& spec : metadata.value("partition-specs", json::array())) {
      if (spec.value("spec-id", -1) != default_spec) continue;
      for (const auto& field : spec.value("fields", json::array())) {
        std::string source;
        for (const auto& column : schema->value("fields", json::array())) {
          if (column.value("id", -1) == field.value("source-id", -2)) source = column.value("name", "");
        }
        out.partitions.push_back({source, field.value("transform", ""), field.value("name", "")});
      }
    }
    out.snapshot_id = CurrentSnapshotId(metadata);
    std::set<int64_t> visited;  // a metadata file may come from a client: its parents may loop
    for (std::optional<int64_t> id = out.snapshot_id; id;) {
      const json* entry = FindSnapshot(metadata, *id);
      if (!entry) break;
      if (!visited.insert(*id).second) {
        return InvalidInput("malformed table metadata '", metadata_location, "': the parents of snapshot ", *id,
                            " loop back to it");
      }
      json summary = entry->value("summary", json::object());
      SnapshotInfo info{*id,
                        entry->value("timestamp-ms", int64_t{0}),
                        summary.value("operation", std::string()),
                        std::stoll(summary.value("total-records", std::string("0"))),
                        {}};
      for (const auto& [key, value] : summary.items()) {
        if (value.is_string()) info.summary[key] = value.get<std::string>();
      }
      out.history.push_back(std::move(info));
      if (entry->contains("parent-snapshot-id") && !(*entry)["parent-snapshot-id"].is_null()) {
        id = (*entry)["parent-snapshot-id"].get<int64_t>();
      } else {
        id.reset();
      }
    }
    if (!out.snapshot_id) return out;
    const json* snapshot = FindSnapshot(metadata, *out.snapshot_id);
    if (!snapshot) return InvalidInput("table metadata '", metadata_location, "': current snapshot missing");
    auto checked = [&](const std::string& uri, const char* what) -> Result<std::string> {
      if (!check) return uri;
      return check(out.metadata.location, uri, what);
    };
    SLUICE_ASSIGN_OR_RAISE(std::string list_path,
                           checked(snapshot->at("manifest-list").get<std::string>(), "manifest list"));
    SLUICE_ASSIGN_OR_RAISE(AvroFile list, ReadAvro(list_path));
    for (const auto& manifest : list.records) {
      if (manifest.value("content", 0) != 0) continue;  // delete manifests: not written by us
      SLUICE_ASSIGN_OR_RAISE(std::string manifest_path,
                             checked(manifest.at("manifest_path").get<std::string>(), "manifest"));
      SLUICE_ASSIGN_OR_RAISE(AvroFile entries, ReadAvro(manifest_path));
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
  } catch (const std::logic_error& e) {  // std::stoll of a count that is not a number
    return InvalidInput("malformed table metadata '", metadata_location, "': a count is not a number (", e.what(), ")");
  }
  return out;
}

Result<std::string> WriteTableSnapshot(const std::shared_ptr<arrow::Table>& data, const TableWriteOptions& options) {
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
                                                               current ? *current : json(), &last_column_id));
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
    for (const auto& [key, value] : options.properties) metadata["properties"][key] = value;
    if (!exists && !options.partition_spec.empty()) {
      json fields = json::array();
      int partition_id = 999;
      for (const auto& field : options.partition_spec) {
        int source_id = -1;
        for (const auto& column : schema["fields"]) {
          if (column.value("name", "") == field.source_column) source_id = column.value("id", -1);
        }
        if (source_id < 0)
          return InvalidInput("partition field '", field.name, "': no column '", field.source_column, "'");
        fields.push_back({{"source-id", source_id},
                          {"field-id", ++partition_id},
                          {"name", field.name},
                          {"transform", field.transform}});
      }
      metadata["partition-specs"].push_back({{"spec-id", 1}, {"fields", fields}});
      metadata["default-spec-id"] = 1;
      metadata["last-partition-id"] = partition_id;
    }

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
    int64_t added_files = 0, added_records = 0;
    std::vector<DataFile> files = options.reference_files;
    if (files.empty() && data->num_rows() > 0) {
      SLUICE_ASSIGN_OR_RAISE(auto prepared, PrepareForParquet(data, schema));
      SLUICE_ASSIGN_OR_RAISE(DataFile file, WriteParquetFile(prepared, location));
      files.push_back(std::move(file));
    }
    if (!files.empty()) {
      added_files = static_cast<int64_t>(files.size());
      AvroFile manifest;
      manifest.schema = ManifestEntrySchema();
      manifest.metadata = {{"schema", schema.dump()}, {"schema-id", std::to_string(schema_id)},
                           {"partition-spec", "[]"},  {"partition-spec-id", "0"},
                           {"format-version", "2"},   {"content", "data"}};
      for (const auto& file : files) {
        added_records += file.record_count;
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
      }
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
                           {"added_files_count", added_files},
                           {"existing_files_count", 0},
                           {"deleted_files_count", 0},
                           {"added_rows_count", added_records},
                           {"existing_rows_count", 0},
                           {"deleted_rows_count", 0}});
    }
    SLUICE_ASSIGN_OR_RAISE(std::string list_path,
                           WriteManifestList(location, snapshot_id, parent, sequence, manifests));

    bool append = options.mode == WriteMode::kAppend;
    json summary = {{"operation", append || !parent ? "append" : "overwrite"},
                    {"added-data-files", std::to_string(added_files)},
                    {"added-records", std::to_string(added_records)},
                    {"total-records", std::to_string((append ? previous_records : 0) + added_records)},
                    {"total-data-files", std::to_string((append ? previous_files : 0) + added_files)}};
    if (!options.operation_summary.empty()) summary["sluice.operation"] = options.operation_summary;
    for (const auto& [key, value] : options.summary) summary[key] = value;
    json snapshot = {{"snapshot-id", snapshot_id}, {"sequence-number", sequence}, {"timestamp-ms", now},
                     {"manifest-list", list_path}, {"summary", summary},          {"schema-id", schema_id}};
    if (parent) snapshot["parent-snapshot-id"] = *parent;
    metadata["snapshots"].push_back(snapshot);
    metadata["current-snapshot-id"] = snapshot_id;
    metadata["refs"]["main"] = {{"snapshot-id", snapshot_id}, {"type", "branch"}};
    metadata["snapshot-log"].push_back({{"snapshot-id", snapshot_id}, {"timestamp-ms", now}});
    metadata["last-sequence-number"] = sequence;
    metadata["last-updated-ms"] = now;
    if (exists) {
      metadata["metadata-log"].push_back({{"metadata-file", options.previous_metadata_location},
                                          {"timestamp-ms", metadata.value("last-updated-ms", now)}});
    }
  } catch (const json::exception& e) {
    return InvalidInput("malformed table metadata '", options.previous_metadata_location, "': ", e.what());
  }
  int version = exists ? MetadataVersion(options.previous_metadata_location) + 1 : 0;
  SLUICE_ASSIGN_OR_RAISE(std::string metadata_location, WriteMetadataFile(location, version, metadata));
  SLUICE_RETURN_NOT_OK(WriteBytes(location + "/metadata/version-hint.text", std::to_string(version)));
  return metadata_location;
}

namespace {

// The snapshots of `metadata` since `base_snapshot`, newest first, when all are appends.
std::optional<std::vector<int64_t>> AppendsSince(const json& metadata, std::optional<int64_t> base_snapshot) {
  std::vector<int64_t> ids;
  std::optional<int64_t> current = CurrentSnapshotId(metadata);
  while (current && current != base_snapshot) {
    const json* snapshot = FindSnapshot(metadata, *current);
    if (!snapshot) return std::nullopt;
    if (snapshot->value("summary", json::object()).value("operation", "") != "append") return std::nullopt;
    ids.push_back(*current);
    if (snapshot->contains("parent-snapshot-id") && !(*snapshot)["parent-snapshot-id"].is_null()) {
      current = (*snapshot)["parent-snapshot-id"].get<int64_t>();
    } else {
      current.reset();
    }
  }
  if (current != base_snapshot) return std::nullopt;
  return ids;
}

int64_t SummaryCount(const json& snapshot, const char* key) {
  return std::stoll(snapshot.value("summary", json::object()).value(key, std::string("0")));
}

}  // namespace

Result<std::optional<std::string>> MergeAppends(const std::string& base_location, const std::string& ours_location,
                                                const std::string& theirs_location) {
  SLUICE_ASSIGN_OR_RAISE(json base, ReadJsonFile(base_location));
  SLUICE_ASSIGN_OR_RAISE(json ours, ReadJsonFile(ours_location));
  SLUICE_ASSIGN_OR_RAISE(json theirs, ReadJsonFile(theirs_location));
  std::optional<std::string> none;
  try {
    if (ours.value("table-uuid", "") != theirs.value("table-uuid", "") ||
        base.value("table-uuid", "") != ours.value("table-uuid", "")) {
      return none;  // the table was dropped and re-created on a side
    }
    auto base_snapshot = CurrentSnapshotId(base);
    auto our_appends = AppendsSince(ours, base_snapshot);
    auto their_appends = AppendsSince(theirs, base_snapshot);
    if (!our_appends || !their_appends) return none;
    const json* our_schema = CurrentSchema(ours);
    const json* their_schema = CurrentSchema(theirs);
    if (!our_schema || !their_schema || our_schema->at("fields") != their_schema->at("fields")) return none;
    // Appends carry every manifest forward unchanged, so what theirs added is each manifest of
    // theirs that neither base nor ours has. By path, not by the snapshot that added it: a
    // merged snapshot (this function's own, or an import rebased by it) holds manifests
    // added in another line of history.
    std::set<std::string> known;
    if (base_snapshot) {
      const json* snapshot = FindSnapshot(base, *base_snapshot);
      if (!snapshot) return none;
      SLUICE_ASSIGN_OR_RAISE(AvroFile list, ReadAvro(snapshot->at("manifest-list")));
      for (const auto& m : list.records) known.insert(m.at("manifest_path").get<std::string>());
    }
    json manifests = json::array();
    std::optional<int64_t> parent = CurrentSnapshotId(ours);
    int64_t total_records = 0, total_files = 0;
    if (parent) {
      const json* snapshot = FindSnapshot(ours, *parent);
      SLUICE_ASSIGN_OR_RAISE(AvroFile list, ReadAvro(snapshot->at("manifest-list")));
      for (auto& m : list.records) {
        known.insert(m.at("manifest_path").get<std::string>());
        manifests.push_back(m);
      }
      total_records = SummaryCount(*snapshot, "total-records");
      total_files = SummaryCount(*snapshot, "total-data-files");
    }
    int64_t added_records = 0, added_files = 0;
    if (auto their_current = CurrentSnapshotId(theirs)) {
      const json* snapshot = FindSnapshot(theirs, *their_current);
      SLUICE_ASSIGN_OR_RAISE(AvroFile list, ReadAvro(snapshot->at("manifest-list")));
      for (auto& m : list.records) {
        if (!known.insert(m.at("manifest_path").get<std::string>()).second) continue;
        added_records += m.value("added_rows_count", int64_t{0});
        added_files += m.value("added_files_count", 0);
        manifests.push_back(m);
      }
    }
    int64_t snapshot_id = NewSnapshotId();
    int64_t sequence =
        std::max(ours.value("last-sequence-number", int64_t{0}), theirs.value("last-sequence-number", int64_t{0})) + 1;
    std::string location = ours.at("location").get<std::string>();
    SLUICE_ASSIGN_OR_RAISE(std::string list_path,
                           WriteManifestList(location, snapshot_id, parent, sequence, manifests));
    int64_t now = NowMillis();
    json snapshot = {{"snapshot-id", snapshot_id},
                     {"sequence-number", sequence},
                     {"timestamp-ms", now},
                     {"manifest-list", list_path},
                     {"summary",
                      {{"operation", "append"},
                       {"added-data-files", std::to_string(added_files)},
                       {"added-records", std::to_string(added_records)},
                       {"total-records", std::to_string(total_records + added_records)},
                       {"total-data-files", std::to_string(total_files + added_files)},
                       {"sluice.merged-from", theirs_location}}},
                     {"schema-id", our_schema->value("schema-id", 0)}};
    if (parent) snapshot["parent-snapshot-id"] = *parent;
    json merged = ours;
    merged["snapshots"].push_back(snapshot);
    merged["current-snapshot-id"] = snapshot_id;
    merged["refs"]["main"] = {{"snapshot-id", snapshot_id}, {"type", "branch"}};
    merged["snapshot-log"].push_back({{"snapshot-id", snapshot_id}, {"timestamp-ms", now}});
    merged["metadata-log"].push_back(
        {{"metadata-file", ours_location}, {"timestamp-ms", ours.value("last-updated-ms", now)}});
    merged["last-sequence-number"] = sequence;
    merged["last-updated-ms"] = now;
    int version = std::max(MetadataVersion(ours_location), MetadataVersion(theirs_location)) + 1;
    SLUICE_ASSIGN_OR_RAISE(std::string metadata_location, WriteMetadataFile(location, version, merged));
    return std::optional<std::string>(metadata_location);
  } catch (const json::exception& e) {
    return InvalidInput("malformed table metadata while merging '", ours_location, "': ", e.what());
  }
}

Result<json> ReadTableMetadata(const std::string& metadata_location) { return ReadJsonFile(metadata_location); }

Status AddReachableFiles(const std::string& metadata_location, std::set<std::string>* files) {
  SLUICE_ASSIGN_OR_RAISE(json metadata, ReadJsonFile(metadata_location));
  files->insert(metadata_location);
  try {
    for (const auto& entry : metadata.value("metadata-log", json::array())) {
      files->insert(entry.at("metadata-file").get<std::string>());
    }
    for (const auto& snapshot : metadata.value("snapshots", json::array())) {
      std::string list_location = snapshot.at("manifest-list").get<std::string>();
      if (!files->insert(list_location).second) continue;  // shared with a snapshot seen already
      SLUICE_ASSIGN_OR_RAISE(AvroFile list, ReadAvro(list_location));
      for (const auto& manifest : list.records) {
        std::string manifest_location = manifest.at("manifest_path").get<std::string>();
        if (!files->insert(manifest_location).second) continue;
        SLUICE_ASSIGN_OR_RAISE(AvroFile entries, ReadAvro(manifest_location));
        for (const auto& entry : entries.records)
          files->insert(entry.at("data_file").at("file_path").get<std::string>());
      }
    }
  } catch (const json::exception& e) {
    return InvalidInput("malformed table metadata '", metadata_location, "': ", e.what());
  }
  return Status::OK();
}

namespace {

// The snapshot a ref of the metadata points at, or null.
json RefSnapshot(const json& metadata, const std::string& ref) {
  if (metadata.contains("refs") && metadata["refs"].contains(ref)) {
    return metadata["refs"][ref].value("snapshot-id", json());
  }
  if (ref == "main") {
    auto current = CurrentSnapshotId(metadata);
    return current ? json(*current) : json();
  }
  return json();
}

// Requirements that compare one id of the request with one of the metadata.
struct IdRequirement {
  const char* type;
  const char* requirement_key;
  const char* metadata_key;
  int metadata_default;
  const char* meaning;
};

const IdRequirement* FindIdRequirement(const std::string& type) {
  static const IdRequirement kChecks[] = {
      {"assert-current-schema-id", "current-schema-id", "current-schema-id", 0, "the schema changed"},
      {"assert-last-assigned-field-id", "last-assigned-field-id", "last-column-id", 0, "columns were added"},
      {"assert-default-spec-id", "default-spec-id", "default-spec-id", 0, "the partition spec changed"},
      {"assert-last-assigned-partition-id", "last-assigned-partition-id", "last-partition-id", 999,
       "partition fields were added"},
      {"assert-default-sort-order-id", "default-sort-order-id", "default-sort-order-id", 0, "the sort order changed"},
  };
  for (const auto& check : kChecks) {
    if (type == check.type) return &check;
  }
  return nullptr;
}

Status CheckRequirement(const json& metadata, const json& requirement) {
  std::string type = requirement.value("type", "");
  auto mismatch = [&](const std::string& what) { return Conflict("requirement failed: ", type, ": ", what); };
  if (type == "assert-ref-snapshot-id") {
    std::string ref = requirement.value("ref", "main");
    json want = requirement.value("snapshot-id", json());
    json have = RefSnapshot(metadata, ref);
    if (want != have) {
      return mismatch("ref '" + ref + "' is at " + have.dump() + ", expected " + want.dump());
    }
  } else if (type == "assert-table-uuid") {
    if (requirement.value("uuid", "") != metadata.value("table-uuid", "")) return mismatch("table uuid differs");
  } else if (type == "assert-create") {
    return mismatch("the table already exists");
  } else if (const auto* check = FindIdRequirement(type)) {
    int want = requirement.value(check->requirement_key, -1);
    if (want != metadata.value(check->metadata_key, check->metadata_default)) return mismatch(check->meaning);
  } else {
    return InvalidInput("unknown commit requirement '", type, "'");
  }
  return Status::OK();
}

Status ApplyUpdate(json* metadata, const json& update, int* last_added_schema) {
  std::string action = update.value("action", "");
  json& m = *metadata;
  int64_t now = NowMillis();
  if (action == "add-snapshot") {
    const json& snapshot = update.at("snapshot");
    m["snapshots"].push_back(snapshot);
    m["last-sequence-number"] =
        std::max(m.value("last-sequence-number", int64_t{0}), snapshot.value("sequence-number", int64_t{0}));
  } else if (action == "set-snapshot-ref") {
    std::string name = update.at("ref-name");
    int64_t id = update.at("snapshot-id");
    json ref = {{"snapshot-id", id}, {"type", update.value("type", "branch")}};
    for (const char* key : {"max-ref-age-ms", "max-snapshot-age-ms", "min-snapshots-to-keep"}) {
      if (update.contains(key) && !update[key].is_null()) ref[key] = update[key];
    }
    m["refs"][name] = ref;
    if (name == "main") {
      m["current-snapshot-id"] = id;
      m["snapshot-log"].push_back({{"snapshot-id", id}, {"timestamp-ms", now}});
    }
  } else if (action == "remove-snapshot-ref") {
    m["refs"].erase(update.at("ref-name").get<std::string>());
  } else if (action == "set-properties") {
    for (const auto& [k, v] : update.at("updates").items()) m["properties"][k] = v;
  } else if (action == "remove-properties") {
    for (const auto& k : update.at("removals")) m["properties"].erase(k.get<std::string>());
  } else if (action == "add-schema") {
    json schema = update.at("schema");
    int id = 0;
    for (const auto& s : m["schemas"]) id = std::max(id, s.value("schema-id", 0) + 1);
    schema["schema-id"] = id;
    m["schemas"].push_back(schema);
    int last = 0;
    for (const auto& f : schema.value("fields", json::array())) last = std::max(last, f.value("id", 0));
    m["last-column-id"] = std::max({m.value("last-column-id", 0), last, update.value("last-column-id", 0)});
    *last_added_schema = id;
  } else if (action == "set-current-schema") {
    int id = update.at("schema-id");
    m["current-schema-id"] = id == -1 ? *last_added_schema : id;
  } else {
    return InvalidInput("unsupported table update '", action, "'");
  }
  m["last-updated-ms"] = now;
  return Status::OK();
}

// A client's commit names files by URI; before they join the table each must be one of the
// table's own (under its location, after resolving links, so neither another data home's
// files nor /etc/passwd) and be what it claims: a manifest list and manifests that decode,
// and data files that are Parquet with the rows the manifest says and columns of the table.
class AddedSnapshotCheck {
 public:
  static Result<AddedSnapshotCheck> For(const json& metadata) {
    AddedSnapshotCheck check;
    std::string location = metadata.at("location").get<std::string>();
    SLUICE_ASSIGN_OR_RAISE(StorageUri root, StorageUri::Parse(location));
    if (root.is_local()) {
      const std::string& path = root.path();
      std::error_code error;
      auto canonical = std::filesystem::weakly_canonical(path, error);
      if (error || path.empty() || path[0] != '/') return InvalidInput("table location '", path, "' is not absolute");
      check.root_ = canonical.string() + "/";
    } else {
      // Object stores have no links: the normalized key prefix is the table's.
      check.root_ = root.Normalized().ToString() + "/";
    }
    check.root_uri_ = root;
    for (const auto& schema : metadata.value("schemas", json::array())) {
      for (const auto& field : schema.value("fields", json::array())) check.columns_.insert(field.value("name", ""));
    }
    return check;
  }

  Status Check(const json& snapshot) const {
    SLUICE_ASSIGN_OR_RAISE(std::string list_path,
                           Inside(snapshot.at("manifest-list").get<std::string>(), "manifest list"));
    SLUICE_ASSIGN_OR_RAISE(AvroFile list, ReadAvro(list_path));
    int64_t id = snapshot.value("snapshot-id", int64_t{-1});
    for (const auto& manifest : list.records) {
      SLUICE_ASSIGN_OR_RAISE(std::string manifest_path,
                             Inside(manifest.at("manifest_path").get<std::string>(), "manifest"));
      SLUICE_ASSIGN_OR_RAISE(AvroFile entries, ReadAvro(manifest_path));
      for (const auto& entry : entries.records) {
        const json& data = entry.at("data_file");
        SLUICE_ASSIGN_OR_RAISE(std::string data_path, Inside(data.at("file_path").get<std::string>(), "data file"));
        bool added_here = entry.at("status").get<int>() == 1 &&
                          (entry["snapshot_id"].is_null() || entry["snapshot_id"].get<int64_t>() == id);
        if (added_here && data.value("content", 0) == 0) {
          SLUICE_RETURN_NOT_OK(CheckDataFile(data_path, data.at("record_count").get<int64_t>()));
        }
      }
    }
    return Status::OK();
  }

 private:
  // Where to read `uri` (a local path with links resolved, or the S3 URI) when it lies inside
  // the table's location; InvalidInput otherwise.
  Result<std::string> Inside(const std::string& uri, const char* what) const {
    auto outside = [&] {
      return InvalidInput("the commit's ", what, " '", uri, "' is not a file of this table (under '", root_, "')");
    };
    auto parsed = StorageUri::Parse(uri);
    if (!parsed.ok() || parsed->scheme() != root_uri_.scheme()) return outside();
    std::string resolved;
    if (parsed->is_local()) {
      const std::string& path = parsed->path();
      if (path.empty() || path[0] != '/') return outside();
      std::error_code error;
      resolved = std::filesystem::weakly_canonical(path, error).string();
      if (error || resolved.rfind(root_, 0) != 0) return outside();
    } else {
      if (!parsed->IsUnder(root_uri_)) return outside();
      resolved = parsed->Normalized().ToString();
    }
    auto exists = FileIO::Default().Exists(resolved);
    if (!exists.ok()) return exists.status();
    if (!*exists) return InvalidInput("the commit's ", what, " '", uri, "' does not exist");
    return resolved;
  }

  Status CheckDataFile(const std::string& path, int64_t record_count) const {
    auto opened = FileIO::Default().OpenInput(path);
    if (!opened.ok()) return InvalidInput("the commit's data file '", path, "' cannot be read");
    std::unique_ptr<parquet::ParquetFileReader> reader;
    try {
      reader = parquet::ParquetFileReader::Open(*opened);
    } catch (const std::exception& e) {
      return InvalidInput("the commit's data file '", path, "' is not Parquet: ", e.what());
    }
    auto file = reader->metadata();
    if (file->num_rows() != record_count) {
      return InvalidInput("the commit's data file '", path, "' has ", file->num_rows(), " rows, its manifest says ",
                          record_count);
    }
    for (int i = 0; i < file->schema()->group_node()->field_count(); ++i) {
      const std::string& name = file->schema()->group_node()->field(i)->name();
      if (!columns_.count(name)) {
        return InvalidInput("the commit's data file '", path, "' has a column '", name, "' the table does not have");
      }
    }
    return Status::OK();
  }

  std::string root_;  // the location, links resolved when local, ending in '/'
  StorageUri root_uri_;
  std::set<std::string> columns_;
};

}  // namespace

Result<std::string> CommitTableUpdates(const std::string& metadata_location, const json& requirements,
                                       const json& updates) {
  SLUICE_ASSIGN_OR_RAISE(json metadata, ReadJsonFile(metadata_location));
  try {
    for (const auto& requirement : requirements) {
      SLUICE_RETURN_NOT_OK(CheckRequirement(metadata, requirement));
    }
    json previous = metadata;
    int last_added_schema = metadata.value("current-schema-id", 0);
    for (const auto& update : updates) {
      SLUICE_RETURN_NOT_OK(ApplyUpdate(&metadata, update, &last_added_schema));
    }
    // Checked against the table as updated (a new schema may come with its first files).
    SLUICE_ASSIGN_OR_RAISE(auto check, AddedSnapshotCheck::For(metadata));
    for (const auto& update : updates) {
      if (update.value("action", "") != "add-snapshot") continue;
      SLUICE_RETURN_NOT_OK(check.Check(update.at("snapshot")));
    }
    if (!metadata.contains("metadata-log")) metadata["metadata-log"] = json::array();
    metadata["metadata-log"].push_back(
        {{"metadata-file", metadata_location}, {"timestamp-ms", previous.value("last-updated-ms", int64_t{0})}});
  } catch (const json::exception& e) {
    return InvalidInput("malformed commit: ", e.what());
  }
  return WriteMetadataFile(metadata.at("location").get<std::string>(), MetadataVersion(metadata_location) + 1,
                           metadata);
}

}  // namespace sluice
