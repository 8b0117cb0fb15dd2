#include "env/zygote.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/clock.h"
#include "common/file_util.h"
#include "common/hash.h"

namespace sluice {
namespace {

// Reads one '\n'-terminated line from a socket; empty at end of stream.
std::string ReadLine(int fd) {
  std::string line;
  char c;
  while (true) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return line.empty() ? "" : line;
    if (c == '\n') return line;
    line += c;
  }
}

// The first line from a forked worker, "pid\n", with the sender's credentials (SO_PASSCRED):
// the kernel gives its pid as this process sees it, wherever the worker's own PID namespace
// is. 0 when there is no such line.
int ReadWorkerPid(int fd) {
  std::string line;
  int pid = 0;
  while (line.size() < 64) {
    char c;
    iovec iov{&c, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(ucred))];
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    ssize_t n = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;
    for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
      if (cmsg->cmsg_level == SOL_SOCKET && cmsg->cmsg_type == SCM_CREDENTIALS && pid == 0) {
        ucred credentials;
        std::memcpy(&credentials, CMSG_DATA(cmsg), sizeof(credentials));
        pid = credentials.pid;
      }
    }
    if (c == '\n') return line == "pid" ? pid : 0;
    line += c;
  }
  return 0;
}

// "exit CODE SIGNAL" -> a waitpid-style status; a zygote that vanished counts as SIGKILL.
int WaitStatusFrom(const std::string& line) {
  int code = 0, sig = 0;
  if (std::sscanf(line.c_str(), "exit %d %d", &code, &sig) != 2) return SIGKILL;
  return sig != 0 ? sig : (code & 0xff) << 8;
}

// The inode at `path` (links not followed), 0 when there is nothing.
ino_t InodeOf(const std::string& path) {
  struct stat info;
  return !path.empty() && ::lstat(path.c_str(), &info) == 0 ? info.st_ino : 0;
}

}  // namespace

Result<std::unique_ptr<Zygote>> Zygote::Start(ZygoteOptions options) {
  if (options.socket_path.size() >= sizeof(sockaddr_un{}.sun_path)) {
    return InvalidInput("zygote socket path too long: ", options.socket_path);
  }
  // The engine listens and hands the zygote the socket: its path is in a directory only the
  // engine's user can open, and never inside any sandbox.
  ::unlink(options.socket_path.c_str());
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) return IOError("cannot create a socket: ", std::strerror(errno));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, options.socket_path.c_str(), options.socket_path.size() + 1);
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::chmod(options.socket_path.c_str(), 0600) != 0 || ::listen(listener, 64) != 0) {
    int err = errno;
    ::close(listener);
    return IOError("cannot listen at ", options.socket_path, ": ", std::strerror(err));
  }
  std::vector<std::string> args = {"-m", "sluice._zygote", "--listen-fd", "3"};
  if (options.duckdb) args.push_back("--duckdb");
  for (const auto& file : options.preload_files) args.insert(args.end(), {"--preload-from", file});
  SubprocessOptions process = PythonInSandbox(options.sandbox, args);
  process.inherit_fds = {listener};
  int log = options.log_path.empty()
                ? -1
                : ::open(options.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (log >= 0) {
    process.inherit_fds.push_back(log);
    process.argv.insert(process.argv.end(), {"--log-fd", "4"});
  }
  // The zygote writes a byte here once its imports are done (Serving()).
  int ready[2];
  if (::pipe2(ready, O_CLOEXEC) != 0) {
    if (log >= 0) ::close(log);
    ::close(listener);
    return IOError("cannot create a pipe: ", std::strerror(errno));
  }
  process.inherit_fds.push_back(ready[1]);
  process.argv.insert(process.argv.end(), {"--ready-fd", std::to_string(2 + process.inherit_fds.size())});
  std::unique_ptr<Zygote> zygote(new Zygote());
  zygote->ready_ = OwnedFd(ready[0]);
  zygote->socket_inode_ = InodeOf(options.socket_path);
  zygote->log_inode_ = InodeOf(options.log_path);
  zygote->options_ = std::move(options);
  auto started = Subprocess::Start(std::move(process));
  ::close(listener);
  if (log >= 0) ::close(log);
  ::close(ready[1]);
  SLUICE_ASSIGN_OR_RAISE(zygote->process_, std::move(started));
  return zygote;
}

