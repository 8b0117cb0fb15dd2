#include "exec/table_creation.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

#include "catalog/table_name.h"
#include "common/ids.h"
#include "data/source_reader.h"
#include "format/partition_transform.h"

namespace sluice {
namespace {

using nlohmann::json;

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string Trim(const std::string& text) {
  size_t begin = text.find_first_not_of(" \t\r\n");
  if (begin == std::string::npos) return "";
  return text.substr(begin, text.find_last_not_of(" \t\r\n") - begin + 1);
}

// ---- Types as the plan writes them (bauplan's names) -------------------------------------

// The plan type of a source column. Tables store timestamps in microseconds and small
// integers as int, as Iceberg does.
Result<json> PlanType(const arrow::Field& field) {
  const auto& type = *field.type();
  switch (type.id()) {
    case arrow::Type::BOOL:
      return json{{"datatype", "boolean"}};
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::UINT8:
    case arrow::Type::UINT16:
      return json{{"datatype", "int"}};
    case arrow::Type::INT64:
    case arrow::Type::UINT32:
    case arrow::Type::UINT64:
      return json{{"datatype", "long"}};
    case arrow::Type::HALF_FLOAT:
    case arrow::Type::FLOAT:
      return json{{"datatype", "float"}};
    case arrow::Type::DOUBLE:
      return json{{"datatype", "double"}};
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW:
      return json{{"datatype", "string"}};
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::BINARY_VIEW:
      return json{{"datatype", "binary"}};
    case arrow::Type::DATE32:
    case arrow::Type::DATE64:
      return json{{"datatype", "date"}};
    case arrow::Type::TIME32:
    case arrow::Type::TIME64:
      return json{{"datatype", "time"}};
    case arrow::Type::TIMESTAMP: {
      const auto& ts = static_cast<const arrow::TimestampType&>(type);
      json out{{"datatype", "timestamp"}, {"unit", "us"}};
      if (!ts.timezone().empty()) out["timezone"] = ts.timezone();
      return out;
    }
    case arrow::Type::DECIMAL128: {
      const auto& d = static_cast<const arrow::Decimal128Type&>(type);
      return json{{"datatype", "decimal"}, {"precision", d.precision()}, {"scale", d.scale()}};
    }
    default:
      return InvalidInput("column '", field.name(), "' has type ", type.ToString(), ", which a table cannot hold");
  }
}

std::string PlanTypeName(const json& type) {
  std::string name = type.value("datatype", "?");
  if (name == "timestamp" && type.contains("timezone")) return name + "(" + type["timezone"].get<std::string>() + ")";
  if (name == "decimal") return name + "(" + type["precision"].dump() + "," + type["scale"].dump() + ")";
  return name;
}

int IntOf(const json& value, int fallback) {
  if (value.is_number_integer()) return value.get<int>();
  if (value.is_string()) {
    try {
      return std::stoi(value.get<std::string>());
    } catch (const std::exception&) {
    }
  }
  return fallback;
}

Result<std::shared_ptr<arrow::DataType>> ArrowFromPlanType(const json& type, const std::string& column) {
  std::string name = type.is_object() ? Lower(type.value("datatype", "")) : "";
  if (name == "boolean" || name == "bool") return arrow::boolean();
  if (name == "int" || name == "integer") return arrow::int32();
  if (name == "long") return arrow::int64();
  if (name == "float") return arrow::float32();
  if (name == "double") return arrow::float64();
  if (name == "string") return arrow::utf8();
  if (name == "binary") return arrow::binary();
  if (name == "date") return arrow::date32();
  if (name == "time") return arrow::time64(arrow::TimeUnit::MICRO);
  if (name == "timestamp") {
    std::string zone =
        type.contains("timezone") && type["timezone"].is_string() ? type["timezone"].get<std::string>() : "";
    return arrow::timestamp(arrow::TimeUnit::MICRO, zone);
  }
  if (name == "decimal") {
    int precision = IntOf(type.value("precision", json()), 0), scale = IntOf(type.value("scale", json()), -1);
    if (precision < 1 || precision > 38 || scale < 0 || scale > precision) {
      return InvalidInput("column '", column, "': decimal needs a precision (1-38) and a scale");
    }
    return arrow::decimal128(precision, scale);
  }
  return WithHint(InvalidInput("column '", column, "': unknown datatype ", type.dump()),
                  "use one of boolean, int, long, float, double, string, binary, date, time, timestamp, decimal");
}

// ---- YAML <-> JSON ------------------------------------------------------------------------

void Emit(YAML::Emitter& out, const json& value) {
  if (value.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [key, item] : value.items()) {
      out << YAML::Key << key << YAML::Value;
      Emit(out, item);
    }
    out << YAML::EndMap;
  } else if (value.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& item : value) Emit(out, item);
    out << YAML::EndSeq;
  } else if (value.is_string()) {
    out << value.get<std::string>();
  } else if (value.is_boolean()) {
    out << value.get<bool>();
  } else if (value.is_number_integer()) {
    out << value.get<int64_t>();
  } else if (value.is_number()) {
    out << value.get<double>();
  } else {
    out << YAML::Null;
  }
}

