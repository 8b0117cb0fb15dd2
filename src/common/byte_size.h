// Sizes people write: "512M", "4G", "1.5g", "10GiB", "1024" (bytes).
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace sluice {

// Binary units (K = 1024). InvalidInput, naming `what` ("memory '2X' is not a size such as
// 512M or 4G"), for anything else, zero or negative.
Result<int64_t> ParseByteSize(const std::string& text, const std::string& what);

// "1.2 GB", "340.0 MB", "12.5 kB", "17 B" (decimal units, one decimal).
std::string FormatBytes(int64_t bytes);

}  // namespace sluice
