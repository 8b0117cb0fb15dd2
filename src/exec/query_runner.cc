#include "exec/query_runner.h"

#include <fcntl.h>

#include <cerrno>
#include <cstring>

#include "common/config.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/memory_file.h"
#include "common/subprocess.h"
#include "env/sandbox.h"
#include "exec/sql_pushdown.h"

namespace sluice {

Status RunQuery(Lakehouse& lake, const QueryRequest& request, const std::function<void(const std::string&)>& on_line) {
  if (request.sql.empty()) return InvalidInput("no query: pass SQL as an argument or a file with -f");
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef ref, lake.catalog().Resolve(request.ref));
  // The query process starts now and loads pyarrow and DuckDB while DuckDB's parser finds the
  // tables and they are scanned; it gets its task on stdin. Returning early kills it. It runs
  // in a model's sandbox with no project: it sees nothing but the tables it is handed.
  SandboxSpec sandbox;
  sandbox.outer_uid = SandboxUidFor(lake.objects().root());
  SubprocessOptions options = PythonInSandbox(sandbox, {"-m", "sluice._query"});
  options.stdin_socket = true;
  options.on_stdout_line = on_line;
  SLUICE_ASSIGN_OR_RAISE(auto runner, Subprocess::Start(options));
  SLUICE_ASSIGN_OR_RAISE(SqlAnalysis analysis, AnalyzeSql(request.sql));

  // Each table is scanned once into shared memory with only the columns the query names
  // (all of them when it uses '*'); DuckDB maps the result without copying.
  nlohmann::json inputs = nlohmann::json::array();
  std::vector<OwnedFd> files;
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
    read.cache = request.cache;
    SLUICE_ASSIGN_OR_RAISE(read.columns,
                           WithContext(SqlScanColumns(*info.snapshot.schema, analysis), "table '" + info.name + "'"));
    SLUICE_ASSIGN_OR_RAISE(auto data, lake.ReadTable(ref, info.name, read));
    SLUICE_ASSIGN_OR_RAISE(std::string path, lake.objects().Put(prefix + info.name, *data));
    inputs.push_back({{"sql_names", std::vector<std::string>{written}}});
    files.emplace_back(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (files.back().get() < 0) return IOError("cannot open '", path, "': ", std::strerror(errno));
  }
  nlohmann::json task = {{"sql", request.sql},
                         {"inputs", inputs},
                         {"max_rows", request.max_rows ? nlohmann::json(*request.max_rows) : nlohmann::json(nullptr)},
                         {"output", request.output}};
  // Passed as descriptors (python/sluice/_query.py): the task, each input, then the output.
  SLUICE_ASSIGN_OR_RAISE(OwnedFd task_file, MemoryFile("sluice-query", task.dump(), /*seal=*/true));
  std::vector<int> passed = {task_file.get()};
  for (const auto& file : files) passed.push_back(file.get());
  OwnedFd output;
  if (request.output == "arrow") {
    output = OwnedFd(::open(request.output_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (output.get() < 0) return IOError("cannot write '", request.output_path, "': ", std::strerror(errno));
    passed.push_back(output.get());
  }
  SLUICE_RETURN_NOT_OK(runner->SendStdin("task\n", passed));
  files.clear();
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
