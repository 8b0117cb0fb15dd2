#include <arrow/io/file.h>
#include <arrow/json/from_string.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/subprocess.h"
#include "common/test_util.h"
#include "format/avro.h"
#include "format/iceberg_schema.h"
#include "format/iceberg_table.h"
#include "storage/storage_uri.h"

namespace sluice {
namespace {

using nlohmann::json;

TEST(AvroTest, RoundTripsEveryTypeAcrossBlocksAndCodecs) {
  AvroFile file;
  file.schema = json::parse(R"({"type": "record", "name": "r", "fields": [
    {"name": "b", "type": "boolean"}, {"name": "i", "type": "int"}, {"name": "l", "type": "long"},
    {"name": "f", "type": "float"}, {"name": "d", "type": "double"},
    {"name": "s", "type": "string"}, {"name": "y", "type": "bytes"},
    {"name": "o", "type": ["null", "long"], "default": null},
    {"name": "a", "type": {"type": "array", "items": "string", "element-id": 7}},
    {"name": "m", "type": {"type": "map", "values": "long"}},
    {"name": "n", "type": {"type": "record", "name": "inner", "fields": [{"name": "x", "type": "int"}]}}
  ]})");
  file.metadata = {{"format-version", "2"}};
  for (int64_t i = 0; i < 2500; ++i) {
    file.records.push_back({{"b", i % 2 == 0},
                            {"i", -i},
                            {"l", i * 1000000007LL},
                            {"f", 1.5},
                            {"d", i / 3.0},
                            {"s", "row " + std::to_string(i)},
                            {"y", json::binary({1, 2, static_cast<uint8_t>(i % 256)})},
                            {"o", i % 3 == 0 ? json() : json(i)},
                            {"a", {"x", "y"}},
                            {"m", {{"k", i}}},
                            {"n", {{"x", 7}}}});
  }
  for (AvroCodec codec : {AvroCodec::kNull, AvroCodec::kDeflate}) {
    ASSERT_OK_AND_ASSIGN(std::string bytes, EncodeAvroFile(file, codec, 1000));
    ASSERT_OK_AND_ASSIGN(AvroFile back, DecodeAvroFile(bytes));
    EXPECT_EQ(back.schema, file.schema);
    EXPECT_EQ(back.metadata, file.metadata);
    ASSERT_EQ(back.records.size(), file.records.size());
    for (size_t i = 0; i < file.records.size(); ++i) {
      ASSERT_EQ(back.records[i], file.records[i]) << i;
    }
  }
}

TEST(AvroTest, RejectsValuesThatDoNotFit) {
  AvroFile file;
  file.schema = json::parse(R"({"type": "record", "name": "r", "fields": [{"name": "i", "type": "int"}]})");
  file.records.push_back({{"i", "not a number"}});
  auto bytes = EncodeAvroFile(file);
  ASSERT_FALSE(bytes.ok());
  EXPECT_NE(bytes.status().message().find("record.i"), std::string::npos);
  EXPECT_FALSE(DecodeAvroFile("garbage").ok());
}

