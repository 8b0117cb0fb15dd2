#include "exec/function_executors.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/ids.h"
#include "common/memory_file.h"
#include "common/subprocess.h"
#include "env/sandbox.h"
#include "env/worker_cgroup.h"
#include "exec/function_environment.h"
#include "exec/json_views.h"

namespace sluice {
namespace {

std::string Describe(const SubprocessResult& ended) {
  if (ended.term_signal != 0) {
    return "killed by signal " + std::to_string(ended.term_signal) + " (" + ::strsignal(ended.term_signal) + ")";
  }
  return "exited with code " + std::to_string(ended.exit_code);
}

}  // namespace

void StatusLines::Write(const nlohmann::json& value) const {
  std::string line = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(*mutex_);
  for (size_t done = 0; done < line.size();) {
    ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
    if (n <= 0) return;  // the client is gone: nobody to tell
    done += static_cast<size_t>(n);
  }
}

void StatusLines::Ended(size_t worker, const Status& ended) const {
  nlohmann::json line = {{"worker", worker}, {"ok", ended.ok()}};
  if (!ended.ok()) line.update(ErrorJson(ended));
  Write(line);
}

void StatusLines::Output(size_t worker, const char* stream, const std::string& line) const {
  // A worker's bytes need not be UTF-8; a line is capped so that one print cannot fill memory.
  constexpr size_t kMaxLine = 16 << 10;
  nlohmann::json out = {{"worker", worker}, {stream, line.substr(0, kMaxLine)}};
  Write(out);
}

void StatusLines::Error(const Status& error) const { Write({{"error", ErrorJson(error)}}); }

std::map<std::string, std::string> MathThreadLimits(double cpus, size_t workers) {
  // Each worker's share of the machine (or its cpus=), unless the user set the variables.
  long cores = std::max(1L, ::sysconf(_SC_NPROCESSORS_ONLN));
  long share = cpus > 0 ? static_cast<long>(std::ceil(cpus))
                        : std::max(1L, cores / static_cast<long>(std::max<size_t>(workers, 1)));
  std::map<std::string, std::string> limits;
  for (const char* name : {"OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
                           "NUMEXPR_NUM_THREADS"}) {
    if (std::getenv(name) == nullptr) limits[name] = std::to_string(share);
  }
  return limits;
}

Status RunFunctionExecutors(const FunctionExecutorOptions& options) {
  // Closed on every path: once handed over, only its worker holds a channel, so the client
  // sees it close when the worker ends; on an error, the client sees them all close.
  std::vector<OwnedFd> channels;
  for (int channel : options.channels) channels.emplace_back(channel);
  if (channels.empty()) return InvalidInput("no channel: a function executor needs at least one");
  SandboxSpec sandbox;
  std::shared_ptr<void> in_use;
  if (options.sandbox) {
    sandbox = *options.sandbox;
    sandbox.role = SandboxRole::kWorker;
  } else {
    EnvironmentResolver resolver;
    SLUICE_ASSIGN_OR_RAISE(FunctionEnvironment environment,
                           resolver.Resolve(options.python_version, options.packages, options.name));
    SLUICE_ASSIGN_OR_RAISE(in_use, resolver.MarkInUse());
    sandbox.site_dirs = environment.site_dirs;
    sandbox.python = environment.python;
    sandbox.internet_access = options.internet_access;
    sandbox.outer_uid = SandboxUidFor(options.shared_memory_root);
  }

  // This thread waits for every worker below: if its process dies (SIGKILL), they go too.
  sandbox.die_with_parent = true;
  struct Worker {
    std::unique_ptr<Subprocess> process;
    std::unique_ptr<WorkerCgroup> cgroup;
  };
  // A worker gets its own channel only (Subprocess passes on no other descriptor): one that
  // held another's would keep it open after that worker died.
  std::vector<Worker> workers(channels.size());
  std::string group = "executors-" + NewShortId(8);
  std::map<std::string, std::string> threads = MathThreadLimits(options.cpus, workers.size());
  for (size_t i = 0; i < workers.size(); ++i) {
    SubprocessOptions launch = PythonInSandbox(sandbox, {"-m", "sluice._executor"});
    launch.env.insert(threads.begin(), threads.end());
    // What the worker may keep of Dask's intermediates is sized from these (sluice._executor).
    launch.env["SLUICE_WORKER_MEMORY"] = std::to_string(options.memory_bytes);
    launch.env["SLUICE_WORKERS"] = std::to_string(workers.size());
    launch.stdin_socket = true;  // the channel arrives on it
    if (options.on_stdout_line)
      launch.on_stdout_line = [&options, i](const std::string& l) { options.on_stdout_line(i, l); };
    if (options.on_stderr_line)
      launch.on_stderr_line = [&options, i](const std::string& l) { options.on_stderr_line(i, l); };
    SLUICE_ASSIGN_OR_RAISE(workers[i].process, WithContext(Subprocess::Start(std::move(launch)), options.name));
    if (options.on_started) options.on_started(i, workers[i].process->pid());
    if (options.shared_cgroup != nullptr) {
      SLUICE_RETURN_NOT_OK(WithContext(options.shared_cgroup->AddProcess(workers[i].process->pid()), options.name));
      SLUICE_RETURN_NOT_OK(WithContext(workers[i].process->SendStdin("channel\n", {channels[i].get()}), options.name));
      channels[i] = OwnedFd();
      continue;
    }
    // Every worker and whatever it starts is limited alone; where cgroups cannot be made, the
    // sandbox's RLIMIT_NPROC is the limit, and a memory or cpu limit asked for is an error.
    auto cgroup =
        WorkerCgroup::Create(group + "-" + std::to_string(i), options.memory_bytes, options.cpus, kWorkerMaxProcesses);
    if (cgroup.ok() && (*cgroup)->AddProcess(workers[i].process->pid()).ok()) {
      workers[i].cgroup = std::move(*cgroup);
    } else if (options.memory_bytes > 0 || options.cpus > 0) {
      return WithContext(cgroup.ok() ? Internal("cannot add a worker to its cgroup") : cgroup.status(),
                         options.name + ": resources=");
    }
    SLUICE_RETURN_NOT_OK(WithContext(workers[i].process->SendStdin("channel\n", {channels[i].get()}), options.name));
    channels[i] = OwnedFd();
  }
  std::vector<std::thread> waiters;
  for (size_t i = 0; i < workers.size(); ++i) {
    waiters.emplace_back([&options, &workers, i] {
      auto ended = workers[i].process->Wait();
      Status status;
      if (!ended.ok()) {
        status = ended.status();
      } else if (workers[i].cgroup && workers[i].cgroup->MemoryLimitHit() && ended->term_signal != 0) {
        status = ResourceExceeded("worker ", i, " exceeded its memory limit and was stopped");
      } else if (ended->term_signal != 0 || ended->exit_code != 0) {
        status = UserCodeFailed("worker ", i, " ", Describe(*ended));
      }
      if (options.on_exit) options.on_exit(i, status);
    });
  }
  for (auto& waiter : waiters) waiter.join();
  return Status::OK();
}

}  // namespace sluice
