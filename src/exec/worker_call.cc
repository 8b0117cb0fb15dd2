#include "exec/worker_call.h"

#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/config.h"
#include "common/file_util.h"
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
                      {"path", input.path},
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
                      {"output_path", task.output_path},
                      {"arena_dir", task.arena_dir},
                      {"result_path", task.result_path}};
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
    auto j = nlohmann::json::parse(text);
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
    return Internal("unreadable worker result '", path, "': ", ex.what());
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
  options.on_stdout_line = std::move(output.on_stdout_line);
  options.on_stderr_line = std::move(output.on_stderr_line);
  options.timeout_seconds = output.timeout_seconds;
  return Subprocess::Start(std::move(options));
}

Result<WorkerResult> RunWorker(const WorkerTask& task, std::unique_ptr<Subprocess> worker) {
  SLUICE_RETURN_NOT_OK(WriteFileAtomic(task.task_path, TaskToJson(task).dump()));
  // A worker that died while preloading (say, the module failed to import) has closed its
  // stdin; its own result file or exit status tells why, so a failed write is not the error.
  (void)worker->WriteStdin(task.task_path + "\n");
  int64_t oom_kills_before = OomKills();
  SLUICE_ASSIGN_OR_RAISE(SubprocessResult process, worker->Wait());
  if (process.timed_out) {
    std::ostringstream seconds;  // 2 s, 0.5 s: as the user wrote it
    seconds << task.timeout_seconds;
    return ResourceExceeded("exceeded its timeout of ", seconds.str(), " s and was stopped");
  }
  auto text = ReadFile(task.result_path);
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
  return ParseResult(*text, task.result_path);
}

}  // namespace sluice
