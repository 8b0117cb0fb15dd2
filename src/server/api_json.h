// The JSON answers of the Sluice API. Text that reaches a client is valid UTF-8 whatever the
// engine's messages hold: an error may quote a file's bytes (a binary file named .csv), and a
// dump that threw on them would turn a clear error into an exception text.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "common/status.h"
#include "exec/json_views.h"  // ErrorJson
#include "server/sluice_api.h"

namespace sluice {

// `value` as JSON text, invalid UTF-8 replaced by U+FFFD.
std::string JsonText(const nlohmann::json& value);

// A JSON answer with `status`.
ApiResponse Json(const nlohmann::json& body, int status = 200);

}  // namespace sluice
