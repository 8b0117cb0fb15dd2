// Regressions the filter fuzzer found (fuzz/filter_fuzzer.cc, reproducers in
// fuzz/regressions/filter/), kept beside the parser they broke.
#include <gtest/gtest.h>

#include <arrow/api.h>

#include "data/filter_expression.h"

namespace sluice {
namespace {

std::shared_ptr<arrow::Schema> FuzzSchema() {
  return arrow::schema({arrow::field("a", arrow::int64()), arrow::field("b", arrow::utf8())});
}

// Bytes that are not UTF-8 reach libpg_query's JSON parse tree as they are, which
// nlohmann::json then refused with an exception that escaped ParseFilter (std::terminate).
TEST(FilterFuzzRegression, BytesThatAreNotUtf8AreAnErrorNotAnAbort) {
  for (const std::string& filter : {std::string("\xd4\n"), std::string("a > 3 AND b = \xff\xff\xff'x'"),
                                    std::string("b = '\xc3'"), std::string("\"\xfe\" > 1")}) {
    auto parsed = ParseFilter(filter, *FuzzSchema());
    EXPECT_FALSE(parsed.ok()) << filter;
    if (!parsed.ok()) {
      EXPECT_EQ(KindOf(parsed.status()), ErrorKind::kInvalidInput);
    }
    EXPECT_FALSE(FilterColumns(filter).ok()) << filter;
  }
}

// The same input, once caught, leaked libpg_query's parse result (LeakSanitizer): the
// result is now freed before the error returns. Checked by the ASan build (make asan).
TEST(FilterFuzzRegression, RepeatedBadFiltersDoNotLeak) {
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(FilterColumns("x = \xff").ok());
}

// A date outside what int64 nanoseconds hold wrapped around when bound to a nanosecond
// timestamp column, so the filter silently compared with another instant.
TEST(FilterFuzzRegression, ADateANanosecondTimestampCannotHoldIsAnError) {
  auto schema = arrow::schema({arrow::field("tsn", arrow::timestamp(arrow::TimeUnit::NANO))});
  auto parsed = ParseFilter("tsn BETWEEN '1011-01-01' AND '2020-01-01'", *schema);
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.status().message().find("1677 to 2262"), std::string::npos) << parsed.status().ToString();
  EXPECT_TRUE(ParseFilter("tsn BETWEEN '1970-01-01' AND '2020-01-01'", *schema).ok());
}

}  // namespace
}  // namespace sluice
