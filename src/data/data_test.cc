#include <arrow/compute/initialize.h>
#include <arrow/io/file.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>
#include <parquet/arrow/writer.h>
#include <sys/stat.h>

#include <unistd.h>
#include <filesystem>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"
#include "data/filter_expression.h"
#include "data/object_store.h"
#include "data/source_reader.h"
#include "data/table_scanner.h"

namespace sluice {
namespace {

// Compute kernels live in libarrow_compute and are registered once per process.
const bool kComputeReady = arrow::compute::Initialize().ok();

std::shared_ptr<arrow::Array> Json(const std::shared_ptr<arrow::DataType>& type, const std::string& text) {
  return *arrow::json::ArrayFromJSONString(type, text);
}

class DataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/sluice-data-test-" + NewShortId(8);
    ASSERT_OK(MakeDirs(dir_));
  }
  void TearDown() override { ASSERT_OK(RemoveAll(dir_)); }

  // 10 row groups of 100 rows: id 0..999 ascending, at = id seconds after 2024-01-01 UTC.
  std::string WriteSortedParquet() {
    arrow::Int64Builder ids, ats;
    arrow::StringBuilder names;
    for (int64_t i = 0; i < 1000; ++i) {
      EXPECT_OK(ids.Append(i));
      EXPECT_OK(ats.Append(1704067200000000LL + i * 1000000LL));
      EXPECT_OK(names.Append(i % 2 ? "odd" : "even"));
    }
    auto ts = arrow::timestamp(arrow::TimeUnit::MICRO, "UTC");
    std::shared_ptr<arrow::Array> id_array = *ids.Finish(), name_array = *names.Finish();
    std::shared_ptr<arrow::Array> raw_at = *ats.Finish();
    auto at = std::make_shared<arrow::TimestampArray>(ts, raw_at->length(), raw_at->data()->buffers[1]);
    auto table = arrow::Table::Make(arrow::schema({arrow::field("id", arrow::int64()),
                                                   arrow::field("name", arrow::utf8()), arrow::field("at", ts)}),
                                    {id_array, name_array, at});
    std::string path = dir_ + "/sorted.parquet";
    auto out = *arrow::io::FileOutputStream::Open(path);
    EXPECT_OK(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), out, 100));
    EXPECT_OK(out->Close());
    schema_ = table->schema();
    return path;
  }
  std::string dir_;
  std::shared_ptr<arrow::Schema> schema_;
};

TEST(FilterTest, ParsesEveryConstruct) {
  auto schema = arrow::schema({arrow::field("a", arrow::int64()), arrow::field("s", arrow::utf8()),
                               arrow::field("t", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
                               arrow::field("d", arrow::date32())});
  for (const char* filter : {"a > 1", "a >= -3 AND a < 2.5", "s IN ('x', 'y') OR s IS NULL", "NOT (a BETWEEN 1 AND 2)",
                             "s LIKE 'x%'", "t >= '2024-01-01'", "t < '2023-01-01T11:00:00-05:00'", "d = '2024-02-29'",
                             "a <> 4 AND s != 'q'", "s IS NOT NULL", "a NOT IN (1, 2)"}) {
    EXPECT_TRUE(ParseFilter(filter, *schema).ok())
        << filter << ": " << ParseFilter(filter, *schema).status().ToString();
  }
  auto unknown = ParseFilter("mils > 1", *schema);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("'mils' does not exist; available: a, s, t, d"), std::string::npos);
  EXPECT_FALSE(ParseFilter("a >", *schema).ok());
  EXPECT_FALSE(ParseFilter("a > $x", *schema).ok());
  EXPECT_FALSE(ParseFilter("t > 'yesterday'", *schema).ok());
  ASSERT_OK_AND_ASSIGN(auto columns, FilterColumns("b > 1 AND (a = 2 OR b < 0)"));
  EXPECT_EQ(columns, (std::vector<std::string>{"b", "a"}));
}

