#include "server/api_jobs.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <thread>

#include "common/bounded_json.h"
#include "common/file_util.h"
#include "exec/job_views.h"
#include "exec/json_views.h"
#include "server/api_json.h"
#include "server/request_fields.h"

namespace sluice {
namespace {

using nlohmann::json;

bool ParamFlag(const RestRequest& request, const std::string& key) {
  std::string value = Param(request, key);
  return value == "true" || value == "1" || value == "on" || value == "yes";
}

std::vector<std::string> SplitList(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

Result<int64_t> ParamInt(const RestRequest& request, const std::string& key, int64_t fallback, int64_t min,
                         int64_t max) {
  std::string text = Param(request, key);
  if (text.empty()) return fallback;
  try {
    size_t used = 0;
    int64_t value = std::stoll(text, &used);
    if (used == text.size() && value >= min && value <= max) return value;
  } catch (const std::exception&) {
  }
  return InvalidInput("'", key, "' must be a whole number from ", min, " to ", max, ", not '", text, "'");
}

// bauplan passes switches as "on"/"off"; booleans are accepted too.
Result<bool> OnOff(const json& body, const char* key, bool fallback) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  const json& value = body[key];
  if (value.is_boolean()) return value.get<bool>();
  if (value.is_string()) {
    std::string text = value.get<std::string>();
    if (text == "on" || text == "true") return true;
    if (text == "off" || text == "false") return false;
  }
  return InvalidInput("'", key, "' must be \"on\", \"off\" or a boolean, not ", value.dump());
}

Result<std::string> PreviewMode(const json& body) {
  if (!body.contains("preview") || body["preview"].is_null()) return std::string("off");
  const json& value = body["preview"];
  if (value.is_boolean()) return std::string(value.get<bool>() ? "on" : "off");
  if (value.is_string()) {
    std::string text = value.get<std::string>();
    if (text == "true") text = "on";
    if (text == "false") text = "off";
    if (text == "on" || text == "off" || text == "head" || text == "tail") return text;
  }
  return InvalidInput("'preview' must be on, off, head or tail, not ", value.dump());
}

// The job options every kind shares: args (strings), priority (1-10), cache (on/off).
Result<json> CommonJobOptions(const json& body) {
  json options = json::object();
  json args = json::object();
  if (body.contains("args") && !body["args"].is_null()) {
    if (!body["args"].is_object()) return InvalidInput("'args' must be an object of strings");
    for (const auto& [k, v] : body["args"].items()) args[k] = v.is_string() ? v.get<std::string>() : v.dump();
  }
  options["args"] = args;
  if (body.contains("priority") && !body["priority"].is_null()) {
    const json& p = body["priority"];
    if (!p.is_number_integer() || p.get<int64_t>() < 1 || p.get<int64_t>() > 10) {
      return InvalidInput("'priority' must be a whole number from 1 to 10, not ", p.dump());
    }
    options["priority"] = p.get<int64_t>();
  }
  SLUICE_ASSIGN_OR_RAISE(bool cache, OnOff(body, "cache", true));
  options["cache"] = cache ? "on" : "off";
  return options;
}

// What kind of job a request of the rest of the API is, if any.
struct JobKindOfRequest {
  const char* kind;
  const char* operation;
};
std::optional<JobKindOfRequest> JobKindFor(const RestRequest& request) {
  if (request.method != "POST") return std::nullopt;
  auto parts = SplitPath(request.path);  // api, v1, resource, ...
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1") return std::nullopt;
  const std::string& resource = parts[2];
  if (resource == "query" && parts.size() == 3) return JobKindOfRequest{kJobKindQuery, "query"};
  if (resource == "table_plans" && parts.size() == 3) return JobKindOfRequest{kJobKindTablePlanCreate, "table_plan"};
  if (resource == "table_plans" && parts.size() == 4 && parts[3] == "apply") {
    return JobKindOfRequest{kJobKindTablePlanCreateApply, "table_plan_apply"};
  }
  if (resource == "tables" && parts.size() == 5) {
    if (parts[4] == "import") return JobKindOfRequest{kJobKindTableImport, "table_import"};
    if (parts[4] == "create") return JobKindOfRequest{kJobKindTablePlanCreateApply, "table_create"};
    if (parts[4] == "external") return JobKindOfRequest{kJobKindUnspecified, "external_table"};
  }
  return std::nullopt;
}

// A run's progress as newline-delimited JSON events (see sluice_api.h). A client that went
// away stops the run only when it asked so (`cancel_on_disconnect`: the local CLI, whose
// user expects killing it to kill the run, as it did in-process); otherwise the run goes on,
// a transaction either way. A heartbeat every few seconds is how a silent run notices.
class StreamingObserver : public RunObserver {
 public:
  StreamingObserver(const ChunkWriter& write, bool cancel_on_disconnect)
      : write_(write), cancel_on_disconnect_(cancel_on_disconnect) {
    heartbeat_ = std::thread([this] {
      std::unique_lock<std::mutex> lock(mutex_);
      while (!done_) {
        if (wake_.wait_for(lock, kHeartbeat, [this] { return done_; })) break;
        lock.unlock();
        Send({{"event", "heartbeat"}});
        lock.lock();
      }
    });
  }
  ~StreamingObserver() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    heartbeat_.join();
  }
  // The run to cancel when the client is gone.
  void Watch(JobRecorder* recorder) {
    std::lock_guard<std::mutex> lock(mutex_);
    recorder_ = recorder;
  }
  // Thread-safe: models' output, the heartbeat and the run's end write from their threads.
  void Send(const json& event) {
    std::lock_guard<std::mutex> lock(write_mutex_);
    if (!connected_) return;
    connected_ = write_(JsonText(event) + "\n");
    if (connected_ || !cancel_on_disconnect_) return;
    std::lock_guard<std::mutex> watched(mutex_);
    if (recorder_) recorder_->Cancel();
  }
  void OnPlan(const Plan& plan, const std::string& job_id) override {
    Send({{"event", "plan"}, {"job_id", job_id}, {"models", plan.nodes.size()}, {"text", plan.ToText()}});
  }
  void OnModelOutput(const std::string& model, const std::string& line) override {
    Send({{"event", "output"}, {"model", model}, {"line", line}});
  }
  void OnModelFinish(const ModelReport& report) override {
    Send({{"event", "model"}, {"report", ModelReportJson(report)}});
  }
  void OnWarning(const std::string& message) override { Send({{"event", "warning"}, {"message", message}}); }

