// `sluice serve`: HTTP access to a data home: the Iceberg REST catalog (/v1/...) and the
// Sluice JSON API (/api/v1/...).
#pragma once

#include <functional>
#include <string>

#include "common/status.h"
#include "exec/lakehouse.h"
#include "server/server_limits.h"

namespace sluice {

struct ServeOptions {
  std::string host = "127.0.0.1";
  int port = 8181;              // 0 picks a free one
  std::string tls_certificate;  // PEM files; both or neither. With them the server speaks HTTPS.
  std::string tls_private_key;
  size_t max_request_bytes = 16 << 20;  // a body past this is answered 413 unread
  int threads = 64;                     // requests served at once; more wait in a queue
  ServerLimits limits;                  // what one client or query may take (checked by ServeHttp)
};

// Whether `host` is a loopback address: only this machine can connect.
bool IsLoopbackHost(const std::string& host);

// Serves until the process is stopped. `on_ready` is called with the bound port (useful with
// port 0, which picks a free one). IOError when the address cannot be bound; InvalidInput,
// before listening, when the address is not loopback and the data home has no API keys or
// the server no TLS (a network would see every key and every row in clear).
Status ServeHttp(Lakehouse* lake, const ServeOptions& options, const std::function<void(int)>& on_ready);

}  // namespace sluice
