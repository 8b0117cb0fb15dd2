// HTTP/1.1 over a unix socket for one user: the transport of the data home's background
// server. The socket file is created with mode 0600, and every connection's peer
// credentials (SO_PEERCRED) are checked: a process of another uid gets 403 and is
// disconnected before its request is read, even if the file mode was loosened. Requests are
// handed to one handler as RestRequest (path and query decoded) and answered with its
// ApiResponse (a body, or chunks as a stream goes). Keep-alive, pipelining, chunked request
// bodies, one thread per connection (so a slow client holds up only itself), within Limits:
// a request over them gets 4xx and its connection is closed, one that does not arrive whole
// in time is dropped, a connection past the cap gets 503. cpp-httplib has no hook between accept() and a connection's
// first request, which is where the peer check must sit; hence this small server.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "common/status.h"
#include "server/sluice_api.h"

namespace sluice {

// What one client may ask of a UnixHttpServer.
struct UnixHttpLimits {
  size_t max_header_bytes = 64 * 1024;         // request line + header fields (431)
  size_t max_headers = 100;                    // header fields (431)
  size_t max_body_bytes = 512u * 1024 * 1024;  // Content-Length or chunks together (413)
  double request_seconds = 30;                 // from a request's first byte to its last
  double idle_connection_seconds = 60;         // a kept-alive connection with no request
  int max_connections = 256;                   // open at once (503 past it)
};

class UnixHttpServer {
 public:
  using Handler = std::function<ApiResponse(const RestRequest&)>;

  using Limits = UnixHttpLimits;

  // Binds `path` (removing a stale socket file first; the caller makes sure no live server
  // owns it), owner-only, however deep (unix_socket_address.h). IOError naming the path
  // when it cannot. `handler` is called from
  // connection threads, several at once.
  static Result<std::unique_ptr<UnixHttpServer>> Bind(const std::string& path, Handler handler, Limits limits = {});
  // Stops, removes the socket file, and waits for every connection thread to finish: they use
  // this object until they do (each notices the stop within a poll slice, unless its handler
  // is still running).
  ~UnixHttpServer();

  // Listens, then accepts and serves connections until Stop(). Call once. Until it is
  // called, connecting fails: being able to connect means being served.
  void Serve();
  // Stops accepting and returns once connections in flight have ended (at most
  // `grace_seconds`). Thread-safe; later calls do nothing.
  void Stop(double grace_seconds = 10);

  // Open connections (their threads still use this object).
  int connections() const { return connections_.load(); }
  // Requests being answered right now.
  int in_flight() const { return in_flight_.load(); }
  // Seconds since the last request ended (0 while one is in flight).
  double idle_seconds() const;

 private:
  UnixHttpServer(int fd, std::string path, Handler handler, Limits limits);
  void ServeConnection(int fd);

  int listen_fd_;
  std::string path_;
  Handler handler_;
  Limits limits_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> in_flight_{0};
  std::atomic<int> connections_{0};
  std::atomic<int64_t> last_request_ms_;
};

}  // namespace sluice
