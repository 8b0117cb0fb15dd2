#include "env/package_store.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <sstream>

#include "common/file_util.h"
#include "common/hash.h"
#include "common/ids.h"
#include "common/subprocess.h"
#include "env/interpreter.h"

namespace sluice {
namespace {

Result<SubprocessResult> RunTool(std::vector<std::string> argv, const std::string& stdin_data,
                                 const std::string& cache_dir) {
  SubprocessOptions options;
  options.argv = std::move(argv);
  options.stdin_data = stdin_data;
  // uv's cache ($UV_CACHE_DIR, else beside the store): on the store's filesystem, installs
  // hard-link instead of copying.
  const char* shared = std::getenv("UV_CACHE_DIR");
  options.env["UV_CACHE_DIR"] = shared && *shared ? shared : cache_dir;
  options.env["UV_NO_PROGRESS"] = "1";
  options.timeout_seconds = 600;
  return RunSubprocess(options);
}

// name==version lines (uv pip compile / freeze output).
std::vector<PackagePin> ParsePins(const std::string& text) {
  std::vector<PackagePin> pins;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    auto eq = line.find("==");
    if (line.empty() || line[0] == '#' || line[0] == ' ' || eq == std::string::npos) continue;
    std::string version = line.substr(eq + 2);
    auto end = version.find_first_of(" ;\\");
    if (end != std::string::npos) version = version.substr(0, end);
    pins.push_back({NormalizePackageName(line.substr(0, eq)), version});
  }
  return pins;
}

std::string LastLines(const std::string& text, int count) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  std::string out;
  for (size_t i = lines.size() > static_cast<size_t>(count) ? lines.size() - count : 0; i < lines.size(); ++i) {
    out += (out.empty() ? "" : "\n") + lines[i];
  }
  return out;
}

}  // namespace

std::string NormalizePackageName(const std::string& name) {
  std::string out;
  for (char c : name) {
    char lower = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out += (lower == '_' || lower == '.') ? '-' : lower;
  }
  return out;
}

namespace {

// Identifies an interpreter and the state of its packages without running it: its path and
// the modification times of its binary and of its environment's site-packages directories
// (which change whenever a package is added or removed). Empty when they cannot be found.
std::string BaseEnvironmentKey(const std::string& python) {
  std::vector<std::string> prefixes = InterpreterPrefixes(python);
  if (prefixes.empty()) return "";
  std::string key = python;
  auto stamp = [&](const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return false;
    key += "\n" + path.string() + " " + std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
    return true;
  };
  std::error_code error;
  stamp(std::filesystem::canonical(python, error));
  int site_packages = 0;
  for (const auto& prefix : prefixes) {
    for (const auto& entry : std::filesystem::directory_iterator(prefix + "/lib", error)) {
      if (entry.path().filename().string().rfind("python", 0) == 0) {
        site_packages += stamp(entry.path() / "site-packages");
      }
    }
  }
  return site_packages > 0 ? Sha256Hex(key) : "";
}

}  // namespace

std::string VersionSpecifier(const std::string& version) {
  if (version.empty() || version == "*") return "";
  if (version.find_first_of("<>=!~,") != std::string::npos) return version;
  size_t dots = std::count(version.begin(), version.end(), '.');
  return dots >= 2 ? "==" + version : "==" + version + ".*";
}

std::string DefaultPackageStore() {
  if (const char* store = std::getenv("SLUICE_STORE"); store && *store) return store;
  const char* cache = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  return (cache && *cache ? std::string(cache) : std::string(home ? home : "/tmp") + "/.cache") + "/sluice/store";
}

