// Open descriptors handed to sandboxed processes (exec/worker_call.h, exec/query_runner.h):
// an owner that closes one, and files that live in memory only (memfd), which a sandbox can
// read or write through the descriptor without any path of the engine's.
#pragma once

#include <string>

#include "common/status.h"

namespace sluice {

// An open descriptor, closed with its owner.
class OwnedFd {
 public:
  explicit OwnedFd(int fd = -1) : fd_(fd) {}
  OwnedFd(OwnedFd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  OwnedFd& operator=(OwnedFd&& other) noexcept;
  OwnedFd(const OwnedFd&) = delete;
  OwnedFd& operator=(const OwnedFd&) = delete;
  ~OwnedFd();
  int get() const { return fd_; }
  // Gives the descriptor up to the caller, who closes it.
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

// A file in memory only, named `name` in /proc, holding `text`, positioned at its start.
// Sealed, nobody (the process it is passed to included) can change it; otherwise it is for
// the receiver to write.
Result<OwnedFd> MemoryFile(const char* name, const std::string& text = "", bool seal = false);

// The whole content of the file `fd` (from offset 0), which someone else wrote: refused when
// it is over `limit` bytes. `what` names it in errors.
Result<std::string> ReadWrittenFile(int fd, size_t limit, const std::string& what);

}  // namespace sluice
