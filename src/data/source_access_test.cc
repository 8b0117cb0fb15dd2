// The rule for s3:// sources (source_reader.h). Every refusal here happens before any S3
// call, so these run without a server.
#include <gtest/gtest.h>

#include "common/test_util.h"
#include "data/source_reader.h"

namespace sluice {
namespace {

StorageUri Uri(const std::string& text) { return *StorageUri::Parse(text); }

SourceAccess RawAllowed() {
  SourceAccess access;
  access.allowed = {Uri("s3://lake/raw")};
  access.warehouse = Uri("s3://lake/raw/warehouse");
  return access;
}

void ExpectRefused(const Status& status, const std::string& uri, const std::string& why) {
  EXPECT_EQ(KindOf(status), ErrorKind::kInvalidInput) << uri << ": " << status.ToString();
  EXPECT_NE(status.message().find(uri), std::string::npos) << status.message();
  EXPECT_NE(status.ToString().find(why), std::string::npos) << status.ToString();
}

TEST(SourceAccess, NoS3SourceWithoutAnAllowedPrefix) {
  ExpectRefused(CheckSourceFile("s3://lake/raw/a.parquet").status(), "s3://lake/raw/a.parquet",
                "storage.allowed_sources is empty");
  ExpectRefused(ListSourceFiles("s3://lake/raw/*.parquet").status(), "s3://lake/raw/*.parquet",
                "storage.allowed_sources");
}

TEST(SourceAccess, OnlyUnderAnAllowedPrefixAndOutsideTheWarehouse) {
  SourceAccess access = RawAllowed();
  struct Case {
    std::string uri, why;
  };
  for (const auto& c : std::vector<Case>{
           {"s3://other/raw/a.parquet", "s3://lake/raw"},              // another bucket
           {"s3://lake/raw-not/a.parquet", "s3://lake/raw"},           // a longer name, not a child
           {"s3://lake/raw", "s3://lake/raw"},                         // the prefix itself is no file
           {"s3://lake/raw/warehouse/t/data/x.parquet", "warehouse"},  // the home's own files
           {"s3://lake/raw/%2e%2e/secret/a.parquet", "'%'"},
           {"s3://lake/raw%2f..%2fsecret/a.parquet", "'%'"},
           {"s3://lake/raw/..\\secret/a.parquet", "'\\'"},
       }) {
    ExpectRefused(CheckSourcePath(c.uri, access).status(), c.uri, c.why);
  }
  // '..' segments never parse.
  EXPECT_EQ(KindOf(CheckSourcePath("s3://lake/raw/../secret/a.parquet", access).status()), ErrorKind::kInvalidInput);
  // A glob is listed below its fixed part only, and that must be allowed too.
  ExpectRefused(ListSourceFiles("s3://lake/r*/a.parquet", access).status(), "s3://lake/r*/a.parquet", "s3://lake/raw");
  ExpectRefused(ListSourceFiles("s3://lake/raw/warehouse/*.parquet", access).status(),
                "s3://lake/raw/warehouse/*.parquet", "warehouse");
}

TEST(SourceAccess, MetadataFilesMustBeTheTablesOwn) {
  SourceAccess access = RawAllowed();
  // Checked against the table's location before the allowed prefixes, and before any read.
  ExpectRefused(CheckSourceUnder("s3://lake/raw/b/m.avro", "s3://lake/raw/a", "manifest", access).status(),
                "s3://lake/raw/b/m.avro", "not a file of the table");
  ExpectRefused(CheckSourceUnder("/etc/passwd", "s3://lake/raw/a", "manifest list", access).status(), "/etc/passwd",
                "manifest list");
  ExpectRefused(CheckSourceUnder("s3://lake/raw/a/m.avro", "/tmp/a", "manifest", access).status(),
                "s3://lake/raw/a/m.avro", "not a file of the table");
}

}  // namespace
}  // namespace sluice
