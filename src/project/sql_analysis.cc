#include "project/sql_analysis.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "common/config.h"
#include "common/subprocess.h"

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

Result<SqlAnalysis> AnalysisFromJson(const json& answer) {
  if (!answer.is_object()) return InvalidInput("an SQL analysis is a JSON object");
  if (answer.contains("error")) {
    int line = answer.value("line", 0);
    std::string message = answer["error"].is_string() ? answer["error"].get<std::string>() : "cannot parse the SQL";
    return line > 0 ? InvalidInput("line ", line, ": ", message) : InvalidInput(message);
  }
  try {
    SqlAnalysis analysis;
    analysis.tables = answer.at("tables").get<std::vector<std::string>>();
    for (const auto& column : answer.at("columns")) analysis.columns.insert(column.get<std::string>());
    analysis.uses_star = answer.value("uses_star", true);
    if (answer.contains("read_once") && answer["read_once"].is_array()) {
      for (const auto& table : answer["read_once"]) analysis.read_once.insert(table.get<std::string>());
    }
    if (answer.contains("filters") && answer["filters"].is_array()) {
      for (const auto& f : answer["filters"]) {
        SqlPushdownFilter filter;
        filter.table = f.at("table").get<std::string>();
        filter.column = f.at("column").get<std::string>();
        filter.op = f.at("op").get<std::string>();
        for (const auto& v : f.at("values")) {
          filter.values.emplace_back(v.at("type").get<std::string>(), v.at("text").get<std::string>());
        }
        analysis.filters.push_back(std::move(filter));
      }
    }
    return analysis;
  } catch (const json::exception& e) {
    return InvalidInput("a malformed SQL analysis: ", e.what());
  }
}

}  // namespace

Result<std::unique_ptr<SqlAnalyzer>> SqlAnalyzer::Start(const std::vector<std::string>& texts,
                                                        const std::string& python, const std::string& package_dir) {
  std::unique_ptr<SqlAnalyzer> analyzer(new SqlAnalyzer());
  analyzer->count_ = texts.size();
  if (texts.empty()) return analyzer;
  SubprocessOptions options;
  options.argv = {python, "-m", "sluice._sql_analysis"};
  options.env["PYTHONPATH"] = package_dir;
  options.env["PYTHONDONTWRITEBYTECODE"] = "1";
  options.timeout_seconds = 120;
  SLUICE_ASSIGN_OR_RAISE(analyzer->process_,
                         WithContext(Subprocess::Start(options), "starting the SQL parser (" + python + ")"));
  // The parser reads the whole list before it answers, so this write cannot dead-lock.
  SLUICE_RETURN_NOT_OK(analyzer->process_->WriteStdin(json(texts).dump()));
  return analyzer;
}

SqlAnalyzer::~SqlAnalyzer() = default;

Result<std::vector<Result<SqlAnalysis>>> SqlAnalyzer::Finish() {
  std::vector<Result<SqlAnalysis>> out;
  if (count_ == 0) return out;
  if (!process_) return Internal("SqlAnalyzer::Finish called twice");
  SLUICE_ASSIGN_OR_RAISE(SubprocessResult result, process_->Wait());
  process_.reset();
  if (result.exit_code != 0) {
    std::string message = result.stderr_text;
    while (!message.empty() && message.back() == '\n') message.pop_back();
    return Internal("the SQL parser (python -m sluice._sql_analysis) failed: ",
                    message.empty() ? "exit code " + std::to_string(result.exit_code) : message);
  }
  json answers;
  try {
    answers = json::parse(result.stdout_text);
  } catch (const json::exception& e) {
    return Internal("the SQL parser answered with invalid JSON: ", e.what());
  }
  if (!answers.is_array() || answers.size() != count_) {
    return Internal("the SQL parser answered ", answers.size(), " results for ", count_, " texts");
  }
  for (const auto& answer : answers) out.push_back(AnalysisFromJson(answer));
  return out;
}

Result<SqlAnalysis> SqlAnalysisFromJson(const std::string& text) {
  json answer = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (answer.is_discarded()) return InvalidInput("an SQL analysis that is not JSON");
  return AnalysisFromJson(answer);
}

Result<SqlAnalysis> AnalyzeSql(const std::string& sql) {
  SLUICE_ASSIGN_OR_RAISE(auto analyzer, SqlAnalyzer::Start({sql}, PythonExecutable(), PythonPackageDir()));
  SLUICE_ASSIGN_OR_RAISE(auto results, analyzer->Finish());
  return std::move(results.at(0));
}

Result<std::string> SubstituteParameters(const std::string& sql,
                                         const std::function<bool(const std::string&, std::string*)>& literal) {
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
