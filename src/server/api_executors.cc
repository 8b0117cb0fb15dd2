#include "server/api_executors.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <functional>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/bounded_json.h"
#include "common/ids.h"
#include "common/memory_file.h"
#include "env/worker_cgroup.h"
#include "exec/function_executors.h"
#include "server/api_json.h"

namespace sluice {

using nlohmann::json;

namespace {

// How long a relay write may wait for a worker that reads nothing before the request fails:
// the request's thread is the server's, not the worker's.
constexpr int kWriteWaitMs = 30'000;
// Workers still running a call when their session ends get this long to notice their
// channel closed before they are killed.
constexpr auto kEndGrace = std::chrono::seconds(2);

// Writes all of `data` to `fd` (a stream socket), waiting for room at most kWriteWaitMs at a
// time once `reading()`: a worker whose environment is still being built (a pip install can
// take minutes) reads nothing yet, and is waited for.
Status WriteAll(int fd, std::string_view data, const std::string& what, const std::function<bool()>& reading) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = ::send(fd, data.data() + done, data.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd wait = {fd, POLLOUT, 0};
      int ready = ::poll(&wait, 1, kWriteWaitMs);
      if (ready == 0 && !reading()) continue;
      if (ready == 0) return Conflict(what, " has read nothing for ", kWriteWaitMs / 1000, " s");
      if (ready > 0 && !(wait.revents & (POLLERR | POLLHUP))) continue;
    }
    return Conflict(what, " has ended");
  }
  return Status::OK();
}

Result<FunctionExecutorOptions> OptionsOf(const json& body) {
  if (!body.is_object()) return InvalidInput("the body must be a JSON object");
  FunctionExecutorOptions options;
  options.name = "sluice.map";
  if (body.contains("name")) {
    if (!body["name"].is_string() || body["name"].get<std::string>().size() > 200) {
      return InvalidInput("'name' must be a string of at most 200 characters");
    }
    options.name = body["name"].get<std::string>();
  }
  if (body.contains("python") && !body["python"].is_null()) {
    if (!body["python"].is_string()) return InvalidInput("'python' must be a version string such as \"3.12\"");
    options.python_version = body["python"].get<std::string>();
  }
  if (body.contains("pip") && !body["pip"].is_null()) {
    if (!body["pip"].is_object()) return InvalidInput("'pip' must map package names to versions");
    for (const auto& [name, version] : body["pip"].items()) {
      if (!version.is_string() || version.get<std::string>().empty()) {
        return WithHint(InvalidInput(options.name, ": pip package '", name, "' has no pinned version"),
                        "pin it as pip={'name': 'version'}");
      }
      options.packages[name] = version.get<std::string>();
    }
  }
  options.internet_access = body.value("internet", false);
  if (body.contains("memory") && !body["memory"].is_null()) {
    if (!body["memory"].is_string()) return InvalidInput("'memory' must be a size such as \"2G\"");
    SLUICE_ASSIGN_OR_RAISE(options.memory_bytes,
                           WithContext(ParseMemorySize(body["memory"].get<std::string>()), options.name));
  }
  if (body.contains("cpus") && !body["cpus"].is_null()) {
    if (!body["cpus"].is_number() || body["cpus"].get<double>() < 0) {
      return InvalidInput("'cpus' must be a non-negative number");
    }
    options.cpus = body["cpus"].get<double>();
  }
  return options;
}

}  // namespace

struct ExecutorsApi::Session {
  std::string id, user;
  int workers = 0;
  // The server's ends of the workers' channels: what a client sends is written here, what a
  // worker sends is read here.
  std::vector<OwnedFd> channels;
  std::vector<std::unique_ptr<std::mutex>> uplinks;       // one body at a time per worker
  std::vector<std::unique_ptr<std::atomic<bool>>> taken;  // a worker's byte stream is read once
  std::thread runner;                                     // RunFunctionExecutors
  std::atomic<bool> finished{false};                      // the runner is done
  std::mutex mutex;
  std::vector<int> pids;  // GUARDED_BY(mutex): of workers still running, 0 once ended
  bool ended = false;     // GUARDED_BY(mutex)
};

ExecutorsApi::~ExecutorsApi() {
  std::map<std::string, std::shared_ptr<Session>> sessions;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    sessions = sessions_;
  }
  for (auto& [id, session] : sessions) End(session);
}