TEST(FilterTest, MixedCaseNamesFollowTheNameRule) {
  auto schema = arrow::schema({arrow::field("PassengerId", arrow::int64()), arrow::field("Age", arrow::float64()),
                               arrow::field("Name", arrow::utf8()), arrow::field("Fare", arrow::float64()),
                               arrow::field("fare", arrow::float64()), arrow::field("we\"ird;col", arrow::int64())});
  // Unquoted names keep their case; a unique case-insensitive match resolves to the stored name.
  for (const char* filter : {"Age >= 1", "age >= 1", "AGE >= 1 AND PassengerId < 10", "t.Age > 1", "\"Age\" > 1",
                             "Name LIKE 'A%'", "Fare > 1", "fare > 1"}) {
    EXPECT_TRUE(ParseFilter(filter, *schema).ok())
        << filter << ": " << ParseFilter(filter, *schema).status().ToString();
  }
  ASSERT_OK_AND_ASSIGN(auto age, ParseFilter("age >= 1", *schema));
  EXPECT_NE(age.ToString().find("Age"), std::string::npos) << age.ToString();
  ASSERT_OK_AND_ASSIGN(auto exact, ParseFilter("fare > 1", *schema));
  EXPECT_NE(exact.ToString().find("fare"), std::string::npos) << exact.ToString();
  // Ambiguous: names every candidate.
  auto ambiguous = ParseFilter("FARE > 1", *schema);
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_NE(ambiguous.status().message().find("'FARE' is ambiguous"), std::string::npos)
      << ambiguous.status().message();
  EXPECT_NE(ambiguous.status().message().find("'Fare', 'fare'"), std::string::npos);
  // Quoted names match exactly.
  auto quoted = ParseFilter("\"age\" >= 1", *schema);
  ASSERT_FALSE(quoted.ok());
  EXPECT_NE(quoted.status().message().find("'age' does not exist"), std::string::npos) << quoted.status().message();
  // Hostile: a quoted name with quotes and a semicolon is just a name; SQL after it is refused.
  EXPECT_TRUE(ParseFilter("\"we\"\"ird;col\" = 1", *schema).ok());
  EXPECT_FALSE(ParseFilter("Age > 1; DROP TABLE titanic", *schema).ok());
  EXPECT_FALSE(ParseFilter("Age > 1) OR (1 = 1", *schema).ok());
  ASSERT_OK_AND_ASSIGN(auto columns, FilterColumns("PassengerId > 1 AND \"Age\" < 3"));
  EXPECT_EQ(columns, (std::vector<std::string>{"PassengerId", "Age"}));
}

