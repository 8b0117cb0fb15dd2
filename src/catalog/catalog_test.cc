#include "catalog/catalog.h"

#include <gtest/gtest.h>

#include <thread>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"

namespace sluice {
namespace {

class CatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = "/tmp/sluice-catalog-test-" + NewShortId(8);
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(home_));
  }
  void TearDown() override {
    catalog_.reset();
    ASSERT_OK(RemoveAll(home_));
  }
  Result<Commit> Put(const std::string& branch, const std::string& table, const std::string& location) {
    CommitRequest request;
    request.branch = branch;
    request.changes[table] = location;
    request.author = "tester";
    request.message = "put " + table;
    return catalog_->CommitChanges(request);
  }
  std::string home_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogTest, AFreshCatalogHasMainAtAnEmptyRoot) {
  ASSERT_OK_AND_ASSIGN(ResolvedRef main, catalog_->Resolve("main"));
  EXPECT_EQ(main.branch, "main");
  EXPECT_TRUE(main.tree.tables.empty());
  EXPECT_EQ(main.commit.id.size(), 64u);
  ASSERT_OK_AND_ASSIGN(auto branches, catalog_->ListBranches());
  ASSERT_EQ(branches.size(), 1u);
  // Reopening finds the same state.
  ASSERT_OK_AND_ASSIGN(auto again, Catalog::Open(home_));
  ASSERT_OK_AND_ASSIGN(ResolvedRef main2, again->Resolve("main"));
  EXPECT_EQ(main2.commit.id, main.commit.id);
}

TEST_F(CatalogTest, BranchesAndTags) {
  ASSERT_OK(catalog_->CreateBranch("alice.dev", "main"));
  EXPECT_EQ(KindOf(catalog_->CreateBranch("alice.dev", "main")), ErrorKind::kAlreadyExists);
  EXPECT_EQ(KindOf(catalog_->CreateBranch("bad name", "main")), ErrorKind::kInvalidInput);
  EXPECT_EQ(KindOf(catalog_->CreateBranch("x@y", "main")), ErrorKind::kInvalidInput);
  EXPECT_EQ(KindOf(catalog_->CreateBranch("x", "nope")), ErrorKind::kNotFound);
  ASSERT_OK(catalog_->CreateBranch("bob.dev", "alice.dev"));
  ASSERT_OK_AND_ASSIGN(auto dev, catalog_->ListBranches(".dev"));
  ASSERT_EQ(dev.size(), 2u);
  EXPECT_EQ(dev[0].name, "alice.dev");
  ASSERT_OK(catalog_->RenameBranch("bob.dev", "carol.dev"));
  EXPECT_EQ(KindOf(catalog_->Resolve("bob.dev").status()), ErrorKind::kNotFound);
  ASSERT_OK(catalog_->DeleteBranch("carol.dev"));
  EXPECT_FALSE(catalog_->DeleteBranch("main").ok());
  ASSERT_OK(Put("alice.dev", "ns.t", "file:///t/v1").status());
  ASSERT_OK(catalog_->CreateTag("v1", "alice.dev"));
  ASSERT_OK_AND_ASSIGN(ResolvedRef tag, catalog_->Resolve("v1"));
  EXPECT_TRUE(tag.branch.empty());
  EXPECT_EQ(tag.tree.tables.at("ns.t"), "file:///t/v1");
  ASSERT_OK_AND_ASSIGN(auto tags, catalog_->ListTags());
  EXPECT_EQ(tags.size(), 1u);
  // Tags are not written.
  EXPECT_FALSE(Put("v1", "ns.u", "file:///u").ok());
  ASSERT_OK(catalog_->DeleteTag("v1"));
  EXPECT_FALSE(catalog_->Resolve("v1").ok());
}

TEST_F(CatalogTest, CommitsLogAndTimeTravel) {
  ASSERT_OK(catalog_->CreateBranch("dev", "main"));
  ASSERT_OK_AND_ASSIGN(Commit first, Put("dev", "ns.a", "file:///a/1"));
  ASSERT_OK_AND_ASSIGN(Commit second, Put("dev", "ns.a", "file:///a/2"));
  ASSERT_OK_AND_ASSIGN(auto log, catalog_->Log("dev"));
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].id, second.id);
  EXPECT_EQ(log[1].id, first.id);
  ASSERT_OK_AND_ASSIGN(auto limited, catalog_->Log("dev", 1));
  EXPECT_EQ(limited.size(), 1u);
  ASSERT_OK_AND_ASSIGN(ResolvedRef old, catalog_->Resolve("dev@" + first.id.substr(0, 8)));
  EXPECT_EQ(old.tree.tables.at("ns.a"), "file:///a/1");
  EXPECT_TRUE(old.branch.empty());
  ASSERT_OK_AND_ASSIGN(ResolvedRef by_hash, catalog_->Resolve("@" + first.id));
  EXPECT_EQ(by_hash.commit.id, first.id);
  // A commit of dev is not in main's history.
  EXPECT_EQ(KindOf(catalog_->Resolve("main@" + first.id).status()), ErrorKind::kNotFound);
  EXPECT_EQ(KindOf(catalog_->Resolve("@zz").status()), ErrorKind::kInvalidInput);
  // Dropping a table, and dropping one that is not there.
  CommitRequest drop;
  drop.branch = "dev";
  drop.changes["ns.a"] = std::nullopt;
  ASSERT_OK(catalog_->CommitChanges(drop).status());
  EXPECT_EQ(KindOf(catalog_->CommitChanges(drop).status()), ErrorKind::kNotFound);
}

