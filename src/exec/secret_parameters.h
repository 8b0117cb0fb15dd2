// Secret parameters on their way to a model: the plan carries them sealed (as the project
// file holds them, common/secret_box.h); they are opened only when a run writes a model's
// task, and checked once before the run starts so a wrong key fails it before anything is
// written. A secret given in clear (--param name=value) is passed as given.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "common/secret_box.h"
#include "plan/plan.h"
#include "project/project.h"

namespace sluice {

class SecretParameters {
 public:
  // Finds the secret parameters of `project` whose effective value in `plan` is sealed and
  // checks that each opens with the data home's key (DefaultSecretKeyPath()). Errors name
  // the parameter and the key file.
  static Result<SecretParameters> Make(const Project& project, const Plan& plan);

  // The Python arguments of `node` as the worker receives them: typed values, secrets in
  // clear.
  Result<nlohmann::json> Arguments(const PlanNode& node) const;

  // The SQL of `node` as the worker runs it: node.sql, where parameters are substituted with
  // secrets still sealed, or, when a sealed secret is among them, the model's SQL substituted
  // again with that secret in clear.
  Result<std::string> Sql(const PlanNode& node) const;

 private:
  std::map<std::string, ParameterValue> parameters_;  // the plan's effective values
  std::set<std::string> sealed_;                      // parameter names
  std::optional<SecretBox> box_;                      // opened only when some secret is sealed
};

}  // namespace sluice
