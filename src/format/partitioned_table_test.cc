#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include <set>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/subprocess.h"
#include "common/test_util.h"
#include "format/iceberg_table.h"
#include "format/partition_transform.h"
#include "format/table_metadata.h"

namespace sluice {
namespace {

using nlohmann::json;

// NYC-taxi-shaped rows: three days, six pickup zones, one row per (day, zone, k).
std::shared_ptr<arrow::Table> Taxi(int days = 3, int zones = 6, int per = 2) {
  auto schema = arrow::schema({arrow::field("tpep_pickup_datetime", arrow::timestamp(arrow::TimeUnit::MICRO)),
                               arrow::field("PULocationID", arrow::int64()), arrow::field("fare", arrow::float64())});
  arrow::TimestampBuilder at(schema->field(0)->type(), arrow::default_memory_pool());
  arrow::Int64Builder zone;
  arrow::DoubleBuilder fare;
  const int64_t day0 = 19723LL * 86400 * 1000000;  // 2024-01-01
  for (int d = 0; d < days; ++d) {
    for (int z = 0; z < zones; ++z) {
      for (int k = 0; k < per; ++k) {
        EXPECT_TRUE(at.Append(day0 + d * 86400LL * 1000000 + (k + 1) * 3600LL * 1000000).ok());
        EXPECT_TRUE(zone.Append(100 + z).ok());
        EXPECT_TRUE(fare.Append(d * 10 + z + k / 10.0).ok());
      }
    }
  }
  return arrow::Table::Make(schema, {*at.Finish(), *zone.Finish(), *fare.Finish()});
}

class PartitionedTableTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = "/tmp/sluice-partitioned-test-" + NewShortId(8); }
  void TearDown() override {
    if (!getenv("KEEP")) ASSERT_OK(RemoveAll(dir_));
  }
  // pyiceberg's plan for `filter`: "<files planned> <rows read>".
  std::string PyicebergPlan(const std::string& metadata_location, const std::string& filter) {
    SubprocessOptions options;
    options.argv = {SLUICE_TEST_PYTHON, "-c",
                    "import sys\n"
                    "from pyiceberg.table import StaticTable\n"
                    "t = StaticTable.from_metadata(sys.argv[1])\n"
                    "scan = t.scan(row_filter=sys.argv[2])\n"
                    "print(len(list(scan.plan_files())), scan.to_arrow().num_rows)\n",
                    metadata_location, filter};
    auto result = RunSubprocess(options);
    EXPECT_TRUE(result.ok());
    EXPECT_EQ(result->exit_code, 0) << result->stderr_text;
    return result->stdout_text;
  }
  std::string dir_;
};

