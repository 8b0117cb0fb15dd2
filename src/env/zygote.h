// A zygote: a warm Python interpreter, in an environment's sandbox, that forks one worker per
// model call (protocol in python/sluice/_zygote.py). It imports what the models of its
// environment import once; each fork then reaches user code in milliseconds instead of
// paying for interpreter start-up and imports again. Thread-safe: Fork may be called from
// several threads at once.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/memory_file.h"
#include "common/status.h"
#include "common/subprocess.h"
#include "env/sandbox.h"

namespace sluice {

struct ZygoteOptions {
  SandboxSpec sandbox;                     // every fork runs in this sandbox
  std::vector<std::string> preload_files;  // model files whose third-party imports it does
  bool duckdb = false;                     // also import DuckDB (SQL models)
  std::string socket_path;                 // Unix socket it listens on (under 108 bytes)
  std::string log_path;                    // its own stderr, once it serves
  // Held as long as the zygote lives: the package-store directories it has mounted stay
  // marked in use (PackageStore::MarkInUse), so `cache prune` never removes them under it.
  std::shared_ptr<void> keep_alive;
};

class Zygote : public std::enable_shared_from_this<Zygote> {
 public:
  // Starts the zygote and returns at once: its imports go on while the caller continues.
  static Result<std::unique_ptr<Zygote>> Start(ZygoteOptions options);
  // Stops the zygote and everything left in its PID namespace. A worker forked from a zygote
  // owned by a shared_ptr holds it, so it stops only once its last worker has ended.
  ~Zygote();

  // Forks a worker, first waiting up to `ready_timeout` seconds for the zygote to be
  // serving. The worker behaves as a started `sluice._worker --stdin [--preload FILE]`: it
  // imports `preload_file` (relative to the project; empty: none) while it waits, then reads
  // the task path as one line on stdin; its output goes to `worker_options`' callbacks, and
  // worker_options.timeout_seconds applies from Wait(). Fails when the zygote is not serving.
  Result<std::unique_ptr<Subprocess>> Fork(SubprocessOptions worker_options, double ready_timeout,
                                           const std::string& preload_file = "");

  // Whether the zygote has finished its imports and serves: a Fork now does not wait for
  // them. Cheap: no connection is made.
  bool Serving() const;

 private:
  friend class ZygotePool;
  Zygote() = default;
  Result<int> Connect(double ready_timeout);
  ZygoteOptions options_;
  // Stopping never removes a successor's socket or log at the same path.
  ino_t socket_inode_ = 0, log_inode_ = 0;
  OwnedFd ready_;  // readable once the zygote's imports are done
  std::unique_ptr<Subprocess> process_;
};

}  // namespace sluice

namespace sluice {

// Zygotes by key (an environment and its sandbox), started on first use and kept for the
// pool's lifetime: a run's, or a server's across runs. At most `max_zygotes` are kept; the
// least recently used is stopped first. Thread-safe.
class ZygotePool {
 public:
  explicit ZygotePool(size_t max_zygotes = 8) : max_zygotes_(max_zygotes) {}

  // The zygote for `key`, started with `options` when there is none.
  Result<std::shared_ptr<Zygote>> Get(const std::string& key, const ZygoteOptions& options);

  // The zygote for `key` when one runs (serving or still importing); null otherwise. Never
  // starts one.
  std::shared_ptr<Zygote> Find(const std::string& key);

  // Starts the zygote for `key` (as Get) on a thread of the pool's own and returns at once:
  // for a caller that wants it warm for later but must not wait for, or pay for, its start
  // (a server's first query, which a fresh worker answers). Nothing when one runs or is being
  // started. A failure is not reported: the next Get tries again and says why.
  void StartInBackground(const std::string& key, const ZygoteOptions& options);

  // Whether workers should fork from zygotes at all ($SLUICE_ZYGOTES=0 turns them off).
  static bool Enabled();

  // Sets options->socket_path and log_path for the zygote `key` of the data home whose shared
  // memory is at `shared_memory_root`, in its zygotes/ directory, made owner-only: a zygote
  // runs whatever task it is sent.
  static Status Place(const std::string& shared_memory_root, const std::string& key, ZygoteOptions* options);

  // A worker of the zygote `key` (started with `options` when there is none) that was forked
  // ahead: the one forked at the previous call when it is still there, else a new one; either
  // way the next one is forked in the background, so a caller that forks often (a server's
  // queries) finds the fork, and whatever the worker does before it reads its task, done.
  // `output`'s argv names the workers in errors; its line callbacks receive the taken
  // worker's lines.
  Result<std::unique_ptr<Subprocess>> ForkAhead(const std::string& key, const ZygoteOptions& options,
                                                const SubprocessOptions& output);

 private:
  struct Entry {
    std::shared_ptr<Zygote> zygote;
    uint64_t last_used = 0;
  };
  // A worker forked ahead, and where its lines go once it is taken.
  struct Spare {
    struct Lines {
      std::mutex mutex;
      std::function<void(const std::string&)> out, err;  // GUARDED_BY(mutex)
    };
    std::shared_ptr<Zygote> zygote;  // it came from: a replaced zygote's spare is not used
    std::shared_ptr<Lines> lines;
    std::unique_ptr<Subprocess> worker;
  };
  static Result<Spare> ForkSpare(std::shared_ptr<Zygote> zygote, std::vector<std::string> argv);

  std::mutex mutex_;
  size_t max_zygotes_;
  uint64_t clock_ = 0;                    // GUARDED_BY(mutex_)
  std::map<std::string, Entry> zygotes_;  // GUARDED_BY(mutex_)
  // Declared last: destroyed (each waiting for its fork, or its start) before the zygotes.
  std::map<std::string, std::future<Result<Spare>>> spares_;  // GUARDED_BY(mutex_)
  std::map<std::string, std::future<void>> starting_;         // GUARDED_BY(mutex_)
};

}  // namespace sluice
