#include "common/bounded_json.h"

#include <cmath>
#include <string>

namespace sluice {

nlohmann::json ParseBoundedJson(std::string_view text) {
  using nlohmann::json;
  return json::parse(text, [](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) {
      throw JsonLimitExceeded("JSON nested more than " + std::to_string(kMaxJsonDepth) + " levels deep");
    }
    if (event == json::parse_event_t::value && parsed.is_number_float() &&
        !(std::fabs(parsed.get<double>()) < 9.2e18)) {  // NaN fails too
      throw JsonLimitExceeded("a JSON number is out of range: " + parsed.dump());
    }
    return true;
  });
}

}  // namespace sluice
