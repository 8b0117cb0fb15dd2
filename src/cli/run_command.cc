// sluice run: plan and execute a project on a branch, printing the DAG and a line per model.
#include <signal.h>

#include <condition_variable>
#include <csignal>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "cli/commands.h"
#include "cli/job_flags.h"
#include "cli/server_commands.h"
#include "cli/warm_server.h"
#include "common/byte_size.h"
#include "common/config.h"
#include "common/file_util.h"
#include "exec/json_views.h"
#include "exec/runner.h"

namespace sluice::cli {
namespace {

struct RunArgs {
  std::string project_dir = ".", ref, namespace_name;
  std::vector<std::string> params;
  // bauplan's on/off switches; "" when given without a value (= on), "unset" when absent.
  std::string strict = "unset", transaction = "unset", preview = "unset";
  bool dry_run = false, no_transaction = false, detach = false;
  int parallel = 0;
  JobFlags job;
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
    PrintPreview(report);
    const char* mark = report.status == ModelStatus::kSuccess   ? "ok  "
                       : report.status == ModelStatus::kWarning ? "warn"
                                                                : "FAIL";
    std::ostringstream line;
    line << "  " << mark << " " << std::left << std::setw(28) << report.name << std::setw(12) << report.kind
         << std::right << std::fixed << std::setprecision(2) << std::setw(7) << report.seconds << "s";
    if (report.rows >= 0) line << std::setw(12) << FormatCount(report.rows) << " rows";
    if (!report.output_table.empty()) line << "  -> " << report.output_table;
    for (const auto& scan : report.scans) line << "\n         reads " << ScanSummary(scan);
    std::cout << line.str() << "\n" << std::flush;
  }
  void OnWarning(const std::string& message) { std::cerr << "warning: " << message << "\n" << std::flush; }
  // bauplan's `run --preview`: the first (or last) rows of what the model returned.
  void PrintPreview(const ModelReport& report) {
    if (report.preview_columns.empty()) return;
    std::cout << "=> PREVIEW " << report.name << "\n";
    std::vector<size_t> widths;
    for (const auto& c : report.preview_columns) widths.push_back(c.size());
    for (const auto& row : report.preview_rows) {
      for (size_t i = 0; i < row.size() && i < widths.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
    }
    auto print_row = [&](const std::vector<std::string>& cells, bool upper) {
      std::cout << "=> ";
      for (size_t i = 0; i < cells.size() && i < widths.size(); ++i) {
        std::string cell = cells[i];
        if (upper) {
          for (auto& ch : cell) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
        }
        std::cout << std::left << std::setw(static_cast<int>(widths[i]) + 2) << cell;
      }
      std::cout << "\n";
    };
    print_row(report.preview_columns, true);
    for (const auto& row : report.preview_rows) print_row(row, false);
    std::cout << std::flush;
  }

 private:
  bool quiet_;
};

// Runs through the JSON API, in-process for a local data home or on `sluice serve`: either
// way the run streams its progress as events (server/sluice_api.h), printed as they come.
// Ctrl-C (or SIGTERM) during a run cancels its job, as bauplan's CLI does: models are
// killed, nothing is merged. A second Ctrl-C kills the CLI at once (SA_RESETHAND).
volatile std::sig_atomic_t interrupted = 0;
void OnInterrupt(int) { interrupted = 1; }

class CancelOnInterrupt {
 public:
  // `running` is where the run goes (shared when it is the in-process API, thread-safe).
  CancelOnInterrupt(CliContext& context, Backend* running) : context_(context), running_(running) {
    struct sigaction action {};
    action.sa_handler = OnInterrupt;
    action.sa_flags = SA_RESETHAND | SA_RESTART;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, &old_int_);
    ::sigaction(SIGTERM, &action, &old_term_);
    ::sigaction(SIGHUP, &action, &old_hup_);  // the terminal closed: as bauplan's CLI, cancel
    watcher_ = std::thread([this] { Watch(); });
  }
  ~CancelOnInterrupt() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    watcher_.join();
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGHUP, &old_hup_, nullptr);
  }
  void SetJob(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    job_id_ = id;
  }

 private:
  void Watch() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!done_) {
      wake_.wait_for(lock, std::chrono::milliseconds(100));
      if (!interrupted || job_id_.empty() || sent_) continue;
      sent_ = true;
      std::string id = job_id_;
      lock.unlock();
      std::cerr << "cancelling job " << id << " (Ctrl-C again to quit now)" << std::endl;
      // The in-process API is thread-safe; a server (remote or the data home's) gets a
      // connection of its own, as the first one is reading the run's stream.
      auto own = context_.NewConnection();
      Backend* backend = own.ok() && *own ? own->get() : running_;
      (void)backend->Call("POST", "jobs/" + EncodePathPart(id) + "/cancel", nlohmann::json::object());
      lock.lock();
    }
  }

  CliContext& context_;
  Backend* running_;
  struct sigaction old_int_ {
  }, old_term_{}, old_hup_{};
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string job_id_;  // GUARDED_BY(mutex_)
  bool sent_ = false;   // GUARDED_BY(mutex_)
  bool done_ = false;   // GUARDED_BY(mutex_)
  std::thread watcher_;
};

