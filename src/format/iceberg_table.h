// An Iceberg v2 table as Sluice reads and writes it: the current snapshot of a metadata file
// (schema, data files, row count) and the write of a new snapshot (Parquet data files with
// field ids, an Avro manifest, an Avro manifest list and a new metadata JSON file).
// Writers never modify existing files, so a metadata location names an immutable state.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <nlohmann/json.hpp>

#include "common/status.h"
#include "format/manifest.h"

namespace sluice {

// The table-level facts of a metadata file that callers need.
struct TableMetadataInfo {
  std::string table_uuid;
  std::string location;  // table root URI, "file:///..."
  int64_t last_updated_ms = 0;
  int64_t last_sequence_number = 0;
  int format_version = 2;
};

// One entry of a table's history.
struct SnapshotInfo {
  int64_t snapshot_id = 0;
  int64_t timestamp_ms = 0;
  std::string operation;  // append, overwrite, ...
  int64_t total_records = 0;
  std::map<std::string, std::string> summary;  // the snapshot's whole summary
};

// One field of an Iceberg partition spec.
struct PartitionFieldInfo {
  std::string source_column;  // the column it is computed from
  std::string transform;      // identity, year, month, day, hour, bucket[N], truncate[W]
  std::string name;           // the partition field's name ("PULocationID", "pickup_day")
};

// A table's current state as recorded by one metadata file.
struct TableSnapshot {
  std::string metadata_location;
  TableMetadataInfo metadata;
  // The current schema as Arrow, fields WITHOUT "PARQUET:field_id" metadata.
  std::shared_ptr<arrow::Schema> schema;
  std::optional<int64_t> snapshot_id;  // none for a table without data yet
  int64_t total_records = 0;
  std::vector<DataFile> data_files;               // live data files of the current snapshot
  std::vector<SnapshotInfo> history;              // the current snapshot and its ancestors, newest first
  std::map<std::string, std::string> properties;  // the table's properties
  std::vector<PartitionFieldInfo> partitions;     // fields of the default partition spec
  // Every partition spec by id (data files name theirs), source columns by current name.
  std::map<int, std::vector<PartitionFieldInfo>> specs;
};

// Decides, before LoadTableSnapshot reads it, whether a file a metadata file names (its
// manifest list, each manifest) may be read: given the table's location (the metadata's
// "location"), the file's URI and what it is ("manifest list", "manifest"), returns the
// location to read or an error that stops the load. For metadata a client supplied.
using ReferencedFileCheck =
    std::function<Result<std::string>(const std::string& table_location, const std::string& uri, const char* what)>;

// Reads a metadata JSON file (any location storage/storage_uri.h accepts) and the manifest list and
// manifests of its current snapshot, each first passed to `check` when one is given. Errors
// name the file that could not be read or parsed.
Result<TableSnapshot> LoadTableSnapshot(const std::string& metadata_location,
                                        const ReferencedFileCheck& check = nullptr);

enum class WriteMode {
  kAppend,   // new files added to the current ones; the schema must match (by name and type)
  kReplace,  // new files replace all current ones; the schema may change
  // New files replace the current files of the partitions they touch (or, with
  // TableWriteOptions::overwrite_existing, what it decides); the schema must match.
  kOverwrite,
};

// What an overwrite does with one live data file of the current snapshot.
struct FileFate {
  enum class Kind { kKeep, kDelete, kRewrite } kind = Kind::kKeep;
  std::shared_ptr<arrow::Table> remaining;  // kRewrite: the rows that stay (table columns)
};

struct TableWriteOptions {
  WriteMode mode = WriteMode::kAppend;
  std::string table_location;                     // table root URI, "file:///..."; required
  std::string previous_metadata_location;         // empty: create the table
  std::string operation_summary;                  // optional extra for the snapshot summary
  std::map<std::string, std::string> summary;     // more entries for the snapshot summary
  std::map<std::string, std::string> properties;  // table properties to set
  // Only when creating: the table's partition spec (spec 0). Data files are written one per
  // partition of the table's default spec (more when one holds over kMaxFileRows rows),
  // each manifest entry carrying its partition tuple.
  std::vector<PartitionFieldInfo> partition_spec;
  // When not empty, the snapshot lists these existing files (their schema is `data`'s,
  // which then holds no rows) instead of writing `data`: an external table's files,
  // referenced where they are and never copied.
  std::vector<DataFile> reference_files;
  // kOverwrite: decides the fate of each live data file of the current snapshot (a
  // filter-based overwrite); null: the files whose partition tuple (under the default spec)
  // one of the new files has are deleted, the others kept (dynamic partition overwrite).
  std::function<Result<FileFate>(const DataFile&)> overwrite_existing;
};

// Writes `data` as a new snapshot and returns the new metadata file's URI
// ("file:///.../metadata/00001-<uuid>.metadata.json"). Column names keep their field ids
// across snapshots; new columns get new ids. An empty table still makes a snapshot (with no
// data files) so a model that selects nothing materializes an empty table.
// InvalidInput when an append's schema does not match, naming the columns that differ.
Result<std::string> WriteTableSnapshot(const std::shared_ptr<arrow::Table>& data, const TableWriteOptions& options);

// Combines two lines of appends to one table (an Iceberg-aware merge): when the snapshots of
// `ours` and of `theirs` since `base` are all appends and their schemas match, writes a new
// snapshot on top of `ours` that also holds the files `theirs` added, and returns its
// metadata location. nullopt when the histories cannot be combined (a real conflict).
Result<std::optional<std::string>> MergeAppends(const std::string& base, const std::string& ours,
                                                const std::string& theirs);

// The metadata JSON of a metadata file, as Iceberg clients expect it in LoadTable responses.
Result<nlohmann::json> ReadTableMetadata(const std::string& metadata_location);

// Applies an Iceberg REST commit (requirements, then updates) to the table state at
// `metadata_location` and writes the new metadata file; returns its location. A failed
// requirement is Conflict (HTTP 409); an unknown requirement or update is InvalidInput (400).
// Supported updates: add-snapshot, set-snapshot-ref, remove-snapshot-ref, set-properties,
// remove-properties, add-schema, set-current-schema.
Result<std::string> CommitTableUpdates(const std::string& metadata_location, const nlohmann::json& requirements,
                                       const nlohmann::json& updates);

// Adds to `files` every file the metadata file at `metadata_location` reaches: itself, the
// earlier metadata files of its log, and, for every snapshot it keeps (time travel reads any
// of them), the manifest list, its manifests and every data file they name, whatever their
// status. Locations as written (URIs). An error when any of them cannot be read: a caller
// deciding what is unreferenced must then decide nothing.
Status AddReachableFiles(const std::string& metadata_location, std::set<std::string>* files);

}  // namespace sluice
