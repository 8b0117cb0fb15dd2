// Creating a table from files, as bauplan does it: a *plan* infers the schema from the files
// (each column with the types the files give it; a column with several types is a conflict),
// and *applying* the plan creates the table with that schema and NO rows. `table create` is
// the two in one call and fails when the plan has conflicts; `table create-plan` hands the
// plan out as bauplan's YAML so a user can pick one type per conflicting column, and
// `table create-plan-apply` applies the edited YAML. Rows come later, with `table import`
// (table_import.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "exec/lakehouse.h"

namespace sluice {

struct TableCreateOptions {
  std::string table;           // "ns.table", qualified and valid
  std::string branch;          // the branch to write
  std::string search_uri;      // files to infer the schema from (source_reader.h rules)
  std::string partitioned_by;  // "day(tpep_pickup_datetime), PULocationID"; empty = none
  bool replace = false;        // replace an existing table (a new, empty incarnation)
  bool if_not_exists = false;  // an existing table is kept and reported, not an error
  std::string author;
};

// A column whose files disagree on its type.
struct SchemaConflict {
  std::string column;
  std::vector<std::string> types;  // plan type names ("long", "double", ...), first seen first
};

struct TablePlan {
  nlohmann::json doc;  // the plan in bauplan's layout (plan_state, schema_info, ...)
  std::string yaml;    // `doc` as YAML text
  std::vector<SchemaConflict> conflicts;
  std::vector<std::string> files;
  bool can_auto_apply() const { return conflicts.empty(); }
};

struct TableCreateResult {
  TableInfo table;  // the table after the operation
  std::string branch;
  bool created = false;  // false: it existed and if_not_exists kept it
  bool replaced = false;
  std::vector<std::string> files;
  std::optional<Commit> commit;
};

// Infers the plan; writes nothing. AlreadyExists when the table exists and !replace;
// InvalidInput for a bad partition spec (naming the column or transform) or a column type
// tables cannot hold.
Result<TablePlan> PlanTableCreation(Lakehouse& lake, const TableCreateOptions& options);

// Creates the empty table a plan (YAML text, possibly edited) describes, in one commit on
// `branch` (empty: the plan's branch_name). InvalidInput names a column that still has several
// dst_datatypes, an unknown type, a malformed plan, or a listed file outside what imports may
// read (source_reader.h); nothing is written then.
Result<TableCreateResult> ApplyTablePlan(Lakehouse& lake, const std::string& plan_yaml, const std::string& branch,
                                         const std::string& author);

// Plan and apply in one call. InvalidInput naming the conflicting columns when the plan cannot
// be applied as is (hint: table create-plan).
Result<TableCreateResult> CreateTable(Lakehouse& lake, const TableCreateOptions& options);

// Parses "day(col), zone, bucket(16, id)" against a schema: one field per item, columns
// resolved exactly, else by a unique case-insensitive match. InvalidInput names the item.
Result<std::vector<PartitionFieldInfo>> ParsePartitionSpec(const std::string& text, const arrow::Schema& schema);

}  // namespace sluice
