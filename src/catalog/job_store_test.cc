#include "catalog/job_store.h"

#include <gtest/gtest.h>

#include <libpq-fe.h>

#include <cstdlib>
#include <thread>

#include "catalog/catalog.h"
#include "catalog/sqlite_db.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"

namespace sluice {
namespace {

// Both stores, as the catalog's own tests: SQLite in a temporary data home, PostgreSQL in a
// fresh database of the server `make test` starts (SLUICE_TEST_POSTGRES).
class JobStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    home_ = "/tmp/sluice-jobs-test-" + NewShortId(8);
    if (GetParam() == "postgres") {
      const char* server = std::getenv("SLUICE_TEST_POSTGRES");
      if (!server || !*server) GTEST_SKIP() << "SLUICE_TEST_POSTGRES is not set (make test sets it)";
      server_ = server;
      database_ = "jobs_" + NewShortId(10);
      ASSERT_TRUE(Admin("CREATE DATABASE " + database_));
      std::string uri = server_;
      uri.replace(uri.find("/postgres?"), 10, "/" + database_ + "?");
      ASSERT_OK_AND_ASSIGN(catalog_, Catalog::OpenUri(uri));
    } else {
      ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(home_));
    }
  }
  void TearDown() override {
    catalog_.reset();
    if (!database_.empty()) Admin("DROP DATABASE " + database_ + " WITH (FORCE)");
    (void)RemoveAll(home_);
  }
  bool Admin(const std::string& sql) {
    PGconn* conn = PQconnectdb(server_.c_str());
    PGresult* result = PQexec(conn, sql.c_str());
    bool ok = PQresultStatus(result) == PGRES_COMMAND_OK;
    PQclear(result);
    PQfinish(conn);
    return ok;
  }
  static JobRecord Job(const std::string& id, const std::string& kind, const std::string& user, int64_t created) {
    JobRecord job;
    job.id = id;
    job.kind = kind;
    job.user = user;
    job.ref = "alice.dev";
    job.created_ms = created;
    job.runner = "host:1";
    return job;
  }

  std::string home_, server_, database_;
  std::unique_ptr<Catalog> catalog_;
};

TEST_P(JobStoreTest, CreateGetUpdateAndEnd) {
  JobStore& jobs = catalog_->jobs();
  ASSERT_OK(jobs.Create(Job("a1", "RUN", "alice", 1000)));
  EXPECT_EQ(KindOf(jobs.Create(Job("a1", "RUN", "alice", 1000))), ErrorKind::kAlreadyExists);
  ASSERT_OK_AND_ASSIGN(JobRecord got, jobs.Get("a1"));
  EXPECT_EQ(got.kind, "RUN");
  EXPECT_EQ(got.status, kJobNotStarted);
  EXPECT_EQ(got.detail, "{}");
  got.status = kJobRunning;
  got.started_ms = 1100;
  got.detail = R"({"models":[]})";
  ASSERT_OK(jobs.Update(got));
  ASSERT_OK(jobs.RequestCancel("a1"));
  ASSERT_OK_AND_ASSIGN(got, jobs.Get("a1"));
  EXPECT_TRUE(got.cancel_requested);
  EXPECT_EQ(got.detail, R"({"models":[]})");
  ASSERT_OK_AND_ASSIGN(bool ended, jobs.EndIfActive("a1", kJobAbort, 1200, R"({"kind":"Conflict"})"));
  EXPECT_TRUE(ended);
  // An ended job stays as it ended.
  ASSERT_OK_AND_ASSIGN(ended, jobs.EndIfActive("a1", kJobFail, 1300, ""));
  EXPECT_FALSE(ended);
  ASSERT_OK_AND_ASSIGN(got, jobs.Get("a1"));
  EXPECT_EQ(got.status, kJobAbort);
  EXPECT_EQ(got.finished_ms, 1200);
  EXPECT_TRUE(IsFinalJobStatus(got.status));

  Status missing = jobs.Get("nope").status();
  EXPECT_EQ(KindOf(missing), ErrorKind::kNotFound);
  EXPECT_NE(missing.message().find("'nope'"), std::string::npos);
  EXPECT_EQ(KindOf(jobs.RequestCancel("nope")), ErrorKind::kNotFound);
}

TEST_P(JobStoreTest, ListFiltersNewestFirst) {
  JobStore& jobs = catalog_->jobs();
  ASSERT_OK(jobs.Create(Job("j1", "RUN", "alice", 1000)));
  ASSERT_OK(jobs.Create(Job("j2", "QUERY", "bob", 2000)));
  ASSERT_OK(jobs.Create(Job("j3", "TABLE_IMPORT", "alice", 3000)));
  JobFilter all;
  ASSERT_OK_AND_ASSIGN(auto listed, jobs.List(all));
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(listed[0].id, "j3");
  EXPECT_EQ(listed[2].id, "j1");

  JobFilter alice;
  alice.users = {"alice"};
  ASSERT_OK_AND_ASSIGN(listed, jobs.List(alice));
  EXPECT_EQ(listed.size(), 2u);

  JobFilter kinds;
  kinds.kinds = {"QUERY", "TABLE_IMPORT"};
  kinds.created_after_ms = 1500;
  kinds.created_before_ms = 2500;
  ASSERT_OK_AND_ASSIGN(listed, jobs.List(kinds));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, "j2");

  JobFilter limited;
  limited.limit = 1;
  limited.ids = {"j1", "j2"};
  ASSERT_OK_AND_ASSIGN(listed, jobs.List(limited));
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, "j2");

  // Filter values are data, never SQL.
  JobFilter hostile;
  hostile.users = {"alice' OR '1'='1"};
  ASSERT_OK_AND_ASSIGN(listed, jobs.List(hostile));
  EXPECT_TRUE(listed.empty());
}

