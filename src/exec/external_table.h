// External tables: read-only tables whose data files stay where they are (bauplan's
// create_external_table_from_parquet / _from_metadata). From Parquet files, Sluice writes the
// Iceberg metadata in its warehouse over the files as they are (no copy); from an Iceberg
// metadata.json, the catalog points at that file. Every file named (patterns, the metadata
// file and the data files it lists) passes the source_reader.h rules, so an external table
// never exposes another data home's files.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "exec/table_creation.h"

namespace sluice {

struct ExternalTableOptions {
  std::string table;  // "ns.table", qualified and valid
  std::string branch;
  std::vector<std::string> search_patterns;  // Parquet files, or
  std::string metadata_json_uri;             // an Iceberg metadata.json
  bool overwrite = false;                    // replace an existing table of that name
  std::string author;
};

// AlreadyExists when the table exists and !overwrite; InvalidInput for files that conflict in
// schema, are not Parquet, or are refused by the path rules; NotFound when the namespace does
// not exist (metadata mode, as bauplan) or no file matches.
Result<TableCreateResult> CreateExternalTable(Lakehouse& lake, const ExternalTableOptions& options);

}  // namespace sluice