TEST(ResolveColumnsTest, StarCaseAndQuotes) {
  auto schema = arrow::schema({arrow::field("PassengerId", arrow::int64()), arrow::field("Age", arrow::float64()),
                               arrow::field("age", arrow::float64())});
  ASSERT_OK_AND_ASSIGN(auto all, ResolveColumns(*schema, {"*"}));
  EXPECT_EQ(all, (std::vector<std::string>{"PassengerId", "Age", "age"}));
  ASSERT_OK_AND_ASSIGN(auto none, ResolveColumns(*schema, {}));
  EXPECT_EQ(none.size(), 3u);
  ASSERT_OK_AND_ASSIGN(auto mixed, ResolveColumns(*schema, {"passengerid", "Age", "PASSENGERID"}));
  EXPECT_EQ(mixed, (std::vector<std::string>{"PassengerId", "Age"}));
  ASSERT_OK_AND_ASSIGN(auto quoted, ResolveColumns(*schema, {"\"age\""}));
  EXPECT_EQ(quoted, (std::vector<std::string>{"age"}));
  auto ambiguous = ResolveColumns(*schema, {"AGE"});
  ASSERT_FALSE(ambiguous.ok());
  EXPECT_NE(ambiguous.status().message().find("'Age', 'age'"), std::string::npos);
  auto missing = ResolveColumns(*schema, {"Fare"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("column 'Fare' does not exist; available: PassengerId, Age, age"),
            std::string::npos)
      << missing.status().message();
}

TEST_F(DataTest, ScanPushesProjectionAndFilterDown) {
  std::string path = WriteSortedParquet();
  ScanRequest request;
  request.files = {"file://" + path};
  request.schema = schema_;
  request.columns = {"name", "id"};
  request.filter = "id >= 250 AND id < 260 AND name = 'odd'";
  ScanStats stats;
  ASSERT_OK_AND_ASSIGN(auto table, ScanTable(request, &stats));
  EXPECT_EQ(table->num_rows(), 5);
  EXPECT_EQ(table->schema()->field(0)->name(), "name");
  EXPECT_EQ(table->num_columns(), 2);
  EXPECT_EQ(stats.row_groups_total, 10);
  EXPECT_EQ(stats.row_groups_read, 1);
  EXPECT_EQ(stats.rows_out, 5);
  // Timestamps compared with naive (UTC) and offset strings.
  request.filter = "at < '2024-01-01 00:00:10'";
  ASSERT_OK_AND_ASSIGN(auto early, ScanTable(request, &stats));
  EXPECT_EQ(early->num_rows(), 10);
  request.filter = "at < '2023-12-31T19:00:10-05:00'";
  ASSERT_OK_AND_ASSIGN(auto offset, ScanTable(request, &stats));
  EXPECT_EQ(offset->num_rows(), 10);
  // Nothing matches: an empty table that keeps the requested schema.
  request.filter = "id > 100000";
  ASSERT_OK_AND_ASSIGN(auto none, ScanTable(request, &stats));
  EXPECT_EQ(none->num_rows(), 0);
  EXPECT_EQ(none->num_columns(), 2);
  EXPECT_EQ(stats.row_groups_read, 0);
  request.columns = {"nope"};
  EXPECT_FALSE(ScanTable(request).ok());
  // Names as a user writes them: another case, '*' for every column; stored names come back.
  request.columns = {"NAME", "Id"};
  request.filter = "ID < 3";
  ASSERT_OK_AND_ASSIGN(auto folded, ScanTable(request, &stats));
  EXPECT_EQ(folded->schema()->field(0)->name(), "name");
  EXPECT_EQ(folded->schema()->field(1)->name(), "id");
  EXPECT_EQ(folded->num_rows(), 3);
  request.columns = {"*"};
  ASSERT_OK_AND_ASSIGN(auto star, ScanTable(request, &stats));
  EXPECT_EQ(star->num_columns(), 3);
}

TEST_F(DataTest, AStreamedScanYieldsTheScansRowsBatchByBatch) {
  std::string path = WriteSortedParquet();
  ScanRequest request;
  request.files = {"file://" + path};
  request.schema = schema_;
  request.columns = {"ID", "name"};
  request.filter = "id >= 250 AND id < 720";
  ScanStats whole_stats, stats;
  ASSERT_OK_AND_ASSIGN(auto whole, ScanTable(request, &whole_stats));
  ASSERT_OK_AND_ASSIGN(auto reader, ScanTableBatches(request, &stats));
  // Known before a batch is read: the files and the row groups chosen.
  EXPECT_EQ(stats.row_groups_total, 10);
  EXPECT_EQ(stats.row_groups_read, 6);  // ids 200-799
  EXPECT_EQ(stats.rows_out, 0);
  EXPECT_EQ(reader->schema()->field(0)->name(), "id");
  EXPECT_EQ(reader->schema()->field(0)->metadata(), nullptr);
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    ASSERT_OK(reader->ReadNext(&batch));
    if (!batch) break;
    EXPECT_TRUE(batch->schema()->Equals(*reader->schema()));
    batches.push_back(batch);
  }
  // A row group at a time (at least), in order, the same rows as the whole scan.
  EXPECT_GE(batches.size(), 6u);
  ASSERT_OK_AND_ASSIGN(auto streamed, arrow::Table::FromRecordBatches(reader->schema(), batches));
  EXPECT_TRUE(streamed->Equals(*whole)) << streamed->ToString();
  EXPECT_EQ(stats.rows_out, 470);
  EXPECT_EQ(stats.bytes_from_storage, whole_stats.bytes_from_storage);
  EXPECT_GT(stats.bytes_from_storage, 0);
  EXPECT_EQ(stats.storage_reasons, whole_stats.storage_reasons);
  // Closed halfway, then dropped: nothing is read after, nothing is left running.
  ASSERT_OK_AND_ASSIGN(auto abandoned, ScanTableBatches(request));
  std::shared_ptr<arrow::RecordBatch> first;
  ASSERT_OK(abandoned->ReadNext(&first));
  ASSERT_NE(first, nullptr);
  ASSERT_OK(abandoned->Close());
  ASSERT_OK(abandoned->ReadNext(&first));
  EXPECT_EQ(first, nullptr);
  // Errors of the request come from the call, before any batch.
  request.columns = {"nope"};
  EXPECT_FALSE(ScanTableBatches(request).ok());
}

