#include "exec/sandbox.h"

#include <mutex>

#include "common/subprocess.h"

namespace sluice {

bool NetworkIsolationAvailable() {
  static std::once_flag once;
  static bool available = false;
  std::call_once(once, [] {
    SubprocessOptions options;
    options.argv = {"unshare", "--net", "--", "true"};
    options.timeout_seconds = 10;
    auto result = RunSubprocess(options);
    available = result.ok() && result->exit_code == 0;
  });
  return available;
}

std::vector<std::string> SandboxPrefix(bool internet_access) {
  if (internet_access || !NetworkIsolationAvailable()) return {};
  return {"unshare", "--net", "--"};
}

}  // namespace sluice
