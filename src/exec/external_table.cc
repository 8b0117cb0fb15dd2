#include "exec/external_table.h"

#include <arrow/io/file.h>
#include <parquet/arrow/reader.h>
#include <parquet/file_reader.h>

#include "data/source_reader.h"
#include "storage/storage_uri.h"

namespace sluice {
namespace {

struct ParquetFacts {
  std::shared_ptr<arrow::Schema> schema;
  DataFile file;
};

Result<ParquetFacts> ReadParquetFacts(const std::string& path) {
  auto read = [&]() -> Result<ParquetFacts> {
    SLUICE_ASSIGN_OR_RAISE(auto input, OpenSourceFile(path));
    SLUICE_ASSIGN_OR_RAISE(int64_t size, input->GetSize());
    SLUICE_ASSIGN_OR_RAISE(auto reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
    ParquetFacts facts;
    SLUICE_RETURN_NOT_OK(reader->GetSchema(&facts.schema));
    facts.schema = facts.schema->RemoveMetadata();
    facts.file.path = path.rfind("s3://", 0) == 0 ? path : LocalFileUri(path);
    facts.file.record_count = reader->parquet_reader()->metadata()->num_rows();
    facts.file.file_size_in_bytes = size;
    return facts;
  };
  SLUICE_ASSIGN_OR_RAISE(ParquetFacts facts, WithContext(read(), "reading '" + path + "'"));
  SLUICE_RETURN_NOT_OK(CheckSourceColumns(path, *facts.schema));
  return facts;
}

// The branch head, checked writable, with the table absent unless `overwrite`. options.table
// becomes the stored name of a table it names in another case (TableNameForWrite).
Result<ResolvedRef> WritableHead(Lakehouse& lake, ExternalTableOptions& options) {
  SLUICE_RETURN_NOT_OK(Catalog::CheckWritable(options.branch, "external tables"));
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef head, lake.catalog().Resolve(options.branch));
  if (head.branch.empty()) return InvalidInput("ref '", options.branch, "' is not a branch");
  SLUICE_ASSIGN_OR_RAISE(options.table, TableNameForWrite(head.tree, options.table));
  if (head.tree.tables.count(options.table) && !options.overwrite) {
    return WithHint(AlreadyExists("table '", options.table, "' already exists on branch '", options.branch, "'"),
                    "pass --overwrite to replace it");
  }
  return head;
}

Result<TableCreateResult> Commit(Lakehouse& lake, const ExternalTableOptions& options, const ResolvedRef& head,
                                 const std::string& location, std::vector<std::string> files, bool add_namespace) {
  TableCreateResult result;
  result.branch = options.branch;
  result.created = true;
  result.replaced = head.tree.tables.count(options.table) > 0;
  result.files = std::move(files);
  CommitRequest request;
  request.branch = options.branch;
  request.changes[options.table] = location;
  if (add_namespace) request.namespaces_to_add.insert(options.table.substr(0, options.table.find('.')));
  request.author = options.author;
  request.message = "create external table " + options.table;
  request.properties["sluice.operation"] = "create_external_table";
  request.expected_head = head.commit.id;
  SLUICE_ASSIGN_OR_RAISE(result.commit, lake.catalog().CommitChanges(request));
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef after, lake.catalog().Resolve(options.branch));
  SLUICE_ASSIGN_OR_RAISE(result.table, lake.GetTable(after, options.table));
  return result;
}

Result<TableCreateResult> FromParquet(Lakehouse& lake, ExternalTableOptions options) {
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef head, WritableHead(lake, options));
  SLUICE_ASSIGN_OR_RAISE(SourceAccess access, lake.source_access());
  std::vector<std::string> paths;
  for (const auto& pattern : options.search_patterns) {
    SLUICE_ASSIGN_OR_RAISE(auto matched, ListSourceFiles(pattern, access));
    for (auto& path : matched) {
      if (std::find(paths.begin(), paths.end(), path) == paths.end()) paths.push_back(std::move(path));
    }
  }
  std::vector<DataFile> files;
  std::shared_ptr<arrow::Schema> schema;
  std::string first;
  for (const auto& path : paths) {
    if (path.size() < 8 || path.compare(path.size() - 8, 8, ".parquet") != 0) {
      return InvalidInput("'", path, "' is not a Parquet file: external tables reference Parquet files only");
    }
    SLUICE_ASSIGN_OR_RAISE(ParquetFacts facts, ReadParquetFacts(path));
    if (!schema) {
      schema = facts.schema;
      first = path;
    } else if (!facts.schema->Equals(*schema)) {
      for (const auto& field : facts.schema->fields()) {
        auto other = schema->GetFieldByName(field->name());
        if (!other) return InvalidInput("'", path, "' has column '", field->name(), "', which '", first, "' lacks");
        if (!other->type()->Equals(*field->type())) {
          return InvalidInput("'", path, "': column '", field->name(), "' is ", field->type()->ToString(), " but in '",
                              first, "' it is ", other->type()->ToString());
        }
      }
      return InvalidInput("'", path, "' lacks columns that '", first, "' has");
    }
    files.push_back(std::move(facts.file));
  }
  SLUICE_ASSIGN_OR_RAISE(auto empty, arrow::Table::MakeEmpty(schema));
  TableWriteOptions write;
  write.mode = WriteMode::kReplace;
  write.table_location = lake.NewTableLocation(options.table);
  write.reference_files = files;
  write.properties[kTableKindProperty] = kExternalTable;
  write.operation_summary = "create_external";
  SLUICE_ASSIGN_OR_RAISE(std::string location, WithContext(WriteTableSnapshot(empty, write),
                                                           "creating external table '" + options.table + "'"));
  return Commit(lake, options, head, location, paths, true);
}

