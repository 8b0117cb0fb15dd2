// Function environments, assembled instead of built: a model's pip dict is resolved with uv
// into exact pins (the resolution cached by its inputs), each pinned distribution is installed
// once into a content-addressed store shared by every run, and a model's environment is the
// list of store directories it needs, put in front of the worker's sys.path. Nothing is
// copied per run; an unchanged environment costs a cache lookup.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace sluice {

struct PackagePin {
  std::string name;  // normalized: lower case, '-' separated
  std::string version;
  bool operator==(const PackagePin&) const = default;
};

class PackageStore {
 public:
  // `root`: the store directory ($SLUICE_STORE, else ~/.cache/sluice/store); `uv` and
  // `python`: the resolver and the interpreter environments are for.
  static Result<std::unique_ptr<PackageStore>> Open(const std::string& root, const std::string& uv,
                                                    const std::string& python);

  // Exact pins for `requirements` (name -> version as in @python(pip=...): "2.2.3" exact,
  // "2" or "1.37" any release with that prefix). Packages the base environment already has
  // are kept at its versions when the resolver allows. InvalidInput carries the resolver's
  // explanation for an unknown package or an impossible version.
  Result<std::vector<PackagePin>> Resolve(const std::map<std::string, std::string>& requirements);

  // The store directory holding `pin`, installing it (without dependencies) on first use.
  Result<std::string> Ensure(const PackagePin& pin);

  // The directories of the pins the base environment does not already provide at the same
  // version, in resolution order.
  Result<std::vector<std::string>> Assemble(const std::vector<PackagePin>& pins);

  // Marks `dirs` as used by this process until the returned guard is destroyed: prune keeps
  // them while the process lives.
  class InUse {
   public:
    explicit InUse(std::string record) : record_(std::move(record)) {}
    ~InUse();
    InUse(const InUse&) = delete;
    InUse& operator=(const InUse&) = delete;

   private:
    std::string record_;
  };
  Result<std::unique_ptr<InUse>> MarkInUse(const std::vector<std::string>& dirs);

  struct StoredPackage {
    std::string directory, name;  // name: "tabulate-0.9.0-py3.11"
    int64_t bytes = 0;
    int64_t last_used_ms = 0;
    bool in_use = false;
  };
  // Every package in the store, least recently used first.
  Result<std::vector<StoredPackage>> List() const;
  // Removes packages not in use, least recently used first, until the store holds at most
  // `max_bytes`. Returns what was removed (or would be, with dry_run).
  Result<std::vector<StoredPackage>> Prune(int64_t max_bytes, bool dry_run);

  // "3.11.7": the interpreter's version.
  const std::string& python_version() const { return python_version_; }
  const std::string& root() const { return root_; }

 private:
  PackageStore() = default;
  std::string root_, uv_, python_, python_version_;
  std::map<std::string, std::string> base_;  // what the interpreter's environment has
};

// "Pandas_Stubs" -> "pandas-stubs".
std::string NormalizePackageName(const std::string& name);

// "2.2.3" -> "==2.2.3"; "2" -> "==2.*"; "1.37" -> "==1.37.*"; ">=1,<2" and "*" pass through.
std::string VersionSpecifier(const std::string& version);

// The default store directory.
std::string DefaultPackageStore();

}  // namespace sluice
