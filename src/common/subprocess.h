// Runs a child process and collects or streams its output. Used to call Python (model
// discovery, workers, DuckDB) from the engine. A Subprocess is not thread-safe; different
// Subprocess objects may run on different threads at once.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sluice {

struct SubprocessOptions {
  // argv[0] is looked up in PATH when it has no slash.
  std::vector<std::string> argv;
  // Added to (or replacing entries of) the parent's environment.
  std::map<std::string, std::string> env;
  // Working directory; empty keeps the parent's.
  std::string cwd;
  // Written to the child's standard input, which is then closed.
  std::string stdin_data;
  // Called once per complete line of stdout / stderr (without the newline) as it arrives.
  // When unset, the stream is collected into SubprocessResult instead.
  std::function<void(const std::string&)> on_stdout_line;
  std::function<void(const std::string&)> on_stderr_line;
  // Kill the child (SIGKILL) after this many seconds; 0 means no limit.
  double timeout_seconds = 0;
  // The child's standard input is one end of a Unix socket pair instead of a pipe, so that
  // SendStdin can pass it open descriptors.
  bool stdin_socket = false;
  // Descriptors the child gets as 3, 4, ... (the caller keeps its own). The child gets no
  // other descriptor of ours.
  std::vector<int> inherit_fds;
};

struct SubprocessResult {
  int exit_code = -1;       // the child's exit status, or -1 when killed by a signal
  int term_signal = 0;      // the signal that ended it, 0 when it exited
  bool timed_out = false;   // true when the timeout fired
  std::string stdout_text;  // collected only when on_stdout_line is unset
  std::string stderr_text;  // collected only when on_stderr_line is unset
};

// A started child process. Output is pumped only inside Wait(), so a child that writes
// much before Wait() blocks on its pipe until then. Not thread-safe; the destructor kills
// (SIGKILL, whole process group) and reaps a child that was not waited for.
class Subprocess {
 public:
  // Starts the child; options.stdin_data is written during Wait(). Fails when the program
  // cannot be started.
  static Result<std::unique_ptr<Subprocess>> Start(SubprocessOptions options);

  // A process someone else started for us (a zygote's fork, env/zygote.h), reached through
  // the given descriptors, which it takes over. It is not our child, so `reap` waits for its
  // end and returns its wait status (as waitpid would). Its pid must lead its process group.
  // options.argv names it in errors; options.stdin_data and callbacks work as for Start.
  static std::unique_ptr<Subprocess> Adopt(SubprocessOptions options, int pid, int stdin_fd, int stdout_fd,
                                           int stderr_fd, std::function<int()> reap);
  ~Subprocess();

  // Whether the process has ended; it stays unreaped for Wait().
  bool Exited() const;

  // Blocking write to the child's standard input (before Wait()).
  Status WriteStdin(std::string_view data);
  // Writes `data` with `fds` attached (SCM_RIGHTS; the child gets copies, the caller keeps
  // its own). Needs stdin to be a socket: options.stdin_socket, or an adopted socket.
  Status SendStdin(std::string_view data, const std::vector<int>& fds);

  // A copy of the child's stdin socket (close-on-exec; the caller closes it), taken before
  // Wait(), for someone who goes on sending on it while another thread runs Wait(); -1 when
  // stdin is closed. SendWithDescriptors on it is safe beside Wait().
  int DupStdin() const;

  // While Wait() runs, calls `handler` with each line (without the newline) the child writes
  // on its stdin socket, and the socket, on which the handler may answer
  // (SendWithDescriptors). Without a handler, Wait() closes stdin once its data is written.
  // Needs stdin to be a socket and options.stdin_data to be empty.
  void OnStdinLine(std::function<void(int socket_fd, const std::string& line)> handler);

  // Replaces options.timeout_seconds (before Wait()): for a process started ahead of the
  // caller that now knows its limit (a zygote's fork taken from ZygotePool::ForkAhead).
  void SetTimeout(double seconds) { options_.timeout_seconds = seconds; }

  // Writes options.stdin_data, closes stdin, pumps output until the child exits (or the
  // timeout, counted from this call, fires: its process group is killed) and reaps it.
  Result<SubprocessResult> Wait();

  int pid() const { return pid_; }

 private:
  Subprocess() = default;
  int Reap();  // waits for the end; the wait status
  SubprocessOptions options_;
  int pid_ = -1;
  int stdin_fd_ = -1, stdout_fd_ = -1, stderr_fd_ = -1;
  bool waited_ = false;
  std::function<int()> reap_;  // set for adopted processes
  std::function<void(int, const std::string&)> on_stdin_line_;
};

// Sends `data` on a Unix socket with `fds` attached (at most 250), all in one message.
Status SendWithDescriptors(int socket_fd, std::string_view data, const std::vector<int>& fds);

// Start + Wait. Fails only when the process could not be started; a non-zero exit is
// reported in the result.
Result<SubprocessResult> RunSubprocess(const SubprocessOptions& options);

}  // namespace sluice
