// The remote side of sluice.map (python/sluice/_remote.py): function workers that a client of
// `sluice serve` starts on the server and talks to through it. Locally a client hands each
// worker one end of a socket pair; over the network descriptors cannot travel, so the server
// holds that end and relays its bytes: frames of python/sluice/_channel.py, values inline.
//
//   POST   /api/v1/executors            {"workers", "python", "pip", "memory", "cpus", "internet",
//                                        "name"} -> a stream of JSON lines that lives as long as
//                                        the workers: {"executor": id, "workers": n} first, then
//                                        the status lines of `sluice _executors`
//                                        (exec/function_executors.h) and the workers' output
//                                        ({"worker": i, "stdout"|"stderr": line}); an empty line
//                                        every second. The client going away ends the workers.
//   GET    /api/v1/executors/{id}/workers/{i}   what worker i sends, as a byte stream (once)
//   POST   /api/v1/executors/{id}/workers/{i}   the body goes to worker i, in request order
//   DELETE /api/v1/executors/{id}/workers/{i}   closes worker i's channel: it exits
//   DELETE /api/v1/executors/{id}               ends the workers
//
// A session belongs to the user that made it: every other caller gets 404. The workers are the
// sandboxes of exec/function_executors.h; the server runs at most kMaxRemoteWorkers of them,
// over all clients, and one user (of an API key) at most `workers_per_user` of those at once
// (server_limits.h), so that no user can take them all: a request past either limit is
// Conflict (409) saying which limit and how many are held. Thread-safe.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "exec/lakehouse.h"
#include "server/rest_request.h"
#include "server/server_limits.h"
#include "server/sluice_api.h"

namespace sluice {

class ExecutorsApi {
 public:
  // Each live worker holds a request thread (its byte stream), and so does each session's
  // status stream: this bounds what clients can take of the server's threads.
  static constexpr int kMaxRemoteWorkers = ServerLimits::kMaxRemoteWorkers;

  // `workers_per_user`: from 1 to kMaxRemoteWorkers.
  ExecutorsApi(Lakehouse* lake, int workers_per_user) : lake_(lake), workers_per_user_(workers_per_user) {}
  // Ends every session and waits for their workers.
  ~ExecutorsApi();

  // Answers the routes above; nullopt when the request is not one of them. `parts` is the
  // split path (api, v1, executors, ...). The body is read as JSON only where one is expected.
  Result<std::optional<ApiResponse>> Route(const RestRequest& request, const std::vector<std::string>& parts);

 private:
  struct Session;
  Result<ApiResponse> Start(const RestRequest& request);
  Result<std::shared_ptr<Session>> Find(const RestRequest& request, const std::string& id);
  // Ends `session`'s workers (their channels close; one still running a call after a grace
  // period is killed) and forgets it.
  void End(const std::shared_ptr<Session>& session);
  // Gives the session's workers back to the limit and makes it unknown to clients.
  void Forget(const Session& session);

  Lakehouse* lake_;
  int workers_per_user_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Session>> sessions_;  // GUARDED_BY(mutex_)
  int live_workers_ = 0;                                      // GUARDED_BY(mutex_)
};

}  // namespace sluice
