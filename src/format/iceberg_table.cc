#include "format/iceberg_table.h"

#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <parquet/file_reader.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <stdexcept>

#include "common/bounded_json.h"
#include "common/clock.h"
#include "common/ids.h"
#include "common/name_match.h"
#include "format/avro.h"
#include "format/iceberg_schema.h"
#include "format/manifest.h"
#include "format/partition_transform.h"
#include "format/partitioning.h"
#include "format/table_metadata.h"
#include "storage/file_io.h"
#include "storage/storage_uri.h"

namespace sluice {
namespace {

using nlohmann::json;

// Rows per Parquet row group: small enough that statistics let scans skip row groups.
constexpr int64_t kRowGroupRows = 128 * 1024;
// Rows per data file at most: a large partition is written as several files.
constexpr int64_t kMaxFileRows = 4 * 1024 * 1024;

Result<AvroFile> ReadAvro(const std::string& uri) {
  SLUICE_ASSIGN_OR_RAISE(std::string bytes, FileIO::Default().ReadAll(uri));
  return WithContext(DecodeAvroFile(bytes), "'" + uri + "'");
}

Status WriteBytes(const std::string& uri, const std::string& bytes) {
  return FileIO::Default().WriteAtomically(uri, bytes);
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

// The data files of `prepared` (already in the Parquet form of `schema`): one per partition
// tuple of `spec`, split further so that none holds more than kMaxFileRows rows.
Result<std::vector<DataFile>> WritePartitionedFiles(const std::shared_ptr<arrow::Table>& prepared, const Schema& schema,
                                                    const PartitionSpec& spec, const std::string& location) {
  SLUICE_ASSIGN_OR_RAISE(auto groups, SplitByPartition(prepared, schema, spec));
  std::vector<DataFile> files;
  for (const auto& group : groups) {
    for (int64_t offset = 0; offset < group.rows->num_rows(); offset += kMaxFileRows) {
      SLUICE_ASSIGN_OR_RAISE(DataFile file, WriteParquetFile(group.rows->Slice(offset, kMaxFileRows), location));
      file.spec_id = spec.spec_id;
      file.partition = group.partition;
      files.push_back(std::move(file));
    }
  }
  return files;
}

Snapshot NewSnapshot(int64_t id, std::optional<int64_t> parent, int64_t sequence, int64_t now,
                     const std::string& manifest_list, int schema_id) {
  Snapshot snapshot;
  snapshot.snapshot_id = id;
  snapshot.parent_snapshot_id = parent;
  snapshot.sequence_number = sequence;
  snapshot.timestamp_ms = now;
  snapshot.manifest_list = manifest_list;
  snapshot.schema_id = schema_id;
  return snapshot;
}

// A count of a snapshot summary as a number; InvalidInput when it is not one.
Result<int64_t> SummaryNumber(const Snapshot& snapshot, const std::string& key, const std::string& where) {
  auto it = snapshot.summary.find(key);
  if (it == snapshot.summary.end()) return 0;
  const std::string& text = it->second;
  size_t sign = !text.empty() && text[0] == '-' ? 1 : 0;
  bool digits = text.size() > sign && std::all_of(text.begin() + sign, text.end(), ::isdigit) && text.size() < 19;
  if (!digits) {
    return InvalidInput(where, ": a count is not a number (snapshot ", snapshot.snapshot_id, " summary '", key,
                        "' is '", text, "')");
  }
  return std::stoll(text);
}

}  // namespace

Result<TableSnapshot> LoadTableSnapshot(const std::string& metadata_location, const ReferencedFileCheck& check) {
  SLUICE_ASSIGN_OR_RAISE(TableMetadata metadata, ReadTableMetadataFile(metadata_location));
  const std::string where = "malformed table metadata '" + metadata_location + "'";
  TableSnapshot out;
  out.metadata_location = metadata_location;
  out.metadata.table_uuid = metadata.table_uuid;
  out.metadata.location = metadata.location;
  out.metadata.last_updated_ms = metadata.last_updated_ms;
  out.metadata.last_sequence_number = metadata.last_sequence_number;
  out.metadata.format_version = metadata.format_version;
  const Schema* schema = metadata.current_schema();
  SLUICE_ASSIGN_OR_RAISE(out.schema, WithContext(ArrowSchemaFromIceberg(schema->ToJson()), where));
  out.properties = metadata.properties;
  for (const auto& spec : metadata.partition_specs) {
    auto& fields = out.specs[spec.spec_id];
    for (const auto& field : spec.fields) {
      const SchemaField* source = schema->FindField(field.source_id);
      fields.push_back({source ? source->name : "", field.transform, field.name});
    }
  }
  out.partitions = out.specs[metadata.default_spec_id];
  out.snapshot_id = metadata.current_snapshot_id;
  std::set<int64_t> visited;  // a metadata file may come from a client: its parents may loop
  for (std::optional<int64_t> id = out.snapshot_id; id;) {
    const Snapshot* entry = metadata.FindSnapshot(*id);
    if (!entry) break;
    if (!visited.insert(*id).second) {
      return InvalidInput(where, ": the parents of snapshot ", *id, " loop back to it");
    }
    SLUICE_ASSIGN_OR_RAISE(int64_t total, SummaryNumber(*entry, "total-records", where));
    out.history.push_back({*id, entry->timestamp_ms, entry->operation(), total, entry->summary});
    id = entry->parent_snapshot_id;
  }
  if (!out.snapshot_id) return out;
  const Snapshot* snapshot = metadata.current_snapshot();
  if (!snapshot) return InvalidInput(where, ": current snapshot missing");
  auto checked = [&](const std::string& uri, const char* what) -> Result<std::string> {
    if (!check) return uri;
    return check(out.metadata.location, uri, what);
  };
  try {
    SLUICE_ASSIGN_OR_RAISE(std::string list_path, checked(snapshot->manifest_list, "manifest list"));
    SLUICE_ASSIGN_OR_RAISE(AvroFile list, ReadAvro(list_path));
    for (const auto& manifest : list.records) {
      if (manifest.value("content", 0) != 0) continue;  // delete manifests: not written by us
      SLUICE_ASSIGN_OR_RAISE(std::string manifest_path,
                             checked(manifest.at("manifest_path").get<std::string>(), "manifest"));
      SLUICE_ASSIGN_OR_RAISE(auto files, ReadManifestDataFiles(manifest_path, manifest.value("partition_spec_id", 0)));
      for (auto& file : files) {
        out.total_records += file.record_count;
        out.data_files.push_back(std::move(file));
      }
    }
  } catch (const json::exception& e) {
    return InvalidInput(where, ": ", e.what());
  }
  return out;
}

namespace {

// `data` with each column named as the table's column it resolves to by Sluice's one name
// rule (an exact match, else a unique case-insensitive one): a model returning `pulocationid`
// writes PULocationID, as it would read it, instead of adding a second column. Renaming is
// zero-copy. InvalidInput when two of the data's columns resolve to one table column.
Result<std::shared_ptr<arrow::Table>> WithStoredNames(const std::shared_ptr<arrow::Table>& data, const Schema& table) {
  std::vector<std::string> stored;
  for (const auto& field : table.fields) stored.push_back(field.name);
  std::vector<std::string> names = data->ColumnNames();
  bool renamed = false;
  for (auto& name : names) {
    auto match = ResolveName(name, stored, "column");
    if (!match.ok() && KindOf(match.status()) != ErrorKind::kNotFound) return match.status();
    if (match.ok() && *match != name) {
      for (const auto& other : names) {
        if (other == *match) {
          return InvalidInput("the data has columns '", name, "' and '", other, "', which are one column '", *match,
                              "' of the table");
        }
      }
      name = *match;
      renamed = true;
    }
  }
  if (!renamed) return data;
  return data->RenameColumns(names);
}

}  // namespace

Result<std::string> WriteTableSnapshot(const std::shared_ptr<arrow::Table>& written, const TableWriteOptions& options) {
  if (options.table_location.empty()) return InvalidInput("no table location");
  const std::string& location = options.table_location;
  const std::string where = "malformed table metadata '" + options.previous_metadata_location + "'";
  int64_t now = NowMillis();
  bool exists = !options.previous_metadata_location.empty();
  TableMetadata metadata;
  if (exists) {
    SLUICE_ASSIGN_OR_RAISE(metadata, ReadTableMetadataFile(options.previous_metadata_location));
  } else {
    metadata = TableMetadata::NewTable(location, NewUuid(), now);
  }
  int64_t previous_updated_ms = metadata.last_updated_ms;
  // Schema: ids kept by name; a new schema only when the columns changed.
  const Schema* current = exists ? metadata.current_schema() : nullptr;
  std::shared_ptr<arrow::Table> data = written;
  // Appends and overwrites write into the table's columns; a REPLACE may rename them.
  if (current && options.mode != WriteMode::kReplace) {
    SLUICE_ASSIGN_OR_RAISE(data, WithStoredNames(written, *current));
  }
  int last_column_id = metadata.last_column_id;
  int next_schema_id = 0;
  for (const auto& s : metadata.schemas) next_schema_id = std::max(next_schema_id, s.schema_id + 1);
  json previous_json = current ? current->ToJson() : json();
  SLUICE_ASSIGN_OR_RAISE(json schema_json,
                         IcebergSchemaFromArrow(*data->schema(), next_schema_id, previous_json, &last_column_id));
  std::string difference = current ? DescribeSchemaDifference(previous_json, schema_json) : "";
  json write_schema = schema_json;  // the data's columns as the files store them
  if (!difference.empty() && options.mode == WriteMode::kAppend) {
    // Schema evolution: new columns and widened types become a new schema of the table.
    SLUICE_ASSIGN_OR_RAISE(schema_json,
                           EvolveSchemaForAppend(previous_json, schema_json, next_schema_id, &write_schema));
    difference = DescribeSchemaDifference(previous_json, schema_json);
  }
  if (!difference.empty() && options.mode == WriteMode::kOverwrite) {
    return InvalidInput("cannot overwrite partitions", ": the schema differs from the table's: ", difference);
  }
  int schema_id = current ? current->schema_id : 0;
  if (!current || !difference.empty()) {
    SLUICE_ASSIGN_OR_RAISE(Schema schema, Schema::Parse(schema_json, "the new schema"));
    if (!exists) metadata.schemas.clear();  // the placeholder of NewTable
    schema_id = schema.schema_id;
    metadata.schemas.push_back(std::move(schema));
    metadata.current_schema_id = schema_id;
    metadata.last_column_id = last_column_id;
  }
  const Schema& schema = *metadata.current_schema();
  for (const auto& [key, value] : options.properties) metadata.properties[key] = value;
  if (!exists && !options.partition_spec.empty()) {
    PartitionSpec& spec = metadata.partition_specs.at(0);  // NewTable's, still unused
    int partition_id = 999;
    for (const auto& field : options.partition_spec) {
      const SchemaField* source = schema.FindField(field.source_column);
      if (!source) return InvalidInput("partition field '", field.name, "': no column '", field.source_column, "'");
      SLUICE_ASSIGN_OR_RAISE(auto transform, PartitionTransform::Parse(field.transform));
      if (auto type = data->schema()->GetFieldByName(field.source_column)) {
        SLUICE_RETURN_NOT_OK(transform.CheckSource(*type->type(), field.source_column));
      }
      spec.fields.push_back({source->id, ++partition_id, field.name, transform.ToString()});
    }
    metadata.default_spec_id = 0;
    metadata.last_partition_id = partition_id;
  }
  if (options.mode == WriteMode::kReplace) {
    // A replace may drop a partition source column: the table then goes on unpartitioned
    // (a new default spec, as Iceberg's spec evolution does it); older specs stay for time travel.
    const PartitionSpec& current_spec = *metadata.default_spec();
    bool source_dropped = std::any_of(current_spec.fields.begin(), current_spec.fields.end(),
                                      [&](const PartitionField& f) { return !schema.FindField(f.source_id); });
    if (source_dropped) {
      PartitionSpec unpartitioned;
      for (const auto& s : metadata.partition_specs) {
        unpartitioned.spec_id = std::max(unpartitioned.spec_id, s.spec_id + 1);
      }
      metadata.default_spec_id = unpartitioned.spec_id;
      metadata.partition_specs.push_back(std::move(unpartitioned));
    }
  }
  const PartitionSpec& spec = *metadata.default_spec();

  std::optional<int64_t> parent = metadata.current_snapshot_id;
  int64_t snapshot_id = NewSnapshotId();
  int64_t sequence = metadata.last_sequence_number + 1;

  // Data files, one per partition, and their manifest (none for an empty table).
  std::vector<json> manifests;
  int64_t previous_records = 0, previous_files = 0;
  const Snapshot* previous = parent ? metadata.FindSnapshot(*parent) : nullptr;
  if (previous && options.mode == WriteMode::kAppend) {
    SLUICE_ASSIGN_OR_RAISE(manifests, ReadManifestList(previous));
    SLUICE_ASSIGN_OR_RAISE(previous_records, SummaryNumber(*previous, "total-records", where));
    SLUICE_ASSIGN_OR_RAISE(previous_files, SummaryNumber(*previous, "total-data-files", where));
  }
  std::vector<DataFile> files = options.reference_files;
  if (files.empty() && data->num_rows() > 0) {
    if (!current || options.mode != WriteMode::kAppend) write_schema = schema.ToJson();
    SLUICE_ASSIGN_OR_RAISE(auto prepared, PrepareForParquet(data, write_schema));
    SLUICE_ASSIGN_OR_RAISE(files, WritePartitionedFiles(prepared, schema, spec, location));
  }
  std::vector<ManifestEntry> carried;  // kOverwrite: the current files, kept or deleted
  int64_t deleted_files = 0, deleted_records = 0;
  if (previous && options.mode == WriteMode::kOverwrite) {
    std::set<std::string> touched;
    for (const auto& file : files) touched.insert(file.partition.dump());
    SLUICE_ASSIGN_OR_RAISE(auto records, ReadManifestList(previous));
    for (const auto& record : records) {
      SLUICE_ASSIGN_OR_RAISE(auto entries, ReadManifest(record));
      for (auto& entry : entries) {
        if (entry.status == EntryStatus::kDeleted) continue;
        FileFate fate;
        if (options.overwrite_existing) {
          SLUICE_ASSIGN_OR_RAISE(fate, options.overwrite_existing(entry.file));
        } else if (entry.file.spec_id == spec.spec_id && touched.count(entry.file.partition.dump())) {
          fate.kind = FileFate::Kind::kDelete;
        }
        if (fate.kind == FileFate::Kind::kRewrite && fate.remaining) {
          SLUICE_ASSIGN_OR_RAISE(auto prepared, PrepareForParquet(fate.remaining, schema.ToJson()));
          SLUICE_ASSIGN_OR_RAISE(auto rewritten, WritePartitionedFiles(prepared, schema, spec, location));
          for (auto& file : rewritten) files.push_back(std::move(file));
        }
        previous_files += 1;
        previous_records += entry.file.record_count;
        if (fate.kind == FileFate::Kind::kKeep) {
          entry.status = EntryStatus::kExisting;
        } else {
          entry.status = EntryStatus::kDeleted;
          entry.snapshot_id = snapshot_id;
          ++deleted_files;
          deleted_records += entry.file.record_count;
        }
        carried.push_back(std::move(entry));
      }
    }
  }
  if (!carried.empty()) {
    // Manifests hold one spec each: the carried entries grouped by theirs.
    std::map<int, std::vector<ManifestEntry>> by_spec;
    for (auto& entry : carried) by_spec[entry.file.spec_id].push_back(std::move(entry));
    for (auto& [spec_id, entries] : by_spec) {
      const PartitionSpec* entries_spec = metadata.FindSpec(spec_id);
      if (!entries_spec) return InvalidInput(where, ": a manifest names partition spec ", spec_id, ", which it lacks");
      SLUICE_ASSIGN_OR_RAISE(json manifest,
                             WriteManifest(location, schema, *entries_spec, snapshot_id, sequence, entries));
      manifests.push_back(std::move(manifest));
    }
  }
  int64_t added_files = static_cast<int64_t>(files.size()), added_records = 0;
  if (!files.empty()) {
    std::vector<ManifestEntry> entries;
    for (auto& file : files) {
      added_records += file.record_count;
      ManifestEntry entry;
      entry.status = EntryStatus::kAdded;
      entry.snapshot_id = snapshot_id;
      entry.file = std::move(file);
      entries.push_back(std::move(entry));
    }
    const PartitionSpec unpartitioned;  // referenced files are never split
    SLUICE_ASSIGN_OR_RAISE(json manifest,
                           WriteManifest(location, schema, options.reference_files.empty() ? spec : unpartitioned,
                                         snapshot_id, sequence, entries));
    manifests.push_back(std::move(manifest));
  }
  SLUICE_ASSIGN_OR_RAISE(std::string list_path, WriteManifestList(location, snapshot_id, parent, sequence, manifests));

  bool append = options.mode == WriteMode::kAppend;
  bool overwrite = options.mode == WriteMode::kOverwrite;
  Snapshot snapshot = NewSnapshot(snapshot_id, parent, sequence, now, list_path, schema_id);
  snapshot.summary = {
      {"operation", append || !parent ? "append" : "overwrite"},
      {"added-data-files", std::to_string(added_files)},
      {"added-records", std::to_string(added_records)},
      {"total-records", std::to_string((append || overwrite ? previous_records - deleted_records : 0) + added_records)},
      {"total-data-files", std::to_string((append || overwrite ? previous_files - deleted_files : 0) + added_files)}};
  if (overwrite) {
    snapshot.summary["deleted-data-files"] = std::to_string(deleted_files);
    snapshot.summary["deleted-records"] = std::to_string(deleted_records);
    // Even when it deleted nothing: an overwrite claims its partitions, so two of them from
    // one base (a retried run) are a conflict, never two appends to combine.
  }
  if (!options.operation_summary.empty()) snapshot.summary["sluice.operation"] = options.operation_summary;
  for (const auto& [key, value] : options.summary) snapshot.summary[key] = value;
  metadata.AddSnapshotOnMain(std::move(snapshot));
  if (exists) metadata.metadata_log.push_back({previous_updated_ms, options.previous_metadata_location});
  int version = exists ? MetadataFileVersion(options.previous_metadata_location) + 1 : 0;
  SLUICE_ASSIGN_OR_RAISE(std::string metadata_location, WriteTableMetadataFile(metadata, version));
  SLUICE_RETURN_NOT_OK(WriteBytes(location + "/metadata/version-hint.text", std::to_string(version)));
  return metadata_location;
}

namespace {

// The snapshots of `metadata` since `base_snapshot`, newest first, when all are appends.
std::optional<std::vector<int64_t>> AppendsSince(const TableMetadata& metadata, std::optional<int64_t> base_snapshot) {
  std::vector<int64_t> ids;
  std::optional<int64_t> current = metadata.current_snapshot_id;
  std::set<int64_t> visited;
  while (current && current != base_snapshot) {
    const Snapshot* snapshot = metadata.FindSnapshot(*current);
    if (!snapshot || !visited.insert(*current).second) return std::nullopt;
    if (snapshot->operation() != "append") return std::nullopt;
    ids.push_back(*current);
    current = snapshot->parent_snapshot_id;
  }
  if (current != base_snapshot) return std::nullopt;
  return ids;
}

std::vector<json> SchemaFields(const Schema* schema) {
  std::vector<json> out;
  if (schema) {
    json fields = schema->ToJson()["fields"];
    for (auto& f : fields) out.push_back(f);
  }
  return out;
}

}  // namespace

Result<std::optional<std::string>> MergeAppends(const std::string& base_location, const std::string& ours_location,
                                                const std::string& theirs_location) {
  SLUICE_ASSIGN_OR_RAISE(TableMetadata base, ReadTableMetadataFile(base_location));
  SLUICE_ASSIGN_OR_RAISE(TableMetadata ours, ReadTableMetadataFile(ours_location));
  SLUICE_ASSIGN_OR_RAISE(TableMetadata theirs, ReadTableMetadataFile(theirs_location));
  std::optional<std::string> none;
  try {
    if (ours.table_uuid != theirs.table_uuid || base.table_uuid != ours.table_uuid) {
      return none;  // the table was dropped and re-created on a side
    }
    auto base_snapshot = base.current_snapshot_id;
    auto our_appends = AppendsSince(ours, base_snapshot);
    auto their_appends = AppendsSince(theirs, base_snapshot);
    if (!our_appends || !their_appends) return none;
    const Schema* our_schema = ours.current_schema();
    if (SchemaFields(our_schema) != SchemaFields(theirs.current_schema())) return none;
    // Appends carry every manifest forward unchanged, so what theirs added is each manifest of
    // theirs that neither base nor ours has. By path, not by the snapshot that added it: a
    // merged snapshot (this function's own, or an import rebased by it) holds manifests
    // added in another line of history.
    std::set<std::string> known;
    if (base_snapshot) {
      const Snapshot* snapshot = base.FindSnapshot(*base_snapshot);
      if (!snapshot) return none;
      SLUICE_ASSIGN_OR_RAISE(auto list, ReadManifestList(snapshot));
      for (const auto& m : list) known.insert(m.at("manifest_path").get<std::string>());
    }
    std::vector<json> manifests;
    std::optional<int64_t> parent = ours.current_snapshot_id;
    int64_t total_records = 0, total_files = 0;
    if (const Snapshot* snapshot = ours.current_snapshot()) {
      SLUICE_ASSIGN_OR_RAISE(auto list, ReadManifestList(snapshot));
      for (auto& m : list) {
        known.insert(m.at("manifest_path").get<std::string>());
        manifests.push_back(m);
      }
      total_records = snapshot->SummaryCount("total-records");
      total_files = snapshot->SummaryCount("total-data-files");
    }
    int64_t added_records = 0, added_files = 0;
    SLUICE_ASSIGN_OR_RAISE(auto their_list, ReadManifestList(theirs.current_snapshot()));
    for (auto& m : their_list) {
      if (!known.insert(m.at("manifest_path").get<std::string>()).second) continue;
      added_records += m.value("added_rows_count", int64_t{0});
      added_files += m.value("added_files_count", 0);
      manifests.push_back(m);
    }
    int64_t snapshot_id = NewSnapshotId();
    int64_t sequence = std::max(ours.last_sequence_number, theirs.last_sequence_number) + 1;
    SLUICE_ASSIGN_OR_RAISE(std::string list_path,
                           WriteManifestList(ours.location, snapshot_id, parent, sequence, manifests));
    int64_t now = NowMillis();
    Snapshot snapshot = NewSnapshot(snapshot_id, parent, sequence, now, list_path, our_schema->schema_id);
    snapshot.summary = {{"operation", "append"},
                        {"added-data-files", std::to_string(added_files)},
                        {"added-records", std::to_string(added_records)},
                        {"total-records", std::to_string(total_records + added_records)},
                        {"total-data-files", std::to_string(total_files + added_files)},
                        {"sluice.merged-from", theirs_location}};
    TableMetadata merged = ours;
    merged.metadata_log.push_back({ours.last_updated_ms, ours_location});
    merged.AddSnapshotOnMain(std::move(snapshot));
    int version = std::max(MetadataFileVersion(ours_location), MetadataFileVersion(theirs_location)) + 1;
    SLUICE_ASSIGN_OR_RAISE(std::string metadata_location, WriteTableMetadataFile(merged, version));
    return std::optional<std::string>(metadata_location);
  } catch (const json::exception& e) {
    return InvalidInput("malformed table metadata while merging '", ours_location, "': ", e.what());
  }
}

Result<json> ReadTableMetadata(const std::string& metadata_location) {
  SLUICE_ASSIGN_OR_RAISE(TableMetadata metadata, ReadTableMetadataFile(metadata_location));
  return metadata.ToJson();
}

Status AddReachableFiles(const std::string& metadata_location, std::set<std::string>* files) {
  SLUICE_ASSIGN_OR_RAISE(TableMetadata metadata, ReadTableMetadataFile(metadata_location));
  files->insert(metadata_location);
  try {
    for (const auto& entry : metadata.metadata_log) files->insert(entry.metadata_file);
    for (const auto& snapshot : metadata.snapshots) {
      if (!files->insert(snapshot.manifest_list).second) continue;  // shared with a snapshot seen already
      SLUICE_ASSIGN_OR_RAISE(AvroFile list, ReadAvro(snapshot.manifest_list));
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

// Requirements that compare one id of the request with one of the metadata.
struct IdRequirement {
  const char* type;
  const char* requirement_key;
  int TableMetadata::*metadata_field;
  const char* meaning;
};

const IdRequirement* FindIdRequirement(const std::string& type) {
  static const IdRequirement kChecks[] = {
      {"assert-current-schema-id", "current-schema-id", &TableMetadata::current_schema_id, "the schema changed"},
      {"assert-last-assigned-field-id", "last-assigned-field-id", &TableMetadata::last_column_id, "columns were added"},
      {"assert-default-spec-id", "default-spec-id", &TableMetadata::default_spec_id, "the partition spec changed"},
      {"assert-last-assigned-partition-id", "last-assigned-partition-id", &TableMetadata::last_partition_id,
       "partition fields were added"},
      {"assert-default-sort-order-id", "default-sort-order-id", &TableMetadata::default_sort_order_id,
       "the sort order changed"},
  };
  for (const auto& check : kChecks) {
    if (type == check.type) return &check;
  }
  return nullptr;
}

json OptionalId(const std::optional<int64_t>& id) { return id ? json(*id) : json(); }

Status CheckRequirement(const TableMetadata& metadata, const json& requirement) {
  std::string type = requirement.value("type", "");
  auto mismatch = [&](const std::string& what) { return Conflict("requirement failed: ", type, ": ", what); };
  if (type == "assert-ref-snapshot-id") {
    std::string ref = requirement.value("ref", "main");
    json want = requirement.value("snapshot-id", json());
    json have = OptionalId(metadata.RefSnapshotId(ref));
    if (want != have) {
      return mismatch("ref '" + ref + "' is at " + have.dump() + ", expected " + want.dump());
    }
  } else if (type == "assert-table-uuid") {
    if (requirement.value("uuid", "") != metadata.table_uuid) return mismatch("table uuid differs");
  } else if (type == "assert-create") {
    return mismatch("the table already exists");
  } else if (const auto* check = FindIdRequirement(type)) {
    int want = requirement.value(check->requirement_key, -1);
    if (want != metadata.*(check->metadata_field)) return mismatch(check->meaning);
  } else {
    return InvalidInput("unknown commit requirement '", type, "'");
  }
  return Status::OK();
}

Status ApplyUpdate(TableMetadata* metadata, const json& update, int* last_added_schema) {
  std::string action = update.value("action", "");
  TableMetadata& m = *metadata;
  int64_t now = NowMillis();
  const std::string where = "commit update '" + action + "'";
  if (action == "add-snapshot") {
    SLUICE_ASSIGN_OR_RAISE(Snapshot snapshot, Snapshot::Parse(update.at("snapshot"), where));
    if (m.FindSnapshot(snapshot.snapshot_id)) {
      return InvalidInput(where, ": snapshot ", snapshot.snapshot_id, " already exists");
    }
    m.last_sequence_number = std::max(m.last_sequence_number, snapshot.sequence_number);
    m.snapshots.push_back(std::move(snapshot));
  } else if (action == "set-snapshot-ref") {
    std::string name = update.at("ref-name");
    SLUICE_ASSIGN_OR_RAISE(SnapshotRef ref, SnapshotRef::Parse(update, where));
    if (!m.FindSnapshot(ref.snapshot_id)) {
      return InvalidInput(where, ": ref '", name, "' would point at snapshot ", ref.snapshot_id,
                          ", which the table does not have");
    }
    m.refs[name] = ref;
    if (name == "main") {
      m.current_snapshot_id = ref.snapshot_id;
      m.snapshot_log.push_back({now, ref.snapshot_id});
    }
  } else if (action == "remove-snapshot-ref") {
    m.refs.erase(update.at("ref-name").get<std::string>());
  } else if (action == "set-properties") {
    for (const auto& [k, v] : update.at("updates").items()) m.properties[k] = v.get<std::string>();
  } else if (action == "remove-properties") {
    for (const auto& k : update.at("removals")) m.properties.erase(k.get<std::string>());
  } else if (action == "add-schema") {
    SLUICE_ASSIGN_OR_RAISE(Schema schema, Schema::Parse(update.at("schema"), where));
    int id = 0;
    for (const auto& s : m.schemas) id = std::max(id, s.schema_id + 1);
    schema.schema_id = id;
    m.last_column_id = std::max({m.last_column_id, schema.HighestFieldId(), update.value("last-column-id", 0)});
    m.schemas.push_back(std::move(schema));
    *last_added_schema = id;
  } else if (action == "set-current-schema") {
    int id = update.at("schema-id");
    if (id == -1) id = *last_added_schema;
    if (!m.FindSchema(id)) return InvalidInput(where, ": the table has no schema ", id);
    m.current_schema_id = id;
  } else {
    return InvalidInput("unsupported table update '", action, "'");
  }
  m.last_updated_ms = now;
  return Status::OK();
}

// A client's commit names files by URI; before they join the table each must be one of the
// table's own (under its location, after resolving links, so neither another data home's
// files nor /etc/passwd) and be what it claims: a manifest list and manifests that decode,
// and data files that are Parquet with the rows the manifest says and columns of the table.
class AddedSnapshotCheck {
 public:
  static Result<AddedSnapshotCheck> For(const TableMetadata& metadata) {
    AddedSnapshotCheck check;
    const std::string& location = metadata.location;
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
    check.metadata_ = metadata;
    for (const auto& schema : metadata.schemas) {
      for (const auto& field : schema.fields) check.columns_.insert(field.name);
    }
    return check;
  }

  // A live entry the table already had, with the same spec and tuple, needs no new look.
  static std::string EntryKey(const DataFile& file) {
    return file.path + "\n" + std::to_string(file.spec_id) + "\n" + file.partition.dump();
  }

  // Remembers the live entries of the table's current snapshot (before the commit).
  Status KnowEntriesOf(const Snapshot* snapshot) {
    SLUICE_ASSIGN_OR_RAISE(auto records, ReadManifestList(snapshot));
    for (const auto& record : records) {
      SLUICE_ASSIGN_OR_RAISE(auto entries, ReadManifest(record));
      for (const auto& entry : entries) {
        if (entry.status != EntryStatus::kDeleted) known_.insert(EntryKey(entry.file));
      }
    }
    return Status::OK();
  }

  Status Check(const Snapshot& snapshot) {
    SLUICE_ASSIGN_OR_RAISE(std::string list_path, Inside(snapshot.manifest_list, "manifest list"));
    std::set<std::string> live_paths;
    SLUICE_ASSIGN_OR_RAISE(AvroFile list, ReadAvro(list_path));
    for (auto manifest : list.records) {
      SLUICE_ASSIGN_OR_RAISE(std::string manifest_path,
                             Inside(manifest.at("manifest_path").get<std::string>(), "manifest"));
      manifest["manifest_path"] = manifest_path;
      int spec_id = manifest.value("partition_spec_id", 0);
      const PartitionSpec* spec = metadata_.FindSpec(spec_id);
      if (!spec)
        return InvalidInput("the commit's manifest '", manifest_path, "' names partition spec ", spec_id,
                            ", which the table does not have");
      SLUICE_ASSIGN_OR_RAISE(auto entries, ReadManifest(manifest));
      for (const auto& entry : entries) {
        SLUICE_ASSIGN_OR_RAISE(std::string data_path, Inside(entry.file.path, "data file"));
        if (entry.status == EntryStatus::kDeleted) continue;
        // A file twice in one snapshot would be read twice by every scan (and checked twice
        // here: a commit listing one file thousands of times is work, not data).
        if (!live_paths.insert(entry.file.path).second) {
          return InvalidInput("the commit lists data file '", entry.file.path, "' twice");
        }
        // Every live entry the table did not have as it is, or that an earlier snapshot of
        // this commit brought, has its rows, columns and partition tuple checked, so that no
        // forged tuple makes a scan skip its file.
        std::string key = EntryKey(entry.file);
        if (known_.count(key)) continue;
        SLUICE_RETURN_NOT_OK(CheckDataFile(data_path, entry.file, *spec));
        known_.insert(std::move(key));
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

  Status CheckDataFile(const std::string& path, const DataFile& entry, const PartitionSpec& spec) const {
    const int64_t record_count = entry.record_count;
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
    if (spec.fields.empty()) return Status::OK();
    auto made = parquet::arrow::FileReader::Make(arrow::default_memory_pool(), std::move(reader));
    if (!made.ok()) {
      return InvalidInput("the commit's data file '", path, "' cannot be read: ", made.status().message());
    }
    std::unique_ptr<parquet::arrow::FileReader> arrow_reader = std::move(*made);
    // Only the partition source columns are read: the tuples are all that is checked.
    const Schema& schema = *metadata_.current_schema();
    std::vector<int> sources;
    for (const auto& field : spec.fields) {
      const SchemaField* source = schema.FindField(field.source_id);
      int index = source ? file->schema()->ColumnIndex(source->name) : -1;
      if (index >= 0 && std::find(sources.begin(), sources.end(), index) == sources.end()) sources.push_back(index);
    }
    std::shared_ptr<arrow::Table> rows;
    auto read = arrow_reader->ReadTable(sources, &rows);
    if (!read.ok()) return InvalidInput("the commit's data file '", path, "' cannot be read: ", read.message());
    auto tuples = PartitionTuplesOf(rows, schema, spec);
    if (!tuples.ok()) return InvalidInput("the commit's data file '", path, "': ", tuples.status().message());
    for (const auto& tuple : *tuples) {
      if (tuple != entry.partition) {
        return InvalidInput("the commit's data file '", path, "' has rows of partition ", tuple.dump(),
                            ", its manifest says ", entry.partition.dump());
      }
    }
    return Status::OK();
  }

  std::string root_;  // the location, links resolved when local, ending in '/'
  StorageUri root_uri_;
  std::set<std::string> columns_;
  TableMetadata metadata_;       // the table as updated by the commit
  std::set<std::string> known_;  // EntryKey of the live entries before the commit, and checked since
};

}  // namespace

Result<std::string> CommitTableUpdates(const std::string& metadata_location, const json& requirements,
                                       const json& updates) {
  SLUICE_ASSIGN_OR_RAISE(TableMetadata metadata, ReadTableMetadataFile(metadata_location));
  try {
    for (const auto& requirement : requirements) {
      SLUICE_RETURN_NOT_OK(CheckRequirement(metadata, requirement));
    }
    int64_t previous_updated_ms = metadata.last_updated_ms;
    size_t known_snapshots = metadata.snapshots.size();
    std::optional<int64_t> head_before = metadata.current_snapshot_id;
    int last_added_schema = metadata.current_schema_id;
    for (const auto& update : updates) {
      SLUICE_RETURN_NOT_OK(ApplyUpdate(&metadata, update, &last_added_schema));
    }
    // Checked against the table as updated (a new schema may come with its first files).
    SLUICE_ASSIGN_OR_RAISE(auto check, AddedSnapshotCheck::For(metadata));
    SLUICE_RETURN_NOT_OK(check.KnowEntriesOf(head_before ? metadata.FindSnapshot(*head_before) : nullptr));
    for (size_t i = known_snapshots; i < metadata.snapshots.size(); ++i) {
      // Counts every reader of the table's history takes as numbers: a forged one would make
      // the whole table unreadable, so it is refused here, once.
      for (const char* key : {"total-records", "total-data-files"}) {
        SLUICE_RETURN_NOT_OK(SummaryNumber(metadata.snapshots[i], key, "the commit").status());
      }
      SLUICE_RETURN_NOT_OK(check.Check(metadata.snapshots[i]));
    }
    metadata.metadata_log.push_back({previous_updated_ms, metadata_location});
  } catch (const json::exception& e) {
    return InvalidInput("malformed commit: ", e.what());
  }
  return WriteTableMetadataFile(metadata, MetadataFileVersion(metadata_location) + 1);
}

}  // namespace sluice