// A plan comes from a client, possibly a remote one: its text and what it expands to are
// bounded. YAML aliases share one node, so a few lines of nested aliases ("billion laughs")
// would expand to billions of values; the node budget counts every expanded value.
constexpr size_t kMaxPlanBytes = 16 << 20;
constexpr size_t kMaxPlanNodes = 1 << 20;

// Scalars stay strings (the reader interprets them where it knows their type). False when
// the document expands past `budget` values.
bool FromYaml(const YAML::Node& node, size_t& budget, json& out) {
  if (budget == 0) return false;
  --budget;
  if (node.IsMap()) {
    out = json::object();
    for (const auto& entry : node) {
      if (!FromYaml(entry.second, budget, out[entry.first.as<std::string>()])) return false;
    }
  } else if (node.IsSequence()) {
    out = json::array();
    for (const auto& item : node) {
      if (!FromYaml(item, budget, out.emplace_back())) return false;
    }
  } else if (node.IsScalar()) {
    out = node.as<std::string>();
  } else {
    out = nullptr;
  }
  return true;
}

bool BoolOf(const json& value) {
  if (value.is_boolean()) return value.get<bool>();
  return value.is_string() && Lower(value.get<std::string>()) == "true";
}

// ---- Columns and partition specs ----------------------------------------------------------

Result<std::string> ResolveColumn(const arrow::Schema& schema, const std::string& name, const std::string& what) {
  if (schema.GetFieldIndex(name) >= 0) return name;
  std::vector<std::string> matches;
  for (const auto& field : schema.fields()) {
    if (Lower(field->name()) == Lower(name)) matches.push_back(field->name());
  }
  if (matches.size() == 1) return matches.front();
  std::string available;
  for (const auto& field : schema.fields()) available += (available.empty() ? "" : ", ") + field->name();
  if (matches.empty()) return InvalidInput(what, ": no column '", name, "' (columns: ", available, ")");
  return InvalidInput(what, ": '", name, "' is ambiguous between ", matches[0], " and ", matches[1]);
}

std::vector<std::string> SplitTopLevel(const std::string& text) {
  std::vector<std::string> parts;
  std::string current;
  int depth = 0;
  for (char c : text) {
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (c == ',' && depth == 0) {
      parts.push_back(Trim(current));
      current.clear();
    } else {
      current += c;
    }
  }
  if (!Trim(current).empty() || !parts.empty()) parts.push_back(Trim(current));
  return parts;
}

bool IsTemporal(const arrow::DataType& type) {
  return type.id() == arrow::Type::TIMESTAMP || type.id() == arrow::Type::DATE32 || type.id() == arrow::Type::DATE64;
}

