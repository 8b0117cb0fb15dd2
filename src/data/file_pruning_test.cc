#include "data/file_pruning.h"

#include <gtest/gtest.h>

#include "common/test_util.h"
#include "format/partition_transform.h"

namespace sluice {
namespace {

using nlohmann::json;

class FilePruningTest : public ::testing::Test {
 protected:
  void SetUp() override {
    schema_ = arrow::schema({arrow::field("tpep_pickup_datetime", arrow::timestamp(arrow::TimeUnit::MICRO)),
                             arrow::field("PULocationID", arrow::int64()), arrow::field("zone", arrow::utf8()),
                             arrow::field("fare", arrow::float64())});
    specs_[0] = {
        {"tpep_pickup_datetime", "day", "day"}, {"PULocationID", "bucket[8]", "bucket"}, {"zone", "identity", "zone"}};
    specs_[1] = {};  // files of an older, unpartitioned spec
  }
  int64_t Bucket(int64_t zone) {
    auto t = *PartitionTransform::Parse("bucket[8]");
    return (*t.Apply(arrow::Int64Scalar(zone))).get<int64_t>();
  }
  DataFile File(const std::string& name, json tuple, int spec = 0) {
    DataFile f;
    f.path = name;
    f.spec_id = spec;
    f.partition = std::move(tuple);
    return f;
  }
  // The names of the files kept for `filter`.
  std::string Kept(const std::vector<DataFile>& files, const std::string& filter) {
    auto kept = DataFilesToRead(files, specs_, *schema_, filter);
    EXPECT_TRUE(kept.ok()) << kept.status().ToString();
    std::string out;
    for (const auto& f : kept.ok() ? *kept : std::vector<DataFile>{}) out += (out.empty() ? "" : ",") + f.path;
    return out;
  }
  std::vector<DataFile> Files() {
    // 2024-01-01 is day 19723.
    return {File("a", {{"day", 19723}, {"bucket", Bucket(100)}, {"zone", "Queens"}}),
            File("b", {{"day", 19724}, {"bucket", Bucket(100)}, {"zone", "Queens"}}),
            File("c", {{"day", 19725}, {"bucket", Bucket(132)}, {"zone", "Bronx"}}),
            File("n", {{"day", nullptr}, {"bucket", nullptr}, {"zone", nullptr}}), File("old", json::object(), 1)};
  }
  std::shared_ptr<arrow::Schema> schema_;
  PartitionSpecs specs_;
};

TEST_F(FilePruningTest, TimeRangesProjectOntoDays) {
  auto files = Files();
  EXPECT_EQ(Kept(files, "tpep_pickup_datetime >= '2024-01-02' AND tpep_pickup_datetime < '2024-01-03'"), "b,old");
  EXPECT_EQ(Kept(files, "tpep_pickup_datetime > '2024-01-02 23:00:00'"), "b,c,old");
  EXPECT_EQ(Kept(files, "tpep_pickup_datetime BETWEEN '2024-01-01' AND '2024-01-01 12:00'"), "a,old");
  EXPECT_EQ(Kept(files, "'2024-01-03' <= tpep_pickup_datetime"), "c,old");  // literal on the left
  EXPECT_EQ(Kept(files, "NOT (tpep_pickup_datetime < '2024-01-03')"), "c,old");
  EXPECT_EQ(Kept(files, ""), "a,b,c,n,old");
}

TEST_F(FilePruningTest, BucketsIdentityNullsInAndOr) {
  auto files = Files();
  EXPECT_EQ(Kept(files, "PULocationID = 132"), Bucket(132) == Bucket(100) ? "a,b,c,old" : "c,old");
  EXPECT_EQ(Kept(files, "PULocationID > 1"), "a,b,c,old");  // buckets keep no order
  EXPECT_EQ(Kept(files, "zone = 'Bronx'"), "c,old");
  EXPECT_EQ(Kept(files, "zone <> 'Queens'"), "c,old");
  EXPECT_EQ(Kept(files, "zone IN ('Bronx', 'Harlem')"), "c,old");
  EXPECT_EQ(Kept(files, "zone NOT IN ('Bronx')"), "a,b,c,n,old");  // not projected: kept
  EXPECT_EQ(Kept(files, "zone IS NULL"), "n,old");
  EXPECT_EQ(Kept(files, "zone IS NOT NULL"), "a,b,c,old");
  EXPECT_EQ(Kept(files, "zone = 'Bronx' OR tpep_pickup_datetime < '2024-01-02'"), "a,c,old");
  EXPECT_EQ(Kept(files, "zone = 'Bronx' AND fare > 3"), "c,old");
  EXPECT_EQ(Kept(files, "fare > 3"), "a,b,c,n,old");  // not a partition source
  EXPECT_EQ(Kept(files, "zone LIKE 'Q%'"), "a,b,c,n,old");
}

// A tuple a hostile metadata file made up (wrong types, missing fields, unknown specs) never
// makes a file skipped that the filter could match, and never crashes.
TEST_F(FilePruningTest, ForgedTuplesKeepTheirFiles) {
  std::vector<DataFile> files = {
      File("string-day", {{"day", "2024-01-02"}}), File("missing", json::object()),
      File("array", json::array({1, 2})),          File("binary", {{"day", json::binary({1, 2})}}),
      File("unknown-spec", {{"day", 1}}, 42),      File("huge", {{"day", 18446744073709551615ULL}})};
  EXPECT_EQ(Kept(files, "tpep_pickup_datetime >= '2024-01-02'"), "string-day,missing,array,binary,unknown-spec,huge");
  auto bad = DataFilesToRead(files, specs_, *schema_, "nope = 1");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("nope"), std::string::npos);
}

}  // namespace
}  // namespace sluice