Result<std::optional<ApiResponse>> ExecutorsApi::Route(const RestRequest& request,
                                                       const std::vector<std::string>& parts) {
  if (parts.size() < 3 || parts[2] != "executors") return std::nullopt;
  const std::string& method = request.method;
  if (parts.size() == 3 && method == "POST") return Start(request);
  if (parts.size() == 4 && method == "DELETE") {
    SLUICE_ASSIGN_OR_RAISE(auto session, Find(request, parts[3]));
    End(session);
    return Json({{"ended", session->id}});
  }
  if (parts.size() != 6 || parts[4] != "workers") return std::nullopt;
  SLUICE_ASSIGN_OR_RAISE(auto session, Find(request, parts[3]));
  int worker = -1;
  try {
    size_t used = 0;
    worker = std::stoi(parts[5], &used);
    if (used != parts[5].size()) worker = -1;
  } catch (const std::exception&) {
  }
  if (worker < 0 || worker >= session->workers) {
    return NotFound("executor ", session->id, " has no worker '", parts[5], "' (it has ", session->workers, ")");
  }
  std::string what = "worker " + std::to_string(worker) + " of executor " + session->id;
  if (method == "POST") {
    std::lock_guard<std::mutex> lock(*session->uplinks[worker]);
    auto reading = [&session, worker] {
      std::lock_guard<std::mutex> lock(session->mutex);
      return session->ended || session->pids[worker] != 0 || session->finished;
    };
    SLUICE_RETURN_NOT_OK(WriteAll(session->channels[worker].get(), request.body, what, reading));
    return Json({{"written", request.body.size()}});
  }
  if (method == "DELETE") {
    // The client is done with this worker (or retired it): its channel closes, and it exits.
    ::shutdown(session->channels[worker].get(), SHUT_RDWR);
    return Json({{"ended", what}});
  }
  if (method == "GET") {
    if (session->taken[worker]->exchange(true)) return Conflict(what, " is already being read");
    ApiResponse response;
    response.content_type = "application/octet-stream";
    response.stream = [session, worker](const ChunkWriter& write) {
      int fd = session->channels[worker].get();
      std::string chunk(1 << 20, '\0');
      for (;;) {
        ssize_t n = ::read(fd, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // the worker has ended, or its session
        if (!write(std::string_view(chunk.data(), static_cast<size_t>(n)))) {
          // The client stopped reading its worker: the worker is of no use any more.
          ::shutdown(fd, SHUT_RDWR);
          return;
        }
      }
    };
    return response;
  }
  return std::nullopt;
}

Result<std::shared_ptr<ExecutorsApi::Session>> ExecutorsApi::Find(const RestRequest& request, const std::string& id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = sessions_.find(id);
  // Another user's session is not theirs to know of.
  if (it == sessions_.end() || it->second->user != request.user) {
    return WithHint(NotFound("no executor '", id, "'"), "it has ended, or it is not yours");
  }
  return it->second;
}

Result<ApiResponse> ExecutorsApi::Start(const RestRequest& request) {
  json body = request.body.empty() ? json::object() : ParseBoundedJson(request.body);
  SLUICE_ASSIGN_OR_RAISE(FunctionExecutorOptions options, OptionsOf(body));
  const json& count = body.contains("workers") ? body["workers"] : json(1);
  if (!count.is_number_integer() || count.get<int64_t>() < 1 || count.get<int64_t>() > kMaxRemoteWorkers) {
    return InvalidInput("'workers' must be a whole number from 1 to ", kMaxRemoteWorkers, ", not ", count.dump());
  }
  auto session = std::make_shared<Session>();
  session->id = NewShortId(24);
  session->user = request.user;
  session->workers = count.get<int>();
  for (int i = 0; i < session->workers; ++i) {
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
      for (int fd : options.channels) ::close(fd);
      return IOError("cannot make a channel: ", std::strerror(errno));
    }
    session->channels.emplace_back(pair[0]);
    options.channels.push_back(pair[1]);  // RunFunctionExecutors closes them
    session->uplinks.push_back(std::make_unique<std::mutex>());
    session->taken.push_back(std::make_unique<std::atomic<bool>>(false));
  }
  session->pids.assign(session->workers, 0);
  int status_pipe[2];
  if (::pipe2(status_pipe, O_CLOEXEC) != 0) {
    for (int fd : options.channels) ::close(fd);
    return IOError("cannot make a pipe: ", std::strerror(errno));
  }
  auto status_read = std::make_shared<OwnedFd>(status_pipe[0]);
  auto status_write = std::make_shared<OwnedFd>(status_pipe[1]);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // A server without keys has one user, its owner; with keys, each key's user has a share.
    if (!request.key_id.empty()) {
      int held = 0;
      for (const auto& [id, other] : sessions_) {
        if (other->user == request.user) held += other->workers;
      }
      if (held + session->workers > workers_per_user_) {
        for (int fd : options.channels) ::close(fd);
        return WithHint(Conflict("user '", request.user, "' holds ", held, " function workers on this server; ",
                                 session->workers, " more would pass the share of one user, ", workers_per_user_,
                                 " (of the server's ", kMaxRemoteWorkers, ")"),
                        "shut down an executor you no longer use, or ask for fewer workers");
      }
    }
    if (live_workers_ + session->workers > kMaxRemoteWorkers) {
      for (int fd : options.channels) ::close(fd);
      return WithHint(Conflict("this server already runs ", live_workers_, " function workers for its clients; ",
                               session->workers, " more would pass its limit of ", kMaxRemoteWorkers),
                      "ask for fewer workers, or shut down an executor you no longer use");
    }
    live_workers_ += session->workers;
    sessions_[session->id] = session;
  }

  Session* raw = session.get();
  StatusLines status_lines(status_write->get());
  options.shared_memory_root = lake_->objects().root();
  options.on_exit = [status_lines, raw](size_t worker, const Status& ended) {
    {
      std::lock_guard<std::mutex> lock(raw->mutex);
      raw->pids[worker] = 0;
    }
    status_lines.Ended(worker, ended);
  };
  options.on_started = [raw](size_t worker, int pid) {
    std::lock_guard<std::mutex> lock(raw->mutex);
    raw->pids[worker] = pid;
    if (raw->ended) ::kill(-pid, SIGKILL);
  };
  // The client is not on this machine: what its workers print goes to it on the status stream.
  options.on_stdout_line = [status_lines](size_t i, const std::string& l) { status_lines.Output(i, "stdout", l); };
  options.on_stderr_line = [status_lines](size_t i, const std::string& l) { status_lines.Output(i, "stderr", l); };
  session->runner = std::thread([this, options = std::move(options), status_write, status_lines, raw]() mutable {
    Status ran = RunFunctionExecutors(options);
    if (!ran.ok()) status_lines.Error(ran);
    // Before the client can see the end: one that starts again at once finds them given back.
    Forget(*raw);
    *status_write = OwnedFd();  // the status stream ends
    raw->finished = true;
  });

  // Whatever becomes of the answer (streamed to its end, or dropped by a client that went away
  // before it started), the workers end with it.
  struct EndWithAnswer {
    ExecutorsApi* api;
    std::shared_ptr<Session> session;
    ~EndWithAnswer() { api->End(session); }
  };
  std::shared_ptr<EndWithAnswer> guard(new EndWithAnswer{this, session});  // no temporary to end it early
  ApiResponse response;
  response.content_type = "application/x-ndjson";
  response.stream = [guard, status_read](const ChunkWriter& write) {
    const Session& s = *guard->session;
    if (!write(json{{"executor", s.id}, {"workers", s.workers}}.dump() + "\n")) return;
    std::string chunk(64 << 10, '\0');
    for (;;) {
      pollfd wait = {status_read->get(), POLLIN, 0};
      int ready = ::poll(&wait, 1, 1000);
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) {
        // Nothing to say: an empty line tells whether the client is still there.
        if (!write("\n")) return;
        continue;
      }
      ssize_t n = ::read(status_read->get(), chunk.data(), chunk.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // every worker has ended
      if (!write(std::string_view(chunk.data(), static_cast<size_t>(n)))) return;
    }
  };
  return response;
}

void ExecutorsApi::End(const std::shared_ptr<Session>& session) {
  {
    std::lock_guard<std::mutex> lock(session->mutex);
    if (session->ended) return;
    session->ended = true;
  }
  // A worker sees its channel end and exits once its call returns; byte streams end too.
  for (auto& channel : session->channels) ::shutdown(channel.get(), SHUT_RDWR);
  auto deadline = std::chrono::steady_clock::now() + kEndGrace;
  while (!session->finished && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!session->finished) {
    std::lock_guard<std::mutex> lock(session->mutex);
    for (int pid : session->pids) {
      if (pid > 0) ::kill(-pid, SIGKILL);
    }
  }
  if (session->runner.joinable()) session->runner.join();
  Forget(*session);
}

void ExecutorsApi::Forget(const Session& session) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (sessions_.erase(session.id) > 0) live_workers_ -= session.workers;
}

}  // namespace sluice
