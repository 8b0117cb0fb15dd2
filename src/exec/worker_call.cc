#include "exec/worker_call.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/bounded_json.h"
#include "common/config.h"
#include "common/file_util.h"
#include "common/memory_file.h"
#include "common/subprocess.h"

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
                      {"sql_names", input.sql_names}});
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
                      {"max_output_bytes", task.max_output_bytes}};
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

}  // namespace

Result<std::unique_ptr<Subprocess>> StartWorker(const SandboxSpec& sandbox, const std::string& kind,
                                                const std::string& preload_file, SubprocessOptions output) {
  std::vector<std::string> args = {"-m", "sluice._worker", "--stdin"};
  if (kind == "sql") {
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
  for (const auto& input : task.inputs) {
    inputs.emplace_back(::open(input.path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (inputs.back().get() < 0) return IOError("cannot open the input '", input.path, "': ", std::strerror(errno));
    passed.push_back(inputs.back().get());
  }
  // A worker that died while preloading (say, the module failed to import) has closed its
  // stdin; its exit status tells why, so a failed send is not the error.
  (void)worker->SendStdin("task\n", passed);
  inputs.clear();
  int64_t oom_kills_before = OomKills();
  SLUICE_ASSIGN_OR_RAISE(SubprocessResult process, worker->Wait());
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