Result<TableCreateResult> FromMetadata(Lakehouse& lake, ExternalTableOptions options) {
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef head, WritableHead(lake, options));
  std::string ns = options.table.substr(0, options.table.find('.'));
  if (!head.tree.namespaces.count(ns)) {
    return WithHint(NotFound("namespace '", ns, "' not found on branch '", options.branch, "'"),
                    "create it first: sluice namespace create " + ns + " --branch " + options.branch);
  }
  SLUICE_ASSIGN_OR_RAISE(SourceAccess access, lake.source_access());
  SLUICE_ASSIGN_OR_RAISE(std::string path, CheckSourcePath(options.metadata_json_uri, access));
  std::string location = path.rfind("s3://", 0) == 0 ? path : LocalFileUri(path);
  // Every file the metadata names is the table's own (under its location) and a file this
  // home may read, checked before it is read: the metadata is the client's, the credentials
  // are ours.
  auto check = [&](const std::string& table_location, const std::string& uri, const char* what) {
    return CheckSourceUnder(uri, table_location, what, access);
  };
  SLUICE_ASSIGN_OR_RAISE(TableSnapshot snapshot,
                         WithContext(LoadTableSnapshot(location, check), "'" + options.metadata_json_uri + "'"));
  std::vector<std::string> files;
  for (const auto& file : snapshot.data_files) {
    SLUICE_ASSIGN_OR_RAISE(std::string checked,
                           WithContext(CheckSourceUnder(file.path, snapshot.metadata.location, "data file", access),
                                       "'" + options.metadata_json_uri + "'"));
    if (checked.size() < 8 || checked.compare(checked.size() - 8, 8, ".parquet") != 0) {
      return InvalidInput("data file '", file.path, "' of '", options.metadata_json_uri, "' is not a Parquet file");
    }
    files.push_back(checked);
  }
  return Commit(lake, options, head, location, files, false);
}

}  // namespace

Result<TableCreateResult> CreateExternalTable(Lakehouse& lake, const ExternalTableOptions& options) {
  bool from_metadata = !options.metadata_json_uri.empty();
  if (from_metadata == !options.search_patterns.empty()) {
    return InvalidInput("an external table comes from search patterns or from a metadata.json file: give one of them");
  }
  return from_metadata ? FromMetadata(lake, options) : FromParquet(lake, options);
}

}  // namespace sluice
