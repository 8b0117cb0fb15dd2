// Iceberg partition transforms (identity, year, month, day, hour, bucket[N], truncate[W],
// void) with the spec's exact semantics: year/month/day/hour count from the Unix epoch
// (1970-01-01, UTC), bucket[N] is (murmur3_x86_32 of the value's spec'd bytes & INT_MAX) % N,
// truncate[W] rounds integers toward negative infinity and keeps the first W characters of a
// string (W bytes of binary). Values are nlohmann::json as manifests hold them: integers,
// strings, booleans, doubles, binary; null stays null.
#pragma once

#include <cstdint>
#include <string>

#include <arrow/api.h>
#include <nlohmann/json.hpp>

#include "common/status.h"

namespace sluice {

class PartitionTransform {
 public:
  enum class Kind { kIdentity, kYear, kMonth, kDay, kHour, kBucket, kTruncate, kVoid };

  // "identity", "day", "bucket[16]", "truncate[4]", ...; InvalidInput names an unknown
  // transform or a width that is not a positive number.
  static Result<PartitionTransform> Parse(const std::string& text);

  Kind kind() const { return kind_; }
  int param() const { return param_; }  // N of bucket[N], W of truncate[W]; 0 otherwise
  std::string ToString() const;

  // Whether the transform keeps order (a <= b implies t(a) <= t(b)): all but bucket and void.
  bool preserves_order() const { return kind_ != Kind::kBucket && kind_ != Kind::kVoid; }

  // InvalidInput (naming `column` and its type) when the transform does not apply to
  // values of `type` (an Arrow type as written to Parquet, see iceberg_schema.h).
  Status CheckSource(const arrow::DataType& type, const std::string& column) const;

  // The Iceberg type of the result for a source Iceberg type ("int" for year/month/hour and
  // bucket, "date" for day, the source type for identity and truncate).
  std::string ResultType(const std::string& source_type) const;

  // The transform of row `i` of `values` (null for a null value or for void).
  Result<nlohmann::json> Apply(const arrow::Array& values, int64_t i) const;
  // The same for one value.
  Result<nlohmann::json> Apply(const arrow::Scalar& value) const;

 private:
  PartitionTransform(Kind kind, int param) : kind_(kind), param_(param) {}
  Kind kind_;
  int param_;
};

// MurmurHash3 x86 32-bit with seed 0, as Iceberg's bucket transform uses it.
int32_t Murmur3Hash32(const void* data, size_t size);

// A partition value in Iceberg's single-value binary form (manifest list bounds): int/date
// 4 bytes little-endian, long/timestamp 8, float/double IEEE little-endian, string UTF-8,
// boolean one byte, binary as is. `type` is the value's Iceberg type.
Result<std::string> SingleValueBytes(const nlohmann::json& value, const std::string& type);

// The Avro schema of a partition value of Iceberg type `type` (manifest entry "partition").
nlohmann::json AvroTypeOfPartitionValue(const std::string& type);

}  // namespace sluice
