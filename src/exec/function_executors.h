// Sandboxed Python workers that run many function calls each (sluice.map, call_async, Dask
// tasks) for a client that talks to them directly. The client makes one Unix socket pair per
// worker and keeps one end; each worker gets the other end and runs the calls that arrive on
// it until the client closes it (python/sluice/_executor.py has the protocol). Tasks and
// results never pass through the engine: its part is to give each worker its environment,
// sandbox and limits, and to say how each one ended.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "env/sandbox.h"
#include "env/worker_cgroup.h"

namespace sluice {

struct FunctionExecutorOptions {
  std::string python_version;                   // "3.12"; empty: the default interpreter
  std::map<std::string, std::string> packages;  // pip name -> version, as @python(pip=...)
  bool internet_access = false;
  // A sandbox worked out already (a model's, for the functions it maps): used as it is, in
  // place of python_version, packages and internet_access.
  std::optional<SandboxSpec> sandbox;
  int64_t memory_bytes = 0;  // per worker, with everything it starts; 0: no limit
  double cpus = 0;           // per worker; 0: no limit
  // A cgroup every worker joins instead of one of its own (memory_bytes and cpus unused): a
  // model's, so that the functions it maps count against the model's own limits. Must
  // outlive RunFunctionExecutors.
  WorkerCgroup* shared_cgroup = nullptr;
  // The workers' ends of the client's socket pairs, one worker each. RunFunctionExecutors
  // takes them over: each is closed here once handed to its worker, all of them on an error.
  std::vector<int> channels;
  std::string shared_memory_root;  // the data home's: names the sandboxes' outer uid
  std::string name;                // for cgroups and errors ("map of f")
  // Where a worker's output lines go; called from the worker's own thread.
  std::function<void(size_t worker, const std::string&line)> on_stdout_line, on_stderr_line;
  // How worker `worker` ended: OK when it exited 0 (its channel closed), else why not
  // (killed by a signal, by the out-of-memory killer, over its memory limit).
  std::function<void(size_t worker, const Status& ended)> on_exit;
  // Called once worker `worker` has started, before it gets its channel.
  std::function<void(size_t worker, int pid)> on_started;
};

// JSON lines on `status_fd`, as python/sluice/parallel.py reads them, one whole line at a time
// from any thread: `Ended` is an on_exit ({"worker": i, "ok": false, "kind", "message",
// "hint"} per ended worker), `Output` an on_stdout_line / on_stderr_line for a client that is
// not on this machine ({"worker": i, "stdout": line}), `Error` says the workers could not be
// started at all ({"error": {...}}). Copies share the descriptor, which the caller keeps open.
class StatusLines {
 public:
  explicit StatusLines(int status_fd) : fd_(status_fd), mutex_(std::make_shared<std::mutex>()) {}
  void Ended(size_t worker, const Status& ended) const;
  void Output(size_t worker, const char* stream, const std::string& line) const;
  void Error(const Status& error) const;

 private:
  void Write(const nlohmann::json& value) const;
  int fd_;
  std::shared_ptr<std::mutex> mutex_;
};

// The thread counts of the math libraries (OpenMP, OpenBLAS, MKL, Accelerate, numexpr) for
// one of `workers` function workers: its cpus= rounded up, else its share of this machine's
// cores. Each library otherwise starts a thread per core in every worker, and on a loaded
// machine their spinning threads fight (TSQR over dask.array: 25 s against 3.4 s here).
// Variables the user has set are left out.
std::map<std::string, std::string> MathThreadLimits(double cpus, size_t workers);

// Starts one sandboxed worker per channel and returns once every one has ended. Fails before
// starting any when the environment cannot be had (naming the package or Python).
Status RunFunctionExecutors(const FunctionExecutorOptions& options);

}  // namespace sluice
