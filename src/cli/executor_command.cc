// sluice _executors --channel-fd N [--channel-fd M ...] [--python 3.12] [--pip NAME==VERSION ...]
//   [--internet] [--memory 2G] [--cpus 1] [--status-fd K] [--name TEXT]
// Internal (python/sluice/parallel.py starts it): the sandboxed workers of a client's
// sluice.map / call_async / Dask calls (exec/function_executors.h). The client made the
// channels and talks to the workers directly; on the status descriptor it reads one JSON line
// when the workers have started ({"ready": n}), one per worker that ended
// ({"worker": i, "ok": false, "kind": ..., "message": ...}), and {"error": ...} when the
// environment could not be had.
#include <unistd.h>

#include <iostream>

#include "cli/commands.h"
#include "common/config.h"
#include "env/worker_cgroup.h"
#include "exec/function_executors.h"

namespace sluice::cli {

void AddExecutorCommand(CLI::App& app, CliContext& context, int* exit_code) {
  struct Flags {
    std::vector<int> channels;
    int status_fd = -1;
    std::string python, memory, name = "sluice.map";
    std::vector<std::string> pip;
    bool internet = false;
    double cpus = 0;
  };
  auto flags = std::make_shared<Flags>();
  auto* command = app.add_subcommand("_executors", "");  // no description: internal, not listed
  command->group("");
  command->add_option("--channel-fd", flags->channels, "A worker's end of a channel")->required();
  command->add_option("--status-fd", flags->status_fd, "Where status lines go");
  command->add_option("--python", flags->python, "Python version");
  command->add_option("--pip", flags->pip, "NAME==VERSION");
  command->add_flag("--internet", flags->internet, "Network access");
  command->add_option("--memory", flags->memory, "Memory limit per worker");
  command->add_option("--cpus", flags->cpus, "CPU limit per worker");
  command->add_option("--name", flags->name, "What the workers run, for errors");
  command->callback([&context, exit_code, flags] {
    StatusLines status_lines(flags->status_fd >= 0 ? flags->status_fd : STDERR_FILENO);
    Status status = [&]() -> Status {
      FunctionExecutorOptions options;
      options.name = flags->name;
      options.python_version = flags->python;
      options.internet_access = flags->internet;
      options.cpus = flags->cpus;
      options.channels = flags->channels;
      for (const auto& spec : flags->pip) {
        auto eq = spec.find("==");
        if (eq == std::string::npos || eq == 0) {
          return WithHint(InvalidInput(flags->name, ": pip package '", spec, "' has no pinned version"),
                          "pin it as pip={'name': 'version'}");
        }
        options.packages[spec.substr(0, eq)] = spec.substr(eq + 2);
      }
      if (!flags->memory.empty()) {
        SLUICE_ASSIGN_OR_RAISE(options.memory_bytes, WithContext(ParseMemorySize(flags->memory), flags->name));
      }
      SLUICE_ASSIGN_OR_RAISE(Lakehouse * lake, context.lakehouse());
      options.shared_memory_root = lake->objects().root();
      options.on_exit = [status_lines](size_t worker, const Status& ended) { status_lines.Ended(worker, ended); };
      // Workers' prints go where the client's go.
      options.on_stdout_line = [](size_t, const std::string& l) { std::cout << l << "\n" << std::flush; };
      options.on_stderr_line = [](size_t, const std::string& l) { std::cerr << l << "\n" << std::flush; };
      return RunFunctionExecutors(options);
    }();
    if (!status.ok()) {
      status_lines.Error(status);
      *exit_code = ReportError(status);
    }
  });
}

}  // namespace sluice::cli
