#include "data/source_reader.h"

#include <arrow/csv/api.h>
#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>

#include "common/file_util.h"
#include "data/schema_util.h"

namespace sluice {
namespace {

bool EndsWith(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<std::shared_ptr<arrow::Table>> ReadOne(const std::string& path) {
  SLUICE_ASSIGN_OR_RAISE(auto input, arrow::io::ReadableFile::Open(path));
  if (EndsWith(path, ".parquet") || EndsWith(path, ".parq")) {
    SLUICE_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
    std::shared_ptr<arrow::Table> table;
    SLUICE_RETURN_NOT_OK(reader->ReadTable(&table));
    return table;
  }
  if (EndsWith(path, ".csv")) {
    SLUICE_ASSIGN_OR_RAISE(auto reader, arrow::csv::TableReader::Make(
                                            arrow::io::default_io_context(), input,
                                            arrow::csv::ReadOptions::Defaults(),
                                            arrow::csv::ParseOptions::Defaults(),
                                            arrow::csv::ConvertOptions::Defaults()));
    return reader->Read();
  }
  return WithHint(InvalidInput("'", path, "' is neither a Parquet nor a CSV file"),
                  "import files ending in .parquet or .csv");
}

}  // namespace

Result<SourceData> ReadSourceFiles(const std::string& search_uri) {
  std::string pattern = search_uri.rfind("file://", 0) == 0 ? search_uri.substr(7) : search_uri;
  if (pattern.find("://") != std::string::npos) {
    return InvalidInput("'", search_uri, "': only local files can be imported for now");
  }
  SourceData out;
  if (IsDirectory(pattern)) {
    for (const char* ext : {"/*.parquet", "/*.csv"}) {
      SLUICE_ASSIGN_OR_RAISE(auto files, GlobFiles(pattern + ext));
      out.files.insert(out.files.end(), files.begin(), files.end());
    }
    std::sort(out.files.begin(), out.files.end());
  } else {
    SLUICE_ASSIGN_OR_RAISE(out.files, GlobFiles(pattern));
  }
  if (out.files.empty()) {
    return WithHint(NotFound("no files match '", search_uri, "'"),
                    "pass a Parquet or CSV file, a directory of them, or a glob such as 'data/*.parquet'");
  }
  std::vector<std::shared_ptr<arrow::Table>> tables;
  for (const auto& file : out.files) {
    SLUICE_ASSIGN_OR_RAISE(auto table, WithContext(ReadOne(file), "reading '" + file + "'"));
    table = WithoutFieldMetadata(table)->ReplaceSchemaMetadata(nullptr);
    if (!tables.empty() && !table->schema()->Equals(*tables.front()->schema())) {
      return InvalidInput("'", file, "' has schema ", table->schema()->ToString(),
                          " but '", out.files.front(), "' has ", tables.front()->schema()->ToString());
    }
    tables.push_back(std::move(table));
  }
  SLUICE_ASSIGN_OR_RAISE(out.table, arrow::ConcatenateTables(tables));
  return out;
}

}  // namespace sluice
