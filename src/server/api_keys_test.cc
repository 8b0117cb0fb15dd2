#include "server/api_keys.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/file_util.h"
#include "common/hash.h"
#include "common/ids.h"
#include "common/test_util.h"

namespace sluice {
namespace {

class ApiKeysTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = "/tmp/sluice-keys-" + NewShortId(8);
    ASSERT_OK(MakeDirs(dir_));
    path_ = dir_ + "/api_keys";
  }
  void TearDown() override { ASSERT_OK(RemoveAll(dir_)); }

  std::string dir_, path_;
};

TEST_F(ApiKeysTest, NoFileChecksNothing) {
  ASSERT_OK_AND_ASSIGN(ApiKeys keys, ApiKeys::Load(path_));
  EXPECT_FALSE(keys.enabled());
}

TEST_F(ApiKeysTest, AKnownKeyIsItsUser) {
  ASSERT_OK(WriteFileAtomic(path_, "# who sha256(key)\n\nalice " + Sha256Hex("alice-secret") + "  # laptop\nbob " +
                                       Sha256Hex("bob-secret") + "\n"));
  ASSERT_OK_AND_ASSIGN(ApiKeys keys, ApiKeys::Load(path_));
  ASSERT_TRUE(keys.enabled());
  ASSERT_OK_AND_ASSIGN(std::string alice, keys.Authenticate("Bearer alice-secret"));
  EXPECT_EQ(alice, "alice");
  ASSERT_OK_AND_ASSIGN(std::string bob, keys.Authenticate("Bearer bob-secret"));
  EXPECT_EQ(bob, "bob");
}

TEST_F(ApiKeysTest, AnythingElseIsRefused) {
  ASSERT_OK(WriteFileAtomic(path_, "alice " + Sha256Hex("alice-secret") + "\n"));
  ASSERT_OK_AND_ASSIGN(ApiKeys keys, ApiKeys::Load(path_));
  for (const std::string& header :
       std::vector<std::string>{"", "Bearer ", "Bearer", "alice-secret", "Basic alice-secret", "Bearer alice-secret ",
                                "Bearer alice-secret\r\n", "Bearer  alice-secret",
                                // The file holds hashes: the hash itself is no key.
                                "Bearer " + Sha256Hex("alice-secret")}) {
    auto user = keys.Authenticate(header);
    EXPECT_FALSE(user.ok()) << "'" << header << "' was taken for " << user.ValueOr("");
  }
}

TEST_F(ApiKeysTest, AMalformedLineIsNamed) {
  // A key pasted in clear, an upper-case hash, a third field: each stops the server, naming the line.
  for (const std::string& line : std::vector<std::string>{"alice alice-secret", "alice " + std::string(64, 'A'),
                                                          "alice " + Sha256Hex("k") + " extra", "alice"}) {
    ASSERT_OK(WriteFileAtomic(path_, "# keys\n" + line + "\n"));
    auto keys = ApiKeys::Load(path_);
    ASSERT_FALSE(keys.ok()) << line;
    EXPECT_NE(keys.status().message().find(path_ + ":2"), std::string::npos) << keys.status().ToString();
  }
}

}  // namespace
}  // namespace sluice
