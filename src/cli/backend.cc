#include "cli/backend.h"

#include <httplib.h>

#include "server/sluice_api.h"

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

class LocalBackend : public Backend {
 public:
  explicit LocalBackend(Lakehouse* lake) : api_(lake) {}
  Result<json> Call(const std::string& method, const std::string& path, const json& body,
                    const std::map<std::string, std::string>& query) override {
    RestRequest request{method, "/api/v1/" + path, query, body.is_null() ? "" : body.dump()};
    ApiResponse response = api_.Handle(request);
    return Answer(response.status, response.body);
  }
  bool remote() const override { return false; }

 private:
  SluiceApi api_;
};

class RemoteBackend : public Backend {
 public:
  explicit RemoteBackend(std::string endpoint) : endpoint_(std::move(endpoint)), client_(endpoint_) {
    client_.set_read_timeout(3600, 0);  // runs can take long
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
    if (!result) {
      return WithHint(IOError("cannot reach ", endpoint_, ": ", httplib::to_string(result.error())),
                      "start the server with: sluice serve");
    }
    return Answer(result->status, result->body);
  }
  bool remote() const override { return true; }

 private:
  std::string endpoint_;
  httplib::Client client_;
};

}  // namespace

std::unique_ptr<Backend> MakeLocalBackend(Lakehouse* lake) { return std::make_unique<LocalBackend>(lake); }

std::unique_ptr<Backend> MakeRemoteBackend(const std::string& endpoint) {
  return std::make_unique<RemoteBackend>(endpoint);
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
