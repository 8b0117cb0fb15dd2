#include "cli/backend.h"

#include <httplib.h>
#include <sys/socket.h>

#include "server/sluice_api.h"
#include "server/unix_socket_address.h"

namespace sluice::cli {
namespace {

using nlohmann::json;

Result<json> Answer(int status, const std::string& body) {
  json parsed;
  try {
    parsed = body.empty() ? json() : json::parse(body);
  } catch (const std::exception& e) {
    return Internal("unreadable answer from the API (HTTP ", status, "): ", e.what());
  }
  if (status >= 400) {
    if (parsed.is_object() && parsed.contains("error")) {
      const json& error = parsed["error"];
      Status st = MakeError(ErrorKindFromName(error.value("kind", "")), error.value("message", ""));
      std::string hint = error.value("hint", "");
      return hint.empty() ? st : WithHint(st, hint);
    }
    return Internal("HTTP ", status, " from the API");
  }
  return parsed;
}

// Splits arriving bytes into lines, each a JSON event.
class EventSplitter {
 public:
  explicit EventSplitter(const std::function<void(const json&)>& on_event) : on_event_(on_event) {}
  Status Append(std::string_view data) {
    buffer_.append(data);
    size_t start = 0;
    for (size_t end; (end = buffer_.find('\n', start)) != std::string::npos; start = end + 1) {
      std::string line = buffer_.substr(start, end - start);
      if (line.empty()) continue;
      try {
        on_event_(json::parse(line));
      } catch (const std::exception& e) {
        buffer_.erase(0, end + 1);
        return Internal("unreadable event from the API: ", e.what());
      }
    }
    buffer_.erase(0, start);
    return Status::OK();
  }

 private:
  const std::function<void(const json&)>& on_event_;
  std::string buffer_;
};

class LocalBackend : public Backend {
 public:
  LocalBackend(Lakehouse* lake, const ServerLimits& limits) : api_(lake, limits) {}
  Result<json> Call(const std::string& method, const std::string& path, const json& body,
                    const std::map<std::string, std::string>& query) override {
    RestRequest request{method, "/api/v1/" + path, query, body.is_null() ? "" : body.dump()};
    ApiResponse response = api_.Handle(request);
    return Answer(response.status, response.body);
  }
  Status Stream(const std::string& path, const json& body, const std::function<void(const json&)>& on_event) override {
    RestRequest request{"POST", "/api/v1/" + path, {}, body.dump()};
    ApiResponse response = api_.Handle(request);
    if (!response.stream) return Answer(response.status, response.body).status();
    EventSplitter events(on_event);
    Status status;
    response.stream([&](std::string_view chunk) {
      status = events.Append(chunk);
      return status.ok();
    });
    return status;
  }
  Result<std::string> Fetch(const std::string& method, const std::string& path, const json& body) override {
    RestRequest request{method, "/api/v1/" + path, {}, body.is_null() ? "" : body.dump()};
    ApiResponse response = api_.Handle(request);
    if (response.status >= 400) return Answer(response.status, response.body).status();
    if (response.stream) {
      std::string body;
      response.stream([&body](std::string_view chunk) {
        body.append(chunk);
        return true;
      });
      return body;
    }
    return std::move(response.body);
  }
  bool remote() const override { return false; }

