#include "server/background_server.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <csignal>
#include <cstring>
#include <functional>
#include <iostream>
#include <thread>

#include "common/file_util.h"
#include "exec/garbage_collection.h"
#include "server/api_jobs.h"
#include "server/api_json.h"
#include "server/iceberg_rest.h"
#include "server/server_fingerprint.h"
#include "server/server_limits.h"
#include "server/sluice_api.h"
#include "server/unix_http_server.h"
#include "server/unix_socket_address.h"

namespace sluice {
namespace {

std::string SocketPath(const std::string& home) { return home + "/server.sock"; }
std::string LockPath(const std::string& home) { return home + "/server.lock"; }
std::string PidPath(const std::string& home) { return home + "/server.pid"; }
std::string LogPath(const std::string& home) { return home + "/server.log"; }

// The pid holding the daemon lock of `home`, 0 when none does.
int LockHolder(const std::string& home) {
  int fd = ::open(LockPath(home).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  struct flock probe {};
  probe.l_type = F_WRLCK;
  probe.l_whence = SEEK_SET;
  int holder = 0;
  if (::fcntl(fd, F_GETLK, &probe) == 0 && probe.l_type != F_UNLCK) holder = probe.l_pid;
  ::close(fd);
  return holder;
}

// The signal that asked the daemon to stop, 0 until one does. A handler (not a blocked
// mask with sigwait) so the processes the daemon starts inherit no blocked signals.
volatile std::sig_atomic_t stop_signal = 0;
void OnStopSignal(int signal) { stop_signal = signal; }

void Log(const std::string& line) { std::cerr << "sluice server: " << line << std::endl; }

int64_t NowMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The daemon's own account of itself for `GET /api/v1/server` (background_server.h): what it
// was started with and what it has served. Thread-safe.
class DaemonStatus {
 public:
  DaemonStatus(std::string home, double idle_timeout, const ServerLimits& limits)
      : home_(std::move(home)),
        idle_timeout_(idle_timeout),
        limits_(limits),
        fingerprint_(ProcessFingerprint()),
        variables_(FingerprintVariables()),
        started_ms_(NowMillis()),
        last_request_ms_(started_ms_) {
    char buffer[PATH_MAX];
    ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
    if (n > 0) binary_.assign(buffer, static_cast<size_t>(n));
  }

  // Answers `request` with `handle`, counting runs and queries (and those in flight, until a
  // streamed answer's last chunk).
  ApiResponse Track(const RestRequest& request, const std::function<ApiResponse()>& handle) {
    bool run = request.method == "POST" && request.path == "/api/v1/runs";
    bool query = request.method == "POST" && request.path == "/api/v1/query";
    std::atomic<int>* counter = run ? &runs_in_flight_ : query ? &queries_in_flight_ : &others_in_flight_;
    (run ? runs_ : query ? queries_ : requests_).fetch_add(1);
    // The request is in flight until the last copy of this goes: after a stream's last chunk.
    counter->fetch_add(1);
    auto in_flight = std::make_shared<InFlight>(this, counter);
    ApiResponse response = handle();
    if (response.stream) {
      response.stream = [inner = std::move(response.stream), in_flight](const ChunkWriter& write) { inner(write); };
    }
    return response;
  }

  struct InFlight {
    InFlight(DaemonStatus* status, std::atomic<int>* counter) : status(status), counter(counter) {}
    ~InFlight() {
      counter->fetch_sub(1);
      status->last_request_ms_.store(NowMillis());
    }
    DaemonStatus* status;
    std::atomic<int>* counter;
  };

  // Seconds since the last request other than status ones ended; 0 while one is in flight.
  // Asking for the status (`sluice server status` in a loop) does not keep a server alive.
  double IdleSeconds() const {
    if (RequestsInFlight() > 0) return 0;
    return (NowMillis() - last_request_ms_.load()) / 1000.0;
  }
  int RequestsInFlight() const { return runs_in_flight_.load() + queries_in_flight_.load() + others_in_flight_.load(); }

  nlohmann::json Json(size_t detached_jobs) const {
    int64_t now = NowMillis();
    int runs = runs_in_flight_.load(), queries = queries_in_flight_.load();
    return {{"pid", ::getpid()},
            {"uid", ::geteuid()},
            {"home", home_},
            {"socket", SocketPath(home_)},
            {"binary", binary_},
            {"started_at_ms", started_ms_},
            {"uptime_seconds", (now - started_ms_) / 1000.0},
            {"idle_seconds", detached_jobs == 0 ? IdleSeconds() : 0.0},
            {"idle_timeout_seconds", idle_timeout_},
            {"runs", runs_.load()},
            {"queries", queries_.load()},
            {"requests", requests_.load()},
            {"runs_in_flight", runs},
            {"queries_in_flight", queries},
            {"detached_jobs", detached_jobs},
            // Any request in flight (an import, a merge, a REST commit too), or a detached run:
            // a client with another environment must not stop it.
            {"busy", RequestsInFlight() > 0 || detached_jobs > 0},
            {"fingerprint", fingerprint_},
            {"fingerprint_variables", variables_},
            // What one client or query may take (server_limits.h), as in force.
            {"limits",
             {{"remote_workers", ServerLimits::kMaxRemoteWorkers},
              {"remote_workers_per_user", limits_.remote_workers_per_user},
              {"query_timeout_seconds", limits_.query_timeout_seconds},
              {"query_worker_idle_seconds", limits_.query_worker_idle_seconds}}}};
  }

 private:
  const std::string home_;
  const double idle_timeout_;
  const ServerLimits limits_;
  const std::string fingerprint_;
  const std::vector<std::string> variables_;
  const int64_t started_ms_;
  std::string binary_;
  std::atomic<int64_t> runs_{0}, queries_{0}, requests_{0};
  std::atomic<int> runs_in_flight_{0}, queries_in_flight_{0}, others_in_flight_{0};
  std::atomic<int64_t> last_request_ms_;
};

// Either API by path prefix, as `sluice serve` routes them, and the daemon's own status.
ApiResponse Route(SluiceApi& sluice_api, IcebergRestCatalog& iceberg, DaemonStatus& daemon,
                  const RestRequest& request) {
  if (request.path == "/api/v1/server" && request.method == "GET") {
    ApiResponse response;
    nlohmann::json status = daemon.Json(sluice_api.jobs().active_jobs());
    status["query_workers"] = nlohmann::json::array();
    for (const auto& [principal, pid] : sluice_api.QueryWorkerPids()) status["query_workers"].push_back(pid);
    response.body = status.dump();
    return response;
  }
  if (request.path.rfind("/api/v1/", 0) == 0) {
    return daemon.Track(request, [&] { return sluice_api.Handle(request); });
  }
  if (request.path.rfind("/v1/", 0) == 0) {
    return daemon.Track(request, [&] {
      RestResponse rest = iceberg.Handle(request);
      ApiResponse response;
      response.status = rest.status;
      response.body = rest.body.is_null() ? "" : JsonText(rest.body);
      return response;
    });
  }
  ApiResponse missing;
  missing.status = 404;
  missing.body =
      nlohmann::json{{"error", {{"kind", "not found"}, {"message", "no route for " + request.path}, {"hint", ""}}}}
          .dump();
  return missing;
}

}  // namespace

double ServerIdleSeconds() {
  const char* text = std::getenv("SLUICE_SERVER_IDLE_SECONDS");
  if (!text || !*text) return 900;
  try {
    return std::stod(text);
  } catch (const std::exception&) {
    return 900;
  }
}

BackgroundServerState QueryBackgroundServer(const std::string& home) {
  BackgroundServerState state;
  state.socket = SocketPath(home);
  state.pid = LockHolder(home);
  state.running = state.pid > 0;
  return state;
}

Status RunBackgroundServer(const std::string& home, double idle_seconds) {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  for (int s : {SIGTERM, SIGINT, SIGHUP}) ::sigaction(s, &action, nullptr);
  // What one client or query may take: a wrong setting is said before anything is served.
  SLUICE_ASSIGN_OR_RAISE(ServerLimits limits, ServerLimitsFromEnvironment());

  SLUICE_RETURN_NOT_OK(MakeDirs(home));
  int lock_fd = ::open(LockPath(home).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return IOError("cannot open '", LockPath(home), "': ", std::strerror(errno));
  struct flock lock {};
  lock.l_type = F_WRLCK;
  lock.l_whence = SEEK_SET;
  if (::fcntl(lock_fd, F_SETLK, &lock) != 0) {
    ::close(lock_fd);
    Log("another server already runs for " + home);
    return Status::OK();
  }
  struct Apis {
    std::unique_ptr<Lakehouse> lake;
    std::unique_ptr<IcebergRestCatalog> iceberg;
    std::unique_ptr<SluiceApi> sluice;
  } apis;
  // Computed now, before anything can change the binary or the files it names.
  DaemonStatus daemon(AbsolutePath(home), idle_seconds, limits);
  SLUICE_ASSIGN_OR_RAISE(auto server,
                         UnixHttpServer::Bind(SocketPath(home), [&apis, &daemon](const RestRequest& request) {
                           return Route(*apis.sluice, *apis.iceberg, daemon, request);
                         }));
  SLUICE_ASSIGN_OR_RAISE(apis.lake, Lakehouse::Open(home));
  // What killed runs and deleted homes left in shared memory goes back at every start.
  (void)CollectSharedMemory(*apis.lake, false);
  apis.iceberg = std::make_unique<IcebergRestCatalog>(apis.lake.get());
  // No WarmUp: started for a run as often as for a query, this server starts the query
  // zygote once its first query has been answered (by a fresh worker, which would otherwise
  // share the two cores with the zygote's imports: exec/query_runner.cc).
  apis.sluice = std::make_unique<SluiceApi>(apis.lake.get(), limits);
  SLUICE_RETURN_NOT_OK(WriteFileAtomic(PidPath(home), std::to_string(::getpid()) + "\n"));
  Log("serving " + SocketPath(home) + " (pid " + std::to_string(::getpid()) + ", idle exit after " +
      std::to_string(static_cast<int64_t>(idle_seconds)) + " s)");

  std::thread serving([&server] { server->Serve(); });
  PeriodicGarbageCollection collection(apis.lake.get(), Log);
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    if (int got = stop_signal; got != 0) {
      Log(std::string("got ") + strsignal(got) + ": stopping");
      break;
    }
    if (idle_seconds > 0 && daemon.IdleSeconds() >= idle_seconds && apis.sluice->jobs().active_jobs() == 0) {
      Log("idle for " + std::to_string(static_cast<int64_t>(idle_seconds)) + " s: stopping");
      break;
    }
  }
  server->Stop(10);
  serving.join();
  (void)RemoveAll(PidPath(home));
  if (server->connections() > 0) {
    // A request still being answered (a streamed run) uses the APIs: leave without tearing
    // them down under it. Its job is found ABORT later, as its process is gone.
    Log(std::to_string(server->connections()) + " connection(s) still open: exiting now");
    std::_Exit(0);
  }
  apis.sluice.reset();  // cancels detached runs still going and waits for them
  server.reset();
  ::close(lock_fd);
  Log("stopped");
  return Status::OK();
}

Result<BackgroundServerState> EnsureBackgroundServer(const std::string& home, const std::string& sluice_binary) {
  BackgroundServerState state = QueryBackgroundServer(home);
  if (state.running && UnixSocketAccepts(state.socket)) return state;
  SLUICE_RETURN_NOT_OK(MakeDirs(home));
  // A home too deep even for the /proc/self/fd form fails here, at once, not in the daemon.
  SLUICE_RETURN_NOT_OK(UnixSocketAddress::For(state.socket).status());
  std::string log = LogPath(home);
  // Where this start's lines begin in the log, to report why the daemon did not come up.
  size_t log_start = ReadFile(log).ValueOr("").size();
  pid_t child = ::fork();
  if (child < 0) return IOError("cannot start the background server: fork: ", std::strerror(errno));
  if (child == 0) {
    // A session of its own, then a second fork so the daemon is nobody's child: it outlives
    // the CLI and is never left a zombie.
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    int null_fd = ::open("/dev/null", O_RDONLY);
    int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    if (log_fd >= 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    ::setenv("SLUICE_HOME", home.c_str(), 1);
    const char* argv[] = {sluice_binary.c_str(), "server", "run", nullptr};
    ::execv(sluice_binary.c_str(), const_cast<char* const*>(argv));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    state = QueryBackgroundServer(home);
    if (state.running && UnixSocketAccepts(state.socket)) return state;
    std::string written = ReadFile(log).ValueOr("");
    if (!state.running && written.size() > log_start) {
      auto error = written.find("error: ", log_start);
      if (error != std::string::npos) {
        std::string line = written.substr(error + 7, written.find('\n', error) - error - 7);
        return WithHint(IOError("the background server did not start: ", line), "see its log: " + log);
      }
    }
    // Every 5 ms: a cold `sluice query` waits here for the server, which is up in 15-50 ms.
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WithHint(IOError("the background server of '", home, "' did not start within 30 s"), "see its log: " + log);
}

namespace {

// Whether `pid` is a process that has not ended (a zombie has).
bool ProcessRunning(int pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat").ValueOr("");
  size_t end = stat.rfind(") ");
  return end != std::string::npos && end + 2 < stat.size() && stat[end + 2] != 'Z';
}

}  // namespace

Result<BackgroundServerState> StopBackgroundServer(const std::string& home, double timeout_seconds, int expected_pid) {
  BackgroundServerState found = QueryBackgroundServer(home);
  if (!found.running || (expected_pid > 0 && found.pid != expected_pid)) return found;
  if (::kill(found.pid, SIGTERM) != 0 && errno != ESRCH) {
    return IOError("cannot stop the background server (pid ", found.pid, "): ", std::strerror(errno));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (QueryBackgroundServer(home).running) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(found.pid, SIGKILL);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      // Its files, unless a successor holds the lock (and may have bound the socket) already.
      if (!QueryBackgroundServer(home).running) {
        (void)RemoveAll(SocketPath(home));
        (void)RemoveAll(PidPath(home));
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // The lock goes with the server's last descriptors, while the process may still be exiting
  // (its threads, its mappings): "stopped" means gone, or only a zombie for init to reap.
  while (ProcessRunning(found.pid) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return found;
}

}  // namespace sluice
