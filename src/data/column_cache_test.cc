#include "data/column_cache.h"

#include <arrow/compute/initialize.h>
#include <arrow/io/file.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <parquet/arrow/reader.h>
#include <parquet/arrow/writer.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"
#include "data/table_scanner.h"

namespace sluice {
namespace {

const bool kComputeReady = arrow::compute::Initialize().ok();

std::shared_ptr<arrow::Buffer> Bytes(const std::string& text) { return arrow::Buffer::FromString(text); }

std::vector<std::string> EntryFiles(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir + "/entries")) {
    if (e.is_regular_file()) out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void SetMtime(const std::string& path, int64_t seconds) {
  struct timespec times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
}

class ColumnCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kComputeReady);
    dir_ = "/tmp/sluice-column-cache-test-" + NewShortId(8);
    ASSERT_OK(MakeDirs(dir_));
  }
  void TearDown() override { ASSERT_OK(RemoveAll(dir_)); }

  std::unique_ptr<ColumnCache> OpenCache(int64_t budget = 1 << 20) {
    ColumnCacheOptions options;
    options.directory = dir_ + "/cache";
    options.budget_bytes = budget;
    auto cache = ColumnCache::Open(options);
    EXPECT_TRUE(cache.ok()) << cache.status().ToString();
    return cache.ok() ? std::move(*cache) : nullptr;
  }

  // `row_groups` row groups of 100 rows: PULocationID = row number, trip_miles, fare_amount.
  std::string WriteTrips(const std::string& name, int64_t first, int row_groups) {
    arrow::Int64Builder ids;
    arrow::DoubleBuilder miles, fares;
    for (int64_t i = first; i < first + row_groups * 100; ++i) {
      EXPECT_OK(ids.Append(i));
      EXPECT_OK(miles.Append(i * 0.5));
      EXPECT_OK(fares.Append(i * 2.0));
    }
    auto table = arrow::Table::Make(
        arrow::schema({arrow::field("PULocationID", arrow::int64()), arrow::field("trip_miles", arrow::float64()),
                       arrow::field("fare_amount", arrow::float64())}),
        {*ids.Finish(), *miles.Finish(), *fares.Finish()});
    std::string path = dir_ + "/" + name;
    auto out = *arrow::io::FileOutputStream::Open(path);
    EXPECT_OK(parquet::arrow::WriteTable(*table, arrow::default_memory_pool(), out, 100));
    EXPECT_OK(out->Close());
    schema_ = table->schema();
    return path;
  }

  // Compressed bytes of `column` in the row groups of `path` that `keep` accepts.
  int64_t ChunkBytes(const std::string& path, const std::string& column, int first_rg = 0, int last_rg = 1 << 30) {
    auto reader = parquet::ParquetFileReader::OpenFile(path);
    auto metadata = reader->metadata();
    int64_t total = 0;
    for (int rg = first_rg; rg < metadata->num_row_groups() && rg <= last_rg; ++rg) {
      for (int c = 0; c < metadata->num_columns(); ++c) {
        auto chunk = metadata->RowGroup(rg)->ColumnChunk(c);
        if (chunk->path_in_schema()->ToDotString() == column) total += chunk->total_compressed_size();
      }
    }
    return total;
  }

  ScanRequest Scan(const std::vector<std::string>& files, ColumnCache* cache) {
    ScanRequest request;
    for (const auto& f : files) {
      request.files.push_back("file://" + f);
      request.file_sizes.push_back(static_cast<int64_t>(std::filesystem::file_size(f)));
    }
    request.schema = schema_;
    request.cache = cache;
    return request;
  }

  std::string dir_;
  std::shared_ptr<arrow::Schema> schema_;
};

