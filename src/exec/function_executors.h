// Sandboxed Python workers that run many function calls each (sluice.map, call_async, Dask
// tasks) for a client that talks to them directly. The client makes one Unix socket pair per
// worker and keeps one end; each worker gets the other end and runs the calls that arrive on
// it until the client closes it (python/sluice/_executor.py has the protocol). Tasks and
// results never pass through the engine: its part is to give each worker its environment,
// sandbox and limits, and to say how each one ended.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

namespace sluice {

struct FunctionExecutorOptions {
  std::string python_version;                   // "3.12"; empty: the default interpreter
  std::map<std::string, std::string> packages;  // pip name -> version, as @python(pip=...)
  bool internet_access = false;
  int64_t memory_bytes = 0;  // per worker, with everything it starts; 0: no limit
  double cpus = 0;           // per worker; 0: no limit
  // The workers' ends of the client's socket pairs, one worker each; closed here once handed
  // over (on an early error, the caller closes those not handed over yet: all are open).
  std::vector<int> channels;
  std::string shared_memory_root;  // the data home's: names the sandboxes' outer uid
  std::string name;                // for cgroups and errors ("map of f")
  // Where a worker's output lines go; called from the worker's own thread.
  std::function<void(size_t worker, const std::string&line)> on_stdout_line, on_stderr_line;
  // How worker `worker` ended: OK when it exited 0 (its channel closed), else why not
  // (killed by a signal, by the out-of-memory killer, over its memory limit).
  std::function<void(size_t worker, const Status& ended)> on_exit;
};

// Starts one sandboxed worker per channel and returns once every one has ended. Fails before
// starting any when the environment cannot be had (naming the package or Python).
Status RunFunctionExecutors(const FunctionExecutorOptions& options);

}  // namespace sluice
