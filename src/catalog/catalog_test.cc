#include "catalog/catalog.h"
#include "catalog/table_name.h"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <cstdlib>
#include <functional>
#include <thread>

#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"

namespace sluice {
namespace {

// Every test runs against both stores: SQLite in a temporary data home, and PostgreSQL in
// a fresh database of the server `make test` starts (SLUICE_TEST_POSTGRES).
class CatalogTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    home_ = "/tmp/sluice-catalog-test-" + NewShortId(8);
    if (GetParam() == "postgres") {
      const char* server = std::getenv("SLUICE_TEST_POSTGRES");
      if (!server || !*server) GTEST_SKIP() << "SLUICE_TEST_POSTGRES is not set (make test sets it)";
      server_ = server;
      database_ = "catalog_" + NewShortId(10);
      ASSERT_OK(AdminCommand("CREATE DATABASE " + database_));
      uri_ = server_;
      uri_.replace(uri_.find("/postgres?"), 10, "/" + database_ + "?");
    }
    ASSERT_OK_AND_ASSIGN(catalog_, OpenCatalog());
  }
  void TearDown() override {
    catalog_.reset();
    if (!database_.empty()) ASSERT_OK(AdminCommand("DROP DATABASE " + database_ + " WITH (FORCE)"));
    ASSERT_OK(RemoveAll(home_));
  }
  Result<std::unique_ptr<Catalog>> OpenCatalog() const {
    return GetParam() == "postgres" ? Catalog::OpenUri(uri_) : Catalog::Open(home_);
  }
  Status AdminCommand(const std::string& sql) {
    PGconn* conn = PQconnectdb(server_.c_str());
    PGresult* result = PQexec(conn, sql.c_str());
    bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    std::string message = PQerrorMessage(conn);
    PQclear(result);
    PQfinish(conn);
    return ok ? Status::OK() : IOError(sql, ": ", message);
  }
  Result<Commit> Put(const std::string& branch, const std::string& table, const std::string& location) {
    CommitRequest request;
    request.branch = branch;
    request.changes[table] = location;
    request.author = "tester";
    request.message = "put " + table;
    return catalog_->CommitChanges(request);
  }
  std::string home_, server_, database_, uri_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_P(CatalogTest, AFreshCatalogHasMainAtAnEmptyRoot) {
  ASSERT_OK_AND_ASSIGN(ResolvedRef main, catalog_->Resolve("main"));
  EXPECT_EQ(main.branch, "main");
  EXPECT_TRUE(main.tree.tables.empty());
  EXPECT_EQ(main.commit.id.size(), 64u);
  ASSERT_OK_AND_ASSIGN(auto branches, catalog_->ListBranches());
  ASSERT_EQ(branches.size(), 1u);
  // Reopening finds the same state.
  ASSERT_OK_AND_ASSIGN(auto again, OpenCatalog());
  ASSERT_OK_AND_ASSIGN(ResolvedRef main2, again->Resolve("main"));
  EXPECT_EQ(main2.commit.id, main.commit.id);
}

TEST_P(CatalogTest, BranchesAndTags) {
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

TEST_P(CatalogTest, CommitsLogAndTimeTravel) {
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

TEST_P(CatalogTest, AStaleHeadRebasesDisjointChangesAndRejectsOverlappingOnes) {
  ASSERT_OK(catalog_->CreateBranch("dev", "main"));
  ASSERT_OK_AND_ASSIGN(ResolvedRef head, catalog_->Resolve("dev"));
  ASSERT_OK(Put("dev", "ns.a", "file:///a").status());
  CommitRequest disjoint;
  disjoint.branch = "dev";
  disjoint.changes["ns.b"] = "file:///b";
  disjoint.expected_head = head.commit.id;
  ASSERT_OK(catalog_->CommitChanges(disjoint).status());
  ASSERT_OK_AND_ASSIGN(ResolvedRef both, catalog_->Resolve("dev"));
  EXPECT_EQ(both.tree.tables.size(), 2u);

  CommitRequest overlapping;
  overlapping.branch = "dev";
  overlapping.changes["ns.a"] = "file:///a-late";
  overlapping.expected_head = head.commit.id;
  auto result = catalog_->CommitChanges(overlapping);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(KindOf(result.status()), ErrorKind::kConflict);
  EXPECT_NE(result.status().message().find("ns.a"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(ResolvedRef after, catalog_->Resolve("dev"));
  EXPECT_EQ(after.tree.tables.at("ns.a"), "file:///a");
}

TEST_P(CatalogTest, NamespacesDiffAndTagRename) {
  ASSERT_OK(catalog_->CreateBranch("dev", "main"));
  CommitRequest create;
  create.branch = "dev";
  create.namespaces_to_add = {"raw"};
  ASSERT_OK(catalog_->CommitChanges(create).status());
  ASSERT_OK(Put("dev", "raw.t", "file:///t").status());
  CommitRequest remove;
  remove.branch = "dev";
  remove.namespaces_to_remove = {"raw"};
  auto not_empty = catalog_->CommitChanges(remove);
  ASSERT_FALSE(not_empty.ok());
  EXPECT_NE(not_empty.status().message().find("raw.t"), std::string::npos);
  ASSERT_OK_AND_ASSIGN(auto diff, catalog_->Diff("main", "dev"));
  ASSERT_EQ(diff.size(), 1u);
  EXPECT_EQ(diff[0].kind, TableDiff::Kind::kAdded);
  EXPECT_EQ(diff[0].table, "raw.t");
  ASSERT_OK(catalog_->CreateTag("v1", "dev"));
  ASSERT_OK(catalog_->RenameTag("v1", "v2"));
  EXPECT_FALSE(catalog_->Resolve("v1").ok());
  ASSERT_OK(catalog_->Resolve("v2").status());
}

TEST_P(CatalogTest, IdenticalTreesAreStoredOnceAndBranchesCopyNothing) {
  ASSERT_OK(catalog_->CreateBranch("a", "main"));
  ASSERT_OK(catalog_->CreateBranch("b", "main"));
  ASSERT_OK_AND_ASSIGN(Commit on_a, Put("a", "ns.t", "file:///same"));
  ASSERT_OK_AND_ASSIGN(Commit on_b, Put("b", "ns.t", "file:///same"));
  EXPECT_EQ(on_a.tree_id, on_b.tree_id);
  ASSERT_OK(catalog_->CreateBranch("c", "a"));
  ASSERT_OK_AND_ASSIGN(ResolvedRef c, catalog_->Resolve("c"));
  EXPECT_EQ(c.commit.id, on_a.id);
}

TEST_P(CatalogTest, ConcurrentWritersFromTwoConnectionsLoseNothing) {
  ASSERT_OK(catalog_->CreateBranch("dev", "main"));
  ASSERT_OK_AND_ASSIGN(auto other, OpenCatalog());
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

// Several processes commit on one branch, each reading the head first (as runs and imports
// do). With disjoint tables every commit lands, rebased when it lost a race; with one shared
// table some fail with a conflict, and exactly the ones that succeeded are in the history.
void ConcurrentProcesses(const std::function<Result<std::unique_ptr<Catalog>>()>& open, bool overlapping, int processes,
                         int commits, int* succeeded, size_t* log_size) {
  std::vector<pid_t> children;
  for (int p = 0; p < processes; ++p) {
    pid_t pid = fork();
    if (pid == 0) {
      auto catalog = open();
      if (!catalog.ok()) _exit(255);
      int ok = 0;
      for (int i = 0; i < commits; ++i) {
        auto head = (*catalog)->Resolve("dev");
        if (!head.ok()) _exit(254);
        CommitRequest request;
        request.branch = "dev";
        std::string table = overlapping ? "ns.shared" : "ns.p" + std::to_string(p);
        request.changes[table] = "file:///" + std::to_string(p) + "/" + std::to_string(i);
        request.author = "p" + std::to_string(p);
        request.expected_head = head->commit.id;
        auto commit = (*catalog)->CommitChanges(request);
        if (commit.ok()) {
          ++ok;
        } else if (KindOf(commit.status()) != ErrorKind::kConflict) {
          _exit(253);
        }
      }
      _exit(ok);
    }
    children.push_back(pid);
  }
  *succeeded = 0;
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_LE(WEXITSTATUS(status), commits) << "child failed with " << WEXITSTATUS(status);
    *succeeded += WEXITSTATUS(status);
  }
  auto catalog = open();
  ASSERT_TRUE(catalog.ok());
  auto log = (*catalog)->Log("dev");
  ASSERT_TRUE(log.ok());
  *log_size = log->size();
}

TEST_P(CatalogTest, EightProcessesOnDisjointTablesLoseNoCommit) {
  ASSERT_OK(catalog_->CreateBranch("dev", "main"));
  int succeeded = 0;
  size_t log_size = 0;
  ConcurrentProcesses([this] { return OpenCatalog(); }, false, 8, 200, &succeeded, &log_size);
  EXPECT_EQ(succeeded, 8 * 200);
  EXPECT_EQ(log_size, 8u * 200 + 1);
  ASSERT_OK_AND_ASSIGN(ResolvedRef dev, catalog_->Resolve("dev"));
  for (int p = 0; p < 8; ++p)
    EXPECT_EQ(dev.tree.tables.at("ns.p" + std::to_string(p)), "file:///" + std::to_string(p) + "/199");
}

TEST_P(CatalogTest, EightProcessesOnOneTableConflictButKeepHistoryComplete) {
  ASSERT_OK(catalog_->CreateBranch("dev", "main"));
  int succeeded = 0;
  size_t log_size = 0;
  ConcurrentProcesses([this] { return OpenCatalog(); }, true, 8, 200, &succeeded, &log_size);
  EXPECT_GE(succeeded, 200);  // at least one writer wins each round
  EXPECT_EQ(log_size, static_cast<size_t>(succeeded) + 1);
}

TEST_P(CatalogTest, AWriterKilledAtAnyPointLeavesTheCatalogConsistent) {
  ASSERT_OK(catalog_->CreateBranch("dev", "main"));
  for (int round = 0; round < 10; ++round) {
    pid_t pid = fork();
    if (pid == 0) {
      auto catalog = OpenCatalog();
      if (!catalog.ok()) _exit(1);
      for (int i = 0;; ++i) {
        CommitRequest request;
        request.branch = "dev";
        request.changes["ns.t" + std::to_string(i % 5)] = "file:///" + std::to_string(i);
        (void)(*catalog)->CommitChanges(request);
      }
    }
    usleep(5000 + (round * 7919) % 40000);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_OK_AND_ASSIGN(auto reopened, OpenCatalog());
    ASSERT_OK_AND_ASSIGN(auto log, reopened->Log("dev"));
    for (const auto& commit : log) {
      ASSERT_OK(reopened->Resolve("@" + commit.id).status());
    }
    ASSERT_OK(reopened->Resolve("main").status());
  }
}

TEST_P(CatalogTest, MergeFastForwardNoOpThreeWayAndConflict) {
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

INSTANTIATE_TEST_SUITE_P(Stores, CatalogTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST(TableNameTest, PartsAreIdentifiers) {
  ASSERT_OK_AND_ASSIGN(auto bare, QualifiedTableName("amountStatsTable", "bauplan"));
  EXPECT_EQ(bare, "bauplan.amountStatsTable");
  ASSERT_OK_AND_ASSIGN(auto qualified, QualifiedTableName("raw.taxi_fhvhv-2023", "bauplan"));
  EXPECT_EQ(qualified, "raw.taxi_fhvhv-2023");
  for (const char* bad : {"", ".t", "t.", "a.b.c", "../x", "a/b", "ns.a/b", "-x", "1abc", "a b", "a\nb"}) {
    auto result = QualifiedTableName(bad, "bauplan");
    EXPECT_FALSE(result.ok()) << bad;
    if (!result.ok()) {
      EXPECT_EQ(KindOf(result.status()), ErrorKind::kInvalidInput);
    }
  }
  EXPECT_FALSE(QualifiedTableName("t", "..").ok());
  EXPECT_FALSE(CheckNamePart(std::string(256, 'a'), "table").ok());
}

}  // namespace
}  // namespace sluice
