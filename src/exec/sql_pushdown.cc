#include "exec/sql_pushdown.h"

#include <map>
#include <set>

#include "common/name_match.h"
#include "data/filter_expression.h"
#include "data/table_scanner.h"

namespace sluice {

Result<std::vector<std::string>> SqlScanColumns(const arrow::Schema& schema, const SqlAnalysis& analysis) {
  std::map<std::string, std::string> used;  // folded -> as written
  for (const auto& name : analysis.columns) used.emplace(FoldCase(name), name);
  std::map<std::string, std::vector<std::string>> by_folded;
  for (const auto& field : schema.fields()) by_folded[FoldCase(field->name())].push_back(field->name());
  for (const auto& [folded, names] : by_folded) {
    if (names.size() > 1 && used.count(folded)) {
      std::string list;
      for (const auto& name : names) list += (list.empty() ? "'" : ", '") + name + "'";
      return WithHint(InvalidInput("column '", used[folded], "' is ambiguous: it matches ", list,
                                   ", and DuckDB SQL does not tell names apart by case"),
                      "read the table from a Python model with columns=[...] naming one exactly, "
                      "or rename one of the columns");
    }
  }
  std::vector<std::string> columns;
  if (analysis.uses_star) return columns;
  for (const auto& field : schema.fields()) {
    if (used.count(FoldCase(field->name()))) columns.push_back(field->name());
  }
  if (columns.empty() && schema.num_fields() > 0) columns.push_back(schema.field(0)->name());
  return columns;
}

namespace {

bool Compatible(const std::string& literal_type, const arrow::DataType& column) {
  using arrow::Type;
  switch (column.id()) {
    case Type::STRING:
    case Type::LARGE_STRING:
      return literal_type == "VARCHAR";
    case Type::INT8:
    case Type::INT16:
    case Type::INT32:
    case Type::INT64:
    case Type::UINT8:
    case Type::UINT16:
    case Type::UINT32:
    case Type::UINT64:
      return literal_type == "INTEGER";
    case Type::DOUBLE:
      return literal_type == "INTEGER" || literal_type == "DOUBLE";
    case Type::TIMESTAMP:
    case Type::DATE32:
      return literal_type == "TIMESTAMP" || literal_type == "DATE";
    default:
      return false;
  }
}

std::string Quoted(const std::string& text, char quote) {
  std::string out(1, quote);
  for (char c : text) {
    out += c;
    if (c == quote) out += quote;
  }
  return out + quote;
}

}  // namespace

std::string SqlScanFilter(const arrow::Schema& schema, const SqlAnalysis& analysis, const std::string& table) {
  std::string predicate;
  for (const auto& filter : analysis.filters) {
    if (filter.table != table || filter.values.empty()) continue;
    auto resolved = ResolveColumns(schema, {filter.column});
    if (!resolved.ok() || resolved->size() != 1) continue;
    auto field = schema.GetFieldByName(resolved->front());
    if (!field) continue;
    bool compatible = true;
    std::vector<std::string> literals;
    for (const auto& [type, text] : filter.values) {
      compatible = compatible && Compatible(type, *field->type());
      literals.push_back(type == "INTEGER" || type == "DOUBLE" ? text : Quoted(text, '\''));
    }
    if (!compatible) continue;
    std::string conjunct = Quoted(field->name(), '"') + " ";
    if (filter.op == "in") {
      conjunct += "IN (";
      for (size_t i = 0; i < literals.size(); ++i) conjunct += (i ? ", " : "") + literals[i];
      conjunct += ")";
    } else if (literals.size() == 1 && (filter.op == "=" || filter.op == "<>" || filter.op == "<" ||
                                        filter.op == "<=" || filter.op == ">" || filter.op == ">=")) {
      conjunct += filter.op + " " + literals[0];
    } else {
      continue;
    }
    if (!ParseFilter(conjunct, schema).ok()) continue;  // what our filter cannot read, DuckDB alone applies
    predicate += (predicate.empty() ? "" : " AND ") + conjunct;
  }
  return predicate;
}

}  // namespace sluice