Result<std::unique_ptr<PackageStore>> PackageStore::Open(const std::string& root, const std::string& uv,
                                                         const std::string& python) {
  std::unique_ptr<PackageStore> store(new PackageStore());
  store->root_ = AbsolutePath(root);
  store->uv_ = uv;
  store->python_ = python;
  for (const char* dir : {"/packages", "/resolutions", "/uv-cache", "/tmp"}) {
    SLUICE_RETURN_NOT_OK(MakeDirs(store->root_ + dir));
  }
  // What the interpreter is and has: asked once, then kept while neither the interpreter
  // nor its site-packages changes, so an unchanged run pays a few stat calls for it.
  std::string key = BaseEnvironmentKey(python);
  std::string cached = store->root_ + "/base/" + key + ".txt";
  std::string facts;
  if (auto text = ReadFile(cached); !key.empty() && text.ok()) {
    facts = *text;
  } else {
    SubprocessOptions version;
    version.argv = {python, "-c", "import platform; print(platform.python_version())"};
    SLUICE_ASSIGN_OR_RAISE(SubprocessResult v, RunSubprocess(version));
    if (v.exit_code != 0) return IOError("cannot run the interpreter '", python, "'");
    SLUICE_ASSIGN_OR_RAISE(SubprocessResult freeze,
                           RunTool({uv, "pip", "freeze", "--python", python}, "", store->root_ + "/uv-cache"));
    if (freeze.exit_code != 0) return IOError("cannot list the packages of '", python, "'");
    facts = v.stdout_text.substr(0, v.stdout_text.find('\n') + 1) + freeze.stdout_text;
    if (!key.empty()) {
      SLUICE_RETURN_NOT_OK(MakeDirs(store->root_ + "/base"));
      SLUICE_RETURN_NOT_OK(WriteFileAtomic(cached, facts));
    }
  }
  store->python_version_ = facts.substr(0, facts.find('\n'));
  for (const auto& pin : ParsePins(facts.substr(facts.find('\n') + 1))) store->base_[pin.name] = pin.version;
  return store;
}

Result<std::vector<PackagePin>> PackageStore::Resolve(const std::map<std::string, std::string>& requirements) {
  std::string input;
  std::set<std::string> requested;
  for (const auto& [name, version] : requirements) {
    input += NormalizePackageName(name) + VersionSpecifier(version) + "\n";
    requested.insert(NormalizePackageName(name));
  }
  std::string key = Sha256Hex(python_version_ + "\n" + input);
  std::string cached = root_ + "/resolutions/" + key + ".txt";
  if (auto text = ReadFile(cached); text.ok()) return ParsePins(*text);

  // Prefer what the base environment has (no install at all), unless asked otherwise.
  std::string constraints;
  for (const auto& [name, version] : base_) {
    if (!requested.count(name)) constraints += name + "==" + version + "\n";
  }
  std::string constraints_file = root_ + "/tmp/constraints-" + NewShortId(8) + ".txt";
  SLUICE_RETURN_NOT_OK(WriteFileAtomic(constraints_file, constraints));
  std::vector<std::string> argv = {
      uv_,           "pip",           "compile", "-", "--python", python_, "--no-python-downloads",
      "--no-header", "--no-annotate", "--quiet"};
  auto with_constraints = argv;
  with_constraints.insert(with_constraints.end(), {"--constraint", constraints_file});
  // From the cache alone first (tens of milliseconds), then with the index.
  auto offline = with_constraints;
  offline.push_back("--offline");
  SubprocessResult result;
  for (const auto* attempt : {&offline, &with_constraints, &argv}) {
    SLUICE_ASSIGN_OR_RAISE(result, RunTool(*attempt, input, root_ + "/uv-cache"));
    if (result.exit_code == 0) break;
  }
  (void)RemoveAll(constraints_file);
  if (result.exit_code != 0) {
    return WithHint(InvalidInput("cannot resolve the packages: ", LastLines(result.stderr_text, 6)),
                    "check the package names and versions in @python(pip=...)");
  }
  SLUICE_RETURN_NOT_OK(WriteFileAtomic(cached, result.stdout_text));
  return ParsePins(result.stdout_text);
}

Result<std::string> PackageStore::Ensure(const PackagePin& pin) {
  std::string tag = "py" + python_version_.substr(0, python_version_.rfind('.'));
  std::string dir = root_ + "/packages/" + pin.name + "-" + pin.version + "-" + tag;
  if (IsDirectory(dir)) return dir;
  // Install beside the final name and rename: concurrent runs never see a half install.
  std::string temp = root_ + "/tmp/" + pin.name + "-" + NewShortId(8);
  std::vector<std::string> argv = {uv_,
                                   "pip",
                                   "install",
                                   "--no-deps",
                                   "--target",
                                   temp,
                                   "--python",
                                   python_,
                                   "--no-python-downloads",
                                   "--quiet",
                                   pin.name + "==" + pin.version};
  auto offline = argv;
  offline.push_back("--offline");
  SLUICE_ASSIGN_OR_RAISE(SubprocessResult result, RunTool(offline, "", root_ + "/uv-cache"));
  if (result.exit_code != 0) {
    (void)RemoveAll(temp);
    SLUICE_ASSIGN_OR_RAISE(result, RunTool(argv, "", root_ + "/uv-cache"));
  }
  if (result.exit_code != 0) {
    (void)RemoveAll(temp);
    return IOError("installing ", pin.name, "==", pin.version, " failed: ", LastLines(result.stderr_text, 4));
  }
  if (std::rename(temp.c_str(), dir.c_str()) != 0) (void)RemoveAll(temp);  // another run won
  return dir;
}

