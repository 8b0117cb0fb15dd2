#include "exec/orphan_file_gc.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <set>

#include "common/file_util.h"
#include "format/iceberg_table.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

// Every commit any branch or tag reaches through all its parents.
Result<std::set<std::string>> ReachableCommits(Catalog& catalog) {
  std::deque<std::string> pending;
  SLUICE_ASSIGN_OR_RAISE(std::vector<Ref> branches, catalog.ListBranches());
  SLUICE_ASSIGN_OR_RAISE(std::vector<Ref> tags, catalog.ListTags());
  for (const auto* refs : {&branches, &tags}) {
    for (const auto& ref : *refs) pending.push_back(ref.commit_id);
  }
  std::set<std::string> seen;
  while (!pending.empty()) {
    std::string id = std::move(pending.front());
    pending.pop_front();
    if (id.empty() || !seen.insert(id).second) continue;
    SLUICE_ASSIGN_OR_RAISE(Commit commit, catalog.GetCommit(id));
    for (const auto& parent : commit.parents) pending.push_back(parent);
  }
  return seen;
}

}  // namespace

Result<OrphanFileGcReport> CollectOrphanFiles(Lakehouse& lake, int64_t min_age_seconds, bool dry_run) {
  OrphanFileGcReport report;
  SLUICE_ASSIGN_OR_RAISE(std::set<std::string> commits, ReachableCommits(lake.catalog()));
  std::set<std::string> metadata_files;
  for (const auto& id : commits) {
    SLUICE_ASSIGN_OR_RAISE(ResolvedRef resolved, lake.catalog().Resolve("@" + id));
    for (const auto& [_, location] : resolved.tree.tables) metadata_files.insert(location);
  }
  std::set<std::string> reachable_uris;
  for (const auto& location : metadata_files) {
    SLUICE_RETURN_NOT_OK(WithContext(AddReachableFiles(location, &reachable_uris), "finding the files tables reach"));
  }
  std::set<std::string> reachable;
  for (const auto& uri : reachable_uris) {
    auto path = LocalPathFromUri(uri);
    if (path.ok()) reachable.insert(fs::path(*path).lexically_normal().string());
  }
  report.reachable = reachable.size();

  const fs::path warehouse = fs::path(AbsolutePath(lake.warehouse())).lexically_normal();
  const auto now = std::chrono::system_clock::now();
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(warehouse, fs::directory_options::none, error);
       !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
    struct stat info {};
    const std::string path = it->path().lexically_normal().string();
    if (::lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) continue;  // links and directories stay
    if (reachable.count(path)) continue;
    auto modified = std::chrono::system_clock::from_time_t(info.st_mtim.tv_sec);
    if (now - modified < std::chrono::seconds(min_age_seconds)) {
      ++report.too_young;
      continue;
    }
    report.removed.push_back(path);
    report.bytes += info.st_size;
  }
  if (error) return IOError("cannot list the warehouse '", warehouse.string(), "': ", error.message());
  if (!dry_run) {
    for (const auto& path : report.removed) {
      if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
        return IOError("cannot remove '", path, "': ", std::strerror(errno));
      }
    }
  }
  return report;
}

}  // namespace sluice
