#include "env/sandbox.h"

#include <map>
#include <mutex>

#include "common/config.h"
#include "common/subprocess.h"
#include "env/interpreter.h"

namespace sluice {
namespace {

bool Succeeds(std::vector<std::string> argv, std::string* stderr_text = nullptr) {
  SubprocessOptions options;
  options.argv = std::move(argv);
  options.timeout_seconds = 10;
  auto result = RunSubprocess(options);
  if (stderr_text && result.ok()) *stderr_text = result->stderr_text;
  return result.ok() && result->exit_code == 0;
}

bool NetworkNamespacesWork() {
  static std::once_flag once;
  static bool available = false;
  std::call_once(once, [] { available = Succeeds({"unshare", "--net", "--", "true"}); });
  return available;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& part : parts) {
    if (!part.empty()) out += (out.empty() ? "" : ":") + part;
  }
  return out;
}

// Where a sandbox sees the function's packages: a path of the sandbox's own root, which
// names nothing of the host.
constexpr const char* kSitePackages = "/sluice/site-packages";

std::string InterpreterOf(const SandboxSpec& spec) { return spec.python.empty() ? PythonExecutable() : spec.python; }

// The interpreter's own directories stay visible (read-only) even when they live under /tmp,
// which the sandbox replaces. Computed once per interpreter.
std::vector<std::string> InterpreterDirs(const std::string& python) {
  static std::mutex mutex;
  static std::map<std::string, std::vector<std::string>> dirs;  // GUARDED_BY(mutex)
  std::lock_guard<std::mutex> lock(mutex);
  auto it = dirs.find(python);
  if (it == dirs.end()) {
    std::vector<std::string> out = InterpreterPrefixes(python);
    std::erase(out, "/");
    it = dirs.emplace(python, std::move(out)).first;
  }
  return it->second;
}

}  // namespace

Status SandboxAvailable() {
  static std::once_flag once;
  static Status status;
  std::call_once(once, [] {
    std::string why;
    if (!Succeeds({SandboxLauncher(), "--check"}, &why)) {
      while (!why.empty() && why.back() == '\n') why.pop_back();
      status = IOError("workers cannot be sandboxed here (", why.empty() ? SandboxLauncher() : why,
                       "): they run without a private mount namespace");
    }
  });
  return status;
}

SandboxLaunch PrepareSandbox(const SandboxSpec& spec) {
  SandboxLaunch launch;
  if (!SandboxAvailable().ok()) {
    if (!spec.internet_access && NetworkNamespacesWork()) launch.prefix = {"unshare", "--net", "--"};
    launch.env["PYTHONPATH"] = Join({PythonPackageDir(), spec.project_dir});
    launch.env["SLUICE_SITE_DIRS"] = Join(spec.site_dirs);
    return launch;
  }
  launch.prefix = {SandboxLauncher(), "--map-uid", std::to_string(spec.outer_uid > 0 ? spec.outer_uid : 65534)};
  if (!spec.project_dir.empty()) launch.prefix.insert(launch.prefix.end(), {"--own", spec.project_dir});
  for (const auto& dir : InterpreterDirs(InterpreterOf(spec)))
    launch.prefix.insert(launch.prefix.end(), {"--read-only", dir});
  std::string project = spec.project_dir + "/";
  for (const auto& dir : spec.hidden) {
    if (!spec.project_dir.empty() && dir.rfind(project, 0) == 0)
      launch.prefix.insert(launch.prefix.end(), {"--hide", dir});
  }
  if (!spec.internet_access) launch.prefix.push_back("--no-network");
  if (spec.die_with_parent) launch.prefix.push_back("--die-with-parent");
  launch.prefix.insert(launch.prefix.end(), {"--read-only", SharedHeapLibrary()});
  if (spec.role == SandboxRole::kWorker) {
    launch.prefix.insert(launch.prefix.end(), {"--confine", "--max-processes", std::to_string(kWorkerMaxProcesses)});
  } else {
    launch.prefix.insert(launch.prefix.end(), {"--zygote", "--read-only", ConfinementLibrary()});
    launch.env["SLUICE_CONFINE_LIBRARY"] = ConfinementLibrary();
  }
  // Our own runtime (the sluice and bauplan modules) is one more layer, on top: a model's
  // packages never replace it.
  launch.prefix.insert(launch.prefix.end(), {"--site-at", kSitePackages, "--site", PythonPackageDir()});
  for (const auto& dir : spec.site_dirs) launch.prefix.insert(launch.prefix.end(), {"--site", dir});
  launch.prefix.push_back("--");
  launch.env["PYTHONPATH"] = Join({kSitePackages, spec.project_dir});
  launch.env["SLUICE_SITE_DIRS"] = kSitePackages;
  launch.env["SLUICE_SANDBOXED"] = "1";
  // The host's home directory is not in the sandbox; caches some libraries keep go to /tmp.
  launch.env["HOME"] = "/tmp";
  return launch;
}

long SandboxUidFor(const std::string& shared_memory_root) {
  uint64_t hash = 1469598103934665603ull;  // FNV-1a: stable across runs and builds
  for (unsigned char c : shared_memory_root) hash = (hash ^ c) * 1099511628211ull;
  return (1L << 30) + static_cast<long>(hash & 0xFFFFFF);
}

}  // namespace sluice

namespace sluice {

SubprocessOptions PythonInSandbox(const SandboxSpec& spec, const std::vector<std::string>& args) {
  SandboxLaunch launch = PrepareSandbox(spec);
  SubprocessOptions options;
  options.argv = std::move(launch.prefix);
  options.argv.push_back(InterpreterOf(spec));
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.env = std::move(launch.env);
  options.env["PYTHONUNBUFFERED"] = "1";
  options.env["PYTHONDONTWRITEBYTECODE"] = "1";
  // Large buffers through malloc, which the preloaded heap can place in shared memory (Arrow's
  // own jemalloc maps its memory itself); the heap stays off until a model's task turns it on.
  options.env["LD_PRELOAD"] = SharedHeapLibrary();
  options.env["ARROW_DEFAULT_MEMORY_POOL"] = "system";
  options.cwd = spec.project_dir.empty() ? "/" : spec.project_dir;
  return options;
}

}  // namespace sluice
