// What other commands need of the background server commands (server_commands.cc).
#pragma once

#include <string>

#include "common/status.h"
#include "server/background_server.h"

namespace sluice::cli {

// The running `sluice` executable (/proc/self/exe), which the daemon is started as.
std::string SluiceBinary();

// Starts the data home's background server unless it runs; returns once it accepts.
Result<BackgroundServerState> StartServer();

}  // namespace sluice::cli
