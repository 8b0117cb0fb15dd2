#include "exec/table_import.h"

#include <arrow/compute/api.h>
#include <nlohmann/json.hpp>

#include <cctype>
#include <set>

#include "data/source_reader.h"

namespace sluice {
namespace {

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

enum class TypeFamily { kNumber, kTemporal, kText, kBinary, kBool, kOther };

TypeFamily FamilyOf(const arrow::DataType& type) {
  if (arrow::is_integer(type.id()) || arrow::is_floating(type.id()) || arrow::is_decimal(type.id())) {
    return TypeFamily::kNumber;
  }
  switch (type.id()) {
    case arrow::Type::TIMESTAMP:
    case arrow::Type::DATE32:
    case arrow::Type::DATE64:
      return TypeFamily::kTemporal;
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW:
      return TypeFamily::kText;
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::BINARY_VIEW:
      return TypeFamily::kBinary;
    case arrow::Type::BOOL:
      return TypeFamily::kBool;
    default:
      return TypeFamily::kOther;
  }
}

// The file's rows under the table's schema, or an error naming the file and the column.
Result<std::shared_ptr<arrow::Table>> Conform(const std::shared_ptr<arrow::Table>& source, const arrow::Schema& target,
                                              const std::string& file, const std::string& table, bool best_effort) {
  const arrow::Schema& have = *source->schema();
  std::set<int> used;
  arrow::ChunkedArrayVector columns;
  for (const auto& field : target.fields()) {
    int index = have.GetFieldIndex(field->name());
    if (index < 0) {
      std::vector<int> matches;
      for (int i = 0; i < have.num_fields(); ++i) {
        if (Lower(have.field(i)->name()) == Lower(field->name())) matches.push_back(i);
      }
      if (matches.size() > 1) {
        return InvalidInput("'", file, "': column '", field->name(), "' of table '", table, "' matches both '",
                            have.field(matches[0])->name(), "' and '", have.field(matches[1])->name(), "'");
      }
      if (matches.size() == 1) index = matches[0];
    }
    if (index < 0) {
      if (!best_effort) {
        return WithHint(InvalidInput("'", file, "' has no column '", field->name(), "' of table '", table, "'"),
                        "--best-effort imports it anyway, with nulls in that column");
      }
      SLUICE_ASSIGN_OR_RAISE(auto nulls, arrow::MakeArrayOfNull(field->type(), source->num_rows()));
      columns.push_back(std::make_shared<arrow::ChunkedArray>(nulls));
      continue;
    }
    used.insert(index);
    auto column = source->column(index);
    const auto& from = *have.field(index)->type();
    if (!from.Equals(*field->type())) {
      bool convertible = FamilyOf(from) == FamilyOf(*field->type()) && FamilyOf(from) != TypeFamily::kOther;
      arrow::Datum cast;
      if (convertible) {
        auto result = arrow::compute::Cast(column, field->type(), arrow::compute::CastOptions::Safe());
        if (result.ok()) {
          cast = *result;
        } else {
          convertible = false;
        }
      }
      if (!convertible) {
        return InvalidInput("'", file, "': column '", have.field(index)->name(), "' has type ", from.ToString(),
                            " but table '", table, "' has ", field->type()->ToString());
      }
      column = cast.chunked_array();
    }
    if (!field->nullable() && column->null_count() > 0) {
      return InvalidInput("'", file, "': column '", field->name(), "' has nulls but table '", table,
                          "' requires values");
    }
    columns.push_back(column);
  }
  if (!best_effort) {
    for (int i = 0; i < have.num_fields(); ++i) {
      if (used.count(i)) continue;
      return WithHint(InvalidInput("'", file, "' has column '", have.field(i)->name(), "', which table '", table,
                                   "' does not have"),
                      "--best-effort ignores columns the table does not have");
    }
  }
  return arrow::Table::Make(std::make_shared<arrow::Schema>(target.fields()), columns, source->num_rows());
}

// Source files already imported into the table, from its history.
std::set<std::string> ImportedFiles(const TableSnapshot& snapshot) {
  std::set<std::string> out;
  for (const auto& entry : snapshot.history) {
    auto it = entry.summary.find(kImportedFilesSummary);
    if (it == entry.summary.end()) continue;
    auto files = nlohmann::json::parse(it->second, nullptr, false);
    if (!files.is_array()) continue;
    for (const auto& f : files) {
      if (f.is_string()) out.insert(f.get<std::string>());
    }
  }
  return out;
}

}  // namespace

Result<ImportResult> ImportData(Lakehouse& lake, const ImportOptions& options) {
  // The commit would refuse main anyway; refusing first saves reading and writing the data.
  SLUICE_RETURN_NOT_OK(Catalog::CheckWritable(options.branch, "imports"));
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef head, lake.catalog().Resolve(options.branch));
  if (head.branch.empty()) return InvalidInput("ref '", options.branch, "' is not a branch");
  // The table named in another case (the name rule, common/name_match.h): import into it.
  SLUICE_ASSIGN_OR_RAISE(std::string table, TableNameForWrite(head.tree, options.table));
  if (!head.tree.tables.count(table)) {
    return WithHint(NotFound("table '", table, "' not found on branch '", options.branch,
                             "': import adds rows to an existing table"),
                    "create it first: sluice table create " + table + " --search-uri " + options.search_uri);
  }
  SLUICE_ASSIGN_OR_RAISE(TableInfo info, lake.GetTable(head, table));
  if (info.kind == kExternalTable) {
    return InvalidInput("table '", table, "' is an external table: it is read-only");
  }
  SLUICE_ASSIGN_OR_RAISE(SourceAccess access, lake.source_access());
  SLUICE_ASSIGN_OR_RAISE(auto files, ListSourceFiles(options.search_uri, access));
  std::set<std::string> done = options.import_duplicate_files ? std::set<std::string>() : ImportedFiles(info.snapshot);

