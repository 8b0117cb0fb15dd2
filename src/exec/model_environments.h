// What every Python model of a plan runs with, worked out before anything runs: the
// interpreter its @python("3.x") asks for (the default one, or another found through uv,
// env/python_finder.h) and the package-store directories of its pip packages over the
// project defaults (env/package_store.h), one store view per interpreter. A package that
// cannot be resolved or a Python that cannot be had fails the run up front, naming the model.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "env/package_store.h"
#include "plan/plan.h"
#include "project/project.h"

namespace sluice {

struct PreparedEnvironments {
  std::map<size_t, std::vector<std::string>> site_dirs;  // node -> store directories
  std::map<size_t, std::string> pythons;                 // node -> interpreter, when not the default one
  // Keeps `cache prune` off the directories, for the run and every zygote started in it.
  std::shared_ptr<void> in_use;
};

Result<PreparedEnvironments> PrepareEnvironments(const Project& project, const Plan& plan);

}  // namespace sluice
