// The sandbox a model's worker runs in, set up by the `sluice-sandbox` launcher
// (sandbox_launcher_main.cc): a root of its own holding the system's libraries, the
// interpreter and the project read-only, a private empty /tmp, and the function's
// site-packages as a read-only overlay of its package-store directories, and nothing else of
// the host; user, PID and mount namespaces of its own (root inside, an unprivileged uid
// outside), every privilege dropped (worker_confinement.h); its own network namespace (no
// network) unless the model sets internet_access=True. What a worker reads and writes is
// passed to it as open descriptors (exec/worker_call.h). Resource limits are separate
// (worker_cgroup.h).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/subprocess.h"

namespace sluice {

// Who runs in a sandbox: a worker, stripped of every privilege before its program starts, or
// a zygote, which keeps the two capabilities (inside its namespaces) it needs to give each
// worker it forks namespaces of its own and then confine it.
enum class SandboxRole { kWorker, kZygote };

struct SandboxSpec {
  std::string project_dir;             // visible read-only; the worker's working directory (empty: none, "/")
  std::vector<std::string> hidden;     // empty in the sandbox when inside the project (a data home)
  std::vector<std::string> site_dirs;  // the function's packages, first wins
  bool internet_access = false;
  std::string python;  // the interpreter; empty: PythonExecutable()
  SandboxRole role = SandboxRole::kWorker;
  // Killed (with everything in it) when the thread that started it ends, e.g. when a process
  // serving function workers is SIGKILLed. Only for workers whose starter waits for them.
  bool die_with_parent = false;
  // The unprivileged uid the sandbox's root is outside when the engine runs as root; one per
  // data home (SandboxUidFor). 0: nobody's (65534).
  long outer_uid = 0;
};

// The unprivileged uid outside the sandboxes of the data home whose shared memory is at
// `shared_memory_root`: one of 2^24 uids from 2^30 up, none of which a system gives out.
long SandboxUidFor(const std::string& shared_memory_root);

// The process limit of one worker and everything it starts.
constexpr long kWorkerMaxProcesses = 512;

// How to start a worker in its sandbox: `prefix` goes before the interpreter's argv, and
// `env` (PYTHONPATH, SLUICE_SITE_DIRS) makes the packages, the sluice module and the project
// importable, the packages ahead of the base environment's.
struct SandboxLaunch {
  std::vector<std::string> prefix;
  std::map<std::string, std::string> env;
};

// Options that run `python ARGS...` (spec.python, else our interpreter) in the sandbox, in the project
// directory, with the launch environment and unbuffered output, writing no bytecode.
SubprocessOptions PythonInSandbox(const SandboxSpec& spec, const std::vector<std::string>& args);

// OK when this machine can sandbox workers (mount and network namespaces, overlayfs);
// otherwise why not. Checked once per process by running `sluice-sandbox --check`.
Status SandboxAvailable();

// The launch for `spec`. Where sandboxes are not available, the worker runs unconfined with
// the same packages on its path (and without network when `unshare --net` works).
SandboxLaunch PrepareSandbox(const SandboxSpec& spec);

}  // namespace sluice
