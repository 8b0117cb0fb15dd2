// The lakehouse of one data home: the versioned catalog plus the warehouse directory that
// holds Iceberg tables, and the shared-memory object store that hands tables to models.
// It is where "a table at a ref" becomes files: reads resolve a ref to a metadata location
// and scan it with pushdown; writes produce a new Iceberg snapshot and commit it.
// Not thread-safe for writes; concurrent reads are fine.
#pragma once

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <arrow/api.h>

#include "catalog/catalog.h"
#include "catalog/commit_note.h"
#include "common/status.h"
#include "data/column_cache.h"
#include "data/object_store.h"
#include "data/source_reader.h"
#include "data/table_scanner.h"
#include "format/iceberg_table.h"
#include "storage/storage_uri.h"

namespace sluice {

// "taxi" -> "bauplan.taxi"; "ns.taxi" stays. InvalidInput for empty parts, more than one dot
// or a part that is not a valid name (catalog/table_name.h).
Result<std::string> QualifyTableName(const std::string& name, const std::string& default_namespace);

// The stored name of a qualified table ("ns.table") of `tree`, by the name rule of
// common/name_match.h (exact, else a unique case-insensitive match). NotFound when absent,
// InvalidInput naming the candidates when ambiguous.
Result<std::string> ResolveTableName(const Tree& tree, const std::string& qualified);

// The name a write of table `qualified` to `tree` targets: the stored name of the table it
// resolves to (ResolveTableName), else `qualified` itself (a new table; its namespace part in
// the stored case of the namespace it names). InvalidInput when
// ambiguous. Writers use it so a name written in another case reaches the existing table
// instead of creating a second one that differs only in case (the catalog refuses those).
Result<std::string> TableNameForWrite(const Tree& tree, const std::string& qualified);
// The table property that marks an external table (data files referenced, not owned).
inline constexpr const char* kTableKindProperty = "sluice.table-kind";
inline constexpr const char* kExternalTable = "EXTERNAL_TABLE";

struct TableReadOptions {
  std::vector<std::string> columns;  // empty = all
  std::string filter;                // SQL predicate, empty = none
  bool cache = true;                 // false: every byte from storage (--no-cache)
};

struct TableInfo {
  std::string name;  // "ns.table"
  std::string metadata_location;
  TableSnapshot snapshot;
  std::string kind = "TABLE";  // or "EXTERNAL_TABLE" (read-only: its files are not ours)
};

// How one table differs between two refs, for `sluice branch diff`.
struct TableChange {
  std::string table;
  std::string kind;  // "added", "removed" or "changed"
  std::optional<int64_t> from_records, to_records;
  std::vector<std::string> schema_changes;  // "+ col type", "- col type", "~ col: a -> b"
};

class Lakehouse {
 public:
  // Opens (creating on first use) the data home: catalog.db, warehouse/, shared memory.
  static Result<std::unique_ptr<Lakehouse>> Open(const std::string& home);

  Catalog& catalog() { return *catalog_; }
  ObjectStore& objects() { return *objects_; }
  const std::string& home() const { return home_; }
  // Where table files go: `home`/warehouse, or $SLUICE_WAREHOUSE (e.g. "s3://bucket/prefix")
  // as recorded in the home when it was first used with it.
  const StorageUri& warehouse() const { return warehouse_; }

  // The rule for s3:// sources that clients name (data/source_reader.h): the home's
  // storage.allowed_sources (exec/allowed_sources.h, read at every call) and its warehouse
  // when that is on S3.
  Result<SourceAccess> source_access() const;

  // The table at a resolved ref, its name resolved by ResolveTableName (info.name is the
  // stored name); NotFound names the table and the ref.
  Result<TableInfo> GetTable(const ResolvedRef& ref, const std::string& table) const;

  // The data home's column cache (`home`/cache/columns), opened at first use; the error says
  // why it cannot be used (scans then read storage, and say why). Thread-safe.
  Result<ColumnCache*> column_cache() const;
  static std::string ColumnCacheDirectory(const std::string& home) { return home + "/cache/columns"; }

  // Scans a table at a ref with projection and filter pushed down, through the column cache
  // unless `options.cache` is false.
  Result<std::shared_ptr<arrow::Table>> ReadTable(const ResolvedRef& ref, const std::string& table,
                                                  const TableReadOptions& options, ScanStats* stats = nullptr) const;

  // The same scan as a stream of batches (data/table_scanner.h, ScanTableBatches): footers are
  // read and row groups chosen here, their data as the reader is pulled, so nothing holds the
  // whole table. Errors of this call name the table and the ref; errors of the reader's
  // ReadNext (storage gone mid-scan, a corrupt row group) do not, the caller adds that.
  // `stats`, when given, must outlive the reader.
  Result<std::shared_ptr<arrow::RecordBatchReader>> ScanTableBatches(const ResolvedRef& ref, const std::string& table,
                                                                     const TableReadOptions& options,
                                                                     ScanStats* stats = nullptr) const;

  // Writes `data` as a new snapshot of `table` (created when absent on `base`) and returns
  // the new metadata location. Nothing is visible until the caller commits the location.
  // InvalidInput when the table is external (read-only). `partitioned_by` ("day(at), zone",
  // a model's partitioned_by) is recorded as the partition spec of a table this creates.
  // kOverwrite with `overwrite_filter` (SQL, $params substituted): the table's rows matching
  // it are replaced by `data` (files rewritten where only some rows match), the others kept;
  // InvalidInput when the filter does not parse or a row of `data` does not match it.
  Result<std::string> WriteTable(const Tree& base, const std::string& table, const std::shared_ptr<arrow::Table>& data,
                                 WriteMode mode, const std::string& partitioned_by = "",
                                 const std::string& overwrite_filter = "");

  // "TABLE", or "EXTERNAL_TABLE" for a table whose metadata lies outside the warehouse or
  // says so (kTableKindProperty). Reads the metadata JSON only.
  std::string TableKind(const std::string& metadata_location) const;

  // A fresh table root URI in the warehouse for a new incarnation of `table` ("ns.t").
  std::string NewTableLocation(const std::string& table) const;

  // Tables added, removed and changed from one ref to another, with row counts and
  // schema differences.
  Result<std::vector<TableChange>> DiffRefs(const std::string& from_ref, const std::string& to_ref) const;

  // Sets `table` on `branch` to its state at `source_ref` (dropping it when absent there), in
  // one commit. NotFound when the table exists on neither.
  Result<Commit> RevertTable(const std::string& branch, const std::string& table, const std::string& source_ref,
                             const std::string& author, const CommitNote& note = {});

 private:
  Lakehouse() = default;
  bool InWarehouse(const std::string& location) const;
  // The scan of `info` with `options`: its files, partitions, cache.
  ScanRequest ScanRequestFor(const TableInfo& info, const TableReadOptions& options) const;
  std::string home_;
  StorageUri warehouse_;
  std::unique_ptr<Catalog> catalog_;
  std::unique_ptr<ObjectStore> objects_;
  mutable std::mutex cache_mutex_;
  mutable std::unique_ptr<ColumnCache> column_cache_;  // GUARDED_BY(cache_mutex_)
};

// Merges tables both sides of a branch merge appended to (format's MergeAppends), so
// concurrent appends to one table merge instead of conflicting.
TableMerger IcebergAppendMerger();

// The user name recorded as commit author: $SLUICE_USER, else $USER, else "sluice".
std::string CurrentAuthor();

}  // namespace sluice