 private:
  static constexpr std::chrono::seconds kHeartbeat{5};
  const ChunkWriter& write_;
  const bool cancel_on_disconnect_;
  std::mutex write_mutex_;
  bool connected_ = true;  // GUARDED_BY(write_mutex_)
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;                // GUARDED_BY(mutex_)
  JobRecorder* recorder_ = nullptr;  // GUARDED_BY(mutex_)
  std::thread heartbeat_;
};

}  // namespace

JobsApi::~JobsApi() {
  std::map<std::string, Detached> running;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    running.swap(detached_);
  }
  for (auto& [_, job] : running) job.recorder->Cancel();
  for (auto& [_, job] : running) {
    if (job.thread.joinable()) job.thread.join();
  }
}

size_t JobsApi::active_jobs() {
  std::lock_guard<std::mutex> lock(mutex_);
  ReapFinished();
  return detached_.size();
}

void JobsApi::ReapFinished() {
  for (auto it = detached_.begin(); it != detached_.end();) {
    if (it->second.done->load()) {
      if (it->second.thread.joinable()) it->second.thread.join();
      it = detached_.erase(it);
    } else {
      ++it;
    }
  }
}

ApiResponse JobsApi::RecordAsJob(const RestRequest& request, const std::function<ApiResponse()>& handle) {
  auto kind = JobKindFor(request);
  if (!kind) return handle();
  json body;
  try {
    body = request.body.empty() ? json::object() : ParseBoundedJson(request.body);
  } catch (const std::exception&) {
    return handle();  // the handler reports the bad body
  }
  if (!body.is_object()) return handle();
  JobStart start;
  start.kind = kind->kind;
  start.operation = kind->operation;
  start.user = RequestAuthor(request, body);
  start.ref = Field(body, "branch", Field(body, "ref", Field(body, "into_branch")));
  auto options = CommonJobOptions(body);
  start.options = options.ok() ? *options : json::object();
  auto recorder = JobRecorder::Start(lake_->catalog(), start);
  if (!recorder.ok()) return handle();  // a catalog that cannot record jobs still answers
  ApiResponse response = handle();
  Status outcome;
  if (response.status >= 400) {
    json error;
    try {
      error = json::parse(response.body).at("error");
    } catch (const std::exception&) {
      error = {{"kind", "internal error"}, {"message", "HTTP " + std::to_string(response.status)}};
    }
    outcome = MakeError(ErrorKindFromName(error.value("kind", "")), error.value("message", ""));
  }
  if (response.status < 400 && response.content_type == "application/json") {
    try {
      json answer = json::parse(response.body);
      if (answer.is_object()) {
        answer["job_id"] = (*recorder)->id();
        if (answer.contains("commit") && answer["commit"].is_string()) {
          (*recorder)->SetDetail("commit_id", answer["commit"]);
        }
        response.body = JsonText(answer);
      }
    } catch (const std::exception&) {
    }
  }
  (*recorder)->Finish(outcome);
  return response;
}