std::shared_ptr<arrow::Table> MakeTable(const std::string& ids, const std::string& names) {
  auto schema = arrow::schema({arrow::field("id", arrow::int64()), arrow::field("name", arrow::utf8()),
                               arrow::field("at", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC"))});
  auto id = *arrow::json::ArrayFromJSONString(arrow::int64(), ids);
  auto name = *arrow::json::ArrayFromJSONString(arrow::utf8(), names);
  auto at =
      *arrow::MakeArrayFromScalar(arrow::TimestampScalar(1700000000000000, schema->field(2)->type()), id->length());
  return arrow::Table::Make(schema, {id, name, at});
}

class IcebergTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/sluice-format-test-" + NewShortId(8);
    location_ = "file://" + dir_ + "/t";
  }
  void TearDown() override {
    if (!getenv("KEEP")) ASSERT_OK(RemoveAll(dir_));
  }

  // Rows as pyiceberg reads them, as JSON text.
  std::string ReadWithPyiceberg(const std::string& metadata_location) {
    SubprocessOptions options;
    options.argv = {SLUICE_TEST_PYTHON, "-c",
                    "import json, sys\n"
                    "from pyiceberg.table import StaticTable\n"
                    "t = StaticTable.from_metadata(sys.argv[1]).scan().to_arrow().sort_by('id')\n"
                    "print(json.dumps([[r['id'], r['name']] for r in t.to_pylist()]))\n",
                    metadata_location};
    auto result = RunSubprocess(options);
    EXPECT_TRUE(result.ok());
    EXPECT_EQ(result->exit_code, 0) << result->stderr_text;
    return result->stdout_text;
  }
  std::string dir_, location_;
};

TEST_F(IcebergTableTest, CreateAppendReplaceAndReadBack) {
  TableWriteOptions options;
  options.table_location = location_;
  ASSERT_OK_AND_ASSIGN(std::string v0, WriteTableSnapshot(MakeTable("[1, 2]", R"(["a", "b"])"), options));
  EXPECT_NE(v0.find("/metadata/00000-"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(TableSnapshot s0, LoadTableSnapshot(v0));
  EXPECT_EQ(s0.total_records, 2);
  EXPECT_EQ(s0.data_files.size(), 1u);
  ASSERT_TRUE(s0.snapshot_id.has_value());
  EXPECT_EQ(s0.schema->field(2)->type()->ToString(), "timestamp[us, tz=UTC]");
  EXPECT_EQ(ReadWithPyiceberg(v0), "[[1, \"a\"], [2, \"b\"]]\n");

  options.previous_metadata_location = v0;
  ASSERT_OK_AND_ASSIGN(std::string v1, WriteTableSnapshot(MakeTable("[3]", R"(["c"])"), options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s1, LoadTableSnapshot(v1));
  EXPECT_EQ(s1.total_records, 3);
  EXPECT_EQ(s1.data_files.size(), 2u);
  EXPECT_EQ(ReadWithPyiceberg(v1), "[[1, \"a\"], [2, \"b\"], [3, \"c\"]]\n");
  // The earlier state is untouched: metadata files are immutable.
  ASSERT_OK_AND_ASSIGN(TableSnapshot again, LoadTableSnapshot(v0));
  EXPECT_EQ(again.total_records, 2);

  options.previous_metadata_location = v1;
  options.mode = WriteMode::kReplace;
  ASSERT_OK_AND_ASSIGN(std::string v2, WriteTableSnapshot(MakeTable("[9]", R"(["z"])"), options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s2, LoadTableSnapshot(v2));
  EXPECT_EQ(s2.total_records, 1);
  EXPECT_EQ(ReadWithPyiceberg(v2), "[[9, \"z\"]]\n");

  // Data files carry the Iceberg field ids.
  ASSERT_OK_AND_ASSIGN(std::string path, LocalPathFromUri(s2.data_files[0].path));
  ASSERT_OK_AND_ASSIGN(auto input, arrow::io::ReadableFile::Open(path));
  ASSERT_OK_AND_ASSIGN(auto reader, parquet::arrow::OpenFile(input, arrow::default_memory_pool()));
  std::shared_ptr<arrow::Schema> schema;
  ASSERT_OK(reader->GetSchema(&schema));
  EXPECT_EQ(schema->field(0)->metadata()->Get("PARQUET:field_id").ValueOrDie(), "1");
  EXPECT_EQ(schema->field(1)->metadata()->Get("PARQUET:field_id").ValueOrDie(), "2");
}

TEST_F(IcebergTableTest, AppendWithADifferentSchemaNamesTheColumns) {
  TableWriteOptions options;
  options.table_location = location_;
  ASSERT_OK_AND_ASSIGN(std::string v0, WriteTableSnapshot(MakeTable("[1]", R"(["a"])"), options));
  options.previous_metadata_location = v0;
  auto other = arrow::Table::Make(arrow::schema({arrow::field("id", arrow::utf8())}),
                                  {*arrow::json::ArrayFromJSONString(arrow::utf8(), R"(["x"])")});
  auto result = WriteTableSnapshot(other, options);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("column 'id' is string in the data and long in the table"),
            std::string::npos)
      << result.status().message();
  // A replace may change the schema; ids stay with names.
  options.mode = WriteMode::kReplace;
  ASSERT_OK_AND_ASSIGN(std::string v1, WriteTableSnapshot(other, options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s1, LoadTableSnapshot(v1));
  EXPECT_EQ(s1.schema->num_fields(), 1);
  EXPECT_EQ(s1.schema->field(0)->type()->id(), arrow::Type::STRING);
}

TEST_F(IcebergTableTest, AnEmptyTableHasASnapshotAndTheSchema) {
  TableWriteOptions options;
  options.table_location = location_;
  ASSERT_OK_AND_ASSIGN(std::string v0, WriteTableSnapshot(MakeTable("[]", "[]"), options));
  ASSERT_OK_AND_ASSIGN(TableSnapshot s0, LoadTableSnapshot(v0));
  EXPECT_EQ(s0.total_records, 0);
  EXPECT_TRUE(s0.data_files.empty());
  EXPECT_EQ(s0.schema->num_fields(), 3);
  EXPECT_EQ(ReadWithPyiceberg(v0), "[]\n");
}

TEST_F(IcebergTableTest, AppendsOnTwoBranchesMergeIntoOneSnapshot) {
  TableWriteOptions options;
  options.table_location = location_;
  ASSERT_OK_AND_ASSIGN(std::string base, WriteTableSnapshot(MakeTable("[1, 2]", R"(["a", "b"])"), options));
  options.previous_metadata_location = base;
  ASSERT_OK_AND_ASSIGN(std::string ours, WriteTableSnapshot(MakeTable("[3]", R"(["c"])"), options));
  ASSERT_OK_AND_ASSIGN(std::string theirs, WriteTableSnapshot(MakeTable("[4, 5]", R"(["d", "e"])"), options));
  ASSERT_OK_AND_ASSIGN(auto merged, MergeAppends(base, ours, theirs));
  ASSERT_TRUE(merged.has_value());
  ASSERT_OK_AND_ASSIGN(TableSnapshot snapshot, LoadTableSnapshot(*merged));
  EXPECT_EQ(snapshot.total_records, 5);
  EXPECT_EQ(snapshot.data_files.size(), 3u);
  EXPECT_EQ(ReadWithPyiceberg(*merged), "[[1, \"a\"], [2, \"b\"], [3, \"c\"], [4, \"d\"], [5, \"e\"]]\n");
  // A replace on one side is not an append: no automatic merge.
  options.mode = WriteMode::kReplace;
  ASSERT_OK_AND_ASSIGN(std::string replaced, WriteTableSnapshot(MakeTable("[9]", R"(["z"])"), options));
  ASSERT_OK_AND_ASSIGN(auto refused, MergeAppends(base, ours, replaced));
  EXPECT_FALSE(refused.has_value());
}

TEST(IcebergSchemaTest, NarrowTypesAreWidenedForParquet) {
  auto table = arrow::Table::Make(arrow::schema({arrow::field("small", arrow::int8())}),
                                  {*arrow::json::ArrayFromJSONString(arrow::int8(), "[1, 2]")});
  int last = 0;
  ASSERT_OK_AND_ASSIGN(json schema, IcebergSchemaFromArrow(*table->schema(), 0, json(), &last));
  EXPECT_EQ(schema["fields"][0]["type"], "int");
  ASSERT_OK_AND_ASSIGN(auto prepared, PrepareForParquet(table, schema));
  EXPECT_EQ(prepared->schema()->field(0)->type()->id(), arrow::Type::INT32);
}

}  // namespace
}  // namespace sluice
