#include "format/partition_transform.h"

#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include "common/test_util.h"

namespace sluice {
namespace {

using nlohmann::json;

json Apply(const std::string& transform, const std::shared_ptr<arrow::DataType>& type, const std::string& values,
           int64_t i = 0) {
  auto t = PartitionTransform::Parse(transform);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  auto array = arrow::json::ArrayFromJSONString(type, values);
  EXPECT_TRUE(array.ok()) << array.status().ToString();
  auto result = t->Apply(**array, i);
  EXPECT_TRUE(result.ok()) << result.status().ToString();
  return result.ok() ? *result : json("error");
}

// The hash test vectors of the Iceberg spec (Appendix B, "32-bit Hash Requirements").
TEST(PartitionTransformTest, BucketHashesMatchTheSpecTestVectors) {
  auto bucket_hash = [](const std::shared_ptr<arrow::DataType>& type, const std::string& values) {
    // bucket[2147483647] of a hash h >= 0 is h itself; the spec's vectors include negative
    // hashes, so compare the raw hash through Murmur3Hash32 where the form is plain bytes.
    return Apply("bucket[2147483647]", type, values).get<int64_t>();
  };
  auto positive = [](int32_t h) { return static_cast<int64_t>((h & 0x7FFFFFFF) % 2147483647); };
  EXPECT_EQ(bucket_hash(arrow::int32(), "[34]"), positive(2017239379));
  EXPECT_EQ(bucket_hash(arrow::int64(), "[34]"), positive(2017239379));
  EXPECT_EQ(bucket_hash(arrow::date32(), "[17486]"), positive(-653330422));                              // 2017-11-16
  EXPECT_EQ(bucket_hash(arrow::time64(arrow::TimeUnit::MICRO), "[81068000000]"), positive(-662762989));  // 22:31:08
  EXPECT_EQ(bucket_hash(arrow::timestamp(arrow::TimeUnit::MICRO), "[\"2017-11-16 22:31:08\"]"), positive(-2047944441));
  EXPECT_EQ(bucket_hash(arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"), "[\"2017-11-16 22:31:08\"]"),
            positive(-2047944441));  // 2017-11-16T14:31:08-08:00
  EXPECT_EQ(bucket_hash(arrow::timestamp(arrow::TimeUnit::NANO), "[\"2017-11-16 22:31:08\"]"),
            positive(-2047944441));  // any unit hashes as microseconds
  EXPECT_EQ(bucket_hash(arrow::utf8(), R"(["iceberg"])"), positive(1210000089));
  EXPECT_EQ(bucket_hash(arrow::binary(), R"(["\u0000\u0001\u0002\u0003"])"), positive(-188683207));
  EXPECT_EQ(bucket_hash(arrow::decimal128(4, 2), R"(["14.20"])"), positive(-500754589));
  const uint8_t uuid[] = {0xf7, 0x9c, 0x3e, 0x09, 0x67, 0x7c, 0x4b, 0xbd,
                          0xa4, 0x79, 0x3f, 0x34, 0x9c, 0xb7, 0x85, 0xe7};
  EXPECT_EQ(Murmur3Hash32(uuid, sizeof(uuid)), 1488055340);
  const uint8_t fixed[] = {0, 1, 2, 3};
  EXPECT_EQ(Murmur3Hash32(fixed, 4), -188683207);
  EXPECT_EQ(Apply("bucket[8]", arrow::int64(), "[34]"), 2017239379 % 8);
  EXPECT_TRUE(Apply("bucket[8]", arrow::int64(), "[null]").is_null());
}

TEST(PartitionTransformTest, TimeTransformsCountFromTheEpoch) {
  auto ts = arrow::timestamp(arrow::TimeUnit::MICRO);
  EXPECT_EQ(Apply("day", ts, R"(["2017-11-16 22:31:08"])"), 17486);
  EXPECT_EQ(Apply("day", ts, R"(["1969-12-31 23:59:59"])"), -1);  // floor, not toward zero
  EXPECT_EQ(Apply("hour", ts, R"(["1970-01-01 01:00:00"])"), 1);
  EXPECT_EQ(Apply("hour", ts, R"(["1969-12-31 23:30:00"])"), -1);
  EXPECT_EQ(Apply("month", ts, R"(["2017-11-16 22:31:08"])"), (2017 - 1970) * 12 + 10);
  EXPECT_EQ(Apply("month", ts, R"(["1969-12-31 23:59:59"])"), -1);
  EXPECT_EQ(Apply("year", ts, R"(["2017-11-16 22:31:08"])"), 47);
  EXPECT_EQ(Apply("year", ts, R"(["1969-01-01 00:00:00"])"), -1);
  EXPECT_EQ(Apply("year", arrow::date32(), "[17486]"), 47);
  EXPECT_EQ(Apply("day", arrow::date32(), "[17486]"), 17486);
  EXPECT_EQ(Apply("month", arrow::date32(), "[-1]"), -1);
  EXPECT_EQ(Apply("month", arrow::date32(), "[0]"), 0);
  EXPECT_EQ(Apply("day", arrow::timestamp(arrow::TimeUnit::MILLI, "UTC"), R"(["2024-03-01 00:00:00"])"), 19783);
}

// The truncate examples of the spec ("Truncate Transform Details").
TEST(PartitionTransformTest, TruncateMatchesTheSpec) {
  EXPECT_EQ(Apply("truncate[10]", arrow::int32(), "[1]"), 0);
  EXPECT_EQ(Apply("truncate[10]", arrow::int32(), "[-1]"), -10);
  EXPECT_EQ(Apply("truncate[10]", arrow::int64(), "[1]"), 0);
  EXPECT_EQ(Apply("truncate[10]", arrow::int64(), "[-1]"), -10);
  EXPECT_EQ(Apply("truncate[3]", arrow::utf8(), R"(["iceberg"])"), "ice");
  EXPECT_EQ(Apply("truncate[2]", arrow::utf8(), R"(["äöü"])"), "äö");  // code points, not bytes
  EXPECT_EQ(Apply("identity", arrow::utf8(), R"(["Queens"])"), "Queens");
  EXPECT_EQ(Apply("identity", arrow::boolean(), "[true]"), true);
}

TEST(PartitionTransformTest, BadTransformsAndSourcesAreClearErrors) {
  for (const char* bad : {"bucket[0]", "bucket[]", "truncate[-1]", "bucket", "days", "bucket[x]"}) {
    auto parsed = PartitionTransform::Parse(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(parsed.status().message().find(bad), std::string::npos) << parsed.status().message();
  }
  ASSERT_OK_AND_ASSIGN(auto hour, PartitionTransform::Parse("hour"));
  auto st = hour.CheckSource(*arrow::int64(), "PULocationID");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("'PULocationID' is int64"), std::string::npos) << st.message();
  ASSERT_OK_AND_ASSIGN(auto bucket, PartitionTransform::Parse("bucket[8]"));
  EXPECT_FALSE(bucket.CheckSource(*arrow::float64(), "fare").ok());
  EXPECT_TRUE(bucket.CheckSource(*arrow::int64(), "PULocationID").ok());
  EXPECT_EQ(bucket.ResultType("long"), "int");
  ASSERT_OK_AND_ASSIGN(auto day, PartitionTransform::Parse("day"));
  EXPECT_EQ(day.ResultType("timestamptz"), "date");
}

TEST(PartitionTransformTest, SingleValueBytesAreLittleEndian) {
  ASSERT_OK_AND_ASSIGN(std::string four, SingleValueBytes(json(1), "int"));
  EXPECT_EQ(four, std::string("\x01\x00\x00\x00", 4));
  ASSERT_OK_AND_ASSIGN(std::string eight, SingleValueBytes(json(-1), "long"));
  EXPECT_EQ(eight, std::string(8, '\xff'));
  ASSERT_OK_AND_ASSIGN(std::string text, SingleValueBytes(json("ice"), "string"));
  EXPECT_EQ(text, "ice");
}

}  // namespace
}  // namespace sluice
