// Iceberg manifests and manifest lists (Avro), written and read here. A manifest lists data
// files of one partition spec, each with its partition tuple (the Avro `r102` struct typed by
// the spec's transform results); its record in the manifest list carries the partition field
// summaries (contains_null, lower/upper bound) that let a scan skip the whole manifest.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "format/table_metadata.h"

namespace sluice {

struct DataFile {
  std::string path;  // full URI, e.g. "file:///home/x/warehouse/ns/t-ab12/data/..."
  std::string format = "PARQUET";
  int64_t record_count = 0;
  int64_t file_size_in_bytes = 0;
  int spec_id = 0;  // the partition spec its manifest was written under
  // Its partition tuple as the manifest holds it: {partition field name: value}, values typed
  // as the transform's result (ints, strings, ...); empty for an unpartitioned spec.
  nlohmann::json partition = nlohmann::json::object();
};

enum class EntryStatus { kExisting = 0, kAdded = 1, kDeleted = 2 };

struct ManifestEntry {
  EntryStatus status = EntryStatus::kAdded;
  int64_t snapshot_id = 0;  // the snapshot that added (or deleted) the file
  // Data sequence numbers; none: inherited from the manifest (only for added entries).
  std::optional<int64_t> sequence_number;
  std::optional<int64_t> file_sequence_number;
  DataFile file;
};

// Writes a manifest of `entries` (all of spec `spec`, of table `schema`) under `table_location`
// and returns its manifest-list record (counts and partition summaries), written by snapshot
// `snapshot_id` with sequence number `sequence`. InvalidInput when a partition value does
// not fit its field's type.
Result<nlohmann::json> WriteManifest(const std::string& table_location, const Schema& schema, const PartitionSpec& spec,
                                     int64_t snapshot_id, int64_t sequence, const std::vector<ManifestEntry>& entries);

// Every entry of the manifest a manifest-list record names; missing sequence numbers are
// filled in from the record's (the inheritance of the spec).
Result<std::vector<ManifestEntry>> ReadManifest(const nlohmann::json& manifest_record);

// The live (added or existing) data files of a manifest, with their partitions.
Result<std::vector<DataFile>> ReadManifestDataFiles(const std::string& manifest_path, int spec_id);

// Writes the manifest list of a new snapshot under `table_location`; returns its location.
Result<std::string> WriteManifestList(const std::string& table_location, int64_t snapshot_id,
                                      std::optional<int64_t> parent, int64_t sequence,
                                      const std::vector<nlohmann::json>& manifests);

// The manifest-list records of a snapshot (none for a null snapshot).
Result<std::vector<nlohmann::json>> ReadManifestList(const Snapshot* snapshot);

}  // namespace sluice
