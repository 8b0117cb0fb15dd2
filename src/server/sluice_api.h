// The Sluice JSON API (/api/v1/...): what the Python SDK calls in remote mode
// (Client(endpoint=...) or SLUICE_ENDPOINT). Responses use the same JSON shapes as `-O json`
// (exec/json_views.h); errors are {"error": {"kind", "message", "hint"}} with an HTTP status
// for the kind. Query results are Arrow IPC files.
//
// POST /api/v1/runs with "stream": true answers with newline-delimited JSON events as the run
// goes: {"event": "plan", job_id, models, text}, {"event": "output", model, line},
// {"event": "model", report}, {"event": "warning", message}, and last either
// {"event": "report", report} or {"event": "error", error: {kind, message, hint}}.
// {"event": "heartbeat"} comes every few seconds, so a run whose models are silent notices a
// client that went away; with "cancel_on_disconnect": true (the local CLI) that cancels the run.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string_view>

#include "env/zygote.h"
#include "exec/lakehouse.h"
#include "exec/query_worker_pool.h"
#include "server/iceberg_rest.h"
#include "server/server_limits.h"

namespace sluice {

// Writes one chunk of a streamed answer; false once the client has gone.
using ChunkWriter = std::function<bool(std::string_view chunk)>;

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  // When set, the answer is streamed instead of `body`: called once, it writes the chunks as
  // they happen (a run with "stream": true sends newline-delimited JSON events).
  std::function<void(const ChunkWriter& write)> stream;
};

class ExecutorsApi;
class JobsApi;

class SluiceApi {
 public:
  // `limits` (server_limits.h) bound what one client or query may take; checked by the caller.
  explicit SluiceApi(Lakehouse* lake, const ServerLimits& limits = ServerLimits());
  ~SluiceApi();
  // Never throws.
  ApiResponse Handle(const RestRequest& request);
  // For a long-lived server: starts, in the background, what the first query would wait for
  // (the DuckDB zygote queries fork from).
  void WarmUp();
  // The pids of the persistent query workers, by principal ("" is the data home's owner).
  std::map<std::string, int> QueryWorkerPids() const { return query_workers_.Pids(); }
  // Runs, jobs and the job records of other requests (api_jobs.h).
  JobsApi& jobs() { return *jobs_; }

 private:
  Result<ApiResponse> Route(const RestRequest& request);
  Lakehouse* lake_;
  ServerLimits limits_;
  // Runs fork their workers from these; a server keeps them warm from one run to the next.
  ZygotePool zygotes_;
  // Queries run in their principal's warm worker; declared after the zygotes, so the workers
  // (forks of a zygote) are stopped first.
  QueryWorkerPool query_workers_;
  std::unique_ptr<JobsApi> jobs_;
  std::unique_ptr<ExecutorsApi> executors_;  // sluice.map from clients on other machines
  // Bytes of query answers written and not yet sent (shared with the answers' streams, which
  // may outlive a request's handling).
  std::shared_ptr<std::atomic<int64_t>> unread_answer_bytes_ = std::make_shared<std::atomic<int64_t>>(0);
};

}  // namespace sluice
