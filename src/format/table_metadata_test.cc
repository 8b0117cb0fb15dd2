#include "format/table_metadata.h"

#include <gtest/gtest.h>

#include <functional>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/subprocess.h"
#include "common/test_util.h"

namespace sluice {
namespace {

using nlohmann::json;

// Metadata as pyiceberg writes it: every primitive and nested type, a partition spec with
// day/bucket/truncate, a sort order, and pyiceberg's own keys (statistics, ...).
json PyicebergMetadata() {
  std::string path = "/tmp/sluice-metadata-test-" + NewShortId(8) + ".json";
  SubprocessOptions options;
  options.argv = {SLUICE_TEST_PYTHON, "-c", R"(
import sys
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.serializers import ToOutputFile
from pyiceberg.table.metadata import new_table_metadata
from pyiceberg.table.sorting import SortField, SortOrder
from pyiceberg.transforms import BucketTransform, DayTransform, TruncateTransform
from pyiceberg.types import *
schema = Schema(
    NestedField(1, "PULocationID", LongType(), required=True),
    NestedField(2, "tpep_pickup_datetime", TimestamptzType()),
    NestedField(3, "tags", ListType(4, StringType())),
    NestedField(5, "attrs", MapType(6, StringType(), 7, DoubleType())),
    NestedField(8, "point", StructType(NestedField(9, "x", DoubleType()), NestedField(10, "y", DecimalType(10, 2)))),
    NestedField(11, "id", UUIDType(), doc="row id"),
    NestedField(12, "f", FixedType(16)), NestedField(13, "d", DateType()),
    NestedField(14, "b", BinaryType()), NestedField(15, "t", TimeType()),
    NestedField(16, "zone", StringType()), NestedField(17, "ok", BooleanType()),
    NestedField(18, "n", IntegerType()), NestedField(19, "r", FloatType()), NestedField(20, "ts", TimestampType()),
    identifier_field_ids=[1],
)
spec = PartitionSpec(PartitionField(2, 1000, DayTransform(), "pickup_day"),
                     PartitionField(1, 1001, BucketTransform(8), "PULocationID_bucket"),
                     PartitionField(16, 1002, TruncateTransform(3), "zone_trunc"))
metadata = new_table_metadata(schema, spec, SortOrder(SortField(source_id=1)), "file:///tmp/t", properties={"owner": "x"})
ToOutputFile.table_metadata(metadata, PyArrowFileIO().new_output(sys.argv[1]))
)",
                  path};
  auto result = RunSubprocess(options);
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result->exit_code, 0) << result->stderr_text;
  auto text = ReadFile(path);
  EXPECT_TRUE(text.ok());
  (void)RemoveAll(path);
  return json::parse(text.ok() ? *text : "{}");
}

TEST(TableMetadataTest, PyicebergMetadataRoundTripsUnchanged) {
  json written = PyicebergMetadata();
  ASSERT_OK_AND_ASSIGN(TableMetadata metadata, TableMetadata::Parse(written, "pyiceberg"));
  EXPECT_EQ(metadata.ToJson(), written);
  const Schema* schema = metadata.current_schema();
  ASSERT_NE(schema, nullptr);
  ASSERT_NE(schema->FindField("tpep_pickup_datetime"), nullptr);
  EXPECT_TRUE(schema->FindField("tpep_pickup_datetime")->is_primitive());
  EXPECT_FALSE(schema->FindField("point")->is_primitive());
  EXPECT_EQ(schema->FindField("id")->extra.value("doc", ""), "row id");
  EXPECT_EQ(schema->HighestFieldId(), metadata.last_column_id);
  const PartitionSpec* spec = metadata.default_spec();
  ASSERT_NE(spec, nullptr);
  ASSERT_EQ(spec->fields.size(), 3u);
  EXPECT_EQ(spec->fields[1].transform, "bucket[8]");
  EXPECT_EQ(metadata.default_sort_order_id, 1);
  EXPECT_FALSE(metadata.current_snapshot_id.has_value());
  EXPECT_TRUE(metadata.extra.contains("statistics"));
}

json WithSnapshots() {
  return json::parse(R"({
    "format-version": 2, "table-uuid": "u", "location": "file:///tmp/t",
    "last-sequence-number": 2, "last-updated-ms": 20, "last-column-id": 2,
    "schemas": [{"type": "struct", "schema-id": 0, "fields": [
      {"id": 1, "name": "PULocationID", "required": false, "type": "long"},
      {"id": 2, "name": "tpep_pickup_datetime", "required": false, "type": "timestamp"}]}],
    "current-schema-id": 0,
    "partition-specs": [{"spec-id": 0, "fields": [
      {"source-id": 2, "field-id": 1000, "name": "d", "transform": "day"}]}],
    "default-spec-id": 0, "last-partition-id": 1000,
    "sort-orders": [{"order-id": 0, "fields": []}], "default-sort-order-id": 0,
    "properties": {"a": "b"},
    "current-snapshot-id": 8,
    "refs": {"main": {"snapshot-id": 8, "type": "branch"},
             "v1": {"snapshot-id": 7, "type": "tag", "max-ref-age-ms": 100}},
    "snapshots": [
      {"snapshot-id": 7, "sequence-number": 1, "timestamp-ms": 10, "manifest-list": "file:///tmp/t/a.avro",
       "summary": {"operation": "append", "total-records": "3"}, "schema-id": 0},
      {"snapshot-id": 8, "parent-snapshot-id": 7, "sequence-number": 2, "timestamp-ms": 20,
       "manifest-list": "file:///tmp/t/b.avro", "summary": {"operation": "overwrite"}, "schema-id": 0,
       "first-row-id": 5}],
    "snapshot-log": [{"timestamp-ms": 10, "snapshot-id": 7}, {"timestamp-ms": 20, "snapshot-id": 8}],
    "metadata-log": [{"timestamp-ms": 10, "metadata-file": "file:///tmp/t/metadata/00000-x.metadata.json"}],
    "a-key-from-another-writer": {"kept": true}
  })");
}

