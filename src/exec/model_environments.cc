#include "exec/model_environments.h"

#include "exec/function_environment.h"

namespace sluice {

Result<PreparedEnvironments> PrepareEnvironments(const Project& project, const Plan& plan) {
  PreparedEnvironments prepared;
  EnvironmentResolver resolver;
  for (size_t i = 0; i < plan.nodes.size(); ++i) {
    const ModelSpec& model = plan.nodes[i].model;
    if (model.kind == ModelKind::kSql) continue;
    std::map<std::string, std::string> packages = project.file.packages;
    for (const auto& [name, version] : model.pip) packages[name] = version;
    std::string wanted = model.python_version.empty() ? project.file.python_version : model.python_version;
    std::string context = "model '" + model.name + "' (" + model.location.ToString() + ")";
    SLUICE_ASSIGN_OR_RAISE(FunctionEnvironment environment, resolver.Resolve(wanted, std::move(packages), context));
    if (!environment.python.empty()) prepared.pythons[i] = environment.python;
    if (!environment.site_dirs.empty()) prepared.site_dirs[i] = std::move(environment.site_dirs);
  }
  SLUICE_ASSIGN_OR_RAISE(prepared.in_use, resolver.MarkInUse());
  return prepared;
}

}  // namespace sluice
