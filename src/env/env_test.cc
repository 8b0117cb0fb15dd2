#include "env/package_store.h"

#include <gtest/gtest.h>

#include "common/config.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"

namespace sluice {
namespace {

TEST(PackageNamesTest, NormalizeAndVersionSpecifiers) {
  EXPECT_EQ(NormalizePackageName("Pandas_Stubs"), "pandas-stubs");
  EXPECT_EQ(NormalizePackageName("zope.interface"), "zope-interface");
  EXPECT_EQ(VersionSpecifier("2.2.3"), "==2.2.3");
  EXPECT_EQ(VersionSpecifier("2"), "==2.*");
  EXPECT_EQ(VersionSpecifier("1.37"), "==1.37.*");
  EXPECT_EQ(VersionSpecifier(">=1,<2"), ">=1,<2");
  EXPECT_EQ(VersionSpecifier(""), "");
}

TEST(PackageStoreTest, ResolvesInstallsOnceAndSkipsWhatTheBaseHas) {
  std::string root = "/tmp/sluice-store-test-" + NewShortId(8);
  std::string python = SLUICE_TEST_PYTHON;
  std::string uv = python.substr(0, python.find_last_of('/') + 1) + "uv";
  ASSERT_OK_AND_ASSIGN(auto store, PackageStore::Open(root, uv, python));
  EXPECT_EQ(store->python_version().rfind("3.11", 0), 0u);
  ASSERT_OK_AND_ASSIGN(auto pins, store->Resolve({{"tabulate", "0.9.0"}}));
  ASSERT_EQ(pins.size(), 1u);
  EXPECT_EQ(pins[0], (PackagePin{"tabulate", "0.9.0"}));
  ASSERT_OK_AND_ASSIGN(auto dirs, store->Assemble(pins));
  ASSERT_EQ(dirs.size(), 1u);
  EXPECT_TRUE(PathExists(dirs[0] + "/tabulate/__init__.py") || PathExists(dirs[0] + "/tabulate.py"));
  // The second time is a cache hit on both levels.
  ASSERT_OK_AND_ASSIGN(auto again, store->Resolve({{"tabulate", "0.9.0"}}));
  EXPECT_EQ(again, pins);
  // pyarrow is in the base environment at the pinned version: nothing to install.
  ASSERT_OK_AND_ASSIGN(auto base_pins, store->Resolve({{"pyarrow", "23.0.1"}}));
  ASSERT_OK_AND_ASSIGN(auto base_dirs, store->Assemble(base_pins));
  EXPECT_TRUE(base_dirs.empty());
  // Prune keeps what a live run uses, and removes it once released.
  {
    ASSERT_OK_AND_ASSIGN(auto in_use, store->MarkInUse(dirs));
    ASSERT_OK_AND_ASSIGN(auto kept, store->Prune(0, false));
    EXPECT_TRUE(kept.empty());
    ASSERT_OK_AND_ASSIGN(auto listed, store->List());
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_TRUE(listed[0].in_use);
    EXPECT_GT(listed[0].bytes, 0);
  }
  ASSERT_OK_AND_ASSIGN(auto removed, store->Prune(0, false));
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_FALSE(PathExists(dirs[0]));
  auto unknown = store->Resolve({{"no-such-package-sluice-test", "1.0"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.status().message().find("no-such-package-sluice-test"), std::string::npos);
  ASSERT_OK(RemoveAll(root));
}

}  // namespace
}  // namespace sluice
