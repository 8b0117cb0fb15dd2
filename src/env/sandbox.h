// The sandbox a model's worker runs in, set up by the `sluice-sandbox` launcher
// (sandbox_launcher_main.cc): its own mount namespace, where the project and the interpreter
// are read-only, /tmp is private and empty, and the function's site-packages is a read-only overlay of its
// package-store directories; its own network namespace (no network) unless the model sets
// internet_access=True. Resource limits are separate (worker_cgroup.h).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/subprocess.h"

namespace sluice {

struct SandboxSpec {
  std::string project_dir;             // visible read-only; the worker's working directory
  std::vector<std::string> writable;   // stay writable (the object store the worker writes)
  std::vector<std::string> site_dirs;  // the function's packages, first wins
  std::string site_mount;              // an existing empty directory where they are overlaid
  bool internet_access = false;
  std::string python;  // the interpreter; empty: PythonExecutable()
};

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
