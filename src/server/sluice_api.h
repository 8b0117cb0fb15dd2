// The Sluice JSON API (/api/v1/...): what the Python SDK calls in remote mode
// (Client(endpoint=...) or SLUICE_ENDPOINT). Responses use the same JSON shapes as `-O json`
// (exec/json_views.h); errors are {"error": {"kind", "message", "hint"}} with an HTTP status
// for the kind. Query results are Arrow IPC files.
#pragma once

#include "env/zygote.h"
#include "exec/lakehouse.h"
#include "server/iceberg_rest.h"

namespace sluice {

struct ApiResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

class SluiceApi {
 public:
  explicit SluiceApi(Lakehouse* lake) : lake_(lake) {}
  // Never throws.
  ApiResponse Handle(const RestRequest& request);

 private:
  Result<ApiResponse> Route(const RestRequest& request);
  Lakehouse* lake_;
  // Runs fork their workers from these; a server keeps them warm from one run to the next.
  ZygotePool zygotes_;
};

}  // namespace sluice
