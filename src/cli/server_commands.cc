// sluice server start|stop|status: the data home's background server
// (server/background_server.h), which runs detached jobs and answers SDK calls on
// $SLUICE_HOME/server.sock. `server run` is the daemon itself, started by `start`.
#include <unistd.h>

#include <climits>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/server_commands.h"
#include "cli/warm_server.h"
#include "common/config.h"
#include "common/file_util.h"
#include "server/background_server.h"
#include "server/server_fingerprint.h"

namespace sluice::cli {
namespace {

// "1h 2m", "3m 4s", "5.2s"
std::string Duration(double seconds) {
  auto whole = static_cast<int64_t>(seconds);
  if (whole >= 3600) return std::to_string(whole / 3600) + "h " + std::to_string(whole % 3600 / 60) + "m";
  if (whole >= 60) return std::to_string(whole / 60) + "m " + std::to_string(whole % 60) + "s";
  std::ostringstream text;
  text << std::fixed << std::setprecision(1) << seconds << "s";
  return text.str();
}

std::string Plural(int64_t n, const std::string& one, const std::string& many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// `server status`: the lock says whether one runs; the server itself says the rest.
int PrintStatus(CliContext& context) {
  std::string home = AbsolutePath(DataHome());
  BackgroundServerState state = QueryBackgroundServer(home);
  nlohmann::json out = {{"running", state.running},
                        {"socket", state.socket},
                        {"pid", state.running ? nlohmann::json(state.pid) : nlohmann::json(nullptr)},
                        {"auto", ServerWanted(home)}};
  Result<nlohmann::json> told = state.running ? AskServer(home, state.pid) : Result<nlohmann::json>(nlohmann::json());
  if (state.running && told.ok()) {
    for (const auto& [key, value] : told->items()) out[key] = value;
    out["fingerprint_matches"] = told->value("fingerprint", "") == ProcessFingerprint();
  } else if (state.running) {
    out["error"] = told.status().message();
  }
  if (context.json()) {
    context.PrintJson(out);
    return 0;
  }
  if (!state.running) {
    std::cout << "not running" << (ServerWanted(home) ? "" : " (off for local commands)") << "\n";
    return 0;
  }
  std::cout << "running (pid " << state.pid << ") on " << state.socket << "\n";
  if (!told.ok()) {
    std::cout << "  not answering: " << told.status().message() << "\n";
    return 0;
  }
  const auto& s = *told;
  std::cout << "  binary    " << s.value("binary", "") << "\n"
            << "  uptime    " << Duration(s.value("uptime_seconds", 0.0)) << "\n"
            << "  idle for  " << Duration(s.value("idle_seconds", 0.0)) << " (stops after "
            << Duration(s.value("idle_timeout_seconds", 0.0)) << " idle)\n"
            << "  served    " << Plural(s.value("runs", 0), "run", "runs") << ", "
            << Plural(s.value("queries", 0), "query", "queries") << ", "
            << Plural(s.value("requests", 0), "other request", "other requests") << "\n";
  int64_t going = s.value("runs_in_flight", 0) + s.value("queries_in_flight", 0) + s.value("detached_jobs", 0);
  if (going > 0) {
    std::cout << "  now       " << Plural(s.value("runs_in_flight", 0), "run", "runs") << ", "
              << Plural(s.value("queries_in_flight", 0), "query", "queries") << ", "
              << Plural(s.value("detached_jobs", 0), "detached job", "detached jobs") << "\n";
  }
  if (s.contains("limits")) {
    const auto& limits = s["limits"];
    auto limit = [](double seconds) { return seconds > 0 ? Duration(seconds) : std::string("none"); };
    std::cout << "  limits    queries " << limit(limits.value("query_timeout_seconds", 0.0))
              << ", idle query workers stop after " << limit(limits.value("query_worker_idle_seconds", 0.0))
              << ", remote function workers " << limits.value("remote_workers_per_user", 0) << " per user of "
              << limits.value("remote_workers", 0) << "\n";
  }
  if (!out["fingerprint_matches"].get<bool>()) {
    std::cout << "  started with another environment or build than this shell's: the next run replaces it when idle\n";
  }
  return 0;
}

}  // namespace

std::string SluiceBinary() {
  char buffer[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return "sluice";
  return std::string(buffer, static_cast<size_t>(n));
}

Result<BackgroundServerState> StartServer() {
  std::string home = AbsolutePath(DataHome());
  WarmServer server = ReachServer(home, SluiceBinary());
  if (server.pid == 0) {
    if (!server.busy_elsewhere) return IOError(server.why_not);
    // Still there, and used by someone: say so, and let the caller use it.
    std::cerr << "warning: " << server.why_not << "; stop it to start one with this environment: sluice server stop"
              << std::endl;
  }
  return QueryBackgroundServer(home);
}

void AddServerCommands(CLI::App& app, CliContext& context, int* exit_code) {
  auto* server = app.add_subcommand("server", "The data home's background server (detached runs, fast SDK calls)");
  server->require_subcommand(1);

  auto* start = server->add_subcommand("start", "Start it unless it runs; prints its socket");
  start->callback([&context, exit_code] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(BackgroundServerState state, StartServer());
      if (context.json()) {
        context.PrintJson({{"socket", state.socket}, {"pid", state.pid}});
      } else {
        std::cout << state.socket << "\n";
      }
      return Status::OK();
    }());
  });

  auto* stop = server->add_subcommand("stop", "Stop it (detached runs still going are cancelled)");
  stop->callback([&context, exit_code] {
    *exit_code = ReportError([&]() -> Status {
      SLUICE_ASSIGN_OR_RAISE(BackgroundServerState found, StopBackgroundServer(AbsolutePath(DataHome())));
      if (context.json()) {
        context.PrintJson(
            {{"stopped", found.running}, {"pid", found.running ? nlohmann::json(found.pid) : nlohmann::json(nullptr)}});
      } else {
        std::cout << (found.running ? "stopped the server (pid " + std::to_string(found.pid) + ")"
                                    : std::string("no server was running"))
                  << "\n";
      }
      return Status::OK();
    }());
  });

  auto* status =
      server->add_subcommand("status", "Whether it runs; its pid, uptime, idle time, binary and what it served");
  status->callback([&context, exit_code] { *exit_code = PrintStatus(context); });

  auto* run = server->add_subcommand("run", "The server itself, in the foreground (what start launches)");
  run->group("");  // hidden: `start` is the command people use
  run->callback(
      [exit_code] { *exit_code = ReportError(RunBackgroundServer(AbsolutePath(DataHome()), ServerIdleSeconds())); });
}

}  // namespace sluice::cli
