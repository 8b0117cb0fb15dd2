#include "data/memory_budget.h"

#include <arrow/json/from_string.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"
#include "data/object_store.h"
#include "data/spill_dir.h"

namespace sluice {
namespace {

std::vector<std::string> Keys(const std::vector<MemoryBudget::Victim>& victims) {
  std::vector<std::string> keys;
  for (const auto& v : victims) keys.push_back(v.key);
  return keys;
}

TEST(MemoryBudgetTest, PicksLeastRecentlyUsedFirstUntilItFits) {
  MemoryBudget budget(100);
  budget.AddResident("runs/j/a", 30, true);
  budget.AddResident("runs/j/b", 30, true);
  budget.AddResident("runs/j/c", 30, true);
  budget.Touch("runs/j/a");                     // a handed to a reader: now the most recent
  EXPECT_TRUE(budget.PickVictims(10).empty());  // 90 + 10 fits
  auto victims = budget.PickVictims(40);        // 90 + 40: 30 must go
  EXPECT_EQ(Keys(victims), std::vector<std::string>{"runs/j/b"});
  budget.Spilled("runs/j/b");
  EXPECT_EQ(budget.live_bytes(), 60);
  EXPECT_TRUE(budget.IsSpilled("runs/j/b"));
  victims = budget.PickVictims(100);  // everything left, c before a
  EXPECT_EQ(Keys(victims), (std::vector<std::string>{"runs/j/c", "runs/j/a"}));
  for (const auto& v : victims) budget.Spilled(v.key);
  EXPECT_EQ(budget.live_bytes(), 0);
  EXPECT_EQ(budget.spilled_bytes(), 90);
  auto stats = budget.GroupStats("runs/j");
  EXPECT_EQ(stats.peak_bytes, 90);
  EXPECT_EQ(stats.spilled_bytes, 90);
  EXPECT_EQ(stats.spilled_objects, 3);
}

TEST(MemoryBudgetTest, NeverPicksWritingLeavingUnspillableOrTheAsker) {
  MemoryBudget budget(100);
  budget.AddWriting("runs/j/w", 50);
  budget.AddResident("runs/j/d", 50, /*spillable=*/false);  // say, a descriptor
  budget.AddResident("runs/j/x", 50, true);
  EXPECT_TRUE(budget.PickVictims(0, /*keep=*/"runs/j/x").empty());
  auto victims = budget.PickVictims(0);
  EXPECT_EQ(Keys(victims), std::vector<std::string>{"runs/j/x"});
  // Leaving: not picked twice, and another thread asking for room sees it as gone already.
  EXPECT_TRUE(budget.PickVictims(0).empty());
  EXPECT_EQ(budget.live_bytes(), 150);  // still resident until Spilled
  budget.SpillFailed("runs/j/x");
  EXPECT_EQ(budget.live_bytes(), 150);
  EXPECT_EQ(Keys(budget.PickVictims(0)), std::vector<std::string>{"runs/j/x"});
}

TEST(MemoryBudgetTest, NotOverTheBudgetAfterASpillUnlessOneObjectIsLarger) {
  MemoryBudget budget(100);
  for (int i = 0; i < 10; ++i) {
    std::string key = "runs/j/" + std::to_string(i);
    for (const auto& v : budget.PickVictims(40, key)) budget.Spilled(v.key);
    budget.AddWriting(key, 40);
    budget.AddResident(key, 40, true);
    EXPECT_LE(budget.live_bytes(), 100) << i;
  }
  // One object larger than the whole budget: everything else goes, it stays (it was just
  // written and is what the next reader wants), and goes at the next request for room.
  for (const auto& v : budget.PickVictims(250, "runs/j/big")) budget.Spilled(v.key);
  EXPECT_EQ(budget.live_bytes(), 0);
  budget.AddResident("runs/j/big", 250, true);
  EXPECT_TRUE(budget.PickVictims(0, "runs/j/big").empty());
  EXPECT_EQ(budget.live_bytes(), 250);
  EXPECT_EQ(Keys(budget.PickVictims(10, "runs/j/next")), std::vector<std::string>{"runs/j/big"});
  EXPECT_LE(budget.peak_bytes(), 100 + 250);
}

TEST(MemoryBudgetTest, NoBudgetCountsButNeverPicks) {
  MemoryBudget budget(0);
  budget.AddResident("runs/j/a", 1 << 20, true);
  EXPECT_TRUE(budget.PickVictims(int64_t{1} << 40).empty());
  EXPECT_EQ(budget.live_bytes(), 1 << 20);
}

TEST(MemoryBudgetTest, RemoveGroupForgetsARunAndItsStats) {
  MemoryBudget budget(100);
  budget.AddResident("runs/a/x", 10, true);
  budget.AddResident("runs/b/x", 20, true);
  budget.AddWriting("runs/a/y", 5);
  budget.RemoveGroup("runs/a");
  EXPECT_EQ(budget.live_bytes(), 20);
  EXPECT_EQ(budget.GroupStats("runs/a").peak_bytes, 0);
  EXPECT_EQ(budget.GroupStats("runs/b").live_bytes, 20);
  EXPECT_EQ(MemoryBudget::GroupOf("queries/q1/t"), "queries/q1");
  EXPECT_EQ(MemoryBudget::GroupOf("api/x.arrow"), "api");
}

// Threads of one run adding, touching and spilling at once: the count stays exact, nothing
// is picked twice, and live bytes are within the budget whenever everyone has made room.
TEST(MemoryBudgetTest, ThreadSafe) {
  MemoryBudget budget(1000);
  std::atomic<int64_t> spilled{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) {
        std::string key = "runs/j/" + std::to_string(t) + "-" + std::to_string(i);
        for (const auto& v : budget.PickVictims(10, key)) {
          spilled += v.bytes;
          budget.Spilled(v.key);
        }
        budget.AddWriting(key, 10);
        budget.AddResident(key, 10, true);
        budget.Touch("runs/j/" + std::to_string(t) + "-" + std::to_string(i / 2));
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(budget.spilled_bytes(), spilled.load());
  EXPECT_EQ(budget.live_bytes() + budget.spilled_bytes(), 8 * 500 * 10);
  // Each thread is at most one object ahead of the room it made.
  EXPECT_LE(budget.live_bytes(), 1000 + 8 * 10);
  EXPECT_LE(budget.peak_bytes(), 1000 + 8 * 10);
}

TEST(MemoryBudgetTest, SettingFromTheEnvironmentTheHomeOrTheDefault) {
  std::string home = "/tmp/sluice-budget-test-" + NewShortId(8);
  ASSERT_OK(MakeDirs(home));
  ::unsetenv("SLUICE_MEMORY_BUDGET");
  ASSERT_OK_AND_ASSIGN(auto fallback, ResolveMemoryBudget(home, "/dev/shm"));
  EXPECT_GT(fallback.bytes, 0);
  EXPECT_NE(fallback.source.find("default"), std::string::npos);
  ASSERT_OK(SetMemoryBudgetSetting(home, "2GiB"));
  ASSERT_OK_AND_ASSIGN(auto set, ResolveMemoryBudget(home, "/dev/shm"));
  EXPECT_EQ(set.bytes, int64_t{2} << 30);
  EXPECT_FALSE(SetMemoryBudgetSetting(home, "lots").ok());
  ::setenv("SLUICE_MEMORY_BUDGET", "48MiB", 1);
  ASSERT_OK_AND_ASSIGN(auto env, ResolveMemoryBudget(home, "/dev/shm"));
  EXPECT_EQ(env.bytes, int64_t{48} << 20);
  EXPECT_EQ(env.source, "SLUICE_MEMORY_BUDGET");
  ::setenv("SLUICE_MEMORY_BUDGET", "off", 1);
  ASSERT_OK_AND_ASSIGN(auto off, ResolveMemoryBudget(home, "/dev/shm"));
  EXPECT_EQ(off.bytes, 0);
  ::setenv("SLUICE_MEMORY_BUDGET", "2X", 1);
  EXPECT_FALSE(ResolveMemoryBudget(home, "/dev/shm").ok());
  ::unsetenv("SLUICE_MEMORY_BUDGET");
  ASSERT_OK(RemoveAll(home));
}

// --- The object store with a budget: spill to disk and read back --------------------------

class SpillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/sluice-spill-test-" + NewShortId(8);
    ASSERT_OK(MakeDirs(dir_));
    auto store = ObjectStore::Open(dir_ + "/shm");
    ASSERT_OK(store.status());
    store_ = std::move(*store);
  }
  void TearDown() override { ASSERT_OK(RemoveAll(dir_)); }

