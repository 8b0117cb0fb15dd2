#include "exec/worker_call.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "common/bounded_json.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/memory_file.h"
#include "common/subprocess.h"
#include "exec/function_executors.h"

namespace sluice {
namespace {

// The kernel's count of processes its out-of-memory killer has killed (/proc/vmstat), -1
// when unknown. A SIGKILL while it rose is the OOM killer's; otherwise someone sent it.
int64_t OomKills() {
  std::ifstream vmstat("/proc/vmstat");
  std::string key;
  int64_t value = 0;
  while (vmstat >> key >> value) {
    if (key == "oom_kill") return value;
  }
  return -1;
}

nlohmann::json TaskToJson(const WorkerTask& task) {
  nlohmann::json inputs = nlohmann::json::array();
  for (const auto& input : task.inputs) {
    inputs.push_back({{"param", input.param},
                      {"name", input.name},
                      {"columns", input.columns.empty() ? nlohmann::json(nullptr) : nlohmann::json(input.columns)},
                      {"sql_names", input.sql_names},
                      {"heap_table", input.heap_table},
                      {"segments", input.segments.empty() ? 0 : input.segments.size() - 1}});
  }
  nlohmann::json j = {{"kind", task.kind},
                      {"model", task.model},
                      {"project_dir", task.project_dir},
                      {"file", task.file},
                      {"function", task.function},
                      {"line", task.line},
                      {"sql", task.sql},
                      {"inputs", inputs},
                      {"arguments", task.arguments},
                      {"expectation", task.expectation},
                      {"max_output_bytes", task.max_output_bytes},
                      {"heap", task.heap != nullptr}};
  j["expected_columns"] = task.expected_columns ? nlohmann::json(*task.expected_columns) : nlohmann::json(nullptr);
  return j;
}

std::string JoinNames(const nlohmann::json& names) {
  std::string out = "[";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) out += ", ";
    out += names[i].get<std::string>();
  }
  return out + "]";
}

Result<WorkerResult> ParseResult(const std::string& text, const std::string& path) {
  WorkerResult result;
  try {
    auto j = ParseBoundedJson(text);
    result.ok = j.value("ok", false);
    if (result.ok) {
      result.num_rows = j.value("num_rows", int64_t{0});
      result.num_columns = j.value("num_columns", int64_t{0});
      result.t_user_start = j.value("t_user_start", 0.0);
      result.t_user_return = j.value("t_user_return", 0.0);
      result.t_output_written = j.value("t_output_written", 0.0);
      if (j.contains("expectation") && j["expectation"].is_boolean()) {
        result.expectation = j["expectation"].get<bool>();
      }
      if (j.contains("expectation_message") && j["expectation_message"].is_string()) {
        result.expectation_message = j["expectation_message"].get<std::string>();
      }
      if (j.contains("expectation_error") && j["expectation_error"].is_string()) {
        result.expectation = false;
        result.expectation_message = j["expectation_error"].get<std::string>();
      }
      if (j.contains("column_mismatch") && j["column_mismatch"].is_object()) {
        const auto& m = j["column_mismatch"];
        result.column_mismatch =
            "declared columns " + JoinNames(m["expected"]) + " but the model returned " + JoinNames(m["actual"]);
      }
    } else {
      const auto& e = j.at("error");
      result.error_type = e.value("type", "Error");
      result.error_message = e.value("message", "");
      result.traceback = e.value("traceback", "");
      if (e.contains("file") && e["file"].is_string()) result.error_file = e["file"];
      if (e.contains("line") && e["line"].is_number()) result.error_line = e["line"];
    }
  } catch (const std::exception& ex) {
    return Internal("unreadable worker result ", path, ": ", ex.what());
  }
  return result;
}

// The function workers a model asked for while it runs (sluice.map inside a model). Each
// request, "executors N", gets N sandboxed workers like the model's, started on a thread of
// their own, and the model gets its ends of their channels and a status pipe in the answer
// "executors\n" (or "error MESSAGE\n"). They end when the model closes its ends, or here.
class ModelFunctionWorkers {
 public:
  explicit ModelFunctionWorkers(const WorkerTask& task) : task_(task) {}
  ~ModelFunctionWorkers() { Stop(); }

