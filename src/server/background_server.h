// The data home's background server: one daemon per data home serving the Sluice JSON API
// and the Iceberg REST routes on the unix socket <home>/server.sock (owner-only, see
// unix_http_server.h), so detached runs outlive the CLI that started them and SDK calls skip
// process start-up. It holds a lock on <home>/server.lock for its whole life: at most one
// daemon per home, and the lock (not the pid file, which is informational) says who runs.
// It exits after `idle_seconds` with no request (status requests aside) and no job running, removing its socket and
// pid file.
#pragma once

#include <string>

#include "common/status.h"
#include "exec/lakehouse.h"

namespace sluice {

struct BackgroundServerState {
  bool running = false;
  int pid = 0;         // the daemon holding the lock, when running
  std::string socket;  // <home>/server.sock
};

// $SLUICE_SERVER_IDLE_SECONDS, else 900.
double ServerIdleSeconds();

// Whether a daemon runs for `home`, and its pid.
BackgroundServerState QueryBackgroundServer(const std::string& home);

// The daemon itself (`sluice server run`): takes the lock (returns OK at once when another
// daemon has it), binds the socket, writes the pid file, serves until idle, SIGTERM or
// SIGINT, then cancels detached runs still going and cleans up. Call from a process with
// no other threads yet.
Status RunBackgroundServer(const std::string& home, double idle_seconds);

// `sluice server start`: starts the daemon unless one runs, as a detached process running
// `sluice_binary server run` (its output appended to <home>/server.log), and returns once
// the socket accepts connections. IOError (naming the log) when it does not come up.
Result<BackgroundServerState> EnsureBackgroundServer(const std::string& home, const std::string& sluice_binary);

// `sluice server stop`: SIGTERM to the daemon, waiting (at most `timeout_seconds`) for it to
// exit. Returns the state it found (running = false when there was none). With
// `expected_pid`, only that server is stopped: a client that decided to replace one never
// stops the successor another client started meanwhile (it then returns what it found).
Result<BackgroundServerState> StopBackgroundServer(const std::string& home, double timeout_seconds = 60,
                                                   int expected_pid = 0);

}  // namespace sluice
