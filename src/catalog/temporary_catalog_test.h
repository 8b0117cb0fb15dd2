// A test fixture owning a fresh SQLite catalog in a temporary data home, removed after the
// test: for the tests of whatever is built on the catalog (job recording, API keys).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "catalog/catalog.h"
#include "common/file_util.h"
#include "common/ids.h"
#include "common/test_util.h"

namespace sluice {

class TemporaryCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    home_ = "/tmp/sluice-catalog-" + NewShortId(8);
    ASSERT_OK_AND_ASSIGN(catalog_, Catalog::Open(home_));
  }
  void TearDown() override {
    catalog_.reset();
    ASSERT_OK(RemoveAll(home_));
  }

  std::string home_;
  std::unique_ptr<Catalog> catalog_;
};

}  // namespace sluice
