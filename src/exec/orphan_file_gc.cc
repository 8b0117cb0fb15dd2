#include "exec/orphan_file_gc.h"

#include <chrono>
#include <deque>
#include <set>

#include "format/iceberg_table.h"
#include "storage/file_io.h"
#include "storage/storage_uri.h"

namespace sluice {
namespace {

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
  // Compared as normalized URIs: metadata may name a file "file:///w/x" or "/w/./x".
  std::set<std::string> reachable;
  for (const auto& uri : reachable_uris) {
    auto parsed = StorageUri::Parse(uri);
    if (parsed.ok()) reachable.insert(parsed->Normalized().ToString());
  }
  report.reachable = reachable.size();

  FileIO& io = FileIO::Default();
  const std::string warehouse = lake.warehouse().ToString();
  SLUICE_ASSIGN_OR_RAISE(std::vector<StoredFileInfo> files,
                         WithContext(io.List(warehouse), "listing the warehouse"));  // links are not listed
  const auto now = std::chrono::system_clock::now();
  std::vector<std::string> doomed;
  for (const auto& file : files) {
    const std::string uri = file.uri.ToString();
    if (reachable.count(uri)) continue;
    if (now - file.modified < std::chrono::seconds(min_age_seconds)) {
      ++report.too_young;
      continue;
    }
    doomed.push_back(uri);
    report.removed.push_back(file.uri.DisplayName());
    report.bytes += file.size;
  }
  if (!dry_run) {
    for (const auto& uri : doomed) SLUICE_RETURN_NOT_OK(io.Delete(uri));
  }
  return report;
}

}  // namespace sluice
