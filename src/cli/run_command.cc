// sluice run: plan and execute a project on a branch, printing the DAG and a line per model.
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "common/file_util.h"
#include "exec/json_views.h"
#include "exec/runner.h"

namespace sluice::cli {
namespace {

struct RunArgs {
  std::string project_dir = ".", ref, namespace_name;
  std::vector<std::string> params;
  bool strict = false, dry_run = false, no_transaction = false;
  int parallel = 0;
};

// Prints a run's progress for people: the DAG, what models print (tagged with their name),
// one line per finished model, and warnings.
class ProgressPrinter {
 public:
  explicit ProgressPrinter(bool quiet) : quiet_(quiet) {}
  void PrintPlan(const std::string& job_id, size_t models, const std::string& text) {
    if (quiet_) return;
    std::cout << "job " << job_id << ": " << models << " models\n" << text << std::flush;
  }
  void OnModelOutput(const std::string& model, const std::string& line) {
    if (quiet_) return;
    std::cout << "  [" << model << "] " << line << "\n" << std::flush;
  }
  void OnModelFinish(const ModelReport& report) {
    if (quiet_) return;
    const char* mark = report.status == ModelStatus::kSuccess   ? "ok  "
                       : report.status == ModelStatus::kWarning ? "warn"
                                                                : "FAIL";
    std::ostringstream line;
    line << "  " << mark << " " << std::left << std::setw(28) << report.name << std::setw(12)
         << report.kind << std::right << std::fixed << std::setprecision(2) << std::setw(7)
         << report.seconds << "s";
    if (report.rows >= 0) line << std::setw(12) << FormatCount(report.rows) << " rows";
    if (!report.output_table.empty()) line << "  -> " << report.output_table;
    std::cout << line.str() << "\n" << std::flush;
  }
  void OnWarning(const std::string& message) {
    std::cerr << "warning: " << message << "\n" << std::flush;
  }

 private:
  bool quiet_;
};

// Runs through the JSON API, in-process for a local data home or on `sluice serve`: either
// way the run streams its progress as events (server/sluice_api.h), printed as they come.
Result<RunReport> RunThroughApi(CliContext& context, const RunOptions& options, ProgressPrinter* printer) {
  SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.backend());
  nlohmann::json body = {{"project_dir", AbsolutePath(options.project_dir)}, {"ref", options.ref},
                         {"namespace", options.namespace_name}, {"parameters", options.params},
                         {"strict", options.strict}, {"dry_run", options.dry_run},
                         {"transaction", options.transaction}, {"parallel", options.max_parallel},
                         {"stream", true}};
  std::optional<RunReport> report;
  Status failed;
  SLUICE_RETURN_NOT_OK(backend->Stream("runs", body, [&](const nlohmann::json& event) {
    std::string kind = event.value("event", "");
    if (kind == "plan") {
      printer->PrintPlan(event.value("job_id", ""), event.value("models", 0), event.value("text", ""));
    } else if (kind == "output") {
      printer->OnModelOutput(event.value("model", ""), event.value("line", ""));
    } else if (kind == "model") {
      printer->OnModelFinish(ModelReportFromJson(event["report"]));
    } else if (kind == "warning") {
      printer->OnWarning(event.value("message", ""));
    } else if (kind == "report") {
      report = RunReportFromJson(event["report"]);
    } else if (kind == "error") {
      const auto& error = event["error"];
      failed = MakeError(ErrorKindFromName(error.value("kind", "")), error.value("message", ""));
      if (!error.value("hint", "").empty()) failed = WithHint(failed, error.value("hint", ""));
    }
  }));
  if (!failed.ok()) return failed;
  if (!report) return IOError("the server ended the run's answer without a report");
  return *report;
}

Status Run(CliContext& context, const RunArgs& args) {
  RunOptions options;
  options.project_dir = args.project_dir;
  options.ref = args.ref.empty() ? context.ActiveBranch() : args.ref;
  options.namespace_name = args.namespace_name;
  for (const auto& kv : args.params) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return InvalidInput("--param '", kv, "': expected name=value");
    }
    options.params[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  options.strict = args.strict;
  options.dry_run = args.dry_run;
  options.transaction = !args.no_transaction;
  options.max_parallel = args.parallel;
  ProgressPrinter printer(context.json());
  SLUICE_ASSIGN_OR_RAISE(RunReport report, RunThroughApi(context, options, &printer));
  if (context.json()) {
    context.PrintJson(RunReportJson(report));
    return report.status;
  }
  if (report.ok()) {
    std::cout << "run " << report.job_id << " succeeded in " << std::fixed << std::setprecision(2)
              << report.seconds << "s";
    if (options.dry_run) {
      std::cout << " (dry run: nothing written)";
    } else if (!report.commit_id.empty()) {
      std::cout << ": '" << options.ref << "' is at " << report.commit_id.substr(0, 12);
    } else {
      std::cout << ": nothing to commit";
    }
    std::cout << "\n";
    return Status::OK();
  }
  for (const auto& m : report.models) {
    if (!m.traceback.empty()) std::cerr << m.traceback << (m.traceback.back() == '\n' ? "" : "\n");
  }
  std::string hint = "'" + options.ref + "' is unchanged";
  if (report.run_branch_kept) {
    hint += "; the run's branch '" + report.run_branch + "' was kept: inspect it with "
            "sluice table ls --ref " + report.run_branch;
  }
  return WithHint(WithContext(report.status, "run " + report.job_id + " failed"), hint);
}

}  // namespace

void AddRunCommand(CLI::App& app, CliContext& context, int* exit_code) {
  auto args = std::make_shared<RunArgs>();
  auto* run = app.add_subcommand("run", "Run a project's models on a branch");
  run->add_option("-p,--project-dir", args->project_dir, "Project directory (default: .)");
  run->add_option("-r,--ref", args->ref, "Branch to run on (default: the active branch)");
  run->add_option("-n,--namespace", args->namespace_name, "Namespace of inputs and outputs");
  run->add_option("--param", args->params, "Parameter value, name=value (repeatable)");
  run->add_flag("--strict", args->strict, "Fail the run on a failed expectation or a column mismatch");
  run->add_flag("--dry-run", args->dry_run, "Run the models but write nothing");
  run->add_flag("--no-transaction", args->no_transaction, "Commit directly on the branch");
  run->add_option("--parallel", args->parallel, "Models run at the same time (default: cores)");
  run->callback([&context, exit_code, args] { *exit_code = ReportError(Run(context, *args)); });
}

}  // namespace sluice::cli