Result<PartitionFieldInfo> MakePartitionField(const arrow::Schema& schema, const std::string& transform,
                                              const std::string& column, int param, const std::string& item) {
  std::string what = "partition '" + item + "'";
  SLUICE_ASSIGN_OR_RAISE(std::string resolved, ResolveColumn(schema, column, what));
  const auto& type = *schema.GetFieldByName(resolved)->type();
  PartitionFieldInfo field;
  field.source_column = resolved;
  if (transform == "identity") {
    field.transform = "identity";
    field.name = resolved;
  } else if (transform == "year" || transform == "month" || transform == "day" || transform == "hour") {
    bool ok = transform == "hour" ? type.id() == arrow::Type::TIMESTAMP : IsTemporal(type);
    if (!ok) {
      return InvalidInput(what, ": ", transform, "() needs a ", transform == "hour" ? "timestamp" : "date or timestamp",
                          " column, '", resolved, "' is ", type.ToString());
    }
    field.transform = transform;
    field.name = resolved + "_" + transform;
  } else if (transform == "bucket" || transform == "truncate") {
    if (param < 1) return InvalidInput(what, ": ", transform, " needs a positive width, e.g. ", transform, "(16, col)");
    field.transform = transform + "[" + std::to_string(param) + "]";
    field.name = resolved + (transform == "bucket" ? "_bucket" : "_trunc");
  } else {
    return WithHint(
        InvalidInput(what, ": unknown transform '", transform, "'"),
        "use a column name or year(col), month(col), day(col), hour(col), bucket(N, col), truncate(W, col)");
  }
  SLUICE_ASSIGN_OR_RAISE(auto checked, WithContext(PartitionTransform::Parse(field.transform), what));
  SLUICE_RETURN_NOT_OK(WithContext(checked.CheckSource(type, resolved), what));
  return field;
}

// ---- The plan -------------------------------------------------------------------------------

// The name the table is created under (an existing table's stored name when `written` names it
// in another case, TableNameForWrite); AlreadyExists when it exists and !replace.
Result<std::string> CheckCanCreate(Lakehouse& lake, const std::string& branch, const std::string& written, bool replace,
                                   ResolvedRef* head) {
  SLUICE_RETURN_NOT_OK(Catalog::CheckWritable(branch, "new tables"));
  SLUICE_ASSIGN_OR_RAISE(*head, lake.catalog().Resolve(branch));
  if (head->branch.empty()) return InvalidInput("ref '", branch, "' is not a branch");
  SLUICE_ASSIGN_OR_RAISE(std::string table, TableNameForWrite(head->tree, written));
  if (head->tree.tables.count(table) && !replace) {
    return WithHint(
        AlreadyExists("table '", table, "' already exists on branch '", branch, "'"),
        "pass --replace to replace it, --if-not-exists to keep it, or use `sluice table import` to add rows");
  }
  return table;
}

Result<TableCreateResult> CreateFromSchema(Lakehouse& lake, const std::string& written, const std::string& branch,
                                           const std::shared_ptr<arrow::Schema>& schema,
                                           const std::vector<PartitionFieldInfo>& partitions,
                                           const std::vector<std::string>& files, bool replace,
                                           const std::string& author, const std::string& message) {
  ResolvedRef head;
  SLUICE_ASSIGN_OR_RAISE(std::string table, CheckCanCreate(lake, branch, written, replace, &head));
  TableCreateResult result;
  result.branch = branch;
  result.created = true;
  result.replaced = head.tree.tables.count(table) > 0;
  result.files = files;
  SLUICE_ASSIGN_OR_RAISE(auto empty, arrow::Table::MakeEmpty(schema));
  TableWriteOptions write;
  write.mode = WriteMode::kReplace;
  write.table_location = lake.NewTableLocation(table);
  write.partition_spec = partitions;
  write.operation_summary = "create";
  SLUICE_ASSIGN_OR_RAISE(std::string location,
                         WithContext(WriteTableSnapshot(empty, write), "creating table '" + table + "'"));
  CommitRequest request;
  request.branch = branch;
  request.changes[table] = location;
  request.namespaces_to_add.insert(table.substr(0, table.find('.')));
  request.author = author;
  request.message = message;
  request.properties["sluice.operation"] = result.replaced ? "replace_table" : "create_table";
  request.expected_head = head.commit.id;
  SLUICE_ASSIGN_OR_RAISE(result.commit, lake.catalog().CommitChanges(request));
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef after, lake.catalog().Resolve(branch));
  SLUICE_ASSIGN_OR_RAISE(result.table, lake.GetTable(after, table));
  return result;
}

}  // namespace

