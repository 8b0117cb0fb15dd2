#include "exec/job_recorder.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/utf8.h"
#include "exec/json_views.h"

namespace sluice {
namespace {

using nlohmann::json;

// How often buffered lines reach the catalog and a cancel request is looked for.
constexpr auto kFlushInterval = std::chrono::milliseconds(200);
// The project files a run's job keeps, at most this much in all.
constexpr size_t kMaxSnapshotBytes = 256 * 1024;

std::string HostName() {
  char buffer[256] = {0};
  if (::gethostname(buffer, sizeof(buffer) - 1) != 0) return "localhost";
  return buffer;
}

// The project's own files (top level: models, SQL, the project file), as the run read them.
json ProjectSnapshot(const std::string& dir) {
  json files = json::object();
  std::error_code ec;
  size_t used = 0;
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    auto ext = entry.path().extension().string();
    auto name = entry.path().filename().string();
    if (ext == ".py" || ext == ".sql" || ext == ".yml" || ext == ".yaml" || name == "requirements.txt") {
      paths.push_back(entry.path());
    }
  }
  std::sort(paths.begin(), paths.end());
  for (const auto& path : paths) {
    auto text = ReadFile(path.string());
    if (!text.ok() || used + text->size() > kMaxSnapshotBytes) continue;
    used += text->size();
    files[path.filename().string()] = *text;
  }
  return files;
}

json* FindModel(json& detail, const std::string& name) {
  for (auto& model : detail["models"]) {
    if (model.value("name", "") == name) return &model;
  }
  detail["models"].push_back({{"name", name}});
  return &detail["models"].back();
}

}  // namespace

std::string JobRunnerName() { return HostName() + ":" + std::to_string(::getpid()); }

Result<JobRecord> ReconcileJob(JobStore& jobs, JobRecord job) {
  if (IsFinalJobStatus(job.status)) return job;
  auto colon = job.runner.rfind(':');
  if (colon == std::string::npos || job.runner.substr(0, colon) != HostName()) return job;
  int pid = std::atoi(job.runner.c_str() + colon + 1);
  if (pid <= 0 || ::kill(pid, 0) == 0 || errno != ESRCH) return job;
  Status gone = Cancelled("the process running job '", job.id, "' (pid ", pid, ") ended before the job did");
  SLUICE_ASSIGN_OR_RAISE(bool ended, jobs.EndIfActive(job.id, kJobAbort, NowMillis(), ErrorJson(gone).dump()));
  if (ended) {
    JobLogRecord line;
    line.time_ms = NowMillis();
    line.level = "ERROR";
    line.stream = "STDERR";
    line.message = gone.message();
    (void)jobs.AppendLogs(job.id, {line});
  }
  return jobs.Get(job.id);
}

JobRecorder::JobRecorder(Catalog& catalog, JobRecord job, json detail, RunObserver* forward)
    : catalog_(catalog), forward_(forward), job_(std::move(job)), detail_(std::move(detail)) {}

Result<std::unique_ptr<JobRecorder>> JobRecorder::Start(Catalog& catalog, JobStart start, RunObserver* forward) {
  JobRecord job;
  job.id = start.id.empty() ? NewShortId(12) : start.id;
  job.kind = start.kind;
  job.status = kJobRunning;
  job.user = start.user;
  job.ref = start.ref;
  job.created_ms = job.started_ms = NowMillis();
  job.runner = JobRunnerName();
  json detail = {{"operation", start.operation},
                 {"options", start.options},
                 {"dag_nodes", json::array()},
                 {"dag_edges", json::array()},
                 {"models", json::array()}};
  if (!start.project_dir.empty()) {
    detail["project_dir"] = AbsolutePath(start.project_dir);
    detail["snapshot"] = ProjectSnapshot(start.project_dir);
  }
  job.detail = detail.dump();
  SLUICE_RETURN_NOT_OK(catalog.jobs().Create(job));
  std::unique_ptr<JobRecorder> recorder(new JobRecorder(catalog, std::move(job), std::move(detail), forward));
  recorder->background_ = std::thread([r = recorder.get()] { r->Background(); });
  return recorder;
}

JobRecorder::~JobRecorder() {
  Finish(Internal("the job ended without a result"));
  if (background_.joinable()) background_.join();
}

void JobRecorder::AddLog(JobLogRecord line) {
  if (logged_ >= kMaxLogLines) return;
  if (line.time_ms == 0) line.time_ms = NowMillis();
  if (line.message.size() > kMaxLineBytes) {
    line.message.resize(Utf8Prefix(line.message, kMaxLineBytes).size());  // not inside a character
    line.message += " ... (line truncated)";
  }
  if (++logged_ == kMaxLogLines) {
    line.level = "WARN";
    line.stream = "STDERR";
    line.message = "the job's log reached " + std::to_string(kMaxLogLines) + " lines: later lines are dropped";
  }
  pending_.push_back(std::move(line));
}

void JobRecorder::OnProject(const std::string& id, const std::string& name) {
  if (forward_) forward_->OnProject(id, name);
  std::lock_guard<std::mutex> lock(mutex_);
  detail_["project_id"] = id;
  detail_["project_name"] = name;
  detail_dirty_ = true;
}

