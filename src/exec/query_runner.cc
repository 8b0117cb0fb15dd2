#include "exec/query_runner.h"

#include "common/config.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/subprocess.h"
#include "exec/sql_pushdown.h"

namespace sluice {

Status RunQuery(Lakehouse& lake, const QueryRequest& request, const std::function<void(const std::string&)>& on_line) {
  if (request.sql.empty()) return InvalidInput("no query: pass SQL as an argument or a file with -f");
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake.catalog().Resolve(request.ref));
  // The query process starts now and loads pyarrow and DuckDB while DuckDB's parser finds the
  // tables and they are scanned; it reads its task's path from stdin. Returning early kills it.
  SubprocessOptions options;
  options.argv = {PythonExecutable(), "-m", "sluice._query"};
  options.env["PYTHONPATH"] = PythonPackageDir();
  options.on_stdout_line = on_line;
  SLUICE_ASSIGN_OR_RAISE(auto runner, Subprocess::Start(options));
  SLUICE_ASSIGN_OR_RAISE(SqlAnalysis analysis, AnalyzeSql(request.sql));

  // Each table is scanned once into shared memory with only the columns the query names
  // (all of them when it uses '*'); DuckDB maps the result without copying.
  nlohmann::json inputs = nlohmann::json::array();
  std::string prefix = "queries/" + NewShortId(12) + "/";
  // Whatever happens from here on, the query's objects go back to the store.
  struct Release {
    Lakehouse& lake;
    const std::string& prefix;
    ~Release() { (void)lake.objects().ReleaseAll(prefix); }
  } release{lake, prefix};
  for (const auto& written : analysis.tables) {
    SLUICE_ASSIGN_OR_RAISE(std::string table, QualifyTableName(written, request.namespace_name));
    SLUICE_ASSIGN_OR_RAISE(TableInfo info, lake.GetTable(ref, table));
    TableReadOptions read;
    SLUICE_ASSIGN_OR_RAISE(read.columns,
                           WithContext(SqlScanColumns(*info.snapshot.schema, analysis), "table '" + info.name + "'"));
    SLUICE_ASSIGN_OR_RAISE(auto data, lake.ReadTable(ref, info.name, read));
    SLUICE_ASSIGN_OR_RAISE(std::string path, lake.objects().Put(prefix + info.name, *data));
    inputs.push_back({{"path", path}, {"sql_names", std::vector<std::string>{written}}});
  }
  nlohmann::json task = {{"sql", request.sql},
                         {"inputs", inputs},
                         {"max_rows", request.max_rows ? nlohmann::json(*request.max_rows) : nlohmann::json(nullptr)},
                         {"output", request.output},
                         {"output_path", request.output_path.empty() ? "" : AbsolutePath(request.output_path)}};
  // The query's folder exists only once a table went into it; a query of no table has none.
  SLUICE_RETURN_NOT_OK(MakeDirs(lake.objects().root() + "/" + prefix));
  std::string task_path = lake.objects().root() + "/" + prefix + "task.json";
  SLUICE_RETURN_NOT_OK(WriteFileAtomic(task_path, task.dump()));
  SLUICE_RETURN_NOT_OK(runner->WriteStdin(task_path + "\n"));
  SLUICE_ASSIGN_OR_RAISE(SubprocessResult result, runner->Wait());
  if (result.exit_code != 0) {
    std::string message = result.stderr_text;
    while (!message.empty() && message.back() == '\n') message.pop_back();
    if (message.rfind("error: ", 0) == 0) message = message.substr(7);
    return InvalidInput("query failed: ", message.empty() ? "the query runner crashed" : message);
  }
  return Status::OK();
}

}  // namespace sluice