Result<std::vector<PartitionFieldInfo>> ParsePartitionSpec(const std::string& text, const arrow::Schema& schema) {
  std::vector<PartitionFieldInfo> out;
  for (const auto& item : SplitTopLevel(text)) {
    if (item.empty()) return InvalidInput("partitioned_by '", text, "': empty partition field");
    auto open = item.find('(');
    if (open == std::string::npos) {
      SLUICE_ASSIGN_OR_RAISE(auto field, MakePartitionField(schema, "identity", item, 0, item));
      out.push_back(field);
      continue;
    }
    if (item.back() != ')') return InvalidInput("partition '", item, "': expected transform(column)");
    std::string transform = Lower(Trim(item.substr(0, open)));
    auto args = SplitTopLevel(item.substr(open + 1, item.size() - open - 2));
    std::string column;
    int param = 0;
    if (args.size() == 1) {
      column = args[0];
    } else if (args.size() == 2) {
      // bucket(16, col) as Spark and Iceberg write it; bucket(col, 16) is accepted too.
      bool first_is_number = !args[0].empty() && std::all_of(args[0].begin(), args[0].end(), ::isdigit);
      column = first_is_number ? args[1] : args[0];
      std::string number = first_is_number ? args[0] : args[1];
      if (number.empty() || !std::all_of(number.begin(), number.end(), ::isdigit) || number.size() > 6) {
        return InvalidInput("partition '", item, "': '", number, "' is not a width");
      }
      param = std::stoi(number);
    } else {
      return InvalidInput("partition '", item, "': expected transform(column)");
    }
    SLUICE_ASSIGN_OR_RAISE(auto field, MakePartitionField(schema, transform, column, param, item));
    for (const auto& other : out) {
      if (other.name == field.name) return InvalidInput("partition '", item, "' is given twice");
    }
    out.push_back(field);
  }
  return out;
}

Result<TablePlan> PlanTableCreation(Lakehouse& lake, const TableCreateOptions& options) {
  ResolvedRef head;
  SLUICE_ASSIGN_OR_RAISE(std::string table,
                         CheckCanCreate(lake, options.branch, options.table, options.replace, &head));
  TablePlan plan;
  SLUICE_ASSIGN_OR_RAISE(SourceAccess access, lake.source_access());
  SLUICE_ASSIGN_OR_RAISE(plan.files, ListSourceFiles(options.search_uri, access));
  // Columns in first-seen order, each with its distinct plan types in first-seen order.
  std::vector<std::string> order;
  std::map<std::string, std::vector<json>> types;
  std::map<std::string, std::shared_ptr<arrow::Field>> first_field;
  for (const auto& file : plan.files) {
    SLUICE_ASSIGN_OR_RAISE(auto schema, ReadSourceSchema(file));
    for (const auto& field : schema->fields()) {
      SLUICE_ASSIGN_OR_RAISE(json type, WithContext(PlanType(*field), "'" + file + "'"));
      if (!types.count(field->name())) {
        order.push_back(field->name());
        first_field[field->name()] = field;
      }
      auto& seen = types[field->name()];
      if (std::find(seen.begin(), seen.end(), type) == seen.end()) seen.push_back(type);
    }
  }
  json detected = json::array();
  json conflicts = json::array();
  arrow::FieldVector fields;
  for (const auto& column : order) {
    const auto& seen = types[column];
    json entry = {{"column_name", column}, {"src_datatypes", seen}, {"dst_datatype", seen}};
    detected.push_back(entry);
    if (seen.size() > 1) {
      SchemaConflict conflict{column, {}};
      for (const auto& t : seen) conflict.types.push_back(PlanTypeName(t));
      std::string choices;
      for (const auto& t : conflict.types) choices += (choices.empty() ? "" : " or ") + t;
      conflicts.push_back({{"column_with_conflict", column},
                           {"reconcile_step", "In the dst_datatype, please choose between (" + choices + ")"}});
      plan.conflicts.push_back(std::move(conflict));
    }
    SLUICE_ASSIGN_OR_RAISE(auto arrow_type, ArrowFromPlanType(seen.front(), column));
    fields.push_back(arrow::field(column, arrow_type));
  }
  json partitions = json::array();
  if (!Trim(options.partitioned_by).empty()) {
    SLUICE_ASSIGN_OR_RAISE(auto spec, ParsePartitionSpec(options.partitioned_by, arrow::Schema(fields)));
    for (const auto& field : spec) {
      std::string transform = field.transform;
      json t = {{"name", transform.substr(0, transform.find('['))}};
      if (transform.find('[') != std::string::npos) {
        t["param"] = std::stoi(transform.substr(transform.find('[') + 1));
      }
      partitions.push_back({{"from_column_name", field.source_column}, {"transform", t}});
    }
  }
  auto dot = table.find('.');
  json plan_state = {{"plan_id", NewUuid()},
                     {"branch_name", options.branch},
                     {"table_identifier", {table.substr(0, dot), table.substr(dot + 1)}},
                     {"table_replace", options.replace}};
  if (!Trim(options.partitioned_by).empty()) plan_state["table_partitioned_by"] = options.partitioned_by;
  // nlohmann's object keeps keys sorted; bauplan's order (plan_state, schema_info, files) is
  // also alphabetical, so the YAML reads the same.
  plan.doc = {{"plan_state", plan_state},
              {"schema_info", {{"conflicts", conflicts}, {"detected_schemas", detected}, {"partitions", partitions}}},
              {"files_to_be_imported", plan.files}};
  YAML::Emitter out;
  Emit(out, plan.doc);
  plan.yaml = std::string(out.c_str()) + "\n";
  return plan;
}

