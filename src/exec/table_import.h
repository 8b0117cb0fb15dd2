// `sluice table import`: appends the rows of Parquet/CSV files to an EXISTING table, in one
// commit (bauplan's import_data). Each file's columns are matched to the table's by name
// (exactly, else a unique case-insensitive match); a type is converted when it can be without
// loss (int -> long, long -> double, ...). Files already imported into the table (its history
// records them) are skipped unless import_duplicate_files is set.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "exec/lakehouse.h"

namespace sluice {

struct ImportOptions {
  std::string table;  // "ns.table", qualified and valid
  std::string branch;
  std::string search_uri;          // source_reader.h rules
  bool best_effort = false;        // drop source columns the table lacks; missing ones are null
  bool continue_on_error = false;  // skip files that fail, import the rest
  bool import_duplicate_files = false;
  std::string author;
};

struct ImportResult {
  std::string table, branch;
  int64_t rows = 0;
  std::vector<std::string> files;                            // imported
  std::vector<std::pair<std::string, std::string>> skipped;  // file, reason
  std::optional<Commit> commit;                              // none when nothing was imported
};

// NotFound (hint: table create) when the table does not exist on the branch; InvalidInput
// naming the file and the column when a file does not fit the table, or when the table is
// external. With continue_on_error, failing files are skipped; all failing is still an error.
Result<ImportResult> ImportData(Lakehouse& lake, const ImportOptions& options);

// The summary key of an import snapshot listing its source files (a JSON array).
inline constexpr const char* kImportedFilesSummary = "sluice.imported-files";

}  // namespace sluice