  // About `rows` * 8 bytes.
  std::shared_ptr<arrow::Table> Table(int64_t rows, int64_t start) {
    arrow::Int64Builder values;
    for (int64_t i = 0; i < rows; ++i) EXPECT_OK(values.Append(start + i));
    return arrow::Table::Make(arrow::schema({arrow::field("v", arrow::int64())}), {*values.Finish()});
  }

  std::string dir_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(SpillTest, OverTheBudgetTheLeastRecentlyUsedGoToDiskAndReadBack) {
  store_->SetMemoryBudget(200000, dir_ + "/spill");
  std::vector<std::string> paths;
  std::vector<std::shared_ptr<arrow::Table>> tables;
  for (int i = 0; i < 5; ++i) {  // ~80 kB each: at most two fit
    tables.push_back(Table(10000, i * 10000));
    ASSERT_OK_AND_ASSIGN(std::string path, store_->Put("runs/job/t" + std::to_string(i), *tables.back()));
    paths.push_back(path);
    EXPECT_LE(store_->Usage("runs/job").live_bytes, 200000);
  }
  EXPECT_FALSE(PathExists(paths[0]));                    // gone from shared memory...
  EXPECT_TRUE(PathExists(dir_ + "/spill/runs/job/t0"));  // ...to disk, same key
  struct stat info {};
  ASSERT_EQ(::stat((dir_ + "/spill").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0700u);
  auto usage = store_->Usage("runs/job");
  EXPECT_GT(usage.spilled_bytes, 0);
  EXPECT_LE(usage.peak_bytes, 200000 + 80100);
  for (int i = 0; i < 5; ++i) {  // the caller's path still works, wherever the object is
    ASSERT_OK_AND_ASSIGN(auto back, store_->Get(paths[i]));
    EXPECT_TRUE(back->Equals(*tables[i])) << i;
    ASSERT_OK_AND_ASSIGN(OwnedFd fd, store_->OpenForReader(paths[i]));
    EXPECT_GE(fd.get(), 0);
    EXPECT_GT(store_->ObjectBytes(paths[i]), 80000);
  }
  ASSERT_OK(store_->ReleaseAll("runs/job"));
  EXPECT_FALSE(PathExists(dir_ + "/spill/runs/job"));
  EXPECT_FALSE(PathExists(dir_ + "/shm/runs/job"));
  EXPECT_EQ(store_->Usage("runs/job").live_bytes, 0);
}

TEST_F(SpillTest, AWorkerOutputIsCountedWhenWrittenAndNeverSpilledWhileWritten) {
  store_->SetMemoryBudget(100000, dir_ + "/spill");
  ASSERT_OK_AND_ASSIGN(std::string first, store_->Put("runs/job/first", *Table(10000, 0)));
  std::string out = dir_ + "/shm/runs/job/out.arrow";
  ASSERT_OK(store_->ClaimForWriter(out, 80000));  // 80 + 80 > 100: first goes
  EXPECT_FALSE(PathExists(first));
  // The claimed file is being written: asking for room cannot take it.
  ASSERT_OK_AND_ASSIGN(std::string other, store_->Put("runs/job/other", *Table(10000, 0)));
  EXPECT_TRUE(PathExists(out));
  // "The worker" writes an IPC file into it, then says so.
  ASSERT_OK_AND_ASSIGN(std::string scratch, store_->Put("runs/scratch/x", *Table(10000, 5)));
  std::filesystem::copy_file(scratch, out, std::filesystem::copy_options::overwrite_existing);
  ASSERT_OK(store_->Written(out));
  EXPECT_TRUE(PathExists(out));  // just written: it stays, older ones went
  EXPECT_FALSE(PathExists(other));
  ASSERT_OK_AND_ASSIGN(auto back, store_->Get(out));
  EXPECT_TRUE(back->Equals(*Table(10000, 5)));
  EXPECT_TRUE(store_->IsSpillable(out));
  // Not an IPC file (later: a descriptor of a worker's memory): never spilled.
  ASSERT_OK(WriteFileAtomic(dir_ + "/shm/runs/job/descriptor", "not arrow"));
  EXPECT_FALSE(store_->IsSpillable(dir_ + "/shm/runs/job/descriptor"));
  EXPECT_FALSE(store_->IsSpillable(dir_ + "/elsewhere"));
}

TEST_F(SpillTest, AnUnwritableSpillDirectoryIsOneClearError) {
  ASSERT_OK(WriteFileAtomic(dir_ + "/spill", "a file, not a directory"));
  store_->SetMemoryBudget(100000, dir_ + "/spill");
  ASSERT_OK_AND_ASSIGN(std::string first, store_->Put("runs/job/a", *Table(10000, 0)));
  auto second = store_->Put("runs/job/b", *Table(10000, 0));
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(dir_ + "/spill"), std::string::npos) << second.status().message();
  EXPECT_NE(second.status().message().find("runs/job/a"), std::string::npos) << second.status().message();
  // What could not be spilled stays readable where it was.
  ASSERT_OK_AND_ASSIGN(auto back, store_->Get(first));
  EXPECT_EQ(back->num_rows(), 10000);
}

// A link or a file planted under the spill directory: never followed, never written into,
// never read as an object.
TEST_F(SpillTest, PlantedLinksAndFilesAreNotFollowed) {
  std::string outside = dir_ + "/outside";
  ASSERT_OK(MakeDirs(outside));
  ASSERT_OK(WriteFileAtomic(outside + "/secret", "keep me"));
  ASSERT_OK(MakeDirs(dir_ + "/spill/runs/job"));
  // A link at the very path an object will spill to, pointing at a file outside.
  ASSERT_EQ(::symlink((outside + "/secret").c_str(), (dir_ + "/spill/runs/job/a").c_str()), 0);
  // And a link where another run's directory will be.
  ASSERT_EQ(::symlink(outside.c_str(), (dir_ + "/spill/runs/job2").c_str()), 0);
  store_->SetMemoryBudget(100000, dir_ + "/spill");
  auto table = Table(10000, 0);
  ASSERT_OK_AND_ASSIGN(std::string a, store_->Put("runs/job/a", *table));
  ASSERT_OK_AND_ASSIGN(std::string b, store_->Put("runs/job/b", *table));  // a spills over the link
  EXPECT_FALSE(PathExists(a));
  EXPECT_EQ(*ReadFile(outside + "/secret"), "keep me");
  struct stat info {};
  ASSERT_EQ(::lstat((dir_ + "/spill/runs/job/a").c_str(), &info), 0);
  EXPECT_TRUE(S_ISREG(info.st_mode));  // the link was replaced by the object
  ASSERT_OK_AND_ASSIGN(auto back, store_->Get(a));
  EXPECT_TRUE(back->Equals(*table));
  // Swapped for a link after it was written: refused, not read.
  ASSERT_EQ(::rename((dir_ + "/spill/runs/job/a").c_str(), (dir_ + "/moved").c_str()), 0);
  ASSERT_EQ(::symlink((dir_ + "/moved").c_str(), (dir_ + "/spill/runs/job/a").c_str()), 0);
  EXPECT_FALSE(store_->Get(a).ok());
  // Swapped for another file: refused too.
  ASSERT_EQ(::unlink((dir_ + "/spill/runs/job/a").c_str()), 0);
  ASSERT_OK(WriteFileAtomic(dir_ + "/spill/runs/job/a", "ARROW1 forged"));
  EXPECT_FALSE(store_->Get(a).ok());
  // Spilling into a run directory that is a link fails; nothing lands outside.
  ASSERT_OK_AND_ASSIGN(std::string c, store_->Put("runs/job2/c", *table));  // b spills, fine
  EXPECT_FALSE(PathExists(b));
  auto d = store_->Put("runs/job2/d", *table);  // now c must go, into the link: refused
  ASSERT_FALSE(d.ok());
  EXPECT_NE(d.status().message().find("a link or a file"), std::string::npos) << d.status().message();
  ASSERT_OK_AND_ASSIGN(auto still, store_->Get(c));  // c stays where it was
  EXPECT_TRUE(still->Equals(*table));
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(outside), std::filesystem::directory_iterator()), 1);
  // Releasing does not follow the link either.
  ASSERT_OK(store_->ReleaseAll("runs/job2"));
  EXPECT_EQ(*ReadFile(outside + "/secret"), "keep me");
  ASSERT_OK(store_->ReleaseAll("runs/job"));
  EXPECT_FALSE(PathExists(dir_ + "/spill/runs/job"));
}

}  // namespace
}  // namespace sluice
