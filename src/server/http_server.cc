#include "server/http_server.h"

#include <httplib.h>

#include "server/api_keys.h"
#include "server/iceberg_rest.h"
#include "server/sluice_api.h"

namespace sluice {

namespace {

RestRequest FromHttp(const httplib::Request& req, std::string user) {
  RestRequest request;
  request.user = std::move(user);
  request.method = req.method;
  request.path = req.path;
  for (const auto& [key, value] : req.params) request.query[key] = value;
  request.body = req.body;
  return request;
}

// The answer to a request without a known key when the server checks keys.
void Unauthorized(const Status& why, httplib::Response& res) {
  nlohmann::json error = {{"kind", "unauthorized"},
                          {"message", why.message()},
                          {"hint", "set api_key in your profile (sluice config) or SLUICE_API_KEY"},
                          {"type", "NotAuthorizedException"},
                          {"code", 401}};
  res.status = 401;
  res.set_content(nlohmann::json{{"error", error}}.dump(), "application/json");
}

}  // namespace

Status ServeHttp(Lakehouse* lake, const std::string& host, int port, const std::function<void(int)>& on_ready) {
  httplib::Server server;
  // A small answer goes out as headers then body; without this, Nagle holds the body until
  // the client's delayed ACK (40 ms per call).
  server.set_tcp_nodelay(true);
  // Requests are served at once, from cpp-httplib's thread pool: the catalog serializes its
  // own connection and moves branch heads by compare-and-swap, table and object files are
  // written under fresh names, and each run writes on its own branch. So a long run never
  // holds up a `branch ls`.
  IcebergRestCatalog catalog_api(lake);
  SluiceApi sluice_api(lake);
  SLUICE_ASSIGN_OR_RAISE(ApiKeys keys, ApiKeys::Load(lake->home() + "/api_keys"));
  // One adapter for both APIs: authenticate, decode, handle, encode. With keys configured, a
  // request without a known key is answered 401 here, before any route; the key's user is
  // then the request's only identity (server/request_fields.h).
  auto serve = [&](auto& api, const char* prefix, auto encode) {
    auto handler = [&api, &keys, encode](const httplib::Request& req, httplib::Response& res) {
      std::string user;
      if (keys.enabled()) {
        auto authenticated = keys.Authenticate(req.get_header_value("Authorization"));
        if (!authenticated.ok()) return Unauthorized(authenticated.status(), res);
        user = *std::move(authenticated);
      }
      encode(api.Handle(FromHttp(req, std::move(user))), res);
    };
    std::string pattern = std::string(prefix) + ".*";
    server.Get(pattern, handler);
    server.Post(pattern, handler);
    server.Delete(pattern, handler);
  };
  serve(catalog_api, "/v1/", [](const RestResponse& response, httplib::Response& res) {
    res.status = response.status;
    if (!response.body.is_null()) res.set_content(response.body.dump(), "application/json");
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
  server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (res.body.empty()) {
      res.set_content(
          nlohmann::json{
              {"error", {{"message", "no route for " + req.path}, {"type", "NotFoundException"}, {"code", res.status}}}}
              .dump(),
          "application/json");
    }
  });
  int bound = port == 0 ? server.bind_to_any_port(host) : (server.bind_to_port(host, port) ? port : -1);
  if (bound < 0) return IOError("cannot listen on ", host, ":", port);
  if (on_ready) on_ready(bound);
  if (!server.listen_after_bind()) return IOError("server on ", host, ":", bound, " stopped");
  return Status::OK();
}

}  // namespace sluice
