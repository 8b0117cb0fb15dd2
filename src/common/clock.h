// Wall and monotonic time in the units the catalog and the logs use.
#pragma once

#include <cstdint>
#include <string>

namespace sluice {

// Milliseconds since the Unix epoch (wall clock).
int64_t NowMillis();

// Seconds on a monotonic clock, for measuring durations.
double MonotonicSeconds();

// "2026-11-23T10:04:05Z" (UTC, second precision) for a wall-clock millisecond value.
std::string FormatIsoTime(int64_t millis);

}  // namespace sluice
