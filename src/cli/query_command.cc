// sluice query: DuckDB over the tables a query names, read at a ref with pushdown.
#include <iostream>

#include "cli/commands.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/subprocess.h"
#include "exec/sql_pushdown.h"

namespace sluice::cli {
namespace {

struct QueryArgs {
  std::string sql, file, ref, namespace_name = "bauplan", arrow_out;
  int64_t max_rows = 10;
  bool all_rows = false;
};

Status Query(CliContext& context, const QueryArgs& args) {
  std::string sql = args.sql;
  if (!args.file.empty()) {
    SLUICE_ASSIGN_OR_RAISE(sql, ReadFile(args.file));
  }
  if (sql.empty()) return InvalidInput("no query: pass SQL as an argument or a file with -f");
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  std::string ref_text = args.ref.empty() ? context.ActiveBranch() : args.ref;
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake->catalog().Resolve(ref_text));
  SLUICE_ASSIGN_OR_RAISE(SqlAnalysis analysis, AnalyzeSql(sql));

  // Each table is scanned once into shared memory with only the columns the query names
  // (all of them when it uses '*'); DuckDB maps the result without copying.
  nlohmann::json inputs = nlohmann::json::array();
  std::string prefix = "queries/" + NewShortId(12) + "/";
  std::vector<std::string> paths;
  for (const auto& written : analysis.tables) {
    SLUICE_ASSIGN_OR_RAISE(std::string table, QualifyTableName(written, args.namespace_name));
    SLUICE_ASSIGN_OR_RAISE(TableInfo info, lake->GetTable(ref, table));
    TableReadOptions read;
    read.columns = SqlScanColumns(*info.snapshot.schema, analysis);
    SLUICE_ASSIGN_OR_RAISE(auto data, lake->ReadTable(ref, table, read));
    SLUICE_ASSIGN_OR_RAISE(std::string path, lake->objects().Put(prefix + table, *data));
    paths.push_back(path);
    inputs.push_back({{"path", path}, {"sql_names", std::vector<std::string>{written}}});
  }
  nlohmann::json task = {{"sql", sql},
                         {"inputs", inputs},
                         {"max_rows", args.all_rows ? nlohmann::json(nullptr) : nlohmann::json(args.max_rows)},
                         {"output", !args.arrow_out.empty() ? "arrow" : context.json() ? "json" : "tty"},
                         {"output_path", AbsolutePath(args.arrow_out)}};
  std::string task_path = lake->objects().root() + "/" + prefix + "task.json";
  SLUICE_RETURN_NOT_OK(WriteFileAtomic(task_path, task.dump()));
  SubprocessOptions options;
  options.argv = {PythonExecutable(), "-m", "sluice._query", task_path};
  options.env["PYTHONPATH"] = PythonPackageDir();
  options.on_stdout_line = [](const std::string& line) { std::cout << line << "\n"; };
  SLUICE_ASSIGN_OR_RAISE(SubprocessResult result, RunSubprocess(options));
  (void)lake->objects().ReleaseAll(prefix);
  if (result.exit_code != 0) {
    std::string message = result.stderr_text;
    while (!message.empty() && message.back() == '\n') message.pop_back();
    if (message.rfind("error: ", 0) == 0) message = message.substr(7);
    return InvalidInput("query failed: ", message.empty() ? "the query runner crashed" : message);
  }
  return Status::OK();
}

}  // namespace

void AddQueryCommand(CLI::App& app, CliContext& context, int* exit_code) {
  auto args = std::make_shared<QueryArgs>();
  auto* query = app.add_subcommand("query", "Run SQL over the tables at a ref (DuckDB)");
  query->add_option("sql", args->sql, "The query");
  query->add_option("-f,--file", args->file, "Read the query from a file");
  query->add_option("-r,--ref", args->ref, "Ref to read (default: the active branch)");
  query->add_option("-n,--namespace", args->namespace_name, "Namespace of bare table names");
  query->add_option("--max-rows", args->max_rows, "Rows to print (default 10)");
  query->add_flag("--all-rows", args->all_rows, "Print every row");
  query->add_option("--arrow-out", args->arrow_out, "Write the result as an Arrow IPC file here (for SDKs)");
  query->callback([&context, exit_code, args] { *exit_code = ReportError(Query(context, *args)); });
}

}  // namespace sluice::cli
