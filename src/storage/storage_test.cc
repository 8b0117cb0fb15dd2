#include <arrow/util/uri.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"
#include "storage/file_io.h"
#include "storage/s3_config.h"
#include "storage/storage_uri.h"

namespace sluice {
namespace {

namespace fs = std::filesystem;

// S3 support is started by the first S3 test and must be stopped before the process exits.
class StopS3AtExit : public ::testing::Environment {
 public:
  void TearDown() override { ASSERT_OK(FinalizeS3Support()); }
};
const auto* const kStopS3 = ::testing::AddGlobalTestEnvironment(new StopS3AtExit);

TEST(StorageUriTest, ParsesLocalPathsAndFileUris) {
  ASSERT_OK_AND_ASSIGN(StorageUri plain, StorageUri::Parse("/a/b.parquet"));
  EXPECT_TRUE(plain.is_local());
  EXPECT_EQ(plain.path(), "/a/b.parquet");
  EXPECT_EQ(plain.ToString(), "file:///a/b.parquet");
  ASSERT_OK_AND_ASSIGN(StorageUri uri, StorageUri::Parse("file:///a/b.parquet"));
  EXPECT_EQ(uri, plain);
  ASSERT_OK_AND_ASSIGN(StorageUri localhost, StorageUri::Parse("file://localhost/a/b"));
  EXPECT_EQ(localhost.path(), "/a/b");
  ASSERT_OK_AND_ASSIGN(StorageUri relative, StorageUri::Parse("data/x.csv"));
  EXPECT_EQ(relative.path(), "data/x.csv");
  EXPECT_EQ(relative.ToString(), "file://" + AbsolutePath("data/x.csv"));
  EXPECT_EQ(LocalFileUri("/w/./ns/../t"), "file:///w/t");
  ASSERT_OK_AND_ASSIGN(std::string path, LocalPathFromUri("file:///w/t/m.json"));
  EXPECT_EQ(path, "/w/t/m.json");
}

TEST(StorageUriTest, ParsesS3Uris) {
  ASSERT_OK_AND_ASSIGN(StorageUri uri, StorageUri::Parse("s3://bucket/wh/ns/t/data/x.parquet"));
  EXPECT_TRUE(uri.is_s3());
  EXPECT_EQ(uri.bucket(), "bucket");
  EXPECT_EQ(uri.path(), "wh/ns/t/data/x.parquet");
  EXPECT_EQ(uri.FileSystemPath(), "bucket/wh/ns/t/data/x.parquet");
  EXPECT_EQ(uri.ToString(), "s3://bucket/wh/ns/t/data/x.parquet");
  ASSERT_OK_AND_ASSIGN(StorageUri root, StorageUri::Parse("s3://bucket"));
  EXPECT_EQ(root.path(), "");
  EXPECT_EQ(root.Join("a/b").ToString(), "s3://bucket/a/b");
  ASSERT_OK_AND_ASSIGN(StorageUri messy, StorageUri::Parse("s3://bucket//wh///t/"));
  EXPECT_EQ(messy.Normalized().ToString(), "s3://bucket/wh/t");
}

TEST(StorageUriTest, BadLocationsAreOneErrorNamingThem) {
  for (const char* bad : {"", "gs://bucket/x", "http://host/x", "s3:///key", "s3://bucket/a/../b", "file://otherhost/a",
                          "file://relative"}) {
    auto parsed = StorageUri::Parse(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(KindOf(parsed.status()), ErrorKind::kInvalidInput) << bad;
    if (*bad) {
      EXPECT_NE(parsed.status().message().find(bad), std::string::npos) << parsed.status().ToString();
    }
  }
  auto s3 = LocalPathFromUri("s3://bucket/key");
  ASSERT_FALSE(s3.ok());
  EXPECT_NE(s3.status().message().find("s3://bucket/key"), std::string::npos);
}

TEST(StorageUriTest, JoinsAndTellsWhatIsUnderARoot) {
  ASSERT_OK_AND_ASSIGN(StorageUri root, StorageUri::Parse("file:///home/x/warehouse/"));
  StorageUri table = root.Join("ns/t-ab12");
  EXPECT_EQ(table.ToString(), "file:///home/x/warehouse/ns/t-ab12");
  EXPECT_TRUE(table.IsUnder(root));
  EXPECT_FALSE(root.IsUnder(root));
  ASSERT_OK_AND_ASSIGN(StorageUri sibling, StorageUri::Parse("/home/x/warehouse2/ns/t"));
  EXPECT_FALSE(sibling.IsUnder(root));
  ASSERT_OK_AND_ASSIGN(StorageUri escape, StorageUri::Parse("/home/x/warehouse/../secret"));
  EXPECT_FALSE(escape.IsUnder(root));
  ASSERT_OK_AND_ASSIGN(StorageUri s3_root, StorageUri::Parse("s3://b/wh"));
  ASSERT_OK_AND_ASSIGN(StorageUri s3_file, StorageUri::Parse("s3://b/wh/ns/t/x"));
  ASSERT_OK_AND_ASSIGN(StorageUri other_bucket, StorageUri::Parse("s3://c/wh/ns/t/x"));
  EXPECT_TRUE(s3_file.IsUnder(s3_root));
  EXPECT_FALSE(other_bucket.IsUnder(s3_root));
  EXPECT_FALSE(table.IsUnder(s3_root));
}

TEST(S3ConfigTest, EndpointUrlBecomesArrowOptions) {
  S3Config config;
  config.access_key_id = "key";
  config.secret_access_key = "secret";
  config.endpoint_url = "http://127.0.0.1:7070";
  ASSERT_OK_AND_ASSIGN(auto options, ToArrowS3Options(config));
  EXPECT_EQ(options.scheme, "http");
  EXPECT_EQ(options.endpoint_override, "127.0.0.1:7070");
  EXPECT_EQ(options.region, "us-east-1");
  EXPECT_EQ(options.GetAccessKey(), "key");

  config.endpoint_url = "http://s3.example.com";
  auto remote_http = ToArrowS3Options(config);
  ASSERT_FALSE(remote_http.ok());
  EXPECT_NE(remote_http.status().message().find("http://s3.example.com"), std::string::npos);
  config.endpoint_url = "https://s3.example.com:9000";
  ASSERT_OK_AND_ASSIGN(options, ToArrowS3Options(config));
  EXPECT_EQ(options.scheme, "https");
  EXPECT_EQ(options.endpoint_override, "s3.example.com:9000");

  // No keys: the AWS SDK's default chain (made once S3 support is up).
  config.access_key_id.clear();
  config.secret_access_key.clear();
  config.endpoint_url = "http://localhost:7070";
  ASSERT_OK_AND_ASSIGN(options, ToArrowS3Options(config));
  EXPECT_EQ(options.endpoint_override, "localhost:7070");

  config.access_key_id = "key";
  auto half = ToArrowS3Options(config);
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.status().message().find("AWS_SECRET_ACCESS_KEY"), std::string::npos);
}

// The cases every storage must pass, given a FileIO and an empty directory (or prefix) URI.
void ExpectFileIOWorks(FileIO& io, const std::string& root) {
  const std::string file = root + "/metadata/00001-a.metadata.json";
  ASSERT_OK_AND_ASSIGN(bool exists, io.Exists(file));
  EXPECT_FALSE(exists);
  auto missing = io.ReadAll(file);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(KindOf(missing.status()), ErrorKind::kNotFound) << missing.status().ToString();
  auto missing_input = io.OpenInput(file);
  ASSERT_FALSE(missing_input.ok());
  EXPECT_EQ(KindOf(missing_input.status()), ErrorKind::kNotFound) << missing_input.status().ToString();

  ASSERT_OK(io.WriteAtomically(file, "{\"format-version\": 2}"));
  ASSERT_OK_AND_ASSIGN(std::string text, io.ReadAll(file));
  EXPECT_EQ(text, "{\"format-version\": 2}");
  ASSERT_OK_AND_ASSIGN(exists, io.Exists(file));
  EXPECT_TRUE(exists);
  ASSERT_OK_AND_ASSIGN(StoredFileInfo info, io.Info(file));
  EXPECT_EQ(info.size, 21);
  auto age = std::chrono::system_clock::now() - info.modified;
  EXPECT_LT(std::chrono::abs(age), std::chrono::minutes(5));

  ASSERT_OK(io.WriteAtomically(file, "replaced"));
  ASSERT_OK_AND_ASSIGN(text, io.ReadAll(file));
  EXPECT_EQ(text, "replaced");

  // Streamed, with random access back.
  const std::string data = root + "/data/part-0.bin";
  ASSERT_OK_AND_ASSIGN(int64_t written,
                       io.WriteAtomically(data, [](const std::shared_ptr<arrow::io::OutputStream>& out) {
                         for (int i = 0; i < 1000; ++i) SLUICE_RETURN_NOT_OK(out->Write("0123456789", 10));
                         return Status::OK();
                       }));
  EXPECT_EQ(written, 10000);
  ASSERT_OK_AND_ASSIGN(auto input, io.OpenInput(data));
  ASSERT_OK_AND_ASSIGN(int64_t size, input->GetSize());
  EXPECT_EQ(size, 10000);
  char buffer[4];
  ASSERT_OK_AND_ASSIGN(int64_t got, input->ReadAt(9995, 4, buffer));
  EXPECT_EQ(got, 4);
  EXPECT_EQ(std::string(buffer, 4), "5678");

  // A failed write leaves nothing behind, not even a temporary file.
  const std::string failed = root + "/data/failed.bin";
  auto bad = io.WriteAtomically(failed, [](const std::shared_ptr<arrow::io::OutputStream>& out) {
    SLUICE_RETURN_NOT_OK(out->Write("partial", 7));
    return IOError("the writer gave up");
  });
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("the writer gave up"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(exists, io.Exists(failed));
  EXPECT_FALSE(exists);

  ASSERT_OK_AND_ASSIGN(auto listed, io.List(root));
  std::vector<std::string> names;
  for (const auto& f : listed) names.push_back(f.uri.ToString());
  ASSERT_OK_AND_ASSIGN(StorageUri root_uri, StorageUri::Parse(root));
  std::vector<std::string> expected = {root_uri.Join("data/part-0.bin").Normalized().ToString(),
                                       root_uri.Join("metadata/00001-a.metadata.json").Normalized().ToString()};
  EXPECT_EQ(names, expected);
  ASSERT_OK_AND_ASSIGN(auto nothing, io.List(root + "/absent"));
  EXPECT_TRUE(nothing.empty());

  ASSERT_OK(io.Delete(data));
  ASSERT_OK(io.Delete(data));  // already gone: fine
  ASSERT_OK_AND_ASSIGN(exists, io.Exists(data));
  EXPECT_FALSE(exists);
  ASSERT_OK_AND_ASSIGN(listed, io.List(root));
  EXPECT_EQ(listed.size(), 1u);
}

class LocalFileIOTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-storage-test-" + NewShortId(8));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(LocalFileIOTest, FileUris) {
  FileIO io{S3Config{}};
  ExpectFileIOWorks(io, "file://" + dir_.string() + "/table");
}

TEST_F(LocalFileIOTest, PlainPaths) {
  FileIO io{S3Config{}};
  ExpectFileIOWorks(io, dir_.string() + "/table");
}

TEST_F(LocalFileIOTest, ListingNeitherFollowsNorListsLinks) {
  FileIO io{S3Config{}};
  fs::create_directories(dir_ / "outside");
  ASSERT_OK(WriteFileAtomic((dir_ / "outside" / "secret").string(), "x"));
  fs::create_directories(dir_ / "warehouse");
  ASSERT_OK(WriteFileAtomic((dir_ / "warehouse" / "kept").string(), "y"));
  fs::create_directory_symlink(dir_ / "outside", dir_ / "warehouse" / "linked-dir");
  fs::create_symlink(dir_ / "outside" / "secret", dir_ / "warehouse" / "linked-file");
  ASSERT_OK_AND_ASSIGN(auto listed, io.List((dir_ / "warehouse").string()));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].uri.path(), (dir_ / "warehouse" / "kept").string());
}