Result<std::optional<ApiResponse>> JobsApi::Route(const RestRequest& request, const std::vector<std::string>& parts,
                                                  const json& body) {
  const std::string& resource = parts[2];
  const std::string& method = request.method;
  if (resource == "runs" && parts.size() == 3 && method == "POST") {
    SLUICE_ASSIGN_OR_RAISE(ApiResponse response, PostRun(body, RequestAuthor(request, body)));
    return std::optional<ApiResponse>(std::move(response));
  }
  if (resource != "jobs") return std::optional<ApiResponse>();
  JobStore& jobs = lake_->catalog().jobs();
  if (parts.size() == 3 && method == "GET") {
    SLUICE_ASSIGN_OR_RAISE(ApiResponse response, ListJobs(request));
    return std::optional<ApiResponse>(std::move(response));
  }
  if (parts.size() < 4) return std::optional<ApiResponse>();
  const std::string& id = parts[3];
  SLUICE_RETURN_NOT_OK(CheckJobId(id));
  if (parts.size() == 5 && parts[4] == "cancel" && method == "POST") {
    SLUICE_ASSIGN_OR_RAISE(ApiResponse response, CancelJob(id));
    return std::optional<ApiResponse>(std::move(response));
  }
  if (method != "GET") return std::optional<ApiResponse>();
  SLUICE_ASSIGN_OR_RAISE(JobRecord job, jobs.Get(id));
  SLUICE_ASSIGN_OR_RAISE(job, ReconcileJob(jobs, job));
  if (parts.size() == 4) return std::optional<ApiResponse>(Json(JobJson(job, true)));
  if (parts.size() == 5 && parts[4] == "logs") {
    SLUICE_ASSIGN_OR_RAISE(int64_t after, ParamInt(request, "after", 0, 0, INT64_MAX));
    SLUICE_ASSIGN_OR_RAISE(int64_t limit, ParamInt(request, "limit", 1000, 1, 10000));
    bool system = ParamFlag(request, "system") || ParamFlag(request, "all");
    SLUICE_ASSIGN_OR_RAISE(auto lines, jobs.Logs(id, after, static_cast<size_t>(limit), system));
    json logs = json::array();
    int64_t next = after;
    for (const auto& line : lines) {
      logs.push_back(JobLogJson(line));
      next = std::max(next, line.seq);
    }
    return std::optional<ApiResponse>(
        Json({{"job_id", id}, {"status", job.status}, {"logs", logs}, {"next_after", next}}));
  }
  if (parts.size() == 5 && parts[4] == "context") {
    std::vector<JobLogRecord> lines;
    bool with_logs = ParamFlag(request, "include_logs");
    if (with_logs) {
      SLUICE_ASSIGN_OR_RAISE(lines, jobs.Logs(id, 0, 10000, true));
    }
    return std::optional<ApiResponse>(
        Json(JobContextJson(job, with_logs ? &lines : nullptr, ParamFlag(request, "include_snapshot"))));
  }
  return std::optional<ApiResponse>();
}