  void Answer(int socket_fd, const std::string& line) {
    Status status = Start(socket_fd, line);
    if (!status.ok()) {
      std::string message = status.message();
      std::replace(message.begin(), message.end(), '\n', ' ');
      (void)SendWithDescriptors(socket_fd, "error " + message + "\n", {});
    }
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
      // Workers still running a call of a model that has ended: nobody will read their result.
      for (int pid : running_) ::kill(-pid, SIGKILL);
    }
    for (auto& thread : threads_) thread.join();
    threads_.clear();
  }

 private:
  Status Start(int socket_fd, const std::string& line) {
    int count = 0;
    if (std::sscanf(line.c_str(), "executors %d", &count) != 1 || count < 1) {
      return InvalidInput("unknown request '", line.substr(0, 40), "'");
    }
    // Counted over all of the model's requests: asking again and again gets no more.
    if (count > kMaxFunctionWorkersPerModel - started_) {
      return ResourceExceeded("a model may start at most ", kMaxFunctionWorkersPerModel, " function workers, not ",
                              started_ + count);
    }
    std::vector<OwnedFd> theirs, ours;
    for (int i = 0; i < count; ++i) {
      int pair[2];
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
        return IOError("cannot make a channel: ", std::strerror(errno));
      }
      ours.emplace_back(pair[0]);
      theirs.emplace_back(pair[1]);
    }
    int status_pipe[2];
    if (::pipe2(status_pipe, O_CLOEXEC) != 0) return IOError("cannot make a pipe: ", std::strerror(errno));
    OwnedFd status_read(status_pipe[0]);
    auto status_write = std::make_shared<OwnedFd>(status_pipe[1]);

    FunctionExecutorOptions options;
    options.sandbox = task_.function_sandbox;
    options.shared_cgroup = task_.function_cgroup;
    options.name = "model '" + task_.model + "'";
    StatusLines status_lines(status_write->get());
    options.on_exit = [status_lines](size_t worker, const Status& ended) { status_lines.Ended(worker, ended); };
    auto pids = std::make_shared<std::vector<int>>();  // this request's workers
    options.on_started = [this, pids](size_t, int pid) {
      std::lock_guard<std::mutex> lock(mutex_);
      pids->push_back(pid);
      running_.insert(pid);
      if (stopping_) ::kill(-pid, SIGKILL);
    };
    std::vector<int> passed = {status_read.get()};
    for (auto& fd : ours) passed.push_back(fd.get());
    SLUICE_RETURN_NOT_OK(SendWithDescriptors(socket_fd, "executors\n", passed));
    for (auto& fd : theirs) options.channels.push_back(fd.release());  // RunFunctionExecutors closes them
    started_ += count;
    threads_.emplace_back([this, options = std::move(options), status_write, status_lines, pids] {
      Status ran = RunFunctionExecutors(options);
      if (!ran.ok()) status_lines.Error(ran);
      std::lock_guard<std::mutex> lock(mutex_);
      for (int pid : *pids) running_.erase(pid);
    });
    return Status::OK();
  }

  const WorkerTask& task_;
  std::mutex mutex_;
  bool stopping_ = false;  // GUARDED_BY(mutex_)
  std::set<int> running_;  // GUARDED_BY(mutex_): worker pids not reaped yet
  // Only the thread waiting for the model touches these (Answer and Stop run on it).
  int started_ = 0;
  std::vector<std::thread> threads_;
};

}  // namespace

Result<std::unique_ptr<Subprocess>> StartWorker(const SandboxSpec& sandbox, const std::string& kind,
                                                const std::string& preload_file, SubprocessOptions output) {
  std::vector<std::string> args = {"-m", "sluice._worker", "--stdin"};
  if (kind == "query") {
    // One query, not a model: an entry point that imports DuckDB and nothing of pyarrow's
    // unless the answer needs it (its import, numpy's with it, costs more than the query).
    args = {"-m", "sluice._query_worker"};
  } else if (kind == "sql") {
    args.push_back("--preload-duckdb");
  } else if (!preload_file.empty()) {
    args.insert(args.end(), {"--preload", preload_file});
  }
  SubprocessOptions options = PythonInSandbox(sandbox, args);
  options.stdin_socket = true;  // the task comes with descriptors
  options.on_stdout_line = std::move(output.on_stdout_line);
  options.on_stderr_line = std::move(output.on_stderr_line);
  options.timeout_seconds = output.timeout_seconds;
  return Subprocess::Start(std::move(options));
}

