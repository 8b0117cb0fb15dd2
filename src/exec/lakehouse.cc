#include "exec/lakehouse.h"

#include <cstdlib>

#include "catalog/table_name.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/name_match.h"
#include "data/file_pruning.h"
#include "data/filter_expression.h"
#include "data/memory_budget.h"
#include "exec/allowed_sources.h"
#include "exec/shared_memory_gc.h"
#include "exec/table_creation.h"
#include "exec/table_filter.h"

namespace sluice {

Result<std::string> QualifyTableName(const std::string& name, const std::string& default_namespace) {
  return QualifiedTableName(name, default_namespace);
}

Result<std::string> ResolveTableName(const Tree& tree, const std::string& qualified) {
  if (tree.tables.count(qualified)) return qualified;
  std::vector<std::string> names;
  for (const auto& [name, _] : tree.tables) names.push_back(name);
  return ResolveQualifiedName(qualified, names);
}

Result<std::string> TableNameForWrite(const Tree& tree, const std::string& qualified) {
  auto stored = ResolveTableName(tree, qualified);
  if (stored.ok() || KindOf(stored.status()) != ErrorKind::kNotFound) return stored;
  // A new table: in the namespace its namespace part names, in that namespace's stored case.
  auto dot = qualified.find('.');
  std::vector<std::string> namespaces(tree.namespaces.begin(), tree.namespaces.end());
  auto ns = ResolveName(qualified.substr(0, dot), namespaces, "namespace");
  if (ns.ok()) return *ns + qualified.substr(dot);
  if (KindOf(ns.status()) != ErrorKind::kNotFound) return ns.status();
  return qualified;
}

TableMerger IcebergAppendMerger() {
  return [](const std::string& table, const std::string& base, const std::string& ours, const std::string& theirs) {
    return MergeAppends(base, ours, theirs);
  };
}

std::string CurrentAuthor() {
  for (const char* var : {"SLUICE_USER", "USER"}) {
    const char* value = std::getenv(var);
    if (value && *value) return value;
  }
  return "sluice";
}

namespace {

// The data home's warehouse: $SLUICE_WAREHOUSE when set, recorded in the home on first use so
// that later commands find the tables without it; else the home's own warehouse/ directory.
// A home keeps one warehouse: a different $SLUICE_WAREHOUSE later is an error naming both.
Result<StorageUri> ChooseWarehouse(const std::string& home) {
  const std::string record = home + "/warehouse-location";
  std::string recorded;
  if (PathExists(record)) {
    SLUICE_ASSIGN_OR_RAISE(recorded, ReadFile(record));
    while (!recorded.empty() && (recorded.back() == '\n' || recorded.back() == ' ')) recorded.pop_back();
  }
  const std::string wanted = WarehouseUri();
  if (wanted.empty()) {
    if (recorded.empty()) return StorageUri::Local(home + "/warehouse");
    return WithContext(StorageUri::Parse(recorded), "the warehouse recorded in '" + record + "'");
  }
  SLUICE_ASSIGN_OR_RAISE(StorageUri uri, WithContext(StorageUri::Parse(wanted), "$SLUICE_WAREHOUSE"));
  uri = uri.Normalized();
  if (recorded.empty()) {
    SLUICE_RETURN_NOT_OK(WriteFileAtomic(record, uri.ToString() + "\n"));
  } else if (recorded != uri.ToString()) {
    return WithHint(InvalidInput("$SLUICE_WAREHOUSE is '", wanted, "' but the data home '", home,
                                 "' keeps its tables in '", recorded, "'"),
                    "unset SLUICE_WAREHOUSE, or use another data home (SLUICE_HOME) for that warehouse");
  }
  return uri;
}

}  // namespace

Result<std::unique_ptr<Lakehouse>> Lakehouse::Open(const std::string& home) {
  std::unique_ptr<Lakehouse> lakehouse(new Lakehouse());
  lakehouse->home_ = AbsolutePath(home);
  // The directory marks the home as one (data/source_reader.h refuses to import from homes),
  // wherever the tables are.
  SLUICE_RETURN_NOT_OK(MakeDirs(lakehouse->home_ + "/warehouse"));
  SLUICE_ASSIGN_OR_RAISE(lakehouse->warehouse_, ChooseWarehouse(lakehouse->home_));
  if (CatalogUri().empty()) {
    SLUICE_ASSIGN_OR_RAISE(lakehouse->catalog_, Catalog::Open(lakehouse->home_));
  } else {
    SLUICE_ASSIGN_OR_RAISE(lakehouse->catalog_, Catalog::OpenUri(CatalogUri()));
  }
  SLUICE_ASSIGN_OR_RAISE(lakehouse->objects_, ObjectStore::Open(SharedMemoryRootFor(lakehouse->home_)));
  // Live objects over the budget spill to <home>/spill (data/memory_budget.h).
  SLUICE_ASSIGN_OR_RAISE(MemoryBudgetSetting budget,
                         ResolveMemoryBudget(lakehouse->home_, lakehouse->objects_->root()));
  lakehouse->objects_->SetMemoryBudget(budget.bytes, lakehouse->home_ + "/spill");
  // So `sluice gc` can tell this shared memory from that of a home deleted since.
  SLUICE_RETURN_NOT_OK(MarkSharedMemoryHome(lakehouse->objects_->root(), lakehouse->home_));
  return lakehouse;
}

Result<SourceAccess> Lakehouse::source_access() const {
  SourceAccess access;
  SLUICE_ASSIGN_OR_RAISE(access.allowed, ReadAllowedSources(home_));
  if (warehouse_.is_s3()) access.warehouse = warehouse_;
  return access;
}

Result<TableInfo> Lakehouse::GetTable(const ResolvedRef& ref, const std::string& written) const {
  auto stored = ResolveTableName(ref.tree, written);
  if (!stored.ok()) {
    if (KindOf(stored.status()) != ErrorKind::kNotFound) {
      return WithContext(stored.status(), "at ref '" + ref.text + "'");
    }
    return WithHint(NotFound("table '", written, "' not found at ref '", ref.text, "'"),
                    "list the tables with: sluice table ls --ref " + ref.text);
  }
  const std::string& table = *stored;
  auto it = ref.tree.tables.find(table);
  TableInfo info;
  info.name = table;
  info.metadata_location = it->second;
  // An external table over a user's metadata on S3: the metadata may have changed since it was
  // checked, and we read with our credentials, so what it names is checked again at every load
  // (lexically: no extra S3 call).
  ReferencedFileCheck check;
  SourceAccess access;
  const bool foreign_s3 = !InWarehouse(it->second) && it->second.rfind("s3://", 0) == 0;
  if (foreign_s3) {
    SLUICE_ASSIGN_OR_RAISE(access, source_access());
    check = [&access](const std::string& root, const std::string& uri, const char* what) -> Result<std::string> {
      SLUICE_RETURN_NOT_OK(CheckS3SourcePlace(uri, root, what, access));
      return uri;
    };
  }
  SLUICE_ASSIGN_OR_RAISE(info.snapshot, WithContext(LoadTableSnapshot(it->second, check), "table '" + table + "'"));
  if (foreign_s3) {
    for (const auto& file : info.snapshot.data_files) {
      SLUICE_RETURN_NOT_OK(
          WithContext(CheckS3SourcePlace(file.path, info.snapshot.metadata.location, "data file", access),
                      "table '" + table + "'"));
    }
  }
  auto kind = info.snapshot.properties.find(kTableKindProperty);
  if (!InWarehouse(it->second) || (kind != info.snapshot.properties.end() && kind->second == kExternalTable)) {
    info.kind = kExternalTable;
  }
  return info;
}

Result<ColumnCache*> Lakehouse::column_cache() const {
  std::lock_guard<std::mutex> lock(cache_mutex_);
  if (!column_cache_) {
    ColumnCacheOptions options;
    options.directory = ColumnCacheDirectory(home_);
    SLUICE_ASSIGN_OR_RAISE(column_cache_, ColumnCache::Open(options));
  }
  return column_cache_.get();
}

namespace {

// A stream's consumer (DuckDB) is usually slower than the scan: a few row groups ahead keep
// storage requests going while it computes, and bound what the engine holds.
constexpr int kStreamRowGroupsAhead = 4;

}  // namespace

ScanRequest Lakehouse::ScanRequestFor(const TableInfo& info, const TableReadOptions& options) const {
  ScanRequest request;
  for (const auto& file : info.snapshot.data_files) {
    request.files.push_back(file.path);
    request.file_sizes.push_back(file.file_size_in_bytes);
  }
  // Partition tuples are trusted where Sluice wrote them or checked them (REST commits):
  // never those of an external table, whose metadata is the user's.
  if (info.kind != kExternalTable) {
    for (const auto& file : info.snapshot.data_files) {
      request.spec_ids.push_back(file.spec_id);
      request.partitions.push_back(file.partition);
    }
    request.partition_specs = info.snapshot.specs;
  }
  // An external table's files are the user's, who may rewrite them in place.
  request.files_immutable = info.kind != kExternalTable;
  if (options.cache) {
    auto cache = column_cache();
    if (cache.ok()) {
      request.cache = *cache;
    } else {
      request.cache_problem = cache.status().message();
    }
  }
  request.schema = info.snapshot.schema;
  request.columns = options.columns;
  request.filter = options.filter;
  return request;
}

Result<std::shared_ptr<arrow::Table>> Lakehouse::ReadTable(const ResolvedRef& ref, const std::string& table,
                                                           const TableReadOptions& options, ScanStats* stats) const {
  SLUICE_ASSIGN_OR_RAISE(TableInfo info, GetTable(ref, table));  // info.name: the stored name
  return WithContext(ScanTable(ScanRequestFor(info, options), stats),
                     "table '" + table + "' at ref '" + ref.text + "'");
}

Result<std::shared_ptr<arrow::RecordBatchReader>> Lakehouse::ScanTableBatches(const ResolvedRef& ref,
                                                                              const std::string& table,
                                                                              const TableReadOptions& options,
                                                                              ScanStats* stats) const {
  SLUICE_ASSIGN_OR_RAISE(TableInfo info, GetTable(ref, table));
  ScanRequest request = ScanRequestFor(info, options);
  request.row_groups_ahead = kStreamRowGroupsAhead;
  return WithContext(sluice::ScanTableBatches(request, stats), "table '" + table + "' at ref '" + ref.text + "'");
}

namespace {

// An overwrite by `filter` may only write rows the filter selects (checked on the first
// write of the table too, so a model behaves the same on its first run as on later ones).
Status CheckRowsInsideFilter(const std::shared_ptr<arrow::Table>& data, const std::string& filter) {
  auto outside = RowsNotMatching(data, filter);
  if (!outside.ok()) {
    return WithHint(
        InvalidInput("overwrite_filter '", filter, "' is not a filter of the table: ", outside.status().message()),
        "write a condition on the table's columns, e.g. \"tpep_pickup_datetime >= '$start'\"");
  }
  if ((*outside)->num_rows() > 0) {
    return InvalidInput((*outside)->num_rows(), " of the output's ", data->num_rows(),
                        " rows are outside overwrite_filter '", filter,
                        "': an overwrite may only replace the rows the filter selects");
  }
  return Status::OK();
}

// The fate of each current file in an overwrite by `filter` (Lakehouse::WriteTable).
Result<std::function<Result<FileFate>(const DataFile&)>> OverwriteByFilter(const TableSnapshot& snapshot,
                                                                           const std::string& filter) {
  auto parsed = ParseFilter(filter, *snapshot.schema);
  if (!parsed.ok()) {
    return WithHint(
        InvalidInput("overwrite_filter '", filter, "' is not a filter of the table: ", parsed.status().message()),
        "write a condition on the table's columns, e.g. \"tpep_pickup_datetime >= '$start'\"");
  }
  auto expression = *parsed;
  auto schema = snapshot.schema;
  auto specs = snapshot.specs;
  return [expression, schema, specs, filter](const DataFile& file) -> Result<FileFate> {
    FileFate fate;
    if (!FileMayMatch(expression, specs, file.spec_id, file.partition)) return fate;  // none of its rows match
    ScanRequest request;
    request.files = {file.path};
    request.file_sizes = {file.file_size_in_bytes};
    request.schema = schema;
    // First only the rows it selects (row groups pruned by statistics): a file with none of
    // them is kept, and one with nothing else is deleted, without reading it whole.
    request.filter = filter;
    ScanStats selected;
    SLUICE_RETURN_NOT_OK(ScanTable(request, &selected).status());
    if (selected.rows_out == 0) return fate;
    if (selected.rows_out == file.record_count) {
      fate.kind = FileFate::Kind::kDelete;
      return fate;
    }
    request.filter.clear();
    SLUICE_ASSIGN_OR_RAISE(auto rows, ScanTable(request));
    SLUICE_ASSIGN_OR_RAISE(fate.remaining, RowsNotMatching(rows, filter));
    fate.kind = FileFate::Kind::kRewrite;
    return fate;
  };
}

}  // namespace

Result<std::string> Lakehouse::WriteTable(const Tree& base, const std::string& table,
                                          const std::shared_ptr<arrow::Table>& data, WriteMode mode,
                                          const std::string& partitioned_by, const std::string& overwrite_filter) {
  TableWriteOptions options;
  options.mode = mode;
  if (mode == WriteMode::kOverwrite && !overwrite_filter.empty()) {
    SLUICE_RETURN_NOT_OK(CheckRowsInsideFilter(data, overwrite_filter));
  }
  auto it = base.tables.find(table);
  if (it != base.tables.end()) {
    ResolvedRef at;
    at.text = "the base";
    at.tree = base;
    SLUICE_ASSIGN_OR_RAISE(TableInfo current, GetTable(at, table));
    if (current.kind == kExternalTable) {
      return WithHint(InvalidInput("table '", table, "' is an external table: it is read-only"),
                      "write to another table name, or drop the external table first");
    }
    options.previous_metadata_location = it->second;
    options.table_location = current.snapshot.metadata.location;
    if (mode == WriteMode::kOverwrite && !overwrite_filter.empty()) {
      SLUICE_ASSIGN_OR_RAISE(options.overwrite_existing, OverwriteByFilter(current.snapshot, overwrite_filter));
    }
  } else {
    SLUICE_ASSIGN_OR_RAISE(std::string checked, QualifiedTableName(table, "bauplan"));
    options.table_location = NewTableLocation(checked);
    if (!partitioned_by.empty()) {
      SLUICE_ASSIGN_OR_RAISE(options.partition_spec, ParsePartitionSpec(partitioned_by, *data->schema()));
    }
  }
  return WithContext(WriteTableSnapshot(data, options), "writing table '" + table + "'");
}

bool Lakehouse::InWarehouse(const std::string& location) const {
  auto parsed = StorageUri::Parse(location);
  return parsed.ok() && parsed->IsUnder(warehouse_);
}

std::string Lakehouse::TableKind(const std::string& metadata_location) const {
  if (!InWarehouse(metadata_location)) return kExternalTable;
  auto metadata = ReadTableMetadata(metadata_location);
  if (!metadata.ok()) return "TABLE";
  const auto& properties = metadata->value("properties", nlohmann::json::object());
  return properties.value(kTableKindProperty, std::string()) == kExternalTable ? kExternalTable : "TABLE";
}

std::string Lakehouse::NewTableLocation(const std::string& table) const {
  auto dot = table.find('.');
  // A fresh directory per table incarnation, so dropping and re-creating a table never
  // mixes files of the two, and branches that created the same name never collide.
  return warehouse_.Join(table.substr(0, dot) + "/" + table.substr(dot + 1) + "-" + NewShortId(8)).ToString();
}

Result<std::vector<TableChange>> Lakehouse::DiffRefs(const std::string& from_ref, const std::string& to_ref) const {
  SLUICE_ASSIGN_OR_RAISE(auto diffs, catalog_->Diff(from_ref, to_ref));
  std::vector<TableChange> out;
  for (const auto& diff : diffs) {
    TableChange change;
    change.table = diff.table;
    change.kind = diff.kind == TableDiff::Kind::kAdded     ? "added"
                  : diff.kind == TableDiff::Kind::kRemoved ? "removed"
                                                           : "changed";
    std::map<std::string, std::string> before, after;
    if (diff.from) {
      SLUICE_ASSIGN_OR_RAISE(TableSnapshot snapshot, LoadTableSnapshot(*diff.from));
      change.from_records = snapshot.total_records;
      for (const auto& f : snapshot.schema->fields()) before[f->name()] = f->type()->ToString();
    }
    if (diff.to) {
      SLUICE_ASSIGN_OR_RAISE(TableSnapshot snapshot, LoadTableSnapshot(*diff.to));
      change.to_records = snapshot.total_records;
      for (const auto& f : snapshot.schema->fields()) after[f->name()] = f->type()->ToString();
    }
    if (diff.from && diff.to) {
      for (const auto& [name, type] : after) {
        auto it = before.find(name);
        if (it == before.end())
          change.schema_changes.push_back("+ " + name + " " + type);
        else if (it->second != type)
          change.schema_changes.push_back("~ " + name + ": " + it->second + " -> " + type);
      }
      for (const auto& [name, type] : before) {
        if (!after.count(name)) change.schema_changes.push_back("- " + name + " " + type);
      }
    }
    out.push_back(std::move(change));
  }
  return out;
}

Result<Commit> Lakehouse::RevertTable(const std::string& branch, const std::string& table,
                                      const std::string& source_ref, const std::string& author,
                                      const CommitNote& note) {
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef head, catalog_->Resolve(branch));
  if (head.branch.empty()) return InvalidInput("ref '", branch, "' is not a branch");
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef source, catalog_->Resolve(source_ref));
  auto there = source.tree.tables.find(table);
  bool here = head.tree.tables.count(table) > 0;
  if (there == source.tree.tables.end() && !here) {
    return NotFound("table '", table, "' exists neither on '", branch, "' nor at '", source_ref, "'");
  }
  CommitRequest request;
  request.branch = branch;
  if (there != source.tree.tables.end()) {
    request.changes[table] = there->second;
  } else {
    request.changes[table] = std::nullopt;
  }
  request.author = author;
  request.message = "revert table " + table + " to its state at " + source_ref;
  request.properties["sluice.operation"] = "revert";
  note.ApplyTo(&request);
  request.expected_head = head.commit.id;
  return catalog_->CommitChanges(request);
}

}  // namespace sluice
