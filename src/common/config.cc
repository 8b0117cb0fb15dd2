#include "common/config.h"

#include <unistd.h>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/file_util.h"
#include "common/hash.h"

namespace sluice {
namespace {
std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::string(value) : fallback;
}
}  // namespace

std::string DataHome() {
  const char* home = std::getenv("HOME");
  return AbsolutePath(EnvOr("SLUICE_HOME", std::string(home ? home : ".") + "/.sluice"));
}

std::string CatalogUri() { return EnvOr("SLUICE_CATALOG", ""); }

std::string WarehouseUri() { return EnvOr("SLUICE_WAREHOUSE", ""); }

std::string PythonExecutable() { return EnvOr("SLUICE_PYTHON", SLUICE_DEFAULT_PYTHON); }

std::string UvExecutable() {
  std::string explicit_uv = EnvOr("SLUICE_UV", "");
  if (!explicit_uv.empty()) return explicit_uv;
  std::string python = PythonExecutable();
  std::string beside = python.substr(0, python.find_last_of('/') + 1) + "uv";
  return PathExists(beside) ? beside : "uv";
}

std::string PythonPackageDir() { return EnvOr("SLUICE_PYTHONPATH", SLUICE_PYTHON_SOURCE_DIR); }

std::string SandboxLauncher() { return EnvOr("SLUICE_SANDBOX", SLUICE_DEFAULT_SANDBOX); }

std::string ConfinementLibrary() { return EnvOr("SLUICE_CONFINE_LIBRARY", SLUICE_DEFAULT_CONFINE_LIBRARY); }

std::string SharedHeapLibrary() { return EnvOr("SLUICE_HEAP_LIBRARY", SLUICE_DEFAULT_HEAP_LIBRARY); }

bool SharedHeapEnabled() {
  return EnvOr("SLUICE_SHARED_HEAP", "on") != "off" && ::access(SharedHeapLibrary().c_str(), R_OK) == 0;
}

std::string SharedHugePagesSetting() {
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/shmem_enabled");
  std::string line;
  if (!std::getline(in, line)) return "unknown";
  size_t open = line.find('['), close = line.find(']');
  if (open == std::string::npos || close == std::string::npos || close < open) return "unknown";
  return line.substr(open + 1, close - open - 1);
}

std::string SharedMemoryRootFor(const std::string& data_home) {
  // One directory per data home, so two homes never see each other's objects.
  std::string base = IsDirectory("/dev/shm") ? "/dev/shm" : "/tmp";
  return base + "/sluice-" + std::to_string(::getuid()) + "-" + Sha256Hex(AbsolutePath(data_home)).substr(0, 12);
}

std::string SharedMemoryRoot() { return SharedMemoryRootFor(DataHome()); }

}  // namespace sluice
