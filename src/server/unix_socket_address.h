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
  // A server's socket this user may trust: `path` opened without following a symlink (in its
  // last component) and checked to be a socket owned by this process's uid with no group or
  // other permission. The address then names that very file (/proc/self/fd/<n>), so a file
  // swapped in after the check is never reached. IOError naming the path and what is wrong.
  static Result<UnixSocketAddress> ForOwnSocket(const std::string& path);
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
  int dir_fd_ = -1;  // held open while `usable_` names it: a long path's directory, or an own socket
};

// Whether a server accepts connections on `path` now.
bool UnixSocketAccepts(const std::string& path);

// Who listens on a socket: the process that called listen() and its uid (SO_PEERCRED).
struct UnixSocketPeer {
  int pid = 0;
  unsigned uid = 0;
};
// Connects to `address`, reads the listener's credentials and closes, sending nothing.
// IOError when nobody accepts.
Result<UnixSocketPeer> PeerOf(const UnixSocketAddress& address);

}  // namespace sluice
