#include "common/byte_size.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>

namespace sluice {

Result<int64_t> ParseByteSize(const std::string& text, const std::string& what) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  std::string unit = end ? std::string(end) : "";
  for (auto& c : unit) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.back() == 'B') unit.pop_back();
  if (!unit.empty() && unit.back() == 'I') unit.pop_back();
  double scale = unit.empty() ? 1 : unit == "K" ? 1024.0 : unit == "M" ? 1048576.0 : unit == "G" ? 1073741824.0 : -1;
  if (end == text.c_str() || scale < 0 || value <= 0) {
    return InvalidInput(what, " '", text, "' is not a size such as 512M or 4G");
  }
  return static_cast<int64_t>(value * scale);
}

std::string FormatBytes(int64_t bytes) {
  char text[32];
  if (bytes < 1000) {
    std::snprintf(text, sizeof(text), "%lld B", static_cast<long long>(bytes));
  } else if (bytes < 1000 * 1000) {
    std::snprintf(text, sizeof(text), "%.1f kB", bytes / 1e3);
  } else if (bytes < 1000LL * 1000 * 1000) {
    std::snprintf(text, sizeof(text), "%.1f MB", bytes / 1e6);
  } else {
    std::snprintf(text, sizeof(text), "%.2f GB", bytes / 1e9);
  }
  return text;
}

}  // namespace sluice
