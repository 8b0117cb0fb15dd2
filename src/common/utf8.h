// Text that reaches JSON must be valid UTF-8 (nlohmann::json throws on dump otherwise):
// what a model prints is bytes, possibly not UTF-8 at all, and cutting a long line can split
// a character.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

// `text` with each invalid or truncated sequence replaced by U+FFFD; valid text unchanged.
std::string ValidUtf8(std::string_view text);

// The longest prefix of valid UTF-8 `text` that is at most `max_bytes` long and ends on a
// character boundary.
std::string_view Utf8Prefix(std::string_view text, size_t max_bytes);

}  // namespace sluice
