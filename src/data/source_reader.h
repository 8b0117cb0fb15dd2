// Reads the files a user imports (`sluice table import --search-uri`): Parquet or CSV, given
// as a file, a directory (its *.parquet / *.csv files) or a glob, with the schema inferred.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <arrow/api.h>

#include "common/status.h"

namespace sluice {

struct SourceData {
  std::shared_ptr<arrow::Table> table;  // all files concatenated; no field-id metadata
  std::vector<std::string> files;       // the files read, sorted
};

// NotFound names the search URI when it matches no file; InvalidInput names the file whose
// format is unknown or whose schema differs from the first file's.
Result<SourceData> ReadSourceFiles(const std::string& search_uri);

}  // namespace sluice