TEST_F(LocalFileIOTest, ErrorsNameTheLocation) {
  FileIO io{S3Config{}};
  ASSERT_OK(WriteFileAtomic((dir_ / "a-file").string(), "x"));
  // A directory cannot be made where a file is.
  std::string below_file = "file://" + (dir_ / "a-file" / "t" / "m.json").string();
  Status st = io.WriteAtomically(below_file, "x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find((dir_ / "a-file").string()), std::string::npos) << st.ToString();
  auto unsupported = io.ReadAll("gs://bucket/key");
  ASSERT_FALSE(unsupported.ok());
  EXPECT_EQ(KindOf(unsupported.status()), ErrorKind::kInvalidInput);
  EXPECT_NE(unsupported.status().message().find("gs://bucket/key"), std::string::npos);
}

// A real S3-compatible server: `make test` starts versitygw (scripts/test_s3.sh) and sets
// SLUICE_TEST_S3_ENDPOINT=http://KEY:SECRET@127.0.0.1:PORT/BUCKET.
struct TestS3 {
  S3Config config;
  std::string bucket;
};

std::optional<TestS3> TestS3FromEnvironment() {
  const char* endpoint = std::getenv("SLUICE_TEST_S3_ENDPOINT");
  if (!endpoint || !*endpoint) return std::nullopt;
  arrow::util::Uri uri;
  TestS3 out;
  if (!uri.Parse(endpoint).ok()) return out;  // bucket left empty: the test fails, naming it
  out.config.access_key_id = uri.username();
  out.config.secret_access_key = uri.password();
  out.config.endpoint_url = uri.scheme() + "://" + uri.host() + (uri.port() > 0 ? ":" + uri.port_text() : "");
  out.config.region = "us-east-1";
  out.bucket = uri.path().empty() ? "" : uri.path().substr(1);
  return out;
}

class S3FileIOTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s3 = TestS3FromEnvironment();
    if (!s3) GTEST_SKIP() << "SLUICE_TEST_S3_ENDPOINT is not set (make test sets it)";
    ASSERT_FALSE(s3->bucket.empty()) << "SLUICE_TEST_S3_ENDPOINT names no bucket: "
                                     << std::getenv("SLUICE_TEST_S3_ENDPOINT");
    s3_ = *s3;
    root_ = "s3://" + s3_.bucket + "/storage-test-" + NewShortId(8);
  }
  TestS3 s3_;
  std::string root_;
};

