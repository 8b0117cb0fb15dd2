#include "env/interpreter.h"

#include <filesystem>

namespace sluice {

std::vector<std::string> InterpreterPrefixes(const std::string& python) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::path installation = fs::canonical(python, error).parent_path().parent_path();
  if (error) return {};
  std::vector<std::string> prefixes;
  fs::path venv = fs::path(python).parent_path().parent_path();
  if (fs::exists(venv / "pyvenv.cfg") && venv != installation) prefixes.push_back(venv.string());
  prefixes.push_back(installation.string());
  return prefixes;
}

}  // namespace sluice
