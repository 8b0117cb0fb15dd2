#include "exec/sql_pushdown.h"

#include <gtest/gtest.h>

#include "common/test_util.h"
#include "exec/table_filter.h"

namespace sluice {
namespace {

std::shared_ptr<arrow::Schema> Taxi() {
  return arrow::schema({arrow::field("PULocationID", arrow::int64()), arrow::field("DOLocationID", arrow::int64()),
                        arrow::field("trip_miles", arrow::float64()),
                        arrow::field("tpep_pickup_datetime", arrow::timestamp(arrow::TimeUnit::MICRO))});
}

TEST(SqlPushdownTest, ReadsEveryFieldNamedInAnyCase) {
  SqlAnalysis analysis;
  analysis.columns = {"pulocationid", "TRIP_MILES", "t"};
  ASSERT_OK_AND_ASSIGN(auto columns, SqlScanColumns(*Taxi(), analysis));
  EXPECT_EQ(columns, (std::vector<std::string>{"PULocationID", "trip_miles"}));
}

TEST(SqlPushdownTest, StarAndCountStar) {
  SqlAnalysis star;
  star.uses_star = true;
  star.columns = {"PULocationID"};
  ASSERT_OK_AND_ASSIGN(auto all, SqlScanColumns(*Taxi(), star));
  EXPECT_TRUE(all.empty());
  SqlAnalysis count;
  ASSERT_OK_AND_ASSIGN(auto first, SqlScanColumns(*Taxi(), count));
  EXPECT_EQ(first, (std::vector<std::string>{"PULocationID"}));
}

TEST(SqlPushdownTest, NamesDuckDbCannotTellApartAreAnError) {
  auto schema = arrow::schema({arrow::field("Age", arrow::int64()), arrow::field("age", arrow::int64()),
                               arrow::field("Fare", arrow::float64())});
  SqlAnalysis analysis;
  analysis.columns = {"age"};
  auto result = SqlScanColumns(*schema, analysis);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("'Age', 'age'"), std::string::npos) << result.status().message();
  // Not naming them is fine.
  analysis.columns = {"Fare"};
  ASSERT_OK_AND_ASSIGN(auto fare, SqlScanColumns(*schema, analysis));
  EXPECT_EQ(fare, (std::vector<std::string>{"Fare"}));
}

TEST(SqlPushdownTest, OnlyConjunctsThatCompareAsDuckDbDoesReachTheScan) {
  auto schema = arrow::schema({arrow::field("PickupAt", arrow::timestamp(arrow::TimeUnit::MICRO)),
                               arrow::field("zone", arrow::utf8()), arrow::field("miles", arrow::float64()),
                               arrow::field("ratio", arrow::float32()), arrow::field("n", arrow::int32())});
  SqlAnalysis analysis;
  auto add = [&](std::string table, std::string column, std::string op,
                 std::vector<std::pair<std::string, std::string>> values) {
    analysis.filters.push_back({std::move(table), std::move(column), std::move(op), std::move(values)});
  };
  add("trips", "pickupat", ">=", {{"TIMESTAMP", "2024-01-15"}});  // the name rule finds PickupAt
  add("trips", "zone", "in", {{"VARCHAR", "it's"}, {"VARCHAR", "b"}});
  add("trips", "miles", "<", {{"DOUBLE", "2.5"}});
  add("trips", "n", ">", {{"INTEGER", "7"}});
  // Left to DuckDB: a double against a float32 column, a string against a number, a number
  // against a string, another table, an unknown column, a time that is not one.
  add("trips", "ratio", ">", {{"DOUBLE", "0.1"}});
  add("trips", "n", "=", {{"VARCHAR", "7"}});
  add("trips", "zone", "=", {{"INTEGER", "7"}});
  add("trips", "n", "<", {{"INTEGER", "99999999999"}});  // kept: compared by value (next test)
  add("zones", "zone", "=", {{"VARCHAR", "a"}});
  add("trips", "nope", "=", {{"INTEGER", "1"}});
  add("trips", "PickupAt", "<", {{"TIMESTAMP", "not a time"}});
  EXPECT_EQ(SqlScanFilter(*schema, analysis, "trips"),
            "\"PickupAt\" >= '2024-01-15' AND \"zone\" IN ('it''s', 'b') AND \"miles\" < 2.5 AND \"n\" > 7 AND \"n\" < "
            "99999999999");
  EXPECT_EQ(SqlScanFilter(*schema, analysis, "other"), "");
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST(SqlPushdownTest, QuotesInNamesAndLiteralsStayInside) {
  // A column named with a quote, a literal that tries to close its string and add a conjunct.
  auto schema = arrow::schema({arrow::field("we\"ird", arrow::utf8())});
  SqlAnalysis analysis;
  analysis.filters.push_back({"t", "we\"ird", "=", {{"VARCHAR", "x' OR 'a' = 'a"}}});
  std::string filter = SqlScanFilter(*schema, analysis, "t");
  EXPECT_EQ(filter, "\"we\"\"ird\" = 'x'' OR ''a'' = ''a'");
  auto table = arrow::Table::Make(schema, {*arrow::MakeArrayFromScalar(arrow::StringScalar("a"), 2)});
  ASSERT_OK_AND_ASSIGN(auto kept, FilterTable(table, {}, filter));
  EXPECT_EQ(kept->num_rows(), 0);  // one string compared, not a predicate that is always true
}

TEST(SqlPushdownTest, AnIntegerLiteralTooLargeForTheColumnKeepsItsValue) {
  auto table = arrow::Table::Make(arrow::schema({arrow::field("n", arrow::int32())}),
                                  {*arrow::MakeArrayFromScalar(arrow::Int32Scalar(5), 3)});
  ASSERT_OK_AND_ASSIGN(auto below, FilterTable(table, {}, "n < 99999999999"));
  EXPECT_EQ(below->num_rows(), 3);
  ASSERT_OK_AND_ASSIGN(auto above, FilterTable(table, {}, "n > 99999999999"));
  EXPECT_EQ(above->num_rows(), 0);
}

}  // namespace
}  // namespace sluice
