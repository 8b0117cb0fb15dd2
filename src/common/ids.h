// Random identifiers: UUIDs for Iceberg tables and files, short ids for jobs and runs.
#pragma once

#include <cstdint>
#include <string>

namespace sluice {

// A random RFC 4122 version-4 UUID, lower-case with dashes. Thread-safe.
std::string NewUuid();

// A random 63-bit positive integer, for Iceberg snapshot ids. Thread-safe.
int64_t NewSnapshotId();

// A short random lower-case hex id of `length` characters (job ids, run branches).
std::string NewShortId(int length = 12);

}  // namespace sluice
