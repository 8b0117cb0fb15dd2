#include "project/sql_analysis.h"

#include <pg_query.h>

#include <cctype>
#include <nlohmann/json.hpp>

namespace sluice {
namespace {

using nlohmann::json;

bool IsIdentStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsIdentChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }

// Calls `visit(pos)` for every position of `sql` outside string literals, quoted identifiers
// and comments; `visit` returns how many characters it consumed (0 = just this one).
template <typename Visit>
void ForEachCodePosition(const std::string& sql, Visit&& visit) {
  size_t i = 0;
  while (i < sql.size()) {
    char c = sql[i];
    if (c == '\'' || c == '"') {
      size_t end = i + 1;
      while (end < sql.size()) {
        if (sql[end] == c) {
          if (end + 1 < sql.size() && sql[end + 1] == c) {
            end += 2;
            continue;
          }
          break;
        }
        ++end;
      }
      i = end + 1;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i < sql.size() && sql[i] != '\n') ++i;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      size_t end = sql.find("*/", i + 2);
      i = end == std::string::npos ? sql.size() : end + 2;
    } else {
      size_t consumed = visit(i);
      i += consumed ? consumed : 1;
    }
  }
}

// The SQL as the PostgreSQL parser accepts it: `$name` replaced by a literal of the same
// length (so error positions stay right) and DuckDB's trailing comma before FROM dropped.
std::string ForPostgresParser(std::string sql) {
  std::string original = sql;
  ForEachCodePosition(original, [&](size_t pos) -> size_t {
    char c = original[pos];
    if (c == '$' && pos + 1 < original.size() && IsIdentStart(original[pos + 1])) {
      size_t end = pos + 1;
      while (end < original.size() && IsIdentChar(original[end])) ++end;
      sql[pos] = '0';
      for (size_t k = pos + 1; k < end; ++k) sql[k] = ' ';
      return end - pos;
    }
    if (c == ',') {
      size_t next = pos + 1;
      while (next < original.size() && std::isspace(static_cast<unsigned char>(original[next]))) ++next;
      if (next + 4 <= original.size()) {
        std::string word = original.substr(next, 4);
        for (auto& ch : word) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        bool boundary = next + 4 == original.size() || !IsIdentChar(original[next + 4]);
        if (word == "from" && boundary) sql[pos] = ' ';
      }
    }
    return 0;
  });
  return sql;
}

void Walk(const json& node, std::vector<std::pair<int, std::string>>* tables, std::set<std::string>* ctes,
          SqlAnalysis* out) {
  if (node.is_array()) {
    for (const auto& child : node) Walk(child, tables, ctes, out);
    return;
  }
  if (!node.is_object()) return;
  if (node.contains("RangeVar")) {
    const auto& range = node["RangeVar"];
    std::string name = range.value("relname", "");
    if (range.contains("schemaname")) name = range["schemaname"].get<std::string>() + "." + name;
    tables->emplace_back(range.value("location", 0), name);
    return;
  }
  if (node.contains("CommonTableExpr")) ctes->insert(node["CommonTableExpr"].value("ctename", ""));
  if (node.contains("ColumnRef")) {
    const auto& fields = node["ColumnRef"].value("fields", json::array());
    if (!fields.empty()) {
      const auto& last = fields.back();
      if (last.contains("A_Star")) {
        out->uses_star = true;
      } else if (last.contains("String")) {
        out->columns.insert(last["String"].value("sval", ""));
      }
    }
    return;
  }
  for (const auto& [_, child] : node.items()) Walk(child, tables, ctes, out);
}

}  // namespace

Result<SqlAnalysis> AnalyzeSql(const std::string& sql) {
  std::string parseable = ForPostgresParser(sql);
  PgQueryParseResult result = pg_query_parse(parseable.c_str());
  if (result.error) {
    std::string message = result.error->message;
    int cursor = result.error->cursorpos;
    pg_query_free_parse_result(result);
    // "at end of input" points past trailing blank lines: report the last line with text.
    int end = std::min<int>(cursor - 1, static_cast<int>(sql.find_last_not_of(" \t\r\n")));
    int line = 1;
    for (int i = 0; i < end && i < static_cast<int>(sql.size()); ++i) line += sql[i] == '\n';
    return InvalidInput("line ", line, ": ", message);
  }
  json tree = json::parse(result.parse_tree);
  pg_query_free_parse_result(result);
  SqlAnalysis out;
  std::vector<std::pair<int, std::string>> tables;  // (position, name): JSON keys are sorted
  std::set<std::string> ctes;
  Walk(tree, &tables, &ctes, &out);
  std::sort(tables.begin(), tables.end());
  if (tree.value("stmts", json::array()).size() != 1) {
    return InvalidInput("expected exactly one SQL statement");
  }
  for (const auto& [_, table] : tables) {
    if (ctes.count(table)) continue;
    if (std::find(out.tables.begin(), out.tables.end(), table) == out.tables.end()) {
      out.tables.push_back(table);
    }
  }
  return out;
}

Result<std::string> SubstituteParameters(
    const std::string& sql, const std::function<bool(const std::string&, std::string*)>& literal) {
  std::string out;
  size_t copied = 0;
  Status error;
  ForEachCodePosition(sql, [&](size_t pos) -> size_t {
    if (sql[pos] != '$' || pos + 1 >= sql.size() || !IsIdentStart(sql[pos + 1])) return 0;
    size_t end = pos + 1;
    while (end < sql.size() && IsIdentChar(sql[end])) ++end;
    std::string name = sql.substr(pos + 1, end - pos - 1);
    std::string value;
    if (!literal(name, &value)) {
      if (error.ok()) error = InvalidInput("unknown parameter '$", name, "'");
      return end - pos;
    }
    out += sql.substr(copied, pos - copied) + value;
    copied = end;
    return end - pos;
  });
  SLUICE_RETURN_NOT_OK(error);
  out += sql.substr(copied);
  return out;
}

}  // namespace sluice
