#include "exec/runner.h"

#include <signal.h>
#include <sys/stat.h>

#include <mutex>
#include <thread>

#include "common/clock.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/utf8.h"
#include "env/package_store.h"
#include "env/sandbox.h"
#include "env/worker_cgroup.h"
#include "exec/model_environments.h"
#include "exec/model_worker_pool.h"
#include "exec/secret_parameters.h"
#include "exec/sql_pushdown.h"
#include "exec/table_filter.h"
#include "exec/task_scheduler.h"
#include "exec/worker_call.h"
#include "plan/physical_plan.h"
#include "project/project.h"

namespace sluice {
namespace {

double ParseSeconds(const std::string& text) {
  try {
    return std::stod(text);
  } catch (...) {
    return 0;
  }
}

// The first (or last) rows of a model's output as text, for `run --preview`.
void PreviewTable(const arrow::Table& table, bool tail, ModelReport* report) {
  constexpr int64_t kPreviewRows = 10;
  int64_t count = std::min(table.num_rows(), kPreviewRows);
  int64_t first = tail ? table.num_rows() - count : 0;
  report->preview_columns = table.schema()->field_names();
  report->preview_rows.assign(count, std::vector<std::string>(table.num_columns()));
  for (int c = 0; c < table.num_columns(); ++c) {
    for (int64_t r = 0; r < count; ++r) {
      auto scalar = table.column(c)->GetScalar(first + r);
      report->preview_rows[r][c] = !scalar.ok() || !(*scalar)->is_valid ? "(null)" : (*scalar)->ToString();
    }
  }
}

// Shared state of one run. Node threads touch it only under `mutex`.
class RunState {
 public:
  RunState(Lakehouse& lakehouse, const RunOptions& options, const Plan& plan, const ResolvedRef& source,
           RunObserver* observer, std::string job_id)
      : lakehouse_(lakehouse),
        options_(options),
        plan_(plan),
        source_(source),
        observer_(observer),
        job_id_(std::move(job_id)) {
    reports_.resize(plan.nodes.size());
    outputs_.resize(plan.nodes.size());
    for (size_t i = 0; i < plan.nodes.size(); ++i) {
      const auto& model = plan.nodes[i].model;
      reports_[i].name = model.name;
      reports_[i].kind = ModelKindName(model.kind);
      reports_[i].location = model.location.ToString();
    }
  }

  // Runs every node once its inputs are ready, up to max_parallel at a time, on the task
  // scheduler (task_scheduler.h), until all are done or one failed (then nothing new starts
  // and the rest are skipped).
  void Execute(int max_parallel) {
    // The zygotes of the models that start first begin importing now, while those models
    // scan their inputs.
    for (size_t i = 0, first = 0; i < plan_.nodes.size() && first < size_t(max_parallel); ++i) {
      if (!plan_.nodes[i].upstream.empty()) continue;
      workers_->WarmUp(i);
      ++first;
    }
    PhysicalPlanOptions planning;
    planning.write = !options_.dry_run;
    planning.scan_columns = [this](const PlanNode& node,
                                   const ResolvedInput& input) -> Result<std::vector<std::string>> {
      if (node.model.kind != ModelKind::kSql) return std::vector<std::string>{};
      // An SQL model declares no columns: those its statement references are read.
      SLUICE_ASSIGN_OR_RAISE(TableInfo info, lakehouse_.GetTable(source_, input.source_name));
      return SqlScanColumns(*info.snapshot.schema, node.model.sql_analysis);
    };
    planning.scan_filter = [this](const PlanNode& node, const ResolvedInput& input) -> std::string {
      if (node.model.kind != ModelKind::kSql || node.model.sql_analysis.filters.empty()) return "";
      auto info = lakehouse_.GetTable(source_, input.source_name);
      if (!info.ok()) return "";  // the scan reports it
      return SqlScanFilter(*info->snapshot.schema, node.model.sql_analysis, input.input.param_name);
    };
    physical_ = BuildPhysicalPlan(plan_, planning);
    scan_paths_.assign(physical_.scans.size(), Internal("the scan did not run"));
    call_started_.assign(plan_.nodes.size(), 0);
    TaskGraph graph;
    for (const PlanStep& step : physical_.steps) {
      std::function<Status()> body;
      switch (step.kind) {
        case StepKind::kScan:
          body = [this, scan = step.scan] { return RunScan(scan); };
          break;
        case StepKind::kCall:
          body = [this, i = step.node] { return RunNode(i); };
          break;
        case StepKind::kWrite:
          body = [this, i = step.node] { return RunWrite(i); };
          break;
      }
      auto added = graph.Add(std::move(body), step.depends_on);
      if (!added.ok()) {
        std::lock_guard<std::mutex> lock(mutex_);
        failed_ = true;
        failure_ = Internal("the physical plan is out of order: ", added.status().message());
        return;
      }
    }
    TaskSchedulerOptions scheduling;
    scheduling.max_parallel = max_parallel;
    scheduling.cancel = options_.cancel;
    scheduling.on_cancel = [this] {
      std::lock_guard<std::mutex> lock(mutex_);
      CancelLocked();
    };
    TaskGraphResult result = RunTaskGraph(graph, scheduling);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (result.cancelled && !cancelled_) CancelLocked();
    }
    // Every node has ended; workers forked ahead for nodes that never ran are dropped.
    workers_->StopIdle();
  }