// The data home's server went away in the middle of a run (killed, or out of memory): one
// error naming the job, what happened to the server, and what that means for the branch.
Status ServerLost(const Status& cause, int pid, const std::string& job_id, const nlohmann::json& body) {
  // Dead once it no longer holds the home's server lock (a zombie still answers kill(0)),
  // which the kernel releases as it exits.
  bool alive = true;
  for (int i = 0; i < 20 && alive; ++i) {
    alive = QueryBackgroundServer(AbsolutePath(DataHome())).pid == pid;
    if (alive) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::string ref = body.value("ref", "");
  std::string job = job_id.empty() ? "" : "; see the job with: sluice job get " + job_id;
  if (alive) {
    // The server lives, and so may the run: it cancels it at its next heartbeat to this
    // client, unless it finished first.
    return WithHint(
        IOError(job_id.empty() ? "run failed: " : "run " + job_id + " failed: ",
                "lost its connection to the data home's background server (pid ", pid, "): ", cause.message()),
        "the server cancels the run when it finds this client gone, unless it has finished" + job);
  }
  std::string what = "the data home's background server (pid " + std::to_string(pid) + ") died during the run";
  std::string hint = body.value("transaction", true)
                         ? "'" + ref + "' is unchanged: the run worked on a branch of its own, never merged"
                         : "the run had --transaction off: models that finished may have written to '" + ref + "'";
  hint += job + "\nhint: the next run starts a new server";
  return WithHint(IOError(job_id.empty() ? "run failed: " : "run " + job_id + " failed: ", what), hint);
}

Result<RunReport> RunThroughApi(CliContext& context, nlohmann::json body, ProgressPrinter* printer) {
  SLUICE_ASSIGN_OR_RAISE(Backend * backend, context.run_backend());
  // On the data home's server, the run ends with this process, as it did in-process: killed
  // (kill -9, a closed terminal), the server notices it gone and cancels the run.
  if (context.server_pid() > 0) body["cancel_on_disconnect"] = true;
  std::optional<RunReport> report;
  Status failed;
  std::string job_id;
  CancelOnInterrupt cancel_on_interrupt(context, backend);
  Status streamed = backend->Stream("runs", body, [&](const nlohmann::json& event) {
    std::string kind = event.value("event", "");
    if (kind == "plan") {
      job_id = event.value("job_id", "");
      cancel_on_interrupt.SetJob(job_id);
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
      if (job_id.empty()) job_id = event.value("job_id", "");
      failed = MakeError(ErrorKindFromName(error.value("kind", "")), error.value("message", ""));
      if (!error.value("hint", "").empty()) failed = WithHint(failed, error.value("hint", ""));
    }
  });
  if (!streamed.ok() && KindOf(streamed) == ErrorKind::kIOError && context.server_pid() > 0 && !report) {
    return ServerLost(streamed, context.server_pid(), job_id, body);
  }
  SLUICE_RETURN_NOT_OK(streamed);
  if (!failed.ok()) {
    // The error's own hint (how to fix it) stays first; where to see the job follows.
    std::string hint = HintOf(failed);
    return job_id.empty() ? failed
                          : WithHint(failed, (hint.empty() ? "" : hint + "\nhint: ") +
                                                 "see the job with: sluice job get " + job_id);
  }
  if (!report) return IOError("the server ended the run's answer without a report");
  return *report;
}

// `run --detach`: the run goes to the data home's background server (started if needed),
// or to `sluice serve` at --endpoint, which answer with its job id at once.
Status RunDetached(CliContext& context, nlohmann::json body) {
  body["detach"] = true;
  body.erase("stream");
  std::unique_ptr<Backend> daemon;
  Backend* backend = nullptr;
  if (!context.endpoint.empty()) {
    SLUICE_ASSIGN_OR_RAISE(backend, context.backend());
  } else {
    // A detached run cannot fall back to this process, which ends now.
    std::string home = AbsolutePath(DataHome());
    WarmServer server = ReachServer(home, SluiceBinary());
    if (server.pid == 0) {
      return WithHint(IOError("cannot run detached: ", server.why_not),
                      server.busy_elsewhere ? "wait for its runs to end (sluice job ls), or stop it: sluice server stop"
                                            : "see its log: " + home + "/server.log");
    }
    SLUICE_ASSIGN_OR_RAISE(daemon, ConnectToServer(home, server.pid));
    backend = daemon.get();
  }
  SLUICE_ASSIGN_OR_RAISE(nlohmann::json answer, backend->Call("POST", "runs", body));
  std::string job_id = answer.value("job_id", "");
  if (context.json()) {
    context.PrintJson({{"job_id", job_id}, {"status", answer.value("status", "RUNNING")}, {"detached", true}});
  } else {
    std::cout << "job " << job_id << " is now running in detached mode\n";
    std::cerr << "follow it with: sluice job logs " << job_id << " --follow (list jobs: sluice job ls)\n";
  }
  return Status::OK();
}

Status Run(CliContext& context, const RunArgs& args) {
  RunOptions options;
  options.project_dir = args.project_dir;
  options.ref = args.ref.empty() ? context.ActiveBranch() : args.ref;
  options.namespace_name = args.namespace_name;
  SLUICE_ASSIGN_OR_RAISE(options.params, KeyValues("--param", args.params));
  SLUICE_ASSIGN_OR_RAISE(options.strict, Switch("--strict", args.strict, false));
  SLUICE_ASSIGN_OR_RAISE(options.transaction, Switch("--transaction", args.transaction, !args.no_transaction));
  if (args.no_transaction && options.transaction) {
    return InvalidInput("--no-transaction and --transaction on contradict each other");
  }
  std::string preview = args.preview == "unset" ? "off" : args.preview.empty() ? "on" : args.preview;
  if (preview != "on" && preview != "off" && preview != "head" && preview != "tail") {
    return InvalidInput("--preview takes on, off, head or tail, not '", preview, "'");
  }
  options.dry_run = args.dry_run;
  options.max_parallel = args.parallel;
  nlohmann::json body = {{"project_dir", AbsolutePath(options.project_dir)},
                         {"ref", options.ref},
                         {"namespace", options.namespace_name},
                         {"parameters", options.params},
                         {"strict", options.strict},
                         {"dry_run", options.dry_run},
                         {"transaction", options.transaction},
                         {"parallel", options.max_parallel},
                         {"preview", preview},
                         {"author", CurrentAuthor()},
                         {"stream", true}};
  SLUICE_RETURN_NOT_OK(args.job.WriteTo(&body));
  if (args.detach) return RunDetached(context, body);
  ProgressPrinter printer(context.json());
  SLUICE_ASSIGN_OR_RAISE(RunReport report, RunThroughApi(context, body, &printer));
  if (context.json()) {
    context.PrintJson(RunReportJson(report));
    return report.status;
  }
  if (report.ok()) {
    std::cout << "run " << report.job_id << " succeeded in " << std::fixed << std::setprecision(2) << report.seconds
              << "s";
    if (options.dry_run) {
      std::cout << " (dry run: nothing written)";
    } else if (!report.commit_id.empty()) {
      std::cout << ": '" << options.ref << "' is at " << report.commit_id.substr(0, 12);
    } else {
      std::cout << ": nothing to commit";
    }
    std::cout << "\n";
    if (report.spilled_bytes > 0) {
      // Only when the budget made a difference: most runs fit and need not say so.
      std::cout << "peak shared memory " << FormatBytes(report.peak_shared_memory_bytes) << " (budget "
                << FormatBytes(report.memory_budget_bytes) << "); spilled " << FormatBytes(report.spilled_bytes)
                << " to disk\n";
    }
    return Status::OK();
  }
  for (const auto& m : report.models) {
    if (!m.traceback.empty()) std::cerr << m.traceback << (m.traceback.back() == '\n' ? "" : "\n");
  }
  std::string hint = "'" + options.ref + "' is unchanged";
  if (report.run_branch_kept) {
    hint += "; the run's branch '" + report.run_branch +
            "' was kept: inspect it with "
            "sluice table ls --ref " +
            report.run_branch;
  }
  hint += "; its log: sluice job logs " + report.job_id;
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
  run->add_option("--strict", args->strict,
                  "Fail the run on a failed expectation or a column mismatch (on|off; bare: on)")
      ->expected(0, 1);
  run->add_flag("--dry-run", args->dry_run, "Run the models but write nothing");
  run->add_option("-t,--transaction", args->transaction,
                  "Run on a temporary branch merged at the end (on|off; default on)")
      ->expected(0, 1);
  run->add_flag("--no-transaction", args->no_transaction, "Commit directly on the branch (= --transaction off)");
  run->add_option("--preview", args->preview, "Print each model's first rows: on|head, tail (last rows), off")
      ->expected(0, 1);
  run->add_flag("-d,--detach", args->detach, "Run in the data home's background server and print the job id at once");
  args->job.Register(run);
  run->add_option("--parallel", args->parallel, "Models run at the same time (default: cores)");
  run->callback([&context, exit_code, args] { *exit_code = ReportError(Run(context, *args)); });
}

}  // namespace sluice::cli