TEST_F(S3FileIOTest, ReadsWritesListsAndDeletes) {
  FileIO io{s3_.config};
  ExpectFileIOWorks(io, root_);
}

TEST_F(S3FileIOTest, AnUnknownBucketIsAnErrorNamingTheUri) {
  FileIO io{s3_.config};
  std::string uri = "s3://no-such-bucket-" + NewShortId(6) + "/x.json";
  Status st = io.WriteAtomically(uri, "x");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find(uri), std::string::npos) << st.ToString();
}

TEST_F(S3FileIOTest, WrongCredentialsAreAnErrorNamingTheUri) {
  S3Config wrong = s3_.config;
  wrong.secret_access_key = "not-the-secret";
  FileIO io{wrong};
  std::string uri = root_ + "/x.json";
  auto read = io.ReadAll(uri);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find(uri), std::string::npos) << read.status().ToString();
}

// A loopback port nothing listens on (bound, then closed).
int ClosedPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof(address);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), size);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  ::close(fd);
  return ntohs(address.sin_port);
}

// Needs no server: the endpoint is down. Bounded by s3_config.h's connect timeout and retries
// (Arrow's defaults took about 6 s here).
TEST(S3FailureTest, AnEndpointThatIsDownFailsFastNamingTheUriWithAHint) {
  S3Config config;
  config.access_key_id = "key";
  config.secret_access_key = "secret";
  config.endpoint_url = "http://127.0.0.1:" + std::to_string(ClosedPort());
  FileIO io{config};
  const std::string uri = "s3://bucket/table/metadata/v1.metadata.json";
  auto start = std::chrono::steady_clock::now();
  auto read = io.ReadAll(uri);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find(uri), std::string::npos) << read.status().ToString();
  EXPECT_NE(HintOf(read.status()).find("AWS_ENDPOINT_URL"), std::string::npos) << read.status().ToString();
  EXPECT_LT(seconds, 3.0);
  Status write = io.WriteAtomically(uri, "{}");
  ASSERT_FALSE(write.ok());
  EXPECT_NE(write.message().find(uri), std::string::npos) << write.ToString();
}

}  // namespace
}  // namespace sluice
