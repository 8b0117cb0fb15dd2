// Fuzz target: the model input filter parser (data/filter_expression.h): a bauplan filter
// string ("a > 3 AND b = 'x'") parsed with libpg_query and bound to a schema.
// Input: the filter text. Both entry points run: ParseFilter against a schema with one
// column of each type a filter can meet, and FilterColumns (no schema).
#include <cstddef>
#include <cstdint>
#include <string>

#include <arrow/api.h>

#include "data/filter_expression.h"

namespace {

const arrow::Schema& FuzzSchema() {
  static const auto schema = arrow::schema({
      arrow::field("a", arrow::int64()),
      arrow::field("b", arrow::utf8()),
      arrow::field("c", arrow::float64()),
      arrow::field("d", arrow::date32()),
      arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO)),
      arrow::field("tsn", arrow::timestamp(arrow::TimeUnit::NANO, "UTC")),
      arrow::field("tss", arrow::timestamp(arrow::TimeUnit::SECOND)),
      arrow::field("d64", arrow::date64()),
      arrow::field("flag", arrow::boolean()),
      arrow::field("i32", arrow::int32()),
      arrow::field("u8", arrow::uint8()),
      arrow::field("Mixed_Case", arrow::int16()),
      arrow::field("dict", arrow::dictionary(arrow::int32(), arrow::utf8())),
      arrow::field("big", arrow::large_utf8()),
      arrow::field("bin", arrow::binary()),
      arrow::field("dec", arrow::decimal128(10, 2)),
  });
  return *schema;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string filter(reinterpret_cast<const char*>(data), size);
  (void)sluice::ParseFilter(filter, FuzzSchema());
  (void)sluice::FilterColumns(filter);
  return 0;
}