namespace {

Result<TableCreateResult> ApplyPlan(Lakehouse& lake, const std::string& plan_yaml, const std::string& branch,
                                    const std::string& author, const std::string& message) {
  if (plan_yaml.size() > kMaxPlanBytes) {
    return InvalidInput("the plan is ", plan_yaml.size(), " bytes, more than a plan may be (", kMaxPlanBytes, ")");
  }
  json doc;
  try {
    size_t budget = kMaxPlanNodes;
    if (!FromYaml(YAML::Load(plan_yaml), budget, doc)) {
      return WithHint(InvalidInput("the plan expands to more than ", kMaxPlanNodes, " values"),
                      "write the plan without YAML aliases (*name), as `sluice table create-plan` does");
    }
  } catch (const YAML::Exception& e) {
    return InvalidInput("the plan is not valid YAML: ", e.what());
  }
  auto malformed = [](const std::string& what) {
    return WithHint(InvalidInput("malformed plan: ", what), "start from the YAML `sluice table create-plan` writes");
  };
  if (!doc.is_object() || !doc.contains("plan_state") || !doc["plan_state"].is_object()) {
    return malformed("no plan_state");
  }
  const json& state = doc["plan_state"];
  const json& ident = state.value("table_identifier", json());
  if (!ident.is_array() || ident.size() != 2 || !ident[0].is_string() || !ident[1].is_string()) {
    return malformed("plan_state.table_identifier must be [namespace, table]");
  }
  SLUICE_ASSIGN_OR_RAISE(
      std::string table,
      QualifiedTableName(ident[0].get<std::string>() + "." + ident[1].get<std::string>(), "bauplan"));
  std::string target = branch;
  if (target.empty() && state.contains("branch_name") && state["branch_name"].is_string()) {
    target = state["branch_name"].get<std::string>();
  }
  if (target.empty()) return malformed("no branch: set plan_state.branch_name or pass a branch");
  bool replace = BoolOf(state.value("table_replace", json(false)));

  std::vector<std::string> files;
  SLUICE_ASSIGN_OR_RAISE(SourceAccess access, lake.source_access());
  for (const auto& file : doc.value("files_to_be_imported", json::array())) {
    if (!file.is_string()) return malformed("files_to_be_imported must be a list of paths");
    SLUICE_ASSIGN_OR_RAISE(std::string checked, WithContext(CheckSourceFile(file.get<std::string>(), access), "plan"));
    files.push_back(checked);
  }
  const json& info = doc.value("schema_info", json());
  if (!info.is_object() || !info.contains("detected_schemas") || !info["detected_schemas"].is_array()) {
    return malformed("no schema_info.detected_schemas");
  }
  arrow::FieldVector fields;
  for (const auto& column : info["detected_schemas"]) {
    std::string name = column.value("column_name", json("")).is_string() ? column.value("column_name", "") : "";
    if (name.empty()) return malformed("a detected_schemas entry has no column_name");
    const json& dst = column.value("dst_datatype", json());
    if (!dst.is_array() || dst.size() != 1) {
      std::vector<std::string> names;
      if (dst.is_array()) {
        for (const auto& t : dst) names.push_back(PlanTypeName(t));
      }
      std::string choices;
      for (const auto& n : names) choices += (choices.empty() ? "" : ", ") + n;
      return WithHint(InvalidInput("column '", name, "' has ", dst.is_array() ? std::to_string(dst.size()) : "no",
                                   " dst_datatype entries", choices.empty() ? "" : " (" + choices + ")",
                                   ": the plan still has a schema conflict"),
                      "leave exactly one entry under the column's dst_datatype, then apply again");
    }
    for (const auto& f : fields) {
      if (f->name() == name) return malformed("column '" + name + "' is listed twice");
    }
    SLUICE_ASSIGN_OR_RAISE(auto type, ArrowFromPlanType(dst[0], name));
    fields.push_back(arrow::field(name, type));
  }
  if (fields.empty()) return malformed("the plan has no columns");
  auto schema = arrow::schema(fields);
  std::vector<PartitionFieldInfo> partitions;
  for (const auto& p : info.value("partitions", json::array())) {
    std::string column = p.value("from_column_name", json("")).is_string() ? p.value("from_column_name", "") : "";
    const json& t = p.value("transform", json());
    std::string transform = t.is_object() && t.value("name", json("")).is_string() ? Lower(t.value("name", "")) : "";
    if (column.empty() || transform.empty()) return malformed("a partition needs from_column_name and transform.name");
    int param = t.contains("param") ? IntOf(t["param"], 0) : 0;
    SLUICE_ASSIGN_OR_RAISE(auto field,
                           MakePartitionField(*schema, transform, column, param, transform + "(" + column + ")"));
    partitions.push_back(field);
  }
  return CreateFromSchema(lake, table, target, schema, partitions, files, replace, author,
                          message.empty() ? "create table " + table + " from a plan" : message);
}

}  // namespace