TEST_F(ColumnCacheTest, HitsMissesAndKeys) {
  auto cache = OpenCache();
  ASSERT_OK_AND_ASSIGN(auto missing, cache->Get("file://a@size=1", "rg 0 col x"));
  EXPECT_EQ(missing, nullptr);
  ASSERT_OK(cache->Put("file://a@size=1", "rg 0 col x", *Bytes("chunk of x")));
  ASSERT_OK_AND_ASSIGN(auto hit, cache->Get("file://a@size=1", "rg 0 col x"));
  ASSERT_NE(hit, nullptr);
  EXPECT_EQ(hit->ToString(), "chunk of x");
  // Another size of the same location is another file.
  ASSERT_OK_AND_ASSIGN(auto other, cache->Get("file://a@size=2", "rg 0 col x"));
  EXPECT_EQ(other, nullptr);
  ASSERT_OK_AND_ASSIGN(ColumnCacheUsage usage, cache->Usage());
  EXPECT_EQ(usage.entries, 1);
  EXPECT_GT(usage.bytes, 10);
  // Only this user can reach the entries.
  struct stat info;
  ASSERT_EQ(::stat((dir_ + "/cache").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
}

TEST_F(ColumnCacheTest, DamagedOrTruncatedEntriesAreDroppedNeverReturned) {
  auto cache = OpenCache();
  ASSERT_OK(cache->Put("f@size=9", "rg 0 col a", *Bytes(std::string(1000, 'a'))));
  std::string path = EntryFiles(dir_ + "/cache").at(0);
  {
    // One byte of the payload changed, as a bad disk or another writer would.
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(-10, std::ios::end);
    file.put('b');
  }
  bool damaged = false;
  ASSERT_OK_AND_ASSIGN(auto flipped, cache->Get("f@size=9", "rg 0 col a", &damaged));
  EXPECT_EQ(flipped, nullptr);
  EXPECT_TRUE(damaged);
  EXPECT_FALSE(PathExists(path));
  // Truncated.
  ASSERT_OK(cache->Put("f@size=9", "rg 0 col a", *Bytes(std::string(1000, 'a'))));
  ASSERT_EQ(::truncate(path.c_str(), 500), 0);
  ASSERT_OK_AND_ASSIGN(auto cut, cache->Get("f@size=9", "rg 0 col a", &damaged));
  EXPECT_EQ(cut, nullptr);
  EXPECT_TRUE(damaged);
  // Another key's entry put at this key's name (a collision, or a swap on disk).
  ASSERT_OK(cache->Put("f@size=9", "rg 1 col a", *Bytes("other")));
  std::string other_path = EntryFiles(dir_ + "/cache").at(0);
  std::filesystem::copy_file(other_path, path);
  ASSERT_OK_AND_ASSIGN(auto swapped, cache->Get("f@size=9", "rg 0 col a", &damaged));
  EXPECT_EQ(swapped, nullptr);
  EXPECT_TRUE(damaged);
  EXPECT_EQ(cache->damaged_entries(), 3);
}

TEST_F(ColumnCacheTest, EvictsLeastRecentlyUsedUnderTheBudget) {
  auto cache = OpenCache(/*budget=*/4000);
  std::string kilobyte(1000, 'x');
  // Three entries, used long ago in this order: a, b, c.
  std::vector<std::string> paths;
  for (std::string part : {"a", "b", "c"}) {
    ASSERT_OK(cache->Put("f@size=1", part, *Bytes(kilobyte)));
    for (const auto& p : EntryFiles(dir_ + "/cache")) {
      if (std::find(paths.begin(), paths.end(), p) == paths.end()) paths.push_back(p);
    }
    SetMtime(paths.back(), 1000 + static_cast<int64_t>(paths.size()));
  }
  // A hit makes `a` the most recently used.
  ASSERT_OK_AND_ASSIGN(auto a, cache->Get("f@size=1", "a"));
  ASSERT_NE(a, nullptr);
  // A fourth entry goes over the budget: b goes first, then c (down to 90% of it).
  ASSERT_OK(cache->Put("f@size=1", "d", *Bytes(kilobyte)));
  ASSERT_OK_AND_ASSIGN(auto b, cache->Get("f@size=1", "b"));
  EXPECT_EQ(b, nullptr);
  ASSERT_OK_AND_ASSIGN(auto a_again, cache->Get("f@size=1", "a"));
  EXPECT_NE(a_again, nullptr);
  ASSERT_OK_AND_ASSIGN(auto d, cache->Get("f@size=1", "d"));
  EXPECT_NE(d, nullptr);
  ASSERT_OK_AND_ASSIGN(ColumnCacheUsage usage, cache->Usage());
  EXPECT_LE(usage.bytes, 4000);
  // More than the whole budget is not kept at all.
  ASSERT_OK(cache->Put("f@size=1", "huge", *Bytes(std::string(5000, 'h'))));
  ASSERT_OK_AND_ASSIGN(auto huge, cache->Get("f@size=1", "huge"));
  EXPECT_EQ(huge, nullptr);
  // Prune to nothing.
  ASSERT_OK_AND_ASSIGN(ColumnCacheUsage removed, cache->Prune(0));
  EXPECT_EQ(removed.entries, usage.entries);
  ASSERT_OK_AND_ASSIGN(ColumnCacheUsage after, cache->Usage());
  EXPECT_EQ(after.entries, 0);
}

TEST_F(ColumnCacheTest, EvictionNeverBreaksAReaderThatHasTheFileOpen) {
  auto cache = OpenCache();
  ASSERT_OK(cache->Put("f@size=1", "a", *Bytes("payload")));
  std::string path = EntryFiles(dir_ + "/cache").at(0);
  std::ifstream open_reader(path, std::ios::binary);
  ASSERT_OK(cache->Prune(0).status());
  EXPECT_FALSE(PathExists(path));
  std::string contents((std::istreambuf_iterator<char>(open_reader)), std::istreambuf_iterator<char>());
  EXPECT_NE(contents.find("payload"), std::string::npos);
}

TEST_F(ColumnCacheTest, ConcurrentWritersAndReadersOfOneDirectory) {
  // Two caches over one directory stand for two processes.
  auto first = OpenCache(1 << 16);
  auto second = OpenCache(1 << 16);
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 8; ++t) {
    ColumnCache* cache = t % 2 ? first.get() : second.get();
    threads.emplace_back([cache, t, &wrong] {
      for (int i = 0; i < 200; ++i) {
        std::string part = "rg " + std::to_string(i % 40) + " col c";
        std::string value(500 + i % 40, static_cast<char>('a' + i % 40 % 26));
        if ((i + t) % 3 == 0) {
          auto got = cache->Get("f@size=1", part);
          if (!got.ok() || (*got && (*got)->ToString() != value)) ++wrong;
        } else if (!cache->Put("f@size=1", part, *Bytes(value)).ok()) {
          ++wrong;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(first->damaged_entries() + second->damaged_entries(), 0);
  for (const auto& p : EntryFiles(dir_ + "/cache")) {
    EXPECT_EQ(std::filesystem::path(p).filename().string().rfind(".tmp-", 0), std::string::npos) << p;
  }
  ASSERT_OK_AND_ASSIGN(ColumnCacheUsage usage, first->Usage());
  EXPECT_LE(usage.bytes, 1 << 16);
}

TEST_F(ColumnCacheTest, BudgetFromTheEnvironmentOrTheSetting) {
  std::string dir = dir_ + "/budget";
  ASSERT_OK(MakeDirs(dir));
  ::setenv("SLUICE_COLUMN_CACHE_BYTES", "2M", 1);
  ASSERT_OK_AND_ASSIGN(int64_t from_env, ColumnCacheBudget(dir));
  EXPECT_EQ(from_env, 2 << 20);
  ::setenv("SLUICE_COLUMN_CACHE_BYTES", "lots", 1);
  auto bad = ColumnCacheBudget(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("SLUICE_COLUMN_CACHE_BYTES 'lots'"), std::string::npos);
  ::unsetenv("SLUICE_COLUMN_CACHE_BYTES");
  ASSERT_OK(SetColumnCacheBudget(dir, 3000));
  ASSERT_OK_AND_ASSIGN(int64_t from_setting, ColumnCacheBudget(dir));
  EXPECT_EQ(from_setting, 3000);
  ASSERT_OK(SetColumnCacheBudget(dir, 0));
  ASSERT_OK_AND_ASSIGN(int64_t fallback, ColumnCacheBudget(dir));
  EXPECT_GT(fallback, 0);
  EXPECT_LE(fallback, 10LL << 30);
}

TEST_F(ColumnCacheTest, ADirectoryOthersCanWriteIsRefused) {
  std::string dir = dir_ + "/open";
  ASSERT_EQ(::mkdir(dir.c_str(), 0777), 0);
  ASSERT_EQ(::chmod(dir.c_str(), 0777), 0);
  ColumnCacheOptions options;
  options.directory = dir;
  auto cache = ColumnCache::Open(options);
  ASSERT_FALSE(cache.ok());
  EXPECT_NE(cache.status().message().find(dir), std::string::npos);
}

TEST_F(ColumnCacheTest, AScanReadsFromStorageOnlyWhatTheCacheLacks) {
  auto cache = OpenCache(64 << 20);
  std::string january = WriteTrips("january.parquet", 0, 4);
  ScanRequest request = Scan({january}, cache.get());
  request.columns = {"PULocationID", "fare_amount"};
  ScanStats cold;
  ASSERT_OK_AND_ASSIGN(auto first, ScanTable(request, &cold));
  EXPECT_GT(cold.bytes_from_storage, 0);
  EXPECT_EQ(cold.bytes_from_cache, 0);
  EXPECT_EQ(cold.storage_reasons, std::vector<std::string>{"cold cache"});

  // The same scan again: nothing from storage, the same rows.
  ScanStats warm;
  ASSERT_OK_AND_ASSIGN(auto second, ScanTable(request, &warm));
  EXPECT_EQ(warm.bytes_from_storage, 0);
  EXPECT_EQ(warm.bytes_from_cache, cold.bytes_from_storage);
  EXPECT_TRUE(warm.storage_reasons.empty());
  EXPECT_TRUE(second->Equals(*first));

  // A new column: exactly its chunks from storage.
  request.columns = {"PULocationID", "fare_amount", "trip_miles"};
  ScanStats widened;
  ASSERT_OK_AND_ASSIGN(auto three, ScanTable(request, &widened));
  EXPECT_EQ(widened.bytes_from_storage, ChunkBytes(january, "trip_miles"));
  EXPECT_EQ(widened.storage_reasons, std::vector<std::string>{"new column trip_miles"});
  EXPECT_EQ(three->num_columns(), 3);

  // A filter that keeps two row groups, then one that keeps three: the third one's chunks only.
  request.columns = {"PULocationID", "fare_amount"};
  ASSERT_OK(cache->Prune(0).status());
  request.filter = "PULocationID < 200";
  ScanStats narrow;
  ASSERT_OK(ScanTable(request, &narrow).status());
  EXPECT_EQ(narrow.row_groups_read, 2);
  request.filter = "PULocationID < 300";
  ScanStats wider;
  ASSERT_OK_AND_ASSIGN(auto window, ScanTable(request, &wider));
  EXPECT_EQ(window->num_rows(), 300);
  EXPECT_EQ(wider.bytes_from_storage,
            ChunkBytes(january, "PULocationID", 2, 2) + ChunkBytes(january, "fare_amount", 2, 2));
  EXPECT_EQ(wider.storage_reasons, std::vector<std::string>{"1 new row group"});

  // A file appended to the table: that file only.
  request.filter = "";
  ASSERT_OK(ScanTable(request).status());
  ScanStats january_only;
  ASSERT_OK(ScanTable(request, &january_only).status());
  EXPECT_EQ(january_only.bytes_from_storage, 0);
  std::string february = WriteTrips("february.parquet", 400, 2);
  ScanRequest appended = Scan({january, february}, cache.get());
  appended.columns = request.columns;
  ScanStats after_append;
  ASSERT_OK_AND_ASSIGN(auto both, ScanTable(appended, &after_append));
  EXPECT_EQ(both->num_rows(), 600);
  EXPECT_EQ(after_append.bytes_from_cache, january_only.bytes_from_cache);
  // February's footer (Parquet reads the last 64 KiB, here the whole file) and its chunks.
  EXPECT_GE(after_append.bytes_from_storage,
            ChunkBytes(february, "PULocationID") + ChunkBytes(february, "fare_amount"));
  EXPECT_LE(after_append.bytes_from_storage, static_cast<int64_t>(std::filesystem::file_size(february)) +
                                                 ChunkBytes(february, "PULocationID") +
                                                 ChunkBytes(february, "fare_amount"));
  EXPECT_EQ(after_append.storage_reasons, std::vector<std::string>{"1 new data file"});

  // Without the cache: everything from storage, and said so.
  ScanRequest uncached = Scan({january}, nullptr);
  ScanStats off;
  ASSERT_OK(ScanTable(uncached, &off).status());
  EXPECT_EQ(off.bytes_from_cache, 0);
  EXPECT_EQ(off.storage_reasons, std::vector<std::string>{"cache off"});
}

TEST_F(ColumnCacheTest, ADamagedChunkIsReadAgainFromStorage) {
  auto cache = OpenCache(64 << 20);
  std::string path = WriteTrips("trips.parquet", 0, 2);
  ScanRequest request = Scan({path}, cache.get());
  ASSERT_OK_AND_ASSIGN(auto expected, ScanTable(request));
  // Every entry damaged in place: a wrong byte near its end.
  for (const auto& entry : EntryFiles(dir_ + "/cache")) {
    std::fstream file(entry, std::ios::in | std::ios::out | std::ios::binary);
    file.seekg(-1, std::ios::end);
    char last = static_cast<char>(file.get());
    file.seekp(-1, std::ios::end);
    file.put(static_cast<char>(last ^ 0x5a));
  }
  ScanStats stats;
  ASSERT_OK_AND_ASSIGN(auto again, ScanTable(request, &stats));
  EXPECT_TRUE(again->Equals(*expected));
  EXPECT_EQ(stats.bytes_from_cache, 0);
  EXPECT_GT(stats.bytes_from_storage, 0);
  ASSERT_FALSE(stats.storage_reasons.empty());
  EXPECT_NE(stats.storage_reasons.back().find("damaged cache entr"), std::string::npos);
  // And the cache holds good entries again.
  ScanStats healed;
  ASSERT_OK(ScanTable(request, &healed).status());
  EXPECT_EQ(healed.bytes_from_storage, 0);
}

}  // namespace
}  // namespace sluice
