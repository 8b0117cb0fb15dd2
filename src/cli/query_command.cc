// sluice query: DuckDB over the tables a query names, read at a ref with pushdown.
#include <iostream>

#include "cli/commands.h"
#include "cli/job_flags.h"
#include "common/file_util.h"

namespace sluice::cli {
namespace {

// How much longer than its time limit a query's answer may take to come: the worker's kill
// and the error's way back.
constexpr int64_t kQueryAnswerGraceSeconds = 5;

struct QueryArgs {
  std::string sql, file, ref, namespace_name = "bauplan", arrow_out;
  int64_t max_rows = 10;
  bool all_rows = false;
  // bauplan's flag. Values are never truncated here, so --no-trunc changes nothing.
  bool no_trunc = false;
  JobFlags job;
};

Status Query(CliContext& context, const QueryArgs& args) {
  std::string sql = args.sql;
  if (!args.file.empty()) {
    SLUICE_ASSIGN_OR_RAISE(sql, ReadFile(args.file));
  }
  if (args.max_rows < 0) return InvalidInput("--max-rows must be 0 or more, not ", args.max_rows);
  nlohmann::json body = {{"sql", sql},
                         {"ref", args.ref.empty() ? context.ActiveBranch() : args.ref},
                         {"namespace", args.namespace_name},
                         {"output", context.json() ? "json" : "tty"},
                         {"author", CurrentAuthor()}};
  SLUICE_RETURN_NOT_OK(args.job.WriteTo(&body));
  // --client-timeout is also the query's time limit on the server (which may have a shorter
  // one), as bauplan's is how long its CLI waits for the query: past it nobody would read the
  // answer. The server's error saying so gets a little longer to arrive than that.
  if (context.client_timeout_seconds > 0) {
    body["timeout_seconds"] = context.client_timeout_seconds;
    context.answer_grace_seconds = kQueryAnswerGraceSeconds;
  }
  // bauplan: --max-rows 0 means no limit, as --all-rows does.
  if (!args.all_rows && args.max_rows > 0) body["max_rows"] = args.max_rows;
  // Through the API (the data home's server, in-process, or remote), so the query is
  // recorded as a job.
  if (args.arrow_out.empty()) {
    SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.run_backend());
    SLUICE_ASSIGN_OR_RAISE(nlohmann::json answer, backend->Call("POST", "query", body));
    for (const auto& line : answer.at("lines")) std::cout << line.get<std::string>() << "\n";
    return Status::OK();
  }
  if (!context.endpoint.empty()) {
    return InvalidInput("--arrow-out needs a local data home; remotely, read Arrow with sluice.Client");
  }
  // The Arrow file comes back as the answer's bytes and is written here, by the client: a
  // server never writes where a request names.
  body["output"] = "arrow";
  SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.run_backend());
  SLUICE_ASSIGN_OR_RAISE(std::string arrow, backend->Fetch("POST", "query", body));
  return WriteFileAtomic(args.arrow_out, arrow);
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
  args->job.Register(query);
  query->add_option("--arrow-out", args->arrow_out, "Write the result as an Arrow IPC file here (for SDKs)");
  query->callback([&context, exit_code, args] { *exit_code = ReportError(Query(context, *args)); });
}

}  // namespace sluice::cli
