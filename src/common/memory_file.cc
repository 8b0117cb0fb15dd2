#include "common/memory_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice {

OwnedFd::~OwnedFd() {
  if (fd_ >= 0) ::close(fd_);
}

OwnedFd& OwnedFd::operator=(OwnedFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

Result<OwnedFd> MemoryFile(const char* name, const std::string& text, bool seal) {
  OwnedFd fd(::memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd.get() < 0) return IOError("cannot create a memory file: ", std::strerror(errno));
  for (size_t written = 0; written < text.size();) {
    ssize_t n = ::write(fd.get(), text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IOError("cannot write a memory file: ", std::strerror(errno));
    written += static_cast<size_t>(n);
  }
  if (seal && ::fcntl(fd.get(), F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
    return IOError("cannot seal a memory file: ", std::strerror(errno));
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return IOError("cannot rewind a memory file: ", std::strerror(errno));
  return fd;
}

Result<std::string> ReadWrittenFile(int fd, size_t limit, const std::string& what) {
  struct stat info;
  if (::fstat(fd, &info) != 0) return IOError("cannot read ", what, ": ", std::strerror(errno));
  if (static_cast<size_t>(info.st_size) > limit) {
    return ResourceExceeded(what, " is ", info.st_size, " bytes, over the limit of ", limit);
  }
  std::string text(static_cast<size_t>(info.st_size), '\0');
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::pread(fd, text.data() + done, text.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IOError("cannot read ", what, ": ", std::strerror(errno));
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  return text;
}

}  // namespace sluice
