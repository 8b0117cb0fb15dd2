// Content hashing for ids: commits and trees are named by the SHA-256 of their content.
#pragma once

#include <string>
#include <string_view>

namespace sluice {

// Lower-case hex SHA-256 of the bytes. Thread-safe.
std::string Sha256Hex(std::string_view data);

}  // namespace sluice