TEST_F(DataTest, SourceReaderReadsFilesDirectoriesAndGlobs) {
  std::string csv = dir_ + "/a.csv";
  ASSERT_OK(WriteFileAtomic(csv, "x,y\n1,foo\n2,bar\n"));
  ASSERT_OK(WriteFileAtomic(dir_ + "/b.csv", "x,y\n3,baz\n"));
  ASSERT_OK_AND_ASSIGN(SourceData one, ReadSourceFiles(csv));
  EXPECT_EQ(one.table->num_rows(), 2);
  ASSERT_OK_AND_ASSIGN(SourceData dir, ReadSourceFiles(dir_));
  EXPECT_EQ(dir.table->num_rows(), 3);
  EXPECT_EQ(dir.files.size(), 2u);
  ASSERT_OK_AND_ASSIGN(SourceData glob, ReadSourceFiles(dir_ + "/b*.csv"));
  EXPECT_EQ(glob.table->num_rows(), 1);
  WriteSortedParquet();
  ASSERT_OK_AND_ASSIGN(SourceData parquet, ReadSourceFiles(dir_ + "/*.parquet"));
  EXPECT_EQ(parquet.table->num_rows(), 1000);
  auto missing = ReadSourceFiles(dir_ + "/nothing/*.parquet");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(KindOf(missing.status()), ErrorKind::kNotFound);
  EXPECT_NE(missing.status().message().find("nothing"), std::string::npos);
}

TEST_F(DataTest, SourcePathsOutsideWhatImportsMayReadAreRefused) {
  std::string csv = dir_ + "/a.csv";
  ASSERT_OK(WriteFileAtomic(csv, "x\n1\n"));
  ASSERT_OK_AND_ASSIGN(std::string ok, CheckSourceFile("file://" + csv));
  EXPECT_EQ(ok.substr(ok.size() - 6), "/a.csv");
  // A data home: catalog.db beside warehouse/. Its files, and links to them, are refused.
  std::string home = dir_ + "/home";
  ASSERT_OK(MakeDirs(home + "/warehouse/ns/t/data"));
  ASSERT_OK(WriteFileAtomic(home + "/catalog.db", ""));
  std::string inside = home + "/warehouse/ns/t/data/f.csv";
  ASSERT_OK(WriteFileAtomic(inside, "x\n1\n"));
  EXPECT_TRUE(IsInsideDataHome(inside));
  EXPECT_FALSE(IsInsideDataHome(csv));
  auto refused = CheckSourceFile(inside);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("data home"), std::string::npos);
  ASSERT_EQ(symlink(inside.c_str(), (dir_ + "/link.csv").c_str()), 0);
  EXPECT_FALSE(CheckSourceFile(dir_ + "/link.csv").ok());
  EXPECT_FALSE(ListSourceFiles(dir_ + "/*.csv").ok());  // the glob matches the link
  // Not a regular file, not a known format, another scheme.
  EXPECT_FALSE(CheckSourceFile("/dev/null").ok());
  EXPECT_FALSE(CheckSourceFile(home + "/catalog.db").ok());
  EXPECT_FALSE(CheckSourceFile("s3://bucket/a.parquet").ok());
  // $SLUICE_IMPORT_ROOTS confines reads to its directories.
  ASSERT_EQ(setenv("SLUICE_IMPORT_ROOTS", (dir_ + "/elsewhere:/nonexistent").c_str(), 1), 0);
  auto outside = CheckSourceFile(csv);
  ASSERT_EQ(unsetenv("SLUICE_IMPORT_ROOTS"), 0);
  ASSERT_FALSE(outside.ok());
  EXPECT_NE(outside.status().message().find("outside"), std::string::npos);
}

