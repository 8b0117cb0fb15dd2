#include "exec/job_recorder.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "catalog/temporary_catalog_test.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"
#include "common/utf8.h"
#include "exec/job_views.h"

namespace sluice {
namespace {

using JobRecorderTest = TemporaryCatalogTest;

ModelReport Report(const std::string& name, ModelStatus status, const std::string& message = "") {
  ModelReport report;
  report.name = name;
  report.status = status;
  report.rows = 3;
  report.seconds = 0.5;
  report.message = message;
  return report;
}

TEST_F(JobRecorderTest, RecordsModelsLogsAndTheOutcome) {
  JobStart start;
  start.user = "alice";
  start.ref = "alice.dev";
  start.options = {{"args", {{"team", "data"}}}, {"priority", 4}};
  ASSERT_OK_AND_ASSIGN(auto recorder, JobRecorder::Start(*catalog_, start));
  std::string id = recorder->id();
  ASSERT_OK_AND_ASSIGN(JobRecord running, catalog_->jobs().Get(id));
  EXPECT_EQ(running.status, kJobRunning);
  EXPECT_GT(running.started_ms, 0);

  recorder->OnProject("p-1", "titanic_project");
  recorder->OnModelStart("adults");
  recorder->OnModelOutput("adults", "PassengerId count: 3");
  recorder->OnModelFinish(Report("adults", ModelStatus::kSuccess));
  recorder->OnWarning("expectation 'ages' failed: Age has nulls");
  recorder->OnModelStart("broken");
  recorder->OnModelFinish(Report("broken", ModelStatus::kFailed, "ValueError: bad Fare"));
  recorder->Finish(UserCodeFailed("model 'broken' failed: ValueError: bad Fare"));
  recorder->Finish(Status::OK());  // idempotent: the first outcome stays

  ASSERT_OK_AND_ASSIGN(JobRecord done, catalog_->jobs().Get(id));
  EXPECT_EQ(done.status, kJobFail);
  EXPECT_GE(done.finished_ms, done.started_ms);
  nlohmann::json job = JobJson(done, true);
  EXPECT_EQ(job["error"]["kind"], "model failed");
  EXPECT_EQ(job["project_name"], "titanic_project");
  EXPECT_EQ(job["args"]["team"], "data");
  EXPECT_EQ(job["priority"], 4);
  ASSERT_EQ(job["models"].size(), 2u);
  EXPECT_EQ(job["models"][0]["status"], "SUCCESS");
  EXPECT_EQ(job["models"][1]["status"], "FAILED");
  EXPECT_TRUE(job["models"][0]["started_at"].is_string());

  ASSERT_OK_AND_ASSIGN(auto user, catalog_->jobs().Logs(id, 0, 100, false));
  std::vector<std::string> messages;
  for (const auto& line : user) messages.push_back(line.level + " " + line.message);
  EXPECT_EQ(messages, (std::vector<std::string>{
                          "INFO PassengerId count: 3", "WARN expectation 'ages' failed: Age has nulls",
                          "ERROR ValueError: bad Fare", "ERROR model 'broken' failed: ValueError: bad Fare"}));
}

TEST_F(JobRecorderTest, ACancelRequestInTheCatalogReachesTheJob) {
  ASSERT_OK_AND_ASSIGN(auto recorder, JobRecorder::Start(*catalog_, JobStart{}));
  auto flag = recorder->cancel_flag();
  EXPECT_FALSE(flag->load());
  ASSERT_OK(catalog_->jobs().RequestCancel(recorder->id()));
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!flag->load() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(flag->load());
  recorder->Finish(Cancelled("the run was cancelled"));
  ASSERT_OK_AND_ASSIGN(JobRecord done, catalog_->jobs().Get(recorder->id()));
  EXPECT_EQ(done.status, kJobAbort);
}

TEST_F(JobRecorderTest, ARecorderDroppedUnfinishedFailsItsJob) {
  std::string id;
  {
    ASSERT_OK_AND_ASSIGN(auto recorder, JobRecorder::Start(*catalog_, JobStart{}));
    id = recorder->id();
  }
  ASSERT_OK_AND_ASSIGN(JobRecord done, catalog_->jobs().Get(id));
  EXPECT_EQ(done.status, kJobFail);
}

TEST_F(JobRecorderTest, AModelPrintingForeverIsCappedAndLongLinesCut) {
  ASSERT_OK_AND_ASSIGN(auto recorder, JobRecorder::Start(*catalog_, JobStart{}));
  for (size_t i = 0; i < JobRecorder::kMaxLogLines + 500; ++i) recorder->OnModelOutput("spam", "x");
  recorder->OnModelOutput("spam", std::string(JobRecorder::kMaxLineBytes * 4, 'y'));
  recorder->Finish(Status::OK());
  ASSERT_OK_AND_ASSIGN(auto lines, catalog_->jobs().Logs(recorder->id(), 0, 100000, true));
  EXPECT_EQ(lines.size(), JobRecorder::kMaxLogLines);
  EXPECT_NE(lines.back().message.find("later lines are dropped"), std::string::npos);
}

TEST_F(JobRecorderTest, ALongLineIsCutOnACharacterBoundary) {
  ASSERT_OK_AND_ASSIGN(auto recorder, JobRecorder::Start(*catalog_, JobStart{}));
  std::string euros;
  while (euros.size() <= JobRecorder::kMaxLineBytes) euros += "\xE2\x82\xAC";  // kMaxLineBytes % 3 != 0
  recorder->OnModelOutput("loud", euros);
  recorder->Finish(Status::OK());
  ASSERT_OK_AND_ASSIGN(auto lines, catalog_->jobs().Logs(recorder->id(), 0, 100, false));
  ASSERT_EQ(lines.size(), 1u);
  const std::string& cut = lines[0].message;
  EXPECT_LE(cut.size(), JobRecorder::kMaxLineBytes + 30);
  EXPECT_NE(cut.find(" ... (line truncated)"), std::string::npos);
  EXPECT_EQ(ValidUtf8(cut), cut);  // no half character: the line can be dumped as JSON
  EXPECT_NO_THROW((void)nlohmann::json(cut).dump());
}

TEST_F(JobRecorderTest, ADeadRunnerIsReconciledAsAbort) {
  JobRecord job;
  job.id = "orphan1";
  job.kind = kJobKindRun;
  job.status = kJobRunning;
  job.runner = JobRunnerName();
  job.runner = job.runner.substr(0, job.runner.rfind(':')) + ":999999999";  // no such pid
  ASSERT_OK(catalog_->jobs().Create(job));
  ASSERT_OK_AND_ASSIGN(JobRecord now, ReconcileJob(catalog_->jobs(), job));
  EXPECT_EQ(now.status, kJobAbort);
  EXPECT_NE(now.error.find("ended before the job did"), std::string::npos);
  // A live runner (this process) is left alone.
  JobRecord live = job;
  live.id = "live1";
  live.runner = JobRunnerName();
  ASSERT_OK(catalog_->jobs().Create(live));
  ASSERT_OK_AND_ASSIGN(now, ReconcileJob(catalog_->jobs(), live));
  EXPECT_EQ(now.status, kJobRunning);
}

TEST(JobViews, ParsesWhatUsersType) {
  ASSERT_OK_AND_ASSIGN(std::string kind, ParseJobKind("table-plan-apply"));
  EXPECT_EQ(kind, "TABLE_PLAN_CREATE_APPLY");
  ASSERT_OK_AND_ASSIGN(kind, ParseJobKind("Run"));
  EXPECT_EQ(kind, "RUN");
  EXPECT_EQ(KindOf(ParseJobKind("deploy").status()), ErrorKind::kInvalidInput);
  ASSERT_OK_AND_ASSIGN(std::string status, ParseJobStatus("not-started"));
  EXPECT_EQ(status, kJobNotStarted);
  ASSERT_OK_AND_ASSIGN(status, ParseJobStatus("cancelled"));
  EXPECT_EQ(status, kJobAbort);
  EXPECT_EQ(HumanJobStatus(kJobNotStarted), "not-started");

  ASSERT_OK_AND_ASSIGN(int64_t day, ParseJobTime("2024-01-15"));
  EXPECT_EQ(day, 1705276800000);
  ASSERT_OK_AND_ASSIGN(int64_t utc, ParseJobTime("2024-01-15T10:30:00Z"));
  EXPECT_EQ(utc, 1705276800000 + (10 * 3600 + 30 * 60) * 1000);
  ASSERT_OK_AND_ASSIGN(int64_t offset, ParseJobTime("2024-01-15T12:30:00.250+02:00"));
  EXPECT_EQ(offset, utc + 250);
  EXPECT_FALSE(ParseJobTime("yesterday").ok());
  EXPECT_FALSE(ParseJobTime("2024-13-01").ok());
  EXPECT_EQ(JobTimeJson(1705314600250), "2024-01-15T10:30:00.250Z");
  EXPECT_TRUE(JobTimeJson(0).is_null());

  EXPECT_OK(CheckJobId("3f2a9c1d0b7e"));
  EXPECT_OK(CheckJobId("0b7e-uuid-like"));
  for (const char* bad : {"", "../x", "a/b", "a b", "x;y", "%2e%2e"}) {
    EXPECT_EQ(KindOf(CheckJobId(bad)), ErrorKind::kInvalidInput) << bad;
  }
  EXPECT_FALSE(CheckJobId(std::string(65, 'a')).ok());
}

}  // namespace
}  // namespace sluice
