// The environment one Python function runs with (a model, or a function of sluice.map): the
// interpreter its @python("3.x") asks for (the default one, or another found through uv,
// env/python_finder.h) and the package-store directories of its pip packages
// (env/package_store.h), one store view per interpreter. A package that cannot be resolved or
// a Python that cannot be had is an error naming the function.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "env/package_store.h"

namespace sluice {

struct FunctionEnvironment {
  std::string python;                  // the interpreter, when not the default one
  std::vector<std::string> site_dirs;  // store directories, first wins; empty: the base packages only
};

// Resolves the environments of several functions against shared package stores. Not
// thread-safe.
class EnvironmentResolver {
 public:
  // `python_version` ("3.12"; empty: the default interpreter) and pip `packages` (name ->
  // version) of the function `context` names ("model 'x' (models.py:3)").
  Result<FunctionEnvironment> Resolve(const std::string& python_version, std::map<std::string, std::string> packages,
                                      const std::string& context);

  // Keeps `cache prune` off every directory resolved so far, for as long as the result lives.
  Result<std::shared_ptr<void>> MarkInUse();

 private:
  Result<PackageStore*> StoreFor(const std::string& python);

  std::map<std::string, std::unique_ptr<PackageStore>> stores_;  // by interpreter
  std::map<std::string, std::vector<std::string>> used_;         // by interpreter
};

}  // namespace sluice
