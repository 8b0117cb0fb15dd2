#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/clock.h"

extern char** environ;

namespace sluice {
namespace {

// Splits arriving bytes into lines for a callback, or appends them to a string.
class LineSink {
 public:
  LineSink(const std::function<void(const std::string&)>& callback, std::string* collected)
      : callback_(callback), collected_(collected) {}

  void Append(const char* data, size_t size) {
    if (!callback_) {
      collected_->append(data, size);
      return;
    }
    pending_.append(data, size);
    size_t start = 0, newline;
    while ((newline = pending_.find('\n', start)) != std::string::npos) {
      callback_(pending_.substr(start, newline - start));
      start = newline + 1;
    }
    pending_.erase(0, start);
  }

  void Finish() {
    if (callback_ && !pending_.empty()) callback_(pending_);
    pending_.clear();
  }

 private:
  const std::function<void(const std::string&)>& callback_;
  std::string* collected_;
  std::string pending_;
};

void ClosePipe(int fds[2]) {
  for (int i = 0; i < 2; ++i) {
    if (fds[i] >= 0) ::close(fds[i]);
  }
}

}  // namespace

Result<std::unique_ptr<Subprocess>> Subprocess::Start(SubprocessOptions options) {
  if (options.argv.empty()) return Internal("Subprocess: empty argv");

  std::map<std::string, std::string> env_map;
  for (char** entry = environ; *entry; ++entry) {
    std::string kv = *entry;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env_map[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [key, value] : options.env) env_map[key] = value;
  std::vector<std::string> env_strings;
  for (const auto& [key, value] : env_map) env_strings.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings = options.argv;
  std::vector<char*> argv;
  for (auto& s : argv_strings) argv.push_back(s.data());
  argv.push_back(nullptr);

  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  int in_made = options.stdin_socket ? ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_pipe)
                                     : ::pipe2(in_pipe, O_CLOEXEC);
  if (in_made != 0 || ::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    int err = errno;
    ClosePipe(in_pipe), ClosePipe(out_pipe), ClosePipe(err_pipe);
    return IOError("cannot create pipes: ", std::strerror(err));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  // Each inherited descriptor goes through a copy above any target first, so no dup2 lands
  // on a descriptor another one still has to be read from.
  std::vector<int> inherited;
  for (size_t i = 0; i < options.inherit_fds.size(); ++i) {
    int high = ::fcntl(options.inherit_fds[i], F_DUPFD_CLOEXEC, 64);
    if (high >= 0) inherited.push_back(high);
    posix_spawn_file_actions_adddup2(&actions, high, static_cast<int>(3 + i));
  }
  // Nothing else of ours reaches the child, whether or not whoever opened it asked for
  // O_CLOEXEC: a worker that held another's channel, a client's socket or a catalog file would
  // keep it open or reach it.
  posix_spawn_file_actions_addclosefrom_np(&actions, static_cast<int>(3 + options.inherit_fds.size()));
  if (!options.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, options.cwd.c_str());
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // The child gets its own process group so a timeout can kill its whole tree.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  for (int fd : inherited) ::close(fd);
  ::close(in_pipe[0]);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(in_pipe[1]), ::close(out_pipe[0]), ::close(err_pipe[0]);
    return IOError("cannot start '", options.argv[0], "': ", std::strerror(rc));
  }
  std::unique_ptr<Subprocess> process(new Subprocess());
  process->options_ = std::move(options);
  process->pid_ = pid;
  process->stdin_fd_ = in_pipe[1];
  process->stdout_fd_ = out_pipe[0];
  process->stderr_fd_ = err_pipe[0];
  return process;
}

std::unique_ptr<Subprocess> Subprocess::Adopt(SubprocessOptions options, int pid, int stdin_fd, int stdout_fd,
                                              int stderr_fd, std::function<int()> reap) {
  std::unique_ptr<Subprocess> process(new Subprocess());
  process->options_ = std::move(options);
  process->pid_ = pid;
  process->stdin_fd_ = stdin_fd;
  process->stdout_fd_ = stdout_fd;
  process->stderr_fd_ = stderr_fd;
  process->reap_ = std::move(reap);
  return process;
}

bool Subprocess::Exited() const {
  if (waited_) return true;
  if (reap_) return ::kill(pid_, 0) != 0;
  siginfo_t info{};
  return ::waitid(P_PID, pid_, &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == pid_;
}

int Subprocess::Reap() {
  if (reap_) return reap_();
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

Subprocess::~Subprocess() {
  if (!waited_ && pid_ > 0) {
    ::kill(-pid_, SIGKILL);
    Reap();
  }
  for (int fd : {stdin_fd_, stdout_fd_, stderr_fd_}) {
    if (fd >= 0) ::close(fd);
  }
}

Status Subprocess::WriteStdin(std::string_view data) {
  if (stdin_fd_ < 0) return Internal("Subprocess: stdin already closed");
  ::signal(SIGPIPE, SIG_IGN);
  size_t written = 0;
  while (written < data.size()) {
    ssize_t n = ::write(stdin_fd_, data.data() + written, data.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return IOError("cannot write to the stdin of '", options_.argv[0], "': ", std::strerror(errno));
    }
    written += static_cast<size_t>(n);
  }
  return Status::OK();
}

Status SendWithDescriptors(int socket_fd, std::string_view data, const std::vector<int>& fds) {
  constexpr size_t kMaxDescriptors = 250;  // the kernel's SCM_MAX_FD is 253
  if (fds.size() > kMaxDescriptors) return InvalidInput("cannot pass more than ", kMaxDescriptors, " descriptors");
  if (data.empty()) return Internal("SendWithDescriptors: nothing to send");
  iovec iov{const_cast<char*>(data.data()), data.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * std::max<size_t>(fds.size(), 1)), 0);
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (!fds.empty()) {
    msg.msg_control = control.data();
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t sent;
  do {
    sent = ::sendmsg(socket_fd, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return IOError("cannot send: ", std::strerror(errno));
  // The descriptors travel with the first byte; the rest of a short write is plain data.
  size_t written = static_cast<size_t>(sent);
  while (written < data.size()) {
    ssize_t n = ::send(socket_fd, data.data() + written, data.size() - written, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return IOError("cannot send: ", std::strerror(errno));
    written += static_cast<size_t>(n);
  }
  return Status::OK();
}

Status Subprocess::SendStdin(std::string_view data, const std::vector<int>& fds) {
  if (stdin_fd_ < 0) return Internal("Subprocess: stdin already closed");
  Status sent = SendWithDescriptors(stdin_fd_, data, fds);
  if (sent.ok()) return sent;
  return WithContext(sent,
                     "the stdin of '" + (options_.argv.empty() ? std::string("a worker") : options_.argv[0]) + "'");
}

int Subprocess::DupStdin() const { return stdin_fd_ < 0 ? -1 : ::fcntl(stdin_fd_, F_DUPFD_CLOEXEC, 0); }

void Subprocess::OnStdinLine(std::function<void(int socket_fd, const std::string& line)> handler) {
  on_stdin_line_ = std::move(handler);
}

Result<SubprocessResult> Subprocess::Wait() {
  const SubprocessOptions& options = options_;
  pid_t pid = pid_;
  SubprocessResult result;
  LineSink out_sink(options.on_stdout_line, &result.stdout_text);
  LineSink err_sink(options.on_stderr_line, &result.stderr_text);

  // Feed stdin without blocking on a child that does not read it.
  size_t stdin_written = 0;
  int stdin_fd = stdin_fd_;
  stdin_fd_ = -1;
  int request_fd = -1;  // the child's requests, when someone answers them
  std::string request_text;
  if (options.stdin_data.empty() && on_stdin_line_ && stdin_fd >= 0) {
    request_fd = stdin_fd;
    stdin_fd = -1;
  } else if (options.stdin_data.empty()) {
    ::close(stdin_fd);
    stdin_fd = -1;
  } else {
    // Only a descriptor we keep writing to is made non-blocking: a closed one may share its
    // file description with one that must stay blocking (an adopted worker's socket).
    ::fcntl(stdin_fd, F_SETFL, O_NONBLOCK);
  }
  ::signal(SIGPIPE, SIG_IGN);

  double deadline = options.timeout_seconds > 0 ? MonotonicSeconds() + options.timeout_seconds : 0;
  int open_streams = 2;
  bool hung_up[2] = {false, false};  // no writer of the child's stdout, stderr is left
  int fds[2] = {stdout_fd_, stderr_fd_};
  stdout_fd_ = stderr_fd_ = -1;
  char buffer[65536];
  while (open_streams > 0 || stdin_fd >= 0) {
    pollfd polls[4];
    int count = 0;
    for (int i = 0; i < 2; ++i) {
      if (fds[i] >= 0) polls[count++] = {fds[i], POLLIN, 0};
    }
    if (stdin_fd >= 0) polls[count++] = {stdin_fd, POLLOUT, 0};
    if (request_fd >= 0) polls[count++] = {request_fd, POLLIN, 0};
    int wait_ms = -1;
    if (deadline > 0) {
      double left = deadline - MonotonicSeconds();
      if (left <= 0) {
        ::kill(-pid, SIGKILL);
        result.timed_out = true;
        break;
      }
      wait_ms = static_cast<int>(left * 1000) + 1;
    }
    int ready = ::poll(polls, count, wait_ms);
    if (ready < 0 && errno != EINTR) break;
    for (int p = 0; p < count; ++p) {
      for (int i = 0; i < 2; ++i) {
        if (polls[p].fd == fds[i] && (polls[p].revents & POLLHUP)) hung_up[i] = true;
      }
    }
    bool output_hung_up = (hung_up[0] || fds[0] < 0) && (hung_up[1] || fds[1] < 0);
    for (int p = 0; p < count; ++p) {
      if (!polls[p].revents) continue;
      if (polls[p].fd == request_fd) {
        // Once both of the child's outputs have hung up, it has ended: what arrives now is not its
        // request. For a zygote's fork it is the zygote's "exit CODE SIGNAL" line on the same
        // connection, which the reaper must read (eating it here hung the run for good). The
        // zygote sends it only after the worker's output has closed.
        if (output_hung_up) continue;
        ssize_t n = ::recv(request_fd, buffer, sizeof(buffer), MSG_DONTWAIT);
        if (n > 0) {
          request_text.append(buffer, static_cast<size_t>(n));
          for (size_t end; (end = request_text.find('\n')) != std::string::npos;) {
            std::string line = request_text.substr(0, end);
            request_text.erase(0, end + 1);
            on_stdin_line_(request_fd, line);
          }
          // A child that never ends its line does not get to grow this without bound.
          if (request_text.size() > sizeof(buffer)) request_text.clear();
        } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
          ::close(request_fd);
          request_fd = -1;
        }
        continue;
      }
      if (polls[p].fd == stdin_fd) {
        ssize_t n =
            ::write(stdin_fd, options.stdin_data.data() + stdin_written, options.stdin_data.size() - stdin_written);
        if (n > 0) stdin_written += static_cast<size_t>(n);
        if (n < 0 && errno != EAGAIN && errno != EINTR) stdin_written = options.stdin_data.size();
        if (stdin_written >= options.stdin_data.size()) {
          ::close(stdin_fd);
          stdin_fd = -1;
        }
        continue;
      }
      int which = polls[p].fd == fds[0] ? 0 : 1;
      ssize_t n = ::read(polls[p].fd, buffer, sizeof(buffer));
      if (n > 0) {
        (which == 0 ? out_sink : err_sink).Append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        ::close(fds[which]);
        fds[which] = -1;
        --open_streams;
      }
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (fds[i] >= 0) ::close(fds[i]);
  }
  if (stdin_fd >= 0) ::close(stdin_fd);
  if (request_fd >= 0) ::close(request_fd);
  out_sink.Finish();
  err_sink.Finish();

  int status = Reap();
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    result.term_signal = WTERMSIG(status);
  }
  waited_ = true;
  return result;
}

Result<SubprocessResult> RunSubprocess(const SubprocessOptions& options) {
  SLUICE_ASSIGN_OR_RAISE(auto process, Subprocess::Start(options));
  return process->Wait();
}

}  // namespace sluice
