// The directory on local disk where the object store (object_store.h) moves objects that do
// not fit its memory budget (memory_budget.h): <data home>/spill/<object key>, the same IPC
// bytes as in shared memory. Everything below it is reached from a descriptor of the directory
// itself, one path part at a time, never through a link (O_NOFOLLOW at every step): a link or a
// file planted anywhere under it can neither be read as an object nor make the engine write or
// remove anything outside. Directories are made 0700, files 0600; a file is written under a
// fresh name (O_EXCL) and renamed into place, so a file already at its path is replaced, never
// written into. A file is read only when it is still the one written (device and inode).
// Thread-safe: methods touch only the filesystem.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "common/memory_file.h"
#include "common/status.h"

namespace sluice {

struct SpilledFile {
  dev_t device = 0;
  ino_t inode = 0;
  int64_t bytes = 0;
};

class SpillDir {
 public:
  explicit SpillDir(std::string path) : path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  std::string PathOf(const std::string& key) const { return path_ + "/" + key; }

  // Copies the whole file open at `source_fd` to key's path (the directory and the key's
  // parents made when missing). Errors name that path and the OS error.
  Result<SpilledFile> Write(const std::string& key, int source_fd) const;
  // The same, with what `write` writes into the new file (given open for writing).
  Result<SpilledFile> Write(const std::string& key, const std::function<Status(int out_fd)>& write) const;

  // Opens key's file read-only, when it is still `expected`.
  Result<OwnedFd> Open(const std::string& key, const SpilledFile& expected) const;

  // Removes key's file, or the directory `key` names and everything under it; missing is fine.
  Status Remove(const std::string& key) const;

 private:
  // The directory holding key's last part, as a descriptor; `create` makes what is missing.
  // Sets *name to that last part.
  Result<OwnedFd> OpenParent(const std::string& key, bool create, std::string* name) const;

  std::string path_;
};

}  // namespace sluice
