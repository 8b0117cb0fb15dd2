// Reads the files a user imports or references (`sluice table create/import/create-external`):
// Parquet or CSV, local or on S3, given as a file, a directory or S3 prefix (its *.parquet /
// *.csv files) or a glob ('*', '?' and '[...]' within one path segment, as glob(3)).
//
// Which files may be read: search URIs come from clients, possibly remote ones, and are read
// with the server's own rights and S3 credentials. A local file is resolved (symlinks
// followed) and must be a regular file outside every data home (a directory holding
// `catalog.db` and `warehouse/`: another lake's private files, or this lake's own), and under
// one of $SLUICE_IMPORT_ROOTS (colon-separated directories) when that is set. An s3:// file
// must lie under one of the prefixes the data home allows (SourceAccess::allowed, the home's
// `storage.allowed_sources` setting) and not inside its warehouse; its URI may not hold '%'
// (no percent-encoded tricks) nor '.'/'..' segments. A refused file is an InvalidInput naming
// it; nothing is read before all pass.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/interfaces.h>

#include "common/status.h"
#include "storage/storage_uri.h"

namespace sluice {

// The data home's rule for s3:// sources. Default: no S3 source at all.
struct SourceAccess {
  std::vector<StorageUri> allowed;      // s3:// prefixes sources may lie under
  std::optional<StorageUri> warehouse;  // the home's warehouse when on S3: never a source
};

// The name of the data-home setting that lists SourceAccess::allowed.
inline constexpr const char* kAllowedSourcesSetting = "storage.allowed_sources";

struct SourceData {
  std::shared_ptr<arrow::Table> table;  // all files concatenated; no field-id metadata
  std::vector<std::string> files;       // the files read, sorted
};

// The files a search URI names, resolved and checked as above, sorted. NotFound names the
// search URI when it matches no file.
// Local files are returned as resolved paths, S3 objects as normalized s3:// URIs.
Result<std::vector<std::string>> ListSourceFiles(const std::string& search_uri, const SourceAccess& access = {});

// Checks one path against the rules above (for paths written in a plan or a metadata file);
// returns it resolved (a real local path, or the normalized s3:// URI). NotFound when there
// is no such file.
Result<std::string> CheckSourcePath(const std::string& path, const SourceAccess& access = {});

// CheckSourcePath, and the file must be Parquet or CSV (by its name).
Result<std::string> CheckSourceFile(const std::string& path, const SourceAccess& access = {});

// CheckSourcePath, and the file must also lie strictly under `root` (after resolving links
// when local): a file a user-supplied Iceberg metadata file names must be its table's own.
// `what` ("manifest", "data file") names the file in the error.
Result<std::string> CheckSourceUnder(const std::string& path, const std::string& root, const char* what,
                                     const SourceAccess& access);

// The lexical part of CheckSourceUnder for an S3 file, no S3 call: `uri` is an s3:// location
// strictly under `root` that `access` allows. For re-checking, at every load, the files an
// external table's metadata on S3 names (the metadata is the user's and may change).
Status CheckS3SourcePlace(const std::string& uri, const std::string& root, const char* what,
                          const SourceAccess& access);

// Whether `path` (resolved) lies inside a data home's directory.
bool IsInsideDataHome(const std::string& path);

// Opens a file ListSourceFiles/CheckSourceFile returned (resolved): InvalidInput when what is
// opened is not that regular file any more (a path component swapped for a symlink, or the
// file for a FIFO, between the check and the open). S3 objects open through FileIO (objects
// have no links). Every read of a source file opens here.
Result<std::shared_ptr<arrow::io::RandomAccessFile>> OpenSourceFile(const std::string& path);

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
Result<SourceData> ReadSourceFiles(const std::string& search_uri, const SourceAccess& access = {});

}  // namespace sluice