Result<WorkerResult> RunWorker(const WorkerTask& task, std::unique_ptr<Subprocess> worker) {
  SLUICE_ASSIGN_OR_RAISE(OwnedFd task_file, MemoryFile("sluice-task", TaskToJson(task).dump(), /*seal=*/true));
  SLUICE_ASSIGN_OR_RAISE(OwnedFd result_file, MemoryFile("sluice-result"));
  // Never followed through a link: the worker writes into the file the engine claimed for it.
  OwnedFd output(::open(task.output_path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC));
  if (output.get() < 0) return IOError("cannot open '", task.output_path, "': ", std::strerror(errno));
  std::vector<OwnedFd> inputs;
  std::vector<int> passed = {task_file.get(), result_file.get(), output.get()};
  if (task.heap) passed.push_back(task.heap->get());
  for (const auto& input : task.inputs) {
    if (!input.segments.empty()) {
      passed.push_back(input.segments[0]->get());  // a heap table's own file, as it was described
      inputs.emplace_back();
      continue;
    }
    if (task.open_input) {
      SLUICE_ASSIGN_OR_RAISE(OwnedFd opened, task.open_input(input.path));
      inputs.push_back(std::move(opened));
    } else {
      inputs.emplace_back(::open(input.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (inputs.back().get() < 0) return IOError("cannot open the input '", input.path, "': ", std::strerror(errno));
    }
    passed.push_back(inputs.back().get());
  }
  // Heap tables' other segments, input after input, read-only (sealed, or the engine's files).
  for (const auto& input : task.inputs) {
    for (size_t i = 1; i < input.segments.size(); ++i) passed.push_back(input.segments[i]->get());
  }
  // A worker that died while preloading (say, the module failed to import) has closed its
  // stdin; its exit status tells why, so a failed send is not the error.
  (void)worker->SendStdin("task\n", passed);
  inputs.clear();
  ModelFunctionWorkers function_workers(task);
  if (task.function_sandbox) {
    worker->OnStdinLine([&](int socket_fd, const std::string& line) { function_workers.Answer(socket_fd, line); });
  }
  int64_t oom_kills_before = OomKills();
  auto waited = worker->Wait();
  function_workers.Stop();  // the model has ended: so do the workers it asked for
  SLUICE_ASSIGN_OR_RAISE(SubprocessResult process, std::move(waited));
  if (process.timed_out) {
    std::ostringstream seconds;  // 2 s, 0.5 s: as the user wrote it
    seconds << task.timeout_seconds;
    return ResourceExceeded("exceeded its timeout of ", seconds.str(), " s and was stopped");
  }
  constexpr size_t kMaxResultBytes = 16 << 20;  // a result is a few lines of JSON and a traceback
  auto text = ReadWrittenFile(result_file.get(), kMaxResultBytes, "the worker's result");
  if (text.ok() && text->empty()) text = NotFound("the worker wrote no result");
  if (!text.ok()) {
    if (process.term_signal != 0) {
      if (process.term_signal == SIGKILL && oom_kills_before >= 0 && OomKills() > oom_kills_before) {
        return ResourceExceeded("its worker process was killed by the kernel's out-of-memory killer (SIGKILL)");
      }
      return UserCodeFailed("its worker process was killed by signal ", process.term_signal, " (",
                            ::strsignal(process.term_signal), ")");
    }
    return Internal("its worker exited with code ", process.exit_code, " without a result");
  }
  SLUICE_ASSIGN_OR_RAISE(WorkerResult result, ParseResult(*text, "of model '" + task.model + "'"));
  // The worker checks the size before it writes, but its code is the model's to change.
  struct stat written;
  if (result.ok && task.max_output_bytes > 0 && ::fstat(output.get(), &written) == 0 &&
      written.st_size > task.max_output_bytes) {
    return WithHint(ResourceExceeded("its output is ", written.st_size, " bytes, more than the limit of ",
                                     task.max_output_bytes, " bytes for one model's output"),
                    "return fewer rows or columns, or raise SLUICE_MAX_OUTPUT_BYTES");
  }
  return result;
}

}  // namespace sluice