  bool failed() const { return failed_; }
  bool cancelled() const { return cancelled_; }
  const Status& failure() const { return failure_; }
  std::vector<ModelReport>& reports() { return reports_; }
  const TableChanges& changes() const { return changes_; }
  std::vector<std::string>& warnings() { return warnings_; }

 private:
  // Stops the run: nothing new starts (failed_), and the process group of every running
  // worker is killed, so their nodes end at once. REQUIRES: mutex_ held.
  void CancelLocked() {
    cancelled_ = true;
    if (!failed_) {
      failed_ = true;
      failure_ = Cancelled("the run was cancelled");
    }
    for (const auto& [_, pid] : running_pids_) ::kill(-pid, SIGKILL);
  }

  double TimeoutFor(const ModelSpec& model) const {
    auto timeout = model.resources.find("timeout");
    return timeout != model.resources.end() ? ParseSeconds(timeout->second) : default_timeout_;
  }

  // Where a worker's output lines go, and its time limit.
  SubprocessOptions WorkerOutputOptions(size_t i) {
    const ModelSpec& model = plan_.nodes[i].model;
    SubprocessOptions options;
    options.argv = {"worker of model '" + model.name + "'"};
    std::string name = model.name;
    // A model prints bytes; everything after this (job log, API events, JSON) needs text.
    options.on_stdout_line = [this, name](const std::string& line) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (observer_) observer_->OnModelOutput(name, ValidUtf8(line));
    };
    options.on_stderr_line = options.on_stdout_line;
    options.timeout_seconds = TimeoutFor(model);
    return options;
  }

 public:
  // Where each node's worker comes from (a zygote per environment, or a fresh interpreter).
  Status PrepareWorkers(const PreparedEnvironments& environments, ZygotePool* zygotes) {
    ModelWorkerPoolOptions pool;
    pool.project_dir = options_.project_dir;
    pool.data_home = lakehouse_.home();
    pool.shared_memory_root = lakehouse_.objects().root();
    pool.worker_options = [this](size_t i) { return WorkerOutputOptions(i); };
    workers_ = std::make_unique<ModelWorkerPool>(plan_, environments, std::move(pool));
    return workers_->PlanZygotes(zygotes);
  }

