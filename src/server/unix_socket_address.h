// A unix socket path made usable with bind()/connect() whatever its length: sun_path holds
// 107 bytes, so a longer path is reached through its directory's /proc/self/fd/<n> entry,
// held open as long as this object lives. A data home deep in a tree still gets its socket.
#pragma once

#include <sys/un.h>

#include <string>

#include "common/status.h"

namespace sluice {

class UnixSocketAddress {
 public:
  // InvalidInput when even the /proc/self/fd form is too long (a file name over ~90 bytes);
  // IOError when a long path's directory cannot be opened.
  static Result<UnixSocketAddress> For(const std::string& path);
  UnixSocketAddress(UnixSocketAddress&& other) noexcept;
  UnixSocketAddress& operator=(UnixSocketAddress&&) = delete;
  UnixSocketAddress(const UnixSocketAddress&) = delete;
  ~UnixSocketAddress();

  const std::string& path() const { return path_; }  // as given, for messages and unlink
  // What to hand bind()/connect() (or an HTTP client): `path` itself when it fits.
  const std::string& usable() const { return usable_; }
  sockaddr_un address() const;

 private:
  UnixSocketAddress(std::string path, std::string usable, int dir_fd)
      : path_(std::move(path)), usable_(std::move(usable)), dir_fd_(dir_fd) {}
  std::string path_, usable_;
  int dir_fd_ = -1;
};

// Whether a server accepts connections on `path` now.
bool UnixSocketAccepts(const std::string& path);

}  // namespace sluice