// The race a hostile user runs: the checked path's directory is swapped for a symlink into a
// data home between the check (ListSourceFiles) and the read. What is opened is checked again.
TEST_F(DataTest, ASourceFileSwappedAfterItsCheckIsNotRead) {
  ASSERT_OK(MakeDirs(dir_ + "/src"));
  ASSERT_OK(WriteFileAtomic(dir_ + "/src/a.csv", "x\n1\n"));
  std::string home = dir_ + "/home";
  ASSERT_OK(MakeDirs(home + "/warehouse/ns/t/data"));
  ASSERT_OK(WriteFileAtomic(home + "/catalog.db", ""));
  ASSERT_OK(WriteFileAtomic(home + "/warehouse/ns/t/data/a.csv", "x\n42\n"));
  ASSERT_OK_AND_ASSIGN(auto files, ListSourceFiles(dir_ + "/src"));
  ASSERT_EQ(files.size(), 1u);
  ASSERT_OK_AND_ASSIGN(auto before, ReadSourceFile(files[0]));
  EXPECT_EQ(before->num_rows(), 1);
  ASSERT_EQ(rename((dir_ + "/src").c_str(), (dir_ + "/old").c_str()), 0);
  ASSERT_EQ(symlink((home + "/warehouse/ns/t/data").c_str(), (dir_ + "/src").c_str()), 0);
  for (auto read : {ReadSourceFile(files[0]).status(), ReadSourceSchema(files[0]).status()}) {
    ASSERT_FALSE(read.ok());
    EXPECT_EQ(KindOf(read), ErrorKind::kInvalidInput);
    EXPECT_NE(read.message().find("since it was checked"), std::string::npos) << read.message();
  }
  // A FIFO swapped in for the file is refused without blocking the open.
  ASSERT_EQ(unlink((dir_ + "/src").c_str()), 0);
  ASSERT_EQ(rename((dir_ + "/old").c_str(), (dir_ + "/src").c_str()), 0);
  ASSERT_EQ(unlink(files[0].c_str()), 0);
  ASSERT_EQ(mkfifo(files[0].c_str(), 0600), 0);
  EXPECT_FALSE(ReadSourceFile(files[0]).ok());
}

TEST_F(DataTest, ObjectStoreRoundTripAndArenaReuse) {
  ASSERT_OK_AND_ASSIGN(auto store, ObjectStore::Open(dir_ + "/shm"));
  auto table =
      arrow::Table::Make(arrow::schema({arrow::field("v", arrow::int64())}), {Json(arrow::int64(), "[1, 2, 3]")});
  ASSERT_OK_AND_ASSIGN(std::string path, store->Put("runs/job/a.arrow", *table));
  ASSERT_OK_AND_ASSIGN(auto back, store->Get(path));
  EXPECT_TRUE(back->Equals(*table));
  ASSERT_OK(store->ReleaseAll("runs/job"));
  EXPECT_FALSE(PathExists(path));
  size_t arena_files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(store->arena_dir())) {
    (void)entry;
    ++arena_files;
  }
  EXPECT_EQ(arena_files, 1u);
  // The next write takes the recycled file.
  ASSERT_OK_AND_ASSIGN(std::string again, store->Put("runs/job2/b.arrow", *table));
  EXPECT_TRUE(std::filesystem::is_empty(store->arena_dir()));
  ASSERT_OK_AND_ASSIGN(auto back2, store->Get(again));
  EXPECT_TRUE(back2->Equals(*table));
  ASSERT_OK(store->Release(again));
  ASSERT_OK(store->TrimArena(0));
  EXPECT_TRUE(std::filesystem::is_empty(store->arena_dir()));
}

}  // namespace
}  // namespace sluice