TEST(TableMetadataTest, SnapshotsRefsLogsAndUnknownKeysRoundTrip) {
  json written = WithSnapshots();
  ASSERT_OK_AND_ASSIGN(TableMetadata metadata, TableMetadata::Parse(written, "test"));
  EXPECT_EQ(metadata.ToJson(), written);
  ASSERT_EQ(metadata.snapshots.size(), 2u);
  EXPECT_EQ(metadata.current_snapshot()->parent_snapshot_id, 7);
  EXPECT_EQ(metadata.FindSnapshot(7)->SummaryCount("total-records"), 3);
  EXPECT_EQ(metadata.RefSnapshotId("v1"), 7);
  EXPECT_EQ(metadata.refs.at("v1").type, "tag");
  EXPECT_EQ(metadata.current_snapshot()->extra.value("first-row-id", 0), 5);

  Snapshot next;
  next.snapshot_id = 9;
  next.parent_snapshot_id = 8;
  next.sequence_number = 3;
  next.timestamp_ms = 30;
  next.manifest_list = "file:///tmp/t/c.avro";
  metadata.AddSnapshotOnMain(next);
  EXPECT_EQ(metadata.current_snapshot_id, 9);
  EXPECT_EQ(metadata.RefSnapshotId("main"), 9);
  EXPECT_EQ(metadata.last_sequence_number, 3);
  EXPECT_EQ(metadata.snapshot_log.back().snapshot_id, 9);
  EXPECT_EQ(metadata.ToJson()["a-key-from-another-writer"], json({{"kept", true}}));
}

TEST(TableMetadataTest, ErrorsNameTheField) {
  struct Case {
    std::function<void(json&)> edit;
    std::string words;
  };
  std::vector<Case> cases = {
      {[](json& m) { m["snapshots"][1]["manifest-list"] = 3; }, "field 'snapshots[1].manifest-list' must be a string"},
      {[](json& m) { m.erase("location"); }, "field 'location' is missing"},
      {[](json& m) { m["schemas"][0]["fields"][1]["type"] = "timestamp_tz"; },
       "field 'schemas[0].fields[1].type' has an unknown type 'timestamp_tz'"},
      {[](json& m) { m["current-schema-id"] = 4; }, "names schema 4"},
      {[](json& m) { m["default-spec-id"] = 2; }, "names spec 2"},
      {[](json& m) { m["partition-specs"][0]["fields"][0].erase("transform"); },
       "field 'partition-specs[0].fields[0].transform' is missing"},
      {[](json& m) { m["refs"]["v1"]["type"] = "branchy"; }, "refs.v1.type"},
      {[](json& m) { m["snapshots"][1]["snapshot-id"] = 7; }, "snapshot id 7 is used twice"},
      {[](json& m) { m["properties"]["a"] = 1; }, "field 'properties.a' must be a string"},
      {[](json& m) { m["schemas"][0]["fields"][1]["id"] = 1; }, "id 1 is used twice"},
      {[](json& m) { m["format-version"] = 9; }, "format-version 9"},
      {[](json& m) { m = json::array(); }, "must be an object"},
  };
  for (const auto& c : cases) {
    json metadata = WithSnapshots();
    c.edit(metadata);
    auto parsed = TableMetadata::Parse(metadata, "table metadata 'x.json'");
    ASSERT_FALSE(parsed.ok()) << c.words;
    EXPECT_NE(parsed.status().message().find(c.words), std::string::npos) << parsed.status().message();
    EXPECT_NE(parsed.status().message().find("x.json"), std::string::npos) << parsed.status().message();
  }
}

TEST(TableMetadataTest, WritesVersionedFilesThatReadBack) {
  std::string dir = "/tmp/sluice-metadata-test-" + NewShortId(8);
  ASSERT_OK_AND_ASSIGN(TableMetadata metadata, TableMetadata::Parse(WithSnapshots(), "test"));
  metadata.location = "file://" + dir;
  ASSERT_OK_AND_ASSIGN(std::string location, WriteTableMetadataFile(metadata, 3));
  EXPECT_EQ(MetadataFileVersion(location), 3);
  ASSERT_OK_AND_ASSIGN(TableMetadata back, ReadTableMetadataFile(location));
  EXPECT_EQ(back.ToJson(), metadata.ToJson());
  ASSERT_OK(RemoveAll(dir));
}

}  // namespace
}  // namespace sluice
