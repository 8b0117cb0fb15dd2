// Reads the files a user imports or references (`sluice table create/import/create-external`):
// Parquet or CSV, given as a file, a directory (its *.parquet / *.csv files) or a glob.
//
// Which files may be read: search URIs come from clients, possibly remote ones, so every
// matched file is resolved (symlinks followed) and must be a regular file outside every data
// home (a directory holding `catalog.db` and `warehouse/`: another lake's private files, or
// this lake's own), and under one of $SLUICE_IMPORT_ROOTS (colon-separated directories) when
// that is set. A refused file is an InvalidInput naming it; nothing is read before all pass.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/file.h>

#include "common/status.h"

namespace sluice {

struct SourceData {
  std::shared_ptr<arrow::Table> table;  // all files concatenated; no field-id metadata
  std::vector<std::string> files;       // the files read, sorted
};

// The files a search URI names, resolved and checked as above, sorted. NotFound names the
// search URI when it matches no file.
Result<std::vector<std::string>> ListSourceFiles(const std::string& search_uri);

// Checks one path against the rules above (for paths written in a plan or a metadata file);
// returns it resolved.
Result<std::string> CheckSourcePath(const std::string& path);

// CheckSourcePath, and the file must be Parquet or CSV (by its name).
Result<std::string> CheckSourceFile(const std::string& path);

// Whether `path` (resolved) lies inside a data home's directory.
bool IsInsideDataHome(const std::string& path);

// Opens a file ListSourceFiles/CheckSourceFile returned (resolved): InvalidInput when what is
// opened is not that regular file any more (a path component swapped for a symlink, or the
// file for a FIFO, between the check and the open). Every read of a source file opens here.
Result<std::shared_ptr<arrow::io::ReadableFile>> OpenSourceFile(const std::string& path);

// InvalidInput naming `path` when its columns could not make a readable table: none at all,
// or one name twice. Every reader here checks it; external tables check it too.
Status CheckSourceColumns(const std::string& path, const arrow::Schema& schema);

// One file's rows, without field-id or schema metadata. InvalidInput names the file when its
// format is unknown or it cannot be parsed.
Result<std::shared_ptr<arrow::Table>> ReadSourceFile(const std::string& path);

// One file's schema (Parquet: from its footer, no data read).
Result<std::shared_ptr<arrow::Schema>> ReadSourceSchema(const std::string& path);

// All files of a search URI read and concatenated. InvalidInput names a file whose schema
// differs from the first file's.
Result<SourceData> ReadSourceFiles(const std::string& search_uri);

}  // namespace sluice
