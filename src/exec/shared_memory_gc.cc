#include "exec/shared_memory_gc.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>

#include "common/config.h"
#include "common/file_util.h"
#include "data/spill_dir.h"
#include "exec/job_recorder.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

constexpr auto kQueryAge = std::chrono::hours(1);

// A directory of ours, not a link: the only kind Collect removes.
bool OwnDirectory(const fs::path& path) {
  struct stat info {};
  return ::lstat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode) && info.st_uid == ::geteuid();
}

int64_t SizeOf(const fs::path& dir) {
  int64_t total = 0;
  std::error_code error;
  for (auto it = fs::recursive_directory_iterator(dir, error); !error && it != fs::recursive_directory_iterator();
       it.increment(error)) {
    if (it->is_regular_file(error) && !it->is_symlink(error)) total += static_cast<int64_t>(it->file_size(error));
  }
  return total;
}

// The home `dir` belongs to, when its marker says so credibly. A model can write in its
// home's shared memory, so the marker is not trusted on its word: it must be a small regular
// file naming the one home whose directory name this is (the name is a hash of the home's
// path, common/config.h), or a forged marker could get a live home's objects removed.
std::optional<std::string> MarkedHome(const fs::path& dir) {
  struct stat info {};
  std::string marker = (dir / "home").string();
  if (::lstat(marker.c_str(), &info) != 0 || !S_ISREG(info.st_mode) || info.st_size > 4096) return std::nullopt;
  auto home = ReadFile(marker);
  if (!home.ok() || home->empty() || (*home)[0] != '/' || SharedMemoryRootFor(*home) != dir.string()) {
    return std::nullopt;
  }
  return *home;
}

Status Remove(const fs::path& dir, bool dry_run, SharedMemoryGcReport* report) {
  report->bytes += SizeOf(dir);
  report->removed.push_back(dir.string());
  return dry_run ? Status::OK() : RemoveAll(dir.string());
}

// Whether the job named `name` may still read its objects: it is running.
bool JobRunning(Lakehouse& lake, const std::string& name) {
  auto job = lake.catalog().jobs().Get(name);
  if (job.ok()) job = ReconcileJob(lake.catalog().jobs(), *job);  // a killed runner's job ends here
  return job.ok() && !IsFinalJobStatus(job->status);
}

// The spill files (data/spill_dir.h) of runs that are not running and of queries over an hour
// old. Only directories of ours are listed, and removal never follows a link.
Status CollectSpill(Lakehouse& lake, bool dry_run, SharedMemoryGcReport* report) {
  const std::string spill = lake.objects().spill_dir();
  if (spill.empty() || !OwnDirectory(spill)) return Status::OK();
  SpillDir dir(spill);
  auto now = fs::file_time_type::clock::now();
  for (const char* kind : {"runs", "queries"}) {
    const fs::path parent = fs::path(spill) / kind;
    if (!OwnDirectory(parent)) continue;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(parent, error)) {
      if (!OwnDirectory(entry.path())) continue;
      const std::string name = entry.path().filename().string();
      if (std::string(kind) == "runs" && JobRunning(lake, name)) continue;
      if (std::string(kind) == "queries") {
        auto written = fs::last_write_time(entry.path(), error);
        if (error || now - written < kQueryAge) continue;
      }
      report->bytes += SizeOf(entry.path());
      report->removed.push_back(entry.path().string());
      if (!dry_run) SLUICE_RETURN_NOT_OK(dir.Remove(std::string(kind) + "/" + name));
    }
  }
  return Status::OK();
}

}  // namespace

Status MarkSharedMemoryHome(const std::string& root, const std::string& home) {
  std::string marker = root + "/home";
  auto current = ReadFile(marker);
  if (current.ok() && *current == home) return Status::OK();
  return WriteFileAtomic(marker, home);
}

Result<SharedMemoryGcReport> CollectSharedMemory(Lakehouse& lake, bool dry_run) {
  SharedMemoryGcReport report;
  const fs::path own_root = lake.objects().root();
  const std::string prefix = "sluice-" + std::to_string(::getuid()) + "-";
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(own_root.parent_path(), error)) {
    const fs::path& dir = entry.path();
    if (dir.filename().string().rfind(prefix, 0) != 0 || dir == own_root || !OwnDirectory(dir)) continue;
    std::optional<std::string> home = MarkedHome(dir);
    if (!home) {
      report.unknown.push_back(dir.string());
      continue;
    }
    if (!IsDirectory(*home)) SLUICE_RETURN_NOT_OK(Remove(dir, dry_run, &report));
  }
  if (error) return IOError("cannot list '", own_root.parent_path().string(), "': ", error.message());

  // This home's runs: a folder is named after its job; a job that is not running will not
  // read it again (a finished run releases its own, a killed one never does).
  for (const auto& entry : fs::directory_iterator(own_root / "runs", error)) {
    if (!OwnDirectory(entry.path())) continue;
    auto job = lake.catalog().jobs().Get(entry.path().filename().string());
    if (job.ok()) job = ReconcileJob(lake.catalog().jobs(), *job);  // a killed runner's job ends here
    if (job.ok() && !IsFinalJobStatus(job->status)) continue;
    SLUICE_RETURN_NOT_OK(Remove(entry.path(), dry_run, &report));
  }
  error.clear();
  auto now = fs::file_time_type::clock::now();
  for (const auto& entry : fs::directory_iterator(own_root / "queries", error)) {
    if (!OwnDirectory(entry.path())) continue;
    auto written = fs::last_write_time(entry.path(), error);
    if (error || now - written < kQueryAge) continue;
    SLUICE_RETURN_NOT_OK(Remove(entry.path(), dry_run, &report));
  }
  SLUICE_RETURN_NOT_OK(CollectSpill(lake, dry_run, &report));
  if (!dry_run) SLUICE_RETURN_NOT_OK(lake.objects().TrimArena());
  return report;
}

}  // namespace sluice
