#include "cli/warm_server.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "common/file_util.h"
#include "server/background_server.h"
#include "server/server_fingerprint.h"
#include "server/unix_socket_address.h"

namespace sluice::cli {
namespace {

// How long a live server may take to say who it is. It answers from a thread of its own
// without touching the catalog, so only a stopped or wedged process takes this long; a
// healthy one under load answers in milliseconds.
constexpr int64_t kAnswerSeconds = 5;

std::string Lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

std::string Trimmed(std::string text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text;
}

std::string AutoPath(const std::string& home) { return home + "/server-auto"; }

// Whether `pid` is a live process of this uid (one we may signal as ours).
bool OwnProcess(int pid) {
  struct stat st {};
  return pid > 0 && ::stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0 && st.st_uid == ::geteuid();
}

// Whether two paths name one directory, however spelled.
bool SameDirectory(const std::string& a, const std::string& b) {
  struct stat sa {
  }, sb{};
  return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

// Ends the server holding the lock of `home` (it cannot be used), so a new one can start.
Status Replace(const std::string& home, int pid) {
  if (!OwnProcess(pid)) {
    return IOError("the data home's server lock is held by pid ", pid, ", not a process of this user");
  }
  return StopBackgroundServer(home, 2, pid).status();
}

}  // namespace

std::string ReadServerAuto(const std::string& home) {
  auto text = ReadFile(AutoPath(home));
  return text.ok() && Lower(Trimmed(*text)) == "off" ? "off" : "on";
}

Status SetServerAuto(const std::string& home, const std::string& value) {
  std::string wanted = Lower(value);
  if (wanted != "on" && wanted != "off") {
    return InvalidInput("server.auto takes on or off, not '", value, "'");
  }
  SLUICE_RETURN_NOT_OK(MakeDirs(home));
  return WriteFileAtomic(AutoPath(home), wanted + "\n");
}

bool ServerWanted(const std::string& home) {
  if (const char* env = std::getenv("SLUICE_SERVER"); env && *env) {
    std::string value = Lower(env);
    if (value == "off" || value == "0" || value == "false" || value == "no") return false;
  }
  return ReadServerAuto(home) != "off";
}

Result<std::unique_ptr<Backend>> ConnectToServer(const std::string& home, int pid, int64_t timeout_seconds) {
  std::string socket = home + "/server.sock";
  SLUICE_ASSIGN_OR_RAISE(UnixSocketAddress address, UnixSocketAddress::ForOwnSocket(socket));
  SLUICE_ASSIGN_OR_RAISE(UnixSocketPeer peer, PeerOf(address));
  if (peer.uid != ::geteuid() || peer.pid != pid) {
    return IOError("not trusting socket '", socket, "': pid ", peer.pid, " (uid ", peer.uid,
                   ") listens on it, not the data home's server (pid ", pid, ")");
  }
  return MakeUnixSocketBackend(std::move(address), timeout_seconds);
}

Result<nlohmann::json> AskServer(const std::string& home, int pid) {
  auto backend = ConnectToServer(home, pid, kAnswerSeconds);
  // Not reachable, or not verifiably the data home's: IOError, whatever the reason's kind.
  if (!backend.ok()) return IOError(backend.status().message());
  SLUICE_ASSIGN_OR_RAISE(nlohmann::json status, (*backend)->Call("GET", "server"));
  if (!status.is_object() || status.value("pid", 0) != pid || !SameDirectory(status.value("home", ""), home)) {
    return IOError("the server on '", home, "/server.sock' is not the data home's (pid ", pid, ")");
  }
  return status;
}

WarmServer ReachServer(const std::string& home_path, const std::string& sluice_binary) {
  const std::string home = AbsolutePath(home_path);
  const std::string mine = ProcessFingerprint();
  WarmServer out;
  std::string trouble;
  // A few rounds: another client may start or stop the server between two looks.
  for (int round = 0; round < 3; ++round) {
    BackgroundServerState state = QueryBackgroundServer(home);
    if (!state.running) {
      auto started = EnsureBackgroundServer(home, sluice_binary);
      if (!started.ok()) {
        out.why_not = "the data home's background server did not start (" + started.status().message() + ")";
        return out;
      }
      state = *started;
    }
    auto status = AskServer(home, state.pid);
    if (!status.ok() && KindOf(status.status()) != ErrorKind::kIOError) {
      // The verified server answered, with an error: it is alive, and may be busy (at its
      // connection limit; without a status route, a build from before it had one). Its runs
      // are not ours to end: pass it by. Only a refusal, a silence or an impostor is replaced.
      out.why_not = "the data home's background server (pid " + std::to_string(state.pid) + ") could not say " +
                    "whether it is busy (" + status.status().message() + ")";
      out.busy_elsewhere = true;
      return out;
    }
    if (!status.ok()) {
      // Refuses, wedged, or not verifiably ours: replace it. A server another client just
      // started binds its socket before it listens, so a refusal gets a few seconds first.
      if (!UnixSocketAccepts(state.socket)) {
        for (int i = 0; i < 50 && !UnixSocketAccepts(state.socket); ++i) ::usleep(100 * 1000);
        if (UnixSocketAccepts(state.socket)) status = AskServer(home, state.pid);
      }
      if (!status.ok()) {
        trouble = status.status().message();
        if (Status replaced = Replace(home, state.pid); !replaced.ok()) {
          out.why_not = replaced.message();
          return out;
        }
        continue;
      }
    }
    if (status->value("fingerprint", "") == mine) {
      out.pid = state.pid;
      return out;
    }
    if (status->value("busy", true)) {
      out.why_not = "the data home's background server (pid " + std::to_string(state.pid) +
                    ") was started with another environment and is busy";
      out.busy_elsewhere = true;
      return out;
    }
    // Idle, with another environment: this client's takes its place.
    if (auto stopped = StopBackgroundServer(home, 60, state.pid); !stopped.ok()) {
      out.why_not = stopped.status().message();
      return out;
    }
    trouble = "the server changed under this client";
  }
  out.why_not = "could not get a background server for this environment (" + trouble + ")";
  return out;
}

}  // namespace sluice::cli
