#include "exec/lakehouse.h"

#include <arrow/compute/initialize.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"
#include "exec/table_creation.h"
#include "exec/table_filter.h"
#include "exec/table_import.h"

namespace sluice {
namespace {

// Compute kernels live in libarrow_compute and are registered once per process.
const bool kComputeReady = arrow::compute::Initialize().ok();

const std::string kZones = std::string(SLUICE_SOURCE_DIR) + "/examples/taxi/data/taxi_zones.csv";
const std::string kTrips = std::string(SLUICE_SOURCE_DIR) + "/examples/taxi/data/taxi_trips.parquet";

class LakehouseTest : public ::testing::Test {
 protected:
  // `table create` then `table import`, as a user loads a table.
  Result<ImportResult> Load(const std::string& branch, const std::string& table, const std::string& uri) {
    TableCreateOptions create;
    create.table = table;
    create.branch = branch;
    create.search_uri = uri;
    create.author = "tester";
    SLUICE_RETURN_NOT_OK(CreateTable(*lake_, create).status());
    ImportOptions import;
    import.table = table;
    import.branch = branch;
    import.search_uri = uri;
    import.author = "tester";
    return ImportData(*lake_, import);
  }
  void SetUp() override {
    home_ = "/tmp/sluice-lakehouse-test-" + NewShortId(8);
    ASSERT_OK_AND_ASSIGN(lake_, Lakehouse::Open(home_));
    ASSERT_OK(lake_->catalog().CreateBranch("dev", "main"));
  }
  void TearDown() override {
    std::string shared_memory = lake_->objects().root();
    lake_.reset();
    ASSERT_OK(RemoveAll(home_));
    ASSERT_OK(RemoveAll(shared_memory));
  }
  std::string home_;
  std::unique_ptr<Lakehouse> lake_;
};

TEST(QualifyTableNameTest, BareQualifiedAndInvalid) {
  ASSERT_OK_AND_ASSIGN(auto bare, QualifyTableName("trips", "bauplan"));
  EXPECT_EQ(bare, "bauplan.trips");
  ASSERT_OK_AND_ASSIGN(auto qualified, QualifyTableName("raw.trips", "bauplan"));
  EXPECT_EQ(qualified, "raw.trips");
  EXPECT_FALSE(QualifyTableName("a.b.c", "bauplan").ok());
  EXPECT_FALSE(QualifyTableName(".b", "bauplan").ok());
  EXPECT_FALSE(QualifyTableName("", "bauplan").ok());
  EXPECT_FALSE(QualifyTableName("../etc", "bauplan").ok());
  EXPECT_FALSE(QualifyTableName("ns.a/b", "bauplan").ok());
  EXPECT_FALSE(QualifyTableName("x", "..").ok());
}

TEST_F(LakehouseTest, ImportsRefuseTheProtectedMainBranch) {
  auto result = Load("main", "bauplan.zones", kZones);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(KindOf(result.status()), ErrorKind::kConflict);
  EXPECT_NE(result.status().message().find("protected"), std::string::npos);
}

TEST_F(LakehouseTest, CreateHasNoRowsAndImportAppendsOnce) {
  ASSERT_OK_AND_ASSIGN(auto loaded, Load("dev", "bauplan.zones", kZones));
  EXPECT_EQ(loaded.rows, 12);
  ASSERT_OK_AND_ASSIGN(ResolvedRef dev, lake_->catalog().Resolve("dev"));
  ASSERT_OK_AND_ASSIGN(TableInfo info, lake_->GetTable(dev, "bauplan.zones"));
  EXPECT_EQ(info.snapshot.total_records, 12);
  // The same file again is skipped: it was imported already.
  ImportOptions again;
  again.table = "bauplan.zones";
  again.branch = "dev";
  again.search_uri = kZones;
  ASSERT_OK_AND_ASSIGN(auto skipped, ImportData(*lake_, again));
  EXPECT_EQ(skipped.rows, 0);
  EXPECT_FALSE(skipped.commit.has_value());
  again.import_duplicate_files = true;
  ASSERT_OK_AND_ASSIGN(auto twice, ImportData(*lake_, again));
  EXPECT_EQ(twice.rows, 12);
  ASSERT_OK_AND_ASSIGN(dev, lake_->catalog().Resolve("dev"));
  ASSERT_OK_AND_ASSIGN(info, lake_->GetTable(dev, "bauplan.zones"));
  EXPECT_EQ(info.snapshot.total_records, 24);
  ASSERT_OK_AND_ASSIGN(auto log, lake_->catalog().Log("dev"));
  EXPECT_EQ(log.size(), 4u);  // root, create, import, import again
  // main never saw it.
  ASSERT_OK_AND_ASSIGN(ResolvedRef main, lake_->catalog().Resolve("main"));
  EXPECT_FALSE(lake_->GetTable(main, "bauplan.zones").ok());
}

TEST_F(LakehouseTest, ImportIntoAMissingTableSaysCreateFirst) {
  ImportOptions import;
  import.table = "bauplan.zones";
  import.branch = "dev";
  import.search_uri = kZones;
  auto result = ImportData(*lake_, import);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(KindOf(result.status()), ErrorKind::kNotFound);
  EXPECT_NE(HintOf(result.status()).find("table create"), std::string::npos);
}

TEST_F(LakehouseTest, PartitionSpecIsRecorded) {
  TableCreateOptions create;
  create.table = "bauplan.trips";
  create.branch = "dev";
  create.search_uri = kTrips;
  create.partitioned_by = "DAY(pickup_at), zone_id";
  ASSERT_OK_AND_ASSIGN(auto created, CreateTable(*lake_, create));
  ASSERT_EQ(created.table.snapshot.partitions.size(), 2u);
  EXPECT_EQ(created.table.snapshot.partitions[0].transform, "day");
  EXPECT_EQ(created.table.snapshot.partitions[0].source_column, "pickup_at");
  EXPECT_EQ(created.table.snapshot.partitions[1].transform, "identity");
  create.table = "bauplan.bad";
  create.partitioned_by = "hour(zone_id)";
  auto bad = CreateTable(*lake_, create);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("zone_id"), std::string::npos);
}

TEST_F(LakehouseTest, ReadPushesColumnsAndFilterDown) {
  ASSERT_OK(Load("dev", "bauplan.trips", kTrips).status());
  ASSERT_OK_AND_ASSIGN(ResolvedRef dev, lake_->catalog().Resolve("dev"));
  ScanStats stats;
  TableReadOptions read{{"trip_id", "miles"}, "miles > 15"};
  ASSERT_OK_AND_ASSIGN(auto table, lake_->ReadTable(dev, "bauplan.trips", read, &stats));
  EXPECT_EQ(table->schema()->num_fields(), 2);
  EXPECT_EQ(table->schema()->field(0)->name(), "trip_id");
  // The same predicate over the whole table, applied in memory, selects the same rows.
  ASSERT_OK_AND_ASSIGN(auto all, lake_->ReadTable(dev, "bauplan.trips", {}, nullptr));
  ASSERT_OK_AND_ASSIGN(auto expected, FilterTable(all, {"trip_id", "miles"}, "miles > 15"));
  EXPECT_EQ(table->num_rows(), expected->num_rows());
  EXPECT_GT(table->num_rows(), 0);
  EXPECT_LT(table->num_rows(), all->num_rows());
  EXPECT_EQ(stats.rows_out, table->num_rows());
}

TEST_F(LakehouseTest, WriteTableIsInvisibleUntilCommitted) {
  ASSERT_OK(Load("dev", "bauplan.zones", kZones).status());
  ASSERT_OK_AND_ASSIGN(ResolvedRef dev, lake_->catalog().Resolve("dev"));
  ASSERT_OK_AND_ASSIGN(auto zones, lake_->ReadTable(dev, "bauplan.zones", {{"zone_id"}, "zone_id <= 3"}));
  ASSERT_OK_AND_ASSIGN(std::string location, lake_->WriteTable(dev.tree, "bauplan.small", zones, WriteMode::kReplace));
  ASSERT_OK_AND_ASSIGN(ResolvedRef still, lake_->catalog().Resolve("dev"));
  EXPECT_EQ(still.tree.tables.count("bauplan.small"), 0u);
  CommitRequest request;
  request.branch = "dev";
  request.changes["bauplan.small"] = location;
  request.author = "tester";
  request.message = "add small";
  ASSERT_OK(lake_->catalog().CommitChanges(request).status());
  ASSERT_OK_AND_ASSIGN(ResolvedRef after, lake_->catalog().Resolve("dev"));
  ASSERT_OK_AND_ASSIGN(TableInfo info, lake_->GetTable(after, "bauplan.small"));
  EXPECT_EQ(info.snapshot.total_records, 3);
}

TEST_F(LakehouseTest, MissingTableNamesTableAndRef) {
  ASSERT_OK_AND_ASSIGN(ResolvedRef dev, lake_->catalog().Resolve("dev"));
  auto info = lake_->GetTable(dev, "bauplan.nope");
  ASSERT_FALSE(info.ok());
  EXPECT_NE(info.status().message().find("bauplan.nope"), std::string::npos);
  EXPECT_NE(info.status().message().find("dev"), std::string::npos);
}

TEST(TableFilterTest, FiltersAndProjectsInMemory) {
  auto table = arrow::Table::Make(arrow::schema({arrow::field("a", arrow::int64()), arrow::field("b", arrow::utf8())}),
                                  {std::make_shared<arrow::ChunkedArray>(arrow::ArrayVector{
                                       *arrow::json::ArrayFromJSONString(arrow::int64(), "[1, 2, 3, 4]")}),
                                   std::make_shared<arrow::ChunkedArray>(arrow::ArrayVector{
                                       *arrow::json::ArrayFromJSONString(arrow::utf8(), R"(["w", "x", "y", "z"])")})});
  ASSERT_OK_AND_ASSIGN(auto out, FilterTable(table, {"b"}, "a >= 2 AND b <> 'z'"));
  EXPECT_EQ(out->num_rows(), 2);
  EXPECT_EQ(out->num_columns(), 1);
  auto bad = FilterTable(table, {"c"}, "");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("'c'"), std::string::npos);
}

}  // namespace
}  // namespace sluice