  ImportResult result;
  result.table = table;
  result.branch = options.branch;
  std::vector<std::shared_ptr<arrow::Table>> parts;
  for (const auto& file : files) {
    if (done.count(file)) {
      result.skipped.push_back({file, "already imported into this table (--import-duplicate-files imports it again)"});
      continue;
    }
    auto rows = ReadSourceFile(file);
    Result<std::shared_ptr<arrow::Table>> conformed =
        rows.ok() ? Conform(*rows, *info.snapshot.schema, file, table, options.best_effort)
                  : Result<std::shared_ptr<arrow::Table>>(rows.status());
    if (!conformed.ok()) {
      if (!options.continue_on_error) return conformed.status();
      result.skipped.push_back({file, conformed.status().message()});
      continue;
    }
    parts.push_back(*conformed);
    result.files.push_back(file);
    result.rows += (*conformed)->num_rows();
  }
  if (parts.empty()) {
    bool all_duplicates = std::all_of(result.skipped.begin(), result.skipped.end(),
                                      [&](const auto& s) { return done.count(s.first) > 0; });
    if (!all_duplicates) {
      return InvalidInput("no file of '", options.search_uri, "' could be imported into '", table,
                          "': ", result.skipped.front().first, ": ", result.skipped.front().second);
    }
    return result;  // everything was imported before: nothing to do
  }
  SLUICE_ASSIGN_OR_RAISE(auto data, arrow::ConcatenateTables(parts));
  TableWriteOptions write;
  write.mode = WriteMode::kAppend;
  write.previous_metadata_location = info.metadata_location;
  write.table_location = info.snapshot.metadata.location;
  write.operation_summary = "import";
  write.summary[kImportedFilesSummary] = nlohmann::json(result.files).dump();
  SLUICE_ASSIGN_OR_RAISE(std::string location,
                         WithContext(WriteTableSnapshot(data, write), "importing into table '" + table + "'"));
  CommitRequest request;
  request.branch = options.branch;
  request.changes[table] = location;
  request.author = options.author;
  request.message = "import into table " + table + " from " + options.search_uri;
  request.properties["sluice.operation"] = "import";
  // Appends commute: when other writers appended to this table meanwhile, our files are added
  // on top of theirs (MergeAppends, the Iceberg-aware merge branches use) and the commit is
  // tried again on the new head. Always from our first snapshot and the original base, so each attempt
  // combines exactly our files with everything committed since.
  constexpr int kMaxRebases = 64;
  for (int attempt = 0;; ++attempt) {
    request.expected_head = head.commit.id;
    auto committed = lake.catalog().CommitChanges(request);
    if (committed.ok()) {
      result.commit = *std::move(committed);
      return result;
    }
    if (KindOf(committed.status()) != ErrorKind::kConflict || attempt == kMaxRebases) return committed.status();
    SLUICE_ASSIGN_OR_RAISE(head, lake.catalog().Resolve(options.branch));
    auto theirs = head.tree.tables.find(table);
    if (theirs == head.tree.tables.end()) return committed.status();  // dropped meanwhile
    if (theirs->second == info.metadata_location) continue;           // the head moved, the table did not
    // On top of theirs, so the table's history stays one line every later writer's base is on.
    SLUICE_ASSIGN_OR_RAISE(auto combined, WithContext(MergeAppends(info.metadata_location, theirs->second, location),
                                                      "importing into table '" + table + "'"));
    if (!combined) return committed.status();  // not only appends happened: a real conflict
    request.changes[table] = *combined;
  }
}

}  // namespace sluice