 private:
  Status RunNode(size_t i) {
    const PlanNode& node = plan_.nodes[i];
    // The workers of what reads this node's output start now, to be warm when it is done.
    for (size_t down : node.downstream) workers_->Prestart(down);
    ModelReport report;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (observer_) observer_->OnModelStart(node.model.name);
      call_started_[i] = MonotonicSeconds();
      report = reports_[i];
    }
    Status st = CallModel(node, i, &report);
    bool written_later = st.ok() && !options_.dry_run && !node.output_table.empty();
    return Finish(i, std::move(report), st, /*final=*/!written_later);
  }

  // Its write step: the output, already in shared memory, becomes an Iceberg snapshot.
  Status RunWrite(size_t i) {
    const PlanNode& node = plan_.nodes[i];
    const ModelSpec& model = node.model;
    ModelReport report;
    std::string output;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      report = reports_[i];
      output = outputs_[i];
    }
    std::string context = "model '" + model.name + "' (" + model.location.ToString() + ")";
    Status st = [&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(auto table, lakehouse_.objects().Get(output));
      WriteMode mode = WriteMode::kReplace;
      switch (model.materialization) {
        case Materialization::kAppend:
          mode = WriteMode::kAppend;
          break;
        case Materialization::kReplace:
          mode = WriteMode::kReplace;
          break;
        case Materialization::kOverwritePartitions:
          mode = WriteMode::kOverwrite;
          break;
        case Materialization::kNone:
          return Internal("a model that materializes nothing has no write step");
      }
      std::string location;
      {
        // Iceberg writes of different tables could overlap; they are kept in one thread at
        // a time only because the tree they start from is shared.
        std::lock_guard<std::mutex> lock(write_mutex_);
        std::string partitioned_by;
        for (const auto& p : model.partitioned_by) partitioned_by += (partitioned_by.empty() ? "" : ", ") + p;
        SLUICE_ASSIGN_OR_RAISE(location, WithContext(lakehouse_.WriteTable(source_.tree, node.output_table, table, mode,
                                                                           partitioned_by, node.overwrite_filter),
                                                     context));
      }
      std::lock_guard<std::mutex> lock(mutex_);
      changes_[node.output_table] = location;
      report.output_table = node.output_table;
      return Status::OK();
    }();
    return Finish(i, std::move(report), st, /*final=*/true);
  }

  // Records node i's report after a step: failed, or (when `final`) successful; observers
  // hear of it once, at its last step.
  Status Finish(size_t i, ModelReport report, const Status& st, bool final) {
    std::lock_guard<std::mutex> lock(mutex_);
    report.seconds = MonotonicSeconds() - call_started_[i];
    if (!st.ok()) {
      report.status = ModelStatus::kFailed;
      report.message = cancelled_ ? "cancelled" : st.message();
      if (!failed_) {
        failed_ = true;
        failure_ = st;
      }
    } else if (final && report.status == ModelStatus::kSkipped) {
      report.status = ModelStatus::kSuccess;
    }
    reports_[i] = report;
    if (observer_ && (final || !st.ok())) observer_->OnModelFinish(report);
    return st;
  }

  // A scan step: the table's rows it needs, put in the object store for every reader. It
  // never fails the run itself: its readers fail with its error when they run.
  Status RunScan(size_t s) {
    const ScanStep& scan = physical_.scans[s];
    ScanStats stats;
    double started = MonotonicSeconds();
    Result<std::string> path = [&]() -> Result<std::string> {
      SLUICE_RETURN_NOT_OK(scan.error);
      TableReadOptions read;
      read.columns = scan.columns;
      read.filter = scan.filter;
      read.cache = options_.cache;
      SLUICE_ASSIGN_OR_RAISE(auto table, lakehouse_.ReadTable(source_, scan.table, read, &stats));
      return lakehouse_.objects().Put(RunPrefix() + "scan-" + NewShortId(8), *table);
    }();
    std::lock_guard<std::mutex> lock(mutex_);
    if (path.ok() && !scan.readers.empty()) {
      // Told on its first reader's line; its calls wait for this step, so the report is
      // still this node's latest.
      TableScanReport told;
      told.table = scan.table;
      told.bytes_from_storage = stats.bytes_from_storage;
      told.bytes_from_cache = stats.bytes_from_cache;
      told.storage_reasons = stats.storage_reasons;
      told.row_groups_read = stats.row_groups_read;
      told.row_groups_total = stats.row_groups_total;
      told.files_read = stats.files;
      told.files_total = stats.files_total;
      told.seconds = MonotonicSeconds() - started;
      if (scan.readers.size() > 1) told.shared_with = plan_.nodes[scan.readers[1].first].model.name;
      reports_[scan.readers[0].first].scans.push_back(std::move(told));
    }
    scan_paths_[s] = std::move(path);
    return Status::OK();
  }

  void Warn(ModelReport* report, const std::string& message) {
    report->status = ModelStatus::kWarning;
    report->message = message;
    std::lock_guard<std::mutex> lock(mutex_);
    warnings_.push_back(message);
    if (observer_) observer_->OnWarning(message);
  }

  // The object an input of node `node` reads (its `k`th), and the columns the worker projects
  // from it: a table's come from its scan step; a model's output is already in shared memory.
  Result<std::string> MaterializeInput(size_t node, size_t k, std::vector<std::string>* columns) {
    const ResolvedInput& input = plan_.nodes[node].inputs[k];
    if (long scan = physical_.scan_of[node][k]; scan >= 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      return scan_paths_[scan];
    }
    // A model's output: already in shared memory. A column projection is done by the
    // worker on the mapped table (zero copy); only a filter makes a new object.
    std::string upstream_path;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t j = 0; j < plan_.nodes.size(); ++j) {
        if (plan_.nodes[j].model.name == input.source_name) upstream_path = outputs_[j];
      }
    }
    if (upstream_path.empty()) return Internal("no output for model '", input.source_name, "'");
    if (input.filter.empty()) {
      *columns = input.input.columns;
      return upstream_path;
    }
    SLUICE_ASSIGN_OR_RAISE(auto table, lakehouse_.objects().Get(upstream_path));
    SLUICE_ASSIGN_OR_RAISE(auto filtered, FilterTable(table, input.input.columns, input.filter));
    return lakehouse_.objects().Put(RunPrefix() + "filtered-" + NewShortId(8), *filtered);
  }

  std::string RunPrefix() const { return "runs/" + job_id_ + "/"; }

  Status CallModel(const PlanNode& node, size_t index, ModelReport* report) {
    const ModelSpec& model = node.model;
    std::string context = "model '" + model.name + "' (" + model.location.ToString() + ")";
    WorkerTask task;
    task.kind = model.kind == ModelKind::kSql ? "sql" : "python";
    task.model = model.name;
    task.project_dir = options_.project_dir;
    task.file = model.location.file;
    task.function = model.function_name;
    task.line = model.location.line;
    SLUICE_ASSIGN_OR_RAISE(task.sql, WithContext(secrets_.Sql(node), context));
    task.expectation = model.kind == ModelKind::kExpectation;
    SLUICE_ASSIGN_OR_RAISE(task.arguments, WithContext(secrets_.Arguments(node), context));
    if (!model.output_columns.empty()) task.expected_columns = model.output_columns;
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      const ResolvedInput& input = node.inputs[k];
      WorkerInput worker_input;
      worker_input.param = input.input.param_name;
      worker_input.name = input.source_name;
      SLUICE_ASSIGN_OR_RAISE(worker_input.path, WithContext(MaterializeInput(index, k, &worker_input.columns),
                                                            context + ": input '" + input.input.name + "'"));
      worker_input.sql_names = {input.input.param_name};
      if (auto heap_table = lakehouse_.objects().HeapTableOf(worker_input.path)) {
        worker_input.heap_table = std::move(heap_table->description);
        worker_input.segments = std::move(heap_table->segments);
      }
      task.inputs.push_back(std::move(worker_input));
    }
    std::string run_dir = lakehouse_.objects().root() + "/" + RunPrefix();
    SLUICE_RETURN_NOT_OK(MakeDirs(run_dir));
    std::string base = run_dir + model.name;
    task.output_path = base + ".arrow";
    // A recycled arena file for the output, about the size of the inputs: writing into
    // resident pages is much cheaper than faulting in fresh ones.
    int64_t input_bytes = 0;
    for (const auto& input : task.inputs)
      input_bytes += std::max<int64_t>(lakehouse_.objects().ObjectBytes(input.path), 0);
    SLUICE_RETURN_NOT_OK(WithContext(lakehouse_.objects().ClaimForWriter(task.output_path, input_bytes), context));
    task.max_output_bytes = lakehouse_.objects().MaxObjectBytes();
    // Inputs are opened where they live now: spilled ones from disk (data/object_store.h).
    task.open_input = [this](const std::string& path) { return lakehouse_.objects().OpenForReader(path); };
    task.timeout_seconds = TimeoutFor(model);
    if (model.kind != ModelKind::kSql) task.function_sandbox = workers_->SandboxFor(index);
    if (!task.expectation && SharedHeapEnabled()) {
      SLUICE_ASSIGN_OR_RAISE(OwnedFd heap, WithContext(MemoryFile("sluice-heap"), context));
      task.heap = std::make_shared<OwnedFd>(std::move(heap));
    }

    report->worker_start = MonotonicSeconds();
    SLUICE_ASSIGN_OR_RAISE(std::unique_ptr<Subprocess> worker, WithContext(workers_->Take(index), context));
    // @resources(memory=, cpus=): the worker joins a cgroup of its own before its task.
    std::unique_ptr<WorkerCgroup> cgroup;
    int64_t memory_limit = 0;
    double cpus = 0;
    if (auto m = model.resources.find("memory"); m != model.resources.end()) {
      SLUICE_ASSIGN_OR_RAISE(memory_limit, WithContext(ParseMemorySize(m->second), context));
    }
    if (auto c = model.resources.find("cpus"); c != model.resources.end()) cpus = ParseSeconds(c->second);
    if (memory_limit > 0 || cpus > 0) {
      SLUICE_ASSIGN_OR_RAISE(
          cgroup, WithContext(WorkerCgroup::Create(job_id_ + "-" + model.name, memory_limit, cpus, kWorkerMaxProcesses),
                              context));
      SLUICE_RETURN_NOT_OK(WithContext(cgroup->AddProcess(worker->pid()), context));
    } else if (auto limited = WorkerCgroup::Create(job_id_ + "-" + model.name, 0, 0, kWorkerMaxProcesses);
               limited.ok() && (*limited)->AddProcess(worker->pid()).ok()) {
      // Every worker and whatever it starts, counted alone; where cgroups cannot be made, the
      // sandbox's RLIMIT_NPROC (shared by an environment's workers) is the limit.
      cgroup = std::move(*limited);
    }
    // The functions the model maps (sluice.map) count against its limits: RunWorker has
    // ended them all when it returns, before the cgroup goes.
    task.function_cgroup = cgroup.get();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cancelled_) return Cancelled(context, ": the run was cancelled");
      running_pids_[index] = worker->pid();
    }
    auto ran = RunWorker(task, std::move(worker));
    {
      std::lock_guard<std::mutex> lock(mutex_);
      running_pids_.erase(index);
    }
    if (cgroup && cgroup->MemoryLimitHit() && (!ran.ok() || !ran->ok)) {
      return ResourceExceeded(context, " exceeded its memory limit of ", model.resources.at("memory"),
                              " and was stopped");
    }
    SLUICE_ASSIGN_OR_RAISE(WorkerResult result, WithContext(std::move(ran), context));
    report->user_start = result.t_user_start;
    report->user_return = result.t_user_return;
    report->output_written = result.t_output_written;
    if (!result.ok) {
      report->traceback = result.traceback;
      std::string where = result.error_file.empty() ? model.location.ToString()
                                                    : result.error_file + ":" + std::to_string(result.error_line);
      return UserCodeFailed(context, " failed at ", where, ": ", result.error_type, ": ", result.error_message);
    }
    if (task.expectation) {
      // It writes no table: the file claimed for it goes back to the arena now rather than
      // stay counted against the memory budget until the run ends.
      (void)lakehouse_.objects().Release(task.output_path);
      bool passed = result.expectation.value_or(false);
      if (!passed) {
        std::string why =
            result.expectation_message.empty() ? "expectation returned false" : result.expectation_message;
        if (options_.strict) return ExpectationFailed(context, ": ", why);
        Warn(report, "expectation '" + model.name + "' failed: " + why);
      }
      return Status::OK();
    }
    report->rows = result.num_rows;
    if (task.heap) {
      // The worker is gone: its heap can be sealed, and the output checked where it is.
      std::vector<std::string> input_paths;
      std::vector<std::vector<std::shared_ptr<OwnedFd>>> input_heap_segments;
      for (const auto& input : task.inputs) {
        input_paths.push_back(input.path);
        input_heap_segments.push_back(input.segments);
      }
      OwnedFd heap(task.heap->release());
      SLUICE_RETURN_NOT_OK(
          WithContext(lakehouse_.objects().AdoptHeapTable(task.output_path, std::move(heap), input_paths,
                                                          input_heap_segments, &report->output_shared_bytes),
                      context + ": its output"));
    }
    // The output is complete: counted against the memory budget, which may spill older objects.
    // (A heap table's file is a description, which IsSpillable leaves where it is.)
    SLUICE_RETURN_NOT_OK(WithContext(lakehouse_.objects().Written(task.output_path), context));
    if (!result.column_mismatch.empty()) {
      if (options_.strict) return InvalidInput(context, ": ", result.column_mismatch);
      Warn(report, "model '" + model.name + "': " + result.column_mismatch);
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      outputs_[index] = task.output_path;
    }
    bool preview = options_.preview != "off" && !options_.preview.empty();
    if (preview) {
      // Mapped, not read into memory.
      SLUICE_ASSIGN_OR_RAISE(auto table, lakehouse_.objects().Get(task.output_path));
      PreviewTable(*table, options_.preview == "tail", report);
    }
    return Status::OK();
  }

 public:
  double default_timeout_ = 0;
  SecretParameters secrets_;  // opens secret parameters as tasks are written

 private:
  Lakehouse& lakehouse_;
  const RunOptions& options_;
  const Plan& plan_;
  const ResolvedRef& source_;
  RunObserver* observer_;
  std::string job_id_;

  std::mutex mutex_;
  std::mutex write_mutex_;
  std::vector<ModelReport> reports_;             // GUARDED_BY(mutex_)
  std::vector<std::string> outputs_;             // GUARDED_BY(mutex_)
  PhysicalPlan physical_;                        // set by Execute
  std::vector<Result<std::string>> scan_paths_;  // GUARDED_BY(mutex_): by scan, its object or why not
  std::vector<double> call_started_;             // GUARDED_BY(mutex_): by node
  TableChanges changes_;                         // GUARDED_BY(mutex_)
  std::vector<std::string> warnings_;            // GUARDED_BY(mutex_)
  std::unique_ptr<ModelWorkerPool> workers_;     // set by PrepareWorkers
  bool failed_ = false;                          // GUARDED_BY(mutex_)
  bool cancelled_ = false;                       // GUARDED_BY(mutex_)
  std::map<size_t, int> running_pids_;           // GUARDED_BY(mutex_): node -> its worker's pid
  Status failure_;                               // GUARDED_BY(mutex_)
};

