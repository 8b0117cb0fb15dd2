#include "env/python_finder.h"

#include <cstdlib>
#include <map>
#include <mutex>

#include <nlohmann/json.hpp>

#include "common/subprocess.h"

namespace sluice {
namespace {

Result<SubprocessResult> RunUv(const std::string& uv, std::vector<std::string> args, double timeout) {
  SubprocessOptions options;
  options.argv = {uv};
  options.argv.insert(options.argv.end(), args.begin(), args.end());
  options.env["UV_NO_PROGRESS"] = "1";
  options.timeout_seconds = timeout;
  return RunSubprocess(options);
}

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
  return line;
}

bool DownloadsAllowed() {
  for (const char* name : {"SLUICE_PYTHON_DOWNLOADS", "UV_PYTHON_DOWNLOADS"}) {
    const char* value = std::getenv(name);
    if (value && std::string(value) == "never") return false;
  }
  return true;
}

// "3.11.7 (/usr/bin/python3.11), ...": the installed interpreters uv knows, one per version.
std::string Installed(const std::string& uv) {
  auto listed = RunUv(uv, {"python", "list", "--only-installed", "--output-format", "json"}, 60);
  if (!listed.ok() || listed->exit_code != 0) return "unknown (uv python list failed)";
  std::map<std::string, std::string> by_version;
  try {
    for (const auto& entry : nlohmann::json::parse(listed->stdout_text)) {
      by_version.try_emplace(entry.value("version", "?"), entry.value("path", "?"));
    }
  } catch (const std::exception&) {
    return "unknown (unreadable uv python list)";
  }
  std::string out;
  for (const auto& [version, path] : by_version) out += (out.empty() ? "" : ", ") + version + " (" + path + ")";
  return out.empty() ? "none" : out;
}

// The interpreter `uv python find` picks, with its version.
Result<FoundPython> Find(const std::string& uv, const std::string& wanted) {
  SLUICE_ASSIGN_OR_RAISE(SubprocessResult found, RunUv(uv, {"python", "find", "--no-python-downloads", wanted}, 60));
  std::string path = FirstLine(found.stdout_text);
  if (found.exit_code != 0 || path.empty()) return NotFound("no Python ", wanted);
  SubprocessOptions version;
  version.argv = {path, "-c", "import platform; print(platform.python_version())"};
  version.timeout_seconds = 60;
  SLUICE_ASSIGN_OR_RAISE(SubprocessResult v, RunSubprocess(version));
  if (v.exit_code != 0) return NotFound("the interpreter '", path, "' does not run");
  return FoundPython{path, FirstLine(v.stdout_text)};
}

}  // namespace

bool PythonVersionMatches(const std::string& version, const std::string& wanted) {
  return !wanted.empty() && (version == wanted || version.rfind(wanted + ".", 0) == 0);
}

Result<FoundPython> FindPython(const std::string& uv, const std::string& wanted) {
  static std::mutex mutex;
  static std::map<std::string, Result<FoundPython>> cache;  // GUARDED_BY(mutex): found ones only
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(wanted); it != cache.end()) return it->second;
  for (char c : wanted) {
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') {
      return InvalidInput("Python version '", wanted, "' is not a version such as 3.12");
    }
  }
  Result<FoundPython> found = Find(uv, wanted);
  if (!found.ok() && DownloadsAllowed()) {
    auto installed = RunUv(uv, {"python", "install", wanted}, 300);
    if (installed.ok() && installed->exit_code == 0) found = Find(uv, wanted);
  }
  if (found.ok() && !PythonVersionMatches(found->version, wanted)) found = NotFound("no Python ", wanted);
  if (!found.ok()) {
    found = WithHint(NotFound("Python ", wanted, " is not installed (installed: ", Installed(uv), ")"),
                     "install it with: uv python install " + wanted + " (or put a python" + wanted + " on PATH)");
  }
  // Only what was found is kept: the long-lived server must see an interpreter the user
  // installs after a failed run.
  if (found.ok()) cache.emplace(wanted, found);
  return found;
}

}  // namespace sluice