TEST_F(CatalogTest, CompareAndSwapRejectsAStaleHead) {
  ASSERT_OK(catalog_->CreateBranch("dev", "main"));
  ASSERT_OK_AND_ASSIGN(ResolvedRef head, catalog_->Resolve("dev"));
  ASSERT_OK(Put("dev", "ns.a", "file:///a").status());
  CommitRequest stale;
  stale.branch = "dev";
  stale.changes["ns.b"] = "file:///b";
  stale.expected_head = head.commit.id;
  auto result = catalog_->CommitChanges(stale);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(KindOf(result.status()), ErrorKind::kConflict);
  ASSERT_OK_AND_ASSIGN(ResolvedRef after, catalog_->Resolve("dev"));
  EXPECT_EQ(after.tree.tables.count("ns.b"), 0u);
}

TEST_F(CatalogTest, IdenticalTreesAreStoredOnceAndBranchesCopyNothing) {
  ASSERT_OK(catalog_->CreateBranch("a", "main"));
  ASSERT_OK(catalog_->CreateBranch("b", "main"));
  ASSERT_OK_AND_ASSIGN(Commit on_a, Put("a", "ns.t", "file:///same"));
  ASSERT_OK_AND_ASSIGN(Commit on_b, Put("b", "ns.t", "file:///same"));
  EXPECT_EQ(on_a.tree_id, on_b.tree_id);
  ASSERT_OK(catalog_->CreateBranch("c", "a"));
  ASSERT_OK_AND_ASSIGN(ResolvedRef c, catalog_->Resolve("c"));
  EXPECT_EQ(c.commit.id, on_a.id);
}

TEST_F(CatalogTest, ConcurrentWritersFromTwoConnectionsLoseNothing) {
  ASSERT_OK(catalog_->CreateBranch("dev", "main"));
  ASSERT_OK_AND_ASSIGN(auto other, Catalog::Open(home_));
  constexpr int kCommits = 40;
  auto writer = [&](Catalog* catalog, const std::string& prefix) {
    for (int i = 0; i < kCommits; ++i) {
      CommitRequest request;
      request.branch = "dev";
      request.changes["ns." + prefix + std::to_string(i)] = "file:///x";
      EXPECT_OK(catalog->CommitChanges(request).status());
    }
  };
  std::thread a(writer, catalog_.get(), "a"), b(writer, other.get(), "b");
  a.join();
  b.join();
  ASSERT_OK_AND_ASSIGN(ResolvedRef dev, catalog_->Resolve("dev"));
  EXPECT_EQ(dev.tree.tables.size(), 2u * kCommits);
  ASSERT_OK_AND_ASSIGN(auto log, catalog_->Log("dev"));
  EXPECT_EQ(log.size(), 2u * kCommits + 1);
}

TEST_F(CatalogTest, MergeFastForwardNoOpThreeWayAndConflict) {
  ASSERT_OK(catalog_->CreateBranch("dev", "main"));
  ASSERT_OK(Put("dev", "ns.a", "file:///a1").status());
  ASSERT_OK_AND_ASSIGN(MergeResult ff, catalog_->Merge("dev", "main", "tester", "ff"));
  EXPECT_TRUE(ff.fast_forward);
  ASSERT_OK_AND_ASSIGN(MergeResult again, catalog_->Merge("dev", "main", "tester", "again"));
  EXPECT_TRUE(again.no_op);
  // Disjoint changes on both sides: a merge commit with both.
  ASSERT_OK(catalog_->CreateBranch("other", "main"));
  ASSERT_OK(Put("dev", "ns.b", "file:///b").status());
  ASSERT_OK(Put("other", "ns.c", "file:///c").status());
  ASSERT_OK_AND_ASSIGN(MergeResult three, catalog_->Merge("other", "dev", "tester", "3way"));
  EXPECT_FALSE(three.fast_forward);
  EXPECT_EQ(three.commit.parents.size(), 2u);
  ASSERT_OK_AND_ASSIGN(ResolvedRef dev, catalog_->Resolve("dev"));
  EXPECT_EQ(dev.tree.tables.size(), 3u);
  // The same table changed on both sides: a conflict, target unchanged.
  ASSERT_OK(Put("dev", "ns.a", "file:///a-dev").status());
  ASSERT_OK(Put("other", "ns.a", "file:///a-other").status());
  ASSERT_OK_AND_ASSIGN(ResolvedRef before, catalog_->Resolve("dev"));
  auto conflict = catalog_->Merge("other", "dev", "tester", "conflict");
  ASSERT_FALSE(conflict.ok());
  EXPECT_EQ(KindOf(conflict.status()), ErrorKind::kConflict);
  EXPECT_NE(conflict.status().message().find("ns.a"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(ResolvedRef after, catalog_->Resolve("dev"));
  EXPECT_EQ(after.commit.id, before.commit.id);
}

}  // namespace
}  // namespace sluice