Status CommitOutputs(Catalog& catalog, const std::string& branch, const ResolvedRef& base, const TableChanges& changes,
                     const std::string& author, const std::string& message, const std::string& job_id, Commit* commit) {
  if (changes.empty()) return Status::OK();
  CommitRequest request;
  request.branch = branch;
  request.changes = changes;
  for (const auto& [table, _] : changes) request.namespaces_to_add.insert(table.substr(0, table.find('.')));
  request.author = author;
  request.message = message;
  request.properties["bpln_job_id"] = job_id;  // bauplan's name for it
  request.expected_head = base.commit.id;
  SLUICE_ASSIGN_OR_RAISE(*commit, catalog.CommitChanges(request));
  return Status::OK();
}

}  // namespace

Result<RunReport> RunProject(Lakehouse& lakehouse, const RunOptions& options, RunObserver* observer) {
  double started = MonotonicSeconds();
  Catalog& catalog = lakehouse.catalog();
  SLUICE_ASSIGN_OR_RAISE(ResolvedRef target, catalog.Resolve(options.ref));
  if (!options.dry_run) {
    if (target.branch.empty()) {
      return WithHint(InvalidInput("ref '", options.ref, "' is not a branch: runs write to a branch"),
                      "use --dry-run to run against a tag or a commit");
    }
    SLUICE_RETURN_NOT_OK(Catalog::CheckWritable(target.branch, "runs"));
  }
  SLUICE_ASSIGN_OR_RAISE(Project project,
                         LoadProject(AbsolutePath(options.project_dir), PythonExecutable(), PythonPackageDir()));
  PlanOptions plan_options;
  plan_options.namespace_name = options.namespace_name;
  plan_options.cli_params = options.params;
  plan_options.resolve_table = [&](const std::string& table) { return ResolveTableName(target.tree, table); };
  SLUICE_ASSIGN_OR_RAISE(Plan plan, BuildPlan(project, plan_options));
  SLUICE_ASSIGN_OR_RAISE(SecretParameters secrets, SecretParameters::Make(project, plan));
  if (observer) observer->OnProject(project.file.id, project.file.name);
  double environments_started = MonotonicSeconds();
  SLUICE_ASSIGN_OR_RAISE(auto environments, PrepareEnvironments(project, plan));

  RunReport report;
  report.environment_seconds = MonotonicSeconds() - environments_started;
  report.job_id = options.job_id.empty() ? NewShortId(12) : options.job_id;
  report.target_ref = options.ref;
  std::string author = options.author.empty() ? CurrentAuthor() : options.author;
  if (observer) observer->OnPlan(plan, report.job_id);

  // The run writes on its own branch, forked from the target's head as read above.
  std::string write_branch = target.branch;
  if (!options.dry_run && options.transaction) {
    report.run_branch = target.branch + ".run-" + report.job_id;
    SLUICE_RETURN_NOT_OK(catalog.CreateBranch(report.run_branch, "@" + target.commit.id));
    write_branch = report.run_branch;
  }

  RunOptions effective = options;
  effective.project_dir = project.dir;
  RunState state(lakehouse, effective, plan, target, observer, report.job_id);
  state.default_timeout_ = project.file.timeout_seconds;
  state.secrets_ = std::move(secrets);
  ZygotePool run_zygotes;
  SLUICE_RETURN_NOT_OK(state.PrepareWorkers(environments, options.zygotes ? options.zygotes : &run_zygotes));
  int parallel =
      options.max_parallel > 0 ? options.max_parallel : static_cast<int>(std::thread::hardware_concurrency());
  state.Execute(std::max(parallel, 1));
  report.models = state.reports();
  report.warnings = state.warnings();
  if (Status sandbox = SandboxAvailable(); !sandbox.ok()) {
    report.warnings.push_back(sandbox.message());
    if (observer) observer->OnWarning(sandbox.message());
  }
  report.status = state.failed() ? state.failure() : Status::OK();

  if (state.cancelled()) {
    // Nothing of a cancelled run is kept: its branch goes, and the target never moved.
    if (!report.run_branch.empty()) (void)catalog.DeleteBranch(report.run_branch);
    report.run_branch.clear();
  } else if (!options.dry_run) {
    // Whatever materialized is committed on the run branch, even after a failure, so the
    // kept branch shows how far the run got. The target moves only by the final merge.
    Commit commit;
    std::string message =
        std::string(state.failed() ? "partial run " : "run ") + report.job_id + " of project " + project.file.name;
    Status committed =
        CommitOutputs(catalog, write_branch, target, state.changes(), author, message, report.job_id, &commit);
    if (report.status.ok()) report.status = committed;
    if (report.status.ok() && options.transaction) {
      auto merged = catalog.Merge(report.run_branch, target.branch, author,
                                  "merge run " + report.job_id + " into " + target.branch, IcebergAppendMerger());
      if (merged.ok()) {
        report.commit_id = merged->commit.id;
        (void)catalog.DeleteBranch(report.run_branch);
      } else {
        report.status =
            WithContext(merged.status(), "merging run branch '" + report.run_branch + "' into '" + target.branch + "'");
      }
    } else if (report.status.ok()) {
      report.commit_id = commit.id;
    }
    report.run_branch_kept = !report.status.ok() && !report.run_branch.empty();
  }
  MemoryBudgetGroupStats usage = lakehouse.objects().Usage("runs/" + report.job_id);
  report.memory_budget_bytes = lakehouse.objects().memory_budget();
  report.peak_shared_memory_bytes = usage.peak_bytes;
  report.spilled_bytes = usage.spilled_bytes;
  (void)lakehouse.objects().ReleaseAll("runs/" + report.job_id);
  report.seconds = MonotonicSeconds() - started;
  return report;
}

}  // namespace sluice