void JobRecorder::OnPlan(const Plan& plan, const std::string& job_id) {
  if (forward_) forward_->OnPlan(plan, job_id);
  std::lock_guard<std::mutex> lock(mutex_);
  json nodes = json::array(), edges = json::array(), models = json::array();
  for (const auto& node : plan.nodes) {
    nodes.push_back({{"id", node.model.name}, {"name", node.model.name}});
    for (const auto& input : node.inputs) {
      bool from_model = input.source == InputSource::kModel;
      edges.push_back({{"source_model", from_model ? json(input.source_name) : json(nullptr)},
                       {"destination_model", node.model.name},
                       {"source_table", from_model ? json(nullptr) : json(input.source_name)}});
    }
    models.push_back({{"name", node.model.name},
                      {"kind", ModelKindName(node.model.kind)},
                      {"location", node.model.location.ToString()},
                      {"status", "NOT_STARTED"},
                      {"started_at", nullptr},
                      {"finished_at", nullptr},
                      {"seconds", nullptr},
                      {"rows", nullptr},
                      {"output_table", node.output_table},
                      {"message", ""}});
  }
  detail_["dag_nodes"] = nodes;
  detail_["dag_edges"] = edges;
  detail_["models"] = models;
  detail_["dag_text"] = plan.ToText();
  detail_dirty_ = true;
}

void JobRecorder::OnModelStart(const std::string& model) {
  if (forward_) forward_->OnModelStart(model);
  std::lock_guard<std::mutex> lock(mutex_);
  json* entry = FindModel(detail_, model);
  (*entry)["status"] = "RUNNING";
  (*entry)["started_ms"] = NowMillis();
  detail_dirty_ = true;
  JobLogRecord line;
  line.type = "system";
  line.model = model;
  line.message = "model '" + model + "' started";
  AddLog(std::move(line));
}

void JobRecorder::OnModelOutput(const std::string& model, const std::string& text) {
  if (forward_) forward_->OnModelOutput(model, text);
  std::lock_guard<std::mutex> lock(mutex_);
  JobLogRecord line;
  line.model = model;
  line.message = text;
  AddLog(std::move(line));
}

void JobRecorder::OnModelFinish(const ModelReport& report) {
  if (forward_) forward_->OnModelFinish(report);
  std::lock_guard<std::mutex> lock(mutex_);
  json* entry = FindModel(detail_, report.name);
  bool cancelled = report.status == ModelStatus::kFailed && cancel_->load();
  std::string status = cancelled ? "CANCELLED" : std::string(ModelStatusName(report.status));
  for (auto& c : status) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  (*entry)["status"] = status;
  (*entry)["finished_ms"] = NowMillis();
  (*entry)["seconds"] = report.seconds;
  (*entry)["rows"] = report.rows < 0 ? json(nullptr) : json(report.rows);
  (*entry)["output_table"] = report.output_table;
  (*entry)["message"] = report.message;
  (*entry)["scans"] = ModelReportJson(report)["scans"];
  detail_dirty_ = true;
  JobLogRecord line;
  line.type = "system";
  line.model = report.name;
  line.message = "model '" + report.name + "' " + status;
  AddLog(std::move(line));
  if (report.status == ModelStatus::kFailed && !report.message.empty() && !cancelled) {
    JobLogRecord error;
    error.level = "ERROR";
    error.stream = "STDERR";
    error.model = report.name;
    error.message = report.message;
    AddLog(std::move(error));
    if (!report.traceback.empty()) {
      JobLogRecord traceback = error;
      traceback.message = report.traceback;
      AddLog(std::move(traceback));
    }
  }
}

void JobRecorder::OnWarning(const std::string& message) {
  if (forward_) forward_->OnWarning(message);
  std::lock_guard<std::mutex> lock(mutex_);
  JobLogRecord line;
  line.level = "WARN";
  line.stream = "STDERR";
  line.message = message;
  AddLog(std::move(line));
}

void JobRecorder::SetDetail(const std::string& key, json value) {
  std::lock_guard<std::mutex> lock(mutex_);
  detail_[key] = std::move(value);
  detail_dirty_ = true;
}

void JobRecorder::Flush() {
  std::lock_guard<std::mutex> flushing(flush_mutex_);
  std::vector<JobLogRecord> lines;
  std::optional<JobRecord> job;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    lines.swap(pending_);
    if (detail_dirty_) {
      job_.detail = detail_.dump();
      job = job_;
      detail_dirty_ = false;
    }
  }
  // Best effort: a catalog that cannot take a log line must not fail the job itself.
  if (!lines.empty()) (void)catalog_.jobs().AppendLogs(job_.id, std::move(lines));
  if (job) (void)catalog_.jobs().Update(*job);
}

void JobRecorder::Background() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (!finished_) {
    wake_.wait_for(lock, kFlushInterval);
    if (finished_) break;
    lock.unlock();
    Flush();
    if (!cancel_->load()) {
      auto record = catalog_.jobs().Get(job_.id);
      if (record.ok() && record->cancel_requested) cancel_->store(true);
    }
    lock.lock();
  }
}

void JobRecorder::Finish(const Status& status) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finished_) return;
    finished_ = true;
    bool cancelled = KindOf(status) == ErrorKind::kCancelled;
    job_.status = status.ok() ? kJobComplete : cancelled ? kJobAbort : kJobFail;
    job_.finished_ms = NowMillis();
    if (!status.ok()) {
      job_.error = ErrorJson(status).dump();
      JobLogRecord line;
      line.level = cancelled ? "WARN" : "ERROR";
      line.stream = "STDERR";
      line.message = cancelled ? "job cancelled" : status.message();
      // Always kept, even past the line limit: the job's outcome.
      line.time_ms = job_.finished_ms;
      pending_.push_back(std::move(line));
    }
    detail_dirty_ = true;
  }
  wake_.notify_all();
  if (background_.joinable() && background_.get_id() != std::this_thread::get_id()) background_.join();
  Flush();
}

}  // namespace sluice
