#include "server/server_limits.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "common/test_util.h"

namespace sluice {
namespace {

// Sets (or, with null, removes) a variable for one test and puts the old value back.
class ScopedVariable {
 public:
  ScopedVariable(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) {
      had_ = true;
      old_ = old;
    }
    if (value) {
      ::setenv(name, value, 1);
    } else {
      ::unsetenv(name);
    }
  }
  ~ScopedVariable() {
    if (had_) {
      ::setenv(name_, old_.c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(ServerLimits, DefaultsWhenNothingIsSet) {
  ScopedVariable a(kRemoteWorkersPerUserVariable, nullptr), b(kQueryTimeoutVariable, nullptr),
      c(kQueryWorkerIdleVariable, "");
  ASSERT_OK_AND_ASSIGN(ServerLimits limits, ServerLimitsFromEnvironment());
  EXPECT_EQ(limits.remote_workers_per_user, 8);
  EXPECT_EQ(limits.remote_workers_per_user, ServerLimits::kMaxRemoteWorkers / 2);
  EXPECT_EQ(limits.query_timeout_seconds, 600);
  EXPECT_EQ(limits.query_worker_idle_seconds, 300);
  EXPECT_OK(CheckServerLimits(limits));
}

TEST(ServerLimits, EachFromItsVariable) {
  ScopedVariable a(kRemoteWorkersPerUserVariable, "3"), b(kQueryTimeoutVariable, "0"),
      c(kQueryWorkerIdleVariable, "1.5");
  ASSERT_OK_AND_ASSIGN(ServerLimits limits, ServerLimitsFromEnvironment());
  EXPECT_EQ(limits.remote_workers_per_user, 3);
  EXPECT_EQ(limits.query_timeout_seconds, 0);  // no limit
  EXPECT_EQ(limits.query_worker_idle_seconds, 1.5);
}

TEST(ServerLimits, AWrongValueIsAnErrorNamingItsVariable) {
  for (const char* wrong : {"0", "17", "-1", "2.5", "8 workers", "many", "1e9"}) {
    ScopedVariable a(kRemoteWorkersPerUserVariable, wrong);
    auto limits = ServerLimitsFromEnvironment();
    ASSERT_FALSE(limits.ok()) << wrong;
    EXPECT_NE(limits.status().message().find("SLUICE_REMOTE_WORKERS_PER_USER"), std::string::npos);
    EXPECT_NE(limits.status().message().find("from 1 to 16"), std::string::npos);
  }
  for (const char* wrong : {"-1", "ten", "10s", "nan", "inf", "1e300"}) {
    ScopedVariable a(kQueryTimeoutVariable, wrong);
    auto limits = ServerLimitsFromEnvironment();
    ASSERT_FALSE(limits.ok()) << wrong;
    EXPECT_NE(limits.status().message().find("SLUICE_QUERY_TIMEOUT_SECONDS"), std::string::npos) << wrong;
  }
  ScopedVariable idle(kQueryWorkerIdleVariable, "soon");
  EXPECT_FALSE(ServerLimitsFromEnvironment().ok());
}

TEST(ServerLimits, CheckRefusesWhatAFlagCouldSet) {
  ServerLimits limits;
  limits.remote_workers_per_user = 17;
  EXPECT_FALSE(CheckServerLimits(limits).ok());
  limits.remote_workers_per_user = 1;
  EXPECT_OK(CheckServerLimits(limits));
  limits.query_timeout_seconds = -2;
  EXPECT_FALSE(CheckServerLimits(limits).ok());
}

TEST(ServerLimits, SecondsAreShownAsWritten) {
  EXPECT_EQ(SecondsText(600), "600");
  EXPECT_EQ(SecondsText(1.5), "1.5");
}

}  // namespace
}  // namespace sluice