TEST_F(PartitionedTableTest, WritesOneFilePerPartitionWithItsTuple) {
  TableWriteOptions options;
  options.table_location = "file://" + dir_ + "/taxi";
  options.partition_spec = {{"tpep_pickup_datetime", "day", "tpep_pickup_datetime_day"},
                            {"PULocationID", "bucket[8]", "PULocationID_bucket"}};
  auto taxi = Taxi();
  ASSERT_OK_AND_ASSIGN(std::string v0, WriteTableSnapshot(taxi, options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s0, LoadTableSnapshot(v0));
  EXPECT_EQ(s0.total_records, 36);
  ASSERT_EQ(s0.partitions.size(), 2u);
  ASSERT_OK_AND_ASSIGN(auto bucket, PartitionTransform::Parse("bucket[8]"));
  std::set<std::pair<int64_t, int64_t>> expected;
  for (int d = 0; d < 3; ++d) {
    for (int z = 0; z < 6; ++z) {
      ASSERT_OK_AND_ASSIGN(json b, bucket.Apply(arrow::Int64Scalar(100 + z)));
      expected.insert({19723 + d, b.get<int64_t>()});
    }
  }
  std::set<std::pair<int64_t, int64_t>> seen;
  int64_t rows = 0;
  for (const auto& file : s0.data_files) {
    ASSERT_TRUE(file.partition.contains("tpep_pickup_datetime_day")) << file.partition.dump();
    std::pair<int64_t, int64_t> tuple{file.partition["tpep_pickup_datetime_day"].get<int64_t>(),
                                      file.partition["PULocationID_bucket"].get<int64_t>()};
    EXPECT_TRUE(seen.insert(tuple).second) << "two files for one partition";
    rows += file.record_count;
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(rows, 36);

  // pyiceberg prunes by the partition tuples and the manifest list's summaries.
  EXPECT_EQ(PyicebergPlan(v0,
                          "tpep_pickup_datetime >= '2024-01-02T00:00:00' and "
                          "tpep_pickup_datetime < '2024-01-03T00:00:00'"),
            std::to_string(expected.size() / 3) + " 12\n");
  EXPECT_EQ(PyicebergPlan(v0, "PULocationID = 103"), "3 6\n");
  EXPECT_EQ(PyicebergPlan(v0, "fare > 0"), std::to_string(expected.size()) + " 35\n");

  // An append adds files of the same spec; both snapshots read back.
  options.previous_metadata_location = v0;
  ASSERT_OK_AND_ASSIGN(std::string v1, WriteTableSnapshot(Taxi(1, 1, 1), options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s1, LoadTableSnapshot(v1));
  EXPECT_EQ(s1.total_records, 37);
  EXPECT_EQ(s1.data_files.size(), expected.size() + 1);
  EXPECT_EQ(PyicebergPlan(v1, "PULocationID = 100"), "4 7\n");
}

TEST_F(PartitionedTableTest, TwoOverwritesOfOneBaseConflictEvenWhenTheyDeleteNothing) {
  // A retried OVERWRITE_PARTITIONS run beside the first: both write day 4 for the first time.
  // Merged as appends, that day's rows would be there twice.
  TableWriteOptions options;
  options.table_location = "file://" + dir_ + "/taxi";
  options.partition_spec = {{"tpep_pickup_datetime", "day", "day"}};
  ASSERT_OK_AND_ASSIGN(std::string base, WriteTableSnapshot(Taxi(3), options));
  options.previous_metadata_location = base;
  options.mode = WriteMode::kOverwrite;
  auto day4 = Taxi(4)->Slice(36);  // the 4th day's rows only
  ASSERT_OK_AND_ASSIGN(std::string ours, WriteTableSnapshot(day4, options));
  ASSERT_OK_AND_ASSIGN(std::string theirs, WriteTableSnapshot(day4, options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot written, LoadTableSnapshot(ours));
  EXPECT_EQ(written.history.front().operation, "overwrite");
  ASSERT_OK_AND_ASSIGN(auto merged, MergeAppends(base, ours, theirs));
  EXPECT_FALSE(merged.has_value());
}

TEST_F(PartitionedTableTest, AnAppendWritesIntoTheColumnItsNameResolvesTo) {
  // A model returning `pulocationid` into a table of PULocationID (mixed case, as NYC's data
  // has it) appends to that column, as it reads it, rather than adding a second one.
  TableWriteOptions options;
  options.table_location = "file://" + dir_ + "/taxi";
  ASSERT_OK_AND_ASSIGN(std::string v0, WriteTableSnapshot(Taxi(1), options));
  options.previous_metadata_location = v0;
  auto lower = Taxi(1);
  ASSERT_OK_AND_ASSIGN(lower, lower->RenameColumns({"TPEP_PICKUP_DATETIME", "pulocationid", "fare"}));
  ASSERT_OK_AND_ASSIGN(std::string v1, WriteTableSnapshot(lower, options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s1, LoadTableSnapshot(v1));
  EXPECT_EQ(s1.schema->field_names(), (std::vector<std::string>{"tpep_pickup_datetime", "PULocationID", "fare"}));
  EXPECT_EQ(s1.total_records, 24);
  // Two of the data's columns that are one column of the table: refused, naming them.
  ASSERT_OK_AND_ASSIGN(auto both, Taxi(1)->AddColumn(3, arrow::field("pulocationid", arrow::int64()),
                                                     Taxi(1)->GetColumnByName("PULocationID")));
  auto refused = WriteTableSnapshot(both, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("'pulocationid' and 'PULocationID'"), std::string::npos)
      << refused.status().message();
}

TEST_F(PartitionedTableTest, NullsAndIdentityPartitions) {
  TableWriteOptions options;
  options.table_location = "file://" + dir_ + "/zones";
  options.partition_spec = {{"zone", "identity", "zone"}, {"PULocationID", "truncate[10]", "PULocationID_trunc"}};
  auto schema = arrow::schema({arrow::field("zone", arrow::utf8()), arrow::field("PULocationID", arrow::int64())});
  auto table = arrow::Table::Make(
      schema, {*arrow::json::ArrayFromJSONString(arrow::utf8(), R"(["Queens", null, "Queens", "Bronx"])"),
               *arrow::json::ArrayFromJSONString(arrow::int64(), "[1, 2, 15, -3]")});
  ASSERT_OK_AND_ASSIGN(std::string v0, WriteTableSnapshot(table, options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s0, LoadTableSnapshot(v0));
  std::set<std::string> tuples;
  for (const auto& file : s0.data_files) tuples.insert(file.partition.dump());
  EXPECT_EQ(tuples,
            (std::set<std::string>{
                R"({"PULocationID_trunc":0,"zone":"Queens"})", R"({"PULocationID_trunc":0,"zone":null})",
                R"({"PULocationID_trunc":10,"zone":"Queens"})", R"({"PULocationID_trunc":-10,"zone":"Bronx"})"}));
  EXPECT_EQ(PyicebergPlan(v0, "zone = 'Queens'"), "2 2\n");
  EXPECT_EQ(PyicebergPlan(v0, "zone is null"), "1 1\n");
}

TEST_F(PartitionedTableTest, ATransformOnAWrongTypeIsRefused) {
  TableWriteOptions options;
  options.table_location = "file://" + dir_ + "/bad";
  options.partition_spec = {{"fare", "bucket[4]", "fare_bucket"}};
  auto written = WriteTableSnapshot(Taxi(), options);
  ASSERT_FALSE(written.ok());
  EXPECT_NE(written.status().message().find("'fare' is double"), std::string::npos) << written.status().message();
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST_F(PartitionedTableTest, AppendsEvolveTheSchema) {
  TableWriteOptions options;
  options.table_location = "file://" + dir_ + "/evolving";
  auto first = arrow::Table::Make(
      arrow::schema({arrow::field("PULocationID", arrow::int32()), arrow::field("fare", arrow::float32())}),
      {*arrow::json::ArrayFromJSONString(arrow::int32(), "[1, 2]"),
       *arrow::json::ArrayFromJSONString(arrow::float32(), "[1.5, 2.5]")});
  ASSERT_OK_AND_ASSIGN(std::string v0, WriteTableSnapshot(first, options));
  options.previous_metadata_location = v0;
  auto second =
      arrow::Table::Make(arrow::schema({arrow::field("PULocationID", arrow::int64()),
                                        arrow::field("fare", arrow::float64()), arrow::field("tip", arrow::float64())}),
                         {*arrow::json::ArrayFromJSONString(arrow::int64(), "[3000000000]"),
                          *arrow::json::ArrayFromJSONString(arrow::float64(), "[3.5]"),
                          *arrow::json::ArrayFromJSONString(arrow::float64(), "[0.5]")});
  ASSERT_OK_AND_ASSIGN(std::string v1, WriteTableSnapshot(second, options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s1, LoadTableSnapshot(v1));
  EXPECT_EQ(s1.schema->ToString(), "PULocationID: int64\nfare: double\ntip: double");
  EXPECT_EQ(s1.total_records, 3);
  // pyiceberg reads the old file with the widened types and the new column as NULL.
  SubprocessOptions read;
  read.argv = {SLUICE_TEST_PYTHON, "-c",
               "import sys\n"
               "from pyiceberg.table import StaticTable\n"
               "t = StaticTable.from_metadata(sys.argv[1]).scan().to_arrow().sort_by('PULocationID')\n"
               "print(t.to_pylist())\n",
               v1};
  auto result = RunSubprocess(read);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->exit_code, 0) << result->stderr_text;
  EXPECT_EQ(result->stdout_text,
            "[{'PULocationID': 1, 'fare': 1.5, 'tip': None}, {'PULocationID': 2, 'fare': 2.5, 'tip': None}, "
            "{'PULocationID': 3000000000, 'fare': 3.5, 'tip': 0.5}]\n");

  // Any other change is refused, naming the column and both types.
  options.previous_metadata_location = v1;
  auto bad = arrow::Table::Make(arrow::schema({arrow::field("fare", arrow::utf8())}),
                                {*arrow::json::ArrayFromJSONString(arrow::utf8(), R"(["x"])")});
  auto refused = WriteTableSnapshot(bad, options);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("column 'fare' is string in the data and double in the table"),
            std::string::npos)
      << refused.status().message();
  // A narrower type is written as the table's (long stays long).
  auto narrow = arrow::Table::Make(arrow::schema({arrow::field("PULocationID", arrow::int32())}),
                                   {*arrow::json::ArrayFromJSONString(arrow::int32(), "[7]")});
  ASSERT_OK_AND_ASSIGN(std::string v2, WriteTableSnapshot(narrow, options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s2, LoadTableSnapshot(v2));
  EXPECT_EQ(s2.schema->ToString(), s1.schema->ToString());
  EXPECT_EQ(s2.total_records, 4);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

// A REST commit whose manifest gives a table's file a partition tuple its rows do not have
// (so that scans would skip it wrongly) is refused; the honest tuple is accepted.
TEST_F(PartitionedTableTest, ACommitWithAForgedPartitionTupleIsRefused) {
  TableWriteOptions options;
  options.table_location = "file://" + dir_ + "/taxi";
  options.partition_spec = {{"tpep_pickup_datetime", "day", "tpep_pickup_datetime_day"}};
  ASSERT_OK_AND_ASSIGN(std::string v0, WriteTableSnapshot(Taxi(2, 1, 1), options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s0, LoadTableSnapshot(v0));
  ASSERT_OK_AND_ASSIGN(TableMetadata metadata, ReadTableMetadataFile(v0));
  ASSERT_EQ(s0.data_files.size(), 2u);
  auto commit = [&](json tuple, int copies = 1, std::string total = "2") -> Result<std::string> {
    ManifestEntry entry;
    entry.status = EntryStatus::kAdded;
    entry.snapshot_id = 77;
    entry.file = s0.data_files[0];
    entry.file.partition = std::move(tuple);
    std::vector<ManifestEntry> entries(copies, entry);
    SLUICE_ASSIGN_OR_RAISE(json manifest, WriteManifest(metadata.location, *metadata.current_schema(),
                                                        *metadata.default_spec(), 77, 5, entries));
    SLUICE_ASSIGN_OR_RAISE(std::string list, WriteManifestList(metadata.location, 77, std::nullopt, 5, {manifest}));
    json updates =
        json::array({{{"action", "add-snapshot"},
                      {"snapshot",
                       {{"snapshot-id", 77},
                        {"sequence-number", 5},
                        {"timestamp-ms", 1},
                        {"manifest-list", list},
                        {"summary", {{"operation", "overwrite"}, {"total-records", total}}}}}},
                     {{"action", "set-snapshot-ref"}, {"ref-name", "main"}, {"type", "branch"}, {"snapshot-id", 77}}});
    return CommitTableUpdates(v0, json::array(), updates);
  };
  json honest = s0.data_files[0].partition;
  json forged = honest;
  forged["tpep_pickup_datetime_day"] = honest["tpep_pickup_datetime_day"].get<int64_t>() + 100;
  auto refused = commit(forged);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("its manifest says"), std::string::npos) << refused.status().message();
  auto wrong_type = commit({{"tpep_pickup_datetime_day", "yesterday"}});
  ASSERT_FALSE(wrong_type.ok());
  // One file listed thousands of times: refused at the second, not read thousands of times.
  auto repeated = commit(honest, 5000);
  ASSERT_FALSE(repeated.ok());
  EXPECT_NE(repeated.status().message().find("twice"), std::string::npos) << repeated.status().message();
  // A count in the summary that is not a number would make the table's history unreadable.
  for (const char* total : {"-", "lots"}) {
    auto forged_count = commit(honest, 1, total);
    ASSERT_FALSE(forged_count.ok()) << total;
    EXPECT_NE(forged_count.status().message().find("not a number"), std::string::npos);
  }
  ASSERT_OK_AND_ASSIGN(std::string v1, commit(honest));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s1, LoadTableSnapshot(v1));
  EXPECT_EQ(s1.data_files.size(), 1u);
}

}  // namespace
}  // namespace sluice

namespace sluice {
namespace {

TEST_F(PartitionedTableTest, AReplaceWithoutThePartitionColumnGoesOnUnpartitioned) {
  TableWriteOptions options;
  options.table_location = "file://" + dir_ + "/taxi";
  options.partition_spec = {{"tpep_pickup_datetime", "day", "tpep_pickup_datetime_day"}};
  ASSERT_OK_AND_ASSIGN(std::string v0, WriteTableSnapshot(Taxi(2, 1, 1), options));
  options.previous_metadata_location = v0;
  options.mode = WriteMode::kReplace;
  auto zones = arrow::Table::Make(arrow::schema({arrow::field("PULocationID", arrow::int64())}),
                                  {*arrow::json::ArrayFromJSONString(arrow::int64(), "[1, 2]")});
  ASSERT_OK_AND_ASSIGN(std::string v1, WriteTableSnapshot(zones, options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s1, LoadTableSnapshot(v1));
  EXPECT_TRUE(s1.partitions.empty());
  EXPECT_EQ(s1.total_records, 2);
  ASSERT_OK_AND_ASSIGN(TableSnapshot s0, LoadTableSnapshot(v0));
  EXPECT_EQ(s0.total_records, 2);
  EXPECT_EQ(s0.partitions.size(), 1u);
}

}  // namespace
}  // namespace sluice
