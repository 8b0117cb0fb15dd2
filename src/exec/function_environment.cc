#include "exec/function_environment.h"

#include <arrow/util/config.h>

#include "common/config.h"
#include "env/python_finder.h"

namespace sluice {

Result<PackageStore*> EnvironmentResolver::StoreFor(const std::string& python) {
  auto& store = stores_[python];
  if (!store) {
    SLUICE_ASSIGN_OR_RAISE(store, PackageStore::Open(DefaultPackageStore(), UvExecutable(), python));
  }
  return store.get();
}

Result<FunctionEnvironment> EnvironmentResolver::Resolve(const std::string& python_version,
                                                         std::map<std::string, std::string> packages,
                                                         const std::string& context) {
  // The runtime provides `bauplan` (our compatibility module); the client library of that
  // name on PyPI is not what functions import here.
  std::erase_if(packages, [](const auto& p) { return NormalizePackageName(p.first) == "bauplan"; });
  FunctionEnvironment environment;
  if (packages.empty() && python_version.empty()) return environment;
  std::string python = PythonExecutable();
  SLUICE_ASSIGN_OR_RAISE(PackageStore * store, StoreFor(python));
  if (!python_version.empty() && !PythonVersionMatches(store->python_version(), python_version)) {
    // Another interpreter: it gets pyarrow (what the worker speaks to us with) from the
    // store, at the version we were built with, like any other package.
    auto found = FindPython(UvExecutable(), python_version);
    if (!found.ok()) {
      return WithContext(found.status(),
                         context + " asks for Python " + python_version + " with @python(\"" + python_version + "\")");
    }
    python = found->path;
    environment.python = python;
    SLUICE_ASSIGN_OR_RAISE(store, WithContext(StoreFor(python), context));
    packages.try_emplace("pyarrow", ARROW_VERSION_STRING);
  }
  if (packages.empty()) return environment;
  SLUICE_ASSIGN_OR_RAISE(auto pins, WithContext(store->Resolve(packages), context));
  SLUICE_ASSIGN_OR_RAISE(environment.site_dirs, WithContext(store->Assemble(pins), context));
  auto& dirs = used_[python];
  dirs.insert(dirs.end(), environment.site_dirs.begin(), environment.site_dirs.end());
  return environment;
}

Result<std::shared_ptr<void>> EnvironmentResolver::MarkInUse() {
  auto guards = std::make_shared<std::vector<std::unique_ptr<PackageStore::InUse>>>();
  for (auto& [python, store] : stores_) {
    SLUICE_ASSIGN_OR_RAISE(auto guard, store->MarkInUse(used_[python]));
    guards->push_back(std::move(guard));
  }
  return std::shared_ptr<void>(guards);
}

}  // namespace sluice
