// A persistent query worker: one sandboxed fork of the query zygote that runs one principal's
// queries one after another in one DuckDB database, so DuckDB's caches (Parquet footers, the
// bytes it read, its buffer and thread pools) stay warm between them and no query pays for a
// fork, a database or a process exit (python/sluice/_query.py, "persistent";
// python/sluice/_query_database.py says what a query can and cannot leave behind).
//
// Thread-safe. Serve runs one task at a time (the pool, query_worker_pool.h, leases a worker
// to one query); a worker's output and requests are pumped by a thread of its own.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/memory_file.h"
#include "common/status.h"
#include "common/subprocess.h"

namespace sluice {

class QueryWorker {
 public:
  // Forks a worker with `fork` (given the options that route its output here) and starts
  // pumping it. Nothing is sent to it until Serve.
  using ForkFn = std::function<Result<std::unique_ptr<Subprocess>>(const SubprocessOptions& output)>;
  static Result<std::unique_ptr<QueryWorker>> Start(const ForkFn& fork);
  // Kills the worker (SIGKILL: whatever it runs is abandoned) and waits for its end.
  ~QueryWorker();

  // Sends one task ("task\n" with `task_fds`: the task, its result and its output) and hands
  // each line the worker writes meanwhile (its "tables" request) to `on_request`, on the
  // worker's pumping thread, with the socket to answer on. Returns once the worker says the
  // task is done: nothing; or, when the worker ended instead (killed from outside, crashed, or
  // killed here for writing what no query asked for), how it ended: the worker is then dead
  // for good. With `timeout_seconds` > 0, a task not done that long after it was sent has its
  // worker killed (its process group, SIGKILL), and how it ended says `timed_out`. IOError
  // when the task could not be sent.
  Result<std::optional<SubprocessResult>> Serve(const std::vector<int>& task_fds,
                                                const std::function<void(int, const std::string&)>& on_request,
                                                double timeout_seconds = 0);

  // Whether it may still serve: not ended (a kill from outside is seen at once).
  bool alive() const;
  // Its pid as this process sees it.
  int pid() const { return pid_; }

 private:
  QueryWorker() = default;
  void OnLine(int socket_fd, const std::string& line);
  void KeepStderr(const std::string& line);
  void Pump();
  // SIGKILL to the worker's process group (its pid leads it) and to the worker.
  void Kill() const;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::unique_ptr<Subprocess> process_;  // Wait()ed by pump_ only
  OwnedFd socket_;                       // a copy of the worker's stdin socket: tasks go out here
  int pid_ = -1;
  std::function<void(int, const std::string&)> on_request_;  // GUARDED_BY(mutex_): while serving
  bool serving_ = false;                                     // GUARDED_BY(mutex_)
  bool done_ = false;                                        // GUARDED_BY(mutex_)
  bool ended_ = false;                                       // GUARDED_BY(mutex_)
  SubprocessResult end_;                                     // GUARDED_BY(mutex_): once ended_
  std::deque<std::string> stderr_tail_;                      // GUARDED_BY(mutex_): for errors
  std::thread pump_;
};

}  // namespace sluice
