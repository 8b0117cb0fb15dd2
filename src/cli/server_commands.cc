// sluice server start|stop|status: the data home's background server
// (server/background_server.h), which runs detached jobs and answers SDK calls on
// $SLUICE_HOME/server.sock. `server run` is the daemon itself, started by `start`.
#include <unistd.h>

#include <climits>
#include <iostream>

#include "cli/commands.h"
#include "cli/server_commands.h"
#include "common/config.h"
#include "common/file_util.h"
#include "server/background_server.h"

namespace sluice::cli {
namespace {

nlohmann::json StateJson(const BackgroundServerState& state) {
  return {{"running", state.running},
          {"socket", state.socket},
          {"pid", state.running ? nlohmann::json(state.pid) : nlohmann::json(nullptr)}};
}

}  // namespace

std::string SluiceBinary() {
  char buffer[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buffer, sizeof(buffer) - 1);
  if (n <= 0) return "sluice";
  return std::string(buffer, static_cast<size_t>(n));
}

Result<BackgroundServerState> StartServer() { return EnsureBackgroundServer(AbsolutePath(DataHome()), SluiceBinary()); }

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

  auto* status = server->add_subcommand("status", "Whether it runs, its socket and pid");
  status->callback([&context, exit_code] {
    BackgroundServerState state = QueryBackgroundServer(AbsolutePath(DataHome()));
    if (context.json()) {
      context.PrintJson(StateJson(state));
    } else if (state.running) {
      std::cout << "running (pid " << state.pid << ") on " << state.socket << "\n";
    } else {
      std::cout << "not running\n";
    }
    *exit_code = 0;
  });

  auto* run = server->add_subcommand("run", "The server itself, in the foreground (what start launches)");
  run->group("");  // hidden: `start` is the command people use
  run->callback(
      [exit_code] { *exit_code = ReportError(RunBackgroundServer(AbsolutePath(DataHome()), ServerIdleSeconds())); });
}

}  // namespace sluice::cli
