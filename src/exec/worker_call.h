// One call of a model in a Python worker process: the process it starts (`python -m
// sluice._worker --stdin`), the task it sends, and the result it reads back. Everything the
// worker reads or writes is handed over as an open descriptor (the task, the result, the
// output, each input read-only), so a sandboxed worker needs no path of the engine's and sees
// none; the output is a file the engine created itself, in a directory no worker sees. The
// protocol is documented in python/sluice/_worker.py. Thread-safe: calls may run at once.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/memory_file.h"
#include "common/status.h"
#include "common/subprocess.h"
#include "env/sandbox.h"
#include "env/worker_cgroup.h"

namespace sluice {

struct WorkerInput {
  std::string param;                   // Python argument name (SQL: the table as written)
  std::string name;                    // the model or table it comes from
  std::string path;                    // IPC file in the object store, opened for the worker
  std::vector<std::string> columns;    // zero-copy projection done by the worker; empty = all
  std::vector<std::string> sql_names;  // names an SQL model may use for it
  // A heap table (data/heap_table.h): its checked description and all its segments (the first
  // is its own file), as they were when the task was made; null and empty for an IPC file.
  nlohmann::json heap_table;
  std::vector<std::shared_ptr<OwnedFd>> segments;
};

struct WorkerTask {
  std::string kind;  // "python" or "sql"
  std::string model;
  std::string project_dir;
  std::string file, function;  // python
  int line = 0;
  std::string sql;  // sql, parameters substituted
  std::vector<WorkerInput> inputs;
  nlohmann::json arguments = nlohmann::json::object();
  bool expectation = false;
  std::optional<std::vector<std::string>> expected_columns;
  std::string output_path;       // an existing file (ObjectStore::ClaimForWriter) the worker writes
  int64_t max_output_bytes = 0;  // a larger output fails the call (ObjectStore::MaxObjectBytes); 0: none
  // A memory file for the worker's shared heap (env/shared_heap.c), in which the output may stay
  // as a heap table (ObjectStore::AdoptHeapTable); none: the output is always copied.
  std::shared_ptr<OwnedFd> heap;
  double timeout_seconds = 0;
  // How an input's path is opened (the object store finds a spilled object on disk); empty:
  // the path itself, read-only, never through a link.
  std::function<Result<OwnedFd>(const std::string& path)> open_input;
  // Where the functions the model maps run (sluice.map inside a model): the model's own
  // sandbox. None: the model cannot start function workers.
  std::optional<SandboxSpec> function_sandbox;
  // The model's cgroup, which those function workers join: what they use counts against the
  // model's memory and cpu limits. None: each is limited alone.
  WorkerCgroup* function_cgroup = nullptr;
};

struct WorkerResult {
  bool ok = false;
  int64_t num_rows = 0;
  int64_t num_columns = 0;
  double t_user_start = 0, t_user_return = 0, t_output_written = 0;  // CLOCK_MONOTONIC seconds
  std::optional<bool> expectation;
  std::string expectation_message;
  std::string column_mismatch;  // "expected [a, b], got [a, c]" or empty
  // Failure details (ok == false).
  std::string error_type, error_message, traceback, error_file;
  int error_line = 0;
};

// Starts a worker process for a model before its inputs are ready: the interpreter starts,
// imports pyarrow and the model's module (`preload_file`, relative to the project; empty for
// SQL models, which preload DuckDB), then waits for a task on its stdin. Starting the
// consumer's worker while its producer runs takes interpreter start-up off the hand-off path.
// `output` carries where the worker's lines go (its callbacks) and its time limit
// (timeout_seconds, 0 = none), counted from when the task is sent. The worker runs in the
// sandbox `sandbox` describes (env/sandbox.h): its packages, read-only project, private /tmp,
// network or not. `kind` is "python", "sql" or "query" (exec/query_runner.h: sluice._query_worker,
// which imports DuckDB only).
Result<std::unique_ptr<Subprocess>> StartWorker(const SandboxSpec& sandbox, const std::string& kind,
                                                const std::string& preload_file, SubprocessOptions output);

// The most function workers one model may ask for at once.
constexpr int kMaxFunctionWorkersPerModel = 64;

// Sends the task to a started worker and waits for its result. A failure of user code is not
// an error status: it comes back as a WorkerResult with ok == false. Errors are for when the
// worker could not run at all, ran out of time, or left an output over max_output_bytes
// (checked here, whatever the worker says). While it runs, the model may ask for function
// workers ("executors N" on its stdin): they get the model's sandbox and end with the model.
Result<WorkerResult> RunWorker(const WorkerTask& task, std::unique_ptr<Subprocess> worker);

}  // namespace sluice
