// JSON from outside the engine (request bodies, Iceberg metadata and Avro schemas a client
// may have written, a sandboxed worker's result) parsed with limits: nesting at most
// kMaxJsonDepth deep, since copying a deeper value recurses once per level and a body of
// 20,000 '[' overflows the stack; and no floating-point number too large for an int64,
// since reading one where an integer is expected (get<int64_t>) is undefined behaviour.
// Such JSON has neither for any legitimate use.
#pragma once

#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sluice {

inline constexpr int kMaxJsonDepth = 256;

// What ParseBoundedJson throws for JSON over its limits; json::parse_error for JSON that is
// not JSON. Both are std::exception.
class JsonLimitExceeded : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// json::parse, with the limits above.
nlohmann::json ParseBoundedJson(std::string_view text);

}  // namespace sluice
