#include "common/ids.h"

#include <mutex>
#include <random>

namespace sluice {
namespace {

uint64_t RandomU64() {
  static std::mutex mutex;
  static std::mt19937_64 engine{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mutex);
  return engine();
}

}  // namespace

std::string NewUuid() {
  uint64_t hi = RandomU64(), lo = RandomU64();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 32; ++i) {
    uint64_t word = i < 16 ? hi : lo;
    int shift = 60 - 4 * (i % 16);
    out.push_back(kHex[(word >> shift) & 0xf]);
    if (i == 7 || i == 11 || i == 15 || i == 19) out.push_back('-');
  }
  return out;
}

int64_t NewSnapshotId() { return static_cast<int64_t>(RandomU64() >> 1) | 1; }

std::string NewShortId(int length) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  while (static_cast<int>(out.size()) < length) {
    uint64_t word = RandomU64();
    for (int i = 0; i < 16 && static_cast<int>(out.size()) < length; ++i, word >>= 4) {
      out.push_back(kHex[word & 0xf]);
    }
  }
  return out;
}

}  // namespace sluice
