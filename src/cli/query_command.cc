// sluice query: DuckDB over the tables a query names, read at a ref with pushdown.
#include <iostream>

#include "cli/commands.h"
#include "common/file_util.h"
#include "exec/query_runner.h"

namespace sluice::cli {
namespace {

struct QueryArgs {
  std::string sql, file, ref, namespace_name = "bauplan", arrow_out;
  int64_t max_rows = 10;
  bool all_rows = false;
  // bauplan's flags. Values are never truncated here, so --no-trunc changes nothing; --cache
  // and --no-cache are recorded on the query's job (there is no query cache yet).
  bool no_trunc = false, no_cache = false;
  std::string cache = "on";
  std::vector<std::string> args;
  int priority = 0;
};

Status Query(CliContext& context, const QueryArgs& args) {
  std::string sql = args.sql;
  if (!args.file.empty()) {
    SLUICE_ASSIGN_OR_RAISE(sql, ReadFile(args.file));
  }
  if (args.cache != "on" && args.cache != "off") {
    return InvalidInput("--cache takes on or off, not '", args.cache, "'");
  }
  if (args.priority != 0 && (args.priority < 1 || args.priority > 10)) {
    return InvalidInput("--priority takes a number from 1 to 10, not ", args.priority);
  }
  if (args.max_rows < 0) return InvalidInput("--max-rows must be 0 or more, not ", args.max_rows);
  nlohmann::json job_args = nlohmann::json::object();
  for (const auto& kv : args.args) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) return InvalidInput("--arg '", kv, "': expected key=value");
    job_args[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  // Through the API (in-process or remote), so the query is recorded as a job; only an
  // Arrow file for an SDK is written directly.
  if (args.arrow_out.empty()) {
    SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.backend());
    nlohmann::json body = {{"sql", sql}, {"ref", args.ref.empty() ? context.ActiveBranch() : args.ref},
                           {"namespace", args.namespace_name}, {"output", context.json() ? "json" : "tty"},
                           {"cache", args.no_cache ? "off" : args.cache}, {"args", job_args},
                           {"author", CurrentAuthor()}};
    if (args.priority != 0) body["priority"] = args.priority;
    // bauplan: --max-rows 0 means no limit, as --all-rows does.
    if (!args.all_rows && args.max_rows > 0) body["max_rows"] = args.max_rows;
    SLUICE_ASSIGN_OR_RAISE(nlohmann::json answer, backend->Call("POST", "query", body));
    for (const auto& line : answer.at("lines")) std::cout << line.get<std::string>() << "\n";
    return Status::OK();
  }
  if (!context.endpoint.empty()) {
    return InvalidInput("--arrow-out needs a local data home; remotely, read Arrow with sluice.Client");
  }
  SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
  QueryRequest request;
  request.sql = sql;
  request.ref = args.ref.empty() ? context.ActiveBranch() : args.ref;
  request.namespace_name = args.namespace_name;
  if (!args.all_rows && args.max_rows > 0) request.max_rows = args.max_rows;
  request.output = !args.arrow_out.empty() ? "arrow" : context.json() ? "json" : "tty";
  request.output_path = args.arrow_out;
  return RunQuery(*lake, request, [](const std::string& line) { std::cout << line << "\n"; });
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
  query->add_flag("--no-trunc", args->no_trunc, "Do not truncate values (Sluice never does)");
  query->add_option("--cache", args->cache, "Cache mode, on|off (recorded on the job: there is no cache yet)");
  query->add_flag("--no-cache", args->no_cache, "= --cache off");
  query->add_option("-a,--arg", args->args, "Job argument, key=value (repeatable; recorded on the job)");
  query->add_option("--priority", args->priority, "Job priority, 1 to 10 (recorded on the job)");
  query->add_option("--arrow-out", args->arrow_out, "Write the result as an Arrow IPC file here (for SDKs)");
  query->callback([&context, exit_code, args] { *exit_code = ReportError(Query(context, *args)); });
}

}  // namespace sluice::cli
