// The Iceberg table metadata (the metadata.json of the Iceberg table spec, format v1/v2) as
// typed values: schemas with field ids, partition specs, sort order ids, snapshots, refs, the
// snapshot and metadata logs and properties. Parse() checks every field it models and names
// the one that is wrong; ToJson() writes them back together with every field it does not
// model (other writers such as pyiceberg or Java put their own keys there), so a
// Parse/ToJson round trip keeps a metadata file's content. Plain values: not thread-safe
// to mutate, cheap enough to copy.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace sluice {

// One field of a schema (or of a nested struct). `type` is the Iceberg type: a primitive's
// name ("long", "timestamptz", "decimal(10,2)", "fixed[16]") or a nested type's object
// ({"type": "struct"|"list"|"map", ...}), checked by Parse (field ids present everywhere).
struct SchemaField {
  int id = 0;
  std::string name;
  bool required = false;
  nlohmann::json type;
  nlohmann::json extra = nlohmann::json::object();  // doc, initial-default, ... as written

  bool is_primitive() const { return type.is_string(); }
};

struct Schema {
  int schema_id = 0;
  std::vector<SchemaField> fields;
  std::vector<int> identifier_field_ids;
  nlohmann::json extra = nlohmann::json::object();

  const SchemaField* FindField(int id) const;                   // top level; null when absent
  const SchemaField* FindField(const std::string& name) const;  // top level, exact name
  // The highest field id used anywhere in the schema (nested fields included).
  int HighestFieldId() const;
  // {"type": "struct", "schema-id": ..., "fields": [...]}, as in the metadata file.
  nlohmann::json ToJson() const;
  static Result<Schema> Parse(const nlohmann::json& json, const std::string& where);
};

struct PartitionField {
  int source_id = 0;
  int field_id = 0;  // 1000 and up
  std::string name;
  std::string transform;  // identity, year, month, day, hour, bucket[N], truncate[W], void
  nlohmann::json extra = nlohmann::json::object();
};

struct PartitionSpec {
  int spec_id = 0;
  std::vector<PartitionField> fields;
  nlohmann::json extra = nlohmann::json::object();

  bool unpartitioned() const { return fields.empty(); }
  nlohmann::json ToJson() const;
  // The "fields" array alone (manifests carry it as their "partition-spec" metadata).
  nlohmann::json FieldsJson() const;
  static Result<PartitionSpec> Parse(const nlohmann::json& json, const std::string& where);
};

struct Snapshot {
  int64_t snapshot_id = 0;
  std::optional<int64_t> parent_snapshot_id;
  int64_t sequence_number = 0;
  int64_t timestamp_ms = 0;
  std::string manifest_list;
  std::map<std::string, std::string> summary;  // "operation" and the counts, as strings
  std::optional<int> schema_id;
  nlohmann::json extra = nlohmann::json::object();

  std::string operation() const;  // summary["operation"], "" when absent
  // A count of the summary ("total-records", ...); 0 when absent or not a number.
  int64_t SummaryCount(const std::string& key) const;
  nlohmann::json ToJson() const;
  static Result<Snapshot> Parse(const nlohmann::json& json, const std::string& where);
};

struct SnapshotRef {
  int64_t snapshot_id = 0;
  std::string type = "branch";  // branch or tag
  std::optional<int64_t> max_ref_age_ms;
  std::optional<int64_t> max_snapshot_age_ms;
  std::optional<int> min_snapshots_to_keep;
  nlohmann::json ToJson() const;
  static Result<SnapshotRef> Parse(const nlohmann::json& json, const std::string& where);
};

struct SnapshotLogEntry {
  int64_t timestamp_ms = 0;
  int64_t snapshot_id = 0;
};

struct MetadataLogEntry {
  int64_t timestamp_ms = 0;
  std::string metadata_file;
};

struct TableMetadata {
  int format_version = 2;
  std::string table_uuid;
  std::string location;  // the table's root URI
  int64_t last_sequence_number = 0;
  int64_t last_updated_ms = 0;
  int last_column_id = 0;
  std::vector<Schema> schemas;
  int current_schema_id = 0;
  std::vector<PartitionSpec> partition_specs;
  int default_spec_id = 0;
  int last_partition_id = 999;
  nlohmann::json sort_orders = nlohmann::json::array();  // kept as written
  int default_sort_order_id = 0;
  std::map<std::string, std::string> properties;
  std::optional<int64_t> current_snapshot_id;  // none: no snapshot yet (-1 in some writers)
  std::vector<Snapshot> snapshots;
  std::map<std::string, SnapshotRef> refs;
  std::vector<SnapshotLogEntry> snapshot_log;
  std::vector<MetadataLogEntry> metadata_log;
  nlohmann::json extra = nlohmann::json::object();  // keys this model does not know

  // A new, empty v2 table at `location` with an unpartitioned spec 0 and sort order 0.
  static TableMetadata NewTable(const std::string& location, const std::string& table_uuid, int64_t now_ms);

  // The current schema; null only for metadata Parse would not have accepted.
  const Schema* current_schema() const;
  const Schema* FindSchema(int schema_id) const;
  const PartitionSpec* FindSpec(int spec_id) const;
  const PartitionSpec* default_spec() const { return FindSpec(default_spec_id); }
  const Snapshot* FindSnapshot(int64_t snapshot_id) const;
  const Snapshot* current_snapshot() const;
  // The snapshot id a ref names ("main" falls back to current-snapshot-id); none if unknown.
  std::optional<int64_t> RefSnapshotId(const std::string& ref) const;

  // Appends `snapshot` and makes it the head of branch main: current-snapshot-id, refs.main,
  // snapshot-log, last-sequence-number and last-updated-ms follow.
  void AddSnapshotOnMain(Snapshot snapshot);

  nlohmann::json ToJson() const;
  // `where` names the file in errors ("table metadata 'file:///.../00003-....metadata.json'").
  // InvalidInput names the field: "...: field 'snapshots[2].manifest-list' must be a string".
  static Result<TableMetadata> Parse(const nlohmann::json& json, const std::string& where);
};

// Reads and parses a metadata file (any location storage/storage_uri.h accepts).
Result<TableMetadata> ReadTableMetadataFile(const std::string& location);

// The version number of a metadata file name "00003-<uuid>.metadata.json" (or "v3..."); 0
// when the name has none.
int MetadataFileVersion(const std::string& location);

// Writes `metadata` as version `version` of its table ("<location>/metadata/00003-<uuid>
// .metadata.json") and returns the new file's location. Never overwrites a file.
Result<std::string> WriteTableMetadataFile(const TableMetadata& metadata, int version);

}  // namespace sluice