Zygote::~Zygote() {
  if (InodeOf(options_.socket_path) == socket_inode_) ::unlink(options_.socket_path.c_str());
  if (!options_.log_path.empty() && InodeOf(options_.log_path) == log_inode_) ::unlink(options_.log_path.c_str());
}

Result<int> Zygote::Connect(double ready_timeout) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, options_.socket_path.c_str(), options_.socket_path.size() + 1);
  double deadline = MonotonicSeconds() + ready_timeout;
  while (true) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return IOError("cannot create a socket: ", std::strerror(errno));
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) return fd;
    int err = errno;
    ::close(fd);
    if (err != ENOENT && err != ECONNREFUSED) {
      return IOError("cannot reach the zygote at ", options_.socket_path, ": ", std::strerror(err));
    }
    if (process_->Exited()) {
      std::string log = options_.log_path.empty() ? "" : ReadFile(options_.log_path).ValueOr("");
      return IOError("the zygote ended before serving", log.empty() ? "" : ": " + log);
    }
    if (MonotonicSeconds() > deadline) return IOError("the zygote was not ready after ", ready_timeout, " s");
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

bool Zygote::Serving() const {
  pollfd ready{ready_.get(), POLLIN, 0};
  return ::poll(&ready, 1, 0) == 1 && (ready.revents & POLLIN) && !process_->Exited();
}

Result<std::unique_ptr<Subprocess>> Zygote::Fork(SubprocessOptions worker_options, double ready_timeout,
                                                 const std::string& preload_file) {
  SLUICE_ASSIGN_OR_RAISE(int conn, Connect(ready_timeout));
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    ::close(conn);
    return IOError("cannot create pipes: ", std::strerror(errno));
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(conn), ::close(out_pipe[0]), ::close(out_pipe[1]);
    return IOError("cannot create pipes: ", std::strerror(errno));
  }
  // "fork [FILE]\n" carrying the write ends of the worker's stdout and stderr.
  std::string message = "fork" + (preload_file.empty() ? "" : " " + preload_file) + "\n";
  int passcred = 1;
  ::setsockopt(conn, SOL_SOCKET, SO_PASSCRED, &passcred, sizeof(passcred));
  // The engine listens for the zygote, so the connection is up at once; the fork waits for
  // the zygote to finish its imports, at most ready_timeout.
  timeval wait{static_cast<time_t>(ready_timeout), 0};
  ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  Status sent = SendWithDescriptors(conn, message, {out_pipe[1], err_pipe[1]});
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  int pid = sent.ok() ? ReadWorkerPid(conn) : 0;
  if (pid <= 0) {
    ::close(conn), ::close(out_pipe[0]), ::close(err_pipe[0]);
    return IOError("the zygote did not fork a worker");
  }
  passcred = 0;
  ::setsockopt(conn, SOL_SOCKET, SO_PASSCRED, &passcred, sizeof(passcred));
  wait = {0, 0};
  ::setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof(wait));
  int stdin_fd = ::fcntl(conn, F_DUPFD_CLOEXEC, 0);
  // The zygote's PID namespace holds the worker: the zygote must outlive it.
  auto reap = [conn, zygote = weak_from_this().lock()]() {
    int status = WaitStatusFrom(ReadLine(conn));
    ::close(conn);
    return status;
  };
  return Subprocess::Adopt(std::move(worker_options), pid, stdin_fd, out_pipe[0], err_pipe[0], reap);
}