 private:
  SluiceApi api_;
};

class RemoteBackend : public Backend {
 public:
  // `unix_socket`: `endpoint` is the path of a unix socket rather than a URL.
  // `shown`: how messages name the endpoint, when not as `endpoint`.
  RemoteBackend(std::string endpoint, const std::string& api_key, int64_t timeout_seconds, bool unix_socket = false,
                std::string shown = "")
      : endpoint_(std::move(endpoint)), shown_(shown.empty() ? endpoint_ : std::move(shown)), client_(endpoint_) {
    client_.set_read_timeout(timeout_seconds > 0 ? timeout_seconds : 3600, 0);  // runs can take long
    if (timeout_seconds > 0) client_.set_connection_timeout(timeout_seconds, 0);
    if (!api_key.empty()) client_.set_bearer_token_auth(api_key);
    if (unix_socket) client_.set_address_family(AF_UNIX);
    unix_ = unix_socket;
  }
  Result<json> Call(const std::string& method, const std::string& path, const json& body,
                    const std::map<std::string, std::string>& query) override {
    std::string target = "/api/v1/" + path;
    httplib::Params params(query.begin(), query.end());
    if (!params.empty()) target = httplib::append_query_params(target, params);
    std::string payload = body.is_null() ? "" : body.dump();
    httplib::Result result = method == "GET"      ? client_.Get(target)
                             : method == "DELETE" ? client_.Delete(target)
                                                  : client_.Post(target, payload, "application/json");
    if (!result) return Unreachable(result.error());
    return Answer(result->status, result->body);
  }
  Result<std::string> Fetch(const std::string& method, const std::string& path, const json& body) override {
    std::string payload = body.is_null() ? "" : body.dump();
    httplib::Result result =
        method == "GET" ? client_.Get("/api/v1/" + path) : client_.Post("/api/v1/" + path, payload, "application/json");
    if (!result) return Unreachable(result.error());
    if (result->status >= 400) return Answer(result->status, result->body).status();
    return std::move(result->body);
  }
  Status Stream(const std::string& path, const json& body, const std::function<void(const json&)>& on_event) override {
    httplib::Request request;
    request.method = "POST";
    request.path = "/api/v1/" + path;
    request.body = body.dump();
    request.set_header("Content-Type", "application/json");
    EventSplitter events(on_event);
    Status status;
    int http_status = 0;
    request.response_handler = [&http_status](const httplib::Response& r) {
      http_status = r.status;
      return true;
    };
    std::string error_body;  // an error answer is one JSON document, not events
    request.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
      if (http_status >= 400) {
        error_body.append(data, size);
        return true;
      }
      status = events.Append(std::string_view(data, size));
      return status.ok();
    };
    httplib::Response response;
    httplib::Error error = httplib::Error::Success;
    if (!client_.send(request, response, error) && status.ok()) return Unreachable(error);
    if (response.status >= 400) return Answer(response.status, error_body).status();
    return status;
  }
  bool remote() const override { return true; }

 private:
  Status Unreachable(httplib::Error error) const {
    return WithHint(IOError("cannot reach ", shown_, ": ", httplib::to_string(error)),
                    unix_ ? "start it with: sluice server start" : "start the server with: sluice serve");
  }

  std::string endpoint_, shown_;
  httplib::Client client_;
  bool unix_ = false;
};

// A RemoteBackend on a unix socket, holding its address open: a deep path is reached
// through its directory's /proc/self/fd entry (server/unix_socket_address.h).
class UnixSocketBackend : public RemoteBackend {
 public:
  explicit UnixSocketBackend(UnixSocketAddress address, int64_t timeout_seconds = -1)
      : RemoteBackend(address.usable(), "", timeout_seconds, true, address.path()), address_(std::move(address)) {}

 private:
  UnixSocketAddress address_;
};

}  // namespace

Result<std::unique_ptr<Backend>> MakeLocalBackend(Lakehouse* lake) {
  // In this process, the limits a server of this environment would have.
  SLUICE_ASSIGN_OR_RAISE(ServerLimits limits, ServerLimitsFromEnvironment());
  return std::unique_ptr<Backend>(std::make_unique<LocalBackend>(lake, limits));
}

std::unique_ptr<Backend> MakeRemoteBackend(const std::string& endpoint, const std::string& api_key,
                                           int64_t timeout_seconds) {
  return std::make_unique<RemoteBackend>(endpoint, api_key, timeout_seconds);
}

Result<std::unique_ptr<Backend>> MakeUnixSocketBackend(const std::string& socket_path) {
  SLUICE_ASSIGN_OR_RAISE(UnixSocketAddress address, UnixSocketAddress::For(socket_path));
  return std::unique_ptr<Backend>(std::make_unique<UnixSocketBackend>(std::move(address)));
}

std::unique_ptr<Backend> MakeUnixSocketBackend(UnixSocketAddress address, int64_t timeout_seconds) {
  return std::make_unique<UnixSocketBackend>(std::move(address), timeout_seconds);
}

std::string EncodePathPart(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buffer[4];
      std::snprintf(buffer, sizeof(buffer), "%%%02X", c);
      out += buffer;
    }
  }
  return out;
}

}  // namespace sluice::cli
