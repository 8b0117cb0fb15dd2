#include "server/unix_socket_address.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace sluice {

Result<UnixSocketAddress> UnixSocketAddress::For(const std::string& path) {
  constexpr size_t kMax = sizeof(sockaddr_un{}.sun_path) - 1;
  if (path.size() <= kMax) return UnixSocketAddress(path, path, -1);
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  int dir_fd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) return IOError("cannot open the directory of socket '", path, "': ", std::strerror(errno));
  std::string usable = "/proc/self/fd/" + std::to_string(dir_fd) + "/" + name;
  if (usable.size() > kMax) {
    ::close(dir_fd);
    return WithHint(
        InvalidInput("socket path '", path, "' is too long: its file name alone is ", name.size(), " bytes"),
        "use a shorter SLUICE_HOME");
  }
  return UnixSocketAddress(path, std::move(usable), dir_fd);
}

Result<UnixSocketAddress> UnixSocketAddress::ForOwnSocket(const std::string& path) {
  int fd = ::open(path.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return IOError("cannot open socket '", path, "': ", std::strerror(errno));
  struct stat st {};
  std::string wrong;
  if (::fstat(fd, &st) != 0) {
    wrong = std::string("cannot stat it: ") + std::strerror(errno);
  } else if (S_ISLNK(st.st_mode)) {
    wrong = "it is a symbolic link";
  } else if (!S_ISSOCK(st.st_mode)) {
    wrong = "it is not a socket";
  } else if (st.st_uid != ::geteuid()) {
    wrong = "it belongs to uid " + std::to_string(st.st_uid) + ", not " + std::to_string(::geteuid());
  } else if ((st.st_mode & 077) != 0) {
    wrong = "its group or others have permissions on it";
  }
  if (!wrong.empty()) {
    ::close(fd);
    return IOError("not trusting socket '", path, "': ", wrong);
  }
  return UnixSocketAddress(path, "/proc/self/fd/" + std::to_string(fd), fd);
}

UnixSocketAddress::UnixSocketAddress(UnixSocketAddress&& other) noexcept
    : path_(std::move(other.path_)), usable_(std::move(other.usable_)), dir_fd_(other.dir_fd_) {
  other.dir_fd_ = -1;
}

UnixSocketAddress::~UnixSocketAddress() {
  if (dir_fd_ >= 0) ::close(dir_fd_);
}

sockaddr_un UnixSocketAddress::address() const {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, usable_.c_str(), usable_.size() + 1);
  return address;
}

bool UnixSocketAccepts(const std::string& path) {
  auto target = UnixSocketAddress::For(path);
  if (!target.ok()) return false;
  sockaddr_un address = target->address();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return ok;
}

Result<UnixSocketPeer> PeerOf(const UnixSocketAddress& address) {
  sockaddr_un target = address.address();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return IOError("socket: ", std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&target), sizeof(target)) != 0) {
    int error = errno;
    ::close(fd);
    return IOError("nothing accepts on '", address.path(), "': ", std::strerror(error));
  }
  ucred credentials{};
  socklen_t size = sizeof(credentials);
  int got = ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size);
  int error = errno;
  ::close(fd);
  if (got != 0) return IOError("cannot read who listens on '", address.path(), "': ", std::strerror(error));
  return UnixSocketPeer{static_cast<int>(credentials.pid), static_cast<unsigned>(credentials.uid)};
}

}  // namespace sluice