Result<std::shared_ptr<Zygote>> ZygotePool::Get(const std::string& key, const ZygoteOptions& options) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = zygotes_.find(key);
  if (it != zygotes_.end()) {
    if (!it->second.zygote->process_->Exited()) {
      it->second.last_used = ++clock_;
      return it->second.zygote;
    }
    zygotes_.erase(it);  // before its successor binds the same socket path
  }
  SLUICE_ASSIGN_OR_RAISE(std::unique_ptr<Zygote> started, Zygote::Start(options));
  std::shared_ptr<Zygote> zygote = std::move(started);
  zygotes_[key] = {zygote, ++clock_};
  while (zygotes_.size() > max_zygotes_) {
    auto oldest = zygotes_.begin();
    for (auto e = zygotes_.begin(); e != zygotes_.end(); ++e) {
      if (e->second.last_used < oldest->second.last_used) oldest = e;
    }
    zygotes_.erase(oldest);  // stops once no fork holds it
  }
  return zygote;
}

std::shared_ptr<Zygote> ZygotePool::Find(const std::string& key) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = zygotes_.find(key);
  if (it == zygotes_.end() || it->second.zygote->process_->Exited()) return nullptr;
  return it->second.zygote;
}

void ZygotePool::StartInBackground(const std::string& key, const ZygoteOptions& options) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = zygotes_.find(key);
  if (it != zygotes_.end() && !it->second.zygote->process_->Exited()) return;
  auto& starting = starting_[key];
  using namespace std::chrono_literals;
  if (starting.valid() && starting.wait_for(0s) != std::future_status::ready) return;
  starting = std::async(std::launch::async, [this, key, options] { (void)Get(key, options); });
}

Result<ZygotePool::Spare> ZygotePool::ForkSpare(std::shared_ptr<Zygote> zygote, std::vector<std::string> argv) {
  constexpr double kReadySeconds = 60;
  Spare spare;
  spare.zygote = std::move(zygote);
  spare.lines = std::make_shared<Spare::Lines>();
  SubprocessOptions options;
  options.argv = std::move(argv);
  options.on_stdout_line = [lines = spare.lines](const std::string& line) {
    std::lock_guard<std::mutex> lock(lines->mutex);
    if (lines->out) lines->out(line);
  };
  options.on_stderr_line = [lines = spare.lines](const std::string& line) {
    std::lock_guard<std::mutex> lock(lines->mutex);
    if (lines->err) lines->err(line);
  };
  SLUICE_ASSIGN_OR_RAISE(spare.worker, spare.zygote->Fork(std::move(options), kReadySeconds));
  return spare;
}

Result<std::unique_ptr<Subprocess>> ZygotePool::ForkAhead(const std::string& key, const ZygoteOptions& options,
                                                          const SubprocessOptions& output) {
  SLUICE_ASSIGN_OR_RAISE(auto zygote, Get(key, options));
  std::future<Result<Spare>> ahead;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = spares_.find(key);
    if (it != spares_.end()) ahead = std::move(it->second);
    spares_[key] = std::async(std::launch::async, ForkSpare, zygote, output.argv);
  }
  Result<Spare> spare = ahead.valid() ? ahead.get() : ForkSpare(zygote, output.argv);
  if (!spare.ok() || spare->zygote != zygote || spare->worker->Exited()) spare = ForkSpare(zygote, output.argv);
  SLUICE_RETURN_NOT_OK(spare.status());
  {
    std::lock_guard<std::mutex> lock(spare->lines->mutex);
    spare->lines->out = output.on_stdout_line;
    spare->lines->err = output.on_stderr_line;
  }
  return std::move(spare->worker);
}

Status ZygotePool::Place(const std::string& shared_memory_root, const std::string& key, ZygoteOptions* options) {
  std::string dir = shared_memory_root + "/zygotes";
  SLUICE_RETURN_NOT_OK(MakeDirs(dir));
  if (::chmod(dir.c_str(), 0700) != 0) return IOError("cannot make '", dir, "' owner-only: ", std::strerror(errno));
  std::string id = Sha256Hex(key).substr(0, 16);
  options->socket_path = dir + "/" + id + ".sock";
  options->log_path = dir + "/" + id + ".log";
  return Status::OK();
}

bool ZygotePool::Enabled() {
  const char* setting = std::getenv("SLUICE_ZYGOTES");
  return !(setting && std::string(setting) == "0");
}

}  // namespace sluice