Result<ApiResponse> JobsApi::ListJobs(const RestRequest& request) {
  JobFilter filter;
  SLUICE_ASSIGN_OR_RAISE(int64_t limit, ParamInt(request, "limit", 100, 1, 500));
  filter.limit = static_cast<size_t>(limit);
  filter.users = SplitList(Param(request, "user"));
  filter.ids = SplitList(Param(request, "id"));
  for (const auto& id : filter.ids) SLUICE_RETURN_NOT_OK(CheckJobId(id));
  for (const auto& kind : SplitList(Param(request, "kind"))) {
    SLUICE_ASSIGN_OR_RAISE(std::string parsed, ParseJobKind(kind));
    filter.kinds.push_back(parsed);
  }
  for (const auto& status : SplitList(Param(request, "status"))) {
    SLUICE_ASSIGN_OR_RAISE(std::string parsed, ParseJobStatus(status));
    filter.statuses.push_back(parsed);
  }
  if (std::string after = Param(request, "created_after"); !after.empty()) {
    SLUICE_ASSIGN_OR_RAISE(filter.created_after_ms, ParseJobTime(after));
  }
  if (std::string before = Param(request, "created_before"); !before.empty()) {
    SLUICE_ASSIGN_OR_RAISE(filter.created_before_ms, ParseJobTime(before));
  }
  JobStore& jobs = lake_->catalog().jobs();
  SLUICE_ASSIGN_OR_RAISE(auto records, jobs.List(filter));
  json out = json::array();
  for (auto& job : records) {
    SLUICE_ASSIGN_OR_RAISE(job, ReconcileJob(jobs, job));
    out.push_back(JobJson(job, false));
  }
  return Json(out);
}

Result<ApiResponse> JobsApi::CancelJob(const std::string& id) {
  JobStore& jobs = lake_->catalog().jobs();
  SLUICE_ASSIGN_OR_RAISE(JobRecord job, jobs.Get(id));
  SLUICE_ASSIGN_OR_RAISE(job, ReconcileJob(jobs, job));
  if (IsFinalJobStatus(job.status)) {
    return WithHint(Conflict("job '", id, "' already ended: ", job.status), "see it with: sluice job get " + id);
  }
  SLUICE_RETURN_NOT_OK(jobs.RequestCancel(id));
  {
    // A detached run of this process stops at once, without waiting for its next poll.
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto it = detached_.find(id); it != detached_.end()) it->second.recorder->Cancel();
  }
  return Json({{"job_id", id}, {"status", job.status}, {"cancel_requested", true}});
}

Result<RunReport> JobsApi::RunRecorded(RunOptions options, JobRecorder* recorder) {
  options.job_id = recorder->id();
  options.cancel = recorder->cancel_flag();
  // The transaction's branch, as the runner names it (runner.cc).
  if (options.transaction && !options.dry_run) recorder->SetDetail("tx_ref", options.ref + ".run-" + options.job_id);
  auto report = RunProject(*lake_, options, recorder);
  if (!report.ok()) {
    recorder->Finish(report.status());
    return report;
  }
  if (!report->commit_id.empty()) recorder->SetDetail("commit_id", report->commit_id);
  recorder->Finish(report->status);
  return report;
}