TEST_P(JobStoreTest, LogsAreNumberedAndFiltered) {
  JobStore& jobs = catalog_->jobs();
  ASSERT_OK(jobs.Create(Job("l1", "RUN", "alice", 1000)));
  JobLogRecord start;
  start.type = "system";
  start.model = "clean";
  start.message = "model started";
  JobLogRecord print;
  print.model = "clean";
  print.message = "PassengerId count: 3";
  ASSERT_OK_AND_ASSIGN(int64_t last, jobs.AppendLogs("l1", {start, print}));
  EXPECT_EQ(last, 2);
  JobLogRecord error;
  error.level = "ERROR";
  error.stream = "STDERR";
  error.message = "boom";
  ASSERT_OK_AND_ASSIGN(last, jobs.AppendLogs("l1", {error}));
  EXPECT_EQ(last, 3);

  ASSERT_OK_AND_ASSIGN(auto user, jobs.Logs("l1", 0, 100, false));
  ASSERT_EQ(user.size(), 2u);
  EXPECT_EQ(user[0].seq, 2);
  EXPECT_EQ(user[0].message, "PassengerId count: 3");
  EXPECT_EQ(user[1].level, "ERROR");
  ASSERT_OK_AND_ASSIGN(auto all, jobs.Logs("l1", 1, 100, true));
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].seq, 2);
  ASSERT_OK_AND_ASSIGN(auto one, jobs.Logs("l1", 0, 1, true));
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].message, "model started");
}

TEST_P(JobStoreTest, ConcurrentAppendsKeepEveryLine) {
  JobStore& jobs = catalog_->jobs();
  ASSERT_OK(jobs.Create(Job("c1", "RUN", "alice", 1000)));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&jobs, t] {
      for (int i = 0; i < 20; ++i) {
        JobLogRecord line;
        line.message = std::to_string(t) + "-" + std::to_string(i);
        ASSERT_OK(jobs.AppendLogs("c1", {line}).status());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  ASSERT_OK_AND_ASSIGN(auto lines, jobs.Logs("c1", 0, 1000, true));
  ASSERT_EQ(lines.size(), 80u);
  for (size_t i = 0; i < lines.size(); ++i) EXPECT_EQ(lines[i].seq, static_cast<int64_t>(i + 1));
}

INSTANTIATE_TEST_SUITE_P(Stores, JobStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// A catalog made by a binary from before the job tables gets them on its next open.
TEST(JobStoreMigration, SchemaVersionOneGainsJobTables) {
  std::string home = "/tmp/sluice-jobs-migrate-" + NewShortId(8);
  ASSERT_OK(MakeDirs(home));
  {
    ASSERT_OK_AND_ASSIGN(auto db, SqliteDb::Open(home + "/catalog.db"));
    ASSERT_OK(db->Exec(R"(
      CREATE TABLE trees (id TEXT PRIMARY KEY, body TEXT NOT NULL);
      CREATE TABLE commits (
        id TEXT PRIMARY KEY, parents TEXT NOT NULL, author TEXT NOT NULL, message TEXT NOT NULL,
        timestamp_ms BIGINT NOT NULL, properties TEXT NOT NULL, tree_id TEXT NOT NULL);
      CREATE TABLE refs (name TEXT PRIMARY KEY, kind TEXT NOT NULL, commit_id TEXT NOT NULL);
      CREATE TABLE catalog_info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      INSERT INTO catalog_info (key, value) VALUES ('schema_version', '1');
    )"));
  }
  {
    ASSERT_OK_AND_ASSIGN(auto catalog, Catalog::Open(home));
    JobRecord job;
    job.id = "m1";
    job.kind = "RUN";
    ASSERT_OK(catalog->jobs().Create(job));
  }
  ASSERT_OK_AND_ASSIGN(auto db, SqliteDb::Open(home + "/catalog.db"));
  ASSERT_OK_AND_ASSIGN(auto stmt, db->Prepare("SELECT value FROM catalog_info WHERE key = 'schema_version'"));
  ASSERT_OK_AND_ASSIGN(bool row, stmt->Step());
  ASSERT_TRUE(row);
  EXPECT_EQ(stmt->Text(0), "2");
  stmt.reset();
  db.reset();
  // Opening again is a no-op that keeps the jobs.
  ASSERT_OK_AND_ASSIGN(auto catalog, Catalog::Open(home));
  EXPECT_OK(catalog->jobs().Get("m1").status());
  catalog.reset();
  ASSERT_OK(RemoveAll(home));
}

}  // namespace
}  // namespace sluice
