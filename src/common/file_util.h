// Small local-file helpers that turn errno into statuses carrying the path.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sluice {

// Whole-file read. NotFound when the file does not exist.
Result<std::string> ReadFile(const std::string& path);

// Writes to a temporary name beside `path`, fsyncs, then renames over `path`, so readers
// see either the old content or the new one, never a partial file. `mode`: the new file's
// permission bits (before the umask), e.g. 0600 for secrets.
Status WriteFileAtomic(const std::string& path, std::string_view contents, unsigned mode = 0644);

// mkdir -p.
Status MakeDirs(const std::string& path);

// rm -rf; succeeds when nothing is there.
Status RemoveAll(const std::string& path);

bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);

// Absolute, lexically normalized form of `path` (relative to the working directory).
std::string AbsolutePath(const std::string& path);

// Files (not directories) matching a shell glob such as "data/*.parquet", sorted.
Result<std::vector<std::string>> GlobFiles(const std::string& pattern);

}  // namespace sluice