Result<ApiResponse> JobsApi::PostRun(const json& body, const std::string& author) {
  RunOptions options;
  options.zygotes = zygotes_;
  options.project_dir = Field(body, "project_dir");
  options.ref = Field(body, "ref");
  if (options.project_dir.empty()) return InvalidInput("missing field 'project_dir'");
  if (options.ref.empty()) return InvalidInput("missing field 'ref'");
  options.namespace_name = Field(body, "namespace");
  json parameter_names = json::array();
  if (body.contains("parameters") && body["parameters"].is_object()) {
    for (const auto& [k, v] : body["parameters"].items()) {
      options.params[k] = v.is_string() ? v.get<std::string>() : v.dump();
      parameter_names.push_back(k);  // values may be secrets: the job keeps names only
    }
  }
  SLUICE_ASSIGN_OR_RAISE(options.strict, OnOff(body, "strict", false));
  SLUICE_ASSIGN_OR_RAISE(options.dry_run, OnOff(body, "dry_run", false));
  SLUICE_ASSIGN_OR_RAISE(options.transaction, OnOff(body, "transaction", true));
  SLUICE_ASSIGN_OR_RAISE(options.preview, PreviewMode(body));
  SLUICE_ASSIGN_OR_RAISE(options.cache, OnOff(body, "cache", true));
  options.max_parallel = body.value("parallel", 0);
  options.author = author;
  SLUICE_ASSIGN_OR_RAISE(json job_options, CommonJobOptions(body));
  bool detach = body.value("detach", false);
  job_options["preview"] = options.preview;
  job_options["detached"] = detach;
  job_options["strict"] = options.strict ? "on" : "off";
  job_options["transaction"] = options.transaction ? "on" : "off";
  job_options["dry_run"] = options.dry_run;
  job_options["namespace"] = options.namespace_name;
  job_options["parameters"] = parameter_names;

  JobStart start;
  start.kind = kJobKindRun;
  start.operation = "run";
  start.user = options.author;
  start.ref = options.ref;
  start.options = job_options;
  start.project_dir = options.project_dir;

  if (detach) {
    SLUICE_ASSIGN_OR_RAISE(auto created, JobRecorder::Start(lake_->catalog(), start));
    std::shared_ptr<JobRecorder> recorder = std::move(created);
    std::string id = recorder->id();
    auto done = std::make_shared<std::atomic<bool>>(false);
    std::lock_guard<std::mutex> lock(mutex_);
    ReapFinished();
    Detached& job = detached_[id];
    job.recorder = recorder;
    job.done = done;
    job.thread = std::thread([this, options, recorder, done] {
      (void)RunRecorded(options, recorder.get());
      done->store(true);
    });
    return Json({{"job_id", id}, {"status", kJobRunning}}, 202);
  }
  if (body.value("stream", false)) {
    ApiResponse response;
    response.content_type = "application/x-ndjson";
    bool cancel_on_disconnect = body.value("cancel_on_disconnect", false);
    response.stream = [this, options, start, cancel_on_disconnect](const ChunkWriter& write) {
      StreamingObserver observer(write, cancel_on_disconnect);
      auto recorder = JobRecorder::Start(lake_->catalog(), start, &observer);
      if (!recorder.ok()) {
        observer.Send({{"event", "error"}, {"error", ErrorJson(recorder.status())}});
        return;
      }
      observer.Watch(recorder->get());
      auto report = RunRecorded(options, recorder->get());
      observer.Watch(nullptr);  // the run is over, and its recorder goes before the observer
      if (report.ok()) {
        observer.Send({{"event", "report"}, {"report", RunReportJson(*report)}});
      } else {
        observer.Send({{"event", "error"}, {"error", ErrorJson(report.status())}, {"job_id", (*recorder)->id()}});
      }
    };
    return response;
  }
  SLUICE_ASSIGN_OR_RAISE(auto recorder, JobRecorder::Start(lake_->catalog(), start));
  SLUICE_ASSIGN_OR_RAISE(RunReport report, RunRecorded(options, recorder.get()));
  return Json(RunReportJson(report));
}

}  // namespace sluice
