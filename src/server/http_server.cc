#include "server/http_server.h"

#include <httplib.h>

#include <iostream>
#include <memory>
#include <optional>

#include "common/file_util.h"
#include "exec/garbage_collection.h"
#include "server/api_json.h"
#include "server/api_keys.h"
#include "server/iceberg_rest.h"
#include "server/sluice_api.h"

namespace sluice {

namespace {

RestRequest FromHttp(const httplib::Request& req, Caller caller) {
  RestRequest request;
  request.user = std::move(caller.user);
  request.role = std::move(caller.role);
  request.key_id = std::move(caller.key_id);
  request.method = req.method;
  request.path = req.path;
  for (const auto& [key, value] : req.params) request.query[key] = value;
  request.body = req.body;
  return request;
}

// The answer to a request the adapter refuses: 401 without a known key, 403 outside its role.
void Refuse(int code, const std::string& message, const std::string& hint, httplib::Response& res) {
  nlohmann::json error = {{"kind", code == 401 ? "unauthorized" : "forbidden"},
                          {"message", message},
                          {"hint", hint},
                          {"type", code == 401 ? "NotAuthorizedException" : "ForbiddenException"},
                          {"code", code}};
  res.status = code;
  res.set_content(nlohmann::json{{"error", error}}.dump(), "application/json");
}

// Who the request is, and whether its role allows it: the caller when it may go on (empty
// user and role when the data home has no keys), nothing when `res` already holds the refusal.
std::optional<Caller> Admit(const ApiKeys& keys, const httplib::Request& req, httplib::Response& res) {
  auto enabled = keys.enabled();
  if (!enabled.ok()) {
    Refuse(500, "cannot read the API keys: " + enabled.status().message(), "", res);
    return std::nullopt;
  }
  if (!*enabled) return Caller{};
  auto caller = keys.Authenticate(req.get_header_value("Authorization"));
  if (!caller.ok()) {
    Refuse(401, caller.status().message(), "set api_key in your profile (sluice config) or SLUICE_API_KEY", res);
    return std::nullopt;
  }
  std::string needed = RoleNeeded(req.method, req.path);
  if (!RoleAllows(caller->role, needed)) {
    Refuse(403,
           "'" + caller->user + "' (" + caller->role + ") may not " + req.method + " " + req.path +
               ": that needs the " + needed + " role",
           "an admin can make a key with that role: sluice key create --user NAME --role " + needed, res);
    return std::nullopt;
  }
  return *caller;
}

}  // namespace

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

Status ServeHttp(Lakehouse* lake, const ServeOptions& options, const std::function<void(int)>& on_ready) {
  const std::string& host = options.host;
  const int port = options.port;
  SLUICE_RETURN_NOT_OK(CheckServerLimits(options.limits));
  bool tls = !options.tls_certificate.empty() || !options.tls_private_key.empty();
  if (tls && (options.tls_certificate.empty() || options.tls_private_key.empty())) {
    return InvalidInput("TLS needs both a certificate (--tls-cert) and its private key (--tls-key)");
  }
  // Keys once lived in a file: a server that silently stopped checking them would be open.
  if (PathExists(lake->home() + "/api_keys")) {
    return WithHint(InvalidInput("'", lake->home(), "/api_keys' is no longer read: keys live in the catalog"),
                    "make each key again with: sluice key create --user NAME --role ROLE, then remove the file");
  }
  // What killed runs and deleted homes left in shared memory goes back at every start.
  (void)CollectSharedMemory(*lake, false);
  ApiKeys keys(&lake->catalog().keys());
  if (!IsLoopbackHost(host)) {
    SLUICE_ASSIGN_OR_RAISE(bool has_keys, keys.enabled());
    if (!has_keys || !tls) {
      return WithHint(InvalidInput("refusing to serve on '", host, "' without ", !has_keys ? "API keys" : "TLS",
                                   ": anyone on the network could ",
                                   !has_keys ? "read and write every table" : "read every key and row"),
                      "make a key with: sluice key create --user NAME --role ROLE, and pass --tls-cert FILE "
                      "--tls-key FILE (or serve on 127.0.0.1)");
    }
  }
  std::unique_ptr<httplib::Server> owned;
  if (tls) {
    for (const std::string* file : {&options.tls_certificate, &options.tls_private_key}) {
      if (!PathExists(*file)) return NotFound("TLS file '", *file, "' does not exist");
    }
    auto secure =
        std::make_unique<httplib::SSLServer>(options.tls_certificate.c_str(), options.tls_private_key.c_str());
    if (!secure->is_valid()) {
      return InvalidInput("cannot load the TLS certificate '", options.tls_certificate, "' and key '",
                          options.tls_private_key, "': expected PEM files of one key pair");
    }
    owned = std::move(secure);
  } else {
    owned = std::make_unique<httplib::Server>();
  }
  httplib::Server& server = *owned;
  // A hostile client's body is refused before it is read (a 1.2 GB body took 7.4 GB of RSS),
  // and a slow one holds a thread for at most the read timeout per read: with many threads,
  // a handful of trickling clients cannot take every one of them.
  server.set_payload_max_length(options.max_request_bytes);
  server.set_read_timeout(10, 0);
  server.set_write_timeout(30, 0);
  server.set_keep_alive_timeout(5);
  server.new_task_queue = [threads = options.threads] { return new httplib::ThreadPool(threads); };
  // A small answer goes out as headers then body; without this, Nagle holds the body until
  // the client's delayed ACK (40 ms per call).
  server.set_tcp_nodelay(true);
  // Requests are served at once, from cpp-httplib's thread pool: the catalog serializes its
  // own connection and moves branch heads by compare-and-swap, table and object files are
  // written under fresh names, and each run writes on its own branch. So a long run never
  // holds up a `branch ls`.
  IcebergRestCatalog catalog_api(lake);
  SluiceApi sluice_api(lake, options.limits);
  sluice_api.WarmUp();
  // One adapter for both APIs: admit, decode, handle, encode. With keys, a request without a
  // known key is answered 401 here, before any route, and one outside its key's role 403; the
  // key's user is then the request's only identity (server/request_fields.h).
  auto serve = [&](auto& api, const char* prefix, auto encode) {
    auto handler = [&api, &keys, encode](const httplib::Request& req, httplib::Response& res) {
      std::optional<Caller> caller = Admit(keys, req, res);
      if (!caller) return;
      encode(api.Handle(FromHttp(req, std::move(*caller))), res);
    };
    std::string pattern = std::string(prefix) + ".*";
    server.Get(pattern, handler);
    server.Post(pattern, handler);
    server.Delete(pattern, handler);
  };
  serve(catalog_api, "/v1/", [](const RestResponse& response, httplib::Response& res) {
    res.status = response.status;
    if (!response.body.is_null()) res.set_content(JsonText(response.body), "application/json");
  });
  serve(sluice_api, "/api/v1/", [](const ApiResponse& response, httplib::Response& res) {
    res.status = response.status;
    if (!response.stream) {
      res.set_content(response.body, response.content_type.c_str());
      return;
    }
    // Chunked: each event reaches the client as it happens.
    res.set_chunked_content_provider(
        response.content_type, [stream = response.stream](size_t, httplib::DataSink& sink) {
          stream([&sink](std::string_view chunk) { return sink.write(chunk.data(), chunk.size()); });
          sink.done();
          return true;
        });
  });
  // What cpp-httplib refuses before any handler (an unknown path, a URI or body over its
  // limits) still gets an error body the SDK can type.
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string kind = "invalid input", type = "BadRequestException", message;
    switch (res.status) {
      case 404:
        kind = "not found", type = "NotFoundException", message = "no route for " + req.path;
        break;
      case 413:
        message = "the request body is too large";
        break;
      case 414:
        message = "the request's URI is too long (put large values in a JSON body)";
        break;
      case 431:
        message = "the request's headers are too large";
        break;
      default:
        if (res.status >= 500) kind = "internal", type = "InternalServerError";
        message = "the request was refused (HTTP " + std::to_string(res.status) + ")";
    }
    nlohmann::json error = {{"kind", kind}, {"message", message}, {"type", type}, {"code", res.status}};
    res.set_content(nlohmann::json{{"error", error}}.dump(), "application/json");
  });
  int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) return IOError("cannot listen on ", host, ":", port);
  if (on_ready) on_ready(bound);
  // What killed runs leave (shared memory, run branches, files) also goes while it serves.
  PeriodicGarbageCollection collection(
      lake, [](const std::string& line) { std::cerr << "sluice serve: " << line << std::endl; });
  if (!server.listen_after_bind()) return IOError("server on ", host, ":", bound, " stopped");
  return Status::OK();
}

}  // namespace sluice
