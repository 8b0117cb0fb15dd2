#include "exec/sql_pushdown.h"

#include <gtest/gtest.h>

#include "common/test_util.h"

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

}  // namespace
}  // namespace sluice
