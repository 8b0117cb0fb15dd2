// The jobs part of the Sluice JSON API (shapes in server/README.md, "Jobs"): runs
// (POST /api/v1/runs, streamed, detached or not), the job routes (GET /api/v1/jobs,
// /jobs/{id}, /jobs/{id}/logs, /jobs/{id}/context, POST /jobs/{id}/cancel), and the job
// record kept for every import, table creation, plan, external table and query answered by
// the rest of the API. Detached runs go on in threads of the serving process. Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "exec/job_recorder.h"
#include "server/sluice_api.h"

namespace sluice {

class JobsApi {
 public:
  // `lake` and `zygotes` must outlive it.
  JobsApi(Lakehouse* lake, ZygotePool* zygotes) : lake_(lake), zygotes_(zygotes) {}
  // Cancels the detached runs still going and waits for them (each ends as ABORT).
  ~JobsApi();

  // Answers the routes above; nullopt when the request is not one of them.
  // `parts` is the split path (api, v1, resource, ...).
  Result<std::optional<ApiResponse>> Route(const RestRequest& request, const std::vector<std::string>& parts,
                                           const nlohmann::json& body);

  // Runs `handle` inside a job record when the request is an import, table creation, plan,
  // plan apply, external table or query; JSON object answers gain "job_id". Other requests
  // are just handled.
  ApiResponse RecordAsJob(const RestRequest& request, const std::function<ApiResponse()>& handle);

  // Detached runs still going.
  size_t active_jobs();

 private:
  struct Detached {
    std::shared_ptr<JobRecorder> recorder;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  Result<ApiResponse> PostRun(const nlohmann::json& body, const std::string& author);
  Result<ApiResponse> ListJobs(const RestRequest& request);
  Result<ApiResponse> CancelJob(const std::string& id);
  // Runs the project, recording into `recorder`, and ends the job.
  Result<RunReport> RunRecorded(RunOptions options, JobRecorder* recorder);
  void ReapFinished();  // REQUIRES: mutex_ held

  Lakehouse* lake_;
  ZygotePool* zygotes_;
  std::mutex mutex_;
  std::map<std::string, Detached> detached_;  // GUARDED_BY(mutex_)
};

}  // namespace sluice