Result<TableCreateResult> ApplyTablePlan(Lakehouse& lake, const std::string& plan_yaml, const std::string& branch,
                                         const std::string& author) {
  return ApplyPlan(lake, plan_yaml, branch, author, "");
}

Result<TableCreateResult> CreateTable(Lakehouse& lake, const TableCreateOptions& options) {
  if (options.if_not_exists) {
    SLUICE_ASSIGN_OR_RAISE(ResolvedRef head, lake.catalog().Resolve(options.branch));
    SLUICE_ASSIGN_OR_RAISE(std::string table, TableNameForWrite(head.tree, options.table));
    if (head.tree.tables.count(table)) {
      TableCreateResult kept;
      kept.branch = options.branch;
      SLUICE_ASSIGN_OR_RAISE(kept.table, lake.GetTable(head, table));
      return kept;
    }
  }
  SLUICE_ASSIGN_OR_RAISE(TablePlan plan, PlanTableCreation(lake, options));
  if (!plan.can_auto_apply()) {
    std::string detail;
    for (const auto& c : plan.conflicts) {
      std::string types;
      for (const auto& t : c.types) types += (types.empty() ? "" : " vs ") + t;
      detail += (detail.empty() ? "" : "; ") + c.column + " (" + types + ")";
    }
    return WithHint(InvalidInput("plan has schema conflicts and cannot be auto-applied: ", detail),
                    "use `sluice table create-plan` and `sluice table create-plan-apply` instead");
  }
  return ApplyPlan(lake, plan.yaml, options.branch, options.author,
                   "create table " + options.table + " from " + options.search_uri);
}

}  // namespace sluice