Result<std::vector<std::string>> PackageStore::Assemble(const std::vector<PackagePin>& pins) {
  std::vector<std::string> dirs;
  for (const auto& pin : pins) {
    auto base = base_.find(pin.name);
    if (base != base_.end() && base->second == pin.version) continue;
    SLUICE_ASSIGN_OR_RAISE(std::string dir, Ensure(pin));
    // The directory's mtime is its last use: what prune goes by.
    ::utimes(dir.c_str(), nullptr);
    dirs.push_back(dir);
  }
  return dirs;
}

PackageStore::InUse::~InUse() { (void)RemoveAll(record_); }

Result<std::unique_ptr<PackageStore::InUse>> PackageStore::MarkInUse(const std::vector<std::string>& dirs) {
  SLUICE_RETURN_NOT_OK(MakeDirs(root_ + "/in-use"));
  std::string record = root_ + "/in-use/" + std::to_string(::getpid()) + "-" + NewShortId(6);
  std::string text;
  for (const auto& dir : dirs) text += dir + "\n";
  SLUICE_RETURN_NOT_OK(WriteFileAtomic(record, text));
  return std::make_unique<InUse>(record);
}

namespace {

int64_t DirectoryBytes(const std::string& dir) {
  int64_t total = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (entry.is_regular_file(ec)) total += static_cast<int64_t>(entry.file_size(ec));
  }
  return total;
}

// Directories named by the in-use records of live processes.
std::set<std::string> DirectoriesInUse(const std::string& root) {
  std::set<std::string> dirs;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root + "/in-use", ec)) {
    std::string name = entry.path().filename().string();
    pid_t pid = static_cast<pid_t>(std::atol(name.substr(0, name.find('-')).c_str()));
    if (pid <= 0 || (::kill(pid, 0) != 0 && errno == ESRCH)) {
      std::filesystem::remove(entry.path(), ec);  // a run that died without cleaning up
      continue;
    }
    auto text = ReadFile(entry.path().string());
    if (!text.ok()) continue;
    std::istringstream lines(*text);
    std::string line;
    while (std::getline(lines, line)) {
      if (!line.empty()) dirs.insert(line);
    }
  }
  return dirs;
}

}  // namespace

Result<std::vector<PackageStore::StoredPackage>> PackageStore::List() const {
  std::vector<StoredPackage> out;
  std::set<std::string> in_use = DirectoriesInUse(root_);
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(root_ + "/packages", ec)) {
    if (!entry.is_directory(ec)) continue;
    StoredPackage package;
    package.directory = entry.path().string();
    package.name = entry.path().filename().string();
    package.bytes = DirectoryBytes(package.directory);
    struct stat st;
    if (::stat(package.directory.c_str(), &st) == 0) {
      package.last_used_ms = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000 + st.st_mtim.tv_nsec / 1000000;
    }
    package.in_use = in_use.count(package.directory) > 0;
    out.push_back(std::move(package));
  }
  std::sort(out.begin(), out.end(), [](const StoredPackage& a, const StoredPackage& b) {
    return a.last_used_ms != b.last_used_ms ? a.last_used_ms < b.last_used_ms : a.name < b.name;
  });
  return out;
}

Result<std::vector<PackageStore::StoredPackage>> PackageStore::Prune(int64_t max_bytes, bool dry_run) {
  SLUICE_ASSIGN_OR_RAISE(auto packages, List());
  int64_t total = 0;
  for (const auto& p : packages) total += p.bytes;
  std::vector<StoredPackage> removed;
  for (const auto& p : packages) {
    if (total <= max_bytes) break;
    if (p.in_use) continue;
    if (!dry_run) SLUICE_RETURN_NOT_OK(RemoveAll(p.directory));
    total -= p.bytes;
    removed.push_back(p);
  }
  return removed;
}

}  // namespace sluice
