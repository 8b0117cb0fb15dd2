#include "data/spill_dir.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "common/ids.h"

namespace sluice {
namespace {

std::vector<std::string> SplitKey(const std::string& key) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    parts.push_back(key.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

bool ValidPart(const std::string& part) { return !part.empty() && part != "." && part != ".."; }

// Removes the entry `name` of the directory `dir_fd`, and what is under it when it is a
// directory (entered without following links).
Status RemoveAt(int dir_fd, const std::string& name, const std::string& shown) {
  struct stat info {};
  if (::fstatat(dir_fd, name.c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno == ENOENT ? Status::OK() : IOError("cannot remove '", shown, "': ", std::strerror(errno));
  }
  if (S_ISDIR(info.st_mode)) {
    int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return IOError("cannot open '", shown, "': ", std::strerror(errno));
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
      ::close(fd);
      return IOError("cannot list '", shown, "': ", std::strerror(errno));
    }
    std::vector<std::string> children;
    while (dirent* entry = ::readdir(dir)) {
      std::string child = entry->d_name;
      if (child != "." && child != "..") children.push_back(child);
    }
    Status st;
    for (const auto& child : children) {
      st = RemoveAt(::dirfd(dir), child, shown + "/" + child);
      if (!st.ok()) break;
    }
    ::closedir(dir);
    SLUICE_RETURN_NOT_OK(st);
  }
  if (::unlinkat(dir_fd, name.c_str(), S_ISDIR(info.st_mode) ? AT_REMOVEDIR : 0) != 0 && errno != ENOENT) {
    return IOError("cannot remove '", shown, "': ", std::strerror(errno));
  }
  return Status::OK();
}

Status CopyAll(int from, int to) {
  if (::lseek(from, 0, SEEK_SET) != 0) return IOError("cannot seek: ", std::strerror(errno));
  off_t offset = 0;
  while (true) {
    ssize_t sent = ::sendfile(to, from, &offset, size_t{1} << 30);
    if (sent == 0) return Status::OK();
    if (sent > 0) continue;
    if (errno == EINTR) continue;
    if (errno != EINVAL && errno != ENOSYS) return IOError(std::strerror(errno));
    break;  // sendfile cannot copy these two: copy by hand
  }
  std::vector<char> buffer(1 << 20);
  while (true) {
    ssize_t got = ::pread(from, buffer.data(), buffer.size(), offset);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return IOError(std::strerror(errno));
    if (got == 0) return Status::OK();
    for (ssize_t done = 0; done < got;) {
      ssize_t put = ::write(to, buffer.data() + done, got - done);
      if (put < 0 && errno == EINTR) continue;
      if (put < 0) return IOError(std::strerror(errno));
      done += put;
    }
    offset += got;
  }
}

}  // namespace

Result<OwnedFd> SpillDir::OpenParent(const std::string& key, bool create, std::string* name) const {
  std::vector<std::string> parts = SplitKey(key);
  for (const auto& part : parts) {
    if (!ValidPart(part)) return InvalidInput("'", key, "' is not an object key");
  }
  if (create && ::mkdir(path_.c_str(), 0700) != 0 && errno != EEXIST) {
    return IOError("cannot create the spill directory '", path_, "': ", std::strerror(errno));
  }
  OwnedFd dir(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (dir.get() < 0) {
    return IOError("cannot open the spill directory '", path_, "'",
                   errno == ELOOP || errno == ENOTDIR ? " (not a directory: a link or a file)" : "", ": ",
                   std::strerror(errno));
  }
  struct stat info {};
  if (::fstat(dir.get(), &info) != 0 || info.st_uid != ::geteuid()) {
    return IOError("the spill directory '", path_, "' is not the engine's own");
  }
  // Ours: nobody else may list or plant anything in it.
  if ((info.st_mode & 0777) != 0700 && create) (void)::fchmod(dir.get(), 0700);
  std::string shown = path_;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    shown += "/" + parts[i];
    if (create && ::mkdirat(dir.get(), parts[i].c_str(), 0700) != 0 && errno != EEXIST) {
      return IOError("cannot create '", shown, "': ", std::strerror(errno));
    }
    OwnedFd next(::openat(dir.get(), parts[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (next.get() < 0) {
      return IOError("cannot open '", shown, "'", errno == ELOOP || errno == ENOTDIR ? " (a link or a file)" : "", ": ",
                     std::strerror(errno));
    }
    dir = std::move(next);
  }
  *name = parts.back();
  return dir;
}

Result<SpilledFile> SpillDir::Write(const std::string& key, int source_fd) const {
  return Write(key, [source_fd](int out) { return CopyAll(source_fd, out); });
}

Result<SpilledFile> SpillDir::Write(const std::string& key, const std::function<Status(int out_fd)>& write) const {
  std::string name;
  SLUICE_ASSIGN_OR_RAISE(OwnedFd dir, OpenParent(key, /*create=*/true, &name));
  std::string temp = name + ".tmp-" + NewShortId(8);
  OwnedFd out(::openat(dir.get(), temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (out.get() < 0) return IOError("cannot create '", PathOf(key), "': ", std::strerror(errno));
  Status copied = write(out.get());
  struct stat info {};
  if (copied.ok() && ::fstat(out.get(), &info) != 0) copied = IOError(std::strerror(errno));
  // Renamed over whatever was at its path (a planted file or link is replaced, not followed).
  if (copied.ok() && ::renameat(dir.get(), temp.c_str(), dir.get(), name.c_str()) != 0) {
    copied = IOError(std::strerror(errno));
  }
  if (!copied.ok()) {
    (void)::unlinkat(dir.get(), temp.c_str(), 0);
    return IOError("cannot write '", PathOf(key), "': ", copied.message());
  }
  return SpilledFile{info.st_dev, info.st_ino, static_cast<int64_t>(info.st_size)};
}

Result<OwnedFd> SpillDir::Open(const std::string& key, const SpilledFile& expected) const {
  std::string name;
  SLUICE_ASSIGN_OR_RAISE(OwnedFd dir, OpenParent(key, /*create=*/false, &name));
  OwnedFd file(::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (file.get() < 0) return IOError("cannot open '", PathOf(key), "': ", std::strerror(errno));
  struct stat info {};
  if (::fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode) || info.st_dev != expected.device ||
      info.st_ino != expected.inode || info.st_size != expected.bytes) {
    return IOError("the spilled object '", PathOf(key), "' was replaced or changed since it was written");
  }
  return file;
}

Status SpillDir::Remove(const std::string& key) const {
  std::string name;
  auto dir = OpenParent(key, /*create=*/false, &name);
  if (!dir.ok()) {
    // Nothing was spilled (no directory), or what is there is no directory of ours: a link
    // planted there is not followed, so nothing of ours is beyond it.
    return Status::OK();
  }
  return RemoveAt(dir->get(), name, PathOf(key));
}

}  // namespace sluice
