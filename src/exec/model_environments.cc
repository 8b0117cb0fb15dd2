#include "exec/model_environments.h"

#include <arrow/util/config.h>

#include "common/config.h"
#include "env/python_finder.h"

namespace sluice {

Result<PreparedEnvironments> PrepareEnvironments(const Project& project, const Plan& plan) {
  PreparedEnvironments prepared;
  std::map<std::string, std::unique_ptr<PackageStore>> stores;  // by interpreter
  std::map<std::string, std::vector<std::string>> used;         // by interpreter
  auto store_for = [&](const std::string& python) -> Result<PackageStore*> {
    auto& store = stores[python];
    if (!store) {
      SLUICE_ASSIGN_OR_RAISE(store, PackageStore::Open(DefaultPackageStore(), UvExecutable(), python));
    }
    return store.get();
  };
  for (size_t i = 0; i < plan.nodes.size(); ++i) {
    const ModelSpec& model = plan.nodes[i].model;
    if (model.kind == ModelKind::kSql) continue;
    std::map<std::string, std::string> packages = project.file.packages;
    for (const auto& [name, version] : model.pip) packages[name] = version;
    // The runtime provides `bauplan` (our compatibility module); the client library of that
    // name on PyPI is not what models import here.
    std::erase_if(packages, [](const auto& p) { return NormalizePackageName(p.first) == "bauplan"; });
    std::string wanted = model.python_version.empty() ? project.file.python_version : model.python_version;
    if (packages.empty() && wanted.empty()) continue;
    std::string context = "model '" + model.name + "' (" + model.location.ToString() + ")";
    std::string python = PythonExecutable();
    SLUICE_ASSIGN_OR_RAISE(PackageStore * store, store_for(python));
    if (!wanted.empty() && !PythonVersionMatches(store->python_version(), wanted)) {
      // Another interpreter: it gets pyarrow (what the worker speaks to us with) from the
      // store, at the version we were built with, like any other package.
      auto found = FindPython(UvExecutable(), wanted);
      if (!found.ok()) {
        return WithContext(found.status(),
                           context + " asks for Python " + wanted + " with @python(\"" + wanted + "\")");
      }
      python = found->path;
      prepared.pythons[i] = python;
      SLUICE_ASSIGN_OR_RAISE(store, WithContext(store_for(python), context));
      packages.try_emplace("pyarrow", ARROW_VERSION_STRING);
    }
    if (packages.empty()) continue;
    SLUICE_ASSIGN_OR_RAISE(auto pins, WithContext(store->Resolve(packages), context));
    SLUICE_ASSIGN_OR_RAISE(prepared.site_dirs[i], WithContext(store->Assemble(pins), context));
    auto& dirs = used[python];
    dirs.insert(dirs.end(), prepared.site_dirs[i].begin(), prepared.site_dirs[i].end());
  }
  auto guards = std::make_shared<std::vector<std::unique_ptr<PackageStore::InUse>>>();
  for (auto& [python, store] : stores) {
    SLUICE_ASSIGN_OR_RAISE(auto guard, store->MarkInUse(used[python]));
    guards->push_back(std::move(guard));
  }
  prepared.in_use = guards;
  return prepared;
}

}  // namespace sluice
